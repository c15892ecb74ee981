//! Configuration: flags, which override environment variables, which override a `.env` file
//! (loaded by `main` before parsing). A bad value is reported by clap as one clear error, and the
//! process exits non-zero.

use chrono::{DateTime, Utc};
use clap::Parser;
use shared_utils::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The order management service's configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "order_management_service",
    version,
    about = "Watches the orders collection's change stream and delivers every inserted order to the kitchen over gRPC."
)]
pub struct Config {
    /// MongoDB connection string (change streams need a replica set).
    #[arg(long, env = "MONGO_URI", default_value = "mongodb://localhost:27017", value_parser = parse_mongo_uri)]
    pub mongo_uri: String,

    /// Database holding the orders, the checkpoint and the dead-letter collections.
    #[arg(long, env = "MONGO_DB", value_parser = parse_database_name)]
    pub mongo_db: String,

    /// Collection whose inserts are orders.
    #[arg(long, env = "MONGO_ORDERS_COLLECTION", default_value = "orders", value_parser = parse_collection_name)]
    pub mongo_orders_collection: String,

    /// The kitchen's gRPC address (`host:port`, `http://host:port`, or `https://host:port` for
    /// TLS).
    #[arg(long, env = "GRPC_TARGET", default_value = "localhost:50051", value_parser = parse_grpc_target)]
    pub grpc_target: String,

    /// Deadline of every gRPC call to the kitchen, in milliseconds.
    #[arg(long, env = "GRPC_DEADLINE_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub grpc_deadline_ms: u64,

    /// CA certificate (PEM file) the kitchen's certificate must chain to. Needs an `https://`
    /// `GRPC_TARGET`; without it, an `https://` target is checked against the public CAs.
    #[arg(long, env = "GRPC_TLS_CA")]
    pub grpc_tls_ca: Option<PathBuf>,

    /// This service's client certificate (PEM file), for a kitchen that requires one (mutual
    /// TLS), with `GRPC_TLS_CLIENT_KEY`.
    #[arg(long, env = "GRPC_TLS_CLIENT_CERT")]
    pub grpc_tls_client_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM file).
    #[arg(long, env = "GRPC_TLS_CLIENT_KEY")]
    pub grpc_tls_client_key: Option<PathBuf>,

    /// The name the kitchen's certificate must carry, when it is not `GRPC_TARGET`'s host (e.g.
    /// the target is an IP address).
    #[arg(long, env = "GRPC_TLS_DOMAIN", value_parser = parse_non_empty)]
    pub grpc_tls_domain: Option<String>,

    /// Bearer token sent on every call to the kitchen (its `GRPC_AUTH_TOKEN`).
    #[arg(long, env = "GRPC_AUTH_TOKEN", hide_env_values = true)]
    pub grpc_auth_token: Option<Secret>,

    /// A file holding `GRPC_AUTH_TOKEN` instead (surrounding white space is dropped).
    #[arg(long, env = "GRPC_AUTH_TOKEN_FILE")]
    pub grpc_auth_token_file: Option<PathBuf>,

    /// Address of the HTTP server (`/ping`, `/health`, `/metrics`).
    #[arg(long, env = "HTTP_ADDR", default_value = "0.0.0.0:8000")]
    pub http_addr: SocketAddr,

    /// Largest HTTP request body accepted, in bytes; a larger one is answered 413.
    #[arg(long, env = "HTTP_MAX_BODY_BYTES", default_value_t = 64 << 10, value_parser = clap::value_parser!(u64).range(1_024..=(64 << 20)))]
    pub http_max_body_bytes: u64,

    /// Collection holding the change stream's checkpoint (one document per consumer).
    #[arg(long, env = "CHECKPOINT_COLLECTION", default_value = "order_stream_checkpoints", value_parser = parse_collection_name)]
    pub checkpoint_collection: String,

    /// This consumer's name: the key of its checkpoint. Two services with the same name share
    /// (and fight over) one position.
    #[arg(long, env = "CONSUMER_NAME", default_value = "order_management_service", value_parser = parse_non_empty)]
    pub consumer_name: String,

    /// Collection holding the lease (one document per consumer): of the instances sharing a
    /// consumer name, the one holding it watches and the others stand by.
    #[arg(long, env = "LEASE_COLLECTION", default_value = "order_stream_leases", value_parser = parse_collection_name)]
    pub lease_collection: String,

    /// How long the lease lasts without renewal, in milliseconds: a standby instance takes over
    /// at most about this long after the active one dies. Instances' clocks must agree to well
    /// within it.
    #[arg(long, env = "LEASE_TTL_MS", default_value_t = 6_000, value_parser = clap::value_parser!(u64).range(600..=600_000))]
    pub lease_ttl_ms: u64,

    /// This instance's name in the lease. Default: the host name and the HTTP port, stable
    /// across restarts (a restarted instance takes its own lease back at once). Must differ
    /// between instances.
    #[arg(long, env = "INSTANCE_ID", value_parser = parse_non_empty)]
    pub instance_id: Option<String>,

    /// Collection receiving documents that cannot become valid orders.
    #[arg(long, env = "DEAD_LETTER_COLLECTION", default_value = "orders_dead_letter", value_parser = parse_collection_name)]
    pub dead_letter_collection: String,

    /// How long to wait for MongoDB at start-up, in milliseconds.
    #[arg(long, env = "MONGO_CONNECT_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub mongo_connect_timeout_ms: u64,

    /// Orders delivered to the kitchen at once (read ahead from the change stream, acknowledged
    /// in any order, checkpointed in stream order).
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4_096))]
    pub max_in_flight: u64,

    /// Bytes of change events read ahead and not yet handled, at most.
    #[arg(long, env = "READ_AHEAD_BYTES", default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(65_536..=1 << 31))]
    pub read_ahead_bytes: u64,

    /// Project change events on the server to the fields the service reads, so that a document
    /// near 16 MB never makes an event over MongoDB's limit. Turn off only where projecting costs
    /// more than it saves (SecantusDB evaluates it in Python, about 50 µs per event).
    #[arg(long, env = "STREAM_PROJECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub stream_projection: bool,

    /// Store the stream's position once this many orders were handled since the last save.
    #[arg(long, env = "CHECKPOINT_EVERY_ORDERS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub checkpoint_every_orders: u64,

    /// Store the stream's position at most this long after an order was handled, in
    /// milliseconds.
    #[arg(long, env = "CHECKPOINT_INTERVAL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub checkpoint_interval_ms: u64,

    /// How long a checkpoint or dead-letter write (majority write concern) may take, in
    /// milliseconds, before it counts as failed.
    #[arg(long, env = "MONGO_WRITE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub mongo_write_timeout_ms: u64,

    /// Seconds a graceful shutdown may take (the in-flight send, the last checkpoint, the lease's
    /// release) before the process exits anyway, even with MongoDB gone.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub shutdown_timeout_secs: u64,

    /// Tokio worker threads. Default: the CPUs this process may use (affinity and cgroup quota).
    #[arg(long, env = "WORKER_THREADS")]
    pub worker_threads: Option<std::num::NonZeroUsize>,

    /// While the orders collection is quiet, store the stream's position at most this often, in
    /// milliseconds, so that it never falls out of the oplog.
    #[arg(long, env = "QUIET_CHECKPOINT_INTERVAL_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub quiet_checkpoint_interval_ms: u64,

    /// Ignore the stored checkpoint and read the change stream from this time (RFC 3339, e.g.
    /// `2025-02-13T10:00:00Z`), to recover or backfill. The kitchen ignores orders it already
    /// has. A flag only, never read from the environment, so a restart does not replay again.
    #[arg(long, value_parser = parse_start_at)]
    pub start_at: Option<DateTime<Utc>>,

    /// What to do; without a command, watch the stream.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Why the security settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The token cannot be read.
    #[error(transparent)]
    Secret(#[from] shared_utils::secret::SecretError),
    /// The TLS settings are incomplete or a file cannot be read.
    #[error(transparent)]
    Tls(#[from] grpc_clients::ClientError),
}

/// The service's commands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// After the change stream's history was lost (code 286): re-send every order inserted
    /// since a time, by querying the orders collection, then watch the stream from the moment
    /// the backfill began. The kitchen ignores the orders it already has.
    Backfill(BackfillArgs),
}

/// Options of `backfill`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct BackfillArgs {
    /// Re-send the orders inserted at or after this time (RFC 3339, e.g. the lost checkpoint's
    /// time that `/health` names).
    #[arg(long, value_parser = parse_start_at)]
    pub since: DateTime<Utc>,

    /// Find orders by this date field instead of the creation time of their ObjectId `_id`
    /// (needed when `_id`s are not ObjectIds).
    #[arg(long, value_parser = parse_non_empty)]
    pub timestamp_field: Option<String>,
}

impl Config {
    /// Checks what clap cannot: options that exclude each other.
    pub fn check(&self) -> Result<(), String> {
        if self.start_at.is_some() && self.command.is_some() {
            return Err("--start-at cannot be combined with backfill (which has --since)".into());
        }
        Ok(())
    }

    /// How the gRPC client secures its calls: TLS when `GRPC_TARGET` is `https://` (any other
    /// `GRPC_TLS_*` setting with a plain target is an error), and the bearer token.
    pub fn grpc_security(&self) -> Result<grpc_clients::ClientSecurity, SecurityError> {
        let tls_settings = self.grpc_tls_ca.is_some()
            || self.grpc_tls_client_cert.is_some()
            || self.grpc_tls_client_key.is_some()
            || self.grpc_tls_domain.is_some();
        let tls = if tls_settings || self.grpc_target.starts_with("https://") {
            Some(grpc_clients::ClientTls::from_files(
                self.grpc_tls_ca.as_deref(),
                self.grpc_tls_client_cert.as_deref(),
                self.grpc_tls_client_key.as_deref(),
                self.grpc_tls_domain.clone(),
            )?)
        } else {
            None
        };
        Ok(grpc_clients::ClientSecurity {
            tls,
            auth_token: shared_utils::secret::secret_from_value_or_file(
                "GRPC_AUTH_TOKEN",
                self.grpc_auth_token.as_ref(),
                self.grpc_auth_token_file.as_deref(),
            )?,
        })
    }

    /// The gRPC deadline.
    pub fn grpc_deadline(&self) -> Duration {
        Duration::from_millis(self.grpc_deadline_ms)
    }

    /// How often the position is stored while the collection is quiet.
    pub fn quiet_checkpoint_interval(&self) -> Duration {
        Duration::from_millis(self.quiet_checkpoint_interval_ms)
    }

    /// How long to wait for MongoDB at start-up.
    pub fn mongo_connect_timeout(&self) -> Duration {
        Duration::from_millis(self.mongo_connect_timeout_ms)
    }

    /// [`Self::instance_id`], or the host name and the HTTP port.
    pub fn instance(&self) -> String {
        self.instance_id.clone().unwrap_or_else(|| {
            format!(
                "{}:{}",
                shared_utils::host_name("order_management_service"),
                self.http_addr.port()
            )
        })
    }

    /// How long the lease lasts without renewal.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_millis(self.lease_ttl_ms)
    }

    /// The longest graceful shutdown.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    /// How long a MongoDB write may take.
    pub fn mongo_write_timeout(&self) -> Duration {
        Duration::from_millis(self.mongo_write_timeout_ms)
    }

    /// How often the position is stored while orders flow.
    pub fn checkpoint_interval(&self) -> Duration {
        Duration::from_millis(self.checkpoint_interval_ms)
    }
}

fn parse_mongo_uri(value: &str) -> Result<String, String> {
    if value.starts_with("mongodb://") || value.starts_with("mongodb+srv://") {
        Ok(value.to_owned())
    } else {
        Err(
            "expected a MongoDB connection string starting with mongodb:// or mongodb+srv://"
                .into(),
        )
    }
}

fn parse_non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(value.to_owned())
    }
}

fn parse_database_name(value: &str) -> Result<String, String> {
    let value = parse_non_empty(value)?;
    match value.chars().find(|c| "/\\. \"$\0".contains(*c)) {
        Some(bad) => Err(format!("a database name cannot contain {bad:?}")),
        None if value.len() > 63 => Err("a database name has at most 63 bytes".into()),
        None => Ok(value),
    }
}

fn parse_collection_name(value: &str) -> Result<String, String> {
    let value = parse_non_empty(value)?;
    if value.contains('$') || value.contains('\0') {
        Err("a collection name cannot contain '$' or NUL".into())
    } else if value.starts_with("system.") {
        Err("a collection name cannot start with \"system.\"".into())
    } else {
        Ok(value)
    }
}

fn parse_grpc_target(value: &str) -> Result<String, String> {
    let uri = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    match uri.parse::<tonic::codegen::http::Uri>() {
        Ok(parsed) if parsed.host().is_some_and(|host| !host.is_empty()) => Ok(value.to_owned()),
        Ok(_) => Err("expected host:port".into()),
        Err(error) => Err(format!("expected host:port: {error}")),
    }
}

fn parse_start_at(value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| format!("expected an RFC 3339 time like 2025-02-13T10:00:00Z: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(
            std::iter::once("order_management_service").chain(args.iter().copied()),
        )
    }

    #[test]
    fn flags_give_a_full_configuration_with_defaults() {
        let config = parse(&["--mongo-db", "shop"]).unwrap();
        assert_eq!(config.mongo_db, "shop");
        assert_eq!(config.mongo_orders_collection, "orders");
        assert_eq!(config.grpc_target, "localhost:50051");
        assert_eq!(config.http_addr, "0.0.0.0:8000".parse().unwrap());
        assert_eq!(config.dead_letter_collection, "orders_dead_letter");
        assert_eq!(config.grpc_deadline(), Duration::from_secs(5));
        assert_eq!(config.start_at, None);
        assert_eq!(config.max_in_flight, 64);
        assert_eq!(config.checkpoint_every_orders, 512);
        assert_eq!(config.checkpoint_interval(), Duration::from_millis(500));
        assert_eq!(config.mongo_write_timeout(), Duration::from_secs(5));
    }

    #[test]
    fn start_at_is_parsed_as_rfc3339() {
        let config = parse(&[
            "--mongo-db",
            "shop",
            "--start-at",
            "2025-02-13T11:56:27+01:00",
        ])
        .unwrap();
        assert_eq!(
            config.start_at.unwrap().to_rfc3339(),
            "2025-02-13T10:56:27+00:00"
        );
        let error = parse(&["--mongo-db", "shop", "--start-at", "yesterday"]).unwrap_err();
        assert!(error.to_string().contains("RFC 3339"), "{error}");
    }

    #[test]
    fn backfill_takes_a_since_time_and_an_optional_timestamp_field() {
        let config = parse(&[
            "--mongo-db",
            "shop",
            "backfill",
            "--since",
            "2025-02-13T10:00:00Z",
            "--timestamp-field",
            "CreatedAt",
        ])
        .unwrap();
        let Some(Command::Backfill(backfill)) = &config.command else {
            panic!("a backfill: {config:?}");
        };
        assert_eq!(backfill.since.to_rfc3339(), "2025-02-13T10:00:00+00:00");
        assert_eq!(backfill.timestamp_field.as_deref(), Some("CreatedAt"));
        assert_eq!(config.check(), Ok(()));
        assert!(
            parse(&["--mongo-db", "shop", "backfill"]).is_err(),
            "--since is required"
        );
        let both = parse(&[
            "--mongo-db",
            "shop",
            "--start-at",
            "2025-02-13T10:00:00Z",
            "backfill",
            "--since",
            "2025-02-13T10:00:00Z",
        ])
        .unwrap();
        assert!(both.check().unwrap_err().contains("--start-at"));
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--mongo-db", "shop", "--mongo-uri", "localhost:27017"],
                "--mongo-uri",
            ),
            (&["--mongo-db", "sh.op"], "--mongo-db"),
            (
                &["--mongo-db", "shop", "--mongo-orders-collection", "$orders"],
                "--mongo-orders-collection",
            ),
            (
                &["--mongo-db", "shop", "--grpc-target", "bad target"],
                "--grpc-target",
            ),
            (
                &["--mongo-db", "shop", "--grpc-deadline-ms", "0"],
                "--grpc-deadline-ms",
            ),
            (
                &["--mongo-db", "shop", "--http-addr", "nowhere"],
                "--http-addr",
            ),
            (
                &["--mongo-db", "shop", "--consumer-name", " "],
                "--consumer-name",
            ),
            (
                &["--mongo-db", "shop", "--max-in-flight", "0"],
                "--max-in-flight",
            ),
            (
                &["--mongo-db", "shop", "--read-ahead-bytes", "10"],
                "--read-ahead-bytes",
            ),
        ];
        for (args, flag) in cases {
            let error = parse(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
    }

    #[test]
    fn the_database_is_required() {
        // Skip when the environment of the test run sets it.
        if std::env::var_os("MONGO_DB").is_none() {
            let error = parse(&[]).unwrap_err().to_string();
            assert!(error.contains("--mongo-db"), "{error}");
        }
    }

    #[test]
    fn the_token_never_shows_and_tls_settings_need_https() {
        let config = parse(&["--mongo-db", "shop", "--grpc-auth-token", "TOKEN-MARKER"]).unwrap();
        assert!(!format!("{config:?}").contains("TOKEN-MARKER"));
        let security = config.grpc_security().unwrap();
        assert_eq!(security.auth_token.unwrap().expose(), "TOKEN-MARKER");
        assert!(security.tls.is_none());
        let plain_with_domain = parse(&["--mongo-db", "shop", "--grpc-tls-domain", "kitchen"])
            .unwrap()
            .grpc_security()
            .unwrap();
        let error = grpc_clients::initialize_secure_order_client(
            "localhost:50051",
            Duration::from_secs(1),
            &plain_with_domain,
        )
        .unwrap_err();
        assert!(error.to_string().contains("https://"), "{error}");
        let https = parse(&[
            "--mongo-db",
            "shop",
            "--grpc-target",
            "https://kitchen:50051",
        ])
        .unwrap()
        .grpc_security()
        .unwrap();
        assert!(https.tls.is_some());
    }

    #[test]
    fn a_grpc_target_may_be_host_port_or_a_uri() {
        for target in [
            "localhost:50051",
            "10.0.0.5:50051",
            "http://kitchen:50051",
            "https://kitchen:50051",
        ] {
            assert!(
                parse(&["--mongo-db", "shop", "--grpc-target", target]).is_ok(),
                "{target}"
            );
        }
    }
}
