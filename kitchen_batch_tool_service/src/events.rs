//! The entries of the event log: committed orders and the changes screens make to their tickets,
//! each with its place in one durable sequence.

use crate::order::Order;

/// An entry of the log, in the order screens receive them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogEvent {
    Order(OrderEvent),
    Change(ChangeEvent),
}

impl LogEvent {
    /// The entry's place in the log kept in PostgreSQL: ids only grow, with gaps.
    pub(crate) fn id(&self) -> i64 {
        match self {
            Self::Order(order) => order.id,
            Self::Change(change) => change.id,
        }
    }

    pub(crate) fn as_order(&self) -> Option<&OrderEvent> {
        match self {
            Self::Order(order) => Some(order),
            Self::Change(_) => None,
        }
    }

    /// The bytes of text the entry holds: what bounds in bytes count.
    pub(crate) fn payload_bytes(&self) -> usize {
        match self {
            Self::Order(order) => order.order.payload_bytes(),
            Self::Change(change) => change.data.len(),
        }
    }
}

/// A committed order and its event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderEvent {
    pub(crate) id: i64,
    /// The kitchen instance that received it (the one that prints it).
    pub(crate) received_by: String,
    /// When the kitchen stored it, RFC 3339 in UTC with milliseconds.
    pub(crate) received_at: String,
    pub(crate) order: Order,
}

/// A committed change to tickets (a bump, a hand-over, a recall, an undo), as screens receive
/// it: its kind names the SSE event and `data` is its JSON, stored as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangeEvent {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) data: String,
}

/// Order `order-<id>` (a small valid order) received by `k1`, at event id `id`.
#[cfg(test)]
pub(crate) fn test_event(id: i64) -> OrderEvent {
    OrderEvent {
        id,
        received_by: "k1".into(),
        received_at: "2026-12-02T10:00:00.000Z".into(),
        order: crate::order::validate(test_support::fixtures::numbered_order(&format!(
            "order-{id}"
        )))
        .expect("a valid order"),
    }
}
