//! The HTTP server: `GET /ping`, `GET /health` (the listener's role, state and progress; 503
//! unless it is watching or standing by) and `GET /metrics` (Prometheus text).

use crate::metrics::{CONTENT_TYPE, Metrics, MetricsSnapshot};
use crate::status::{ListenerProgress, Role};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Serialize;
use shared_patterns::{HealthWatch, ServiceState};
use shared_utils::time::iso8601_millis;
use std::sync::Arc;

/// What the HTTP handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The listener's state.
    pub health: HealthWatch,
    /// The listener's progress.
    pub progress: Arc<ListenerProgress>,
    /// The listener's counters.
    pub metrics: Arc<Metrics>,
}

/// The body of `GET /health`.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// `ok` when the listener is watching or standing by, else `unavailable`.
    pub status: &'static str,
    /// `active` (holds the lease and watches), `standby` (another instance does) or `starting`.
    pub role: &'static str,
    /// The listener's state.
    pub listener: ListenerReport,
    /// When the last order read from the stream was inserted (ISO 8601).
    pub last_event_at: Option<String>,
    /// How long ago the checkpoint was stored, in milliseconds.
    pub checkpoint_age_ms: Option<i64>,
    /// How far behind the inserts the listener is, in milliseconds.
    pub lag_ms: Option<i64>,
    /// The counters.
    pub counters: MetricsSnapshot,
}

/// The listener part of [`HealthReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ListenerReport {
    /// `starting`, `watching`, `standby`, `retrying` or `stopped`.
    pub state: &'static str,
    /// Why it is not watching.
    pub reason: Option<String>,
    /// Failures in a row, while retrying.
    pub attempt: Option<u32>,
}

impl HealthReport {
    /// The report for `state` and the progress and counters now.
    pub fn new(state: &ServiceState, progress: &ListenerProgress, metrics: &Metrics) -> Self {
        let now = Utc::now();
        let progress = progress.snapshot(now);
        Self {
            status: if state.is_healthy() {
                "ok"
            } else {
                "unavailable"
            },
            role: progress.role.as_str(),
            listener: ListenerReport {
                state: match state {
                    ServiceState::Starting => "starting",
                    ServiceState::Healthy if progress.role == Role::Standby => "standby",
                    ServiceState::Healthy => "watching",
                    ServiceState::Retrying { .. } => "retrying",
                    ServiceState::Stopped { .. } => "stopped",
                },
                reason: state.reason().map(str::to_owned),
                attempt: match state {
                    ServiceState::Retrying { attempt, .. } => Some(*attempt),
                    _ => None,
                },
            },
            last_event_at: progress.last_event_at.map(iso8601_millis),
            checkpoint_age_ms: progress.checkpoint_age_ms,
            lag_ms: progress.lag_ms,
            counters: metrics.snapshot(),
        }
    }
}

/// The router: `/ping`, `/health`, `/metrics`, refusing request bodies over `max_body_bytes`
/// with 413.
pub fn app(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            max_body_bytes,
        ))
}

async fn ping() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "message": "pong" }))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let current = state.health.current();
    let report = HealthReport::new(&current, &state.progress, &state.metrics);
    let code = if current.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.encode(&state.progress.snapshot(Utc::now())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_the_state_and_why() {
        let progress = ListenerProgress::default();
        let metrics = Metrics::default();
        let ok = HealthReport::new(&ServiceState::Healthy, &progress, &metrics);
        assert_eq!((ok.status, ok.listener.state), ("ok", "watching"));
        let lost = HealthReport::new(
            &ServiceState::Stopped {
                reason: "change stream history lost".into(),
            },
            &progress,
            &metrics,
        );
        assert_eq!(
            (lost.status, lost.listener.state),
            ("unavailable", "stopped")
        );
        assert_eq!(
            lost.listener.reason.as_deref(),
            Some("change stream history lost")
        );
        let retrying = HealthReport::new(
            &ServiceState::Retrying {
                reason: "kitchen unavailable".into(),
                attempt: 3,
            },
            &progress,
            &metrics,
        );
        assert_eq!(retrying.listener.attempt, Some(3));
    }
}
