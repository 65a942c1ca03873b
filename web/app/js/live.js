// The live session socket (§6): a ws ticket per connection, resume with
// last_seq after a drop, broadcasts applied once in seq order, a heartbeat
// that notices a dead network, and replies matched to requests by id.
import { post, ApiError } from './api.js';

const PING_EVERY = 2000;
const DEAD_AFTER = 5000;

export class Live {
  // handlers: frame(f) for every frame applied, status(s) with
  // 'connecting' | 'connected' | 'reconnecting' | 'ended' | 'kicked' | 'replaced' | 'denied'.
  constructor(sessionId, handlers) {
    this.sessionId = sessionId;
    this.h = handlers;
    this.lastSeq = null;
    this.ws = null;
    this.pending = new Map();
    this.nextId = 1;
    this.stopped = false;
    this.retry = 0;
    this.status = '';
    this.onOffline = () => this.drop('offline');
    this.onOnline = () => { if (!this.ws) this.connectSoon(0); };
    window.addEventListener('offline', this.onOffline);
    window.addEventListener('online', this.onOnline);
  }

  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.h.status(s);
  }

  start() { this.connect(); }

  stop() {
    this.stopped = true;
    window.removeEventListener('offline', this.onOffline);
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    clearInterval(this.beat);
    if (this.ws) { this.detach(this.ws); this.ws.close(1000); this.ws = null; }
  }

  async connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    let ticket;
    try {
      ticket = (await post('/auth/ws-ticket', {})).ticket;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) { this.setStatus('denied'); return; }
      this.setStatus(this.everConnected ? 'reconnecting' : 'connecting');
      this.connectSoon();
      return;
    }
    if (this.stopped) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${proto}//${location.host}/api/v1/sessions/${encodeURIComponent(this.sessionId)}/ws?ticket=${encodeURIComponent(ticket)}`;
    if (this.lastSeq !== null) url += `&last_seq=${this.lastSeq}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => this.closed(ws, ev.code);
    ws.onerror = () => {};
    this.seen = Date.now();
    clearInterval(this.beat);
    this.beat = setInterval(() => this.heartbeat(), PING_EVERY);
  }

  connectSoon(delay) {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const d = delay ?? Math.min(3000, 250 * 2 ** this.retry++);
    this.timer = setTimeout(() => this.connect(), d);
  }

  detach(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
  }

  // drop gives up on the current socket at once (network gone or silent)
  // and starts reconnecting.
  drop() {
    if (this.stopped || this.status === 'ended') return;
    if (this.ws) {
      const ws = this.ws;
      this.detach(ws);
      try { ws.close(); } catch { /* already closed */ }
      this.ws = null;
    }
    clearInterval(this.beat);
    this.failPending();
    this.setStatus('reconnecting');
    this.connectSoon();
  }

  heartbeat() {
    if (!this.ws) return;
    if (Date.now() - this.seen > DEAD_AFTER) { this.drop(); return; }
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'ping', id: `p${this.nextId++}`, data: {} }));
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.beat);
    this.failPending();
    if (this.stopped) return;
    if (code === 1000) { this.setStatus('ended'); return; }
    if (code === 4403) { this.setStatus('kicked'); return; }
    // 4409: a newer socket of the same user took this one's place;
    // reconnecting would close that one in turn.
    if (code === 4409) { this.setStatus('replaced'); return; }
    this.setStatus(this.everConnected ? 'reconnecting' : 'connecting');
    // 4401: the access token died; the ticket request refreshes it.
    this.connectSoon();
  }

  failPending() {
    for (const p of this.pending.values()) p.reject(new Error('connection lost'));
    this.pending.clear();
  }

  receive(text) {
    this.seen = Date.now();
    let f;
    try { f = JSON.parse(text); } catch { return; }
    if (f.type === 'welcome') {
      this.everConnected = true;
      this.retry = 0;
      const d = f.data;
      if (!d.recovered) this.lastSeq = d.session.seq;
      this.setStatus('connected');
      this.h.frame(f);
      return;
    }
    if (typeof f.seq === 'number') {
      if (this.lastSeq !== null && f.seq <= this.lastSeq) return; // seen already
      this.lastSeq = f.seq;
    }
    if (f.id && this.pending.has(f.id)) {
      const p = this.pending.get(f.id);
      this.pending.delete(f.id);
      p.resolve(f);
    }
    if (f.type === 'pong') return;
    this.h.frame(f);
  }

  get open() { return this.ws && this.ws.readyState === WebSocket.OPEN && this.status === 'connected'; }

  // send a command; resolves with the direct reply (or rejects when the
  // connection drops first).
  send(type, data) {
    if (!this.open) return Promise.reject(new Error('not connected'));
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ type, id, data }));
    });
  }
}
