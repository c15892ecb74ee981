//! The API's one error type, and how each becomes a response: a status and `{"error": "..."}`.

use crate::store::{ChangeError, StoreError};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("this Idempotency-Key was used for another request")]
    KeyReused,
    /// The screen token is missing or wrong.
    #[error(
        "the screen token is missing or wrong: open the screen as /?token=..., or send Authorization: Bearer ..."
    )]
    Unauthorized,
    #[error("the order store is unavailable")]
    Unavailable(#[source] StoreError),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::Unavailable(error)
    }
}

impl From<ChangeError> for ApiError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::NotFound(message) => Self::NotFound(message),
            ChangeError::Conflict(message) => Self::Conflict(message),
            ChangeError::KeyReused => Self::KeyReused,
            // A refusal of the data is the request's fault (text PostgreSQL cannot store).
            ChangeError::Store(StoreError::Refused(error)) => {
                Self::BadRequest(format!("PostgreSQL refused the request: {error}"))
            }
            ChangeError::Store(error) => Self::Unavailable(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
                    Json(json!({ "error": self.to_string() })),
                )
                    .into_response();
            }
            Self::Unavailable(error) => {
                tracing::error!(%error, "an API request failed on the database");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, HeaderValue::from_static("2"))],
                    Json(json!({ "error": self.to_string() })),
                )
                    .into_response();
            }
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}
