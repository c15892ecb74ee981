//! What a server proves and checks: TLS (mutual TLS when a client CA is given), a bearer token
//! on every call of the service (the health service stays open to probes), and the largest
//! request it decodes.

use crate::ServerError;
use shared_utils::pem::read_pem;
use shared_utils::secret::Secret;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use tonic::Request;
use tonic::Status;
use tonic::service::Interceptor;
use tonic::transport::server::Server;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// A server's settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// TLS and the bearer token.
    pub security: ServerSecurity,
    /// Largest request accepted, in bytes; a larger one is answered `OUT_OF_RANGE` before it is
    /// decoded.
    pub max_message_bytes: usize,
}

impl Default for ServerOptions {
    /// No TLS, no token, and tonic's default limit of 4 MiB.
    fn default() -> Self {
        Self {
            security: ServerSecurity::default(),
            max_message_bytes: order_service_proto::limits::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl ServerOptions {
    /// A server builder with the TLS settings applied.
    pub(crate) fn server_builder(&self) -> Result<Server, ServerError> {
        let builder = tonic::transport::Server::builder();
        Ok(match &self.security.tls {
            Some(tls) => builder.tls_config(tls.config())?,
            None => builder,
        })
    }

    /// The interceptor that checks every call's bearer token (when one is configured).
    pub(crate) fn token_check(&self) -> BearerTokenCheck {
        BearerTokenCheck {
            token: self.security.auth_token.clone().map(Arc::new),
        }
    }

    /// Logs, once, how the server at `address` is secured.
    pub(crate) fn log_listening(&self, service: &str, address: Option<std::net::SocketAddr>) {
        let tls = self.security.tls.as_ref();
        tracing::info!(
            ?address,
            tls = tls.is_some(),
            mutual_tls = tls.is_some_and(|tls| tls.client_ca_pem.is_some()),
            bearer_token = self.security.auth_token.is_some(),
            max_message_bytes = self.max_message_bytes,
            "{service} gRPC server listening"
        );
    }
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

    pub(crate) fn config(&self) -> ServerTlsConfig {
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

/// Checks each call's bearer token (when one is configured) before the handler sees the call:
/// a missing or wrong one is answered `UNAUTHENTICATED`, and nothing else happens.
#[derive(Debug, Clone)]
pub(crate) struct BearerTokenCheck {
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
