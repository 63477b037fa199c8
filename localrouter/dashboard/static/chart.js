// Line charts over time: a thin wrapper over the vendored uPlot. Each chart fits its container's
// width (ResizeObserver), takes its colours from the page's CSS variables (and redraws when the
// theme changes), has a legend, and writes what it draws as text: a summary line (read by screen
// readers, as the canvas is not) and data attributes a test can compare with /v1/usage.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { h, fill } from "./dom.js";

// Mid-tone colours readable on the light and the dark background; the first is the accent.
const PALETTE = ["#e8772e", "#3b9a57", "#c8455a", "#8a63c9", "#2a9fb0", "#b8931c", "#d0629b", "#7d8a99"];

/** The colour of the i-th series: --chart-N when the page defines it, else the palette. */
export function seriesColor(i) {
  const own = cssVar(`--chart-${i + 1}`);
  if (own) return own;
  if (i === 0) return cssVar("--accent") || "#2456c7";
  return PALETTE[(i - 1) % PALETTE.length];
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

const sum = (values) => values.reduce((acc, v) => (v === null || v === undefined || Number.isNaN(v) ? acc : acc + v), 0);
const round = (n) => Math.round(n * 1e9) / 1e9;

/** The widest axis label decides the axis' width (uPlot's default is a fixed 50 px). */
function axisSize(self, values, axisIdx, cycleNum) {
  const axis = self.axes[axisIdx];
  if (cycleNum > 2) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values || []).reduce((acc, v) => (String(v).length > acc.length ? String(v) : acc), "");
  if (longest) {
    self.ctx.font = axis.font[0];
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size + 4);
}

/**
 * lineChart(container, {title, series: [{label, values, key?, color?, dash?}], times, yFormat,
 *   height?, yMax?, summary?, spanGaps?}) → {update(options), destroy()}
 *
 * `color` is a CSS colour or the index of a palette colour (seriesColor, read again when the
 * theme changes); by default the series' own index.
 * `times` are unix seconds (one per point), each series' `values` one number (or null: no data)
 * per time. `yFormat(n)` formats the axis, the legend and the summary. `yMax` fixes the top of
 * the scale (1 for a rate); otherwise the scale starts at 0 and fits the data. `summary` replaces
 * the default text (each series' sum), for values a sum means nothing (latency, a rate).
 * The container gets data-series-total (the sum of every value drawn), data-series-totals
 * (JSON {key or label: sum}) and data-points (the number of times).
 */
export function lineChart(container, options) {
  let opts = { ...options };
  let plot = null;
  let labels = "";
  let width = 0;
  const host = h("div", { class: "chart-plot" });
  const summary = h("p", { class: "chart-summary" });
  const heading = opts.title ? h("h3", { class: "chart-title" }, opts.title) : null;
  container.classList.add("chart");
  fill(container, heading, host, summary);

  const yFormat = (v) => (v === null || v === undefined ? "–" : (opts.yFormat || String)(v));

  function build() {
    if (plot) plot.destroy();
    plot = null;
    fill(host);
    width = Math.max(200, Math.floor(container.clientWidth || 600));
    const muted = cssVar("--muted") || "#5b6470";
    const line = cssVar("--line") || "#d9dde3";
    const fg = cssVar("--fg") || "#1b1f24";
    const axis = {
      stroke: fg,
      grid: { stroke: line, width: 1 },
      ticks: { stroke: line, width: 1 },
      border: { show: false },
    };
    const series = opts.series.map((s, i) => {
      const sparse = s.values.some((v) => v === null || v === undefined);
      const color = typeof s.color === "number" ? seriesColor(s.color) : s.color || seriesColor(i);
      return {
        label: s.label,
        stroke: color,
        width: 2,
        dash: s.dash,
        spanGaps: Boolean(opts.spanGaps),
        points: { show: sparse, size: 5, fill: color },
        value: (_u, v) => yFormat(v),
      };
    });
    const yMax = opts.yMax;
    plot = new uPlot({
      width,
      height: opts.height || 200,
      series: [{ label: "time", value: (_u, t) => (t ? new Date(t * 1000).toLocaleString() : "–") }, ...series],
      axes: [
        { ...axis, stroke: muted, space: 70 },
        { ...axis, stroke: muted, size: axisSize, values: (_u, splits) => splits.map((v) => yFormat(v)) },
      ],
      scales: {
        x: { time: true },
        y: {
          range: (_u, _min, max) => {
            if (yMax !== undefined) return [0, yMax];
            if (max === null || max === undefined || !(max > 0)) return [0, 1];
            return [0, max * 1.1];
          },
        },
      },
      legend: { show: true, live: true },
      // Values show in the legend only while the pointer is on the plot (not "–" beside each name).
      hooks: { setLegend: [(u) => u.root.classList.toggle("idle", u.legend.idx === null || u.legend.idx === undefined)] },
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    }, data(), host);
    plot.root.classList.add("idle");
    // The canvas says nothing to a screen reader: the plot area carries the summary instead.
    const wrap = host.querySelector(".u-wrap");
    if (wrap) {
      wrap.setAttribute("role", "img");
      wrap.setAttribute("aria-label", `${opts.title || "Chart"}: ${summary.textContent}`);
    }
    labels = JSON.stringify(opts.series.map((s) => [s.label, s.color, s.dash]));
  }

  function data() {
    return [opts.times, ...opts.series.map((s) => s.values.map((v) => (v === undefined ? null : v)))];
  }

  function describe() {
    const totals = {};
    for (const s of opts.series) totals[s.key ?? s.label] = round(sum(s.values));
    const total = round(sum(Object.values(totals)));
    container.dataset.seriesTotal = String(total);
    container.dataset.seriesTotals = JSON.stringify(totals);
    container.dataset.points = String(opts.times.length);
    let text = opts.summary;
    if (!text) {
      const parts = opts.series.map((s) => `${s.label} ${yFormat(totals[s.key ?? s.label])}`);
      text = opts.series.length > 1 ? `Total ${yFormat(total)} (${parts.join(", ")})` : `Total ${parts.length ? yFormat(total) : "–"}`;
    }
    summary.textContent = text;
    const wrap = host.querySelector(".u-wrap");
    if (wrap) wrap.setAttribute("aria-label", `${opts.title || "Chart"}: ${text}`);
  }

  function update(next) {
    opts = { ...opts, ...next };
    describe();
    const same = plot && labels === JSON.stringify(opts.series.map((s) => [s.label, s.color, s.dash]));
    if (same) plot.setData(data());
    else build();
  }

  const resize = new ResizeObserver(() => {
    const w = Math.max(200, Math.floor(container.clientWidth));
    if (plot && Math.abs(w - width) >= 1) {
      width = w;
      plot.setSize({ width: w, height: opts.height || 200 });
    }
  });
  const retheme = () => { if (plot) build(); };
  const scheme = window.matchMedia("(prefers-color-scheme: dark)");
  window.addEventListener("lr-theme", retheme);
  scheme.addEventListener("change", retheme);

  describe();
  build();
  resize.observe(container);

  return {
    update,
    destroy() {
      resize.disconnect();
      window.removeEventListener("lr-theme", retheme);
      scheme.removeEventListener("change", retheme);
      if (plot) plot.destroy();
      plot = null;
    },
  };
}
