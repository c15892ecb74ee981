//! The changes a screen makes to tickets, as requested and as streamed.

use super::Ticket;
use serde::Serialize;

/// What a cook asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub(crate) enum ChangeRequest {
    /// One item of one ticket is done.
    BumpItem { order_id: String, position: i32 },
    /// A ticket's items at a station (all its items without one) are done.
    BumpOrder {
        order_id: String,
        station: Option<String>,
    },
    /// An item is done on every open ticket at a station: the batch is up.
    BumpBatch { station: String, item: String },
    /// Expo handed the order over: it leaves every board.
    HandOver { order_id: String },
    /// A bumped ticket comes back.
    Recall {
        order_id: String,
        scope: RecallScope,
    },
    /// A bump, batch bump or hand-over is taken back.
    Undo { change_id: i64 },
}

impl ChangeRequest {
    /// The request in one line, stored with its idempotency key: the same key on another request
    /// is refused.
    pub(crate) fn fingerprint(&self) -> String {
        serde_json::to_string(self).expect("a request serializes")
    }

    /// The kind of change it makes.
    pub(crate) fn kind(&self) -> ChangeKind {
        match self {
            Self::BumpItem { .. } => ChangeKind::ItemBumped,
            Self::BumpOrder { .. } => ChangeKind::OrderBumped,
            Self::BumpBatch { .. } => ChangeKind::BatchBumped,
            Self::HandOver { .. } => ChangeKind::OrderHandedOver,
            Self::Recall { .. } => ChangeKind::OrderRecalled,
            Self::Undo { .. } => ChangeKind::ChangeUndone,
        }
    }
}

/// What a recall brings back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RecallScope {
    /// The ticket's items at this station reopen.
    Station(String),
    /// Only the hand-over is taken back: the ticket is ready at expo again.
    Expo,
    /// Every item reopens.
    AllStations,
}

/// The kinds of change: each is the name of its SSE event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChangeKind {
    ItemBumped,
    OrderBumped,
    BatchBumped,
    OrderHandedOver,
    OrderRecalled,
    ChangeUndone,
}

impl ChangeKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ItemBumped => "item_bumped",
            Self::OrderBumped => "order_bumped",
            Self::BatchBumped => "batch_bumped",
            Self::OrderHandedOver => "order_handed_over",
            Self::OrderRecalled => "order_recalled",
            Self::ChangeUndone => "change_undone",
        }
    }

    /// Whether an undo can take it back: recalls and undos cannot be undone (a recall is undone
    /// by bumping again).
    pub(crate) fn undoable(self) -> bool {
        !matches!(self, Self::OrderRecalled | Self::ChangeUndone)
    }
}

/// An item of a ticket, by order and position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LineRef {
    pub(crate) order_id: String,
    pub(crate) position: i32,
}

/// A change as stored and streamed. A screen applies it by setting every one of `lines` to
/// `done`, removing the `handed_over` tickets and putting the `reopened` ones (whole, as they
/// are now) on its board. Every change sets state and never toggles it, so applying one again
/// (a replay after a snapshot that already holds it) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Change {
    pub(crate) event_id: i64,
    pub(crate) kind: ChangeKind,
    /// When it was made, RFC 3339 in UTC.
    pub(crate) at: String,
    pub(crate) station: Option<String>,
    /// The item a batch bump was for.
    pub(crate) item: Option<String>,
    /// The ticket a single-ticket change was for.
    pub(crate) order_id: Option<String>,
    /// The change an undo took back.
    pub(crate) undoes: Option<i64>,
    pub(crate) done: bool,
    pub(crate) lines: Vec<LineRef>,
    pub(crate) handed_over: Vec<String>,
    pub(crate) reopened: Vec<Ticket>,
}

impl Change {
    /// The change's SSE data: one line of JSON.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a change serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_distinct_fingerprints() {
        let batch = ChangeRequest::BumpBatch {
            station: "Grill".into(),
            item: "Burger".into(),
        };
        let other = ChangeRequest::BumpBatch {
            station: "Grill".into(),
            item: "Hot Dog".into(),
        };
        assert_eq!(batch.fingerprint(), batch.clone().fingerprint());
        assert_ne!(batch.fingerprint(), other.fingerprint());
        assert_eq!(
            batch.fingerprint(),
            r#"{"request":"bump_batch","station":"Grill","item":"Burger"}"#
        );
    }

    #[test]
    fn kinds_name_their_events_and_only_bumps_and_hand_overs_can_be_undone() {
        let kinds = [
            (ChangeKind::ItemBumped, "item_bumped", true),
            (ChangeKind::OrderBumped, "order_bumped", true),
            (ChangeKind::BatchBumped, "batch_bumped", true),
            (ChangeKind::OrderHandedOver, "order_handed_over", true),
            (ChangeKind::OrderRecalled, "order_recalled", false),
            (ChangeKind::ChangeUndone, "change_undone", false),
        ];
        for (kind, name, undoable) in kinds {
            assert_eq!(kind.as_str(), name);
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(kind.undoable(), undoable, "{name}");
        }
    }

    #[test]
    fn a_change_is_one_line_of_json() {
        let change = Change {
            event_id: 1 << 16,
            kind: ChangeKind::BatchBumped,
            at: "2026-12-02T10:00:00.000Z".into(),
            station: Some("Grill\nStation".into()),
            item: Some("Burger".into()),
            order_id: None,
            undoes: None,
            done: true,
            lines: vec![LineRef {
                order_id: "a".into(),
                position: 0,
            }],
            handed_over: vec![],
            reopened: vec![],
        };
        let json = change.to_json();
        assert!(!json.contains('\n'), "{json}");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["kind"], "batch_bumped");
        assert_eq!(value["lines"][0]["position"], 0);
    }
}
