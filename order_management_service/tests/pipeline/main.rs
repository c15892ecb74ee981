//! End-to-end tests of the order pipeline: MongoDB change stream -> order management service ->
//! gRPC -> the real kitchen (PostgreSQL, stdout, SSE). Each test has its own servers and
//! database; see `support.rs` for what runs and where the binaries come from.

mod demo_feed;
mod documents;
mod positions;
mod security;
mod standby;
mod support;

use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ChangeStreamOptions;
use serde_json::{Value, json};
use support::{
    CHECKPOINTS, DEAD_LETTER, KitchenChecks, OrderService, Stack, assert_each_once,
    design_test_order, event_order_id, event_order_ids, eventually, numbered_order,
};
use test_support::{Scraped, SseClient};

/// The design's test order: the kitchen prints the block, screens receive the exact JSON, the
/// service logs `Order sent successfully` and stores its checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_design_test_order_reaches_the_kitchen_console_and_screens() {
    let stack = Stack::start().await;
    let mut screen = SseClient::connect(&stack.kitchen().url("/orders/events"), None)
        .await
        .expect("open the kitchen's event stream");
    // The test watches too, to learn the insert's wall time, which becomes the order's timestamp.
    let mut watch = stack
        .orders()
        .watch()
        .with_options(ChangeStreamOptions::default())
        .await
        .expect("watch");

    let id = stack.insert(design_test_order()).await;
    let order_id = id.as_object_id().unwrap().to_hex();
    let event = tokio::time::timeout(support::WAIT, async {
        loop {
            if let Some(event) = watch.next_if_any().await.expect("change stream") {
                return event;
            }
        }
    })
    .await
    .expect("the test's own change event in time");
    let inserted_at = event
        .wall_time
        .unwrap_or_else(|| id.as_object_id().unwrap().timestamp());
    let timestamp = inserted_at
        .try_to_rfc3339_string()
        .map(|text| iso_millis(&text))
        .unwrap();

    let message = screen
        .next_message(support::WAIT)
        .await
        .expect("the screen receives the order");
    let mut data: Value = serde_json::from_str(&message.data).expect("JSON data");
    // The design's fields, and when the kitchen stored the order (for the screens' ageing).
    let received_at = data
        .as_object_mut()
        .and_then(|fields| fields.remove("received_at"));
    assert!(
        received_at.as_ref().is_some_and(Value::is_string),
        "{received_at:?}"
    );
    assert_eq!(
        data,
        json!({
            "order_id": order_id,
            "otter_order_id": "test-order-123",
            "brand_name": "Test Restaurant",
            "items": [
                { "name": "Burger", "station": "Grill Station", "quantity": 2 },
                { "name": "Hot Dog", "station": "Grill Station", "quantity": 1 },
                { "name": "French Fries", "station": "Fryer Station", "quantity": 3 },
            ],
            "timestamp": timestamp,
        })
    );

    let block = [
        format!("Order ID: {order_id}"),
        "Otter Order ID: test-order-123".into(),
        "Brand: Test Restaurant".into(),
        "Source: mongodb_changestream".into(),
        format!("Timestamp: {timestamp}"),
        "Items (3):".into(),
        "-".repeat(80),
        "Grill Station:".into(),
        "  • Burger (Qty: 2)".into(),
        "  • Hot Dog (Qty: 1)".into(),
        "Fryer Station:".into(),
        "  • French Fries (Qty: 3)".into(),
        "=".repeat(80),
    ];
    let printed = eventually("the kitchen to print the order", || async {
        let stdout = stack.kitchen().stdout();
        stdout
            .windows(block.len())
            .any(|window| window == block)
            .then_some(())
    })
    .await;
    let () = printed;

    eventually("the service to log the acknowledgement", || async {
        (OrderService::sent_count(&stack.service.log(), &order_id) == 1).then_some(())
    })
    .await;
    let checkpoint = eventually("the checkpoint after the acknowledgement", || async {
        stack
            .database
            .collection::<Document>(CHECKPOINTS)
            .find_one(doc! { "_id": "order_management_service", "last_order_id": &order_id })
            .await
            .expect("read the checkpoint")
    })
    .await;
    assert!(
        checkpoint.get_document("resume_token").is_ok(),
        "{checkpoint}"
    );

    let ping = reqwest::get(stack.service.url("/ping")).await.unwrap();
    assert_eq!(ping.status(), 200);
    let (status, health) = stack.service.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["listener"]["state"], "watching");
    assert_eq!(health["counters"]["orders_sent"], 1);
    assert!(health["checkpoint_age_ms"].is_i64(), "{health}");
    assert!(health["lag_ms"].is_i64(), "{health}");
    assert_eq!(health["last_event_at"], json!(timestamp));

    // The same counters on /metrics, in the OpenMetrics text format, on both services: what a
    // Prometheus scrape reads.
    let metrics = reqwest::get(stack.service.url("/metrics")).await.unwrap();
    assert_eq!(
        metrics.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let sender = Scraped::fetch(&stack.service.url("/metrics"))
        .await
        .unwrap();
    for (name, expected) in [
        ("order_management_insert_events_total", 1.0),
        ("order_management_orders_sent_total", 1.0),
        ("order_management_delivery_seconds_count", 1.0),
        ("order_management_delivery_retries_total", 0.0),
    ] {
        assert_eq!(
            sender.value(name, &[]),
            Some(expected),
            "{name} in:\n{}",
            sender.text
        );
    }
    let kitchen = Scraped::fetch(&stack.kitchen().url("/metrics"))
        .await
        .unwrap();
    for (name, labels, expected) in [
        ("kitchen_orders_received_total", &[][..], 1.0),
        ("kitchen_orders_stored_total", &[], 1.0),
        (
            "kitchen_send_order_seconds_count",
            &[("answer", "stored")],
            1.0,
        ),
        ("kitchen_orders_printed_total", &[], 1.0),
    ] {
        assert_eq!(
            kitchen.value(name, labels),
            Some(expected),
            "{name} in:\n{}",
            kitchen.text
        );
    }

    // SIGTERM: a clean, prompt exit.
    let mut stack = stack;
    assert_eq!(
        stack.service.process_mut().terminate(support::WAIT),
        Some(0)
    );
}

/// With `LOG_FORMAT=json` each service writes one JSON object a line; the lines about an order
/// carry its id, and both services log the same trace id for it: the order service starts the
/// trace and sends it as the call's `traceparent`, the kitchen continues it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_json_log_lines_carry_its_id_and_one_trace_id_on_both_services() {
    let stack = Stack::start_with_env(&[("LOG_FORMAT", "json")]).await;
    let inserted = stack.insert_numbered(7, 1).await;
    let order_id = inserted[0].as_str();
    stack.kitchen().assert_printed_once(&inserted).await;

    // Every line of both logs is a JSON object.
    let lines_about = |log: Vec<String>| -> Vec<Value> {
        log.iter()
            .map(|line| {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"))
            })
            .filter(|line| line["order_id"] == order_id || line["span"]["order_id"] == order_id)
            .collect()
    };
    let sender = eventually("the service to log the acknowledgement", || async {
        let lines = lines_about(stack.service.log());
        lines
            .iter()
            .any(|line| line["message"] == "Order sent successfully")
            .then_some(lines)
    })
    .await;
    let kitchen = eventually("the kitchen to log the order", || async {
        let lines = lines_about(stack.kitchen().process().stderr());
        lines
            .iter()
            .any(|line| line["message"] == "order stored")
            .then_some(lines)
    })
    .await;
    let trace_ids = |lines: &[Value]| -> Vec<String> {
        lines
            .iter()
            .map(|line| {
                line["span"]["trace_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a line about the order without its trace: {line}"))
                    .to_owned()
            })
            .collect()
    };
    let sender_traces = trace_ids(&sender);
    let kitchen_traces = trace_ids(&kitchen);
    let trace_id = &sender_traces[0];
    assert_eq!(trace_id.len(), 32, "{trace_id}");
    assert!(sender_traces.iter().all(|id| id == trace_id), "{sender:#?}");
    assert!(
        kitchen_traces.iter().all(|id| id == trace_id),
        "the kitchen continues the sender's trace {trace_id}: {kitchen:#?}"
    );
    for line in sender.iter().chain(&kitchen) {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
}

/// SIGTERM when MongoDB has stopped answering (stopped before the service, as a careless
/// supervisor does): the service gives up its last save and exits 0 within its shutdown bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_mongodb_gone_exits_zero_within_the_bound() {
    let mut stack = Stack::start_with_env(&[("SHUTDOWN_TIMEOUT_SECS", "4")]).await;
    let inserted = stack.insert_numbered(1, 3).await;
    stack.kitchen().assert_printed_once(&inserted).await;
    if !stack.mongo.stop_answering() {
        eprintln!("skipped: the shared MONGO_TEST_URI server cannot be stopped by a test");
        return;
    }
    let started = std::time::Instant::now();
    let code = stack.service.process_mut().terminate(support::WAIT);
    let took = started.elapsed();
    stack.mongo.answer_again();
    assert_eq!(
        code,
        Some(0),
        "a clean exit; the log:\n{}",
        stack.service.log().join("\n")
    );
    assert!(
        took < std::time::Duration::from_secs(8),
        "SIGTERM took {took:?} with a 4 s bound"
    );
}

/// `2025-02-13T10:56:27.756+00:00` or `…Z` -> `2025-02-13T10:56:27.756Z`.
fn iso_millis(rfc3339: &str) -> String {
    let time = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    time.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Orders inserted while the kitchen is down wait in the stream; once it is back they all arrive,
/// each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_inserted_while_the_kitchen_is_down_arrive_once() {
    let mut stack = Stack::start().await;
    stack.kitchen_mut().kill();

    let ids = stack.insert_numbered(0, 100).await;
    let health = stack
        .service
        .wait_health(
            "delivery retrying while the kitchen is down",
            |status, body| {
                status == 503
                    && body["listener"]["state"] == "retrying"
                    && body["listener"]["reason"]
                        .as_str()
                        .is_some_and(|reason| reason.contains("delivering order"))
            },
        )
        .await;
    assert_eq!(health["counters"]["orders_sent"], 0, "{health}");

    stack.kitchen_mut().spawn();
    let events = stack.kitchen().stored_events(ids.len()).await;
    let delivered: Vec<String> = events.iter().map(event_order_id).collect();
    assert_each_once(&delivered, &ids);

    stack
        .service
        .wait_health("watching again", |status, body| {
            status == 200 && body["counters"]["orders_sent"] == 100
        })
        .await;
    stack.kitchen().assert_printed_once(&ids).await;
    // Each acknowledgement is logged (the counter may run a moment ahead of the log's pipe).
    let log = eventually("a log line for every acknowledgement", || async {
        let log = stack.service.log();
        ids.iter()
            .all(|id| OrderService::sent_count(&log, id) > 0)
            .then_some(log)
    })
    .await;
    for id in &ids {
        assert_eq!(
            OrderService::sent_count(&log, id),
            1,
            "acknowledged once: {id}"
        );
    }
}

/// A crash (SIGKILL) in the middle of the stream loses nothing and doubles nothing: the restarted
/// service resumes after its checkpoint, including orders inserted while it was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_resumes_after_its_checkpoint() {
    let mut stack = Stack::start().await;
    let mut ids = stack.insert_numbered(0, 60).await;
    let checkpointed = eventually("a checkpoint past some orders", || async {
        let checkpoint = stack.checkpoint().await?;
        let last = checkpoint.get_str("last_order_id").ok()?;
        ids.iter().position(|id| id == last)
    })
    .await;
    stack.service.kill();
    // The checkpoint as the kill left it (a save may have landed after the read above).
    let checkpoint = stack.checkpoint().await.expect("a checkpoint");
    let last = checkpoint.get_str("last_order_id").expect("last_order_id");
    let checkpointed = ids.iter().position(|id| id == last).unwrap_or(checkpointed);
    ids.extend(stack.insert_numbered(60, 40).await);

    stack.service.spawn().await;
    let events = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&events), &ids);
    stack.kitchen().assert_printed_once(&ids).await;
    // The restart resumed after the checkpoint: nothing it covers was sent again.
    let log = stack.service.log();
    let resent: Vec<&String> = ids[..=checkpointed]
        .iter()
        .filter(|id| OrderService::sent_count(&log, id) > 0)
        .collect();
    assert!(
        resent.is_empty(),
        "orders up to the checkpoint ({last}) sent again: {resent:?}"
    );
    for id in &ids[checkpointed + 1..] {
        assert!(
            OrderService::sent_count(&log, id) <= 1,
            "{id} acknowledged once after the restart"
        );
    }
}

/// Documents that cannot become orders (or that the kitchen rejects) go to the dead letter with
/// the reason; the orders around them are delivered in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_documents_are_dead_lettered_and_the_stream_goes_on() {
    let stack = Stack::start().await;
    let item = |quantity: Bson| doc! { "OwnStationName": "Grill Station", "OrderItems": [ { "Name": "Burger", "Quantity": quantity } ] };
    let malformed: Vec<(Document, &str)> = vec![
        (
            doc! { "OtterOrderId": "m1", "BrandName": "B" },
            "StationOrders is missing",
        ),
        (
            doc! { "OtterOrderId": "m2", "StationOrders": [ item(Bson::String("lots".into())) ] },
            "Quantity must be a whole number",
        ),
        (
            doc! { "OtterOrderId": "m3", "StationOrders": [ { "OwnStationName": "Grill Station", "OrderItems": [ { "Quantity": 1 } ] } ] },
            "Name is missing",
        ),
        (
            doc! { "OtterOrderId": "m4", "StationOrders": [ item(Bson::Int32(0)) ] },
            "out of range",
        ),
        // Beyond the kitchen's limit: refused at the source, never sent.
        (
            doc! { "OtterOrderId": "m5", "StationOrders": [ item(Bson::Int32(20_000)) ] },
            "Quantity 20000 is out of range (1..=10000)",
        ),
        // A number written as text is not a quantity.
        (
            doc! { "OtterOrderId": "m6", "StationOrders": [ item(Bson::String("3".into())) ] },
            r#"Quantity must be a whole number (int32, int64 or a whole double), got "3""#,
        ),
    ];
    let mut valid_ids = Vec::new();
    let mut dead_ids = Vec::new();
    for (n, (document, _)) in malformed.iter().enumerate() {
        valid_ids.push(stack.insert(numbered_order(n)).await);
        dead_ids.push(stack.insert(document.clone()).await);
    }
    // Every numeric type a quantity may have.
    let untidy = doc! {
        "OtterOrderId": "untidy",
        "BrandName": "Test Brand",
        "Extra": { "ignored": true },
        "StationOrders": [ { "OwnStationName": "Grill Station", "OrderItems": [
            { "Name": "A", "Quantity": 4_i64 },
            { "Name": "B", "Quantity": 2.0 },
            { "Name": "C", "Quantity": 3 },
        ] } ],
    };
    valid_ids.push(stack.insert(untidy).await);
    let valid_ids: Vec<String> = valid_ids
        .iter()
        .map(|id| id.as_object_id().unwrap().to_hex())
        .collect();

    let events = stack.kitchen().stored_events(valid_ids.len()).await;
    let delivered: Vec<String> = events.iter().map(event_order_id).collect();
    assert_each_once(&delivered, &valid_ids);
    let untidy = events
        .iter()
        .find(|event| event_order_id(event) == *valid_ids.last().unwrap())
        .unwrap();
    let untidy: Value = serde_json::from_str(&untidy.data).unwrap();
    let quantities: Vec<i64> = untidy["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["quantity"].as_i64().unwrap())
        .collect();
    assert_eq!(quantities, [4, 2, 3]);

    for (id, (_, reason)) in dead_ids.iter().zip(&malformed) {
        assert_dead_lettered(&stack, id, reason).await;
    }
    let (status, health) = stack.service.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["counters"]["orders_dead_lettered"], 6, "{health}");
    assert_eq!(health["counters"]["orders_sent"], 7, "{health}");
}

/// Waits for the dead-letter entry of the document `id` and checks it: its order id, a reason
/// containing `reason`, its time; the kitchen never printed the order, and the service logged an
/// error for it. Returns the entry.
async fn assert_dead_lettered(stack: &Stack, id: &Bson, reason: &str) -> Document {
    let order_id = id.as_object_id().expect("an ObjectId").to_hex();
    let dead_letters = stack.database.collection::<Document>(DEAD_LETTER);
    let entry = eventually("the dead-letter entry", || async {
        dead_letters
            .find_one(doc! { "_id": id.clone() })
            .await
            .expect("read the dead letter")
    })
    .await;
    assert_eq!(entry.get_str("order_id").unwrap(), order_id);
    assert!(
        entry.get_str("reason").unwrap().contains(reason),
        "{entry} should say {reason:?}"
    );
    assert!(entry.get_datetime("dead_lettered_at").is_ok(), "{entry}");
    assert_eq!(stack.kitchen().printed_count(&order_id), 0);
    // The error is logged once the entry is written: wait for it rather than race it.
    let field = format!("order_id={order_id}");
    eventually(&format!("an error logged for {order_id}"), || async {
        stack
            .service
            .log()
            .iter()
            .any(|line| line.contains("ERROR") && line.contains(&field))
            .then_some(())
    })
    .await;
    entry
}

/// A NUL in an item name, in the middle of one `insert_many` batch: extraction refuses it naming
/// the field, and the order is dead-lettered instead of being retried forever. The 20 valid
/// orders around it arrive, and so does an order inserted after the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_an_item_name_is_dead_lettered_and_the_batch_around_it_arrives() {
    let stack = Stack::start().await;
    let mut batch: Vec<Document> = (0..20).map(numbered_order).collect();
    let poisoned_at = batch.len() / 2;
    batch.insert(
        poisoned_at,
        doc! {
            "OtterOrderId": "nul",
            "BrandName": "Test Brand",
            "StationOrders": [ { "OwnStationName": "Grill Station", "OrderItems": [
                { "Name": "Caesar\u{0}Salad", "Quantity": 1 },
            ] } ],
        },
    );
    let inserted = stack
        .orders()
        .insert_many(&batch)
        .await
        .expect("insert the batch")
        .inserted_ids;
    let hex = |index: usize| {
        inserted[&index]
            .as_object_id()
            .expect("an ObjectId")
            .to_hex()
    };
    let mut valid_ids: Vec<String> = (0..batch.len())
        .filter(|index| *index != poisoned_at)
        .map(hex)
        .collect();
    assert_eq!(valid_ids.len(), 20);

    let events = stack.kitchen().stored_events(valid_ids.len()).await;
    let delivered: Vec<String> = events.iter().map(event_order_id).collect();
    assert_each_once(&delivered, &valid_ids);
    let entry = assert_dead_lettered(
        &stack,
        &inserted[&poisoned_at],
        "StationOrders[0].OrderItems[0].Name must not contain control characters (found U+0000 at byte 6)",
    )
    .await;
    assert_eq!(
        entry.get_str("rejected_by").unwrap(),
        "extraction",
        "{entry}"
    );

    // The stream goes on after the batch.
    valid_ids.extend(stack.insert_numbered(20, 1).await);
    let events = stack.kitchen().stored_events(valid_ids.len()).await;
    let delivered: Vec<String> = events.iter().map(event_order_id).collect();
    assert_each_once(&delivered, &valid_ids);
    stack.kitchen().assert_printed_once(&valid_ids).await;
    let health = stack
        .service
        .wait_health("every order handled", |status, body| {
            status == 200 && body["counters"]["orders_sent"] == 21
        })
        .await;
    assert_eq!(health["counters"]["orders_dead_lettered"], 1, "{health}");
}

/// getMore failures injected with `failCommand`, resumable (the driver resumes) and not (the
/// service reopens the stream after its backoff), lose no order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_get_mores_are_resumed_without_losing_orders() {
    let stack = Stack::start().await;
    let _fail_points = stack.exclusive_fail_points().await;
    let mut ids = stack.insert_numbered(0, 3).await;
    // Resumable: network-like errors the driver resumes after by itself.
    stack
        .fail_commands(
            Bson::Document(doc! { "times": 2 }),
            doc! { "failCommands": ["getMore"], "errorCode": 6, "errorLabels": ["ResumableChangeStreamError"] },
        )
        .await;
    ids.extend(stack.insert_numbered(3, 3).await);
    let delivered = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&delivered), &ids);

    // Not resumable by the driver: the service reopens the stream after its checkpoint.
    stack
        .fail_commands(
            Bson::Document(doc! { "times": 1 }),
            doc! { "failCommands": ["getMore"], "errorCode": 2 },
        )
        .await;
    stack
        .service
        .wait_health("the reopened stream", |status, body| {
            status == 200 && body["counters"]["stream_errors"].as_u64() >= Some(1)
        })
        .await;
    ids.extend(stack.insert_numbered(6, 3).await);
    let delivered = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&delivered), &ids);
    stack.kitchen().assert_printed_once(&ids).await;
    stack.fail_commands_off().await;
}

/// History lost (code 286): the listener stops, `/health` answers 503 with the reason, an error
/// is logged and counted, and the process stays up for the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_history_turns_health_to_503_with_the_reason() {
    let mut stack = Stack::without_kitchen().await;
    let _fail_points = stack.exclusive_fail_points().await;
    stack
        .fail_commands(
            Bson::Document(doc! { "times": 1 }),
            doc! { "failCommands": ["getMore"], "errorCode": 286 },
        )
        .await;
    let health = stack
        .service
        .wait_health("the listener stopped", |status, body| {
            status == 503 && body["listener"]["state"] == "stopped"
        })
        .await;
    let reason = health["listener"]["reason"].as_str().unwrap();
    assert!(reason.contains("history lost"), "{reason}");
    assert_eq!(health["counters"]["unrecoverable_errors"], 1, "{health}");
    eventually("an error logged", || async {
        stack
            .service
            .log()
            .iter()
            .any(|line| line.contains("ERROR") && line.contains("history lost"))
            .then_some(())
    })
    .await;
    // It stays stopped (no quiet retry loop) and the process stays up.
    let (status, health) = stack.service.health().await;
    assert_eq!(
        (status, health["counters"]["stream_errors"].as_u64()),
        (503, Some(0))
    );
    assert_eq!(stack.service.process_mut().try_exit_code(), None);
}

/// A dropped orders collection: the listener stops, and `/health` answers 503 with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_collection_turns_health_to_503_with_the_reason() {
    let stack = Stack::without_kitchen().await;
    stack
        .orders()
        .drop()
        .await
        .expect("drop the orders collection");
    let health = stack
        .service
        .wait_health("the listener stopped", |status, body| {
            status == 503 && body["listener"]["state"] == "stopped"
        })
        .await;
    let reason = health["listener"]["reason"].as_str().unwrap();
    assert!(reason.contains("dropped"), "{reason}");
    assert_eq!(health["counters"]["unrecoverable_errors"], 1, "{health}");
}

/// While the orders collection is quiet but the oplog moves (other collections are written), the
/// stored position moves too, and the service resumes from it after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_collection_still_moves_the_checkpoint() {
    let mut stack = Stack::start().await;
    let first = stack
        .checkpoint()
        .await
        .expect("the first start stores its position");
    let first_token = first.get("resume_token").cloned();
    let other = stack.database.collection::<Document>("not_orders");
    eventually("the checkpoint to move while orders are quiet", || async {
        other
            .insert_one(doc! { "noise": 1 })
            .await
            .expect("write elsewhere");
        let now = stack.checkpoint().await?;
        (now.get("resume_token").cloned() != first_token).then_some(())
    })
    .await;
    stack.service.kill();
    let ids = stack.insert_numbered(0, 2).await;
    stack.service.spawn().await;
    let delivered = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&delivered), &ids);
}

/// `--start-at` reads the stream again from a point in time: orders the kitchen already has are
/// answered "already received" and not shown twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_replays_from_a_point_in_time_without_doubling() {
    let mut stack = Stack::start().await;
    let before = chrono::Utc::now() - chrono::TimeDelta::seconds(2);
    let ids = stack.insert_numbered(0, 3).await;
    let delivered = stack.kitchen().stored_events(ids.len()).await;
    assert_each_once(&event_order_ids(&delivered), &ids);

    stack.service.kill();
    let start_at = before.to_rfc3339();
    stack
        .service
        .spawn_with_args(&["--start-at", &start_at])
        .await;
    eventually("the replayed orders to be acknowledged again", || async {
        let log = stack.service.log();
        ids.iter()
            .all(|id| {
                log.iter().any(|line| {
                    line.contains("Order sent successfully")
                        && line.contains(&format!("order_id={id}"))
                        && line.contains("already received")
                })
            })
            .then_some(())
    })
    .await;
    stack.kitchen().assert_printed_once(&ids).await;
}

/// A bad value or an unreachable MongoDB: one clear error and a non-zero exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_exits_non_zero_with_one_clear_error() {
    let binary = env!("CARGO_BIN_EXE_order_management_service");
    // Runs the service until it exits; returns its exit code and whether its stderr says `says`.
    let run = |env: Vec<(&'static str, String)>, says: &str| {
        let mut process = test_support::ServiceProcess::spawn(binary, &[], &env).expect("spawn");
        let code = process.wait_exit(support::WAIT).expect("the service exits");
        // Its output is read on another thread: wait for it.
        let said = process.wait_for_stderr(
            |lines| lines.iter().any(|line| line.contains(says)),
            support::WAIT,
        );
        (code, said, process.stderr().join("\n"))
    };
    let closed_port = test_support::free_port();
    let base = |uri: String, db: &str| {
        vec![
            ("MONGO_URI", uri),
            ("MONGO_DB", db.to_owned()),
            (
                "HTTP_ADDR",
                format!("127.0.0.1:{}", test_support::free_port()),
            ),
            ("MONGO_CONNECT_TIMEOUT_MS", "300".to_owned()),
            ("NO_COLOR", "1".to_owned()),
        ]
    };

    let (code, said, stderr) = run(base("localhost:27017".into(), "shop"), "--mongo-uri");
    assert_eq!((code, said), (Some(2), true), "{stderr}");
    assert!(stderr.contains("mongodb://"), "{stderr}");

    let mut env = base(
        format!("mongodb://127.0.0.1:{closed_port}/?directConnection=true"),
        "shop",
    );
    env.push(("GRPC_DEADLINE_MS", "0".into()));
    let (code, said, stderr) = run(env, "--grpc-deadline-ms");
    assert_eq!((code, said), (Some(2), true), "{stderr}");

    let (code, said, stderr) = run(
        base(
            format!("mongodb://127.0.0.1:{closed_port}/?directConnection=true"),
            "shop",
        ),
        "error: cannot reach MongoDB",
    );
    assert_eq!((code, said), (Some(1), true), "{stderr}");
}
