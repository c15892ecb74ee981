//! Group commit: one task stores the orders that arrive together in one transaction, then hands
//! the committed orders, in event-id order, to a [`CommitListener`].
//!
//! One writer means commits happen in event-id order, so listeners (the console and the SSE
//! broadcast) see events in sequence order. That is what lets an SSE client drop duplicates by
//! id without ever dropping an event it has not seen.

use crate::events::OrderEvent;
use crate::order::Order;
use crate::store::{Insertion, OrderStore, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Postgres};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What storing one order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored (and committed) now, at this event id.
    Stored {
        /// The order's event id.
        event_id: i64,
    },
    /// An order with the same `order_id` was stored before.
    AlreadyReceived,
}

/// Why an order was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The database failed; the order may be sent again.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The writer has shut down.
    #[error("the order writer has stopped")]
    Stopped,
}

/// Told about every committed batch of new orders, in event-id order, before their senders get
/// their answers. Must not block: it runs on the write path.
pub trait CommitListener: Send + Sync + 'static {
    /// Called once per committed batch with its new orders (never with duplicates).
    fn on_commit(&self, events: &[Arc<OrderEvent>]);
}

struct WriteRequest {
    order: Order,
    reply: oneshot::Sender<Result<StoreOutcome, WriteError>>,
}

/// The handle through which handlers store orders; cheap to clone.
#[derive(Clone, Debug)]
pub struct OrderWriter {
    sender: mpsc::Sender<WriteRequest>,
}

impl OrderWriter {
    /// Starts the writer task. It stores at most `max_batch` orders per transaction and treats
    /// everything up to `last_published` (the highest event id already stored at start-up) as
    /// already announced. The task ends when every handle is dropped.
    pub fn spawn(
        store: OrderStore,
        listener: Arc<dyn CommitListener>,
        max_batch: usize,
        last_published: i64,
    ) -> (Self, JoinHandle<()>) {
        let max_batch = max_batch.max(1);
        let (sender, receiver) = mpsc::channel(max_batch * 4);
        let task = WriterTask {
            store,
            listener,
            max_batch,
            last_published,
            commit_in_doubt: false,
            connection: None,
            last_used: Instant::now(),
        };
        let handle = tokio::spawn(task.run(receiver));
        (Self { sender }, handle)
    }

    /// Stores `order` and waits for its commit.
    pub async fn write(&self, order: Order) -> Result<StoreOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(WriteRequest { order, reply })
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

struct WriterTask {
    store: OrderStore,
    listener: Arc<dyn CommitListener>,
    max_batch: usize,
    last_published: i64,
    /// A commit failed without a clear answer: its orders may be stored though never announced.
    commit_in_doubt: bool,
    /// The connection batches are written on, kept from one batch to the next so that a busy
    /// writer does not pay the pool's liveness ping per batch; `None` after a failure.
    connection: Option<PoolConnection<Postgres>>,
    /// When `connection` was last used.
    last_used: Instant,
}

/// A kept connection idle for longer than this is pinged before use (as the pool does on every
/// acquire), so one the server dropped meanwhile is replaced instead of failing a batch.
const IDLE_CHECK: Duration = Duration::from_millis(100);

impl WriterTask {
    async fn run(mut self, mut receiver: mpsc::Receiver<WriteRequest>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while receiver.recv_many(&mut batch, self.max_batch).await > 0 {
            self.write_batch(std::mem::take(&mut batch)).await;
        }
        tracing::info!("order writer stopped");
    }

    async fn write_batch(&mut self, batch: Vec<WriteRequest>) {
        let (orders, replies): (Vec<Order>, Vec<_>) = batch
            .into_iter()
            .map(|request| (request.order, request.reply))
            .unzip();
        let insertions = match self.insert(&orders).await {
            Ok(insertions) => insertions,
            Err(error) => {
                self.commit_in_doubt = true;
                tracing::error!(%error, orders = orders.len(), "storing a batch failed");
                for (order, reply) in orders.iter().zip(replies) {
                    tracing::warn!(order_id = %order.order_id, "order not stored");
                    let _ = reply.send(Err(WriteError::Unavailable(error.to_string())));
                }
                return;
            }
        };
        let first_new = insertions.iter().find_map(|insertion| match insertion {
            Insertion::New(event_id) => Some(*event_id),
            Insertion::Duplicate => None,
        });
        if self.commit_in_doubt {
            self.announce_orders_committed_in_doubt(first_new.unwrap_or(i64::MAX))
                .await;
        }
        let mut events = Vec::new();
        let mut outcomes = Vec::with_capacity(orders.len());
        for (order, insertion) in orders.into_iter().zip(insertions) {
            match insertion {
                Insertion::New(event_id) => {
                    outcomes.push(StoreOutcome::Stored { event_id });
                    events.push(Arc::new(OrderEvent {
                        id: event_id,
                        order,
                    }));
                }
                Insertion::Duplicate => {
                    tracing::info!(order_id = %order.order_id, "order already received");
                    outcomes.push(StoreOutcome::AlreadyReceived);
                }
            }
        }
        events.sort_by_key(|event| event.id);
        self.announce(&events);
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(Ok(outcome));
        }
    }

    /// Stores `orders` on the kept connection (taking one from the pool if there is none).
    async fn insert(&mut self, orders: &[Order]) -> Result<Vec<Insertion>, StoreError> {
        if self.last_used.elapsed() > IDLE_CHECK
            && let Some(connection) = &mut self.connection
            && connection.ping().await.is_err()
        {
            self.connection = None;
        }
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self.connection.insert(self.store.acquire().await?),
        };
        let result = OrderStore::insert_batch_on(connection, orders).await;
        self.last_used = Instant::now();
        if result.is_err() {
            // It may be broken: back to the pool, which checks it before lending it again.
            self.connection = None;
        }
        result
    }

    /// After a commit whose outcome was unknown, announces the orders it did store (those with
    /// event ids between the last announced one and `before`), so none is stored but never shown.
    async fn announce_orders_committed_in_doubt(&mut self, before: i64) {
        match self
            .store
            .events_between(self.last_published, before, i64::MAX)
            .await
        {
            Ok(events) => {
                let events: Vec<_> = events.into_iter().map(Arc::new).collect();
                if !events.is_empty() {
                    tracing::warn!(
                        orders = events.len(),
                        "announcing orders whose commit was in doubt"
                    );
                }
                self.announce(&events);
                self.commit_in_doubt = false;
            }
            Err(error) => tracing::error!(%error, "cannot look up orders committed in doubt"),
        }
    }

    fn announce(&mut self, events: &[Arc<OrderEvent>]) {
        if let Some(last) = events.last() {
            self.last_published = last.id;
            self.listener.on_commit(events);
        }
    }
}
