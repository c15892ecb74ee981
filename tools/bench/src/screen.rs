//! `bench screen`: the kitchen screen in headless Chromium under load. A board holding `open`
//! tickets renders its first snapshot, then absorbs new orders at `rate` per second while the
//! oldest ticket is handed over for each new one (so the board stays at `open` tickets and
//! closed tickets must leave memory), until `orders` have arrived. Measures, per new order, the
//! time from its gRPC answer to the first frame after its card entered the page, the page's
//! long tasks, and its JavaScript heap (after a forced garbage collection) and DOM size before and
//! after.

use crate::machine::{CpuUsage, load_average, machine_description};
use crate::services;
use crate::stats::{Millis, Summary};
use anyhow::Context;
use grpc_clients::initialize_order_client;
use order_service_proto::order_service::v1::{OrderItem, OrderRequest};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use test_support::{Browser, BrowserOptions};

/// Options of `bench screen`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScreenArgs {
    /// The kitchen's binary; by default the one next to this program.
    #[arg(long)]
    pub kitchen_bin: Option<PathBuf>,
    /// Open tickets on the board.
    #[arg(long, default_value_t = 500)]
    pub open: usize,
    /// New orders per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// New orders in all.
    #[arg(long, default_value_t = 10_000)]
    pub orders: usize,
    /// The viewport, `WIDTHxHEIGHT`.
    #[arg(long, default_value = "1920x1080", value_parser = parse_size)]
    pub viewport: (u32, u32),
    /// The page's path: `/` every station, `/?station=Grill%20Station` one.
    #[arg(long, default_value = "/")]
    pub path: String,
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (width, height) = text
        .split_once('x')
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {text:?}"))?;
    Ok((
        width.parse().map_err(|_| format!("bad width {width:?}"))?,
        height
            .parse()
            .map_err(|_| format!("bad height {height:?}"))?,
    ))
}

/// A small menu: stations and their items, for orders that look like a kitchen's.
const MENU: &[(&str, &str)] = &[
    ("Classic Burger", "Grill Station"),
    ("Cheeseburger", "Grill Station"),
    ("Hot Dog", "Grill Station"),
    ("Fries", "Fryer Station"),
    ("Onion Rings", "Fryer Station"),
    ("Caesar Salad", "Salad Station"),
];
const BRANDS: &[&str] = &["Desayuna", "Burger Kiosk", "Taco Town"];

fn order(number: usize) -> OrderRequest {
    let items = (0..1 + number % 3)
        .map(|line| {
            let (name, station) = MENU[(number * 7 + line * 3) % MENU.len()];
            OrderItem {
                item_name: name.into(),
                station_name: station.into(),
                quantity: 1 + ((number + line) % 3) as i32,
            }
        })
        .collect();
    OrderRequest {
        order_id: format!("bench-{number:06}"),
        otter_order_id: format!("{number:08x}-otter"),
        brand_name: BRANDS[number % BRANDS.len()].into(),
        order_items: items,
        timestamp: chrono_like(number),
        source: "bench".into(),
    }
}

/// Order times one second apart, in the order they are sent.
fn chrono_like(number: usize) -> String {
    let seconds = number;
    format!(
        "2026-12-02T{:02}:{:02}:{:02}.000Z",
        8 + seconds / 3600 % 12,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Installed before the page's own scripts: when the board first holds every open ticket, and
/// when each new card is first painted (the frame after it entered the DOM), by order id.
const INSTRUMENT: &str = r#"
window.__painted = {};
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: 'longtask', buffered: true });
addEventListener('kitchenscreen:paint', () => {
  if (window.__firstFull === undefined && window.kitchenScreen
      && window.kitchenScreen.state.ticketsOnBoard >= __OPEN__) {
    window.__firstFull = performance.now();
  }
});
document.addEventListener('DOMContentLoaded', () => {
  const board = document.querySelector('[data-testid=board]');
  new MutationObserver((mutations) => {
    const added = [];
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) {
        if (node.dataset && node.dataset.orderId) added.push(node.dataset.orderId);
      }
    }
    if (added.length === 0) return;
    requestAnimationFrame(() => setTimeout(() => {
      const now = Date.now();
      for (const id of added) if (!(id in window.__painted)) window.__painted[id] = now;
    }, 0));
  }).observe(board, { childList: true, subtree: true });
});
"#;

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// The page's heap after a full garbage collection (MiB) and its DOM elements.
async fn page_memory(browser: &Browser) -> anyhow::Result<(f64, u64)> {
    browser
        .devtools("HeapProfiler.collectGarbage", json!({}))
        .await?;
    let heap = browser.devtools("Runtime.getHeapUsage", json!({})).await?;
    let used = heap["usedSize"].as_f64().context("no usedSize")?;
    let nodes = browser
        .run_script(
            "return document.getElementsByTagName('*').length;",
            Vec::new(),
        )
        .await?;
    Ok((used / (1024.0 * 1024.0), nodes.as_u64().unwrap_or(0)))
}

/// Runs the scenario and prints a Markdown table.
pub async fn run(args: &ScreenArgs) -> anyhow::Result<()> {
    let kitchen_bin = services::kitchen_binary(args.kitchen_bin.as_deref())?;
    println!("{}", machine_description());
    let postgres = services::start_durable_postgres(100).await?;
    let database_url = postgres
        .create_database("kitchen_bench_screen")
        .context("cannot create the database")?;
    let log = std::env::temp_dir().join(format!("bench-screen-kitchen-{}.log", std::process::id()));
    let mut kitchen = services::start_kitchen(&kitchen_bin, &database_url, false, &[], log).await?;
    let client = initialize_order_client(&kitchen.grpc, Duration::from_secs(30))?;
    let http = reqwest::Client::new();

    let mut open = VecDeque::with_capacity(args.open + 1);
    for number in 0..args.open {
        let request = order(number);
        open.push_back(request.order_id.clone());
        client.send_order(request).await.context("seeding")?;
    }

    let (width, height) = args.viewport;
    let browser = Browser::start(BrowserOptions {
        window_size: (width, height),
        ..BrowserOptions::default()
    })
    .await?;
    browser
        .devtools(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": INSTRUMENT.replace("__OPEN__", &args.open.to_string())}),
        )
        .await?;
    browser
        .goto(&format!("{}{}", kitchen.http, args.path))
        .await?;
    let first_full = browser
        .wait_for_script("window.__firstFull", Duration::from_secs(60))
        .await
        .context("the first snapshot was never painted whole")?;
    browser
        .wait_for_script(
            "window.kitchenScreen.state.connection === 'live'",
            Duration::from_secs(30),
        )
        .await?;
    let (heap_before, nodes_before) = page_memory(&browser).await?;

    let kitchen_cpu = CpuUsage::start(kitchen.service.pid);
    let machine_cpu = CpuUsage::machine();
    let mut answered: HashMap<String, u64> = HashMap::with_capacity(args.orders);
    let mut painted: HashMap<String, u64> = HashMap::with_capacity(args.orders);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = std::time::Instant::now();
    // The heap after each quarter of the orders: growth that levels off is a bounded cache,
    // growth that keeps pace with the orders a leak.
    let quarter = (args.orders / 4).max(1);
    let mut heap_series = vec![heap_before];
    for number in args.open..args.open + args.orders {
        ticker.tick().await;
        let request = order(number);
        let id = request.order_id.clone();
        client.send_order(request).await.context("sending")?;
        answered.insert(id.clone(), now_millis());
        open.push_back(id);
        if let Some(oldest) = open.pop_front() {
            let handing_over = http
                .post(format!("{}/api/orders/{oldest}/hand-over", kitchen.http))
                .send();
            tokio::spawn(handing_over);
        }
        if number.is_multiple_of(100) {
            collect_painted(&browser, &mut painted).await?;
        }
        let sent = number + 1 - args.open;
        if sent.is_multiple_of(quarter) && sent < args.orders {
            heap_series.push(page_memory(&browser).await?.0);
        }
    }
    let sending = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    collect_painted(&browser, &mut painted).await?;
    let (kitchen_percent, machine_percent) = (kitchen_cpu.percent(), machine_cpu.percent());
    let (heap_after, nodes_after) = page_memory(&browser).await?;
    heap_series.push(heap_after);
    let long_tasks = browser
        .run_script("return window.__longTasks;", Vec::new())
        .await?;
    let long_tasks: Vec<f64> = serde_json::from_value(long_tasks).unwrap_or_default();
    let held = browser
        .run_script("return window.kitchenScreen.state.ticketsHeld;", Vec::new())
        .await?;

    let mut latencies: Vec<u64> = answered
        .iter()
        .filter_map(|(id, at)| Some(painted.get(id)?.saturating_sub(*at) * 1000))
        .collect();
    let missing = answered.len() - latencies.len();
    let within_100 = latencies
        .iter()
        .filter(|micros| **micros <= 100_000)
        .count();
    let summary = Summary::of(&mut latencies);
    let _ = browser.close().await;
    kitchen.service.stop("kitchen").await?;
    drop(postgres);

    println!();
    println!(
        "viewport {width}x{height}, page {}, {} open tickets, {} new orders at {}/s (sent in {:.1} s)",
        args.path,
        args.open,
        args.orders,
        args.rate,
        sending.as_secs_f64()
    );
    println!();
    println!(
        "| first snapshot painted | answer -> painted p50 | p99 | max | within 100 ms | never painted | long tasks (max) | heap before -> after | DOM elements before -> after | tickets held after | kitchen CPU | machine CPU (all processes) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {:.0} ms | {} | {} | {} | {:.2}% | {missing} | {} ({:.0} ms) | {heap_before:.1} -> {heap_after:.1} MiB | {nodes_before} -> {nodes_after} | {held} | {kitchen_percent:.0}% | {machine_percent:.0}% |",
        first_full.as_f64().unwrap_or_default(),
        Millis(summary.p50),
        Millis(summary.p99),
        Millis(summary.max),
        100.0 * within_100 as f64 / summary.count.max(1) as f64,
        long_tasks.len(),
        long_tasks.iter().copied().fold(0.0, f64::max),
    );
    let series: Vec<String> = heap_series.iter().map(|mib| format!("{mib:.2}")).collect();
    println!();
    println!(
        "heap (MiB, after a forced GC) at 0, 1/4, 1/2, 3/4 and all of the orders: {}",
        series.join(" -> ")
    );
    println!();
    println!("load after: {}", load_average());
    Ok(())
}

/// Moves the page's paint times into `painted`, emptying the page's record.
async fn collect_painted(
    browser: &Browser,
    painted: &mut HashMap<String, u64>,
) -> anyhow::Result<()> {
    let taken = browser
        .run_script(
            "const taken = window.__painted; window.__painted = {}; return taken;",
            Vec::new(),
        )
        .await?;
    if let Value::Object(entries) = taken {
        for (id, at) in entries {
            if let Some(at) = at.as_u64() {
                painted.entry(id).or_insert(at);
            }
        }
    }
    Ok(())
}
