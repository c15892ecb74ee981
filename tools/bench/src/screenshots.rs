//! `bench screenshots`: the README's pictures of the kitchen screen, taken from a real kitchen
//! in headless Chromium: the board of one station with its all-day panel, the all-day panel
//! alone, every station on a wall screen, expo, and the day view.
//!
//! So that tickets show their ages in colour without waiting minutes, the kitchen runs with the
//! ageing thresholds shortened to 20 s (waiting) and 40 s (late), and the orders arrive in three
//! waves about 20 s apart.

use crate::services;
use anyhow::Context;
use grpc_clients::initialize_order_client;
use order_service_proto::order_service::v1::{OrderItem, OrderRequest};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use test_support::{Browser, BrowserOptions};

/// Options of `bench screenshots`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScreenshotsArgs {
    /// The kitchen's binary; by default the one next to this program.
    #[arg(long)]
    pub kitchen_bin: Option<PathBuf>,
    /// Where the PNG files go.
    #[arg(long, default_value = "docs/screenshots")]
    pub out: PathBuf,
}

const GRILL: &str = "Grill Station";
const FRYER: &str = "Fryer Station";
const SALAD: &str = "Salad Station";

/// Three waves of orders, oldest first: brand and items.
type Wave = &'static [(&'static str, &'static [(&'static str, &'static str, i32)])];

const WAVES: &[Wave] = &[
    &[
        (
            "Desayuna",
            &[("Classic Burger", GRILL, 2), ("Fries", FRYER, 2)],
        ),
        (
            "Burger Kiosk",
            &[("Cheeseburger", GRILL, 1), ("Onion Rings", FRYER, 1)],
        ),
        ("Taco Town", &[("Hot Dog", GRILL, 3)]),
    ],
    &[
        (
            "Desayuna",
            &[
                ("Grilled Chicken Sandwich", GRILL, 1),
                ("Caesar Salad", SALAD, 1),
            ],
        ),
        (
            "Burger Kiosk",
            &[("Classic Burger", GRILL, 1), ("Fries", FRYER, 1)],
        ),
        ("Taco Town", &[("Cheeseburger", GRILL, 2)]),
    ],
    &[
        ("Desayuna", &[("Classic Burger", GRILL, 3)]),
        (
            "Burger Kiosk",
            &[("Hot Dog", GRILL, 1), ("Caesar Salad", SALAD, 2)],
        ),
        (
            "Taco Town",
            &[("Fries", FRYER, 3), ("Classic Burger", GRILL, 1)],
        ),
        ("Desayuna", &[("Onion Rings", FRYER, 2)]),
    ],
];

/// Takes the pictures.
pub async fn run(args: &ScreenshotsArgs) -> anyhow::Result<()> {
    let kitchen_bin = services::kitchen_binary(args.kitchen_bin.as_deref())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let postgres = services::start_durable_postgres(50).await?;
    let database_url = postgres.create_database("kitchen_screenshots")?;
    let env = [
        ("SCREEN_WARN_AFTER_SECS".to_owned(), "20".to_owned()),
        ("SCREEN_LATE_AFTER_SECS".to_owned(), "40".to_owned()),
    ];
    let log = std::env::temp_dir().join(format!("screenshots-kitchen-{}.log", std::process::id()));
    let mut kitchen =
        services::start_kitchen(&kitchen_bin, &database_url, false, &env, log).await?;
    let client = initialize_order_client(&kitchen.grpc, Duration::from_secs(30))?;
    let http = reqwest::Client::new();

    let mut number = 0;
    for (wave_number, wave) in WAVES.iter().enumerate() {
        if wave_number > 0 {
            println!("waiting 21 s for the next wave of orders");
            tokio::time::sleep(Duration::from_secs(21)).await;
        }
        for (brand, items) in *wave {
            number += 1;
            let order = OrderRequest {
                order_id: format!("67adcfdc15da8840bc96{number:04x}"),
                otter_order_id: format!("019c52aa-1232-307c-b56d-1a3af34b{number:04x}"),
                brand_name: (*brand).into(),
                order_items: items
                    .iter()
                    .map(|(name, station, quantity)| OrderItem {
                        item_name: (*name).into(),
                        station_name: (*station).into(),
                        quantity: *quantity,
                    })
                    .collect(),
                timestamp: format!("2026-12-02T12:{:02}:00.000Z", 10 + number),
                source: "mongodb_changestream".into(),
            };
            client.send_order(order).await.context("sending an order")?;
        }
    }
    // Some work done: the fryer's fries are up as a batch, two tickets are ready for expo.
    let post = |path: String, body: serde_json::Value| {
        let request = http
            .post(format!("{}{path}", kitchen.http))
            .header("content-type", "application/json")
            .body(body.to_string());
        async move { request.send().await?.error_for_status() }
    };
    post(
        "/api/batches/bump".into(),
        json!({"station": FRYER, "item": "Fries"}),
    )
    .await?;
    for ready in [1, 3] {
        post(
            format!("/api/orders/67adcfdc15da8840bc96{ready:04x}/bump"),
            json!({}),
        )
        .await?;
    }
    post(
        "/api/orders/67adcfdc15da8840bc960005/bump".into(),
        json!({"station": GRILL}),
    )
    .await?;

    let shots: &[(&str, &str, (u32, u32))] = &[
        (
            "/?station=Grill%20Station",
            "board-grill-1280x800.png",
            (1280, 800),
        ),
        ("/", "board-all-1920x1080.png", (1920, 1080)),
        ("/?view=expo", "expo-1280x800.png", (1280, 800)),
        ("/day", "day-1280x800.png", (1280, 800)),
    ];
    for (path, file, (width, height)) in shots {
        let browser = Browser::start(BrowserOptions {
            window_size: (*width, *height),
            ..BrowserOptions::default()
        })
        .await?;
        browser.goto(&format!("{}{path}", kitchen.http)).await?;
        let ready = if *path == "/day" {
            "document.body.dataset.loaded"
        } else {
            "window.kitchenScreen && window.kitchenScreen.state.connection === 'live'"
        };
        browser
            .wait_for_script(ready, Duration::from_secs(30))
            .await?;
        // Past the first frames and the new-order flash.
        tokio::time::sleep(Duration::from_secs(1)).await;
        save(&args.out.join(file), &browser.screenshot_png().await?)?;
        if *path == "/?station=Grill%20Station" {
            let panel = browser
                .wait_for_selector("[data-testid=all-day]", Duration::from_secs(5))
                .await?;
            let png = panel.screenshot().await.context("the all-day panel")?;
            save(&args.out.join("all-day-grill.png"), &png)?;
        }
        let _ = browser.close().await;
    }
    kitchen.service.stop("kitchen").await?;
    drop(postgres);
    Ok(())
}

fn save(path: &Path, png: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}
