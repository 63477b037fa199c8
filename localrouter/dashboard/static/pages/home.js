// Home: the gateway's traffic from GET /v1/usage — totals and charts over time of requests,
// tokens, cost, latency (p50/p95) and success rate, over a chosen range, split by client,
// provider or model, refreshed every 5 s.
import { h, fill, table, fmt } from "../dom.js";
import { ApiError } from "../api.js";
import { lineChart } from "../chart.js";

const RANGES = [["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];
const SPLITS = [["", "None"], ["client", "Client"], ["provider", "Provider"], ["model", "Model"]];
const REFRESH_MS = 5000;

const rate = (requests, errors) => (requests > 0 ? 1 - errors / requests : null);
const tokens = (n) => (n === null || n === undefined ? "–" : n >= 1e6 ? `${fmt.num(n / 1e6)}M` : n >= 1e4 ? `${fmt.num(n / 1e3)}k` : fmt.num(n));
const usd = (n) => (n === null || n === undefined ? "–" : n === 0 ? "$0" : n < 0.01 ? `$${Number(n.toPrecision(2))}` : `$${n.toFixed(2)}`);

/** The charts: id, title, the values of one series' points, the axis format. */
const CHARTS = [
  { id: "requests", title: "Requests", value: (p) => p.requests, format: fmt.num },
  { id: "tokens", title: "Tokens", value: (p) => p.total_tokens, format: tokens },
  { id: "cost", title: "Cost (USD)", value: (p) => p.cost_usd, format: usd },
  { id: "latency", title: "Latency (p50 solid, p95 dashed)", latency: true, format: fmt.ms },
  { id: "success", title: "Success rate", value: (p) => rate(p.requests, p.errors), format: fmt.pct, rate: true },
];

export async function mount(view, ctx) {
  const rangeSelect = h("select", { id: "usage-range", name: "range" },
    RANGES.map(([v, label]) => h("option", { value: v, selected: v === "1h" }, label)));
  const bySelect = h("select", { id: "usage-by", name: "by" },
    SPLITS.map(([v, label]) => h("option", { value: v, selected: v === "" }, label)));
  const updated = h("span", { class: "muted", id: "usage-updated", "aria-live": "off" });
  const message = h("div", { id: "usage-message", role: "alert" });
  const totals = h("div", { class: "totals", id: "usage-totals", "aria-label": "Totals" });
  const grid = h("div", { class: "grid home-charts", id: "usage-charts" });
  const breakdown = h("div", { id: "usage-breakdown" });

  view.append(
    h("div", { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "usage-range" }, "Range"), rangeSelect),
      h("div", { class: "field" }, h("label", { for: "usage-by" }, "Split by"), bySelect),
      updated),
    message, totals, grid, breakdown);

  const charts = new Map();
  let sequence = 0;
  let busy = false;
  let missing = null; // the range and split answered 404 (no access log): not polled again

  function clearCharts() {
    for (const chart of charts.values()) chart.destroy();
    charts.clear();
    fill(grid);
  }

  async function load() {
    const range = rangeSelect.value;
    const by = bySelect.value;
    const mine = ++sequence;
    busy = true;
    let usage;
    try {
      const query = new URLSearchParams({ range });
      if (by) query.set("by", by);
      usage = await ctx.api("GET", `/v1/usage?${query}`);
    } catch (err) {
      if (mine !== sequence || !ctx.live()) return;
      if (!(err instanceof ApiError)) {
        fill(message, h("p", { class: "error-text" }, `The gateway did not answer: ${err.message}`));
        return;
      }
      clearCharts();
      fill(totals);
      fill(breakdown);
      const known = RANGES.find(([v]) => v === range);
      const what = err.status === 404 && known ? `${known[1]} is not available: ` : "";
      fill(message, h("p", { class: "error-text", id: "usage-error" }, what, err.message.replace(/\.?$/, ".")));
      missing = err.status === 404 ? `${range}|${by}` : null;
      return;
    } finally {
      if (mine === sequence) busy = false;
    }
    if (mine !== sequence || !ctx.live()) return;
    missing = null;
    fill(message);
    render(usage);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  function render(usage) {
    const t = usage.totals;
    fill(totals,
      total("requests", "Requests", fmt.num(t.requests), t.requests),
      total("tokens", "Tokens", tokens(t.total_tokens), t.total_tokens,
        `${fmt.num(t.input_tokens)} in, ${fmt.num(t.output_tokens)} out`),
      total("cost", "Cost", usd(t.cost_usd), t.cost_usd),
      total("p50", "Latency p50", fmt.ms(t.p50_ms), t.p50_ms),
      total("p95", "Latency p95", fmt.ms(t.p95_ms), t.p95_ms),
      total("success", "Success rate", fmt.pct(rate(t.requests, t.errors)), rate(t.requests, t.errors),
        `${fmt.num(t.errors)} error${t.errors === 1 ? "" : "s"}`));

    const series = usage.series || [];
    const times = series.length ? series[0].points.map((p) => p.t) : [];
    const label = (s) => (usage.by ? (s.name === "-" ? "(none)" : s.name) : "all");
    for (const spec of CHARTS) {
      let drawn;
      let summary;
      if (spec.latency) {
        drawn = series.flatMap((s, i) => [
          { label: `${label(s)} p50`, key: `${s.name} p50`, values: s.points.map((p) => p.p50_ms), color: i },
          { label: `${label(s)} p95`, key: `${s.name} p95`, values: s.points.map((p) => p.p95_ms), color: i, dash: [6, 4] },
        ]);
        summary = `Over the range: p50 ${fmt.ms(t.p50_ms)}, p95 ${fmt.ms(t.p95_ms)}`
          + (usage.by ? ` (${series.map((s) => `${label(s)} p50 ${fmt.ms(s.totals.p50_ms)}, p95 ${fmt.ms(s.totals.p95_ms)}`).join("; ")})` : "");
      } else {
        drawn = series.map((s, i) => ({ label: label(s), key: s.name, values: s.points.map(spec.value), color: i }));
        if (spec.rate) {
          summary = `Over the range: ${fmt.pct(rate(t.requests, t.errors))}`
            + (usage.by ? ` (${series.map((s) => `${label(s)} ${fmt.pct(rate(s.totals.requests, s.totals.errors))}`).join(", ")})` : "");
        }
      }
      const options = {
        title: spec.title, series: drawn, times, yFormat: spec.format, summary,
        yMax: spec.rate ? 1 : undefined, spanGaps: Boolean(spec.latency || spec.rate),
      };
      const chart = charts.get(spec.id);
      if (chart) {
        chart.update(options);
      } else {
        const box = h("div", { id: `chart-${spec.id}`, class: "chart", "data-testid": `chart-${spec.id}` });
        grid.append(h("section", { class: "card chart-card" }, box));
        charts.set(spec.id, lineChart(box, options));
      }
    }

    if (usage.by) {
      const rows = [...series].sort((a, b) => b.totals.requests - a.totals.requests);
      fill(breakdown, h("section", { class: "card", id: "usage-by-table" },
        h("h2", {}, `By ${usage.by}`),
        table([
          { label: usage.by[0].toUpperCase() + usage.by.slice(1), cell: (s) => label(s) },
          { label: "Requests", class: "num", cell: (s) => fmt.num(s.totals.requests) },
          { label: "Errors", class: "num", cell: (s) => fmt.num(s.totals.errors) },
          { label: "Tokens", class: "num", cell: (s) => fmt.num(s.totals.total_tokens) },
          { label: "Cost", class: "num", cell: (s) => usd(s.totals.cost_usd) },
          { label: "p50", class: "num", cell: (s) => fmt.ms(s.totals.p50_ms) },
          { label: "p95", class: "num", cell: (s) => fmt.ms(s.totals.p95_ms) },
          { label: "Success", class: "num", cell: (s) => fmt.pct(rate(s.totals.requests, s.totals.errors)) },
        ], rows, { empty: "No traffic in this range." })));
    } else {
      fill(breakdown);
    }
  }

  function changed() {
    clearCharts();
    load();
  }
  rangeSelect.addEventListener("change", changed);
  bySelect.addEventListener("change", changed);

  await load();
  ctx.every(REFRESH_MS, () => {
    if (!busy && missing !== `${rangeSelect.value}|${bySelect.value}`) load();
  });

  return {
    refresh: async () => { if (!busy) await load(); },
    unmount() { sequence += 1; clearCharts(); },
  };
}

function total(id, label, text, raw, detail) {
  return h("div", { class: "total", id: `total-${id}`, "data-testid": `total-${id}`,
    "data-value": raw === null || raw === undefined ? "" : String(raw) },
  h("span", { class: "label" }, label),
  h("span", { class: "value" }, text),
  detail ? h("small", { class: "muted detail" }, detail) : null);
}
