// The verdict panel of the leaderboard page: polls GET /api/v1/jobs/{id}/verdict (which
// strategies differ at equal compute, nas.verdict) and shows its line, a row per pair of
// strategies and the test. Data only reaches the page through textContent: never innerHTML.
"use strict";

(() => {
  const panel = document.getElementById("verdict");
  if (!panel) return;
  const API = panel.dataset.api;
  const POLL_MS = 5000;
  const IDLE_POLL_MS = 30000;
  const says = document.getElementById("verdict-says");
  const note = document.getElementById("verdict-note");
  const table = document.getElementById("verdict-pairs");
  const body = document.getElementById("verdict-body");
  const test = document.getElementById("verdict-test");

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  const signed = (n) => (n > 0 ? "+" : n < 0 ? "−" : "") + Math.abs(n);
  const points = (v) => (v >= 0 ? "+" : "−") + Math.abs(100 * v).toFixed(2);
  const pValue = (p) => (p < 0.0001 ? "<0.0001" : Number(p.toPrecision(2)).toString());

  function runsText(strategies) {
    const counts = [...new Set(strategies.map((s) => s.runs))].sort((a, b) => a - b);
    if (!counts.length) return "no runs yet";
    return counts.join(" or ") + (counts.length === 1 && counts[0] === 1 ? " run" : " runs") + " per strategy";
  }

  function render(v) {
    says.textContent = v.says;
    says.classList.toggle("muted", !v.pairs.some((p) => p.ahead));
    note.textContent = runsText(v.strategies) + (v.final ? "" : " · provisional: the job is still running");
    body.replaceChildren();
    for (const p of v.pairs) {
      const tr = document.createElement("tr");
      tr.dataset.pair = p.a + " vs " + p.b;
      tr.append(
        cell(p.a + " vs " + p.b),
        cell(signed(p.statistic) + " / " + p.bound, "num"),
        cell(pValue(p.p), "num"),
        cell(pValue(p.p_holm), "num"),
        cell(p.effect === null ? "–" : points(p.effect) + " (" + points(p.effect_low) + " to " + points(p.effect_high) + ")", "num"),
        cell(p.ahead ? p.ahead + " ahead" : p.trade_off
          ? "not distinguishable: " + p.trade_off.sooner + " sooner, " + p.trade_off.better + " better (a trade-off)"
          : "not distinguishable", p.ahead ? "" : "stopped"),
      );
      body.append(tr);
    }
    table.hidden = v.pairs.length === 0;
    if (!v.claim) {
      test.textContent = "A verdict needs repeats: submit the job with repeats: N to run every " +
        "strategy N times (with 4 runs each, one pair can reach p < 0.05; more pairs need more).";
    } else {
      const weak = v.pairs.filter((p) => p.smallest_p >= v.alpha);
      let few = "";
      if (weak.length && weak.length === v.pairs.length) {
        const smallest = Math.min(...weak.map((p) => p.smallest_p));
        few = " With " + runsText(v.strategies) + " no pair can reach p < " + v.alpha +
          " (the smallest p these runs allow is " + pValue(smallest) + "): add repeats.";
      } else if (weak.length) {
        few = " Too few runs to reach p < " + v.alpha + " for " +
          weak.map((p) => p.a + " vs " + p.b).join(", ") + ": add repeats.";
      }
      test.textContent = "Test: " + v.test + "." + few;
    }
  }

  async function poll() {
    let wait = POLL_MS;
    try {
      const res = await fetch(API, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const v = await res.json();
      render(v);
      if (v.final) wait = IDLE_POLL_MS;
      panel.dataset.ready = "true";
    } catch (err) {
      note.textContent = "verdict unavailable, retrying";
      wait = 10000;
    }
    setTimeout(poll, document.hidden ? Math.max(wait, IDLE_POLL_MS) : wait);
  }
  poll();
})();
