//! PEM files (certificates, keys), read whole, with an error that names which file and where.

use std::path::{Path, PathBuf};

/// A PEM file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the {what} {path}: {source}")]
pub struct PemFileError {
    /// Which file (for example "server certificate").
    pub what: &'static str,
    /// Its path.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// Reads the `what` (for example "client key") at `path`.
pub fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, PemFileError> {
    std::fs::read(path).map_err(|source| PemFileError {
        what,
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named_with_what_it_is() {
        let error = read_pem("server key", Path::new("/nonexistent/key.pem")).unwrap_err();
        assert_eq!(error.what, "server key");
        assert!(
            error
                .to_string()
                .starts_with("cannot read the server key /nonexistent/key.pem: "),
            "{error}"
        );
    }
}
