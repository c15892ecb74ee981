//! The orders the benchmark sends: realistic in size, with ids unique to each run.

use order_service_proto::order_service::v1::OrderRequest;
use std::time::{SystemTime, UNIX_EPOCH};

/// The id prefix of one run: `bench-<unix millis>-<pid>-<scenario>-`. Order `n` of the run is
/// `<prefix><n>`, so every run sends ids no earlier run stored, and a subscriber can tell the
/// run's orders (and their sequence numbers) from any other order on the stream.
pub fn run_prefix(scenario: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default();
    format!("bench-{millis}-{}-{scenario}-", std::process::id())
}

/// Order `sequence` of the run with `prefix`: the design's sample order (three items on two
/// stations) under ids of its own.
pub fn order(prefix: &str, sequence: usize) -> OrderRequest {
    OrderRequest {
        order_id: format!("{prefix}{sequence}"),
        otter_order_id: format!("otter-{prefix}{sequence}"),
        ..test_support::fixtures::sample_order()
    }
}

/// The sequence number of `order_id` if it belongs to the run with `prefix`.
pub fn sequence_of(prefix: &str, order_id: &str) -> Option<usize> {
    order_id.strip_prefix(prefix)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_sequence_and_runs_do_not_mix() {
        let prefix = run_prefix("fanout");
        let order = order(&prefix, 42);
        assert_eq!(sequence_of(&prefix, &order.order_id), Some(42));
        assert_eq!(sequence_of("bench-other-", &order.order_id), None);
        assert_eq!(sequence_of(&prefix, &format!("{prefix}x")), None);
    }
}
