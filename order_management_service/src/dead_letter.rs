//! The dead-letter collection: documents that cannot become valid orders, with the reason.

use chrono::{DateTime, Utc};
use mongodb::Collection;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::WriteConcern;

/// Why a document could not be dead-lettered.
#[derive(Debug, thiserror::Error)]
#[error("dead-letter write failed: {0}")]
pub struct DeadLetterError(#[from] mongodb::error::Error);

/// Which step refused the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectedBy {
    /// Extraction: the document cannot become a valid order.
    Extraction,
    /// The kitchen answered `INVALID_ARGUMENT`.
    Kitchen,
}

impl RejectedBy {
    fn as_str(self) -> &'static str {
        match self {
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
pub struct DeadLetterStore {
    collection: Collection<Document>,
}

impl DeadLetterStore {
    /// A store writing to `collection`.
    pub fn new(collection: Collection<Document>) -> Self {
        Self { collection }
    }

    /// Records that the document with `id` was refused by `rejected_by` for `reason`.
    pub async fn record(
        &self,
        id: &Bson,
        order_id: &str,
        rejected_by: RejectedBy,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DeadLetterError> {
        let entry = doc! {
            "_id": id.clone(),
            "order_id": order_id,
            "reason": reason,
            "rejected_by": rejected_by.as_str(),
            "dead_lettered_at": bson::DateTime::from_millis(now.timestamp_millis()),
        };
        self.collection
            .replace_one(doc! { "_id": id.clone() }, entry)
            .upsert(true)
            .write_concern(WriteConcern::majority())
            .await?;
        Ok(())
    }
}
