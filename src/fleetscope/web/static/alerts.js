"use strict";
// Alerts on the overview (every host's, firing first) and on a host page (its own), above
// everything else; refreshed every 15 s. Its own file, so the pages' scripts stay as they were.
(() => {
  const onHost = location.pathname.startsWith("/hosts/");
  const hostId = onHost ? Number(location.pathname.split("/").pop()) : null;
  const main = document.querySelector("main");
  const panel = document.createElement("section");
  panel.id = "alerts";
  panel.className = "alerts";
  panel.setAttribute("aria-label", "Alerts");
  main.querySelector("h1").after(panel);

  function row(a) {
    const host = onHost ? "" : `<a href="/hosts/${a.host_id}">${FS.esc(a.host_name)}</a> · `;
    const detail = Object.entries(a.detail).map(([k, v]) => `${FS.esc(k)}=${FS.esc(v)}`).join(", ");
    const value = a.value == null ? "" : ` = ${Number(a.value).toPrecision(4)}`;
    const since = FS.ago(Date.parse(a.since) / 1000);
    return `<li class="alert ${a.state} ${FS.esc(a.severity)}"><span class="state">${a.state}</span>` +
      `${host}<b>${FS.esc(a.rule_name)}</b>${value}${detail ? " · " + detail : ""}` +
      ` <span class="muted small">since ${since}</span></li>`;
  }

  async function load() {
    const query = onHost ? `?host_id=${hostId}` : "";
    const alerts = await FS.api(`/api/v1/alerts${query}`);
    const firing = alerts.filter((a) => a.state === "firing").length;
    panel.classList.toggle("quiet", alerts.length === 0);
    panel.innerHTML = alerts.length === 0
      ? `<span class="muted">No alerts firing${onHost ? " on this host" : ""}.</span>`
      : `<h2>${firing} firing${alerts.length > firing ? `, ${alerts.length - firing} pending` : ""}</h2>` +
        `<ul>${alerts.map(row).join("")}</ul>`;
  }

  const refresh = () => load().catch((err) => { panel.textContent = "Alerts: " + err.message; });
  refresh();
  setInterval(refresh, 15000);

  // The overview also lists the notification channels, each with a test-send button.
  if (onHost) return;
  const channels = document.createElement("details");
  channels.id = "channels";
  channels.className = "channels";
  panel.after(channels);
  FS.api("/api/v1/alerts/channels").then((list) => {
    channels.innerHTML = `<summary>Notification channels (${list.length})</summary><ul>` +
      list.map((c) => `<li>${FS.esc(c.name)} <span class="muted">${FS.esc(c.kind)}</span> ` +
        `<button type="button" data-id="${c.id}">Send test</button> <span class="result"></span></li>`).join("") +
      "</ul>";
  }).catch((err) => { channels.textContent = "Channels: " + err.message; });
  channels.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-id]");
    if (!button) return;
    const result = button.nextElementSibling;
    result.textContent = "sending…";
    const response = await fetch(`/api/v1/alerts/channels/${button.dataset.id}/test`,
      { method: "POST", credentials: "same-origin" });
    const body = await response.json();
    result.textContent = !response.ok ? (body.detail || `HTTP ${response.status}`)
      : body.sent ? "sent" : "failed: " + body.error;
  });
})();
