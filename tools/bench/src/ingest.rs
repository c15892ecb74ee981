//! `bench ingest`: how many orders a second the kitchen stores and acknowledges with a fixed
//! number of requests in flight (closed loop: each sender sends its next order when the last is
//! acknowledged).

use crate::orders;
use crate::stats::{Millis, Summary, micros};
use grpc_clients::{OrderClient, initialize_order_client};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Options of `bench ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// The kitchen's gRPC address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub grpc: String,
    /// Orders to send and measure (after the warm-up).
    #[arg(long, default_value_t = 100_000)]
    pub orders: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Orders sent first and left out of the figures (connection set-up, warm caches).
    #[arg(long, default_value_t = 2_000)]
    pub warmup: usize,
    /// gRPC (HTTP/2) connections the requests share; the order management service uses one.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
}

/// What `bench ingest` measured.
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// Orders measured.
    pub orders: usize,
    /// Of those, orders not acknowledged as stored.
    pub failed: usize,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Requests in flight.
    pub in_flight: usize,
    /// From the first measured send to the last acknowledgement.
    pub elapsed: Duration,
    /// Send-to-acknowledgement latency of the acknowledged orders.
    pub ack: Summary,
}

impl IngestReport {
    /// Acknowledged orders per second.
    pub fn orders_per_sec(&self) -> f64 {
        (self.orders - self.failed) as f64 / self.elapsed.as_secs_f64()
    }
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ingest: {} orders, {} in flight, {:.2} s",
            self.orders,
            self.in_flight,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "  throughput  {:.0} orders/s", self.orders_per_sec())?;
        writeln!(
            f,
            "  ack         p50 {}  p99 {}  max {}",
            Millis(self.ack.p50),
            Millis(self.ack.p99),
            Millis(self.ack.max)
        )?;
        write!(f, "  failed      {}", self.failed)?;
        if let Some(error) = &self.first_error {
            write!(f, " (first: {error})")?;
        }
        Ok(())
    }
}

/// Runs the ingest scenario against the kitchen at `args.grpc`.
pub async fn run(args: &IngestArgs) -> anyhow::Result<IngestReport> {
    anyhow::ensure!(args.in_flight >= 1, "--in-flight must be at least 1");
    anyhow::ensure!(args.orders >= 1, "--orders must be at least 1");
    let clients = (0..args.connections.max(1))
        .map(|_| initialize_order_client(&args.grpc, Duration::from_secs(30)))
        .collect::<Result<Vec<_>, _>>()?;
    let clients = Arc::new(clients);
    let prefix = Arc::new(orders::run_prefix("ingest"));

    if args.warmup > 0 {
        let warmup = send_all(&clients, &prefix, 0, args.warmup, args.in_flight).await;
        if let Some(error) = warmup.first_error {
            anyhow::bail!("the warm-up failed ({} orders): {error}", warmup.failed);
        }
    }
    let started = Instant::now();
    let mut outcome = send_all(
        &clients,
        &prefix,
        args.warmup,
        args.warmup + args.orders,
        args.in_flight,
    )
    .await;
    let elapsed = started.elapsed();
    Ok(IngestReport {
        orders: args.orders,
        failed: outcome.failed,
        first_error: outcome.first_error,
        in_flight: args.in_flight,
        elapsed,
        ack: Summary::of(&mut outcome.latencies),
    })
}

#[derive(Default)]
struct Outcome {
    latencies: Vec<u64>,
    failed: usize,
    first_error: Option<String>,
}

/// Sends orders `from..to` with `in_flight` senders, each on its own task.
async fn send_all(
    clients: &Arc<Vec<OrderClient>>,
    prefix: &Arc<String>,
    from: usize,
    to: usize,
    in_flight: usize,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(from));
    let senders: Vec<_> = (0..in_flight)
        .map(|sender| {
            let client = clients[sender % clients.len()].clone();
            let (next, prefix) = (Arc::clone(&next), Arc::clone(prefix));
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                loop {
                    let sequence = next.fetch_add(1, Ordering::Relaxed);
                    if sequence >= to {
                        return outcome;
                    }
                    let order = orders::order(&prefix, sequence);
                    let sent = Instant::now();
                    match client.send_order(order).await {
                        Ok(response) if response.success => {
                            outcome.latencies.push(micros(sent.elapsed()));
                        }
                        Ok(response) => {
                            outcome.failed += 1;
                            outcome.first_error.get_or_insert(response.message);
                        }
                        Err(error) => {
                            outcome.failed += 1;
                            outcome.first_error.get_or_insert(error.to_string());
                        }
                    }
                }
            })
        })
        .collect();
    let mut total = Outcome::default();
    for sender in senders {
        let outcome = sender.await.expect("a sender task panicked");
        total.latencies.extend(outcome.latencies);
        total.failed += outcome.failed;
        if total.first_error.is_none() {
            total.first_error = outcome.first_error;
        }
    }
    total
}
