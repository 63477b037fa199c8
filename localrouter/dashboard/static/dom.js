// Small DOM helpers. Data from the server is only ever put in the page as text (textContent,
// attribute values): never as HTML, so nothing a config or a client sends can run as script.

/** h("button", {class: "x", onclick: fn, disabled: true}, "text", child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything in `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table: columns [{label, cell: row => node|text, class?}], rows. */
export function table(columns, rows, { caption, empty = "Nothing yet.", rowAttrs } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {},
        columns.map((c) => h("td", { class: c.class, "data-label": c.label }, c.cell(row))))))));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}`.trim() }, text);
}

const NUM = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
export const fmt = {
  num: (n) => (n === null || n === undefined ? "–" : NUM.format(n)),
  usd: (n) => (n === null || n === undefined ? "–" : n === 0 ? "$0" : n < 0.01 ? `$${n.toPrecision(2)}` : `$${n.toFixed(2)}`),
  ms: (n) => (n === null || n === undefined ? "–" : n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`),
  pct: (n) => (n === null || n === undefined || Number.isNaN(n) ? "–" : `${(n * 100).toFixed(1)}%`),
  price: (n) => (n === null || n === undefined ? "–" : `$${n}`),
  time: (t) => (t ? new Date(t * 1000).toLocaleString() : "–"),
  ago(t) {
    if (!t) return "never";
    const s = Math.max(0, Date.now() / 1000 - t);
    if (s < 60) return `${Math.round(s)} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  },
  sha: (s) => (s ? s.slice(0, 12) : "–"),
};

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
    hint ? h("small", { class: "hint" }, hint) : null);
}
