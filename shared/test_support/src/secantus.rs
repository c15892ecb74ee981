//! A MongoDB-compatible server for tests: SecantusDB (`secantusd-py`) started as a child process
//! on a free port, or the real MongoDB replica set named by `MONGO_TEST_URI`.
//!
//! SecantusDB reimplements MongoDB's wire protocol on WiredTiger and advertises a one-node
//! replica set, so change streams, resume tokens and `failCommand` fault injection work with the
//! real `mongodb` driver. It is installed with `pip install SecantusDB==0.7.0b3`. Because it is a
//! beta, the same tests can run against a real replica set: set `MONGO_TEST_URI` (the server
//! must allow test commands, `--setParameter enableTestCommands=1`, for fault-injection tests).
//! Tests then share that server, so each must use its own database ([`unique_name`]).

use crate::HarnessError;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

/// The environment variable naming a real MongoDB replica set to test against.
pub const MONGO_TEST_URI: &str = "MONGO_TEST_URI";
/// The environment variable overriding the SecantusDB launcher (default `secantusd-py`).
pub const SECANTUSD: &str = "SECANTUSD";
/// The SecantusDB release the harness is tested with.
pub const SECANTUS_PIP_PACKAGE: &str = "SecantusDB==0.7.0b3";

/// How long a starting SecantusDB may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A MongoDB-compatible server for one test (or the shared real one), stopped when dropped.
#[derive(Debug)]
pub struct MongoTestServer {
    uri: String,
    secantus: Option<Secantus>,
}

#[derive(Debug)]
struct Secantus {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl MongoTestServer {
    /// The server named by `MONGO_TEST_URI` if set, else a new SecantusDB with an empty store.
    pub fn start() -> Result<Self, HarnessError> {
        match std::env::var(MONGO_TEST_URI) {
            Ok(uri) if !uri.trim().is_empty() => Ok(Self {
                uri: uri.trim().to_owned(),
                secantus: None,
            }),
            _ => Self::start_secantus(),
        }
    }

    /// A new SecantusDB process, whatever `MONGO_TEST_URI` says. Its store lives in a temporary
    /// folder deleted when the server is dropped.
    pub fn start_secantus() -> Result<Self, HarnessError> {
        let program = std::env::var(SECANTUSD).unwrap_or_else(|_| "secantusd-py".to_owned());
        let dir = tempfile::Builder::new()
            .prefix("secantus-test-")
            .tempdir()?;
        let port = crate::free_port();
        let log = File::create(dir.path().join("server.log"))?;
        let child = Command::new(&program)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--storage-path",
            ])
            .arg(dir.path().join("data"))
            .args(["--enable-test-commands", "--log-level", "WARNING"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => HarnessError::NotInstalled {
                    program: program.clone(),
                    hint: format!(
                        "the tests need the MongoDB-compatible server SecantusDB: \
                         `pip install {SECANTUS_PIP_PACKAGE}` (Python >= 3.10), or set \
                         {MONGO_TEST_URI} to a MongoDB replica set"
                    ),
                },
                _ => HarnessError::Io(error),
            })?;
        let mut server = Self {
            uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            secantus: Some(Secantus { child, port, dir }),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), HarnessError> {
        let secantus = self.secantus.as_mut().expect("a SecantusDB process");
        let ready = crate::wait_for_port(secantus.port, START_TIMEOUT);
        let exited = secantus.child.try_wait()?.is_some();
        if ready && !exited {
            return Ok(());
        }
        let log =
            std::fs::read_to_string(secantus.dir.path().join("server.log")).unwrap_or_default();
        Err(HarnessError::NotReady(format!(
            "SecantusDB on port {} (exited: {exited}); its log:\n{log}",
            secantus.port
        )))
    }

    /// The connection string (`mongodb://…`), without an app name.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The connection string with `appName=app_name`, so that a `failCommand` fail point can be
    /// aimed at one client (its `data.appName`) and leave every other client alone.
    pub fn uri_with_app_name(&self, app_name: &str) -> String {
        with_query_param(&self.uri, "appName", app_name)
    }

    /// Stops SecantusDB answering (SIGSTOP), as a hung or unreachable server would: connections
    /// stay open and nothing comes back. `false` for the shared real server, which a test may
    /// not stop.
    pub fn stop_answering(&self) -> bool {
        self.send_signal("STOP")
    }

    /// Lets a server stopped by [`Self::stop_answering`] answer again (SIGCONT).
    pub fn answer_again(&self) -> bool {
        self.send_signal("CONT")
    }

    fn send_signal(&self, signal: &str) -> bool {
        self.secantus.as_ref().is_some_and(|secantus| {
            Command::new("kill")
                .args([format!("-{signal}"), secantus.child.id().to_string()])
                .status()
                .is_ok_and(|status| status.success())
        })
    }

    /// Whether this is the real server named by `MONGO_TEST_URI` (shared with other tests).
    pub fn is_external(&self) -> bool {
        self.secantus.is_none()
    }

    /// The folder holding SecantusDB's store and log (`server.log`), if this is SecantusDB.
    pub fn dir(&self) -> Option<PathBuf> {
        self.secantus
            .as_ref()
            .map(|secantus| secantus.dir.path().to_owned())
    }
}

impl Drop for MongoTestServer {
    fn drop(&mut self) {
        if let Some(secantus) = &mut self.secantus {
            let _ = secantus.child.kill();
            let _ = secantus.child.wait();
        }
    }
}

/// A name no other test (in this or another process) uses: `prefix_<pid>_<n>_<time>`, at most
/// 38 bytes for a short prefix, valid as a database or collection name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

/// Adds `key=value` to a MongoDB connection string's options.
fn with_query_param(uri: &str, key: &str, value: &str) -> String {
    match uri.split_once('?') {
        Some((base, "")) => format!("{base}?{key}={value}"),
        Some(_) => format!("{uri}&{key}={value}"),
        // Options need a `/` after the hosts.
        None => {
            let after_scheme = uri.find("://").map_or(0, |at| at + 3);
            if uri[after_scheme..].contains('/') {
                format!("{uri}?{key}={value}")
            } else {
                format!("{uri}/?{key}={value}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_added_to_any_connection_string() {
        assert_eq!(
            with_query_param("mongodb://h:1/?directConnection=true", "appName", "a"),
            "mongodb://h:1/?directConnection=true&appName=a"
        );
        assert_eq!(
            with_query_param("mongodb://h:1", "appName", "a"),
            "mongodb://h:1/?appName=a"
        );
        assert_eq!(
            with_query_param("mongodb://h:1/db", "appName", "a"),
            "mongodb://h:1/db?appName=a"
        );
        assert_eq!(
            with_query_param("mongodb://h:1/?", "appName", "a"),
            "mongodb://h:1/?appName=a"
        );
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
        assert!(unique_name("orders").len() <= 38);
    }
}
