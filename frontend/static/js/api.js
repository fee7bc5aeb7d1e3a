// Same-origin JSON API calls, signed in by the HttpOnly cookie. Writes carry the CSRF header
// the server requires of cookie-authenticated requests. On a share link's page (<meta
// name="lionlab-share">) every call carries the link's secret instead: its only credential.

const WRITE_HEADERS = { "X-LionLab-CSRF": "1" };
const SHARE_SECRET = document.querySelector('meta[name="lionlab-share"]')?.content || "";
export const isShared = SHARE_SECRET !== "";

export class ApiError extends Error {
  constructor(status, detail, message) {
    super(message);
    this.status = status;
    this.detail = detail; // [{loc, msg, type}] as every LionLab error body carries
  }
}

export function signInUrl() {
  const next = location.pathname + location.search;
  return `/signin?next=${encodeURIComponent(next)}`;
}

function buildUrl(path, query) {
  const url = new URL(`/api/v1${path}`, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.append(key, String(v));
    }
  }
  return url;
}

function describe(status, body) {
  const detail = Array.isArray(body?.detail) ? body.detail : [];
  if (detail.length) return detail.map((d) => d.msg).join("; ");
  if (typeof body?.detail === "string") return body.detail;
  return status >= 500 ? `The server failed (HTTP ${status}); try again.` : `HTTP ${status}`;
}

export async function api(path, { method = "GET", query, body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (isShared) headers["X-LionLab-Share"] = SHARE_SECRET;
  if (method !== "GET" && method !== "HEAD") Object.assign(headers, WRITE_HEADERS);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(buildUrl(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, [], "The server cannot be reached; check that LionLab is running.");
  }
  const data = (res.headers.get("content-type") || "").includes("json") ? await res.json() : null;
  if (!res.ok) throw refusal(res, data);
  return data;
}

function refusal(res, data) {
  if (res.status === 401 && isShared)
    return new ApiError(401, data?.detail || [], "This share link has expired or was revoked.");
  if (res.status === 401) {
    location.assign(signInUrl());
    return new ApiError(401, data?.detail || [], "Signed out");
  }
  return new ApiError(
    res.status,
    Array.isArray(data?.detail) ? data.detail : [],
    describe(res.status, data),
  );
}

// The address of an API path (a file to link to or show: the cookie signs it in).
export function apiUrl(path, query) {
  return buildUrl(path, query).toString();
}

// A GET whose answer is not JSON (a file): the Response, to read as the caller needs. On a
// share link's page it carries the link's secret in its header, so no address ever holds it.
export async function fetchFile(path, { query, headers = {}, signal } = {}) {
  const sent = { ...headers };
  if (isShared) sent["X-LionLab-Share"] = SHARE_SECRET;
  let res;
  try {
    res = await fetch(buildUrl(path, query), { headers: sent, credentials: "same-origin", signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, [], "The server cannot be reached; check that LionLab is running.");
  }
  if (res.ok) return res;
  const json = (res.headers.get("content-type") || "").includes("json");
  throw refusal(res, json ? await res.json().catch(() => null) : null);
}

export const get = (path, query, options = {}) => api(path, { ...options, query });
export const post = (path, body, options = {}) => api(path, { ...options, method: "POST", body });
