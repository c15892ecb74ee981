//! `bench all`: a reproducible run from nothing. Starts a throwaway durable PostgreSQL (`fsync`
//! and `synchronous_commit` on) and the kitchen's binary on free loopback ports, runs the ingest
//! and fan-out scenarios, stops everything and prints the figures as Markdown tables.

use crate::fanout::{self, FanoutArgs, FanoutReport};
use crate::ingest::{self, IngestArgs, IngestReport};
use crate::stats::Millis;
use anyhow::Context;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use test_support::{PostgresOptions, PostgresServer, free_port, wait_for_port};

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
    #[arg(long = "kitchen-env", value_parser = parse_key_value)]
    pub kitchen_env: Vec<(String, String)>,
    /// `max_connections` of the throwaway PostgreSQL.
    #[arg(long, default_value_t = 100)]
    pub pg_max_connections: u32,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// One configuration's figures.
struct Measured {
    printing: bool,
    ingest: IngestReport,
    /// The kitchen's CPU use during the ingest scenario, in percent of one core.
    ingest_cpu: f64,
    fanout: FanoutReport,
    /// The kitchen's CPU use during the fan-out scenario, in percent of one core.
    fanout_cpu: f64,
    /// The kitchen's peak resident memory over the whole run (`VmHWM`), in MiB.
    peak_rss_mib: f64,
    log_problems: usize,
}

/// Runs everything and prints the tables.
pub async fn run(args: &AllArgs) -> anyhow::Result<()> {
    let kitchen_bin = match &args.kitchen_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .with_file_name("kitchen_batch_tool_service")
            .with_extension(std::env::consts::EXE_EXTENSION),
    };
    anyhow::ensure!(
        kitchen_bin.is_file(),
        "{} not found: run `cargo build --release -p kitchen_batch_tool_service -p bench` or pass --kitchen-bin",
        kitchen_bin.display()
    );
    println!("{}", machine_description());

    let max_connections = args.pg_max_connections;
    let postgres = tokio::task::spawn_blocking(move || {
        PostgresServer::start_with(PostgresOptions {
            durable: true,
            max_connections,
        })
    })
    .await?
    .context("cannot start PostgreSQL")?;
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
    for (run, &printing) in printing_modes.iter().enumerate() {
        let database_url = postgres
            .create_database(&format!("kitchen_bench_{run}"))
            .context("cannot create the database")?;
        results.push(measure(args, &kitchen_bin, &database_url, printing, run).await?);
    }
    drop(postgres);

    println!();
    println!(
        "| PRINT_ORDERS | in flight | ingest orders/s | ack p50 | ack p99 | failed | kitchen CPU |"
    );
    println!("|---|---|---|---|---|---|---|");
    for result in &results {
        let ingest = &result.ingest;
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {:.0}% |",
            result.printing,
            ingest.in_flight,
            ingest.orders_per_sec(),
            Millis(ingest.ack.p50),
            Millis(ingest.ack.p99),
            ingest.failed,
            result.ingest_cpu
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
    printing: bool,
    run: usize,
) -> anyhow::Result<Measured> {
    let (grpc_port, http_port) = (free_port(), free_port());
    let log_path =
        std::env::temp_dir().join(format!("bench-kitchen-{}-{run}.log", std::process::id()));
    let log = std::fs::File::create(&log_path)?;
    let mut command = tokio::process::Command::new(kitchen_bin);
    command
        .env("DATABASE_URL", database_url)
        .env("GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
        .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("PRINT_ORDERS", printing.to_string())
        .env("RUST_LOG", "warn")
        .envs(args.kitchen_env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    let mut kitchen = command
        .spawn()
        .with_context(|| format!("cannot start {}", kitchen_bin.display()))?;
    let ready = tokio::task::spawn_blocking(move || {
        wait_for_port(grpc_port, Duration::from_secs(30))
            && wait_for_port(http_port, Duration::from_secs(30))
    })
    .await?;
    anyhow::ensure!(
        ready,
        "the kitchen did not start; see {}",
        log_path.display()
    );
    println!();
    println!(
        "kitchen: {} PRINT_ORDERS={printing} RUST_LOG=warn {}(log: {})",
        kitchen_bin.display(),
        args.kitchen_env
            .iter()
            .map(|(key, value)| format!("{key}={value} "))
            .collect::<String>(),
        log_path.display()
    );
    println!("load before: {}", load_average());

    let pid = kitchen.id().context("the kitchen exited at once")?;
    let grpc = format!("127.0.0.1:{grpc_port}");
    let usage = CpuUsage::start(pid);
    let own_usage = CpuUsage::start(std::process::id());
    let ingest = ingest::run(&IngestArgs {
        grpc: grpc.clone(),
        orders: args.orders,
        in_flight: args.in_flight,
        warmup: 2_000,
        connections: 1,
    })
    .await?;
    let ingest_cpu = usage.percent();
    println!("{ingest}");
    println!(
        "  CPU         kitchen {ingest_cpu:.0}%, bench {:.0}% of one core",
        own_usage.percent()
    );
    let usage = CpuUsage::start(pid);
    let own_usage = CpuUsage::start(std::process::id());
    let fanout = fanout::run(&FanoutArgs {
        grpc,
        http: format!("http://127.0.0.1:{http_port}"),
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
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    match tokio::time::timeout(Duration::from_secs(30), kitchen.wait()).await {
        Ok(status) => {
            let status = status?;
            anyhow::ensure!(status.success(), "the kitchen exited with {status}");
        }
        Err(_) => anyhow::bail!("the kitchen did not stop within 30 s of SIGTERM"),
    }
    let log_problems = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .count();
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

/// A process's CPU time (user and system) over a stretch of wall time.
struct CpuUsage {
    pid: u32,
    cpu: Option<f64>,
    wall: std::time::Instant,
}

impl CpuUsage {
    fn start(pid: u32) -> Self {
        Self {
            pid,
            cpu: cpu_seconds(pid),
            wall: std::time::Instant::now(),
        }
    }

    /// CPU time since `start` over wall time since `start`, in percent of one core; NaN when
    /// `/proc` cannot tell.
    fn percent(&self) -> f64 {
        match (self.cpu, cpu_seconds(self.pid)) {
            (Some(before), Some(after)) => {
                100.0 * (after - before) / self.wall.elapsed().as_secs_f64()
            }
            _ => f64::NAN,
        }
    }
}

/// User plus system CPU seconds of process `pid`, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start with the state, field 3;
    // utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let per_second: f64 = command_output("getconf", &["CLK_TCK"]).parse().ok()?;
    Some(ticks / per_second)
}

/// The peak resident set size of process `pid` in MiB, from `VmHWM` in `/proc/<pid>/status`.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|error| format!("({program}: {error})"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// `nproc`, the CPU model, memory and load, as the benchmark records them.
fn machine_description() -> String {
    let model = command_output("lscpu", &[])
        .lines()
        .find_map(|line| line.strip_prefix("Model name:").map(str::trim))
        .unwrap_or("unknown")
        .to_owned();
    let memory = command_output("free", &["-h"])
        .lines()
        .find(|line| line.starts_with("Mem:"))
        .map(|line| line.split_whitespace().nth(1).unwrap_or("?").to_owned())
        .unwrap_or_else(|| "unknown".into());
    format!(
        "machine: {} CPUs (nproc), {model}, {memory} memory; load {}\nkernel: {}",
        command_output("nproc", &[]),
        load_average(),
        command_output("uname", &["-sr"]),
    )
}
