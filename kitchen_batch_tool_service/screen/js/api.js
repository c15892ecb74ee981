// The kitchen service's HTTP API (see the contract): reads, and changes sent with an
// Idempotency-Key that stays the same across the retries of one action.

function newKey() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === 'function') return globalThis.crypto.randomUUID();
  // Non-secure origins (plain http on a LAN address) have no randomUUID: build a v4 UUID.
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A failed call: status 0 for a network error. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  /**
   * options: base (URL prefix, default ''), fetch, uuid (key maker), retries (extra attempts of a
   * change after a network error or 5xx), backoffMs (delays between attempts), timeoutMs.
   */
  constructor(options = {}) {
    this.base = options.base ?? '';
    this.fetch = options.fetch ?? ((...a) => globalThis.fetch(...a));
    this.uuid = options.uuid ?? newKey;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? [300, 1000, 2500];
    this.timeoutMs = options.timeoutMs ?? 8000;
    this.sleep = options.sleep ?? sleep;
  }

  async _send(method, path, body, headers) {
    const ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = ctrl ? setTimeout(() => ctrl.abort(), this.timeoutMs) : null;
    try {
      const init = { method, headers: { Accept: 'application/json', ...headers }, cache: 'no-store' };
      if (ctrl) init.signal = ctrl.signal;
      if (body !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
      const res = await this.fetch(this.base + path, init);
      let json = null;
      const text = await res.text();
      if (text) {
        try { json = JSON.parse(text); } catch { json = null; }
      }
      return { status: res.status, ok: res.ok, json };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** GET a JSON document; throws ApiError. */
  async get(path) {
    let r;
    try {
      r = await this._send('GET', path, undefined, {});
    } catch (e) {
      throw new ApiError(0, `network: ${e && e.message ? e.message : e}`, null);
    }
    if (!r.ok) throw new ApiError(r.status, (r.json && r.json.error) || `HTTP ${r.status}`, r.json);
    return r.json;
  }

  /**
   * A change (POST). One Idempotency-Key for the action, kept across retries (network errors,
   * 5xx). Resolves to the answer ({change, message}); throws ApiError on 4xx or when retries run out.
   */
  async change(path, body) {
    const key = this.uuid();
    let last = null;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await this.sleep(this.backoffMs[Math.min(attempt - 1, this.backoffMs.length - 1)]);
      let r;
      try {
        r = await this._send('POST', path, body, { 'Idempotency-Key': key });
      } catch (e) {
        last = new ApiError(0, `network: ${e && e.message ? e.message : e}`, null);
        continue;
      }
      if (r.ok) return r.json || { change: null };
      last = new ApiError(r.status, (r.json && (r.json.error || r.json.message)) || `HTTP ${r.status}`, r.json);
      if (r.status < 500) throw last;
    }
    throw last;
  }

  snapshot() { return this.get('/api/tickets'); }
  allDay(station) { return this.get(`/api/all-day${station ? `?station=${encodeURIComponent(station)}` : ''}`); }
  order(orderId) { return this.get(`/api/orders/${encodeURIComponent(orderId)}`); }

  /** view: {view, station}: a station's, expo's, or the all-stations recall list. */
  recall(view) {
    if (view.view === 'expo') return this.get('/api/recall?view=expo');
    if (view.station) return this.get(`/api/recall?station=${encodeURIComponent(view.station)}`);
    return this.get('/api/recall');
  }

  day(fromIso, toIso) {
    return this.get(`/api/day?from=${encodeURIComponent(fromIso)}&to=${encodeURIComponent(toIso)}`);
  }

  bumpItem(orderId, position) {
    return this.change(`/api/orders/${encodeURIComponent(orderId)}/items/${position}/bump`);
  }

  bumpOrder(orderId, station) {
    return this.change(`/api/orders/${encodeURIComponent(orderId)}/bump`, station ? { station } : {});
  }

  bumpBatch(station, item) {
    return this.change('/api/batches/bump', { station, item });
  }

  handOver(orderId) {
    return this.change(`/api/orders/${encodeURIComponent(orderId)}/hand-over`);
  }

  /** view: station -> {station}, expo -> {expo: true}, all -> {}. */
  recallOrder(orderId, view) {
    const body = view.view === 'expo' ? { expo: true } : view.station ? { station: view.station } : {};
    return this.change(`/api/orders/${encodeURIComponent(orderId)}/recall`, body);
  }

  undo(eventId) {
    return this.change(`/api/changes/${encodeURIComponent(eventId)}/undo`);
  }
}
