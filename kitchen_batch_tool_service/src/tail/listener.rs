//! `LISTEN/NOTIFY` between instances: each writer's commits wake every instance's tailer.

use super::changed_or_pending;
use crate::store::{COMMIT_CHANNEL, OrderStore, StoreError};
use shared_patterns::Backoff;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Listens for other instances' commits and counts them (and every reconnection, since
/// notifications sent while the listener was away are lost) in `wakeups`. This instance's own
/// notifications are passed over: its tailer hears of its commits directly.
pub(crate) async fn run_listener(
    store: OrderStore,
    instance: String,
    wakeups: watch::Sender<u64>,
    shutdown: CancellationToken,
) {
    let wake = || wakeups.send_modify(|count| *count += 1);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let mut listener = tokio::select! {
            () = shutdown.cancelled() => return,
            connected = listen(&store) => match connected {
                Ok(listener) => listener,
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64,
                        "cannot listen for other instances' commits");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => continue,
                    }
                }
            },
        };
        backoff.reset();
        wake();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) if notification.payload() == instance => {}
                    // `None`: the connection was lost and made again.
                    Ok(_) => wake(),
                    Err(error) => {
                        tracing::warn!(%error, "lost the listener for other instances' commits");
                        break;
                    }
                },
            }
        }
    }
}

async fn listen(store: &OrderStore) -> Result<PgListener, StoreError> {
    store
        .timed(async {
            let mut listener = PgListener::connect_with(store.pool()).await?;
            listener.listen(COMMIT_CHANNEL).await?;
            Ok(listener)
        })
        .await
}

/// Announces this instance's commits to the others, one notification for all the commits made
/// while the previous one was being sent.
pub(crate) async fn run_notifier(
    store: OrderStore,
    instance: String,
    mut commits: watch::Receiver<u64>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = changed_or_pending(&mut commits) => {}
        }
        if let Err(error) = store.notify_committed(&instance).await {
            // The other instances' timers still find the commit.
            tracing::debug!(%error, "cannot notify other instances of a commit");
        }
    }
}
