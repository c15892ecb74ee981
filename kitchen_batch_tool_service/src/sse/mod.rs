//! `GET /orders/events`: the event log as Server-Sent Events.
//!
//! A connection starts at its `Last-Event-ID` (or at the tailer's position), reads what follows
//! from the hub's in-memory window, and whatever is no longer there from PostgreSQL, up to the
//! tailer's position, in pages bounded in bytes. Everything it sends is final, in id order, so
//! it never sends an id twice and never skips one.

pub(crate) mod frame;
mod stream;

use crate::metrics::Metrics;
use crate::store::{OrderStore, PageLimits};
use crate::tail::hub::EventHub;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use stream::{EventStream, Start};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How the event stream behaves.
#[derive(Debug, Clone)]
pub(crate) struct SseSettings {
    /// The longest a connection stays silent: a heartbeat comment is sent after it.
    pub(crate) heartbeat: Duration,
    /// The reconnection delay suggested to clients, in milliseconds.
    pub(crate) retry_millis: u64,
    /// How much one replay read from PostgreSQL may hold.
    pub(crate) replay_page: PageLimits,
}

/// What the event stream needs.
#[derive(Debug, Clone)]
pub(crate) struct EventsState {
    pub(crate) store: OrderStore,
    pub(crate) hub: EventHub,
    pub(crate) settings: SseSettings,
    /// Cancelled when the service shuts down; open streams then end.
    pub(crate) shutdown: CancellationToken,
    /// Replays from PostgreSQL at once, over all streams: after a restart every reconnecting
    /// screen replays, and this bounds their memory and their share of the pool.
    pub(crate) replays: Arc<Semaphore>,
    pub(crate) metrics: Arc<Metrics>,
}

/// How many streams may replay from PostgreSQL at once.
pub(crate) const REPLAYS_AT_ONCE: usize = 4;

/// The router serving `GET /orders/events`.
pub(crate) fn router(state: EventsState) -> Router {
    Router::new()
        .route("/orders/events", get(order_events))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    station: Option<String>,
    last_event_id: Option<String>,
}

async fn order_events(
    State(state): State<EventsState>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let requested = headers
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or("?").to_owned())
        .or(query.last_event_id);
    let start = match parse_last_event_id(requested.as_deref()) {
        Ok(None) => Start::Live,
        Ok(Some(after)) => match start_after(&state, after).await {
            Ok(start) => start,
            Err(response) => return response,
        },
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let station = query.station.filter(|station| !station.is_empty());
    let stream = EventStream::new(state, start, station);
    let body = futures::stream::unfold(stream, |mut stream| async move {
        let frame = stream.next_frame().await?;
        Some((Ok::<Bytes, Infallible>(frame), stream))
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // Tells reverse proxies such as nginx not to buffer the stream.
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Where a connection resuming after `after` starts. An id beyond the tailer's position may be
/// one another instance has already streamed (this one's tailer will get there); one beyond
/// everything stored comes from another database, and the screen is told to start over.
async fn start_after(state: &EventsState, after: i64) -> Result<Start, Response> {
    if after <= state.hub.position() {
        return Ok(Start::After(after));
    }
    match state.store.latest_event_id().await {
        Ok(latest) if after > latest => Ok(Start::Reset { requested: after }),
        Ok(_) => Ok(Start::After(after)),
        Err(error) => {
            tracing::error!(%error, "cannot check a Last-Event-ID against the log");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, HeaderValue::from_static("2"))],
                "the order store is unavailable",
            )
                .into_response())
        }
    }
}

/// Parses a `Last-Event-ID`: absent or empty means "live only".
fn parse_last_event_id(value: Option<&str>) -> Result<Option<i64>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<i64>() {
            Ok(id) if id >= 0 => Ok(Some(id)),
            _ => Err(format!(
                "Last-Event-ID must be a non-negative event id, got {text:?}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::parse_last_event_id;

    #[test]
    fn last_event_id_is_optional_and_must_be_a_non_negative_number() {
        assert_eq!(parse_last_event_id(None), Ok(None));
        assert_eq!(parse_last_event_id(Some("")), Ok(None));
        assert_eq!(parse_last_event_id(Some("0")), Ok(Some(0)));
        assert_eq!(parse_last_event_id(Some(" 42 ")), Ok(Some(42)));
        assert!(parse_last_event_id(Some("-1")).is_err());
        assert!(parse_last_event_id(Some("abc")).is_err());
    }
}
