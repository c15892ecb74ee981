//! Reads the log's final events in id order and publishes them.

use super::RecentCommits;
use super::changed_or_pending;
use super::hub::EventHub;
use crate::events::LogEvent;
use crate::health::Component;
use crate::store::{KeptConnection, LogId, OrderStore, PageLimits, StoreError};
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
    /// How many event ids one read may hold (its byte limit is not used: events missing from
    /// memory are fetched [`FETCH_AT_ONCE`] at a time).
    pub(crate) page: PageLimits,
    /// Committed events held back longer than this make the tailer report failing, naming the
    /// transaction that holds them: screens are silent, though orders are acknowledged.
    pub(crate) held_back_alarm: Duration,
    /// The shortest time from one read to the next: while commits keep coming, one read covers
    /// all of those that came within it, instead of one read per commit.
    pub(crate) min_interval: Duration,
}

/// While a running transaction holds committed events back, the tailer looks again after this
/// (or after `min_interval`, if longer), doubling up to `poll`: such transactions are usually
/// another writer's, a few milliseconds long.
const HELD_BACK_FIRST_RETRY: Duration = Duration::from_millis(2);

/// How long the last read at shutdown waits for held-back events (another instance's running
/// transaction) before it gives up; the next start publishes them.
const LAST_READ_PATIENCE: Duration = Duration::from_secs(3);

/// Most events fetched from PostgreSQL in one query (those not in memory): with orders of up to
/// about 260 kB, a fetch stays within a few megabytes.
const FETCH_AT_ONCE: usize = 16;

/// Tails the log until `shutdown` (and one read more), starting at the hub's position.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_tailer(
    store: OrderStore,
    hub: EventHub,
    recent: RecentCommits,
    mut commits: watch::Receiver<u64>,
    mut wakeups: watch::Receiver<u64>,
    health: Component,
    settings: TailerSettings,
    shutdown: CancellationToken,
) {
    let _stopped_on_panic = health.stopped_on_panic("the tailer");
    let mut position = hub.position();
    let mut held_back_delay = HELD_BACK_FIRST_RETRY;
    let mut held_back_since: Option<tokio::time::Instant> = None;
    let mut failures = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    let mut connection = KeptConnection::new(store.clone());
    // Never longer than the safety net's wait, which is the longest the tailer waits.
    let min_interval = settings.min_interval.min(settings.poll);
    let mut next_read = tokio::time::Instant::now();
    loop {
        tokio::time::sleep_until(next_read).await;
        next_read = tokio::time::Instant::now() + min_interval;
        let read = read_until_caught_up(
            &store,
            &mut connection,
            &hub,
            &recent,
            &mut position,
            settings.page,
        );
        let delay = match read.await {
            Ok(true) => {
                failures.reset();
                let since = *held_back_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= settings.held_back_alarm {
                    report_held_back(&store, &health, since.elapsed()).await;
                } else {
                    health.healthy();
                }
                let delay = held_back_delay;
                held_back_delay = (held_back_delay * 2).min(settings.poll);
                delay
            }
            Ok(false) => {
                health.healthy();
                failures.reset();
                held_back_since = None;
                held_back_delay = HELD_BACK_FIRST_RETRY;
                settings.poll
            }
            Err(error) => {
                tracing::error!(%error, position, "reading the event log failed");
                health.failing(format!("reading the event log failed: {error}"));
                let delay = failures.next_delay();
                // Commits heard of meanwhile wake the loop, but do not cut the backoff short.
                next_read = tokio::time::Instant::now() + delay;
                delay
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => {
                last_read(&store, &mut connection, &hub, &recent, &mut position, settings.page)
                    .await;
                break;
            }
            () = changed_or_pending(&mut commits) => {}
            () = changed_or_pending(&mut wakeups) => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
    tracing::info!(position, "tailer stopped");
}

/// What the writer committed last is still published, waiting a little for events held back by
/// another instance's transaction.
async fn last_read(
    store: &OrderStore,
    connection: &mut KeptConnection,
    hub: &EventHub,
    recent: &RecentCommits,
    position: &mut i64,
    page: PageLimits,
) {
    let patience = tokio::time::Instant::now() + LAST_READ_PATIENCE;
    loop {
        match read_until_caught_up(store, connection, hub, recent, position, page).await {
            Ok(true) if tokio::time::Instant::now() < patience => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(%error, "the last read of the event log failed");
                return;
            }
        }
    }
}

async fn report_held_back(store: &OrderStore, health: &Component, for_how_long: Duration) {
    let blocker = match store.oldest_transaction().await {
        Ok(Some(description)) => description,
        Ok(None) => "a transaction that has just ended".to_owned(),
        Err(error) => format!("unknown ({error})"),
    };
    let reason = format!(
        "committed orders held back from screens for {} s by the oldest running transaction \
         of the PostgreSQL cluster: {blocker}",
        for_how_long.as_secs()
    );
    tracing::warn!(%reason, "the event log is held back");
    health.failing(reason);
}

/// Reads and publishes pages until none is left; returns whether committed events are held back
/// behind a running transaction. PostgreSQL says which events are final and in which order;
/// the contents come from `recent` when this instance's writer has them, and from PostgreSQL
/// otherwise.
async fn read_until_caught_up(
    store: &OrderStore,
    connection: &mut KeptConnection,
    hub: &EventHub,
    recent: &RecentCommits,
    position: &mut i64,
    page_limits: PageLimits,
) -> Result<bool, StoreError> {
    loop {
        let after = *position;
        let page = connection
            .run(async |connection| {
                store
                    .final_ids_after(connection, after, page_limits.events)
                    .await
            })
            .await?;
        for ids in page.ids.chunks(FETCH_AT_ONCE) {
            let order_ids: Vec<i64> = ids
                .iter()
                .filter(|id| !id.is_change)
                .map(|id| id.id)
                .collect();
            let kept = recent.take(&order_ids);
            let missing: Vec<LogId> = ids
                .iter()
                .filter(|id| id.is_change)
                .copied()
                .chain(
                    order_ids
                        .iter()
                        .zip(&kept)
                        .filter(|(_, kept)| kept.is_none())
                        .map(|(&id, _)| LogId {
                            id,
                            is_change: false,
                        }),
                )
                .collect();
            let fetched = if missing.is_empty() {
                Vec::new()
            } else {
                connection
                    .run(async |connection| store.log_events(connection, &missing).await)
                    .await?
            };
            let mut fetched = fetched.into_iter().peekable();
            let mut kept = kept.into_iter().flatten().map(LogEvent::Order).peekable();
            let mut events = Vec::with_capacity(ids.len());
            for LogId { id, .. } in ids {
                let event = kept
                    .next_if(|event| event.id() == *id)
                    .or_else(|| fetched.next_if(|event| event.id() == *id));
                match event {
                    Some(event) => events.push(event),
                    // Gone since the page was read: only a manual delete can do that.
                    None => tracing::warn!(event_id = id, "a final event vanished; not shown"),
                }
            }
            *position = ids.last().expect("chunks are not empty").id;
            hub.publish(events);
        }
        if page.complete {
            return Ok(page.held_back);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Component;
    use crate::store::tests::test_store;
    use crate::tail::hub::{Read, WindowLimits};
    use crate::writer::{OrderWriter, WriterSettings};
    use std::sync::Arc;
    use test_support::fixtures::numbered_order;

    /// A writer and its tasks (which end if the set is dropped).
    fn writer(
        store: &OrderStore,
        instance: &str,
        commits: Arc<watch::Sender<u64>>,
        recent: &RecentCommits,
    ) -> (OrderWriter, tokio::task::JoinSet<()>) {
        let health = Component::new("writer");
        let settings = WriterSettings {
            max_batch: 64,
            connections: 2,
            instance: instance.into(),
        };
        OrderWriter::spawn(
            store.clone(),
            settings,
            commits,
            recent.clone(),
            health,
            Arc::default(),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_writers_on_one_database_are_tailed_once_each_in_id_order() {
        let (_server, store) = test_store().await;
        let hub = EventHub::new(
            WindowLimits {
                events: 1 << 20,
                bytes: 1 << 30,
            },
            0,
        );
        // The tailer hears of the first writer's commits only: the second one's are found by the
        // timer, as another instance's would be without LISTEN/NOTIFY.
        let heard = Arc::new(watch::Sender::new(0));
        // The first writer's orders are taken from memory, the second's read from PostgreSQL,
        // as another instance's would be.
        let recent = RecentCommits::new(1 << 20);
        let (first, _first_tasks) = writer(&store, "k1", Arc::clone(&heard), &recent);
        let elsewhere = RecentCommits::new(1 << 20);
        let (second, _second_tasks) =
            writer(&store, "k2", Arc::new(watch::Sender::new(0)), &elsewhere);
        let shutdown = CancellationToken::new();
        let (_wakeups, no_wakeups) = watch::channel(0);
        let settings = TailerSettings {
            poll: Duration::from_millis(20),
            page: PageLimits {
                events: 7,
                bytes: 1 << 20,
            },
            held_back_alarm: Duration::from_secs(60),
            min_interval: Duration::from_millis(5),
        };
        tokio::spawn(run_tailer(
            store.clone(),
            hub.clone(),
            recent.clone(),
            heard.subscribe(),
            no_wakeups,
            Component::new("tailer"),
            settings,
            shutdown.clone(),
        ));
        const PER_WRITER: usize = 1_000;
        let reader = tokio::spawn({
            let hub = hub.clone();
            async move {
                let mut position = hub.watch_position();
                let (mut cursor, mut seen) = (0, Vec::new());
                while seen.len() < 2 * PER_WRITER {
                    match hub.read(cursor, 100) {
                        Read::Events(events) => {
                            seen.extend(events.iter().map(|live| live.event.id()));
                            cursor = *seen.last().expect("events");
                        }
                        Read::UpToDate => {
                            let _ = position.changed().await;
                        }
                        Read::Behind => panic!("the window holds everything"),
                    }
                }
                seen
            }
        });

        let send = |writer: OrderWriter, prefix: &'static str| async move {
            let orders = (0..PER_WRITER).map(|n| {
                let order = crate::order::validate(numbered_order(&format!("{prefix}-{n}")));
                writer.write(order.unwrap())
            });
            for outcome in futures::future::join_all(orders).await {
                outcome.expect("stored");
            }
        };
        tokio::join!(send(first, "first"), send(second, "second"));
        let seen = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("the tailer publishes every order")
            .unwrap();
        shutdown.cancel();

        assert!(
            seen.windows(2).all(|pair| pair[0] < pair[1]),
            "ids out of order or repeated"
        );
        let stored = store
            .events_between(
                0,
                i64::MAX,
                PageLimits {
                    events: 10_000,
                    bytes: 1 << 30,
                },
                None,
            )
            .await
            .unwrap();
        let stored: Vec<i64> = stored.events.iter().map(|event| event.id).collect();
        assert_eq!(seen, stored, "every stored order, once");
        let published: Vec<i64> = match hub.read(0, usize::MAX) {
            Read::Events(events) => events
                .iter()
                .filter_map(|live| live.event.as_order())
                .filter(|order| order.order.order_id.starts_with("second-"))
                .map(|order| order.id)
                .collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            published.len(),
            PER_WRITER,
            "the other writer's orders, whole"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn events_held_back_too_long_are_reported_with_the_transaction_that_holds_them() {
        let (_server, store) = test_store().await;
        let hub = EventHub::new(
            WindowLimits {
                events: 100,
                bytes: 1 << 20,
            },
            0,
        );
        let health = Component::new("tailer");
        let mut watch = health.watch();
        let mut open = store.pool().begin().await.unwrap();
        sqlx::query("SELECT pg_current_xact_id(), 'forgotten-session'")
            .execute(&mut *open)
            .await
            .unwrap();
        let (first, _tasks) = writer(
            &store,
            "k1",
            Arc::new(watch::Sender::new(0)),
            &RecentCommits::new(1 << 20),
        );
        let order = crate::order::validate(numbered_order("waiting")).unwrap();
        first.write(order).await.unwrap();

        let shutdown = CancellationToken::new();
        let (_commits, commits) = watch::channel(0);
        let (_wakeups, wakeups) = watch::channel(0);
        let settings = TailerSettings {
            poll: Duration::from_millis(20),
            page: PageLimits {
                events: 100,
                bytes: 1 << 20,
            },
            held_back_alarm: Duration::from_millis(200),
            min_interval: Duration::ZERO,
        };
        tokio::spawn(run_tailer(
            store.clone(),
            hub.clone(),
            RecentCommits::new(1 << 20),
            commits,
            wakeups,
            health.clone(),
            settings,
            shutdown.clone(),
        ));
        let reported = tokio::time::timeout(
            Duration::from_secs(10),
            watch.wait_for(|state| state.reason().is_some()),
        )
        .await
        .expect("reported in time")
        .expect("a state");
        let reason = reported.reason().unwrap().to_owned();
        assert!(reason.contains("held back"), "{reason}");
        assert!(reason.contains("forgotten-session"), "{reason}");
        assert_eq!(
            hub.position(),
            0,
            "nothing published past the open transaction"
        );

        open.rollback().await.unwrap();
        tokio::time::timeout(
            Duration::from_secs(10),
            watch.wait_for(|state| state.is_healthy()),
        )
        .await
        .expect("healthy again");
        tokio::time::timeout(Duration::from_secs(10), async {
            while hub.position() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("published once the transaction ended");
        shutdown.cancel();
    }
}
