//! How far each instance's console has printed the orders it received.

use super::{OrderStore, StoreError};

impl OrderStore {
    /// Where `instance`'s console stopped printing. An instance seen for the first time starts
    /// after `start_after` (it does not print history it never received).
    pub(crate) async fn console_cursor(
        &self,
        instance: &str,
        start_after: i64,
    ) -> Result<i64, StoreError> {
        self.timed(async {
            let printed_through: i64 = sqlx::query_scalar(
                "WITH created AS ( \
                     INSERT INTO console_cursors (instance, printed_through) VALUES ($1, $2) \
                     ON CONFLICT (instance) DO NOTHING RETURNING printed_through \
                 ) \
                 SELECT printed_through FROM created \
                 UNION ALL SELECT printed_through FROM console_cursors WHERE instance = $1 \
                 LIMIT 1",
            )
            .bind(instance)
            .bind(start_after)
            .fetch_one(&self.pool)
            .await?;
            Ok(printed_through)
        })
        .await
    }

    /// Records that `instance`'s console has printed everything through `printed_through`.
    ///
    /// Not flushed synchronously: the record only spares a reprint after a crash, and losing
    /// the last one to a crash of PostgreSQL or of the machine costs a reprint of what followed.
    pub(crate) async fn save_console_cursor(
        &self,
        instance: &str,
        printed_through: i64,
    ) -> Result<(), StoreError> {
        self.execute_without_flush_wait(
            sqlx::query(
                "UPDATE console_cursors SET printed_through = greatest(printed_through, $2) \
                 WHERE instance = $1",
            )
            .bind(instance)
            .bind(printed_through),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::test_store;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_new_instance_starts_where_it_is_told_and_then_where_it_stopped() {
        let (_server, store) = test_store().await;
        assert_eq!(store.console_cursor("k1", 40).await.unwrap(), 40);
        store.save_console_cursor("k1", 55).await.unwrap();
        store.save_console_cursor("k1", 50).await.unwrap();
        assert_eq!(store.console_cursor("k1", 99).await.unwrap(), 55);
        assert_eq!(store.console_cursor("k2", 7).await.unwrap(), 7);
    }
}
