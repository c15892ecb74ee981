//! The order gRPC server: `OrderService.SendOrder` handed to an [`OrderHandler`].

use order_service_proto::order_service::v1::order_service_server::{
    OrderService, OrderServiceServer,
};
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::secret::Secret;
use shared_utils::trace::TraceContext;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::metadata::{KeyRef, MetadataMap};
use tonic::service::Interceptor;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
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
        let order_id = order.order_id.clone();
        let span = tracing::info_span!("order", order_id = %order_id, trace_id = %trace.trace_id());
        let outcome = self
            .handler
            .handle_order(order)
            .instrument(span.clone())
            .await;
        let _in_span = span.enter();
        match outcome {
            Ok(response) => Ok(Response::new(response)),
            Err(error) => {
                match &error {
                    HandlerError::InvalidArgument(reason) => {
                        tracing::warn!(order_id = %order_id, %reason, "order rejected");
                    }
                    HandlerError::Unavailable(reason) => {
                        tracing::error!(order_id = %order_id, %reason, "order not accepted");
                    }
                }
                Err(error.into())
            }
        }
    }
}

/// Reads trace headers from a call's metadata.
struct MetadataExtractor<'a>(&'a MetadataMap);

impl opentelemetry::propagation::Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                KeyRef::Ascii(key) => Some(key.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// Why the gRPC server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The transport failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A TLS file cannot be read.
    #[error("cannot read the {what} {path}: {source}")]
    TlsFile {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A client CA was given without the server's own certificate and key, or a certificate
    /// without its key.
    #[error(
        "TLS needs both the server certificate and its key (and a client CA needs both as well)"
    )]
    IncompleteTls,
}

/// How the server proves who it is and checks who calls: TLS, optionally requiring client
/// certificates (mutual TLS), and a bearer token on every `SendOrder` call. Both off by default.
#[derive(Debug, Clone, Default)]
pub struct ServerSecurity {
    /// TLS settings; `None`: plain HTTP/2.
    pub tls: Option<ServerTls>,
    /// The token every `SendOrder` call must carry as `authorization: Bearer <token>`; `None`:
    /// calls are not checked. The gRPC health service stays open to probes either way.
    pub auth_token: Option<Secret>,
}

/// The server's TLS settings, read from PEM files.
#[derive(Clone)]
pub struct ServerTls {
    /// The server's certificate chain (PEM).
    pub cert_pem: Vec<u8>,
    /// The server's private key (PEM).
    pub key_pem: Vec<u8>,
    /// When given, every client must present a certificate chaining to this CA (PEM).
    pub client_ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("key", &"[redacted]")
            .field("mutual", &self.client_ca_pem.is_some())
            .finish()
    }
}

impl ServerTls {
    /// Reads the settings from files: `None` when neither the certificate nor the key is
    /// given (and no client CA either).
    pub fn from_files(
        cert: Option<&Path>,
        key: Option<&Path>,
        client_ca: Option<&Path>,
    ) -> Result<Option<Self>, ServerError> {
        match (cert, key, client_ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), client_ca) => Ok(Some(Self {
                cert_pem: read_pem("server certificate", cert)?,
                key_pem: read_pem("server key", key)?,
                client_ca_pem: client_ca
                    .map(|path| read_pem("client CA certificate", path))
                    .transpose()?,
            })),
            _ => Err(ServerError::IncompleteTls),
        }
    }

    fn config(&self) -> ServerTlsConfig {
        let config =
            ServerTlsConfig::new().identity(Identity::from_pem(&self.cert_pem, &self.key_pem));
        match &self.client_ca_pem {
            Some(ca) => config
                .client_ca_root(Certificate::from_pem(ca))
                .client_auth_optional(false),
            None => config,
        }
    }
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::TlsFile {
        what,
        path: path.to_owned(),
        source,
    })
}

/// The order server's settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// TLS and the bearer token.
    pub security: ServerSecurity,
    /// Largest `SendOrder` request accepted, in bytes; a larger one is answered `OUT_OF_RANGE`
    /// before it is decoded.
    pub max_message_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            security: ServerSecurity::default(),
            max_message_bytes: order_service_proto::limits::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Checks each call's bearer token (when one is configured) before the handler sees the call:
/// a missing or wrong one is answered `UNAUTHENTICATED`, and nothing else happens.
#[derive(Debug, Clone)]
struct BearerTokenCheck {
    token: Option<Arc<Secret>>,
}

impl Interceptor for BearerTokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.token else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
        if given.is_some_and(|given| token.matches(given)) {
            return Ok(request);
        }
        tracing::warn!(
            remote = ?request.remote_addr(),
            token_given = given.is_some(),
            "gRPC call refused: missing or wrong bearer token (GRPC_AUTH_TOKEN)"
        );
        Err(Status::unauthenticated("missing or wrong bearer token"))
    }
}

/// The tonic router serving the order service and the standard gRPC health service, for callers
/// that add more services before serving. The health service reports the order service
/// `SERVING` while `serving` holds true and `NOT_SERVING` otherwise.
pub fn order_server_router<H: OrderHandler>(
    handler: Arc<H>,
    mut serving: watch::Receiver<bool>,
    options: &ServerOptions,
) -> Result<Router, ServerError> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &options.security.tls {
        builder = builder.tls_config(tls.config())?;
    }
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        loop {
            let now_serving = *serving.borrow_and_update();
            if now_serving {
                health_reporter
                    .set_serving::<OrderServiceServer<OrderServer<H>>>()
                    .await;
            } else {
                health_reporter
                    .set_not_serving::<OrderServiceServer<OrderServer<H>>>()
                    .await;
            }
            if serving.changed().await.is_err() {
                // The owner is gone: the service is stopping.
                health_reporter
                    .set_not_serving::<OrderServiceServer<OrderServer<H>>>()
                    .await;
                return;
            }
        }
    });
    let orders = OrderServiceServer::new(OrderServer::new(handler))
        .max_decoding_message_size(options.max_message_bytes);
    let token_check = BearerTokenCheck {
        token: options.security.auth_token.clone().map(Arc::new),
    };
    Ok(builder.add_service(health_service).add_service(
        tonic::service::interceptor::InterceptedService::new(orders, token_check),
    ))
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
    let address = listener.local_addr().ok();
    let router = order_server_router(handler, serving, options)?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let tls = options.security.tls.as_ref();
    tracing::info!(
        ?address,
        tls = tls.is_some(),
        mutual_tls = tls.is_some_and(|tls| tls.client_ca_pem.is_some()),
        bearer_token = options.security.auth_token.is_some(),
        max_message_bytes = options.max_message_bytes,
        "order gRPC server listening"
    );
    router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
