//! Shared gRPC clients.
//!
//! Each RPC service follows one pattern (see the README's "Adding a new RPC service"): a
//! `<Name>Client` wraps the tonic client generated from the sender's proto with a deadline on
//! every call and a typed error that says whether a retry can help, and
//! `initialize_<name>_client()` builds it.

pub mod order_client;

pub use order_client::{
    ClientError, ClientSecurity, ClientTls, OrderClient, SendError, initialize_order_client,
    initialize_secure_order_client,
};
