//! When orders arrive: a rate curve (orders per second over time) and the arrival times it gives,
//! drawn as a Poisson process from a seed (orders come at random moments, as customers order).

use std::f64::consts::TAU;
use std::time::Duration;

/// Orders per second as a function of the time since the feed started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateCurve {
    /// The same rate throughout.
    Steady {
        /// Orders per second.
        per_second: f64,
    },
    /// A rush: from `base` up to `peak` at half the period and back to `base` at its end, along a
    /// raised cosine, then again (a new rush every `period`).
    LunchRush {
        /// Orders per second at the start and end of a rush.
        base_per_second: f64,
        /// Orders per second at its peak.
        peak_per_second: f64,
        /// How long one rush lasts.
        period: Duration,
    },
}

impl RateCurve {
    /// The rate at `at` (seconds since the start), in orders per second.
    pub fn rate_at(&self, at: f64) -> f64 {
        match *self {
            Self::Steady { per_second } => per_second,
            Self::LunchRush {
                base_per_second,
                peak_per_second,
                period,
            } => {
                let phase = at / period.as_secs_f64();
                base_per_second
                    + (peak_per_second - base_per_second) * 0.5 * (1.0 - (TAU * phase).cos())
            }
        }
    }

    /// How many orders are expected from the start to `at` (seconds): the rate's integral.
    pub fn expected_by(&self, at: f64) -> f64 {
        match *self {
            Self::Steady { per_second } => per_second * at,
            Self::LunchRush {
                base_per_second,
                peak_per_second,
                period,
            } => {
                let period = period.as_secs_f64();
                base_per_second * at
                    + (peak_per_second - base_per_second)
                        * 0.5
                        * (at - period / TAU * (TAU * at / period).sin())
            }
        }
    }

    /// Whether the curve is usable: rates finite and not negative, some rate above zero, and a
    /// rush that lasts some time.
    pub fn check(&self) -> Result<(), String> {
        let rate_ok = |rate: f64| rate.is_finite() && rate >= 0.0;
        match *self {
            Self::Steady { per_second } if rate_ok(per_second) && per_second > 0.0 => Ok(()),
            Self::Steady { per_second } => {
                Err(format!("the rate must be above zero (got {per_second}/s)"))
            }
            Self::LunchRush {
                base_per_second,
                peak_per_second,
                period,
            } => {
                if !rate_ok(base_per_second) || !rate_ok(peak_per_second) {
                    return Err("rates must be finite and not negative".into());
                }
                if peak_per_second <= 0.0 {
                    return Err("the peak rate must be above zero".into());
                }
                if period.is_zero() {
                    return Err("the rush period must be longer than zero".into());
                }
                Ok(())
            }
        }
    }
}

/// The moments, after the start, at which orders arrive along a curve: a Poisson process whose
/// intensity is the curve (each arrival where the expected count has grown by one more
/// exponentially distributed step).
#[derive(Debug, Clone)]
pub struct Arrivals {
    curve: RateCurve,
    rng: fastrand::Rng,
    expected: f64,
    last: f64,
}

/// Arrivals further than this from the start are not computed (about 31 years).
const HORIZON_SECS: f64 = 1e9;

impl Arrivals {
    /// The arrivals along `curve` determined by `seed`. The curve must pass
    /// [`RateCurve::check`].
    pub fn new(curve: RateCurve, seed: u64) -> Self {
        Self {
            curve,
            rng: fastrand::Rng::with_seed(seed),
            expected: 0.0,
            last: 0.0,
        }
    }

    fn exponential_step(&mut self) -> f64 {
        // 1 - f64() is in (0, 1], so the logarithm is finite.
        -(1.0 - self.rng.f64()).ln()
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.expected += self.exponential_step();
        let target = self.expected;
        let reached = |at: f64| self.curve.expected_by(at) >= target;
        let mut low = self.last;
        let mut step = 1.0;
        let mut high = low + step;
        while !reached(high) {
            low = high;
            step *= 2.0;
            high = low + step;
            if high > HORIZON_SECS {
                return None;
            }
        }
        // The expected count never decreases with time, so bisection finds the moment.
        for _ in 0..64 {
            let middle = (low + high) / 2.0;
            if reached(middle) {
                high = middle;
            } else {
                low = middle;
            }
        }
        self.last = high;
        Some(Duration::from_secs_f64(high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rush() -> RateCurve {
        RateCurve::LunchRush {
            base_per_second: 1.0,
            peak_per_second: 9.0,
            period: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_rush_climbs_from_base_to_peak_and_back() {
        let curve = rush();
        assert!((curve.rate_at(0.0) - 1.0).abs() < 1e-9);
        assert!((curve.rate_at(300.0) - 9.0).abs() < 1e-9);
        assert!((curve.rate_at(600.0) - 1.0).abs() < 1e-9);
        assert!((curve.rate_at(150.0) - 5.0).abs() < 1e-9);
        assert!(curve.rate_at(100.0) < curve.rate_at(200.0));
        assert!(curve.rate_at(400.0) > curve.rate_at(500.0));
        // The next rush.
        assert!((curve.rate_at(900.0) - 9.0).abs() < 1e-9);
    }

    #[test]
    fn the_expected_count_is_the_rate_integrated() {
        let curve = rush();
        // The mean rate over a rush is (base + peak) / 2.
        assert!((curve.expected_by(600.0) - 3_000.0).abs() < 1e-6);
        assert!((curve.expected_by(300.0) - 1_500.0).abs() < 1e-6);
        // A numerical integral agrees anywhere.
        let steps = 100_000;
        let until = 437.0;
        let dt = until / f64::from(steps);
        let sum: f64 = (0..steps)
            .map(|i| curve.rate_at((f64::from(i) + 0.5) * dt) * dt)
            .sum();
        assert!((curve.expected_by(until) - sum).abs() < 1e-3, "{sum}");
        let steady = RateCurve::Steady { per_second: 0.5 };
        assert!((steady.expected_by(60.0) - 30.0).abs() < 1e-9);
    }

    #[test]
    fn arrivals_are_reproducible_increasing_and_at_the_rate() {
        let steady = RateCurve::Steady { per_second: 2.0 };
        let times: Vec<Duration> = Arrivals::new(steady, 5).take(20_000).collect();
        let again: Vec<Duration> = Arrivals::new(steady, 5).take(20_000).collect();
        assert_eq!(times, again);
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        let last = times.last().unwrap().as_secs_f64();
        // 20,000 arrivals at 2/s take about 10,000 s (Poisson: within a few percent).
        assert!((9_500.0..10_500.0).contains(&last), "{last}");
        assert_ne!(
            times,
            Arrivals::new(steady, 6).take(20_000).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_rush_puts_most_orders_around_its_peak() {
        let curve = rush();
        let in_rush: Vec<f64> = Arrivals::new(curve, 11)
            .map(|at| at.as_secs_f64())
            .take_while(|at| *at < 600.0)
            .collect();
        let count = in_rush.len() as f64;
        assert!(
            (2_800.0..3_200.0).contains(&count),
            "{count} of about 3,000"
        );
        let first_tenth = in_rush.iter().filter(|at| **at < 60.0).count();
        let middle_tenth = in_rush
            .iter()
            .filter(|at| (270.0..330.0).contains(*at))
            .count();
        assert!(
            middle_tenth > 4 * first_tenth,
            "{middle_tenth} around the peak, {first_tenth} at the start"
        );
    }

    #[test]
    fn a_rush_starting_from_zero_still_gets_going() {
        let curve = RateCurve::LunchRush {
            base_per_second: 0.0,
            peak_per_second: 5.0,
            period: Duration::from_secs(10),
        };
        let first = Arrivals::new(curve, 1).next().unwrap();
        assert!(first < Duration::from_secs(10), "{first:?}");
    }

    #[test]
    fn unusable_curves_are_refused() {
        assert!(RateCurve::Steady { per_second: 0.0 }.check().is_err());
        assert!(
            RateCurve::Steady {
                per_second: f64::NAN
            }
            .check()
            .is_err()
        );
        assert!(RateCurve::Steady { per_second: 0.1 }.check().is_ok());
        assert!(rush().check().is_ok());
        let zero_peak = RateCurve::LunchRush {
            base_per_second: 0.0,
            peak_per_second: 0.0,
            period: Duration::from_secs(1),
        };
        assert!(zero_peak.check().is_err());
        let no_period = RateCurve::LunchRush {
            base_per_second: 1.0,
            peak_per_second: 2.0,
            period: Duration::ZERO,
        };
        assert!(no_period.check().is_err());
    }
}
