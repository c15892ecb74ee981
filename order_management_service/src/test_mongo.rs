//! What the stores' tests share: a collection on a fresh database of a real MongoDB-compatible
//! server, and resume tokens to store.

use mongodb::bson::{self, Document, doc};
use mongodb::change_stream::event::ResumeToken;
use mongodb::{Client, Collection};
use test_support::{MongoTestServer, unique_name};

/// The collection `name` of a fresh database; the server lives as long as the returned handle.
pub(crate) async fn collection(name: &str) -> (MongoTestServer, Collection<Document>) {
    let server = MongoTestServer::start().expect("a MongoDB-compatible server");
    let client = Client::with_uri_str(server.uri()).await.unwrap();
    let collection = client.database(&unique_name("oms-unit")).collection(name);
    (server, collection)
}

/// A resume token, distinct for each `n`.
pub(crate) fn token(n: i32) -> ResumeToken {
    bson::from_bson(bson::Bson::Document(doc! { "_data": format!("token-{n}") })).unwrap()
}
