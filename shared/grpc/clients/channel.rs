//! The connection every client uses: made on first use (so the caller starts while the service
//! is down), bounded, kept alive, secured as configured; and the metadata every call carries.

use crate::metadata::MetadataInjector;
use crate::security::ClientSecurity;
use shared_utils::pem::PemFileError;
use shared_utils::trace::TraceContext;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
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
    #[error(transparent)]
    TlsFile(#[from] PemFileError),
    /// The TLS settings are refused (a malformed certificate or key).
    #[error("invalid TLS settings: {0}")]
    Tls(#[source] tonic::transport::Error),
    /// The bearer token cannot be sent as a header value (it is not visible ASCII).
    #[error("the gRPC bearer token must be visible ASCII characters")]
    InvalidToken,
}

/// A lazily connecting channel and what every call on it carries.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) channel: Channel,
    deadline: Duration,
    /// `Bearer <token>`, marked sensitive (never indexed by HPACK, `Sensitive` in `Debug`).
    authorization: Option<MetadataValue<Ascii>>,
}

impl Connection {
    /// A request for `message`, bounded by the deadline, carrying `trace` (`traceparent`) and
    /// the bearer token, if any.
    pub(crate) fn request<T>(&self, message: T, trace: &TraceContext) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.deadline);
        trace.inject(&mut MetadataInjector(request.metadata_mut()));
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        request
    }
}

/// A [`Connection`] to `target` (`host:port` or a full URI) for the `service` client (named in
/// the log line). TLS is on exactly when the target is `https://`; the server's certificate must
/// then chain to the configured CA (or a public one) and name the target's host (or the
/// configured domain). Each call, and each connection attempt, is bounded by `deadline`.
pub(crate) fn connect_lazily(
    service: &str,
    target: &str,
    deadline: Duration,
    security: &ClientSecurity,
) -> Result<Connection, ClientError> {
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
            Ok::<_, ClientError>(value)
        })
        .transpose()?;
    tracing::info!(
        %target,
        tls,
        mutual_tls = security.tls.as_ref().is_some_and(|tls| tls.identity.is_some()),
        bearer_token = authorization.is_some(),
        "{service} gRPC client initialized"
    );
    Ok(Connection {
        channel: endpoint.connect_lazy(),
        deadline,
        authorization,
    })
}
