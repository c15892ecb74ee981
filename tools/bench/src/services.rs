//! The service processes a benchmark starts: where their binaries are, starting the kitchen on
//! free loopback ports, stopping a service with SIGTERM, and the warnings in its log.

use crate::machine;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use test_support::{PostgresOptions, PostgresServer, free_port, wait_for_port};

/// `name` next to this program (`target/release/<name>` when both were built by Cargo), or
/// `given`, as an absolute path (a service may run in another folder); an error naming `build`
/// and `flag` if the file is not there.
pub fn binary(
    given: Option<&Path>,
    name: &str,
    build: &str,
    flag: &str,
) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()?
            .with_file_name(name)
            .with_extension(std::env::consts::EXE_EXTENSION),
    };
    anyhow::ensure!(
        path.is_file(),
        "{} not found: run `{build}` or pass {flag}",
        path.display()
    );
    Ok(std::path::absolute(&path)?)
}

/// The kitchen's binary: `given` (`--kitchen-bin`), or the one next to this program.
pub fn kitchen_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    binary(
        given,
        "kitchen_batch_tool_service",
        "cargo build --release -p kitchen_batch_tool_service -p bench",
        "--kitchen-bin",
    )
}

/// A service process started by the benchmark, killed if dropped while running.
pub struct Service {
    child: tokio::process::Child,
    /// Its process id.
    pub pid: u32,
    /// The file its stderr (its log) goes to.
    pub log_path: PathBuf,
}

impl Service {
    /// Starts `command` with stdin and stdout closed and stderr to `log_path`.
    pub fn spawn(mut command: tokio::process::Command, log_path: PathBuf) -> anyhow::Result<Self> {
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let program = command.as_std().get_program().to_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", program.to_string_lossy()))?;
        let pid = child.id().context("the process exited at once")?;
        Ok(Self {
            child,
            pid,
            log_path,
        })
    }

    /// Whether the process has exited (its status if so).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the process with SIGTERM; an error if it does not exit cleanly within 30 s.
    pub async fn stop(&mut self, what: &str) -> anyhow::Result<()> {
        machine::send_signal(self.pid, "TERM")?;
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                anyhow::ensure!(
                    status.success(),
                    "{what} exited with {status}; see {}",
                    self.log_path.display()
                );
                Ok(())
            }
            Err(_) => anyhow::bail!("{what} did not stop within 30 s of SIGTERM"),
        }
    }

    /// How many lines of its log are warnings or errors.
    pub fn log_problems(&self) -> usize {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("WARN") || line.contains("ERROR"))
            .count()
    }
}

/// The kitchen's process and its addresses.
pub struct Kitchen {
    /// The process.
    pub service: Service,
    /// Its gRPC address, `127.0.0.1:<port>`.
    pub grpc: String,
    /// Its HTTP base URL, `http://127.0.0.1:<port>`.
    pub http: String,
}

/// Starts the kitchen's binary on `database_url` and free loopback ports with `RUST_LOG=warn`,
/// `PRINT_ORDERS=<printing>` and `env`, its log in `log_path`; returns once both ports accept.
pub async fn start_kitchen(
    binary: &Path,
    database_url: &str,
    printing: bool,
    env: &[(String, String)],
    log_path: PathBuf,
) -> anyhow::Result<Kitchen> {
    let (grpc_port, http_port) = (free_port(), free_port());
    let mut command = tokio::process::Command::new(binary);
    command
        .env("DATABASE_URL", database_url)
        .env("GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
        .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("PRINT_ORDERS", printing.to_string())
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(key, value)| (key, value)));
    let service = Service::spawn(command, log_path)?;
    let ready = tokio::task::spawn_blocking(move || {
        wait_for_port(grpc_port, Duration::from_secs(30))
            && wait_for_port(http_port, Duration::from_secs(30))
    })
    .await?;
    anyhow::ensure!(
        ready,
        "the kitchen did not start; see {}",
        service.log_path.display()
    );
    Ok(Kitchen {
        service,
        grpc: format!("127.0.0.1:{grpc_port}"),
        http: format!("http://127.0.0.1:{http_port}"),
    })
}

/// `KEY=VALUE ` for each of `env`, for the lines that say how a service was started.
pub fn env_text(env: &[(String, String)]) -> String {
    env.iter()
        .map(|(key, value)| format!("{key}={value} "))
        .collect()
}

/// A throwaway PostgreSQL whose commits are durable (`fsync` and `synchronous_commit` on).
pub async fn start_durable_postgres(max_connections: u32) -> anyhow::Result<PostgresServer> {
    tokio::task::spawn_blocking(move || {
        PostgresServer::start_with(PostgresOptions {
            durable: true,
            max_connections,
        })
    })
    .await?
    .context("cannot start PostgreSQL")
}
