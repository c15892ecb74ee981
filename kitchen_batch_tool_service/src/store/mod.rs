//! PostgreSQL: the order store and the kitchen's event log.
//!
//! Every query runs under a time limit twice over: the server's `statement_timeout` (set on every
//! connection by the pool) and a client-side timeout slightly longer, which also covers a server
//! that stopped answering altogether.

mod console_cursor;
mod insert;
mod read;

pub(crate) use insert::{Insertion, MAX_BATCH};
pub(crate) use read::PageLimits;

use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use std::future::Future;
use std::time::Duration;

/// The migrations in `migrations/`, embedded in the binary.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL refused the data itself (SQLSTATE class 22, data exception, or 23, integrity
    /// constraint violation): the same data will be refused again.
    #[error("PostgreSQL refused the data: {0}")]
    Refused(#[source] sqlx::Error),
    /// PostgreSQL failed or could not be reached; the same request may succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// PostgreSQL did not answer in time.
    #[error("the database did not answer within {0:?}")]
    TimedOut(Duration),
    /// The migrations could not be applied.
    #[error("cannot apply migrations: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the data is at fault, so that retrying the same data cannot succeed.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let refused = matches!(
            &error,
            sqlx::Error::Database(database)
                if database.code().is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
        );
        if refused {
            Self::Refused(error)
        } else {
            Self::Unavailable(error)
        }
    }
}

/// The kitchen's tables in PostgreSQL.
#[derive(Debug, Clone)]
pub(crate) struct OrderStore {
    pool: PgPool,
    /// The client-side limit on every call.
    timeout: Duration,
}

impl OrderStore {
    /// A store on `pool` whose calls give up after `timeout`.
    pub(crate) fn new(pool: PgPool, timeout: Duration) -> Self {
        Self { pool, timeout }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the embedded migrations.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// A connection of the pool, for callers that keep one between calls.
    pub(crate) async fn acquire(&self) -> Result<PoolConnection<sqlx::Postgres>, StoreError> {
        self.timed(async { Ok(self.pool.acquire().await?) }).await
    }

    /// Answers one trivial query: the database is reachable and answering.
    pub(crate) async fn probe(&self) -> Result<(), StoreError> {
        self.timed(async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    /// Wakes every instance's tailer (see `tail::listener`).
    pub(crate) async fn notify_committed(&self) -> Result<(), StoreError> {
        self.timed(async {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(COMMIT_CHANNEL)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }

    /// Runs `call` under the client-side time limit.
    pub(crate) async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(StoreError::TimedOut(self.timeout)))
    }
}

/// The `LISTEN`/`NOTIFY` channel on which a writer announces its commits to other instances.
pub(crate) const COMMIT_CHANNEL: &str = "kitchen_events";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use test_support::PostgresServer;

    /// A migrated store on a throwaway PostgreSQL, which lives as long as the returned server.
    pub(crate) async fn test_store() -> (PostgresServer, OrderStore) {
        let server = PostgresServer::start().expect("start PostgreSQL");
        let url = server.create_database("kitchen").expect("create database");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .expect("connect");
        let store = OrderStore::new(pool, Duration::from_secs(10));
        store.migrate().await.expect("migrate");
        (server, store)
    }

    #[test]
    fn data_errors_are_refusals_and_everything_else_is_unavailable() {
        assert!(!StoreError::from(sqlx::Error::PoolTimedOut).is_refusal());
        assert!(!StoreError::TimedOut(Duration::from_secs(1)).is_refusal());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_nul_character_is_a_refusal_not_an_outage() {
        let (_server, store) = test_store().await;
        let error = store
            .timed(async {
                sqlx::query("SELECT $1::text")
                    .bind("nul\0byte")
                    .execute(store.pool())
                    .await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(error.is_refusal(), "{error}");
    }
}
