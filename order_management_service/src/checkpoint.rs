//! The change stream's checkpoint: the resume token of the last event fully handled, stored in
//! MongoDB in a collection keyed by consumer name.

use chrono::{DateTime, TimeZone, Utc};
use mongodb::Collection;
use mongodb::bson::{self, Document, doc};
use mongodb::change_stream::event::ResumeToken;
use mongodb::options::{Acknowledgment, WriteConcern};
use std::time::Duration;

/// Majority write concern that gives up after `timeout` (`wtimeout`), so a write never waits for
/// a replica set that lost its majority.
pub(crate) fn majority_within(timeout: Duration) -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .w_timeout(timeout)
        .build()
}

/// Why the checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    /// MongoDB failed.
    #[error("checkpoint store: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// MongoDB did not answer in time.
    #[error("checkpoint store: no answer within {0:?}")]
    TimedOut(Duration),
    /// The stored document is not a checkpoint this service wrote.
    #[error("checkpoint of consumer {consumer:?} is malformed: {reason}")]
    Malformed {
        /// The consumer name.
        consumer: String,
        /// What is wrong.
        reason: String,
    },
}

/// A stored position in the change stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checkpoint {
    /// The resume token to reopen the stream after.
    pub token: ResumeToken,
    /// When it was stored.
    pub saved_at: DateTime<Utc>,
}

/// Reads and writes one consumer's checkpoint. Writes use majority write concern, so a stored
/// position survives a replica-set failover.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointStore {
    collection: Collection<Document>,
    consumer: String,
    timeout: Duration,
}

impl CheckpointStore {
    /// The checkpoint of `consumer` in `collection`; each read or write waits at most
    /// `timeout` (also the write concern's `wtimeout`).
    pub(crate) fn new(
        collection: Collection<Document>,
        consumer: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            collection,
            consumer: consumer.into(),
            timeout,
        }
    }

    async fn within<T>(
        &self,
        operation: impl std::future::IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, CheckpointError> {
        tokio::time::timeout(self.timeout, operation.into_future())
            .await
            .map_err(|_| CheckpointError::TimedOut(self.timeout))?
            .map_err(CheckpointError::from)
    }

    /// The consumer's name.
    pub(crate) fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The stored checkpoint, if any.
    pub(crate) async fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let Some(stored) = self
            .within(self.collection.find_one(doc! { "_id": &self.consumer }))
            .await?
        else {
            return Ok(None);
        };
        let malformed = |reason: String| CheckpointError::Malformed {
            consumer: self.consumer.clone(),
            reason,
        };
        let token = stored
            .get("resume_token")
            .cloned()
            .ok_or_else(|| malformed("no resume_token".into()))?;
        let token: ResumeToken =
            bson::from_bson(token).map_err(|error| malformed(error.to_string()))?;
        let saved_at = stored
            .get_datetime("saved_at")
            .ok()
            .and_then(|time| Utc.timestamp_millis_opt(time.timestamp_millis()).single())
            .ok_or_else(|| malformed("no saved_at".into()))?;
        Ok(Some(Checkpoint { token, saved_at }))
    }

    /// Stores `token` as the consumer's position. `last_order_id` (the order whose event the
    /// token follows, if any) is kept for operators.
    pub(crate) async fn save(
        &self,
        token: &ResumeToken,
        last_order_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), CheckpointError> {
        let token = bson::to_bson(token).map_err(|error| CheckpointError::Malformed {
            consumer: self.consumer.clone(),
            reason: error.to_string(),
        })?;
        let mut document = doc! {
            "_id": &self.consumer,
            "resume_token": token,
            "saved_at": bson::DateTime::from_millis(now.timestamp_millis()),
        };
        if let Some(order_id) = last_order_id {
            document.insert("last_order_id", order_id);
        }
        self.within(
            self.collection
                .replace_one(doc! { "_id": &self.consumer }, document)
                .upsert(true)
                .write_concern(majority_within(self.timeout)),
        )
        .await?;
        Ok(())
    }
}
