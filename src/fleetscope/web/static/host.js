"use strict";
(() => {
  const hostId = Number(location.pathname.split("/").pop());
  const cards = document.getElementById("cards");
  let host = null;
  let range = { seconds: 3600 }; // or { start, end } in unix seconds for a custom range
  const charts = {}; // "cpu" | "memory" → { plot, data, zoomed }

  // Rows whose values are all absent are left out: a VM without swap gets no swap row.
  const kv = (pairs) => `<dl class="kv">${pairs.filter(([, v]) => v.replace(/[–/ ]/g, "") !== "").map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`;
  const bar = (p) => p == null ? "–" : `<div class="bar${p > 90 ? " hot" : ""}"><span style="width:${Math.min(100, p).toFixed(1)}%"></span></div>`;

  function table(head, rows) {
    return `<table class="grid"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${
      rows.map((r) => `<tr>${r.map((c, i) => `<td${i ? ' class="num"' : ""}>${c}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
  }

  function memoryPercent(v) {
    return v.used_bytes != null && v.total_bytes ? (100 * v.used_bytes) / v.total_bytes : null;
  }

  // A card per section the host has; absent sections get no card (no empty stubs).
  function renderCards(d) {
    const s = d.sections;
    const html = [];
    if (s.cpu) {
      const v = s.cpu.values;
      html.push(`<article class="card" data-card="cpu"><h2>CPU <span class="big" data-testid="cpu-value">${FS.pct(v.utilization_percent)}</span></h2>
        ${kv([["load 1 / 5 / 15", `${FS.num(v.load1)} / ${FS.num(v.load5)} / ${FS.num(v.load15)}`],
              ["running / blocked", `${FS.num(v.procs_running, 0)} / ${FS.num(v.procs_blocked, 0)}`]])}
        <div class="chart" id="chart-cpu"></div></article>`);
    }
    if (s.memory) {
      const v = s.memory.values;
      html.push(`<article class="card" data-card="memory"><h2>Memory <span class="big" data-testid="memory-value">${FS.pct(memoryPercent(v))}</span></h2>
        ${kv([["used / total", `${FS.bytes(v.used_bytes)} / ${FS.bytes(v.total_bytes)}`],
              ["available", FS.bytes(v.available_bytes)], ["cached", FS.bytes(v.cached_bytes)],
              ["swap used / total", `${FS.bytes(v.swap_used_bytes)} / ${FS.bytes(v.swap_total_bytes)}`]])}
        <div class="chart" id="chart-memory"></div></article>`);
    }
    if (s.filesystem && Object.keys(s.filesystem.items).length) {
      const rows = Object.entries(s.filesystem.items).sort().map(([mount, f]) => {
        const used = f.used_bytes != null && f.avail_bytes != null && f.used_bytes + f.avail_bytes > 0
          ? (100 * f.used_bytes) / (f.used_bytes + f.avail_bytes) : null;
        return [FS.esc(mount), FS.bytes(f.size_bytes), `<div class="metric">${bar(used)}<span class="v">${FS.pct(used)}</span></div>`, FS.bytes(f.avail_bytes)];
      });
      html.push(`<article class="card" data-card="filesystem"><h2>Filesystems</h2>${table(["Mount", "Size", "Used", "Available"], rows)}</article>`);
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
    return out;
  }

  function makeChart(key, label, color) {
    const el = document.getElementById("chart-" + key);
    if (!el) return;
    const state = { data: [[], []], zoomed: false };
    state.plot = new uPlot({
      width: Math.max(300, el.clientWidth), height: 200,
      scales: { y: { range: [0, 100] } },
      series: [{}, { label, stroke: color, fill: color + "22", width: 1.5, spanGaps: false, value: (u, v) => FS.pct(v) }],
      axes: [{}, { values: (u, ticks) => ticks.map((t) => t + "%") }],
      cursor: { drag: { x: true, y: false } },
      hooks: { setSelect: [(u) => { if (u.select.width > 0) state.zoomed = true; }] },
    }, state.data, el);
    el.addEventListener("dblclick", () => { state.zoomed = false; });
    charts[key] = state;
  }

  function window_() {
    if (range.seconds) { const end = Date.now() / 1000; return [end - range.seconds, end]; }
    return [range.start, range.end];
  }

  async function loadSeries() {
    const [start, end] = window_();
    const params = new URLSearchParams({
      start_time: start.toFixed(3), end_time: end.toFixed(3),
      metrics: "cpu_utilization_percent,memory_used_bytes,memory_total_bytes",
    });
    const report = await FS.api(`/api/v1/reports/metrics/${encodeURIComponent(host.name)}?${params}`);
    const by = (metric) => (report.series.find((s) => s.metric === metric) || { points: [] }).points;
    const cpu = by("cpu_utilization_percent");
    const total = new Map(by("memory_total_bytes"));
    const used = by("memory_used_bytes");
    const set = (key, points) => {
      const c = charts[key];
      if (!c) return;
      c.data = [points.map((p) => p[0]), points.map((p) => p[1])];
      c.zoomed = false;
      c.plot.setData(c.data);
      c.plot.setScale("x", { min: start, max: end });
    };
    set("cpu", cpu);
    set("memory", used.map(([t, u]) => [t, u != null && total.get(t) ? (100 * u) / total.get(t) : null]));
    await loadProcesses(start, end);
  }

  // Top process groups over the selected range; no card when the host reports none.
  async function loadProcesses(start, end) {
    const params = new URLSearchParams({ start_time: start.toFixed(3), end_time: end.toFixed(3), sort: "cpu", limit: "10" });
    const report = await FS.api(`/api/v1/hosts/${hostId}/processes?${params}`);
    const el = document.getElementById("processes");
    if (!report.groups.length) { el.innerHTML = ""; return; }
    const rows = report.groups.map((g) => [
      FS.esc(g.name), FS.pct(g.cpu_percent), FS.bytes(g.memory_avg_bytes), FS.bytes(g.memory_max_bytes), FS.num(g.max_num_procs, 0)]);
    el.innerHTML = `<article class="card" data-card="processes"><h2>Top processes</h2>${
      table(["Group", "CPU (of one core)", "Memory avg", "Memory max", "Processes"], rows)}</article>`;
  }

  function append(key, t, value) {
    const c = charts[key];
    if (!c || !range.seconds) return; // a fixed custom range does not move
    const [start, end] = window_();
    const keep = c.data[0].findIndex((x) => x >= start);
    c.data = [[...c.data[0].slice(Math.max(keep, 0)), t], [...c.data[1].slice(Math.max(keep, 0)), value]];
    c.plot.setData(c.data, false);
    if (!c.zoomed) c.plot.setScale("x", { min: start, max: Math.max(end, t) });
  }

  function onPoints(points) {
    for (const p of points) {
      if (p.host_id !== hostId) continue;
      const cpu = document.querySelector('[data-testid="cpu-value"]');
      if (cpu) cpu.textContent = FS.pct(p.cpu_percent);
      const mem = document.querySelector('[data-testid="memory-value"]');
      if (mem) mem.textContent = FS.pct(p.memory_percent);
      append("cpu", p.t, p.cpu_percent);
      append("memory", p.t, p.memory_percent);
      host.lastSeen = Math.max(host.lastSeen, p.t);
      renderStatus();
    }
  }

  function renderStatus() {
    const status = FS.status(host.lastSeen, host.interval_seconds);
    document.getElementById("host-status").innerHTML = `<span class="badge ${status}">${status}</span>`;
    document.getElementById("host-meta").textContent =
      `last sample ${FS.ago(host.lastSeen)} · agent ${host.agent_version || "?"} · machine ${host.machine_id}`;
  }

  function selectRange(button) {
    document.querySelectorAll("#ranges button[data-range]").forEach((b) => b.classList.toggle("on", b === button));
    const custom = button.dataset.range === "custom";
    document.getElementById("custom").classList.toggle("on", custom);
    if (!custom) { range = { seconds: Number(button.dataset.range) }; loadSeries(); }
  }

  document.querySelectorAll("#ranges button[data-range]").forEach((b) => b.addEventListener("click", () => selectRange(b)));
  document.getElementById("custom-apply").addEventListener("click", () => {
    const start = Date.parse(document.getElementById("custom-start").value) / 1000;
    const end = Date.parse(document.getElementById("custom-end").value) / 1000;
    if (!(start < end)) return;
    range = { start, end };
    loadSeries();
  });
  window.addEventListener("resize", () => {
    for (const [key, c] of Object.entries(charts)) {
      const el = document.getElementById("chart-" + key);
      c.plot.setSize({ width: Math.max(300, el.clientWidth), height: 200 });
    }
  });

  async function load() {
    const detail = await FS.api(`/api/v1/hosts/${hostId}`);
    host = { ...detail, lastSeen: Date.parse(detail.last_seen) / 1000 };
    document.title = `${detail.name} · fleetscope`;
    document.getElementById("title").textContent = detail.name;
    renderStatus();
    renderCards(detail);
    makeChart("cpu", "CPU", "#2563eb");
    makeChart("memory", "Memory", "#7c3aed");
    await loadSeries();
  }

  const indicator = FS.header("host");
  load().then(() => new FS.LiveSocket({ hostId, onPoints, onOpen: loadSeries, indicator }));
  setInterval(renderStatus, 5000);
})();
