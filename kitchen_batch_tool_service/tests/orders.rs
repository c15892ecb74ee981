//! One order's path through the kitchen: gRPC in, PostgreSQL, console, Server-Sent Events out.

mod common;

use common::{WAIT, item, numbered_order, order_id_of, sample_order, start};
use grpc_clients::SendError;
use std::time::Duration;

const SAMPLE_BLOCK: &str = "\
================================================================================
📦 NEW ORDER RECEIVED
================================================================================
Order ID: 67adcfdc15da8840bc9673bd
Otter Order ID: 019c52aa-1232-307c-b56d-1a3af34b458c
Brand: Desayuna
Source: mongodb_changestream
Timestamp: 2025-02-13T10:56:27.756Z
Items (3):
--------------------------------------------------------------------------------
Burger Plancha Station:
  • Grilled Chicken Sandwich (Qty: 2)
  • Classic Burger (Qty: 1)
Salad Station:
  • Caesar Salad (Qty: 1)
================================================================================";

const SAMPLE_JSON: &str = r#"{"order_id":"67adcfdc15da8840bc9673bd","otter_order_id":"019c52aa-1232-307c-b56d-1a3af34b458c","brand_name":"Desayuna","items":[{"name":"Grilled Chicken Sandwich","station":"Burger Plancha Station","quantity":2},{"name":"Classic Burger","station":"Burger Plancha Station","quantity":1},{"name":"Caesar Salad","station":"Salad Station","quantity":1}],"timestamp":"2025-02-13T10:56:27.756Z"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_new_order_is_answered_printed_and_streamed() {
    let kitchen = start();
    let ping = reqwest::get(kitchen.url("/ping")).await.unwrap();
    assert!(ping.status().is_success());

    let mut screen = kitchen.events("", None).await;
    let response = kitchen.client().send_order(sample_order()).await.unwrap();
    assert!(response.success);
    assert_eq!(response.order_id, "67adcfdc15da8840bc9673bd");
    assert_eq!(response.message, "Order received");
    let processed_at = chrono::DateTime::parse_from_rfc3339(&response.processed_at).unwrap();
    assert_eq!(processed_at.offset().local_minus_utc(), 0);
    assert!(response.processed_at.ends_with('Z'));

    let event = screen.next_message(WAIT).await.expect("an event");
    // The design's fields, in its order, then when the kitchen stored the order.
    let design_fields = SAMPLE_JSON.strip_suffix('}').unwrap();
    assert!(event.data.starts_with(design_fields), "{}", event.data);
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
    let received_at = data["received_at"].as_str().expect("received_at");
    let received_at = chrono::DateTime::parse_from_rfc3339(received_at).unwrap();
    assert!(
        (chrono::Utc::now() - received_at.to_utc())
            .num_seconds()
            .abs()
            < 60
    );
    assert_eq!(
        event.event, None,
        "no event: field, so EventSource.onmessage gets it"
    );
    let id: i64 = event.id.expect("an id").parse().expect("a numeric id");
    assert!(id > 0);

    assert!(
        kitchen
            .process()
            .wait_for_stdout(|lines| lines.join("\n").contains(SAMPLE_BLOCK), WAIT)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_order_is_acknowledged_but_not_printed_or_streamed_again() {
    let kitchen = start();
    let mut screen = kitchen.events("", None).await;
    let client = kitchen.client();

    let first = client.send_order(numbered_order("dup-1")).await.unwrap();
    let again = client.send_order(numbered_order("dup-1")).await.unwrap();
    assert_eq!(first.message, "Order received");
    assert!(again.success);
    assert!(
        again.message.contains("already received"),
        "{}",
        again.message
    );
    client
        .send_order(numbered_order("after-dup"))
        .await
        .unwrap();

    let events = screen.take(2, WAIT).await;
    let ids: Vec<_> = events
        .iter()
        .map(|event| order_id_of(&event.data))
        .collect();
    assert_eq!(ids, ["dup-1", "after-dup"]);
    assert!(kitchen.wait_printed(&["after-dup"]));
    assert_eq!(kitchen.printed_count("dup-1"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_order_is_rejected_naming_the_field_and_leaves_no_trace() {
    let kitchen = start();
    let mut screen = kitchen.events("", None).await;
    let client = kitchen.client();

    let mut no_id = numbered_order("");
    no_id.order_id.clear();
    let error = client.send_order(no_id).await.unwrap_err();
    assert!(
        matches!(&error, SendError::Rejected(message) if message.contains("order_id")),
        "{error}"
    );

    let mut zero = numbered_order("zero-quantity");
    zero.order_items[1].quantity = 0;
    let error = client.send_order(zero).await.unwrap_err();
    assert!(
        matches!(&error, SendError::Rejected(message) if message.contains("order_items[1].quantity")),
        "{error}"
    );

    let mut no_items = numbered_order("no-items");
    no_items.order_items.clear();
    assert!(matches!(
        client.send_order(no_items).await,
        Err(SendError::Rejected(_))
    ));

    let mut no_station = numbered_order("no-station");
    no_station.order_items = vec![item("Burger", "", 1)];
    assert!(matches!(
        client.send_order(no_station).await,
        Err(SendError::Rejected(_))
    ));

    client.send_order(numbered_order("valid")).await.unwrap();
    let event = screen.next_message(WAIT).await.unwrap();
    assert_eq!(order_id_of(&event.data), "valid");
    assert!(kitchen.wait_printed(&["valid"]));
    assert_eq!(kitchen.printed_count("zero-quantity"), 0);

    // Nothing invalid was stored: a replay of everything holds only the valid order.
    let mut replay = kitchen.events("?last_event_id=0", None).await;
    let event = replay.next_message(WAIT).await.unwrap();
    assert_eq!(order_id_of(&event.data), "valid");
    assert!(
        replay
            .next_message(Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_station_filter_streams_only_that_stations_items() {
    let kitchen = start();
    let mut salad_screen = kitchen.events("?station=Salad%20Station", None).await;
    let client = kitchen.client();
    client.send_order(numbered_order("no-salad")).await.unwrap();
    client.send_order(sample_order()).await.unwrap();

    let event = salad_screen.next_message(WAIT).await.unwrap();
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["order_id"], "67adcfdc15da8840bc9673bd");
    assert_eq!(
        data["items"],
        serde_json::json!([{"name": "Caesar Salad", "station": "Salad Station", "quantity": 1}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_last_event_id_is_a_bad_request() {
    let kitchen = start();
    let response = reqwest::Client::new()
        .get(kitchen.url("/orders/events"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_request_is_a_rejection_the_sender_does_not_retry() {
    let kitchen = start();
    let mut huge = numbered_order("huge");
    huge.brand_name = "b".repeat(5 << 20);
    let error = kitchen.client().send_order(huge).await.unwrap_err();
    assert!(
        matches!(&error, SendError::Rejected(message) if message.contains("too large")),
        "{error}"
    );
    // The kitchen goes on.
    kitchen
        .client()
        .send_order(numbered_order("normal"))
        .await
        .unwrap();
    assert!(kitchen.wait_printed(&["normal"]));
    assert_eq!(kitchen.printed_count("huge"), 0);
}
