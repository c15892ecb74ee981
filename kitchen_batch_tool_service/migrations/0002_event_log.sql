-- PostgreSQL is the kitchen's event log, read by every instance's tailer (see README, "The event
-- log"). An event id is `(transaction id << 16) | position in the transaction`: every id a
-- transaction assigns is above every id of the transactions that were already finished when it
-- started writing, so a reader that reads only below the oldest running transaction
-- (`pg_snapshot_xmin`) sees ids become final in id order, with any number of writers.

-- Rewriting a large table may take longer than the service's statement timeout.
SET LOCAL statement_timeout = 0;

-- Ids assigned from now on must be above every id assigned before (identity values).
DO $$
BEGIN
    IF (SELECT coalesce(max(event_id), 0) FROM orders)
       >= (pg_current_xact_id()::text::bigint << 16) THEN
        RAISE EXCEPTION 'orders.event_id values are too high to switch to transaction-based ids';
    END IF;
END
$$;

ALTER TABLE orders ALTER COLUMN event_id DROP IDENTITY IF EXISTS;

-- The instance that received the order: only that one prints it.
ALTER TABLE orders ADD COLUMN received_by TEXT NOT NULL DEFAULT '';
-- The size of the order's text, for replay pages bounded in bytes.
ALTER TABLE orders ADD COLUMN payload_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE orders o SET payload_bytes = octet_length(o.order_id) + octet_length(o.otter_order_id)
    + octet_length(o.brand_name) + octet_length(o.source) + octet_length(o.order_timestamp)
    + coalesce((SELECT sum(octet_length(i.item_name) + octet_length(i.station_name) + 4)
                FROM order_items i WHERE i.event_id = o.event_id), 0);

-- The console's catch-up reads one instance's orders after a position.
CREATE INDEX orders_received_by_event_id ON orders (received_by, event_id);

-- How far each instance's console has printed the orders it received.
CREATE TABLE console_cursors (
    instance        TEXT   PRIMARY KEY,
    printed_through BIGINT NOT NULL
);

-- The health probe's write: proves that the database still accepts writes after a failed batch.
CREATE TABLE health_probes (
    instance  TEXT        PRIMARY KEY,
    probed_at TIMESTAMPTZ NOT NULL
);
