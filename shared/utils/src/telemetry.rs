//! Logging set-up: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text or as
//! one JSON object a line (`LOG_FORMAT=json`) for log collectors.
//!
//! Logs go to stderr so that stdout stays free for what a service prints on purpose (the
//! kitchen's order blocks).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The environment variable choosing the format.
pub const LOG_FORMAT: &str = "LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal only).
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `message`, the event's fields at the top
    /// level, and the enclosing span's fields (an order's `order_id` and `trace_id`) in `span`.
    Json,
}

/// `LOG_FORMAT` holds something other than `text` or `json`.
#[derive(Debug, thiserror::Error)]
#[error("LOG_FORMAT must be `text` or `json`, got {0:?}")]
pub struct UnknownLogFormat(String);

impl LogFormat {
    /// The format `LOG_FORMAT` names (unset or empty: text).
    pub fn from_env() -> Result<Self, UnknownLogFormat> {
        match std::env::var(LOG_FORMAT) {
            Ok(value) => value.parse(),
            Err(_) => Ok(Self::Text),
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(UnknownLogFormat(value.to_owned())),
        }
    }
}

/// Installs the global `tracing` subscriber writing `format`. Calling it twice is harmless.
pub fn init_logging_as(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        // Colours only for a terminal: logs piped to files or collectors stay plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Installs the global subscriber in the format `LOG_FORMAT` names.
pub fn init_logging() -> Result<(), UnknownLogFormat> {
    init_logging_as(LogFormat::from_env()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_named_text_or_json_in_any_case() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!(" JSON ".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
        assert_eq!("".parse::<LogFormat>().unwrap(), LogFormat::Text);
        let error = "yaml".parse::<LogFormat>().unwrap_err();
        assert!(error.to_string().contains("`text` or `json`"), "{error}");
    }
}
