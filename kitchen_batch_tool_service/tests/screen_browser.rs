//! The kitchen screen in a real headless Chromium (Debian's, through chromedriver) against the
//! real kitchen and its PostgreSQL: the page's own tests, new orders, a batch bump seen on a
//! second screen, a restart survived without a reload, and nothing loaded from elsewhere.

mod common;

use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use common::*;
use order_service_proto::order_service::v1::OrderRequest;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use test_support::Browser;

const GRILL: &str = "Grill Station";

fn order(id: &str, minute: u32, items: &[(&str, &str, i32)]) -> OrderRequest {
    order_of(id, "Desayuna", minute, items)
}

async fn browser() -> Browser {
    Browser::start_default().await.expect("start Chromium")
}

/// Opens `path` on the kitchen and waits until the page is live.
async fn open_live(browser: &Browser, kitchen: &Kitchen, path: &str) {
    browser.goto(&kitchen.url(path)).await.unwrap();
    wait_for_connection(browser, "live", WAIT).await;
}

async fn wait_for_connection(browser: &Browser, state: &str, timeout: Duration) {
    browser
        .wait_for_script(
            &format!(
                "document.querySelector('[data-testid=connection-state]')?.dataset.state === '{state}'"
            ),
            timeout,
        )
        .await
        .unwrap_or_else(|error| panic!("the page is not {state}: {error}"));
}

fn card(order_id: &str) -> String {
    format!("document.querySelector('[data-testid=card][data-order-id=\"{order_id}\"]')")
}

async fn wait_for_card(browser: &Browser, order_id: &str, timeout: Duration) {
    browser
        .wait_for_script(&format!("{} !== null", card(order_id)), timeout)
        .await
        .unwrap_or_else(|error| panic!("no card for {order_id}: {error}"));
}

/// The all-day quantity of `item` at `station` shown on the page, 0 when its row is gone.
fn all_day_quantity_script(station: &str, item: &str) -> String {
    format!(
        "Number(document.querySelector('[data-testid=all-day-row][data-station=\"{station}\"]\
         [data-item=\"{item}\"]')?.dataset.quantity ?? 0)"
    )
}

async fn assert_nothing_from_elsewhere(browser: &Browser, kitchen: &Kitchen) {
    let origin = kitchen.url("");
    let urls = browser.requested_urls().await.unwrap();
    assert!(urls.len() > 3, "the page and its modules: {urls:?}");
    let elsewhere: Vec<&String> = urls
        .iter()
        .filter(|url| !url.starts_with(&format!("{origin}/")))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requested off the kitchen's origin: {elsewhere:?}"
    );
    let errors = browser.javascript_errors().await.unwrap();
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");
}

/// The screen folder, where Cargo (the crate's folder) or Bazel (the runfiles) runs the test.
fn screen_folder() -> PathBuf {
    ["screen", "kitchen_batch_tool_service/screen"]
        .into_iter()
        .map(PathBuf::from)
        .find(|folder| folder.is_dir())
        .expect("the screen folder")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_own_tests_pass_in_chromium() {
    // The page's tests are not part of the kitchen: they are served from the folder here.
    let folder = screen_folder();
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::get(move |UrlPath(path): UrlPath<String>| {
            let folder = folder.clone();
            async move {
                if path.split('/').any(|part| part == "..") {
                    return StatusCode::NOT_FOUND.into_response();
                }
                let kind = match path.rsplit_once('.').map(|(_, ext)| ext) {
                    Some("html") => "text/html",
                    Some("js" | "mjs") => "text/javascript",
                    Some("css") => "text/css",
                    _ => "text/plain",
                };
                match tokio::fs::read(folder.join(&path)).await {
                    Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
                    Err(_) => StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let browser = browser().await;
    browser
        .goto(&format!("http://{address}/tests/index.html"))
        .await
        .unwrap();
    browser
        .wait_for_script("document.body.dataset.done === 'true'", WAIT)
        .await
        .expect("the tests finish");
    let results = browser
        .run_script("return window.testResults;", Vec::new())
        .await
        .unwrap();
    assert_eq!(results["failed"], 0, "{results}");
    assert!(results["passed"].as_u64().unwrap() >= 40, "{results}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_order_appears_within_a_second_of_its_answer() {
    let kitchen = start();
    let browser = browser().await;
    open_live(&browser, &kitchen, "/").await;

    let sent = order("first", 1, &[("Burger", GRILL, 2)]);
    kitchen.client().send_order(sent).await.expect("stored");
    let answered = Instant::now();
    wait_for_card(&browser, "first", Duration::from_secs(1)).await;
    let shown = answered.elapsed();
    assert!(
        shown < Duration::from_secs(1),
        "shown {shown:?} after the answer"
    );
    let text = browser
        .run_script(
            &format!("return {}.textContent;", card("first")),
            Vec::new(),
        )
        .await
        .unwrap();
    let text = text.as_str().unwrap();
    assert!(
        text.contains("Burger") && text.contains("Desayuna"),
        "{text}"
    );
    assert_nothing_from_elsewhere(&browser, &kitchen).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_bump_on_one_screen_updates_the_other() {
    let kitchen = start();
    for (id, minute, quantity) in [("a", 1, 2), ("b", 2, 3)] {
        let sent = order(
            id,
            minute,
            &[("Burger", GRILL, quantity), ("Fries", "Fryer Station", 1)],
        );
        kitchen.client().send_order(sent).await.unwrap();
    }
    let (grill, other) = tokio::join!(browser(), browser());
    open_live(&grill, &kitchen, "/?station=Grill%20Station").await;
    open_live(&other, &kitchen, "/").await;
    let burgers = all_day_quantity_script(GRILL, "Burger");
    for screen in [&grill, &other] {
        screen
            .wait_for_script(&format!("{burgers} === 5"), WAIT)
            .await
            .expect("5 burgers all day");
    }

    grill
        .click(&format!(
            "[data-testid=all-day-row][data-station=\"{GRILL}\"][data-item=\"Burger\"]"
        ))
        .await
        .unwrap();
    other
        .wait_for_script(&format!("{burgers} === 0"), WAIT)
        .await
        .expect("the other screen's all-day count drops");
    let burger_lines = other
        .run_script(
            "return [...document.querySelectorAll('[data-testid=item-line]')]\
               .filter((line) => line.textContent.includes('Burger'))\
               .map((line) => line.dataset.done);",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(burger_lines, serde_json::json!(["true", "true"]));
    let fries = other
        .run_script(
            &format!(
                "return {};",
                all_day_quantity_script("Fryer Station", "Fries")
            ),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(fries, 2, "other stations untouched");
    grill
        .wait_for_script(
            "!document.querySelector('[data-testid=undo-bar]')?.hidden",
            WAIT,
        )
        .await
        .expect("an undo is offered");
    let (status, all_day) = get_json(&kitchen, "/api/all-day?station=Grill%20Station").await;
    assert_eq!(status, 200);
    assert_eq!(
        all_day["stations"],
        serde_json::json!([]),
        "stored: {all_day}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restart_the_page_reconnects_and_shows_every_order_it_missed() {
    let database = KitchenDatabase::start();
    let mut first = start_on(&database, &[]);
    let second = start_on(&database, &[]);
    let browser = browser().await;
    open_live(&browser, &first, "/").await;
    first
        .client()
        .send_order(order("before", 1, &[("Burger", GRILL, 1)]))
        .await
        .unwrap();
    wait_for_card(&browser, "before", WAIT).await;
    browser
        .run_script("window.notReloaded = true; return true;", Vec::new())
        .await
        .unwrap();

    first.kill();
    browser
        .wait_for_script(
            "['reconnecting', 'offline'].includes(\
               document.querySelector('[data-testid=connection-state]').dataset.state)",
            WAIT,
        )
        .await
        .expect("the page says it is not live");
    // Stored meanwhile, through the other instance.
    for (id, minute) in [("while-down-1", 2), ("while-down-2", 3)] {
        second
            .client()
            .send_order(order(id, minute, &[("Hot Dog", GRILL, 1)]))
            .await
            .unwrap();
    }
    first.spawn();
    wait_for_connection(&browser, "live", Duration::from_secs(30)).await;
    for id in ["while-down-1", "while-down-2"] {
        wait_for_card(&browser, id, WAIT).await;
    }
    first
        .client()
        .send_order(order("after", 4, &[("Burger", GRILL, 1)]))
        .await
        .unwrap();
    wait_for_card(&browser, "after", WAIT).await;
    let kept = browser
        .run_script("return window.notReloaded === true;", Vec::new())
        .await
        .unwrap();
    assert_eq!(kept, true, "the page was not reloaded");
    let ids = browser
        .run_script("return window.kitchenScreen.ticketIds();", Vec::new())
        .await
        .unwrap();
    assert_eq!(
        ids,
        serde_json::json!(["before", "while-down-1", "while-down-2", "after"]),
        "every order once, oldest first"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_an_allowed_origin_streams_reconnects_and_bumps() {
    // Another web app's page, on another port: the design's separate "Frontend".
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let mut kitchen = start_with(&[("CORS_ALLOWED_ORIGINS", origin.as_str())]);
    let page = format!(
        "<!doctype html><meta charset=utf-8><link rel=icon href='data:,'><script type=module>\n\
         window.received = [];\n\
         const events = new EventSource('{kitchen}/orders/events');\n\
         events.onmessage = (event) => window.received.push(JSON.parse(event.data).order_id);\n\
         events.onopen = () => {{ window.opened = (window.opened || 0) + 1; }};\n\
         window.bump = (body) => fetch('{kitchen}/api/batches/bump', {{method: 'POST', \
           headers: {{'content-type': 'application/json', 'idempotency-key': 'page-1'}}, \
           body: JSON.stringify(body)}}).then(async (answer) => [answer.status, await answer.json()]);\n\
         </script>",
        kitchen = kitchen.url("")
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let browser = browser().await;
    browser.goto(&format!("{origin}/")).await.unwrap();
    browser
        .wait_for_script("window.opened === 1", WAIT)
        .await
        .expect("the stream opens across origins");
    kitchen
        .client()
        .send_order(order("across", 1, &[("Burger", GRILL, 1)]))
        .await
        .unwrap();
    browser
        .wait_for_script("window.received.includes('across')", WAIT)
        .await
        .expect("the order arrives");

    kitchen.restart();
    kitchen
        .client()
        .send_order(order("after-restart", 2, &[("Burger", GRILL, 1)]))
        .await
        .unwrap();
    browser
        .wait_for_script(
            "window.received.includes('after-restart')",
            Duration::from_secs(30),
        )
        .await
        .expect("the browser reconnects by itself and resumes");
    let received = browser
        .run_script("return window.received;", Vec::new())
        .await
        .unwrap();
    assert_eq!(
        received,
        serde_json::json!(["across", "after-restart"]),
        "once each"
    );

    let answer = browser
        .run_script(
            "return await window.bump(arguments[0]);",
            vec![serde_json::json!({"station": GRILL, "item": "Burger"})],
        )
        .await
        .unwrap();
    assert_eq!(answer[0], 200, "{answer}");
    assert_eq!(answer[1]["change"]["lines"].as_array().unwrap().len(), 2);
}

async fn get_json(kitchen: &Kitchen, path: &str) -> (u16, Value) {
    let response = reqwest::get(kitchen.url(path)).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}
