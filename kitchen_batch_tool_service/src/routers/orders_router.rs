//! `GET /orders/events`: committed orders as Server-Sent Events.
//!
//! A connection first subscribes to the live broadcast, then (given a `Last-Event-ID`) replays
//! every later order from PostgreSQL, then goes live, dropping events it already sent by id.
//! Subscribing before replaying is what closes the gap between the two. A connection that falls
//! more than the broadcast's capacity behind is caught up from PostgreSQL the same way; if the
//! database fails meanwhile, it is closed with a retry hint and the browser reconnects with its
//! `Last-Event-ID`.

use crate::events::{heartbeat_frame, retry_frame};
use crate::hub::{EventHub, LiveEvent};
use crate::store::OrderStore;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// How the event stream behaves.
#[derive(Debug, Clone)]
pub struct SseSettings {
    /// The longest a connection stays silent: a heartbeat comment is sent after it.
    pub heartbeat: Duration,
    /// The reconnection delay suggested to clients, in milliseconds.
    pub retry_millis: u64,
    /// Orders read from PostgreSQL per query while replaying.
    pub replay_page: i64,
}

impl Default for SseSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            retry_millis: 2_000,
            replay_page: 500,
        }
    }
}

/// What the event stream needs.
#[derive(Debug, Clone)]
pub struct EventsState {
    /// Where replays read from.
    pub store: OrderStore,
    /// Where live events come from.
    pub hub: EventHub,
    /// Stream settings.
    pub settings: SseSettings,
    /// Cancelled when the service shuts down; open streams then end.
    pub shutdown: CancellationToken,
}

/// The router serving `GET /orders/events`.
pub fn router(state: EventsState) -> Router {
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
    let resume_after = match parse_last_event_id(requested.as_deref()) {
        Ok(resume_after) => resume_after,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    // Subscribe before reading where live events start, so nothing falls in between.
    let receiver = state.hub.subscribe();
    let stream = EventStream {
        catching_up: resume_after.is_some(),
        last_sent: resume_after.unwrap_or_else(|| state.hub.last_published()),
        pending: VecDeque::from([retry_frame(state.settings.retry_millis)]),
        next_heartbeat: Instant::now() + state.settings.heartbeat,
        heartbeat_timer: Box::pin(tokio::time::sleep(state.settings.heartbeat)),
        station: query.station.filter(|station| !station.is_empty()),
        receiver,
        closing: false,
        state,
    };
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

struct EventStream {
    state: EventsState,
    receiver: Receiver<Arc<LiveEvent>>,
    station: Option<String>,
    /// The highest event id this connection has passed (sent, or filtered out).
    last_sent: i64,
    catching_up: bool,
    pending: VecDeque<Bytes>,
    /// When a heartbeat is due: `heartbeat` after the last frame sent.
    next_heartbeat: Instant,
    /// Wakes the stream at or before `next_heartbeat`. It is re-armed only when it fires, not
    /// per frame, so a busy stream does not touch the timer wheel for every event.
    heartbeat_timer: Pin<Box<Sleep>>,
    closing: bool,
}

/// Most live events a stream takes from the broadcast before handing them to the connection.
const MAX_FRAMES_PER_WRITE: usize = 64;

impl EventStream {
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if !self.pending.is_empty() {
                self.next_heartbeat = Instant::now() + self.state.settings.heartbeat;
                return Some(self.take_pending());
            }
            if self.closing {
                return None;
            }
            if self.catching_up {
                self.replay_page().await;
                continue;
            }
            tokio::select! {
                biased;
                () = self.state.shutdown.cancelled() => return None,
                received = self.receiver.recv() => match received {
                    Ok(live) => {
                        self.push_live(&live);
                        self.take_ready_live();
                    }
                    Err(RecvError::Lagged(missed)) => self.lagged(missed),
                    Err(RecvError::Closed) => return None,
                },
                () = self.heartbeat_timer.as_mut() => {
                    let now = Instant::now();
                    if now >= self.next_heartbeat {
                        self.pending.push_back(heartbeat_frame());
                        self.heartbeat_timer.as_mut().reset(now + self.state.settings.heartbeat);
                    } else {
                        self.heartbeat_timer.as_mut().reset(self.next_heartbeat);
                    }
                }
            }
        }
    }

    /// Takes the live events already waiting (a commit of several orders publishes them
    /// together), so that they go out in one chunk and one write rather than one each.
    fn take_ready_live(&mut self) {
        while self.pending.len() < MAX_FRAMES_PER_WRITE {
            match self.receiver.try_recv() {
                Ok(live) => self.push_live(&live),
                Err(TryRecvError::Lagged(missed)) => return self.lagged(missed),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    fn lagged(&mut self, missed: u64) {
        tracing::warn!(
            missed,
            last_sent = self.last_sent,
            "SSE client fell behind; catching up from the database"
        );
        self.catching_up = true;
    }

    /// The pending frames as one chunk.
    fn take_pending(&mut self) -> Bytes {
        if self.pending.len() == 1 {
            return self.pending.pop_front().expect("one frame is pending");
        }
        let length = self.pending.iter().map(Bytes::len).sum();
        let mut chunk = BytesMut::with_capacity(length);
        for frame in self.pending.drain(..) {
            chunk.extend_from_slice(&frame);
        }
        chunk.freeze()
    }

    fn push_live(&mut self, live: &LiveEvent) {
        if live.event.id <= self.last_sent {
            return; // Already sent during the replay.
        }
        self.last_sent = live.event.id;
        let frame = match &self.station {
            None => Some(live.frame.clone()),
            Some(station) => live.event.frame(Some(station)),
        };
        self.pending.extend(frame);
    }

    async fn replay_page(&mut self) {
        let page = self.state.settings.replay_page;
        match self.state.store.events_after(self.last_sent, page).await {
            Ok(events) => {
                if (events.len() as i64) < page {
                    self.catching_up = false;
                }
                for event in events {
                    self.last_sent = event.id;
                    self.pending.extend(event.frame(self.station.as_deref()));
                }
            }
            Err(error) => {
                tracing::error!(%error, last_sent = self.last_sent,
                    "SSE replay failed; closing the stream with a retry hint");
                self.pending
                    .push_back(retry_frame(self.state.settings.retry_millis));
                self.closing = true;
            }
        }
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
