//! A Server-Sent Events parser for test and benchmark clients (the transport is theirs).

/// One dispatched SSE message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseMessage {
    /// The `id:` field, if the message had one.
    pub id: Option<String>,
    /// The `event:` field, if the message had one.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Incremental parser following the HTML Standard's event-stream rules: feed it bytes as they
/// arrive, take complete messages out. Comments (heartbeats) and `retry:` lines are counted but
/// produce no message.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    current: SseMessage,
    has_data: bool,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
    /// The last `retry:` value seen, in milliseconds.
    pub retry: Option<u64>,
    /// `retry:` lines seen.
    pub retries: usize,
}

impl SseParser {
    /// Feeds `chunk` and returns the messages it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseMessage> {
        self.buffer.extend_from_slice(chunk);
        let mut messages = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&byte| byte == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if line.is_empty() {
                if self.has_data {
                    messages.push(std::mem::take(&mut self.current));
                } else {
                    self.current = SseMessage::default();
                }
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_str(), ""),
            };
            match field {
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                "id" => self.current.id = Some(value.to_owned()),
                "event" => self.current.event = Some(value.to_owned()),
                "retry" => {
                    self.retry = value.parse().ok();
                    self.retries += 1;
                }
                _ => {}
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages_split_across_chunks_and_skips_comments() {
        let mut parser = SseParser::default();
        assert!(
            parser
                .feed(b"retry: 2000\n\n: heartbeat\n\nid: 7\nda")
                .is_empty()
        );
        let messages = parser.feed(b"ta: {\"a\":1}\n\nid: 8\ndata: x\ndata: y\n\n");
        assert_eq!(
            messages,
            vec![
                SseMessage {
                    id: Some("7".into()),
                    event: None,
                    data: "{\"a\":1}".into()
                },
                SseMessage {
                    id: Some("8".into()),
                    event: None,
                    data: "x\ny".into()
                },
            ]
        );
        assert_eq!(parser.comments, 1);
        assert_eq!(parser.retry, Some(2000));
    }
}
