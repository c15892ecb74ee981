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
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(order_management_service::service::run(
        config,
        shutdown_signal(),
    ))?;
    Ok(())
}
