//! Group commit with pipelining: the orders that arrive together are stored in one transaction,
//! and up to `connections` transactions are in flight at once, so the next batch is written
//! while the previous one waits for its WAL flush.
//!
//! The writer only stores and answers. Screens and the console are fed by the tailer from what
//! is committed (see `tail`), so an order whose commit outcome is unknown to the writer is still
//! shown if it was stored, and an answer never depends on anything but the commit.

use crate::events::OrderEvent;
use crate::health::{Component, StoppedOnPanic};
use crate::metrics::Metrics;
use crate::order::Order;
use crate::store::{Insertion, KeptConnection, OrderStore, StoreError};
use crate::tail::RecentCommits;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

/// What storing one order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreOutcome {
    /// Stored (and committed) now, at this event id.
    Stored { event_id: i64, received_at: String },
    /// An order with the same `order_id` was stored before.
    AlreadyReceived,
}

/// Why an order was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WriteError {
    /// PostgreSQL refused this order's data; sending it again cannot succeed.
    #[error("the order cannot be stored: {0}")]
    Refused(String),
    /// The database failed; the order may or may not be stored, and may be sent again.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The writer has shut down.
    #[error("the order writer has stopped")]
    Stopped,
}

/// How the writer works.
#[derive(Debug, Clone)]
pub(crate) struct WriterSettings {
    /// Most orders per transaction.
    pub(crate) max_batch: usize,
    /// Most transactions in flight at once.
    pub(crate) connections: usize,
    /// This instance's name, stored with each order it receives.
    pub(crate) instance: String,
}

struct WriteRequest {
    order: Order,
    reply: oneshot::Sender<Result<StoreOutcome, WriteError>>,
    /// Its share of [`QUEUE_BYTES`], given back once it is answered.
    room: OwnedSemaphorePermit,
}

/// Most bytes of order text waiting for, or in, a transaction; a handler waits for room.
const QUEUE_BYTES: usize = 64 << 20;

/// The handle through which handlers store orders; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct OrderWriter {
    sender: mpsc::Sender<WriteRequest>,
    room: Arc<Semaphore>,
}

/// Counts the writer's commits; the tailer and the notifier wait for it to change.
pub(crate) type CommitCounter = watch::Sender<u64>;

impl OrderWriter {
    /// Starts the writer's tasks, which end when every handle is dropped and the queue is empty.
    pub(crate) fn spawn(
        store: OrderStore,
        settings: WriterSettings,
        commits: Arc<CommitCounter>,
        recent: RecentCommits,
        health: Component,
        metrics: Arc<Metrics>,
    ) -> (Self, JoinSet<()>) {
        let max_batch = settings.max_batch.clamp(1, crate::store::MAX_BATCH);
        let (sender, receiver) = mpsc::channel(max_batch * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        let instance: Arc<str> = settings.instance.into();
        let mut tasks = JoinSet::new();
        for _ in 0..settings.connections.max(1) {
            let worker = Worker {
                store: store.clone(),
                connection: KeptConnection::new(store.clone()),
                instance: Arc::clone(&instance),
                commits: Arc::clone(&commits),
                recent: recent.clone(),
                _stopped_on_panic: health.stopped_on_panic("a writer task"),
                health: health.clone(),
                metrics: Arc::clone(&metrics),
            };
            tasks.spawn(worker.run(Arc::clone(&receiver), max_batch));
        }
        let room = Arc::new(Semaphore::new(QUEUE_BYTES));
        (Self { sender, room }, tasks)
    }

    /// Stores `order` and waits for its commit.
    pub(crate) async fn write(&self, order: Order) -> Result<StoreOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        let bytes = order.payload_bytes().clamp(1, QUEUE_BYTES) as u32;
        let room = Arc::clone(&self.room)
            .acquire_many_owned(bytes)
            .await
            .map_err(|_| WriteError::Stopped)?;
        self.sender
            .send(WriteRequest { order, reply, room })
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

/// One transaction at a time, on a connection of its own.
struct Worker {
    _stopped_on_panic: StoppedOnPanic,
    store: OrderStore,
    instance: Arc<str>,
    commits: Arc<CommitCounter>,
    /// Where the committed orders wait for the tailer.
    recent: RecentCommits,
    health: Component,
    metrics: Arc<Metrics>,
    /// Kept from one batch to the next: a busy writer does not wait on the pool per batch.
    connection: KeptConnection,
}

impl Worker {
    async fn run(mut self, queue: Arc<Mutex<mpsc::Receiver<WriteRequest>>>, max_batch: usize) {
        let mut batch = Vec::with_capacity(max_batch);
        loop {
            // The worker that holds the queue takes everything waiting; the others are writing.
            let received = queue.lock().await.recv_many(&mut batch, max_batch).await;
            if received == 0 {
                break;
            }
            self.write_batch(std::mem::take(&mut batch)).await;
        }
    }

    async fn write_batch(&mut self, batch: Vec<WriteRequest>) {
        let mut rooms = Vec::with_capacity(batch.len());
        let (orders, replies): (Vec<Order>, Vec<_>) = batch
            .into_iter()
            .map(|request| {
                rooms.push(request.room);
                (request.order, request.reply)
            })
            .unzip();
        // Each order's outcome is logged by its handler, inside the call's trace.
        let outcomes = self.store_isolating_refusals(&orders).await;
        // Handed to the tailer before anyone is answered, so that the tailer finds them here.
        let committed: Vec<OrderEvent> = orders
            .into_iter()
            .zip(&outcomes)
            .filter_map(|(order, outcome)| match outcome {
                Ok(StoreOutcome::Stored {
                    event_id,
                    received_at,
                }) => Some(OrderEvent {
                    id: *event_id,
                    received_by: self.instance.to_string(),
                    received_at: received_at.clone(),
                    order,
                }),
                _ => None,
            })
            .collect();
        if outcomes.iter().any(Result::is_ok) {
            self.recent.add(committed);
            self.commits.send_modify(|count| *count += 1);
        }
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }

    /// Stores `orders`; when PostgreSQL refuses the data of the batch, splits it in halves until
    /// the refused orders are alone, so that one bad order never fails the others.
    async fn store_isolating_refusals(
        &mut self,
        orders: &[Order],
    ) -> Vec<Result<StoreOutcome, WriteError>> {
        let mut outcomes: Vec<Option<Result<StoreOutcome, WriteError>>> = vec![None; orders.len()];
        let mut pending = Vec::with_capacity(1);
        pending.push(0..orders.len());
        while let Some(range) = pending.pop() {
            match self.insert(&orders[range.clone()]).await {
                Ok(insertions) => {
                    self.health.healthy();
                    for (slot, insertion) in outcomes[range].iter_mut().zip(insertions) {
                        *slot = Some(Ok(match insertion {
                            Insertion::New {
                                event_id,
                                received_at,
                            } => StoreOutcome::Stored {
                                event_id,
                                received_at,
                            },
                            Insertion::Duplicate => StoreOutcome::AlreadyReceived,
                        }));
                    }
                }
                Err(error) if error.is_refusal() && range.len() > 1 => {
                    let middle = range.start + range.len() / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                }
                Err(error) if error.is_refusal() => {
                    outcomes[range.start] = Some(Err(WriteError::Refused(error.to_string())));
                }
                Err(error) => {
                    tracing::error!(%error, orders = range.len(), "storing a batch failed");
                    self.health
                        .failing(format!("storing orders failed: {error}"));
                    let error = WriteError::Unavailable(error.to_string());
                    for slot in &mut outcomes[range] {
                        *slot = Some(Err(error.clone()));
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .map(|outcome| outcome.expect("every order has an outcome"))
            .collect()
    }

    /// Stores `orders` in one transaction.
    async fn insert(&mut self, orders: &[Order]) -> Result<Vec<Insertion>, StoreError> {
        let (store, instance, metrics) = (&self.store, &self.instance, &self.metrics);
        self.connection
            .run(async |connection| {
                let started = Instant::now();
                let result = store.insert_batch(connection, orders, instance).await;
                if result.is_ok() {
                    metrics.batch_committed(orders.len(), started.elapsed());
                }
                result
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Component;
    use crate::store::tests::test_store;
    use std::time::Duration;
    use test_support::fixtures::numbered_order;

    fn order(id: &str) -> Order {
        crate::order::validate(numbered_order(id)).unwrap()
    }

    fn spawn_writer(store: &OrderStore, connections: usize) -> (OrderWriter, JoinSet<()>) {
        OrderWriter::spawn(
            store.clone(),
            WriterSettings {
                max_batch: 256,
                connections,
                instance: "k1".into(),
            },
            Arc::new(watch::Sender::new(0)),
            RecentCommits::new(1 << 20),
            Component::new("writer"),
            Arc::default(),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_refused_order_fails_alone_and_the_rest_of_its_batch_is_stored() {
        let (_server, store) = test_store().await;
        let (writer, _tasks) = spawn_writer(&store, 1);
        let mut orders: Vec<Order> = (0..20).map(|n| order(&format!("ok-{n}"))).collect();
        orders[7].items[0].name = "Caesar\0Salad".into();
        // Sent together, so that they share batches.
        let outcomes =
            futures::future::join_all(orders.into_iter().map(|order| writer.write(order))).await;
        for (index, outcome) in outcomes.iter().enumerate() {
            if index == 7 {
                assert!(
                    matches!(outcome, Err(WriteError::Refused(_))),
                    "{outcome:?}"
                );
            } else {
                assert!(
                    matches!(outcome, Ok(StoreOutcome::Stored { .. })),
                    "{index}: {outcome:?}"
                );
            }
        }
        let page = store
            .events_between(
                0,
                i64::MAX,
                crate::store::PageLimits {
                    events: 100,
                    bytes: 1 << 20,
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(page.events.len(), 19);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_batch_is_split_until_each_refused_order_is_alone() {
        let (_server, store) = test_store().await;
        let mut worker = Worker {
            _stopped_on_panic: Component::new("writer").stopped_on_panic("a writer task"),
            store: store.clone(),
            connection: KeptConnection::new(store.clone()),
            instance: "k1".into(),
            commits: Arc::new(watch::Sender::new(0)),
            recent: RecentCommits::new(1 << 20),
            health: Component::new("writer"),
            metrics: Arc::default(),
        };
        let mut orders: Vec<Order> = (0..13).map(|n| order(&format!("b-{n}"))).collect();
        for bad in [0, 6, 12] {
            orders[bad].brand_name = "nul\0".into();
        }
        let outcomes = worker.store_isolating_refusals(&orders).await;
        for (index, outcome) in outcomes.iter().enumerate() {
            if [0, 6, 12].contains(&index) {
                assert!(
                    matches!(outcome, Err(WriteError::Refused(_))),
                    "{index}: {outcome:?}"
                );
            } else {
                assert!(
                    matches!(outcome, Ok(StoreOutcome::Stored { .. })),
                    "{index}: {outcome:?}"
                );
            }
        }
        // The stored ones keep the order of the batch in their ids.
        let ids: Vec<i64> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                Ok(StoreOutcome::Stored { event_id, .. }) => Some(*event_id),
                _ => None,
            })
            .collect();
        assert_eq!(ids.len(), 10);
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_transactions_store_each_order_once() {
        let (_server, store) = test_store().await;
        let (writer, _tasks) = spawn_writer(&store, 3);
        // Every order sent twice at once, so that repeats land in concurrent transactions.
        let ids: Vec<String> = (0..300).map(|n| format!("o-{}", n % 150)).collect();
        let outcomes =
            futures::future::join_all(ids.iter().map(|id| writer.write(order(id)))).await;
        let stored = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Ok(StoreOutcome::Stored { .. })))
            .count();
        let repeats = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Ok(StoreOutcome::AlreadyReceived)))
            .count();
        assert_eq!((stored, repeats), (150, 150), "{outcomes:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_writer_stops_when_every_handle_is_dropped() {
        let (_server, store) = test_store().await;
        let (writer, mut tasks) = spawn_writer(&store, 2);
        writer.write(order("last")).await.unwrap();
        drop(writer);
        tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .expect("the workers end");
    }
}
