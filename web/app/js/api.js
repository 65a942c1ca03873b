// REST client of the contract: bearer access token, one refresh on 401,
// the contract's error shape as ApiError.
const KEY = 'quizcast.auth';

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || (status === 0 ? 'network' : 'unknown');
    this.fields = e.fields;
  }
}

// auth is this tab's login (sessionStorage: each tab may hold another user,
// and a reload keeps it).
export const auth = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
  },
  save(v) { sessionStorage.setItem(KEY, JSON.stringify(v)); },
  clear() { sessionStorage.removeItem(KEY); },
  user() { const a = this.get(); return a && a.user; },
};

// clock estimates the server's clock from the Date header (whole seconds);
// live code refines it with the server's own timestamps.
export const clock = {
  offset: 0,
  refined: false,
  now() { return Date.now() + this.offset; },
  fromHeader(res) {
    if (this.refined) return;
    const d = Date.parse(res.headers.get('Date') || '');
    if (!Number.isNaN(d)) this.offset = d + 500 - Date.now();
  },
  fromEvent(iso) {
    const d = Date.parse(iso);
    if (!Number.isNaN(d)) { this.offset = d - Date.now(); this.refined = true; }
  },
};

let refreshing = null;

async function refresh() {
  const a = auth.get();
  if (!a || !a.refresh_token) return false;
  if (!refreshing) {
    refreshing = (async () => {
      const res = await fetch('/api/v1/auth/refresh', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: a.refresh_token }),
      });
      if (!res.ok) return false;
      const body = await res.json();
      auth.save({ ...a, ...body });
      return true;
    })().catch(() => false).finally(() => { setTimeout(() => { refreshing = null; }, 0); });
  }
  return refreshing;
}

export let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// request calls /api/v1 + path. opts: {body, raw (a string body), type,
// accept, blob}. Resolves to the parsed JSON (null for 204) or a Blob.
export async function request(method, path, opts = {}, retried = false) {
  const headers = {};
  const a = auth.get();
  if (a && a.access_token) headers.Authorization = `Bearer ${a.access_token}`;
  let body;
  if (opts.raw !== undefined) { body = opts.raw; headers['Content-Type'] = opts.type; }
  else if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers['Content-Type'] = 'application/json'; }
  if (opts.accept) headers.Accept = opts.accept;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body, cache: 'no-store' });
  } catch {
    throw new ApiError(0, { error: { code: 'network', message: 'The server cannot be reached. Check the connection.' } });
  }
  clock.fromHeader(res);
  if (res.status === 401 && a && !retried && !path.startsWith('/auth/')) {
    if (await refresh()) return request(method, path, opts, true);
    auth.clear();
    onUnauthorized();
  }
  if (!res.ok) {
    let err = null;
    try { err = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, err);
  }
  if (res.status === 204) return null;
  if (opts.blob) return res.blob();
  return res.json();
}

export const get = (p, o) => request('GET', p, o);
export const post = (p, body) => request('POST', p, { body });
export const put = (p, body) => request('PUT', p, { body });
export const patch = (p, body) => request('PATCH', p, { body });
export const del = (p) => request('DELETE', p);

// all follows next_cursor until the list ends (or max items).
export async function all(path, max = 1000) {
  const items = [];
  let cursor = '';
  const sep = path.includes('?') ? '&' : '?';
  do {
    const page = await get(`${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor || '';
  } while (cursor && items.length < max);
  return items;
}

// csv downloads a report as CSV (a Blob).
export function csv(path) {
  const sep = path.includes('?') ? '&' : '?';
  return request('GET', `${path}${sep}format=csv`, { accept: 'text/csv', blob: true });
}

export async function login(email, password) {
  const body = await request('POST', '/auth/login', { body: { email, password } });
  auth.save(body);
  return body.user;
}

export async function logout() {
  const a = auth.get();
  try {
    if (a) await request('POST', '/auth/logout', { body: a.refresh_token ? { refresh_token: a.refresh_token } : {} });
  } catch { /* the login is dropped locally whatever the server says */ }
  auth.clear();
}
