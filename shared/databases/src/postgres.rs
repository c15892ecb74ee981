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
    /// The server-side `statement_timeout` of every connection, if any. It also sets
    /// `idle_in_transaction_session_timeout` to twice as long, and server-side TCP keepalives
    /// (idle 10 s, then every 5 s, 3 probes): a client that dies in the middle of a transaction
    /// does not leave it open, holding locks and the oldest-transaction horizon, for the hours a
    /// dead TCP connection can otherwise last.
    pub statement_timeout: Option<Duration>,
}

/// Opens a pool to `url` and checks it with one connection.
pub async fn connect_postgres(
    url: &str,
    settings: PostgresSettings,
) -> Result<PgPool, PostgresError> {
    let mut options = PgConnectOptions::from_str(url).map_err(PostgresError::InvalidUrl)?;
    if let Some(timeout) = settings.statement_timeout {
        let millis = timeout.as_millis();
        options = options.options([
            ("statement_timeout", format!("{millis}ms")),
            (
                "idle_in_transaction_session_timeout",
                format!("{}ms", millis * 2),
            ),
            ("tcp_keepalives_idle", "10".to_owned()),
            ("tcp_keepalives_interval", "5".to_owned()),
            ("tcp_keepalives_count", "3".to_owned()),
        ]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn every_connection_has_the_statement_timeout() {
        let server = test_support::PostgresServer::start().unwrap();
        let url = server.create_database("limits").unwrap();
        let settings = PostgresSettings {
            max_connections: 2,
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Some(Duration::from_millis(1_234)),
        };
        let pool = connect_postgres(&url, settings).await.unwrap();
        let (timeout,): (String,) = sqlx::query_as("SHOW statement_timeout")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(timeout, "1234ms");
        let (idle,): (String,) = sqlx::query_as("SHOW idle_in_transaction_session_timeout")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(idle, "2468ms");
        let (keepalive,): (String,) = sqlx::query_as("SHOW tcp_keepalives_idle")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(keepalive, "10");
        let error = sqlx::query("SELECT pg_sleep(5)")
            .execute(&pool)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("statement timeout"), "{error}");
    }
}
