//! The day view's rules: the range asked for, and orders per hour with the empty hours kept.

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// The longest range the day view summarises at once.
const LONGEST: Duration = Duration::days(31);

/// A range of time, `from` included, `to` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DayRange {
    pub(crate) from: DateTime<Utc>,
    pub(crate) to: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DayRangeError {
    #[error("{field} must be an RFC 3339 time such as 2026-12-02T00:00:00Z, got {value:?}")]
    NotATime { field: &'static str, value: String },
    #[error("from must be before to")]
    Reversed,
    #[error("the range may span at most 31 days")]
    TooLong,
}

impl DayRange {
    /// The range from the query's `from` and `to`; without them, the 24 hours up to `now`.
    pub(crate) fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, DayRangeError> {
        let parse = |field, value: Option<&str>| {
            value
                .map(|value| {
                    DateTime::parse_from_rfc3339(value)
                        .map(|time| time.to_utc())
                        .map_err(|_| DayRangeError::NotATime {
                            field,
                            value: value.chars().take(64).collect(),
                        })
                })
                .transpose()
        };
        let to = parse("to", to)?.unwrap_or(now);
        let from = parse("from", from)?.unwrap_or(to - Duration::hours(24));
        if from >= to {
            return Err(DayRangeError::Reversed);
        }
        if to - from > LONGEST {
            return Err(DayRangeError::TooLong);
        }
        Ok(Self { from, to })
    }

    /// The start of every hour the range touches, in order.
    fn hours(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let first = self
            .from
            .duration_trunc(Duration::hours(1))
            .expect("an hour divides any time");
        std::iter::successors(Some(first), |hour| Some(*hour + Duration::hours(1)))
            .take_while(|hour| *hour < self.to)
    }
}

/// Orders received in one hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HourCount {
    /// The hour's start, RFC 3339 in UTC.
    pub(crate) hour: String,
    pub(crate) orders: i64,
}

/// Every hour of `range` with its count from `counted` (hour start -> orders), zeros included.
pub(crate) fn fill_hours(
    range: &DayRange,
    counted: impl IntoIterator<Item = (DateTime<Utc>, i64)>,
) -> Vec<HourCount> {
    let counted: HashMap<DateTime<Utc>, i64> = counted.into_iter().collect();
    range
        .hours()
        .map(|hour| HourCount {
            hour: hour.to_rfc3339_opts(SecondsFormat::Millis, true),
            orders: counted.get(&hour).copied().unwrap_or(0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_range_defaults_to_the_last_24_hours_and_is_checked() {
        let now = time("2026-12-02T12:30:00Z");
        let range = DayRange::parse(None, None, now).unwrap();
        assert_eq!(range.from, time("2026-12-01T12:30:00Z"));
        assert_eq!(range.to, now);
        let local_day = DayRange::parse(
            Some("2026-12-02T00:00:00+01:00"),
            Some("2026-12-03T00:00:00+01:00"),
            now,
        )
        .unwrap();
        assert_eq!(local_day.from, time("2026-12-01T23:00:00Z"));
        assert_eq!(
            DayRange::parse(Some("yesterday"), None, now),
            Err(DayRangeError::NotATime {
                field: "from",
                value: "yesterday".into()
            })
        );
        assert_eq!(
            DayRange::parse(Some("2026-12-03T00:00:00Z"), None, now),
            Err(DayRangeError::Reversed)
        );
        assert_eq!(
            DayRange::parse(Some("2026-01-01T00:00:00Z"), None, now),
            Err(DayRangeError::TooLong)
        );
    }

    #[test]
    fn every_hour_of_the_range_is_counted_with_zeros_kept() {
        let range = DayRange::parse(
            Some("2026-12-02T09:30:00Z"),
            Some("2026-12-02T12:00:00Z"),
            Utc::now(),
        )
        .unwrap();
        let hours = fill_hours(
            &range,
            [
                (time("2026-12-02T11:00:00Z"), 4),
                (time("2026-12-02T09:00:00Z"), 2),
            ],
        );
        assert_eq!(
            hours,
            [
                HourCount {
                    hour: "2026-12-02T09:00:00.000Z".into(),
                    orders: 2
                },
                HourCount {
                    hour: "2026-12-02T10:00:00.000Z".into(),
                    orders: 0
                },
                HourCount {
                    hour: "2026-12-02T11:00:00.000Z".into(),
                    orders: 4
                },
            ]
        );
    }
}
