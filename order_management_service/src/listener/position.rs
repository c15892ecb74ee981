//! The stream's position: where to (re)open the change stream, and when to store it.
//!
//! [`PositionKeeper`] owns both the position in memory (moved by every finalized event, and used
//! to reopen the stream) and its saving (the checkpoint), following [`CheckpointPolicy`]. The
//! position in memory is always set before a save is attempted, so a failing save never moves
//! the stream past orders it has not handled.

use crate::checkpoint::{CheckpointError, CheckpointStore, SaveContext};
use crate::metrics::Metrics;
use crate::status::ListenerProgress;
use chrono::{DateTime, TimeDelta, Utc};
use mongodb::bson::Timestamp;
use mongodb::change_stream::event::ResumeToken;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Where to open the change stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Position {
    /// From now (first start, no checkpoint, and the server gave no operation time).
    Now,
    /// From a cluster time (`--start-at`, or the server's time at the first start).
    At(Timestamp),
    /// After a stored or just-finalized resume token.
    After(ResumeToken),
}

/// How often the checkpoint is stored (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckpointPolicy {
    /// Store once this many orders were finalized since the last save.
    pub(crate) every_events: u64,
    /// Store at most this long after an order was finalized.
    pub(crate) every: Duration,
    /// While no order arrives, store the moving position this often (keeps it in the oplog).
    pub(crate) quiet_every: Duration,
}

impl CheckpointPolicy {
    /// How long after the last save a save is due, given what moved since: `None` when nothing
    /// did, `Duration::ZERO` when it is due at once.
    pub(crate) fn due_after(&self, unsaved_orders: u64, moved: bool) -> Option<Duration> {
        if !moved {
            None
        } else if unsaved_orders >= self.every_events {
            Some(Duration::ZERO)
        } else if unsaved_orders > 0 {
            Some(self.every)
        } else {
            Some(self.quiet_every)
        }
    }
}

/// What a finalized event leaves the position at.
#[derive(Debug, Clone)]
pub(crate) struct Finalized {
    /// The position after it.
    pub(crate) token: ResumeToken,
    /// The order it carried (`None` for a quiet position or a skipped event).
    pub(crate) order_id: Option<String>,
    /// When that order was inserted.
    pub(crate) inserted_at: Option<DateTime<Utc>>,
}

/// Owns the position and its checkpoint.
#[derive(Debug)]
pub(crate) struct PositionKeeper {
    store: CheckpointStore,
    metrics: Arc<Metrics>,
    progress: Arc<ListenerProgress>,
    policy: CheckpointPolicy,
    start_at: Option<DateTime<Utc>>,
    /// Where to reopen; `None` until the first opening decides it.
    current: Option<Position>,
    /// The token last stored.
    saved: Option<ResumeToken>,
    /// Orders finalized since the last save, and the newest of them.
    unsaved_orders: u64,
    last_order_id: Option<String>,
    last_save: Instant,
    /// The fencing token of the lease the position is written under.
    lease_token: i64,
    /// The lease under which `current` was last moved, before the latest activation.
    position_lease: i64,
    /// Whether the stored checkpoint must be compared with `current` at the next opening (after
    /// an activation: another instance may have moved it meanwhile).
    reconcile: bool,
    /// When the newest finalized order was inserted; the stored checkpoint's, once loaded.
    covered_through: Option<DateTime<Utc>>,
    /// When the checkpoint was last stored (or loaded), if it was.
    saved_at: Option<DateTime<Utc>>,
}

/// How far before the newest covered order a backfill should start: ObjectId times come from
/// the inserting clients' clocks, and re-sending what the kitchen has is harmless.
const BACKFILL_MARGIN: TimeDelta = TimeDelta::minutes(5);

impl PositionKeeper {
    pub(crate) fn new(
        store: CheckpointStore,
        metrics: Arc<Metrics>,
        progress: Arc<ListenerProgress>,
        policy: CheckpointPolicy,
        start_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            store,
            metrics,
            progress,
            policy,
            start_at,
            current: None,
            saved: None,
            unsaved_orders: 0,
            last_order_id: None,
            last_save: Instant::now(),
            lease_token: 0,
            position_lease: 0,
            reconcile: true,
            covered_through: None,
            saved_at: None,
        }
    }

    /// Where a backfill should start to re-send every order the position may not cover: a
    /// margin before the newest order it covers (or before it was saved).
    pub(crate) fn backfill_from(&self) -> Option<DateTime<Utc>> {
        self.covered_through
            .or(self.saved_at)
            .map(|time| time - BACKFILL_MARGIN)
    }

    /// This instance became active under the lease `lease_token`. The position in memory is
    /// kept (it may hold progress never stored), unless the stored checkpoint turns out, at the
    /// next opening, to be written under a lease newer than the one it was moved under.
    pub(crate) fn activate(&mut self, lease_token: i64) {
        self.position_lease = self.lease_token;
        self.lease_token = lease_token;
        self.reconcile = true;
        self.last_save = Instant::now();
    }

    pub(crate) fn consumer(&self) -> &str {
        self.store.consumer()
    }

    /// Where to open the stream: the position in memory, or (first opening, or after an
    /// activation) `--start-at` or the stored checkpoint, whichever is the latest word. `None` on
    /// a first start without either: then [`Self::start_now`].
    pub(crate) async fn opening_position(&mut self) -> Result<Option<Position>, CheckpointError> {
        if !self.reconcile {
            return Ok(self.current.clone());
        }
        // A start time applies once: not again when the lease is lost and taken back.
        if let Some(start_at) = self.start_at.take() {
            tracing::warn!(%start_at, consumer = self.consumer(), "--start-at given: ignoring the stored checkpoint");
            let seconds = u32::try_from(start_at.timestamp().max(0)).unwrap_or(u32::MAX);
            self.reconcile = false;
            self.current = Some(Position::At(Timestamp {
                time: seconds,
                increment: 0,
            }));
            return Ok(self.current.clone());
        }
        let stored = self.store.load().await?;
        self.reconcile = false;
        if let Some(checkpoint) = stored {
            let newer = checkpoint.lease_token.unwrap_or(0) > self.position_lease;
            self.saved = Some(checkpoint.token.clone());
            if self.current.is_none() || newer {
                tracing::info!(saved_at = %checkpoint.saved_at, consumer = self.consumer(), "resuming after the stored checkpoint");
                self.progress.checkpoint_saved(checkpoint.saved_at);
                self.saved_at = Some(checkpoint.saved_at);
                self.covered_through = checkpoint.covered_through;
                self.unsaved_orders = 0;
                self.current = Some(Position::After(checkpoint.token));
            }
        }
        Ok(self.current.clone())
    }

    /// Starts from now, whatever is stored (a first start, or a backfill): from `server_time`
    /// (the server's current operation time) when known, else from whenever the stream opens.
    pub(crate) fn start_now(&mut self, server_time: Option<Timestamp>) -> Position {
        tracing::info!(
            consumer = self.consumer(),
            ?server_time,
            "starting from the stream's current position"
        );
        self.current
            .insert(server_time.map_or(Position::Now, Position::At))
            .clone()
    }

    /// The stream opened; `token` is its resume token before any event. On a first start
    /// (`now` or a start time) it becomes the position, kept in memory and then stored, so that
    /// orders inserted before the first event survive a crash.
    pub(crate) async fn opened(
        &mut self,
        token: Option<ResumeToken>,
    ) -> Result<(), CheckpointError> {
        if matches!(self.current, Some(Position::After(_))) {
            return Ok(());
        }
        let Some(token) = token else {
            return Ok(());
        };
        self.current = Some(Position::After(token));
        self.save().await
    }

    /// Keeps `token` (the resume token of a stream just opened from now) as the position, in
    /// memory only: a backfill stores it once it is done.
    pub(crate) fn hold(&mut self, token: Option<ResumeToken>) {
        if let Some(token) = token {
            self.current = Some(Position::After(token));
        }
    }

    /// Every event up to the one `finalized` describes is handled.
    pub(crate) fn finalized(&mut self, finalized: Finalized) {
        if let Some(order_id) = finalized.order_id {
            self.unsaved_orders += 1;
            self.last_order_id = Some(order_id);
        }
        if let Some(inserted_at) = finalized.inserted_at {
            self.progress.order_finalized(inserted_at, Utc::now());
            self.covered_through = Some(inserted_at);
        }
        self.current = Some(Position::After(finalized.token));
    }

    fn moved(&self) -> bool {
        match &self.current {
            Some(Position::After(token)) => self.saved.as_ref() != Some(token),
            _ => false,
        }
    }

    /// When the next save is due, if anything moved.
    pub(crate) fn save_due_at(&self) -> Option<Instant> {
        self.policy
            .due_after(self.unsaved_orders, self.moved())
            .map(|after| self.last_save + after)
    }

    /// Stores the position if a save is due now.
    pub(crate) async fn save_if_due(&mut self) -> Result<(), CheckpointError> {
        match self.save_due_at() {
            Some(due) if due <= Instant::now() => self.save().await,
            _ => Ok(()),
        }
    }

    /// [`Self::save`], waiting at most `limit` (when stopping).
    pub(crate) async fn save_within(&mut self, limit: Duration) -> Result<(), CheckpointError> {
        tokio::time::timeout(limit, self.save())
            .await
            .map_err(|_| CheckpointError::TimedOut(limit))?
    }

    /// Stores the position in memory, if it moved since the last save.
    pub(crate) async fn save(&mut self) -> Result<(), CheckpointError> {
        let Some(Position::After(token)) = &self.current else {
            return Ok(());
        };
        if !self.moved() {
            return Ok(());
        }
        let now = Utc::now();
        self.store
            .save(
                token,
                SaveContext {
                    last_order_id: self.last_order_id.as_deref(),
                    covered_through: self.covered_through,
                    now,
                    lease_token: self.lease_token,
                },
            )
            .await?;
        self.saved = Some(token.clone());
        self.saved_at = Some(now);
        self.unsaved_orders = 0;
        self.last_save = Instant::now();
        self.metrics.checkpoint_saved();
        self.progress.checkpoint_saved(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CheckpointPolicy = CheckpointPolicy {
        every_events: 100,
        every: Duration::from_millis(500),
        quiet_every: Duration::from_secs(5),
    };

    #[test]
    fn nothing_moved_means_no_save() {
        assert_eq!(POLICY.due_after(0, false), None);
    }

    #[test]
    fn enough_orders_make_a_save_due_at_once() {
        assert_eq!(POLICY.due_after(100, true), Some(Duration::ZERO));
        assert_eq!(POLICY.due_after(250, true), Some(Duration::ZERO));
    }

    #[test]
    fn a_few_orders_are_saved_within_the_interval() {
        assert_eq!(POLICY.due_after(1, true), Some(Duration::from_millis(500)));
        assert_eq!(POLICY.due_after(99, true), Some(Duration::from_millis(500)));
    }

    #[test]
    fn a_quiet_position_is_saved_at_the_quiet_interval() {
        assert_eq!(POLICY.due_after(0, true), Some(Duration::from_secs(5)));
    }
}

#[cfg(test)]
mod keeper_tests {
    use super::*;
    use crate::test_mongo::{collection, token};
    use test_support::MongoTestServer;

    fn finalized(n: i32) -> Finalized {
        Finalized {
            token: token(n),
            order_id: Some(format!("order-{n}")),
            inserted_at: Some(Utc::now()),
        }
    }

    /// Two keepers (two instances) on one checkpoint of a real MongoDB-compatible server.
    async fn keepers() -> (MongoTestServer, PositionKeeper, PositionKeeper) {
        let (server, collection) = collection("order_stream_checkpoints").await;
        let keeper = || {
            PositionKeeper::new(
                CheckpointStore::new(collection.clone(), "consumer", Duration::from_secs(10)),
                Arc::new(Metrics::default()),
                Arc::new(ListenerProgress::default()),
                CheckpointPolicy {
                    every_events: 1,
                    every: Duration::ZERO,
                    quiet_every: Duration::ZERO,
                },
                None,
            )
        };
        (server, keeper(), keeper())
    }

    #[tokio::test]
    async fn a_position_never_stored_survives_losing_and_retaking_the_lease() {
        let (_server, mut keeper, _) = keepers().await;
        keeper.activate(1);
        assert_eq!(keeper.opening_position().await.unwrap(), None);
        keeper.start_now(None);
        keeper.finalized(finalized(1));
        // The save never got through; the lease was lost and taken back.
        keeper.activate(2);
        assert_eq!(
            keeper.opening_position().await.unwrap(),
            Some(Position::After(token(1)))
        );
    }

    #[tokio::test]
    async fn a_checkpoint_stored_under_a_newer_lease_wins_over_the_position_in_memory() {
        let (_server, mut first, mut second) = keepers().await;
        first.activate(1);
        first.opening_position().await.unwrap();
        first.finalized(finalized(1));
        first.save().await.unwrap();
        first.finalized(finalized(2));
        // The second instance takes over from the stored checkpoint and moves on.
        second.activate(2);
        assert_eq!(
            second.opening_position().await.unwrap(),
            Some(Position::After(token(1)))
        );
        second.finalized(finalized(3));
        second.save().await.unwrap();
        // The first takes the lease back: the second's position, not its own older one.
        first.activate(3);
        assert_eq!(
            first.opening_position().await.unwrap(),
            Some(Position::After(token(3)))
        );
        assert!(first.backfill_from().is_some());
    }

    #[tokio::test]
    async fn its_own_stored_checkpoint_does_not_undo_progress_in_memory() {
        let (_server, mut keeper, _) = keepers().await;
        keeper.activate(1);
        keeper.opening_position().await.unwrap();
        keeper.finalized(finalized(1));
        keeper.save().await.unwrap();
        keeper.finalized(finalized(2));
        keeper.activate(2);
        assert_eq!(
            keeper.opening_position().await.unwrap(),
            Some(Position::After(token(2)))
        );
    }
}
