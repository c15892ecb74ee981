// Tickets, orders and changes in the contract's shapes.

export function item(position, name, station, quantity = 1, done = false, done_at = null) {
  return { position, name, station, quantity, done, done_at: done ? (done_at ?? '2026-12-02T10:05:00.000Z') : null };
}

export function ticket(n, overrides = {}) {
  return {
    event_id: n,
    order_id: `order-${n}`,
    otter_order_id: `019c52aa-1232-307c-b56d-1a3af34b${String(n).padStart(4, '0')}`,
    brand_name: 'Desayuna',
    source: 'otter',
    timestamp: `2026-12-02T10:${String(n % 60).padStart(2, '0')}:00.000Z`,
    received_at: `2026-12-02T10:${String(n % 60).padStart(2, '0')}:01.000Z`,
    items: [item(0, 'Classic Burger', 'Grill Station', 2), item(1, 'French Fries', 'Fryer Station', 1)],
    handed_over: false,
    handed_over_at: null,
    ...overrides,
  };
}

export function snapshot(tickets, last_event_id = 100, extra = {}) {
  return {
    last_event_id,
    server_time: '2026-12-02T10:30:00.000Z',
    aging: { warn_after_secs: 300, late_after_secs: 480 },
    tickets,
    truncated: false,
    ...extra,
  };
}

/** The design's order event data (no event id, no positions, no done flags). */
export function orderData(n, overrides = {}) {
  const t = ticket(n);
  return {
    order_id: t.order_id,
    otter_order_id: t.otter_order_id,
    brand_name: t.brand_name,
    items: [
      { name: 'Classic Burger', station: 'Grill Station', quantity: 2 },
      { name: 'French Fries', station: 'Fryer Station', quantity: 1 },
    ],
    timestamp: t.timestamp,
    received_at: t.received_at,
    ...overrides,
  };
}

export function change(event_id, kind, fields = {}) {
  return {
    event_id,
    kind,
    at: '2026-12-02T10:10:00.000Z',
    station: null,
    item: null,
    order_id: null,
    undoes: null,
    done: true,
    lines: [],
    handed_over: [],
    reopened: [],
    ...fields,
  };
}
