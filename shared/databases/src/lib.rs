//! Database connections both services use.
//!
//! Each connect function checks the connection before returning, so a service that cannot reach
//! its database fails at start-up with one clear error instead of at its first request.

pub mod mongo_initialization;
pub mod postgres;

pub use mongo_initialization::{MongoError, initialize_mongo};
pub use postgres::{PostgresError, PostgresSettings, connect_postgres};
