//! Small helpers both services use: ISO 8601 time stamps, logging set-up, `.env` loading,
//! shutdown signals, error reports, PEM files and secrets that never show in logs.

pub mod errors;
pub mod pem;
pub mod runtime;
pub mod secret;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod trace;

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`), or `fallback`: the
/// stable part of a default instance id.
pub fn host_name(fallback: &str) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| fallback.to_owned())
}

/// Loads a `.env` file from the working directory, if there is one, without overriding variables
/// already set in the environment.
///
/// Returns an error only when a `.env` file exists but cannot be read or parsed.
pub fn load_dotenv() -> Result<(), dotenvy::Error> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(error) if error.not_found() => Ok(()),
        Err(error) => Err(error),
    }
}
