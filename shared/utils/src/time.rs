//! Time stamps in the pipeline's one format: ISO 8601, UTC, milliseconds, `Z` suffix.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats `instant` like `2025-02-13T10:56:27.756Z`.
pub fn iso8601_millis(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time formatted by [`iso8601_millis`].
pub fn now_iso8601() -> String {
    iso8601_millis(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_with_milliseconds_and_zulu_suffix() {
        let instant = Utc.timestamp_millis_opt(1_739_444_187_756).unwrap();
        assert_eq!(iso8601_millis(instant), "2025-02-13T10:56:27.756Z");
    }

    #[test]
    fn whole_seconds_keep_three_decimals() {
        let instant = Utc.timestamp_millis_opt(1_739_444_187_000).unwrap();
        assert_eq!(iso8601_millis(instant), "2025-02-13T10:56:27.000Z");
    }
}
