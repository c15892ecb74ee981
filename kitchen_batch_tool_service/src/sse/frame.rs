//! The Server-Sent Events wire format of the event log: the JSON the screens read and the
//! framing.

use crate::events::{ChangeEvent, LogEvent, OrderEvent};
use bytes::Bytes;
use serde::Serialize;

/// The event's `data`: the design's fields, in its order, then the time the kitchen stored the
/// order (which the screens age tickets by; clients of the design's format ignore it).
#[derive(Serialize)]
struct EventData<'a> {
    order_id: &'a str,
    otter_order_id: &'a str,
    brand_name: &'a str,
    items: Vec<EventItem<'a>>,
    timestamp: &'a str,
    received_at: &'a str,
}

#[derive(Serialize)]
struct EventItem<'a> {
    name: &'a str,
    station: &'a str,
    quantity: i32,
}

/// The event's JSON `data`. With a `station`, only that station's items are included, and
/// `None` is returned when the order has none there.
pub(crate) fn data_json(event: &OrderEvent, station: Option<&str>) -> Option<String> {
    let order = &event.order;
    let items: Vec<EventItem<'_>> = order
        .items
        .iter()
        .filter(|item| station.is_none_or(|station| item.station == station))
        .map(|item| EventItem {
            name: &item.name,
            station: &item.station,
            quantity: item.quantity,
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    let data = EventData {
        order_id: &order.order_id,
        otter_order_id: &order.otter_order_id,
        brand_name: &order.brand_name,
        items,
        timestamp: &order.timestamp,
        received_at: &event.received_at,
    };
    Some(serde_json::to_string(&data).expect("event data serializes"))
}

/// The whole SSE frame for an order, or `None` when a station filter leaves no items.
pub(crate) fn order_frame(event: &OrderEvent, station: Option<&str>) -> Option<Bytes> {
    data_json(event, station).map(|data| message_frame(event.id, &data))
}

/// An SSE message frame with an `id:` and a one-line `data:`, and no `event:` field, so that a
/// browser `EventSource`'s `onmessage` receives it.
fn message_frame(id: i64, data: &str) -> Bytes {
    debug_assert!(!data.contains('\n'), "SSE data must be one line");
    Bytes::from(format!("id: {id}\ndata: {data}\n\n"))
}

/// The frame of any entry of the log: an order (`None` when a station filter leaves no items)
/// or a change (sent whole: it names the items it touches).
pub(crate) fn log_frame(event: &LogEvent, station: Option<&str>) -> Option<Bytes> {
    match event {
        LogEvent::Order(order) => order_frame(order, station),
        LogEvent::Change(change) => Some(change_frame(change)),
    }
}

/// A ticket change as a named event (`event: item_bumped`, ...), so that the design's
/// `onmessage` clients, which only want orders, never see it.
pub(crate) fn change_frame(change: &ChangeEvent) -> Bytes {
    debug_assert!(!change.data.contains('\n'), "SSE data must be one line");
    Bytes::from(format!(
        "event: {}\nid: {}\ndata: {}\n\n",
        change.kind, change.id, change.data
    ))
}

/// Tells a screen that its `Last-Event-ID` is beyond the log (the database was restored or
/// replaced): it should rebuild its board. The `id:` moves the browser's last event id to where
/// the stream continues, so that its next reconnection does not meet the same problem.
pub(crate) fn reset_frame(requested: i64, continues_after: i64) -> Bytes {
    Bytes::from(format!(
        "event: reset\nid: {continues_after}\ndata: {{\"reason\":\"last_event_id_ahead_of_log\",\"last_event_id\":{requested},\"continues_after\":{continues_after}}}\n\n"
    ))
}

/// A comment frame that keeps idle connections (and proxies) alive; clients ignore it.
pub(crate) fn heartbeat_frame() -> Bytes {
    Bytes::from_static(b": heartbeat\n\n")
}

/// A frame that sets the client's reconnection delay.
pub(crate) fn retry_frame(milliseconds: u64) -> Bytes {
    Bytes::from(format!("retry: {milliseconds}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::validate;
    use test_support::fixtures::interleaved_sample_order as sample_request;

    fn sample_event() -> OrderEvent {
        OrderEvent {
            id: 42,
            received_by: "k1".into(),
            received_at: "2026-12-02T10:00:00.123Z".into(),
            order: validate(sample_request()).unwrap(),
        }
    }

    #[test]
    fn data_has_the_design_fields_with_items_in_request_order_then_the_time_received() {
        let data = data_json(&sample_event(), None).unwrap();
        assert_eq!(
            data,
            r#"{"order_id":"67adcfdc15da8840bc9673bd","otter_order_id":"019c52aa-1232-307c-b56d-1a3af34b458c","brand_name":"Desayuna","items":[{"name":"Grilled Chicken Sandwich","station":"Burger Plancha Station","quantity":2},{"name":"Caesar Salad","station":"Salad Station","quantity":1},{"name":"Classic Burger","station":"Burger Plancha Station","quantity":1}],"timestamp":"2025-02-13T10:56:27.756Z","received_at":"2026-12-02T10:00:00.123Z"}"#
        );
    }

    #[test]
    fn a_station_filter_keeps_only_that_stations_items() {
        let data = data_json(&sample_event(), Some("Salad Station")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(
            value["items"],
            serde_json::json!([{"name": "Caesar Salad", "station": "Salad Station", "quantity": 1}])
        );
        assert!(data_json(&sample_event(), Some("Fryer Station")).is_none());
        assert!(order_frame(&sample_event(), Some("Fryer Station")).is_none());
    }

    #[test]
    fn frames_have_an_id_one_data_line_no_event_field_and_a_blank_line() {
        let frame = order_frame(&sample_event(), None).unwrap();
        let text = std::str::from_utf8(&frame).unwrap();
        assert!(text.starts_with("id: 42\ndata: {"));
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 3);
        assert!(!text.contains("event:"));
    }

    #[test]
    fn names_with_newlines_stay_on_one_data_line() {
        let mut event = sample_event();
        event.order.brand_name = "Two\nLines".into();
        let frame = order_frame(&event, None).unwrap();
        let text = std::str::from_utf8(&frame).unwrap();
        assert_eq!(text.matches('\n').count(), 3);
        assert!(text.contains(r#""brand_name":"Two\nLines""#));
    }

    #[test]
    fn a_change_is_a_named_event_with_its_id_and_data() {
        let change = ChangeEvent {
            id: 7 << 16,
            kind: "batch_bumped".into(),
            data: r#"{"event_id":458752}"#.into(),
        };
        let text = String::from_utf8(change_frame(&change).to_vec()).unwrap();
        assert_eq!(
            text,
            "event: batch_bumped\nid: 458752\ndata: {\"event_id\":458752}\n\n"
        );
    }

    #[test]
    fn a_reset_is_a_named_event_that_moves_the_last_event_id() {
        let text = String::from_utf8(reset_frame(900, 35).to_vec()).unwrap();
        assert!(text.starts_with("event: reset\nid: 35\ndata: {"), "{text}");
        assert!(text.ends_with("}\n\n"));
        let data: serde_json::Value =
            serde_json::from_str(text.lines().nth(2).unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(data["last_event_id"], 900);
        assert_eq!(data["continues_after"], 35);
    }

    #[test]
    fn heartbeats_are_comments_and_retry_sets_the_delay() {
        assert!(heartbeat_frame().starts_with(b":"));
        assert_eq!(&retry_frame(2000)[..], b"retry: 2000\n\n");
    }
}
