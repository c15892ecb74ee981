//! The tailer: the only path from the event log to screens and the console.
//!
//! It reads what is committed and final in PostgreSQL, in event-id order, after the commits it
//! hears of (its own writer's, other instances' through `LISTEN/NOTIFY`, a re-read whenever the
//! listener reconnects; one read for all those within `TAIL_MIN_INTERVAL_MILLIS`) and on a short
//! timer, and publishes it to the [`hub::EventHub`].

pub(crate) mod hub;
mod listener;
mod recent;
mod tailer;

pub(crate) use listener::{run_listener, run_notifier};
pub(crate) use recent::RecentCommits;
pub(crate) use tailer::{TailerSettings, run_tailer};

use tokio::sync::watch;

/// Waits until `receiver` changes; never returns once its sender is gone (a source of wake-ups
/// that has stopped must not spin its reader).
pub(crate) async fn changed_or_pending<T>(receiver: &mut watch::Receiver<T>) {
    if receiver.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
