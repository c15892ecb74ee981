//! Shared gRPC clients.
//!
//! Each RPC service follows one pattern (docs/adding-rpc-services.md; `tools/new_rpc_service`
//! writes it): a `<Name>Client` wraps the tonic client generated from the sender's proto with a
//! deadline on every call, the configured TLS and bearer token, and a typed error that says
//! whether a retry can help; `initialize_<name>_client()` and
//! `initialize_secure_<name>_client()` build it.

mod call_error;
mod channel;
mod metadata;
pub mod order_client;
mod security;

pub use call_error::CallError;
pub use channel::ClientError;
pub use order_client::{
    OrderClient, SendError, initialize_order_client, initialize_secure_order_client,
};
pub use security::{ClientSecurity, ClientTls};
