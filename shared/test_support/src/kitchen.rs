//! The kitchen service as tests see it: its real binary on free ports, on a throwaway PostgreSQL
//! (its own, or one shared by several instances), reached over real gRPC and HTTP.

use crate::{PostgresServer, ServiceProcess, SseClient, free_port, wait_for_port};
use grpc_clients::{OrderClient, initialize_order_client};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Generous limit for anything the kitchen does in a test; waits end as soon as it is done.
pub const KITCHEN_WAIT: Duration = Duration::from_secs(30);

/// A kitchen database: a throwaway PostgreSQL with a `kitchen` database, shared by every
/// [`Kitchen`] started on it.
#[derive(Debug)]
pub struct KitchenDatabase {
    /// The server.
    pub postgres: PostgresServer,
    /// The database's URL.
    pub url: String,
}

impl KitchenDatabase {
    /// Starts PostgreSQL and creates the database.
    pub fn start() -> Arc<Self> {
        let postgres = PostgresServer::start()
            .unwrap_or_else(|error| panic!("cannot start PostgreSQL: {error}"));
        let url = postgres
            .create_database("kitchen")
            .unwrap_or_else(|error| panic!("cannot create the kitchen database: {error}"));
        Arc::new(Self { postgres, url })
    }
}

/// One kitchen process, restartable on the same ports and database.
#[derive(Debug)]
pub struct Kitchen {
    binary: PathBuf,
    /// The database it stores in.
    pub database: Arc<KitchenDatabase>,
    /// Its gRPC port.
    pub grpc_port: u16,
    /// Its HTTP port.
    pub http_port: u16,
    env: Vec<(String, String)>,
    process: Option<ServiceProcess>,
    /// What earlier runs printed, so that counts survive restarts.
    earlier_stdout: Vec<String>,
    /// What earlier runs logged.
    earlier_stderr: Vec<String>,
}

impl Kitchen {
    /// Starts `binary` on a database of its own.
    pub fn start(binary: impl Into<PathBuf>) -> Self {
        Self::start_on(binary, KitchenDatabase::start(), &[])
    }

    /// Starts `binary` on a database of its own, with extra environment variables.
    pub fn start_with(binary: impl Into<PathBuf>, env: &[(&str, &str)]) -> Self {
        Self::start_on(binary, KitchenDatabase::start(), env)
    }

    /// Starts `binary` on `database`, with extra environment variables. Each instance is named
    /// after its gRPC port unless `env` sets `INSTANCE_ID`.
    pub fn start_on(
        binary: impl Into<PathBuf>,
        database: Arc<KitchenDatabase>,
        env: &[(&str, &str)],
    ) -> Self {
        let grpc_port = free_port();
        let mut kitchen = Self {
            binary: binary.into(),
            database,
            grpc_port,
            http_port: free_port(),
            env: [("INSTANCE_ID", format!("kitchen-{grpc_port}"))]
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .chain(
                    env.iter()
                        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
                )
                .collect(),
            process: None,
            earlier_stdout: Vec::new(),
            earlier_stderr: Vec::new(),
        };
        kitchen.spawn();
        kitchen
    }

    /// Starts the process (again, after [`Self::kill`] or [`Self::terminate`]) and waits until
    /// it listens.
    pub fn spawn(&mut self) {
        assert!(self.process.is_none(), "the kitchen is already running");
        let mut env = vec![
            ("DATABASE_URL", self.database.url.clone()),
            ("GRPC_ADDR", format!("127.0.0.1:{}", self.grpc_port)),
            ("HTTP_ADDR", format!("127.0.0.1:{}", self.http_port)),
            ("RUST_LOG", "info".to_owned()),
            ("NO_COLOR", "1".to_owned()),
        ];
        env.extend(
            self.env
                .iter()
                .map(|(key, value)| (key.as_str(), value.clone())),
        );
        let process = ServiceProcess::spawn(&self.binary, &[], &env)
            .unwrap_or_else(|error| panic!("cannot spawn {}: {error}", self.binary.display()));
        assert!(
            wait_for_port(self.http_port, KITCHEN_WAIT)
                && wait_for_port(self.grpc_port, KITCHEN_WAIT),
            "the kitchen service did not start; its log:\n{}",
            process.stderr().join("\n")
        );
        self.process = Some(process);
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let mut process = self.process.take().expect("the kitchen is running");
        process.kill();
        self.earlier_stdout.extend(process.stdout());
        self.earlier_stderr.extend(process.stderr());
    }

    /// Stops the process with SIGTERM and returns its exit code (`None`: it had to be killed
    /// after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let mut process = self.process.take().expect("the kitchen is running");
        let code = process.terminate(timeout);
        // The output threads may still be draining the pipes.
        std::thread::sleep(Duration::from_millis(100));
        self.earlier_stdout.extend(process.stdout());
        self.earlier_stderr.extend(process.stderr());
        code
    }

    /// Stops the process gracefully and starts it again on the same ports and database.
    pub fn restart(&mut self) {
        let code = self.terminate(KITCHEN_WAIT);
        assert_eq!(
            code,
            Some(0),
            "the kitchen service did not shut down cleanly"
        );
        self.spawn();
    }

    /// The running process.
    pub fn process(&self) -> &ServiceProcess {
        self.process.as_ref().expect("the kitchen is running")
    }

    /// `127.0.0.1:<gRPC port>`.
    pub fn grpc_target(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    /// A gRPC client of this kitchen.
    pub fn client(&self) -> OrderClient {
        initialize_order_client(&self.grpc_target(), Duration::from_secs(10)).expect("client")
    }

    /// The URL of `path` on the kitchen's HTTP server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// Opens `/orders/events{query}`, resuming after `last_event_id` if given.
    pub async fn events(&self, query: &str, last_event_id: Option<&str>) -> SseClient {
        SseClient::connect(&self.url(&format!("/orders/events{query}")), last_event_id)
            .await
            .expect("open the event stream")
    }

    /// Every line printed to stdout, over all the runs.
    pub fn stdout(&self) -> Vec<String> {
        let mut lines = self.earlier_stdout.clone();
        if let Some(process) = &self.process {
            lines.extend(process.stdout());
        }
        lines
    }

    /// Every line logged to stderr, over all the runs.
    pub fn stderr(&self) -> Vec<String> {
        let mut lines = self.earlier_stderr.clone();
        if let Some(process) = &self.process {
            lines.extend(process.stderr());
        }
        lines
    }

    /// How many times the block of `order_id` was printed, over all the runs.
    pub fn printed_count(&self, order_id: &str) -> usize {
        let line = format!("Order ID: {order_id}");
        self.stdout()
            .iter()
            .filter(|printed| **printed == line)
            .count()
    }

    /// How many order blocks were printed, over all the runs.
    pub fn printed_orders(&self) -> usize {
        self.stdout()
            .iter()
            .filter(|line| line.starts_with("Order ID: "))
            .count()
    }

    /// Waits until every order of `order_ids` was printed at least once (printing follows the
    /// commit), and says whether that happened within [`KITCHEN_WAIT`].
    pub fn wait_printed(&self, order_ids: &[&str]) -> bool {
        let deadline = std::time::Instant::now() + KITCHEN_WAIT;
        loop {
            if order_ids.iter().all(|id| self.printed_count(id) > 0) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if let Some(process) = &self.process {
                process.wait_for_stdout(|_| false, left.min(Duration::from_millis(50)));
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
