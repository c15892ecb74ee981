//! What the kitchen's integration tests share: the harness of `test_support` on this crate's
//! binary.

#![allow(dead_code, unused_imports, missing_docs)]

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
