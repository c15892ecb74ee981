//! PostgreSQL storage of orders: idempotent on `order_id`, with the durable event sequence.

use crate::events::OrderEvent;
use crate::order::{Order, OrderLine};
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use std::collections::{HashMap, HashSet};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations could not be applied.
    #[error("cannot apply migrations: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// Orders in PostgreSQL.
#[derive(Debug, Clone)]
pub struct OrderStore {
    pool: PgPool,
}

/// What happened to one order of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insertion {
    /// Stored now, at this event id.
    New(i64),
    /// An order with this `order_id` was stored before (or earlier in the same batch).
    Duplicate,
}

impl OrderStore {
    /// A store on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// A connection of the store's pool, for [`Self::insert_batch_on`].
    pub async fn acquire(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Stores `orders` in one transaction and returns, for each, whether it was new (with its
    /// event id) or a duplicate. Event ids follow the order of `orders`.
    pub async fn insert_batch(&self, orders: &[Order]) -> Result<Vec<Insertion>, StoreError> {
        let mut connection = self.pool.acquire().await?;
        Self::insert_batch_on(&mut connection, orders).await
    }

    /// [`Self::insert_batch`] on a connection the caller holds (the writer keeps one, which
    /// spares the pool's liveness ping before every batch).
    ///
    /// The batch is one statement: its orders and their items are inserted by data-modifying
    /// common table expressions and committed together when it ends (autocommit). That is one
    /// round trip to PostgreSQL per batch instead of five (ping, `BEGIN`, two `INSERT`s,
    /// `COMMIT`), with the same atomicity and the same durable commit.
    pub async fn insert_batch_on(
        connection: &mut PgConnection,
        orders: &[Order],
    ) -> Result<Vec<Insertion>, StoreError> {
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

        // The items of orders stored before (not in `inserted`) are left out by the join.
        let inserted: Vec<(String, i64)> = sqlx::query_as(
            "WITH inserted AS ( \
                 INSERT INTO orders (order_id, otter_order_id, brand_name, source, order_timestamp) \
                 SELECT order_id, otter_order_id, brand_name, source, order_timestamp \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                      WITH ORDINALITY AS incoming(order_id, otter_order_id, brand_name, source, \
                                                 order_timestamp, position) \
                 ORDER BY position \
                 ON CONFLICT (order_id) DO NOTHING \
                 RETURNING order_id, event_id \
             ), items AS ( \
                 INSERT INTO order_items (event_id, position, item_name, station_name, quantity) \
                 SELECT inserted.event_id, item.position, item.item_name, item.station_name, \
                        item.quantity \
                 FROM UNNEST($6::text[], $7::int4[], $8::text[], $9::text[], $10::int4[]) \
                      AS item(order_id, position, item_name, station_name, quantity) \
                 JOIN inserted ON inserted.order_id = item.order_id \
             ) \
             SELECT order_id, event_id FROM inserted",
        )
        .bind(column(|order| &order.order_id))
        .bind(column(|order| &order.otter_order_id))
        .bind(column(|order| &order.brand_name))
        .bind(column(|order| &order.source))
        .bind(column(|order| &order.timestamp))
        .bind(&item_order_ids)
        .bind(&item_positions)
        .bind(&item_names)
        .bind(&item_stations)
        .bind(&item_quantities)
        .fetch_all(&mut *connection)
        .await?;

        let event_id_by_order: HashMap<&str, i64> = inserted
            .iter()
            .map(|(order_id, event_id)| (order_id.as_str(), *event_id))
            .collect();
        Ok(orders
            .iter()
            .zip(is_first)
            .map(
                |(order, first)| match event_id_by_order.get(order.order_id.as_str()) {
                    Some(&event_id) if first => Insertion::New(event_id),
                    _ => Insertion::Duplicate,
                },
            )
            .collect())
    }

    /// Up to `limit` stored orders with an event id above `after`, in event-id order.
    pub async fn events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<OrderEvent>, StoreError> {
        self.events_between(after, i64::MAX, limit).await
    }

    /// Up to `limit` stored orders with an event id above `after` and below `before`, in order.
    pub async fn events_between(
        &self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<OrderEvent>, StoreError> {
        type OrderRow = (i64, String, String, String, String, String);
        let rows: Vec<OrderRow> = sqlx::query_as(
            "SELECT event_id, order_id, otter_order_id, brand_name, source, order_timestamp \
             FROM orders WHERE event_id > $1 AND event_id < $2 ORDER BY event_id LIMIT $3",
        )
        .bind(after)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let event_ids: Vec<i64> = rows.iter().map(|row| row.0).collect();
        let items: Vec<(i64, String, String, i32)> = sqlx::query_as(
            "SELECT event_id, item_name, station_name, quantity FROM order_items \
             WHERE event_id = ANY($1) ORDER BY event_id, position",
        )
        .bind(&event_ids)
        .fetch_all(&self.pool)
        .await?;
        let mut items_by_event: HashMap<i64, Vec<OrderLine>> = HashMap::new();
        for (event_id, name, station, quantity) in items {
            items_by_event.entry(event_id).or_default().push(OrderLine {
                name,
                station,
                quantity,
            });
        }
        Ok(rows
            .into_iter()
            .map(
                |(id, order_id, otter_order_id, brand_name, source, timestamp)| OrderEvent {
                    id,
                    order: Order {
                        order_id,
                        otter_order_id,
                        brand_name,
                        source,
                        timestamp,
                        items: items_by_event.remove(&id).unwrap_or_default(),
                    },
                },
            )
            .collect())
    }

    /// The highest event id stored, or 0 when there is none.
    pub async fn latest_event_id(&self) -> Result<i64, StoreError> {
        let (latest,): (Option<i64>,) = sqlx::query_as("SELECT max(event_id) FROM orders")
            .fetch_one(&self.pool)
            .await?;
        Ok(latest.unwrap_or(0))
    }
}
