//! Reading the event log: the tailer's pages (only what is final) and replays (below a position
//! the tailer already passed), in pages bounded in rows and in bytes.
//!
//! The log is two tables sharing one id sequence: `orders` and `ticket_changes`.

use super::{OrderStore, StoreError, iso_time};
use crate::events::{ChangeEvent, LogEvent, OrderEvent};
use crate::order::{Order, OrderLine};
use sqlx::PgConnection;
use std::sync::LazyLock;

/// How much one page may hold. The first event of a page is always included, whatever its size,
/// so that a page always moves forward.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageLimits {
    /// Most events.
    pub(crate) events: i64,
    /// Most bytes of order text (`orders.payload_bytes`), the first event excepted.
    pub(crate) bytes: i64,
}

/// One page of orders, in event-id order.
#[derive(Debug, Default)]
pub(crate) struct EventPage {
    pub(crate) events: Vec<OrderEvent>,
    /// Whether the page reached the end of what was asked for (no later event is left).
    pub(crate) complete: bool,
}

/// One page of the whole log (orders and changes), in event-id order.
#[derive(Debug, Default)]
pub(crate) struct LogPage {
    pub(crate) events: Vec<LogEvent>,
    pub(crate) complete: bool,
}

/// An entry's id and the table it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct LogId {
    #[sqlx(rename = "event_id")]
    pub(crate) id: i64,
    /// A ticket change rather than an order.
    #[sqlx(rename = "change")]
    pub(crate) is_change: bool,
}

/// One page of final event ids, in order.
#[derive(Debug, Default)]
pub(crate) struct IdPage {
    pub(crate) ids: Vec<LogId>,
    pub(crate) complete: bool,
    /// Committed events exist beyond the page that are not final yet, because an older
    /// transaction is still running.
    pub(crate) held_back: bool,
}

/// The tailer's read with whole events, for tests.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct TailRead {
    pub(crate) events: Vec<LogEvent>,
    pub(crate) complete: bool,
    pub(crate) held_back: bool,
}

#[derive(sqlx::FromRow)]
struct IdRow {
    /// `None` in the one row of a page with no final id.
    event_id: Option<i64>,
    change: Option<bool>,
    held_back: bool,
}

#[derive(sqlx::FromRow)]
struct ReplayIdRow {
    event_id: i64,
    change: bool,
    /// Rows of the page before the byte limit cut it.
    page_rows: i64,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    event_id: i64,
    kind: String,
    data: String,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    event_id: i64,
    order_id: String,
    otter_order_id: String,
    brand_name: String,
    source: String,
    order_timestamp: String,
    received_by: String,
    received_at: String,
    item_names: Vec<String>,
    item_stations: Vec<String>,
    item_quantities: Vec<i32>,
    /// Rows of the page before the byte limit cut it.
    page_rows: i64,
}

impl From<EventRow> for OrderEvent {
    fn from(row: EventRow) -> Self {
        let items = row
            .item_names
            .into_iter()
            .zip(row.item_stations)
            .zip(row.item_quantities)
            .map(|((name, station), quantity)| OrderLine {
                name,
                station,
                quantity,
            })
            .collect();
        OrderEvent {
            id: row.event_id,
            received_by: row.received_by,
            received_at: row.received_at,
            order: Order {
                order_id: row.order_id,
                otter_order_id: row.otter_order_id,
                brand_name: row.brand_name,
                source: row.source,
                timestamp: row.order_timestamp,
                items,
            },
        }
    }
}

/// An order's items (of the row aliased `{order}`), in request order, as three arrays.
const ITEMS: &str = "\
    CROSS JOIN LATERAL ( \
        SELECT coalesce(array_agg(item_name ORDER BY position), '{}') AS item_names, \
               coalesce(array_agg(station_name ORDER BY position), '{}') AS item_stations, \
               coalesce(array_agg(quantity ORDER BY position), '{}') AS item_quantities \
        FROM order_items WHERE order_items.event_id = {order}.event_id) items";

/// A replay page: `$1` after, `$2` through, `$3` most rows, `$4` most bytes; `{receiver}`
/// empty or [`ONE_RECEIVER`]. It reads below a position the tailer has passed, all of it final.
const REPLAY_PAGE: &str = "\
    WITH page AS ( \
        SELECT o.*, count(*) OVER () AS page_rows, \
               sum(o.payload_bytes) OVER (ORDER BY o.event_id) AS running_bytes \
        FROM (SELECT event_id FROM orders \
              WHERE event_id > $1 AND event_id <= $2 {receiver} \
              ORDER BY event_id LIMIT $3) ids \
        JOIN orders o USING (event_id) \
    ) \
    SELECT page.event_id, page.order_id, page.otter_order_id, page.brand_name, page.source, \
           page.order_timestamp, page.received_by, {received_at} AS received_at, page.page_rows, \
           items.item_names, items.item_stations, items.item_quantities \
    FROM page {items} \
    WHERE page.running_bytes - page.payload_bytes < greatest($4, 1) \
    ORDER BY page.event_id";

/// A replay page of the whole log's ids: `$1` after, `$2` through, `$3` most rows, `$4` most
/// bytes.
const REPLAY_IDS: &str = "\
    WITH ids AS ( \
        (SELECT event_id, payload_bytes, false AS change FROM orders \
         WHERE event_id > $1 AND event_id <= $2 ORDER BY event_id LIMIT $3) \
        UNION ALL \
        (SELECT event_id, payload_bytes, true AS change FROM ticket_changes \
         WHERE event_id > $1 AND event_id <= $2 ORDER BY event_id LIMIT $3) \
        ORDER BY event_id LIMIT $3 \
    ), page AS ( \
        SELECT ids.*, count(*) OVER () AS page_rows, \
               sum(payload_bytes) OVER (ORDER BY event_id) AS running_bytes \
        FROM ids \
    ) \
    SELECT event_id, change, page_rows FROM page \
    WHERE running_bytes - payload_bytes < greatest($4, 1) \
    ORDER BY event_id";

/// The condition that keeps one instance's orders (`$5`), for the console's catch-up.
const ONE_RECEIVER: &str = "AND received_by = $5";

/// Everything below the oldest transaction still running is final: no transaction can commit
/// an id there any more (see `migrations/0002_event_log.sql`).
///
/// Every condition here and in the queries built on it is a range on `event_id` or a `max`, so
/// that the planner walks the primary key even before the table has statistics (an `EXISTS`
/// over a range it cannot estimate made it scan the whole table).
const FINAL_HORIZON: &str = "\
    SELECT h.below, \
           greatest((SELECT max(event_id) FROM orders), \
                    (SELECT max(event_id) FROM ticket_changes), 0) >= h.below AS held_back \
    FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 AS below) h";

/// The query texts, put together once.
struct Queries {
    /// The tailer's page: only ids (`$1` after, `$2` most), read from the primary key alone,
    /// and always one row, with `held_back`, even when no id is final.
    final_ids: String,
    /// Whole orders by id (`$1`), in id order.
    events_by_id: String,
    /// Changes by id (`$1`), in id order.
    changes_by_id: &'static str,
    replay_ids: &'static str,
    replay_all: String,
    replay_one_receiver: String,
    final_position: String,
}

static QUERIES: LazyLock<Queries> = LazyLock::new(|| {
    let replay = |receiver| {
        REPLAY_PAGE
            .replace("{receiver}", receiver)
            .replace("{received_at}", &iso_time("page.received_at"))
            .replace("{items}", &ITEMS.replace("{order}", "page"))
    };
    Queries {
        final_ids: format!(
            "SELECT ids.event_id, ids.change, horizon.held_back \
             FROM ({FINAL_HORIZON}) horizon LEFT JOIN LATERAL ( \
                 (SELECT event_id, false AS change FROM orders \
                  WHERE event_id > $1 AND event_id < horizon.below \
                  ORDER BY event_id LIMIT $2) \
                 UNION ALL \
                 (SELECT event_id, true AS change FROM ticket_changes \
                  WHERE event_id > $1 AND event_id < horizon.below \
                  ORDER BY event_id LIMIT $2) \
                 ORDER BY event_id LIMIT $2) ids ON true \
             ORDER BY ids.event_id"
        ),
        events_by_id: format!(
            "SELECT o.event_id, o.order_id, o.otter_order_id, o.brand_name, o.source, \
                    o.order_timestamp, o.received_by, {} AS received_at, 0::bigint AS page_rows, \
                    items.item_names, items.item_stations, items.item_quantities \
             FROM orders o {} \
             WHERE o.event_id = ANY($1) \
             ORDER BY o.event_id",
            iso_time("o.received_at"),
            ITEMS.replace("{order}", "o")
        ),
        changes_by_id: "SELECT event_id, kind, data FROM ticket_changes \
                        WHERE event_id = ANY($1) ORDER BY event_id",
        replay_ids: REPLAY_IDS,
        replay_all: replay(""),
        replay_one_receiver: replay(ONE_RECEIVER),
        final_position: format!(
            "SELECT greatest( \
                 (SELECT max(event_id) FROM orders WHERE event_id < h.below), \
                 (SELECT max(event_id) FROM ticket_changes WHERE event_id < h.below)) \
             FROM ({FINAL_HORIZON}) h"
        ),
    }
});

/// The query for [`OrderStore::final_position`], for reads that need it inside their snapshot.
pub(super) fn final_position_sql() -> &'static str {
    &QUERIES.final_position
}

impl OrderStore {
    /// The tailer's read, on its own connection: the ids of up to `most` final events after
    /// `after`, in id order.
    pub(crate) async fn final_ids_after(
        &self,
        connection: &mut PgConnection,
        after: i64,
        most: i64,
    ) -> Result<IdPage, StoreError> {
        let most = most.max(1);
        let rows: Vec<IdRow> = self
            .timed(async {
                Ok(sqlx::query_as(&QUERIES.final_ids)
                    .bind(after)
                    .bind(most)
                    .fetch_all(connection)
                    .await?)
            })
            .await?;
        let held_back = rows.first().is_some_and(|row| row.held_back);
        let ids: Vec<LogId> = rows
            .into_iter()
            .filter_map(|row| {
                Some(LogId {
                    id: row.event_id?,
                    is_change: row.change?,
                })
            })
            .collect();
        Ok(IdPage {
            complete: (ids.len() as i64) < most,
            held_back,
            ids,
        })
    }

    /// The stored events with these ids, in id order.
    async fn events_by_id(
        &self,
        connection: &mut PgConnection,
        ids: &[i64],
    ) -> Result<Vec<OrderEvent>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<EventRow> = self
            .timed(async {
                Ok(sqlx::query_as(&QUERIES.events_by_id)
                    .bind(ids)
                    .fetch_all(connection)
                    .await?)
            })
            .await?;
        Ok(rows.into_iter().map(OrderEvent::from).collect())
    }

    /// The stored changes with these ids, in id order.
    async fn changes_by_id(
        &self,
        connection: &mut PgConnection,
        ids: &[i64],
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<ChangeRow> = self
            .timed(async {
                Ok(sqlx::query_as(QUERIES.changes_by_id)
                    .bind(ids)
                    .fetch_all(connection)
                    .await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| ChangeEvent {
                id: row.event_id,
                kind: row.kind,
                data: row.data,
            })
            .collect())
    }

    /// The entries with these ids, whole, in id order; an id no longer stored is left out.
    pub(crate) async fn log_events(
        &self,
        connection: &mut PgConnection,
        ids: &[LogId],
    ) -> Result<Vec<LogEvent>, StoreError> {
        let (changes, orders): (Vec<LogId>, Vec<LogId>) = ids.iter().partition(|id| id.is_change);
        let order_ids: Vec<i64> = orders.iter().map(|id| id.id).collect();
        let change_ids: Vec<i64> = changes.iter().map(|id| id.id).collect();
        let orders = self.events_by_id(connection, &order_ids).await?;
        let changes = self.changes_by_id(connection, &change_ids).await?;
        let mut events: Vec<LogEvent> = orders
            .into_iter()
            .map(LogEvent::Order)
            .chain(changes.into_iter().map(LogEvent::Change))
            .collect();
        events.sort_by_key(LogEvent::id);
        Ok(events)
    }

    /// Final events after `after`, whole: what the tailer publishes.
    #[cfg(test)]
    pub(crate) async fn final_events_after(
        &self,
        after: i64,
        limits: PageLimits,
    ) -> Result<TailRead, StoreError> {
        let mut connection = self.acquire().await?;
        let ids = self
            .final_ids_after(&mut connection, after, limits.events)
            .await?;
        Ok(TailRead {
            events: self.log_events(&mut connection, &ids.ids).await?,
            complete: ids.complete,
            held_back: ids.held_back,
        })
    }

    /// The whole log (orders and changes) after `after` and up to `through`, a position the
    /// tailer has passed: what a screen replays.
    pub(crate) async fn log_between(
        &self,
        after: i64,
        through: i64,
        limits: PageLimits,
    ) -> Result<LogPage, StoreError> {
        let most = limits.events.max(1);
        let mut connection = self.acquire().await?;
        let rows: Vec<ReplayIdRow> = self
            .timed(async {
                Ok(sqlx::query_as(QUERIES.replay_ids)
                    .bind(after)
                    .bind(through)
                    .bind(most)
                    .bind(limits.bytes)
                    .fetch_all(&mut *connection)
                    .await?)
            })
            .await?;
        let page_rows = rows.first().map_or(0, |row| row.page_rows);
        let complete = rows.is_empty() || (rows.len() as i64 == page_rows && page_rows < most);
        let ids: Vec<LogId> = rows
            .iter()
            .map(|row| LogId {
                id: row.event_id,
                is_change: row.change,
            })
            .collect();
        Ok(LogPage {
            events: self.log_events(&mut connection, &ids).await?,
            complete,
        })
    }

    /// Stored events after `after` and up to `through`, optionally only those `received_by` an
    /// instance. `through` must be a position the tailer has passed.
    pub(crate) async fn events_between(
        &self,
        after: i64,
        through: i64,
        limits: PageLimits,
        received_by: Option<&str>,
    ) -> Result<EventPage, StoreError> {
        let sql = match received_by {
            Some(_) => &QUERIES.replay_one_receiver,
            None => &QUERIES.replay_all,
        };
        let most = limits.events.max(1);
        let rows: Vec<EventRow> = self
            .timed(async {
                let mut query = sqlx::query_as(sql)
                    .bind(after)
                    .bind(through)
                    .bind(most)
                    .bind(limits.bytes);
                if let Some(receiver) = received_by {
                    query = query.bind(receiver);
                }
                Ok(query.fetch_all(&self.pool).await?)
            })
            .await?;
        let page_rows = rows.first().map_or(0, |row| row.page_rows);
        let complete = rows.is_empty() || (rows.len() as i64 == page_rows && page_rows < most);
        Ok(EventPage {
            events: rows.into_iter().map(OrderEvent::from).collect(),
            complete,
        })
    }

    /// The highest event id that is final (see [`Self::final_events_after`]), or 0: where a
    /// tailer starting now begins.
    pub(crate) async fn final_position(&self) -> Result<i64, StoreError> {
        self.timed(async {
            let position: Option<i64> = sqlx::query_scalar(&QUERIES.final_position)
                .fetch_one(&self.pool)
                .await?;
            Ok(position.unwrap_or(0))
        })
        .await
    }

    /// The highest event id stored, or 0 when there is none.
    pub(crate) async fn latest_event_id(&self) -> Result<i64, StoreError> {
        self.timed(async {
            let latest: Option<i64> = sqlx::query_scalar(
                "SELECT greatest((SELECT max(event_id) FROM orders), \
                                 (SELECT max(event_id) FROM ticket_changes))",
            )
            .fetch_one(&self.pool)
            .await?;
            Ok(latest.unwrap_or(0))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::test_store;
    use test_support::fixtures::numbered_order;

    const ALL: PageLimits = PageLimits {
        events: 1_000,
        bytes: 1 << 30,
    };

    async fn store_orders(store: &OrderStore, ids: &[&str], instance: &str) {
        let orders: Vec<Order> = ids
            .iter()
            .map(|id| crate::order::validate(numbered_order(id)).unwrap())
            .collect();
        let mut connection = store.acquire().await.unwrap();
        store
            .insert_batch(&mut connection, &orders, instance)
            .await
            .unwrap();
    }

    fn order_ids<'a>(events: impl IntoIterator<Item = &'a OrderEvent>) -> Vec<&'a str> {
        events
            .into_iter()
            .map(|event| event.order.order_id.as_str())
            .collect()
    }

    fn orders(events: &[LogEvent]) -> Vec<&OrderEvent> {
        events.iter().filter_map(LogEvent::as_order).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pages_hold_the_orders_with_their_items_in_request_order() {
        let (_server, store) = test_store().await;
        store_orders(&store, &["a", "b"], "k1").await;
        let page = store.final_events_after(0, ALL).await.unwrap();
        assert_eq!(order_ids(orders(&page.events)), ["a", "b"]);
        assert!(page.complete && !page.held_back);
        let expected = crate::order::validate(numbered_order("a")).unwrap();
        assert_eq!(orders(&page.events)[0].order, expected);
        assert_eq!(orders(&page.events)[0].received_by, "k1");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pages_are_bounded_in_events_and_in_bytes_but_always_move_forward() {
        let (_server, store) = test_store().await;
        store_orders(&store, &["a", "b", "c"], "k1").await;
        let two = PageLimits {
            events: 2,
            bytes: 1 << 30,
        };
        let page = store.events_between(0, i64::MAX, two, None).await.unwrap();
        assert_eq!(order_ids(&page.events), ["a", "b"]);
        assert!(!page.complete);
        let one_byte = PageLimits {
            events: 100,
            bytes: 1,
        };
        let page = store
            .events_between(0, i64::MAX, one_byte, None)
            .await
            .unwrap();
        assert_eq!(
            order_ids(&page.events),
            ["a"],
            "the first event is always included"
        );
        assert!(!page.complete);
        let after_a = page.events[0].id;
        let rest = store
            .events_between(after_a, i64::MAX, ALL, None)
            .await
            .unwrap();
        assert_eq!(order_ids(&rest.events), ["b", "c"]);
        assert!(rest.complete);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn replays_stop_at_the_given_position_and_can_keep_one_instances_orders() {
        let (_server, store) = test_store().await;
        store_orders(&store, &["a"], "k1").await;
        store_orders(&store, &["b"], "k2").await;
        store_orders(&store, &["c"], "k1").await;
        let all = store.final_events_after(0, ALL).await.unwrap();
        let b = all.events[1].id();
        let through_b = store.events_between(0, b, ALL, None).await.unwrap();
        assert_eq!(order_ids(&through_b.events), ["a", "b"]);
        let mine = store
            .events_between(0, i64::MAX, ALL, Some("k1"))
            .await
            .unwrap();
        assert_eq!(order_ids(&mine.events), ["a", "c"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_running_transaction_holds_back_later_commits_until_it_ends() {
        let (_server, store) = test_store().await;
        store_orders(&store, &["before"], "k1").await;
        // An open transaction that has written: the oldest one still running.
        let mut open = store.pool().begin().await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *open)
            .await
            .unwrap();
        store_orders(&store, &["after"], "k1").await;

        let page = store.final_events_after(0, ALL).await.unwrap();
        assert_eq!(order_ids(orders(&page.events)), ["before"]);
        assert!(
            page.held_back,
            "a committed order waits behind the open transaction"
        );
        let after_before = page.events[0].id();
        let empty = store.final_events_after(after_before, ALL).await.unwrap();
        assert!(empty.events.is_empty() && empty.held_back);

        open.rollback().await.unwrap();
        let page = store.final_events_after(after_before, ALL).await.unwrap();
        assert_eq!(order_ids(orders(&page.events)), ["after"]);
        assert!(!page.held_back);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_order_an_older_transaction_commits_late_is_read_before_the_later_ones() {
        let (_server, store) = test_store().await;
        // Two writers: the first takes its transaction id, the second commits meanwhile.
        let mut older = store.pool().begin().await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *older)
            .await
            .unwrap();
        store_orders(&store, &["committed-first"], "k2").await;
        let page = store.final_events_after(0, ALL).await.unwrap();
        assert!(
            page.events.is_empty(),
            "{:?}",
            order_ids(orders(&page.events))
        );

        // The older transaction's order gets the lower id, though it commits last.
        let order = crate::order::validate(numbered_order("committed-last")).unwrap();
        store
            .insert_batch(&mut older, &[order], "k1")
            .await
            .unwrap();
        older.commit().await.unwrap();
        let page = store.final_events_after(0, ALL).await.unwrap();
        assert_eq!(
            order_ids(orders(&page.events)),
            ["committed-last", "committed-first"]
        );
    }
}
