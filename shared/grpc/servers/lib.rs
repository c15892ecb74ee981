//! Shared gRPC servers.
//!
//! Each RPC service follows one pattern (docs/adding-rpc-services.md; `tools/new_rpc_service`
//! writes it): a `<Name>Handler` trait holds the logic and is implemented by the receiving
//! service, a `<Name>Server` adapts it to the tonic service generated from the sender's proto,
//! and `start_<name>_server()` serves it with the standard gRPC health service, secured by
//! [`ServerOptions`].

mod error;
mod health;
mod metadata;
pub mod order_server;
mod security;

pub use error::{HandlerError, ServerError};
pub use order_server::{OrderHandler, OrderServer, order_server_router, start_order_server};
pub use security::{ServerOptions, ServerSecurity, ServerTls};
