// MCP: the upstream MCP servers (transport, state, circuit, restarts, last error, tools) and
// which clients see each, and the skills. Refreshed every 5 s; redrawn only when it changed.
import { h, fill, table, section, badge, fmt } from "../dom.js";

const REFRESH_MS = 5000;
const STATE_KIND = { ready: "ok", idle: "", starting: "warn", failed: "bad", stopped: "bad" };

function circuitOf(circuit) {
  const state = typeof circuit === "string" ? circuit : (circuit && circuit.state) || "closed";
  return badge(`circuit ${state.replace("_", " ")}`, state === "closed" ? "ok" : state === "open" ? "bad" : "warn");
}

function names(list, none) {
  if (!list || !list.length) return h("span", { class: "muted" }, none);
  return list.map((n) => badge(n));
}

function toolsList(server) {
  const tools = server.tools || [];
  if (!tools.length) {
    const why = server.tools_note || (server.state === "ready" || server.tools_known ? "It lists no tools."
      : "Not known yet (listed once the server has started).");
    const text = why.charAt(0).toUpperCase() + why.slice(1);
    return h("p", { class: "muted" }, /[.!?)]$/.test(text) ? text : `${text}.`);
  }
  const source = server.tools_source === "cache" ? " (as last cached: the server is not connected)" : "";
  return h("details", { class: "mcp-tools", "data-server": server.name },
    h("summary", {}, `${tools.length} tool${tools.length === 1 ? "" : "s"}${source}`),
    table([
      { label: "Tool", cell: (t) => h("code", {}, t.public || t.name) },
      { label: "Description", cell: (t) => t.description || "–" },
      { label: "Seen by", cell: (t) => names(t.clients, "no client") },
    ], tools));
}

function serverCard(s) {
  return h("section", { class: "card mcp-server", "data-testid": `mcp-server-${s.name}` },
    h("div", { class: "provider-head" }, h("h2", {}, s.name),
      badge(s.state || "unknown", STATE_KIND[s.state] ?? "warn"), badge(s.transport || "?"), circuitOf(s.circuit)),
    h("dl", { class: "facts" },
      h("dt", {}, "Starts"), h("dd", {}, s.start === "first_use" ? "on first use" : s.start === "at_start" ? "with the gateway" : (s.start || "–")),
      h("dt", {}, "Restarts"), h("dd", {}, fmt.num(s.restarts || 0)),
      h("dt", {}, "Last error"), h("dd", {}, s.last_error ? h("span", { class: "error-text" }, s.last_error) : h("span", { class: "muted" }, "none")),
      h("dt", {}, "Seen by"), h("dd", {}, names(s.clients, "no client (no strategy lists it)")),
      s.collisions && s.collisions.length
        ? [h("dt", {}, "Name collisions"), h("dd", {}, s.collisions.map((c) => badge(String(c), "warn")), h("span", { class: "muted" }, " left out: name taken"))]
        : null),
    toolsList(s));
}

function skillsSection(skills) {
  return section("Skills",
    table([
      { label: "Skill", cell: (s) => h("code", {}, s.name) },
      { label: "Description", cell: (s) => s.description || "–" },
      { label: "Seen by", cell: (s) => names(s.clients, "no client") },
    ], skills, { empty: "No skills in the config." }));
}

export async function mount(view, ctx) {
  const body = h("div", { id: "mcp" });
  const error = h("p", { class: "error-text", role: "alert" });
  view.append(error, body);
  let last = "";

  async function refresh() {
    let data;
    try {
      data = await ctx.api("GET", "/admin/api/mcp");
    } catch (err) {
      error.textContent = `Could not read the MCP servers: ${err.message}`;
      return;
    }
    if (!ctx.live()) return;
    error.textContent = "";
    const json = JSON.stringify(data);
    if (json === last) return;
    last = json;
    const open = new Set([...body.querySelectorAll("details[open]")].map((d) => d.dataset.server));
    const servers = data.servers || [];
    const skills = data.skills || [];
    if (!servers.length && !skills.length) {
      fill(body, h("section", { class: "card empty", "data-testid": "mcp-empty" },
        h("p", {}, "No MCP servers in the config: see ", h("code", {}, "docs/mcp.md"),
          " to add some under ", h("code", {}, "mcp_servers:"), " (and skills under ", h("code", {}, "skills:"), ").")));
      return;
    }
    fill(body,
      h("p", { class: "muted" }, "The MCP servers behind the gateway's ", h("code", {}, "/mcp"),
        " endpoint, and who sees them; refreshed every 5 s."),
      servers.length
        ? h("div", { class: "grid" }, servers.map(serverCard))
        : h("p", { class: "empty", "data-testid": "mcp-empty" }, "No MCP servers in the config: see docs/mcp.md"),
      skillsSection(skills));
    for (const d of body.querySelectorAll("details[data-server]")) d.open = open.has(d.dataset.server);
  }

  await refresh();
  ctx.every(REFRESH_MS, refresh);
  return { refresh, unmount() {} };
}
