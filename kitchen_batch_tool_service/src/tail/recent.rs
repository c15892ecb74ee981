//! The orders this instance's writer has just committed, kept until the tailer reaches them, so
//! that the tailer reads only their ids from PostgreSQL (which decides what is final, and in
//! which order) and not their contents, which the writer already has.
//!
//! Bounded in bytes: when the tailer falls behind, the oldest entries are dropped and the
//! tailer reads those orders from PostgreSQL instead.

use crate::events::OrderEvent;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Shared between the writer (which adds) and the tailer (which takes); cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct RecentCommits {
    inner: Arc<Mutex<Entries>>,
}

#[derive(Debug)]
struct Entries {
    events: BTreeMap<i64, OrderEvent>,
    bytes: usize,
    max_bytes: usize,
}

fn cost(event: &OrderEvent) -> usize {
    event.order.payload_bytes() + 128
}

impl RecentCommits {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Entries {
                events: BTreeMap::new(),
                bytes: 0,
                max_bytes,
            })),
        }
    }

    /// Keeps `events`, just committed.
    pub(crate) fn add(&self, events: impl IntoIterator<Item = OrderEvent>) {
        let mut entries = self.inner.lock().expect("recent commits lock");
        for event in events {
            entries.bytes += cost(&event);
            if let Some(replaced) = entries.events.insert(event.id, event) {
                entries.bytes -= cost(&replaced);
            }
        }
        while entries.bytes > entries.max_bytes {
            let Some((_, oldest)) = entries.events.pop_first() else {
                break;
            };
            entries.bytes -= cost(&oldest);
        }
    }

    /// Takes the events with these ids that are kept; the others are `None`. Everything up to
    /// the last id is dropped too: the tailer has passed it.
    pub(crate) fn take(&self, ids: &[i64]) -> Vec<Option<OrderEvent>> {
        let mut entries = self.inner.lock().expect("recent commits lock");
        let taken: Vec<Option<OrderEvent>> =
            ids.iter().map(|id| entries.events.remove(id)).collect();
        entries.bytes -= taken.iter().flatten().map(cost).sum::<usize>();
        if let Some(&last) = ids.last() {
            while let Some(entry) = entries.events.first_entry() {
                if *entry.key() > last {
                    break;
                }
                let passed = entry.remove();
                entries.bytes -= cost(&passed);
            }
        }
        taken
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::test_event as event;

    #[test]
    fn kept_events_are_taken_once_and_passed_ones_dropped() {
        let recent = RecentCommits::new(1 << 20);
        recent.add([event(3), event(5), event(9)]);
        let taken = recent.take(&[2, 3, 5]);
        assert_eq!(taken[0], None, "not committed here");
        assert_eq!(taken[1].as_ref().map(|e| e.id), Some(3));
        assert_eq!(taken[2].as_ref().map(|e| e.id), Some(5));
        assert_eq!(recent.take(&[3])[0], None, "taken once");
        assert_eq!(recent.len(), 1);
        recent.add([event(1)]);
        let _ = recent.take(&[6]);
        assert_eq!(recent.len(), 1, "1 was passed and dropped, 9 is kept");
    }

    #[test]
    fn the_oldest_are_dropped_beyond_the_byte_limit() {
        let recent = RecentCommits::new(cost(&event(9)) + cost(&event(10)));
        recent.add((1..=10).map(event));
        assert_eq!(recent.len(), 2);
        let taken = recent.take(&[9, 10]);
        assert!(taken.iter().all(Option::is_some));
    }
}
