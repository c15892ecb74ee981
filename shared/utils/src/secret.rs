//! Secrets in configuration: a [`Secret`] never shows its value in `Debug` or `Display` (so a
//! logged configuration or error prints `[redacted]`), and a token is checked in constant time.

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use subtle::ConstantTimeEq;

/// A secret value (a token). Its value is reached only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret derived from this one for `purpose` (the hex SHA-256 of both): for a value that
    /// must be handed out in place of the secret, such as a cookie.
    pub fn derived(&self, purpose: &str) -> Secret {
        let mut hasher = Sha256::new();
        hasher.update(purpose.as_bytes());
        hasher.update([0]);
        hasher.update(self.0.as_bytes());
        Secret(
            hasher
                .finalize()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        )
    }

    /// Whether `candidate` is this secret. Both sides are hashed with SHA-256 first and the
    /// digests compared in constant time, so neither the time taken nor an early exit tells how
    /// much of a guess was right, or how long the secret is.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let given = Sha256::digest(candidate);
        expected.ct_eq(&given).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = String;

    /// A secret given as a value: surrounding white space is dropped, and an empty one refused
    /// (an empty token would be a token everybody knows). The error never holds the value.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(Self(value.to_owned()))
        }
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The value and a file were both given.
    #[error("set {name} or {name}_FILE, not both")]
    Both {
        /// The setting's name.
        name: &'static str,
    },
    /// The file cannot be read.
    #[error("cannot read {name}_FILE {path}: {source}")]
    Unreadable {
        /// The setting's name.
        name: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds nothing but white space.
    #[error("{name}_FILE {path} is empty")]
    Empty {
        /// The setting's name.
        name: &'static str,
        /// The file.
        path: PathBuf,
    },
}

/// The secret named `name`, given either as a value (`NAME`) or as a file holding it
/// (`NAME_FILE`, whose surrounding white space, such as a final newline, is dropped); `None`
/// when neither is given.
pub fn secret_from_value_or_file(
    name: &'static str,
    value: Option<&Secret>,
    file: Option<&Path>,
) -> Result<Option<Secret>, SecretError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(SecretError::Both { name }),
        (Some(value), None) => Ok(Some(value.clone())),
        (None, None) => Ok(None),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
                name,
                path: path.to_owned(),
                source,
            })?;
            text.parse().map(Some).map_err(|_| SecretError::Empty {
                name,
                path: path.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret: Secret = "s3cr3t-marker".parse().unwrap();
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(
            format!("{:?}", Some(secret.clone())),
            "Some([redacted])",
            "inside a derived Debug too"
        );
        assert_eq!(secret.expose(), "s3cr3t-marker");
    }

    #[test]
    fn only_the_exact_value_matches() {
        let secret = Secret::new("token-123");
        assert!(secret.matches(b"token-123"));
        for wrong in [&b""[..], b"token-12", b"token-1234", b"TOKEN-123"] {
            assert!(!secret.matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn a_derived_secret_differs_by_purpose() {
        let secret = Secret::new("token");
        let cookie = secret.derived("cookie");
        assert_eq!(cookie.expose().len(), 64);
        assert_eq!(cookie, secret.derived("cookie"));
        assert_ne!(cookie, secret.derived("other"));
        assert!(!cookie.expose().contains("token"));
    }

    #[test]
    fn an_empty_value_is_refused() {
        assert!(" \n".parse::<Secret>().is_err());
        assert_eq!(" t \n".parse::<Secret>().unwrap().expose(), "t");
    }

    #[test]
    fn a_secret_comes_from_its_value_or_its_file_but_not_both() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let value = Secret::new("from-value");
        let read = |value, file| secret_from_value_or_file("TOKEN", value, file);
        assert_eq!(read(None, None).unwrap(), None);
        assert_eq!(read(Some(&value), None).unwrap(), Some(value.clone()));
        assert_eq!(
            read(None, Some(&file)).unwrap().unwrap().expose(),
            "from-file"
        );
        let both = read(Some(&value), Some(&file)).unwrap_err().to_string();
        assert_eq!(both, "set TOKEN or TOKEN_FILE, not both");
        std::fs::write(&file, "\n").unwrap();
        assert!(
            read(None, Some(&file))
                .unwrap_err()
                .to_string()
                .contains("is empty")
        );
        let missing = read(None, Some(&dir.join("missing"))).unwrap_err();
        assert!(missing.to_string().contains("cannot read TOKEN_FILE"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
