//! The HTTP application: `GET /ping`, `GET /health` and the order event stream.

use crate::health::KitchenHealth;
use crate::sse::{self, EventsState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The whole HTTP application, built here so that tests serve exactly what production serves.
pub(crate) fn app(events: EventsState, health: KitchenHealth) -> Router {
    let health_state = HealthState {
        health,
        hub: events.hub.clone(),
    };
    Router::new()
        .route("/ping", get(ping))
        .route("/health", get(health_report).with_state(health_state))
        .merge(sse::router(events))
}

/// The design's liveness answer: the process is up, whatever its dependencies do.
async fn ping() -> Json<Value> {
    Json(json!({ "status": "ok", "service": "kitchen_batch_tool_service" }))
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
