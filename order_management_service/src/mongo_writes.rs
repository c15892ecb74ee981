//! What every MongoDB write of the service shares: majority write concern with a time limit, the
//! same limit on the client side, and recognising a duplicate key.

use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{Acknowledgment, WriteConcern};
use std::future::IntoFuture;
use std::time::Duration;

/// MongoDB's `DuplicateKey`.
const DUPLICATE_KEY: i32 = 11_000;

/// Majority write concern that gives up after `timeout` (`wtimeout`), so a write never waits for
/// a replica set that lost its majority.
pub(crate) fn majority_within(timeout: Duration) -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .w_timeout(timeout)
        .build()
}

/// Runs a MongoDB operation for at most `timeout`; `timed_out` makes the error when it takes
/// longer.
pub(crate) async fn within<T, E: From<mongodb::error::Error>>(
    timeout: Duration,
    operation: impl IntoFuture<Output = mongodb::error::Result<T>>,
    timed_out: impl FnOnce(Duration) -> E,
) -> Result<T, E> {
    tokio::time::timeout(timeout, operation.into_future())
        .await
        .map_err(|_| timed_out(timeout))?
        .map_err(E::from)
}

/// Whether `error` is a duplicate-key refusal (an upsert whose filter did not match a document
/// that exists).
pub(crate) fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == DUPLICATE_KEY,
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        _ => false,
    }
}
