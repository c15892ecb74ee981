//! The stream's position: never lost, never moved past an order that was not handled.

use crate::support::{KitchenChecks, Stack, assert_each_once, event_order_ids};
use mongodb::bson::{Bson, doc};

/// A first start while checkpoint writes fail: `/health` says so, the starting position ("now")
/// is kept in memory, and the orders inserted meanwhile arrive once the writes work again.
/// (Were "now" taken again at each reopening, they would be skipped.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_keeps_its_position_while_checkpoint_writes_fail() {
    let stack = Stack::start_failing(
        Bson::String("alwaysOn".into()),
        doc! { "failCommands": ["update"], "errorCode": 2 },
    )
    .await;
    let health = stack
        .service
        .wait_health("checkpoint writes failing", |status, body| {
            status == 503
                && body["listener"]["state"] == "retrying"
                && body["listener"]["reason"]
                    .as_str()
                    .is_some_and(|reason| reason.contains("checkpoint"))
        })
        .await;
    assert_eq!(health["counters"]["checkpoints_saved"], 0, "{health}");
    let ids = stack.insert_numbered(0, 3).await;
    // Let the listener reopen the stream at least once while the writes still fail.
    stack
        .service
        .wait_health("a second failed attempt", |_, body| {
            body["counters"]["stream_errors"].as_u64() >= Some(2)
        })
        .await;
    stack.fail_commands_off().await;

    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);
    stack.kitchen().assert_printed_once(&ids).await;
    stack
        .service
        .wait_health("watching with a stored checkpoint", |status, body| {
            status == 200 && body["counters"]["checkpoints_saved"].as_u64() >= Some(1)
        })
        .await;
}
