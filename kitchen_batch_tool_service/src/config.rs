//! Configuration: flags, else environment variables (a `.env` file is loaded first), else
//! defaults.

use clap::{ArgAction, Parser};
use order_service_proto::limits::{DEFAULT_MAX_MESSAGE_BYTES, MAX_VALID_ORDER_BYTES};
use shared_utils::secret::{Secret, SecretError, secret_from_value_or_file};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The kitchen batch tool service's configuration.
#[derive(Debug, Clone, Parser)]
#[command(name = "kitchen_batch_tool_service", version, about)]
pub struct Config {
    /// PostgreSQL URL of the order store.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@localhost:5432/kitchen"
    )]
    pub database_url: String,

    /// Most PostgreSQL connections in the pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub database_max_connections: u32,

    /// Seconds to wait for PostgreSQL at start-up and for a pooled connection.
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub database_connect_timeout_secs: u64,

    /// Seconds any one PostgreSQL call may take (`statement_timeout`, and a client-side limit).
    #[arg(long, env = "DATABASE_TIMEOUT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub database_timeout_secs: u64,

    /// This instance's name in the shared database: the console prints the orders received
    /// under this name. Default: the host name and the gRPC port.
    #[arg(long, env = "INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Address of the order gRPC server.
    #[arg(long, env = "GRPC_ADDR", default_value = "0.0.0.0:50051")]
    pub grpc_addr: SocketAddr,

    /// Address of the HTTP server (`/ping`, `/orders/events`).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8001")]
    pub http_addr: SocketAddr,

    /// Most orders stored in one transaction (group commit).
    #[arg(long, env = "STORE_MAX_BATCH", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub store_max_batch: u32,

    /// Most transactions storing orders at once: with more than one, the next batch is written
    /// while the previous one waits for its flush, which helps where flushes are slow (see
    /// BENCHMARKS.md).
    #[arg(long, env = "STORE_WRITERS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub store_writers: u32,

    /// Longest wait, in milliseconds, before the event log is read again when no commit was
    /// heard of (the safety net behind LISTEN/NOTIFY).
    #[arg(long, env = "TAIL_POLL_MILLIS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub tail_poll_millis: u64,

    /// Shortest time, in milliseconds, between two reads of the event log: under a stream of
    /// commits one read covers every commit of the interval (screens see an order at most this
    /// much later) instead of one read per commit.
    #[arg(long, env = "TAIL_MIN_INTERVAL_MILLIS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=100))]
    pub tail_min_interval_millis: u64,

    /// Longest silence on an event stream before a heartbeat, in seconds.
    #[arg(long, env = "SSE_HEARTBEAT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=15))]
    pub sse_heartbeat_secs: u64,

    /// Events kept in memory for screens that reconnect or fall behind; one further behind
    /// catches up from PostgreSQL.
    #[arg(long, env = "SSE_BUFFER", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(16..))]
    pub sse_buffer: u32,

    /// Most bytes the events kept in memory may take (a limit alongside `SSE_BUFFER`).
    #[arg(long, env = "SSE_BUFFER_BYTES", default_value_t = 16 << 20,
          value_parser = clap::value_parser!(u64).range(65_536..))]
    pub sse_buffer_bytes: u64,

    /// Seconds a graceful shutdown may take before the process exits anyway.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub shutdown_timeout_secs: u64,

    /// Tokio worker threads. Default: the CPUs this process may use (affinity and cgroup quota).
    #[arg(long, env = "WORKER_THREADS")]
    pub worker_threads: Option<std::num::NonZeroUsize>,

    /// Seconds after which a ticket is shown as waiting (yellow) on the screens.
    #[arg(long, env = "SCREEN_WARN_AFTER_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub screen_warn_after_secs: u64,

    /// Seconds after which a ticket is shown as late (red) on the screens.
    #[arg(long, env = "SCREEN_LATE_AFTER_SECS", default_value_t = 480,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub screen_late_after_secs: u64,

    /// Seconds a ticket whose items are all done stays on the boards (for expo) when expo does
    /// not hand it over.
    #[arg(long, env = "SCREEN_READY_KEPT_SECS", default_value_t = 3_600,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub screen_ready_kept_secs: u64,

    /// Origins whose pages may use the event stream and the screen API (CORS), comma-separated,
    /// e.g. `http://kds.example:3000`; `*` allows any. Empty: only the kitchen's own pages.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", value_parser = parse_origins)]
    pub cors_allowed_origins: Origins,

    /// The gRPC server's certificate chain (PEM file). With `GRPC_TLS_KEY`, the gRPC server
    /// speaks TLS only.
    #[arg(long, env = "GRPC_TLS_CERT")]
    pub grpc_tls_cert: Option<PathBuf>,

    /// The gRPC server's private key (PEM file), with `GRPC_TLS_CERT`.
    #[arg(long, env = "GRPC_TLS_KEY")]
    pub grpc_tls_key: Option<PathBuf>,

    /// A CA certificate (PEM file): when given, every gRPC client must present a certificate
    /// signed by it (mutual TLS). Needs `GRPC_TLS_CERT` and `GRPC_TLS_KEY`.
    #[arg(long, env = "GRPC_TLS_CLIENT_CA")]
    pub grpc_tls_client_ca: Option<PathBuf>,

    /// The bearer token every `SendOrder` call must carry; others are answered
    /// `UNAUTHENTICATED`. Unset: calls are not checked.
    #[arg(long, env = "GRPC_AUTH_TOKEN", hide_env_values = true)]
    pub grpc_auth_token: Option<Secret>,

    /// A file holding `GRPC_AUTH_TOKEN` instead (surrounding white space is dropped).
    #[arg(long, env = "GRPC_AUTH_TOKEN_FILE")]
    pub grpc_auth_token_file: Option<PathBuf>,

    /// Largest gRPC request accepted, in bytes; a larger one is answered `OUT_OF_RANGE`. At
    /// least the largest valid order.
    #[arg(long, env = "GRPC_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(MAX_VALID_ORDER_BYTES as u64..=(64 << 20)))]
    pub grpc_max_message_bytes: u64,

    /// The token the screens, their event stream and the screen API require (as
    /// `Authorization: Bearer`, or `?token=` on the page URL, which sets a cookie). `/ping`,
    /// `/health` and `/metrics` stay open. Unset: no token.
    #[arg(long, env = "SCREEN_TOKEN", hide_env_values = true)]
    pub screen_token: Option<Secret>,

    /// A file holding `SCREEN_TOKEN` instead (surrounding white space is dropped).
    #[arg(long, env = "SCREEN_TOKEN_FILE")]
    pub screen_token_file: Option<PathBuf>,

    /// Largest HTTP request body accepted, in bytes; a larger one is answered 413.
    #[arg(long, env = "HTTP_MAX_BODY_BYTES", default_value_t = 64 << 10,
          value_parser = clap::value_parser!(u64).range(1_024..=(64 << 20)))]
    pub http_max_body_bytes: u64,

    /// Print each new order to stdout.
    #[arg(long, env = "PRINT_ORDERS", default_value_t = true, action = ArgAction::Set)]
    pub print_orders: bool,
}

/// Why the security settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A token cannot be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The TLS settings are incomplete or a file cannot be read.
    #[error(transparent)]
    Tls(#[from] grpc_servers::ServerError),
}

/// The pool is too small for the connections the service keeps for as long as it runs.
#[derive(Debug, thiserror::Error)]
#[error(
    "DATABASE_MAX_CONNECTIONS is {max}, but the order writers (STORE_WRITERS={writers}), the \
     tailer and the LISTEN connection keep {kept} of them for as long as the kitchen runs, and \
     replays, the screen API and the health probe need more: allow at least {needed}"
)]
pub struct PoolTooSmall {
    max: u32,
    writers: u32,
    kept: u32,
    needed: u32,
}

/// Allowed CORS origins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(pub Vec<axum::http::HeaderValue>);

fn parse_origins(text: &str) -> Result<Origins, String> {
    text.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let origin = origin.trim_end_matches('/');
            let host = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            let valid = origin == "*"
                || host.is_some_and(|host| {
                    !host.is_empty() && !host.contains(|c: char| c == '/' || c.is_whitespace())
                });
            if !valid {
                return Err(format!(
                    "an origin is a scheme, a host and an optional port, such as \
                     https://kds.example:3000, or *; got {origin:?}"
                ));
            }
            axum::http::HeaderValue::from_str(origin)
                .map_err(|_| format!("{origin:?} is not a valid origin"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Origins)
}

impl Config {
    /// The gRPC server's TLS and token settings, read from their files.
    pub fn grpc_security(&self) -> Result<grpc_servers::ServerSecurity, SecurityError> {
        Ok(grpc_servers::ServerSecurity {
            tls: grpc_servers::ServerTls::from_files(
                self.grpc_tls_cert.as_deref(),
                self.grpc_tls_key.as_deref(),
                self.grpc_tls_client_ca.as_deref(),
            )?,
            auth_token: secret_from_value_or_file(
                "GRPC_AUTH_TOKEN",
                self.grpc_auth_token.as_ref(),
                self.grpc_auth_token_file.as_deref(),
            )?,
        })
    }

    /// The screen token, read from its file if need be.
    pub fn screen_token(&self) -> Result<Option<Secret>, SecurityError> {
        Ok(secret_from_value_or_file(
            "SCREEN_TOKEN",
            self.screen_token.as_ref(),
            self.screen_token_file.as_deref(),
        )?)
    }

    /// Checks that the pool has room, beside the connections the writers, the tailer and the
    /// `LISTEN` connection keep, for the calls that take one only for a moment.
    pub fn check_pool_size(&self) -> Result<(), PoolTooSmall> {
        let kept = self.store_writers + 2;
        let needed = kept + 2;
        if self.database_max_connections < needed {
            return Err(PoolTooSmall {
                max: self.database_max_connections,
                writers: self.store_writers,
                kept,
                needed,
            });
        }
        Ok(())
    }

    /// [`Self::instance_id`], or the host name and the gRPC port: stable across restarts on the
    /// same machine, distinct for two instances on one machine.
    pub fn instance(&self) -> String {
        self.instance_id.clone().unwrap_or_else(|| {
            format!(
                "{}:{}",
                shared_utils::host_name("kitchen"),
                self.grpc_addr.port()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_defaults_apply() {
        let config = Config::try_parse_from([
            "kitchen",
            "--database-url",
            "postgres://u@db/k",
            "--grpc-addr",
            "127.0.0.1:6000",
        ])
        .unwrap();
        assert_eq!(config.database_url, "postgres://u@db/k");
        assert_eq!(config.grpc_addr.port(), 6000);
        assert_eq!(config.sse_heartbeat_secs, 15);
        assert!(config.print_orders);
        assert_eq!(config.store_writers, 1);
        assert_eq!(config.shutdown_timeout_secs, 10);
        assert!(
            config.instance().ends_with(":6000"),
            "{}",
            config.instance()
        );
        let named = Config::try_parse_from(["kitchen", "--instance-id", "grill-1"]).unwrap();
        assert_eq!(named.instance(), "grill-1");
    }

    #[test]
    fn the_pool_must_leave_room_beside_the_connections_kept() {
        let config = |pool: &str, writers: &str| {
            Config::try_parse_from([
                "kitchen",
                "--database-max-connections",
                pool,
                "--store-writers",
                writers,
            ])
            .unwrap()
        };
        assert!(
            Config::try_parse_from(["kitchen"])
                .unwrap()
                .check_pool_size()
                .is_ok()
        );
        assert!(config("5", "1").check_pool_size().is_ok());
        let error = config("5", "2").check_pool_size().unwrap_err().to_string();
        assert!(error.contains("STORE_WRITERS=2"), "{error}");
        assert!(error.contains("at least 6"), "{error}");
    }

    #[test]
    fn allowed_origins_are_a_list_of_origins() {
        let config = Config::try_parse_from([
            "kitchen",
            "--cors-allowed-origins",
            "http://127.0.0.1:3000, https://kds.example/",
        ])
        .unwrap();
        assert_eq!(
            config.cors_allowed_origins.0,
            ["http://127.0.0.1:3000", "https://kds.example"]
        );
        assert!(
            Config::try_parse_from(["kitchen"])
                .unwrap()
                .cors_allowed_origins
                .0
                .is_empty()
        );
        for bad in ["kds.example", "http://kds.example/screen", "https://"] {
            let error =
                Config::try_parse_from(["kitchen", "--cors-allowed-origins", bad]).unwrap_err();
            assert!(error.to_string().contains("origin"), "{bad}: {error}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_or_help() {
        let config = Config::try_parse_from([
            "kitchen",
            "--grpc-auth-token",
            "GRPC-MARKER",
            "--screen-token",
            "SCREEN-MARKER",
        ])
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("MARKER"), "{shown}");
        assert_eq!(
            config.grpc_security().unwrap().auth_token.unwrap().expose(),
            "GRPC-MARKER"
        );
        assert!(config.grpc_security().unwrap().tls.is_none());
        let error = Config::try_parse_from(["kitchen", "--grpc-tls-client-ca", "ca.pem"])
            .unwrap()
            .grpc_security()
            .unwrap_err();
        assert!(error.to_string().contains("TLS needs both"), "{error}");
        let small = (order_service_proto::limits::MAX_VALID_ORDER_BYTES - 1).to_string();
        assert!(Config::try_parse_from(["kitchen", "--grpc-max-message-bytes", &small]).is_err());
    }

    #[test]
    fn bad_values_are_rejected_with_the_flag_named() {
        let error = Config::try_parse_from(["kitchen", "--http-addr", "nowhere"]).unwrap_err();
        assert!(error.to_string().contains("--http-addr"), "{error}");
        let error = Config::try_parse_from(["kitchen", "--sse-heartbeat-secs", "60"]).unwrap_err();
        assert!(
            error.to_string().contains("--sse-heartbeat-secs"),
            "{error}"
        );
    }
}
