//! The order management service: watches the MongoDB orders collection's change stream and
//! delivers every inserted order to the kitchen over gRPC, exactly once in effect.
//!
//! The order's path, one module per step:
//! ```text
//! change stream -> listener (reads ahead; up to MAX_IN_FLIGHT orders in flight; position moved
//!                            in stream order by the in-order finalizer)
//!   -> pipeline: extract (pure, the contract's limits) -> delivery (gRPC with deadline, retried)
//!                   | undecodable / invalid / rejected -> dead_letter
//!   -> checkpoint (stored every K orders or T ms, only past what is acknowledged or dead-lettered)
//! ```
//! `observe` emits each event's log line, counter and health change together; `http` serves
//! `/ping`, `/health` and `/metrics` from the listener's state (`status`, `metrics`). `config`
//! holds the command line, `service` wires everything together.

mod backfill;
mod checkpoint;
pub mod config;
mod dead_letter;
mod delivery;
mod extract;
mod http;
mod lease;
mod listener;
mod metrics;
mod mongo_writes;
mod observe;
mod pipeline;
pub mod service;
mod status;
#[cfg(test)]
mod test_mongo;
