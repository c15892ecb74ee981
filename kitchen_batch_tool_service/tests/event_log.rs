//! PostgreSQL is the event log: several instances on one database, commits whose outcome is
//! unknown, a database that stops answering, crashes and shutdowns never cost a screen an order.

mod common;

use common::{KitchenDatabase, WAIT, numbered_order, order_id_of, start, start_on, start_with};
use futures::StreamExt;
use grpc_clients::{OrderClient, SendError};
use order_service_proto::order_service::v1::OrderRequest;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use test_support::{FaultProxy, Kitchen, SseMessage};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn event_id(message: &SseMessage) -> i64 {
    message
        .id
        .as_deref()
        .expect("an id")
        .parse()
        .expect("a numeric id")
}

/// Asserts that `messages` are the orders `expected`, each once, with increasing event ids.
fn assert_exactly(messages: &[SseMessage], expected: &BTreeSet<String>) {
    let ids: Vec<i64> = messages.iter().map(event_id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "event ids out of order: {ids:?}"
    );
    let received: Vec<String> = messages.iter().map(|m| order_id_of(&m.data)).collect();
    let unique: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(unique.len(), received.len(), "an order arrived twice");
    assert_eq!(&unique, expected, "orders missing or unexpected");
}

/// Sends `order` until the kitchen acknowledges it, as the order service does.
async fn send_until_acknowledged(client: &OrderClient, order: OrderRequest) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match client.send_order(order.clone()).await {
            Ok(response) => {
                assert!(response.success);
                return;
            }
            Err(error) if error.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("order {} not accepted: {error}", order.order_id),
        }
    }
}

async fn grpc_health(kitchen: &Kitchen) -> Option<ServingStatus> {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", kitchen.grpc_port))
            .ok()?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(2))
            .connect()
            .await
            .ok()?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "order_service.v1.OrderService".into(),
        })
        .await
        .ok()?;
    Some(response.into_inner().status())
}

/// Waits until the gRPC health is `status` and `/health` answers `http_status`; false on
/// timeout.
async fn wait_health(
    kitchen: &Kitchen,
    status: ServingStatus,
    http_status: u16,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let http = reqwest::Client::new()
            .get(kitchen.url("/health"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map(|response| response.status().as_u16());
        if grpc_health(kitchen).await == Some(status) && http.ok() == Some(http_status) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_database_stream_every_order_to_every_screen() {
    let database = KitchenDatabase::start();
    let mut first = start_on(&database, &[]);
    let second = start_on(&database, &[]);
    let mut screens = Vec::new();
    for kitchen in [&first, &second, &first, &second] {
        screens.push(kitchen.events("", None).await);
    }

    // Sent to both instances alternately, many at a time, so that their commits interleave.
    let ids: Vec<String> = (0..400).map(|n| format!("shared-{n:03}")).collect();
    let clients = [first.client(), second.client()];
    futures::stream::iter(ids.iter().enumerate())
        .map(|(n, id)| {
            let client = clients[n % 2].clone();
            async move { client.send_order(numbered_order(id)).await }
        })
        .buffer_unordered(32)
        .for_each(|answer| async move {
            assert!(answer.expect("order accepted").success);
        })
        .await;
    let expected: BTreeSet<String> = ids.iter().cloned().collect();
    let mut seen = Vec::new();
    for screen in &mut screens {
        let messages = screen.take(ids.len(), WAIT).await;
        assert_exactly(&messages, &expected);
        seen.push(messages);
    }
    assert_eq!(
        seen[0], seen[1],
        "every screen sees the one log, in one order"
    );

    // Each instance prints what it received, once, and nothing else.
    let to_first: Vec<&str> = ids.iter().step_by(2).map(String::as_str).collect();
    let to_second: Vec<&str> = ids.iter().skip(1).step_by(2).map(String::as_str).collect();
    assert!(first.wait_printed(&to_first) && second.wait_printed(&to_second));
    for (n, id) in ids.iter().enumerate() {
        let (mine, other) = if n % 2 == 0 {
            (&first, &second)
        } else {
            (&second, &first)
        };
        assert_eq!(
            mine.printed_count(id),
            1,
            "{id} printed once by its instance"
        );
        assert_eq!(other.printed_count(id), 0, "{id} not printed by the other");
    }

    // One instance dies; its screens reconnect to the other from where they were.
    let resume_after = &seen[0][199];
    first.kill();
    let later: Vec<String> = (0..50).map(|n| format!("later-{n:02}")).collect();
    for id in &later {
        second
            .client()
            .send_order(numbered_order(id))
            .await
            .unwrap();
    }
    let mut moved = second
        .events("", Some(resume_after.id.as_deref().unwrap()))
        .await;
    let expected: BTreeSet<String> = seen[0][200..]
        .iter()
        .map(|message| order_id_of(&message.data))
        .chain(later.iter().cloned())
        .collect();
    let messages = moved.take(expected.len(), WAIT).await;
    assert_exactly(&messages, &expected);
    assert!(event_id(&messages[0]) > event_id(resume_after));
    assert!(
        moved
            .next_message(Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_last_event_id_beyond_the_log_resets_the_screen_and_it_goes_on_live() {
    let kitchen = start();
    let client = kitchen.client();
    client.send_order(numbered_order("before")).await.unwrap();
    let mut replay = kitchen.events("?last_event_id=0", None).await;
    let stored = replay.next_message(WAIT).await.expect("the stored order");

    // An id from another database: far beyond anything this one holds.
    let mut screen = kitchen.events("", Some("999999999999999999")).await;
    let reset = screen.next_message(WAIT).await.expect("a reset event");
    assert_eq!(reset.event.as_deref(), Some("reset"));
    let data: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
    assert_eq!(data["last_event_id"], 999999999999999999_i64);
    assert_eq!(
        reset.id.as_deref(),
        stored.id.as_deref(),
        "the stream continues after the log's end"
    );

    client.send_order(numbered_order("after")).await.unwrap();
    let live = screen.next_message(WAIT).await.expect("the next order");
    assert_eq!(order_id_of(&live.data), "after");
    assert_eq!(live.event, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_whose_commit_outcome_was_lost_still_reaches_the_screens_once() {
    let database = KitchenDatabase::start();
    let proxy = FaultProxy::start(database.postgres.port())
        .await
        .expect("start the proxy");
    let through_proxy = format!("postgres://postgres@127.0.0.1:{}/kitchen", proxy.port());
    let kitchen = Kitchen::start_on(
        common::BINARY,
        database,
        &[("DATABASE_URL", &through_proxy)],
    );
    let mut screen = kitchen.events("", None).await;
    let client = kitchen.client();

    // The answer to the statement that stores this order is lost after PostgreSQL committed it.
    let order_id = "in-doubt-7f3a91";
    proxy.lose_answer_to(order_id.as_bytes());
    let error = client
        .send_order(numbered_order(order_id))
        .await
        .expect_err("the kitchen cannot know whether it stored the order");
    assert!(
        matches!(&error, SendError::Transient { .. }),
        "a retry must be asked for: {error}"
    );
    assert!(proxy.fault_happened());

    let event = screen.next_message(WAIT).await.expect("the stored order");
    assert_eq!(order_id_of(&event.data), order_id);
    let retried = client.send_order(numbered_order(order_id)).await.unwrap();
    assert!(retried.message.contains("already received"), "{retried:?}");
    client.send_order(numbered_order("next")).await.unwrap();
    let next = screen.next_message(WAIT).await.expect("the next order");
    assert_eq!(order_id_of(&next.data), "next");
    assert!(kitchen.wait_printed(&[order_id, "next"]));
    assert_eq!(kitchen.printed_count(order_id), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_stops_answering_is_reported_and_nothing_is_lost() {
    let kitchen = start_with(&[("DATABASE_TIMEOUT_SECS", "2")]);
    assert!(
        wait_health(&kitchen, ServingStatus::Serving, 200, WAIT).await,
        "serving at start"
    );
    let mut screen = kitchen.events("", None).await;
    let ids: Vec<String> = (0..60).map(|n| format!("stall-{n:02}")).collect();
    let sender = {
        let client = kitchen.client();
        let ids = ids.clone();
        tokio::spawn(async move {
            for id in ids {
                send_until_acknowledged(&client, numbered_order(&id)).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    kitchen.database.postgres.signal_all("STOP").unwrap();
    let stopped_at = Instant::now();
    let reported = wait_health(
        &kitchen,
        ServingStatus::NotServing,
        503,
        Duration::from_secs(10),
    )
    .await;
    let body: serde_json::Value = serde_json::from_str(
        &reqwest::get(kitchen.url("/health"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(stopped_at.elapsed())).await;
    kitchen.database.postgres.signal_all("CONT").unwrap();
    assert!(reported, "health still serving with the database stopped");
    assert_eq!(body["status"], "unavailable", "{body}");
    let reasons = body["components"].to_string();
    assert!(reasons.contains("did not answer"), "{body}");

    assert!(
        wait_health(&kitchen, ServingStatus::Serving, 200, WAIT).await,
        "serving again once the database answers"
    );
    tokio::time::timeout(Duration::from_secs(120), sender)
        .await
        .expect("every order is acknowledged")
        .unwrap();
    let messages = screen.take(ids.len(), WAIT).await;
    assert_exactly(&messages, &ids.iter().cloned().collect());
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert!(kitchen.wait_printed(&id_refs));
    for id in &ids {
        assert_eq!(kitchen.printed_count(id), 1, "{id} printed once");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_the_kitchen_within_its_bound_despite_a_screen_that_stopped_reading() {
    let mut kitchen = start_with(&[("SHUTDOWN_TIMEOUT_SECS", "3"), ("PRINT_ORDERS", "false")]);
    // A screen that asks for the whole log and then never reads.
    let mut stuck = std::net::TcpStream::connect(("127.0.0.1", kitchen.http_port)).unwrap();
    std::io::Write::write_all(
        &mut stuck,
        b"GET /orders/events?last_event_id=0 HTTP/1.1\r\nHost: kitchen\r\n\r\n",
    )
    .unwrap();
    // About 8 kB of event per order: far more than the socket buffers hold.
    let big = |id: &str| {
        let mut order = numbered_order(id);
        order.order_items = (0..20)
            .map(|n| common::item(&format!("{n:03}{}", "x".repeat(190)), &"s".repeat(200), 1))
            .collect();
        order
    };
    let client = kitchen.client();
    futures::stream::iter(0..2_000)
        .map(|n| {
            let client = client.clone();
            let order = big(&format!("big-{n:04}"));
            async move { client.send_order(order).await }
        })
        .buffer_unordered(32)
        .for_each(|answer| async move {
            answer.expect("order accepted");
        })
        .await;
    // A live screen that keeps reading is ended by the shutdown too.
    let mut reading = kitchen.events("", None).await;

    let started = Instant::now();
    let code = kitchen.terminate(Duration::from_secs(20));
    let took = started.elapsed();
    assert_eq!(code, Some(0), "a clean exit");
    assert!(
        took < Duration::from_secs(8),
        "SIGTERM took {took:?} with a 3 s bound"
    );
    // It may still be receiving the last orders; then its stream ends.
    let drained = tokio::time::timeout(WAIT, async {
        while reading.next_message(WAIT).await.is_some() {}
    })
    .await;
    assert!(drained.is_ok(), "the reading screen's stream did not end");
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_committed_but_not_printed_are_printed_once_at_the_next_start() {
    let database = KitchenDatabase::start();
    let mut grill = start_on(&database, &[("INSTANCE_ID", "grill")]);
    let before: Vec<String> = (0..10).map(|n| format!("before-{n}")).collect();
    for id in &before {
        grill.client().send_order(numbered_order(id)).await.unwrap();
    }
    let before_refs: Vec<&str> = before.iter().map(String::as_str).collect();
    assert!(grill.wait_printed(&before_refs));
    assert_eq!(grill.terminate(WAIT), Some(0));

    // Committed under grill's name while its console is not running: as if grill had crashed
    // between the commit and the print.
    let mut stand_in = start_on(
        &database,
        &[("INSTANCE_ID", "grill"), ("PRINT_ORDERS", "false")],
    );
    let missed: Vec<String> = (0..20).map(|n| format!("missed-{n}")).collect();
    for id in &missed {
        stand_in
            .client()
            .send_order(numbered_order(id))
            .await
            .unwrap();
    }
    assert_eq!(stand_in.terminate(WAIT), Some(0));
    assert_eq!(stand_in.printed_orders(), 0);

    grill.spawn();
    let missed_refs: Vec<&str> = missed.iter().map(String::as_str).collect();
    assert!(
        grill.wait_printed(&missed_refs),
        "the missed orders are printed"
    );
    grill
        .client()
        .send_order(numbered_order("after"))
        .await
        .unwrap();
    assert!(grill.wait_printed(&["after"]));
    for id in before.iter().chain(&missed) {
        assert_eq!(grill.printed_count(id), 1, "{id} printed once");
    }
    assert_eq!(grill.printed_orders(), before.len() + missed.len() + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_stored_before_a_crash_mid_burst_are_all_printed() {
    let mut kitchen = start();
    let client = kitchen.client();
    let ids: Vec<String> = (0..400).map(|n| format!("crash-{n:03}")).collect();
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sending = {
        let (client, ids, acknowledged) = (client.clone(), ids.clone(), acknowledged.clone());
        tokio::spawn(async move {
            futures::stream::iter(ids)
                .map(|id| {
                    let client = client.clone();
                    async move { client.send_order(numbered_order(&id)).await }
                })
                .buffer_unordered(64)
                .for_each(|answer| {
                    if answer.is_ok() {
                        acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    async {}
                })
                .await;
        })
    };
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 150 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    kitchen.kill();
    sending.await.unwrap();
    kitchen.spawn();

    // Whatever was stored, whether or not its sender heard back, is printed (a crash in the
    // moment between printing and recording it may print an order twice).
    let mut replay = kitchen.events("?last_event_id=0", None).await;
    let mut stored = Vec::new();
    while let Some(message) = replay.next_message(Duration::from_secs(2)).await {
        stored.push(order_id_of(&message.data));
    }
    assert!(stored.len() >= 150, "{} stored", stored.len());
    let stored_refs: Vec<&str> = stored.iter().map(String::as_str).collect();
    assert!(
        kitchen.wait_printed(&stored_refs),
        "a stored order was never printed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_the_kitchen_within_its_bound_while_a_replay_waits_for_the_database() {
    let mut kitchen = start_with(&[
        ("SHUTDOWN_TIMEOUT_SECS", "3"),
        ("DATABASE_TIMEOUT_SECS", "30"),
    ]);
    kitchen
        .client()
        .send_order(numbered_order("stored"))
        .await
        .unwrap();
    // After a restart the in-memory window is empty: a replay must read PostgreSQL.
    kitchen.restart();
    kitchen.database.postgres.signal_all("STOP").unwrap();
    let replaying = kitchen.events("?last_event_id=0", None).await;

    let started = Instant::now();
    let code = kitchen.terminate(Duration::from_secs(20));
    let took = started.elapsed();
    kitchen.database.postgres.signal_all("CONT").unwrap();
    assert_eq!(code, Some(0), "a clean exit");
    assert!(
        took < Duration::from_secs(8),
        "SIGTERM took {took:?} with a 3 s bound"
    );
    drop(replaying);
}
