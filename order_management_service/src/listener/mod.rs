//! The MongoDB change-stream listener: a [`BackgroundService`] that reads inserts ahead, delivers
//! up to `max_in_flight` of them to the kitchen at once, and moves the position only past the
//! longest prefix of events that are all acknowledged or dead-lettered.
//!
//! ```text
//! reader (task): change stream -> classify -> channel (bounded in events and bytes)
//! loop: channel -> in flight (pipeline: extract -> deliver | dead-letter) -> finalizer
//!       -> position keeper (in memory at once, stored every K orders or T ms)
//! ```
//! Only the instance holding the consumer's lease (`lease.rs`) watches; the others stand by and
//! try to take it. Failures of the stream (or of MongoDB writes) reopen it after the last
//! finalized event, with [`stream_backoff`]. Failures that reopening cannot fix (history lost,
//! the collection dropped or renamed) stop the listener with the reason, which `/health` reports.

mod classify;
mod error;
mod finalizer;
mod position;
mod reader;

pub(crate) use classify::InsertedOrder;
pub use error::ListenerError;
pub(crate) use position::CheckpointPolicy;

use crate::backfill::{BackfillRange, backfill};
use crate::checkpoint::CheckpointStore;
use crate::extract::PROJECTED_FIELDS;
use crate::lease::{Attempt, Lease, LeaseStore};
use crate::metrics::Metrics;
use crate::observe;
use crate::pipeline::{Handled, OrderPipeline};
use crate::status::{ListenerProgress, Role};
use chrono::{DateTime, Utc};
use error::Interruption;
use finalizer::{InOrderFinalizer, Sequence};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use mongodb::Collection;
use mongodb::bson::{Document, RawDocumentBuf, Timestamp, doc};
use mongodb::change_stream::ChangeStream;
use mongodb::options::ChangeStreamOptions;
use position::{Finalized, Position, PositionKeeper};
use reader::{AbortOnDrop, ReadAhead, Reader, StreamItem};
use shared_patterns::{BackgroundService, Backoff, CancellationToken, HealthReporter};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The longest each step of stopping may take (the last save, releasing the lease), so that the
/// whole stays within the service's shutdown budget.
const SHUTDOWN_STEP: Duration = Duration::from_secs(2);

/// How long the orders in flight at a shutdown (or a lost lease) may take to be acknowledged
/// before they are abandoned (and sent again by whoever watches next).
const IN_FLIGHT_DRAIN: Duration = Duration::from_secs(2);

/// Events read and not yet finalized, at most, per order in flight: behind one order that keeps
/// failing, the others go on, up to this many; then reading waits for it.
const MAX_PENDING_PER_IN_FLIGHT: usize = 16;

/// The retry schedule for the change stream: 1 s doubling to at most 60 s, with jitter; reset
/// once the stream is healthy again.
pub(crate) fn stream_backoff() -> Backoff {
    Backoff::reconnect()
}

/// Tuning of the listener; the defaults suit production.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListenerOptions {
    /// How long the server waits for new events before answering a getMore with an empty batch.
    pub(crate) max_await: Duration,
    /// Orders delivered at once.
    pub(crate) max_in_flight: usize,
    /// Bytes of events read and not yet handled, at most.
    pub(crate) read_ahead_bytes: usize,
    /// When the position is stored.
    pub(crate) checkpoints: CheckpointPolicy,
    /// Project events on the server to the fields extraction reads.
    pub(crate) project_events: bool,
    /// The longest wait for MongoDB when opening the stream or asking its time.
    pub(crate) mongo_timeout: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            max_await: Duration::from_secs(1),
            max_in_flight: 64,
            read_ahead_bytes: 16 << 20,
            checkpoints: CheckpointPolicy {
                every_events: 512,
                every: Duration::from_millis(500),
                quiet_every: Duration::from_secs(5),
            },
            project_events: true,
            mongo_timeout: Duration::from_secs(5),
        }
    }
}

/// The change-stream listener. Run it with [`shared_patterns::spawn_background_service`].
#[derive(Debug)]
pub(crate) struct OrderListener {
    pub(crate) orders: Collection<Document>,
    pub(crate) checkpoints: CheckpointStore,
    pub(crate) lease: LeaseStore,
    pub(crate) pipeline: OrderPipeline,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) progress: Arc<ListenerProgress>,
    /// With a start time, the stored position is ignored and the stream is read from then.
    pub(crate) start_at: Option<DateTime<Utc>>,
    /// Orders to re-send before the stream continues (after history loss); the stream then
    /// continues from where it was when the backfill began.
    pub(crate) backfill: Option<BackfillRange>,
    pub(crate) options: ListenerOptions,
}

/// One event being handled: its sequence number and how it ended.
type InFlight = Pin<Box<dyn Future<Output = (Sequence, Result<Handled, Interruption>)> + Send>>;

impl OrderListener {
    fn namespace(&self) -> String {
        self.orders.namespace().to_string()
    }

    /// The server's current operation time, from a `ping`'s reply (replica sets give it).
    async fn server_time(&self) -> Option<Timestamp> {
        let database = self.orders.client().database(&self.orders.namespace().db);
        let ping = database.run_command(doc! { "ping": 1 });
        let reply = tokio::time::timeout(self.options.mongo_timeout, ping)
            .await
            .ok()?
            .ok()?;
        reply.get_timestamp("operationTime").ok()
    }

    /// Opens the stream at `position`, waiting at most the MongoDB time limit.
    async fn open(
        &self,
        position: &Position,
    ) -> Result<ChangeStream<RawDocumentBuf>, Interruption> {
        let limit = self.options.mongo_timeout;
        tokio::time::timeout(limit, self.open_stream(position))
            .await
            .map_err(|_| {
                Interruption::Retry(format!("the change stream did not open within {limit:?}"))
            })?
            .map_err(Interruption::from)
    }

    async fn open_stream(
        &self,
        position: &Position,
    ) -> Result<ChangeStream<RawDocumentBuf>, mongodb::error::Error> {
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
        Ok(self
            .orders
            .watch()
            .pipeline(change_stream_pipeline(self.options.project_events))
            .with_options(options)
            .await?
            .with_type::<RawDocumentBuf>())
    }

    /// Opens the stream at the keeper's position and handles events until something interrupts
    /// it. Before an interruption from the stream takes effect, the events read before it are
    /// handled, so that a dropped collection still delivers the orders inserted before the drop.
    async fn watch(
        &self,
        keeper: &mut PositionKeeper,
        backoff: &mut Backoff,
        health: &HealthReporter,
        cancel: &CancellationToken,
    ) -> Interruption {
        let position = match keeper.opening_position().await {
            Ok(Some(position)) => position,
            Ok(None) => keeper.start_now(self.server_time().await),
            Err(error) => return error.into(),
        };
        let stream = match self.open(&position).await {
            Ok(stream) => stream,
            Err(interruption) => return interruption,
        };
        if let Err(error) = keeper.opened(stream.resume_token()).await {
            return error.into();
        }
        let (sender, mut items) = mpsc::channel(self.options.max_in_flight);
        let _reader = Reader::spawn(
            stream,
            sender,
            ReadAhead::new(self.options.read_ahead_bytes),
            self.namespace(),
        );
        let mut finalizer: InOrderFinalizer<Finalized> = InOrderFinalizer::default();
        let mut in_flight: FuturesUnordered<InFlight> = FuturesUnordered::new();
        let mut ended: Option<Interruption> = None;
        // Cancelled a moment after `cancel`: the orders in flight then are given that long to be
        // acknowledged, so that a shutdown does not send them all again.
        let abandon = CancellationToken::new();
        let mut draining_until: Option<tokio::time::Instant> = None;
        loop {
            if let Some(interruption) = ended.take_if(|_| in_flight.is_empty()) {
                let _ = keeper.save_within(SHUTDOWN_STEP).await;
                return interruption;
            }
            let save_due = keeper.save_due_at();
            tokio::select! {
                biased;
                () = cancel.cancelled(), if draining_until.is_none() => {
                    // Read no further; the orders in flight finish (or are abandoned at the
                    // drain's end), then the finalized position is saved.
                    ended = Some(Interruption::Cancelled);
                    draining_until = Some(tokio::time::Instant::now() + IN_FLIGHT_DRAIN);
                }
                () = sleep_until(draining_until), if !abandon.is_cancelled() => {
                    // Sent again by whoever watches next.
                    abandon.cancel();
                }
                Some((sequence, handled)) = in_flight.next() => {
                    match handled {
                        Ok(Handled::Sent | Handled::DeadLettered) => {
                            if let Some(finalized) = finalizer.finish(sequence) {
                                keeper.finalized(finalized);
                            }
                            self.progress.oldest_pending(finalizer.oldest().and_then(|oldest| oldest.inserted_at));
                            if let Err(error) = keeper.save_if_due().await {
                                return error.into();
                            }
                        }
                        Ok(Handled::Cancelled) => {
                            let _ = keeper.save_within(SHUTDOWN_STEP).await;
                            return Interruption::Cancelled;
                        }
                        Err(interruption) => {
                            ended.get_or_insert(interruption);
                        }
                    }
                }
                item = items.recv(), if ended.is_none()
                    && in_flight.len() < self.options.max_in_flight
                    && finalizer.len() < self.options.max_in_flight * MAX_PENDING_PER_IN_FLIGHT => {
                    self.mark_healthy(health, backoff);
                    match item {
                        Some(StreamItem::Insert { token, order, budget }) => {
                            observe::InsertRead { order_id: &order.order_id, inserted_at: order.inserted_at }.emit(&self.metrics);
                            self.progress.event_read(order.inserted_at);
                            let sequence = finalizer.track(Finalized {
                                token,
                                order_id: Some(order.order_id.clone()),
                                inserted_at: Some(order.inserted_at),
                            });
                            self.progress.oldest_pending(finalizer.oldest().and_then(|oldest| oldest.inserted_at));
                            let pipeline = self.pipeline.clone();
                            let (health, abandon) = (health.clone(), abandon.clone());
                            in_flight.push(Box::pin(async move {
                                let handled = pipeline.handle(&order, &health, &abandon).await;
                                drop(budget);
                                let handled = handled.map_err(|error| {
                                    Interruption::Retry(format!("order {}: {error}", order.order_id))
                                });
                                (sequence, handled)
                            }));
                        }
                        Some(StreamItem::Moved(token)) => {
                            let sequence = finalizer.track(Finalized { token, order_id: None, inserted_at: None });
                            if let Some(finalized) = finalizer.finish(sequence) {
                                keeper.finalized(finalized);
                            }
                        }
                        Some(StreamItem::Ended(interruption)) => ended = Some(interruption),
                        None => ended = Some(Interruption::Retry("the change stream reader stopped".into())),
                    }
                }
                () = sleep_until(save_due) => {
                    if let Err(error) = keeper.save_if_due().await {
                        return error.into();
                    }
                }
            }
        }
    }

    /// The stream delivers again: healthy, unless an order is still failing to be delivered
    /// (that keeps its `retrying` state until no order is).
    fn mark_healthy(&self, health: &HealthReporter, backoff: &mut Backoff) {
        if backoff.failures() > 0 {
            observe::StreamRecovered {
                namespace: &self.namespace(),
            }
            .emit();
            backoff.reset();
        }
        if !health.current().is_healthy() && self.metrics.retrying_deliveries() == 0 {
            health.healthy();
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Inserts and the events that end the stream; with `project`, each event is projected to what
/// the listener reads, so that a huge document never makes an event over MongoDB's 16 MB limit.
fn change_stream_pipeline(project: bool) -> Vec<Document> {
    let mut pipeline = vec![doc! {
        "$match": { "operationType": { "$in": ["insert", "drop", "rename", "dropDatabase", "invalidate"] } }
    }];
    if project {
        // Dotted paths rather than a nested `fullDocument: {...}`, which SecantusDB reads
        // differently from MongoDB.
        let mut projection = doc! {
            "operationType": 1,
            "documentKey": 1,
            "wallTime": 1,
            "clusterTime": 1,
            "fullDocument._id": 1,
        };
        for field in PROJECTED_FIELDS {
            projection.insert(format!("fullDocument.{field}"), 1);
        }
        pipeline.push(doc! { "$project": projection });
    }
    pipeline
}

impl OrderListener {
    /// Waits until this instance takes the lease; `None` when cancelled first. While another
    /// instance holds it, this one is healthy and standing by.
    async fn stand_by(&self, health: &HealthReporter, cancel: &CancellationToken) -> Option<Lease> {
        let mut backoff = stream_backoff();
        let mut standing_by = false;
        loop {
            let wait = match self.lease.try_take().await {
                Ok(Attempt::Taken(lease)) => return Some(lease),
                Ok(Attempt::HeldBy { holder, expires_at }) => {
                    if !standing_by {
                        observe::StandingBy {
                            consumer: self.checkpoints.consumer(),
                            holder: &holder,
                            expires_at,
                        }
                        .emit(&self.progress, health);
                        standing_by = true;
                    }
                    backoff.reset();
                    self.lease.timing().standby_poll()
                }
                Err(error) => {
                    // Soon enough to take over within about the lease's time to live once
                    // MongoDB answers again.
                    let retry_in = backoff.next_delay().min(self.lease.timing().renew_every());
                    standing_by = false;
                    observe::LeaseUnavailable {
                        consumer: self.checkpoints.consumer(),
                        attempt: backoff.failures(),
                        retry_in,
                        error: &error,
                    }
                    .emit(health);
                    retry_in
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return None,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Renews `lease` until `active` is cancelled; cancels `active` when the lease is lost, or
    /// when it may have expired before a renewal got through (a renewal never waits past that).
    async fn keep_lease(
        lease_store: LeaseStore,
        mut lease: Lease,
        active: CancellationToken,
        health: HealthReporter,
    ) {
        let timing = lease_store.timing();
        loop {
            tokio::select! {
                () = active.cancelled() => return,
                () = tokio::time::sleep(timing.renew_every()) => {}
            }
            let valid_until = lease.valid_until;
            let renewal = tokio::time::timeout_at(valid_until, lease_store.renew(&mut lease));
            let lost = match renewal.await {
                Ok(Ok(true)) => continue,
                Ok(Ok(false)) => "another instance took the lease".to_owned(),
                Ok(Err(error)) => {
                    if !timing.must_step_down(valid_until, tokio::time::Instant::now()) {
                        observe::LeaseRenewalFailed {
                            holder: lease_store.holder(),
                            error: &error,
                        }
                        .emit(&health);
                        continue;
                    }
                    format!("the lease could not be renewed before it expires: {error}")
                }
                Err(_) => "no renewal got through before the lease expires".to_owned(),
            };
            observe::LeaseLost {
                holder: lease_store.holder(),
                reason: &lost,
            }
            .emit();
            active.cancel();
            return;
        }
    }

    /// Re-sends the orders of `range`, then stores the position the stream had when it began:
    /// only then, so that a backfill that does not finish leaves the old position (and its
    /// error) in place.
    async fn backfill(
        &self,
        keeper: &mut PositionKeeper,
        range: &BackfillRange,
        health: &HealthReporter,
        active: &CancellationToken,
    ) -> Result<(), Interruption> {
        let position = keeper.start_now(self.server_time().await);
        let stream = self.open(&position).await?;
        let token = stream.resume_token();
        drop(stream);
        if token.is_none() && position == Position::Now {
            // Without a time or a token, "now" would be taken again after the backfill.
            return Err(Interruption::Retry(
                "backfill: the server gave neither its time nor a resume token to continue from"
                    .into(),
            ));
        }
        keeper.hold(token);
        observe::BackfillStarted { range }.emit();
        let report = backfill(
            &self.orders,
            range,
            &self.pipeline,
            self.options.max_in_flight,
            health,
            active,
        )
        .await?;
        keeper.save().await?;
        observe::BackfillDone { range, report }.emit();
        Ok(())
    }

    /// Watches while `active` is not cancelled, reopening the stream after failures; first
    /// finishes `pending_backfill`, if any. `Ok` when `active` was cancelled (shutdown or a lost
    /// lease) or the lease was found lost.
    async fn while_active(
        &self,
        keeper: &mut PositionKeeper,
        pending_backfill: &mut Option<BackfillRange>,
        health: &HealthReporter,
        active: &CancellationToken,
    ) -> Result<(), ListenerError> {
        let mut backoff = stream_backoff();
        loop {
            let interruption = match pending_backfill.as_ref() {
                Some(range) => match self.backfill(keeper, range, health, active).await {
                    Ok(()) => {
                        *pending_backfill = None;
                        continue;
                    }
                    Err(interruption) => interruption,
                },
                None => self.watch(keeper, &mut backoff, health, active).await,
            };
            match interruption {
                Interruption::Cancelled => return Ok(()),
                Interruption::LeaseLost => {
                    active.cancel();
                    return Ok(());
                }
                Interruption::Fatal(mut error) => {
                    if let ListenerError::HistoryLost { backfill_from, .. } = &mut error {
                        *backfill_from = keeper.backfill_from();
                    }
                    observe::ListenerStopped {
                        namespace: &self.namespace(),
                        error: &error,
                    }
                    .emit(&self.metrics);
                    return Err(error);
                }
                Interruption::Retry(reason) => {
                    let retry_in = backoff.next_delay();
                    observe::StreamFailed {
                        namespace: &self.namespace(),
                        attempt: backoff.failures(),
                        retry_in,
                        reason,
                    }
                    .emit(&self.metrics, health);
                    tokio::select! {
                        () = active.cancelled() => return Ok(()),
                        () = tokio::time::sleep(retry_in) => {}
                    }
                }
            }
        }
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
        let mut keeper = PositionKeeper::new(
            self.checkpoints.clone(),
            Arc::clone(&self.metrics),
            Arc::clone(&self.progress),
            self.options.checkpoints,
            self.start_at,
        );
        let mut pending_backfill = self.backfill.clone();
        loop {
            let Some(lease) = self.stand_by(&health, &cancel).await else {
                return Ok(());
            };
            observe::BecameActive {
                consumer: self.checkpoints.consumer(),
                holder: self.lease.holder(),
                token: lease.token,
            }
            .emit(&self.progress);
            keeper.activate(lease.token);
            let active = cancel.child_token();
            let renewal = AbortOnDrop(tokio::spawn(Self::keep_lease(
                self.lease.clone(),
                lease,
                active.clone(),
                health.clone(),
            )));
            let outcome = self
                .while_active(&mut keeper, &mut pending_backfill, &health, &active)
                .await;
            active.cancel();
            renewal.stop().await;
            if cancel.is_cancelled() || outcome.is_err() {
                // Hand over at once instead of after the lease's time to live.
                match tokio::time::timeout(SHUTDOWN_STEP, self.lease.release(&lease)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::warn!(%error, holder = self.lease.holder(), "could not release the lease; it expires by itself")
                    }
                    Err(_) => tracing::warn!(
                        holder = self.lease.holder(),
                        "releasing the lease took too long; it expires by itself"
                    ),
                }
            }
            if cancel.is_cancelled() {
                return Ok(());
            }
            if outcome.is_err() {
                self.progress.set_role(Role::Stopped);
            }
            outcome?;
            self.progress.set_role(Role::Standby);
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
    fn the_stream_projects_every_field_extraction_reads() {
        let pipeline = change_stream_pipeline(true);
        let projection = pipeline[1].get_document("$project").unwrap();
        for field in [
            "documentKey",
            "operationType",
            "wallTime",
            "clusterTime",
            "fullDocument._id",
            "fullDocument.OtterOrderId",
            "fullDocument.BrandName",
            "fullDocument.StationOrders",
        ] {
            assert_eq!(projection.get_i32(field), Ok(1), "{field}");
        }
        assert_eq!(change_stream_pipeline(false).len(), 1, "only the $match");
    }
}
