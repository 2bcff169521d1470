// The console's only door to the agent: fetch() against the HTTP API (api/openapi.yaml).
// Session: an HttpOnly cookie set by the login call; every state-changing request carries
// the CSRF token the server handed out at login, in the header the API names.

const BASE = "/api";
const CSRF_HEADER = "X-CSRF-Token";
const CSRF_COOKIE = "enclave_csrf";
let csrfToken = sessionStorage.getItem("enclave.csrf");
let onUnauthorized = () => {};

/** An error the API answered (status ≥ 400) or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Called with no arguments whenever the API says 401: the app shows the login page. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function remember(token) {
  csrfToken = token || null;
  if (csrfToken) sessionStorage.setItem("enclave.csrf", csrfToken);
  else sessionStorage.removeItem("enclave.csrf");
}

/** The CSRF token: the one login/session returned, else the readable `enclave_csrf` cookie. */
function currentCsrf() {
  if (csrfToken) return csrfToken;
  const m = document.cookie.split(/;\s*/).find((c) => c.startsWith(`${CSRF_COOKIE}=`));
  return m ? decodeURIComponent(m.slice(CSRF_COOKIE.length + 1)) : null;
}

async function request(method, path, body, { quiet401 = false, headers: extra = {}, withHeaders = false } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const token = currentCsrf();
    if (token) headers[CSRF_HEADER] = token;
  }
  let res;
  try {
    res = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, e.message || String(e));
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    const msg = (data && (data.error || data.message)) || res.statusText || `HTTP ${res.status}`;
    throw new ApiError(res.status, typeof msg === "string" ? msg : JSON.stringify(msg), data);
  }
  return withHeaders ? { data, headers: res.headers } : data;
}

/** Signs in with the console password; remembers the CSRF token. */
export async function login(password) {
  const data = await request("POST", "/login", { password }, { quiet401: true });
  remember(data && data.csrf_token);
  return data;
}

/** Who is signed in (also refreshes the CSRF token); 401 when nobody. */
export async function session() {
  const data = await request("GET", "/session", undefined, { quiet401: true });
  if (data && data.csrf_token) remember(data.csrf_token);
  return data;
}

/** Ends the session. */
export async function logout() {
  try {
    await request("POST", "/logout", undefined, { quiet401: true });
  } finally {
    remember(null);
  }
}

/** Dashboard figures (`Stats`) for the calls started in [fromMs, now). */
export function stats(fromMs) {
  return request("GET", `/stats?from=${encodeURIComponent(fromMs)}`);
}

/** One page of calls: `{ q, outcome, caller_id, from, to, limit, offset }` → `CallPage`. */
export function calls(params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") qs.set(k, v);
  }
  return request("GET", `/calls?${qs}`);
}

/** One call with its turns (`CallDetail`). */
export function call(uuid) {
  return request("GET", `/calls/${encodeURIComponent(uuid)}`);
}

/** URL of a call's recording (WAV, range requests). */
export function recordingUrl(uuid) {
  return `${BASE}/calls/${encodeURIComponent(uuid)}/recording`;
}

/** URL of the live event stream (server-sent events). */
export function liveUrl() {
  return `${BASE}/live/events`;
}

/** Calls in progress (`LiveSnapshot`). */
export function live() {
  return request("GET", "/live");
}

/** The profiles as applied now (`ProfilesState`) and their ETag. */
export async function profiles() {
  const { data, headers } = await request("GET", "/profiles", undefined, { withHeaders: true });
  return { state: data, etag: headers.get("ETag") || (data && data.version) };
}

/** Checks a whole profile set (`{ profiles: {...} }`) as PUT would: `Validation`. */
export async function validateProfiles(profilesObj) {
  try {
    return await request("POST", "/profiles/validate", { profiles: profilesObj });
  } catch (e) {
    if (e.status === 422 && e.body && Array.isArray(e.body.errors)) return e.body;
    throw e;
  }
}

/** Creates or replaces one profile; `etag` guards against lost updates (412). */
export async function saveProfile(name, profileObj, etag) {
  const headers = etag ? { "If-Match": etag } : {};
  const { data, headers: h } = await request("PUT", `/profiles/${encodeURIComponent(name)}`, profileObj,
    { headers, withHeaders: true });
  return { state: data, etag: h.get("ETag") || (data && data.version) };
}

/** Every campaign with its state, window, limits and counts (`CampaignList`). */
export function campaigns() {
  return request("GET", "/campaigns");
}

/** One campaign with a page of its contacts (`CampaignDetail`). */
export function campaign(id, { limit, offset } = {}) {
  const qs = new URLSearchParams();
  if (limit) qs.set("limit", limit);
  if (offset) qs.set("offset", offset);
  return request("GET", `/campaigns/${encodeURIComponent(id)}?${qs}`);
}

/** Adds contacts: `{ csv, time_zone }` or `{ contacts, time_zone }` → `ImportReport`. */
export function addContacts(id, body) {
  return request("POST", `/campaigns/${encodeURIComponent(id)}/contacts`, body);
}

/** Starts/resumes (`running`), pauses or stops a campaign; 409 when not allowed now. */
export function setCampaignState(id, state) {
  return request("POST", `/campaigns/${encodeURIComponent(id)}/state`, { state });
}

/** URL of a campaign's results as CSV. */
export function campaignExportUrl(id) {
  return `${BASE}/campaigns/${encodeURIComponent(id)}/export`;
}
