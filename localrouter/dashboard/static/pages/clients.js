// Clients: the config's clients (GET /admin/api/clients) with today's traffic; create one (its key
// shown once), rotate its key, disable / enable, delete, change its strategy or model, and a
// chart of its last 24 hours. Every change is an edit of the YAML made by the gateway (compiled
// first: a 422 shows the diagnostics and nothing is written).
import { h, fill, table, badge, fmt, field } from "../dom.js";
import { ApiError } from "../api.js";
import { diagnosticsView } from "../widgets.js";
import { lineChart } from "../chart.js";

const REFRESH_MS = 5000;
const path = (name, action = "") => `/admin/api/clients/${encodeURIComponent(name)}${action ? `/${action}` : ""}`;

export async function mount(view, ctx) {
  const st = { data: null, shape: "", editing: null, usageFor: null, busy: false };
  const errorBox = h("div", { id: "clients-error", role: "alert" });
  const keyBox = h("div", { id: "key-box" });
  const tableBox = h("div", { id: "clients-table" });
  const usageBox = h("div", { id: "client-usage-box" });

  // -- the create form ----------------------------------------------------------------------
  const nameInput = h("input", { name: "name", required: true, autocomplete: "off", spellcheck: "false",
    placeholder: "e.g. my-app" });
  const strategySelect = h("select", { name: "strategy" });
  const modelSelect = h("select", { name: "model" });
  const createError = h("div", { id: "client-create-error", role: "alert" });
  const createButton = h("button", { type: "submit" }, "Create");
  strategySelect.addEventListener("change", () => { if (strategySelect.value) modelSelect.value = ""; });
  modelSelect.addEventListener("change", () => { if (modelSelect.value) strategySelect.value = ""; });
  const form = h("form", { id: "client-create", class: "card", "aria-labelledby": "client-create-title" },
    h("h2", { id: "client-create-title" }, "New client"),
    h("div", { class: "client-create-fields" },
      field("Name", nameInput),
      field("Strategy", strategySelect),
      field("or a fixed model", modelSelect),
      h("div", { class: "field client-create-submit" }, createButton)),
    h("p", { class: "hint" }, "The gateway adds the client to the config with a new key and shows the key once."),
    createError);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: nameInput.value.trim() };
    if (strategySelect.value) body.strategy = strategySelect.value;
    else if (modelSelect.value) body.model = modelSelect.value;
    createButton.disabled = true;
    try {
      const made = await ctx.api("POST", "/admin/api/clients", body);
      fill(createError);
      nameInput.value = "";
      showKey(made.name, made.key, "created");
      await load();
    } catch (err) {
      showError(err, createError);
    } finally {
      createButton.disabled = false;
    }
  });

  view.append(errorBox, keyBox, form, h("section", { class: "card", "aria-labelledby": "clients-title" },
    h("h2", { id: "clients-title" }, "Clients"), tableBox), usageBox);

  // -- errors and the key shown once ----------------------------------------------------------
  function showError(err, box = errorBox) {
    if (err instanceof ApiError && err.status === 401) return; // the shell asks for a key again
    const diagnostics = err instanceof ApiError && err.body && err.body.diagnostics;
    const config = ctx.config();
    fill(box, h("p", { class: "error-text" }, err instanceof ApiError ? err.message : `The gateway did not answer: ${err.message}`),
      diagnostics && diagnostics.length ? diagnosticsView(diagnostics, (config && config.files) || []) : null);
    if (box === errorBox) box.scrollIntoView({ block: "nearest" });
  }

  function showKey(name, key, what) {
    const code = h("code", { "data-testid": "new-key", id: "new-key" }, key);
    const copy = h("button", { type: "button", class: "small" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(key);
        ctx.toast("Key copied.", "ok");
      } catch {
        const range = document.createRange();
        range.selectNodeContents(code);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        ctx.toast("The key is selected: copy it with Ctrl+C (⌘C).", "info");
      }
    });
    const done = h("button", { type: "button", class: "small quiet", onclick: () => fill(keyBox) }, "Done");
    fill(keyBox, h("div", { class: "key-once", role: "status" },
      h("strong", {}, `${name}'s key (${what}):`), code, copy, done,
      h("p", { class: "key-note" }, "Copy it now: it will not be shown again (the config keeps only its hash).")));
    keyBox.scrollIntoView({ block: "nearest" });
    copy.focus();
  }

  // -- actions -------------------------------------------------------------------------------
  async function act(work, okMessage) {
    try {
      const answer = await work();
      fill(errorBox);
      if (okMessage) ctx.toast(okMessage(answer), "ok");
      await load();
      return answer;
    } catch (err) {
      showError(err);
      return null;
    }
  }

  async function rotate(c) {
    const sure = await ctx.confirm(`Give "${c.name}" a new key? Its current key stops working at once.`, "Rotate");
    if (!sure) return;
    const answer = await act(() => ctx.api("POST", path(c.name, "rotate")));
    if (answer) showKey(answer.name, answer.key, "rotated");
  }

  async function toggle(c) {
    if (c.enabled && c.admin) {
      const sure = await ctx.confirm(`"${c.name}" is an admin client: if it is the key this page uses, you will be signed out. Disable it?`, "Disable");
      if (!sure) return;
    }
    const action = c.enabled ? "disable" : "enable";
    await act(() => ctx.api("POST", path(c.name, action)), (a) => `${a.name} is ${a.enabled ? "enabled" : "disabled"}.`);
  }

  async function remove(c) {
    const sure = await ctx.confirm(`Delete the client "${c.name}"? Its entry leaves the config and its key stops working at once.`, "Delete");
    if (!sure) return;
    await act(() => ctx.api("DELETE", path(c.name)), (a) => `${a.name} is deleted.`);
    if (st.usageFor === c.name) closeUsage();
  }

  async function change(c, value) {
    const [kind, target] = splitTarget(value);
    if (!kind) return;
    const answer = await act(() => ctx.api("PATCH", path(c.name), { [kind]: target }),
      (a) => `${a.name} now uses ${a.strategy ? `the strategy ${a.strategy}` : `the model ${a.model}`}.`);
    if (answer) { st.editing = null; render(true); }
  }

  // -- the table -----------------------------------------------------------------------------
  function targetCell(c) {
    if (st.editing !== c.name) {
      return c.strategy
        ? h("span", {}, h("span", { class: "muted" }, "strategy "), h("a", { href: "#/strategies" }, c.strategy))
        : c.model ? h("span", {}, h("span", { class: "muted" }, "model "), h("code", {}, c.model)) : h("span", { class: "muted" }, "–");
    }
    const select = h("select", { name: "target", "aria-label": `Strategy or model for ${c.name}`, "data-testid": `change-${c.name}` },
      targetOptions(c.strategy ? `strategy:${c.strategy}` : `model:${c.model}`));
    const edit = h("form", { class: "inline-change" }, select,
      h("button", { type: "submit", class: "small" }, "Save"),
      h("button", { type: "button", class: "small quiet", "data-action": "cancel",
        onclick: () => { st.editing = null; render(true); } }, "Cancel"));
    edit.addEventListener("submit", (event) => { event.preventDefault(); change(c, select.value); });
    edit.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      st.editing = null;
      render(true);
      focusIn(c.name, '[data-action="change"]');
    });
    return edit;
  }

  function targetOptions(current) {
    const data = st.data || { strategies: [], models: [] };
    return [
      h("optgroup", { label: "Strategies" }, data.strategies.map((s) =>
        h("option", { value: `strategy:${s}`, selected: current === `strategy:${s}` }, s))),
      h("optgroup", { label: "Models" }, data.models.map((m) =>
        h("option", { value: `model:${m}`, selected: current === `model:${m}` }, m))),
    ];
  }

  function actions(c) {
    const button = (label, action, onclick, kind = "quiet") =>
      h("button", { type: "button", class: `small ${kind}`, "data-action": action, onclick }, label);
    return h("div", { class: "row-actions" },
      button("Usage", "usage", () => openUsage(c.name)),
      button("Change", "change", () => { st.editing = c.name; render(true); focusIn(c.name, "select"); }),
      button("Rotate", "rotate", () => rotate(c)),
      c.enabled ? button("Disable", "disable", () => toggle(c)) : button("Enable", "enable", () => toggle(c)),
      button("Delete", "delete", () => remove(c), "danger"));
  }

  const COLUMNS = [
    { label: "Name", cell: (c) => h("button", { type: "button", class: "link", "data-action": "name",
      title: `${c.name}'s usage`, onclick: () => openUsage(c.name) }, c.name) },
    { label: "Strategy or model", cell: targetCell },
    { label: "Tags", cell: (c) => (c.tags.length ? c.tags.map((t) => badge(t)) : h("span", { class: "muted" }, "–")) },
    { label: "Limits", cell: (c) => (c.limits.length
      ? h("ul", { class: "plain" }, c.limits.map((l) => h("li", {}, `${fmt.num(l.amount)} ${l.metric.replace(/_/g, " ")} / ${l.per}`)))
      : h("span", { class: "muted" }, "none")) },
    { label: "Status", cell: (c) => [c.enabled ? badge("enabled", "ok") : badge("disabled", "bad"), c.admin ? badge("admin", "warn") : null] },
    { label: "Last used", cell: (c) => h("span", { "data-cell": "last-used", title: fmt.time(c.last_used) }, fmt.ago(c.last_used)) },
    { label: "Requests today", class: "num", cell: (c) => h("span", { "data-cell": "today-requests" }, fmt.num(c.today.requests)) },
    { label: "Cost today", class: "num", cell: (c) => h("span", { "data-cell": "today-cost" }, fmt.usd(c.today.cost_usd)) },
    { label: "Actions", cell: actions },
  ];

  /** Redraw the table when what it shows changed (or `force`); otherwise only the live cells,
   * so a poll does not take the keyboard focus away. */
  function render(force = false) {
    const data = st.data;
    const shape = JSON.stringify([data.strategies, data.models,
      data.clients.map(({ last_used: _l, today: _t, ...rest }) => rest)]);
    if (!force && shape === st.shape) {
      for (const c of data.clients) {
        const row = tableBox.querySelector(`[data-testid="client-row-${CSS.escape(c.name)}"]`);
        if (!row) continue;
        const last = row.querySelector('[data-cell="last-used"]');
        last.textContent = fmt.ago(c.last_used);
        last.title = fmt.time(c.last_used);
        row.querySelector('[data-cell="today-requests"]').textContent = fmt.num(c.today.requests);
        row.querySelector('[data-cell="today-cost"]').textContent = fmt.usd(c.today.cost_usd);
      }
      return;
    }
    st.shape = shape;
    if (st.editing && !data.clients.some((c) => c.name === st.editing)) st.editing = null;
    const focused = document.activeElement;
    const focusRow = focused && tableBox.contains(focused) ? focused.closest("tr") : null;
    const again = focusRow ? [focusRow.dataset.name, focused.dataset.action] : null;
    fill(tableBox, table(COLUMNS, data.clients, {
      empty: "No clients yet: create one above.",
      rowAttrs: (c) => ({ "data-testid": `client-row-${c.name}`, "data-name": c.name, class: c.enabled ? null : "disabled" }),
    }));
    fillSelect(strategySelect, "(a fixed model instead)", data.strategies);
    fillSelect(modelSelect, "(the strategy instead)", data.models);
    if (!strategySelect.value && !modelSelect.value && data.strategies.length) strategySelect.value = data.strategies[0];
    if (again && again[1]) focusIn(again[0], `[data-action="${again[1]}"]`);
  }

  function focusIn(name, selector) {
    const row = tableBox.querySelector(`[data-testid="client-row-${CSS.escape(name)}"]`);
    const el = row && row.querySelector(selector);
    if (el) el.focus();
  }

  async function load() {
    st.data = await ctx.api("GET", "/admin/api/clients");
    if (!ctx.live()) return;
    render();
  }

  // -- one client's usage ------------------------------------------------------------------------
  let charts = [];
  function closeUsage() {
    for (const chart of charts) chart.destroy();
    charts = [];
    st.usageFor = null;
    fill(usageBox);
  }

  async function openUsage(name) {
    closeUsage();
    st.usageFor = name;
    const requests = h("div", { id: "chart-client-requests", "data-testid": "chart-client-requests" });
    const cost = h("div", { id: "chart-client-cost", "data-testid": "chart-client-cost" });
    const close = h("button", { type: "button", class: "small quiet", onclick: closeUsage }, "Close");
    const heading = h("h2", { tabindex: "-1" }, `${name}: the last 24 hours`);
    fill(usageBox, h("section", { class: "card", id: "client-usage", "data-client": name },
      h("div", { class: "card-head" }, heading, close),
      h("div", { class: "grid" }, requests, cost)));
    heading.focus();
    await drawUsage(requests, cost);
  }

  async function drawUsage(requestsBox, costBox) {
    const name = st.usageFor;
    let usage;
    try {
      usage = await ctx.api("GET", "/v1/usage?range=24h&by=client");
    } catch (err) {
      showError(err);
      return;
    }
    if (!ctx.live() || st.usageFor !== name) return;
    const mine = (usage.series || []).find((s) => s.name === name);
    const times = usage.series && usage.series.length ? usage.series[0].points.map((p) => p.t) : steps(usage);
    const values = (key) => (mine ? mine.points.map((p) => p[key]) : times.map(() => 0));
    const req = { title: "Requests", series: [{ label: name, values: values("requests") }], times, yFormat: fmt.num };
    const usd = { title: "Cost (USD)", series: [{ label: name, values: values("cost_usd") }], times, yFormat: fmt.usd };
    if (charts.length) {
      charts[0].update(req);
      charts[1].update(usd);
    } else {
      charts = [lineChart(requestsBox, req), lineChart(costBox, usd)];
    }
  }

  // -- start ---------------------------------------------------------------------------------
  await load();
  ctx.every(REFRESH_MS, async () => {
    if (st.busy) return;
    st.busy = true;
    try {
      await load();
      if (st.usageFor && charts.length) await drawUsage();
    } catch (err) {
      showError(err);
    } finally {
      st.busy = false;
    }
  });

  return {
    refresh: async () => { await load(); },
    unmount() { closeUsage(); },
  };
}

function fillSelect(select, none, values) {
  const current = select.value;
  fill(select, h("option", { value: "" }, none), values.map((v) => h("option", { value: v }, v)));
  if (values.includes(current)) select.value = current;
}

function splitTarget(value) {
  const at = value.indexOf(":");
  return at > 0 ? [value.slice(0, at), value.slice(at + 1)] : [null, null];
}

/** The bucket times of a usage answer with no series (start, end, step_s). */
function steps(usage) {
  const times = [];
  for (let t = usage.start; t < usage.end; t += usage.step_s) times.push(t);
  return times;
}
