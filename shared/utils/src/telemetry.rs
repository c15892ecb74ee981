//! Logging set-up: `tracing` to stderr, filtered by `RUST_LOG` (default `info`).
//!
//! Logs go to stderr so that stdout stays free for what a service prints on purpose (the
//! kitchen's order blocks).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber. Calling it twice is harmless.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a terminal: logs piped to files or collectors stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
