//! Error reports for the services' edges.

use std::error::Error;

/// Formats `error` and its chain of causes on one line, `outer: cause: root cause`, leaving out
/// a cause whose text the message before it already includes (most of the project's errors name
/// their cause in their own message).
pub fn error_report(error: &(dyn Error + 'static)) -> String {
    let mut report = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !report.contains(&text) {
            report.push_str(": ");
            report.push_str(&text);
        }
        source = cause.source();
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot connect: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot start")]
    struct Wraps(#[source] std::io::Error);

    fn refused() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused")
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        assert_eq!(
            error_report(&Repeats(refused())),
            "cannot connect: connection refused"
        );
    }

    #[test]
    fn a_cause_not_in_the_message_is_appended() {
        assert_eq!(
            error_report(&Wraps(refused())),
            "cannot start: connection refused"
        );
    }
}
