//! What the kitchen's integration tests share: the harness of `test_support` on this crate's
//! binary.

#![allow(dead_code, unused_imports, missing_docs)]

use order_service_proto::order_service::v1::OrderRequest;
use std::sync::Arc;
pub use test_support::fixtures::{item, numbered_order, sample_order};
pub use test_support::{KITCHEN_WAIT as WAIT, Kitchen, KitchenDatabase};

pub const BINARY: &str = env!("CARGO_BIN_EXE_kitchen_batch_tool_service");

/// A kitchen on a database of its own.
pub fn start() -> Kitchen {
    Kitchen::start(BINARY)
}

/// A kitchen on a database of its own, with extra environment variables.
pub fn start_with(env: &[(&str, &str)]) -> Kitchen {
    Kitchen::start_with(BINARY, env)
}

/// A kitchen on `database`, with extra environment variables.
pub fn start_on(database: &Arc<KitchenDatabase>, env: &[(&str, &str)]) -> Kitchen {
    Kitchen::start_on(BINARY, Arc::clone(database), env)
}

/// The `order_id` inside an event's JSON data.
pub fn order_id_of(data: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(data).expect("event data is JSON");
    value["order_id"].as_str().expect("order_id").to_owned()
}

/// An order of `brand` placed at 10:`minute` on 2 December 2026, with `(name, station,
/// quantity)` items.
pub fn order_of(id: &str, brand: &str, minute: u32, items: &[(&str, &str, i32)]) -> OrderRequest {
    OrderRequest {
        order_id: id.into(),
        otter_order_id: format!("otter-{id}"),
        brand_name: brand.into(),
        order_items: items
            .iter()
            .map(|(name, station, quantity)| item(name, station, *quantity))
            .collect(),
        timestamp: format!("2026-12-02T10:{minute:02}:00.000Z"),
        source: "mongodb_changestream".into(),
    }
}
