//! Stored orders as Server-Sent Events: the JSON the screens read and the SSE framing.

use crate::order::Order;
use bytes::Bytes;
use serde::Serialize;

/// An order that has been committed, with its place in the durable event sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// The order's event id: its place in the sequence kept in PostgreSQL. Only grows.
    pub id: i64,
    /// The order.
    pub order: Order,
}

/// The event's `data`, field for field as the design specifies.
#[derive(Serialize)]
struct EventData<'a> {
    order_id: &'a str,
    otter_order_id: &'a str,
    brand_name: &'a str,
    items: Vec<EventItem<'a>>,
    timestamp: &'a str,
}

#[derive(Serialize)]
struct EventItem<'a> {
    name: &'a str,
    station: &'a str,
    quantity: i32,
}

impl OrderEvent {
    /// The event's JSON `data`. With a `station`, only that station's items are included, and
    /// `None` is returned when the order has none there.
    pub fn data_json(&self, station: Option<&str>) -> Option<String> {
        let order = &self.order;
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
        };
        Some(serde_json::to_string(&data).expect("event data serializes"))
    }

    /// The whole SSE frame for this event, or `None` when a station filter leaves no items.
    pub fn frame(&self, station: Option<&str>) -> Option<Bytes> {
        self.data_json(station)
            .map(|data| message_frame(self.id, &data))
    }
}

/// An SSE message frame with an `id:` and a one-line `data:`, and no `event:` field, so that a
/// browser `EventSource`'s `onmessage` receives it.
pub fn message_frame(id: i64, data: &str) -> Bytes {
    debug_assert!(!data.contains('\n'), "SSE data must be one line");
    Bytes::from(format!("id: {id}\ndata: {data}\n\n"))
}

/// A comment frame that keeps idle connections (and proxies) alive; clients ignore it.
pub fn heartbeat_frame() -> Bytes {
    Bytes::from_static(b": heartbeat\n\n")
}

/// A frame that sets the client's reconnection delay.
pub fn retry_frame(milliseconds: u64) -> Bytes {
    Bytes::from(format!("retry: {milliseconds}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{tests::sample_request, validate};

    fn sample_event() -> OrderEvent {
        OrderEvent {
            id: 42,
            order: validate(sample_request()).unwrap(),
        }
    }

    #[test]
    fn data_has_exactly_the_design_fields_with_items_in_request_order() {
        let data = sample_event().data_json(None).unwrap();
        assert_eq!(
            data,
            r#"{"order_id":"67adcfdc15da8840bc9673bd","otter_order_id":"019c52aa-1232-307c-b56d-1a3af34b458c","brand_name":"Desayuna","items":[{"name":"Grilled Chicken Sandwich","station":"Burger Plancha Station","quantity":2},{"name":"Caesar Salad","station":"Salad Station","quantity":1},{"name":"Classic Burger","station":"Burger Plancha Station","quantity":1}],"timestamp":"2025-02-13T10:56:27.756Z"}"#
        );
    }

    #[test]
    fn a_station_filter_keeps_only_that_stations_items() {
        let data = sample_event().data_json(Some("Salad Station")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&data).unwrap();
        assert_eq!(
            value["items"],
            serde_json::json!([{"name": "Caesar Salad", "station": "Salad Station", "quantity": 1}])
        );
        assert!(sample_event().data_json(Some("Fryer Station")).is_none());
        assert!(sample_event().frame(Some("Fryer Station")).is_none());
    }

    #[test]
    fn frames_have_an_id_one_data_line_no_event_field_and_a_blank_line() {
        let frame = sample_event().frame(None).unwrap();
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
        let frame = event.frame(None).unwrap();
        let text = std::str::from_utf8(&frame).unwrap();
        assert_eq!(text.matches('\n').count(), 3);
        assert!(text.contains(r#""brand_name":"Two\nLines""#));
    }

    #[test]
    fn heartbeats_are_comments_and_retry_sets_the_delay() {
        assert!(heartbeat_frame().starts_with(b":"));
        assert_eq!(&retry_frame(2000)[..], b"retry: 2000\n\n");
    }
}
