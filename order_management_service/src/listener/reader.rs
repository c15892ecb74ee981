//! The reader: a task that reads the change stream ahead of delivery, into a channel bounded in
//! events (its capacity) and in bytes (a semaphore of bytes, held by each insert until it is
//! handled).

use super::classify::{ChangeEvent, InsertedOrder, classify};
use super::error::{Interruption, ListenerError};
use chrono::Utc;
use mongodb::bson::RawDocumentBuf;
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::ResumeToken;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

/// What the reader hands to the listener, in stream order.
#[derive(Debug)]
pub(crate) enum StreamItem {
    /// An insert; `budget` is its share of the read-ahead bytes, given back when it is dropped.
    Insert {
        token: ResumeToken,
        order: Box<InsertedOrder>,
        budget: OwnedSemaphorePermit,
    },
    /// The stream moved past `token` without an order: a quiet batch, or an event of no interest.
    Moved(ResumeToken),
    /// The stream ended; nothing follows.
    Ended(Interruption),
}

/// The read-ahead bound in bytes, shared by the reader and the inserts it handed out.
#[derive(Debug, Clone)]
pub(crate) struct ReadAhead {
    bytes: Arc<Semaphore>,
    capacity: u32,
}

impl ReadAhead {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        let capacity = u32::try_from(capacity_bytes).unwrap_or(u32::MAX).max(1);
        Self {
            bytes: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Waits until `bytes` fit (an event larger than the whole bound takes all of it).
    async fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let wanted = u32::try_from(bytes).unwrap_or(u32::MAX).min(self.capacity);
        Arc::clone(&self.bytes)
            .acquire_many_owned(wanted)
            .await
            .ok()
    }
}

/// A task that is aborted when its handle is dropped (a panic or an early return never leaves it
/// running).
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl AbortOnDrop {
    /// Waits until the task ends (it must have been told to).
    pub(crate) async fn stop(mut self) {
        let _ = (&mut self.0).await;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The reading task; dropping it stops the reading and closes the stream.
#[derive(Debug)]
pub(crate) struct Reader {
    _task: AbortOnDrop,
}

impl Reader {
    /// Starts reading `stream` into `items`.
    pub(crate) fn spawn(
        stream: ChangeStream<RawDocumentBuf>,
        items: mpsc::Sender<StreamItem>,
        read_ahead: ReadAhead,
        namespace: String,
    ) -> Self {
        Self {
            _task: AbortOnDrop(tokio::spawn(read(stream, items, read_ahead, namespace))),
        }
    }
}

async fn read(
    mut stream: ChangeStream<RawDocumentBuf>,
    items: mpsc::Sender<StreamItem>,
    read_ahead: ReadAhead,
    namespace: String,
) {
    loop {
        let item = match stream.next_if_any().await {
            Err(error) => StreamItem::Ended(error.into()),
            Ok(None) if !stream.is_alive() => {
                StreamItem::Ended(Interruption::Fatal(ListenerError::StreamClosed {
                    namespace: namespace.clone(),
                }))
            }
            Ok(None) => match stream.resume_token() {
                Some(token) => StreamItem::Moved(token),
                None => continue,
            },
            Ok(Some(event)) => {
                let Some(token) = stream.resume_token() else {
                    let reason = "a change event without a resume token".to_owned();
                    let _ = items
                        .send(StreamItem::Ended(Interruption::Retry(reason)))
                        .await;
                    return;
                };
                match classify(&event, Utc::now()) {
                    ChangeEvent::Insert(order) => {
                        let Some(budget) = read_ahead.reserve(event.as_bytes().len()).await else {
                            return;
                        };
                        StreamItem::Insert {
                            token,
                            order,
                            budget,
                        }
                    }
                    ChangeEvent::CollectionGone(what) => {
                        StreamItem::Ended(Interruption::Fatal(ListenerError::CollectionGone {
                            namespace: namespace.clone(),
                            what,
                        }))
                    }
                    ChangeEvent::Other => StreamItem::Moved(token),
                }
            }
        };
        let ended = matches!(item, StreamItem::Ended(_));
        if items.send(item).await.is_err() || ended {
            return;
        }
    }
}
