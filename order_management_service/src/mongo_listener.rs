//! The MongoDB change-stream listener: a [`BackgroundService`] that reads inserts on the orders
//! collection in order, hands each to the [`OrderPipeline`], and stores the resume token only
//! once the order is acknowledged or dead-lettered.
//!
//! Failures of the stream (or of MongoDB writes) reopen it after the last handled event, with
//! [`stream_backoff`]. Failures that reopening cannot fix (history lost, the collection dropped or
//! renamed) stop the listener with the reason, which `/health` reports.

use crate::checkpoint::{CheckpointError, CheckpointStore};
use crate::extract::{document_order_id, inserted_at};
use crate::metrics::Metrics;
use crate::pipeline::{Handled, OrderPipeline};
use crate::status::ListenerProgress;
use chrono::{DateTime, Utc};
use mongodb::Collection;
use mongodb::bson::{Document, Timestamp, doc};
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::error::ErrorKind;
use mongodb::options::ChangeStreamOptions;
use shared_patterns::{
    BackgroundService, Backoff, CancellationToken, HealthReporter, ServiceState,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `ChangeStreamHistoryLost`: the resume point is no longer in the oplog.
const HISTORY_LOST: i32 = 286;
/// `InvalidResumeToken`.
const INVALID_RESUME_TOKEN: i32 = 260;
/// `ChangeStreamFatalError`.
const CHANGE_STREAM_FATAL: i32 = 280;

/// The retry schedule for the change stream: 1 s doubling to at most 60 s, with jitter; reset
/// once the stream is healthy again.
pub fn stream_backoff() -> Backoff {
    Backoff::reconnect()
}

/// Why the listener stopped. Each needs an operator (see the README's "Operator recovery").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenerError {
    /// The stored position fell out of the oplog (`ChangeStreamHistoryLost`, code 286).
    #[error(
        "change stream history lost (code 286): the checkpoint is older than the oplog; orders inserted since may be missing, see the README's operator recovery ({0})"
    )]
    HistoryLost(String),
    /// The server refused the stream for good (invalid resume token, fatal change-stream error).
    #[error("change stream cannot be resumed (code {code}): {message}")]
    CannotResume {
        /// The server's error code.
        code: i32,
        /// The server's message.
        message: String,
    },
    /// The orders collection (or its database) was dropped or renamed.
    #[error(
        "orders collection {namespace} was {what}; the change stream ended, see the README's operator recovery"
    )]
    CollectionGone {
        /// `db.collection`.
        namespace: String,
        /// What happened (`dropped`, `renamed`, `dropped with its database`, `invalidated`).
        what: &'static str,
    },
    /// The server closed the stream without saying why (with a filter hiding the drop event, a
    /// dropped collection looks like this).
    #[error(
        "change stream on {namespace} was closed by the server (was the collection dropped or renamed?)"
    )]
    StreamClosed {
        /// `db.collection`.
        namespace: String,
    },
}

/// Where to open the change stream.
#[derive(Debug, Clone, PartialEq)]
enum Position {
    /// From now (first start, no checkpoint).
    Now,
    /// From a cluster time (`--start-at`).
    At(Timestamp),
    /// After a stored or just-handled resume token.
    After(ResumeToken),
}

/// What ended one opening of the stream.
enum Interruption {
    /// Shutting down.
    Cancelled,
    /// Reopen after a backoff.
    Retry(String),
    /// Stop the listener.
    Fatal(ListenerError),
}

impl From<mongodb::error::Error> for Interruption {
    fn from(error: mongodb::error::Error) -> Self {
        if let ErrorKind::Command(command) = error.kind.as_ref() {
            match command.code {
                HISTORY_LOST => {
                    return Self::Fatal(ListenerError::HistoryLost(command.message.clone()));
                }
                INVALID_RESUME_TOKEN | CHANGE_STREAM_FATAL => {
                    return Self::Fatal(ListenerError::CannotResume {
                        code: command.code,
                        message: command.message.clone(),
                    });
                }
                _ => {}
            }
        }
        Self::Retry(format!("change stream: {error}"))
    }
}

impl From<CheckpointError> for Interruption {
    fn from(error: CheckpointError) -> Self {
        Self::Retry(error.to_string())
    }
}

/// Tuning of the listener; the defaults suit production.
#[derive(Debug, Clone, Copy)]
pub struct ListenerOptions {
    /// How long the server waits for new events before answering a getMore with an empty batch.
    pub max_await: Duration,
    /// While the collection is quiet, the post-batch resume token is stored at most this often.
    pub quiet_checkpoint_interval: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            max_await: Duration::from_secs(1),
            quiet_checkpoint_interval: Duration::from_secs(5),
        }
    }
}

/// The change-stream listener. Run it with [`shared_patterns::spawn_background_service`].
#[derive(Debug)]
pub struct OrderListener {
    orders: Collection<Document>,
    checkpoints: CheckpointStore,
    pipeline: OrderPipeline,
    metrics: Arc<Metrics>,
    progress: Arc<ListenerProgress>,
    start_at: Option<DateTime<Utc>>,
    options: ListenerOptions,
}

impl OrderListener {
    /// A listener on `orders`, storing its position in `checkpoints`. With `start_at`, the stored
    /// position is ignored and the stream is read from that time.
    pub fn new(
        orders: Collection<Document>,
        checkpoints: CheckpointStore,
        pipeline: OrderPipeline,
        metrics: Arc<Metrics>,
        progress: Arc<ListenerProgress>,
        start_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            orders,
            checkpoints,
            pipeline,
            metrics,
            progress,
            start_at,
            options: ListenerOptions::default(),
        }
    }

    /// Replaces the default tuning.
    pub fn with_options(mut self, options: ListenerOptions) -> Self {
        self.options = options;
        self
    }

    fn namespace(&self) -> String {
        self.orders.namespace().to_string()
    }

    /// The starting position: `--start-at`, else the stored checkpoint, else now.
    async fn initial_position(&self) -> Result<Position, CheckpointError> {
        if let Some(start_at) = self.start_at {
            tracing::warn!(%start_at, consumer = self.checkpoints.consumer(), "--start-at given: ignoring the stored checkpoint");
            let seconds = u32::try_from(start_at.timestamp().max(0)).unwrap_or(u32::MAX);
            return Ok(Position::At(Timestamp {
                time: seconds,
                increment: 0,
            }));
        }
        Ok(match self.checkpoints.load().await? {
            Some(checkpoint) => {
                tracing::info!(saved_at = %checkpoint.saved_at, consumer = self.checkpoints.consumer(), "resuming after the stored checkpoint");
                self.progress.checkpoint_saved(checkpoint.saved_at);
                Position::After(checkpoint.token)
            }
            None => {
                tracing::info!(
                    consumer = self.checkpoints.consumer(),
                    "no checkpoint stored: starting from now"
                );
                Position::Now
            }
        })
    }

    async fn open(
        &self,
        position: &Position,
    ) -> Result<ChangeStream<ChangeStreamEvent<Document>>, mongodb::error::Error> {
        let options = ChangeStreamOptions::builder()
            .max_await_time(Some(self.options.max_await))
            .start_after(match position {
                Position::After(token) => Some(token.clone()),
                _ => None,
            })
            .start_at_operation_time(match position {
                Position::At(time) => Some(*time),
                _ => None,
            })
            .build();
        self.orders
            .watch()
            .pipeline([doc! {
                "$match": { "operationType": { "$in": ["insert", "drop", "rename", "dropDatabase", "invalidate"] } }
            }])
            .with_options(options)
            .await
    }

    async fn save(
        &self,
        token: &ResumeToken,
        order_id: Option<&str>,
        position: &mut Position,
    ) -> Result<(), CheckpointError> {
        let now = Utc::now();
        self.checkpoints.save(token, order_id, now).await?;
        self.metrics.checkpoint_saved();
        self.progress.checkpoint_saved(now);
        *position = Position::After(token.clone());
        Ok(())
    }

    /// Opens the stream at `position` and handles events until something interrupts it.
    /// `position` moves forward with every stored checkpoint.
    async fn watch(
        &self,
        position: &mut Option<Position>,
        backoff: &mut Backoff,
        health: &HealthReporter,
        cancel: &CancellationToken,
    ) -> Interruption {
        let current = match position {
            Some(current) => current,
            None => match self.initial_position().await {
                Ok(initial) => position.insert(initial),
                Err(error) => return error.into(),
            },
        };
        let mut stream = match self.open(current).await {
            Ok(stream) => stream,
            Err(error) => return error.into(),
        };
        // The first start's position ("now", or a start time) is stored at once, so that orders
        // inserted before the first event survive a crash.
        if !matches!(current, Position::After(_))
            && let Some(token) = stream.resume_token()
            && let Err(error) = self.save(&token, None, current).await
        {
            return error.into();
        }
        let mut last_save = Instant::now();
        loop {
            let next = tokio::select! {
                () = cancel.cancelled() => return Interruption::Cancelled,
                next = stream.next_if_any() => next,
            };
            let event = match next {
                Err(error) => return error.into(),
                Ok(None) if !stream.is_alive() => {
                    return Interruption::Fatal(ListenerError::StreamClosed {
                        namespace: self.namespace(),
                    });
                }
                Ok(None) => {
                    self.mark_healthy(health, backoff);
                    // Quiet: keep the stored position inside the oplog.
                    if let Some(token) = stream.resume_token()
                        && !matches!(current, Position::After(stored) if *stored == token)
                        && last_save.elapsed() >= self.options.quiet_checkpoint_interval
                    {
                        if let Err(error) = self.save(&token, None, current).await {
                            return error.into();
                        }
                        last_save = Instant::now();
                    }
                    continue;
                }
                Ok(Some(event)) => event,
            };
            self.mark_healthy(health, backoff);
            let what = match event.operation_type {
                OperationType::Insert => None,
                OperationType::Drop => Some("dropped"),
                OperationType::Rename => Some("renamed"),
                OperationType::DropDatabase => Some("dropped with its database"),
                OperationType::Invalidate => Some("invalidated"),
                _ => continue,
            };
            if let Some(what) = what {
                return Interruption::Fatal(ListenerError::CollectionGone {
                    namespace: self.namespace(),
                    what,
                });
            }
            match self.handle_insert(&event, health, cancel).await {
                Ok(Some(order_id)) => {
                    if let Err(error) = self.save(&event.id, Some(&order_id), current).await {
                        return error.into();
                    }
                    last_save = Instant::now();
                    health.healthy();
                }
                Ok(None) => return Interruption::Cancelled,
                Err(interruption) => return interruption,
            }
        }
    }

    /// Handles one insert event; returns the order id once the checkpoint may move past it, or
    /// `None` when cancelled.
    async fn handle_insert(
        &self,
        event: &ChangeStreamEvent<Document>,
        health: &HealthReporter,
        cancel: &CancellationToken,
    ) -> Result<Option<String>, Interruption> {
        self.metrics.insert_event();
        let Some(document) = &event.full_document else {
            // An insert event always carries the document; without it there is nothing to send.
            let order_id = event
                .document_key
                .as_ref()
                .map(document_order_id)
                .unwrap_or_default();
            tracing::error!(order_id = %order_id, "insert event without fullDocument; skipped");
            return Ok(Some(order_id));
        };
        let order_id = document_order_id(document);
        let inserted = inserted_at(
            event.wall_time,
            document.get("_id"),
            event.cluster_time,
            Utc::now(),
        );
        tracing::debug!(order_id = %order_id, inserted_at = %inserted, "insert event received");
        self.progress.event_started(inserted);
        let handled = self
            .pipeline
            .handle(document, inserted, health, cancel)
            .await;
        match handled {
            Ok(Handled::Sent | Handled::DeadLettered) => {
                self.progress.event_finished(Utc::now());
                Ok(Some(order_id))
            }
            Ok(Handled::Cancelled) => {
                self.progress.event_abandoned();
                Ok(None)
            }
            Err(error) => {
                self.progress.event_abandoned();
                tracing::warn!(order_id = %order_id, %error, "dead-letter write failed; the order will be read again");
                Err(Interruption::Retry(error.to_string()))
            }
        }
    }

    fn mark_healthy(&self, health: &HealthReporter, backoff: &mut Backoff) {
        if backoff.failures() > 0 {
            tracing::info!(namespace = %self.namespace(), "change stream healthy again");
            backoff.reset();
        }
        health.healthy();
    }
}

impl BackgroundService for OrderListener {
    type Error = ListenerError;

    fn name(&self) -> &'static str {
        "mongo_listener"
    }

    async fn run(
        self,
        health: HealthReporter,
        cancel: CancellationToken,
    ) -> Result<(), ListenerError> {
        let mut position = None;
        let mut backoff = stream_backoff();
        tracing::info!(namespace = %self.namespace(), "watching the orders collection");
        loop {
            match self
                .watch(&mut position, &mut backoff, &health, &cancel)
                .await
            {
                Interruption::Cancelled => return Ok(()),
                Interruption::Fatal(error) => {
                    self.metrics.unrecoverable_error();
                    tracing::error!(namespace = %self.namespace(), %error, "change stream listener stopped; operator action needed");
                    return Err(error);
                }
                Interruption::Retry(reason) => {
                    self.metrics.stream_error();
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        namespace = %self.namespace(),
                        attempt = backoff.failures(),
                        retry_in_ms = delay.as_millis() as u64,
                        %reason,
                        "change stream failed; reopening after the last handled event"
                    );
                    health.set(ServiceState::Retrying {
                        reason,
                        attempt: backoff.failures(),
                    });
                    tokio::select! {
                        () = cancel.cancelled() => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_backoff_doubles_from_one_second_to_sixty_with_jitter_and_resets() {
        let mut backoff = stream_backoff();
        for seconds in [1, 2, 4, 8, 16, 32, 60, 60] {
            let base = Duration::from_secs(seconds);
            assert_eq!(backoff.base_delay(), base);
            let delay = backoff.next_delay();
            assert!(
                delay >= base.mul_f64(0.8)
                    && delay <= base.mul_f64(1.2).min(Duration::from_secs(60)),
                "{delay:?} for {base:?}"
            );
        }
        backoff.reset();
        assert_eq!(backoff.base_delay(), Duration::from_secs(1));
    }

    #[test]
    fn history_lost_and_invalid_tokens_stop_the_listener_other_errors_retry() {
        let command_error = |code: i32| -> mongodb::error::Error {
            let reply: mongodb::error::CommandError = mongodb::bson::from_document(doc! {
                "code": code, "codeName": "X", "errmsg": "boom"
            })
            .unwrap();
            mongodb::error::Error::from(ErrorKind::Command(reply))
        };
        assert!(matches!(
            Interruption::from(command_error(286)),
            Interruption::Fatal(ListenerError::HistoryLost(_))
        ));
        assert!(matches!(
            Interruption::from(command_error(260)),
            Interruption::Fatal(ListenerError::CannotResume { code: 260, .. })
        ));
        assert!(matches!(
            Interruption::from(command_error(6)),
            Interruption::Retry(_)
        ));
        assert!(matches!(
            Interruption::from(command_error(2)),
            Interruption::Retry(_)
        ));
    }
}
