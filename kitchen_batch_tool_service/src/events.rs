//! An entry of the event log: a committed order with its place in the durable sequence.

use crate::order::Order;

/// A committed order and its event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderEvent {
    /// The order's place in the log kept in PostgreSQL: ids only grow, with gaps.
    pub(crate) id: i64,
    /// The kitchen instance that received it (the one that prints it).
    pub(crate) received_by: String,
    pub(crate) order: Order,
}

/// Order `order-<id>` (a small valid order) received by `k1`, at event id `id`.
#[cfg(test)]
pub(crate) fn test_event(id: i64) -> OrderEvent {
    OrderEvent {
        id,
        received_by: "k1".into(),
        order: crate::order::validate(test_support::fixtures::numbered_order(&format!(
            "order-{id}"
        )))
        .expect("a valid order"),
    }
}
