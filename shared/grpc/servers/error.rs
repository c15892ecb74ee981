//! Why a call or a server did not succeed: the handler's refusal, which picks the call's status,
//! and the server's own failures.

use shared_utils::pem::PemFileError;
use tonic::Status;

/// Why a handler did not accept a request. The server maps each kind to its gRPC status code,
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

/// Why the gRPC server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The transport failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A TLS file cannot be read.
    #[error(transparent)]
    TlsFile(#[from] PemFileError),
    /// A client CA was given without the server's own certificate and key, or a certificate
    /// without its key.
    #[error(
        "TLS needs both the server certificate and its key (and a client CA needs both as well)"
    )]
    IncompleteTls,
}
