//! Group commit: a batch of orders in one statement, idempotent on `order_id`.

use super::{OrderStore, StoreError};
use crate::order::Order;
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// What happened to one order of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Insertion {
    /// Stored now, at this event id.
    New {
        event_id: i64,
        /// When the kitchen stored it, RFC 3339 in UTC.
        received_at: String,
    },
    /// An order with this `order_id` was stored before (or earlier in the same batch).
    Duplicate,
}

/// An order the batch stored, with the event id it got.
#[derive(sqlx::FromRow)]
struct Inserted {
    order_id: String,
    event_id: i64,
    received_at: String,
}

/// Most orders one batch may hold: an event id keeps 16 bits for the position in its
/// transaction (see `migrations/0002_event_log.sql`).
pub(crate) const MAX_BATCH: usize = 65_535;

/// The batch's one statement. The items of orders stored before (not in `inserted`) are left
/// out by the join.
static INSERT_BATCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH incoming AS ( \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                                  $5::text[], $6::int4[]) \
                  WITH ORDINALITY AS incoming(order_id, otter_order_id, brand_name, source, \
                                             order_timestamp, payload_bytes, position) \
         ), inserted AS ( \
             INSERT INTO orders (event_id, order_id, otter_order_id, brand_name, source, \
                                 order_timestamp, received_by, payload_bytes) \
             SELECT (pg_current_xact_id()::text::bigint << 16) | position, order_id, \
                    otter_order_id, brand_name, source, order_timestamp, $11, payload_bytes \
             FROM incoming ORDER BY order_id \
             ON CONFLICT (order_id) DO NOTHING \
             RETURNING order_id, event_id, received_at \
         ), items AS ( \
             INSERT INTO order_items (event_id, position, item_name, station_name, quantity) \
             SELECT inserted.event_id, item.position, item.item_name, item.station_name, \
                    item.quantity \
             FROM UNNEST($7::text[], $8::int4[], $9::text[], $10::text[], $12::int4[]) \
                  AS item(order_id, position, item_name, station_name, quantity) \
             JOIN inserted ON inserted.order_id = item.order_id \
         ) \
         SELECT order_id, event_id, {received_at} AS received_at FROM inserted",
        received_at = super::iso_time("received_at")
    )
});

impl OrderStore {
    /// Stores `orders` on `connection` in one transaction, recording `instance` as the receiver,
    /// and returns for each whether it was new (with its event id) or a duplicate.
    ///
    /// The batch is one autocommitted statement of data-modifying common table expressions: one
    /// round trip, committed (and flushed) before it answers. Rows are inserted in `order_id`
    /// order, so two concurrent batches that share orders lock them in the same order and cannot
    /// deadlock. Event ids follow the order of `orders`.
    pub(crate) async fn insert_batch(
        &self,
        connection: &mut PgConnection,
        orders: &[Order],
        instance: &str,
    ) -> Result<Vec<Insertion>, StoreError> {
        assert!(
            orders.len() <= MAX_BATCH,
            "batch of {} orders",
            orders.len()
        );
        // Only the first order with a given id in the batch can be new; later ones are repeats.
        let mut seen = HashSet::with_capacity(orders.len());
        let is_first: Vec<bool> = orders
            .iter()
            .map(|order| seen.insert(order.order_id.as_str()))
            .collect();
        let unique: Vec<&Order> = orders
            .iter()
            .zip(&is_first)
            .filter_map(|(order, &first)| first.then_some(order))
            .collect();
        let column = |field: fn(&Order) -> &str| -> Vec<&str> {
            unique.iter().map(|order| field(order)).collect()
        };
        let payload_bytes: Vec<i32> = unique
            .iter()
            .map(|order| i32::try_from(order.payload_bytes()).unwrap_or(i32::MAX))
            .collect();
        let mut item_order_ids = Vec::new();
        let mut item_positions = Vec::new();
        let mut item_names = Vec::new();
        let mut item_stations = Vec::new();
        let mut item_quantities = Vec::new();
        for order in &unique {
            for (position, item) in order.items.iter().enumerate() {
                item_order_ids.push(order.order_id.as_str());
                item_positions.push(position as i32);
                item_names.push(item.name.as_str());
                item_stations.push(item.station.as_str());
                item_quantities.push(item.quantity);
            }
        }

        let query = sqlx::query_as::<_, Inserted>(&INSERT_BATCH)
            .bind(column(|order| &order.order_id))
            .bind(column(|order| &order.otter_order_id))
            .bind(column(|order| &order.brand_name))
            .bind(column(|order| &order.source))
            .bind(column(|order| &order.timestamp))
            .bind(&payload_bytes)
            .bind(&item_order_ids)
            .bind(&item_positions)
            .bind(&item_names)
            .bind(&item_stations)
            .bind(instance)
            .bind(&item_quantities);
        let inserted = self
            .timed(async { Ok(query.fetch_all(&mut *connection).await?) })
            .await?;

        let mut inserted_by_order: HashMap<&str, &Inserted> = inserted
            .iter()
            .map(|row| (row.order_id.as_str(), row))
            .collect();
        Ok(orders
            .iter()
            .zip(is_first)
            .map(
                |(order, first)| match inserted_by_order.remove(order.order_id.as_str()) {
                    Some(row) if first => Insertion::New {
                        event_id: row.event_id,
                        received_at: row.received_at.clone(),
                    },
                    _ => Insertion::Duplicate,
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::test_store;
    use test_support::fixtures::numbered_order;

    fn order(id: &str) -> Order {
        crate::order::validate(numbered_order(id)).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn new_orders_get_increasing_ids_and_repeats_are_duplicates() {
        let (_server, store) = test_store().await;
        let mut connection = store.acquire().await.unwrap();
        let first = store
            .insert_batch(&mut connection, &[order("a"), order("b"), order("a")], "k1")
            .await
            .unwrap();
        let (Insertion::New { event_id: a, .. }, Insertion::New { event_id: b, .. }) =
            (&first[0], &first[1])
        else {
            panic!("{first:?}");
        };
        assert!(a < b);
        assert_eq!(first[2], Insertion::Duplicate);

        let second = store
            .insert_batch(&mut connection, &[order("c"), order("b")], "k1")
            .await
            .unwrap();
        let Insertion::New { event_id: c, .. } = &second[0] else {
            panic!("{second:?}")
        };
        assert!(
            c > b,
            "a later transaction's ids are above the earlier one's"
        );
        assert_eq!(second[1], Insertion::Duplicate);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_refused_order_fails_its_whole_statement_as_a_refusal() {
        let (_server, store) = test_store().await;
        let mut connection = store.acquire().await.unwrap();
        let mut bad = order("bad");
        bad.items[0].name = "Caesar\0Salad".into();
        let error = store
            .insert_batch(&mut connection, &[order("good"), bad], "k1")
            .await
            .unwrap_err();
        assert!(error.is_refusal(), "{error}");
    }
}
