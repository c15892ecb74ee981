//! The order gRPC server: `OrderService.SendOrder` handed to an [`OrderHandler`].

use crate::health::health_service_following;
use crate::metadata::MetadataExtractor;
use order_service_proto::order_service::v1::order_service_server::{
    OrderService, OrderServiceServer,
};
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::trace::TraceContext;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::{Request, Response, Status};
use tracing::Instrument;

/// Why a handler did not accept an order. The server maps each kind to its gRPC status code,
/// which tells the sender whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// The request is malformed; sending it again cannot succeed (`INVALID_ARGUMENT`).
    #[error("{0}")]
    InvalidArgument(String),
    /// A dependency is down; the same request may succeed later (`UNAVAILABLE`).
    #[error("{0}")]
    Unavailable(String),
}

impl From<HandlerError> for Status {
    fn from(error: HandlerError) -> Self {
        match error {
            HandlerError::InvalidArgument(message) => Status::invalid_argument(message),
            HandlerError::Unavailable(message) => Status::unavailable(message),
        }
    }
}

impl HandlerError {
    /// Logs the refusal of one `what` (for example "order"), in the caller's span: a rejection
    /// as a warning (the sender's data), an unavailable dependency as an error (ours).
    pub fn log(&self, what: &str) {
        match self {
            HandlerError::InvalidArgument(reason) => {
                tracing::warn!(%reason, "{what} rejected");
            }
            HandlerError::Unavailable(reason) => {
                tracing::error!(%reason, "{what} not accepted");
            }
        }
    }
}

/// The logic behind `SendOrder`, implemented by the service that receives orders.
pub trait OrderHandler: Send + Sync + 'static {
    /// Handles one order and returns the answer for the sender.
    fn handle_order(
        &self,
        request: OrderRequest,
    ) -> impl Future<Output = Result<OrderResponse, HandlerError>> + Send;
}

/// The tonic `OrderService`: protocol in, [`OrderHandler`] call, status out.
#[derive(Debug)]
pub struct OrderServer<H> {
    handler: Arc<H>,
}

impl<H> OrderServer<H> {
    /// A server that hands every order to `handler`.
    pub fn new(handler: Arc<H>) -> Self {
        Self { handler }
    }
}

#[tonic::async_trait]
impl<H: OrderHandler> OrderService for OrderServer<H> {
    async fn send_order(
        &self,
        request: Request<OrderRequest>,
    ) -> Result<Response<OrderResponse>, Status> {
        // The caller's trace continues here (a new one if it sent none), so that every line
        // logged about this order, here and in the handler, carries its id and the trace's.
        let trace = TraceContext::continued_or_new(&MetadataExtractor(request.metadata()));
        let order = request.into_inner();
        let span = tracing::info_span!(
            "order",
            order_id = %order.order_id,
            trace_id = %trace.trace_id()
        );
        let outcome = self
            .handler
            .handle_order(order)
            .instrument(span.clone())
            .await;
        outcome.map(Response::new).map_err(|error| {
            span.in_scope(|| error.log("order"));
            error.into()
        })
    }
}

/// Why the gRPC server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The transport failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The tonic router serving the order service and the standard gRPC health service, for callers
/// that add more services before serving. The health service reports the order service
/// `SERVING` while `serving` holds true and `NOT_SERVING` otherwise.
pub fn order_server_router<H: OrderHandler>(
    handler: Arc<H>,
    serving: watch::Receiver<bool>,
) -> Router {
    tonic::transport::Server::builder()
        .add_service(health_service_following::<OrderServiceServer<OrderServer<H>>>(serving))
        .add_service(OrderServiceServer::new(OrderServer::new(handler)))
}

/// Serves the order service (and gRPC health, following `serving`) on `listener` until
/// `shutdown` completes; requests already in progress are allowed to finish.
pub async fn start_order_server<H: OrderHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    serving: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let address = listener.local_addr().ok();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tracing::info!(?address, "order gRPC server listening");
    order_server_router(handler, serving)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
