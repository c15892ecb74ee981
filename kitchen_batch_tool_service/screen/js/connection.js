// The stream's lifecycle: first snapshot, EventSource from the snapshot's last event id, the
// connection state shown in the header, reconnection with backoff, and the checks that keep the
// board from ever being silently stale (a fresh snapshot after every reconnect and every minute).

export const CHANGE_KINDS = Object.freeze([
  'item_bumped', 'order_bumped', 'batch_bumped', 'order_handed_over', 'order_recalled', 'change_undone',
]);

export const DEFAULTS = Object.freeze({
  streamPath: '/orders/events',
  heartbeatMs: 15000,
  offlineAfterMs: 10000, // not open for this long: "OFFLINE since"
  staleAfterMs: 30000, // 2x heartbeat: a connection not open this long is replaced by our own
  recheckMs: 60000, // periodic snapshot check
  watchdogMs: 2000,
  backoffMs: [1000, 2000, 4000, 8000, 15000, 30000],
  ringSize: 4096, // recent events kept to re-apply on top of a fresh snapshot
});

/**
 * new Connection({api, board, EventSource, now, timers, hooks, options})
 * hooks: onState(state, since), onApplied() (the board changed), onNewOrders(ids), onError(err).
 * state: 'reconnecting' (also while connecting first), 'live', 'offline'.
 */
export class Connection {
  constructor({ api, board, EventSource, now, timers, hooks, options }) {
    this.api = api;
    this.board = board;
    this.ES = EventSource ?? globalThis.EventSource;
    this.now = now ?? (() => Date.now());
    this.timers = timers ?? {
      setTimeout: (f, ms) => setTimeout(f, ms),
      clearTimeout: (h) => clearTimeout(h),
      setInterval: (f, ms) => setInterval(f, ms),
      clearInterval: (h) => clearInterval(h),
    };
    this.hooks = hooks ?? {};
    this.opt = { ...DEFAULTS, ...(options || {}) };
    this.state = 'reconnecting';
    this.downSince = this.now();
    this.es = null;
    this.esOpenedAt = 0;
    this.esCreatedAt = 0;
    this.hadError = false;
    this.attempt = 0;
    this.reopenTimer = null;
    this.ring = [];
    this.ringDroppedUpTo = 0;
    this.resyncing = null;
    this.resyncAgain = false;
    this.started = false;
    this.stopped = false;
    this.lastStreamEventAt = 0;
    this.eventsSinceCheck = 0;
    this.stats = { connections: 0, reconnects: 0, resyncs: 0, repairs: 0, resets: 0, events: 0, stalls: 0 };
    this._handlers = null;
  }

  /** Loads the first snapshot (retrying with backoff), then opens the stream. */
  async start() {
    if (this.started) return;
    this.started = true;
    this._watchdog = this.timers.setInterval(() => this._check(), this.opt.watchdogMs);
    this._recheck = this.timers.setInterval(() => this._periodic(), this.opt.recheckMs);
    await this._initial();
  }

  stop() {
    this.stopped = true;
    this._closeEs();
    if (this.reopenTimer) this.timers.clearTimeout(this.reopenTimer);
    if (this._watchdog) this.timers.clearInterval(this._watchdog);
    if (this._recheck) this.timers.clearInterval(this._recheck);
  }

  async _initial() {
    while (!this.stopped) {
      try {
        await this._loadSnapshot(false);
        this._open(this.board.lastEventId);
        return;
      } catch (e) {
        this._emitError(e);
        this._setState(this._downFor() >= this.opt.offlineAfterMs ? 'offline' : 'reconnecting');
        await new Promise((r) => this.timers.setTimeout(r, this._backoff()));
      }
    }
  }

  _backoff() {
    const b = this.opt.backoffMs;
    const base = b[Math.min(this.attempt, b.length - 1)];
    this.attempt += 1;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  _downFor() {
    return this.downSince == null ? 0 : this.now() - this.downSince;
  }

  _setState(state) {
    if (state === 'live') this.downSince = null;
    else if (this.downSince == null) this.downSince = this.now();
    if (state === this.state) return;
    this.state = state;
    if (this.hooks.onState) this.hooks.onState(state, this.downSince);
  }

  _emitError(e) {
    if (this.hooks.onError) this.hooks.onError(e);
  }

  /**
   * Fetches `GET /api/tickets`, rebuilds the board from it (changing only what differs), then
   * re-applies the events received after its last_event_id. flagNew: tickets that were not on
   * the board before are reported as new orders (orders missed while away).
   */
  async _loadSnapshot(flagNew) {
    const before = flagNew ? new Set(this.board.tickets.keys()) : null;
    const t0 = this.now();
    const snap = await this.api.snapshot();
    const t1 = this.now();
    const changed = this.board.applySnapshot(snap, (t0 + t1) / 2);
    const last = this.board.lastEventId;
    const covered = this.ringDroppedUpTo <= last;
    for (const ev of this.ring) {
      if (ev.id > last) this.board.applyEvent(ev, this.board.serverNow(ev.localMs));
    }
    this.stats.resyncs += 1;
    if (changed > 0 && this.stats.resyncs > 1) this.stats.repairs += 1;
    if (before) {
      const fresh = [];
      for (const id of this.board.tickets.keys()) if (!before.has(id)) fresh.push(id);
      if (fresh.length && this.hooks.onNewOrders) this.hooks.onNewOrders(fresh);
    }
    if (this.hooks.onApplied) this.hooks.onApplied();
    return { snap, changed, covered, last };
  }

  /** Rebuilds from a fresh snapshot; one at a time (a request during one runs once after it). */
  resync() {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    this.resyncing = (async () => {
      try {
        do {
          this.resyncAgain = false;
          const { covered, last } = await this._loadSnapshot(true);
          if (!covered) {
            // Our buffer of recent events does not reach back to the snapshot: replay the stream
            // from the snapshot's last event id on a new connection.
            this._open(last);
          }
        } while (this.resyncAgain && !this.stopped);
      } catch (e) {
        this._emitError(e);
      } finally {
        this.resyncing = null;
      }
    })();
    return this.resyncing;
  }

  _closeEs() {
    const es = this.es;
    if (!es) return;
    const h = this._handlers;
    es.onopen = null;
    es.onerror = null;
    es.onmessage = null;
    if (h) {
      for (const kind of CHANGE_KINDS) es.removeEventListener(kind, h.change);
      es.removeEventListener('reset', h.reset);
    }
    es.close();
    this.es = null;
    this._handlers = null;
  }

  /** A new EventSource replaying from `fromId` (`?last_event_id=N`). */
  _open(fromId) {
    if (this.stopped) return;
    this._closeEs();
    if (this.reopenTimer) {
      this.timers.clearTimeout(this.reopenTimer);
      this.reopenTimer = null;
    }
    const sep = this.opt.streamPath.includes('?') ? '&' : '?';
    const url = `${this.opt.streamPath}${sep}last_event_id=${encodeURIComponent(fromId || 0)}`;
    const es = new this.ES(url);
    this.es = es;
    this.esCreatedAt = this.now();
    this.esOpenedAt = 0;
    this.stats.connections += 1;
    const change = (e) => this._onEvent(e.type, e);
    const reset = () => this._onReset();
    this._handlers = { change, reset };
    es.onopen = () => this._onOpen(es);
    es.onerror = () => this._onError(es);
    es.onmessage = (e) => this._onEvent('message', e);
    for (const kind of CHANGE_KINDS) es.addEventListener(kind, change);
    es.addEventListener('reset', reset);
  }

  _onOpen(es) {
    if (es !== this.es) return;
    this.esOpenedAt = this.now();
    this.attempt = 0;
    const wasDown = this.hadError;
    this.hadError = false;
    this._setState('live');
    // After any reconnect the stream has replayed what we missed (Last-Event-ID); check it
    // against a fresh snapshot as well, so that the board is rebuilt, never patched blindly.
    if (wasDown) {
      this.stats.reconnects += 1;
      this.resync();
    }
  }

  _onError(es) {
    if (es !== this.es) return;
    this.hadError = true;
    this.esOpenedAt = 0;
    this._setState(this._downFor() >= this.opt.offlineAfterMs ? 'offline' : 'reconnecting');
    if (es.readyState === 2 /* CLOSED */) {
      // The browser gave up for good (e.g. an HTTP error answer): reconnect ourselves.
      this._closeEs();
      this._scheduleReopen();
    }
  }

  _scheduleReopen() {
    if (this.reopenTimer || this.stopped) return;
    this.reopenTimer = this.timers.setTimeout(() => {
      this.reopenTimer = null;
      this.hadError = true;
      this._open(this.board.lastEventId);
    }, this._backoff());
  }

  _onReset() {
    // The server's log does not reach back to our last event id: rebuild from a snapshot and
    // replay the stream from its last event id.
    this.stats.resets += 1;
    this._closeEs();
    this.ring.length = 0;
    this.ringDroppedUpTo = 0;
    this._loadSnapshot(true)
      .then(() => this._open(this.board.lastEventId))
      .catch((e) => {
        this._emitError(e);
        this.hadError = true;
        this._scheduleReopen();
      });
  }

  _onEvent(type, e) {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    const id = Number(e.lastEventId);
    const localMs = this.now();
    const ev = { id: Number.isFinite(id) ? id : 0, type, data, localMs };
    this.ring.push(ev);
    if (this.ring.length > this.opt.ringSize) {
      const dropped = this.ring.shift();
      if (dropped.id > this.ringDroppedUpTo) this.ringDroppedUpTo = dropped.id;
    }
    this.lastStreamEventAt = localMs;
    this.eventsSinceCheck += 1;
    this.stats.events += 1;
    if (this.state !== 'live') this._setState('live');
    const orderId = type === 'message' && data && data.order_id != null ? String(data.order_id) : null;
    const had = orderId ? this.board.tickets.has(orderId) : true;
    const applied = this.board.applyEvent(ev, this.board.serverNow(localMs));
    if (applied && orderId && !had && this.board.tickets.has(orderId) && this.hooks.onNewOrders) {
      this.hooks.onNewOrders([orderId]);
    }
    if (applied && this.hooks.onApplied) this.hooks.onApplied();
  }

  /** Watchdog: the state shown follows the stream within seconds; a stuck connection is replaced. */
  _check() {
    if (this.stopped) return;
    const es = this.es;
    const open = es && es.readyState === 1;
    if (open) {
      if (this.state !== 'live' && !this.hadError) this._setState('live');
      return;
    }
    if (this.state !== 'offline' && this._downFor() >= this.opt.offlineAfterMs) this._setState('offline');
    else if (this.state === 'live') this._setState('reconnecting');
    if (es && es.readyState === 0 && this.now() - this.esCreatedAt > this.opt.staleAfterMs) {
      // Still connecting after 2x the heartbeat: the browser's own retry is stuck or slow.
      this.stats.stalls += 1;
      this._closeEs();
      this.hadError = true;
      this._scheduleReopen();
    } else if (!es && this.started && !this.reopenTimer && this.board.snapshots > 0 && !this.resyncing) {
      this.hadError = true;
      this._scheduleReopen();
    }
  }

  /** Every minute: compare with a fresh snapshot; also catches a stream that went silent. */
  async _periodic() {
    if (this.stopped || this.resyncing || this.board.snapshots === 0) return;
    const before = this.board.lastEventId;
    const silent = this.eventsSinceCheck === 0;
    this.eventsSinceCheck = 0;
    await this.resync();
    // The server has events we never got, and the stream said nothing for a whole minute: the
    // connection is dead without knowing it (e.g. a half-open TCP connection). Replace it.
    if (silent && this.board.lastEventId > before && this.es && this.es.readyState === 1) {
      this.stats.stalls += 1;
      this.hadError = true;
      this._open(this.board.lastEventId);
    }
  }

  /** Try now (e.g. the browser says the network is back). */
  kick() {
    if (this.stopped) return;
    if (!this.es || this.es.readyState !== 1) {
      if (this.reopenTimer) this.timers.clearTimeout(this.reopenTimer);
      this.reopenTimer = null;
      this.attempt = 0;
      this.hadError = true;
      if (this.board.snapshots === 0) return;
      this._open(this.board.lastEventId);
    }
  }
}
