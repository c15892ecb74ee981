//! `LISTEN/NOTIFY` between instances: each writer's commits wake every instance's tailer.

use super::changed_or_pending;
use crate::store::{COMMIT_CHANNEL, OrderStore, StoreError};
use shared_patterns::Backoff;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Listens for other instances' commits and counts them (and every reconnection, since
/// notifications sent while the listener was away are lost) in `wakeups`. This instance's own
/// notifications are passed over: its tailer hears of its commits directly.
pub(crate) async fn run_listener(
    store: OrderStore,
    instance: String,
    wakeups: watch::Sender<u64>,
    listener_pid: Arc<AtomicI32>,
    shutdown: CancellationToken,
) {
    let wake = || wakeups.send_modify(|count| *count += 1);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let mut listener = tokio::select! {
            () = shutdown.cancelled() => return,
            connected = listen(&store) => match connected {
                Ok((listener, pid)) => {
                    listener_pid.store(pid, Ordering::Relaxed);
                    listener
                }
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

/// A listener on [`COMMIT_CHANNEL`] and its server process id.
async fn listen(store: &OrderStore) -> Result<(PgListener, i32), StoreError> {
    store
        .timed(async {
            let mut listener = PgListener::connect_with(store.pool()).await?;
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut listener)
                .await?;
            // Last, so that the session's last statement shows it listens (see `run_notifier`).
            listener.listen(COMMIT_CHANNEL).await?;
            Ok((listener, pid))
        })
        .await
}

/// How often the notifier looks for other instances' listeners. One that starts meanwhile finds
/// this instance's commits on its timer until then.
const LISTENERS_CHECK: Duration = Duration::from_secs(5);

/// Announces this instance's commits to the other instances, if any listens: one notification
/// for all the commits made while the previous one was being sent.
pub(crate) async fn run_notifier(
    store: OrderStore,
    instance: String,
    mut commits: watch::Receiver<u64>,
    listener_pid: Arc<AtomicI32>,
    shutdown: CancellationToken,
) {
    let mut others_listen = true;
    let mut checked: Option<Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = changed_or_pending(&mut commits) => {}
        }
        if checked.is_none_or(|at| at.elapsed() >= LISTENERS_CHECK) {
            let own = Some(listener_pid.load(Ordering::Relaxed)).filter(|pid| *pid != 0);
            match store.others_listen(own).await {
                Ok(answer) => others_listen = answer,
                Err(error) => tracing::debug!(%error, "cannot look for other instances"),
            }
            checked = Some(Instant::now());
        }
        if !others_listen {
            continue;
        }
        if let Err(error) = store.notify_committed(&instance).await {
            // The other instances' timers still find the commit.
            tracing::debug!(%error, "cannot notify other instances of a commit");
        }
    }
}
