//! The HTTP application: `GET /ping` and the order event stream.

use crate::routers::orders_router::{self, EventsState};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The whole HTTP application, built here so that tests serve exactly what production serves.
pub fn app(events: EventsState) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .merge(orders_router::router(events))
}

async fn ping() -> Json<Value> {
    Json(json!({ "status": "ok", "service": "kitchen_batch_tool_service" }))
}
