// Calls to the gateway's own API with the admin key in Authorization (never a cookie).

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || null;
    this.param = err.param || null;
    this.body = body || {};
  }
}

const KEY = "localrouter.adminKey";

export const auth = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

/** api("GET", "/admin/api/config") → the parsed JSON answer; throws ApiError on non-2xx. */
export async function api(method, path, body, key = auth.get()) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: { message: text.slice(0, 200) } }; }
  }
  if (!res.ok) {
    const error = new ApiError(res.status, data);
    if (res.status === 401) window.dispatchEvent(new CustomEvent("lr-unauthorized", { detail: error }));
    throw error;
  }
  return data;
}
