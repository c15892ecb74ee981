//! Backfill after history loss: re-sends every order inserted since a time by querying the
//! orders collection, through the same pipeline as the stream (so with the same limits, dead
//! letters and concurrency). The kitchen ignores orders it already has.
//!
//! Orders are found by the creation time in their ObjectId `_id`, or by a configured date field.
//! The listener fixes the stream's position before the backfill starts and continues from it
//! after, so that an order inserted meanwhile is found by one or the other (or both: a repeat).

use crate::extract::{PROJECTED_FIELDS, inserted_at, order_id_of};
use crate::listener::InsertedOrder;
use crate::pipeline::{Handled, OrderPipeline};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use mongodb::Collection;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::{ReadPreference, SelectionCriteria};
use shared_patterns::{CancellationToken, HealthReporter};

/// Which orders to re-send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackfillRange {
    /// Orders inserted at or after this time.
    pub(crate) since: DateTime<Utc>,
    /// The date field telling when an order was inserted; `None`: the ObjectId `_id`'s time.
    pub(crate) timestamp_field: Option<String>,
}

impl BackfillRange {
    /// The query's filter and sort order (pure).
    pub(crate) fn query(&self) -> (Document, Document) {
        match &self.timestamp_field {
            None => {
                let seconds = u32::try_from(self.since.timestamp().max(0)).unwrap_or(u32::MAX);
                let mut first = [0_u8; 12];
                first[..4].copy_from_slice(&seconds.to_be_bytes());
                (
                    doc! { "_id": { "$gte": ObjectId::from_bytes(first) } },
                    doc! { "_id": 1 },
                )
            }
            // Unsorted: a sort on a field without an index could exceed the server's in-memory
            // sort limit, and the order of a backfill does not matter.
            Some(field) => (
                doc! { field: { "$gte": bson::DateTime::from_millis(self.since.timestamp_millis()) } },
                doc! {},
            ),
        }
    }

    /// The fields the query returns: those extraction reads, and the timestamp field.
    fn projection(&self) -> Document {
        let mut projection = doc! { "_id": 1 };
        for field in PROJECTED_FIELDS {
            projection.insert(field, 1);
        }
        if let Some(field) = &self.timestamp_field {
            projection.insert(field, 1);
        }
        projection
    }

    /// When `document` was inserted: its timestamp field, else its ObjectId's time, else `now`.
    fn inserted_at(&self, document: &Document, now: DateTime<Utc>) -> DateTime<Utc> {
        let wall_time = self
            .timestamp_field
            .as_deref()
            .and_then(|field| document.get_datetime(field).ok().copied());
        inserted_at(wall_time, document.get("_id"), None, now)
    }
}

/// What a backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BackfillReport {
    /// Documents found.
    pub(crate) found: u64,
    /// Of those, delivered (or already in the kitchen).
    pub(crate) sent: u64,
    /// Of those, dead-lettered.
    pub(crate) dead_lettered: u64,
}

/// Why a backfill did not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackfillError {
    /// The query failed.
    #[error("backfill query: {0}")]
    Query(#[from] mongodb::error::Error),
    /// A dead-letter write failed.
    #[error("backfill, order {order_id}: {source}")]
    DeadLetter {
        order_id: String,
        source: crate::dead_letter::DeadLetterError,
    },
    /// Shutting down (or the lease was lost) before it finished.
    #[error("backfill cancelled")]
    Cancelled,
}

/// Re-sends the orders of `range` from `orders` through `pipeline`, `max_in_flight` at once.
pub(crate) async fn backfill(
    orders: &Collection<Document>,
    range: &BackfillRange,
    pipeline: &OrderPipeline,
    max_in_flight: usize,
    health: &HealthReporter,
    cancel: &CancellationToken,
) -> Result<BackfillReport, BackfillError> {
    let (filter, sort) = range.query();
    // From the primary: a lagging secondary could miss orders the stream's position is past.
    let mut cursor = orders
        .find(filter)
        .sort(sort)
        .projection(range.projection())
        .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
        .await?;
    let mut report = BackfillReport::default();
    let mut in_flight = FuturesUnordered::new();
    let mut exhausted = false;
    loop {
        if exhausted && in_flight.is_empty() {
            return Ok(report);
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(BackfillError::Cancelled),
            Some(handled) = in_flight.next() => match handled? {
                Handled::Sent => report.sent += 1,
                Handled::DeadLettered => report.dead_lettered += 1,
                Handled::Cancelled => return Err(BackfillError::Cancelled),
            },
            next = cursor.next(), if !exhausted && in_flight.len() < max_in_flight => match next {
                None => exhausted = true,
                Some(document) => {
                    let document = document?;
                    report.found += 1;
                    let key = document.get("_id").cloned().unwrap_or(Bson::Null);
                    let order = InsertedOrder {
                        order_id: order_id_of(&key),
                        inserted_at: range.inserted_at(&document, Utc::now()),
                        key,
                        document: Ok(document),
                    };
                    in_flight.push(async move {
                        pipeline.handle(&order, health, cancel).await.map_err(|source| {
                            BackfillError::DeadLetter { order_id: order.order_id.clone(), source }
                        })
                    });
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn by_default_orders_are_found_by_their_object_id_time() {
        let since = Utc.timestamp_opt(1_739_444_187, 0).unwrap();
        let range = BackfillRange {
            since,
            timestamp_field: None,
        };
        let (filter, sort) = range.query();
        let first = filter
            .get_document("_id")
            .unwrap()
            .get_object_id("$gte")
            .unwrap();
        assert_eq!(first.to_hex(), "67adcfdb0000000000000000");
        assert_eq!(first.timestamp().timestamp_millis(), 1_739_444_187_000);
        assert_eq!(sort, doc! { "_id": 1 });
        // An ObjectId made in that second is found; one of the second before is not.
        assert!(ObjectId::parse_str("67adcfdb15da8840bc9673bd").unwrap() >= first);
        assert!(ObjectId::parse_str("67adcfdaffffffffffffffff").unwrap() < first);
    }

    #[test]
    fn with_a_timestamp_field_orders_are_found_and_dated_by_it() {
        let since = Utc.timestamp_millis_opt(1_739_444_187_756).unwrap();
        let range = BackfillRange {
            since,
            timestamp_field: Some("CreatedAt".into()),
        };
        let (filter, sort) = range.query();
        assert_eq!(
            filter,
            doc! { "CreatedAt": { "$gte": bson::DateTime::from_millis(1_739_444_187_756) } }
        );
        assert_eq!(sort, doc! {});
        assert_eq!(range.projection().get_i32("CreatedAt"), Ok(1));
        let document =
            doc! { "_id": "x", "CreatedAt": bson::DateTime::from_millis(1_739_444_188_000) };
        assert_eq!(
            range.inserted_at(&document, Utc::now()).timestamp_millis(),
            1_739_444_188_000
        );
    }
}
