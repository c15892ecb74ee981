//! The dead-letter collection: documents that cannot become valid orders, with the reason.

use crate::extract::{MAX_SHOWN, shortened};
use crate::mongo_writes::{majority_within, within};
use chrono::{DateTime, Utc};
use mongodb::Collection;
use mongodb::bson::{self, Bson, Document, doc};
use std::time::Duration;

/// Why a document could not be dead-lettered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeadLetterError {
    /// MongoDB failed.
    #[error("dead-letter write failed: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// MongoDB did not answer in time.
    #[error("dead-letter write timed out after {0:?}")]
    TimedOut(Duration),
}

/// Which step refused the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RejectedBy {
    /// The change event cannot be decoded (invalid UTF-8, say).
    Decoding,
    /// Extraction: the document cannot become a valid order.
    Extraction,
    /// The kitchen refused it (`INVALID_ARGUMENT`, `OUT_OF_RANGE`, `FAILED_PRECONDITION`).
    Kitchen,
}

impl RejectedBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Decoding => "decoding",
            Self::Extraction => "extraction",
            Self::Kitchen => "kitchen",
        }
    }
}

/// Writes refused documents to the dead-letter collection.
///
/// Each entry is keyed by the original document's `_id`, so writing the same document twice (after
/// a restart re-reads its event) leaves one entry. The original stays in the orders collection.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetterStore {
    collection: Collection<Document>,
    write_timeout: Duration,
}

impl DeadLetterStore {
    /// A store writing to `collection`; each write waits at most `write_timeout` (also the
    /// write concern's `wtimeout`).
    pub(crate) fn new(collection: Collection<Document>, write_timeout: Duration) -> Self {
        Self {
            collection,
            write_timeout,
        }
    }

    /// Records that the document with `id` was refused by `rejected_by` for `reason`.
    pub(crate) async fn record(
        &self,
        id: &Bson,
        order_id: &str,
        rejected_by: RejectedBy,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DeadLetterError> {
        // The id is shortened: an `_id` that makes too long an order id is one reason for the
        // entry, and must not make the entry itself too large.
        let entry = doc! {
            "_id": id.clone(),
            "order_id": shortened(order_id, MAX_SHOWN),
            "reason": reason,
            "rejected_by": rejected_by.as_str(),
            "dead_lettered_at": bson::DateTime::from_millis(now.timestamp_millis()),
        };
        let write = self
            .collection
            .replace_one(doc! { "_id": id.clone() }, entry)
            .upsert(true)
            .write_concern(majority_within(self.write_timeout));
        within(self.write_timeout, write, DeadLetterError::TimedOut).await?;
        Ok(())
    }
}
