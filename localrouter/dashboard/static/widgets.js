// Pieces more than one page shows: a unified diff, diagnostics with their lines, a YAML view.
import { h } from "./dom.js";

/** A unified diff, one line per row, added and removed lines marked. */
export function diffView(text) {
  const lines = text.replace(/\n$/, "").split("\n");
  return h("pre", { class: "diff", tabindex: "0", "aria-label": "Changes" }, lines.map((line) => {
    let kind = "";
    if (line.startsWith("+++") || line.startsWith("---")) kind = "file";
    else if (line.startsWith("@@")) kind = "hunk";
    else if (line.startsWith("+")) kind = "add";
    else if (line.startsWith("-")) kind = "del";
    return h("span", { class: `line ${kind}`.trim() }, line, "\n");
  }));
}

/** Diagnostics ({file, line, column, code, message, help, severity}), each with its line of
 * the file when `files` ([{path, text}]) has it. */
export function diagnosticsView(diagnostics, files = []) {
  if (!diagnostics || !diagnostics.length) return h("p", { class: "ok-text" }, "No errors or warnings.");
  const texts = new Map(files.map((f) => [f.path, f.text.split("\n")]));
  return h("ul", { class: "diagnostics" }, diagnostics.map((d) => {
    const where = [d.file, d.line, d.column].filter((x) => x !== undefined && x !== null).join(":");
    const lines = texts.get(d.file) || (files.length === 1 ? texts.get(files[0].path) : null);
    const source = lines && d.line ? lines[d.line - 1] : null;
    const severity = d.severity || "error";
    return h("li", { class: `diagnostic ${severity}` },
      h("div", {}, h("code", { class: "where" }, where || "config"), " ",
        h("strong", {}, d.code || severity), " ", d.message || ""),
      source !== null && source !== undefined
        ? h("pre", { class: "source" }, h("span", { class: "lineno" }, `${d.line} | `), source,
          d.column ? h("span", { class: "caret" }, `\n${" ".repeat(String(d.line).length + 3 + d.column - 1)}^`) : null)
        : null,
      d.help ? h("div", { class: "help" }, d.help) : null);
  }));
}

const TOKEN = /(#.*$)|("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')|(^\s*-?\s*[^\s:#'"][^:#]*?:(?=\s|$))|(\b(?:true|false|null)\b|-?\b\d+(?:\.\d+)?\b)/g;

/** A read-only YAML view with line numbers and light colouring (keys, strings, comments,
 * numbers); `mark` is a set of line numbers to highlight (lines with a diagnostic). */
export function yamlView(text, mark = new Set()) {
  const lines = text.replace(/\n$/, "").split("\n");
  const width = String(lines.length).length;
  return h("pre", { class: "yaml", tabindex: "0", "aria-label": "YAML" }, lines.map((line, i) => {
    const parts = [];
    let last = 0;
    for (const m of line.matchAll(TOKEN)) {
      if (m.index > last) parts.push(line.slice(last, m.index));
      const kind = m[1] ? "c" : m[2] ? "s" : m[3] ? "k" : "n";
      parts.push(h("span", { class: `t-${kind}` }, m[0]));
      last = m.index + m[0].length;
    }
    parts.push(line.slice(last));
    const n = i + 1;
    return h("span", { class: mark.has(n) ? "row marked" : "row", id: `L${n}` },
      h("span", { class: "lineno", "aria-hidden": "true" }, String(n).padStart(width, " ") + "  "), parts, "\n");
  }));
}
