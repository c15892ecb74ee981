//! PostgreSQL connection pools.

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Why a PostgreSQL pool could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The URL is not a valid PostgreSQL connection URL.
    #[error("invalid PostgreSQL URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Unreachable {
        /// Host, port and database, without the password.
        target: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// How a pool connects and how long its statements may run.
#[derive(Debug, Clone, Copy)]
pub struct PostgresSettings {
    /// Most connections in the pool.
    pub max_connections: u32,
    /// The longest wait for a connection, at start-up and whenever one is taken from the pool.
    pub connect_timeout: Duration,
    /// The server-side `statement_timeout` of every connection, if any.
    pub statement_timeout: Option<Duration>,
}

/// Opens a pool to `url` and checks it with one connection.
pub async fn connect_postgres(
    url: &str,
    settings: PostgresSettings,
) -> Result<PgPool, PostgresError> {
    let mut options = PgConnectOptions::from_str(url).map_err(PostgresError::InvalidUrl)?;
    if let Some(timeout) = settings.statement_timeout {
        options = options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
    }
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    );
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await
        .map_err(|source| PostgresError::Unreachable {
            target: target.clone(),
            source,
        })?;
    tracing::info!(%target, "connected to PostgreSQL");
    Ok(pool)
}
