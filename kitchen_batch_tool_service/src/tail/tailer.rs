//! Reads the log's final events in id order and publishes them.

use super::changed_or_pending;
use super::hub::EventHub;
use crate::health::Component;
use crate::store::{OrderStore, PageLimits, StoreError};
use shared_patterns::Backoff;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How the tailer works.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TailerSettings {
    /// The safety net: the longest the tailer waits without reading. It also probes the
    /// database for the health reports.
    pub(crate) poll: Duration,
    /// How much one read may hold.
    pub(crate) page: PageLimits,
}

/// While a running transaction holds committed events back, the tailer looks again after this,
/// doubling up to `poll`: such transactions are usually another writer's, a few milliseconds
/// long.
const HELD_BACK_FIRST_RETRY: Duration = Duration::from_millis(2);

/// Tails the log until `shutdown` (and one read more), starting at the hub's position.
pub(crate) async fn run_tailer(
    store: OrderStore,
    hub: EventHub,
    mut commits: watch::Receiver<u64>,
    mut wakeups: watch::Receiver<u64>,
    health: Component,
    settings: TailerSettings,
    shutdown: CancellationToken,
) {
    let mut position = hub.position();
    let mut held_back_delay = HELD_BACK_FIRST_RETRY;
    let mut failures = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let delay = match read_until_caught_up(&store, &hub, &mut position, settings.page).await {
            Ok(held_back) => {
                health.healthy();
                failures.reset();
                if held_back {
                    let delay = held_back_delay;
                    held_back_delay = (held_back_delay * 2).min(settings.poll);
                    delay
                } else {
                    held_back_delay = HELD_BACK_FIRST_RETRY;
                    settings.poll
                }
            }
            Err(error) => {
                tracing::error!(%error, position, "reading the event log failed");
                health.failing(format!("reading the event log failed: {error}"));
                failures.next_delay()
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => {
                // What the writer committed last is still published.
                if let Err(error) = read_until_caught_up(&store, &hub, &mut position, settings.page).await {
                    tracing::warn!(%error, "the last read of the event log failed");
                }
                break;
            }
            () = changed_or_pending(&mut commits) => {}
            () = changed_or_pending(&mut wakeups) => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
    tracing::info!(position, "tailer stopped");
}

/// Reads and publishes pages until none is left; returns whether committed events are held back
/// behind a running transaction.
async fn read_until_caught_up(
    store: &OrderStore,
    hub: &EventHub,
    position: &mut i64,
    page_limits: PageLimits,
) -> Result<bool, StoreError> {
    loop {
        let page = store.final_events_after(*position, page_limits).await?;
        if let Some(last) = page.events.last() {
            *position = last.id;
        }
        hub.publish(page.events);
        if page.complete {
            return Ok(page.held_back);
        }
    }
}
