//! Every observable event of the listener, in one place: each emits its log line, its counter and
//! its health change together, so that the three never disagree.

use crate::backfill::{BackfillRange, BackfillReport};
use crate::dead_letter::{DeadLetterError, RejectedBy};
use crate::extract::{MAX_SHOWN, shortened};
use crate::lease::LeaseError;
use crate::listener::ListenerError;
use crate::metrics::Metrics;
use crate::status::{ListenerProgress, Role};
use chrono::{DateTime, Utc};
use shared_patterns::{HealthReporter, ServiceState};
use std::time::Duration;

/// An insert event was read from the change stream.
pub(crate) struct InsertRead<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) inserted_at: DateTime<Utc>,
}

impl InsertRead<'_> {
    pub(crate) fn emit(self, metrics: &Metrics) {
        metrics.insert_event();
        tracing::debug!(order_id = %self.order_id, inserted_at = %self.inserted_at, "insert event received");
    }
}

/// The kitchen acknowledged an order.
pub(crate) struct OrderSent<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) items: usize,
    pub(crate) kitchen_message: &'a str,
}

impl OrderSent<'_> {
    pub(crate) fn emit(self, metrics: &Metrics, health: &HealthReporter) {
        metrics.order_sent();
        // Healthy again only once no other order is still failing.
        if metrics.retrying_deliveries() == 0 {
            health.healthy();
        }
        tracing::info!(
            order_id = %self.order_id,
            items = self.items,
            kitchen_message = %self.kitchen_message,
            "Order sent successfully"
        );
    }
}

/// A call to the kitchen failed and will be retried.
pub(crate) struct DeliveryRetry<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) attempt: u32,
    pub(crate) retry_in: Duration,
    pub(crate) reason: &'a str,
}

impl DeliveryRetry<'_> {
    pub(crate) fn emit(self, metrics: &Metrics, health: &HealthReporter) {
        metrics.delivery_retry();
        tracing::warn!(
            order_id = %self.order_id,
            attempt = self.attempt,
            retry_in_ms = self.retry_in.as_millis() as u64,
            reason = %self.reason,
            "order not delivered, retrying"
        );
        health.set(ServiceState::Retrying {
            reason: format!("delivering order {}: {}", self.order_id, self.reason),
            attempt: self.attempt,
        });
    }
}

/// Shutting down before the kitchen acknowledged an order.
pub(crate) struct DeliveryAbandoned<'a> {
    pub(crate) order_id: &'a str,
}

impl DeliveryAbandoned<'_> {
    pub(crate) fn emit(self) {
        tracing::info!(order_id = %self.order_id, "stopping (shutdown or a lost lease) before the kitchen acknowledged the order; it will be sent again by whoever watches next");
    }
}

/// A document was written to the dead-letter collection.
pub(crate) struct OrderDeadLettered<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) rejected_by: RejectedBy,
    pub(crate) reason: &'a str,
}

impl OrderDeadLettered<'_> {
    pub(crate) fn emit(self, metrics: &Metrics) {
        metrics.order_dead_lettered(self.rejected_by);
        tracing::error!(
            order_id = %shortened(self.order_id, MAX_SHOWN),
            rejected_by = self.rejected_by.as_str(),
            reason = %self.reason,
            "order is invalid; written to the dead-letter collection"
        );
    }
}

/// A dead-letter write failed: the document will be read again.
pub(crate) struct DeadLetterFailed<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) error: &'a DeadLetterError,
}

impl DeadLetterFailed<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(order_id = %self.order_id, error = %self.error, "dead-letter write failed; the order will be read again");
    }
}

/// The stream (or a MongoDB write) failed; it is reopened after the last finalized event.
pub(crate) struct StreamFailed<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) attempt: u32,
    pub(crate) retry_in: Duration,
    pub(crate) reason: String,
}

impl StreamFailed<'_> {
    pub(crate) fn emit(self, metrics: &Metrics, health: &HealthReporter) {
        metrics.stream_error();
        tracing::warn!(
            namespace = %self.namespace,
            attempt = self.attempt,
            retry_in_ms = self.retry_in.as_millis() as u64,
            reason = %self.reason,
            "change stream failed; reopening after the last handled event"
        );
        health.set(ServiceState::Retrying {
            reason: self.reason,
            attempt: self.attempt,
        });
    }
}

/// The stream works again after failures.
pub(crate) struct StreamRecovered<'a> {
    pub(crate) namespace: &'a str,
}

impl StreamRecovered<'_> {
    pub(crate) fn emit(self) {
        tracing::info!(namespace = %self.namespace, "change stream healthy again");
    }
}

/// The listener stopped for good; an operator must act. (The health change is the background
/// service's: it reports the error the listener returns.)
pub(crate) struct ListenerStopped<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) error: &'a ListenerError,
}

impl ListenerStopped<'_> {
    pub(crate) fn emit(self, metrics: &Metrics) {
        metrics.unrecoverable_error();
        tracing::error!(namespace = %self.namespace, error = %self.error, "change stream listener stopped; operator action needed");
    }
}

/// Another instance holds the lease: this one stands by (healthy).
pub(crate) struct StandingBy<'a> {
    pub(crate) consumer: &'a str,
    pub(crate) holder: &'a str,
    pub(crate) expires_at: DateTime<Utc>,
}

impl StandingBy<'_> {
    pub(crate) fn emit(self, progress: &ListenerProgress, health: &HealthReporter) {
        progress.set_role(Role::Standby);
        health.healthy();
        tracing::info!(consumer = %self.consumer, holder = %self.holder, expires_at = %self.expires_at, "standing by: another instance holds the lease");
    }
}

/// The lease cannot be read or written; retried with a backoff.
pub(crate) struct LeaseUnavailable<'a> {
    pub(crate) consumer: &'a str,
    pub(crate) attempt: u32,
    pub(crate) retry_in: Duration,
    pub(crate) error: &'a LeaseError,
}

impl LeaseUnavailable<'_> {
    pub(crate) fn emit(self, health: &HealthReporter) {
        tracing::warn!(
            consumer = %self.consumer,
            attempt = self.attempt,
            retry_in_ms = self.retry_in.as_millis() as u64,
            error = %self.error,
            "cannot take the lease; retrying"
        );
        health.set(ServiceState::Retrying {
            reason: self.error.to_string(),
            attempt: self.attempt,
        });
    }
}

/// This instance took the lease and watches the stream.
pub(crate) struct BecameActive<'a> {
    pub(crate) consumer: &'a str,
    pub(crate) holder: &'a str,
    pub(crate) token: i64,
}

impl BecameActive<'_> {
    pub(crate) fn emit(self, progress: &ListenerProgress) {
        progress.set_role(Role::Active);
        tracing::info!(consumer = %self.consumer, holder = %self.holder, fencing_token = self.token, "took the lease: watching the change stream");
    }
}

/// This instance lost the lease: it stops watching and stands by.
pub(crate) struct LeaseLost<'a> {
    pub(crate) holder: &'a str,
    pub(crate) reason: &'a str,
}

impl LeaseLost<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(holder = %self.holder, reason = %self.reason, "lease lost: standing by");
    }
}

/// A backfill begins: the stream's position is fixed, and the collection is queried.
pub(crate) struct BackfillStarted<'a> {
    pub(crate) range: &'a BackfillRange,
}

impl BackfillStarted<'_> {
    pub(crate) fn emit(self) {
        tracing::warn!(
            since = %self.range.since,
            by = self.range.timestamp_field.as_deref().unwrap_or("_id"),
            "backfill: re-sending every order inserted since; the stream continues afterwards from now"
        );
    }
}

/// A backfill finished; the stream continues from where it was when it began.
pub(crate) struct BackfillDone<'a> {
    pub(crate) range: &'a BackfillRange,
    pub(crate) report: BackfillReport,
}

impl BackfillDone<'_> {
    pub(crate) fn emit(self) {
        tracing::info!(
            since = %self.range.since,
            found = self.report.found,
            sent = self.report.sent,
            dead_lettered = self.report.dead_lettered,
            "backfill done; following the change stream"
        );
    }
}

/// The active instance could not renew its lease; it retries until the lease may expire.
pub(crate) struct LeaseRenewalFailed<'a> {
    pub(crate) holder: &'a str,
    pub(crate) error: &'a LeaseError,
}

impl LeaseRenewalFailed<'_> {
    pub(crate) fn emit(self, health: &HealthReporter) {
        tracing::warn!(holder = %self.holder, error = %self.error, "lease renewal failed; retrying");
        health.set(ServiceState::Retrying {
            reason: format!("renewing the lease: {}", self.error),
            attempt: 1,
        });
    }
}
