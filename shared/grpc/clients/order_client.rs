//! The order gRPC client: sends `OrderRequest`s to the kitchen.

use order_service_proto::order_service::v1::order_service_client::OrderServiceClient;
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::trace::TraceContext;
use std::time::Duration;
use tonic::Code;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

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

/// Why one `SendOrder` call did not deliver the order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The kitchen refused the order for good, so sending it again cannot succeed: it is
    /// malformed (`INVALID_ARGUMENT`), too large (`OUT_OF_RANGE`, tonic's answer to a request over
    /// the server's maximum decoding message size) or not acceptable in the kitchen's state
    /// (`FAILED_PRECONDITION`).
    #[error("kitchen rejected the order: {0}")]
    Rejected(String),
    /// The kitchen was unreachable, busy or too slow (`UNAVAILABLE`, `DEADLINE_EXCEEDED`,
    /// `RESOURCE_EXHAUSTED`, `ABORTED`, connection errors): the same call may succeed later.
    #[error("kitchen unavailable ({code:?}): {message}")]
    Transient {
        /// The gRPC status code.
        code: Code,
        /// The status message.
        message: String,
    },
    /// Any other failure. The order was not delivered; whether to retry is the caller's choice.
    #[error("kitchen failed the order ({code:?}): {message}")]
    Failed {
        /// The gRPC status code.
        code: Code,
        /// The status message.
        message: String,
    },
}

impl SendError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    fn from_status(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                Self::Rejected(message)
            }
            code @ (Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled) => Self::Transient { code, message },
            // tonic reports connection failures as Unknown with a transport source.
            Code::Unknown if std::error::Error::source(&status).is_some() => Self::Transient {
                code: Code::Unknown,
                message,
            },
            code => Self::Failed { code, message },
        }
    }
}

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
    let uri = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|source| ClientError::InvalidTarget {
            target: target.to_owned(),
            source,
        })?
        .connect_timeout(deadline)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    tracing::info!(%target, "order gRPC client initialized");
    Ok(OrderClient {
        inner: OrderServiceClient::new(endpoint.connect_lazy()),
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
            .map_err(SendError::from_status)
    }
}

/// Writes trace headers into a call's metadata.
struct MetadataInjector<'a>(&'a mut MetadataMap);

impl opentelemetry::propagation::Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return; // An empty `tracestate`.
        }
        // The propagator writes only its own well-formed ASCII headers.
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_is_a_rejection() {
        let error = SendError::from_status(tonic::Status::invalid_argument("order_id is empty"));
        assert_eq!(error, SendError::Rejected("order_id is empty".into()));
        assert!(!error.is_transient());
    }

    #[test]
    fn out_of_range_is_a_rejection() {
        // What tonic answers for a request over the server's maximum decoding message size.
        let message = "Error, decoded message length too large: found 4194305 bytes, the limit is: 4194304 bytes";
        let error = SendError::from_status(tonic::Status::out_of_range(message));
        assert_eq!(error, SendError::Rejected(message.into()));
        assert!(!error.is_transient());
    }

    #[test]
    fn failed_precondition_is_a_rejection() {
        let error = SendError::from_status(tonic::Status::failed_precondition("not accepted"));
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
            assert!(SendError::from_status(status).is_transient());
        }
    }

    #[test]
    fn other_codes_are_failures() {
        let error = SendError::from_status(tonic::Status::internal("bug"));
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
