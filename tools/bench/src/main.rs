//! `bench`: drives the running kitchen batch tool service over gRPC and Server-Sent Events.
//!
//! ```text
//! bench ingest --grpc 127.0.0.1:50051 --orders 100000 --in-flight 64
//! bench fanout --grpc 127.0.0.1:50051 --http http://127.0.0.1:8001 --subscribers 200 --rate 500 --duration-secs 30
//! bench all                      # throwaway durable PostgreSQL + the kitchen's binary, both scenarios
//! bench ceiling                  # the ingest scenario against a kitchen that stores nothing
//! bench pipeline                 # + SecantusDB and the order service: MongoDB insert -> kitchen SSE
//! bench screen                   # the kitchen screen in headless Chromium: 500 open tickets, 50 new orders/s
//! ```
//!
//! Everything runs on the loopback interface and stops by itself. See `BENCHMARKS.md`.

mod all;
mod ceiling;
mod fanout;
mod ingest;
mod machine;
mod orders;
mod pipeline;
mod screen;
mod screenshots;
mod services;
mod sse;
mod stats;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

/// Benchmarks the kitchen batch tool service.
#[derive(Debug, Parser)]
#[command(name = "bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Orders per second and acknowledgement latency with a fixed number of requests in flight.
    Ingest(ingest::IngestArgs),
    /// Send-to-screen latency, lost and duplicate orders with many event-stream subscribers.
    Fanout(fanout::FanoutArgs),
    /// Starts a durable PostgreSQL and the kitchen, runs both scenarios, prints tables.
    All(all::AllArgs),
    /// Runs the ingest scenario against `bench null-kitchen`, a kitchen that stores nothing: the
    /// rate the gRPC round trip alone allows on this machine.
    Ceiling(ceiling::CeilingArgs),
    /// Serves the order service with a handler that answers every order at once and stores
    /// nothing (what `bench ceiling` measures against).
    #[command(hide = true)]
    NullKitchen(ceiling::NullKitchenArgs),
    /// Starts SecantusDB, a durable PostgreSQL, the kitchen and the order management service;
    /// measures MongoDB insert -> kitchen event stream (backlog and steady) against a bare
    /// change-stream reader, prints tables.
    Pipeline(pipeline::PipelineArgs),
    /// Starts a durable PostgreSQL, the kitchen and headless Chromium; measures the kitchen
    /// screen holding 500 open tickets while new orders arrive (time to paint, memory).
    Screen(screen::ScreenArgs),
    /// Takes the README's screenshots of the kitchen screen from a real kitchen.
    Screenshots(screenshots::ScreenshotsArgs),
}

/// Prints a report; a closed stdout (`bench ... | head`) is not an error worth a panic.
fn print(report: &dyn std::fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{report}");
}

/// mimalloc rather than glibc's allocator, whose malloc, free and arena locks were a fifth of the
/// load generator's CPU: it takes less of the cores it shares with the kitchen and PostgreSQL
/// (BENCHMARKS.md, "Ingest").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the Tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Ingest(args) => ingest::run(args).await.map(|report| print(&report)),
            Command::Fanout(args) => fanout::run(args).await.map(|report| print(&report)),
            Command::All(args) => all::run(args).await,
            Command::Ceiling(args) => ceiling::run(args).await,
            Command::NullKitchen(args) => ceiling::serve(args).await,
            Command::Pipeline(args) => pipeline::run(args).await,
            Command::Screen(args) => screen::run(args).await,
            Command::Screenshots(args) => screenshots::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
