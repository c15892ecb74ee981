//! A connection kept from one call to the next, for the tasks that call PostgreSQL back to back
//! (the writer, the tailer): the pool checks a connection's liveness with a round trip on every
//! acquire, which under load is one extra wake-up of the server per call.

use super::{OrderStore, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};
use std::time::{Duration, Instant};

/// A kept connection idle for longer than this is pinged before use (as the pool does on every
/// acquire), so that one the server dropped meanwhile is replaced instead of failing a call.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// One task's connection; `None` until the first call and after a failure.
pub(crate) struct KeptConnection {
    store: OrderStore,
    connection: Option<PoolConnection<Postgres>>,
    last_used: Instant,
    idle_check: Duration,
}

impl KeptConnection {
    pub(crate) fn new(store: OrderStore) -> Self {
        Self {
            store,
            connection: None,
            last_used: Instant::now(),
            idle_check: IDLE_CHECK,
        }
    }

    /// Runs `call` on the kept connection, taking one from the pool if there is none. A failure
    /// other than a refusal of the data closes the connection at once rather than returning it
    /// to the pool: after a timeout it may still be in the middle of a statement, on a server
    /// that no longer answers.
    pub(crate) async fn run<T>(
        &mut self,
        call: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // Out of `self` while in use: if this future is dropped halfway, the connection goes back
        // to the pool, which checks it, instead of staying here in an unknown state.
        let kept = match self.connection.take() {
            Some(mut connection) if self.last_used.elapsed() > self.idle_check => {
                let alive = self
                    .store
                    .timed(async { Ok(connection.ping().await?) })
                    .await;
                match alive {
                    Ok(()) => Some(connection),
                    Err(_) => {
                        drop(connection.detach());
                        None
                    }
                }
            }
            kept => kept,
        };
        let mut connection = match kept {
            Some(connection) => connection,
            None => self.store.acquire().await?,
        };
        let result = call(&mut connection).await;
        self.last_used = Instant::now();
        if matches!(&result, Err(error) if !error.is_refusal()) {
            drop(connection.detach());
        } else {
            self.connection = Some(connection);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::test_store;

    async fn backend_pid(kept: &mut KeptConnection) -> Result<i32, StoreError> {
        kept.run(async |connection| {
            Ok(sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(connection)
                .await?)
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn calls_share_one_connection_until_one_fails() {
        let (_server, store) = test_store().await;
        // Never pinged, so that the failure below is the call's own, however slow the machine.
        let mut kept = KeptConnection {
            idle_check: Duration::MAX,
            ..KeptConnection::new(store.clone())
        };
        let first = backend_pid(&mut kept).await.unwrap();
        assert_eq!(backend_pid(&mut kept).await.unwrap(), first, "kept");

        let refused = kept
            .run(async |connection| Ok(sqlx::query("SELECT 1 / 0").execute(connection).await?))
            .await
            .unwrap_err();
        assert!(refused.is_refusal(), "{refused}");
        assert_eq!(
            backend_pid(&mut kept).await.unwrap(),
            first,
            "a refusal keeps it"
        );

        // The server ends the session: the failed call gives the connection up.
        let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(first)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(killed);
        assert!(backend_pid(&mut kept).await.is_err());
        assert_ne!(
            backend_pid(&mut kept).await.unwrap(),
            first,
            "a new one replaces it"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_idle_connection_the_server_dropped_is_replaced_before_use() {
        let (_server, store) = test_store().await;
        let mut kept = KeptConnection::new(store.clone());
        let first = backend_pid(&mut kept).await.unwrap();
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(first)
            .execute(store.pool())
            .await
            .unwrap();
        tokio::time::sleep(IDLE_CHECK * 2).await;
        let second = backend_pid(&mut kept).await.expect("pinged and replaced");
        assert_ne!(second, first);
    }
}
