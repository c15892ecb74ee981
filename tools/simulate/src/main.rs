//! `simulate`: the demo feed. Inserts realistic orders into MongoDB's orders collection at a
//! steady rate or along a lunch-rush curve, until `--duration` has passed or Ctrl-C.

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use mongodb::Client;
use mongodb::bson::Document;
use mongodb::bson::oid::ObjectId;
use mongodb::options::ClientOptions;
use simulate::units::{parse_duration, parse_rate, per_minute};
use simulate::{FeedConfig, FeedObserver, IntervalSummary, RateCurve, SimulatedOrder, run_feed};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Inserts realistic orders of four delivery brands into MongoDB's orders collection, where the
/// order management service picks them up. Rates are orders per minute unless given as `2/s`
/// or `600/h`; durations like `90s`, `10m`, `1h30m`.
#[derive(Debug, Parser)]
#[command(name = "simulate")]
struct Options {
    /// `steady` (the same rate throughout) or `lunch-rush` (from --base-rate up to --peak-rate at
    /// half of --rush-period and back, again every period).
    #[arg(long, value_enum, default_value_t = Profile::Steady)]
    profile: Profile,
    /// The steady profile's rate.
    #[arg(long, default_value = "30/min", value_parser = parse_rate)]
    rate: f64,
    /// The lunch rush's rate at its start and end.
    #[arg(long, default_value = "6/min", value_parser = parse_rate)]
    base_rate: f64,
    /// The lunch rush's rate at its peak.
    #[arg(long, default_value = "120/min", value_parser = parse_rate)]
    peak_rate: f64,
    /// How long one lunch rush lasts.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    rush_period: Duration,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Decides the orders and their arrival times (default: from the clock; printed at start).
    #[arg(long)]
    seed: Option<u64>,
    /// The time limit of one insert.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    insert_timeout: Duration,
    /// Give up when every insert has failed for this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    give_up_after: Duration,
    /// How often to print a summary line.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    report_every: Duration,
    /// Print each inserted order's id, brand and items.
    #[arg(long)]
    verbose: bool,
    /// MongoDB connection string.
    #[arg(
        long,
        env = "MONGO_URI",
        default_value = "mongodb://127.0.0.1:27017/?directConnection=true"
    )]
    mongo_uri: String,
    /// The database holding the orders collection.
    #[arg(long, env = "MONGO_DB", default_value = "orbital")]
    mongo_db: String,
    /// The orders collection (the one the order service watches).
    #[arg(long, env = "MONGO_ORDERS_COLLECTION", default_value = "orders")]
    collection: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Profile {
    Steady,
    LunchRush,
}

impl Options {
    fn curve(&self) -> RateCurve {
        match self.profile {
            Profile::Steady => RateCurve::Steady {
                per_second: self.rate,
            },
            Profile::LunchRush => RateCurve::LunchRush {
                base_per_second: self.base_rate,
                peak_per_second: self.peak_rate,
                period: self.rush_period,
            },
        }
    }

    fn describe(&self) -> String {
        match self.profile {
            Profile::Steady => format!("steady {}", per_minute(self.rate)),
            Profile::LunchRush => format!(
                "lunch rush {} -> {} -> {} every {:?}",
                per_minute(self.base_rate),
                per_minute(self.peak_rate),
                per_minute(self.base_rate),
                self.rush_period
            ),
        }
    }
}

struct Printer {
    verbose: bool,
}

impl FeedObserver for Printer {
    fn inserted(&mut self, id: ObjectId, order: &SimulatedOrder) {
        if self.verbose {
            let items: Vec<String> = order
                .lines
                .iter()
                .map(|line| format!("{}x {} ({})", line.quantity, line.name, line.station))
                .collect();
            println!(
                "[simulate] inserted order_id={id} otter_order_id={} {}: {}",
                order.otter_order_id,
                order.brand_name,
                items.join(", ")
            );
        }
    }

    fn failed(&mut self, id: ObjectId, order: &SimulatedOrder, error: &str) {
        eprintln!(
            "[simulate] insert failed order_id={id} otter_order_id={}: {error}",
            order.otter_order_id
        );
    }

    fn interval(&mut self, summary: &IntervalSummary) {
        println!("[simulate] {summary}");
    }
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<ExitCode> {
    let options = Options::parse();
    let curve = options.curve();
    if let Err(problem) = curve.check() {
        bail!("{problem}");
    }
    if options.insert_timeout.is_zero() || options.report_every.is_zero() {
        bail!("--insert-timeout and --report-every must be longer than zero");
    }
    let seed = options.seed.unwrap_or_else(clock_seed);
    let mut client_options = ClientOptions::parse(&options.mongo_uri)
        .await
        .with_context(|| format!("MONGO_URI {:?}", options.mongo_uri))?;
    // No insert waits longer for a server than its own time limit.
    client_options.server_selection_timeout = Some(options.insert_timeout);
    client_options.connect_timeout = Some(options.insert_timeout);
    client_options.app_name = Some("simulate".to_owned());
    let client = Client::with_options(client_options).context("MongoDB client")?;
    let orders = client
        .database(&options.mongo_db)
        .collection::<Document>(&options.collection);
    println!(
        "[simulate] {} into {}.{} at {}, {}; seed {seed} (repeat with --seed {seed}); Ctrl-C stops",
        options.describe(),
        options.mongo_db,
        options.collection,
        options.mongo_uri,
        options
            .duration
            .map_or_else(|| "until stopped".to_owned(), |d| format!("for {d:?}")),
    );
    let config = FeedConfig {
        curve,
        seed,
        duration: options.duration,
        insert_timeout: options.insert_timeout,
        give_up_after: options.give_up_after,
        report_every: options.report_every,
    };
    let mut printer = Printer {
        verbose: options.verbose,
    };
    let outcome = run_feed(
        &orders,
        &config,
        shared_utils::shutdown::shutdown_signal(),
        &mut printer,
    )
    .await;
    match outcome {
        Ok(report) => {
            println!(
                "[simulate] done after {:.1} s: {} inserted, {} failed (seed {seed})",
                report.elapsed.as_secs_f64(),
                report.inserted,
                report.failed
            );
            Ok(if report.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(error) => {
            eprintln!("[simulate] giving up: {error}");
            Ok(ExitCode::from(2))
        }
    }
}
