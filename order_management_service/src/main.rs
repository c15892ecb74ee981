//! The order management service's binary. See the crate's README for configuration.

use clap::Parser;
use order_management_service::config::Config;
use shared_utils::shutdown::shutdown_signal;
use shared_utils::telemetry::init_logging;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `.env` first, so that environment variables and then flags override it.
    if let Err(error) = shared_utils::load_dotenv() {
        eprintln!("error: cannot read .env: {error}");
        std::process::exit(2);
    }
    let config = Config::parse();
    init_logging();
    order_management_service::service::run(config, shutdown_signal()).await?;
    Ok(())
}
