//! Several instances on one consumer: one holds the lease and watches, the others stand by and
//! take over when it dies; a paused instance that lost its lease cannot move the position back.

use crate::support::{
    CHECKPOINTS, KitchenChecks, ORDERS, OrderService, Stack, assert_each_once, event_order_ids,
    eventually, numbered_order,
};
use mongodb::bson::{Document, doc};
use serde_json::Value;
use std::time::{Duration, Instant};
use test_support::unique_name;

/// A second instance of the stack's service (same database and consumer, its own HTTP port and
/// so its own instance id), waited for until it stands by.
async fn start_standby(stack: &Stack) -> OrderService {
    let standby = OrderService::launch(
        &stack.mongo.uri_with_app_name(&unique_name("oms-standby")),
        stack.database.name(),
        &stack.kitchen().grpc_target(),
    )
    .await;
    standby
        .wait_health("the second instance to stand by", |status, body| {
            status == 200 && body["role"] == "standby" && body["listener"]["state"] == "standby"
        })
        .await;
    standby
}

fn is_active(status: u16, body: &Value) -> bool {
    status == 200 && body["role"] == "active" && body["listener"]["state"] == "watching"
}

/// Inserts `count` orders from `from`, one every 5 ms, in a task; returns their ids in order.
fn insert_steadily(
    stack: &Stack,
    from: usize,
    count: usize,
) -> tokio::task::JoinHandle<Vec<String>> {
    let orders = stack.database.collection::<Document>(ORDERS);
    tokio::spawn(async move {
        let mut ids = Vec::with_capacity(count);
        for n in from..from + count {
            let id = orders
                .insert_one(numbered_order(n))
                .await
                .expect("insert an order")
                .inserted_id;
            ids.push(id.as_object_id().expect("an ObjectId").to_hex());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ids
    })
}

/// SIGKILL of the active instance mid-stream: the standby takes over within 10 s (the lease's
/// time to live is 6 s), and every order reaches the kitchen exactly once in effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_when_the_active_instance_is_killed() {
    let mut stack = Stack::start().await;
    let (status, body) = stack.service.health().await;
    assert!(is_active(status, &body), "{body}");
    let standby = start_standby(&stack).await;

    let inserting = insert_steadily(&stack, 0, 400);
    eventually("some orders to reach the kitchen", || async {
        (stack.kitchen().printed_orders() >= 50).then_some(())
    })
    .await;
    stack.service.kill();
    let killed_at = Instant::now();
    standby
        .wait_health("the standby to take over", is_active)
        .await;
    let takeover = killed_at.elapsed();
    assert!(
        takeover < Duration::from_secs(10),
        "took over {takeover:?} after the kill"
    );
    let ids = inserting.await.expect("the inserting task");

    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);
    stack.kitchen().assert_printed_once(&ids).await;
}

/// The active instance is paused (SIGSTOP) past its lease: the standby takes over and delivers.
/// Resumed, the old instance finds its lease gone and stands by, and the stored position is the
/// new holder's. (That a write under an older lease is refused is shown by the checkpoint
/// store's own tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_instance_that_lost_its_lease_stands_by() {
    let mut stack = Stack::start().await;
    let standby = start_standby(&stack).await;
    let mut ids = stack.insert_numbered(0, 20).await;
    eventually("the first orders to reach the kitchen", || async {
        (stack.kitchen().printed_orders() >= 20).then_some(())
    })
    .await;

    assert!(stack.service.process_mut().signal("STOP"));
    standby
        .wait_health("the standby to take over", is_active)
        .await;
    ids.extend(stack.insert_numbered(20, 20).await);
    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);

    assert!(stack.service.process_mut().signal("CONT"));
    stack
        .service
        .wait_health("the resumed instance to stand by", |status, body| {
            status == 200 && body["role"] == "standby"
        })
        .await;
    let (status, body) = standby.health().await;
    assert!(
        is_active(status, &body),
        "the new holder stays active: {body}"
    );
    ids.extend(stack.insert_numbered(40, 5).await);
    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);
    stack.kitchen().assert_printed_once(&ids).await;

    let leases = stack.database.collection::<Document>("order_stream_leases");
    let lease = leases
        .find_one(doc! { "_id": "order_management_service" })
        .await
        .unwrap()
        .expect("the lease");
    let checkpoint = eventually("the checkpoint under the new lease", || async {
        let checkpoint = stack
            .database
            .collection::<Document>(CHECKPOINTS)
            .find_one(doc! { "_id": "order_management_service" })
            .await
            .unwrap()?;
        (checkpoint.get_i64("lease_token").ok() == lease.get_i64("token").ok())
            .then_some(checkpoint)
    })
    .await;
    assert!(checkpoint.get_str("last_order_id").is_ok(), "{checkpoint}");
}
