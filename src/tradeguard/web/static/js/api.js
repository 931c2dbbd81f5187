// The JSON API as the page uses it: every call answers {ok, data} or {ok: false, status,
// message}; nothing here throws. The write token lives in sessionStorage (this tab only,
// never a cookie) and goes out only as an Authorization: Bearer header.

const TOKEN_KEY = "tradeguard.dashboard-token";
const TIMEOUT_MS = 15000;

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage refused (private mode): the token is asked for again next time
  }
}

async function call(method, path, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const headers = { Accept: "application/json" };
  const init = { method, headers, signal: controller.signal, cache: "no-store",
                 credentials: "omit", redirect: "error" };
  if (method !== "GET") {
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  try {
    const resp = await fetch(path, init);
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const message = (data && (data.message || data.error)) || `HTTP ${resp.status}`;
      return { ok: false, status: resp.status, message: String(message), data };
    }
    if (data === null && text) {
      return { ok: false, status: resp.status, message: "the answer is not JSON" };
    }
    return { ok: true, status: resp.status, data };
  } catch (err) {
    const message = err && err.name === "AbortError" ? "no answer (timed out)"
      : "the service does not answer";
    return { ok: false, status: 0, message };
  } finally {
    clearTimeout(timer);
  }
}

export function getJson(path) {
  return call("GET", path);
}

export function postJson(path, body) {
  return call("POST", path, body);
}
