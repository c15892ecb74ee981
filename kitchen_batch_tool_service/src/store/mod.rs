//! PostgreSQL: the order store and the kitchen's event log.
//!
//! Every query runs under a time limit twice over: the server's `statement_timeout` (set on every
//! connection by the pool) and a client-side timeout slightly longer, which also covers a server
//! that stopped answering altogether.

mod console_cursor;
mod insert;
mod kept_connection;
mod read;
mod tickets;

pub(crate) use insert::{Insertion, MAX_BATCH};
pub(crate) use kept_connection::KeptConnection;
pub(crate) use read::{LogId, PageLimits};
pub(crate) use tickets::{ChangeError, ChangeOutcome};

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
    /// The log's ids run ahead of the ids new transactions get, so new orders would be hidden
    /// behind old ones.
    #[error(
        "the event log's ids (up to {max_event_id}) run ahead of this database's transaction ids \
         (was it restored from a dump into a new cluster?): new orders would never reach the \
         screens. Set the cluster's next transaction id to at least {needed_xid} (on the stopped \
         cluster: pg_resetwal -e {epoch} -x {xid} <data directory>), then start again",
        epoch = needed_xid >> 32,
        xid = needed_xid & 0xffff_ffff
    )]
    LogAhead {
        /// The highest event id stored.
        max_event_id: i64,
        /// The lowest next transaction id (with its epoch) that makes new ids higher.
        needed_xid: u64,
    },
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

    /// Checks that the database answers and that new transactions get event ids above every
    /// stored one (it does not, after a restore into a new cluster).
    pub(crate) async fn probe(&self) -> Result<(), StoreError> {
        let (next_id_floor, max_event_id): (i64, i64) = self
            .timed(async {
                Ok(sqlx::query_as(
                    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint << 16, \
                            coalesce(max(event_id), 0) FROM orders",
                )
                .fetch_one(&self.pool)
                .await?)
            })
            .await?;
        if max_event_id >= next_id_floor {
            return Err(StoreError::LogAhead {
                max_event_id,
                needed_xid: (max_event_id as u64 >> 16) + 1,
            });
        }
        Ok(())
    }

    /// Writes one row: the database accepts writes.
    pub(crate) async fn write_probe(&self, instance: &str) -> Result<(), StoreError> {
        self.execute_without_flush_wait(
            sqlx::query(
                "INSERT INTO health_probes (instance, probed_at) VALUES ($1, now()) \
                 ON CONFLICT (instance) DO UPDATE SET probed_at = excluded.probed_at",
            )
            .bind(instance),
        )
        .await
    }

    /// Runs `statement` in a transaction that commits without waiting for its WAL flush: for
    /// bookkeeping whose loss in a crash costs little, and which must not hold the event log's
    /// horizon back for the length of a flush.
    pub(crate) async fn execute_without_flush_wait(
        &self,
        statement: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<(), StoreError> {
        self.timed(async {
            let mut transaction = self.pool.begin().await?;
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *transaction)
                .await?;
            statement.execute(&mut *transaction).await?;
            transaction.commit().await?;
            Ok(())
        })
        .await
    }

    /// The oldest transaction still running in the cluster, described for an operator: the one
    /// that holds the event log's horizon back.
    pub(crate) async fn oldest_transaction(&self) -> Result<Option<String>, StoreError> {
        self.timed(async {
            Ok(sqlx::query_scalar(
                "SELECT description FROM ( \
                     SELECT age(backend_xid) AS age, \
                            format('pid %s in database %s (user %s, %s since %s): %s', pid, \
                                   datname, usename, state, xact_start, left(query, 100)) \
                            AS description \
                     FROM pg_stat_activity WHERE backend_xid IS NOT NULL \
                     UNION ALL \
                     SELECT age(transaction), format('prepared transaction %L in database %s \
                            since %s', gid, database, prepared) \
                     FROM pg_prepared_xacts \
                 ) running ORDER BY age DESC LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?)
        })
        .await
    }

    /// Wakes every other instance's tailer (see `tail::listener`); the payload names the
    /// instance that committed, which its own listener passes over.
    pub(crate) async fn notify_committed(&self, instance: &str) -> Result<(), StoreError> {
        self.timed(async {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(COMMIT_CHANNEL)
                .bind(instance)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }

    /// Whether a session other than `own_listener` listens on [`COMMIT_CHANNEL`] in this
    /// database: another instance, which this one's notifications would wake. A session of
    /// another user, whose statement PostgreSQL does not show, counts as one.
    pub(crate) async fn others_listen(
        &self,
        own_listener: Option<i32>,
    ) -> Result<bool, StoreError> {
        self.timed(async {
            Ok(sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> coalesce($1, 0) \
                   AND query IN ($2, '<insufficient privilege>'))",
            )
            .bind(own_listener)
            .bind(format!("LISTEN \"{COMMIT_CHANNEL}\""))
            .fetch_one(&self.pool)
            .await?)
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

/// SQL formatting the `timestamptz` expression `column` as RFC 3339 in UTC with milliseconds
/// (`2026-12-02T10:00:00.123Z`), the form every time takes in the API and the event stream.
pub(crate) fn iso_time(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
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

    #[tokio::test(flavor = "multi_thread")]
    async fn the_probe_refuses_a_log_whose_ids_run_ahead_of_the_transaction_ids() {
        let (_server, store) = test_store().await;
        store.probe().await.unwrap();
        // As after a restore into a new cluster: ids far above any transaction id yet.
        sqlx::query(
            "INSERT INTO orders (event_id, order_id, otter_order_id, brand_name, source, \
             order_timestamp) VALUES ((1::bigint << 50), 'restored', '', '', '', '')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let error = store.probe().await.unwrap_err();
        assert!(matches!(error, StoreError::LogAhead { .. }), "{error}");
        assert!(
            error.to_string().contains("pg_resetwal -e 4 -x 1 "),
            "{error}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn another_instances_listener_is_found_and_ones_own_is_not() {
        let (_server, store) = test_store().await;
        assert!(!store.others_listen(None).await.unwrap());
        let mut listener = sqlx::postgres::PgListener::connect_with(store.pool())
            .await
            .unwrap();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut listener)
            .await
            .unwrap();
        listener.listen(COMMIT_CHANNEL).await.unwrap();
        assert!(store.others_listen(None).await.unwrap(), "another's");
        assert!(!store.others_listen(Some(pid)).await.unwrap(), "one's own");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_oldest_running_transaction_is_named() {
        let (_server, store) = test_store().await;
        assert_eq!(store.oldest_transaction().await.unwrap(), None);
        let mut open = store.pool().begin().await.unwrap();
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *open)
            .await
            .unwrap();
        let description = store.oldest_transaction().await.unwrap().expect("one");
        assert!(description.contains("in database kitchen"), "{description}");
        store.write_probe("k1").await.unwrap();
        open.rollback().await.unwrap();
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
