"use strict";
(() => {
  const SPARK_POINTS = 30;
  const STATUS_ORDER = { live: 0, stale: 1, offline: 2 };
  const hosts = new Map(); // id → state
  const rows = new Map(); // id → <tr>, for live updates without redrawing the table
  let sortKey = "name";
  let sortDir = 1;
  const tbody = document.querySelector("#hosts tbody");
  const filterBox = document.getElementById("filter");
  const statusBox = document.getElementById("status-filter");

  function stateOf(h) {
    const latest = h.latest || {};
    return {
      id: h.id, name: h.name, interval: h.interval_seconds,
      last_seen: Date.parse(h.last_seen) / 1000,
      cpu_percent: latest.cpu_percent ?? null, memory_percent: latest.memory_percent ?? null,
      disk_percent: latest.disk_percent ?? null,
      network_bytes_per_second: latest.network_bytes_per_second ?? null,
      spark: { cpu_percent: h.spark.cpu_percent, memory_percent: h.spark.memory_percent, disk_percent: h.spark.disk_percent },
    };
  }

  function metricCell(h, key) {
    return `<div class="metric">${FS.spark(h.spark[key])}<span class="v" data-field="${key}">${FS.pct(h[key])}</span></div>`;
  }

  function rowHtml(h) {
    const status = FS.status(h.last_seen, h.interval);
    return `<td><span class="badge ${status}" data-field="status">${status}</span></td>
      <td><a href="/hosts/${h.id}">${FS.esc(h.name)}</a></td>
      <td>${metricCell(h, "cpu_percent")}</td><td>${metricCell(h, "memory_percent")}</td>
      <td>${metricCell(h, "disk_percent")}</td>
      <td class="num" data-field="network">${FS.rate(h.network_bytes_per_second)}</td>
      <td class="num" data-field="last_seen">${FS.ago(h.last_seen)}</td>`;
  }

  function compare(a, b) {
    let x, y;
    if (sortKey === "status") {
      x = STATUS_ORDER[FS.status(a.last_seen, a.interval)];
      y = STATUS_ORDER[FS.status(b.last_seen, b.interval)];
    } else { x = a[sortKey]; y = b[sortKey]; }
    if (x == null && y == null) return a.name.localeCompare(b.name);
    if (x == null) return 1; // absent values last, whichever the direction
    if (y == null) return -1;
    const c = typeof x === "string" ? x.localeCompare(y) : x - y;
    return c * sortDir || a.name.localeCompare(b.name);
  }

  // The heat strip: one canvas, a cell per shown host in the table's order, coloured by its
  // CPU now; cheap to redraw on every live point even at thousands of hosts.
  const strip = document.querySelector("#heatstrip canvas");
  const stripTip = document.querySelector("#heatstrip .heat-tip");
  let stripHosts = [];
  const CELL = 14, GAP = 2;

  let stripWidth = 0; // read on load and resize only: reading it forces a layout
  function drawStrip() {
    if (!stripWidth) stripWidth = strip.parentElement.clientWidth - 20;
    const width = stripWidth;
    const perRow = Math.max(1, Math.floor((width + GAP) / (CELL + GAP)));
    const rows = Math.max(1, Math.ceil(stripHosts.length / perRow));
    const ratio = window.devicePixelRatio || 1;
    strip.width = width * ratio;
    strip.height = rows * (CELL + GAP) * ratio;
    strip.style.height = rows * (CELL + GAP) + "px";
    const g = strip.getContext("2d");
    g.scale(ratio, ratio);
    const empty = getComputedStyle(document.documentElement).getPropertyValue("--line").trim() || "#e3e7ec";
    stripHosts.forEach((h, i) => {
      const status = FS.status(h.last_seen, h.interval);
      g.fillStyle = status === "offline" ? empty : FS.heat(h.cpu_percent) || empty;
      g.fillRect((i % perRow) * (CELL + GAP), Math.floor(i / perRow) * (CELL + GAP), CELL, CELL);
    });
    strip.dataset.cells = String(stripHosts.length);
    strip.dataset.perRow = String(perRow);
  }

  function stripHost(event) {
    const box = strip.getBoundingClientRect();
    const perRow = Number(strip.dataset.perRow || 1);
    const col = Math.floor((event.clientX - box.left) / (CELL + GAP));
    const row = Math.floor((event.clientY - box.top) / (CELL + GAP));
    return col < perRow ? stripHosts[row * perRow + col] : undefined;
  }

  strip.addEventListener("mousemove", (event) => {
    const h = stripHost(event);
    if (!h) { stripTip.style.display = "none"; return; }
    const box = strip.getBoundingClientRect();
    stripTip.textContent = `${h.name} · CPU ${FS.pct(h.cpu_percent)} · ${FS.status(h.last_seen, h.interval)}`;
    stripTip.style.display = "block";
    stripTip.style.left = Math.min(event.clientX - box.left + 12, box.width - 200) + "px";
    stripTip.style.top = event.clientY - box.top + 16 + "px";
  });
  strip.addEventListener("mouseleave", () => { stripTip.style.display = "none"; });
  strip.addEventListener("click", (event) => {
    const h = stripHost(event);
    if (h) location.href = `/hosts/${h.id}`;
  });
  window.addEventListener("resize", () => { stripWidth = 0; drawStrip(); });

  // Live messages come one per digest commit, many a second at fleet scale. They only mark
  // rows as changed; every FLUSH_MS the changed rows are written (or, sorted by a value, the
  // whole table) and the strip drawn in one animation frame: the cost of laying out a large
  // table is paid twice a second, whatever the number of messages.
  const dirty = new Set();
  const FLUSH_MS = 500; // a 1,000-row table laid out twice a second, not at every frame
  let fullRender = false, frame = false;
  function schedule(full) {
    fullRender = fullRender || full;
    if (frame) return;
    frame = true;
    setTimeout(() => requestAnimationFrame(() => {
      frame = false;
      if (fullRender) { fullRender = false; dirty.clear(); render(); return; }
      for (const id of dirty) {
        const tr = rows.get(id);
        if (tr) tr.innerHTML = rowHtml(hosts.get(id));
      }
      dirty.clear();
      drawStrip();
    }), FLUSH_MS);
  }

  // One innerHTML write for the whole table: fast enough at 1,000 hosts (a few ms).
  function render() {
    const text = filterBox.value.trim().toLowerCase();
    const wanted = statusBox.value;
    const shown = [...hosts.values()]
      .filter((h) => (!text || h.name.toLowerCase().includes(text)) && (!wanted || FS.status(h.last_seen, h.interval) === wanted))
      .sort(compare);
    tbody.innerHTML = shown.map((h) => `<tr data-host-id="${h.id}">${rowHtml(h)}</tr>`).join("");
    rows.clear();
    for (const tr of tbody.rows) rows.set(Number(tr.dataset.hostId), tr);
    document.getElementById("count").textContent = `${shown.length} of ${hosts.size} hosts`;
    stripHosts = shown;
    drawStrip();
    document.querySelectorAll("#hosts th[data-sort]").forEach((th) => {
      th.classList.toggle("sorted-asc", th.dataset.sort === sortKey && sortDir === 1);
      th.classList.toggle("sorted-desc", th.dataset.sort === sortKey && sortDir === -1);
    });
  }

  function renderSummary(s) {
    const tile = (label, value, cls = "") => `<div class="tile ${cls}"><div class="label">${label}</div><div class="value">${value}</div></div>`;
    const worst = (key, fmt) => {
      const top = (s.worst[key] || [])[0];
      return top ? `${FS.esc(top.name)} ${fmt(top.averages[key])}` : "–";
    };
    document.getElementById("summary").innerHTML =
      tile("Live", s.hosts.live, "live") + tile("Stale", s.hosts.stale, "stale") + tile("Offline", s.hosts.offline, "offline") +
      tile("CPU avg 24 h", FS.pct(s.averages.cpu_percent)) + tile("Memory avg 24 h", FS.pct(s.averages.memory_percent)) +
      tile("Disk avg 24 h", FS.pct(s.averages.disk_percent)) +
      `<div class="tile"><div class="label">Busiest CPU 24 h</div><div class="value" style="font-size:14px">${worst("cpu_percent", FS.pct)}</div></div>`;
  }

  async function load() {
    const [fleet, summary] = await Promise.all([FS.api("/api/v1/fleet"), FS.api("/api/v1/reports/summary?time_range=24")]);
    hosts.clear();
    for (const h of fleet) hosts.set(h.id, stateOf(h));
    render();
    renderSummary(summary);
  }

  function onPoints(points) {
    let added = false;
    // Sorted by a value that moves: the whole table is drawn again so the order stays true.
    const reorder = sortKey !== "name";
    for (const p of points) {
      const h = hosts.get(p.host_id);
      if (!h) { added = true; continue; } // a new host: reload the list once below
      if (p.t < h.last_seen) continue;
      h.last_seen = p.t;
      for (const key of ["cpu_percent", "memory_percent", "disk_percent"]) {
        h[key] = p[key];
        h.spark[key] = [...h.spark[key], p[key]].slice(-SPARK_POINTS);
      }
      h.network_bytes_per_second = p.network_bytes_per_second;
      dirty.add(h.id);
    }
    if (added) load();
    else if (points.length) schedule(reorder);
  }

  document.querySelectorAll("#hosts th[data-sort]").forEach((th) =>
    th.addEventListener("click", () => {
      sortDir = sortKey === th.dataset.sort ? -sortDir : 1;
      sortKey = th.dataset.sort;
      render();
    }));
  filterBox.addEventListener("input", render);
  statusBox.addEventListener("change", render);
  // Ages and statuses move with the clock, not with data: refresh them locally.
  setInterval(() => {
    for (const [id, tr] of rows) {
      const h = hosts.get(id);
      const status = FS.status(h.last_seen, h.interval);
      const badge = tr.querySelector('[data-field="status"]');
      badge.className = "badge " + status;
      badge.textContent = status;
      tr.querySelector('[data-field="last_seen"]').textContent = FS.ago(h.last_seen);
    }
  }, 5000);

  const indicator = FS.header("fleet");
  load().then(() => new FS.LiveSocket({ onPoints, onOpen: load, indicator }));
})();
