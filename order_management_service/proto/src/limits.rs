//! The contract's limits: what the kitchen accepts, and so what the order service checks before
//! sending, naming the MongoDB field that breaks them.

use std::fmt;

/// Longest `order_id` and `otter_order_id`, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Longest brand, item, station, source or timestamp text, in bytes.
pub const MAX_TEXT_LEN: usize = 256;
/// Most items one order may have.
pub const MAX_ITEMS: usize = 500;
/// Largest quantity of one item.
pub const MAX_QUANTITY: i32 = 10_000;

/// Bytes of a protobuf string field of at most `max` bytes, encoded: its tag (one byte for field
/// numbers below 16), its length's varint and the text.
const fn encoded_text(max: usize) -> usize {
    let mut length_bytes = 1;
    let mut rest = max >> 7;
    while rest > 0 {
        length_bytes += 1;
        rest >>= 7;
    }
    1 + length_bytes + max
}

/// Most bytes one valid `OrderItem` takes encoded: two texts and a quantity (tag and a varint
/// of at most 5 bytes: valid quantities are positive), with the item's own tag and length (3 bytes) in the list.
const MAX_ITEM_BYTES: usize = 3 + 2 * encoded_text(MAX_TEXT_LEN) + 1 + 5;

/// Most bytes a valid `OrderRequest` takes encoded (about 257 KiB): a gRPC message limit below
/// it would refuse valid orders, so the kitchen's `GRPC_MAX_MESSAGE_BYTES` may not go lower.
pub const MAX_VALID_ORDER_BYTES: usize =
    2 * encoded_text(MAX_ID_LEN) + 3 * encoded_text(MAX_TEXT_LEN) + MAX_ITEMS * MAX_ITEM_BYTES;

/// The kitchen's default limit on one gRPC request, in bytes: tonic's own default (4 MiB), far
/// above [`MAX_VALID_ORDER_BYTES`].
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;
const _: () = assert!(MAX_VALID_ORDER_BYTES < DEFAULT_MAX_MESSAGE_BYTES);

/// Why a text field breaks the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// Longer than the limit.
    TooLong {
        /// The limit, in bytes.
        max: usize,
        /// The text's length, in bytes.
        len: usize,
    },
    /// Holds a control character: PostgreSQL's `text` cannot store NUL, and the others (escape
    /// sequences, bells) have no place on a kitchen screen or console. A tab is allowed.
    ControlCharacter {
        /// The character.
        character: char,
        /// Where it is, in bytes.
        offset: usize,
    },
}

impl fmt::Display for TextProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { max, len } => write!(f, "must be at most {max} bytes (got {len})"),
            Self::ControlCharacter { character, offset } => write!(
                f,
                "must not contain control characters (found U+{:04X} at byte {offset})",
                u32::from(*character)
            ),
        }
    }
}

/// Checks that `text` is at most `max` bytes long and holds no control character but tabs.
pub fn check_text(text: &str, max: usize) -> Result<(), TextProblem> {
    if text.len() > max {
        return Err(TextProblem::TooLong {
            max,
            len: text.len(),
        });
    }
    match text
        .char_indices()
        .find(|(_, character)| character.is_control() && *character != '\t')
    {
        Some((offset, character)) => Err(TextProblem::ControlCharacter { character, offset }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order_service::v1::{OrderItem, OrderRequest};
    use prost::Message;

    #[test]
    fn the_largest_valid_order_fits_the_bound() {
        let text = |len| "x".repeat(len);
        let order = OrderRequest {
            order_id: text(MAX_ID_LEN),
            otter_order_id: text(MAX_ID_LEN),
            brand_name: text(MAX_TEXT_LEN),
            order_items: (0..MAX_ITEMS)
                .map(|_| OrderItem {
                    item_name: text(MAX_TEXT_LEN),
                    station_name: text(MAX_TEXT_LEN),
                    quantity: MAX_QUANTITY,
                })
                .collect(),
            timestamp: text(MAX_TEXT_LEN),
            source: text(MAX_TEXT_LEN),
        };
        let encoded = order.encoded_len();
        assert!(
            encoded <= MAX_VALID_ORDER_BYTES,
            "{encoded} > {MAX_VALID_ORDER_BYTES}"
        );
        // The README's configuration table names this number.
        assert_eq!(MAX_VALID_ORDER_BYTES, 264_539);
    }

    #[test]
    fn text_within_the_limit_with_tabs_and_accents_passes() {
        assert_eq!(check_text("Crème\tbrûlée", MAX_TEXT_LEN), Ok(()));
        assert_eq!(check_text(&"x".repeat(MAX_ID_LEN), MAX_ID_LEN), Ok(()));
    }

    #[test]
    fn long_text_and_control_characters_are_named() {
        assert_eq!(
            check_text(&"x".repeat(MAX_ID_LEN + 1), MAX_ID_LEN),
            Err(TextProblem::TooLong { max: 128, len: 129 })
        );
        for (text, character, offset) in [
            ("a\0b", '\0', 1),
            ("ab\u{1b}[2J", '\u{1b}', 2),
            ("\u{7f}", '\u{7f}', 0),
        ] {
            assert_eq!(
                check_text(text, MAX_TEXT_LEN),
                Err(TextProblem::ControlCharacter { character, offset }),
                "{text:?}"
            );
        }
        assert_eq!(
            TextProblem::ControlCharacter {
                character: '\0',
                offset: 6
            }
            .to_string(),
            "must not contain control characters (found U+0000 at byte 6)"
        );
    }
}
