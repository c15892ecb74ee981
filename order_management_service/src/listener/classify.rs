//! Event classification (pure): a raw change event -> what the listener does with it.
//!
//! Events are read raw, so that one the driver could not decode (invalid UTF-8 in a field, say)
//! still yields its `documentKey` and is dead-lettered instead of failing the stream in a loop.

use crate::extract::{inserted_at, order_id_of};
use chrono::{DateTime, Utc};
use mongodb::bson::serde_helpers::Utf8LossyDeserialization;
use mongodb::bson::{self, Bson, Document, RawDocument};

/// An inserted document, as the pipeline receives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InsertedOrder {
    /// The document's `_id` (from the event's `documentKey`).
    pub(crate) key: Bson,
    /// The order id of `key`.
    pub(crate) order_id: String,
    /// The document (projected to the fields extraction reads), or why it cannot be read.
    pub(crate) document: Result<Document, String>,
    /// When it was inserted.
    pub(crate) inserted_at: DateTime<Utc>,
}

/// What a change event means to the listener.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ChangeEvent {
    /// An insert: an order to deliver or dead-letter.
    Insert(Box<InsertedOrder>),
    /// The collection is gone (`dropped`, `renamed`, `dropped with its database`,
    /// `invalidated`): the stream ends.
    CollectionGone(&'static str),
    /// Anything else: the position moves past it.
    Other,
}

/// Classifies `event`; `now` is the insert time of last resort.
pub(crate) fn classify(event: &RawDocument, now: DateTime<Utc>) -> ChangeEvent {
    match event.get_str("operationType") {
        Ok("insert") => ChangeEvent::Insert(Box::new(inserted_order(event, now))),
        Ok("drop") => ChangeEvent::CollectionGone("dropped"),
        Ok("rename") => ChangeEvent::CollectionGone("renamed"),
        Ok("dropDatabase") => ChangeEvent::CollectionGone("dropped with its database"),
        Ok("invalidate") => ChangeEvent::CollectionGone("invalidated"),
        _ => ChangeEvent::Other,
    }
}

fn inserted_order(event: &RawDocument, now: DateTime<Utc>) -> InsertedOrder {
    let key = document_key(event);
    let document = match event.get_document("fullDocument") {
        Ok(document) => Document::try_from(document)
            .map_err(|error| format!("the inserted document cannot be decoded: {error}")),
        Err(error) => Err(format!(
            "the insert event has no readable fullDocument: {error}"
        )),
    };
    let wall_time = event.get_datetime("wallTime").ok();
    let cluster_time = event.get_timestamp("clusterTime").ok();
    InsertedOrder {
        order_id: order_id_of(&key),
        inserted_at: inserted_at(wall_time, Some(&key), cluster_time, now),
        key,
        document,
    }
}

/// The `_id` of the event's `documentKey`; read with invalid UTF-8 replaced when it must be, and
/// `null` when there is none, so that the document can still be dead-lettered.
fn document_key(event: &RawDocument) -> Bson {
    let Ok(key) = event.get_document("documentKey") else {
        return Bson::Null;
    };
    match Document::try_from(key) {
        Ok(key) => key.get("_id").cloned(),
        Err(_) => bson::from_slice::<Utf8LossyDeserialization<Document>>(key.as_bytes())
            .ok()
            .and_then(|key| key.0.get("_id").cloned()),
    }
    .unwrap_or(Bson::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use mongodb::bson::oid::ObjectId;
    use mongodb::bson::{RawDocumentBuf, doc};

    fn now() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(2_000_000_000_000).unwrap()
    }

    fn raw(document: Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(&document).unwrap()
    }

    #[test]
    fn an_insert_carries_its_document_key_order_id_and_wall_time() {
        let id = ObjectId::parse_str("67adcfdc15da8840bc9673bd").unwrap();
        let event = raw(doc! {
            "_id": { "_data": "token" },
            "operationType": "insert",
            "wallTime": mongodb::bson::DateTime::from_millis(1_739_444_187_756),
            "documentKey": { "_id": id },
            "fullDocument": { "_id": id, "BrandName": "Desayuna" },
        });
        let ChangeEvent::Insert(order) = classify(&event, now()) else {
            panic!("an insert");
        };
        assert_eq!(order.key, Bson::ObjectId(id));
        assert_eq!(order.order_id, "67adcfdc15da8840bc9673bd");
        assert_eq!(
            order.document.unwrap().get_str("BrandName").unwrap(),
            "Desayuna"
        );
        assert_eq!(order.inserted_at.timestamp_millis(), 1_739_444_187_756);
    }

    #[test]
    fn an_undecodable_document_is_kept_as_the_reason_with_its_key() {
        let event = raw(doc! {
            "operationType": "insert",
            "documentKey": { "_id": "order-1" },
            "fullDocument": { "_id": "order-1", "BrandName": "XXXX" },
        });
        // Replace the brand's bytes with invalid UTF-8 (0xFF is never valid).
        let mut bytes = event.into_bytes();
        let at = bytes
            .windows(4)
            .position(|window| window == b"XXXX")
            .unwrap();
        bytes[at..at + 4].copy_from_slice(&[0xFF; 4]);
        let event = RawDocumentBuf::from_bytes(bytes).unwrap();
        let ChangeEvent::Insert(order) = classify(&event, now()) else {
            panic!("an insert");
        };
        assert_eq!(order.order_id, "order-1");
        let reason = order.document.unwrap_err();
        assert!(reason.contains("cannot be decoded"), "{reason}");
        assert_eq!(order.inserted_at, now());
    }

    #[test]
    fn an_insert_without_its_document_has_a_reason() {
        let event = raw(doc! { "operationType": "insert", "documentKey": { "_id": 7 } });
        let ChangeEvent::Insert(order) = classify(&event, now()) else {
            panic!("an insert");
        };
        assert_eq!(order.order_id, r#"{"_id":7}"#);
        assert!(order.document.unwrap_err().contains("fullDocument"));
    }

    #[test]
    fn drops_renames_and_invalidations_end_the_stream_and_others_are_skipped() {
        for (operation, what) in [
            ("drop", Some("dropped")),
            ("rename", Some("renamed")),
            ("dropDatabase", Some("dropped with its database")),
            ("invalidate", Some("invalidated")),
            ("update", None),
        ] {
            let classified = classify(&raw(doc! { "operationType": operation }), now());
            match what {
                Some(what) => assert_eq!(classified, ChangeEvent::CollectionGone(what)),
                None => assert_eq!(classified, ChangeEvent::Other),
            }
        }
    }
}
