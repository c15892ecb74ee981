//! `bench all`: a reproducible run from nothing. Starts a throwaway durable PostgreSQL (`fsync`
//! and `synchronous_commit` on) and the kitchen's binary on free loopback ports, runs the ingest
//! and fan-out scenarios, stops everything and prints the figures as Markdown tables.

use crate::fanout::{self, FanoutArgs, FanoutReport};
use crate::ingest::{self, IngestArgs, IngestReport};
use crate::machine::{
    self, CpuUsage, load_average, machine_description, micros_per_order, peak_rss_mib,
};
use crate::services;
use crate::stats::Millis;
use anyhow::Context;
use std::path::PathBuf;

/// Options of `bench all`.
#[derive(Debug, Clone, clap::Args)]
pub struct AllArgs {
    /// The kitchen's binary; by default `kitchen_batch_tool_service` next to this program (both
    /// are built by `cargo build --release -p kitchen_batch_tool_service -p bench`).
    #[arg(long)]
    pub kitchen_bin: Option<PathBuf>,
    /// Ingest: orders to send and measure.
    #[arg(long, default_value_t = 100_000)]
    pub orders: usize,
    /// Ingest: requests in flight.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Fan-out: subscribers.
    #[arg(long, default_value_t = 200)]
    pub subscribers: usize,
    /// Fan-out: orders per second.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Fan-out: seconds of sending.
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    /// Also measure with `PRINT_ORDERS=true` (the kitchen's stdout going to /dev/null).
    #[arg(long)]
    pub with_printing: bool,
    /// Extra environment for the kitchen, as `KEY=VALUE` (repeatable), e.g.
    /// `--kitchen-env STORE_MAX_BATCH=512`.
    #[arg(long = "kitchen-env", value_parser = machine::parse_key_value)]
    pub kitchen_env: Vec<(String, String)>,
    /// `max_connections` of the throwaway PostgreSQL.
    #[arg(long, default_value_t = 100)]
    pub pg_max_connections: u32,
}

/// One configuration's figures.
struct Measured {
    printing: bool,
    ingest: IngestReport,
    /// CPU use during the ingest scenario, in percent of one core.
    ingest_cpu: IngestCpu,
    fanout: FanoutReport,
    /// The kitchen's CPU use during the fan-out scenario, in percent of one core.
    fanout_cpu: f64,
    /// The kitchen's peak resident memory over the whole run (`VmHWM`), in MiB.
    peak_rss_mib: f64,
    log_problems: usize,
}

/// CPU use during the ingest scenario, each in percent of one core.
struct IngestCpu {
    kitchen: f64,
    /// The postmaster and every backend.
    postgres: f64,
    /// This process: the load generator.
    bench: f64,
    /// Every process of the machine.
    machine: f64,
}

/// Runs everything and prints the tables.
pub async fn run(args: &AllArgs) -> anyhow::Result<()> {
    let kitchen_bin = services::kitchen_binary(args.kitchen_bin.as_deref())?;
    println!("{}", machine_description());

    let postgres = services::start_durable_postgres(args.pg_max_connections).await?;
    println!(
        "PostgreSQL: throwaway cluster on 127.0.0.1:{}, fsync=on, synchronous_commit=on",
        postgres.port()
    );

    let mut results = Vec::new();
    let printing_modes: &[bool] = if args.with_printing {
        &[false, true]
    } else {
        &[false]
    };
    let postgres_pid = postgres.postmaster_pid().ok();
    for (run, &printing) in printing_modes.iter().enumerate() {
        let database_url = postgres
            .create_database(&format!("kitchen_bench_{run}"))
            .context("cannot create the database")?;
        results.push(
            measure(
                args,
                &kitchen_bin,
                &database_url,
                postgres_pid,
                printing,
                run,
            )
            .await?,
        );
    }
    drop(postgres);

    println!();
    println!(
        "| PRINT_ORDERS | in flight | ingest orders/s | ack p50 | ack p99 | failed | kitchen CPU | PostgreSQL CPU | bench CPU | machine CPU | CPU per order: kitchen / PostgreSQL / bench / machine |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for result in &results {
        let ingest = &result.ingest;
        let cpu = &result.ingest_cpu;
        let rate = ingest.orders_per_sec();
        println!(
            "| {} | {} | {rate:.0} | {} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {:.0}% | {:.0} / {:.0} / {:.0} / {:.0} µs |",
            result.printing,
            ingest.in_flight,
            Millis(ingest.ack.p50),
            Millis(ingest.ack.p99),
            ingest.failed,
            cpu.kitchen,
            cpu.postgres,
            cpu.bench,
            cpu.machine,
            micros_per_order(cpu.kitchen, rate),
            micros_per_order(cpu.postgres, rate),
            micros_per_order(cpu.bench, rate),
            micros_per_order(cpu.machine, rate),
        );
    }
    println!();
    println!(
        "| PRINT_ORDERS | subscribers x orders/s | acked orders/s | delivery p50 | p99 | max | lost | duplicates | disconnected | kitchen CPU | kitchen peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for result in &results {
        let fanout = &result.fanout;
        println!(
            "| {} | {} x {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.0}% | {:.1} MiB |",
            result.printing,
            fanout.subscribers,
            fanout.rate,
            fanout.acked_per_sec(),
            Millis(fanout.latency.p50),
            Millis(fanout.latency.p99),
            Millis(fanout.latency.max),
            fanout.lost,
            fanout.duplicates,
            fanout.disconnected,
            result.fanout_cpu,
            result.peak_rss_mib
        );
    }
    let problems: usize = results.iter().map(|result| result.log_problems).sum();
    println!();
    println!("kitchen warnings and errors logged: {problems}");
    println!("load after: {}", load_average());
    Ok(())
}

/// Starts the kitchen on `database_url`, runs both scenarios, stops it.
async fn measure(
    args: &AllArgs,
    kitchen_bin: &std::path::Path,
    database_url: &str,
    postgres_pid: Option<u32>,
    printing: bool,
    run: usize,
) -> anyhow::Result<Measured> {
    let log_path =
        std::env::temp_dir().join(format!("bench-kitchen-{}-{run}.log", std::process::id()));
    let mut kitchen = services::start_kitchen(
        kitchen_bin,
        database_url,
        printing,
        &args.kitchen_env,
        log_path,
    )
    .await?;
    println!();
    println!(
        "kitchen: {} PRINT_ORDERS={printing} RUST_LOG=warn {}(log: {})",
        kitchen_bin.display(),
        services::env_text(&args.kitchen_env),
        kitchen.service.log_path.display()
    );
    println!("load before: {}", load_average());

    let pid = kitchen.service.pid;
    let grpc = kitchen.grpc.clone();
    let usage = CpuUsage::start(pid);
    let own_usage = CpuUsage::start(std::process::id());
    let postgres_usage = postgres_pid.map_or_else(|| CpuUsage::of(Vec::new()), CpuUsage::tree);
    let machine_usage = CpuUsage::machine();
    let ingest = ingest::run(&IngestArgs {
        grpc: grpc.clone(),
        orders: args.orders,
        in_flight: args.in_flight,
        warmup: 2_000,
        connections: 1,
    })
    .await?;
    let ingest_cpu = IngestCpu {
        kitchen: usage.percent(),
        postgres: postgres_usage.percent(),
        bench: own_usage.percent(),
        machine: machine_usage.percent(),
    };
    println!("{ingest}");
    println!(
        "  CPU         kitchen {:.0}%, PostgreSQL {:.0}%, bench {:.0}% of one core; machine {:.0}%",
        ingest_cpu.kitchen, ingest_cpu.postgres, ingest_cpu.bench, ingest_cpu.machine
    );
    let usage = CpuUsage::start(pid);
    let own_usage = CpuUsage::start(std::process::id());
    let fanout = fanout::run(&FanoutArgs {
        grpc,
        http: kitchen.http.clone(),
        subscribers: args.subscribers,
        rate: args.rate,
        duration_secs: args.duration_secs,
        drain_secs: 10,
    })
    .await?;
    let fanout_cpu = usage.percent();
    println!("{fanout}");
    println!(
        "  CPU         kitchen {fanout_cpu:.0}%, bench {:.0}% of one core",
        own_usage.percent()
    );

    let peak_rss_mib = peak_rss_mib(pid).unwrap_or(f64::NAN);
    println!("  memory      kitchen peak RSS {peak_rss_mib:.1} MiB (VmHWM, whole run)");
    kitchen.service.stop("the kitchen").await?;
    let log_problems = kitchen.service.log_problems();
    Ok(Measured {
        printing,
        ingest,
        ingest_cpu,
        fanout,
        fanout_cpu,
        peak_rss_mib,
        log_problems,
    })
}
