//! Shared gRPC clients.
//!
//! Each RPC service follows one pattern (docs/adding-rpc-services.md; `tools/new_rpc_service`
//! writes it): a `<Name>Client` wraps the tonic client generated from the sender's proto with a
//! deadline on every call and a typed error that says whether a retry can help, and
//! `initialize_<name>_client()` builds it.

mod call_error;
mod channel;
mod metadata;
pub mod order_client;

pub use call_error::CallError;
pub use order_client::{ClientError, OrderClient, SendError, initialize_order_client};
