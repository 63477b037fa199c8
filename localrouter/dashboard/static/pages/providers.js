// Providers: each provider's health, circuit, latency, health checks, discovery and its models
// (price, context window, parameters, capabilities), with a "Test connection" action that runs
// one health check now. Refreshed every 5 s; a card is rebuilt only when its data changed, so
// the focus and the last check's answer stay put.
import { h, fill, table, badge, fmt } from "../dom.js";

const REFRESH_MS = 5000;

/** The provider's overall state: [label, badge kind, why]. */
function verdict(p) {
  const health = p.health || {};
  if (p.status && p.status !== "ok") return [p.status, "bad", p.reason || ""];
  const last = health.last_check;
  if (health.healthy === false) return ["unhealthy", "bad", (last && last.error) || health.reason || ""];
  const circuit = p.circuit || {};
  if (circuit.state === "open") return ["circuit open", "bad", "recent calls failed"];
  if (health.checked === false) return ["healthy", "ok", ""]; // the reason is in "Health checks"
  if (last && !last.ok) return ["healthy", "warn", `last check failed: ${last.error || "?"}`];
  return ["healthy", "ok", ""];
}

function circuitBadge(circuit) {
  const state = (circuit && circuit.state) || "closed";
  const kind = state === "closed" ? "ok" : state === "open" ? "bad" : "warn";
  return badge(state.replace("_", " "), kind);
}

function dlRow(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

function healthRows(p) {
  const health = p.health || {};
  const circuit = p.circuit || {};
  const last = health.last_check;
  const rows = [];
  rows.push(dlRow("Circuit", circuitBadge(circuit),
    ` ${fmt.num(circuit.failures || 0)} failure(s) in a row, ${fmt.num(circuit.trips || 0)} trip(s)`,
    circuit.since ? ` · since ${fmt.ago(circuit.since)}` : "",
    circuit.retry_in_s !== null && circuit.retry_in_s !== undefined ? ` · probe in ${fmt.num(circuit.retry_in_s)} s` : ""));
  rows.push(dlRow("Latency (p50)", `live calls ${fmt.ms(health.live_p50_ms)} · health checks ${fmt.ms(health.check_p50_ms)}`));
  if (health.checked === false) {
    rows.push(dlRow("Health checks", h("span", { class: "muted" }, health.reason || "not checked")));
  } else {
    rows.push(dlRow("Health checks", `${fmt.num(health.checks || 0)} run, ${fmt.num(health.failures || 0)} failed in a row`,
      last ? [" · last ", fmt.ago(last.at), " ", last.ok ? badge("ok", "ok") : badge("failed", "bad")] : " · none yet",
      last && last.error ? h("div", { class: "error-text" }, last.error) : null,
      last && last.note ? h("div", { class: "muted" }, last.note) : null));
  }
  if ("discovered_models" in p || p.discovery_error) {
    rows.push(dlRow("Discovery", `${fmt.num(p.discovered_models || 0)} model(s) found`,
      p.discovery_error ? h("div", { class: "error-text" }, p.discovery_error) : null));
  }
  return rows;
}

function modelsTable(models) {
  const caps = (m) => {
    if (!m.capabilities || !m.capabilities.length) return h("span", { class: "muted" }, "–");
    return [m.capabilities.map((c) => badge(c)),
      m.capabilities_known === false ? h("span", { class: "muted", title: "not declared: assumed" }, " (assumed)") : null];
  };
  return table([
    { label: "Model", cell: (m) => h("code", {}, m.id) },
    { label: "In $/Mtok", class: "num", cell: (m) => fmt.price(m.input_per_mtok) },
    { label: "Out $/Mtok", class: "num", cell: (m) => fmt.price(m.output_per_mtok) },
    { label: "Context", class: "num", cell: (m) => fmt.num(m.context_window) },
    { label: "Params", class: "num", cell: (m) => (m.params_b === null || m.params_b === undefined ? "–" : `${fmt.num(m.params_b)} B`) },
    { label: "Kind", cell: (m) => m.kind || "–" },
    { label: "Capabilities", cell: caps },
    { label: "Source", cell: (m) => m.source || "–" },
  ], models || [], { caption: "Models", empty: "No models (none declared, none discovered yet)." });
}

function checkResult(result) {
  if (!result) return null;
  const when = ` (${new Date(result.at).toLocaleTimeString()})`;
  if (result.failed) return h("span", { class: "error-text" }, `The check could not run: ${result.failed}`, when);
  if (result.ok) return h("span", { class: "ok-text" }, `Connection ok in ${fmt.ms(result.latency_ms)}`, when);
  return h("span", { class: "error-text" }, `Connection failed${result.latency_ms ? ` after ${fmt.ms(result.latency_ms)}` : ""}: ${result.error || "no reason given"}`, when);
}

export async function mount(view, ctx) {
  const note = h("p", { class: "muted" }, "Health, circuit breakers and catalogs as the gateway sees them now; refreshed every 5 s.");
  const list = h("div", { class: "providers", id: "providers" });
  const error = h("p", { class: "error-text", role: "alert" });
  view.append(note, error, list);
  const cards = new Map(); // name → {root, body, result, button, last, checked}

  function card(name) {
    let c = cards.get(name);
    if (c) return c;
    const button = h("button", { type: "button", class: "small", "aria-label": `Test connection to ${name}` }, "Test connection");
    const result = h("span", { class: "check-result", role: "status", "aria-live": "polite" });
    const title = h("span", { class: "provider-title" });
    const body = h("div", { class: "provider-body" });
    const root = h("section", { class: "card provider", "data-testid": `provider-${name}`, id: `provider-${name}` },
      h("div", { class: "provider-head" }, h("h2", {}, name), title,
        h("div", { class: "row-actions" }, button, result)),
      body);
    c = { root, body, title, result, button, last: "", checked: null };
    button.addEventListener("click", () => test(name, c));
    cards.set(name, c);
    return c;
  }

  function render(name, p) {
    const c = card(name);
    const json = JSON.stringify(p);
    if (json === c.last) return;
    c.last = json;
    const [label, kind, why] = verdict(p);
    fill(c.title, badge(label, kind), p.type ? badge(p.type) : null, p.kind ? badge(p.kind) : null);
    fill(c.body,
      why ? h("p", { class: kind === "ok" ? "muted" : "error-text" }, why) : null,
      h("dl", { class: "facts" }, healthRows(p)),
      modelsTable(p.models));
  }

  async function test(name, c) {
    c.button.disabled = true;
    fill(c.result, h("span", { class: "muted" }, "Checking…"));
    try {
      const answer = await ctx.api("POST", `/admin/api/providers/${encodeURIComponent(name)}/check`, {});
      c.checked = { ...answer, at: Date.now() };
      if (answer.provider) render(name, answer.provider);
    } catch (err) {
      c.checked = { failed: err.message, at: Date.now() };
    } finally {
      c.button.disabled = false;
    }
    if (!ctx.live()) return;
    fill(c.result, checkResult(c.checked));
    ctx.toast(c.checked.ok ? `${name}: connection ok` : `${name}: connection failed`, c.checked.ok ? "ok" : "error");
  }

  async function refresh() {
    let data;
    try {
      data = await ctx.api("GET", "/admin/api/providers");
    } catch (err) {
      error.textContent = `Could not read the providers: ${err.message}`;
      return;
    }
    if (!ctx.live()) return;
    error.textContent = "";
    const providers = data.providers || {};
    const names = Object.keys(providers);
    for (const [name, c] of cards) if (!names.includes(name)) { c.root.remove(); cards.delete(name); }
    if (!names.length) {
      fill(list, h("p", { class: "empty" }, "No providers in the config."));
      return;
    }
    list.querySelector(":scope > .empty")?.remove();
    names.forEach((name, i) => {
      render(name, providers[name]);
      const root = cards.get(name).root;
      if (list.children[i] !== root) list.insertBefore(root, list.children[i] || null); // only when out of place (a move blurs)
    });
  }

  await refresh();
  ctx.every(REFRESH_MS, refresh);
  return { refresh, unmount() {} };
}
