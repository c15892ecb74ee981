//! Start-up and shutdown: the kitchen's parts, built once, in order.

use crate::config::Config;
use crate::console::{ConsoleSettings, run_console};
use crate::grpc::KitchenOrderHandler;
use crate::health::{KitchenHealth, probe_database};
use crate::http::{ApiState, HttpSettings, ScreenSettings};
use crate::metrics::Metrics;
use crate::sse::{EventsState, SseSettings};
use crate::store::{OrderStore, PageLimits, StoreError};
use crate::tail::hub::{EventHub, WindowLimits};
use crate::tail::{RecentCommits, TailerSettings, run_listener, run_notifier, run_tailer};
use crate::writer::{OrderWriter, WriterSettings};
use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// PostgreSQL could not be reached.
    #[error(transparent)]
    Database(#[from] shared_databases::PostgresError),
    /// The store failed at start-up (migrations, the first reads).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listening address could not be bound.
    #[error("cannot listen for {what} on {address}: {source}")]
    Bind {
        /// Which server.
        what: &'static str,
        /// The address.
        address: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error(transparent)]
    Grpc(#[from] grpc_servers::ServerError),
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
    /// The TLS or token settings cannot be used.
    #[error(transparent)]
    Security(#[from] crate::config::SecurityError),
    /// The pool is too small for the connections the service keeps.
    #[error(transparent)]
    PoolTooSmall(#[from] crate::config::PoolTooSmall),
}

/// Orders per page when screens or the console read the log from PostgreSQL, and the bytes of
/// order text such a page may hold.
const PAGE: PageLimits = PageLimits {
    events: 500,
    bytes: 1 << 20,
};
/// Most bytes of just-committed orders kept for the tailer; beyond it the tailer reads them back
/// from PostgreSQL.
const RECENT_COMMITS_BYTES: usize = 32 << 20;
/// Most bytes of console text waiting for stdout.
const CONSOLE_BUFFER_BYTES: usize = 1 << 20;
/// Committed orders held back from screens longer than this (by a long transaction elsewhere in
/// the cluster) turn the tailer's health to failing.
const HELD_BACK_ALARM: Duration = Duration::from_secs(10);
/// How long health reports "shutting down" before the servers stop accepting.
const HEALTH_NOTICE: Duration = Duration::from_millis(250);
/// How often the database is probed for the health reports.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Runs the service until `shutdown` completes, then stops within `config.shutdown_timeout_secs`.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    // Settings that cannot work end the start before anything else is done.
    config.check_pool_size()?;
    let grpc_options = grpc_servers::ServerOptions {
        security: config.grpc_security()?,
        max_message_bytes: usize::try_from(config.grpc_max_message_bytes).unwrap_or(usize::MAX),
    };
    let http_settings = HttpSettings {
        allowed_origins: config.cors_allowed_origins.0.clone(),
        screen_token: config.screen_token()?,
        max_body_bytes: usize::try_from(config.http_max_body_bytes).unwrap_or(usize::MAX),
    };
    let database_timeout = Duration::from_secs(config.database_timeout_secs);
    let pool = shared_databases::connect_postgres(
        &config.database_url,
        shared_databases::PostgresSettings {
            max_connections: config.database_max_connections,
            connect_timeout: Duration::from_secs(config.database_connect_timeout_secs),
            statement_timeout: Some(database_timeout),
        },
    )
    .await?;
    // The client-side limit leaves the server's own a moment to answer first.
    let store = OrderStore::new(pool.clone(), database_timeout + Duration::from_secs(1));
    store.migrate().await?;
    // Refuses a log whose ids run ahead of the database's transaction ids (a restore).
    store.probe().await?;
    let instance = config.instance();
    let start_position = store.final_position().await?;
    let hub = EventHub::new(
        WindowLimits {
            events: config.sse_buffer as usize,
            bytes: usize::try_from(config.sse_buffer_bytes).unwrap_or(usize::MAX),
        },
        start_position,
    );
    let health = KitchenHealth::new();
    let metrics = Arc::new(Metrics::default());
    let commits = Arc::new(watch::Sender::new(0_u64));
    let recent = RecentCommits::new(RECENT_COMMITS_BYTES);
    let (writer, writer_tasks) = OrderWriter::spawn(
        store.clone(),
        WriterSettings {
            max_batch: config.store_max_batch as usize,
            connections: config.store_writers as usize,
            instance: instance.clone(),
        },
        Arc::clone(&commits),
        recent.clone(),
        health.writer.clone(),
        Arc::clone(&metrics),
    );
    health.writer.healthy();

    // Background work stops after the servers and the writer, so that what they committed last
    // is still read and printed.
    let background = CancellationToken::new();
    let mut background_tasks = JoinSet::new();
    let (wakeups, wakeups_watch) = watch::channel(0_u64);
    let listener_pid = Arc::new(std::sync::atomic::AtomicI32::new(0));
    background_tasks.spawn(run_listener(
        store.clone(),
        instance.clone(),
        wakeups,
        Arc::clone(&listener_pid),
        background.clone(),
    ));
    background_tasks.spawn(run_notifier(
        store.clone(),
        instance.clone(),
        commits.subscribe(),
        listener_pid,
        background.clone(),
    ));
    let tailer = tokio::spawn(run_tailer(
        store.clone(),
        hub.clone(),
        recent,
        commits.subscribe(),
        wakeups_watch,
        health.tailer.clone(),
        TailerSettings {
            poll: Duration::from_millis(config.tail_poll_millis),
            page: PAGE,
            held_back_alarm: HELD_BACK_ALARM,
            min_interval: Duration::from_millis(config.tail_min_interval_millis),
        },
        background.clone(),
    ));
    background_tasks.spawn(probe_database(
        store.clone(),
        health.clone(),
        instance.clone(),
        PROBE_INTERVAL,
        background.clone(),
    ));
    let console_drain = CancellationToken::new();
    if config.print_orders {
        let settings = ConsoleSettings {
            instance: instance.clone(),
            buffer_bytes: CONSOLE_BUFFER_BYTES,
            page: PAGE,
            metrics: Arc::clone(&metrics),
        };
        let (store, hub, drain) = (store.clone(), hub.clone(), console_drain.clone());
        background_tasks.spawn(async move {
            let stdout = Box::new(std::io::stdout());
            if let Err(error) =
                run_console(store, hub, settings, stdout, start_position, drain).await
            {
                tracing::error!(%error, "the console cannot start: orders are not printed");
            }
        });
    }
    let (serving, serving_watch) = watch::channel(false);
    background_tasks.spawn(health.clone().publish_serving(serving, background.clone()));

    let grpc_listener = bind("gRPC", config.grpc_addr).await?;
    let http_listener = bind("HTTP", config.http_addr).await?;

    let stopping = CancellationToken::new();
    let (stop_requested, deadline) = watch::channel(None::<Instant>);
    let shutdown_timeout = Duration::from_secs(config.shutdown_timeout_secs);
    // Before the shutdown watcher starts, so that a shutdown request always has the last word.
    health.service.healthy();
    tokio::spawn({
        let stopping = stopping.clone();
        let service_health = health.service.clone();
        async move {
            shutdown.await;
            tracing::info!(timeout_secs = shutdown_timeout.as_secs(), "shutting down");
            stop_requested.send_replace(Some(Instant::now() + shutdown_timeout));
            service_health.stopped("shutting down".into());
            // Health watchers (a load balancer, the order service's probes) hear NOT_SERVING
            // before the servers stop accepting.
            tokio::time::sleep(HEALTH_NOTICE).await;
            stopping.cancel();
        }
    });

    let events = EventsState {
        store: store.clone(),
        hub: hub.clone(),
        settings: SseSettings {
            heartbeat: Duration::from_secs(config.sse_heartbeat_secs),
            retry_millis: 2_000,
            replay_page: PAGE,
        },
        shutdown: stopping.clone(),
        replays: Arc::new(tokio::sync::Semaphore::new(crate::sse::REPLAYS_AT_ONCE)),
        metrics: Arc::clone(&metrics),
    };
    let api = ApiState {
        store: store.clone(),
        commits: Arc::clone(&commits),
        settings: ScreenSettings {
            warn_after: Duration::from_secs(config.screen_warn_after_secs),
            late_after: Duration::from_secs(config.screen_late_after_secs),
            ready_kept: Duration::from_secs(config.screen_ready_kept_secs),
        },
        metrics: Arc::clone(&metrics),
    };
    let handler = Arc::new(KitchenOrderHandler::new(writer, metrics));
    tracing::info!(grpc = %config.grpc_addr, http = %config.http_addr, %instance,
        "kitchen batch tool service ready");
    let grpc = grpc_servers::start_order_server(
        grpc_listener,
        handler,
        serving_watch,
        &grpc_options,
        stopping.clone().cancelled_owned(),
    );
    let http = async {
        // Without TCP_NODELAY, Nagle's algorithm holds an event written while the previous one
        // is unacknowledged until the screen's (delayed, up to 40 ms) ACK arrives.
        let http_listener = http_listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY on an HTTP connection");
            }
        });
        let app = crate::http::app(events, api, health.clone(), &http_settings);
        // Served as a router, axum rebuilds its route table for every connection (about 10 kB
        // each, held as long as a screen stays connected); made into a service once, every
        // connection shares it.
        axum::serve(http_listener, app.into_make_service())
            .with_graceful_shutdown(stopping.clone().cancelled_owned())
            .await
            .map_err(ServiceError::Http)
    };
    let servers =
        async { tokio::try_join!(async { grpc.await.map_err(ServiceError::from) }, http) };

    // Every step of the shutdown shares one deadline, set when the shutdown is requested.
    let past_deadline = || {
        let mut deadline = deadline.clone();
        async move {
            let Ok(deadline) = deadline
                .wait_for(Option::is_some)
                .await
                .map(|d| d.expect("set"))
            else {
                return std::future::pending().await;
            };
            tokio::time::sleep_until(deadline).await;
        }
    };
    let result = tokio::select! {
        result = servers => result.map(drop),
        () = past_deadline() => {
            tracing::warn!("connections still open at the shutdown deadline are dropped");
            Ok(())
        }
    };
    stopping.cancel();
    // The servers are gone, and with them every writer handle: the writer finishes its queue.
    let mut writer_tasks = writer_tasks;
    let writers_done = async { while writer_tasks.join_next().await.is_some() {} };
    let drained = async {
        writers_done.await;
        background.cancel();
        let _ = tailer.await;
        console_drain.cancel();
        while background_tasks.join_next().await.is_some() {}
        pool.close().await;
    };
    tokio::select! {
        () = drained => tracing::info!("kitchen batch tool service stopped"),
        () = past_deadline() => tracing::warn!(
            timeout_secs = shutdown_timeout.as_secs(),
            "shutdown deadline reached; stopping with work unfinished (stored orders are safe \
             and are printed and streamed from the log)"
        ),
    }
    result
}

async fn bind(what: &'static str, address: SocketAddr) -> Result<TcpListener, ServiceError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServiceError::Bind {
            what,
            address,
            source,
        })
}
