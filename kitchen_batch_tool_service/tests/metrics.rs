//! `GET /metrics`: what an operator's Prometheus scrapes moves with the orders, the screens and
//! the ticket changes.

mod common;

use common::{WAIT, numbered_order, start};
use test_support::Scraped;

async fn scrape(kitchen: &test_support::Kitchen) -> Scraped {
    Scraped::fetch(&kitchen.url("/metrics"))
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

/// Scrapes until `ready` holds, at most [`WAIT`].
async fn scrape_until(
    kitchen: &test_support::Kitchen,
    what: &str,
    ready: impl Fn(&Scraped) -> bool,
) -> Scraped {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let scraped = scrape(kitchen).await;
        if ready(&scraped) {
            return scraped;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}; the metrics:\n{}",
            scraped.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_screens_and_changes_move_the_metrics() {
    let kitchen = start();
    let response = reqwest::get(kitchen.url("/metrics")).await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let before = scrape(&kitchen).await;
    assert_eq!(
        before.value("kitchen_orders_received_total", &[]),
        Some(0.0)
    );
    assert_eq!(before.value("kitchen_screens_connected", &[]), Some(0.0));

    let mut screen = kitchen.events("", None).await;
    let client = kitchen.client();
    client.send_order(numbered_order("m-1")).await.unwrap();
    client.send_order(numbered_order("m-1")).await.unwrap();
    let mut invalid = numbered_order("m-2");
    invalid.order_items.clear();
    client.send_order(invalid).await.unwrap_err();
    screen.next_message(WAIT).await.expect("the order streamed");
    assert!(kitchen.wait_printed(&["m-1"]));

    let after = scrape_until(&kitchen, "the order printed and streamed", |scraped| {
        scraped.count("kitchen_orders_printed_total", &[]) == 1.0
            && scraped.count("kitchen_sse_events_sent_total", &[]) >= 1.0
    })
    .await;
    for (name, labels, expected) in [
        ("kitchen_orders_received_total", &[][..], 3.0),
        ("kitchen_orders_stored_total", &[], 1.0),
        ("kitchen_orders_duplicate_total", &[], 1.0),
        ("kitchen_orders_unavailable_total", &[], 0.0),
        (
            "kitchen_orders_rejected_total",
            &[("reason", "invalid")],
            1.0,
        ),
        (
            "kitchen_orders_rejected_total",
            &[("reason", "refused_by_database")],
            0.0,
        ),
        (
            "kitchen_send_order_seconds_count",
            &[("answer", "stored")],
            1.0,
        ),
        (
            "kitchen_send_order_seconds_count",
            &[("answer", "duplicate")],
            1.0,
        ),
        (
            "kitchen_send_order_seconds_count",
            &[("answer", "rejected")],
            1.0,
        ),
        ("kitchen_screens_connected", &[], 1.0),
        ("kitchen_screen_connections_total", &[], 1.0),
        ("kitchen_sse_events_sent_total", &[], 1.0),
    ] {
        assert_eq!(
            after.value(name, labels),
            Some(expected),
            "{name}{labels:?} in:\n{}",
            after.text
        );
    }
    // The duplicate is found by the same kind of transaction, so at least the first one.
    assert!(after.count("kitchen_store_batch_orders_count", &[]) >= 1.0);
    assert!(after.count("kitchen_store_batch_orders_sum", &[]) >= 1.0);
    assert!(after.count("kitchen_store_commit_seconds_count", &[]) >= 1.0);

    let bumped = reqwest::Client::new()
        .post(kitchen.url("/api/orders/m-1/bump"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(
        bumped.status().is_success(),
        "{}",
        bumped.text().await.unwrap()
    );
    screen
        .next_message(WAIT)
        .await
        .expect("the change streamed");
    let changed = scrape_until(&kitchen, "the change streamed", |scraped| {
        scraped.count("kitchen_sse_events_sent_total", &[]) == 2.0
    })
    .await;
    assert_eq!(
        changed.value("kitchen_ticket_changes_total", &[("kind", "order_bumped")]),
        Some(1.0),
        "{}",
        changed.text
    );

    drop(screen);
    scrape_until(&kitchen, "the screen counted gone", |scraped| {
        scraped.count("kitchen_screens_connected", &[]) == 0.0
    })
    .await;
}
