//! The stream's position: where to (re)open the change stream, and when to store it.
//!
//! [`PositionKeeper`] owns both the position in memory (moved by every finalized event, and used
//! to reopen the stream) and its saving (the checkpoint), following [`CheckpointPolicy`]. The
//! position in memory is always set before a save is attempted, so a failing save never moves
//! the stream past orders it has not handled.

use crate::checkpoint::{CheckpointError, CheckpointStore};
use crate::metrics::Metrics;
use crate::status::ListenerProgress;
use chrono::{DateTime, Utc};
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
    /// When the checkpoint was last stored (or loaded), if it was.
    saved_at: Option<DateTime<Utc>>,
}

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
            saved_at: None,
        }
    }

    /// When the checkpoint was last stored (or, for a loaded one, stored by whoever wrote it).
    pub(crate) fn saved_at(&self) -> Option<DateTime<Utc>> {
        self.saved_at
    }

    /// This instance became active under the lease `lease_token`: the position is read again
    /// from the checkpoint (another instance may have moved it), and written under that lease.
    pub(crate) fn activate(&mut self, lease_token: i64) {
        self.lease_token = lease_token;
        self.current = None;
        self.saved = None;
        self.unsaved_orders = 0;
        self.last_order_id = None;
        self.last_save = Instant::now();
    }

    pub(crate) fn consumer(&self) -> &str {
        self.store.consumer()
    }

    /// Where to open the stream: the position in memory, else (first opening) `--start-at` or
    /// the stored checkpoint. `None` on a first start without either: then [`Self::start_now`].
    pub(crate) async fn opening_position(&mut self) -> Result<Option<Position>, CheckpointError> {
        if let Some(current) = &self.current {
            return Ok(Some(current.clone()));
        }
        // A start time applies once: not again when the lease is lost and taken back.
        let initial = if let Some(start_at) = self.start_at.take() {
            tracing::warn!(%start_at, consumer = self.consumer(), "--start-at given: ignoring the stored checkpoint");
            let seconds = u32::try_from(start_at.timestamp().max(0)).unwrap_or(u32::MAX);
            Position::At(Timestamp {
                time: seconds,
                increment: 0,
            })
        } else if let Some(checkpoint) = self.store.load().await? {
            tracing::info!(saved_at = %checkpoint.saved_at, consumer = self.consumer(), "resuming after the stored checkpoint");
            self.progress.checkpoint_saved(checkpoint.saved_at);
            self.saved_at = Some(checkpoint.saved_at);
            self.saved = Some(checkpoint.token.clone());
            Position::After(checkpoint.token)
        } else {
            return Ok(None);
        };
        Ok(Some(self.current.insert(initial).clone()))
    }

    /// A first start without a checkpoint: from `server_time` (the server's current operation
    /// time) when known, else from whenever the stream opens.
    pub(crate) fn start_now(&mut self, server_time: Option<Timestamp>) -> Position {
        tracing::info!(
            consumer = self.consumer(),
            ?server_time,
            "no checkpoint stored: starting from now"
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
            .save(token, self.last_order_id.as_deref(), now, self.lease_token)
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
