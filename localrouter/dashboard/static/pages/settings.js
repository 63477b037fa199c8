// Settings: the theme (remembered in this browser), the version, and where the config and the
// state live.
import { h, section } from "../dom.js";

export async function mount(view, ctx) {
  const current = localStorage.getItem("localrouter.theme") || "system";
  const choices = [["system", "As the system"], ["light", "Light"], ["dark", "Dark"]];
  const group = h("fieldset", { id: "theme" }, h("legend", {}, "Theme"),
    choices.map(([value, label]) => h("label", { class: "choice" },
      h("input", { type: "radio", name: "theme", value, checked: value === current,
        onchange: () => ctx.setTheme(value) }), ` ${label}`)));
  const c = ctx.config() || {};
  view.append(
    section("Appearance", group, h("p", { class: "muted" }, "Kept in this browser only.")),
    section("About",
      h("dl", { class: "facts" },
        h("dt", {}, "Version"), h("dd", { id: "version" }, `LocalRouter ${c.version || "?"}`),
        h("dt", {}, "Config"), h("dd", {}, h("code", { id: "config-root" }, c.root || "–")),
        h("dt", {}, "State directory"), h("dd", {}, h("code", { id: "state-dir" }, c.state_dir || "none (nothing is kept on disk)")))),
    section("Security",
      h("p", {}, "This page keeps the admin key in this tab only (sessionStorage) and sends it as ",
        h("code", {}, "Authorization"), " on each call; no cookie is set. It loads nothing from any other origin."),
      h("p", {}, "Every change made here is an edit of the YAML, compiled first and shown as a diff; ",
        "the file stays the single source of truth.")));
}
