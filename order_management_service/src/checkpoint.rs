//! The change stream's checkpoint: the resume token of the last event fully handled, stored in
//! MongoDB in a collection keyed by consumer name.

use crate::mongo_writes::{is_duplicate_key, majority_within, within};
use chrono::{DateTime, TimeZone, Utc};
use mongodb::Collection;
use mongodb::bson::{self, Document, doc};
use mongodb::change_stream::event::ResumeToken;
use std::time::Duration;

/// Why the checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    /// MongoDB failed.
    #[error("checkpoint store: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// MongoDB did not answer in time.
    #[error("checkpoint store: no answer within {0:?}")]
    TimedOut(Duration),
    /// An instance with a newer lease has written the checkpoint: this one is no longer active.
    #[error("checkpoint of consumer {consumer:?} was written under a newer lease than {token}")]
    Fenced {
        /// The consumer name.
        consumer: String,
        /// This instance's fencing token.
        token: i64,
    },
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

    /// The consumer's name.
    pub(crate) fn consumer(&self) -> &str {
        &self.consumer
    }

    async fn within<T>(
        &self,
        operation: impl std::future::IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, CheckpointError> {
        within(self.timeout, operation, CheckpointError::TimedOut).await
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

    /// Stores `token` as the consumer's position, under the lease whose fencing token is
    /// `lease_token`: refused ([`CheckpointError::Fenced`]) once a newer lease has written.
    /// `last_order_id` (the order whose event the token follows, if any) is kept for operators.
    pub(crate) async fn save(
        &self,
        token: &ResumeToken,
        last_order_id: Option<&str>,
        now: DateTime<Utc>,
        lease_token: i64,
    ) -> Result<(), CheckpointError> {
        let token = bson::to_bson(token).map_err(|error| CheckpointError::Malformed {
            consumer: self.consumer.clone(),
            reason: error.to_string(),
        })?;
        let mut document = doc! {
            "_id": &self.consumer,
            "resume_token": token,
            "saved_at": bson::DateTime::from_millis(now.timestamp_millis()),
            "lease_token": lease_token,
        };
        if let Some(order_id) = last_order_id {
            document.insert("last_order_id", order_id);
        }
        let not_newer = doc! {
            "_id": &self.consumer,
            "$or": [
                { "lease_token": { "$exists": false } },
                { "lease_token": { "$lte": lease_token } },
            ],
        };
        let saved = self
            .within(
                self.collection
                    .replace_one(not_newer, document)
                    .upsert(true)
                    .write_concern(majority_within(self.timeout)),
            )
            .await;
        match saved {
            Err(CheckpointError::Mongo(error)) if is_duplicate_key(&error) => {
                Err(CheckpointError::Fenced {
                    consumer: self.consumer.clone(),
                    token: lease_token,
                })
            }
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::Client;
    use test_support::{MongoTestServer, unique_name};

    /// A store on a fresh database of a real MongoDB-compatible server (kept alive by the
    /// returned server handle).
    async fn store() -> (MongoTestServer, CheckpointStore) {
        let server = MongoTestServer::start().expect("a MongoDB-compatible server");
        let client = Client::with_uri_str(server.uri()).await.unwrap();
        let collection = client
            .database(&unique_name("checkpoints"))
            .collection("order_stream_checkpoints");
        let store = CheckpointStore::new(collection, "consumer", Duration::from_secs(10));
        (server, store)
    }

    fn token(n: i32) -> ResumeToken {
        bson::from_bson(bson::Bson::Document(doc! { "_data": format!("token-{n}") })).unwrap()
    }

    #[tokio::test]
    async fn a_saved_position_is_loaded_back() {
        let (_server, store) = store().await;
        assert_eq!(store.load().await.unwrap(), None);
        let now = Utc.timestamp_millis_opt(1_739_444_187_756).unwrap();
        store
            .save(&token(1), Some("order-1"), now, 1)
            .await
            .unwrap();
        let loaded = store.load().await.unwrap().expect("a checkpoint");
        assert_eq!((loaded.token, loaded.saved_at), (token(1), now));
    }

    #[tokio::test]
    async fn a_write_under_an_older_lease_is_refused_and_changes_nothing() {
        let (_server, store) = store().await;
        let now = Utc::now();
        store.save(&token(1), None, now, 1).await.unwrap();
        store.save(&token(2), None, now, 2).await.unwrap();
        let fenced = store.save(&token(3), None, now, 1).await.unwrap_err();
        assert!(
            matches!(fenced, CheckpointError::Fenced { token: 1, .. }),
            "{fenced}"
        );
        assert_eq!(store.load().await.unwrap().unwrap().token, token(2));
        // The current holder, and a newer one, write on.
        store.save(&token(4), None, now, 2).await.unwrap();
        store.save(&token(5), None, now, 3).await.unwrap();
        assert_eq!(store.load().await.unwrap().unwrap().token, token(5));
    }
}
