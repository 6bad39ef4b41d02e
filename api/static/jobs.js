// The jobs list: refreshes state and trial progress every few seconds without a reload.
// Data reaches the page only through textContent and setAttribute, never innerHTML.
"use strict";

(() => {
  const table = document.getElementById("jobs");
  const API = table.dataset.api;
  const ROOT = table.dataset.root;
  const FINISHED = ["completed", "pruned", "skipped", "failed"];
  const live = document.getElementById("live");
  const compareButton = document.getElementById("compare-button");
  // the jobs ticked for comparison: kept across refreshes (the rows are rebuilt)
  const selected = new Set([...table.querySelectorAll("input[name=jobs]:checked")].map((c) => c.value));
  function updateButton() {
    compareButton.disabled = selected.size < 2;
  }
  table.addEventListener("change", (e) => {
    const box = e.target.closest("input[name=jobs]");
    if (!box) return;
    if (box.checked) selected.add(box.value);
    else selected.delete(box.value);
    updateButton();
  });
  updateButton();

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function row(job) {
    const counts = job.trial_counts || {};
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const finished = FINISHED.reduce((a, s) => a + (counts[s] || 0), 0);
    const tr = el("tr");
    tr.dataset.jobId = String(job.id);
    const link = el("a", "job-link", job.name);
    link.href = ROOT + "/jobs/" + Number(job.id);
    const name = el("td");
    name.append(link);
    const state = el("td");
    state.append(el("span", "badge state-" + String(job.state).replace(/[^a-z]/g, ""), job.state));
    const progress = el("td", "progress-cell");
    const bar = el("span", "bar");
    const fill = el("span", "fill");
    fill.style.width = (total ? (100 * finished) / total : 0) + "%";
    bar.append(fill);
    const parts = [finished + " / " + total + " finished"];
    if (counts.running) parts.push(counts.running + " running");
    if (counts.skipped) parts.push(counts.skipped + " skipped (over budget)");
    if (counts.failed) parts.push(counts.failed + " failed");
    progress.append(bar, el("span", "progress-text", parts.join(" · ")));
    const strategies = job.spec.strategies.map((s) => s.label || s.name).join(", ");
    const created = new Date(job.created_at).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    const pick = el("td", "select-cell");
    const box = el("input");
    box.type = "checkbox";
    box.name = "jobs";
    box.value = String(Number(job.id));
    box.checked = selected.has(box.value);
    box.setAttribute("aria-label", "compare job " + box.value);
    pick.append(box);
    tr.append(pick, el("td", "num", job.id), name, state, progress, el("td", "muted", strategies), el("td", "muted", created));
    return tr;
  }

  async function refresh() {
    try {
      const url = API + "?offset=" + Number(table.dataset.offset) + "&limit=" + Number(table.dataset.limit);
      const res = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const page = await res.json();
      if (page.items.length) table.tBodies[0].replaceChildren(...page.items.map(row));
      document.getElementById("jobs-total").textContent = page.total + (page.total === 1 ? " job" : " jobs");
      live.className = "live on";
      live.textContent = "live";
    } catch (err) {
      live.className = "live off";
      live.textContent = "offline, retrying";
    }
    setTimeout(refresh, document.hidden ? 15000 : 3000);
  }
  refresh();
})();
