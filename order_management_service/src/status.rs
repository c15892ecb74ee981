//! The listener's progress for `/health`: the last event's time, the checkpoint's age, the lag.

use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// Whether this instance watches the stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Not decided yet (the lease not yet tried).
    #[default]
    Starting,
    /// Holds the lease and watches.
    Active,
    /// Another instance holds the lease.
    Standby,
    /// The listener stopped for good (operator action needed); the lease is released.
    Stopped,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Active => "active",
            Self::Standby => "standby",
            Self::Stopped => "stopped",
        }
    }
}

/// Where the listener is, updated by the listener and read by the health endpoint.
#[derive(Debug, Default)]
pub(crate) struct ListenerProgress {
    inner: Mutex<Progress>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    last_event_at: Option<DateTime<Utc>>,
    checkpoint_saved_at: Option<DateTime<Utc>>,
    oldest_pending: Option<DateTime<Utc>>,
    last_lag_ms: Option<i64>,
    role: Role,
}

/// A copy of the progress at one moment, with ages computed against `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProgressSnapshot {
    /// When the last order read from the stream was inserted.
    pub(crate) last_event_at: Option<DateTime<Utc>>,
    /// How long ago the checkpoint was last stored, in milliseconds.
    pub(crate) checkpoint_age_ms: Option<i64>,
    /// How far behind the inserts the listener is, in milliseconds: while orders are being
    /// handled, the age of the oldest; otherwise the insert-to-handled time of the last order.
    pub(crate) lag_ms: Option<i64>,
    /// Whether this instance watches.
    pub(crate) role: Role,
}

impl ListenerProgress {
    fn update(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut self.inner.lock().expect("progress lock"));
    }

    /// An order inserted at `inserted_at` was read.
    pub(crate) fn event_read(&self, inserted_at: DateTime<Utc>) {
        self.update(|progress| progress.last_event_at = Some(inserted_at));
    }

    /// The oldest order read and not yet handled was inserted at `inserted_at` (`None`: none is).
    pub(crate) fn oldest_pending(&self, inserted_at: Option<DateTime<Utc>>) {
        self.update(|progress| progress.oldest_pending = inserted_at);
    }

    /// The order inserted at `inserted_at`, and every one before it, is handled at `now`.
    pub(crate) fn order_finalized(&self, inserted_at: DateTime<Utc>, now: DateTime<Utc>) {
        self.update(|progress| {
            progress.last_lag_ms = Some((now - inserted_at).num_milliseconds().max(0));
        });
    }

    /// This instance's role is now `role`.
    pub(crate) fn set_role(&self, role: Role) {
        self.update(|progress| {
            progress.role = role;
            if role == Role::Standby {
                progress.oldest_pending = None;
            }
        });
    }

    /// The checkpoint was stored at `now`.
    pub(crate) fn checkpoint_saved(&self, now: DateTime<Utc>) {
        self.update(|progress| progress.checkpoint_saved_at = Some(now));
    }

    /// The progress as seen at `now`.
    pub(crate) fn snapshot(&self, now: DateTime<Utc>) -> ProgressSnapshot {
        let progress = *self.inner.lock().expect("progress lock");
        let age = |time: DateTime<Utc>| (now - time).num_milliseconds().max(0);
        ProgressSnapshot {
            last_event_at: progress.last_event_at,
            checkpoint_age_ms: progress.checkpoint_saved_at.map(age),
            lag_ms: progress.oldest_pending.map(age).or(progress.last_lag_ms),
            role: progress.role,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn lag_is_the_oldest_pending_order_s_age_and_frozen_after() {
        let progress = ListenerProgress::default();
        let t0 = Utc::now();
        assert_eq!(progress.snapshot(t0).lag_ms, None);
        progress.event_read(t0);
        progress.event_read(t0 + TimeDelta::seconds(1));
        progress.oldest_pending(Some(t0));
        assert_eq!(
            progress.snapshot(t0 + TimeDelta::seconds(3)).lag_ms,
            Some(3_000)
        );
        progress.order_finalized(
            t0 + TimeDelta::seconds(1),
            t0 + TimeDelta::milliseconds(1_040),
        );
        progress.oldest_pending(None);
        progress.checkpoint_saved(t0 + TimeDelta::milliseconds(50));
        let later = progress.snapshot(t0 + TimeDelta::seconds(10));
        assert_eq!(later.lag_ms, Some(40));
        assert_eq!(later.checkpoint_age_ms, Some(9_950));
        assert_eq!(later.last_event_at, Some(t0 + TimeDelta::seconds(1)));
    }
}
