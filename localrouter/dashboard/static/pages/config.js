// Config: the served sha and status, the reload history, the current errors with their lines,
// and the YAML itself (read-only; edits are made on the other pages or in the file).
import { h, fill, table, section, badge, fmt } from "../dom.js";
import { diagnosticsView, yamlView } from "../widgets.js";

export async function mount(view, ctx) {
  const body = h("div", { id: "config-body" });
  view.append(body);
  let shown = null;

  function render() {
    const c = ctx.config();
    if (!c) return;
    const key = JSON.stringify([c.sha, c.status, c.files, c.history && c.history.length && c.history[0].time]);
    if (key === shown) return;
    shown = key;
    const marks = new Map();
    for (const d of c.diagnostics || []) {
      if (!d.line) continue;
      const name = (d.file || "").split("/").pop();
      if (!marks.has(name)) marks.set(name, new Set());
      marks.get(name).add(d.line);
    }
    const ok = c.status === "ok";
    fill(body,
      section("Served",
        h("dl", { class: "facts" },
          h("dt", {}, "Status"), h("dd", { id: "config-status" }, badge(ok ? "ok" : "error", ok ? "ok" : "bad"),
            ok ? " the files on disk are what is served" : " the last reload failed: the previous table is still served"),
          h("dt", {}, "Sha"), h("dd", {}, h("code", { id: "config-sha" }, c.sha)),
          h("dt", {}, "Config"), h("dd", {}, h("code", {}, c.root)))),
      ok ? null : section("Errors", h("div", { id: "config-errors" }, diagnosticsView(c.diagnostics, c.files.map(
        (f) => ({ path: f.path, text: f.text }))))),
      section("Reload history", table([
        { label: "When", cell: (r) => fmt.time(r.time) },
        { label: "Why", cell: (r) => r.reason },
        { label: "Outcome", cell: (r) => badge(r.status, r.status === "swapped" || r.status === "unchanged" ? "ok" : "bad") },
        { label: "Sha", cell: (r) => h("code", {}, `${fmt.sha(r.old_sha)} → ${fmt.sha(r.new_sha)}`) },
        { label: "What changed", cell: (r) => r.errors && r.errors.length ? `${r.errors.length} error(s): ${r.errors[0].message}` : r.summary },
        { label: "Compile", class: "num", cell: (r) => fmt.ms(r.ms) },
      ], c.history || [], { empty: "No reload since the gateway started." })),
      c.files.map((f) => section(f.path, h("div", { class: "yaml-file", "data-file": f.path },
        yamlView(f.text, marks.get(f.path.split("/").pop()) || new Set())))));
  }

  render();
  return { refresh: async () => render() };
}
