// The live leaderboard of one job: polls GET /api/v1/jobs/{id}/leaderboard?since=VERSION and
// merges what changed into columnar arrays; the table renders only its visible rows.
// Data only ever reaches the page through textContent, setAttribute and canvas: never innerHTML.
"use strict";

(() => {
  const head = document.getElementById("job");
  const API = head.dataset.api;
  const POLL_MS = 1000;
  const IDLE_POLL_MS = 10000;
  // the first answer (preloaded by the page) holds only the best ranked trials (the table's
  // first screens) and the whole summary, so a job of 100,000 trials is drawn at once; every
  // trial comes next
  const FIRST = head.dataset.first;
  const ROW_HEIGHT = 28;
  const PALETTE = ["#2f6fde", "#e8743b", "#19a979", "#945ecf", "#d64545", "#13a4b4", "#c4a000",
    "#6c8893", "#ee6868", "#4b9b3c", "#a66999", "#f2a900", "#5a6b87", "#b55d1f", "#2a9df4", "#7d8c2b"];
  const TERMINAL = new Set(["completed", "cancelled", "failed"]);
  // the job's recommendation trained again with other seeds: stored as trials of this key,
  // shown in the table but not ranked, charted or counted as a strategy
  const CONFIRM = "confirm";
  // which trials are ranked is the server's rule (workers.jobs.ranking.is_ranked, the CLI's
  // too): each trial comes marked `ranked`; confirmation runs and skipped proposals never are

  // ---- the client's copy of the job ---------------------------------------------------------
  const FIELDS = ["strategy", "number", "state", "spec", "strides", "accuracy", "n_params", "macs",
    "cost_flops", "wall_seconds", "epoch", "epochs", "error", "ranked"];
  const store = {
    version: 0, createdAt: null, job: null, progress: null, strategies: [], states: [],
    curves: [], front: null, comparison: null, seriesOf: new Map(), seriesNames: [],
    id: [], index: new Map(), cols: {}, rank: [], changed: new Set(), partial: false,
  };
  for (const f of FIELDS) store.cols[f] = [];

  function reset() {
    store.id = [];
    store.index = new Map();
    for (const f of FIELDS) store.cols[f] = [];
  }

  function apply(d) {
    if (d.full) reset();
    store.createdAt = d.job.created_at;
    store.job = d.job;
    store.progress = d.progress;
    store.strategies = d.strategies;
    store.states = d.states;
    const t = d.trials;
    const cols = store.cols;
    const plain = ["number", "spec", "accuracy", "n_params", "macs", "cost_flops", "wall_seconds",
      "epoch", "epochs", "error", "ranked"];
    if (d.full || !store.id.length) {
      // everything at once: take the columns as they came
      store.id = t.id;
      store.index = new Map(t.id.map((id, i) => [id, i]));
      cols.strategy = t.strategy.map((code) => d.strategies[code]);
      cols.state = t.state.map((code) => d.states[code]);
      cols.strides = t.strides.map((code) => t.stride_texts[code]);
      for (const f of plain) cols[f] = f === "spec" ? t.spec.map((code) => t.specs[code]) : t[f];
      store.freshSpecs = t.specs;
      store.changed = new Set(t.id);
      if (d.best_so_far !== null) store.curves = d.best_so_far;
      if (d.pareto !== null) store.front = d.pareto;
      if (d.comparison) setComparison(d.comparison);
      return true;
    }
    for (let k = 0; k < t.id.length; k++) {
      let i = store.index.get(t.id[k]);
      if (i === undefined) {
        i = store.id.length;
        store.id.push(t.id[k]);
        store.index.set(t.id[k], i);
      }
      store.changed.add(t.id[k]);
      cols.strategy[i] = d.strategies[t.strategy[k]];
      cols.state[i] = d.states[t.state[k]];
      cols.strides[i] = t.stride_texts[t.strides[k]];
      for (const f of plain) cols[f][i] = f === "spec" ? t.specs[t.spec[k]] : t[f][k];
    }
    if (d.best_so_far !== null) store.curves = d.best_so_far;
    if (d.pareto !== null) store.front = d.pareto;
    if (d.comparison) setComparison(d.comparison);
    return t.id.length > 0 || d.full;
  }

  // Compute to target per series: a strategy, or a repeated strategy's runs (grid/r0, ...).
  function setComparison(c) {
    store.comparison = c;
    store.seriesNames = c.series.map((s) => s.strategy);
    store.seriesOf = new Map();
    for (const s of c.series) for (const k of s.keys) store.seriesOf.set(k.key, s.strategy);
  }

  function computeRanks() {
    const { accuracy, ranked } = store.cols;
    const done = [];
    for (let i = 0; i < store.id.length; i++) {
      if (ranked[i]) done.push(i);
    }
    const ids = store.id;
    // a native numeric sort of packed keys (accuracy to 1e-7, descending; then position, i.e.
    // the earlier trial), several times faster than a comparator over 10,000s of trials
    const SLOTS = 2 ** 26;
    const keys = new Float64Array(done.length);
    for (let k = 0; k < done.length; k++) {
      const a = Math.min(1, Math.max(0, accuracy[done[k]]));
      keys[k] = (1e7 - Math.round(a * 1e7)) * SLOTS + done[k];
    }
    keys.sort();
    for (let k = 0; k < done.length; k++) done[k] = keys[k] % SLOTS;
    store.rank = new Array(ids.length).fill(null);
    done.forEach((i, r) => { store.rank[i] = r + 1; });
    store.ranked = done;
  }

  // ---- formatting ---------------------------------------------------------------------------
  const SI = [[1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  function si(v) {
    if (v === null || v === undefined) return "";
    for (const [scale, unit] of SI) {
      if (Math.abs(v) >= scale) return (v / scale).toPrecision(3) + " " + unit;
    }
    return String(Math.round(v * 100) / 100);
  }
  const pct = (v) => (v === null || v === undefined ? "" : (100 * v).toFixed(2) + "%");
  const pct1 = (v) => (100 * v).toFixed(1) + "%";
  function secs(v) {
    if (v === null || v === undefined) return "";
    if (v < 60) return v.toFixed(1) + " s";
    const m = Math.floor(v / 60);
    return m < 60 ? m + "m " + Math.round(v % 60) + "s" : Math.floor(m / 60) + "h " + (m % 60) + "m";
  }
  // one colour per series: a repeated strategy's runs share their strategy's
  function colorOf(strategy) {
    const series = store.seriesOf.get(strategy);
    const k = series !== undefined ? store.seriesNames.indexOf(series) : store.strategies.indexOf(strategy);
    return PALETTE[Math.max(0, k) % PALETTE.length];
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- header -------------------------------------------------------------------------------
  function renderHead() {
    const job = store.job;
    document.getElementById("job-name").textContent = job.name;
    const badge = document.getElementById("job-state");
    badge.textContent = job.state;
    badge.className = "badge state-" + job.state.replace(/[^a-z]/g, "");
    const p = store.progress;
    const finished = p.states.completed + p.states.pruned + (p.states.skipped || 0) + p.states.failed;
    document.getElementById("progress-fill").style.width = (p.total ? (100 * finished) / p.total : 0) + "%";
    const parts = [finished + " / " + p.total + " trials finished"];
    if (p.states.running) parts.push(p.states.running + " running");
    if (p.states.skipped) parts.push(p.states.skipped + " skipped proposals (over budget, never run)");
    if (p.states.failed) parts.push(p.states.failed + " failed");
    if (job.error) parts.push("error: " + job.error);
    document.getElementById("progress-text").textContent = parts.join(" · ");
    renderStrategies();
    const chips = document.getElementById("strategy-chips");
    const best = new Map(store.curves.map((c) => [c.strategy, c]));
    chips.replaceChildren(...store.strategies.map((s) => {
      const counts = p.strategies[s] || { total: 0 };
      const curve = best.get(s);
      const top = curve && curve.accuracy.length ? curve.accuracy[curve.accuracy.length - 1] : null;
      const chip = el("li", "chip");
      const sw = el("span", "swatch");
      sw.style.background = colorOf(s);
      const skipped = counts.skipped || 0;  // proposals never run: counted apart
      const done = counts.total - (counts.queued || 0) - (counts.running || 0) - skipped;
      chip.append(sw, el("strong", null, s), el("span", "muted", done + "/" + (counts.total - skipped)));
      if (skipped) chip.append(el("span", "muted", "+" + skipped + " skipped"));
      if (top !== null) chip.append(el("span", null, "best " + pct(top)));
      const use = (job.budget || {})[s];
      if (use) chip.append(budgetChip(use));
      return chip;
    }));
  }

  // A strategy's use of its budget share, as the job keeps it (also once the job ended).
  function budgetChip(use) {
    const share = use.budget > 0 ? use.spent / use.budget : 0;
    const amount = use.unit === "trials"
      ? use.spent + " of " + use.budget + " trials"
      : si(use.spent) + "FLOPs of " + si(use.budget) + "FLOPs";
    const span = el("span", "budget", "budget " + pct1(Math.min(1, share)));
    span.dataset.strategyBudget = "";
    span.title = amount + (use.stopped ? " · stopped: " + use.stopped : "") +
      (use.waiting_for ? " · " + waitingText(use) : "") +
      (use.waiting ? " · waiting for " + use.waiting : "");
    return span;
  }

  // A strategy that starts from another's recommendation (`from`): what it waits for, or the
  // trial its base is (every one of its trials starts from that base).
  const waitingText = (use) => "waiting for " + use.waiting_for;
  const baseOf = (s) => (((store.job && store.job.budget) || {})[s] || {}).base_from || null;
  function baseNote(s) {
    const base = baseOf(s);
    if (!base) return null;
    const note = el("span", "base-from muted", "from " + base);
    note.title = "starts from " + base + ": that trial's architecture is its base";
    return note;
  }

  // ---- table --------------------------------------------------------------------------------
  const COLUMNS = [
    { key: "rank", label: "Rank", num: true, value: (i) => store.rank[i], text: (v) => v ?? "" },
    { key: "strategy", label: "Strategy" },
    { key: "number", label: "#", num: true },
    { key: "strides", label: "Strides", cls: "mono", text: (v) => v ?? "" },
    { key: "spec", label: "Architecture (block string)", cls: "mono", text: (v) => shortSpec(v) },
    { key: "accuracy", label: "Accuracy", num: true, text: pct },
    { key: "n_params", label: "Params", num: true, text: si },
    { key: "macs", label: "MACs", num: true, text: si },
    { key: "wall_seconds", label: "Wall time", num: true, text: secs },
    { key: "cost_flops", label: "Cost (FLOPs)", num: true, text: si },
    { key: "state", label: "State" },
  ];
  // Block strings of one job share their head (family, resolution, stem): show what differs.
  let specHead = "";
  function updateSpecHead(fresh) {
    // fresh: the distinct block strings of a full answer; else those of the changed trials
    const specs = fresh || [...store.changed].map((id) => store.cols.spec[store.index.get(id)]);
    if (!specs.length) return;
    let head = fresh || !specHead ? specs[0].slice(0, specs[0].lastIndexOf(":") + 1) : specHead;
    for (let i = 0; i < specs.length && head; i++) {
      while (head && !specs[i].startsWith(head)) head = head.slice(0, head.lastIndexOf(":", head.length - 2) + 1);
    }
    specHead = head;
    const th = document.querySelector('#trials-head th[data-key="spec"]');
    if (th) {
      th.textContent = head ? "Architecture (" + head + "…)" : "Architecture (block string)";
      th.title = head ? "every block string here starts with " + head : "";
    }
  }
  const shortSpec = (v) => (specHead && v.startsWith(specHead) ? "…" + v.slice(specHead.length - 1) : v);

  const STATE_ORDER = { running: 0, queued: 1, completed: 2, pruned: 3, skipped: 4, failed: 5 };
  // skipped proposals (over budget, never run) are folded away unless asked for
  const view = { sort: "rank", dir: 1, order: [], strategy: "", state: "", skipped: false };
  const valueOf = (col, i) => (col.value ? col.value(i) : store.cols[col.key][i]);

  function buildHead() {
    const row = document.getElementById("trials-head");
    row.replaceChildren(...COLUMNS.map((col) => {
      const th = el("th", col.num ? "num" : "", col.label);
      th.dataset.key = col.key;
      th.setAttribute("role", "columnheader");
      th.addEventListener("click", () => {
        view.dir = view.sort === col.key ? -view.dir : (col.num && col.key !== "rank" && col.key !== "number" ? -1 : 1);
        view.sort = col.key;
        sortRows();
        renderRows(true);
      });
      return th;
    }));
  }

  function sortRows() {
    const col = COLUMNS.find((c) => c.key === view.sort);
    const ids = store.id;
    const showSkipped = view.skipped || view.state === "skipped";
    let folded = 0;
    const keep = (i) => {
      if (view.strategy && store.cols.strategy[i] !== view.strategy) return false;
      if (view.state && store.cols.state[i] !== view.state) return false;
      if (!showSkipped && store.cols.state[i] === "skipped") { folded++; return false; }
      return true;
    };
    const dir = view.dir;
    let order;
    if (col.key === "rank" && dir > 0) {
      // the ranking already is this order; the unranked follow by id
      const rest = [];
      for (let i = 0; i < ids.length; i++) if (store.rank[i] === null && keep(i)) rest.push(i);
      rest.sort((a, b) => ids[a] - ids[b]);
      order = (view.strategy || view.state ? store.ranked.filter(keep) : store.ranked.slice()).concat(rest);
    } else {
      order = [];
      for (let i = 0; i < ids.length; i++) if (keep(i)) order.push(i);
      const keyOf = col.key === "state" ? (i) => STATE_ORDER[store.cols.state[i]] : (i) => valueOf(col, i);
      const keys = new Array(ids.length);
      for (const i of order) keys[i] = keyOf(i);
      order.sort((a, b) => {
        const x = keys[a];
        const y = keys[b];
        if (x === y) return ids[a] - ids[b];
        if (x === null || x === undefined) return 1; // missing values last, either way
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
    }
    view.order = order;
    for (const th of document.querySelectorAll("#trials-head th")) {
      if (th.dataset.key === view.sort) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    const total = store.id.length;
    document.getElementById("trial-count").textContent = store.partial
      ? "the best " + order.length + " of " + store.progress.total + " trials; loading the rest…"
      : order.length === total ? total + " trials" : order.length + " of " + total + " trials";
    renderSkippedToggle(folded);
  }

  // "41 skipped proposals · show": the count of the folded rows (or of the shown ones), and the
  // button that folds them in or out
  function renderSkippedToggle(folded) {
    const button = document.getElementById("toggle-skipped");
    if (!button) return;
    const n = store.progress ? store.progress.states.skipped || 0 : 0;
    button.hidden = n === 0 || view.state === "skipped";
    const noun = n === 1 ? " skipped proposal" : " skipped proposals";
    button.textContent = view.skipped ? "hide " + n + noun : n + noun + " hidden · show";
    button.setAttribute("aria-pressed", String(view.skipped));
    button.title = "proposals over their strategy's budget, never run" +
      (folded ? " (" + folded + " of them match the filters)" : "");
  }

  function stateCell(i) {
    const td = el("td");
    const box = el("div", "state-cell");
    const state = store.cols.state[i];
    box.append(el("span", "badge state-" + state, state));
    if (state === "pruned" && store.cols.epoch[i] !== null) {
      box.append(el("span", "detail", "after epoch " + store.cols.epoch[i]));
    }
    if (state === "failed") {
      const why = el("button", "why", "why");
      why.type = "button";
      why.dataset.why = String(store.id[i]);
      why.title = "the reason in full, its worker's stderr and the traceback";
      box.append(why);
    }
    td.append(box);
    return td;
  }

  // ---- why a trial failed: its error and log, fetched when asked for ------------------------
  async function openWhy(trialId) {
    const dialog = document.getElementById("why");
    document.getElementById("why-trial").textContent = String(trialId);
    document.getElementById("why-meta").textContent = "loading…";
    document.getElementById("why-error").textContent = "";
    document.getElementById("why-log").textContent = "";
    if (!dialog.open) dialog.showModal();
    try {
      const res = await fetch(TRIALS + "/" + Number(trialId) + "/log", { cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const d = await res.json();
      document.getElementById("why-meta").textContent =
        d.strategy + " #" + d.number + " · " + d.state + " · " + d.attempts + " attempt" + (d.attempts === 1 ? "" : "s") +
        (d.takeovers ? " (" + d.takeovers + " taken over when its server died; not charged)" : "");
      document.getElementById("why-error").textContent = d.error || "(no reason recorded)";
      document.getElementById("why-log").textContent = d.log || "(no log kept for this trial)";
    } catch (err) {
      document.getElementById("why-meta").textContent = "could not load the log: " + err.message;
    }
  }

  // ---- per strategy: compute to target (the headline), trials, accuracy spread, budget -------
  const acc = (v) => (v === null || v === undefined ? "–" : pct(v));
  function amount(v) {
    const c = store.comparison;
    return c && c.unit === "base_epochs" ? v.toFixed(2) : si(v);
  }
  // a run's or a series' compute to target, in the comparison's unit
  function targetText(t) {
    const c = store.comparison;
    if (!c || !t || c.target.value === null) return "–";
    if (t.compute_to_target === null) return "not reached";
    let text = amount(t.compute_to_target);
    if (t.q1 !== undefined && t.q1 !== null && t.q3 !== undefined) {
      text += " (IQR " + amount(t.q1) + "–" + (t.q3 === null ? "not reached" : amount(t.q3)) + ")";
    }
    return text;
  }

  function renderTarget() {
    const c = store.comparison;
    const line = document.getElementById("target-line");
    if (!c) return;
    const unit = c.unit === "base_epochs" ? "base epochs" : "FLOPs";
    document.querySelector('#strategies th[data-key="target"]').textContent = "To target (" + unit + ")";
    const t = c.target;
    line.title = "target: " + t.rule;
    if (t.value === null) {
      line.textContent = t.best === null
        ? "Target: the best completed trial's accuracy less a margin (no completed trial yet)"
        : "No target: " + (t.reason || "the validation set cannot tell trials apart");
      return;
    }
    const se = t.n_val ? "2 standard errors on " + t.n_val + " validation images" : "2 standard errors (validation size unknown)";
    line.textContent = "Target " + pct(t.value) + ": the best, " + pct(t.best) + " (trial " + t.best_trial +
      "), less " + (100 * t.margin).toFixed(2) + " points (the larger of 0.5 points and " + se + ")";
  }

  function nameCell(text, color, note) {
    const name = el("td");
    const box = el("div", "strategy-cell");
    const sw = el("span", "swatch");
    sw.style.background = color;
    box.append(sw, el("span", null, text));
    if (note) box.append(note);
    name.append(box);
    return name;
  }

  function numCells(pairs) {
    return pairs.map(([key, text, title]) => {
      const td = el("td", "num", text);
      td.dataset.key = key;
      if (title) td.title = title;
      return td;
    });
  }

  function strategyRow(s, kt, repeat) {
    const p = store.progress;
    const counts = p.strategies[s] || { total: 0 };
    const c = store.curves.find((x) => x.strategy === s) || {};
    const use = ((store.job && store.job.budget) || {})[s];
    const tr = el("tr", repeat ? "repeat" : "");
    tr.dataset.strategy = s;
    const skipped = counts.skipped || 0;
    const done = counts.total - (counts.queued || 0) - (counts.running || 0) - skipped;
    const best = c.accuracy && c.accuracy.length ? c.accuracy[c.accuracy.length - 1] : null;
    const cells = numCells([
      ["target", targetText(kt), kt && kt.reached_by !== null ? "reached by trial " + kt.reached_by : ""],
      ["auc", kt && kt.auc !== null ? pct(kt.auc) : "–"],
      ["done", done + " / " + (counts.total - skipped) + (skipped ? " + " + skipped + " skipped" : ""),
        skipped ? skipped + " proposals over budget, never run" : ""],
      ["best", acc(best) + (best !== null ? " (#" + c.trial[c.trial.length - 1] + ")" : "")],
      ["min", acc(c.min_accuracy)],
      ["max", acc(c.max_accuracy)],
      ["latest", acc(c.latest_accuracy)],
      ["budget", use && use.budget > 0 ? pct1(Math.min(1, use.spent / use.budget)) : "–"],
    ]);
    const waiting = Boolean(use && !use.stopped && use.waiting_for);
    // trials no worker can take yet (Ray: no node has the GPUs they reserve)
    const stalled = Boolean(use && !use.stopped && !waiting && use.waiting);
    const stopped = el("td", waiting || stalled ? "stopped waiting" : "stopped",
      waiting ? waitingText(use) : stalled ? "waiting for " + use.waiting
        : use && use.stopped ? use.stopped : "");
    stopped.dataset.key = "stopped";
    if (waiting) stopped.title = "starts once " + use.waiting_for + " has stopped, from its recommendation";
    if (stalled) stopped.title = "its trials wait for " + use.waiting + " to join the cluster";
    tr.append(nameCell(s, colorOf(s), baseNote(s)), ...cells, stopped);
    return tr;
  }

  // A repeated strategy: the median of its runs, how many reached the target, then each run.
  function seriesRow(series) {
    const p = store.progress;
    const tr = el("tr", "series");
    tr.dataset.series = series.strategy;
    let done = 0;
    let total = 0;
    let skipped = 0;  // proposals never run: counted apart, as on each run's row
    let best = null;
    for (const k of series.keys) {
      const counts = p.strategies[k.key] || { total: 0 };
      skipped += counts.skipped || 0;
      done += counts.total - (counts.queued || 0) - (counts.running || 0) - (counts.skipped || 0);
      total += counts.total - (counts.skipped || 0);
      const c = store.curves.find((x) => x.strategy === k.key);
      if (c && c.max_accuracy !== null && (best === null || c.max_accuracy > best)) best = c.max_accuracy;
    }
    const reached = store.comparison.target.value === null ? "" : ", " + series.reached + " of " + series.runs + " reached";
    const cells = numCells([
      ["target", targetText(series) + reached],
      ["auc", series.auc !== null ? pct(series.auc) : "–"],
      ["done", done + " / " + total + (skipped ? " + " + skipped + " skipped" : "")],
      ["best", acc(best)],
      ["min", ""], ["max", ""], ["latest", ""], ["budget", ""],
    ]);
    const band = series.band === "iqr" ? "interquartile range" : "min-max";
    const name = nameCell(series.strategy + " · median of " + series.runs + " runs", colorOf(series.keys[0].key));
    name.title = "the band on the chart: " + band;
    tr.append(name, ...cells, el("td", "stopped", ""));
    return tr;
  }

  function renderStrategies() {
    renderTarget();
    const c = store.comparison;
    const rows = [];
    const shown = new Set();
    for (const series of c ? c.series : []) {
      if (series.curve) rows.push(seriesRow(series));
      for (const k of series.keys) {
        rows.push(strategyRow(k.key, k, Boolean(series.curve)));
        shown.add(k.key);
      }
    }
    for (const s of store.strategies) if (!shown.has(s) && s !== CONFIRM) rows.push(strategyRow(s, null, false));
    document.getElementById("strategies-body").replaceChildren(...rows);
    renderConfirmation();
  }

  // The confirmation of the recommendation: asked for (GET /best) when its runs change.
  const BEST = head.dataset.best;
  let confirmSeen = null;
  async function renderConfirmation() {
    const counts = store.progress && store.progress.strategies[CONFIRM];
    const line = document.getElementById("confirm-line");
    if (!counts || !counts.total) { line.hidden = true; return; }
    const seen = counts.total + ":" + (counts.completed || 0) + ":" + (counts.failed || 0) + ":" + store.version;
    if (seen === confirmSeen) return;
    confirmSeen = seen;
    let found;
    try {
      const res = await fetch(BEST + "?objective=accuracy", { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      found = (await res.json()).confirmation;
    } catch (err) {
      confirmSeen = null;  // ask again at the next poll
      return;
    }
    if (!found) { line.hidden = true; return; }
    const sd = (v) => (v === null || v === undefined ? "" : " ± " + (100 * v).toFixed(2));
    let text = "Recommendation (trial " + found.trial_id + ", " + found.strategy + "): search run " +
      pct(found.search_accuracy) + "; confirmed on " + found.finished + " of " + found.seeds + " other seeds";
    if (found.failed) text += " (" + found.failed + " failed)";
    if (found.val_mean !== null) {
      text += ": validation " + pct(found.val_mean) + sd(found.val_sd);
      if (found.test_mean !== null) text += ", test " + pct(found.test_mean) + sd(found.test_sd);
    } else {
      text += ": no result yet";
    }
    line.textContent = text;
    line.title = "the most accurate search trial trained again with other seeds (confirm_seeds)";
    line.hidden = false;
  }

  // A trial without metrics (queued, running, skipped, failed) uses their columns to say where
  // it is or why it has none.
  const METRICS = ["accuracy", "n_params", "macs", "wall_seconds", "cost_flops"];
  function detailCell(i) {
    const state = store.cols.state[i];
    if (store.cols.accuracy[i] !== null || !["queued", "running", "skipped", "failed"].includes(state)) return null;
    const td = el("td", "detail-cell");
    td.colSpan = METRICS.length;
    td.dataset.key = "detail";
    const box = el("div", "state-cell");
    if (state === "running") {
      const epoch = store.cols.epoch[i] || 0;
      const epochs = store.cols.epochs[i];
      const bar = el("span", "bar");
      const fill = el("span", "fill");
      fill.style.width = (epochs ? Math.min(100, (100 * epoch) / epochs) : 0) + "%";
      bar.append(fill);
      box.append(bar, el("span", "detail", "epoch " + epoch + (epochs ? "/" + epochs : "")));
    } else if (state === "skipped") {
      box.append(el("span", "detail", store.cols.error[i] || "skipped"));
    } else if (state === "failed") {
      const text = store.cols.error[i] || "failed (no reason recorded)";
      const err = el("span", "error", text);
      err.title = text;
      box.append(err);
    } else {
      box.append(el("span", "detail", "waiting for a worker"));
    }
    td.append(box);
    return td;
  }

  let lastWindow = "";
  function renderRows(force) {
    const scroller = document.getElementById("scroller");
    const body = document.getElementById("trials-body");
    const n = view.order.length;
    const visible = Math.ceil(scroller.clientHeight / ROW_HEIGHT) + 1;
    const first = Math.max(0, Math.min(n - visible, Math.floor(scroller.scrollTop / ROW_HEIGHT) - 4));
    const start = Math.max(0, first);
    const end = Math.min(n, start + visible + 8);
    const key = start + ":" + end;
    if (!force && key === lastWindow) return;
    lastWindow = key;
    const rows = [];
    const spacer = (h) => {
      const tr = el("tr", "spacer");
      const td = el("td");
      td.colSpan = COLUMNS.length;
      td.style.height = h + "px";
      tr.append(td);
      return tr;
    };
    if (start > 0) rows.push(spacer(start * ROW_HEIGHT));
    for (let k = start; k < end; k++) {
      const i = view.order[k];
      const tr = el("tr", store.rank[i] === 1 ? "trial best" : "trial");
      tr.dataset.trialId = store.id[i];
      const detail = detailCell(i);
      for (const col of COLUMNS) {
        if (col.key === "state") {
          const cell = stateCell(i);
          cell.dataset.key = "state";
          tr.append(cell);
          continue;
        }
        if (detail && METRICS.includes(col.key)) {
          if (col.key === METRICS[0]) tr.append(detail);
          continue;
        }
        const v = valueOf(col, i);
        const td = el("td", [col.num ? "num" : "", col.cls || ""].join(" ").trim());
        td.dataset.key = col.key;
        if (col.key === "strategy") {
          const box = el("div", "strategy-cell");
          const sw = el("span", "swatch");
          sw.style.background = colorOf(v);
          box.append(sw, el("span", null, v));
          const note = baseNote(v);
          if (note) box.append(note);
          td.append(box);
          td.title = v + (note ? " · base: " + baseOf(v) : "");
        } else {
          td.textContent = col.text ? col.text(v) : (v ?? "");
          if (col.key === "spec" || col.key === "strides") td.title = v ?? "";
        }
        tr.append(td);
      }
      rows.push(tr);
    }
    if (end < n) rows.push(spacer((n - end) * ROW_HEIGHT));
    body.replaceChildren(...rows);
  }

  function renderFilters() {
    const fill = (id, values) => {
      const select = document.getElementById(id);
      const have = [...select.options].slice(1).map((o) => o.value);
      if (have.join("\u0000") === values.join("\u0000")) return;
      const keep = select.value;
      select.replaceChildren(el("option", null, "all"), ...values.map((v) => {
        const o = el("option", null, v);
        o.value = v;
        return o;
      }));
      select.options[0].value = "";
      select.value = values.includes(keep) ? keep : "";
    };
    fill("filter-strategy", store.strategies);
    fill("filter-state", store.states);
  }

  // ---- charts (uPlot) -----------------------------------------------------------------------
  const charts = { best: null, pareto: null, strides: null };
  const chartKeys = { best: "", pareto: "", strides: "" };

  // Chart boxes are measured while the page waits for data (and on resize), not after the
  // table was drawn, when reading a size would force a layout of the whole page.
  const boxSizes = new Map();
  function measureBoxes() {
    for (const name of Object.keys(charts)) {
      const box = document.getElementById("chart-" + name);
      boxSizes.set(box, { width: Math.max(200, box.clientWidth), height: Math.max(160, box.clientHeight) });
    }
  }
  function sizeOf(box) {
    if (!boxSizes.has(box)) measureBoxes();
    return boxSizes.get(box);
  }
  const axisFont = "11px system-ui, sans-serif";
  const axis = (label, fmt, size) => ({
    label, font: axisFont, labelFont: "600 11px system-ui, sans-serif", labelSize: 16,
    size: size || 52, stroke: "#6b7685", grid: { stroke: "#eef1f5", width: 1 }, ticks: { stroke: "#e3e7ee", width: 1 },
    values: fmt ? (u, vals) => vals.map(fmt) : undefined,
  });

  const LEGEND_HEIGHT = 40; // two lines; the legend scrolls when it needs more
  function plotSize(name, opts) {
    // a legend sits below the plot (uPlot draws it outside its height)
    const size = sizeOf(document.getElementById("chart-" + name));
    const legend = !opts.legend || opts.legend.show !== false;
    return { width: size.width, height: Math.max(120, size.height - (legend ? LEGEND_HEIGHT : 0)) };
  }

  function mount(name, opts, data) {
    const box = document.getElementById("chart-" + name);
    const empty = box.querySelector(".empty");
    if (empty) empty.hidden = true;
    if (charts[name]) charts[name].destroy();
    const u = (charts[name] = new uPlot({ ...plotSize(name, opts), ...opts }, data, box));
    u.plotOpts = opts;
    return u;
  }

  function showEmpty(name, text) {
    const box = document.getElementById("chart-" + name);
    if (charts[name]) { charts[name].destroy(); charts[name] = null; chartKeys[name] = ""; }
    let empty = box.querySelector(".empty");
    if (!empty) { empty = el("p", "empty"); box.append(empty); }
    empty.textContent = text;
    empty.hidden = false;
  }

  // Best-so-far against compute: a line per strategy; a repeated strategy's runs as one line,
  // their median, in a band (min-max, or the interquartile range from 5 runs).
  function renderBest() {
    const c = store.comparison;
    const repeated = c ? c.series.filter((s) => s.curve) : [];
    const grouped = new Set(repeated.flatMap((s) => s.keys.map((k) => k.key)));
    const curves = store.curves.filter((cv) => cv.cost.length > 0 && !grouped.has(cv.strategy));
    const groups = repeated.filter((s) => s.curve.cost.length > 0);
    if (!curves.length && !groups.length) return showEmpty("best", "no completed trials yet");
    const data = [null];
    const marks = [];
    const bands = [];
    const lines = [];
    for (const cv of curves) {
      marks.push(cv.cost.length);
      bands.push(null);
      lines.push({ label: cv.strategy, color: colorOf(cv.strategy) });
      const xs = cv.cost.slice();
      const ys = cv.accuracy.slice();
      if (cv.spent > xs[xs.length - 1]) { xs.push(cv.spent); ys.push(ys[ys.length - 1]); }
      data.push([xs.map((x) => Math.max(x, 1)), ys]);
    }
    for (const g of groups) {
      const color = colorOf(g.keys[0].key);
      const drawn = nasCharts.bandSeries(g.curve, color);
      marks.push(0);
      bands.push(drawn.band);
      lines.push({ label: g.strategy + " (median of " + g.runs + ")", color });
      data.push(drawn.data);
    }
    const key = lines.map((l) => l.label + "\u0001" + l.color).join("\u0000");
    if (charts.best && chartKeys.best === key) {
      charts.best.series.slice(1).forEach((s, k) => { s.marker.count = marks[k]; s.band = bands[k]; });
      charts.best.setData(data);
      return;
    }
    chartKeys.best = key;
    mount("best", {
      mode: 2,
      legend: { show: false },
      cursor: { drag: { x: true, y: true, uni: 20 }, points: { show: false } },
      scales: { x: { time: false, distr: 3 }, y: { auto: true } },
      axes: [axis("FLOPs spent", si, 34), axis("best accuracy", pct1)],
      hooks: { drawAxes: [nasCharts.drawBands], drawSeries: [drawMarkers] },
      series: [{}, ...lines.map((l, k) => ({
        label: l.label, stroke: l.color, width: 2,
        paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
        marker: { size: 6, fill: l.color, count: marks[k] }, band: bands[k],
      }))],
    }, data);
  }

  function paretoData() {
    const { macs, accuracy, ranked, strategy } = store.cols;
    const per = new Map(store.strategies.map((s) => [s, [[], [], []]]));
    for (let i = 0; i < store.id.length; i++) {
      if (!ranked[i] || !(macs[i] > 0)) continue;  // the ranked trials, as on the table
      const xy = per.get(strategy[i]);
      xy[0].push(macs[i]);
      xy[1].push(accuracy[i]);
      xy[2].push(i);
    }
    return [...per.entries()].filter(([, xy]) => xy[0].length > 0);
  }

  // Markers of mode-2 (x, y pairs) line series, drawn after the series: uPlot 1.6 draws the
  // points of such series only within the x index window of series 0, which mode 2 lacks.
  function drawMarkers(u, si) {
    const s = u.series[si];
    const m = s.marker;
    if (!m || !s.show) return;
    const [xs, ys] = u.data[si];
    const n = Math.min(xs.length, m.count ?? xs.length);
    const ctx = u.ctx;
    const r = (m.size / 2) * devicePixelRatio;
    ctx.save();
    ctx.lineWidth = (m.width || 0) * devicePixelRatio;
    ctx.fillStyle = m.fill;
    ctx.strokeStyle = m.stroke || m.fill;
    for (let k = 0; k < n; k++) {
      const x = u.valToPos(xs[k], "x", true);
      const y = u.valToPos(ys[k], "y", true);
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fill();
      if (m.width) ctx.stroke();
    }
    ctx.restore();
  }

  // 10,000s of points: filled squares straight onto the canvas (uPlot's own points draw arcs)
  function squares(color, size) {
    return (u, seriesIdx) => {
      const [xs, ys] = u.data[seriesIdx];
      const ctx = u.ctx;
      const px = size * devicePixelRatio;
      const { left, top, width, height } = u.bbox;
      ctx.save();
      ctx.fillStyle = color;
      // x is a log scale, y a linear one (as configured below): map by hand, it is hot
      const sx = u.scales.x;
      const sy = u.scales.y;
      const x0 = Math.log10(sx.min);
      const kx = width / (Math.log10(sx.max) - x0);
      const ky = height / (sy.max - sy.min);
      const half = px / 2;
      const w = Math.ceil(width) + 1;
      const seen = new Uint8Array(w * (Math.ceil(height) + 1)); // a point per pixel is enough
      ctx.beginPath();
      for (let k = 0; k < xs.length; k++) {
        const x = (Math.log10(xs[k]) - x0) * kx;
        const y = height - (ys[k] - sy.min) * ky;
        if (!(x >= 0 && y >= 0 && x <= width && y <= height)) continue;
        const cell = (y | 0) * w + (x | 0);
        if (seen[cell]) continue;
        seen[cell] = 1;
        ctx.rect(left + x - half, top + y - half, px, px);
      }
      ctx.fill();
      ctx.restore();
      return null;
    };
  }

  let paretoSeries = [];
  function renderPareto() {
    const groups = paretoData();
    const front = store.front || { macs: [], accuracy: [] };
    if (!groups.length) return showEmpty("pareto", "no completed trials yet");
    paretoSeries = groups;
    const data = [null, ...groups.map(([, xy]) => [xy[0], xy[1]]), [front.macs, front.accuracy]];
    const key = groups.map(([s]) => s).join("\u0000");
    if (charts.pareto && chartKeys.pareto === key) { charts.pareto.setData(data); return; }
    chartKeys.pareto = key;
    const u = mount("pareto", {
      mode: 2,
      legend: { show: false },
      cursor: { drag: { x: true, y: true, uni: 20 }, points: { show: false } },
      scales: { x: { time: false, distr: 3 }, y: { auto: true } },
      axes: [axis("MACs per image", si, 34), axis("accuracy", pct1)],
      series: [{},
        ...groups.map(([s]) => ({
          label: s, stroke: colorOf(s), paths: squares(colorOf(s) + "b0", 5), points: { show: false },
        })),
        {
          label: "Pareto front", stroke: "#18202c", width: 1.5,
          paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
          marker: { size: 9, fill: "rgba(0, 0, 0, 0)", stroke: "#18202c", width: 1.5 },
        }],
      hooks: { drawSeries: [drawMarkers] },
    }, data);
    attachTooltip(u);
  }

  function attachTooltip(u) {
    const tip = document.getElementById("pareto-tip");
    u.over.addEventListener("mouseleave", () => { tip.hidden = true; });
    u.over.addEventListener("mousemove", (e) => {
      let best = null;
      let bestD = 144; // 12 px
      for (const [, xy] of paretoSeries) {
        for (let k = 0; k < xy[0].length; k++) {
          const dx = u.valToPos(xy[0][k], "x") - e.offsetX;
          const dy = u.valToPos(xy[1][k], "y") - e.offsetY;
          const d = dx * dx + dy * dy;
          if (d < bestD) { bestD = d; best = xy[2][k]; }
        }
      }
      if (best === null) { tip.hidden = true; return; }
      const c = store.cols;
      tip.replaceChildren(
        el("div", "mono", c.spec[best]),
        el("div", null, c.strategy[best] + " #" + c.number[best] + " · " + pct(c.accuracy[best]) +
          " · " + si(c.macs[best]) + " MACs · " + si(c.n_params[best]) + " params"),
      );
      const card = u.root.closest(".chart-card").getBoundingClientRect();
      const over = u.over.getBoundingClientRect();
      tip.style.left = Math.min(card.width - 330, over.left - card.left + e.offsetX + 12) + "px";
      tip.style.top = (over.top - card.top + e.offsetY + 12) + "px";
      tip.hidden = false;
    });
  }

  // Learned strides: one trial at a time, fetched when picked and whenever it changed.
  const TRIALS = head.dataset.trials;
  const LEARNED = /(^|[:_])diffstride([:_]|$)/;
  const MAX_CHOICES = 40;
  const learnedSpecs = new Map(); // block string -> has DiffStride stages
  const strideSelect = document.getElementById("strides-trial");
  const strides = { trial: null, data: null, loading: false };
  strideSelect.addEventListener("change", () => loadStrides(Number(strideSelect.value)));

  function strideChoices() {
    const c = store.cols;
    const picks = [];
    for (let i = 0; i < store.id.length; i++) {
      const spec = c.spec[i];
      let learned = learnedSpecs.get(spec);
      if (learned === undefined) learnedSpecs.set(spec, (learned = LEARNED.test(spec)));
      if (learned && c.state[i] !== "queued") picks.push(i);
    }
    const score = (i) => (c.state[i] === "running" ? 2 : c.accuracy[i] ?? -1);
    picks.sort((a, b) => score(b) - score(a) || store.id[a] - store.id[b]);
    const chosen = picks.slice(0, MAX_CHOICES);
    const current = store.index.get(strides.trial);
    if (current !== undefined && picks.includes(current) && !chosen.includes(current)) chosen.push(current);
    return chosen;
  }

  function renderStrideChoices(changedIds) {
    const c = store.cols;
    const chosen = strideChoices();
    if (!chosen.length) {
      strideSelect.hidden = true;
      strides.trial = null;
      return showEmpty("strides", "no DiffStride trials yet");
    }
    const label = (i) => c.strategy[i] + " #" + c.number[i] + " · " + c.state[i] +
      (c.accuracy[i] !== null ? " · " + pct(c.accuracy[i]) : "");
    strideSelect.replaceChildren(...chosen.map((i) => {
      const o = el("option", null, label(i));
      o.value = String(store.id[i]);
      return o;
    }));
    strideSelect.hidden = false;
    let pick = strides.trial;
    if (pick === null || !store.index.has(pick) || !chosen.includes(store.index.get(pick))) pick = store.id[chosen[0]];
    strideSelect.value = String(pick);
    if (pick !== strides.trial || changedIds.has(pick)) loadStrides(pick);
  }

  async function loadStrides(trialId) {
    strides.trial = trialId;
    try {
      const res = await fetch(TRIALS + "/" + Number(trialId) + "/strides", { headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const t = await res.json();
      if (strides.trial !== trialId) return; // another trial was picked meanwhile
      strides.data = t;
      drawStrides(t);
    } catch (err) {
      showEmpty("strides", "could not load the strides of trial " + trialId);
    }
  }

  // "learned", "learned to floor", ... per axis -> one word per stage for the legend.
  function stageStatus(t, k) {
    if (!t.status) return t.state === "running" ? "learning" : "";
    const [h, w] = t.status[k];
    return h === w ? h : "h " + h + ", w " + w;
  }

  function drawStrides(t) {
    const note = document.getElementById("strides-status");
    if (!t.stages.length) {
      note.textContent = "";
      return showEmpty("strides", "no learned strides for this trial yet");
    }
    // Epoch 0 is where each stride started (its init), so a stride that never moved is a flat
    // line from its init, told apart from a learned one.
    const withInit = t.init && t.init.length === t.stages.length;
    const data = [withInit ? [0, ...t.epoch] : t.epoch];
    const series = [{ label: "epoch" }];
    t.stages.forEach((stage, k) => {
      const color = PALETTE[k % PALETTE.length];
      const h = withInit ? [t.init[k][0], ...t.h[k]] : t.h[k];
      const w = withInit ? [t.init[k][1], ...t.w[k]] : t.w[k];
      const same = h.every((v, j) => v === w[j]);
      const status = stageStatus(t, k);
      const held = status.startsWith("held") || status === "unchanged";
      const name = "stage " + stage;
      data.push(h);
      series.push({ label: same ? name : name + " h", stroke: color, width: held ? 1 : 2, dash: held ? [2, 3] : undefined, points: { show: true, size: 5 } });
      if (!same) {
        data.push(w);
        series.push({ label: name + " w", stroke: color, width: held ? 1 : 2, dash: [5, 4], points: { show: true, size: 4 } });
      }
    });
    note.textContent = t.stages.map((stage, k) => {
      const status = stageStatus(t, k);
      return "stage " + stage + ": " + (status || "?") + " (from " + t.init[k].map((v) => v.toFixed(2)).join("x") + ")";
    }).join(" · ");
    const key = t.trial + ":" + withInit + ":" + series.map((s) => s.label + (s.dash ? "-" : "")).join(",");
    if (charts.strides && chartKeys.strides === key) { charts.strides.setData(data); return; }
    chartKeys.strides = key;
    mount("strides", {
      scales: { x: { time: false }, y: { auto: true, range: (u, lo, hi) => [Math.min(1, lo), Math.max(hi + 0.25, 2)] } },
      axes: [axis("epoch", (v) => (Number.isInteger(v) ? String(v) : ""), 34), axis("stride", (v) => v.toFixed(2))],
      legend: { live: false },
      series,
    }, data);
  }

  function resizeCharts() {
    measureBoxes();
    for (const name of Object.keys(charts)) {
      const u = charts[name];
      if (u) u.setSize(plotSize(name, u.plotOpts));
    }
  }

  // ---- polling ------------------------------------------------------------------------------
  const live = document.getElementById("live");
  async function fetchChanges() {
    let since = store.version;
    let after = null;
    let changed = false;
    for (;;) {
      const url = API + "?since=" + since + (after !== null ? "&after=" + after : "");
      const first = since === 0 && after === null && pending !== null;
      const res = first ? await pending : await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      pending = null;
      if (!res.ok) throw new Error("HTTP " + res.status);
      const d = await res.json();
      if (!d.full && store.createdAt && d.job.created_at !== store.createdAt) {
        // another job now has this id (the old one was deleted): start over from scratch
        reset();
        store.createdAt = null;
        since = 0;
        after = null;
        continue;
      }
      changed = apply(d) || changed || d.best_so_far !== null;
      // a first screen (`top`): the rest is asked for with since=0 at the next poll
      store.partial = d.partial === true;
      if (store.partial) return changed;
      if (!d.next) { store.version = d.version; return changed; }
      since = d.next.since;
      after = d.next.after;
    }
  }

  function render() {
    computeRanks();
    updateSpecHead(store.freshSpecs);
    store.freshSpecs = null;
    renderHead();
    renderFilters();
    sortRows();
    renderRows(true);
    renderBest();
    renderPareto();
    renderStrideChoices(store.changed);
    store.changed = new Set();
  }

  async function poll() {
    let wait = POLL_MS;
    let rest = false;  // a first screen was drawn: every trial next, at once
    try {
      const changed = await fetchChanges();
      if (changed) render();
      else renderHead();
      live.className = "live on";
      live.textContent = TERMINAL.has(store.job.state) ? "up to date" : "live";
      if (TERMINAL.has(store.job.state)) wait = IDLE_POLL_MS;
      document.body.dataset.version = String(store.version);
      if (!document.body.dataset.ready) {
        requestAnimationFrame(() => {
          // milliseconds from navigation start until the first data is drawn
          document.body.dataset.readyMs = String(Math.round(performance.now()));
          document.body.dataset.ready = "true";
        });
      }
      rest = store.partial;
      if (!rest && !document.body.dataset.complete) {
        requestAnimationFrame(() => {
          // ... and until every trial is in the table and the charts
          document.body.dataset.completeMs = String(Math.round(performance.now()));
          document.body.dataset.complete = "true";
        });
      }
    } catch (err) {
      live.className = "live off";
      live.textContent = "offline, retrying";
      wait = 5000;
    }
    if (document.hidden) wait = Math.max(wait, IDLE_POLL_MS);
    if (rest) afterPaint(poll);
    else setTimeout(poll, wait);
  }

  // Every trial is asked for once the first screen is on screen: the server loading it (a
  // second or more at 100k trials) then takes no CPU from drawing it. A hidden page paints
  // nothing (no animation frames): it asks at once.
  function afterPaint(fn) {
    if (document.hidden) setTimeout(fn, 0);
    else requestAnimationFrame(() => setTimeout(fn, 0));
  }

  // The first answer is asked for at once (the page preloads it), the page is built meanwhile.
  let pending = fetch(FIRST);
  buildHead();
  requestAnimationFrame(measureBoxes);
  document.getElementById("scroller").addEventListener("scroll", () => requestAnimationFrame(() => renderRows(false)), { passive: true });
  for (const [id, field] of [["filter-strategy", "strategy"], ["filter-state", "state"]]) {
    document.getElementById(id).addEventListener("change", (e) => {
      view[field] = e.target.value;
      sortRows();
      document.getElementById("scroller").scrollTop = 0;
      renderRows(true);
    });
  }
  const toggle = document.getElementById("toggle-skipped");
  if (toggle) {
    toggle.addEventListener("click", () => {
      view.skipped = !view.skipped;
      sortRows();
      renderRows(true);
    });
  }
  window.addEventListener("resize", () => { resizeCharts(); renderRows(true); });
  document.getElementById("trials-body").addEventListener("click", (e) => {
    const button = e.target.closest("button.why");
    if (button) openWhy(button.dataset.why);
  });
  document.getElementById("why-close").addEventListener("click", () => document.getElementById("why").close());
  window.leaderboard = { store, charts, view };
  poll();
})();
