"use strict";
// Shared by the dashboard pages: API calls, formatting, sparklines and the live socket.
const FS = (() => {
  function toLogin() {
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
  }

  async function api(path) {
    const response = await fetch(path, { credentials: "same-origin" });
    if (response.status === 401) {
      toLogin();
      throw new Error("session ended");
    }
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // The message of an API refusal: its problem details' title and detail (edge/problem.py).
  async function problem(response) {
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    const title = (body && body.title) || `HTTP ${response.status}`;
    const detail = body && typeof body.detail === "string" ? body.detail : "";
    return detail ? `${title}: ${detail}` : title;
  }

  // A change through the API (POST, PATCH, DELETE) with a JSON body; the answer's JSON, or
  // null for 204. A refusal throws an Error whose message is the problem's title and detail,
  // for the page to show.
  async function send(method, path, body) {
    const options = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401 && !path.startsWith("/api/v1/me/password")) {
      toLogin();
      throw new Error("session ended");
    }
    if (!response.ok) {
      const error = new Error(await problem(response));
      error.status = response.status;
      throw error;
    }
    return response.status === 204 ? null : response.json();
  }

  // GET with the same refusal messages as send().
  const read = (path) => send("GET", path);

  // Who is signed in (/api/v1/me), asked once per page.
  let mePromise = null;
  const me = () => (mePromise = mePromise || read("/api/v1/me"));

  const pct = (v) => (v == null ? "–" : v.toFixed(1) + "%");
  const num = (v, digits = 2) => (v == null ? "–" : v.toFixed(digits));

  function bytes(v) {
    if (v == null) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i];
  }
  const rate = (v) => (v == null ? "–" : bytes(v) + "/s");

  function ago(seconds) {
    const s = Math.max(0, Date.now() / 1000 - seconds);
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // Inline SVG, not uPlot: a thousand rows of three tiny charts must stay cheap to draw.
  function spark(values, max = 100, width = 80, height = 18) {
    const pts = [];
    const n = values.length;
    values.forEach((v, i) => {
      if (v == null) return;
      const x = n < 2 ? width : (i / (n - 1)) * width;
      const y = height - 1 - (Math.min(v, max) / max) * (height - 2);
      pts.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    let line = "";
    if (pts.length === 1) {
      const [x, y] = pts[0].split(",");
      line = `<circle cx="${Math.min(x, width - 2)}" cy="${y}" r="1.6" fill="#2563eb"/>`;
    } else if (pts.length) {
      line = `<polyline fill="none" stroke="#2563eb" stroke-width="1.3" points="${pts.join(" ")}"/>`;
    }
    return `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="${width}" height="${height}" fill="#f1f5f9"/>${line}</svg>`;
  }

  // Status from the age of the last sample, as the server computes it (query/fleet.py):
  // live within 2 intervals, stale up to 10 minutes, offline after.
  function status(lastSeenSeconds, intervalSeconds) {
    const age = Date.now() / 1000 - lastSeenSeconds;
    if (age <= 2 * intervalSeconds) return "live";
    if (age <= Math.max(600, 2 * intervalSeconds)) return "stale";
    return "offline";
  }

  // The live feed: one WebSocket, reconnected with exponential backoff (1 s doubling to 30 s,
  // with jitter). The server pushes; the page never polls. onOpen runs on every (re)connect,
  // so a page can refetch what it missed while disconnected.
  class LiveSocket {
    constructor({ hostId = null, onPoints, onOpen, indicator }) {
      this.hostId = hostId;
      this.onPoints = onPoints;
      this.onOpen = onOpen || (() => {});
      this.indicator = indicator;
      this.delay = 1000;
      this.connects = 0;
      this.connect();
    }
    show(state, text) {
      if (!this.indicator) return;
      this.indicator.hidden = false;
      this.indicator.className = "conn " + state;
      this.indicator.dataset.state = state;
      this.indicator.textContent = text;
    }
    connect() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const query = this.hostId == null ? "" : "?host_id=" + encodeURIComponent(this.hostId);
      this.show("connecting", "connecting…");
      const ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws/metrics${query}`);
      this.ws = ws;
      ws.onopen = () => {
        this.delay = 1000;
        this.show("open", "live");
        if (this.connects++ > 0) this.onOpen();
      };
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "points") this.onPoints(message.points);
      };
      ws.onclose = (event) => {
        if (event.code === 4401) { toLogin(); return; }
        const wait = this.delay * (0.8 + Math.random() * 0.4);
        this.delay = Math.min(this.delay * 2, 30000);
        this.show("waiting", `reconnecting in ${Math.round(wait / 1000)} s`);
        setTimeout(() => this.connect(), wait);
      };
    }
  }

  // The header of every page: navigation, the live feed's state (shown once a page opens the
  // feed), the signed-in user with role and tenant, Settings and Log out.
  function header(active) {
    const el = document.getElementById("top");
    const link = (href, name, label) =>
      `<a href="${href}"${active === name ? ' aria-current="page"' : ""}>${label}</a>`;
    el.innerHTML = `<span class="brand">fleetscope</span>
      <nav>${link("/", "fleet", "Fleet")} ${link("/analyses", "analyses", "Analyses")}</nav>
      <span class="conn connecting" id="conn" data-state="connecting" hidden>connecting…</span>
      <span class="who" id="who" aria-label="Signed in as"></span>
      ${link("/settings", "settings", "Settings")}
      <button id="logout" type="button">Log out</button>`;
    document.getElementById("logout").addEventListener("click", async () => {
      await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
      location.href = "/login";
    });
    me().then((who) => {
      const role = who.superuser ? `${who.role || who.scope} · superuser` : (who.role || who.scope);
      document.getElementById("who").innerHTML =
        `<span class="user">${esc(who.name)}</span> <span class="role">${esc(role)}</span> ` +
        `<span class="tenant" title="tenant">${esc(who.tenant_name)}</span>`;
    }).catch((err) => { document.getElementById("who").textContent = err.message; });
    return document.getElementById("conn");
  }

  // Light to dark in one hue, so it reads in grey and in both themes; null: no colour.
  function heat(v) {
    if (v == null) return null;
    const x = Math.max(0, Math.min(1, v / 100));
    return `hsl(215, ${40 + x * 45}%, ${96 - x * 66}%)`;
  }

  return { api, send, read, me, pct, num, bytes, rate, ago, esc, spark, status, heat, LiveSocket, header };
})();
