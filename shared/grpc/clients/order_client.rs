//! The order gRPC client: sends `OrderRequest`s to the kitchen.

use crate::call_error::CallError;
use crate::channel::lazy_channel;
use crate::metadata::MetadataInjector;
use order_service_proto::order_service::v1::order_service_client::OrderServiceClient;
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::trace::TraceContext;
use std::time::Duration;
use tonic::transport::Channel;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The target is not a valid address.
    #[error("invalid gRPC target {target:?}: {source}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Why one `SendOrder` call did not deliver the order: [`CallError::Rejected`] (the kitchen
/// refused it for good: dead-letter it), [`CallError::Transient`] (send it again later) or
/// [`CallError::Failed`].
pub type SendError = CallError;

/// Sends orders to the kitchen, each call bounded by a deadline.
///
/// Cheap to clone: clones share one HTTP/2 connection, which reconnects by itself after the
/// kitchen restarts.
#[derive(Debug, Clone)]
pub struct OrderClient {
    inner: OrderServiceClient<Channel>,
    deadline: Duration,
}

/// Builds an [`OrderClient`] for `target` (`host:port` or a full `http://` URI). The connection
/// is made on first use, so the caller starts even while the kitchen is down.
pub fn initialize_order_client(
    target: &str,
    deadline: Duration,
) -> Result<OrderClient, ClientError> {
    let channel = lazy_channel(target, deadline)?;
    tracing::info!(%target, "order gRPC client initialized");
    Ok(OrderClient {
        inner: OrderServiceClient::new(channel),
        deadline,
    })
}

impl OrderClient {
    /// Sends one order, as a trace of its own, and waits, at most the deadline, for the
    /// kitchen's answer.
    pub async fn send_order(&self, order: OrderRequest) -> Result<OrderResponse, SendError> {
        self.send_order_traced(order, &TraceContext::new_root())
            .await
    }

    /// Sends one order as part of `trace` (its `traceparent` goes in the call's metadata), and
    /// waits, at most the deadline, for the kitchen's answer.
    pub async fn send_order_traced(
        &self,
        order: OrderRequest,
        trace: &TraceContext,
    ) -> Result<OrderResponse, SendError> {
        let mut request = tonic::Request::new(order);
        request.set_timeout(self.deadline);
        trace.inject(&mut MetadataInjector(request.metadata_mut()));
        self.inner
            .clone()
            .send_order(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(SendError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn invalid_argument_is_a_rejection() {
        let error = SendError::from(tonic::Status::invalid_argument("order_id is empty"));
        assert_eq!(error, SendError::Rejected("order_id is empty".into()));
        assert!(!error.is_transient());
    }

    #[test]
    fn out_of_range_is_a_rejection() {
        // What tonic answers for a request over the server's maximum decoding message size.
        let message = "Error, decoded message length too large: found 4194305 bytes, the limit is: 4194304 bytes";
        let error = SendError::from(tonic::Status::out_of_range(message));
        assert_eq!(error, SendError::Rejected(message.into()));
        assert!(!error.is_transient());
    }

    #[test]
    fn failed_precondition_is_a_rejection() {
        let error = SendError::from(tonic::Status::failed_precondition("not accepted"));
        assert_eq!(error, SendError::Rejected("not accepted".into()));
        assert!(!error.is_transient());
    }

    #[test]
    fn unavailable_deadline_and_exhaustion_are_transient() {
        for status in [
            tonic::Status::unavailable("down"),
            tonic::Status::deadline_exceeded("slow"),
            tonic::Status::resource_exhausted("busy"),
        ] {
            assert!(SendError::from(status).is_transient());
        }
    }

    #[test]
    fn other_codes_are_failures() {
        let error = SendError::from(tonic::Status::internal("bug"));
        assert!(matches!(
            error,
            SendError::Failed {
                code: Code::Internal,
                ..
            }
        ));
    }

    #[test]
    fn a_bad_target_is_reported() {
        let error = initialize_order_client("not a uri\n", Duration::from_secs(1)).unwrap_err();
        assert!(error.to_string().contains("invalid gRPC target"));
    }
}
