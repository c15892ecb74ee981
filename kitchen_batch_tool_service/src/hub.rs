//! The in-memory broadcast of committed orders to Server-Sent Events connections.

use crate::events::OrderEvent;
use crate::writer::CommitListener;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::broadcast;

/// A committed order as broadcast: the event and its unfiltered SSE frame, built once for all
/// connections.
#[derive(Debug)]
pub struct LiveEvent {
    /// The order and its event id.
    pub event: Arc<OrderEvent>,
    /// `event.frame(None)`.
    pub frame: Bytes,
}

/// Broadcasts committed orders to every connected screen.
///
/// Publishing never waits: a connection that falls more than the capacity behind is told it
/// lagged and catches up from the database (see `routers::orders_router`).
#[derive(Debug, Clone)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    last_published: Arc<AtomicI64>,
}

impl EventHub {
    /// A hub that keeps the last `capacity` events for slow connections; `last_published` is the
    /// highest event id already stored when the service starts.
    pub fn new(capacity: usize, last_published: i64) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self {
            sender,
            last_published: Arc::new(AtomicI64::new(last_published)),
        }
    }

    /// The highest event id published so far. A subscriber that wants only new events starts
    /// after it.
    pub fn last_published(&self) -> i64 {
        self.last_published.load(Ordering::Acquire)
    }

    /// Sends `event` to every subscriber.
    pub fn publish(&self, event: Arc<OrderEvent>) {
        let frame = event
            .frame(None)
            .expect("a stored order has at least one item");
        self.last_published.fetch_max(event.id, Ordering::AcqRel);
        // No subscriber is not an error: nobody is watching right now.
        let _ = self.sender.send(Arc::new(LiveEvent { event, frame }));
    }

    /// A new subscription, receiving every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }

    /// How many connections are subscribed.
    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

impl CommitListener for EventHub {
    fn on_commit(&self, events: &[Arc<OrderEvent>]) {
        for event in events {
            self.publish(Arc::clone(event));
        }
    }
}
