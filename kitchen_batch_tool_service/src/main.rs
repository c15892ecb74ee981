//! The kitchen batch tool service's binary.

use anyhow::Context;
use clap::Parser;
use kitchen_batch_tool_service::config::Config;
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
    shared_utils::load_dotenv().context("cannot read .env")?;
    let config = Config::parse();
    shared_utils::telemetry::init_logging()?;
    let runtime = shared_utils::runtime::build(config.worker_threads)
        .context("cannot start the Tokio runtime")?;
    let result = runtime.block_on(kitchen_batch_tool_service::run(
        config,
        shared_utils::shutdown::shutdown_signal(),
    ));
    // The service has stopped within its shutdown bound: nothing left may hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result?;
    Ok(())
}
