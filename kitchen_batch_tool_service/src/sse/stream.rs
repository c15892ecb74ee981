//! One screen's stream: frames from the hub, or from PostgreSQL while catching up.

use super::EventsState;
use super::frame::{heartbeat_frame, log_frame, reset_frame, retry_frame};
use crate::metrics::{ConnectedScreen, StreamEnd};
use crate::tail::changed_or_pending;
use crate::tail::hub::Read;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::{Instant, Sleep};

/// Where a connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// With the next new event.
    Live,
    /// After this event id.
    After(i64),
    /// The screen's id is beyond the log: tell it, then go on live.
    Reset { requested: i64 },
}

/// Most events a stream takes at once before handing them to the connection as one chunk.
const MAX_EVENTS_PER_WRITE: usize = 64;

pub(super) struct EventStream {
    state: EventsState,
    station: Option<String>,
    /// Every event up to here has been sent (or filtered out).
    cursor: i64,
    /// While catching up from the database: up to where.
    catching_up_through: Option<i64>,
    position: watch::Receiver<i64>,
    pending: VecDeque<Bytes>,
    /// When a heartbeat is due: `heartbeat` after the last frame sent.
    next_heartbeat: Instant,
    /// Wakes the stream at or before `next_heartbeat`. It is re-armed only when it fires, not
    /// per frame, so a busy stream does not touch the timer wheel for every event.
    heartbeat_timer: Pin<Box<Sleep>>,
    /// Held from a replay page's read until its frames have been handed to the connection.
    replay_permit: Option<OwnedSemaphorePermit>,
    closing: bool,
    _connected: ConnectedScreen,
}

impl EventStream {
    pub(super) fn new(state: EventsState, start: Start, station: Option<String>) -> Self {
        let live_from = state.hub.position();
        let mut pending = VecDeque::from([retry_frame(state.settings.retry_millis)]);
        let cursor = match start {
            Start::Live => live_from,
            Start::After(after) => after,
            Start::Reset { requested } => {
                state.metrics.screen_reset();
                tracing::warn!(
                    last_event_id = requested,
                    continues_after = live_from,
                    "a screen's Last-Event-ID is beyond the log; telling it to reset"
                );
                pending.push_back(reset_frame(requested, live_from));
                live_from
            }
        };
        let heartbeat = state.settings.heartbeat;
        let connected = state.metrics.screen_connected();
        Self {
            position: state.hub.watch_position(),
            state,
            station,
            cursor,
            catching_up_through: None,
            pending,
            next_heartbeat: Instant::now() + heartbeat,
            heartbeat_timer: Box::pin(tokio::time::sleep(heartbeat)),
            replay_permit: None,
            closing: false,
            _connected: connected,
        }
    }

    pub(super) async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if !self.pending.is_empty() {
                self.next_heartbeat = Instant::now() + self.state.settings.heartbeat;
                return Some(self.take_pending());
            }
            // The last replayed page has been taken by the connection.
            self.replay_permit = None;
            if self.closing {
                return None;
            }
            if self.state.shutdown.is_cancelled() {
                self.close_for_shutdown();
                continue;
            }
            if let Some(through) = self.catching_up_through {
                let shutdown = self.state.shutdown.clone();
                let replays = Arc::clone(&self.state.replays);
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => continue,
                    permit = replays.acquire_owned() => {
                        self.replay_permit = Some(permit.expect("never closed"));
                    }
                }
                // Boxed: the read's future is large, and every connection's stream would
                // otherwise carry room for it, though few ever replay.
                let replay = Box::pin(self.replay_page(through));
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => {}
                    () = replay => {}
                }
                continue;
            }
            match self.state.hub.read(self.cursor, MAX_EVENTS_PER_WRITE) {
                Read::Events(events) => {
                    let before = self.pending.len();
                    for live in events {
                        self.cursor = live.event.id();
                        self.pending.extend(live.frame_for(self.station.as_deref()));
                    }
                    self.count_sent(before);
                    continue;
                }
                Read::Behind => {
                    tracing::info!(
                        cursor = self.cursor,
                        "a screen is behind the in-memory window; catching up from the database"
                    );
                    self.state.metrics.screen_catching_up();
                    self.catching_up_through = Some(self.state.hub.position());
                    continue;
                }
                Read::UpToDate => {}
            }
            tokio::select! {
                biased;
                () = self.state.shutdown.cancelled() => {}
                () = changed_or_pending(&mut self.position) => {}
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

    /// Counts the frames queued since the queue held `before` (a station's stream leaves out the
    /// entries that are not its station's).
    fn count_sent(&self, before: usize) {
        self.state
            .metrics
            .events_sent((self.pending.len() - before) as u64);
    }

    /// Ends the stream with a retry hint, so that the screen reconnects (to this instance once
    /// it is back, or to another behind the same address) rather than give up.
    fn close_for_shutdown(&mut self) {
        self.pending
            .push_back(retry_frame(self.state.settings.retry_millis));
        self.state.metrics.screen_dropped(StreamEnd::shutdown);
        self.closing = true;
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

    async fn replay_page(&mut self, through: i64) {
        let page = self.state.settings.replay_page;
        match self
            .state
            .store
            .log_between(self.cursor, through, page)
            .await
        {
            Ok(page) => {
                let before = self.pending.len();
                for event in &page.events {
                    self.cursor = event.id();
                    self.pending
                        .extend(log_frame(event, self.station.as_deref()));
                }
                self.count_sent(before);
                if page.complete {
                    self.cursor = self.cursor.max(through);
                    self.catching_up_through = None;
                }
            }
            Err(error) => {
                tracing::error!(%error, cursor = self.cursor,
                    "SSE replay failed; closing the stream with a retry hint");
                self.pending
                    .push_back(retry_frame(self.state.settings.retry_millis));
                self.state.metrics.screen_dropped(StreamEnd::replay_failed);
                self.closing = true;
            }
        }
    }
}
