//! The lease: of the instances sharing a consumer name, one holds the lease and watches; the
//! others stand by and take over when it stops renewing.
//!
//! The lease is one document per consumer (`{_id: consumer, holder, token, expires_at}`) written
//! with majority write concern. Taking it increments `token`, the fencing token: every checkpoint
//! write carries it and is refused once a newer holder has written (see `checkpoint.rs`), so an
//! instance that was paused past its lease cannot move the position back. Expiry uses the
//! instances' clocks, which must agree to well within the lease's time to live.

use crate::mongo_writes::{is_duplicate_key, majority_within, within};
use chrono::{DateTime, TimeDelta, Utc};
use mongodb::Collection;
use mongodb::bson::{self, Document, doc};
use mongodb::options::ReturnDocument;
use std::time::Duration;
use tokio::time::Instant;

/// Why the lease could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeaseError {
    /// MongoDB failed.
    #[error("lease store: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// MongoDB did not answer in time.
    #[error("lease store: no answer within {0:?}")]
    TimedOut(Duration),
    /// The stored document is not a lease this service wrote.
    #[error("lease of consumer {consumer:?} is malformed: {reason}")]
    Malformed { consumer: String, reason: String },
}

/// A lease held by this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    /// The fencing token.
    pub(crate) token: i64,
    /// Until when it is surely ours (by this machine's monotonic clock).
    pub(crate) valid_until: Instant,
}

/// The outcome of trying to take the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Ours now.
    Taken(Lease),
    /// Another instance holds it until `expires_at`.
    HeldBy {
        holder: String,
        expires_at: DateTime<Utc>,
    },
}

/// The lease's timing (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseTiming {
    /// How long a lease lasts without renewal.
    pub(crate) ttl: Duration,
}

impl LeaseTiming {
    /// How often the holder renews: three chances before it expires.
    pub(crate) fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// How often a standby instance tries to take the lease.
    pub(crate) fn standby_poll(&self) -> Duration {
        (self.ttl / 6).min(Duration::from_secs(1))
    }

    /// Whether a holder whose renewals keep failing must step down now: the next renewal
    /// would come after its lease may have expired.
    pub(crate) fn must_step_down(&self, valid_until: Instant, now: Instant) -> bool {
        now + self.renew_every() >= valid_until
    }
}

/// Reads and writes one consumer's lease.
#[derive(Debug, Clone)]
pub(crate) struct LeaseStore {
    collection: Collection<Document>,
    consumer: String,
    holder: String,
    timing: LeaseTiming,
    timeout: Duration,
}

impl LeaseStore {
    /// The lease of `consumer` in `collection`, taken as `holder`; each operation waits at most
    /// `timeout`.
    pub(crate) fn new(
        collection: Collection<Document>,
        consumer: impl Into<String>,
        holder: impl Into<String>,
        timing: LeaseTiming,
        timeout: Duration,
    ) -> Self {
        Self {
            collection,
            consumer: consumer.into(),
            holder: holder.into(),
            timing,
            timeout,
        }
    }

    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    pub(crate) fn timing(&self) -> LeaseTiming {
        self.timing
    }

    async fn within<T>(
        &self,
        operation: impl std::future::IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<T, LeaseError> {
        within(self.timeout, operation, LeaseError::TimedOut).await
    }

    fn expiry(&self, now: DateTime<Utc>) -> bson::DateTime {
        let ttl = TimeDelta::from_std(self.timing.ttl).unwrap_or(TimeDelta::MAX);
        bson::DateTime::from_millis((now + ttl).timestamp_millis())
    }

    /// Takes the lease if it is free, expired, or held under this instance's own name (a restart
    /// of the same instance); the fencing token grows with each taking.
    pub(crate) async fn try_take(&self) -> Result<Attempt, LeaseError> {
        let started = Instant::now();
        let now = Utc::now();
        let taken = self
            .within(
                self.collection
                    .find_one_and_update(
                        doc! {
                            "_id": &self.consumer,
                            "$or": [
                                { "expires_at": { "$lt": bson::DateTime::from_millis(now.timestamp_millis()) } },
                                { "holder": &self.holder },
                            ],
                        },
                        doc! {
                            "$set": {
                                "holder": &self.holder,
                                "expires_at": self.expiry(now),
                                "taken_at": bson::DateTime::from_millis(now.timestamp_millis()),
                            },
                            "$inc": { "token": 1_i64 },
                        },
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .write_concern(majority_within(self.timeout)),
            )
            .await;
        match taken {
            Ok(Some(lease)) => Ok(Attempt::Taken(Lease {
                token: self.token_of(&lease)?,
                valid_until: started + self.timing.ttl,
            })),
            Ok(None) => Err(self.malformed("the upsert returned no document".into())),
            // The lease exists and is someone else's: the upsert collided with it.
            Err(LeaseError::Mongo(error)) if is_duplicate_key(&error) => {
                self.current_holder().await
            }
            Err(error) => Err(error),
        }
    }

    async fn current_holder(&self) -> Result<Attempt, LeaseError> {
        let lease = self
            .within(self.collection.find_one(doc! { "_id": &self.consumer }))
            .await?
            .ok_or_else(|| self.malformed("the lease vanished".into()))?;
        let holder = lease.get_str("holder").unwrap_or("?").to_owned();
        let expires_at = lease
            .get_datetime("expires_at")
            .ok()
            .and_then(|time| DateTime::from_timestamp_millis(time.timestamp_millis()))
            .ok_or_else(|| self.malformed("no expires_at".into()))?;
        Ok(Attempt::HeldBy { holder, expires_at })
    }

    fn token_of(&self, lease: &Document) -> Result<i64, LeaseError> {
        lease
            .get_i64("token")
            .or_else(|_| lease.get_i32("token").map(i64::from))
            .map_err(|error| self.malformed(format!("token: {error}")))
    }

    fn malformed(&self, reason: String) -> LeaseError {
        LeaseError::Malformed {
            consumer: self.consumer.clone(),
            reason,
        }
    }

    /// Extends `lease`. `Ok(false)` when it is no longer ours (another instance took it).
    pub(crate) async fn renew(&self, lease: &mut Lease) -> Result<bool, LeaseError> {
        let started = Instant::now();
        let renewed = self
            .within(
                self.collection
                    .update_one(
                        doc! { "_id": &self.consumer, "holder": &self.holder, "token": lease.token },
                        doc! { "$set": { "expires_at": self.expiry(Utc::now()) } },
                    )
                    .write_concern(majority_within(self.timeout)),
            )
            .await?;
        if renewed.matched_count == 1 {
            lease.valid_until = started + self.timing.ttl;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Gives `lease` up at once, so that a standby instance takes over without waiting for it to
    /// expire.
    pub(crate) async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        self.within(
            self.collection
                .update_one(
                    doc! { "_id": &self.consumer, "holder": &self.holder, "token": lease.token },
                    doc! { "$set": { "expires_at": bson::DateTime::from_millis(0) } },
                )
                .write_concern(majority_within(self.timeout)),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: LeaseTiming = LeaseTiming {
        ttl: Duration::from_secs(6),
    };

    #[test]
    fn the_holder_renews_three_times_per_lease_and_standbys_poll_at_most_every_second() {
        assert_eq!(TIMING.renew_every(), Duration::from_secs(2));
        assert_eq!(TIMING.standby_poll(), Duration::from_secs(1));
        let short = LeaseTiming {
            ttl: Duration::from_millis(600),
        };
        assert_eq!(short.standby_poll(), Duration::from_millis(100));
    }

    #[test]
    fn a_holder_steps_down_when_its_next_renewal_could_come_too_late() {
        let now = Instant::now();
        assert!(!TIMING.must_step_down(now + Duration::from_secs(6), now));
        assert!(!TIMING.must_step_down(now + Duration::from_millis(2_001), now));
        assert!(TIMING.must_step_down(now + Duration::from_secs(2), now));
        assert!(TIMING.must_step_down(now, now));
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use crate::test_mongo::collection;
    use test_support::MongoTestServer;

    /// Two instances' stores on one fresh database, with a 600 ms lease.
    async fn stores() -> (MongoTestServer, LeaseStore, LeaseStore) {
        let (server, collection) = collection("order_stream_leases").await;
        let timing = LeaseTiming {
            ttl: Duration::from_millis(600),
        };
        let store = |holder: &str| {
            LeaseStore::new(
                collection.clone(),
                "consumer",
                holder,
                timing,
                Duration::from_secs(10),
            )
        };
        (server, store("a"), store("b"))
    }

    fn taken(attempt: Attempt) -> Lease {
        match attempt {
            Attempt::Taken(lease) => lease,
            other => panic!("expected the lease, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn one_instance_holds_the_lease_until_it_expires_then_the_other_takes_it() {
        let (_server, a, b) = stores().await;
        let mut first = taken(a.try_take().await.unwrap());
        assert!(matches!(
            b.try_take().await.unwrap(),
            Attempt::HeldBy { holder, .. } if holder == "a"
        ));
        assert!(a.renew(&mut first).await.unwrap());
        tokio::time::sleep(Duration::from_millis(700)).await;
        let second = taken(b.try_take().await.unwrap());
        assert!(second.token > first.token, "{second:?} after {first:?}");
        // The first holder's lease is gone: its renewal says so.
        assert!(!a.renew(&mut first).await.unwrap());
    }

    #[tokio::test]
    async fn a_released_lease_is_taken_at_once_and_a_restart_takes_its_own_back() {
        let (_server, a, b) = stores().await;
        let first = taken(a.try_take().await.unwrap());
        // The same instance restarted: it takes its own lease back, under a new token.
        let again = taken(a.try_take().await.unwrap());
        assert!(again.token > first.token);
        a.release(&again).await.unwrap();
        let other = taken(b.try_take().await.unwrap());
        assert!(other.token > again.token);
    }
}
