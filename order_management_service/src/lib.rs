//! The order management service: watches the MongoDB orders collection's change stream and
//! delivers every inserted order to the kitchen over gRPC, exactly once in effect.
//!
//! The order's path, one module per step:
//! ```text
//! change stream -> mongo_listener (reads inserts in order, reopens after the checkpoint)
//!   -> pipeline: extract (pure) -> delivery (gRPC with deadline, retried)
//!                   | invalid / INVALID_ARGUMENT -> dead_letter
//!   -> checkpoint (stored only after the ack or the dead-letter write)
//! ```
//! `http` serves `/ping`, `/health` and `/metrics` from the listener's state (`status`,
//! `metrics`). `config` holds the command line, `service` wires everything together.

pub mod checkpoint;
pub mod config;
pub mod dead_letter;
pub mod delivery;
pub mod extract;
pub mod http;
pub mod metrics;
pub mod mongo_listener;
pub mod pipeline;
pub mod service;
pub mod status;
