//! The service's metrics, kept with the Prometheus client library (`prometheus-client`) and
//! served on `/metrics` in the OpenMetrics text format; `/health` shows the counters too.

use crate::dead_letter::RejectedBy;
use crate::status::ProgressSnapshot;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The `rejected_by` label of dead-lettered documents.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum Step {
    decoding,
    extraction,
    kitchen,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectedLabels {
    rejected_by: Step,
}

/// The service's metrics. Shared between the listener and the HTTP server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    insert_events: Counter,
    orders_sent: Counter,
    orders_dead_lettered: Family<RejectedLabels, Counter>,
    delivery_retries: Counter,
    stream_errors: Counter,
    unrecoverable_errors: Counter,
    checkpoints_saved: Counter,
    retrying_deliveries: Gauge,
    delivery_seconds: Histogram,
    lag_seconds: Gauge<f64, AtomicU64>,
    checkpoint_age_seconds: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("order_management");
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let insert_events = counter("insert_events", "Insert events read from the change stream");
        let orders_sent = counter("orders_sent", "Orders the kitchen acknowledged");
        let delivery_retries = counter(
            "delivery_retries",
            "Calls to the kitchen that failed and were retried",
        );
        let stream_errors = counter(
            "stream_errors",
            "Change-stream failures recovered by reopening the stream",
        );
        let unrecoverable_errors =
            counter("unrecoverable_errors", "Failures that stopped the listener");
        let checkpoints_saved = counter("checkpoints_saved", "Stream positions stored");
        let orders_dead_lettered = Family::<RejectedLabels, Counter>::default();
        registry.register(
            "orders_dead_lettered",
            "Documents written to the dead-letter collection, by the step that refused them",
            orders_dead_lettered.clone(),
        );
        let retrying_deliveries = Gauge::default();
        registry.register(
            "retrying_deliveries",
            "Orders whose delivery is failing and being retried now",
            retrying_deliveries.clone(),
        );
        // 1 ms to about 16 s.
        let delivery_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register_with_unit(
            "delivery",
            "Time of each call to the kitchen (one attempt), answered or failed",
            Unit::Seconds,
            delivery_seconds.clone(),
        );
        let lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "lag",
            "How far behind the inserts the listener is: the age of the oldest order being handled, else the insert-to-handled time of the last order",
            Unit::Seconds,
            lag_seconds.clone(),
        );
        let checkpoint_age_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "checkpoint_age",
            "How long ago the stream's position was stored",
            Unit::Seconds,
            checkpoint_age_seconds.clone(),
        );
        Self {
            registry,
            insert_events,
            orders_sent,
            orders_dead_lettered,
            delivery_retries,
            stream_errors,
            unrecoverable_errors,
            checkpoints_saved,
            retrying_deliveries,
            delivery_seconds,
            lag_seconds,
            checkpoint_age_seconds,
        }
    }
}

/// A copy of the counters at one moment, as `/health` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Insert events read from the change stream.
    pub insert_events: u64,
    /// Orders the kitchen acknowledged.
    pub orders_sent: u64,
    /// Documents written to the dead-letter collection.
    pub orders_dead_lettered: u64,
    /// Calls to the kitchen that failed and were retried.
    pub delivery_retries: u64,
    /// Change-stream or MongoDB failures the listener recovered from by reopening the stream.
    pub stream_errors: u64,
    /// Failures that stopped the listener (history lost, collection dropped or renamed).
    pub unrecoverable_errors: u64,
    /// Stream positions stored.
    pub checkpoints_saved: u64,
}

impl Metrics {
    /// Counts one insert event.
    pub fn insert_event(&self) {
        self.insert_events.inc();
    }
    /// Counts one acknowledged order.
    pub fn order_sent(&self) {
        self.orders_sent.inc();
    }
    /// Counts one dead-lettered document.
    pub(crate) fn order_dead_lettered(&self, rejected_by: RejectedBy) {
        let rejected_by = match rejected_by {
            RejectedBy::Decoding => Step::decoding,
            RejectedBy::Extraction => Step::extraction,
            RejectedBy::Kitchen => Step::kitchen,
        };
        self.orders_dead_lettered
            .get_or_create(&RejectedLabels { rejected_by })
            .inc();
    }
    /// Counts one failed call to the kitchen that will be retried.
    pub fn delivery_retry(&self) {
        self.delivery_retries.inc();
    }
    /// Records how long one call to the kitchen took.
    pub fn delivery_attempt(&self, took: Duration) {
        self.delivery_seconds.observe(took.as_secs_f64());
    }
    /// One more delivery is failing and being retried.
    pub fn delivery_retrying(&self) {
        self.retrying_deliveries.inc();
    }
    /// A delivery that was being retried ended (acknowledged, rejected or abandoned).
    pub fn delivery_retry_ended(&self) {
        self.retrying_deliveries.dec();
    }
    /// How many deliveries are failing and being retried now.
    pub fn retrying_deliveries(&self) -> u64 {
        u64::try_from(self.retrying_deliveries.get()).unwrap_or(0)
    }
    /// Counts one recovered stream failure.
    pub fn stream_error(&self) {
        self.stream_errors.inc();
    }
    /// Counts one failure that stopped the listener.
    pub fn unrecoverable_error(&self) {
        self.unrecoverable_errors.inc();
    }
    /// Counts one stored checkpoint.
    pub fn checkpoint_saved(&self) {
        self.checkpoints_saved.inc();
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let dead_lettered = [Step::decoding, Step::extraction, Step::kitchen]
            .into_iter()
            .map(|rejected_by| {
                self.orders_dead_lettered
                    .get_or_create(&RejectedLabels { rejected_by })
                    .get()
            })
            .sum();
        MetricsSnapshot {
            insert_events: self.insert_events.get(),
            orders_sent: self.orders_sent.get(),
            orders_dead_lettered: dead_lettered,
            delivery_retries: self.delivery_retries.get(),
            stream_errors: self.stream_errors.get(),
            unrecoverable_errors: self.unrecoverable_errors.get(),
            checkpoints_saved: self.checkpoints_saved.get(),
        }
    }

    /// Every metric in the OpenMetrics text format, with the gauges read from `progress`.
    pub(crate) fn encode(&self, progress: &ProgressSnapshot) -> String {
        let seconds = |millis: Option<i64>| millis.map_or(0.0, |millis| millis as f64 / 1_000.0);
        self.lag_seconds.set(seconds(progress.lag_ms));
        self.checkpoint_age_seconds
            .set(seconds(progress.checkpoint_age_ms));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Role;

    #[test]
    fn counters_add_up_and_are_encoded_with_their_labels_and_gauges() {
        let metrics = Metrics::default();
        metrics.order_sent();
        metrics.order_sent();
        metrics.order_dead_lettered(RejectedBy::Extraction);
        metrics.delivery_attempt(Duration::from_millis(3));
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot.orders_sent, 2);
        assert_eq!(snapshot.orders_dead_lettered, 1);
        let text = metrics.encode(&ProgressSnapshot {
            last_event_at: None,
            checkpoint_age_ms: Some(1_500),
            lag_ms: Some(40),
            role: Role::Active,
        });
        for line in [
            "order_management_orders_sent_total 2",
            r#"order_management_orders_dead_lettered_total{rejected_by="extraction"} 1"#,
            r#"order_management_orders_dead_lettered_total{rejected_by="kitchen"} 0"#,
            "order_management_delivery_seconds_count 1",
            "order_management_lag_seconds 0.04",
            "order_management_checkpoint_age_seconds 1.5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
