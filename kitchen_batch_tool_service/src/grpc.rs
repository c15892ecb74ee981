//! The kitchen's `OrderHandler`: validate, store, answer once committed.

use crate::order::validate;
use crate::writer::{OrderWriter, StoreOutcome, WriteError};
use grpc_servers::{HandlerError, OrderHandler};
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::time::now_iso8601;

/// The answer's message for a new order.
const RECEIVED_MESSAGE: &str = "Order received";
/// The answer's message for an order received before.
const ALREADY_RECEIVED_MESSAGE: &str = "Order already received; not processed again";

/// Handles `SendOrder` for the kitchen. Screens and the console learn of the order from the
/// event log, not from here.
#[derive(Debug, Clone)]
pub(crate) struct KitchenOrderHandler {
    writer: OrderWriter,
}

impl KitchenOrderHandler {
    pub(crate) fn new(writer: OrderWriter) -> Self {
        Self { writer }
    }
}

impl OrderHandler for KitchenOrderHandler {
    async fn handle_order(&self, request: OrderRequest) -> Result<OrderResponse, HandlerError> {
        let order =
            validate(request).map_err(|error| HandlerError::InvalidArgument(error.to_string()))?;
        let order_id = order.order_id.clone();
        let message = match self.writer.write(order).await {
            Ok(StoreOutcome::Stored { .. }) => RECEIVED_MESSAGE,
            Ok(StoreOutcome::AlreadyReceived) => ALREADY_RECEIVED_MESSAGE,
            Err(error @ WriteError::Refused(_)) => {
                return Err(HandlerError::InvalidArgument(error.to_string()));
            }
            Err(error @ (WriteError::Unavailable(_) | WriteError::Stopped)) => {
                return Err(HandlerError::Unavailable(error.to_string()));
            }
        };
        Ok(OrderResponse {
            success: true,
            message: message.to_owned(),
            order_id,
            processed_at: now_iso8601(),
        })
    }
}
