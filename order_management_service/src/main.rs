//! The order management service's binary. See the crate's README for configuration.

use clap::{CommandFactory, Parser};
use order_management_service::config::Config;
use shared_utils::shutdown::shutdown_signal;
use shared_utils::telemetry::init_logging;
use std::process::ExitCode;

fn main() -> ExitCode {
    match start() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "error: {}",
                shared_utils::errors::error_report(error.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

fn start() -> anyhow::Result<()> {
    // `.env` first, so that environment variables and then flags override it.
    shared_utils::load_dotenv().map_err(|error| anyhow::anyhow!("cannot read .env: {error}"))?;
    // A bad value ends the process here with clap's message and exit code 2.
    let config = Config::parse();
    if let Err(message) = config.check() {
        Config::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    init_logging()?;
    let runtime = shared_utils::runtime::build(config.worker_threads)?;
    let result = runtime.block_on(order_management_service::service::run(
        config,
        shutdown_signal(),
    ));
    // The service has stopped within its shutdown bound: nothing left (a MongoDB monitor, a DNS
    // lookup on a blocking thread) may hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result?;
    Ok(())
}
