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
    /// The fencing token of the lease it was written under (absent before leases existed).
    pub lease_token: Option<i64>,
    /// When the newest order it covers was inserted (the server's time), if it covers one.
    pub covered_through: Option<DateTime<Utc>>,
}

/// What a save stores besides the token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SaveContext<'a> {
    /// The order whose event the token follows, if any; kept for operators.
    pub last_order_id: Option<&'a str>,
    /// When the newest order the token covers was inserted.
    pub covered_through: Option<DateTime<Utc>>,
    /// Now.
    pub now: DateTime<Utc>,
    /// The fencing token of the lease the save is made under.
    pub lease_token: i64,
}

fn bson_time(time: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(time.timestamp_millis())
}

fn chrono_time(time: &bson::DateTime) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(time.timestamp_millis()).single()
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
            .and_then(chrono_time)
            .ok_or_else(|| malformed("no saved_at".into()))?;
        Ok(Some(Checkpoint {
            token,
            saved_at,
            lease_token: stored.get_i64("lease_token").ok(),
            covered_through: stored
                .get_datetime("covered_through")
                .ok()
                .and_then(chrono_time),
        }))
    }

    /// Stores `token` as the consumer's position, under the lease whose fencing token is
    /// `context.lease_token`: refused ([`CheckpointError::Fenced`]) once a newer lease has
    /// written.
    pub(crate) async fn save(
        &self,
        token: &ResumeToken,
        context: SaveContext<'_>,
    ) -> Result<(), CheckpointError> {
        let SaveContext {
            last_order_id,
            covered_through,
            now,
            lease_token,
        } = context;
        let token = bson::to_bson(token).map_err(|error| CheckpointError::Malformed {
            consumer: self.consumer.clone(),
            reason: error.to_string(),
        })?;
        let mut document = doc! {
            "_id": &self.consumer,
            "resume_token": token,
            "saved_at": bson_time(now),
            "lease_token": lease_token,
        };
        if let Some(order_id) = last_order_id {
            document.insert("last_order_id", order_id);
        }
        if let Some(covered_through) = covered_through {
            document.insert("covered_through", bson_time(covered_through));
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
    use crate::test_mongo::{collection, token};
    use test_support::MongoTestServer;

    async fn store() -> (MongoTestServer, CheckpointStore) {
        let (server, collection) = collection("order_stream_checkpoints").await;
        let store = CheckpointStore::new(collection, "consumer", Duration::from_secs(10));
        (server, store)
    }

    #[tokio::test]
    async fn a_saved_position_is_loaded_back() {
        let (_server, store) = store().await;
        assert_eq!(store.load().await.unwrap(), None);
        let now = Utc.timestamp_millis_opt(1_739_444_187_756).unwrap();
        let inserted = now - chrono::TimeDelta::seconds(3);
        let context = SaveContext {
            last_order_id: Some("order-1"),
            covered_through: Some(inserted),
            now,
            lease_token: 7,
        };
        store.save(&token(1), context).await.unwrap();
        let loaded = store.load().await.unwrap().expect("a checkpoint");
        let expected = Checkpoint {
            token: token(1),
            saved_at: now,
            lease_token: Some(7),
            covered_through: Some(inserted),
        };
        assert_eq!(loaded, expected);
    }

    #[tokio::test]
    async fn a_write_under_an_older_lease_is_refused_and_changes_nothing() {
        let (_server, store) = store().await;
        let under = |lease_token: i64| SaveContext {
            last_order_id: None,
            covered_through: None,
            now: Utc::now(),
            lease_token,
        };
        store.save(&token(1), under(1)).await.unwrap();
        store.save(&token(2), under(2)).await.unwrap();
        let fenced = store.save(&token(3), under(1)).await.unwrap_err();
        assert!(
            matches!(fenced, CheckpointError::Fenced { token: 1, .. }),
            "{fenced}"
        );
        assert_eq!(store.load().await.unwrap().unwrap().token, token(2));
        // The current holder, and a newer one, write on.
        store.save(&token(4), under(2)).await.unwrap();
        store.save(&token(5), under(3)).await.unwrap();
        assert_eq!(store.load().await.unwrap().unwrap().token, token(5));
    }
}
