"use strict";
(() => {
  const hostId = Number(location.pathname.split("/").pop());
  const cards = document.getElementById("cards");
  let host = null;
  let range = { seconds: 3600 }; // or { start, end } in unix seconds for a custom range
  const drawn = new Map(); // chart key → { chart (the API's), view (FSCharts), el }
  let zoom = null; // [min, max] while zoomed in, for every chart at once
  let trends = new Map(); // mountpoint → fill trend, from the charts answer
  let lastSample = 0;

  // Rows whose values are all absent are left out: a VM without swap gets no swap row.
  const kv = (pairs) => `<dl class="kv">${pairs.filter(([, v]) => v.replace(/[–/ ]/g, "") !== "").map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`;
  const bar = (p) => p == null ? "–" : `<div class="bar${p > 90 ? " hot" : ""}"><span style="width:${Math.min(100, p).toFixed(1)}%"></span></div>`;

  function table(head, rows) {
    return `<table class="grid"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${
      rows.map((r) => `<tr>${r.map((c, i) => `<td${i ? ' class="num"' : ""}>${c}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
  }

  // A card per section the host has; absent sections get no card (no empty stubs). The big
  // numbers are the server's headline (d.latest), the same the live points carry.
  function renderCards(d) {
    const s = d.sections;
    const latest = d.latest || {};
    const html = [];
    if (s.cpu) {
      const v = s.cpu.values;
      html.push(`<article class="card" data-card="cpu"><h2>CPU <span class="big" data-testid="cpu-value">${FS.pct(latest.cpu_percent)}</span></h2>
        ${kv([["load 1 / 5 / 15", `${FS.num(v.load1)} / ${FS.num(v.load5)} / ${FS.num(v.load15)}`],
              ["running / blocked", `${FS.num(v.procs_running, 0)} / ${FS.num(v.procs_blocked, 0)}`]])}
</article>`);
    }
    if (s.memory) {
      const v = s.memory.values;
      html.push(`<article class="card" data-card="memory"><h2>Memory <span class="big" data-testid="memory-value">${FS.pct(latest.memory_percent)}</span></h2>
        ${kv([["used / total", `${FS.bytes(v.used_bytes)} / ${FS.bytes(v.total_bytes)}`],
              ["available", FS.bytes(v.available_bytes)], ["cached", FS.bytes(v.cached_bytes)],
              ["swap used / total", `${FS.bytes(v.swap_used_bytes)} / ${FS.bytes(v.swap_total_bytes)}`]])}
</article>`);
    }
    if (s.filesystem && Object.keys(s.filesystem.items).length) {
      const rows = Object.entries(s.filesystem.items).sort().map(([mount, f]) => {
        const used = f.used_bytes != null && f.avail_bytes != null && f.used_bytes + f.avail_bytes > 0
          ? (100 * f.used_bytes) / (f.used_bytes + f.avail_bytes) : null;
        return [FS.esc(mount), FS.bytes(f.size_bytes), `<div class="metric">${bar(used)}<span class="v">${FS.pct(used)}</span></div>`, FS.bytes(f.avail_bytes),
          `<span data-trend="${FS.esc(mount)}">–</span>`];
      });
      html.push(`<article class="card" data-card="filesystem"><h2>Filesystems</h2>${table(["Mount", "Size", "Used", "Available", "Full in"], rows)}</article>`);
    }
    if (s.disk && Object.keys(s.disk.items).length) {
      const rows = Object.entries(s.disk.items).sort().map(([dev, v]) => [
        FS.esc(dev), FS.pct(v.utilization_percent), FS.rate(v.read_bytes_per_second),
        FS.rate(v.written_bytes_per_second), v.await_seconds == null ? "–" : (v.await_seconds * 1000).toFixed(1) + " ms"]);
      html.push(`<article class="card" data-card="disk"><h2>Disks</h2>${table(["Device", "Util", "Read", "Write", "Await"], rows)}</article>`);
    }
    if (s.network && Object.keys(s.network.items).length) {
      const rows = Object.entries(s.network.items).sort().map(([dev, v]) => [
        FS.esc(dev), FS.rate(v.receive_bytes_per_second), FS.rate(v.transmit_bytes_per_second),
        v.up == null ? "–" : v.up ? "up" : "down",
        v.speed_bits_per_second == null ? "–" : (v.speed_bits_per_second / 1e6).toFixed(0) + " Mb/s"]);
      html.push(`<article class="card" data-card="network"><h2>Network</h2>${table(["Interface", "Receive", "Transmit", "Link", "Speed"], rows)}</article>`);
    }
    html.push(...inventoryCards(d.inventory));
    cards.innerHTML = html.join("") || `<p class="muted">No samples from this host yet.</p>`;
  }

  const text = (v) => (v == null || v === "" ? "" : FS.esc(v));
  const join = (...parts) => parts.filter((p) => p != null && p !== "").map(FS.esc).join(" ");

  function duration(seconds) {
    if (seconds == null) return "";
    const minutes = Math.round(seconds / 60);
    return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
  }

  // Battery state from the audit: plugged in and below 100 % is charging.
  function batteryState(b) {
    if (b.plugged == null) return "";
    if (!b.plugged) return "on battery";
    return b.percent != null && b.percent >= 99.5 ? "full, on AC power" : "charging";
  }

  const GPU_VENDORS = { "0x10de": "NVIDIA", "0x1002": "AMD", "0x8086": "Intel" };

  // Cards from the latest inventory audit (GET /api/v1/hosts/{id} → inventory.audit): battery,
  // GPUs and the system summary, each only when the audit has that part.
  function inventoryCards(inventory) {
    const a = inventory && inventory.audit;
    if (!a) return [];
    const out = [];
    const b = a.battery;
    if (b && (b.percent != null || b.plugged != null)) {
      out.push(`<article class="card" data-card="battery"><h2>Battery <span class="big" data-testid="battery-value">${b.percent == null ? "–" : b.percent.toFixed(0) + "%"}</span></h2>
        ${b.percent == null ? "" : `<div class="metric"><div class="bar${b.percent < 15 ? " hot" : ""}"><span style="width:${Math.min(100, b.percent).toFixed(1)}%"></span></div></div>`}
        ${kv([["state", batteryState(b)], ["time left", duration(b.seconds_left)]])}</article>`);
    }
    if (a.gpus && a.gpus.length) {
      const rows = a.gpus.map((g) => [
        text(g.name) || join(GPU_VENDORS[g.vendor_id] || g.vendor_id, g.device_id) || "–",
        text(g.pci_address) || "–", g.memory_total_bytes == null ? "–" : FS.bytes(g.memory_total_bytes),
        text(g.driver_version) || "–"]);
      out.push(`<article class="card" data-card="gpu"><h2>GPU</h2>${table(["GPU", "PCI", "Memory", "Driver"], rows)}</article>`);
    }
    const os = a.os || {}, cpu = a.cpu || {}, dmi = a.dmi || {};
    const modules = (a.memory_modules || []).filter((m) => m.size_bytes);
    const cores = [cpu.cores != null ? `${cpu.cores} cores` : "", cpu.threads != null ? `${cpu.threads} threads` : ""].filter(Boolean).join(" / ");
    const pairs = [
      ["OS", text(os.pretty_name) || join(os.name, os.version)],
      ["kernel", join(os.kernel, os.architecture)],
      ["CPU", [text(cpu.model), cores].filter(Boolean).join(" · ")],
      ["memory", [a.memory_total_bytes == null ? "" : FS.bytes(a.memory_total_bytes),
        modules.length ? `${modules.length} modules${modules[0].type ? " " + FS.esc(modules[0].type) : ""}` : ""].filter(Boolean).join(" · ")],
      ["machine", join(dmi.system_vendor, dmi.product_name, dmi.product_version)],
      ["BIOS", join(dmi.bios_vendor, dmi.bios_version, dmi.bios_date)],
    ];
    const drives = (a.drives || []).map((d) => [
      text(d.name), text(d.model) || "–", d.size_bytes == null ? "–" : FS.bytes(d.size_bytes),
      d.removable ? "removable" : d.rotational == null ? "–" : d.rotational ? "HDD" : "SSD"]);
    out.push(`<article class="card" data-card="inventory"><h2>System <span class="muted small">audited ${FS.ago(Date.parse(inventory.updated_at) / 1000)}</span></h2>
      ${kv(pairs)}${drives.length ? table(["Drive", "Model", "Size", "Type"], drives) : ""}</article>`);
    // The rest of the audit, each card only when the host reported that part.
    const nics = (a.network_interfaces || []).map((n) => [text(n.name), text(n.mac) || "–",
      (n.addresses || []).map(FS.esc).join("<br>") || "–", n.speed_mbps == null ? "–" : `${n.speed_mbps} Mb/s`]);
    if (nics.length) out.push(`<article class="card" data-card="interfaces"><h2>Interfaces</h2>${table(["Name", "MAC", "Addresses", "Speed"], nics)}</article>`);
    const users = (a.users || []).map((u) => [text(u.name), text(u.terminal) || "–", text(u.host) || "–",
      u.started ? FS.ago(Date.parse(u.started) / 1000) : "–"]);
    if (users.length) out.push(`<article class="card" data-card="users"><h2>Users logged in</h2>${table(["User", "Terminal", "From", "Since"], users)}</article>`);
    const printers = (a.printers || []).map((p) => [text(p.name), p.enabled == null ? "–" : p.enabled ? "enabled" : "disabled"]);
    if (printers.length) out.push(`<article class="card" data-card="printers"><h2>Printers</h2>${table(["Printer", "State"], printers)}</article>`);
    const kernelModules = (a.kernel_modules || []).slice().sort((x, y) => x.name.localeCompare(y.name));
    if (kernelModules.length) {
      out.push(`<article class="card" data-card="drivers"><h2>Drivers <span class="muted small">${kernelModules.length} kernel modules</span></h2>
        <details><summary>show all</summary>${table(["Module", "Size", "Used by"], kernelModules.map((m) => [text(m.name), FS.bytes(m.size_bytes), (m.used_by || []).map(FS.esc).join(", ") || "–"]))}</details></article>`);
    }
    return out;
  }

  // The page's panels, in order; a chart goes to the panel its key starts with.
  const PANELS = [
    ["cpu", "CPU", ["cpu", "cpu_cores", "cpu_frequency", "temperatures", "load"]],
    ["memory", "Memory", ["memory", "hugepages"]],
    ["network", "Network", ["net:", "net_errors:", "tcp"]],
    ["disk", "Disks", ["disk_"]],
    ["filesystems", "Filesystems", ["filesystems"]],
    ["processes", "Process groups", ["process_"]],
  ];

  function panelOf(key) {
    for (const [id, , prefixes] of PANELS) {
      if (prefixes.some((p) => (p.endsWith(":") || p.endsWith("_") ? key.startsWith(p) : key === p))) return id;
    }
    return null;
  }

  function window_() {
    if (range.seconds) { const end = Date.now() / 1000; return [end - range.seconds, end]; }
    return [range.start, range.end];
  }

  function shownRange() {
    return zoom || window_();
  }

  function setZoom(min, max) {
    zoom = min == null ? null : [min, max];
    const [start, end] = shownRange();
    for (const { view } of drawn.values()) view.setRange(start, end);
    document.getElementById("zoom-reset").hidden = zoom == null;
  }

  function chartUrl(start, end, extra = {}) {
    const params = new URLSearchParams({ start_time: start.toFixed(3), end_time: end.toFixed(3), ...extra });
    return `/api/v1/hosts/${hostId}/charts?${params}`;
  }

  // Every chart again for the page's range: on load, on a range change and after a reconnect.
  async function loadCharts() {
    const [start, end] = window_();
    const answer = await FS.api(chartUrl(start, end));
    zoom = null;
    document.getElementById("zoom-reset").hidden = true;
    for (const { view } of drawn.values()) view.destroy();
    drawn.clear();
    const root = document.getElementById("panels");
    root.innerHTML = PANELS.map(([id, title]) =>
      `<section class="panel" data-panel="${id}"><h2>${title}</h2><div class="chart-grid"></div></section>`).join("");
    // Panels are visible while the charts are made (uPlot sizes itself to its box), then the
    // ones left without a chart are hidden.
    for (const chart of answer.charts) addChart(chart);
    for (const [id] of PANELS) {
      const panel = root.querySelector(`[data-panel="${id}"]`);
      panel.hidden = !panel.querySelector(".chart-box");
    }
    document.getElementById("tier").textContent = answer.tier === "raw" ? "every sample" : `${answer.tier} averages`;
    trends = new Map(answer.filesystems.map((f) => [f.mountpoint, f]));
    renderTrends();
    setZoom(null, null);
    for (const { chart } of drawn.values()) lastSample = Math.max(lastSample, chart.times[chart.times.length - 1] || 0);
    await loadProcesses(start, end);
    // Counted, so a test or benchmark can wait for the charts of a range it picked, and the
    // newest time drawn, to see them advance.
    document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
    document.body.dataset.lastSample = String(lastSample);
  }

  function addChart(chart) {
    const panel = document.querySelector(`[data-panel="${panelOf(chart.key)}"] .chart-grid`);
    if (!panel) return;
    const box = document.createElement("div");
    box.className = "chart-box" + (chart.kind === "heatmap" || chart.key === "cpu" ? " wide" : "");
    box.dataset.chart = chart.key;
    box.innerHTML = `<h3>${FS.esc(chart.title)}</h3><div class="chart"></div>`;
    panel.append(box);
    const el = box.querySelector(".chart");
    drawn.set(chart.key, { chart, el, view: FSCharts.create(el, chart, setZoom) });
  }

  function renderTrends() {
    document.querySelectorAll("[data-trend]").forEach((el) => {
      const t = trends.get(el.dataset.trend);
      if (!t || t.days_to_full == null) {
        el.textContent = "–";
        el.title = t && t.bytes_per_day != null && t.bytes_per_day <= 0 ? "not filling over the range" : "";
        return;
      }
      const d = t.days_to_full;
      el.textContent = d < 1 ? `${(d * 24).toFixed(1)} h` : d < 365 ? `${d.toFixed(d < 10 ? 1 : 0)} days` : "> 1 year";
      el.title = `${FS.bytes(t.bytes_per_day)} a day over the range`;
      el.classList.toggle("hot", d < 7);
    });
  }

  // Live: a point for this host means new samples are stored; fetch only the charts' newest
  // stretch (from one interval before the last drawn point, so counters have their previous
  // value) and append it. The rates come from the same server code as the full load.
  let fetching = false, again = false;
  async function advance() {
    if (fetching) { again = true; return; }
    if (!range.seconds || !drawn.size) return; // a fixed custom range does not move
    fetching = true;
    try {
      const margin = 3 * (host.interval_seconds || 10);
      const answer = await FS.api(chartUrl(lastSample - margin, Date.now() / 1000 + 1));
      const [start] = window_();
      let added = false;
      for (const fresh of answer.charts) {
        const known = drawn.get(fresh.key);
        if (!known) { added = true; continue; }
        known.chart = FSCharts.merge(known.chart, fresh, start);
        known.view.update(known.chart);
        lastSample = Math.max(lastSample, known.chart.times[known.chart.times.length - 1] || 0);
      }
      if (added) { await loadCharts(); return; } // a new device or panel: lay the page out again
      if (!zoom) setZoom(null, null);
      document.body.dataset.lastSample = String(lastSample);
    } finally {
      fetching = false;
      if (again) { again = false; advance(); }
    }
  }

  // Process groups over the range: the top by CPU and by memory, sortable, a row opens the
  // group's own history.
  let groups = [], groupSort = { key: "cpu_percent", dir: -1 };
  async function loadProcesses(start, end) {
    const get = (sort) => FS.api(`/api/v1/hosts/${hostId}/processes?${new URLSearchParams({ start_time: start.toFixed(3), end_time: end.toFixed(3), sort, limit: "25" })}`);
    const [byCpu, byMemory] = await Promise.all([get("cpu"), get("memory")]);
    const seen = new Map();
    for (const g of [...byCpu.groups, ...byMemory.groups]) seen.set(g.name, g);
    groups = [...seen.values()];
    renderProcesses();
  }

  const GROUP_COLUMNS = [["name", "Group"], ["cpu_percent", "CPU (of one core)"], ["memory_avg_bytes", "Memory avg"],
    ["memory_max_bytes", "Memory max"], ["max_num_procs", "Processes"]];

  function renderProcesses() {
    const el = document.getElementById("processes");
    if (!groups.length) { el.innerHTML = ""; return; }
    const { key, dir } = groupSort;
    const rows = groups.slice().sort((a, b) => {
      const x = a[key], y = b[key];
      if (x == null) return 1;
      if (y == null) return -1;
      return (typeof x === "string" ? x.localeCompare(y) : x - y) * dir;
    });
    const head = GROUP_COLUMNS.map(([k, label]) =>
      `<th data-sort="${k}" class="${k === key ? (dir > 0 ? "sorted-asc" : "sorted-desc") : ""}">${label}</th>`).join("");
    const body = rows.map((g) => `<tr data-group="${FS.esc(g.name)}"><td class="group">${FS.esc(g.name)}</td><td class="num">${FS.pct(g.cpu_percent)}</td>
      <td class="num">${FS.bytes(g.memory_avg_bytes)}</td><td class="num">${FS.bytes(g.memory_max_bytes)}</td><td class="num">${FS.num(g.max_num_procs, 0)}</td></tr>`).join("");
    el.innerHTML = `<article class="card wide" data-card="processes"><h2>Process groups <span class="muted small">click a group for its history</span></h2>
      <table class="grid" id="group-table"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table><div id="group-history"></div></article>`;
    el.querySelectorAll("th[data-sort]").forEach((th) => th.addEventListener("click", () => {
      groupSort = { key: th.dataset.sort, dir: groupSort.key === th.dataset.sort ? -groupSort.dir : th.dataset.sort === "name" ? 1 : -1 };
      renderProcesses();
    }));
    el.querySelectorAll("tr[data-group]").forEach((tr) => tr.addEventListener("click", () => showGroup(tr.dataset.group)));
  }

  async function showGroup(name) {
    const [start, end] = window_();
    const answer = await FS.api(chartUrl(start, end, { group: name }));
    const el = document.getElementById("group-history");
    el.innerHTML = `<h3>${FS.esc(name)}</h3><div class="chart-grid">${answer.charts.map((c) =>
      `<div class="chart-box" data-chart="${FS.esc(c.key)}"><h3>${FS.esc(c.title)}</h3><div class="chart"></div></div>`).join("")}</div>`;
    answer.charts.forEach((c, i) => FSCharts.create(el.querySelectorAll(".chart")[i], c, () => {}));
  }

  function onPoints(points) {
    for (const p of points) {
      if (p.host_id !== hostId) continue;
      const cpu = document.querySelector('[data-testid="cpu-value"]');
      if (cpu) cpu.textContent = FS.pct(p.cpu_percent);
      const mem = document.querySelector('[data-testid="memory-value"]');
      if (mem) mem.textContent = FS.pct(p.memory_percent);
      host.lastSeen = Math.max(host.lastSeen, p.t);
    }
    if (points.some((p) => p.host_id === hostId)) { renderStatus(); advance(); }
  }

  function renderStatus() {
    const status = FS.status(host.lastSeen, host.interval_seconds);
    document.getElementById("host-status").innerHTML = `<span class="badge ${status}">${status}</span>`;
    document.getElementById("host-meta").textContent =
      `last sample ${FS.ago(host.lastSeen)} (${new Date(host.lastSeen * 1000).toLocaleTimeString()}) · agent ${host.agent_version || "?"} · machine ${host.machine_id}`;
  }

  function selectRange(button) {
    document.querySelectorAll("#ranges button[data-range]").forEach((b) => b.classList.toggle("on", b === button));
    const custom = button.dataset.range === "custom";
    document.getElementById("custom").classList.toggle("on", custom);
    if (!custom) { range = { seconds: Number(button.dataset.range) }; loadCharts(); }
  }

  document.querySelectorAll("#ranges button[data-range]").forEach((b) => b.addEventListener("click", () => selectRange(b)));
  document.getElementById("zoom-reset").addEventListener("click", () => setZoom(null, null));
  document.getElementById("custom-apply").addEventListener("click", () => {
    const start = Date.parse(document.getElementById("custom-start").value) / 1000;
    const end = Date.parse(document.getElementById("custom-end").value) / 1000;
    if (!(start < end)) return;
    range = { start, end };
    loadCharts();
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { for (const { view } of drawn.values()) view.resize(); }, 100);
  });

  async function load() {
    const detail = await FS.api(`/api/v1/hosts/${hostId}`);
    host = { ...detail, lastSeen: Date.parse(detail.last_seen) / 1000 };
    document.title = `${detail.name} · fleetscope`;
    document.getElementById("title").textContent = detail.name;
    renderStatus();
    renderCards(detail);
    await loadCharts();
    document.body.dataset.ready = "1";
  }

  const indicator = FS.header("host");
  load().then(() => new FS.LiveSocket({ hostId, onPoints, onOpen: loadCharts, indicator }));
  setInterval(renderStatus, 5000);
})();
