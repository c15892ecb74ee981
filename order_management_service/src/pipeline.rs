//! One inserted document's path: extract -> deliver to the kitchen, or dead-letter it.

use crate::dead_letter::{DeadLetterError, DeadLetterStore, RejectedBy};
use crate::delivery::{Deliverer, Delivery};
use crate::extract::{document_order_id, extract_order};
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document};
use shared_patterns::{CancellationToken, HealthReporter};
use std::sync::Arc;

/// How an inserted document was handled. Only `Sent` and `DeadLettered` allow the checkpoint to
/// move past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The kitchen acknowledged the order.
    Sent,
    /// The document was written to the dead-letter collection.
    DeadLettered,
    /// Shutting down before the kitchen acknowledged; the order will be read again.
    Cancelled,
}

/// Extracts, delivers or dead-letters inserted documents.
#[derive(Debug, Clone)]
pub struct OrderPipeline {
    deliverer: Deliverer,
    dead_letters: DeadLetterStore,
    metrics: Arc<Metrics>,
}

impl OrderPipeline {
    /// A pipeline delivering through `deliverer` and dead-lettering to `dead_letters`.
    pub fn new(deliverer: Deliverer, dead_letters: DeadLetterStore, metrics: Arc<Metrics>) -> Self {
        Self {
            deliverer,
            dead_letters,
            metrics,
        }
    }

    /// Handles the document inserted at `inserted_at`. An error means the dead-letter write
    /// failed: the checkpoint must not move and the document must be handled again.
    pub async fn handle(
        &self,
        document: &Document,
        inserted_at: DateTime<Utc>,
        health: &HealthReporter,
        cancel: &CancellationToken,
    ) -> Result<Handled, DeadLetterError> {
        let order_id = document_order_id(document);
        let order = match extract_order(document, inserted_at) {
            Ok(order) => order,
            Err(invalid) => {
                return self
                    .dead_letter(
                        document,
                        &order_id,
                        RejectedBy::Extraction,
                        &invalid.to_string(),
                    )
                    .await;
            }
        };
        match self
            .deliverer
            .deliver(&order, health, &self.metrics, cancel)
            .await
        {
            Delivery::Acknowledged(response) => {
                self.metrics.order_sent();
                tracing::info!(
                    order_id = %order_id,
                    items = order.order_items.len(),
                    kitchen_message = %response.message,
                    "Order sent successfully"
                );
                Ok(Handled::Sent)
            }
            Delivery::Rejected(reason) => {
                self.dead_letter(document, &order_id, RejectedBy::Kitchen, &reason)
                    .await
            }
            Delivery::Cancelled => {
                tracing::info!(order_id = %order_id, "shutting down before the kitchen acknowledged the order; it will be sent again on restart");
                Ok(Handled::Cancelled)
            }
        }
    }

    async fn dead_letter(
        &self,
        document: &Document,
        order_id: &str,
        rejected_by: RejectedBy,
        reason: &str,
    ) -> Result<Handled, DeadLetterError> {
        let id = document.get("_id").cloned().unwrap_or(Bson::Null);
        self.dead_letters
            .record(&id, order_id, rejected_by, reason, Utc::now())
            .await?;
        self.metrics.order_dead_lettered();
        tracing::error!(
            order_id = %order_id,
            rejected_by = ?rejected_by,
            %reason,
            "order is invalid; written to the dead-letter collection"
        );
        Ok(Handled::DeadLettered)
    }
}
