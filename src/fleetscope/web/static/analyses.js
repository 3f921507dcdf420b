"use strict";
// The Analyses page (list, start one, open or download its report) and, on a host's page,
// the latest fitness score. Status colours are the analysis statuses (docs/analysis.md); the
// status word is always shown too, so colour is never the only cue.
const ANALYSES = (() => {
  const WORDS = { success: "fit", primary: "fit, with notes", warning: "at risk", danger: "not fit", info: "not enough data" };

  function statusBadge(status) {
    if (!status) return "–";
    return `<span class="badge an-${FS.esc(status)}" title="${FS.esc(status)}">${FS.esc(WORDS[status] || status)}</span>`;
  }

  function when(iso) {
    return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "–";
  }

  function row(a) {
    const state = a.state === "running" ? `running ${a.progress}%` : a.state;
    const links = a.state === "done"
      ? `<a href="${a.report_html}" target="_blank" rel="noopener">HTML</a> · <a href="${a.report_pdf}" download>PDF</a>`
      : (a.error ? `<span class="error" title="${FS.esc(a.error)}">failed</span>` : "–");
    return `<tr data-id="${a.id}"><td>${statusBadge(a.status)}</td><td class="num fit">${a.fit ?? "–"}</td>
      <td><a href="/hosts/${a.host_id}">${FS.esc(a.host)}</a>${a.collection_file ? ' <span class="muted small">upload</span>' : ""}</td>
      <td>${when(a.start)} – ${when(a.end)}</td><td class="state">${FS.esc(state)}</td>
      <td>${when(a.analysed_at)}</td><td>${links}</td></tr>`;
  }

  async function refresh() {
    const list = await FS.api("/api/v1/analyses?limit=200");
    const body = document.querySelector("#analyses tbody");
    body.innerHTML = list.length ? list.map(row).join("") : `<tr><td colspan="7" class="muted">No analysis yet.</td></tr>`;
    // Quick while one runs; slower otherwise, so uploads analysed by the server show up too.
    clearTimeout(refresh.timer);
    refresh.timer = setTimeout(refresh, list.some((a) => a.state === "queued" || a.state === "running") ? 1500 : 5000);
  }

  function localInput(date) {
    const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return shifted.toISOString().slice(0, 16);
  }

  async function page() {
    FS.header("analyses");
    const hosts = await FS.api("/api/v1/hosts");
    document.getElementById("an-host").innerHTML = hosts
      .map((h) => `<option value="${FS.esc(h.name)}">${FS.esc(h.name)}</option>`).join("");
    const now = new Date();
    document.getElementById("an-start").value = localInput(new Date(now.getTime() - 3600 * 1000));
    document.getElementById("an-end").value = localInput(now);
    document.getElementById("start-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const message = document.getElementById("an-message");
      const body = {
        host: document.getElementById("an-host").value,
        start: new Date(document.getElementById("an-start").value).toISOString(),
        end: new Date(document.getElementById("an-end").value).toISOString(),
      };
      const response = await fetch("/api/v1/analyses", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const answer = await response.json();
      message.textContent = response.ok ? `analysis ${answer.id} started` : String(JSON.stringify(answer.detail));
      refresh();
    });
    refresh();
  }

  async function hostScore() {
    const el = document.getElementById("host-fit");
    const hostId = location.pathname.split("/").pop();
    const [latest] = await FS.api(`/api/v1/analyses?host_id=${encodeURIComponent(hostId)}&state=done&limit=1`);
    el.innerHTML = latest
      ? `fitness <a href="${latest.report_html}" target="_blank" rel="noopener"><b>${latest.fit}</b></a> ${statusBadge(latest.status)} <span class="muted small">${when(latest.analysed_at)}</span>`
      : `<a href="/analyses" class="muted">no analysis yet</a>`;
  }

  return { page, hostScore };
})();

if (document.getElementById("analyses")) ANALYSES.page();
if (document.getElementById("host-fit")) ANALYSES.hostScore();
