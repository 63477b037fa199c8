// The dashboard's shell: sign-in, navigation, the pages, the theme, and a poll of the config's
// sha so an edit made anywhere (the page, the CLI, a hand edit of the file) shows at once.
import { api, auth, ApiError } from "./api.js";
import { h, fill, fmt } from "./dom.js";

const PAGES = [
  ["home", "Home"], ["clients", "Clients"], ["strategies", "Strategies"],
  ["providers", "Providers"], ["config", "Config"], ["mcp", "MCP"], ["settings", "Settings"],
];
const POLL_MS = 2000;

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const status = document.getElementById("status");
const logout = document.getElementById("logout");

const state = { config: null, page: null, name: null, timers: [], polling: null, generation: 0 };

// -- theme ----------------------------------------------------------------------------------
export function setTheme(theme) {
  if (theme === "light" || theme === "dark") {
    localStorage.setItem("localrouter.theme", theme);
    document.documentElement.dataset.theme = theme;
  } else {
    localStorage.removeItem("localrouter.theme");
    delete document.documentElement.dataset.theme;
  }
  window.dispatchEvent(new CustomEvent("lr-theme"));
}
const savedTheme = localStorage.getItem("localrouter.theme");
if (savedTheme) document.documentElement.dataset.theme = savedTheme;

// -- small services the pages use ------------------------------------------------------------
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

export function confirmAction(message, okLabel = "Confirm") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = message;
  document.getElementById("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** What a page's mount() gets. */
function context(generation) {
  const live = () => generation === state.generation;
  return {
    api,
    toast,
    confirm: confirmAction,
    navigate: (hash) => { location.hash = hash; },
    config: () => state.config,
    /** Run fn every ms while this page is shown (and not at all after). */
    every(ms, fn) {
      const id = setInterval(() => { if (live() && !document.hidden) fn(); }, ms);
      state.timers.push(id);
    },
    live,
    setTheme,
  };
}

// -- sign-in -----------------------------------------------------------------------------------
function showLogin(message) {
  stopPage();
  logout.hidden = true;
  fill(nav);
  fill(status);
  const input = h("input", { type: "password", id: "admin-key", name: "key", autocomplete: "off",
    required: true, placeholder: "lr-…", spellcheck: "false" });
  const error = h("p", { class: "error-text", id: "login-error", role: "alert" }, message || "");
  const form = h("form", { class: "card login", id: "login" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste the key of an admin client (", h("code", {}, "admin: true"), " in its entry). ",
      "It stays in this tab only and is sent as ", h("code", {}, "Authorization"), " on each call."),
    h("label", { for: "admin-key" }, "Admin key"), input, error,
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    try {
      state.config = await api("GET", "/admin/api/config", undefined, key);
    } catch (err) {
      error.textContent = loginError(err);
      input.select();
      return;
    }
    auth.set(key);
    start();
  });
  fill(main, form);
  input.focus();
}

function loginError(err) {
  if (!(err instanceof ApiError)) return `The gateway did not answer: ${err.message}`;
  if (err.status === 401) return "That key is not known to this gateway (or its client was deleted).";
  if (err.status === 403 && err.code === "not_admin") return "That client is not an admin: add `admin: true` to its entry to use the dashboard.";
  if (err.status === 403) return `Refused: ${err.message}`;
  if (err.status === 404) return "The dashboard is off (server.dashboard: false).";
  return err.message;
}

window.addEventListener("lr-unauthorized", () => {
  if (!auth.get()) return; // a sign-in's own try: its form says why
  auth.clear();
  showLogin("The key was refused (it may have been rotated or deleted): sign in again.");
});

logout.addEventListener("click", () => { auth.clear(); showLogin(""); });

// -- pages -----------------------------------------------------------------------------------
function stopPage() {
  for (const id of state.timers) clearInterval(id);
  state.timers = [];
  if (state.page && state.page.unmount) state.page.unmount();
  state.page = null;
  state.generation += 1;
}

function renderNav(current) {
  fill(nav, h("ul", {}, PAGES.map(([name, label]) => h("li", {},
    h("a", { href: `#/${name}`, "aria-current": name === current ? "page" : null }, label)))));
}

function renderStatus() {
  const c = state.config;
  if (!c) return;
  const ok = c.status === "ok";
  fill(status,
    h("span", { class: `dot ${ok ? "ok" : "bad"}`, "aria-hidden": "true" }),
    h("a", { href: "#/config", title: "The config served" }, ok ? "config ok" : "config error"),
    " ", h("code", { id: "served-sha", title: c.sha }, fmt.sha(c.sha)));
}

async function route() {
  if (!auth.get()) return showLogin("");
  const name = (location.hash.replace(/^#\/?/, "").split("/")[0]) || "home";
  const known = PAGES.find(([n]) => n === name);
  stopPage();
  renderNav(known ? name : null);
  const generation = state.generation;
  if (!known) {
    fill(main, h("section", { class: "card" }, h("h1", {}, "No such page"), h("a", { href: "#/home" }, "Home")));
    return;
  }
  document.title = `${known[1]} · LocalRouter`;
  const view = h("div", { class: "page", id: `page-${name}` }, h("h1", {}, known[1]));
  fill(main, view);
  try {
    const module = await import(`./pages/${name}.js`);
    if (generation !== state.generation) return;
    state.page = (await module.mount(view, context(generation))) || {};
  } catch (err) {
    if (generation !== state.generation || (err instanceof ApiError && err.status === 401)) return;
    view.append(h("p", { class: "error-text", role: "alert" }, `This page could not be shown: ${err.message}`));
  }
}

async function poll() {
  if (!auth.get() || document.hidden) return;
  let fresh;
  try {
    fresh = await api("GET", "/admin/api/config");
  } catch (err) {
    if (!(err instanceof ApiError)) fill(status, h("span", { class: "dot bad" }), "gateway unreachable");
    return;
  }
  const changed = !state.config || fresh.sha !== state.config.sha || fresh.status !== state.config.status
    || JSON.stringify(fresh.files) !== JSON.stringify(state.config.files);
  state.config = fresh;
  renderStatus();
  if (changed && state.page && state.page.refresh) {
    try { await state.page.refresh("config"); } catch (err) { if (!(err instanceof ApiError)) throw err; }
  }
}

async function start() {
  if (!auth.get()) return showLogin("");
  logout.hidden = false;
  if (!state.config) {
    try { state.config = await api("GET", "/admin/api/config"); } catch (err) {
      if (err instanceof ApiError && err.status !== 401) showLogin(loginError(err));
      return;
    }
  }
  renderStatus();
  if (!state.polling) state.polling = setInterval(poll, POLL_MS);
  await route();
}

window.addEventListener("hashchange", () => { if (auth.get()) route(); });
start();
