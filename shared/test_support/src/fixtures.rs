//! The orders tests send, one copy of each.

use order_service_proto::order_service::v1::{OrderItem, OrderRequest};

/// An item of an order.
pub fn item(name: &str, station: &str, quantity: i32) -> OrderItem {
    OrderItem {
        item_name: name.into(),
        station_name: station.into(),
        quantity,
    }
}

/// The design document's sample order, as its console block shows it: the two burger-station
/// items, then the salad.
pub fn sample_order() -> OrderRequest {
    OrderRequest {
        order_id: "67adcfdc15da8840bc9673bd".into(),
        otter_order_id: "019c52aa-1232-307c-b56d-1a3af34b458c".into(),
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

/// The design's sample order with its stations interleaved (the salad between the two burger
/// items), for the rules that group items by station in first-seen order.
pub fn interleaved_sample_order() -> OrderRequest {
    let mut order = sample_order();
    order.order_items.swap(1, 2);
    order
}

/// A small valid order with the given id.
pub fn numbered_order(order_id: &str) -> OrderRequest {
    OrderRequest {
        order_id: order_id.into(),
        otter_order_id: format!("otter-{order_id}"),
        brand_name: "Test Brand".into(),
        order_items: vec![
            item("Burger", "Grill Station", 1),
            item("Fries", "Fryer Station", 2),
        ],
        timestamp: "2025-02-13T10:56:27.756Z".into(),
        source: "mongodb_changestream".into(),
    }
}
