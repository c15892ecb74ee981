//! `/api/...`: the tickets screens read and the changes they make (see the README, "The screen
//! API").

use super::error::ApiError;
use crate::metrics::Metrics;
use crate::store::{ChangeOutcome, OrderStore};
use crate::tickets::{Board, ChangeRequest, DayRange, RecallScope, all_day};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How screens show tickets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScreenSettings {
    /// A ticket older than this is shown as waiting (yellow).
    pub(crate) warn_after: Duration,
    /// A ticket older than this is shown as late (red).
    pub(crate) late_after: Duration,
    /// A ticket whose items are all done leaves the boards this long after its last item, even
    /// if expo never hands it over.
    pub(crate) ready_kept: Duration,
}

#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) store: OrderStore,
    /// Counts this instance's commits: a change wakes the tailer (and, through it, the other
    /// instances) as an order does.
    pub(crate) commits: Arc<watch::Sender<u64>>,
    pub(crate) settings: ScreenSettings,
    pub(crate) metrics: Arc<Metrics>,
}

/// Most tickets a snapshot holds.
const SNAPSHOT_LIMIT: i64 = 2_000;
/// The longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 200;

pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/tickets", get(tickets))
        .route("/api/all-day", get(all_day_counts))
        .route("/api/orders/{order_id}", get(ticket))
        .route("/api/recall", get(recall_list))
        .route("/api/day", get(day))
        .route(
            "/api/orders/{order_id}/items/{position}/bump",
            post(bump_item),
        )
        .route("/api/orders/{order_id}/bump", post(bump_order))
        .route("/api/batches/bump", post(bump_batch))
        .route("/api/orders/{order_id}/hand-over", post(hand_over))
        .route("/api/orders/{order_id}/recall", post(recall))
        .route("/api/changes/{event_id}/undo", post(undo))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct StationQuery {
    station: Option<String>,
}

impl StationQuery {
    fn station(&self) -> Option<&str> {
        self.station
            .as_deref()
            .filter(|station| !station.is_empty())
    }
}

async fn tickets(
    State(state): State<ApiState>,
    Query(query): Query<StationQuery>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state
        .store
        .open_tickets(
            query.station(),
            state.settings.ready_kept,
            SNAPSHOT_LIMIT + 1,
        )
        .await?;
    let mut tickets = snapshot.content;
    let truncated = tickets.len() as i64 > SNAPSHOT_LIMIT;
    tickets.truncate(SNAPSHOT_LIMIT as usize);
    Ok(Json(json!({
        "last_event_id": snapshot.last_event_id,
        "server_time": snapshot.server_time,
        "aging": {
            "warn_after_secs": state.settings.warn_after.as_secs(),
            "late_after_secs": state.settings.late_after.as_secs(),
            "ready_kept_secs": state.settings.ready_kept.as_secs(),
        },
        "tickets": tickets,
        "truncated": truncated,
    })))
}

async fn all_day_counts(
    State(state): State<ApiState>,
    Query(query): Query<StationQuery>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.store.all_day_rows(query.station()).await?;
    Ok(Json(json!({
        "last_event_id": snapshot.last_event_id,
        "stations": all_day(snapshot.content),
    })))
}

async fn ticket(
    State(state): State<ApiState>,
    Path(order_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match state.store.ticket(&order_id).await? {
        Some(ticket) => Ok(Json(json!(ticket))),
        None => Err(ApiError::NotFound(format!("no order {order_id:?}"))),
    }
}

#[derive(Debug, Deserialize)]
struct RecallQuery {
    station: Option<String>,
    view: Option<String>,
}

async fn recall_list(
    State(state): State<ApiState>,
    Query(query): Query<RecallQuery>,
) -> Result<Json<Value>, ApiError> {
    let board = match (query.view.as_deref(), query.station) {
        (Some("expo"), _) => Board::Expo,
        (Some(view), _) if !view.is_empty() => {
            return Err(ApiError::BadRequest(format!(
                "view must be \"expo\" or absent, got {view:?}"
            )));
        }
        (_, Some(station)) if !station.is_empty() => Board::Station(station),
        _ => Board::AllStations,
    };
    let tickets = state.store.recall_list(&board).await?;
    Ok(Json(json!({ "tickets": tickets })))
}

#[derive(Debug, Deserialize)]
struct DayQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn day(
    State(state): State<ApiState>,
    Query(query): Query<DayQuery>,
) -> Result<Json<Value>, ApiError> {
    let range = DayRange::parse(
        query.from.as_deref(),
        query.to.as_deref(),
        chrono::Utc::now(),
    )
    .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    let (hours, times) = state.store.day_summary(&range).await?;
    let iso = |time: chrono::DateTime<chrono::Utc>| {
        time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    Ok(Json(json!({
        "from": iso(range.from),
        "to": iso(range.to),
        "orders_per_hour": hours,
        "ticket_times": times,
        "aging": {
            "warn_after_secs": state.settings.warn_after.as_secs(),
            "late_after_secs": state.settings.late_after.as_secs(),
        },
    })))
}

async fn bump_item(
    State(state): State<ApiState>,
    Path((order_id, position)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let position = position
        .parse::<i32>()
        .ok()
        .filter(|position| *position >= 0)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "an item position is a number from 0, got {position:?}"
            ))
        })?;
    change(
        &state,
        &headers,
        ChangeRequest::BumpItem { order_id, position },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StationBody {
    station: Option<String>,
}

async fn bump_order(
    State(state): State<ApiState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: StationBody = optional_json(&body)?.unwrap_or_default();
    let station = body.station.filter(|station| !station.is_empty());
    change(
        &state,
        &headers,
        ChangeRequest::BumpOrder { order_id, station },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    station: String,
    item: String,
}

async fn bump_batch(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(BatchBody { station, item }) = optional_json(&body)? else {
        return Err(ApiError::BadRequest(
            "a batch bump needs a body {\"station\": \"...\", \"item\": \"...\"}".into(),
        ));
    };
    change(&state, &headers, ChangeRequest::BumpBatch { station, item }).await
}

async fn hand_over(
    State(state): State<ApiState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change(&state, &headers, ChangeRequest::HandOver { order_id }).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecallBody {
    station: Option<String>,
    #[serde(default)]
    expo: bool,
}

async fn recall(
    State(state): State<ApiState>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: RecallBody = optional_json(&body)?.unwrap_or_default();
    let scope = match (
        body.expo,
        body.station.filter(|station| !station.is_empty()),
    ) {
        (true, Some(_)) => {
            return Err(ApiError::BadRequest(
                "a recall is either to expo or to a station, not both".into(),
            ));
        }
        (true, None) => RecallScope::Expo,
        (false, Some(station)) => RecallScope::Station(station),
        (false, None) => RecallScope::AllStations,
    };
    change(&state, &headers, ChangeRequest::Recall { order_id, scope }).await
}

async fn undo(
    State(state): State<ApiState>,
    Path(change_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let change_id = change_id.parse::<i64>().map_err(|_| {
        ApiError::BadRequest(format!(
            "a change is named by its event id, got {change_id:?}"
        ))
    })?;
    change(&state, &headers, ChangeRequest::Undo { change_id }).await
}

/// The body as JSON, or `None` when it is empty.
fn optional_json<T: DeserializeOwned>(body: &Bytes) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid here: {error}")))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_LEN => Ok(Some(key)),
        _ => Err(ApiError::BadRequest(format!(
            "an Idempotency-Key is 1 to {MAX_KEY_LEN} visible ASCII characters"
        ))),
    }
}

/// Makes the change and answers with it: `{"change": {...}}`, or `{"change": null, "message":
/// "..."}` when nothing had to change.
async fn change(
    state: &ApiState,
    headers: &HeaderMap,
    request: ChangeRequest,
) -> Result<Response, ApiError> {
    let key = idempotency_key(headers)?;
    let outcome = state.store.change_tickets(&request, key).await;
    let order_id = match &request {
        ChangeRequest::BumpItem { order_id, .. }
        | ChangeRequest::BumpOrder { order_id, .. }
        | ChangeRequest::HandOver { order_id }
        | ChangeRequest::Recall { order_id, .. } => Some(order_id.as_str()),
        ChangeRequest::BumpBatch { .. } | ChangeRequest::Undo { .. } => None,
    };
    match outcome? {
        ChangeOutcome::Made(data) => {
            tracing::info!(order_id, request = %request.fingerprint(), "tickets changed");
            state.metrics.ticket_changed(request.kind().as_str());
            state.commits.send_modify(|count| *count += 1);
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                format!("{{\"change\":{data}}}"),
            )
                .into_response())
        }
        ChangeOutcome::Unchanged(message) => {
            tracing::info!(order_id, request = %request.fingerprint(), %message,
                "nothing to change");
            Ok(Json(json!({ "change": null, "message": message })).into_response())
        }
    }
}
