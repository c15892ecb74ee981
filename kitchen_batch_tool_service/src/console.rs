//! The order block the kitchen prints to stdout, grouped by station.

use crate::events::OrderEvent;
use crate::metrics::Metrics;
use crate::order::Order;
use crate::store::{OrderStore, PageLimits, StoreError};
use crate::tail::changed_or_pending;
use crate::tail::hub::{EventHub, Read};
use shared_patterns::Backoff;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

const HEAVY_RULE: &str =
    "================================================================================";
const LIGHT_RULE: &str =
    "--------------------------------------------------------------------------------";

/// Formats `order` as the design's console block: the header, then each station in the order it
/// first appears in the request, with its items in request order.
pub(crate) fn format_order(order: &Order) -> String {
    let mut text = String::with_capacity(512);
    // Writing to a String cannot fail.
    let _ = writeln!(text, "{HEAVY_RULE}");
    let _ = writeln!(text, "📦 NEW ORDER RECEIVED");
    let _ = writeln!(text, "{HEAVY_RULE}");
    let _ = writeln!(text, "Order ID: {}", order.order_id);
    let _ = writeln!(text, "Otter Order ID: {}", order.otter_order_id);
    let _ = writeln!(text, "Brand: {}", order.brand_name);
    let _ = writeln!(text, "Source: {}", order.source);
    let _ = writeln!(text, "Timestamp: {}", order.timestamp);
    let _ = writeln!(text, "Items ({}):", order.items.len());
    let _ = writeln!(text, "{LIGHT_RULE}");
    for station in stations_in_first_seen_order(order) {
        let _ = writeln!(text, "{station}:");
        for item in order.items.iter().filter(|item| item.station == station) {
            let _ = writeln!(text, "  • {} (Qty: {})", item.name, item.quantity);
        }
    }
    let _ = writeln!(text, "{HEAVY_RULE}");
    text
}

fn stations_in_first_seen_order(order: &Order) -> Vec<&str> {
    let mut stations: Vec<&str> = Vec::new();
    for item in &order.items {
        if !stations.contains(&item.station.as_str()) {
            stations.push(&item.station);
        }
    }
    stations
}

/// How the console works.
#[derive(Debug, Clone)]
pub(crate) struct ConsoleSettings {
    /// Only the orders this instance received are printed here.
    pub(crate) instance: String,
    /// Most bytes of text waiting for the output; the console reads no further meanwhile.
    pub(crate) buffer_bytes: usize,
    /// How much one catch-up read from the database may hold.
    pub(crate) page: PageLimits,
    /// Counts the orders printed.
    pub(crate) metrics: Arc<Metrics>,
}

/// What a chunk costs besides its text, so that chunks of no text are bounded too.
const CHUNK_OVERHEAD: usize = 64;

/// Text on its way to the output, with the log position it completes.
struct Chunk {
    text: String,
    orders: u64,
    through: i64,
    _room: OwnedSemaphorePermit,
}

/// Prints, exactly once, every order this instance received: it follows the hub from the
/// position its console reached before (recorded in PostgreSQL after each write), catching up
/// from the database when it is behind, so orders committed just before a crash are printed at
/// the next start. The output is written on a thread of its own, so a slow terminal or pipe
/// slows only the console, never the write path; the text waiting for it is bounded in bytes.
///
/// After `shutdown` fires, it prints what the hub holds up to its position, records it, and
/// returns (or returns when the output has failed).
/// An instance seen for the first time starts after `start_after` (the log's end when the
/// service started).
pub(crate) async fn run_console(
    store: OrderStore,
    hub: EventHub,
    settings: ConsoleSettings,
    output: Box<dyn Write + Send>,
    start_after: i64,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    let mut cursor = store
        .console_cursor(&settings.instance, start_after)
        .await?;
    let (printed, mut printed_watch) = watch::channel(cursor);
    let (chunks, to_print) = std::sync::mpsc::channel::<Chunk>();
    let writer = std::thread::Builder::new()
        .name("console".into())
        .spawn({
            let metrics = Arc::clone(&settings.metrics);
            move || write_chunks(output, &to_print, &printed, &metrics)
        })
        .expect("spawn the console thread");
    let saver = tokio::spawn({
        let store = store.clone();
        let instance = settings.instance.clone();
        async move {
            while printed_watch.changed().await.is_ok() {
                let through = *printed_watch.borrow_and_update();
                if let Err(error) = store.save_console_cursor(&instance, through).await {
                    tracing::warn!(%error, "cannot record how far the console printed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    let buffer_bytes = settings
        .buffer_bytes
        .clamp(CHUNK_OVERHEAD, u32::MAX as usize);
    let room = Arc::new(Semaphore::new(buffer_bytes));
    let mut position = hub.watch_position();
    let mut failures = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let (events, through) = match hub.read(cursor, 256) {
            Read::Events(live) => {
                let through = live.last().map_or(cursor, |live| live.event.id());
                let events: Vec<OrderEvent> = live
                    .iter()
                    .filter_map(|live| live.event.as_order())
                    .filter(|order| order.received_by == settings.instance)
                    .cloned()
                    .collect();
                (events, through)
            }
            Read::UpToDate if shutdown.is_cancelled() => break,
            Read::UpToDate => {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = changed_or_pending(&mut position) => {}
                }
                continue;
            }
            Read::Behind => {
                let end = hub.position();
                match store
                    .events_between(cursor, end, settings.page, Some(&settings.instance))
                    .await
                {
                    Ok(page) => {
                        failures.reset();
                        let through = if page.complete {
                            end
                        } else {
                            page.events.last().map_or(end, |event| event.id)
                        };
                        (page.events, through)
                    }
                    Err(error) if shutdown.is_cancelled() => {
                        tracing::warn!(%error, "the console stops behind; it catches up at the next start");
                        break;
                    }
                    Err(error) => {
                        let delay = failures.next_delay();
                        tracing::warn!(%error, "the console cannot catch up from the database");
                        tokio::select! {
                            () = shutdown.cancelled() => {}
                            () = tokio::time::sleep(delay) => {}
                        }
                        continue;
                    }
                }
            }
        };
        let text: String = events
            .iter()
            .map(|event| format_order(&event.order))
            .collect();
        let permits = (text.len() + CHUNK_OVERHEAD).min(buffer_bytes) as u32;
        let room = Arc::clone(&room)
            .acquire_many_owned(permits)
            .await
            .expect("never closed");
        if chunks
            .send(Chunk {
                text,
                orders: events.len() as u64,
                through,
                _room: room,
            })
            .is_err()
        {
            break; // The output failed.
        }
        cursor = through;
    }
    drop(chunks);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    let _ = saver.await;
    Ok(())
}

/// The console thread: writes each chunk, then reports how far the output got.
fn write_chunks(
    mut output: Box<dyn Write + Send>,
    chunks: &std::sync::mpsc::Receiver<Chunk>,
    printed: &watch::Sender<i64>,
    metrics: &Metrics,
) {
    for chunk in chunks {
        if let Err(error) = output
            .write_all(chunk.text.as_bytes())
            .and_then(|()| output.flush())
        {
            tracing::warn!(%error, "the console output failed: orders are no longer printed");
            return;
        }
        metrics.orders_printed(chunk.orders);
        printed.send_replace(chunk.through);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::validate;
    use test_support::fixtures::interleaved_sample_order as sample_request;

    const GOLDEN: &str = "\
================================================================================
📦 NEW ORDER RECEIVED
================================================================================
Order ID: 67adcfdc15da8840bc9673bd
Otter Order ID: 019c52aa-1232-307c-b56d-1a3af34b458c
Brand: Desayuna
Source: mongodb_changestream
Timestamp: 2025-02-13T10:56:27.756Z
Items (3):
--------------------------------------------------------------------------------
Burger Plancha Station:
  • Grilled Chicken Sandwich (Qty: 2)
  • Classic Burger (Qty: 1)
Salad Station:
  • Caesar Salad (Qty: 1)
================================================================================
";

    #[test]
    fn matches_the_design_sample_with_stations_in_first_seen_order() {
        // The sample request lists the salad between the two burger-station items: the block
        // still groups by station, stations in the order they first appear.
        let order = validate(sample_request()).unwrap();
        assert_eq!(format_order(&order), GOLDEN);
    }
}

#[cfg(test)]
mod console_tests {
    use super::*;
    use crate::store::tests::test_store;
    use crate::tail::hub::WindowLimits;
    use std::sync::Mutex;
    use test_support::fixtures::numbered_order;

    /// An output the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn printed(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .filter_map(|line| line.strip_prefix("Order ID: ").map(str::to_owned))
                .collect()
        }
    }

    async fn store_order(store: &OrderStore, id: &str, instance: &str) {
        let order = crate::order::validate(numbered_order(id)).unwrap();
        let mut connection = store.acquire().await.unwrap();
        store
            .insert_batch(&mut connection, &[order], instance)
            .await
            .unwrap();
    }

    const SETTINGS_PAGE: PageLimits = PageLimits {
        events: 2,
        bytes: 1 << 20,
    };

    fn settings() -> ConsoleSettings {
        ConsoleSettings {
            instance: "k1".into(),
            buffer_bytes: 4096,
            page: SETTINGS_PAGE,
            metrics: Arc::default(),
        }
    }

    async fn hub_at_the_log_end(store: &OrderStore) -> EventHub {
        let limits = WindowLimits {
            events: 100,
            bytes: 1 << 20,
        };
        EventHub::new(limits, store.final_position().await.unwrap())
    }

    async fn wait_until(condition: impl Fn() -> bool) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !condition() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("in time");
    }

    /// Runs a console that stops once it has caught up.
    async fn run_to_the_end(store: &OrderStore, output: &Captured) {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let hub = hub_at_the_log_end(store).await;
        let start = hub.position();
        run_console(
            store.clone(),
            hub,
            settings(),
            Box::new(output.clone()),
            start,
            shutdown,
        )
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn orders_are_printed_once_by_their_instance_across_a_crash_and_a_restart() {
        let (_server, store) = test_store().await;
        // A console that has run before, then orders committed while it was gone (a crash
        // between commit and print).
        store.console_cursor("k1", 0).await.unwrap();
        for (id, instance) in [("a", "k1"), ("b", "k2"), ("c", "k1"), ("d", "k1")] {
            store_order(&store, id, instance).await;
        }
        let output = Captured::default();
        let hub = hub_at_the_log_end(&store).await;
        let shutdown = CancellationToken::new();
        let console = tokio::spawn(run_console(
            store.clone(),
            hub.clone(),
            settings(),
            Box::new(output.clone()),
            hub.position(),
            shutdown.clone(),
        ));
        wait_until(|| output.printed().len() == 3).await;
        assert_eq!(output.printed(), ["a", "c", "d"], "only k1's, in order");

        // Live from the hub, as the tailer publishes.
        store_order(&store, "e", "k1").await;
        store_order(&store, "f", "k2").await;
        let page = store
            .final_events_after(hub.position(), SETTINGS_PAGE)
            .await
            .unwrap();
        hub.publish(page.events);
        wait_until(|| output.printed().len() == 4).await;
        shutdown.cancel();
        console.await.unwrap().unwrap();
        assert_eq!(output.printed(), ["a", "c", "d", "e"]);

        // The next start prints nothing again.
        let again = Captured::default();
        run_to_the_end(&store, &again).await;
        assert!(again.printed().is_empty(), "{:?}", again.printed());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_new_instance_does_not_print_history_but_prints_what_follows() {
        let (_server, store) = test_store().await;
        store_order(&store, "old", "k1").await;
        let output = Captured::default();
        run_to_the_end(&store, &output).await;
        assert!(output.printed().is_empty());
        store_order(&store, "new", "k1").await;
        run_to_the_end(&store, &output).await;
        assert_eq!(output.printed(), ["new"]);
    }
}
