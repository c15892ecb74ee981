//! The command line's units: rates (`30`, `30/min`, `2/s`, `600/h`) and durations (`90s`,
//! `10m`, `1h`, `500ms`, `1h30m`).

use std::time::Duration;

/// A rate in orders per second from `30` or `30/min` (per minute, the default unit), `2/s` or
/// `600/h`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, per_second) = match text.split_once('/') {
        None => (text, 1.0 / 60.0),
        Some((number, unit)) => {
            let factor = match unit.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 1.0 / 60.0,
                "h" | "hour" => 1.0 / 3_600.0,
                other => return Err(format!("unknown rate unit {other:?} (use /s, /min or /h)")),
            };
            (number, factor)
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a rate (e.g. 30/min or 2/s)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "{text:?}: a rate must be a number of at least zero"
        ));
    }
    Ok(value * per_second)
}

/// A duration from one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`: `90s`, `10m`,
/// `1h30m`, `500ms`. A bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid = || format!("{text:?} is not a duration (e.g. 90s, 10m, 1h30m, 500ms)");
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let seconds = match unit {
            "ms" => value / 1_000.0,
            "s" => value,
            "m" | "min" => value * 60.0,
            "h" => value * 3_600.0,
            _ => return Err(invalid()),
        };
        total += Duration::try_from_secs_f64(seconds).map_err(|_| invalid())?;
        rest = next;
    }
    if text.is_empty() {
        return Err(invalid());
    }
    Ok(total)
}

/// `per_second` as orders per minute, for people: `30.0/min`.
pub fn per_minute(per_second: f64) -> String {
    format!("{:.1}/min", per_second * 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_default_to_per_minute() {
        assert_eq!(parse_rate("30").unwrap(), 0.5);
        assert_eq!(parse_rate("30/min").unwrap(), 0.5);
        assert_eq!(parse_rate("2/s").unwrap(), 2.0);
        assert_eq!(parse_rate("7200/h").unwrap(), 2.0);
        assert_eq!(parse_rate(" 1.5/s ").unwrap(), 1.5);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("3/day").is_err());
        assert!(parse_rate("-1").is_err());
        assert!(parse_rate("inf").is_err());
    }

    #[test]
    fn durations_take_units_and_combinations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(
            parse_duration("2.5s").unwrap(),
            Duration::from_millis(2_500)
        );
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        for bad in ["", "ten", "10x", "m", "-5s", "5s-"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates_print_per_minute() {
        assert_eq!(per_minute(0.5), "30.0/min");
        assert_eq!(per_minute(2.0), "120.0/min");
    }
}
