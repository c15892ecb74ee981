//! Why a call did not succeed, in the three kinds a caller acts on: a rejection (do not send it
//! again), a transient failure (the same call may succeed later) and any other failure.

use tonic::Code;

/// Why one call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The service refused the request for good, so sending it again cannot succeed: it is
    /// malformed (`INVALID_ARGUMENT`), too large (`OUT_OF_RANGE`, tonic's answer to a request
    /// over the server's maximum decoding message size) or not acceptable in the service's state
    /// (`FAILED_PRECONDITION`).
    #[error("rejected: {0}")]
    Rejected(String),
    /// The service was unreachable, busy or too slow (`UNAVAILABLE`, `DEADLINE_EXCEEDED`,
    /// `RESOURCE_EXHAUSTED`, `ABORTED`, `CANCELLED`, connection errors): the same call may
    /// succeed later.
    #[error("unavailable ({code:?}): {message}")]
    Transient {
        /// The gRPC status code.
        code: Code,
        /// The status message.
        message: String,
    },
    /// The service refused the call's credentials (`UNAUTHENTICATED`): the bearer token is
    /// missing or differs from the service's. Transient: the request itself is fine, and the
    /// call succeeds once the tokens agree (a misconfiguration must not dead-letter anything).
    #[error(
        "the service refused the credentials (UNAUTHENTICATED): check that GRPC_AUTH_TOKEN is the same on both services: {0}"
    )]
    Unauthenticated(String),
    /// Any other failure; whether to retry is the caller's choice.
    #[error("failed ({code:?}): {message}")]
    Failed {
        /// The gRPC status code.
        code: Code,
        /// The status message.
        message: String,
    },
}

impl CallError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::Unauthenticated(_))
    }
}

impl From<tonic::Status> for CallError {
    fn from(status: tonic::Status) -> Self {
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
