//! The listener's progress for `/health`: the last event's time, the checkpoint's age, the lag.

use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// Where the listener is, updated by the listener and read by the health endpoint.
#[derive(Debug, Default)]
pub struct ListenerProgress {
    inner: Mutex<Progress>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    last_event_at: Option<DateTime<Utc>>,
    checkpoint_saved_at: Option<DateTime<Utc>>,
    in_flight_since: Option<DateTime<Utc>>,
    last_lag_ms: Option<i64>,
}

/// A copy of the progress at one moment, with ages computed against `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// When the last event read from the stream was inserted.
    pub last_event_at: Option<DateTime<Utc>>,
    /// How long ago the checkpoint was last stored, in milliseconds.
    pub checkpoint_age_ms: Option<i64>,
    /// How far behind the inserts the listener is, in milliseconds: for an order being
    /// delivered, the time since it was inserted; otherwise the insert-to-acknowledgement time of
    /// the last order.
    pub lag_ms: Option<i64>,
}

impl ListenerProgress {
    /// An event inserted at `inserted_at` was read and is being handled.
    pub fn event_started(&self, inserted_at: DateTime<Utc>) {
        let mut progress = self.inner.lock().expect("progress lock");
        progress.last_event_at = Some(inserted_at);
        progress.in_flight_since = Some(inserted_at);
    }

    /// The event being handled was acknowledged or dead-lettered at `now`.
    pub fn event_finished(&self, now: DateTime<Utc>) {
        let mut progress = self.inner.lock().expect("progress lock");
        if let Some(inserted_at) = progress.in_flight_since.take() {
            progress.last_lag_ms = Some((now - inserted_at).num_milliseconds().max(0));
        }
    }

    /// The handling of the current event was abandoned (the stream is reopened or stopped).
    pub fn event_abandoned(&self) {
        self.inner.lock().expect("progress lock").in_flight_since = None;
    }

    /// The checkpoint was stored at `now`.
    pub fn checkpoint_saved(&self, now: DateTime<Utc>) {
        self.inner
            .lock()
            .expect("progress lock")
            .checkpoint_saved_at = Some(now);
    }

    /// The progress as seen at `now`.
    pub fn snapshot(&self, now: DateTime<Utc>) -> ProgressSnapshot {
        let progress = *self.inner.lock().expect("progress lock");
        let age = |time: DateTime<Utc>| (now - time).num_milliseconds().max(0);
        ProgressSnapshot {
            last_event_at: progress.last_event_at,
            checkpoint_age_ms: progress.checkpoint_saved_at.map(age),
            lag_ms: progress.in_flight_since.map(age).or(progress.last_lag_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn lag_is_live_while_an_order_is_in_flight_and_frozen_after() {
        let progress = ListenerProgress::default();
        let t0 = Utc::now();
        assert_eq!(progress.snapshot(t0).lag_ms, None);
        progress.event_started(t0);
        assert_eq!(
            progress.snapshot(t0 + TimeDelta::seconds(3)).lag_ms,
            Some(3_000)
        );
        progress.event_finished(t0 + TimeDelta::milliseconds(40));
        progress.checkpoint_saved(t0 + TimeDelta::milliseconds(50));
        let later = progress.snapshot(t0 + TimeDelta::seconds(10));
        assert_eq!(later.lag_ms, Some(40));
        assert_eq!(later.checkpoint_age_ms, Some(9_950));
        assert_eq!(later.last_event_at, Some(t0));
    }
}
