-- The foreign key from an item to its order checked, for every item inserted, that the order
-- exists, locking the order's row (a trigger, a query and a WAL record per item): a third of
-- PostgreSQL's time executing a batch (BENCHMARKS.md, "Ingest"). It guarded nothing the kitchen
-- can get wrong: items are inserted only by the statement that inserts their order
-- (src/store/insert.rs, joined to the orders it inserted), and the kitchen never deletes an
-- order. Whoever deletes orders by hand deletes their items too:
--   DELETE FROM order_items WHERE event_id IN (...); DELETE FROM orders WHERE event_id IN (...);
ALTER TABLE order_items DROP CONSTRAINT IF EXISTS order_items_event_id_fkey;
