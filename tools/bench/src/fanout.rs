//! `bench fanout`: orders sent at a fixed rate while many screens watch the event stream; how
//! long each order takes from its `SendOrder` call to each screen, and whether any screen missed
//! an order or got one twice.
//!
//! Sending is open loop: a ticker decides how many orders are due by now and each is sent on a
//! task of its own, so a slow acknowledgement never lowers the offered rate. Every subscriber is
//! a real HTTP connection to `/orders/events`. Latency is measured in this one process with one
//! monotonic clock: receive time (when the chunk holding the event was read) minus send time
//! (just before the gRPC call).

use crate::orders;
use crate::sse::{self, DataFrames};
use crate::stats::{Millis, Summary, micros};
use futures::StreamExt;
use grpc_clients::initialize_order_client;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// Options of `bench fanout`.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// The kitchen's gRPC address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub grpc: String,
    /// The kitchen's HTTP base URL.
    #[arg(long, default_value = "http://127.0.0.1:8001")]
    pub http: String,
    /// Event stream connections (kitchen screens).
    #[arg(long, default_value_t = 200)]
    pub subscribers: usize,
    /// Orders sent per second.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    /// After the last acknowledgement, the longest wait for every screen to receive every
    /// order; what has not arrived by then is counted lost.
    #[arg(long, default_value_t = 10)]
    pub drain_secs: u64,
}

/// What `bench fanout` measured.
#[derive(Debug, Clone)]
pub struct FanoutReport {
    /// Subscribers connected.
    pub subscribers: usize,
    /// Orders per second offered.
    pub rate: f64,
    /// Orders sent.
    pub sent: usize,
    /// From the first send to the last.
    pub send_elapsed: Duration,
    /// From the first send to the last acknowledgement.
    pub ack_elapsed: Duration,
    /// Orders not acknowledged as stored.
    pub failed: usize,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Send-to-acknowledgement latency.
    pub ack: Summary,
    /// Send-to-receive latency over every (order, subscriber) delivery.
    pub latency: Summary,
    /// Acknowledged orders times subscribers: the deliveries owed.
    pub expected: usize,
    /// Acknowledged orders some subscriber had not received when the drain ended.
    pub lost: usize,
    /// Orders a subscriber received more than once (each repeat counted).
    pub duplicates: usize,
    /// Subscribers whose stream ended or failed before the end.
    pub disconnected: usize,
    /// From the last acknowledgement until every subscriber had everything (or the drain ended).
    pub drain: Duration,
}

impl FanoutReport {
    /// Orders acknowledged per second over the sending period.
    pub fn acked_per_sec(&self) -> f64 {
        (self.sent - self.failed) as f64 / self.ack_elapsed.as_secs_f64()
    }
}

impl fmt::Display for FanoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fanout: {} subscribers, {} orders/s offered, {} orders sent in {:.2} s",
            self.subscribers,
            self.rate,
            self.sent,
            self.send_elapsed.as_secs_f64()
        )?;
        writeln!(f, "  acked       {:.0} orders/s", self.acked_per_sec())?;
        writeln!(
            f,
            "  ack         p50 {}  p99 {}  max {}",
            Millis(self.ack.p50),
            Millis(self.ack.p99),
            Millis(self.ack.max)
        )?;
        writeln!(
            f,
            "  delivery    p50 {}  p99 {}  max {}  ({} of {} deliveries)",
            Millis(self.latency.p50),
            Millis(self.latency.p99),
            Millis(self.latency.max),
            self.latency.count,
            self.expected
        )?;
        write!(
            f,
            "  lost {}  duplicates {}  failed sends {}  disconnected {}  drain {:.2} s",
            self.lost,
            self.duplicates,
            self.failed,
            self.disconnected,
            self.drain.as_secs_f64()
        )?;
        if let Some(error) = &self.first_error {
            write!(f, "\n  first failure: {error}")?;
        }
        Ok(())
    }
}

/// What every task shares: the clock and each order's send time.
struct Shared {
    origin: Instant,
    prefix: String,
    warmup_prefix: String,
    /// Nanoseconds from `origin` to order `n`'s send, plus one; 0 while unsent.
    sent_at: Vec<AtomicU64>,
    /// Subscribers that have received a warm-up order (their stream is live).
    warm: AtomicUsize,
}

impl Shared {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One subscriber's view of the run.
struct Received {
    seen: Vec<bool>,
    latencies: Vec<u64>,
    duplicates: usize,
    ended: Option<String>,
}

/// Runs the fan-out scenario against the kitchen at `args.grpc` and `args.http`.
pub async fn run(args: &FanoutArgs) -> anyhow::Result<FanoutReport> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    anyhow::ensure!(args.subscribers >= 1, "--subscribers must be at least 1");
    let total = (args.rate * args.duration_secs as f64).ceil() as usize;
    anyhow::ensure!(total >= 1, "--rate times --duration-secs sends no order");
    let prefix = orders::run_prefix("fanout");
    let shared = Arc::new(Shared {
        origin: Instant::now(),
        warmup_prefix: format!("{prefix}warmup-"),
        prefix,
        sent_at: (0..total).map(|_| AtomicU64::new(0)).collect(),
        warm: AtomicUsize::new(0),
    });

    // Subscribe every screen first; the kitchen has subscribed once the headers are back.
    let url = format!("{}/orders/events", args.http.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(anyhow::Error::from)?;
    let responses: Vec<_> = futures::stream::iter(0..args.subscribers)
        .map(|_| open_stream(&http, &url))
        .buffer_unordered(32)
        .collect()
        .await;
    let (stop, stopped) = watch::channel(false);
    let mut progress = Vec::with_capacity(args.subscribers);
    let mut readers = Vec::with_capacity(args.subscribers);
    for response in responses {
        let count = Arc::new(AtomicUsize::new(0));
        readers.push(tokio::spawn(read_stream(
            response?,
            Arc::clone(&shared),
            Arc::clone(&count),
            stopped.clone(),
        )));
        progress.push(count);
    }

    let client = initialize_order_client(&args.grpc, Duration::from_secs(30))?;
    warm_up(&client, &shared, args.subscribers).await?;

    // Open-loop sending.
    let mut acks = JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        ticker.tick().await;
        let due = ((started.elapsed().as_secs_f64() * args.rate) as usize + 1).min(total);
        while sent < due {
            let order = orders::order(&shared.prefix, sent);
            let client = client.clone();
            shared.sent_at[sent].store(shared.now() + 1, Ordering::Release);
            let sequence = sent;
            acks.spawn(async move {
                let sent = Instant::now();
                let result = client.send_order(order).await;
                (sequence, micros(sent.elapsed()), result)
            });
            sent += 1;
        }
    }
    let send_elapsed = started.elapsed();

    let mut acked = vec![false; total];
    let mut acked_count = 0;
    let mut ack_latencies = Vec::with_capacity(total);
    let (mut failed, mut first_error) = (0, None);
    while let Some(joined) = acks.join_next().await {
        let (sequence, latency, result) = joined.expect("a sender task panicked");
        match result {
            Ok(response) if response.success => {
                acked[sequence] = true;
                acked_count += 1;
                ack_latencies.push(latency);
            }
            Ok(response) => {
                failed += 1;
                first_error.get_or_insert(response.message);
            }
            Err(error) => {
                failed += 1;
                first_error.get_or_insert(error.to_string());
            }
        }
    }
    let ack_elapsed = started.elapsed();

    // Drain: wait until every subscriber has as many of the run's orders as were acknowledged.
    let drain_started = Instant::now();
    let drain_deadline = drain_started + Duration::from_secs(args.drain_secs);
    while Instant::now() < drain_deadline
        && progress
            .iter()
            .any(|count| count.load(Ordering::Acquire) < acked_count)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain = drain_started.elapsed();
    let _ = stop.send(true);

    let mut latencies = Vec::with_capacity(acked_count * args.subscribers);
    let (mut lost, mut duplicates, mut disconnected) = (0, 0, 0);
    for reader in readers {
        let received = reader.await.expect("a subscriber task panicked");
        lost += acked
            .iter()
            .zip(&received.seen)
            .filter(|&(&acked, &seen)| acked && !seen)
            .count();
        duplicates += received.duplicates;
        disconnected += usize::from(received.ended.is_some());
        if let Some(reason) = &received.ended {
            first_error.get_or_insert_with(|| format!("a subscriber's stream ended: {reason}"));
        }
        latencies.extend(received.latencies);
    }
    Ok(FanoutReport {
        subscribers: args.subscribers,
        rate: args.rate,
        sent: total,
        send_elapsed,
        ack_elapsed,
        failed,
        first_error,
        ack: Summary::of(&mut ack_latencies),
        latency: Summary::of(&mut latencies),
        expected: acked_count * args.subscribers,
        lost,
        duplicates,
        disconnected,
        drain,
    })
}

/// Opens `url` as an event stream; an error unless the answer is a successful event stream.
pub async fn open_stream(http: &reqwest::Client, url: &str) -> anyhow::Result<reqwest::Response> {
    let response = http
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    let is_event_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    anyhow::ensure!(
        response.status().is_success() && is_event_stream,
        "{url} answered {} without an event stream",
        response.status()
    );
    Ok(response)
}

/// Sends warm-up orders (not measured) until every subscriber has received one: the streams are
/// live and the gRPC connection is up.
async fn warm_up(
    client: &grpc_clients::OrderClient,
    shared: &Shared,
    subscribers: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for sequence in 0.. {
        let order = orders::order(&shared.warmup_prefix, sequence);
        client.send_order(order).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let warm = shared.warm.load(Ordering::Acquire);
        if warm >= subscribers {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {warm} of {subscribers} subscribers received the warm-up orders"
        );
    }
    unreachable!("the warm-up loop ends by returning")
}

/// Reads one subscriber's stream until told to stop, recording each of the run's orders.
async fn read_stream(
    response: reqwest::Response,
    shared: Arc<Shared>,
    progress: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Received {
    let total = shared.sent_at.len();
    let mut received = Received {
        seen: vec![false; total],
        latencies: Vec::with_capacity(total),
        duplicates: 0,
        ended: None,
    };
    let mut unique = 0;
    let mut warm = false;
    let mut parser = DataFrames::default();
    let mut body = response.bytes_stream();
    loop {
        let chunk = tokio::select! {
            biased;
            _ = stop.changed() => break,
            chunk = body.next() => chunk,
        };
        let chunk = match chunk {
            Some(Ok(chunk)) => chunk,
            Some(Err(error)) => {
                received.ended = Some(error.to_string());
                break;
            }
            None => {
                received.ended = Some("the server closed it".into());
                break;
            }
        };
        let now = shared.now();
        parser.feed(&chunk, |data| {
            let Some(order_id) = sse::order_id(data) else {
                return;
            };
            let Some(sequence) = orders::sequence_of(&shared.prefix, &order_id) else {
                if !warm && order_id.starts_with(&shared.warmup_prefix) {
                    warm = true;
                    shared.warm.fetch_add(1, Ordering::AcqRel);
                }
                return;
            };
            let Some(seen) = received.seen.get_mut(sequence) else {
                return;
            };
            if *seen {
                received.duplicates += 1;
                return;
            }
            *seen = true;
            unique += 1;
            let sent_at = shared.sent_at[sequence].load(Ordering::Acquire);
            if sent_at > 0 {
                received
                    .latencies
                    .push(now.saturating_sub(sent_at - 1) / 1_000);
            }
        });
        progress.store(unique, Ordering::Release);
    }
    received
}
