//! Documents of unusual shape: `_id`s of any BSON type, and documents far larger than what
//! extraction reads. (A document the driver cannot decode is covered by the listener's unit tests:
//! SecantusDB refuses invalid UTF-8 at insert, so no such event can be made here.)

use crate::support::{KitchenChecks, Stack, assert_each_once, event_order_ids, numbered_order};
use mongodb::bson::{Bson, Document, RawDocumentBuf};

/// `7`, `"7"` and `NumberLong(8)` are three documents, so three orders: the number's order id is
/// its typed form, which no string can take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_of_different_types_are_different_orders() {
    let stack = Stack::start().await;
    for id in [Bson::Int32(7), Bson::String("7".into()), Bson::Int64(8)] {
        let mut order = numbered_order(0);
        order.insert("_id", id);
        stack.insert(order).await;
    }
    let events = stack.kitchen().stored_events(3).await;
    let expected: Vec<String> = [r#"{"_id":7}"#, "7", r#"{"_id":8}"#]
        .map(str::to_owned)
        .to_vec();
    assert_each_once(&event_order_ids(&events), &expected);
    stack.kitchen().assert_printed_once(&expected).await;
}

/// A document of almost 16 MB (MongoDB's limit for one document) whose change event, with the
/// event's own fields, would exceed that limit: the order arrives, and so does the next one. On
/// MongoDB the stream's `$project` (of the fields extraction reads) is what keeps the event under
/// the limit; SecantusDB does not enforce the limit on events, so there the test shows only that
/// such a document is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_near_the_size_limit_is_delivered() {
    let stack = Stack::start().await;
    let mut huge = numbered_order(0);
    let room = 16 * 1024 * 1024 - 1_024;
    huge.insert("Notes", "n".repeat(room - bson_size(&huge)));
    let huge_id = stack.insert(huge).await;
    let next_id = stack.insert(numbered_order(1)).await;
    let ids: Vec<String> = [huge_id, next_id]
        .iter()
        .map(|id| id.as_object_id().unwrap().to_hex())
        .collect();
    let events = stack.kitchen().stored_events(2).await;
    assert_each_once(&event_order_ids(&events), &ids);
}

fn bson_size(document: &Document) -> usize {
    RawDocumentBuf::from_document(document)
        .unwrap()
        .as_bytes()
        .len()
}
