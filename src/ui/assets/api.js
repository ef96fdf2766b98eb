// Talking to netkeepd: JSON GETs, admin POSTs with the session's CSRF token, and the
// session itself (GET /ui/session). The session cookie is HttpOnly: this code never sees
// it, the browser sends it (same origin).

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let session_state = null;

// GET /ui/session. A server without the route (404) runs without sessions: treated as
// no --auth, where every client may do everything (netkeepd then listens on loopback).
export async function load_session() {
  const r = await fetch('/ui/session', {credentials: 'same-origin', cache: 'no-store'});
  if (r.status === 404) {
    session_state = {auth_required: false, authenticated: false, name: '', role: 'admin',
                     csrf: null};
  } else if (r.ok) {
    session_state = await r.json();
  } else {
    throw new ApiError(r.status, `GET /ui/session answered ${r.status}`, null);
  }
  return session_state;
}

export function session() { return session_state; }

// May this page offer admin actions (run now)? Without --auth: yes.
export function is_admin() {
  const s = session_state;
  if (!s) return false;
  if (!s.auth_required) return true;
  return s.authenticated && s.role === 'admin';
}

// '/api/v1/tasks', {limit: 100, tag: ['a', 'b']} -> '/api/v1/tasks?limit=100&tag=a&tag=b'
// (empty and null values left out).
export function url(path, params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === null || v === undefined || v === '') continue;
      q.append(key, String(v));
    }
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function error_of(r) {
  let body = null;
  let message = `${r.status} ${r.statusText}`;
  try {
    body = await r.json();
    if (body && typeof body.error === 'string') message = body.error;
  } catch (e) { /* not JSON: keep the status line */ }
  return new ApiError(r.status, message, body);
}

// 401: the session is gone (expired, logged out elsewhere): to the login page.
function to_login_on_401(r) {
  if (r.status === 401 && session_state && session_state.auth_required &&
      location.pathname !== '/ui/login') {
    location.assign(`/ui/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
}

export async function get_json(path, params, options) {
  const r = await fetch(url(path, params),
                        {credentials: 'same-origin', signal: options && options.signal});
  if (!r.ok) {
    to_login_on_401(r);
    throw await error_of(r);
  }
  return r.json();
}

export async function get_text(path, params) {
  const r = await fetch(url(path, params), {credentials: 'same-origin'});
  if (!r.ok) {
    to_login_on_401(r);
    throw await error_of(r);
  }
  return r.text();
}

// A state-changing POST: carries X-CSRF-Token when the session has one (the server
// refuses a cookie-authenticated POST without it).
export async function post(path, body) {
  const headers = {};
  if (session_state && session_state.csrf) headers['X-CSRF-Token'] = session_state.csrf;
  const init = {method: 'POST', credentials: 'same-origin', headers};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (!r.ok) {
    to_login_on_401(r);
    throw await error_of(r);
  }
  if (r.status === 204) return null;
  const type = r.headers.get('Content-Type') || '';
  return type.includes('json') ? r.json() : r.text();
}

export function task_path(device, job) {
  return `/api/v1/tasks/${encodeURIComponent(device)}/${encodeURIComponent(job)}`;
}

export function job_path(device, job) {
  return `/api/v1/devices/${encodeURIComponent(device)}/jobs/${encodeURIComponent(job)}`;
}
