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
