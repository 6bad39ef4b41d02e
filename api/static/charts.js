// Shared by the leaderboard and compare pages: stepped bands under uPlot series (a repeated
// strategy's min-max or interquartile range around its median best-so-far curve).
// A series opts in with `band: { x, low, high, fill }`; x is on the chart's x scale.
"use strict";

window.nasCharts = (() => {
  // uPlot hook (drawAxes: after the grid, before the series, so lines stay on top)
  function drawBands(u) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    for (const s of u.series.slice(1)) {
      const b = s.band;
      if (!b || s.show === false || !b.x.length) continue;
      const X = (v) => u.valToPos(v, "x", true);
      const Y = (v) => u.valToPos(v, "y", true);
      const n = b.x.length;
      // a step function: each value holds from its x to the next one's
      ctx.beginPath();
      ctx.moveTo(X(b.x[0]), Y(b.high[0]));
      for (let k = 1; k < n; k++) {
        ctx.lineTo(X(b.x[k]), Y(b.high[k - 1]));
        ctx.lineTo(X(b.x[k]), Y(b.high[k]));
      }
      for (let k = n - 1; k > 0; k--) {
        ctx.lineTo(X(b.x[k]), Y(b.low[k]));
        ctx.lineTo(X(b.x[k]), Y(b.low[k - 1]));
      }
      ctx.lineTo(X(b.x[0]), Y(b.low[0]));
      ctx.closePath();
      ctx.fillStyle = b.fill;
      ctx.fill();
      if (n === 1) { // one point: a short tick, so a band of one step still shows
        ctx.fillRect(X(b.x[0]) - 2, Y(b.high[0]), 4, Math.max(1, Y(b.low[0]) - Y(b.high[0])));
      }
    }
    ctx.restore();
  }

  // "#rrggbb" -> "rgba(r, g, b, alpha)"
  function alpha(hex, a) {
    const v = parseInt(hex.slice(1), 16);
    return "rgba(" + ((v >> 16) & 255) + ", " + ((v >> 8) & 255) + ", " + (v & 255) + ", " + a + ")";
  }

  // A band curve from the server ({cost, accuracy, low, high}, FLOPs) as series data and band,
  // on a log x scale (x >= 1).
  function bandSeries(curve, color) {
    const x = curve.cost.map((v) => Math.max(v, 1));
    return { data: [x, curve.accuracy.slice()], band: { x, low: curve.low, high: curve.high, fill: alpha(color, 0.18) } };
  }

  // uPlot hook (drawSeries): a dot at each point of a mode-2 series that asks for
  // `dots: { size, fill }` (so a curve of one point shows; uPlot 1.6 draws mode-2 points only
  // within series 0's index window, which mode 2 lacks)
  function drawDots(u, si) {
    const s = u.series[si];
    const d = s.dots;
    if (!d || s.show === false) return;
    const [xs, ys] = u.data[si];
    const ctx = u.ctx;
    const r = (d.size / 2) * devicePixelRatio;
    ctx.save();
    ctx.fillStyle = d.fill;
    for (let k = 0; k < xs.length; k++) {
      ctx.beginPath();
      ctx.arc(u.valToPos(xs[k], "x", true), u.valToPos(ys[k], "y", true), r, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
  }

  return { drawBands, drawDots, alpha, bandSeries };
})();
