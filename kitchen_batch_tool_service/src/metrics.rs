//! The kitchen's metrics, kept with the Prometheus client library (`prometheus-client`) and
//! served on `/metrics` in the OpenMetrics text format. Every name is listed, with its meaning,
//! in the crate's README.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

/// What the kitchen answered to one `SendOrder`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum Answer {
    /// Stored now.
    stored,
    /// Stored before: answered again, not stored twice.
    duplicate,
    /// Refused for good (`INVALID_ARGUMENT`): the sender dead-letters it.
    rejected,
    /// Not stored because the database failed (`UNAVAILABLE`): the sender retries.
    unavailable,
}

/// Why an order was refused for good.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum Rejection {
    /// The kitchen's own validation (a missing field, a control character, a limit).
    invalid,
    /// PostgreSQL refused the order's data.
    refused_by_database,
}

/// Why the kitchen ended a screen's stream (a screen closing it is not counted).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum StreamEnd {
    /// Reading the log from PostgreSQL failed; the screen was told to reconnect.
    replay_failed,
    /// The kitchen is shutting down; the screen was told to reconnect.
    shutdown,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    answer: Answer,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    reason: Rejection,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    reason: StreamEnd,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabels {
    kind: &'static str,
}

/// The kitchen's metrics, shared by the gRPC handler, the writer, the streams, the console and
/// the screen API.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    orders_received: Counter,
    orders_stored: Counter,
    orders_duplicate: Counter,
    orders_rejected: Family<RejectionLabels, Counter>,
    orders_unavailable: Counter,
    send_order_seconds: Family<AnswerLabels, Histogram>,
    store_batch_orders: Histogram,
    store_commit_seconds: Histogram,
    orders_printed: Counter,
    ticket_changes: Family<ChangeLabels, Counter>,
    screens_connected: Gauge,
    screen_connections: Counter,
    sse_events_sent: Counter,
    screens_caught_up: Counter,
    screens_dropped: Family<DropLabels, Counter>,
    screens_reset: Counter,
}

/// 0.5 ms to about 16 s: a call answered from a warm pool to one that waited out a timeout.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kitchen");
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let orders_received = counter(
            "orders_received",
            "SendOrder calls that reached the kitchen's handler",
        );
        let orders_stored = counter(
            "orders_stored",
            "Orders stored (committed) for the first time",
        );
        let orders_duplicate = counter(
            "orders_duplicate",
            "Orders received again after they were stored: answered, not stored twice",
        );
        let orders_unavailable = counter(
            "orders_unavailable",
            "Orders answered UNAVAILABLE because the database failed; the sender retries them",
        );
        let orders_printed = counter(
            "orders_printed",
            "Order blocks written to the console (only the orders this instance received)",
        );
        let screen_connections = counter("screen_connections", "Event streams opened");
        let sse_events_sent = counter(
            "sse_events_sent",
            "Log entries (orders and ticket changes) handed to screens' connections",
        );
        let screens_caught_up = counter(
            "screens_caught_up",
            "Times a stream was behind the in-memory window and caught up from PostgreSQL",
        );
        let screens_reset = counter(
            "screens_reset",
            "Streams told to start over because their Last-Event-ID is beyond the log",
        );
        let orders_rejected = Family::<RejectionLabels, Counter>::default();
        registry.register(
            "orders_rejected",
            "Orders refused for good with INVALID_ARGUMENT, by reason",
            orders_rejected.clone(),
        );
        let ticket_changes = Family::<ChangeLabels, Counter>::default();
        registry.register(
            "ticket_changes",
            "Ticket changes made through the screen API, by kind (the SSE event's name)",
            ticket_changes.clone(),
        );
        let screens_dropped = Family::<DropLabels, Counter>::default();
        registry.register(
            "screens_dropped",
            "Streams the kitchen ended, with a retry hint, by reason",
            screens_dropped.clone(),
        );
        let screens_connected = Gauge::default();
        registry.register(
            "screens_connected",
            "Event streams open now",
            screens_connected.clone(),
        );
        let send_order_seconds =
            Family::<AnswerLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> _);
        registry.register_with_unit(
            "send_order",
            "Time from a SendOrder call reaching the handler to its answer, by answer",
            Unit::Seconds,
            send_order_seconds.clone(),
        );
        // 1 to 1,024 orders.
        let store_batch_orders = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "store_batch_orders",
            "Orders per transaction of the group commit",
            store_batch_orders.clone(),
        );
        let store_commit_seconds = latency_buckets();
        registry.register_with_unit(
            "store_commit",
            "Time of one group-commit transaction, from its first statement to its commit",
            Unit::Seconds,
            store_commit_seconds.clone(),
        );
        let metrics = Self {
            registry,
            orders_received,
            orders_stored,
            orders_duplicate,
            orders_rejected,
            orders_unavailable,
            send_order_seconds,
            store_batch_orders,
            store_commit_seconds,
            orders_printed,
            ticket_changes,
            screens_connected,
            screen_connections,
            sse_events_sent,
            screens_caught_up,
            screens_dropped,
            screens_reset,
        };
        // Every labelled series exists from the start, so that a rate over it is defined
        // before the first event.
        for reason in [Rejection::invalid, Rejection::refused_by_database] {
            let _ = metrics
                .orders_rejected
                .get_or_create(&RejectionLabels { reason });
        }
        for reason in [StreamEnd::replay_failed, StreamEnd::shutdown] {
            let _ = metrics
                .screens_dropped
                .get_or_create(&DropLabels { reason });
        }
        metrics
    }
}

impl Metrics {
    /// A `SendOrder` call reached the handler.
    pub(crate) fn order_received(&self) {
        self.orders_received.inc();
    }

    /// A `SendOrder` call was answered `answer` after `took`.
    pub(crate) fn order_answered(&self, answer: Answer, took: Duration) {
        let counter = match answer {
            Answer::stored => Some(&self.orders_stored),
            Answer::duplicate => Some(&self.orders_duplicate),
            Answer::unavailable => Some(&self.orders_unavailable),
            // Counted by reason in `order_rejected`.
            Answer::rejected => None,
        };
        if let Some(counter) = counter {
            counter.inc();
        }
        self.send_order_seconds
            .get_or_create(&AnswerLabels { answer })
            .observe(took.as_secs_f64());
    }

    /// An order was refused for good.
    pub(crate) fn order_rejected(&self, reason: Rejection) {
        self.orders_rejected
            .get_or_create(&RejectionLabels { reason })
            .inc();
    }

    /// One group-commit transaction of `orders` took `took`.
    pub(crate) fn batch_committed(&self, orders: usize, took: Duration) {
        self.store_batch_orders.observe(orders as f64);
        self.store_commit_seconds.observe(took.as_secs_f64());
    }

    /// `orders` more order blocks were written to the console.
    pub(crate) fn orders_printed(&self, orders: u64) {
        self.orders_printed.inc_by(orders);
    }

    /// A ticket change of `kind` (its SSE event's name) was made.
    pub(crate) fn ticket_changed(&self, kind: &'static str) {
        self.ticket_changes
            .get_or_create(&ChangeLabels { kind })
            .inc();
    }

    /// A screen's stream opened; the returned guard counts it as connected until dropped.
    pub(crate) fn screen_connected(self: &std::sync::Arc<Self>) -> ConnectedScreen {
        self.screen_connections.inc();
        self.screens_connected.inc();
        ConnectedScreen(std::sync::Arc::clone(self))
    }

    /// `events` log entries were handed to a screen's connection.
    pub(crate) fn events_sent(&self, events: u64) {
        self.sse_events_sent.inc_by(events);
    }

    /// A stream fell behind the in-memory window and reads from PostgreSQL.
    pub(crate) fn screen_catching_up(&self) {
        self.screens_caught_up.inc();
    }

    /// The kitchen ended a screen's stream.
    pub(crate) fn screen_dropped(&self, reason: StreamEnd) {
        self.screens_dropped
            .get_or_create(&DropLabels { reason })
            .inc();
    }

    /// A stream was told to start over.
    pub(crate) fn screen_reset(&self) {
        self.screens_reset.inc();
    }

    /// Every metric in the OpenMetrics text format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Counts one open stream in `kitchen_screens_connected` while it lives.
#[derive(Debug)]
pub(crate) struct ConnectedScreen(std::sync::Arc<Metrics>);

impl Drop for ConnectedScreen {
    fn drop(&mut self) {
        self.0.screens_connected.dec();
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn has_line(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn answers_are_counted_by_kind_and_timed_by_answer() {
        let metrics = Metrics::default();
        metrics.order_received();
        metrics.order_received();
        metrics.order_received();
        metrics.order_answered(Answer::stored, Duration::from_millis(2));
        metrics.order_answered(Answer::duplicate, Duration::from_millis(1));
        metrics.order_rejected(Rejection::invalid);
        metrics.order_answered(Answer::rejected, Duration::from_micros(100));
        let text = metrics.encode();
        for line in [
            "kitchen_orders_received_total 3",
            "kitchen_orders_stored_total 1",
            "kitchen_orders_duplicate_total 1",
            "kitchen_orders_unavailable_total 0",
            r#"kitchen_orders_rejected_total{reason="invalid"} 1"#,
            r#"kitchen_orders_rejected_total{reason="refused_by_database"} 0"#,
            r#"kitchen_send_order_seconds_count{answer="stored"} 1"#,
            r#"kitchen_send_order_seconds_count{answer="rejected"} 1"#,
        ] {
            assert!(has_line(&text, line), "{line:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_connected_screen_is_counted_until_its_guard_is_dropped() {
        let metrics = Arc::new(Metrics::default());
        let first = metrics.screen_connected();
        let second = metrics.screen_connected();
        drop(first);
        let text = metrics.encode();
        assert!(has_line(&text, "kitchen_screens_connected 1"), "{text}");
        assert!(
            has_line(&text, "kitchen_screen_connections_total 2"),
            "{text}"
        );
        drop(second);
        assert!(has_line(&metrics.encode(), "kitchen_screens_connected 0"));
    }

    #[test]
    fn batches_record_their_size_and_commit_time() {
        let metrics = Metrics::default();
        metrics.batch_committed(30, Duration::from_millis(4));
        let text = metrics.encode();
        assert!(
            has_line(&text, "kitchen_store_batch_orders_sum 30.0"),
            "{text}"
        );
        assert!(
            has_line(&text, "kitchen_store_commit_seconds_count 1"),
            "{text}"
        );
    }
}
