"use strict";
// Draws the charts of GET /api/v1/hosts/{id}/charts: lines and stacked areas with uPlot, the
// per-core heatmap on a canvas of its own (uPlot draws series, and 64+ cores as 64 lines is
// unreadable). Every chart shares one cursor and one x range, so a zoom on one zooms all.
const FSCharts = (() => {
  // Colour-blind-safe (Okabe-Ito), distinct in both themes.
  const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#999999"];
  const SYNC = "fleetscope-host";
  const HEIGHT = 180;

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function formatter(unit) {
    switch (unit) {
      case "percent": return (v) => (v == null ? "–" : v.toFixed(1) + "%");
      case "bytes": return FS.bytes;
      case "bytes_per_second": return FS.rate;
      case "per_second": return (v) => (v == null ? "–" : (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + "/s");
      case "seconds": return (v) => (v == null ? "–" : (v * 1000).toFixed(v < 0.01 ? 2 : 1) + " ms");
      case "celsius": return (v) => (v == null ? "–" : v.toFixed(0) + " °C");
      case "hertz": return (v) => (v == null ? "–" : (v / 1e9).toFixed(2) + " GHz");
      default: return (v) => (v == null ? "–" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
    }
  }

  // Short tick labels: the axis has no room for "1.2 GiB/s" at every tick.
  function tickFormatter(unit) {
    const f = formatter(unit);
    if (unit === "percent") return (v) => v.toFixed(0) + "%";
    return f;
  }

  // Stacked areas: uPlot draws lines, so each series is drawn at its running total and a band
  // fills down to the series below; the legend still shows the series' own value.
  function stack(lines) {
    const totals = [];
    return lines.map((line) => line.values.map((v, i) => {
      if (v == null) return totals[i] ?? null;
      totals[i] = (totals[i] ?? 0) + v;
      return totals[i];
    }));
  }

  class LineChart {
    constructor(el, chart, onZoom) {
      this.el = el;
      this.chart = chart;
      this.fmt = formatter(chart.unit);
      this.onZoom = onZoom;
      this.build();
    }
    data() {
      const c = this.chart;
      const ys = c.kind === "stacked" ? stack(c.lines) : c.lines.map((l) => l.values);
      return [c.times, ...ys];
    }
    build() {
      const c = this.chart;
      const ink = css("--muted") || "#667085";
      const grid = css("--line") || "#e3e7ec";
      const stacked = c.kind === "stacked";
      const series = [{}, ...c.lines.map((line, i) => {
        const colour = PALETTE[i % PALETTE.length];
        return {
          label: line.label, stroke: colour, width: 1.5, spanGaps: false,
          fill: stacked ? colour + "55" : undefined,
          value: (u, v, si, idx) => this.fmt(idx == null ? null : this.chart.lines[si - 1].values[idx]),
        };
      })];
      const bands = stacked ? c.lines.slice(1).map((_, i) => ({ series: [i + 2, i + 1] })) : [];
      const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
      const yRange = c.unit === "percent" && !stacked ? [0, 100] : undefined;
      this.plot = new uPlot({
        width: Math.max(260, this.el.clientWidth), height: HEIGHT,
        series, bands,
        scales: { x: { time: true }, y: yRange ? { range: yRange } : { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] } },
        axes: [axis, { ...axis, size: 76, values: (u, ticks) => ticks.map(tickFormatter(c.unit)) }],
        cursor: { sync: { key: SYNC }, drag: { x: true, y: false } },
        legend: { live: true },
        hooks: { setSelect: [(u) => {
          if (u.select.width > 0) {
            const min = u.posToVal(u.select.left, "x"), max = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ width: 0, height: 0 }, false);
            this.onZoom(min, max);
          }
        }] },
      }, this.data(), this.el);
      this.el.addEventListener("dblclick", () => this.onZoom(null, null));
    }
    update(chart) {
      const relabel = chart.lines.length !== this.chart.lines.length ||
        chart.lines.some((l, i) => l.label !== this.chart.lines[i].label);
      this.chart = chart;
      if (relabel) { this.plot.destroy(); this.el.innerHTML = ""; this.build(); return; }
      this.plot.setData(this.data(), false);
    }
    setRange(min, max) { this.plot.setScale("x", { min, max }); }
    resize() { this.plot.setSize({ width: Math.max(260, this.el.clientWidth), height: HEIGHT }); }
    destroy() { this.plot.destroy(); }
  }

  const heat = FS.heat;

  class Heatmap {
    constructor(el, chart) {
      this.el = el;
      this.chart = chart;
      this.range = null;
      this.canvas = document.createElement("canvas");
      this.tip = document.createElement("div");
      this.tip.className = "heat-tip";
      el.append(this.canvas, this.tip);
      this.canvas.addEventListener("mousemove", (e) => this.hover(e));
      this.canvas.addEventListener("mouseleave", () => { this.tip.style.display = "none"; });
      this.draw();
    }
    layout() {
      const rows = this.chart.lines.length;
      // 64 cores at 4 px, 8 cores at 18 px: every core stays a visible row.
      const rowHeight = Math.max(3, Math.min(18, Math.floor(260 / Math.max(rows, 1))));
      return { rows, rowHeight, label: 34, width: Math.max(260, this.el.clientWidth) };
    }
    draw() {
      const { rows, rowHeight, label, width } = this.layout();
      const times = this.chart.times;
      const height = rows * rowHeight + 16;
      const ratio = window.devicePixelRatio || 1;
      this.canvas.width = width * ratio;
      this.canvas.height = height * ratio;
      this.canvas.style.width = width + "px";
      this.canvas.style.height = height + "px";
      const g = this.canvas.getContext("2d");
      g.scale(ratio, ratio);
      g.clearRect(0, 0, width, height);
      const [t0, t1] = this.range || [times[0], times[times.length - 1]];
      const span = Math.max(t1 - t0, 1e-9);
      const plotWidth = width - label;
      // Each column is a slice of time; the cell shows the slice's highest value.
      const columns = Math.max(1, Math.min(plotWidth, times.length));
      const cellWidth = plotWidth / columns;
      g.fillStyle = css("--muted") || "#667085";
      g.font = "10px system-ui, sans-serif";
      const every = Math.ceil(10 / rowHeight);
      this.chart.lines.forEach((line, r) => {
        if (r % every === 0) g.fillText(line.label, 2, r * rowHeight + Math.min(rowHeight, 10));
        const worst = new Array(columns).fill(null);
        times.forEach((t, i) => {
          const v = line.values[i];
          if (v == null || t < t0 || t > t1) return;
          const c = Math.min(columns - 1, Math.floor(((t - t0) / span) * columns));
          if (worst[c] == null || v > worst[c]) worst[c] = v;
        });
        worst.forEach((v, c) => {
          const colour = heat(v);
          if (!colour) return;
          g.fillStyle = colour;
          g.fillRect(label + c * cellWidth, r * rowHeight, Math.ceil(cellWidth), rowHeight - (rowHeight > 4 ? 1 : 0));
        });
      });
      g.fillStyle = css("--muted") || "#667085";
      const fmt = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      g.fillText(fmt(t0), label, height - 3);
      const end = fmt(t1);
      g.fillText(end, width - g.measureText(end).width - 2, height - 3);
      this.geometry = { rows, rowHeight, label, plotWidth, t0, span };
    }
    hover(e) {
      const { rows, rowHeight, label, plotWidth, t0, span } = this.geometry;
      const box = this.canvas.getBoundingClientRect();
      const x = e.clientX - box.left, y = e.clientY - box.top;
      const r = Math.floor(y / rowHeight);
      if (x < label || r < 0 || r >= rows) { this.tip.style.display = "none"; return; }
      const t = t0 + ((x - label) / plotWidth) * span;
      const times = this.chart.times;
      let i = times.findIndex((u) => u >= t);
      if (i < 0) i = times.length - 1;
      const line = this.chart.lines[r];
      this.tip.textContent = `core ${line.label} · ${new Date(times[i] * 1000).toLocaleTimeString()} · ${FS.pct(line.values[i])}`;
      this.tip.style.display = "block";
      this.tip.style.left = Math.min(x + 12, box.width - 180) + "px";
      this.tip.style.top = y + 12 + "px";
    }
    update(chart) { this.chart = chart; this.draw(); }
    setRange(min, max) { this.range = min == null ? null : [min, max]; this.draw(); }
    resize() { this.draw(); }
    destroy() { this.el.innerHTML = ""; }
  }

  function create(el, chart, onZoom) {
    return chart.kind === "heatmap" ? new Heatmap(el, chart) : new LineChart(el, chart, onZoom);
  }

  // Appends the newer points of `fresh` (a live update over a short range) to `old`, and
  // drops points before `start`: the chart keeps showing the page's window.
  function merge(old, fresh, start) {
    const last = old.times.length ? old.times[old.times.length - 1] : -Infinity;
    const keepFrom = old.times.findIndex((t) => t >= start);
    const from = keepFrom < 0 ? old.times.length : keepFrom;
    const newer = fresh.times.map((t, i) => [t, i]).filter(([t]) => t > last);
    const byLabel = new Map(fresh.lines.map((l) => [l.label, l.values]));
    const labels = new Set(old.lines.map((l) => l.label));
    const lines = old.lines.map((l) => ({
      label: l.label,
      values: [...l.values.slice(from), ...newer.map(([, i]) => (byLabel.get(l.label) || [])[i] ?? null)],
    }));
    // A series that appeared only now (a new TCP state, a new process group) joins, empty before.
    for (const l of fresh.lines) {
      if (labels.has(l.label)) continue;
      lines.push({ label: l.label, values: [...new Array(old.times.length - from).fill(null), ...newer.map(([, i]) => l.values[i])] });
    }
    return { ...old, times: [...old.times.slice(from), ...newer.map(([t]) => t)], lines };
  }

  return { create, merge, formatter };
})();
