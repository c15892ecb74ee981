//! The names of a new RPC service, derived from one snake_case word list.

use std::fmt;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NameError {
    #[error(
        "{what} {given:?} is not a snake_case name: lowercase ASCII letters and digits in words \
         joined by single underscores, starting with a letter (for example `inventory` or `stock_level`)"
    )]
    NotSnakeCase { what: &'static str, given: String },
    #[error(
        "service name {given:?} must not end in `_service`: the generator adds it (give {stem:?})"
    )]
    EndsInService { given: String, stem: String },
    #[error("service name {given:?} is longer than {max} characters")]
    TooLong { given: String, max: usize },
    #[error("service name {given:?} would make `{item}`, a Rust keyword")]
    Keyword { given: String, item: String },
}

const MAX_LEN: usize = 40;

// Rust keywords (strict and reserved, 2024 edition) that a generated identifier could collide with.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('_').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// A service name such as `inventory` or `stock_level`, and every identifier made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceName {
    snake: String,
}

impl ServiceName {
    pub(crate) fn parse(given: &str) -> Result<Self, NameError> {
        if !is_snake_case(given) {
            return Err(NameError::NotSnakeCase {
                what: "service name",
                given: given.to_owned(),
            });
        }
        if let Some(stem) = given.strip_suffix("_service") {
            return Err(NameError::EndsInService {
                given: given.to_owned(),
                stem: stem.to_owned(),
            });
        }
        if given == "service" {
            return Err(NameError::EndsInService {
                given: given.to_owned(),
                stem: String::new(),
            });
        }
        if given.len() > MAX_LEN {
            return Err(NameError::TooLong {
                given: given.to_owned(),
                max: MAX_LEN,
            });
        }
        // `<name>_client` and friends are never keywords; the bare name is a module path segment.
        if KEYWORDS.contains(&given) {
            return Err(NameError::Keyword {
                given: given.to_owned(),
                item: given.to_owned(),
            });
        }
        Ok(Self {
            snake: given.to_owned(),
        })
    }

    /// `stock_level`
    pub(crate) fn snake(&self) -> &str {
        &self.snake
    }

    /// `StockLevel`
    pub(crate) fn pascal(&self) -> String {
        self.snake
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            })
            .collect()
    }

    /// `stock_level_service`: the proto file's stem and the protobuf package's first part.
    pub(crate) fn service_snake(&self) -> String {
        format!("{}_service", self.snake)
    }

    /// `stock_level_service.v1`
    pub(crate) fn proto_package(&self) -> String {
        format!("{}_service.v1", self.snake)
    }

    /// `stock level`, for prose in generated comments.
    pub(crate) fn words(&self) -> String {
        self.snake.replace('_', " ")
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.snake)
    }
}

/// The service that sends the RPC and owns its proto: a top-level folder of the repository,
/// such as `order_management_service` (which may not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    folder: String,
}

impl Owner {
    pub(crate) fn parse(given: &str) -> Result<Self, NameError> {
        let folder = given.trim_end_matches('/');
        if !is_snake_case(folder) {
            return Err(NameError::NotSnakeCase {
                what: "owner",
                given: given.to_owned(),
            });
        }
        Ok(Self {
            folder: folder.to_owned(),
        })
    }

    pub(crate) fn folder(&self) -> &str {
        &self.folder
    }

    /// `<owner>/proto`
    pub(crate) fn proto_folder(&self) -> String {
        format!("{}/proto", self.folder)
    }

    /// The crate a new owner's proto folder gets: `<owner>_proto`.
    pub(crate) fn new_proto_crate(&self) -> String {
        format!("{}_proto", self.folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_word_makes_every_identifier() {
        let name = ServiceName::parse("inventory").unwrap();
        assert_eq!(name.snake(), "inventory");
        assert_eq!(name.pascal(), "Inventory");
        assert_eq!(name.service_snake(), "inventory_service");
        assert_eq!(name.proto_package(), "inventory_service.v1");
    }

    #[test]
    fn several_words_join_in_pascal_case() {
        let name = ServiceName::parse("stock_level2").unwrap();
        assert_eq!(name.pascal(), "StockLevel2");
        assert_eq!(name.words(), "stock level2");
    }

    #[test]
    fn names_that_are_not_snake_case_are_refused() {
        for bad in [
            "",
            "Inventory",
            "inventory-service",
            "2fa",
            "_inventory",
            "inventory_",
            "stock__level",
            "stock level",
            "inventaire\u{e9}",
            "../etc",
            "inventory/x",
        ] {
            assert!(
                matches!(ServiceName::parse(bad), Err(NameError::NotSnakeCase { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn a_name_ending_in_service_is_refused_with_the_stem_to_give() {
        let error = ServiceName::parse("payment_service").unwrap_err();
        assert_eq!(
            error,
            NameError::EndsInService {
                given: "payment_service".into(),
                stem: "payment".into()
            }
        );
        assert!(error.to_string().contains("\"payment\""));
    }

    #[test]
    fn keywords_and_overlong_names_are_refused() {
        assert!(matches!(
            ServiceName::parse("type"),
            Err(NameError::Keyword { .. })
        ));
        assert!(matches!(
            ServiceName::parse(&"a".repeat(41)),
            Err(NameError::TooLong { .. })
        ));
        assert!(ServiceName::parse(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn an_owner_is_one_snake_case_folder() {
        let owner = Owner::parse("inventory_service/").unwrap();
        assert_eq!(owner.proto_folder(), "inventory_service/proto");
        assert_eq!(owner.new_proto_crate(), "inventory_service_proto");
        for bad in ["", "a/b", "../x", "Inventory", "/abs"] {
            assert!(Owner::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
