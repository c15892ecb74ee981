//! Tickets in PostgreSQL: the reads screens start from, and the changes they make.
//!
//! A change is one transaction: it marks items done (or open) with its own event id, records
//! itself in `ticket_changes` under that id, and commits; the tailer then streams it like an
//! order. Rows are locked in one order everywhere (the order's row, then its items by position;
//! a batch's items by event id and position), and a deadlock or serialization failure is retried.

use super::{OrderStore, StoreError, iso_time};
use crate::tickets::{
    AllDayRow, Board, Change, ChangeRequest, DayRange, HourCount, LineRef, RECALL_LIMIT,
    RecallScope, RecalledTicket, StationTicketTimes, Ticket, TicketItem, fill_hours,
};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::sync::LazyLock;
use std::time::Duration;

/// What a change request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChangeOutcome {
    /// Made now, or earlier by a request with the same idempotency key: the change's JSON.
    Made(String),
    /// Nothing had to change; why.
    Unchanged(String),
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChangeError {
    /// The order, item, change or batch does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The tickets are not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// The idempotency key was used before for another request.
    #[error("this Idempotency-Key was used for another request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ChangeError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::from(error))
    }
}

/// A read of the open tickets and the log position it reflects.
#[derive(Debug)]
pub(crate) struct Snapshot<T> {
    /// Every event up to here is reflected; later ones may be too (applying them again is
    /// harmless: changes set state, they never toggle it).
    pub(crate) last_event_id: i64,
    pub(crate) server_time: String,
    pub(crate) content: T,
}

/// How many times a change is tried when PostgreSQL aborts it for a deadlock or a serialization
/// failure.
const ATTEMPTS: usize = 3;

/// A ticket's columns and its items as arrays, for the rows `{where}` selects, ordered by
/// `{order}`.
const TICKETS: &str = "\
    SELECT o.event_id, o.order_id, o.otter_order_id, o.brand_name, o.source, o.order_timestamp, \
           {received_at} AS received_at, {handed_over_at} AS handed_over_at, \
           items.positions, items.names, items.stations, items.quantities, items.done_ats \
    FROM orders o CROSS JOIN LATERAL ( \
        SELECT coalesce(array_agg(i.position ORDER BY i.position), '{}') AS positions, \
               coalesce(array_agg(i.item_name ORDER BY i.position), '{}') AS names, \
               coalesce(array_agg(i.station_name ORDER BY i.position), '{}') AS stations, \
               coalesce(array_agg(i.quantity ORDER BY i.position), '{}') AS quantities, \
               coalesce(array_agg({done_at} ORDER BY i.position), '{}') AS done_ats \
        FROM order_items i WHERE i.event_id = o.event_id) items \
    WHERE {where} \
    ORDER BY {order}";

fn tickets_sql(condition: &str, order: &str) -> String {
    TICKETS
        .replace("{received_at}", &iso_time("o.received_at"))
        .replace("{handed_over_at}", &iso_time("o.handed_over_at"))
        .replace("{done_at}", &iso_time("i.done_at"))
        .replace("{where}", condition)
        .replace("{order}", order)
}

/// Whether the ticket `o` is still shown: not handed over, and not ready for longer than `$2`
/// seconds (a kitchen without an expo screen never hands over).
const SHOWN: &str = "o.handed_over_by IS NULL \
    AND coalesce((SELECT bool_or(s.done_by IS NULL) OR max(s.done_at) > now() - make_interval(secs => $2) \
                  FROM order_items s WHERE s.event_id = o.event_id), true)";

struct Queries {
    /// `$1` station or null, `$2` seconds ready tickets stay, `$3` most.
    open_tickets: String,
    /// `$1` order event ids.
    tickets_by_event_id: String,
    /// `$1` order id.
    ticket_by_order_id: String,
    /// `$1` event ids (from a recall list), in the caller's order.
    recall_station: String,
    recall_all_stations: String,
    recall_expo: String,
    ticket_times: String,
    /// The log position a snapshot reflects, and the server's clock.
    snapshot_position: String,
    /// A change's event id and time.
    change_id: String,
}

static QUERIES: LazyLock<Queries> = LazyLock::new(|| {
    let recall = |station: &str| {
        format!(
            "WITH recent AS ( \
                 SELECT event_id, max(done_at) AS bumped_at FROM order_items \
                 WHERE done_at > now() - interval '1 day' {station} GROUP BY event_id) \
             SELECT r.event_id, {bumped_at} AS bumped_at FROM recent r \
             WHERE NOT EXISTS (SELECT 1 FROM order_items i \
                               WHERE i.event_id = r.event_id AND i.done_by IS NULL {station}) \
             ORDER BY r.bumped_at DESC LIMIT {RECALL_LIMIT}",
            bumped_at = iso_time("r.bumped_at"),
        )
    };
    Queries {
        open_tickets: format!(
            "{} LIMIT $3",
            tickets_sql(
                &format!(
                    "{SHOWN} AND ($1::text IS NULL OR EXISTS (SELECT 1 FROM order_items f \
                     WHERE f.event_id = o.event_id AND f.station_name = $1))"
                ),
                "o.order_timestamp, o.event_id",
            )
        ),
        tickets_by_event_id: tickets_sql("o.event_id = ANY($1)", "o.event_id"),
        ticket_by_order_id: tickets_sql("o.order_id = $1", "o.event_id"),
        recall_station: recall("AND station_name = $1"),
        recall_all_stations: recall(""),
        recall_expo: format!(
            "SELECT event_id, {} AS bumped_at FROM orders \
             WHERE handed_over_at > now() - interval '1 day' \
             ORDER BY handed_over_at DESC LIMIT {RECALL_LIMIT}",
            iso_time("handed_over_at")
        ),
        // Per station, the tickets whose items there were all done within the range, and the
        // time from receiving each to its last item there.
        snapshot_position: format!(
            "SELECT ({}), {}",
            super::read::final_position_sql(),
            iso_time("clock_timestamp()")
        ),
        change_id: format!(
            "SELECT pg_current_xact_id()::text::bigint << 16, {}",
            iso_time("now()")
        ),
        ticket_times: "WITH done AS ( \
                 SELECT i.event_id, i.station_name, max(i.done_at) AS done_at, \
                        bool_and(i.done_by IS NOT NULL) AS all_done \
                 FROM order_items i \
                 WHERE i.event_id IN (SELECT event_id FROM order_items \
                                      WHERE done_at >= $1::timestamptz AND done_at < $2::timestamptz) \
                 GROUP BY i.event_id, i.station_name) \
             SELECT d.station_name AS station, count(*) AS tickets, \
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.done_at - o.received_at)) AS median_secs, \
                    percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM d.done_at - o.received_at)) AS p90_secs \
             FROM done d JOIN orders o USING (event_id) \
             WHERE d.all_done AND d.done_at >= $1::timestamptz AND d.done_at < $2::timestamptz \
             GROUP BY d.station_name ORDER BY d.station_name"
            .to_owned(),
    }
});

#[derive(sqlx::FromRow)]
struct TicketRow {
    event_id: i64,
    order_id: String,
    otter_order_id: String,
    brand_name: String,
    source: String,
    order_timestamp: String,
    received_at: String,
    handed_over_at: Option<String>,
    positions: Vec<i32>,
    names: Vec<String>,
    stations: Vec<String>,
    quantities: Vec<i32>,
    done_ats: Vec<Option<String>>,
}

impl From<TicketRow> for Ticket {
    fn from(row: TicketRow) -> Self {
        let items = row
            .positions
            .into_iter()
            .zip(row.names)
            .zip(row.stations)
            .zip(row.quantities)
            .zip(row.done_ats)
            .map(
                |((((position, name), station), quantity), done_at)| TicketItem {
                    position,
                    name,
                    station,
                    quantity,
                    done: done_at.is_some(),
                    done_at,
                },
            )
            .collect();
        Ticket {
            event_id: row.event_id,
            order_id: row.order_id,
            otter_order_id: row.otter_order_id,
            brand_name: row.brand_name,
            source: row.source,
            timestamp: row.order_timestamp,
            received_at: row.received_at,
            handed_over: row.handed_over_at.is_some(),
            handed_over_at: row.handed_over_at,
            items,
        }
    }
}

/// What a change did to the tickets, before it is recorded.
#[derive(Debug, Default)]
struct Effect {
    station: Option<String>,
    item: Option<String>,
    order_id: Option<String>,
    undoes: Option<i64>,
    done: bool,
    lines: Vec<LineRef>,
    handed_over: Vec<String>,
    /// Event ids of the orders whose tickets go out whole.
    reopened: Vec<i64>,
}

/// An order as a change finds it, locked.
struct LockedOrder {
    event_id: i64,
    handed_over: bool,
}

impl OrderStore {
    /// The open tickets (at most `most`; one more tells that there are more), oldest first,
    /// keeping those with items at `station` when given, and the log position they reflect.
    pub(crate) async fn open_tickets(
        &self,
        station: Option<&str>,
        ready_kept: Duration,
        most: i64,
    ) -> Result<Snapshot<Vec<Ticket>>, StoreError> {
        let station = station.map(str::to_owned);
        self.snapshot(|connection| {
            Box::pin(async move {
                let rows: Vec<TicketRow> = sqlx::query_as(&QUERIES.open_tickets)
                    .bind(station)
                    .bind(ready_kept.as_secs_f64())
                    .bind(most)
                    .fetch_all(connection)
                    .await?;
                Ok(rows.into_iter().map(Ticket::from).collect())
            })
        })
        .await
    }

    /// The open items' quantities per station, item and brand, and the log position they
    /// reflect.
    pub(crate) async fn all_day_rows(
        &self,
        station: Option<&str>,
    ) -> Result<Snapshot<Vec<AllDayRow>>, StoreError> {
        let station = station.map(str::to_owned);
        self.snapshot(|connection| {
            Box::pin(async move {
                let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
                    "SELECT i.station_name, i.item_name, o.brand_name, sum(i.quantity)::bigint, \
                            count(DISTINCT i.event_id) \
                     FROM order_items i JOIN orders o USING (event_id) \
                     WHERE i.done_by IS NULL AND o.handed_over_by IS NULL \
                       AND ($1::text IS NULL OR i.station_name = $1) \
                     GROUP BY 1, 2, 3",
                )
                .bind(station)
                .fetch_all(connection)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(station, item, brand, quantity, tickets)| AllDayRow {
                        station,
                        item,
                        brand,
                        quantity,
                        tickets,
                    })
                    .collect())
            })
        })
        .await
    }

    /// Runs `read` in one repeatable-read snapshot, with the log position it reflects.
    async fn snapshot<T>(
        &self,
        read: impl for<'c> FnOnce(
            &'c mut PgConnection,
        ) -> futures::future::BoxFuture<'c, Result<T, StoreError>>,
    ) -> Result<Snapshot<T>, StoreError> {
        self.timed(async {
            let mut transaction = self.pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *transaction)
                .await?;
            // The snapshot is taken by this first query, and the read below shares it.
            let (last_event_id, server_time): (Option<i64>, String) =
                sqlx::query_as(&QUERIES.snapshot_position)
                    .fetch_one(&mut *transaction)
                    .await?;
            let content = read(&mut transaction).await?;
            transaction.commit().await?;
            Ok(Snapshot {
                last_event_id: last_event_id.unwrap_or(0),
                server_time,
                content,
            })
        })
        .await
    }

    /// One ticket, open or not.
    pub(crate) async fn ticket(&self, order_id: &str) -> Result<Option<Ticket>, StoreError> {
        self.timed(async {
            let row: Option<TicketRow> = sqlx::query_as(&QUERIES.ticket_by_order_id)
                .bind(order_id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.map(Ticket::from))
        })
        .await
    }

    /// The last tickets bumped from `board`, most recent first.
    pub(crate) async fn recall_list(
        &self,
        board: &Board,
    ) -> Result<Vec<RecalledTicket>, StoreError> {
        self.timed(async {
            let bumped: Vec<(i64, String)> = match board {
                Board::Station(station) => {
                    sqlx::query_as(&QUERIES.recall_station)
                        .bind(station)
                        .fetch_all(&self.pool)
                        .await?
                }
                Board::AllStations => {
                    sqlx::query_as(&QUERIES.recall_all_stations)
                        .fetch_all(&self.pool)
                        .await?
                }
                Board::Expo => {
                    sqlx::query_as(&QUERIES.recall_expo)
                        .fetch_all(&self.pool)
                        .await?
                }
            };
            let ids: Vec<i64> = bumped.iter().map(|(id, _)| *id).collect();
            let rows: Vec<TicketRow> = sqlx::query_as(&QUERIES.tickets_by_event_id)
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?;
            let mut tickets: std::collections::HashMap<i64, Ticket> = rows
                .into_iter()
                .map(|row| (row.event_id, Ticket::from(row)))
                .collect();
            Ok(bumped
                .into_iter()
                .filter_map(|(id, bumped_at)| {
                    Some(RecalledTicket {
                        ticket: tickets.remove(&id)?,
                        bumped_at,
                    })
                })
                .collect())
        })
        .await
    }

    /// Orders per hour and ticket times per station over `range`.
    pub(crate) async fn day_summary(
        &self,
        range: &DayRange,
    ) -> Result<(Vec<HourCount>, Vec<StationTicketTimes>), StoreError> {
        let from = range.from.to_rfc3339();
        let to = range.to.to_rfc3339();
        self.timed(async {
            let hours: Vec<(f64, i64)> = sqlx::query_as(
                "SELECT extract(epoch FROM date_trunc('hour', received_at))::float8, count(*) \
                 FROM orders WHERE received_at >= $1::timestamptz AND received_at < $2::timestamptz \
                 GROUP BY 1",
            )
            .bind(&from)
            .bind(&to)
            .fetch_all(&self.pool)
            .await?;
            let times: Vec<(String, i64, f64, f64)> = sqlx::query_as(&QUERIES.ticket_times)
                .bind(&from)
                .bind(&to)
                .fetch_all(&self.pool)
                .await?;
            let hours = fill_hours(
                range,
                hours.into_iter().filter_map(|(epoch, count)| {
                    Some((DateTime::<Utc>::from_timestamp(epoch as i64, 0)?, count))
                }),
            );
            let times = times
                .into_iter()
                .map(
                    |(station, tickets, median_secs, p90_secs)| StationTicketTimes {
                        station,
                        tickets,
                        median_secs,
                        p90_secs,
                    },
                )
                .collect();
            Ok((hours, times))
        })
        .await
    }

    /// Makes the change `request` asks for, once per `idempotency_key`.
    pub(crate) async fn change_tickets(
        &self,
        request: &ChangeRequest,
        idempotency_key: Option<&str>,
    ) -> Result<ChangeOutcome, ChangeError> {
        let mut attempt = 1;
        loop {
            let result =
                tokio::time::timeout(self.timeout, self.try_change(request, idempotency_key))
                    .await
                    .unwrap_or(Err(ChangeError::Store(StoreError::TimedOut(self.timeout))));
            match result {
                Err(ChangeError::Store(StoreError::Unavailable(sqlx::Error::Database(error))))
                    if attempt < ATTEMPTS
                        && matches!(error.code().as_deref(), Some("40P01" | "40001")) =>
                {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "a ticket change is retried");
                }
                result => return result,
            }
        }
    }

    async fn try_change(
        &self,
        request: &ChangeRequest,
        idempotency_key: Option<&str>,
    ) -> Result<ChangeOutcome, ChangeError> {
        let fingerprint = request.fingerprint();
        let mut transaction = self.pool.begin().await?;
        if let Some(key) = idempotency_key
            && let Some(outcome) = earlier_answer(&mut transaction, key, &fingerprint).await?
        {
            return Ok(outcome);
        }
        let (event_id, at): (i64, String) = sqlx::query_as(&QUERIES.change_id)
            .fetch_one(&mut *transaction)
            .await?;
        let effect = match request {
            ChangeRequest::BumpItem { order_id, position } => {
                bump_item(&mut transaction, event_id, order_id, *position).await?
            }
            ChangeRequest::BumpOrder { order_id, station } => {
                bump_order(&mut transaction, event_id, order_id, station.as_deref()).await?
            }
            ChangeRequest::BumpBatch { station, item } => {
                bump_batch(&mut transaction, event_id, station, item).await?
            }
            ChangeRequest::HandOver { order_id } => {
                hand_over(&mut transaction, event_id, order_id).await?
            }
            ChangeRequest::Recall { order_id, scope } => {
                recall(&mut transaction, order_id, scope).await?
            }
            ChangeRequest::Undo { change_id } => undo(&mut transaction, *change_id).await?,
        };
        let effect = match effect {
            Ok(effect) => effect,
            Err(unchanged) => {
                transaction.rollback().await?;
                return Ok(ChangeOutcome::Unchanged(unchanged));
            }
        };
        let reopened: Vec<TicketRow> = if effect.reopened.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(&QUERIES.tickets_by_event_id)
                .bind(&effect.reopened)
                .fetch_all(&mut *transaction)
                .await?
        };
        let kind = request.kind();
        let change = Change {
            event_id,
            kind,
            at,
            station: effect.station,
            item: effect.item,
            order_id: effect.order_id,
            undoes: effect.undoes,
            done: effect.done,
            lines: effect.lines,
            handed_over: effect.handed_over,
            reopened: reopened.into_iter().map(Ticket::from).collect(),
        };
        let data = change.to_json();
        let recorded: Option<i64> = sqlx::query_scalar(
            "INSERT INTO ticket_changes (event_id, kind, data, payload_bytes, idempotency_key, \
                                         request, undoable) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING event_id",
        )
        .bind(event_id)
        .bind(kind.as_str())
        .bind(&data)
        .bind(i32::try_from(data.len()).unwrap_or(i32::MAX))
        .bind(idempotency_key)
        .bind(&fingerprint)
        .bind(kind.undoable())
        .fetch_optional(&mut *transaction)
        .await?;
        let Some(_) = recorded else {
            // The same request, sent again while the first was in flight, was recorded first.
            transaction.rollback().await?;
            let key = idempotency_key.expect("only a key conflicts");
            let mut connection = self.pool.acquire().await?;
            return earlier_answer(&mut connection, key, &fingerprint)
                .await?
                .ok_or_else(|| ChangeError::Conflict("the request was retried at once".into()));
        };
        if let Some(undone) = change.undoes {
            sqlx::query("UPDATE ticket_changes SET undone_by = $1 WHERE event_id = $2")
                .bind(event_id)
                .bind(undone)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(ChangeOutcome::Made(data))
    }
}

/// The answer given to the first request with `key`, if there was one.
async fn earlier_answer(
    connection: &mut PgConnection,
    key: &str,
    fingerprint: &str,
) -> Result<Option<ChangeOutcome>, ChangeError> {
    let earlier: Option<(String, String)> =
        sqlx::query_as("SELECT request, data FROM ticket_changes WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&mut *connection)
            .await?;
    match earlier {
        Some((request, data)) if request == fingerprint => Ok(Some(ChangeOutcome::Made(data))),
        Some(_) => Err(ChangeError::KeyReused),
        None => Ok(None),
    }
}

/// Either what the change did, or why nothing had to change.
type Applied = Result<Effect, String>;

async fn lock_order(
    connection: &mut PgConnection,
    order_id: &str,
) -> Result<LockedOrder, ChangeError> {
    let row: Option<(i64, bool)> = sqlx::query_as(
        "SELECT event_id, handed_over_by IS NOT NULL FROM orders WHERE order_id = $1 FOR UPDATE",
    )
    .bind(order_id)
    .fetch_optional(&mut *connection)
    .await?;
    let (event_id, handed_over) =
        row.ok_or_else(|| ChangeError::NotFound(format!("no order {order_id:?}")))?;
    Ok(LockedOrder {
        event_id,
        handed_over,
    })
}

/// An order that a bump may touch: known, and not handed over.
async fn lock_open_order(
    connection: &mut PgConnection,
    order_id: &str,
) -> Result<LockedOrder, ChangeError> {
    let order = lock_order(connection, order_id).await?;
    if order.handed_over {
        return Err(ChangeError::Conflict(format!(
            "order {order_id:?} was handed over; recall it first"
        )));
    }
    Ok(order)
}

fn lines_of(order_id: &str, mut positions: Vec<i32>) -> Vec<LineRef> {
    positions.sort_unstable();
    positions
        .into_iter()
        .map(|position| LineRef {
            order_id: order_id.to_owned(),
            position,
        })
        .collect()
}

async fn bump_item(
    connection: &mut PgConnection,
    change: i64,
    order_id: &str,
    position: i32,
) -> Result<Applied, ChangeError> {
    let order = lock_open_order(connection, order_id).await?;
    let item: Option<bool> = sqlx::query_scalar(
        "SELECT done_by IS NOT NULL FROM order_items WHERE event_id = $1 AND position = $2",
    )
    .bind(order.event_id)
    .bind(position)
    .fetch_optional(&mut *connection)
    .await?;
    match item {
        None => Err(ChangeError::NotFound(format!(
            "order {order_id:?} has no item at position {position}"
        ))),
        Some(true) => Ok(Err("the item is already done".into())),
        Some(false) => {
            sqlx::query(
                "UPDATE order_items SET done_by = $1, done_at = now() \
                 WHERE event_id = $2 AND position = $3",
            )
            .bind(change)
            .bind(order.event_id)
            .bind(position)
            .execute(&mut *connection)
            .await?;
            Ok(Ok(Effect {
                order_id: Some(order_id.to_owned()),
                done: true,
                lines: lines_of(order_id, vec![position]),
                ..Effect::default()
            }))
        }
    }
}

async fn bump_order(
    connection: &mut PgConnection,
    change: i64,
    order_id: &str,
    station: Option<&str>,
) -> Result<Applied, ChangeError> {
    let order = lock_open_order(connection, order_id).await?;
    let positions: Vec<i32> = sqlx::query_scalar(
        "UPDATE order_items SET done_by = $1, done_at = now() \
         WHERE event_id = $2 AND ($3::text IS NULL OR station_name = $3) AND done_by IS NULL \
         RETURNING position",
    )
    .bind(change)
    .bind(order.event_id)
    .bind(station)
    .fetch_all(&mut *connection)
    .await?;
    if positions.is_empty() {
        let has_items: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM order_items \
                            WHERE event_id = $1 AND ($2::text IS NULL OR station_name = $2))",
        )
        .bind(order.event_id)
        .bind(station)
        .fetch_one(&mut *connection)
        .await?;
        return match (has_items, station) {
            (false, Some(station)) => Err(ChangeError::NotFound(format!(
                "order {order_id:?} has no items at station {station:?}"
            ))),
            _ => Ok(Err("the ticket's items are already done".into())),
        };
    }
    Ok(Ok(Effect {
        station: station.map(str::to_owned),
        order_id: Some(order_id.to_owned()),
        done: true,
        lines: lines_of(order_id, positions),
        ..Effect::default()
    }))
}

async fn bump_batch(
    connection: &mut PgConnection,
    change: i64,
    station: &str,
    item: &str,
) -> Result<Applied, ChangeError> {
    let lines: Vec<(String, i32)> = sqlx::query_as(
        "WITH target AS ( \
             SELECT i.event_id, i.position FROM order_items i JOIN orders o USING (event_id) \
             WHERE i.station_name = $1 AND i.item_name = $2 AND i.done_by IS NULL \
               AND o.handed_over_by IS NULL \
             ORDER BY i.event_id, i.position FOR UPDATE OF i) \
         UPDATE order_items u SET done_by = $3, done_at = now() \
         FROM target, orders o \
         WHERE u.event_id = target.event_id AND u.position = target.position \
           AND o.event_id = u.event_id \
         RETURNING o.order_id, u.position",
    )
    .bind(station)
    .bind(item)
    .bind(change)
    .fetch_all(&mut *connection)
    .await?;
    if lines.is_empty() {
        return Err(ChangeError::NotFound(format!(
            "no open ticket has {item:?} at station {station:?}"
        )));
    }
    let mut lines: Vec<LineRef> = lines
        .into_iter()
        .map(|(order_id, position)| LineRef { order_id, position })
        .collect();
    lines.sort_by(|a, b| (&a.order_id, a.position).cmp(&(&b.order_id, b.position)));
    Ok(Ok(Effect {
        station: Some(station.to_owned()),
        item: Some(item.to_owned()),
        done: true,
        lines,
        ..Effect::default()
    }))
}

async fn hand_over(
    connection: &mut PgConnection,
    change: i64,
    order_id: &str,
) -> Result<Applied, ChangeError> {
    let order = lock_order(connection, order_id).await?;
    if order.handed_over {
        return Ok(Err("the order is already handed over".into()));
    }
    sqlx::query(
        "UPDATE orders SET handed_over_by = $1, handed_over_at = now() WHERE event_id = $2",
    )
    .bind(change)
    .bind(order.event_id)
    .execute(&mut *connection)
    .await?;
    // Whatever expo hands over is done, so that an undo reopens exactly that.
    let positions: Vec<i32> = sqlx::query_scalar(
        "UPDATE order_items SET done_by = $1, done_at = now() \
         WHERE event_id = $2 AND done_by IS NULL RETURNING position",
    )
    .bind(change)
    .bind(order.event_id)
    .fetch_all(&mut *connection)
    .await?;
    Ok(Ok(Effect {
        order_id: Some(order_id.to_owned()),
        done: true,
        lines: lines_of(order_id, positions),
        handed_over: vec![order_id.to_owned()],
        ..Effect::default()
    }))
}

async fn recall(
    connection: &mut PgConnection,
    order_id: &str,
    scope: &RecallScope,
) -> Result<Applied, ChangeError> {
    let order = lock_order(connection, order_id).await?;
    let station = match scope {
        RecallScope::Station(station) => Some(station.as_str()),
        RecallScope::Expo | RecallScope::AllStations => None,
    };
    if let Some(station) = station {
        let has_items: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM order_items WHERE event_id = $1 AND station_name = $2)",
        )
        .bind(order.event_id)
        .bind(station)
        .fetch_one(&mut *connection)
        .await?;
        if !has_items {
            return Err(ChangeError::NotFound(format!(
                "order {order_id:?} has no items at station {station:?}"
            )));
        }
    }
    let positions: Vec<i32> = if *scope == RecallScope::Expo {
        Vec::new()
    } else {
        sqlx::query_scalar(
            "UPDATE order_items SET done_by = NULL, done_at = NULL \
             WHERE event_id = $1 AND ($2::text IS NULL OR station_name = $2) \
               AND done_by IS NOT NULL \
             RETURNING position",
        )
        .bind(order.event_id)
        .bind(station)
        .fetch_all(&mut *connection)
        .await?
    };
    if order.handed_over {
        sqlx::query(
            "UPDATE orders SET handed_over_by = NULL, handed_over_at = NULL WHERE event_id = $1",
        )
        .bind(order.event_id)
        .execute(&mut *connection)
        .await?;
    } else if positions.is_empty() {
        return Ok(Err("nothing to recall: the ticket is open".into()));
    }
    Ok(Ok(Effect {
        station: station.map(str::to_owned),
        order_id: Some(order_id.to_owned()),
        done: false,
        lines: lines_of(order_id, positions),
        reopened: vec![order.event_id],
        ..Effect::default()
    }))
}

async fn undo(connection: &mut PgConnection, undone: i64) -> Result<Applied, ChangeError> {
    let target: Option<(String, bool, Option<i64>)> = sqlx::query_as(
        "SELECT kind, undoable, undone_by FROM ticket_changes WHERE event_id = $1 FOR UPDATE",
    )
    .bind(undone)
    .fetch_optional(&mut *connection)
    .await?;
    let Some((kind, undoable, undone_by)) = target else {
        return Err(ChangeError::NotFound(format!("no change {undone}")));
    };
    if !undoable {
        return Err(ChangeError::Conflict(format!("a {kind} cannot be undone")));
    }
    if undone_by.is_some() {
        return Ok(Err("the change is already undone".into()));
    }
    // Orders first, then items, as every other change locks them.
    let handed_over: Vec<i64> = sqlx::query_scalar(
        "UPDATE orders SET handed_over_by = NULL, handed_over_at = NULL \
         WHERE handed_over_by = $1 RETURNING event_id",
    )
    .bind(undone)
    .fetch_all(&mut *connection)
    .await?;
    let lines: Vec<(i64, String, i32)> = sqlx::query_as(
        "WITH target AS ( \
             SELECT event_id, position FROM order_items WHERE done_by = $1 \
             ORDER BY event_id, position FOR UPDATE) \
         UPDATE order_items u SET done_by = NULL, done_at = NULL \
         FROM target, orders o \
         WHERE u.event_id = target.event_id AND u.position = target.position \
           AND o.event_id = u.event_id \
         RETURNING o.event_id, o.order_id, u.position",
    )
    .bind(undone)
    .fetch_all(&mut *connection)
    .await?;
    if handed_over.is_empty() && lines.is_empty() {
        return Ok(Err(
            "nothing left to undo: its tickets have changed since".into()
        ));
    }
    let mut reopened: Vec<i64> = handed_over;
    reopened.extend(lines.iter().map(|(event_id, _, _)| *event_id));
    reopened.sort_unstable();
    reopened.dedup();
    let mut lines: Vec<LineRef> = lines
        .into_iter()
        .map(|(_, order_id, position)| LineRef { order_id, position })
        .collect();
    lines.sort_by(|a, b| (&a.order_id, a.position).cmp(&(&b.order_id, b.position)));
    Ok(Ok(Effect {
        undoes: Some(undone),
        done: false,
        lines,
        reopened,
        ..Effect::default()
    }))
}
