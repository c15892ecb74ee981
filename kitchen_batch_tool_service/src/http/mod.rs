//! The HTTP application: `GET /ping`, `GET /health`, `GET /metrics`, the event stream, the
//! screen API and the screen itself.

mod api;
mod error;
mod screen;

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
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The whole HTTP application, built here so that tests serve exactly what production serves.
/// Pages on `allowed_origins` (another web app's) may use the stream and the API.
pub(crate) fn app(
    events: EventsState,
    api: ApiState,
    health: KitchenHealth,
    allowed_origins: &[HeaderValue],
) -> Router {
    let health_state = HealthState {
        health,
        hub: events.hub.clone(),
    };
    let router = Router::new()
        .route("/ping", get(ping))
        .route("/health", get(health_report).with_state(health_state))
        .route(
            "/metrics",
            get(metrics).with_state(Arc::clone(&events.metrics)),
        )
        .merge(sse::router(events))
        .merge(api::router(api))
        .merge(screen::router());
    if allowed_origins.is_empty() {
        return router;
    }
    router.layer(cors(allowed_origins))
}

/// Cross-origin access for the stream and the API. The `Last-Event-ID` a reconnecting
/// `EventSource` sends and the `Idempotency-Key` of changes are allowed headers.
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
