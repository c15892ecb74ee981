//! One inserted document's path: extract -> deliver to the kitchen, or dead-letter it.

use crate::dead_letter::{DeadLetterError, DeadLetterStore, RejectedBy};
use crate::delivery::{Deliverer, Delivery};
use crate::extract::extract_order;
use crate::listener::InsertedOrder;
use crate::metrics::Metrics;
use crate::observe;
use chrono::Utc;
use shared_patterns::{CancellationToken, HealthReporter};
use shared_utils::trace::TraceContext;
use std::sync::Arc;
use tracing::Instrument;

/// How an inserted document was handled. Only `Sent` and `DeadLettered` allow the position to
/// move past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handled {
    /// The kitchen acknowledged the order.
    Sent,
    /// The document was written to the dead-letter collection.
    DeadLettered,
    /// Shutting down before the kitchen acknowledged; the order will be read again.
    Cancelled,
}

/// Extracts, delivers or dead-letters inserted documents.
#[derive(Debug, Clone)]
pub(crate) struct OrderPipeline {
    deliverer: Deliverer,
    dead_letters: DeadLetterStore,
    metrics: Arc<Metrics>,
}

impl OrderPipeline {
    pub(crate) fn new(
        deliverer: Deliverer,
        dead_letters: DeadLetterStore,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            deliverer,
            dead_letters,
            metrics,
        }
    }

    /// Handles one inserted document. An error means the dead-letter write failed: the position
    /// must not move past it, and it must be read again.
    ///
    /// Each document is a trace of its own: every line logged about it carries its `order_id`
    /// and `trace_id`, and the kitchen continues the trace from the call's `traceparent`.
    pub(crate) async fn handle(
        &self,
        inserted: &InsertedOrder,
        health: &HealthReporter,
        cancel: &CancellationToken,
    ) -> Result<Handled, DeadLetterError> {
        let trace = TraceContext::new_root();
        let span = tracing::info_span!("order", order_id = %inserted.order_id,
            trace_id = %trace.trace_id());
        self.handle_traced(inserted, &trace, health, cancel)
            .instrument(span)
            .await
    }

    async fn handle_traced(
        &self,
        inserted: &InsertedOrder,
        trace: &TraceContext,
        health: &HealthReporter,
        cancel: &CancellationToken,
    ) -> Result<Handled, DeadLetterError> {
        let document = match &inserted.document {
            Ok(document) => document,
            Err(reason) => {
                return self
                    .dead_letter(inserted, RejectedBy::Decoding, reason)
                    .await;
            }
        };
        let order = match extract_order(document, inserted.inserted_at) {
            Ok(order) => order,
            Err(invalid) => {
                return self
                    .dead_letter(inserted, RejectedBy::Extraction, &invalid.to_string())
                    .await;
            }
        };
        match self
            .deliverer
            .deliver(&order, trace, health, &self.metrics, cancel)
            .await
        {
            Delivery::Acknowledged(response) => {
                observe::OrderSent {
                    order_id: &order.order_id,
                    items: order.order_items.len(),
                    kitchen_message: &response.message,
                }
                .emit(&self.metrics, health);
                Ok(Handled::Sent)
            }
            Delivery::Rejected(reason) => {
                self.dead_letter(inserted, RejectedBy::Kitchen, &reason)
                    .await
            }
            Delivery::Cancelled => {
                observe::DeliveryAbandoned {
                    order_id: &order.order_id,
                }
                .emit();
                Ok(Handled::Cancelled)
            }
        }
    }

    async fn dead_letter(
        &self,
        inserted: &InsertedOrder,
        rejected_by: RejectedBy,
        reason: &str,
    ) -> Result<Handled, DeadLetterError> {
        let recorded = self
            .dead_letters
            .record(
                &inserted.key,
                &inserted.order_id,
                rejected_by,
                reason,
                Utc::now(),
            )
            .await;
        if let Err(error) = &recorded {
            observe::DeadLetterFailed {
                order_id: &inserted.order_id,
                error,
            }
            .emit();
        }
        recorded?;
        observe::OrderDeadLettered {
            order_id: &inserted.order_id,
            rejected_by,
            reason,
        }
        .emit(&self.metrics);
        Ok(Handled::DeadLettered)
    }
}
