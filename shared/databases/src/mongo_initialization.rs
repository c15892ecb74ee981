//! The async MongoDB connection.

use mongodb::Client;
use mongodb::bson::doc;
use mongodb::options::ClientOptions;
use std::time::Duration;

/// Why a MongoDB client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    /// The URI is not a valid MongoDB connection string.
    #[error("invalid MongoDB URI: {0}")]
    InvalidUri(#[source] mongodb::error::Error),
    /// No server answered a ping in time.
    #[error("cannot reach MongoDB: {0}")]
    Unreachable(#[source] mongodb::error::Error),
}

/// Connects to MongoDB at `uri` and pings it, waiting at most `timeout` for a server.
pub async fn initialize_mongo(uri: &str, timeout: Duration) -> Result<Client, MongoError> {
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(MongoError::InvalidUri)?;
    options.server_selection_timeout = Some(timeout);
    options.connect_timeout = Some(timeout);
    let client = Client::with_options(options).map_err(MongoError::InvalidUri)?;
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await
        .map_err(MongoError::Unreachable)?;
    tracing::info!("connected to MongoDB");
    Ok(client)
}
