-- Orders as the kitchen received them. `event_id` is the order's place in the durable sequence
-- that Server-Sent Events use as their `id:`; it only grows (gaps are allowed).
CREATE TABLE orders (
    event_id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        TEXT        NOT NULL UNIQUE,
    otter_order_id  TEXT        NOT NULL,
    brand_name      TEXT        NOT NULL,
    source          TEXT        NOT NULL,
    order_timestamp TEXT        NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The order's items, in request order.
CREATE TABLE order_items (
    event_id     BIGINT  NOT NULL REFERENCES orders (event_id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    item_name    TEXT    NOT NULL,
    station_name TEXT    NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity >= 1),
    PRIMARY KEY (event_id, position)
);
