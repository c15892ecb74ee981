//! The kitchen's `OrderHandler`: validate, then store (which prints and publishes in commit
//! order, see [`crate::writer`]), then answer.

use crate::order::validate;
use crate::writer::{OrderWriter, StoreOutcome};
use grpc_servers::{HandlerError, OrderHandler};
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::time::now_iso8601;

/// The answer's message for a new order.
pub const RECEIVED_MESSAGE: &str = "Order received";
/// The answer's message for an order received before.
pub const ALREADY_RECEIVED_MESSAGE: &str = "Order already received; not processed again";

/// Handles `SendOrder` for the kitchen.
#[derive(Debug, Clone)]
pub struct KitchenOrderHandler {
    writer: OrderWriter,
}

impl KitchenOrderHandler {
    /// A handler that stores orders through `writer`.
    pub fn new(writer: OrderWriter) -> Self {
        Self { writer }
    }
}

impl OrderHandler for KitchenOrderHandler {
    async fn handle_order(&self, request: OrderRequest) -> Result<OrderResponse, HandlerError> {
        let order =
            validate(request).map_err(|error| HandlerError::InvalidArgument(error.to_string()))?;
        let order_id = order.order_id.clone();
        let message = match self.writer.write(order).await {
            Ok(StoreOutcome::Stored { event_id }) => {
                tracing::debug!(order_id = %order_id, event_id, "order stored");
                RECEIVED_MESSAGE
            }
            Ok(StoreOutcome::AlreadyReceived) => ALREADY_RECEIVED_MESSAGE,
            Err(error) => return Err(HandlerError::Unavailable(error.to_string())),
        };
        Ok(OrderResponse {
            success: true,
            message: message.to_owned(),
            order_id,
            processed_at: now_iso8601(),
        })
    }
}
