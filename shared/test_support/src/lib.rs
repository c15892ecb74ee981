//! Test harness: throwaway real servers and service processes, each stopped when dropped.
//!
//! Nothing here is a mock: [`PostgresServer`] runs `initdb` and `pg_ctl` on a free port in a
//! temporary folder, [`ServiceProcess`] runs a service's real binary, [`Browser`] drives Debian's
//! Chromium through chromedriver.

pub mod browser;
pub mod fault_proxy;
pub mod fixtures;
pub mod kitchen;
pub mod metrics;
pub mod net;
pub mod postgres;
pub mod process;
pub mod secantus;
pub mod sse;
pub mod sse_client;
pub mod tls;

pub use browser::{Browser, BrowserError, BrowserOptions, ConsoleMessage};
pub use fault_proxy::FaultProxy;
pub use kitchen::{KITCHEN_WAIT, Kitchen, KitchenDatabase};
pub use metrics::{ScrapeError, Scraped};
pub use net::{free_port, wait_for_port};
pub use postgres::{PostgresOptions, PostgresServer};
pub use process::ServiceProcess;
pub use secantus::{MongoTestServer, unique_name};
pub use sse::{SseMessage, SseParser};
pub use sse_client::{SseClient, SseEnd};
pub use tls::{CertFiles, TestCa};

/// Why a test server or process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A program the harness needs is not installed.
    #[error("{program} not found: {hint}")]
    NotInstalled {
        /// The program looked for.
        program: String,
        /// How to install it.
        hint: String,
    },
    /// A command ran but failed.
    #[error("`{command}` failed: {output}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
    },
    /// A server did not become ready in time.
    #[error("{0} did not become ready in time")]
    NotReady(String),
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
