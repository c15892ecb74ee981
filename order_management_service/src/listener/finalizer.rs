//! The in-order finalizer (pure): events are handled concurrently, but the position may only move
//! past an event once it and every event before it are handled. An event handled early waits
//! for the ones before it.

use std::collections::VecDeque;

/// The sequence number of a tracked event.
pub(crate) type Sequence = u64;

/// Tracks events in stream order and releases the longest handled prefix.
#[derive(Debug)]
pub(crate) struct InOrderFinalizer<T> {
    /// The tracked events not yet released, oldest first; `true` once handled.
    slots: VecDeque<(T, bool)>,
    /// The sequence number of `slots[0]`.
    first: Sequence,
}

impl<T> Default for InOrderFinalizer<T> {
    fn default() -> Self {
        Self {
            slots: VecDeque::new(),
            first: 0,
        }
    }
}

impl<T> InOrderFinalizer<T> {
    /// Tracks the next event of the stream, described by `value`; returns its sequence number.
    pub(crate) fn track(&mut self, value: T) -> Sequence {
        self.slots.push_back((value, false));
        self.first + self.slots.len() as Sequence - 1
    }

    /// Marks event `sequence` handled. Returns the newest event of the prefix this completes, if
    /// any: the position may move past it (and past every event before it).
    ///
    /// # Panics
    /// If `sequence` was not tracked, or was already released.
    pub(crate) fn finish(&mut self, sequence: Sequence) -> Option<T> {
        let index = sequence
            .checked_sub(self.first)
            .and_then(|index| usize::try_from(index).ok())
            .filter(|&index| index < self.slots.len())
            .unwrap_or_else(|| panic!("event {sequence} is not pending"));
        self.slots[index].1 = true;
        let mut released = None;
        while self.slots.front().is_some_and(|(_, handled)| *handled) {
            released = self.slots.pop_front().map(|(value, _)| value);
            self.first += 1;
        }
        released
    }

    /// How many events are tracked and not yet released.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The oldest event not yet released.
    pub(crate) fn oldest(&self) -> Option<&T> {
        self.slots.front().map(|(value, _)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_handled_in_order_are_released_one_by_one() {
        let mut finalizer = InOrderFinalizer::default();
        let first = finalizer.track("a");
        let second = finalizer.track("b");
        assert_eq!(finalizer.finish(first), Some("a"));
        assert_eq!(finalizer.finish(second), Some("b"));
        assert_eq!(finalizer.oldest(), None);
    }

    #[test]
    fn an_early_acknowledgement_waits_for_the_events_before_it() {
        let mut finalizer = InOrderFinalizer::default();
        let sequences: Vec<Sequence> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|value| finalizer.track(value))
            .collect();
        assert_eq!(finalizer.finish(sequences[2]), None);
        assert_eq!(finalizer.finish(sequences[1]), None);
        assert_eq!(finalizer.oldest(), Some(&"a"));
        // The first completes the prefix a, b, c: the position moves past c at once.
        assert_eq!(finalizer.finish(sequences[0]), Some("c"));
        assert_eq!(finalizer.oldest(), Some(&"d"));
        let later = finalizer.track("e");
        assert_eq!(finalizer.finish(later), None);
        assert_eq!(finalizer.finish(sequences[3]), Some("e"));
    }

    #[test]
    #[should_panic(expected = "not pending")]
    fn finishing_an_event_twice_is_a_bug() {
        let mut finalizer = InOrderFinalizer::default();
        let first = finalizer.track(());
        finalizer.finish(first);
        finalizer.finish(first);
    }
}
