//! Delivery: sends one order to the kitchen and retries until the kitchen acknowledges it.

use crate::metrics::Metrics;
use crate::observe;
use grpc_clients::{OrderClient, SendError};
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_patterns::{Backoff, CancellationToken, HealthReporter};
use shared_utils::trace::TraceContext;
use std::time::Duration;

/// How one order's delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Delivery {
    /// The kitchen stored the order (or already had it).
    Acknowledged(OrderResponse),
    /// The kitchen refused the order for good (`INVALID_ARGUMENT`, `OUT_OF_RANGE` for a request
    /// too large, `FAILED_PRECONDITION`; see [`SendError::Rejected`]): retrying cannot help, so it
    /// goes to the dead letter.
    Rejected(String),
    /// The service is shutting down; the order was not acknowledged and will be read again from
    /// the stream on the next start.
    Cancelled,
}

/// The retry schedule for calls to the kitchen: 500 ms doubling to at most 30 s, with jitter.
/// Shorter than the stream's schedule, because a kitchen restart is the common case and every
/// order waits for it.
pub(crate) fn delivery_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
}

/// Sends orders with retries. Every call has the client's deadline.
#[derive(Debug, Clone)]
pub(crate) struct Deliverer {
    client: OrderClient,
}

impl Deliverer {
    /// A deliverer sending through `client`.
    pub(crate) fn new(client: OrderClient) -> Self {
        Self { client }
    }

    /// Sends `order` until the kitchen acknowledges or rejects it, or `cancel` fires.
    ///
    /// Every failure other than a rejection is retried with [`delivery_backoff`]: transient ones
    /// (unavailable, deadline exceeded, resource exhausted, connection and TLS errors, and
    /// `UNAUTHENTICATED`: a token the kitchen does not accept), and unexpected
    /// ones (internal errors, or an answer with `success: false`) alike, because giving up would
    /// lose the order. While it retries, `health` says so.
    pub(crate) async fn deliver(
        &self,
        order: &OrderRequest,
        trace: &TraceContext,
        health: &HealthReporter,
        metrics: &Metrics,
        cancel: &CancellationToken,
    ) -> Delivery {
        let order_id = order.order_id.as_str();
        let mut backoff = delivery_backoff();
        let mut retrying: Option<Retrying<'_>> = None;
        loop {
            let started = std::time::Instant::now();
            let outcome = tokio::select! {
                () = cancel.cancelled() => return Delivery::Cancelled,
                outcome = self.client.send_order_traced(order.clone(), trace) => outcome,
            };
            metrics.delivery_attempt(started.elapsed());
            let reason = match outcome {
                Ok(response) if response.success => return Delivery::Acknowledged(response),
                Ok(response) => format!("kitchen answered success=false: {}", response.message),
                Err(SendError::Rejected(reason)) => return Delivery::Rejected(reason),
                // A token the kitchen does not accept is the services' misconfiguration, not the
                // order's fault: retried (and reported on /health) until the tokens agree.
                Err(error @ SendError::Unauthenticated(_)) => error.to_string(),
                Err(error @ SendError::Transient { .. }) => error.to_string(),
                Err(error @ SendError::Failed { .. }) => error.to_string(),
            };
            retrying.get_or_insert_with(|| Retrying::start(metrics));
            let delay = backoff.next_delay();
            observe::DeliveryRetry {
                order_id,
                attempt: backoff.failures(),
                retry_in: delay,
                reason: &reason,
            }
            .emit(metrics, health);
            tokio::select! {
                () = cancel.cancelled() => return Delivery::Cancelled,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}

/// Marks a delivery as retrying for as long as it lives, so that health can tell whether any
/// order is stuck (however the delivery ends, or if it is dropped).
struct Retrying<'a>(&'a Metrics);

impl<'a> Retrying<'a> {
    fn start(metrics: &'a Metrics) -> Self {
        metrics.delivery_retrying();
        Self(metrics)
    }
}

impl Drop for Retrying<'_> {
    fn drop(&mut self) {
        self.0.delivery_retry_ended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_retries_start_at_half_a_second_and_cap_at_thirty() {
        let mut backoff = delivery_backoff();
        let expected_ms = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
        for ms in expected_ms {
            assert_eq!(backoff.base_delay(), Duration::from_millis(ms));
            let delay = backoff.next_delay();
            assert!(delay <= Duration::from_secs(30));
        }
    }
}
