// The Strategies page's edit panel for one strategy: models (one per line), order keys (checked
// and reordered with buttons), limits (rows). "Preview changes" asks the gateway for the edited
// file(s), their diff and diagnostics (nothing written); "Apply" writes them through
// PUT /admin/api/config with the sha they were made from. Used by pages/strategies.js only.
import { h, fill, badge, fmt } from "../dom.js";
import { diffView, diagnosticsView } from "../widgets.js";
import { ApiError } from "../api.js";

const PER_HINT = "30s, 1m, 1h, 1d";

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The order keys as rows: the strategy's own first (checked, in its order), then the others. */
function orderRows(order, known) {
  const rows = order.map((key) => ({ key, on: true }));
  for (const key of known) if (!order.includes(key)) rows.push({ key, on: false });
  return rows;
}

/**
 * editor(strategy, meta {order_keys, limit_metrics}, ctx, hooks) → {root, update(strategy), pending()}
 * hooks: onPending(files|null) when an accepted preview appears or goes stale; reload() after
 * an apply or a 409 (the page reads the strategies again).
 */
export function editor(strategy, meta, ctx, hooks) {
  const name = strategy.name;
  const id = (part) => `edit-${part}-${name}`;
  let base = strategy; // the served values the form is compared with
  let dirty = false;
  let pending = null; // {files, base_sha} of an accepted preview matching the form
  let rows = [];
  let limits = [];

  const models = h("textarea", { id: id("models"), rows: 4, spellcheck: "false", autocomplete: "off" });
  const orderList = h("ul", { class: "order-list", id: id("order") });
  const limitList = h("div", { class: "limit-list", id: id("limits") });
  const addLimit = h("button", { type: "button", class: "small quiet" }, "Add limit");
  const previewBtn = h("button", { type: "submit" }, "Preview changes");
  const applyBtn = h("button", { type: "button", disabled: true }, "Apply");
  const resetBtn = h("button", { type: "button", class: "quiet" }, "Reset");
  const status = h("p", { class: "edit-status", role: "status", "aria-live": "polite" });
  const diffBox = h("div", { class: "edit-diff", "data-testid": "edit-diff" });
  const diagBox = h("div", { class: "edit-diagnostics", "data-testid": "edit-diagnostics" });

  const form = h("form", { class: "edit-form", "aria-label": `Edit strategy ${name}` },
    h("div", { class: "field" },
      h("label", { for: models.id }, "Models"), models,
      h("small", { class: "hint" }, "One per line, in order: ", h("code", {}, "provider/model"), ", ",
        h("code", {}, "provider/*"), " or a tag selector, as in the YAML.")),
    h("fieldset", { class: "order-keys" }, h("legend", {}, "Order keys"),
      h("small", { class: "hint" }, "Checked keys sort the candidates, the first key first; none checked: the order of the models."),
      orderList),
    h("fieldset", { class: "limits" }, h("legend", {}, "Limits"), limitList, addLimit),
    h("div", { class: "actions" }, previewBtn, applyBtn, resetBtn),
    status, diagBox, diffBox);
  const root = h("details", { class: "edit", "data-testid": `edit-${name}` },
    h("summary", {}, "Edit models, order and limits"), form);

  // -- the form's state -----------------------------------------------------------------------
  function load(s) {
    models.value = (s.models || []).join("\n");
    rows = orderRows(s.order || [], meta.order_keys || []);
    limits = (s.limits || []).map((l) => ({ ...l }));
    drawOrder();
    drawLimits();
  }

  function values() {
    return {
      models: models.value.split("\n").map((x) => x.trim()).filter(Boolean),
      order: rows.filter((r) => r.on).map((r) => r.key),
      limits: limits.map((l) => ({ metric: l.metric, amount: Number(l.amount), per: String(l.per).trim() })),
    };
  }

  /** Only the fields that differ from the served strategy (an unchanged one is not rewritten). */
  function changes() {
    const v = values();
    const out = {};
    if (!same(v.models, base.models || [])) out.models = v.models;
    if (!same(v.order, base.order || [])) out.order = v.order;
    const served = (base.limits || []).map((l) => ({ metric: l.metric, amount: Number(l.amount), per: l.per }));
    if (!same(v.limits, served)) out.limits = v.limits;
    return out;
  }

  function changed() {
    dirty = true;
    if (pending) {
      pending = null;
      applyBtn.disabled = true;
      status.textContent = "Changed since the preview: preview again before applying.";
      hooks.onPending(null);
    }
  }

  function drawOrder(focus) {
    fill(orderList, rows.map((r, i) => {
      const box = h("input", { type: "checkbox", id: id(`order-${r.key}`), checked: r.on, dataset: { key: r.key } });
      box.addEventListener("change", () => { r.on = box.checked; changed(); });
      const up = h("button", { type: "button", class: "small quiet", "aria-label": `Move ${r.key} up`,
        title: "Move up", disabled: i === 0, dataset: { move: "up" } }, "↑");
      const down = h("button", { type: "button", class: "small quiet", "aria-label": `Move ${r.key} down`,
        title: "Move down", disabled: i === rows.length - 1, dataset: { move: "down" } }, "↓");
      up.addEventListener("click", () => move(i, -1, "up"));
      down.addEventListener("click", () => move(i, 1, "down"));
      return h("li", { class: r.on ? "on" : "", dataset: { key: r.key } },
        box, h("label", { for: box.id }, h("code", {}, r.key)), h("span", { class: "row-actions" }, up, down));
    }));
    if (focus) {
      const li = orderList.querySelector(`li[data-key="${CSS.escape(focus.key)}"]`);
      const btn = li && li.querySelector(`button[data-move="${focus.dir}"]`);
      (btn && !btn.disabled ? btn : li && li.querySelector("input")).focus();
    }
  }

  function move(i, step, dir) {
    const j = i + step;
    if (j < 0 || j >= rows.length) return;
    [rows[i], rows[j]] = [rows[j], rows[i]];
    changed();
    drawOrder({ key: rows[j].key, dir });
  }

  function drawLimits(focusLast) {
    const metrics = meta.limit_metrics || ["requests", "input_tokens", "output_tokens", "total_tokens", "cost_usd", "tool_calls"];
    fill(limitList, limits.length ? limits.map((l, i) => {
      const n = i + 1;
      const metric = h("select", { "aria-label": `Limit ${n} metric` },
        metrics.map((m) => h("option", { value: m, selected: m === l.metric }, m)));
      const amount = h("input", { type: "number", min: "0", step: "any", required: true, value: String(l.amount),
        "aria-label": `Limit ${n} amount`, class: "amount" });
      const per = h("input", { type: "text", required: true, value: l.per, pattern: "[1-9][0-9]*[smhd]",
        "aria-label": `Limit ${n} window`, placeholder: "1h", title: PER_HINT, class: "per" });
      const remove = h("button", { type: "button", class: "small quiet", "aria-label": `Remove limit ${n}` }, "Remove");
      metric.addEventListener("change", () => { l.metric = metric.value; changed(); });
      amount.addEventListener("input", () => { l.amount = amount.value; changed(); });
      per.addEventListener("input", () => { l.per = per.value; changed(); });
      remove.addEventListener("click", () => {
        limits.splice(i, 1);
        changed();
        drawLimits();
        (limitList.querySelector("button") || addLimit).focus();
      });
      return h("div", { class: "limit-row" }, metric, amount, h("span", { "aria-hidden": "true" }, "per"), per, remove);
    }) : h("p", { class: "muted" }, "No limits."));
    if (focusLast) limitList.querySelector(".limit-row:last-child select")?.focus();
  }

  models.addEventListener("input", changed);
  addLimit.addEventListener("click", () => {
    limits.push({ metric: "requests", amount: 60, per: "1m" });
    changed();
    drawLimits(true);
  });
  resetBtn.addEventListener("click", () => {
    load(base);
    dirty = false;
    pending = null;
    applyBtn.disabled = true;
    fill(diffBox);
    fill(diagBox);
    status.textContent = "Back to the served values.";
    hooks.onPending(null);
  });

  // -- preview and apply ----------------------------------------------------------------------
  function showPreview(answer) {
    const files = answer.files || [];
    const diffs = (answer.diff && answer.diff.files) || [];
    const tableChanges = (answer.diff && answer.diff.table) || [];
    fill(diffBox,
      diffs.length ? diffs.map((d) => [h("h4", {}, h("code", {}, d.path)),
        d.diff ? diffView(d.diff) : h("p", { class: "muted" }, "No change to this file.")])
        : h("p", { class: "muted" }, "No change to the files."),
      tableChanges.length
        ? [h("h4", {}, "What changes in the routing table"), h("ul", { class: "table-changes" }, tableChanges.map((t) => h("li", {}, t)))]
        : null);
    fill(diagBox, diagnosticsView(answer.diagnostics || [], files));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const body = changes();
    if (!Object.keys(body).length) {
      status.textContent = "Nothing changed: these are the served values.";
      return;
    }
    previewBtn.disabled = true;
    status.textContent = "Compiling the edited config…";
    try {
      const answer = await ctx.api("POST", `/admin/api/strategies/${encodeURIComponent(name)}/edit`, body);
      showPreview(answer);
      if (answer.ok) {
        pending = { files: answer.files, base_sha: answer.base_sha, base_files_sha: answer.base_files_sha };
        applyBtn.disabled = false;
        fill(status, badge("compiles", "ok"), ` Edited config ${fmt.sha(answer.sha)} (from ${fmt.sha(answer.base_sha)}): `,
          "the preview above shows what a request would get with it. Nothing is written until Apply.");
        hooks.onPending(answer.files);
      } else {
        pending = null;
        applyBtn.disabled = true;
        fill(status, badge("does not compile", "bad"), " Fix the errors below: Apply stays off.");
        hooks.onPending(null);
      }
    } catch (err) {
      pending = null;
      applyBtn.disabled = true;
      fill(diffBox);
      fill(diagBox);
      fill(status, h("span", { class: "error-text" }, err.param ? `${err.param}: ${err.message}` : err.message));
      hooks.onPending(null);
    } finally {
      previewBtn.disabled = false;
    }
  });

  applyBtn.addEventListener("click", async () => {
    if (!pending) return;
    const { files, base_sha, base_files_sha } = pending;
    applyBtn.disabled = true;
    status.textContent = "Writing…";
    try {
      const answer = await ctx.api("PUT", "/admin/api/config", { files, base_sha, base_files_sha });
      pending = null;
      dirty = false;
      fill(diffBox);
      fill(diagBox);
      status.textContent = `Applied: the gateway serves ${fmt.sha(answer.sha)}.`;
      ctx.toast(`Strategy ${name} saved: config ${fmt.sha(answer.sha)}`, "ok");
      hooks.onPending(null);
      await hooks.reload();
    } catch (err) {
      pending = null;
      hooks.onPending(null);
      if (!(err instanceof ApiError)) {
        fill(status, h("span", { class: "error-text" }, `Not applied: the gateway did not answer (${err.message}).`));
      } else if (err.status === 409) {
        fill(status, h("span", { class: "error-text" },
          "The config changed meanwhile (edited elsewhere): nothing was written. The page has been reloaded; preview again."));
        await hooks.reload();
      } else if (err.status === 422) {
        fill(status, h("span", { class: "error-text" }, "Refused: the config does not compile (nothing was written)."));
        fill(diagBox, diagnosticsView((err.body && err.body.diagnostics) || [], files));
      } else {
        fill(status, h("span", { class: "error-text" }, `Not applied: ${err.message}`));
      }
    }
  });

  load(strategy);
  return {
    root,
    /** New served values: the form follows them unless the user has edited it. */
    update(s) {
      base = s;
      if (!dirty) load(s);
    },
    pending: () => (pending ? pending.files : null),
  };
}
