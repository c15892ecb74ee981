//! The screen API against a real kitchen and its PostgreSQL, over real HTTP: snapshots, all-day
//! counts, bumps (one item, a ticket, a batch), hand-over, recall and undo, idempotent, streamed
//! as named events in the log's sequence, and usable from another origin when allowed.

mod common;

use common::*;
use order_service_proto::order_service::v1::OrderRequest;
use serde_json::{Value, json};
use std::time::Duration;
use test_support::sse::SseMessage;

const GRILL: &str = "Grill Station";
const FRYER: &str = "Fryer Station";

fn order(id: &str, brand: &str, minute: u32, items: &[(&str, &str, i32)]) -> OrderRequest {
    order_of(id, brand, minute, items)
}

/// Three orders, sent newest first: the snapshot sorts them by their own time.
async fn send_three(kitchen: &Kitchen) {
    let orders = [
        order("c", "Burger Kiosk", 3, &[("Hot Dog", GRILL, 1)]),
        order(
            "a",
            "Desayuna",
            1,
            &[("Burger", GRILL, 2), ("Fries", FRYER, 1)],
        ),
        order("b", "Burger Kiosk", 2, &[("Burger", GRILL, 1)]),
    ];
    for order in orders {
        kitchen.client().send_order(order).await.expect("stored");
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn of(kitchen: &Kitchen) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: kitchen.url(""),
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&response.text().await.unwrap()).unwrap(),
        )
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, value)
    }
}

/// The open quantity of `item` at `station` in the all-day counts (0 when absent).
fn all_day_quantity(all_day: &Value, station: &str, item: &str) -> i64 {
    all_day["stations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["station"] == station)
        .flat_map(|entry| entry["items"].as_array().unwrap().iter())
        .find(|entry| entry["name"] == item)
        .map_or(0, |entry| entry["quantity"].as_i64().unwrap())
}

fn data(message: &SseMessage) -> Value {
    serde_json::from_str(&message.data).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_bump_clears_the_item_on_every_open_ticket_and_streams_once() {
    let kitchen = start();
    let api = Api::of(&kitchen);
    let mut screen = kitchen.events("", None).await;
    send_three(&kitchen).await;
    let orders = screen.take(3, WAIT).await;
    assert_eq!(orders.len(), 3);

    let (status, snapshot) = api.get("/api/tickets").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = snapshot["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ticket| ticket["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b", "c"], "oldest first by the order's time");
    let last_order_id: i64 = orders[2].id.as_deref().unwrap().parse().unwrap();
    assert!(snapshot["last_event_id"].as_i64().unwrap() >= last_order_id);
    assert_eq!(snapshot["aging"]["warn_after_secs"], 300);
    assert_eq!(snapshot["tickets"][0]["items"][1]["station"], FRYER);
    assert_eq!(snapshot["tickets"][0]["items"][1]["done"], false);

    let (_, all_day) = api.get("/api/all-day").await;
    assert_eq!(all_day_quantity(&all_day, GRILL, "Burger"), 3);
    let burger = &all_day["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["station"] == GRILL)
        .unwrap()["items"][0];
    assert_eq!(
        burger["brands"],
        json!([{"brand_name": "Desayuna", "quantity": 2},
               {"brand_name": "Burger Kiosk", "quantity": 1}])
    );
    assert_eq!(burger["tickets"], 2);

    let batch = json!({"station": GRILL, "item": "Burger"});
    let (status, answer) = api
        .post("/api/batches/bump", Some("batch-1"), Some(batch.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    let change = &answer["change"];
    assert_eq!(change["kind"], "batch_bumped");
    assert_eq!(
        change["lines"],
        json!([{"order_id": "a", "position": 0}, {"order_id": "b", "position": 0}])
    );
    assert_eq!(change["done"], true);

    let event = screen
        .next_message(WAIT)
        .await
        .expect("the change is streamed");
    assert_eq!(event.event.as_deref(), Some("batch_bumped"));
    assert_eq!(event.id.as_deref().unwrap(), change["event_id"].to_string());
    assert_eq!(&data(&event), change, "the stream carries the answer");
    assert!(
        event.id.as_deref().unwrap().parse::<i64>().unwrap() > last_order_id,
        "in the same sequence, after the orders"
    );

    // A retry (the answer was lost) is answered the same and changes nothing again.
    let (status, again) = api
        .post("/api/batches/bump", Some("batch-1"), Some(batch.clone()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again, answer);
    let (status, reused) = api
        .post(
            "/api/batches/bump",
            Some("batch-1"),
            Some(json!({"station": GRILL, "item": "Hot Dog"})),
        )
        .await;
    assert_eq!(status, 422, "{reused}");
    let (_, all_day) = api.get(&format!("/api/all-day?station={GRILL}")).await;
    assert_eq!(all_day_quantity(&all_day, GRILL, "Burger"), 0);
    assert_eq!(all_day_quantity(&all_day, GRILL, "Hot Dog"), 1);
    assert_eq!(
        all_day["stations"].as_array().unwrap().len(),
        1,
        "one station"
    );
    let (status, none_left) = api.post("/api/batches/bump", None, Some(batch)).await;
    assert_eq!(status, 404, "{none_left}");

    // The undo reopens exactly what the batch bumped.
    let undo_path = format!("/api/changes/{}/undo", change["event_id"]);
    let (status, undone) = api.post(&undo_path, Some("undo-1"), None).await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(undone["change"]["kind"], "change_undone");
    assert_eq!(undone["change"]["undoes"], change["event_id"]);
    assert_eq!(undone["change"]["done"], false);
    assert_eq!(undone["change"]["lines"], change["lines"]);
    let event = screen
        .next_message(WAIT)
        .await
        .expect("the undo is streamed");
    assert_eq!(event.event.as_deref(), Some("change_undone"));
    let (_, all_day) = api.get("/api/all-day").await;
    assert_eq!(all_day_quantity(&all_day, GRILL, "Burger"), 3);
    let (status, twice) = api.post(&undo_path, None, None).await;
    assert_eq!((status, &twice["change"]), (200, &Value::Null), "{twice}");
    let undo_of_undo = format!("/api/changes/{}/undo", undone["change"]["event_id"]);
    assert_eq!(api.post(&undo_of_undo, None, None).await.0, 409);
    assert!(
        screen
            .next_message(Duration::from_millis(500))
            .await
            .is_none(),
        "nothing changed, nothing streamed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn items_and_tickets_are_bumped_handed_over_and_recalled() {
    let kitchen = start();
    let api = Api::of(&kitchen);
    send_three(&kitchen).await;

    let (status, bumped) = api
        .post("/api/orders/a/items/1/bump", Some("fries"), None)
        .await;
    assert_eq!(status, 200, "{bumped}");
    assert_eq!(bumped["change"]["kind"], "item_bumped");
    assert_eq!(
        bumped["change"]["lines"],
        json!([{"order_id": "a", "position": 1}])
    );
    let (status, again) = api.post("/api/orders/a/items/1/bump", None, None).await;
    assert_eq!((status, &again["change"]), (200, &Value::Null), "{again}");

    let (status, ticket) = api
        .post("/api/orders/a/bump", None, Some(json!({"station": GRILL})))
        .await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["change"]["kind"], "order_bumped");
    assert_eq!(ticket["change"]["station"], GRILL);
    let (_, recall) = api.get(&format!("/api/recall?station={GRILL}")).await;
    assert_eq!(recall["tickets"][0]["order_id"], "a", "{recall}");
    assert!(recall["tickets"][0]["bumped_at"].is_string());
    let (_, ready) = api.get("/api/orders/a").await;
    assert!(
        ready["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["done"] == true && item["done_at"].is_string())
    );

    let (status, handed) = api.post("/api/orders/a/hand-over", None, None).await;
    assert_eq!(status, 200, "{handed}");
    assert_eq!(handed["change"]["handed_over"], json!(["a"]));
    let (_, snapshot) = api.get("/api/tickets").await;
    let open: Vec<&str> = snapshot["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ticket| ticket["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["b", "c"], "a handed-over ticket leaves the boards");
    let (status, refused) = api.post("/api/orders/a/items/0/bump", None, None).await;
    assert_eq!(status, 409, "{refused}");
    let (_, expo) = api.get("/api/recall?view=expo").await;
    assert_eq!(expo["tickets"][0]["order_id"], "a");

    let (status, recalled) = api
        .post("/api/orders/a/recall", None, Some(json!({"expo": true})))
        .await;
    assert_eq!(status, 200, "{recalled}");
    assert_eq!(recalled["change"]["kind"], "order_recalled");
    let reopened = &recalled["change"]["reopened"][0];
    assert_eq!(reopened["order_id"], "a");
    assert_eq!(reopened["handed_over"], false);
    assert_eq!(
        reopened["items"][0]["done"], true,
        "back at expo, still ready"
    );
    let (status, to_grill) = api
        .post(
            "/api/orders/a/recall",
            None,
            Some(json!({"station": GRILL})),
        )
        .await;
    assert_eq!(status, 200, "{to_grill}");
    assert_eq!(
        to_grill["change"]["lines"],
        json!([{"order_id": "a", "position": 0}])
    );
    let (_, all_day) = api.get("/api/all-day").await;
    assert_eq!(all_day_quantity(&all_day, GRILL, "Burger"), 3);

    // Unknown and malformed requests.
    for (path, body, expected) in [
        ("/api/orders/nobody/items/0/bump", None, 404),
        ("/api/orders/a/items/9/bump", None, 404),
        ("/api/orders/a/items/first/bump", None, 400),
        (
            "/api/orders/a/bump",
            Some(json!({"station": "Pizza Oven"})),
            404,
        ),
        ("/api/orders/a/bump", Some(json!({"stattion": GRILL})), 400),
        ("/api/batches/bump", None, 400),
        ("/api/changes/12/undo", None, 404),
        ("/api/changes/twelve/undo", None, 400),
        (
            "/api/orders/a/recall",
            Some(json!({"expo": true, "station": GRILL})),
            400,
        ),
    ] {
        let (status, answer) = api.post(path, None, body).await;
        assert_eq!(status, expected, "{path}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|error| !error.is_empty())
        );
    }
    assert_eq!(api.get("/api/orders/nobody").await.0, 404);
    assert_eq!(api.get("/api/day?from=yesterday").await.0, 400);

    // The day so far: three orders received, and the tickets done at each station.
    let (status, day) = api.get("/api/day").await;
    assert_eq!(status, 200, "{day}");
    let hours = day["orders_per_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 25, "every hour the last 24 hours touch");
    let received: i64 = hours
        .iter()
        .map(|hour| hour["orders"].as_i64().unwrap())
        .sum();
    assert_eq!(received, 3);
    let fryer = day["ticket_times"]
        .as_array()
        .unwrap()
        .iter()
        .find(|station| station["station"] == FRYER)
        .expect("a ticket was done at the fryer");
    assert_eq!(fryer["tickets"], 1);
    assert!(fryer["median_secs"].as_f64().unwrap() >= 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_batch_bumps_bump_each_item_once() {
    let kitchen = start();
    let api = Api::of(&kitchen);
    for n in 0..40 {
        let id = format!("order-{n:02}");
        let order = order(&id, "Desayuna", 1, &[("Burger", GRILL, 1)]);
        kitchen.client().send_order(order).await.unwrap();
    }
    let batch = || {
        api.post(
            "/api/batches/bump",
            None,
            Some(json!({"station": GRILL, "item": "Burger"})),
        )
    };
    let (first, second, third) = tokio::join!(batch(), batch(), batch());
    let mut bumped = Vec::new();
    for (status, answer) in [first, second, third] {
        match status {
            200 => bumped.extend(answer["change"]["lines"].as_array().unwrap().clone()),
            404 => {}
            other => panic!("{other}: {answer}"),
        }
    }
    bumped.sort_by_key(|line| line["order_id"].as_str().unwrap().to_owned());
    bumped.dedup();
    assert_eq!(bumped.len(), 40, "every burger bumped exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_screen_replays_the_changes_with_the_orders_after_a_restart() {
    let mut kitchen = start();
    let api = Api::of(&kitchen);
    send_three(&kitchen).await;
    let (_, bumped) = api
        .post(
            "/api/batches/bump",
            None,
            Some(json!({"station": GRILL, "item": "Burger"})),
        )
        .await;
    api.post("/api/orders/c/hand-over", None, None).await;
    kitchen.restart();

    let mut replay = kitchen.events("?last_event_id=0", None).await;
    let messages = replay.take(5, WAIT).await;
    let kinds: Vec<&str> = messages
        .iter()
        .map(|message| message.event.as_deref().unwrap_or("order"))
        .collect();
    assert_eq!(
        kinds,
        [
            "order",
            "order",
            "order",
            "batch_bumped",
            "order_handed_over"
        ]
    );
    let ids: Vec<i64> = messages
        .iter()
        .map(|message| message.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    assert_eq!(&data(&messages[3]), &bumped["change"]);
    assert!(
        data(&messages[0])["received_at"].is_string(),
        "orders carry the time received"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_origin_may_use_the_stream_and_the_api_and_others_may_not() {
    let allowed = "http://127.0.0.1:3000";
    let kitchen = start_with(&[("CORS_ALLOWED_ORIGINS", allowed)]);
    let http = reqwest::Client::new();
    let allow_origin = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|value| value.to_str().unwrap().to_owned())
    };

    let stream = http
        .get(kitchen.url("/orders/events"))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&stream).as_deref(), Some(allowed));
    drop(stream);
    let preflight = http
        .request(reqwest::Method::OPTIONS, kitchen.url("/api/batches/bump"))
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(allow_origin(&preflight).as_deref(), Some(allowed));
    let allowed_headers = preflight
        .headers()
        .get("access-control-allow-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("idempotency-key"),
        "{allowed_headers}"
    );

    let other = http
        .get(kitchen.url("/api/tickets"))
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&other), None);

    let closed = start();
    let response = http
        .get(closed.url("/api/tickets"))
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&response), None, "off by default");
}
