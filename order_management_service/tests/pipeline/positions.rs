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

/// History lost (code 286, injected while the service was down): `/health` names the backfill
/// command with the lost checkpoint's time. `backfill --since` that time re-sends the orders the
/// stream can no longer give, then follows the stream, and every order arrives exactly once in
/// effect, including those inserted after the backfill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_after_lost_history_resends_the_missing_orders_then_follows_the_stream() {
    let mut stack = Stack::start().await;
    let _fail_points = stack.exclusive_fail_points().await;
    let mut ids = stack.insert_numbered(0, 5).await;
    stack.kitchen().assert_printed_once(&ids).await;
    stack
        .service
        .wait_health("the checkpoint past the first orders", |_, body| {
            body["counters"]["checkpoints_saved"].as_u64() >= Some(2)
        })
        .await;
    stack.service.kill();
    ids.extend(stack.insert_numbered(5, 10).await);
    stack
        .fail_commands(
            Bson::Document(doc! { "times": 1 }),
            doc! { "failCommands": ["aggregate"], "errorCode": 286 },
        )
        .await;
    stack.service.spawn_unready();
    let health = stack
        .service
        .wait_health("the listener stopped on lost history", |status, body| {
            status == 503 && body["listener"]["state"] == "stopped"
        })
        .await;
    stack.fail_commands_off().await;
    let reason = health["listener"]["reason"].as_str().unwrap().to_owned();
    let since = reason
        .split_once("backfill --since ")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(since, _)| since.to_owned())
        .unwrap_or_else(|| panic!("the reason names the backfill command: {reason}"));
    stack.service.kill();

    stack
        .service
        .spawn_with_args(&["backfill", "--since", &since])
        .await;
    ids.extend(stack.insert_numbered(15, 5).await);
    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);
    stack.kitchen().assert_printed_once(&ids).await;
    assert!(
        stack
            .service
            .log()
            .iter()
            .any(|line| line.contains("backfill done")),
        "the backfill reports its end"
    );
}
