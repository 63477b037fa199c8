// Strategies: each strategy as written (models, order keys, routes, filter, fallback, limits,
// privacy, clients) and a live preview: the candidates a sample request would get now, from the
// running table and runtime state (POST /admin/api/explain: the decision `explain` computes),
// with every left-out candidate and its reason. The preview follows the sample as it is typed
// and runs again every 5 s; with an edit previewed (pages/strategy-edit.js) it is judged on the
// edited config, next to what is served now.
import { h, fill, table, badge, fmt, field } from "../dom.js";
import { editor } from "./strategy-edit.js";

const PREVIEW_MS = 5000;
const DEBOUNCE_MS = 300;
const SAMPLE_TOOL = {
  type: "function",
  function: { name: "lookup", description: "A sample tool", parameters: { type: "object", properties: {} } },
};

function list(items, none = "none", wrap = (x) => h("code", {}, x)) {
  if (!items || !items.length) return h("span", { class: "muted" }, none);
  return h("span", { class: "inline-list" }, items.map((x) => badge(wrap(x))));
}

function limitText(l) {
  const amount = l.metric === "cost_usd" ? fmt.usd(l.amount) : fmt.num(l.amount);
  return `${amount} ${l.metric === "cost_usd" ? "" : `${l.metric} `}per ${l.per}`.replace("  ", " ");
}

function facts(s) {
  const rows = [
    ["Models", list(s.models)],
    ["Exclude", list(s.exclude)],
    ["Order keys", list(s.order, "as the models are written")],
    ["Filter", s.filter ? h("code", {}, s.filter) : h("span", { class: "muted" }, "none")],
    ["Fallback", s.fallback
      ? `${fmt.num(s.fallback.attempts)} attempt(s), backoff ${fmt.num((s.fallback.backoff_ms || [])[0])}–${fmt.num((s.fallback.backoff_ms || [])[1])} ms`
      : "–"],
    ["Limits", s.limits && s.limits.length ? list(s.limits.map(limitText), "", (x) => x) : h("span", { class: "muted" }, "none")],
    ["Privacy", s.privacy ? String(s.privacy) : h("span", { class: "muted" }, "any")],
    ["Clients", list(s.clients, "no client uses it", (x) => x)],
  ];
  return h("dl", { class: "facts" }, rows.map(([t, v]) => [h("dt", {}, t), h("dd", {}, v)]));
}

function routesTable(s) {
  if (!s.routes || !s.routes.length) return h("p", { class: "muted" }, "No routes: every request gets the models above.");
  return table([
    { label: "Route", cell: (r) => r.name },
    { label: "When", cell: (r) => (r.when ? h("code", {}, r.when) : h("span", { class: "muted" }, "always")) },
    { label: "Models", cell: (r) => list(r.models) },
    { label: "Order", cell: (r) => list(r.order, "as written") },
  ], s.routes, { caption: h("span", {}, "Routes ", h("span", { class: "muted" }, "(the first whose when holds supplies the candidates)")) });
}

function leftOut(entries) {
  const pairs = (entries || []).map((x) => (Array.isArray(x) ? { model: x[0], reason: x[1] } : x));
  if (!pairs.length) return null;
  return h("div", { class: "left-out" }, h("h4", {}, "Left out"),
    h("ul", { "data-testid": "preview-left-out" }, pairs.map((p) =>
      h("li", {}, h("code", {}, p.model), " — ", h("span", { class: "muted" }, p.reason)))));
}

/** One explain answer: status, route, ordered candidates (with latency) and the left-out ones. */
function decisionView(d, testid) {
  const ok = d.status === 200;
  const latency = d.latency_ms || {};
  return [
    h("p", { class: "decision-head" },
      d.failed ? badge(d.status ? `refused (${d.status})` : "no answer", "bad")
        : badge(String(d.status), ok ? "ok" : d.status === 429 ? "warn" : "bad"), " ",
      d.route ? ["route ", h("strong", {}, d.route)] : h("span", { class: "muted" }, "no route"),
      d.alias ? h("span", { class: "muted" }, ` (alias ${d.alias.pattern} → ${d.alias.target})`) : null),
    d.error ? h("p", { class: "error-text" }, d.error,
      d.retry_after_s !== undefined && d.retry_after_s !== null ? ` (retry after ${fmt.num(d.retry_after_s)} s)` : "") : null,
    d.candidates && d.candidates.length
      ? h("ol", { class: "candidates", "data-testid": testid }, d.candidates.map((id, i) => h("li", {},
        h("code", {}, id),
        latency[id] !== undefined ? h("span", { class: "muted" }, ` · ${fmt.ms(latency[id])}`) : null,
        i === 0 && ok ? [" ", badge("first", "ok")] : null)))
      : h("ol", { class: "candidates empty", "data-testid": testid }),
    d.candidates && d.candidates.length ? null : h("p", { class: "muted" }, "No candidate."),
    leftOut(d.left_out),
  ];
}

export async function mount(view, ctx) {
  let data = null;
  const cards = new Map(); // name → {root, info, preview, edit, last, seq, shown}

  // -- the sample request -------------------------------------------------------------------
  const prompt = h("textarea", { id: "sample-prompt", rows: 3, placeholder: "What is the capital of France?" });
  const tools = h("input", { type: "checkbox", id: "sample-tools" });
  const model = h("input", { type: "text", id: "sample-model", placeholder: "auto", autocomplete: "off", spellcheck: "false" });
  const maxTokens = h("input", { type: "number", id: "sample-max-tokens", min: "1", step: "1", placeholder: "none" });
  const sampleError = h("p", { class: "error-text", role: "alert" });
  const sample = h("section", { class: "card sample", "aria-labelledby": "sample-title" },
    h("h2", { id: "sample-title" }, "Sample request"),
    h("p", { class: "muted" }, "Each strategy below shows the candidates this request would get now: health, ",
      "latency, open circuits and limits included. It follows what you type and runs again every 5 s."),
    h("div", { class: "sample-grid" },
      field("Prompt", prompt),
      h("div", {},
        field("Model", model, "auto, provider/model or a model's name"),
        field("max_tokens", maxTokens),
        h("div", { class: "check" }, tools, h("label", { for: "sample-tools" }, "Has tools (one sample function)")))),
    sampleError);
  const listEl = h("div", { class: "strategies", id: "strategies" });
  const loadError = h("p", { class: "error-text", role: "alert" });
  view.append(sample, loadError, listEl);

  function request() {
    const body = { messages: [{ role: "user", content: prompt.value }] };
    if (model.value.trim()) body.model = model.value.trim();
    if (tools.checked) body.tools = [SAMPLE_TOOL];
    const n = parseInt(maxTokens.value, 10);
    if (n > 0) body.max_tokens = n;
    return body;
  }

  // -- previews ----------------------------------------------------------------------------
  async function explain(name, files) {
    const body = { strategy: name, request: request() };
    if (files) body.files = files;
    try {
      return await ctx.api("POST", "/admin/api/explain", body);
    } catch (err) {
      return { status: err.status || 0, error: err.param ? `${err.param}: ${err.message}` : err.message,
        candidates: [], left_out: [], failed: true };
    }
  }

  async function preview(name) {
    const c = cards.get(name);
    if (!c) return;
    const seq = ++c.seq;
    const files = c.edit.pending();
    const [served, edited] = await Promise.all([explain(name, null), files ? explain(name, files) : null]);
    if (!ctx.live() || seq !== c.seq) return; // a newer preview is under way
    const key = JSON.stringify([served, edited]);
    if (key === c.shown) return; // unchanged: leave the DOM (and a screen reader) alone
    c.shown = key;
    if (edited) {
      fill(c.preview,
        h("div", { class: "preview-cols" },
          h("div", { class: "preview-edited" }, h("h3", {}, "With your changes ", badge("not applied", "warn")),
            decisionView(edited, "preview-candidates")),
          h("div", { class: "preview-served" }, h("h3", {}, "Served now"), decisionView(served, "preview-candidates-served"))));
    } else {
      fill(c.preview, h("h3", {}, "Preview"), decisionView(served, "preview-candidates"));
    }
  }

  const previewAll = () => Promise.all([...cards.keys()].map(preview));

  let timer = null;
  function typed() {
    clearTimeout(timer);
    timer = setTimeout(() => { if (ctx.live()) previewAll(); }, DEBOUNCE_MS);
  }
  for (const input of [prompt, model, maxTokens]) input.addEventListener("input", typed);
  tools.addEventListener("change", typed);

  // -- the strategies ------------------------------------------------------------------------
  function card(s) {
    let c = cards.get(s.name);
    if (c) return c;
    const info = h("div", { class: "strategy-info" });
    const previewEl = h("div", { class: "preview", "aria-live": "polite", id: `preview-${s.name}` });
    c = { info, preview: previewEl, last: "", seq: 0, shown: "" };
    c.edit = editor(s, data, ctx, {
      onPending: () => { c.shown = ""; preview(s.name); },
      reload: () => refresh("edit"),
    });
    c.root = h("section", { class: "card strategy", "data-testid": `strategy-${s.name}`, id: `strategy-${s.name}` },
      info, previewEl, c.edit.root);
    cards.set(s.name, c);
    return c;
  }

  function render(s) {
    const c = card(s);
    const json = JSON.stringify(s);
    if (json === c.last) return;
    const first = !c.last;
    c.last = json;
    fill(c.info,
      h("div", { class: "strategy-head" }, h("h2", {}, s.name),
        s.file ? h("span", { class: "muted" }, h("code", {}, `${s.file}${s.line ? `:${s.line}` : ""}`)) : null),
      h("div", { class: "strategy-body" }, facts(s), h("div", {}, routesTable(s),
        s.left_out && s.left_out.length
          ? h("details", { class: "compiled-out" }, h("summary", {}, `${s.left_out.length} model(s) left out when compiled`), leftOut(s.left_out))
          : null)));
    if (!first) c.edit.update(s);
  }

  async function refresh(why) {
    let fresh;
    try {
      fresh = await ctx.api("GET", "/admin/api/strategies");
    } catch (err) {
      loadError.textContent = `Could not read the strategies: ${err.message}`;
      return;
    }
    if (!ctx.live()) return;
    loadError.textContent = "";
    data = fresh;
    const strategies = data.strategies || [];
    const names = strategies.map((s) => s.name);
    for (const [name, c] of cards) if (!names.includes(name)) { c.root.remove(); cards.delete(name); }
    listEl.querySelector(":scope > .empty")?.remove();
    if (!strategies.length) listEl.append(h("p", { class: "empty" }, "No strategies in the config."));
    strategies.forEach((s, i) => {
      render(s);
      const root = cards.get(s.name).root;
      if (listEl.children[i] !== root) listEl.insertBefore(root, listEl.children[i] || null);
    });
    if (why) for (const c of cards.values()) c.shown = ""; // the config changed: redraw the previews
    await previewAll();
  }

  await refresh();
  ctx.every(PREVIEW_MS, previewAll);
  return { refresh, unmount() { clearTimeout(timer); } };
}
