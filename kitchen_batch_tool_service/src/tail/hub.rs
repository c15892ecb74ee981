//! The in-memory window on the event log: the latest events the tailer read, bounded in events
//! and in bytes, shared by every screen and the console.
//!
//! Readers hold a position, not a queue: publishing never waits for anyone, and a reader whose
//! position has fallen out of the window is told so and catches up from PostgreSQL.

use crate::events::LogEvent;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// An event as kept in the window: the event and its unfiltered SSE frame, built once for all
/// readers.
#[derive(Debug)]
pub(crate) struct LiveEvent {
    pub(crate) event: LogEvent,
    pub(crate) frame: Bytes,
}

impl LiveEvent {
    /// What the event costs the window, roughly: its frame and what it was built from.
    fn bytes(&self) -> usize {
        self.frame.len() + self.event.payload_bytes() + 128
    }

    /// The event's frame for a screen that shows only `station`'s items: `None` for an order
    /// with none there. Only an order with a filter needs a frame of its own.
    pub(crate) fn frame_for(&self, station: Option<&str>) -> Option<Bytes> {
        match (&self.event, station) {
            (LogEvent::Order(_), Some(_)) => crate::sse::frame::log_frame(&self.event, station),
            _ => Some(self.frame.clone()),
        }
    }
}

/// How big the window may grow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowLimits {
    pub(crate) events: usize,
    pub(crate) bytes: usize,
}

/// What a reader finds after its position.
#[derive(Debug)]
pub(crate) enum Read {
    /// The next events, in id order.
    Events(Vec<Arc<LiveEvent>>),
    /// Nothing yet.
    UpToDate,
    /// Events after the position have left the window: read them from the database, up to
    /// [`EventHub::position`].
    Behind,
}

struct Window {
    events: VecDeque<Arc<LiveEvent>>,
    bytes: usize,
    /// Every event up to here has left the window (or was never in it).
    evicted_through: i64,
    limits: WindowLimits,
}

/// The window, shared; cheap to clone.
#[derive(Clone)]
pub(crate) struct EventHub {
    window: Arc<RwLock<Window>>,
    /// The tailer's position: every event up to it is published.
    position: watch::Sender<i64>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("position", &self.position())
            .finish_non_exhaustive()
    }
}

impl EventHub {
    /// An empty window whose readers start at `position` (the log's end when the service
    /// starts); anything before it is read from the database.
    pub(crate) fn new(limits: WindowLimits, position: i64) -> Self {
        Self {
            window: Arc::new(RwLock::new(Window {
                events: VecDeque::new(),
                bytes: 0,
                evicted_through: position,
                limits,
            })),
            position: watch::Sender::new(position),
        }
    }

    /// The tailer's position.
    pub(crate) fn position(&self) -> i64 {
        *self.position.borrow()
    }

    /// A receiver that changes whenever the position moves.
    pub(crate) fn watch_position(&self) -> watch::Receiver<i64> {
        self.position.subscribe()
    }

    /// Adds `events` (in id order, after the position) and moves the position to the last one.
    pub(crate) fn publish(&self, events: Vec<LogEvent>) {
        let Some(last) = events.last().map(LogEvent::id) else {
            return;
        };
        let live: Vec<Arc<LiveEvent>> = events
            .into_iter()
            .filter_map(|event| match crate::sse::frame::log_frame(&event, None) {
                Some(frame) => Some(Arc::new(LiveEvent { event, frame })),
                None => {
                    // Only a row written by hand can have no items: it is passed over.
                    tracing::warn!(order_id = ?event.as_order().map(|order| &order.order.order_id),
                        event_id = event.id(), "a stored order has no items; not shown");
                    None
                }
            })
            .collect();
        {
            let mut window = self.window.write().expect("hub lock");
            for event in live {
                window.bytes += event.bytes();
                window.events.push_back(event);
            }
            while window.events.len() > window.limits.events
                || (window.bytes > window.limits.bytes && window.events.len() > 1)
            {
                let evicted = window.events.pop_front().expect("not empty");
                window.bytes -= evicted.bytes();
                window.evicted_through = evicted.event.id();
            }
        }
        self.position.send_replace(last);
    }

    /// Up to `most` events after `after`.
    pub(crate) fn read(&self, after: i64, most: usize) -> Read {
        let window = self.window.read().expect("hub lock");
        if after < window.evicted_through {
            return Read::Behind;
        }
        let start = window
            .events
            .partition_point(|live| live.event.id() <= after);
        if start == window.events.len() {
            return Read::UpToDate;
        }
        Read::Events(window.events.range(start..).take(most).cloned().collect())
    }

    /// The events and bytes held now.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let window = self.window.read().unwrap();
        (window.events.len(), window.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::LogEvent;

    fn event(id: i64) -> LogEvent {
        LogEvent::Order(crate::events::test_event(id))
    }

    fn ids(read: Read) -> Vec<i64> {
        match read {
            Read::Events(events) => events.iter().map(|live| live.event.id()).collect(),
            other => panic!("{other:?}"),
        }
    }

    const ROOMY: WindowLimits = WindowLimits {
        events: 100,
        bytes: 1 << 20,
    };

    #[test]
    fn readers_get_what_follows_their_position_in_order() {
        let hub = EventHub::new(ROOMY, 10);
        assert!(matches!(hub.read(10, 10), Read::UpToDate));
        hub.publish(vec![event(12), event(15), event(20)]);
        assert_eq!(hub.position(), 20);
        assert_eq!(ids(hub.read(10, 10)), [12, 15, 20]);
        assert_eq!(ids(hub.read(12, 10)), [15, 20]);
        assert_eq!(ids(hub.read(13, 1)), [15]);
        assert!(matches!(hub.read(20, 10), Read::UpToDate));
    }

    #[test]
    fn a_reader_before_the_window_is_behind() {
        let hub = EventHub::new(ROOMY, 10);
        assert!(matches!(hub.read(5, 10), Read::Behind), "before the start");
        let small = WindowLimits {
            events: 2,
            bytes: 1 << 20,
        };
        let hub = EventHub::new(small, 0);
        hub.publish(vec![event(1), event(2), event(3)]);
        assert!(matches!(hub.read(0, 10), Read::Behind));
        assert_eq!(ids(hub.read(1, 10)), [2, 3]);
    }

    #[test]
    fn the_window_is_bounded_in_bytes_but_keeps_the_newest_event() {
        let one_event = event(1).payload_bytes();
        let tight = WindowLimits {
            events: 1_000,
            bytes: one_event * 3,
        };
        let hub = EventHub::new(tight, 0);
        hub.publish((1..=100).map(event).collect());
        let (events, bytes) = hub.held();
        assert!((1..10).contains(&events), "{events} events held");
        assert!(bytes <= tight.bytes || events == 1, "{bytes} bytes held");
        assert_eq!(hub.position(), 100);
        let tiny = WindowLimits {
            events: 1_000,
            bytes: 1,
        };
        let hub = EventHub::new(tiny, 0);
        hub.publish(vec![event(1), event(2)]);
        assert_eq!(ids(hub.read(1, 10)), [2]);
    }
}
