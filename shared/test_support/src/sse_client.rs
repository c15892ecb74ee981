//! A real HTTP Server-Sent Events client for tests: reqwest for the transport, [`SseParser`]
//! for the framing.

use crate::sse::{SseMessage, SseParser};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// An open event stream; messages are read in the background and queued.
#[derive(Debug)]
pub struct SseClient {
    messages: mpsc::UnboundedReceiver<SseMessage>,
    /// Ends with the stream, returning the parser's state.
    reader: JoinHandle<SseParser>,
}

/// How a stream ended: what it sent last, and how it told the client to reconnect.
#[derive(Debug)]
pub struct SseEnd {
    /// Messages not yet taken when the stream ended.
    pub messages: Vec<SseMessage>,
    /// `retry:` lines the whole stream carried.
    pub retries: usize,
    /// The last `retry:` value, in milliseconds.
    pub retry: Option<u64>,
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SseClientError {
    /// The request failed.
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    /// The server answered with something other than an event stream.
    #[error("unexpected response {status}: {body}")]
    Status {
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The body.
        body: String,
    },
}

impl SseClient {
    /// Opens `url`, sending `last_event_id` as the `Last-Event-ID` header when given. Returns
    /// once the response headers arrived (the server has subscribed by then).
    pub async fn connect(url: &str, last_event_id: Option<&str>) -> Result<Self, SseClientError> {
        let client = reqwest::Client::new();
        let mut request = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await?;
        let status = response.status();
        let is_event_stream = response
            .headers()
            .get("content-type")
            .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
        if !status.is_success() || !is_event_stream {
            let body = response.text().await.unwrap_or_default();
            return Err(SseClientError::Status { status, body });
        }
        let (sender, messages) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut parser = SseParser::default();
            let mut body = response.bytes_stream();
            while let Some(Ok(chunk)) = body.next().await {
                for message in parser.feed(&chunk) {
                    // A client that stopped taking messages still reads to the end.
                    let _ = sender.send(message);
                }
            }
            parser
        });
        Ok(Self { messages, reader })
    }

    /// The next message, or `None` if none arrives within `timeout` or the stream ended.
    pub async fn next_message(&mut self, timeout: Duration) -> Option<SseMessage> {
        tokio::time::timeout(timeout, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next `count` messages, or as many as arrived before `timeout` passed in total.
    pub async fn take(&mut self, count: usize, timeout: Duration) -> Vec<SseMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut messages = Vec::with_capacity(count);
        while messages.len() < count {
            match tokio::time::timeout_at(deadline, self.messages.recv()).await {
                Ok(Some(message)) => messages.push(message),
                _ => break,
            }
        }
        messages
    }
}

impl SseClient {
    /// Waits, at most `timeout`, for the server to end the stream.
    pub async fn end(mut self, timeout: Duration) -> Option<SseEnd> {
        let parser = tokio::time::timeout(timeout, &mut self.reader)
            .await
            .ok()?
            .ok()?;
        let mut messages = Vec::new();
        while let Ok(message) = self.messages.try_recv() {
            messages.push(message);
        }
        Some(SseEnd {
            messages,
            retries: parser.retries,
            retry: parser.retry,
        })
    }
}

impl Drop for SseClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
