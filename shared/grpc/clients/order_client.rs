//! The order gRPC client: sends `OrderRequest`s to the kitchen.

use crate::call_error::CallError;
use crate::channel::{ClientError, Connection, connect_lazily};
use crate::security::ClientSecurity;
use order_service_proto::order_service::v1::order_service_client::OrderServiceClient;
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::trace::TraceContext;
use std::time::Duration;
use tonic::transport::Channel;

/// Why one `SendOrder` call did not deliver the order: [`CallError::Rejected`] (the kitchen
/// refused it for good: dead-letter it), [`CallError::Transient`] and
/// [`CallError::Unauthenticated`] (send it again later) or [`CallError::Failed`].
pub type SendError = CallError;

/// Sends orders to the kitchen, each call bounded by a deadline.
///
/// Cheap to clone: clones share one HTTP/2 connection, which reconnects by itself after the
/// kitchen restarts.
#[derive(Debug, Clone)]
pub struct OrderClient {
    inner: OrderServiceClient<Channel>,
    connection: Connection,
}

/// Builds an [`OrderClient`] for `target` (`host:port` or a full `http://` URI), without TLS or
/// a token. The connection is made on first use, so the caller starts even while the kitchen is
/// down.
pub fn initialize_order_client(
    target: &str,
    deadline: Duration,
) -> Result<OrderClient, ClientError> {
    initialize_secure_order_client(target, deadline, &ClientSecurity::default())
}

/// Builds an [`OrderClient`] for `target` with `security`. TLS is on exactly when the target is
/// `https://`; the server's certificate must then chain to the configured CA (or a public one)
/// and name the target's host (or [`ClientTls::domain`](crate::ClientTls::domain)).
pub fn initialize_secure_order_client(
    target: &str,
    deadline: Duration,
    security: &ClientSecurity,
) -> Result<OrderClient, ClientError> {
    let connection = connect_lazily("order", target, deadline, security)?;
    Ok(OrderClient {
        inner: OrderServiceClient::new(connection.channel.clone()),
        connection,
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
        self.inner
            .clone()
            .send_order(self.connection.request(order, trace))
            .await
            .map(tonic::Response::into_inner)
            .map_err(SendError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::ClientTls;
    use shared_utils::secret::Secret;
    use std::path::Path;
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
    fn unauthenticated_is_transient_never_a_rejection() {
        let error = SendError::from(tonic::Status::unauthenticated("wrong token"));
        assert_eq!(error, SendError::Unauthenticated("wrong token".into()));
        assert!(error.is_transient());
        assert!(error.to_string().contains("GRPC_AUTH_TOKEN"), "{error}");
    }

    #[test]
    fn tls_settings_need_an_https_target() {
        let security = ClientSecurity {
            tls: Some(ClientTls::default()),
            auth_token: None,
        };
        for target in ["localhost:50051", "http://localhost:50051"] {
            let error = initialize_secure_order_client(target, Duration::from_secs(1), &security)
                .unwrap_err();
            assert!(
                matches!(error, ClientError::TlsNeedsHttps { .. }),
                "{error}"
            );
        }
        let error =
            ClientTls::from_files(None, Some(Path::new("cert.pem")), None, None).unwrap_err();
        assert!(matches!(error, ClientError::IncompleteIdentity), "{error}");
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let security = ClientSecurity {
            tls: Some(ClientTls {
                identity: Some((b"cert".to_vec(), b"KEY-MARKER".to_vec())),
                ..ClientTls::default()
            }),
            auth_token: Some(Secret::new("TOKEN-MARKER")),
        };
        let shown = format!("{security:?}");
        assert!(!shown.contains("MARKER"), "{shown}");
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
