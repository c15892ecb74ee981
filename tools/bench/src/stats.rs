//! Latency summaries.

use std::fmt;
use std::time::Duration;

/// Percentiles of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// The median.
    pub p50: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The largest sample.
    pub max: u64,
}

impl Summary {
    /// Summarises `samples` (microseconds), sorting them in place. Percentiles are nearest-rank.
    pub fn of(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        Self {
            count: samples.len(),
            p50: percentile(samples, 50.0),
            p99: percentile(samples, 99.0),
            max: samples[samples.len() - 1],
        }
    }
}

/// The nearest-rank `percent` percentile of sorted, non-empty `sorted`.
fn percentile(sorted: &[u64], percent: f64) -> u64 {
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds as milliseconds with two decimals, e.g. `12.35 ms`.
pub struct Millis(pub u64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} ms", self.0 as f64 / 1000.0)
    }
}

/// A duration in whole microseconds, saturating.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=100).rev().collect();
        let summary = Summary::of(&mut samples);
        assert_eq!(
            summary,
            Summary {
                count: 100,
                p50: 50,
                p99: 99,
                max: 100
            }
        );
        assert_eq!(Summary::of(&mut [7]).p99, 7);
        assert_eq!(Summary::of(&mut []), Summary::default());
        assert_eq!(Millis(12_345).to_string(), "12.35 ms");
    }
}
