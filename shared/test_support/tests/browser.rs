//! The browser harness against a real page: a local HTTP server (axum) serves a page, its ES
//! modules and an event stream; Debian's Chromium, driven through chromedriver, runs them.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use futures::stream::{self, Stream};
use std::convert::Infallible;
use std::path::Path;
use std::time::{Duration, Instant};
use test_support::browser::{BROWSER_WAIT, png_size};
use test_support::{Browser, BrowserOptions};
use tokio::sync::broadcast;

const PAGE: &str = r##"<!doctype html>
<html>
<head>
  <meta charset="utf-8">
  <title>Browser harness</title>
  <link rel="icon" href="data:,">
  <script type="module" src="/app.js"></script>
</head>
<body>
  <p id="status">waiting for the module</p>
  <button id="add" type="button">Add a ticket</button>
  <ul id="tickets"></ul>
  <p id="stream">no event yet</p>
</body>
</html>
"##;

const APP_MODULE: &str = r##"import { ticketLabel } from "./tickets.js";

const tickets = document.querySelector("#tickets");
document.querySelector("#add").addEventListener("click", () => {
  const item = document.createElement("li");
  item.textContent = ticketLabel(tickets.children.length + 1);
  tickets.append(item);
});

const events = new EventSource("/events");
events.addEventListener("open", () => { document.body.dataset.stream = "open"; });
events.addEventListener("message", (event) => {
  document.querySelector("#stream").textContent = `${event.lastEventId}: ${event.data}`;
});

console.log("app module ran");
document.querySelector("#status").textContent = "module ran";
document.body.dataset.module = "ran";
"##;

const TICKETS_MODULE: &str = r##"export function ticketLabel(number) {
  return `Ticket ${number}`;
}
"##;

/// The test's web server: the page, its two modules, and `/events`, which streams whatever the
/// test sends on `events`.
struct TestSite {
    origin: String,
    events: broadcast::Sender<(u64, String)>,
    server: tokio::task::JoinHandle<()>,
}

impl TestSite {
    async fn start() -> Self {
        let (events, _) = broadcast::channel(16);
        let app = Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route("/app.js", get(|| async { javascript(APP_MODULE) }))
            .route("/tickets.js", get(|| async { javascript(TICKETS_MODULE) }))
            .route("/events", get(event_stream))
            .with_state(events.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test site");
        let origin = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serve the test site");
        });
        Self {
            origin,
            events,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Waits until `count` event streams are connected.
    async fn wait_for_streams(&self, count: usize) -> bool {
        let deadline = Instant::now() + BROWSER_WAIT;
        while self.events.receiver_count() < count {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

impl Drop for TestSite {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn javascript(source: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        source,
    )
}

async fn event_stream(
    State(events): State<broadcast::Sender<(u64, String)>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let messages = stream::unfold(events.subscribe(), |mut receiver| async move {
        let (id, data) = receiver.recv().await.ok()?;
        let event = Event::default().id(id.to_string()).data(data);
        Some((Ok(event), receiver))
    });
    Sse::new(messages)
}

/// Processes whose command line mentions `path` (a browser's profile).
fn processes_using(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle))
        .collect()
}

#[tokio::test]
async fn chromium_runs_modules_clicks_streams_and_stays_on_the_origin() {
    let site = TestSite::start().await;
    let started = Instant::now();
    let browser = Browser::start(BrowserOptions::default())
        .await
        .unwrap_or_else(|error| panic!("cannot start the browser: {error}"));
    eprintln!("browser started in {:?}", started.elapsed());

    browser.goto(&site.url("/")).await.expect("open the page");
    browser
        .wait_for_script("document.body.dataset.module === 'ran'", BROWSER_WAIT)
        .await
        .expect("the module runs");
    let status = browser
        .run_script(
            "return document.querySelector('#status').textContent;",
            vec![],
        )
        .await
        .expect("read the status");
    assert_eq!(status, "module ran");

    browser.click("#add").await.expect("click");
    browser.click("#add").await.expect("click again");
    let tickets = browser
        .run_script(
            "return [...document.querySelectorAll('#tickets li')].map((li) => li.textContent);",
            vec![],
        )
        .await
        .expect("read the tickets");
    assert_eq!(tickets, serde_json::json!(["Ticket 1", "Ticket 2"]));

    // The message is sent only once the page's EventSource is connected, so it can only
    // arrive over that stream.
    browser
        .wait_for_script("document.body.dataset.stream === 'open'", BROWSER_WAIT)
        .await
        .expect("the event stream opens");
    assert!(site.wait_for_streams(1).await, "the page opened no stream");
    let token = format!("order-{}", std::process::id());
    site.events
        .send((42, token.clone()))
        .expect("a stream is listening");
    let shown = browser
        .wait_for_script(
            &format!("document.querySelector('#stream').textContent === '42: {token}'"),
            BROWSER_WAIT,
        )
        .await;
    assert!(shown.is_ok(), "the event did not arrive: {shown:?}");

    let requested = browser.requested_urls().await.expect("requested URLs");
    assert_eq!(
        requested[..3],
        [site.url("/"), site.url("/app.js"), site.url("/tickets.js")],
        "the document, then its modules: {requested:?}"
    );
    let elsewhere: Vec<&String> = requested
        .iter()
        .filter(|url| !url.starts_with(&format!("{}/", site.origin)))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requests to other origins: {elsewhere:?}"
    );

    let console = browser.console_log().await.expect("console log");
    assert!(
        console
            .iter()
            .any(|message| message.message.contains("app module ran")),
        "the module's console.log is missing: {console:?}"
    );
    let errors = browser.javascript_errors().await.expect("errors");
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");

    let png = browser.screenshot_png().await.expect("screenshot");
    assert_eq!(png_size(&png), Some((1280, 800)), "a 1280x800 PNG");
    browser.set_window_size(800, 600).await.expect("resize");
    let viewport = browser
        .run_script("return [innerWidth, innerHeight];", vec![])
        .await
        .expect("viewport");
    assert_eq!(viewport, serde_json::json!([800, 600]));
    let png = browser.screenshot_png().await.expect("screenshot");
    assert_eq!(png_size(&png), Some((800, 600)), "an 800x600 PNG");

    let profile = browser.profile_dir();
    assert!(!processes_using(&profile).is_empty(), "Chromium runs");
    browser.close().await.expect("close the session");
    assert!(
        wait_until(|| processes_using(&profile).is_empty()).await,
        "left running: {:?}",
        processes_using(&profile)
    );
}

#[tokio::test]
async fn errors_and_requests_to_other_origins_are_seen() {
    let (site, other_site) = (TestSite::start().await, TestSite::start().await);
    let browser = Browser::start(BrowserOptions::default())
        .await
        .unwrap_or_else(|error| panic!("cannot start the browser: {error}"));
    browser.goto(&site.url("/")).await.expect("open the page");
    browser
        .run_script(
            "const image = new Image(); image.src = arguments[0]; \
             for (let n = 0; n < 300; n++) { new Image().src = `/missing-${n}.png`; } \
             setTimeout(() => { throw new Error('thrown by the test'); });",
            vec![other_site.url("/").into()],
        )
        .await
        .expect("run the script");

    let requested = browser
        .wait_for_script(
            &format!(
                "performance.getEntriesByType('resource').some((entry) => entry.name === '{}')",
                other_site.url("/")
            ),
            BROWSER_WAIT,
        )
        .await;
    assert!(requested.is_ok(), "{requested:?}");
    // More than resource timing's default buffer (250) holds.
    let all_listed = browser
        .wait_for_script(
            "performance.getEntriesByType('resource').length >= 301",
            BROWSER_WAIT,
        )
        .await;
    assert!(all_listed.is_ok(), "{all_listed:?}");
    let requested = browser.requested_urls().await.expect("requested URLs");
    assert!(requested.contains(&other_site.url("/")), "{requested:?}");
    assert!(
        requested.contains(&site.url("/missing-299.png")),
        "{requested:?}"
    );

    let deadline = Instant::now() + BROWSER_WAIT;
    let errors = loop {
        let errors = browser.javascript_errors().await.expect("errors");
        if !errors.is_empty() || Instant::now() >= deadline {
            break errors;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        errors
            .iter()
            .any(|error| error.message.contains("Uncaught Error: thrown by the test")),
        "{errors:?}"
    );
    browser.close().await.expect("close");
}

#[tokio::test]
async fn a_dropped_browser_leaves_no_process_and_browsers_share_nothing() {
    let site = TestSite::start().await;
    let (first, second) = tokio::join!(
        Browser::start(BrowserOptions::default()),
        Browser::start(BrowserOptions::default())
    );
    let (first, second) = (
        first.expect("first browser"),
        second.expect("second browser"),
    );
    assert_ne!(first.profile_dir(), second.profile_dir());

    for browser in [&first, &second] {
        browser.goto(&site.url("/")).await.expect("open the page");
    }
    first
        .run_script("localStorage.setItem('owner', 'first');", vec![])
        .await
        .expect("write storage");
    let seen = second
        .run_script("return localStorage.getItem('owner');", vec![])
        .await
        .expect("read storage");
    assert_eq!(seen, serde_json::Value::Null, "the profiles are separate");

    let failing = first
        .wait_for_script(
            "document.querySelector('#never')",
            Duration::from_millis(300),
        )
        .await;
    assert!(failing.is_err(), "a condition that never holds times out");

    let profile = first.profile_dir();
    drop(first);
    assert!(
        wait_until(|| processes_using(&profile).is_empty()).await,
        "left running after drop: {:?}",
        processes_using(&profile)
    );
    assert!(!profile.exists(), "the profile is deleted");
    second.close().await.expect("close");
}

/// Polls `done` for up to ten seconds.
async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}
