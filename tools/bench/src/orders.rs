//! The orders the benchmark sends: realistic in size, with ids unique to each run.

use order_service_proto::order_service::v1::{OrderItem, OrderRequest};
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

fn item(name: &str, station: &str, quantity: i32) -> OrderItem {
    OrderItem {
        item_name: name.into(),
        station_name: station.into(),
        quantity,
    }
}

/// Order `sequence` of the run with `prefix`: three items on two stations, like the design's
/// sample order.
pub fn order(prefix: &str, sequence: usize) -> OrderRequest {
    OrderRequest {
        order_id: format!("{prefix}{sequence}"),
        otter_order_id: format!("otter-{prefix}{sequence}"),
        brand_name: "Desayuna".into(),
        order_items: vec![
            item("Grilled Chicken Sandwich", "Burger Plancha Station", 2),
            item("Classic Burger", "Burger Plancha Station", 1),
            item("Caesar Salad", "Salad Station", 1),
        ],
        timestamp: "2025-02-13T10:56:27.756Z".into(),
        source: "mongodb_changestream".into(),
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
