//! The kitchen batch tool service: receives orders over gRPC, stores them in PostgreSQL (its
//! event log), prints the ones it received grouped by station, and streams the log to kitchen
//! screens as Server-Sent Events.
//!
//! ```text
//! gRPC SendOrder -> grpc (validate) -> writer (group commit, pipelined) -> PostgreSQL
//! PostgreSQL -> tail (tailer: final events in id order) -> hub -> sse (screens), console
//! ```

pub mod config;
mod console;
mod events;
mod grpc;
mod health;
mod http;
mod metrics;
mod order;
mod service;
mod sse;
mod store;
mod tail;
mod tickets;
mod writer;

pub use service::{ServiceError, run};
