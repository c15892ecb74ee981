//! The HTTP application: `GET /ping`, `GET /health`, `GET /metrics`, the event stream, the
//! screen API and the screen itself.

mod api;
mod error;
mod screen;
mod screen_token;

pub(crate) use api::{ApiState, ScreenSettings};

use crate::health::KitchenHealth;
use crate::metrics::{self, Metrics};
use crate::sse::{self, EventsState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use shared_utils::secret::Secret;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

/// What guards the HTTP server.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    /// Pages on these origins (another web app's) may use the stream and the API (CORS).
    pub(crate) allowed_origins: Vec<HeaderValue>,
    /// The token the screens, the stream and the API require, if any.
    pub(crate) screen_token: Option<Secret>,
    /// Largest request body, in bytes.
    pub(crate) max_body_bytes: usize,
}

/// The whole HTTP application, built here so that tests serve exactly what production serves.
/// `/ping`, `/health` and `/metrics` stay outside the screen token, for probes and Prometheus.
pub(crate) fn app(
    events: EventsState,
    api: ApiState,
    health: KitchenHealth,
    settings: &HttpSettings,
) -> Router {
    let health_state = HealthState {
        health,
        hub: events.hub.clone(),
    };
    let metrics_state = Arc::clone(&events.metrics);
    let screens = Router::new()
        .merge(sse::router(events))
        .merge(api::router(api))
        .merge(screen::router());
    let screens = match &settings.screen_token {
        Some(token) => screens.layer(axum::middleware::from_fn_with_state(
            screen_token::ScreenToken::new(token.clone()),
            screen_token::require_screen_token,
        )),
        None => screens,
    };
    let router = Router::new()
        .route("/ping", get(ping))
        .route("/health", get(health_report).with_state(health_state))
        .route("/metrics", get(metrics).with_state(metrics_state))
        .merge(screens)
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes));
    if settings.allowed_origins.is_empty() {
        return router;
    }
    router.layer(cors(&settings.allowed_origins))
}

/// Cross-origin access for the stream and the API. The `Last-Event-ID` a reconnecting
/// `EventSource` sends, the `Idempotency-Key` of changes and the screen token's `Authorization`
/// are allowed headers.
fn cors(allowed_origins: &[HeaderValue]) -> CorsLayer {
    let origins = if allowed_origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(allowed_origins.iter().cloned())
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::CACHE_CONTROL,
            axum::http::header::AUTHORIZATION,
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("idempotency-key"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// The design's liveness answer: the process is up, whatever its dependencies do.
async fn ping() -> Json<Value> {
    Json(json!({ "status": "ok", "service": "kitchen_batch_tool_service" }))
}

/// Every metric, in the OpenMetrics text format Prometheus scrapes.
async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics.encode(),
    )
}

#[derive(Clone)]
struct HealthState {
    health: KitchenHealth,
    hub: crate::tail::hub::EventHub,
}

/// Readiness: 200 when the kitchen can store and show orders, 503 with the reason otherwise.
async fn health_report(State(state): State<HealthState>) -> impl IntoResponse {
    let report = state.health.report(state.hub.position());
    let status = if report.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
