// Several jobs side by side: polls GET /api/v1/compare?jobs=... and draws each job's strategies'
// best-so-far against compute (one colour per job and strategy; a repeated strategy's median in
// a band) and their compute to one target.
// Data only ever reaches the page through textContent, setAttribute and canvas: never innerHTML.
"use strict";

(() => {
  const section = document.getElementById("compare");
  const API = section.dataset.api;
  const POLL_MS = 3000;
  const IDLE_POLL_MS = 15000;
  const TERMINAL = new Set(["completed", "cancelled", "failed"]);
  const PALETTE = ["#2f6fde", "#e8743b", "#19a979", "#945ecf", "#d64545", "#13a4b4", "#c4a000",
    "#6c8893", "#ee6868", "#4b9b3c", "#a66999", "#f2a900", "#5a6b87", "#b55d1f", "#2a9df4", "#7d8c2b"];
  const state = { data: null, chart: null, key: "" };

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const SI = [[1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  function si(v) {
    if (v === null || v === undefined) return "";
    for (const [scale, unit] of SI) if (Math.abs(v) >= scale) return (v / scale).toPrecision(3) + " " + unit;
    return String(Math.round(v * 100) / 100);
  }
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(2) + "%");
  const pct1 = (v) => (100 * v).toFixed(1) + "%";
  const colorOf = (k) => PALETTE[k % PALETTE.length];
  const label = (s) => "job " + s.job + " · " + s.strategy;

  function amount(v) {
    return state.data.unit === "base_epochs" ? v.toFixed(2) : si(v);
  }
  function targetText(s) {
    if (state.data.target.value === null) return "–";
    if (s.compute_to_target === null) return "not reached";
    let text = amount(s.compute_to_target);
    if (s.q1 !== null && s.q1 !== undefined) {
      text += " (IQR " + amount(s.q1) + "–" + (s.q3 === null ? "not reached" : amount(s.q3)) + ")";
    }
    return text;
  }

  function renderTarget() {
    const d = state.data;
    const t = d.target;
    const unit = d.unit === "base_epochs" ? "base epochs" : "FLOPs";
    document.querySelector('#compare-table th[data-key="target"]').textContent = "To target (" + unit + ")";
    const line = document.getElementById("target-line");
    line.title = "target: " + t.rule;
    if (t.value === null) {
      line.textContent = t.best === null
        ? "Target: the best completed trial's accuracy less a margin (no completed trial yet)"
        : "No target: " + (t.reason || "the validation set cannot tell trials apart");
      return;
    }
    const se = t.n_val ? "2 standard errors on " + t.n_val + " validation images" : "2 standard errors (validation size unknown)";
    line.textContent = "Target " + pct(t.value) + ": the best of these jobs, " + pct(t.best) + " (job " +
      t.best_job + ", trial " + t.best_trial + "), less " + (100 * t.margin).toFixed(2) +
      " points (the larger of 0.5 points and " + se + ")";
  }

  function renderTable() {
    const rows = state.data.series.map((s, k) => {
      const tr = el("tr");
      tr.dataset.job = String(s.job);
      tr.dataset.strategy = s.strategy;
      const job = el("td");
      const link = el("a", null, "job " + s.job + ": " + s.job_name);
      link.href = section.dataset.root + "/jobs/" + Number(s.job);
      job.append(link);
      const name = el("td");
      const box = el("div", "strategy-cell");
      const sw = el("span", "swatch");
      sw.style.background = colorOf(k);
      box.append(sw, el("span", null, s.strategy));
      name.append(box);
      const best = s.curve && s.curve.accuracy.length ? s.curve.accuracy[s.curve.accuracy.length - 1] : null;
      const cells = [
        ["runs", s.runs],
        ["target", targetText(s)],
        ["reached", state.data.target.value === null ? "–" : s.reached + " of " + s.runs],
        ["auc", s.auc === null ? "–" : pct(s.auc)],
        ["best", pct(best)],
      ].map(([key, text]) => {
        const td = el("td", "num", text);
        td.dataset.key = key;
        return td;
      });
      tr.append(job, name, ...cells);
      return tr;
    });
    document.getElementById("compare-body").replaceChildren(...rows);
  }

  function showEmpty(text) {
    const box = document.getElementById("chart-compare");
    if (state.chart) { state.chart.destroy(); state.chart = null; state.key = ""; }
    let empty = box.querySelector(".empty");
    if (!empty) { empty = el("p", "empty"); box.append(empty); }
    empty.textContent = text;
    empty.hidden = false;
  }

  const axis = (name, fmt, size) => ({
    label: name, font: "11px system-ui, sans-serif", labelFont: "600 11px system-ui, sans-serif", labelSize: 16,
    size: size || 52, stroke: "#6b7685", grid: { stroke: "#eef1f5", width: 1 }, ticks: { stroke: "#e3e7ee", width: 1 },
    values: (u, vals) => vals.map(fmt),
  });

  function renderChart() {
    const drawn = [];
    state.data.series.forEach((s, k) => {
      if (s.curve && s.curve.cost.length) drawn.push({ s, color: colorOf(k) });
    });
    if (!drawn.length) return showEmpty("no completed trials yet");
    const data = [null];
    const bands = [];
    for (const { s, color } of drawn) {
      const series = nasCharts.bandSeries(s.curve, color);
      data.push(series.data);
      bands.push(s.band ? series.band : null);
    }
    const key = drawn.map(({ s, color }) => label(s) + "\u0001" + color).join("\u0000");
    if (state.chart && state.key === key) {
      state.chart.series.slice(1).forEach((series, k) => { series.band = bands[k]; });
      state.chart.setData(data);
      return;
    }
    const box = document.getElementById("chart-compare");
    const empty = box.querySelector(".empty");
    if (empty) empty.hidden = true;
    if (state.chart) state.chart.destroy();
    state.key = key;
    state.chart = new uPlot({
      width: Math.max(300, box.clientWidth),
      height: Math.max(200, box.clientHeight - 60),
      mode: 2,
      legend: { live: false },
      cursor: { drag: { x: true, y: true, uni: 20 }, points: { show: false } },
      scales: { x: { time: false, distr: 3 }, y: { auto: true } },
      axes: [axis("FLOPs spent", si, 34), axis("best accuracy", pct1)],
      hooks: { drawAxes: [nasCharts.drawBands], drawSeries: [nasCharts.drawDots] },
      series: [{}, ...drawn.map(({ s, color }, k) => ({
        label: label(s), stroke: color, width: 2, band: bands[k], dots: { size: 5, fill: color },
        paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
      }))],
    }, data, box);
  }

  function renderJobs() {
    for (const job of state.data.jobs) {
      const badge = document.querySelector('#compare-jobs li[data-job-id="' + Number(job.id) + '"] .badge');
      if (!badge) continue;
      badge.textContent = job.state;
      badge.className = "badge state-" + String(job.state).replace(/[^a-z]/g, "");
    }
  }

  const live = document.getElementById("live");
  async function poll() {
    let wait = POLL_MS;
    try {
      const res = await fetch(API, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      state.data = await res.json();
      renderJobs();
      renderTarget();
      renderTable();
      renderChart();
      const done = state.data.jobs.every((j) => TERMINAL.has(j.state));
      live.className = "live on";
      live.textContent = done ? "up to date" : "live";
      if (done) wait = IDLE_POLL_MS;
      document.body.dataset.ready = "true";
    } catch (err) {
      live.className = "live off";
      live.textContent = "offline, retrying";
      wait = 5000;
    }
    setTimeout(poll, document.hidden ? Math.max(wait, IDLE_POLL_MS) : wait);
  }
  window.compare = state;
  poll();
})();
