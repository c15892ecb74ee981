//! Shared gRPC servers.
//!
//! Each RPC service follows one pattern (see the README's "Adding a new RPC service"): a
//! `<Name>Handler` trait holds the logic and is implemented by the receiving service, a
//! `<Name>Server` adapts it to the tonic service generated from the sender's proto, and
//! `start_<name>_server()` serves it with the standard gRPC health service.

pub mod order_server;

pub use order_server::{
    HandlerError, OrderHandler, OrderServer, ServerError, ServerOptions, ServerSecurity, ServerTls,
    order_server_router, start_order_server,
};
