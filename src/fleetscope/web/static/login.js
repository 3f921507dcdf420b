"use strict";
// The API answers with the token and sets it as an HttpOnly cookie; the pages and the
// WebSocket use the cookie, so the script never keeps the token.
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const response = await fetch("/api/v1/auth/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    }),
  });
  if (!response.ok) {
    error.textContent = response.status === 401 ? "Wrong username or password." : `Login failed (${response.status}).`;
    return;
  }
  const next = new URLSearchParams(location.search).get("next");
  // Only a local path: never bounce to another site after login.
  location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
});
