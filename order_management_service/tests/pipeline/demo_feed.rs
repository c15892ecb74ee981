//! The demo feed (`tools/dev/simulate`, the `simulate` crate) against the real stack: every order
//! it reports inserted reaches the kitchen exactly once, as it was generated.

use crate::support::{KitchenChecks, Stack, assert_each_once, event_order_ids};
use mongodb::bson::oid::ObjectId;
use serde_json::{Value, json};
use simulate::{FeedConfig, FeedObserver, RateCurve, SimulatedOrder, run_feed};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Default)]
struct Recorder {
    inserted: Vec<(ObjectId, SimulatedOrder)>,
    failed: Vec<String>,
}

impl FeedObserver for Recorder {
    fn inserted(&mut self, id: ObjectId, order: &SimulatedOrder) {
        self.inserted.push((id, order.clone()));
    }
    fn failed(&mut self, id: ObjectId, _order: &SimulatedOrder, error: &str) {
        self.failed.push(format!("{id}: {error}"));
    }
}

/// A four-second lunch rush (about 48 orders, peaking at 20/s) through MongoDB, the order
/// service and the kitchen: the kitchen stores and prints each reported order once, with the
/// brand, Otter id and items the feed generated, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_of_a_lunch_rush_feed_reaches_the_kitchen_as_generated() {
    let stack = Stack::start().await;
    let config = FeedConfig {
        curve: RateCurve::LunchRush {
            base_per_second: 4.0,
            peak_per_second: 20.0,
            period: Duration::from_secs(4),
        },
        seed: 2026,
        duration: Some(Duration::from_secs(4)),
        insert_timeout: Duration::from_secs(5),
        give_up_after: Duration::from_secs(30),
        report_every: Duration::from_secs(1),
    };
    let mut recorder = Recorder::default();
    let report = run_feed(
        &stack.orders(),
        &config,
        std::future::pending(),
        &mut recorder,
    )
    .await
    .expect("the feed runs");
    assert_eq!(report.failed, 0, "{:?}", recorder.failed);
    assert!(report.inserted >= 20, "a rush, not a trickle: {report:?}");
    assert_eq!(recorder.inserted.len() as u64, report.inserted);

    let ids: Vec<String> = recorder
        .inserted
        .iter()
        .map(|(id, _)| id.to_hex())
        .collect();
    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);
    let generated: HashMap<String, &SimulatedOrder> = recorder
        .inserted
        .iter()
        .map(|(id, order)| (id.to_hex(), order))
        .collect();
    for event in &events {
        let data: Value = serde_json::from_str(&event.data).expect("JSON data");
        let order_id = data["order_id"].as_str().expect("order_id");
        let order = generated[order_id];
        let items: Vec<Value> = order
            .lines
            .iter()
            .map(|line| json!({ "name": line.name, "station": line.station, "quantity": line.quantity }))
            .collect();
        assert_eq!(data["brand_name"], order.brand_name, "{order_id}");
        assert_eq!(data["otter_order_id"], order.otter_order_id, "{order_id}");
        assert_eq!(data["items"], json!(items), "{order_id}");
    }
    stack.kitchen().assert_printed_once(&ids).await;
    assert_eq!(
        stack.kitchen().printed_orders(),
        ids.len(),
        "the kitchen printed the feed's orders and no other"
    );
}
