//! The kitchen batch tool service: receives orders over gRPC, stores them in PostgreSQL, prints
//! them grouped by station and streams them to kitchen screens as Server-Sent Events.
//!
//! ```text
//! gRPC SendOrder -> OrderServer -> KitchenOrderHandler (validate -> OrderWriter)
//!   OrderWriter: group commit to PostgreSQL, then in commit order -> console, EventHub
//!   EventHub -> orders_router (SSE, replay from PostgreSQL after Last-Event-ID)
//! ```

pub mod config;
pub mod console;
pub mod events;
pub mod handler;
pub mod http;
pub mod hub;
pub mod order;
pub mod routers;
pub mod store;
pub mod writer;

use crate::config::Config;
use crate::console::ConsolePrinter;
use crate::events::OrderEvent;
use crate::handler::KitchenOrderHandler;
use crate::hub::EventHub;
use crate::routers::orders_router::{EventsState, SseSettings};
use crate::store::{OrderStore, StoreError};
use crate::writer::{CommitListener, OrderWriter};
use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// PostgreSQL could not be reached.
    #[error(transparent)]
    Database(#[from] shared_databases::PostgresError),
    /// The store failed at start-up (migrations).
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
}

/// Prints, then publishes, each committed batch: the handler's "print -> publish" steps, run in
/// commit order by the writer.
struct Announcer {
    printer: Option<ConsolePrinter>,
    hub: EventHub,
}

impl CommitListener for Announcer {
    fn on_commit(&self, events: &[Arc<OrderEvent>]) {
        if let Some(printer) = &self.printer {
            printer.on_commit(events);
        }
        self.hub.on_commit(events);
    }
}

/// Runs the service until `shutdown` completes: connects to PostgreSQL and migrates, serves
/// gRPC on `config.grpc_addr`, serves HTTP on `config.http_addr`.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let pool = shared_databases::connect_postgres(
        &config.database_url,
        config.database_max_connections,
        Duration::from_secs(config.database_connect_timeout_secs),
    )
    .await?;
    let store = OrderStore::new(pool.clone());
    store.migrate().await?;
    let latest = store.latest_event_id().await?;

    let hub = EventHub::new(config.sse_buffer as usize, latest);
    let announcer = Announcer {
        printer: config.print_orders.then(|| ConsolePrinter::spawn(1024)),
        hub: hub.clone(),
    };
    let (writer, writer_task) = OrderWriter::spawn(
        store.clone(),
        Arc::new(announcer),
        config.store_max_batch as usize,
        latest,
    );

    let grpc_listener = bind("gRPC", config.grpc_addr).await?;
    let http_listener = bind("HTTP", config.http_addr).await?;

    let cancel = CancellationToken::new();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            shutdown.await;
            cancel.cancel();
        }
    });

    let events = EventsState {
        store,
        hub,
        settings: SseSettings {
            heartbeat: Duration::from_secs(config.sse_heartbeat_secs),
            ..SseSettings::default()
        },
        shutdown: cancel.clone(),
    };
    let handler = Arc::new(KitchenOrderHandler::new(writer));
    tracing::info!(grpc = %config.grpc_addr, http = %config.http_addr, "kitchen batch tool service ready");
    let grpc =
        grpc_servers::start_order_server(grpc_listener, handler, cancel.clone().cancelled_owned());
    let http = async {
        // Without TCP_NODELAY, Nagle's algorithm holds an event written while the previous one
        // is unacknowledged until the screen's (delayed, up to 40 ms) ACK arrives.
        let http_listener = http_listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY on an HTTP connection");
            }
        });
        axum::serve(http_listener, http::app(events))
            .with_graceful_shutdown(cancel.clone().cancelled_owned())
            .await
            .map_err(ServiceError::Http)
    };
    let result = tokio::try_join!(async { grpc.await.map_err(ServiceError::from) }, http);
    cancel.cancel();
    // The servers are gone, and with them every writer handle: the writer drains and stops.
    let _ = writer_task.await;
    pool.close().await;
    tracing::info!("kitchen batch tool service stopped");
    result.map(drop)
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
