//! `bench`: drives the running kitchen batch tool service over gRPC and Server-Sent Events.
//!
//! ```text
//! bench ingest --grpc 127.0.0.1:50051 --orders 100000 --in-flight 64
//! bench fanout --grpc 127.0.0.1:50051 --http http://127.0.0.1:8001 --subscribers 200 --rate 500 --duration-secs 30
//! bench all                      # throwaway durable PostgreSQL + the kitchen's binary, both scenarios
//! bench pipeline                 # + SecantusDB and the order service: MongoDB insert -> kitchen SSE
//! ```
//!
//! Everything runs on the loopback interface and stops by itself. See `BENCHMARKS.md`.

mod all;
mod fanout;
mod ingest;
mod machine;
mod orders;
mod pipeline;
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
    /// Starts SecantusDB, a durable PostgreSQL, the kitchen and the order management service;
    /// measures MongoDB insert -> kitchen event stream (backlog and steady) against a bare
    /// change-stream reader, prints tables.
    Pipeline(pipeline::PipelineArgs),
}

/// Prints a report; a closed stdout (`bench ... | head`) is not an error worth a panic.
fn print(report: &dyn std::fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{report}");
}

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
            Command::Pipeline(args) => pipeline::run(args).await,
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
