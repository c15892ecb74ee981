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

/// Opens a pool of at most `max_connections` to `url` and checks it with one connection, waiting
/// at most `connect_timeout` for it.
pub async fn connect_postgres(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
) -> Result<PgPool, PostgresError> {
    let options = PgConnectOptions::from_str(url).map_err(PostgresError::InvalidUrl)?;
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    );
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(connect_timeout)
        .connect_with(options)
        .await
        .map_err(|source| PostgresError::Unreachable {
            target: target.clone(),
            source,
        })?;
    tracing::info!(%target, "connected to PostgreSQL");
    Ok(pool)
}
