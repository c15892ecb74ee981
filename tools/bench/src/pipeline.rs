//! `bench pipeline`: the whole pipeline, from an insert into MongoDB's `orders` collection to the
//! kitchen's event stream, with real parts only. It starts SecantusDB (a MongoDB-compatible
//! server), a throwaway durable PostgreSQL, and for each order management service binary given a
//! kitchen and that order service on databases of their own, all on loopback ports. With
//! `--fresh-secantus` each order service gets a SecantusDB of its own: this release of it slows
//! down as it is used, which on a shared server handicaps every binary after the first.
//!
//! - **Backlog**: the order service is paused (SIGSTOP) while N orders are inserted, then resumed
//!   (SIGCONT); the figure is orders per second from SIGCONT until one event-stream client of the
//!   kitchen has seen every one of them.
//! - **Bare reader**, the reference, on the same server just before: the same N inserts, then a
//!   plain change stream opened at the time before them and read until it has given N events;
//!   no order service could read its backlog faster.
//! - **Steady**: one order inserted at a time at a fixed rate while the service runs; the
//!   latency from each insert's start to its arrival on the screen.
//!
//! Times are taken in this one process with one monotonic clock. An order's event is known by
//! its `order_id`, the document's ObjectId as 24 hex characters; the benchmark makes the ids
//! itself (as the driver would) so it knows them before inserting.

use crate::fanout::open_stream;
use crate::machine::{
    self, CpuUsage, load_average, machine_description, peak_rss_mib, pids_with_argument,
    process_state, send_signal,
};
use crate::services::{self, Kitchen, Service};
use crate::sse::{self, DataFrames};
use crate::stats::{Millis, Summary, micros};
use anyhow::Context;
use futures::StreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, Timestamp, doc};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::{Client, Collection, Database};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_support::{MongoTestServer, PostgresServer, free_port, unique_name};
use tokio::sync::watch;

/// The collection the order services watch, in each one's own database.
const ORDERS: &str = "orders";
/// Orders per `insert_many` call.
const INSERT_CHUNK: usize = 1_000;
/// How long a service may take to start, and the warm-up order to arrive.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `bench pipeline`.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// The kitchen's binary; by default `kitchen_batch_tool_service` next to this program.
    #[arg(long)]
    pub kitchen_bin: Option<PathBuf>,
    /// An order management service binary, as `PATH` or `LABEL=PATH` (repeatable, or a
    /// comma-separated list); each is measured in turn, on databases of its own on the same
    /// servers. By default `order_management_service` next to this program.
    #[arg(long = "order-service-bin", value_delimiter = ',', value_parser = parse_binary)]
    pub order_service_bins: Vec<Binary>,
    /// Extra environment for every order service, as `KEY=VALUE` (repeatable).
    #[arg(long = "order-service-env", value_parser = machine::parse_key_value)]
    pub order_service_env: Vec<(String, String)>,
    /// Extra environment for the kitchen, as `KEY=VALUE` (repeatable).
    #[arg(long = "kitchen-env", value_parser = machine::parse_key_value)]
    pub kitchen_env: Vec<(String, String)>,
    /// Backlog: orders inserted while the order service is paused (and read by the bare reader).
    #[arg(long, default_value_t = 10_000)]
    pub backlog: usize,
    /// The longest wait for every order to reach the screen (backlog and steady); what has not
    /// arrived by then is counted lost.
    #[arg(long, default_value_t = 120)]
    pub drain_secs: u64,
    /// Steady: orders inserted per second, one at a time.
    #[arg(long, default_value_t = 30.0)]
    pub steady_rate: f64,
    /// Steady: seconds of inserting.
    #[arg(long, default_value_t = 30)]
    pub steady_secs: u64,
    /// `max_connections` of the throwaway PostgreSQL.
    #[arg(long, default_value_t = 100)]
    pub pg_max_connections: u32,
    /// A new SecantusDB for each order service, instead of one shared by all. SecantusDB
    /// 0.7.0b3 slows down as it is used (change stream, inserts and checkpoint writes), so on a
    /// shared server every binary after the first is measured on a slower server.
    #[arg(long)]
    pub fresh_secantus: bool,
}

/// An order service binary given on the command line, with its label if one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    label: Option<String>,
    path: PathBuf,
}

/// `LABEL=PATH` or `PATH`: text before the first `=` is a label if it holds no `/`.
fn parse_binary(text: &str) -> Result<Binary, String> {
    let (label, path) = match text.split_once('=') {
        Some((label, path)) if !label.is_empty() && !label.contains('/') => {
            (Some(label.to_owned()), path)
        }
        _ => (None, text),
    };
    if path.is_empty() {
        return Err(format!("expected PATH or LABEL=PATH, got {text:?}"));
    }
    Ok(Binary {
        label,
        path: PathBuf::from(path),
    })
}

/// The label of each binary: the one given, else its file name; a label that two binaries
/// would share gets ` #<position>` (from 1) after it.
fn labels(binaries: &[Binary]) -> Vec<String> {
    let base: Vec<String> = binaries
        .iter()
        .map(|binary| {
            binary.label.clone().unwrap_or_else(|| {
                binary.path.file_name().map_or_else(
                    || binary.path.display().to_string(),
                    |name| name.to_string_lossy().into_owned(),
                )
            })
        })
        .collect();
    base.iter()
        .enumerate()
        .map(|(index, label)| {
            if base.iter().filter(|other| *other == label).count() > 1 {
                format!("{label} #{}", index + 1)
            } else {
                label.clone()
            }
        })
        .collect()
}

/// A small valid order: `OtterOrderId` `bench-<scenario>-<n>`, one item on one station.
fn order_document(id: ObjectId, scenario: &str, n: usize) -> Document {
    doc! {
        "_id": id,
        "OtterOrderId": format!("bench-{scenario}-{n}"),
        "BrandName": "Bench",
        "StationOrders": [
            { "OwnStationName": "Grill", "OrderItems": [ { "Name": "Burger", "Quantity": 1 } ] },
        ],
    }
}

/// `count` orders of `scenario` with fresh ObjectIds.
fn order_documents(scenario: &str, count: usize) -> Vec<(ObjectId, Document)> {
    (0..count)
        .map(|n| {
            let id = ObjectId::new();
            (id, order_document(id, scenario, n))
        })
        .collect()
}

/// Inserts `documents` with `insert_many`, [`INSERT_CHUNK`] at a time; returns how long it took.
async fn insert_chunked(
    orders: &Collection<Document>,
    documents: &[(ObjectId, Document)],
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for chunk in documents.chunks(INSERT_CHUNK) {
        let inserted = orders
            .insert_many(chunk.iter().map(|(_, document)| document))
            .await
            .context("insert_many")?;
        anyhow::ensure!(
            inserted.inserted_ids.len() == chunk.len(),
            "insert_many inserted {} of {} orders",
            inserted.inserted_ids.len(),
            chunk.len()
        );
    }
    Ok(started.elapsed())
}

/// What the event-stream client has seen: the first arrival of each order the benchmark
/// registered, and how many times each came.
#[derive(Debug, Default)]
struct Tracker {
    slots: HashMap<String, usize>,
    arrivals: Vec<Option<Instant>>,
    deliveries: Vec<u32>,
    /// Events of orders the benchmark did not register.
    unknown: usize,
    /// Why the stream ended, if it did.
    ended: Option<String>,
}

impl Tracker {
    /// Registers `ids` (expected orders) and returns their slots.
    fn register(&mut self, ids: impl IntoIterator<Item = String>) -> Range<usize> {
        let start = self.arrivals.len();
        for id in ids {
            let slot = self.arrivals.len();
            self.slots.insert(id, slot);
            self.arrivals.push(None);
            self.deliveries.push(0);
        }
        start..self.arrivals.len()
    }

    /// Records an event of order `id` received at `now`.
    fn record(&mut self, id: &str, now: Instant) {
        let Some(&slot) = self.slots.get(id) else {
            self.unknown += 1;
            return;
        };
        self.deliveries[slot] += 1;
        self.arrivals[slot].get_or_insert(now);
    }

    /// How many of `slots` have arrived.
    fn seen(&self, slots: Range<usize>) -> usize {
        self.arrivals[slots].iter().flatten().count()
    }

    /// Deliveries beyond the first, over `slots`.
    fn duplicates(&self, slots: Range<usize>) -> usize {
        self.deliveries[slots]
            .iter()
            .map(|&count| count.saturating_sub(1) as usize)
            .sum()
    }

    /// The last first-arrival among `slots`.
    fn last_arrival(&self, slots: Range<usize>) -> Option<Instant> {
        self.arrivals[slots].iter().flatten().max().copied()
    }
}

/// The kitchen's event stream, read on a task of its own into a [`Tracker`].
struct Screen {
    tracker: Arc<Mutex<Tracker>>,
    stop: watch::Sender<bool>,
    reader: tokio::task::JoinHandle<()>,
}

impl Screen {
    async fn open(http: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
        let url = format!("{}/orders/events", http.trim_end_matches('/'));
        let response = open_stream(&client, &url).await?;
        let tracker = Arc::new(Mutex::new(Tracker::default()));
        let (stop, stopped) = watch::channel(false);
        let reader = tokio::spawn(read_events(response, Arc::clone(&tracker), stopped));
        Ok(Self {
            tracker,
            stop,
            reader,
        })
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker.lock().expect("the tracker's lock")
    }

    fn register(&self, ids: impl IntoIterator<Item = String>) -> Range<usize> {
        self.tracker().register(ids)
    }

    /// Waits until every order of `slots` has arrived, the stream ended, or `timeout` passed.
    async fn wait_for(&self, slots: Range<usize>, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let tracker = self.tracker();
                if let Some(reason) = &tracker.ended {
                    anyhow::bail!("the kitchen's event stream ended: {reason}");
                }
                if tracker.seen(slots.clone()) == slots.len() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn close(self) -> Tracker {
        let _ = self.stop.send(true);
        let _ = self.reader.await;
        Arc::try_unwrap(self.tracker)
            .map(|tracker| tracker.into_inner().expect("the tracker's lock"))
            .unwrap_or_default()
    }
}

async fn read_events(
    response: reqwest::Response,
    tracker: Arc<Mutex<Tracker>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut parser = DataFrames::default();
    let mut body = response.bytes_stream();
    let mut ids = Vec::new();
    loop {
        let chunk = tokio::select! {
            biased;
            _ = stop.changed() => return,
            chunk = body.next() => chunk,
        };
        let chunk = match chunk {
            Some(Ok(chunk)) => chunk,
            Some(Err(error)) => {
                tracker.lock().expect("the tracker's lock").ended = Some(error.to_string());
                return;
            }
            None => {
                tracker.lock().expect("the tracker's lock").ended =
                    Some("the server closed it".into());
                return;
            }
        };
        let now = Instant::now();
        parser.feed(&chunk, |data| {
            if let Some(id) = sse::order_id(data) {
                ids.push(id.into_owned());
            }
        });
        if !ids.is_empty() {
            let mut tracker = tracker.lock().expect("the tracker's lock");
            for id in ids.drain(..) {
                tracker.record(&id, now);
            }
        }
    }
}

/// Where the bare reader's change stream starts.
#[derive(Debug, Clone)]
enum StartPosition {
    /// The `operationTime` of a `ping` run before the inserts.
    OperationTime(Timestamp),
    /// The resume token of a stream opened (and closed) before the inserts, where the server
    /// gave no `operationTime`.
    ResumeToken(ResumeToken),
}

impl StartPosition {
    fn description(&self) -> String {
        match self {
            Self::OperationTime(time) => format!(
                "start_at_operation_time = ping's operationTime ({}, {})",
                time.time, time.increment
            ),
            Self::ResumeToken(_) => {
                "start_after = resume token of a stream opened before the inserts (ping gave no operationTime)"
                    .into()
            }
        }
    }
}

/// What the bare change-stream reader measured.
#[derive(Debug, Clone)]
struct BareReport {
    events: usize,
    expected: usize,
    insert: Duration,
    /// From opening the stream to its last expected event.
    read: Duration,
    start: String,
    cpu: Cpu,
}

impl BareReport {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.read.as_secs_f64()
    }
}

impl fmt::Display for BareReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bare change-stream reader: {} orders inserted in {:.2} s ({:.0}/s, insert_many of {INSERT_CHUNK})",
            self.expected,
            self.insert.as_secs_f64(),
            self.expected as f64 / self.insert.as_secs_f64()
        )?;
        writeln!(f, "  start       {}", self.start)?;
        writeln!(
            f,
            "  read        {} of {} events in {:.2} s: {:.0} events/s",
            self.events,
            self.expected,
            self.read.as_secs_f64(),
            self.events_per_sec()
        )?;
        write!(f, "  CPU         {}", self.cpu)
    }
}

/// Inserts `count` orders into a fresh collection, then reads them back with a plain change
/// stream opened at a position before the inserts.
async fn bare_reader(
    database: &Database,
    count: usize,
    servers: &Servers,
    timeout: Duration,
) -> anyhow::Result<BareReport> {
    database.create_collection(ORDERS).await?;
    let orders = database.collection::<Document>(ORDERS);
    let reply = database.run_command(doc! { "ping": 1 }).await?;
    let start = match reply.get_timestamp("operationTime") {
        Ok(time) => StartPosition::OperationTime(time),
        Err(_) => {
            let stream = orders.watch().await?;
            StartPosition::ResumeToken(
                stream
                    .resume_token()
                    .context("a new change stream has no resume token")?,
            )
        }
    };
    let documents = order_documents("bare", count);
    let expected: HashSet<ObjectId> = documents.iter().map(|(id, _)| *id).collect();
    let insert = insert_chunked(&orders, &documents).await?;

    let cpu = CpuMeters::start(servers, None, None);
    let started = Instant::now();
    let watch = orders
        .watch()
        .pipeline([doc! { "$match": { "operationType": "insert" } }]);
    let mut stream = match &start {
        StartPosition::OperationTime(time) => watch.start_at_operation_time(*time).await?,
        StartPosition::ResumeToken(token) => watch.start_after(token.clone()).await?,
    };
    let deadline = started + timeout;
    let mut seen = HashSet::with_capacity(count);
    while seen.len() < count {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let event: ChangeStreamEvent<Document> =
            match tokio::time::timeout(remaining, stream.next()).await {
                Ok(Some(event)) => event?,
                Ok(None) => anyhow::bail!("the bare change stream ended"),
                Err(_) => break,
            };
        if event.operation_type == OperationType::Insert
            && let Some(id) = event
                .document_key
                .as_ref()
                .and_then(|key| key.get_object_id("_id").ok())
            && expected.contains(&id)
        {
            seen.insert(id);
        }
    }
    let read = started.elapsed();
    let cpu = cpu.read();
    Ok(BareReport {
        events: seen.len(),
        expected: count,
        insert,
        read,
        start: start.description(),
        cpu,
    })
}

/// What the backlog scenario measured.
#[derive(Debug, Clone)]
struct BacklogReport {
    orders: usize,
    insert: Duration,
    /// From SIGCONT to the last order's arrival on the screen.
    drain: Duration,
    seen: usize,
    duplicates: usize,
    cpu: Cpu,
}

impl BacklogReport {
    fn orders_per_sec(&self) -> f64 {
        self.seen as f64 / self.drain.as_secs_f64()
    }

    fn lost(&self) -> usize {
        self.orders - self.seen
    }
}

impl fmt::Display for BacklogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "backlog: {} orders inserted in {:.2} s while the order service was stopped (SIGSTOP)",
            self.orders,
            self.insert.as_secs_f64()
        )?;
        writeln!(
            f,
            "  drain       {} of {} on the screen {:.2} s after SIGCONT: {:.0} orders/s",
            self.seen,
            self.orders,
            self.drain.as_secs_f64(),
            self.orders_per_sec()
        )?;
        writeln!(f, "  lost {}  duplicates {}", self.lost(), self.duplicates)?;
        write!(f, "  CPU         {}", self.cpu)
    }
}

/// What the steady scenario measured.
#[derive(Debug, Clone)]
struct SteadyReport {
    rate: f64,
    orders: usize,
    send: Duration,
    insert: Summary,
    latency: Summary,
    lost: usize,
    duplicates: usize,
    cpu: Cpu,
}

impl SteadyReport {
    fn inserted_per_sec(&self) -> f64 {
        self.orders as f64 / self.send.as_secs_f64()
    }
}

impl fmt::Display for SteadyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "steady: {} orders/s offered, {} orders inserted one at a time in {:.2} s ({:.1}/s)",
            self.rate,
            self.orders,
            self.send.as_secs_f64(),
            self.inserted_per_sec()
        )?;
        writeln!(
            f,
            "  insert      p50 {}  p99 {}  max {}",
            Millis(self.insert.p50),
            Millis(self.insert.p99),
            Millis(self.insert.max)
        )?;
        writeln!(
            f,
            "  to screen   p50 {}  p99 {}  max {}  ({} of {} orders)",
            Millis(self.latency.p50),
            Millis(self.latency.p99),
            Millis(self.latency.max),
            self.latency.count,
            self.orders
        )?;
        writeln!(f, "  lost {}  duplicates {}", self.lost, self.duplicates)?;
        write!(f, "  CPU         {}", self.cpu)
    }
}

/// A CPU share in percent of one core, `n/a` when `/proc` could not tell.
struct Percent(f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_finite() {
            write!(f, "{:.0}%", self.0)
        } else {
            f.write_str("n/a")
        }
    }
}

/// CPU use during a stretch of a scenario, in percent of one core.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    service: Option<f64>,
    kitchen: Option<f64>,
    postgres: f64,
    secantus: f64,
    bench: f64,
    /// Every process of the machine, ours and anyone else's.
    machine: f64,
}

/// Meters for [`Cpu`], started together.
struct CpuMeters {
    service: Option<CpuUsage>,
    kitchen: Option<CpuUsage>,
    postgres: CpuUsage,
    secantus: CpuUsage,
    bench: CpuUsage,
    machine: CpuUsage,
}

impl CpuMeters {
    fn start(servers: &Servers, service: Option<&Service>, kitchen: Option<&Kitchen>) -> Self {
        Self {
            service: service.map(|service| CpuUsage::start(service.pid)),
            kitchen: kitchen.map(|kitchen| CpuUsage::start(kitchen.service.pid)),
            postgres: servers
                .postgres_pid
                .map_or_else(|| CpuUsage::of(Vec::new()), CpuUsage::tree),
            secantus: CpuUsage::of(servers.secantus.pids.clone()),
            bench: CpuUsage::start(std::process::id()),
            machine: CpuUsage::machine(),
        }
    }

    fn read(&self) -> Cpu {
        Cpu {
            service: self.service.as_ref().map(CpuUsage::percent),
            kitchen: self.kitchen.as_ref().map(CpuUsage::percent),
            postgres: self.postgres.percent(),
            secantus: self.secantus.percent(),
            bench: self.bench.percent(),
            machine: self.machine.percent(),
        }
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(service) = self.service {
            write!(f, "order service {}, ", Percent(service))?;
        }
        if let Some(kitchen) = self.kitchen {
            write!(
                f,
                "kitchen {}, PostgreSQL {}, ",
                Percent(kitchen),
                Percent(self.postgres)
            )?;
        }
        write!(
            f,
            "SecantusDB {}, bench {} of one core; whole machine {} of {}%",
            Percent(self.secantus),
            Percent(self.bench),
            Percent(self.machine),
            cores() * 100
        )
    }
}

/// How many cores the machine has.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// One order service's figures.
struct Measured {
    label: String,
    bare: BareReport,
    backlog: BacklogReport,
    steady: SteadyReport,
    peak_rss_mib: f64,
    service_problems: usize,
    kitchen_problems: usize,
}

/// The servers the order services share (SecantusDB only without `--fresh-secantus`).
struct Servers {
    secantus: Secantus,
    postgres: PostgresServer,
    /// The postmaster's pid, if it could be found.
    postgres_pid: Option<u32>,
}

/// A SecantusDB server, a client of it, and its processes.
struct Secantus {
    server: MongoTestServer,
    client: Client,
    pids: Vec<u32>,
}

impl Secantus {
    async fn start() -> anyhow::Result<Self> {
        let server = tokio::task::spawn_blocking(MongoTestServer::start_secantus)
            .await?
            .context("cannot start SecantusDB")?;
        let dir = server.dir().context("SecantusDB has a folder")?;
        let data_dir = dir.join("data").to_string_lossy().into_owned();
        let pids = pids_with_argument(|argument| argument.contains(&data_dir));
        println!(
            "SecantusDB: {} (pid {}), store and log in {} (deleted at the end; the log is copied)",
            server.uri(),
            pids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            dir.display()
        );
        let client = Client::with_uri_str(server.uri()).await?;
        Ok(Self {
            server,
            client,
            pids,
        })
    }

    /// Copies its log out of its folder (deleted with it), to a file named after `run`.
    fn save_log(&self, run: usize) {
        let Some(dir) = self.server.dir() else {
            return;
        };
        let copy = std::env::temp_dir().join(format!(
            "bench-pipeline-secantus-{}-{run}.log",
            std::process::id()
        ));
        if std::fs::copy(dir.join("server.log"), &copy).is_ok() {
            println!("SecantusDB log: {}", copy.display());
        }
    }
}

/// Runs everything and prints the tables.
pub async fn run(args: &PipelineArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.backlog >= 1, "--backlog must be at least 1");
    anyhow::ensure!(args.steady_rate > 0.0, "--steady-rate must be positive");
    const BUILD: &str =
        "cargo build --release -p kitchen_batch_tool_service -p order_management_service -p bench";
    let kitchen_bin = services::binary(
        args.kitchen_bin.as_deref(),
        "kitchen_batch_tool_service",
        BUILD,
        "--kitchen-bin",
    )?;
    let binaries = if args.order_service_bins.is_empty() {
        vec![Binary {
            label: None,
            path: services::binary(
                None,
                "order_management_service",
                BUILD,
                "--order-service-bin",
            )?,
        }]
    } else {
        args.order_service_bins
            .iter()
            .map(|binary| {
                Ok(Binary {
                    label: binary.label.clone(),
                    path: services::binary(Some(&binary.path), "", BUILD, "--order-service-bin")?,
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    let labels = labels(&binaries);
    println!("{}", machine_description());

    let secantus = Secantus::start().await?;
    let postgres = services::start_durable_postgres(args.pg_max_connections).await?;
    let postgres_pid = postgres.postmaster_pid().ok();
    println!(
        "PostgreSQL: throwaway cluster on 127.0.0.1:{}, fsync=on, synchronous_commit=on (postmaster pid {})",
        postgres.port(),
        postgres_pid.map_or_else(|| "not found".to_owned(), |pid| pid.to_string())
    );
    let mut servers = Servers {
        secantus,
        postgres,
        postgres_pid,
    };

    let mut results = Vec::new();
    let mut failure = None;
    // The run whose SecantusDB is the current one.
    let mut secantus_run = 0;
    for (run, (binary, label)) in binaries.iter().zip(&labels).enumerate() {
        if args.fresh_secantus && run > 0 {
            servers.secantus.save_log(secantus_run);
            secantus_run = run;
            match Secantus::start().await {
                Ok(secantus) => servers.secantus = secantus,
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        match measure(args, &servers, &kitchen_bin, &binary.path, label, run).await {
            Ok(measured) => results.push(measured),
            Err(error) => {
                failure = Some(error.context(format!("order service {label}")));
                break;
            }
        }
    }
    println!();
    servers.secantus.save_log(secantus_run);
    drop(servers);
    if let Some(error) = failure {
        return Err(error);
    }

    println!();
    println!(
        "| order service | backlog | drain | orders/s | bare reader events/s | backlog/bare | lost | duplicates | order service CPU | kitchen CPU | PostgreSQL CPU | SecantusDB CPU | machine CPU (of {}%) |",
        cores() * 100
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for result in &results {
        let backlog = &result.backlog;
        println!(
            "| {} | {} | {:.2} s | {:.0} | {:.0} | {:.3} | {} | {} | {} | {} | {} | {} | {} |",
            result.label,
            backlog.orders,
            backlog.drain.as_secs_f64(),
            backlog.orders_per_sec(),
            result.bare.events_per_sec(),
            backlog.orders_per_sec() / result.bare.events_per_sec(),
            backlog.lost(),
            backlog.duplicates,
            Percent(backlog.cpu.service.unwrap_or(f64::NAN)),
            Percent(backlog.cpu.kitchen.unwrap_or(f64::NAN)),
            Percent(backlog.cpu.postgres),
            Percent(backlog.cpu.secantus),
            Percent(backlog.cpu.machine)
        );
    }
    println!();
    println!(
        "| order service | steady orders/s | orders | insert -> screen p50 | p99 | max | lost | duplicates | order service CPU | machine CPU (of {}%) | order service peak RSS |",
        cores() * 100
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for result in &results {
        let steady = &result.steady;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MiB |",
            result.label,
            steady.rate,
            steady.orders,
            Millis(steady.latency.p50),
            Millis(steady.latency.p99),
            Millis(steady.latency.max),
            steady.lost,
            steady.duplicates,
            Percent(steady.cpu.service.unwrap_or(f64::NAN)),
            Percent(steady.cpu.machine),
            result.peak_rss_mib
        );
    }
    println!();
    for result in &results {
        println!(
            "{}: order service warnings and errors logged: {}, kitchen: {}",
            result.label, result.service_problems, result.kitchen_problems
        );
    }
    println!("load after: {}", load_average());
    Ok(())
}

/// The bare reader, then a kitchen and the order service `binary` on fresh databases: backlog,
/// then steady; stops both.
async fn measure(
    args: &PipelineArgs,
    servers: &Servers,
    kitchen_bin: &Path,
    binary: &Path,
    label: &str,
    run: usize,
) -> anyhow::Result<Measured> {
    let drain_timeout = Duration::from_secs(args.drain_secs);
    println!();
    println!("order service {label}: {}", binary.display());
    let machine = CpuUsage::machine();
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "load before: {}; machine CPU over the last second {} of {}% (anyone's)",
        load_average(),
        Percent(machine.percent()),
        cores() * 100
    );
    let bare_database = servers.secantus.client.database(&unique_name("bench_bare"));
    let bare = bare_reader(&bare_database, args.backlog, servers, drain_timeout).await?;
    println!("{bare}");
    bare_database.drop().await?;

    let pid = std::process::id();
    let database_url = servers
        .postgres
        .create_database(&format!("kitchen_pipeline_{run}"))
        .context("cannot create the kitchen's database")?;
    let mut kitchen = services::start_kitchen(
        kitchen_bin,
        &database_url,
        false,
        &args.kitchen_env,
        std::env::temp_dir().join(format!("bench-pipeline-kitchen-{pid}-{run}.log")),
    )
    .await?;
    println!(
        "kitchen: {} PRINT_ORDERS=false RUST_LOG=warn {}(log: {})",
        kitchen_bin.display(),
        services::env_text(&args.kitchen_env),
        kitchen.service.log_path.display()
    );

    let database = servers.secantus.client.database(&unique_name("bench_oms"));
    database.create_collection(ORDERS).await?;
    let orders = database.collection::<Document>(ORDERS);
    let mut service = start_order_service(
        args,
        binary,
        servers.secantus.server.uri(),
        database.name(),
        &kitchen,
        std::env::temp_dir().join(format!("bench-pipeline-order-service-{pid}-{run}.log")),
    )
    .await?;
    let screen = Screen::open(&kitchen.http).await?;

    // One order through the whole pipeline first: every connection is up.
    let warm_up = order_documents("warmup", 1);
    let slots = screen.register(warm_up.iter().map(|(id, _)| id.to_hex()));
    insert_chunked(&orders, &warm_up).await?;
    screen.wait_for(slots.clone(), START_TIMEOUT).await?;
    anyhow::ensure!(
        screen.tracker().seen(slots) == 1,
        "the warm-up order did not reach the kitchen's screen within {START_TIMEOUT:?}; see {} and {}",
        service.log_path.display(),
        kitchen.service.log_path.display()
    );

    let backlog = backlog(
        &orders,
        &screen,
        &service,
        &kitchen,
        servers,
        args.backlog,
        drain_timeout,
    )
    .await?;
    println!("{backlog}");
    let steady = steady(
        &orders,
        &screen,
        &service,
        &kitchen,
        servers,
        args,
        drain_timeout,
    )
    .await?;
    println!("{steady}");

    let peak_rss_mib = peak_rss_mib(service.pid).unwrap_or(f64::NAN);
    println!("  memory      order service peak RSS {peak_rss_mib:.1} MiB (VmHWM, whole run)");
    let tracker = screen.close().await;
    if tracker.unknown > 0 {
        println!(
            "  the screen also showed {} events of orders the benchmark did not insert",
            tracker.unknown
        );
    }
    service.stop("the order service").await?;
    kitchen.service.stop("the kitchen").await?;
    database.drop().await?;
    Ok(Measured {
        label: label.to_owned(),
        bare,
        backlog,
        steady,
        peak_rss_mib,
        service_problems: service.log_problems(),
        kitchen_problems: kitchen.service.log_problems(),
    })
}

/// Starts the order service watching `database`'s orders and waits until `/health` says it is
/// watching. It runs in the temporary folder, so that no `.env` file of the checkout applies.
async fn start_order_service(
    args: &PipelineArgs,
    binary: &Path,
    mongo_uri: &str,
    database: &str,
    kitchen: &Kitchen,
    log_path: PathBuf,
) -> anyhow::Result<Service> {
    let http_addr = format!("127.0.0.1:{}", free_port());
    let mut command = tokio::process::Command::new(binary);
    command
        .current_dir(std::env::temp_dir())
        .env("MONGO_URI", mongo_uri)
        .env("MONGO_DB", database)
        .env("MONGO_ORDERS_COLLECTION", ORDERS)
        .env("GRPC_TARGET", &kitchen.grpc)
        .env("HTTP_ADDR", &http_addr)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .envs(
            args.order_service_env
                .iter()
                .map(|(key, value)| (key, value)),
        );
    let mut service = Service::spawn(command, log_path)?;
    println!(
        "order service: MONGO_DB={database} GRPC_TARGET={} HTTP_ADDR={http_addr} RUST_LOG=warn {}(log: {})",
        kitchen.grpc,
        services::env_text(&args.order_service_env),
        service.log_path.display()
    );
    let url = format!("http://{http_addr}/health");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("no answer");
    loop {
        if let Some(status) = service.exited() {
            anyhow::bail!(
                "the order service exited with {status}; see {}",
                service.log_path.display()
            );
        }
        if let Ok(response) = http.get(&url).send().await {
            let status = response.status();
            let body = response.bytes().await.unwrap_or_default();
            let state = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|body| Some(body.get("listener")?.get("state")?.as_str()?.to_owned()));
            if status.is_success() && state.as_deref() == Some("watching") {
                return Ok(service);
            }
            last = format!("{status} {}", String::from_utf8_lossy(&body));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the order service was not watching within {START_TIMEOUT:?} (last /health: {last}); see {}",
            service.log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pauses the order service, inserts `count` orders, resumes it and times the drain.
async fn backlog(
    orders: &Collection<Document>,
    screen: &Screen,
    service: &Service,
    kitchen: &Kitchen,
    servers: &Servers,
    count: usize,
    drain_timeout: Duration,
) -> anyhow::Result<BacklogReport> {
    let documents = order_documents("backlog", count);
    let slots = screen.register(documents.iter().map(|(id, _)| id.to_hex()));
    send_signal(service.pid, "STOP")?;
    let stopped_deadline = Instant::now() + Duration::from_secs(5);
    while process_state(service.pid) != Some('T') {
        anyhow::ensure!(
            Instant::now() < stopped_deadline,
            "the order service did not stop on SIGSTOP (state {:?})",
            process_state(service.pid)
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let inserted = insert_chunked(orders, &documents).await;
    let insert = match inserted {
        Ok(insert) => insert,
        Err(error) => {
            let _ = send_signal(service.pid, "CONT");
            return Err(error);
        }
    };

    let cpu = CpuMeters::start(servers, Some(service), Some(kitchen));
    let resumed = Instant::now();
    send_signal(service.pid, "CONT")?;
    screen.wait_for(slots.clone(), drain_timeout).await?;
    let cpu = cpu.read();
    let tracker = screen.tracker();
    let seen = tracker.seen(slots.clone());
    let drain = if seen == count {
        tracker
            .last_arrival(slots.clone())
            .map_or(drain_timeout, |last| {
                last.saturating_duration_since(resumed)
            })
    } else {
        drain_timeout
    };
    Ok(BacklogReport {
        orders: count,
        insert,
        drain,
        seen,
        duplicates: tracker.duplicates(slots),
        cpu,
    })
}

/// Inserts one order at a time at `--steady-rate` for `--steady-secs` while the service runs.
async fn steady(
    orders: &Collection<Document>,
    screen: &Screen,
    service: &Service,
    kitchen: &Kitchen,
    servers: &Servers,
    args: &PipelineArgs,
    drain_timeout: Duration,
) -> anyhow::Result<SteadyReport> {
    let count = (args.steady_rate * args.steady_secs as f64).ceil() as usize;
    let documents = order_documents("steady", count);
    let slots = screen.register(documents.iter().map(|(id, _)| id.to_hex()));
    let cpu = CpuMeters::start(servers, Some(service), Some(kitchen));
    let mut sent_at = Vec::with_capacity(count);
    let mut insert_latencies = Vec::with_capacity(count);
    let started = tokio::time::Instant::now();
    for (n, (_, document)) in documents.iter().enumerate() {
        tokio::time::sleep_until(started + Duration::from_secs_f64(n as f64 / args.steady_rate))
            .await;
        let sent = Instant::now();
        sent_at.push(sent);
        orders.insert_one(document).await.context("insert_one")?;
        insert_latencies.push(micros(sent.elapsed()));
    }
    let send = started.elapsed();
    screen.wait_for(slots.clone(), drain_timeout).await?;
    let cpu = cpu.read();
    let tracker = screen.tracker();
    let mut latencies: Vec<u64> = tracker.arrivals[slots.clone()]
        .iter()
        .zip(&sent_at)
        .filter_map(|(arrival, sent)| {
            Some(micros(arrival.as_ref()?.saturating_duration_since(*sent)))
        })
        .collect();
    Ok(SteadyReport {
        rate: args.steady_rate,
        orders: count,
        send,
        insert: Summary::of(&mut insert_latencies),
        lost: count - latencies.len(),
        latency: Summary::of(&mut latencies),
        duplicates: tracker.duplicates(slots),
        cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_take_an_optional_label_and_labels_are_unique() {
        let parsed: Vec<Binary> = ["old=/tmp/a/oms", "/tmp/b/oms", "target/x=y/oms"]
            .into_iter()
            .map(|text| parse_binary(text).unwrap())
            .collect();
        assert_eq!(parsed[0].label.as_deref(), Some("old"));
        assert_eq!(parsed[0].path, PathBuf::from("/tmp/a/oms"));
        assert_eq!(parsed[1].label, None);
        assert_eq!(parsed[2].label, None, "a `/` before `=` makes it a path");
        assert_eq!(labels(&parsed), ["old", "oms #2", "oms #3"]);
        assert!(parse_binary("new=").is_err());
    }

    #[test]
    fn the_tracker_counts_first_arrivals_and_repeats_per_registration() {
        let mut tracker = Tracker::default();
        let first = tracker.register(["a".to_owned(), "b".to_owned()]);
        let second = tracker.register(["c".to_owned()]);
        assert_eq!((first.clone(), second.clone()), (0..2, 2..3));
        let (early, late) = (Instant::now(), Instant::now() + Duration::from_secs(1));
        tracker.record("b", early);
        tracker.record("b", late);
        tracker.record("x", late);
        assert_eq!(tracker.seen(first.clone()), 1);
        assert_eq!(tracker.duplicates(first.clone()), 1);
        assert_eq!(tracker.last_arrival(first.clone()), Some(early));
        assert_eq!(tracker.seen(second.clone()), 0);
        assert_eq!(tracker.unknown, 1);
        tracker.record("c", late);
        tracker.record("a", late);
        assert_eq!(tracker.seen(first.clone()), 2);
        assert_eq!(tracker.last_arrival(first), Some(late));
        assert_eq!(tracker.seen(second), 1);
    }

    #[test]
    fn orders_are_valid_for_the_order_service() {
        let id = ObjectId::new();
        let document = order_document(id, "backlog", 7);
        assert_eq!(document.get_object_id("_id"), Ok(id));
        assert_eq!(document.get_str("OtterOrderId"), Ok("bench-backlog-7"));
        let stations = document.get_array("StationOrders").unwrap();
        assert_eq!(stations.len(), 1);
        assert_eq!(Percent(f64::NAN).to_string(), "n/a");
        assert_eq!(Percent(42.4).to_string(), "42%");
    }
}
