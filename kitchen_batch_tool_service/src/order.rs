//! The kitchen's order, and the validation that turns a request into one.

use order_service_proto::limits::check_text;
use order_service_proto::limits::{MAX_ID_LEN, MAX_ITEMS, MAX_QUANTITY, MAX_TEXT_LEN};
use order_service_proto::order_service::v1::OrderRequest;
use std::fmt;

/// A valid order, as the kitchen stores, prints and streams it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    /// The MongoDB `_id` of the order: unique, the idempotency key.
    pub(crate) order_id: String,
    /// The Otter aggregator's id.
    pub(crate) otter_order_id: String,
    /// The delivery brand.
    pub(crate) brand_name: String,
    /// Where the order came from, e.g. `mongodb_changestream`.
    pub(crate) source: String,
    /// When the order was placed, ISO 8601 as sent.
    pub(crate) timestamp: String,
    /// The items, in request order; never empty.
    pub(crate) items: Vec<OrderLine>,
}

impl Order {
    /// The bytes of text the order holds (ids, names, stations), with four per quantity: what
    /// bounds in bytes (replay pages, buffers) count.
    pub(crate) fn payload_bytes(&self) -> usize {
        let header = self.order_id.len()
            + self.otter_order_id.len()
            + self.brand_name.len()
            + self.source.len()
            + self.timestamp.len();
        let items: usize = self
            .items
            .iter()
            .map(|item| item.name.len() + item.station.len() + 4)
            .sum();
        header + items
    }
}

/// One item of an order, cooked at one station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderLine {
    /// The food item.
    pub(crate) name: String,
    /// The kitchen station that cooks it.
    pub(crate) station: String,
    /// How many; at least 1.
    pub(crate) quantity: i32,
}

/// Why a request is not a valid order: the field (as a path such as `order_items[2].quantity`)
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub(crate) struct ValidationError {
    /// The offending field.
    pub(crate) field: String,
    /// What is wrong with it.
    pub(crate) problem: String,
}

impl ValidationError {
    fn new(field: impl fmt::Display, problem: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

/// Checks `request` and turns it into an [`Order`], or names the first field that is wrong.
pub(crate) fn validate(request: OrderRequest) -> Result<Order, ValidationError> {
    require_non_empty("order_id", &request.order_id)?;
    limit_len("order_id", &request.order_id, MAX_ID_LEN)?;
    limit_len("otter_order_id", &request.otter_order_id, MAX_ID_LEN)?;
    limit_len("brand_name", &request.brand_name, MAX_TEXT_LEN)?;
    limit_len("timestamp", &request.timestamp, MAX_TEXT_LEN)?;
    limit_len("source", &request.source, MAX_TEXT_LEN)?;
    if request.order_items.is_empty() {
        return Err(ValidationError::new(
            "order_items",
            "must hold at least one item",
        ));
    }
    if request.order_items.len() > MAX_ITEMS {
        return Err(ValidationError::new(
            "order_items",
            format!(
                "must hold at most {MAX_ITEMS} items (got {})",
                request.order_items.len()
            ),
        ));
    }
    let mut items = Vec::with_capacity(request.order_items.len());
    for (index, item) in request.order_items.into_iter().enumerate() {
        let field = |name| ItemField { index, name };
        require_non_empty(field("item_name"), &item.item_name)?;
        limit_len(field("item_name"), &item.item_name, MAX_TEXT_LEN)?;
        require_non_empty(field("station_name"), &item.station_name)?;
        limit_len(field("station_name"), &item.station_name, MAX_TEXT_LEN)?;
        if item.quantity < 1 {
            return Err(ValidationError::new(
                field("quantity"),
                format!("must be at least 1 (got {})", item.quantity),
            ));
        }
        if item.quantity > MAX_QUANTITY {
            return Err(ValidationError::new(
                field("quantity"),
                format!("must be at most {MAX_QUANTITY} (got {})", item.quantity),
            ));
        }
        items.push(OrderLine {
            name: item.item_name,
            station: item.station_name,
            quantity: item.quantity,
        });
    }
    Ok(Order {
        order_id: request.order_id,
        otter_order_id: request.otter_order_id,
        brand_name: request.brand_name,
        source: request.source,
        timestamp: request.timestamp,
        items,
    })
}

/// The path of an item's field, such as `order_items[2].quantity`: written out only for an
/// error, since every field of every order is checked.
#[derive(Clone, Copy)]
struct ItemField {
    index: usize,
    name: &'static str,
}

impl fmt::Display for ItemField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "order_items[{}].{}", self.index, self.name)
    }
}

fn require_non_empty(field: impl fmt::Display, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        Err(ValidationError::new(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Checks the length of a text field and that it holds no control character (see
/// [`check_text`]).
fn limit_len(field: impl fmt::Display, value: &str, max: usize) -> Result<(), ValidationError> {
    check_text(value, max).map_err(|problem| ValidationError::new(field, problem.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use test_support::fixtures::interleaved_sample_order as sample_request;

    fn rejection(change: impl FnOnce(&mut OrderRequest)) -> ValidationError {
        let mut request = sample_request();
        change(&mut request);
        validate(request).unwrap_err()
    }

    #[test]
    fn a_valid_request_keeps_every_field_and_the_item_order() {
        let order = validate(sample_request()).unwrap();
        assert_eq!(order.order_id, "67adcfdc15da8840bc9673bd");
        assert_eq!(order.otter_order_id, "019c52aa-1232-307c-b56d-1a3af34b458c");
        assert_eq!(order.brand_name, "Desayuna");
        assert_eq!(order.source, "mongodb_changestream");
        assert_eq!(order.timestamp, "2025-02-13T10:56:27.756Z");
        let names: Vec<_> = order.items.iter().map(|item| item.name.as_str()).collect();
        assert_eq!(
            names,
            ["Grilled Chicken Sandwich", "Caesar Salad", "Classic Burger"]
        );
        assert_eq!(order.items[0].quantity, 2);
    }

    #[test]
    fn an_empty_order_id_is_rejected() {
        let error = rejection(|request| request.order_id = "  ".into());
        assert_eq!(error.to_string(), "order_id must not be empty");
    }

    #[test]
    fn an_order_without_items_is_rejected() {
        let error = rejection(|request| request.order_items.clear());
        assert_eq!(error.field, "order_items");
    }

    #[test]
    fn a_quantity_below_one_names_the_item() {
        let error = rejection(|request| request.order_items[1].quantity = 0);
        assert_eq!(
            error.to_string(),
            "order_items[1].quantity must be at least 1 (got 0)"
        );
        let error = rejection(|request| request.order_items[2].quantity = -3);
        assert_eq!(error.field, "order_items[2].quantity");
    }

    #[test]
    fn empty_item_and_station_names_are_rejected() {
        let error = rejection(|request| request.order_items[0].item_name.clear());
        assert_eq!(error.field, "order_items[0].item_name");
        let error = rejection(|request| request.order_items[2].station_name = " ".into());
        assert_eq!(error.field, "order_items[2].station_name");
    }

    #[test]
    fn sizes_are_bounded() {
        let error = rejection(|request| request.order_id = "x".repeat(MAX_ID_LEN + 1));
        assert_eq!(error.field, "order_id");
        let error = rejection(|request| request.brand_name = "b".repeat(MAX_TEXT_LEN + 1));
        assert_eq!(error.field, "brand_name");
        let error =
            rejection(|request| request.order_items[0].item_name = "i".repeat(MAX_TEXT_LEN + 1));
        assert_eq!(error.field, "order_items[0].item_name");
        let error = rejection(|request| request.order_items[0].quantity = MAX_QUANTITY + 1);
        assert_eq!(error.field, "order_items[0].quantity");
        let error = rejection(|request| {
            let item = request.order_items[0].clone();
            request.order_items = vec![item; MAX_ITEMS + 1];
        });
        assert_eq!(error.field, "order_items");
    }

    #[test]
    fn control_characters_are_rejected_in_every_text_field() {
        let error = rejection(|request| request.order_items[1].item_name = "Caesar\0Salad".into());
        assert_eq!(
            error.to_string(),
            "order_items[1].item_name must not contain control characters (found U+0000 at byte 6)"
        );
        let error = rejection(|request| request.brand_name = "Desayuna\u{1b}[31m".into());
        assert_eq!(error.field, "brand_name");
        let error = rejection(|request| request.order_id = "id\n".into());
        assert_eq!(error.field, "order_id");
        let error = rejection(|request| request.order_items[0].station_name = "Grill\u{7f}".into());
        assert_eq!(error.field, "order_items[0].station_name");
        let error = rejection(|request| request.otter_order_id = "\r".into());
        assert_eq!(error.field, "otter_order_id");
        let error = rejection(|request| request.source = "x\u{85}".into());
        assert_eq!(error.field, "source");
        let error = rejection(|request| request.timestamp = "2025\u{0}".into());
        assert_eq!(error.field, "timestamp");
    }

    #[test]
    fn tabs_and_non_ascii_text_are_accepted() {
        let mut request = sample_request();
        request.brand_name = "Café\tLa Niña 🍳".into();
        assert!(validate(request).is_ok());
    }

    #[test]
    fn limits_themselves_are_accepted() {
        let mut request = sample_request();
        request.order_id = "x".repeat(MAX_ID_LEN);
        request.order_items[0].quantity = MAX_QUANTITY;
        request.order_items = vec![request.order_items[0].clone(); MAX_ITEMS];
        assert!(validate(request).is_ok());
    }
}
