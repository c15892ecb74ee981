//! Many orders, many screens, restarts and slow screens: every screen gets every order once, in
//! order.

mod common;

use common::{WAIT, numbered_order, order_id_of, start, start_with};
use futures::StreamExt;
use test_support::Kitchen;
use test_support::{SseClient, SseMessage};

/// Sends `ids` with `in_flight` requests at a time and checks every answer.
async fn send_all(kitchen: &Kitchen, ids: &[String], in_flight: usize) {
    let client = kitchen.client();
    futures::stream::iter(ids.iter().cloned())
        .map(|id| {
            let client = client.clone();
            async move { client.send_order(numbered_order(&id)).await }
        })
        .buffer_unordered(in_flight)
        .for_each(|response| async move {
            assert!(response.expect("order accepted").success);
        })
        .await;
}

fn event_ids(messages: &[SseMessage]) -> Vec<i64> {
    messages
        .iter()
        .map(|message| {
            message
                .id
                .as_deref()
                .expect("id")
                .parse()
                .expect("numeric id")
        })
        .collect()
}

/// Asserts that `screen` received exactly the orders `expected`, once each, with increasing ids.
async fn assert_receives_all(screen: &mut SseClient, expected: &[String]) {
    let messages = screen.take(expected.len(), WAIT).await;
    let mut received: Vec<String> = messages.iter().map(|m| order_id_of(&m.data)).collect();
    let ids = event_ids(&messages);
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "event ids out of order"
    );
    assert_eq!(received.len(), expected.len(), "orders missing");
    received.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(received, expected, "each order exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_orders_reach_every_subscriber_in_order() {
    let kitchen = start_with(&[("PRINT_ORDERS", "false")]);
    let mut screens = Vec::new();
    for _ in 0..4 {
        screens.push(kitchen.events("", None).await);
    }
    let ids: Vec<String> = (0..1000).map(|n| format!("bulk-{n:04}")).collect();
    send_all(&kitchen, &ids, 32).await;
    for screen in &mut screens {
        assert_receives_all(screen, &ids).await;
    }
    // The order of ids is the order of storage, which every screen shares.
}

#[tokio::test(flavor = "multi_thread")]
async fn screens_that_fall_behind_catch_up_from_the_database() {
    // A 16-event buffer with 64 orders in flight: commits of many orders at once overflow it, so
    // every screen falls behind and must be caught up from PostgreSQL.
    let kitchen = start_with(&[("SSE_BUFFER", "16"), ("PRINT_ORDERS", "false")]);
    let mut screens = Vec::new();
    for _ in 0..3 {
        screens.push(kitchen.events("", None).await);
    }
    let ids: Vec<String> = (0..600).map(|n| format!("lag-{n:04}")).collect();
    send_all(&kitchen, &ids, 64).await;
    for screen in &mut screens {
        assert_receives_all(screen, &ids).await;
    }
    assert!(
        kitchen
            .process()
            .stderr()
            .iter()
            .any(|line| line.contains("catching up from the database")),
        "no screen fell behind, so the catch-up path was not exercised"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_after_a_restart_replays_everything_missed() {
    let mut kitchen = start();
    let client = kitchen.client();

    let mut screen = kitchen.events("", None).await;
    client.send_order(numbered_order("seen")).await.unwrap();
    let seen = screen.next_message(WAIT).await.unwrap();
    assert_eq!(order_id_of(&seen.data), "seen");
    let last_event_id = seen.id.unwrap();
    drop(screen);

    // Missed while the screen is away, before and after a restart of the service.
    client.send_order(numbered_order("missed-1")).await.unwrap();
    client.send_order(numbered_order("missed-2")).await.unwrap();
    // A screen still connected must not hold up the graceful shutdown: its stream is ended.
    let mut connected_screen = kitchen.events("", None).await;
    kitchen.restart();
    while connected_screen.next_message(WAIT).await.is_some() {}
    client.send_order(numbered_order("missed-3")).await.unwrap();

    let mut screen = kitchen.events("", Some(&last_event_id)).await;
    let replayed = screen.take(3, WAIT).await;
    let order_ids: Vec<_> = replayed.iter().map(|m| order_id_of(&m.data)).collect();
    assert_eq!(order_ids, ["missed-1", "missed-2", "missed-3"]);

    // And it goes on live after the replay, without repeating anything.
    client.send_order(numbered_order("live")).await.unwrap();
    let live = screen.next_message(WAIT).await.unwrap();
    assert_eq!(order_id_of(&live.data), "live");
    let ids = event_ids(&[replayed, vec![live]].concat());
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(ids[0] > last_event_id.parse::<i64>().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_arriving_during_a_replay_are_neither_lost_nor_doubled() {
    let kitchen = start_with(&[("PRINT_ORDERS", "false")]);
    let early: Vec<String> = (0..1500).map(|n| format!("early-{n:04}")).collect();
    send_all(&kitchen, &early, 64).await;

    // Replay from the start while more orders keep arriving.
    let late: Vec<String> = (0..500).map(|n| format!("late-{n:04}")).collect();
    let sender = {
        let late = late.clone();
        let client = kitchen.client();
        tokio::spawn(async move {
            for id in late {
                client.send_order(numbered_order(&id)).await.unwrap();
            }
        })
    };
    let mut screen = kitchen.events("?last_event_id=0", None).await;
    sender.await.unwrap();
    let all: Vec<String> = early.into_iter().chain(late).collect();
    assert_receives_all(&mut screen, &all).await;
    let ids_in_order: Vec<String> = screen
        .take(1, std::time::Duration::from_millis(300))
        .await
        .into_iter()
        .map(|m| m.data)
        .collect();
    assert!(
        ids_in_order.is_empty(),
        "an extra event arrived: {ids_in_order:?}"
    );
}
