//! A service's `/metrics` read as Prometheus reads it: fetched over HTTP and parsed by a
//! Prometheus text-format parser, so that a test fails on output a scraper would refuse.

use prometheus_parse::{Scrape, Value};

/// One scrape of a service's metrics.
#[derive(Debug)]
pub struct Scraped {
    scrape: Scrape,
    /// The text as served.
    pub text: String,
}

/// Why a scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The request failed or was not answered 200.
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL scraped.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The parser refused the text.
    #[error("the metrics do not parse: {reason}\n{text}")]
    Parse {
        /// The parser's error.
        reason: String,
        /// The text.
        text: String,
    },
}

impl Scraped {
    /// Fetches and parses `url` (a service's `/metrics`).
    pub async fn fetch(url: &str) -> Result<Self, ScrapeError> {
        let http = |reason: String| ScrapeError::Http {
            url: url.to_owned(),
            reason,
        };
        let response = reqwest::get(url)
            .await
            .map_err(|error| http(error.to_string()))?;
        if !response.status().is_success() {
            return Err(http(format!("answered {}", response.status())));
        }
        let text = response
            .text()
            .await
            .map_err(|error| http(error.to_string()))?;
        Self::parse(text)
    }

    /// Parses exposition `text`. The parser skips lines it does not understand, so every
    /// sample line must come back as a sample (or a histogram's bucket), and OpenMetrics text
    /// must end with `# EOF`.
    pub fn parse(text: String) -> Result<Self, ScrapeError> {
        let refuse = |reason: String| ScrapeError::Parse {
            reason,
            text: text.clone(),
        };
        let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
            .map_err(|error| refuse(error.to_string()))?;
        let sample_lines = text
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .count();
        let parsed: usize = scrape
            .samples
            .iter()
            .map(|sample| match &sample.value {
                Value::Histogram(buckets) => buckets.len(),
                Value::Summary(quantiles) => quantiles.len(),
                _ => 1,
            })
            .sum();
        if parsed != sample_lines {
            return Err(refuse(format!(
                "{sample_lines} sample lines, of which the parser understood {parsed}"
            )));
        }
        if !text.ends_with("# EOF\n") {
            return Err(refuse("the text does not end with `# EOF`".into()));
        }
        Ok(Self { scrape, text })
    }

    /// The value of the sample `name` whose labels include every one of `labels`: a counter's
    /// or a gauge's value, or a histogram's or summary's count when `name` is the family's.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.scrape
            .samples
            .iter()
            .filter(|sample| sample.metric == name)
            .find(|sample| {
                labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(key) == Some(*value))
            })
            .map(|sample| match &sample.value {
                Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
                Value::Histogram(buckets) => buckets.last().map_or(0.0, |bucket| bucket.count),
                Value::Summary(_) => f64::NAN,
            })
    }

    /// Like [`Scraped::value`], 0 when there is no such sample yet.
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    /// Every sample's name, for messages.
    pub fn names(&self) -> Vec<&str> {
        self.scrape
            .samples
            .iter()
            .map(|sample| sample.metric.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP kitchen_orders_stored Orders stored.
# TYPE kitchen_orders_stored counter
kitchen_orders_stored_total 3
# HELP kitchen_orders_rejected Rejected.
# TYPE kitchen_orders_rejected counter
kitchen_orders_rejected_total{reason=\"invalid\"} 1
kitchen_orders_rejected_total{reason=\"refused_by_database\"} 0
# HELP kitchen_store_commit_seconds Commit.
# TYPE kitchen_store_commit_seconds histogram
# UNIT kitchen_store_commit_seconds seconds
kitchen_store_commit_seconds_sum 0.003
kitchen_store_commit_seconds_count 2
kitchen_store_commit_seconds_bucket{le=\"0.001\"} 1
kitchen_store_commit_seconds_bucket{le=\"+Inf\"} 2
# EOF
";

    #[test]
    fn reads_counters_by_label_and_histogram_counts() {
        let scraped = Scraped::parse(TEXT.to_owned()).unwrap();
        assert_eq!(scraped.value("kitchen_orders_stored_total", &[]), Some(3.0));
        assert_eq!(
            scraped.value("kitchen_orders_rejected_total", &[("reason", "invalid")]),
            Some(1.0)
        );
        assert_eq!(
            scraped.value("kitchen_store_commit_seconds_count", &[]),
            Some(2.0)
        );
        assert_eq!(
            scraped.value("kitchen_store_commit_seconds", &[]),
            Some(2.0)
        );
        assert_eq!(scraped.value("kitchen_missing_total", &[]), None);
        assert_eq!(scraped.count("kitchen_missing_total", &[]), 0.0);
    }

    #[test]
    fn a_line_the_parser_cannot_read_or_a_missing_eof_is_refused() {
        let garbled = TEXT.replace("kitchen_orders_stored_total 3", "kitchen orders stored 3");
        assert!(Scraped::parse(garbled).is_err());
        let cut = TEXT.replace("# EOF\n", "");
        assert!(Scraped::parse(cut).is_err());
    }
}
