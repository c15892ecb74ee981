//! The kitchen's `OrderHandler`: validate, store, answer once committed.

use crate::metrics::{Answer, Metrics, Rejection};
use crate::order::validate;
use crate::writer::{OrderWriter, StoreOutcome, WriteError};
use grpc_servers::{HandlerError, OrderHandler};
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::time::now_iso8601;
use std::sync::Arc;
use std::time::Instant;

/// The answer's message for a new order.
const RECEIVED_MESSAGE: &str = "Order received";
/// The answer's message for an order received before.
const ALREADY_RECEIVED_MESSAGE: &str = "Order already received; not processed again";

/// Handles `SendOrder` for the kitchen. Screens and the console learn of the order from the
/// event log, not from here.
#[derive(Debug, Clone)]
pub(crate) struct KitchenOrderHandler {
    writer: OrderWriter,
    metrics: Arc<Metrics>,
}

impl KitchenOrderHandler {
    pub(crate) fn new(writer: OrderWriter, metrics: Arc<Metrics>) -> Self {
        Self { writer, metrics }
    }

    /// Validates and stores `request`; the answer comes with what it was, for the metrics.
    async fn store(&self, request: OrderRequest) -> Result<(OrderResponse, Answer), HandlerError> {
        let order = validate(request).map_err(|error| {
            self.metrics.order_rejected(Rejection::invalid);
            HandlerError::InvalidArgument(error.to_string())
        })?;
        let order_id = order.order_id.clone();
        let (message, answer) = match self.writer.write(order).await {
            Ok(StoreOutcome::Stored { event_id, .. }) => {
                tracing::info!(order_id = %order_id, event_id, "order stored");
                (RECEIVED_MESSAGE, Answer::stored)
            }
            Ok(StoreOutcome::AlreadyReceived) => {
                tracing::info!(order_id = %order_id, "order already received; not stored again");
                (ALREADY_RECEIVED_MESSAGE, Answer::duplicate)
            }
            Err(error @ WriteError::Refused(_)) => {
                self.metrics.order_rejected(Rejection::refused_by_database);
                return Err(HandlerError::InvalidArgument(error.to_string()));
            }
            Err(error @ (WriteError::Unavailable(_) | WriteError::Stopped)) => {
                return Err(HandlerError::Unavailable(error.to_string()));
            }
        };
        let response = OrderResponse {
            success: true,
            message: message.to_owned(),
            order_id,
            processed_at: now_iso8601(),
        };
        Ok((response, answer))
    }
}

impl OrderHandler for KitchenOrderHandler {
    async fn handle_order(&self, request: OrderRequest) -> Result<OrderResponse, HandlerError> {
        let started = Instant::now();
        self.metrics.order_received();
        let result = self.store(request).await;
        let answer = match &result {
            Ok((_, answer)) => *answer,
            Err(HandlerError::InvalidArgument(_)) => Answer::rejected,
            Err(HandlerError::Unavailable(_)) => Answer::unavailable,
        };
        self.metrics.order_answered(answer, started.elapsed());
        result.map(|(response, _)| response)
    }
}
