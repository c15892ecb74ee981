//! Extraction (pure): an inserted MongoDB document -> an `OrderRequest`, or the reason it cannot
//! become one, with the MongoDB field named.
//!
//! Only the design's fields are read: `_id`, `OtterOrderId`, `BrandName`,
//! `StationOrders[].OwnStationName`, `StationOrders[].OrderItems[].Name` and `.Quantity`
//! ([`PROJECTED_FIELDS`]). Extra fields are ignored. Every limit of the contract
//! ([`order_service_proto::limits`]) is checked here, so a document the kitchen would refuse is
//! dead-lettered at the source with the field named, and never sent. `OtterOrderId` and
//! `BrandName` are informative: when missing they are sent empty (the kitchen still has to cook
//! the order), and an int32 or int64 is sent as its decimal form (other types as empty).

use chrono::{DateTime, TimeZone, Utc};
use mongodb::bson::{self, Bson, Document, Timestamp};
use order_service_proto::limits::{
    MAX_ID_LEN, MAX_ITEMS, MAX_QUANTITY, MAX_TEXT_LEN, TextProblem, check_text,
};
use order_service_proto::order_service::v1::{OrderItem, OrderRequest};
use shared_utils::time::iso8601_millis;

/// The `source` every extracted order carries.
pub(crate) const SOURCE: &str = "mongodb_changestream";

/// The top-level fields extraction reads: the change stream projects `fullDocument` to these, so
/// that a huge document never makes a huge event.
pub(crate) const PROJECTED_FIELDS: [&str; 3] = ["OtterOrderId", "BrandName", "StationOrders"];

/// Why a document cannot become a valid order. The document is dead-lettered with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidOrder {
    /// The document has no `_id`.
    #[error("the document has no _id")]
    MissingId,
    /// `StationOrders` is missing, not an array, or empty.
    #[error("StationOrders is missing, not an array or empty")]
    NoStationOrders,
    /// An element of `StationOrders` is not a document.
    #[error("StationOrders[{station}] is not a document")]
    StationNotADocument { station: usize },
    /// A station order has no `OwnStationName` (or it is empty or not a string).
    #[error("StationOrders[{station}].OwnStationName is missing, empty or not a string")]
    MissingStationName { station: usize },
    /// A station order's `OrderItems` is missing or not an array.
    #[error("StationOrders[{station}].OrderItems is missing or not an array")]
    MissingItems { station: usize },
    /// No station order holds any item.
    #[error("the order has no items")]
    NoItems,
    /// The order has more items than the kitchen takes.
    #[error("the order has {count} items; at most {MAX_ITEMS} are allowed")]
    TooManyItems { count: usize },
    /// An element of `OrderItems` is not a document.
    #[error("StationOrders[{station}].OrderItems[{item}] is not a document")]
    ItemNotADocument { station: usize, item: usize },
    /// An item has no `Name` (or it is empty or not a string).
    #[error("StationOrders[{station}].OrderItems[{item}].Name is missing, empty or not a string")]
    MissingItemName { station: usize, item: usize },
    /// An item's `Quantity` is missing, or not an int32, an int64 or a double with a whole value.
    #[error(
        "StationOrders[{station}].OrderItems[{item}].Quantity must be a whole number (int32, int64 or a whole double), got {value}"
    )]
    QuantityNotANumber {
        station: usize,
        item: usize,
        /// The value found, as extended JSON (`missing` when absent), shortened to
        /// [`MAX_SHOWN`] bytes.
        value: String,
    },
    /// An item's `Quantity` is below 1 or above the kitchen's limit.
    #[error(
        "StationOrders[{station}].OrderItems[{item}].Quantity {quantity} is out of range (1..={MAX_QUANTITY})"
    )]
    QuantityOutOfRange {
        station: usize,
        item: usize,
        quantity: i64,
    },
    /// A text field (or the order id made of `_id`) is too long or holds a control character.
    #[error("{field} {problem}")]
    InvalidText {
        /// The MongoDB field, e.g. `StationOrders[0].OrderItems[1].Name`.
        field: String,
        problem: TextProblem,
    },
}

/// The most bytes of a found value a reason shows: a dead-letter entry must stay far below
/// MongoDB's 16 MB document limit whatever the document held.
pub(crate) const MAX_SHOWN: usize = 128;

/// `text` cut to at most `max` bytes (at a character boundary), with how long it was when cut.
pub(crate) fn shortened(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// The order id of a document's `_id`, one per distinct `_id` (no two `_id`s a collection can
/// hold side by side share one):
/// - an ObjectId: its 24-hex form (the design's, and the common case);
/// - a string: itself, when it is *plain*: not blank, without control characters, not starting
///   with `{` and not itself 24 lowercase hex digits;
/// - anything else, and the strings that are not plain: `{"_id":<value>}` in relaxed extended
///   JSON, e.g. `{"_id":7}` for the number 7 (the string `"7"` stays `7`), or
///   `{"_id":"67adcfdc15da8840bc9673bd"}` for that string (the ObjectId is the bare hex).
///
/// The three forms cannot meet: plain strings never start with `{` nor look like an ObjectId,
/// and only the third form starts with `{`. MongoDB treats numbers of equal value as the same
/// `_id` (int32 7 and int64 7 cannot both exist), and relaxed JSON writes them alike.
pub(crate) fn order_id_of(id: &Bson) -> String {
    match id {
        Bson::ObjectId(oid) => oid.to_hex(),
        Bson::String(text) if is_plain(text) => text.clone(),
        other => {
            let mut typed = Document::new();
            typed.insert("_id", other.clone());
            Bson::Document(typed).into_relaxed_extjson().to_string()
        }
    }
}

fn is_plain(text: &str) -> bool {
    !text.trim().is_empty()
        && !text.starts_with('{')
        && !looks_like_object_id(text)
        && !text.chars().any(char::is_control)
}

fn looks_like_object_id(text: &str) -> bool {
    text.len() == 24
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// When an order was inserted: the change event's wall time where the server gives it, else the
/// ObjectId's creation time, else the event's cluster time (seconds), else `now`.
pub(crate) fn inserted_at(
    wall_time: Option<bson::DateTime>,
    id: Option<&Bson>,
    cluster_time: Option<Timestamp>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let from_bson =
        |time: bson::DateTime| Utc.timestamp_millis_opt(time.timestamp_millis()).single();
    wall_time
        .and_then(from_bson)
        .or_else(|| match id {
            Some(Bson::ObjectId(oid)) => from_bson(oid.timestamp()),
            _ => None,
        })
        .or_else(|| cluster_time.and_then(|ts| Utc.timestamp_opt(i64::from(ts.time), 0).single()))
        .unwrap_or(now)
}

/// Extracts the order from an inserted document. `inserted_at` becomes its timestamp.
pub(crate) fn extract_order(
    document: &Document,
    inserted_at: DateTime<Utc>,
) -> Result<OrderRequest, InvalidOrder> {
    let order_id = document
        .get("_id")
        .map(order_id_of)
        .ok_or(InvalidOrder::MissingId)?;
    checked("_id", &order_id, MAX_ID_LEN)?;
    let otter_order_id = text_field(document, "OtterOrderId");
    checked("OtterOrderId", &otter_order_id, MAX_ID_LEN)?;
    let brand_name = text_field(document, "BrandName");
    checked("BrandName", &brand_name, MAX_TEXT_LEN)?;
    let stations = match document.get("StationOrders") {
        Some(Bson::Array(stations)) if !stations.is_empty() => stations,
        _ => return Err(InvalidOrder::NoStationOrders),
    };
    let count: usize = stations
        .iter()
        .filter_map(|station| match station {
            Bson::Document(station) => station.get_array("OrderItems").ok().map(Vec::len),
            _ => None,
        })
        .sum();
    if count > MAX_ITEMS {
        return Err(InvalidOrder::TooManyItems { count });
    }
    let mut order_items = Vec::with_capacity(count);
    for (station, station_order) in stations.iter().enumerate() {
        let Bson::Document(station_order) = station_order else {
            return Err(InvalidOrder::StationNotADocument { station });
        };
        let station_name = non_empty_string(station_order.get("OwnStationName"))
            .ok_or(InvalidOrder::MissingStationName { station })?;
        checked(
            || format!("StationOrders[{station}].OwnStationName"),
            station_name,
            MAX_TEXT_LEN,
        )?;
        let Some(Bson::Array(items)) = station_order.get("OrderItems") else {
            return Err(InvalidOrder::MissingItems { station });
        };
        for (item, entry) in items.iter().enumerate() {
            let Bson::Document(entry) = entry else {
                return Err(InvalidOrder::ItemNotADocument { station, item });
            };
            let item_name = non_empty_string(entry.get("Name"))
                .ok_or(InvalidOrder::MissingItemName { station, item })?;
            checked(
                || format!("StationOrders[{station}].OrderItems[{item}].Name"),
                item_name,
                MAX_TEXT_LEN,
            )?;
            let quantity = quantity(entry.get("Quantity"), station, item)?;
            order_items.push(OrderItem {
                item_name: item_name.to_owned(),
                station_name: station_name.to_owned(),
                quantity,
            });
        }
    }
    if order_items.is_empty() {
        return Err(InvalidOrder::NoItems);
    }
    Ok(OrderRequest {
        order_id,
        otter_order_id,
        brand_name,
        order_items,
        timestamp: iso8601_millis(inserted_at),
        source: SOURCE.to_owned(),
    })
}

/// A field name, given as text or built only when a check fails.
trait FieldName {
    fn name(self) -> String;
}

impl FieldName for &str {
    fn name(self) -> String {
        self.to_owned()
    }
}

impl<F: FnOnce() -> String> FieldName for F {
    fn name(self) -> String {
        self()
    }
}

fn checked(field: impl FieldName, text: &str, max: usize) -> Result<(), InvalidOrder> {
    check_text(text, max).map_err(|problem| InvalidOrder::InvalidText {
        field: field.name(),
        problem,
    })
}

/// An informative text field: a string as itself, a number as its decimal form, anything else
/// (or nothing) as an empty string.
fn text_field(document: &Document, field: &str) -> String {
    match document.get(field) {
        Some(Bson::String(text)) => text.clone(),
        Some(Bson::Int32(number)) => number.to_string(),
        Some(Bson::Int64(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn non_empty_string(value: Option<&Bson>) -> Option<&str> {
    match value {
        Some(Bson::String(text)) if !text.trim().is_empty() => Some(text),
        _ => None,
    }
}

/// A quantity from an int32, an int64 or a double with a whole value, within
/// 1..=[`MAX_QUANTITY`]. Other types (strings, decimals) are refused: a quantity the kitchen cooks
/// by must be a number the sender meant as one.
fn quantity(value: Option<&Bson>, station: usize, item: usize) -> Result<i32, InvalidOrder> {
    let not_a_number = || InvalidOrder::QuantityNotANumber {
        station,
        item,
        value: value.map_or_else(
            || "missing".to_owned(),
            |value| shortened(&value.clone().into_relaxed_extjson().to_string(), MAX_SHOWN),
        ),
    };
    let whole = match value {
        Some(Bson::Int32(number)) => i64::from(*number),
        Some(Bson::Int64(number)) => *number,
        Some(Bson::Double(number)) => integral(*number).ok_or_else(not_a_number)?,
        _ => return Err(not_a_number()),
    };
    if whole < 1 || whole > i64::from(MAX_QUANTITY) {
        return Err(InvalidOrder::QuantityOutOfRange {
            station,
            item,
            quantity: whole,
        });
    }
    Ok(i32::try_from(whole).expect("checked to be within the quantity range"))
}

/// A double with a whole value, as an i64 (saturating far outside i64, which the range check then
/// rejects).
fn integral(number: f64) -> Option<i64> {
    (number.is_finite() && number.fract() == 0.0).then_some(number as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::oid::ObjectId;
    use mongodb::bson::{Decimal128, doc};
    use std::str::FromStr;

    fn at() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_739_444_187_756).unwrap()
    }

    /// The design's test order, with the design's example `_id`.
    fn design_order() -> Document {
        doc! {
            "_id": ObjectId::parse_str("67adcfdc15da8840bc9673bd").unwrap(),
            "OtterOrderId": "test-order-123",
            "BrandName": "Test Restaurant",
            "StationOrders": [
                {
                    "OwnStationName": "Grill Station",
                    "OrderItems": [
                        { "Name": "Burger", "Quantity": 2 },
                        { "Name": "Hot Dog", "Quantity": 1 },
                    ],
                },
                {
                    "OwnStationName": "Fryer Station",
                    "OrderItems": [ { "Name": "French Fries", "Quantity": 3 } ],
                },
            ],
        }
    }

    fn item(name: &str, station: &str, quantity: i32) -> OrderItem {
        OrderItem {
            item_name: name.into(),
            station_name: station.into(),
            quantity,
        }
    }

    fn with_quantity(quantity: impl Into<Bson>) -> Document {
        let mut document = design_order();
        document.insert(
            "StationOrders",
            vec![Bson::Document(doc! {
                "OwnStationName": "Grill Station",
                "OrderItems": [ { "Name": "Burger", "Quantity": quantity.into() } ],
            })],
        );
        document
    }

    #[test]
    fn the_design_test_order_becomes_the_expected_request() {
        let order = extract_order(&design_order(), at()).unwrap();
        assert_eq!(
            order,
            OrderRequest {
                order_id: "67adcfdc15da8840bc9673bd".into(),
                otter_order_id: "test-order-123".into(),
                brand_name: "Test Restaurant".into(),
                order_items: vec![
                    item("Burger", "Grill Station", 2),
                    item("Hot Dog", "Grill Station", 1),
                    item("French Fries", "Fryer Station", 3),
                ],
                timestamp: "2025-02-13T10:56:27.756Z".into(),
                source: "mongodb_changestream".into(),
            }
        );
    }

    #[test]
    fn extra_fields_are_ignored() {
        let mut document = design_order();
        document.insert("CustomerPhone", "+34 600 000 000");
        document.insert("Total", 12.5);
        let mut stations = document.get_array("StationOrders").unwrap().clone();
        if let Bson::Document(station) = &mut stations[0] {
            station.insert("Printer", "P1");
        }
        document.insert("StationOrders", stations);
        assert_eq!(
            extract_order(&document, at()).unwrap(),
            extract_order(&design_order(), at()).unwrap()
        );
    }

    #[test]
    fn int32_int64_and_whole_double_quantities_are_accepted() {
        let cases: Vec<(Bson, i32)> = vec![
            (Bson::Int32(2), 2),
            (Bson::Int64(3), 3),
            (Bson::Double(4.0), 4),
            (Bson::Int64(i64::from(MAX_QUANTITY)), MAX_QUANTITY),
        ];
        for (value, expected) in cases {
            let order = extract_order(&with_quantity(value.clone()), at())
                .unwrap_or_else(|error| panic!("{value:?}: {error}"));
            assert_eq!(order.order_items[0].quantity, expected, "{value:?}");
        }
    }

    #[test]
    fn a_quantity_that_is_not_a_whole_number_is_rejected() {
        for value in [
            Bson::Double(1.5),
            Bson::Double(f64::NAN),
            Bson::Double(f64::INFINITY),
            Bson::String("2".into()),
            Bson::String("two".into()),
            Bson::Decimal128(Decimal128::from_str("8").unwrap()),
            Bson::Boolean(true),
            Bson::Null,
            Bson::Array(vec![Bson::Int32(1)]),
        ] {
            let error = extract_order(&with_quantity(value.clone()), at()).unwrap_err();
            assert!(
                matches!(
                    error,
                    InvalidOrder::QuantityNotANumber {
                        station: 0,
                        item: 0,
                        ..
                    }
                ),
                "{value:?} gave {error:?}"
            );
        }
        assert_eq!(
            extract_order(&with_quantity("2"), at())
                .unwrap_err()
                .to_string(),
            "StationOrders[0].OrderItems[0].Quantity must be a whole number (int32, int64 or a whole double), got \"2\""
        );
    }

    #[test]
    fn a_quantity_below_one_or_beyond_the_kitchen_limit_is_rejected() {
        for (value, quantity) in [
            (Bson::Int32(0), 0),
            (Bson::Int32(-1), -1),
            (Bson::Double(-2.0), -2),
            (Bson::Int32(MAX_QUANTITY + 1), i64::from(MAX_QUANTITY) + 1),
            (Bson::Int64(i64::MAX), i64::MAX),
            (Bson::Double(1e300), i64::MAX),
        ] {
            assert_eq!(
                extract_order(&with_quantity(value), at()).unwrap_err(),
                InvalidOrder::QuantityOutOfRange {
                    station: 0,
                    item: 0,
                    quantity
                }
            );
        }
    }

    #[test]
    fn text_over_the_kitchen_limits_or_with_control_characters_names_the_field() {
        let mut document = design_order();
        document.insert("BrandName", "b".repeat(MAX_TEXT_LEN + 1));
        assert_eq!(
            extract_order(&document, at()).unwrap_err().to_string(),
            "BrandName must be at most 256 bytes (got 257)"
        );
        let mut document = design_order();
        document.insert("OtterOrderId", "o".repeat(MAX_ID_LEN + 1));
        assert!(matches!(
            extract_order(&document, at()).unwrap_err(),
            InvalidOrder::InvalidText { field, .. } if field == "OtterOrderId"
        ));
        let mut document = design_order();
        document.insert("_id", "i".repeat(MAX_ID_LEN + 1));
        assert!(matches!(
            extract_order(&document, at()).unwrap_err(),
            InvalidOrder::InvalidText { field, problem: TextProblem::TooLong { .. } } if field == "_id"
        ));
        let mut document = design_order();
        let mut stations = document.get_array("StationOrders").unwrap().clone();
        stations[1] = Bson::Document(doc! {
            "OwnStationName": "Fryer\u{1b}[2J",
            "OrderItems": [ { "Name": "Fries", "Quantity": 1 } ],
        });
        document.insert("StationOrders", stations.clone());
        assert_eq!(
            extract_order(&document, at()).unwrap_err().to_string(),
            "StationOrders[1].OwnStationName must not contain control characters (found U+001B at byte 5)"
        );
        stations[1] = Bson::Document(doc! {
            "OwnStationName": "Fryer",
            "OrderItems": [ { "Name": "Fries", "Quantity": 1 }, { "Name": "Caesar\u{0}Salad", "Quantity": 1 } ],
        });
        document.insert("StationOrders", stations);
        assert_eq!(
            extract_order(&document, at()).unwrap_err().to_string(),
            "StationOrders[1].OrderItems[1].Name must not contain control characters (found U+0000 at byte 6)"
        );
    }

    #[test]
    fn a_huge_bad_value_is_shortened_in_the_reason() {
        let reason = extract_order(&with_quantity("9".repeat(3_000_000)), at())
            .unwrap_err()
            .to_string();
        assert!(reason.len() < 400, "{} bytes", reason.len());
        assert!(reason.ends_with("… (3000002 bytes)"), "{reason}");
        assert_eq!(shortened("été", 2), "é… (5 bytes)");
        assert_eq!(shortened("short", 128), "short");
    }

    #[test]
    fn a_tab_in_a_name_is_kept() {
        let mut document = design_order();
        document.insert("BrandName", "Tapas\tBar");
        assert_eq!(
            extract_order(&document, at()).unwrap().brand_name,
            "Tapas\tBar"
        );
    }

    #[test]
    fn more_items_than_the_kitchen_takes_are_rejected() {
        let items: Vec<Bson> = (0..=MAX_ITEMS)
            .map(|n| Bson::Document(doc! { "Name": format!("item {n}"), "Quantity": 1 }))
            .collect();
        let mut document = design_order();
        document.insert(
            "StationOrders",
            vec![Bson::Document(
                doc! { "OwnStationName": "Grill", "OrderItems": items },
            )],
        );
        assert_eq!(
            extract_order(&document, at()).unwrap_err(),
            InvalidOrder::TooManyItems {
                count: MAX_ITEMS + 1
            }
        );
    }

    #[test]
    fn a_missing_quantity_is_rejected() {
        let mut document = design_order();
        document.insert(
            "StationOrders",
            vec![Bson::Document(doc! {
                "OwnStationName": "Grill Station",
                "OrderItems": [ { "Name": "Burger" } ],
            })],
        );
        assert_eq!(
            extract_order(&document, at()).unwrap_err(),
            InvalidOrder::QuantityNotANumber {
                station: 0,
                item: 0,
                value: "missing".into()
            }
        );
    }

    #[test]
    fn missing_or_empty_station_orders_are_rejected() {
        for station_orders in [
            None,
            Some(Bson::Array(vec![])),
            Some(Bson::String("x".into())),
        ] {
            let mut document = design_order();
            document.remove("StationOrders");
            if let Some(value) = station_orders {
                document.insert("StationOrders", value);
            }
            assert_eq!(
                extract_order(&document, at()).unwrap_err(),
                InvalidOrder::NoStationOrders
            );
        }
    }

    #[test]
    fn station_orders_without_any_item_are_rejected() {
        let mut document = design_order();
        document.insert(
            "StationOrders",
            vec![Bson::Document(
                doc! { "OwnStationName": "Grill Station", "OrderItems": [] },
            )],
        );
        assert_eq!(
            extract_order(&document, at()).unwrap_err(),
            InvalidOrder::NoItems
        );
    }

    #[test]
    fn malformed_shapes_are_rejected_with_where_they_are() {
        let cases: Vec<(Bson, InvalidOrder)> = vec![
            (
                Bson::Int32(1),
                InvalidOrder::StationNotADocument { station: 0 },
            ),
            (
                Bson::Document(doc! { "OrderItems": [ { "Name": "Burger", "Quantity": 1 } ] }),
                InvalidOrder::MissingStationName { station: 0 },
            ),
            (
                Bson::Document(doc! { "OwnStationName": "  ", "OrderItems": [] }),
                InvalidOrder::MissingStationName { station: 0 },
            ),
            (
                Bson::Document(doc! { "OwnStationName": "Grill Station" }),
                InvalidOrder::MissingItems { station: 0 },
            ),
            (
                Bson::Document(doc! { "OwnStationName": "Grill Station", "OrderItems": "Burger" }),
                InvalidOrder::MissingItems { station: 0 },
            ),
            (
                Bson::Document(
                    doc! { "OwnStationName": "Grill Station", "OrderItems": [ "Burger" ] },
                ),
                InvalidOrder::ItemNotADocument {
                    station: 0,
                    item: 0,
                },
            ),
            (
                Bson::Document(
                    doc! { "OwnStationName": "Grill Station", "OrderItems": [ { "Quantity": 1 } ] },
                ),
                InvalidOrder::MissingItemName {
                    station: 0,
                    item: 0,
                },
            ),
            (
                Bson::Document(
                    doc! { "OwnStationName": "Grill Station", "OrderItems": [ { "Name": 7, "Quantity": 1 } ] },
                ),
                InvalidOrder::MissingItemName {
                    station: 0,
                    item: 0,
                },
            ),
        ];
        for (station, expected) in cases {
            let mut document = design_order();
            document.insert("StationOrders", vec![station.clone()]);
            assert_eq!(
                extract_order(&document, at()).unwrap_err(),
                expected,
                "{station:?}"
            );
        }
    }

    #[test]
    fn a_bad_item_in_a_later_station_is_located() {
        let mut document = design_order();
        let mut stations = document.get_array("StationOrders").unwrap().clone();
        stations[1] = Bson::Document(doc! {
            "OwnStationName": "Fryer Station",
            "OrderItems": [ { "Name": "Fries", "Quantity": 1 }, { "Name": "Onion Rings", "Quantity": "lots" } ],
        });
        document.insert("StationOrders", stations);
        assert!(matches!(
            extract_order(&document, at()).unwrap_err(),
            InvalidOrder::QuantityNotANumber {
                station: 1,
                item: 1,
                ..
            }
        ));
    }

    #[test]
    fn a_missing_brand_or_otter_id_is_sent_empty() {
        let mut document = design_order();
        document.remove("OtterOrderId");
        document.remove("BrandName");
        let order = extract_order(&document, at()).unwrap();
        assert_eq!(
            (order.otter_order_id.as_str(), order.brand_name.as_str()),
            ("", "")
        );
        assert_eq!(order.order_items.len(), 3);
    }

    #[test]
    fn a_numeric_otter_order_id_is_accepted_as_text() {
        let mut document = design_order();
        document.insert("OtterOrderId", 12345_i64);
        assert_eq!(
            extract_order(&document, at()).unwrap().otter_order_id,
            "12345"
        );
    }

    #[test]
    fn a_document_without_id_is_rejected() {
        let mut document = design_order();
        document.remove("_id");
        assert_eq!(
            extract_order(&document, at()).unwrap_err(),
            InvalidOrder::MissingId
        );
    }

    #[test]
    fn ids_of_other_types_use_their_string_form() {
        assert_eq!(
            order_id_of(&Bson::ObjectId(
                ObjectId::parse_str("67adcfdc15da8840bc9673bd").unwrap()
            )),
            "67adcfdc15da8840bc9673bd"
        );
        assert_eq!(order_id_of(&Bson::String("order-7".into())), "order-7");
        assert_eq!(order_id_of(&Bson::String("7".into())), "7");
        assert_eq!(order_id_of(&Bson::Int32(7)), r#"{"_id":7}"#);
        assert_eq!(
            order_id_of(&Bson::Int64(70_000_000_000)),
            r#"{"_id":70000000000}"#
        );
        assert_eq!(
            order_id_of(&Bson::Document(doc! { "shop": 1, "n": 2 })),
            r#"{"_id":{"shop":1,"n":2}}"#
        );
        let mut document = design_order();
        document.insert("_id", "order-7");
        assert_eq!(extract_order(&document, at()).unwrap().order_id, "order-7");
    }

    #[test]
    fn ids_of_different_types_or_values_never_share_an_order_id() {
        let oid = ObjectId::parse_str("67adcfdc15da8840bc9673bd").unwrap();
        let ids = [
            Bson::ObjectId(oid),
            Bson::String(oid.to_hex()),
            Bson::String(format!(r#"{{"_id":"{}"}}"#, oid.to_hex())),
            Bson::Int32(7),
            Bson::String("7".into()),
            Bson::String(r#"{"_id":7}"#.into()),
            Bson::String(String::new()),
            Bson::String(" ".into()),
            Bson::String("a\u{0}b".into()),
            Bson::Boolean(true),
            Bson::String("true".into()),
            Bson::Null,
            Bson::String("null".into()),
            Bson::Double(7.5),
            Bson::String("7.5".into()),
            Bson::Document(doc! { "a": 1 }),
            Bson::String(r#"{"a":1}"#.into()),
        ];
        let order_ids: Vec<String> = ids.iter().map(order_id_of).collect();
        for (i, first) in order_ids.iter().enumerate() {
            for (j, second) in order_ids.iter().enumerate().skip(i + 1) {
                assert_ne!(first, second, "{:?} and {:?}", ids[i], ids[j]);
            }
            assert!(
                check_text(first, MAX_ID_LEN).is_ok(),
                "{first:?} is a valid order id"
            );
        }
    }

    #[test]
    fn the_timestamp_prefers_wall_time_then_the_object_id() {
        let now = Utc.timestamp_millis_opt(2_000_000_000_000).unwrap();
        let oid = ObjectId::parse_str("67adcfdc15da8840bc9673bd").unwrap();
        let wall = bson::DateTime::from_millis(1_739_444_187_756);
        let cluster = Timestamp {
            time: 1_739_444_100,
            increment: 1,
        };
        let id = Bson::ObjectId(oid);
        assert_eq!(
            iso8601_millis(inserted_at(Some(wall), Some(&id), Some(cluster), now)),
            "2025-02-13T10:56:27.756Z"
        );
        // The ObjectId's creation time has whole seconds.
        assert_eq!(
            iso8601_millis(inserted_at(None, Some(&id), Some(cluster), now)),
            "2025-02-13T10:56:28.000Z"
        );
        let text_id = Bson::String("x".into());
        assert_eq!(
            iso8601_millis(inserted_at(None, Some(&text_id), Some(cluster), now)),
            "2025-02-13T10:55:00.000Z"
        );
        assert_eq!(inserted_at(None, Some(&text_id), None, now), now);
    }
}
