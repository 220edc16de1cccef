// The JSON API as the UI sees it: every call carries the bearer token the user signed in
// with, and every error arrives as an ApiError carrying the problem+json detail.

const TOKEN_KEY = "millrace.token";
const USER_KEY = "millrace.user";

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get user() {
    const raw = sessionStorage.getItem(USER_KEY);
    return raw ? JSON.parse(raw) : null;
  },
  save(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

// Called on any 401 so the app can send the user back to the sign-in page.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function failure(response, silent) {
  let title = response.statusText;
  let detail = "";
  try {
    const body = await response.json();
    title = body.title || title;
    detail = body.detail || "";
  } catch {
    // not a problem document: keep the status text
  }
  if (response.status === 401 && !silent) onUnauthorized(detail);
  return new ApiError(response.status, title, detail);
}

function headers(token, extra = {}) {
  const h = { ...extra };
  const t = token ?? session.token;
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

// fetch() with the token; resolves to the Response, or throws an ApiError. A 401 signs
// the user out, unless the call is `silent` (the sign-in form checks tokens that way).
export async function request(path, { method = "GET", json, token, signal, silent } = {}) {
  const init = { method, headers: headers(token), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response, silent);
  return response;
}

export async function api(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

export async function apiText(path, options) {
  return (await request(path, options)).text();
}

// Reads at most `limit` bytes of a file and stops: a preview must not download it all.
export async function apiHead(path, limit = 65536) {
  const response = await request(path);
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  reader.cancel().catch(() => {});
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(bytes.subarray(0, Math.min(size, limit)));
}

// Multipart upload with progress (fetch cannot report upload progress; XHR can).
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Authorization", `Bearer ${session.token}`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
    xhr.onload = () => {
      const body = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        if (xhr.status === 401) onUnauthorized(body.detail);
        reject(new ApiError(xhr.status, body.title || xhr.statusText, body.detail));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "Network error", "the server did not answer"));
    xhr.send(form);
  });
}

export const enc = encodeURIComponent;
