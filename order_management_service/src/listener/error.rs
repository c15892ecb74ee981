//! Why the listener stops, and what interrupts one opening of the stream.

use crate::backfill::BackfillError;
use crate::checkpoint::CheckpointError;
use crate::dead_letter::DeadLetterError;
use chrono::{DateTime, SecondsFormat, Utc};
use mongodb::error::ErrorKind;

/// `ChangeStreamHistoryLost`: the resume point is no longer in the oplog.
const HISTORY_LOST: i32 = 286;
/// `CappedPositionLost`: the oplog moved past the cursor's position while it was open.
const CAPPED_POSITION_LOST: i32 = 136;
/// `InvalidResumeToken`.
const INVALID_RESUME_TOKEN: i32 = 260;
/// `ChangeStreamFatalError`.
const CHANGE_STREAM_FATAL: i32 = 280;

/// Why the listener stopped. Each needs an operator (see the README's "Operator recovery").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenerError {
    /// The stored position fell out of the oplog (`ChangeStreamHistoryLost`, code 286).
    #[error(
        "change stream history lost (code {code}): the checkpoint is older than the oplog; orders inserted since may be missing: re-send them with `order_management_service backfill --since {}` (see the README's operator recovery) ({message})",
        backfill_from.map_or_else(|| "<time>".to_owned(), |at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
    )]
    HistoryLost {
        /// The server's code: 286 (`ChangeStreamHistoryLost`) or 136 (`CappedPositionLost`).
        code: i32,
        /// The server's message.
        message: String,
        /// Where a backfill should start, if known: a margin before the newest order the lost
        /// position covers.
        backfill_from: Option<DateTime<Utc>>,
    },
    /// The server refused the stream for good (invalid resume token, fatal change-stream error).
    #[error("change stream cannot be resumed (code {code}): {message}")]
    CannotResume {
        /// The server's error code.
        code: i32,
        /// The server's message.
        message: String,
    },
    /// The orders collection (or its database) was dropped or renamed.
    #[error(
        "orders collection {namespace} was {what}; the change stream ended, see the README's operator recovery"
    )]
    CollectionGone {
        /// `db.collection`.
        namespace: String,
        /// What happened (`dropped`, `renamed`, `dropped with its database`, `invalidated`).
        what: &'static str,
    },
    /// The server closed the stream without saying why (with a filter hiding the drop event, a
    /// dropped collection looks like this).
    #[error(
        "change stream on {namespace} was closed by the server (was the collection dropped or renamed?)"
    )]
    StreamClosed {
        /// `db.collection`.
        namespace: String,
    },
}

/// What ended one opening of the stream.
#[derive(Debug)]
pub(crate) enum Interruption {
    /// Shutting down.
    Cancelled,
    /// Reopen after a backoff.
    Retry(String),
    /// Stop the listener.
    Fatal(ListenerError),
    /// Another instance holds the lease now: stand by.
    LeaseLost,
}

impl From<mongodb::error::Error> for Interruption {
    fn from(error: mongodb::error::Error) -> Self {
        if let ErrorKind::Command(command) = error.kind.as_ref() {
            match command.code {
                HISTORY_LOST | CAPPED_POSITION_LOST => {
                    return Self::Fatal(ListenerError::HistoryLost {
                        code: command.code,
                        message: command.message.clone(),
                        backfill_from: None,
                    });
                }
                INVALID_RESUME_TOKEN | CHANGE_STREAM_FATAL => {
                    return Self::Fatal(ListenerError::CannotResume {
                        code: command.code,
                        message: command.message.clone(),
                    });
                }
                _ => {}
            }
        }
        Self::Retry(format!("change stream: {error}"))
    }
}

impl From<CheckpointError> for Interruption {
    fn from(error: CheckpointError) -> Self {
        match error {
            CheckpointError::Fenced { .. } => Self::LeaseLost,
            other => Self::Retry(other.to_string()),
        }
    }
}

impl From<BackfillError> for Interruption {
    fn from(error: BackfillError) -> Self {
        match error {
            BackfillError::Cancelled => Self::Cancelled,
            other => Self::Retry(other.to_string()),
        }
    }
}

impl From<DeadLetterError> for Interruption {
    fn from(error: DeadLetterError) -> Self {
        Self::Retry(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn history_lost_and_invalid_tokens_stop_the_listener_other_errors_retry() {
        let command_error = |code: i32| -> mongodb::error::Error {
            let reply: mongodb::error::CommandError = mongodb::bson::from_document(doc! {
                "code": code, "codeName": "X", "errmsg": "boom"
            })
            .unwrap();
            mongodb::error::Error::from(ErrorKind::Command(reply))
        };
        assert!(matches!(
            Interruption::from(command_error(286)),
            Interruption::Fatal(ListenerError::HistoryLost { code: 286, .. })
        ));
        assert!(matches!(
            Interruption::from(command_error(136)),
            Interruption::Fatal(ListenerError::HistoryLost { code: 136, .. })
        ));
        let lost = ListenerError::HistoryLost {
            code: 286,
            message: "boom".into(),
            backfill_from: DateTime::from_timestamp(1_739_444_187, 0),
        };
        assert!(
            lost.to_string()
                .contains("`order_management_service backfill --since 2025-02-13T10:56:27Z`"),
            "{lost}"
        );
        assert!(matches!(
            Interruption::from(command_error(260)),
            Interruption::Fatal(ListenerError::CannotResume { code: 260, .. })
        ));
        assert!(matches!(
            Interruption::from(command_error(6)),
            Interruption::Retry(_)
        ));
        assert!(matches!(
            Interruption::from(command_error(2)),
            Interruption::Retry(_)
        ));
    }
}
