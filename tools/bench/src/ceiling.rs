//! `bench ceiling`: the ingest scenario against a kitchen that stores nothing, to show how much
//! of the machine the gRPC round trip alone takes and what rate it allows. That rate bounds any
//! figure of `bench all`, whose kitchen must also store every order.
//!
//! `bench null-kitchen` is that kitchen: the order server the kitchen runs (`grpc_servers`)
//! with a handler that answers every order at once, as the kitchen answers a stored one. It runs
//! as a process of its own, as the kitchen does, so that it shares the cores with the load
//! generator as in `bench all`.

use crate::ingest::{self, IngestArgs};
use crate::machine::{CpuUsage, load_average, machine_description, micros_per_order};
use crate::services::Service;
use crate::stats::Millis;
use anyhow::Context;
use grpc_servers::{HandlerError, OrderHandler, ServerOptions};
use order_service_proto::order_service::v1::{OrderRequest, OrderResponse};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use test_support::{free_port, wait_for_port};

/// Options of `bench ceiling`.
#[derive(Debug, Clone, clap::Args)]
pub struct CeilingArgs {
    /// Orders to send and measure (after 2,000 warm-up orders).
    #[arg(long, default_value_t = 100_000)]
    pub orders: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
}

/// Options of `bench null-kitchen`.
#[derive(Debug, Clone, clap::Args)]
pub struct NullKitchenArgs {
    /// The address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub grpc: SocketAddr,
}

/// Starts `bench null-kitchen`, runs the ingest scenario against it, prints the figures.
pub async fn run(args: &CeilingArgs) -> anyhow::Result<()> {
    println!("{}", machine_description());
    let port = free_port();
    let grpc = format!("127.0.0.1:{port}");
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .args(["null-kitchen", "--grpc", &grpc])
        .env("RUST_LOG", "warn");
    let log_path =
        std::env::temp_dir().join(format!("bench-null-kitchen-{}.log", std::process::id()));
    let mut server = Service::spawn(command, log_path)?;
    let ready =
        tokio::task::spawn_blocking(move || wait_for_port(port, Duration::from_secs(30))).await?;
    anyhow::ensure!(
        ready,
        "the null kitchen did not start; see {}",
        server.log_path.display()
    );
    println!("null kitchen: {grpc}, answering every order at once, storing nothing");
    println!("load before: {}", load_average());

    let server_cpu = CpuUsage::start(server.pid);
    let own_cpu = CpuUsage::start(std::process::id());
    let machine_cpu = CpuUsage::machine();
    let report = ingest::run(&IngestArgs {
        grpc,
        orders: args.orders,
        in_flight: args.in_flight,
        warmup: 2_000,
        connections: 1,
    })
    .await?;
    let (server_cpu, own_cpu, machine_cpu) = (
        server_cpu.percent(),
        own_cpu.percent(),
        machine_cpu.percent(),
    );
    println!("{report}");
    let rate = report.orders_per_sec();
    println!(
        "  CPU         null kitchen {server_cpu:.0}%, bench {own_cpu:.0}%, machine {machine_cpu:.0}% \
         (of {}%)",
        100 * std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "  per order   null kitchen {:.0} µs, bench {:.0} µs, machine {:.0} µs of CPU",
        micros_per_order(server_cpu, rate),
        micros_per_order(own_cpu, rate),
        micros_per_order(machine_cpu, rate)
    );
    println!();
    println!(
        "| in flight | orders/s (nothing stored) | ack p50 | ack p99 | null kitchen CPU | bench CPU | machine CPU |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} | {rate:.0} | {} | {} | {server_cpu:.0}% | {own_cpu:.0}% | {machine_cpu:.0}% |",
        report.in_flight,
        Millis(report.ack.p50),
        Millis(report.ack.p99),
    );
    println!("load after: {}", load_average());
    server.stop("the null kitchen").await?;
    anyhow::ensure!(
        report.failed == 0,
        "{} orders failed: {}",
        report.failed,
        report.first_error.unwrap_or_default()
    );
    Ok(())
}

/// Serves the order service with [`AnswerAtOnce`] until SIGTERM or Ctrl-C.
pub async fn serve(args: &NullKitchenArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.grpc)
        .await
        .with_context(|| format!("cannot listen on {}", args.grpc))?;
    let (_serving, serving) = tokio::sync::watch::channel(true);
    grpc_servers::start_order_server(
        listener,
        Arc::new(AnswerAtOnce),
        serving,
        &ServerOptions::default(),
        shared_utils::shutdown::shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// Answers every order as the kitchen answers one it has stored, without storing it.
struct AnswerAtOnce;

impl OrderHandler for AnswerAtOnce {
    async fn handle_order(&self, request: OrderRequest) -> Result<OrderResponse, HandlerError> {
        Ok(OrderResponse {
            success: true,
            message: "Order received".to_owned(),
            order_id: request.order_id,
            processed_at: shared_utils::time::now_iso8601(),
        })
    }
}
