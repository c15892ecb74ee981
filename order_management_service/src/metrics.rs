//! Counters of what the listener did, served on `/metrics` (Prometheus text) and in `/health`.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// The listener's counters. Shared between the listener and the HTTP server.
#[derive(Debug, Default)]
pub struct Metrics {
    insert_events: AtomicU64,
    orders_sent: AtomicU64,
    orders_dead_lettered: AtomicU64,
    delivery_retries: AtomicU64,
    stream_errors: AtomicU64,
    unrecoverable_errors: AtomicU64,
    checkpoints_saved: AtomicU64,
    retrying_deliveries: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Insert events read from the change stream.
    pub insert_events: u64,
    /// Orders the kitchen acknowledged.
    pub orders_sent: u64,
    /// Documents written to the dead-letter collection.
    pub orders_dead_lettered: u64,
    /// gRPC calls that failed and were retried.
    pub delivery_retries: u64,
    /// Change-stream or MongoDB failures the listener recovered from by reopening the stream.
    pub stream_errors: u64,
    /// Failures that stopped the listener (history lost, collection dropped or renamed).
    pub unrecoverable_errors: u64,
    /// Resume tokens stored.
    pub checkpoints_saved: u64,
}

impl Metrics {
    /// Counts one insert event.
    pub fn insert_event(&self) {
        self.insert_events.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts one acknowledged order.
    pub fn order_sent(&self) {
        self.orders_sent.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts one dead-lettered document.
    pub fn order_dead_lettered(&self) {
        self.orders_dead_lettered.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts one failed gRPC call that will be retried.
    pub fn delivery_retry(&self) {
        self.delivery_retries.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts one recovered stream failure.
    pub fn stream_error(&self) {
        self.stream_errors.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts one failure that stopped the listener.
    pub fn unrecoverable_error(&self) {
        self.unrecoverable_errors.fetch_add(1, Ordering::Relaxed);
    }
    /// One more delivery is failing and being retried.
    pub fn delivery_retrying(&self) {
        self.retrying_deliveries.fetch_add(1, Ordering::Relaxed);
    }
    /// A delivery that was being retried ended (acknowledged, rejected or abandoned).
    pub fn delivery_retry_ended(&self) {
        self.retrying_deliveries.fetch_sub(1, Ordering::Relaxed);
    }
    /// How many deliveries are failing and being retried now.
    pub fn retrying_deliveries(&self) -> u64 {
        self.retrying_deliveries.load(Ordering::Relaxed)
    }
    /// Counts one stored checkpoint.
    pub fn checkpoint_saved(&self) {
        self.checkpoints_saved.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        MetricsSnapshot {
            insert_events: load(&self.insert_events),
            orders_sent: load(&self.orders_sent),
            orders_dead_lettered: load(&self.orders_dead_lettered),
            delivery_retries: load(&self.delivery_retries),
            stream_errors: load(&self.stream_errors),
            unrecoverable_errors: load(&self.unrecoverable_errors),
            checkpoints_saved: load(&self.checkpoints_saved),
        }
    }
}

impl MetricsSnapshot {
    /// The counters in the Prometheus text format, each prefixed `order_management_`.
    pub fn to_prometheus(self) -> String {
        let counters = [
            (
                "insert_events_total",
                "Insert events read from the change stream.",
                self.insert_events,
            ),
            (
                "orders_sent_total",
                "Orders the kitchen acknowledged.",
                self.orders_sent,
            ),
            (
                "orders_dead_lettered_total",
                "Documents written to the dead-letter collection.",
                self.orders_dead_lettered,
            ),
            (
                "delivery_retries_total",
                "gRPC calls to the kitchen that failed and were retried.",
                self.delivery_retries,
            ),
            (
                "stream_errors_total",
                "Change-stream failures recovered by reopening the stream.",
                self.stream_errors,
            ),
            (
                "unrecoverable_errors_total",
                "Failures that stopped the listener.",
                self.unrecoverable_errors,
            ),
            (
                "checkpoints_saved_total",
                "Resume tokens stored.",
                self.checkpoints_saved,
            ),
        ];
        let mut text = String::new();
        for (name, help, value) in counters {
            text.push_str(&format!(
                "# HELP order_management_{name} {help}\n# TYPE order_management_{name} counter\norder_management_{name} {value}\n"
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_render_as_prometheus_text() {
        let metrics = Metrics::default();
        metrics.order_sent();
        metrics.order_sent();
        metrics.order_dead_lettered();
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot.orders_sent, 2);
        assert_eq!(snapshot.orders_dead_lettered, 1);
        let text = snapshot.to_prometheus();
        assert!(
            text.contains("\norder_management_orders_sent_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("\norder_management_orders_dead_lettered_total 1\n"),
            "{text}"
        );
    }
}
