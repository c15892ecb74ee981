//! The order gRPC server: `OrderService.SendOrder` handed to an [`OrderHandler`].

use crate::health::health_service_following;
use crate::metadata::MetadataExtractor;
use crate::security::ServerOptions;
use crate::{HandlerError, ServerError};
use order_service_proto::order_service::v1::order_service_server::{
    OrderService, OrderServiceServer,
};
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::trace::TraceContext;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::{Request, Response, Status};
use tracing::Instrument;

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

/// The tonic router serving the order service and the standard gRPC health service, for callers
/// that add more services before serving. The health service reports the order service
/// `SERVING` while `serving` holds true and `NOT_SERVING` otherwise. `options` sets TLS, the
/// bearer token every `SendOrder` call must carry (health stays open to probes) and the largest
/// request decoded.
pub fn order_server_router<H: OrderHandler>(
    handler: Arc<H>,
    serving: watch::Receiver<bool>,
    options: &ServerOptions,
) -> Result<Router, ServerError> {
    let orders = OrderServiceServer::new(OrderServer::new(handler))
        .max_decoding_message_size(options.max_message_bytes);
    Ok(options
        .server_builder()?
        .add_service(health_service_following::<OrderServiceServer<OrderServer<H>>>(serving))
        .add_service(InterceptedService::new(orders, options.token_check())))
}

/// Serves the order service (and gRPC health, following `serving`) on `listener` until
/// `shutdown` completes; requests already in progress are allowed to finish.
pub async fn start_order_server<H: OrderHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    serving: watch::Receiver<bool>,
    options: &ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let router = order_server_router(handler, serving, options)?;
    options.log_listening("order", listener.local_addr().ok());
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
