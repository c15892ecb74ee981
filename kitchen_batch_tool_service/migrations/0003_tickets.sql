-- Tickets: what kitchen screens change. Every order is a ticket; each of its items is open until a
-- change marks it done, and the expo station hands the order over. Every change is itself an
-- entry of the event log (`ticket_changes`), with an id in the same sequence as the orders (see
-- 0002), so that a screen replaying the log replays the changes too.

-- Adding nullable columns without defaults rewrites nothing; the statement timeout still applies
-- to the index builds below on a large table.
SET LOCAL statement_timeout = 0;

-- The change that marked the item done, and when.
ALTER TABLE order_items ADD COLUMN done_by BIGINT, ADD COLUMN done_at TIMESTAMPTZ;
-- The change that handed the order over at expo, and when: the ticket then leaves the boards.
ALTER TABLE orders ADD COLUMN handed_over_by BIGINT, ADD COLUMN handed_over_at TIMESTAMPTZ;

CREATE TABLE ticket_changes (
    -- `(transaction id << 16)`: the change's place in the log.
    event_id        BIGINT      PRIMARY KEY,
    -- The SSE event's name, e.g. `batch_bumped`.
    kind            TEXT        NOT NULL,
    -- The SSE event's data, one line of JSON, as streamed.
    data            TEXT        NOT NULL,
    payload_bytes   INTEGER     NOT NULL,
    -- The client's `Idempotency-Key`: a retried request finds its first answer here.
    idempotency_key TEXT        UNIQUE,
    -- The request, normalised: the same key on another request is refused.
    request         TEXT        NOT NULL,
    undoable        BOOLEAN     NOT NULL,
    -- The change that undid this one.
    undone_by       BIGINT,
    made_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The open tickets (the snapshot) and their open items (all-day counts, batch bumps): both stay
-- small however long the log grows.
CREATE INDEX orders_open ON orders (event_id) WHERE handed_over_by IS NULL;
CREATE INDEX order_items_open ON order_items (station_name, item_name) WHERE done_by IS NULL;
-- What a change marked done or handed over, for its undo.
CREATE INDEX order_items_done_by ON order_items (done_by) WHERE done_by IS NOT NULL;
CREATE INDEX orders_handed_over_by ON orders (handed_over_by) WHERE handed_over_by IS NOT NULL;
-- The recall lists and the day view.
CREATE INDEX order_items_done_at ON order_items (done_at) WHERE done_at IS NOT NULL;
CREATE INDEX orders_handed_over_at ON orders (handed_over_at) WHERE handed_over_at IS NOT NULL;
CREATE INDEX orders_received_at ON orders (received_at);
