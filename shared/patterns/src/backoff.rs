//! Exponential backoff with jitter.

use std::time::Duration;

/// Exponential backoff: the delay doubles from `initial` up to `max`, with up to ±20 % jitter so
/// that many clients retrying together spread out. [`Backoff::reset`] starts over once the
/// operation is healthy again.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

/// The share of a delay that jitter may add or remove.
const JITTER_RATIO: f64 = 0.2;

impl Backoff {
    /// A backoff from `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// The schedule the services use for reconnecting: 1 s doubling to at most 60 s.
    pub fn reconnect() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// How many failures in a row this backoff has seen since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay before the next attempt without jitter: `initial * 2^failures`, capped at `max`.
    pub fn base_delay(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Records one more failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base_delay();
        self.failures = self.failures.saturating_add(1);
        let jitter = 1.0 + JITTER_RATIO * (2.0 * fastrand::f64() - 1.0);
        base.mul_f64(jitter).min(self.max)
    }

    /// Starts the schedule over, after the operation succeeded.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_and_caps_at_sixty() {
        let mut backoff = Backoff::reconnect();
        let expected = [1, 2, 4, 8, 16, 32, 60, 60, 60];
        for seconds in expected {
            assert_eq!(backoff.base_delay(), Duration::from_secs(seconds));
            backoff.next_delay();
        }
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_never_exceeds_the_cap() {
        let mut backoff = Backoff::reconnect();
        for _ in 0..200 {
            let base = backoff.base_delay();
            let delay = backoff.next_delay();
            assert!(delay >= base.mul_f64(0.8), "{delay:?} below {base:?} - 20%");
            assert!(delay <= base.mul_f64(1.2), "{delay:?} above {base:?} + 20%");
            assert!(delay <= Duration::from_secs(60));
        }
    }

    #[test]
    fn jitter_varies_the_delay() {
        let delays: std::collections::HashSet<_> =
            (0..20).map(|_| Backoff::reconnect().next_delay()).collect();
        assert!(delays.len() > 1, "twenty first delays were all equal");
    }

    #[test]
    fn reset_starts_over_at_the_initial_delay() {
        let mut backoff = Backoff::reconnect();
        for _ in 0..5 {
            backoff.next_delay();
        }
        assert_eq!(backoff.failures(), 5);
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.base_delay(), Duration::from_secs(1));
    }
}
