//! The order gRPC client: sends `OrderRequest`s to the kitchen.

use order_service_proto::order_service::v1::order_service_client::OrderServiceClient;
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use shared_utils::secret::Secret;
use shared_utils::trace::TraceContext;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

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
    /// TLS settings were given for a target that is not `https://`: TLS is switched on by the
    /// target's scheme, and settings that would silently do nothing are refused.
    #[error("TLS settings need an https:// gRPC target, not {target:?}")]
    TlsNeedsHttps {
        /// The target as given.
        target: String,
    },
    /// A client certificate without its key, or a key without its certificate.
    #[error("a client certificate and its key go together: give both or neither")]
    IncompleteIdentity,
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
    /// The TLS settings are refused (a malformed certificate or key).
    #[error("invalid TLS settings: {0}")]
    Tls(#[source] tonic::transport::Error),
    /// The bearer token cannot be sent as a header value (it is not visible ASCII).
    #[error("the gRPC bearer token must be visible ASCII characters")]
    InvalidToken,
}

/// How the client proves who it talks to, and who it is: TLS (with an `https://` target) and a
/// bearer token on every call. Both off by default.
#[derive(Debug, Clone, Default)]
pub struct ClientSecurity {
    /// TLS settings; `None` with an `https://` target means the public CAs and the target's
    /// host name.
    pub tls: Option<ClientTls>,
    /// Sent as `authorization: Bearer <token>` on every call.
    pub auth_token: Option<Secret>,
}

/// The client's TLS settings, read from PEM files.
#[derive(Clone, Default)]
pub struct ClientTls {
    /// The CA certificates the server's certificate must chain to (PEM); `None`: the public CAs
    /// (webpki roots).
    pub ca_pem: Option<Vec<u8>>,
    /// The client's certificate and private key (PEM), for servers that require them (mutual
    /// TLS).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the server's certificate must carry, instead of the target's host.
    pub domain: Option<String>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &self.ca_pem.as_ref().map(|_| "custom"))
            .field("identity", &self.identity.as_ref().map(|_| "[redacted]"))
            .field("domain", &self.domain)
            .finish()
    }
}

impl ClientTls {
    /// Reads the settings from files: the CA, and the client's certificate and key (both or
    /// neither).
    pub fn from_files(
        ca: Option<&Path>,
        client_cert: Option<&Path>,
        client_key: Option<&Path>,
        domain: Option<String>,
    ) -> Result<Self, ClientError> {
        let identity = match (client_cert, client_key) {
            (Some(cert), Some(key)) => Some((
                read_pem("client certificate", cert)?,
                read_pem("client key", key)?,
            )),
            (None, None) => None,
            _ => return Err(ClientError::IncompleteIdentity),
        };
        Ok(Self {
            ca_pem: ca
                .map(|path| read_pem("CA certificate", path))
                .transpose()?,
            identity,
            domain,
        })
    }

    fn config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_pem {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_webpki_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        config
    }
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::TlsFile {
        what,
        path: path.to_owned(),
        source,
    })
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
    /// The kitchen refused the call's credentials (`UNAUTHENTICATED`): the bearer token is
    /// missing or differs from the kitchen's. Transient: the order itself is fine, and the call
    /// succeeds once the tokens agree (a misconfiguration must not dead-letter every order).
    #[error(
        "kitchen refused the credentials (UNAUTHENTICATED): check that GRPC_AUTH_TOKEN is the same on both services: {0}"
    )]
    Unauthenticated(String),
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
        matches!(self, Self::Transient { .. } | Self::Unauthenticated(_))
    }

    fn from_status(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                Self::Rejected(message)
            }
            Code::Unauthenticated => Self::Unauthenticated(message),
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
    /// `Bearer <token>`, marked sensitive (never indexed by HPACK, `Sensitive` in `Debug`).
    authorization: Option<MetadataValue<Ascii>>,
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
/// and name the target's host (or [`ClientTls::domain`]).
pub fn initialize_secure_order_client(
    target: &str,
    deadline: Duration,
    security: &ClientSecurity,
) -> Result<OrderClient, ClientError> {
    let uri = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let invalid = |source| ClientError::InvalidTarget {
        target: target.to_owned(),
        source,
    };
    let tls = uri.starts_with("https://");
    let mut endpoint = Endpoint::from_shared(uri)
        .map_err(invalid)?
        .connect_timeout(deadline)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    match (&security.tls, tls) {
        (Some(_), false) => {
            return Err(ClientError::TlsNeedsHttps {
                target: target.to_owned(),
            });
        }
        (settings, true) => {
            let config = settings.clone().unwrap_or_default().config();
            endpoint = endpoint.tls_config(config).map_err(ClientError::Tls)?;
        }
        (None, false) => {}
    }
    let authorization = security
        .auth_token
        .as_ref()
        .map(|token| {
            let mut value = MetadataValue::try_from(format!("Bearer {}", token.expose()))
                .map_err(|_| ClientError::InvalidToken)?;
            value.set_sensitive(true);
            Ok(value)
        })
        .transpose()?;
    tracing::info!(
        %target,
        tls,
        mutual_tls = security.tls.as_ref().is_some_and(|tls| tls.identity.is_some()),
        bearer_token = authorization.is_some(),
        "order gRPC client initialized"
    );
    Ok(OrderClient {
        inner: OrderServiceClient::new(endpoint.connect_lazy()),
        deadline,
        authorization,
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
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
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
    fn unauthenticated_is_transient_never_a_rejection() {
        let error = SendError::from_status(tonic::Status::unauthenticated("wrong token"));
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
