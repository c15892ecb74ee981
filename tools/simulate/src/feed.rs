//! The feed itself: inserts the generated orders into a MongoDB collection at their arrival
//! times, each insert with a time limit, and reports every interval.

use crate::order::{OrderGenerator, SimulatedOrder};
use crate::rate::{Arrivals, RateCurve};
use crate::units::per_minute;
use mongodb::Collection;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::time::{Instant, sleep_until, timeout};

/// What to feed, and how patiently.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// The rate over time.
    pub curve: RateCurve,
    /// Decides the orders and their arrival times.
    pub seed: u64,
    /// How long to run; `None` until stopped.
    pub duration: Option<Duration>,
    /// The time limit of one insert.
    pub insert_timeout: Duration,
    /// The feed gives up when every insert failed for this long.
    pub give_up_after: Duration,
    /// How often to report.
    pub report_every: Duration,
}

/// Why the feed stopped early.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Every insert failed for longer than [`FeedConfig::give_up_after`].
    #[error(
        "MongoDB has refused or not answered every insert for {for_secs:.0} s ({failed} failed); last error: {last_error}"
    )]
    Unreachable {
        /// How long inserts have been failing.
        for_secs: f64,
        /// How many inserts failed in a row.
        failed: u64,
        /// The last insert's error.
        last_error: String,
    },
}

/// What the feed did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedReport {
    /// Orders MongoDB acknowledged.
    pub inserted: u64,
    /// Inserts that failed or timed out (a timed-out insert may still have been stored).
    pub failed: u64,
    /// How long the feed ran.
    pub elapsed: Duration,
}

/// One interval's figures, as the feed prints them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalSummary {
    /// Since the start.
    pub elapsed: Duration,
    /// The interval's length.
    pub length: Duration,
    /// Acknowledged in the interval.
    pub inserted: u64,
    /// Failed in the interval.
    pub failed: u64,
    /// Acknowledged since the start.
    pub total_inserted: u64,
    /// Failed since the start.
    pub total_failed: u64,
    /// The curve's rate now, orders per second.
    pub target_per_second: f64,
}

impl fmt::Display for IntervalSummary {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let achieved = self.inserted as f64 / self.length.as_secs_f64().max(1e-9);
        write!(
            out,
            "+{:>4}s  inserted {:>4}  failed {:>3}  rate {} (target now {})  total {} inserted, {} failed",
            self.elapsed.as_secs(),
            self.inserted,
            self.failed,
            per_minute(achieved),
            per_minute(self.target_per_second),
            self.total_inserted,
            self.total_failed,
        )
    }
}

/// What a caller learns as the feed goes; every method does nothing unless overridden.
pub trait FeedObserver {
    /// MongoDB acknowledged `order` under `id`.
    fn inserted(&mut self, _id: ObjectId, _order: &SimulatedOrder) {}
    /// Inserting `order` under `id` failed (or timed out) with `error`.
    fn failed(&mut self, _id: ObjectId, _order: &SimulatedOrder, _error: &str) {}
    /// An interval ended.
    fn interval(&mut self, _summary: &IntervalSummary) {}
}

/// An observer that ignores everything.
impl FeedObserver for () {}

/// The generator's seed is derived from the feed's, so that the arrival times and the orders are
/// independent streams (a different rate keeps the same sequence of orders).
const ORDER_STREAM: u64 = 0x9e37_79b9_7f4a_7c15;

/// Inserts orders into `orders` along `config.curve` until `config.duration` has passed or
/// `stop` completes. An insert under way when either happens is finished (within
/// `insert_timeout`), so the report counts every order that may reach the kitchen.
pub async fn run_feed(
    orders: &Collection<Document>,
    config: &FeedConfig,
    stop: impl Future<Output = ()>,
    observer: &mut impl FeedObserver,
) -> Result<FeedReport, FeedError> {
    let start = Instant::now();
    let deadline = config.duration.map(|duration| start + duration);
    let mut arrivals = Arrivals::new(config.curve, config.seed);
    let mut generator = OrderGenerator::new(config.seed ^ ORDER_STREAM);
    let mut next_at = arrivals.next().map(|offset| start + offset);
    let mut report_at = start + config.report_every;
    let mut interval = Counts::default();
    let mut total = Counts::default();
    let mut interval_start = start;
    let mut failing_since: Option<(Instant, u64)> = None;
    tokio::pin!(stop);
    loop {
        let far = start + Duration::from_secs(1_000_000_000);
        let until_deadline = sleep_until(deadline.unwrap_or(far));
        let until_next = sleep_until(next_at.unwrap_or(far));
        tokio::select! {
            biased;
            () = &mut stop => break,
            () = until_deadline, if deadline.is_some() => break,
            () = sleep_until(report_at) => {
                let now = Instant::now();
                observer.interval(&IntervalSummary {
                    elapsed: now - start,
                    length: now - interval_start,
                    inserted: interval.inserted,
                    failed: interval.failed,
                    total_inserted: total.inserted,
                    total_failed: total.failed,
                    target_per_second: config.curve.rate_at((now - start).as_secs_f64()),
                });
                interval = Counts::default();
                interval_start = now;
                // After a long insert, the next report comes a whole interval later.
                report_at = (report_at + config.report_every).max(now + config.report_every / 2);
            }
            () = until_next, if next_at.is_some() => {
                next_at = arrivals.next().map(|offset| start + offset);
                let order = generator.next_order();
                let id = ObjectId::new();
                let mut document = doc! { "_id": id };
                document.extend(order.to_document());
                match insert(orders, document, config.insert_timeout).await {
                    Ok(()) => {
                        interval.inserted += 1;
                        total.inserted += 1;
                        failing_since = None;
                        observer.inserted(id, &order);
                    }
                    Err(error) => {
                        interval.failed += 1;
                        total.failed += 1;
                        observer.failed(id, &order, &error);
                        let (since, failed) = failing_since.get_or_insert((Instant::now(), 0));
                        *failed += 1;
                        if since.elapsed() >= config.give_up_after {
                            return Err(FeedError::Unreachable {
                                for_secs: since.elapsed().as_secs_f64(),
                                failed: *failed,
                                last_error: error,
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(FeedReport {
        inserted: total.inserted,
        failed: total.failed,
        elapsed: start.elapsed(),
    })
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    inserted: u64,
    failed: u64,
}

async fn insert(
    orders: &Collection<Document>,
    document: Document,
    limit: Duration,
) -> Result<(), String> {
    match timeout(limit, orders.insert_one(document)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!(
            "no answer within {limit:?} (the order may still have been stored)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::Client;
    use mongodb::options::ClientOptions;
    use test_support::{MongoTestServer, free_port, unique_name};

    #[derive(Default)]
    struct Recorder {
        inserted: Vec<(ObjectId, SimulatedOrder)>,
        failed: Vec<(ObjectId, String)>,
        intervals: Vec<IntervalSummary>,
    }

    impl FeedObserver for Recorder {
        fn inserted(&mut self, id: ObjectId, order: &SimulatedOrder) {
            self.inserted.push((id, order.clone()));
        }
        fn failed(&mut self, id: ObjectId, _order: &SimulatedOrder, error: &str) {
            self.failed.push((id, error.to_owned()));
        }
        fn interval(&mut self, summary: &IntervalSummary) {
            self.intervals.push(*summary);
        }
    }

    fn config(per_second: f64, duration: Duration) -> FeedConfig {
        FeedConfig {
            curve: RateCurve::Steady { per_second },
            seed: 3,
            duration: Some(duration),
            insert_timeout: Duration::from_secs(5),
            give_up_after: Duration::from_secs(30),
            report_every: Duration::from_millis(500),
        }
    }

    #[tokio::test]
    async fn every_acknowledged_order_is_in_the_collection_as_generated() {
        let server = MongoTestServer::start().expect("start the MongoDB-compatible server");
        let client = Client::with_uri_str(server.uri()).await.expect("client");
        let orders = client
            .database(&unique_name("simulate"))
            .collection::<Document>("orders");
        let mut recorder = Recorder::default();
        let report = run_feed(
            &orders,
            &config(20.0, Duration::from_secs(2)),
            std::future::pending(),
            &mut recorder,
        )
        .await
        .expect("the feed runs");
        assert!(report.inserted >= 15, "{report:?}");
        assert_eq!(report.failed, 0, "{:?}", recorder.failed);
        assert_eq!(recorder.inserted.len() as u64, report.inserted);
        assert!(report.elapsed >= Duration::from_secs(2));
        let stored = orders.count_documents(doc! {}).await.expect("count");
        assert_eq!(stored, report.inserted);
        for (id, order) in &recorder.inserted {
            let mut expected = doc! { "_id": *id };
            expected.extend(order.to_document());
            let found = orders.find_one(doc! { "_id": *id }).await.expect("find");
            assert_eq!(found, Some(expected));
        }
        // 500 ms intervals over 2 s, each counting its own inserts.
        assert!(recorder.intervals.len() >= 3, "{:?}", recorder.intervals);
        let counted: u64 = recorder.intervals.iter().map(|s| s.inserted).sum();
        assert!(counted <= report.inserted);
        let last = recorder.intervals.last().unwrap();
        assert_eq!(last.total_inserted, counted);
    }

    #[tokio::test]
    async fn failed_inserts_are_counted_and_the_feed_gives_up_only_after_a_while() {
        // A port nobody listens on: every insert fails fast once server selection gives up.
        let mut options = ClientOptions::parse(format!(
            "mongodb://127.0.0.1:{}/?directConnection=true",
            free_port()
        ))
        .await
        .expect("options");
        options.server_selection_timeout = Some(Duration::from_millis(100));
        options.connect_timeout = Some(Duration::from_millis(100));
        let orders = Client::with_options(options)
            .expect("client")
            .database("orbital")
            .collection::<Document>("orders");
        let mut feed = config(10.0, Duration::from_secs(60));
        feed.insert_timeout = Duration::from_secs(2);
        feed.give_up_after = Duration::from_secs(2);
        let mut recorder = Recorder::default();
        let started = Instant::now();
        let error = run_feed(&orders, &feed, std::future::pending(), &mut recorder)
            .await
            .expect_err("MongoDB is unreachable");
        let FeedError::Unreachable { failed, .. } = &error;
        assert!(*failed >= 2, "{error}");
        assert_eq!(recorder.failed.len() as u64, *failed);
        assert!(recorder.inserted.is_empty());
        let took = started.elapsed();
        assert!(
            (Duration::from_secs(2)..Duration::from_secs(10)).contains(&took),
            "gave up after {took:?}"
        );
    }

    #[tokio::test]
    async fn the_feed_stops_when_asked() {
        let port = free_port();
        let orders = Client::with_uri_str(format!("mongodb://127.0.0.1:{port}/"))
            .await
            .expect("client")
            .database("orbital")
            .collection::<Document>("orders");
        // A rate so low that no order is due: the feed is waiting when it is stopped.
        let feed = config(0.000_1, Duration::from_secs(3_600));
        let started = Instant::now();
        let report = run_feed(
            &orders,
            &feed,
            tokio::time::sleep(Duration::from_millis(300)),
            &mut (),
        )
        .await
        .expect("stopped");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!((report.inserted, report.failed), (0, 0));
    }

    #[test]
    fn a_summary_is_one_line_with_the_rates_per_minute() {
        let summary = IntervalSummary {
            elapsed: Duration::from_secs(20),
            length: Duration::from_secs(10),
            inserted: 12,
            failed: 1,
            total_inserted: 30,
            total_failed: 2,
            target_per_second: 1.25,
        };
        assert_eq!(
            summary.to_string(),
            "+  20s  inserted   12  failed   1  rate 72.0/min (target now 75.0/min)  total 30 inserted, 2 failed"
        );
    }
}
