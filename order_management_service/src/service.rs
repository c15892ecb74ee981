//! Start-up and shutdown, in the design's order: MongoDB, the order gRPC client, the change-stream
//! listener; then the HTTP server until the shutdown signal.

use crate::backfill::BackfillRange;
use crate::checkpoint::CheckpointStore;
use crate::config::{Command, Config};
use crate::dead_letter::DeadLetterStore;
use crate::delivery::Deliverer;
use crate::http::{AppState, app};
use crate::lease::{LeaseStore, LeaseTiming};
use crate::listener::{CheckpointPolicy, ListenerOptions, OrderListener};
use crate::metrics::Metrics;
use crate::pipeline::OrderPipeline;
use crate::status::ListenerProgress;
use grpc_clients::{ClientError, initialize_secure_order_client};
use mongodb::bson::Document;
use shared_databases::{MongoError, initialize_mongo};
use shared_patterns::{CancellationToken, spawn_background_service};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The part of the shutdown bound kept for closing MongoDB's connections after the listener.
const CLOSE_RESERVE: Duration = Duration::from_millis(500);

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// MongoDB is unreachable or the URI is invalid.
    #[error(transparent)]
    Mongo(#[from] MongoError),
    /// The gRPC target is invalid.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The TLS or token settings cannot be used.
    #[error(transparent)]
    Security(#[from] crate::config::SecurityError),
    /// The HTTP address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

fn listener_options(config: &Config) -> ListenerOptions {
    ListenerOptions {
        max_in_flight: usize::try_from(config.max_in_flight).unwrap_or(usize::MAX),
        read_ahead_bytes: usize::try_from(config.read_ahead_bytes).unwrap_or(usize::MAX),
        checkpoints: CheckpointPolicy {
            every_events: config.checkpoint_every_orders,
            every: config.checkpoint_interval(),
            quiet_every: config.quiet_checkpoint_interval(),
        },
        project_events: config.stream_projection,
        ..ListenerOptions::default()
    }
}

/// Runs the service until `shutdown` completes.
///
/// A listener that stops for good (history lost, collection dropped) does not end the process:
/// `/health` keeps answering 503 with the reason until an operator acts.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    // Settings that cannot work end the start before MongoDB is reached.
    let security = config.grpc_security()?;
    let order_client =
        initialize_secure_order_client(&config.grpc_target, config.grpc_deadline(), &security)?;
    let client = initialize_mongo(&config.mongo_uri, config.mongo_connect_timeout()).await?;
    let database = client.database(&config.mongo_db);

    let metrics = Arc::new(Metrics::default());
    let progress = Arc::new(ListenerProgress::default());
    let pipeline = OrderPipeline::new(
        Deliverer::new(order_client),
        DeadLetterStore::new(
            database.collection::<Document>(&config.dead_letter_collection),
            config.mongo_write_timeout(),
        ),
        Arc::clone(&metrics),
    );
    let listener = OrderListener {
        orders: database.collection::<Document>(&config.mongo_orders_collection),
        checkpoints: CheckpointStore::new(
            database.collection::<Document>(&config.checkpoint_collection),
            config.consumer_name.clone(),
            config.mongo_write_timeout(),
        ),
        lease: LeaseStore::new(
            database.collection::<Document>(&config.lease_collection),
            config.consumer_name.clone(),
            config.instance(),
            LeaseTiming {
                ttl: config.lease_ttl(),
            },
            config.mongo_write_timeout(),
        ),
        pipeline,
        metrics: Arc::clone(&metrics),
        progress: Arc::clone(&progress),
        start_at: config.start_at,
        backfill: config.command.as_ref().map(|command| match command {
            Command::Backfill(args) => BackfillRange {
                since: args.since,
                timestamp_field: args.timestamp_field.clone(),
            },
        }),
        options: listener_options(&config),
    };
    // Bind first: a port that is taken ends the process before it takes the lease.
    let http = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| ServiceError::Bind {
            address: config.http_addr,
            source,
        })?;
    tracing::info!(address = %config.http_addr, "HTTP server listening");
    let cancel = CancellationToken::new();
    let handle = spawn_background_service(listener, cancel.child_token());
    let state = AppState {
        health: handle.health(),
        progress,
        metrics,
    };
    let max_body_bytes = usize::try_from(config.http_max_body_bytes).unwrap_or(usize::MAX);
    let served = axum::serve(http, app(state, max_body_bytes).into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServiceError::Serve);

    // Every step of the shutdown shares one deadline.
    let deadline = tokio::time::Instant::now() + config.shutdown_timeout();
    tracing::info!(timeout_secs = config.shutdown_timeout_secs, "shutting down");
    handle.cancel();
    // The listener's own failure was already logged and reported; shutting down is not an error.
    // It finishes the in-flight sends, saves its position and releases the lease in time, or is
    // dropped: what it did not save is delivered again (the kitchen ignores repeats).
    let listener_deadline = deadline.checked_sub(CLOSE_RESERVE).unwrap_or(deadline);
    if tokio::time::timeout_at(listener_deadline, handle.join())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_secs = config.shutdown_timeout_secs,
            "the listener did not stop in time; exiting without its last save"
        );
    }
    if tokio::time::timeout_at(deadline, client.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("MongoDB connections did not close in time; exiting anyway");
    }
    tracing::info!("order management service stopped");
    served
}
