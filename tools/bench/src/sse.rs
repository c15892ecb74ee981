//! A lean Server-Sent Events reader for many busy streams: it hands out each message's `data`
//! without allocating per message, and finds the `order_id` in it without a full JSON parse.
//!
//! It follows the event-stream line rules (`\n` or `\r\n` line ends, `:` comments, `data:`
//! lines joined by `\n`, a blank line dispatching); fields other than `data` are skipped, since
//! the benchmark identifies orders by their `order_id`. `test_support::SseParser` is the full
//! parser; this one exists because at 100,000 events a second the client's own parsing must not
//! be what is measured.

use std::borrow::Cow;

/// Incremental parser: feed it chunks as they arrive.
#[derive(Debug, Default)]
pub struct DataFrames {
    buffer: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
}

impl DataFrames {
    /// Feeds `chunk`, calling `on_data` with the `data` of every message it completes.
    pub fn feed(&mut self, chunk: &[u8], mut on_data: impl FnMut(&[u8])) {
        self.buffer.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(length) = self.buffer[start..].iter().position(|&byte| byte == b'\n') {
            let mut line = &self.buffer[start..start + length];
            start += length + 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.is_empty() {
                if self.has_data {
                    on_data(&self.data);
                }
                self.data.clear();
                self.has_data = false;
            } else if let Some(value) = line.strip_prefix(b"data") {
                let value = match value {
                    [b':', b' ', rest @ ..] | [b':', rest @ ..] => rest,
                    [] => &[][..],
                    _ => continue, // A field such as `database:`, not `data`.
                };
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
        }
        self.buffer.drain(..start);
    }
}

const ORDER_ID_KEY: &[u8] = b"\"order_id\":\"";

/// The `order_id` of an order event's JSON `data`.
///
/// The kitchen writes `order_id` first and the benchmark's ids need no escaping, so the value is
/// normally sliced straight out of the text; anything else falls back to a JSON parse.
pub fn order_id(data: &[u8]) -> Option<Cow<'_, str>> {
    let fast = data
        .windows(ORDER_ID_KEY.len())
        .position(|window| window == ORDER_ID_KEY)
        .and_then(|at| {
            let value = &data[at + ORDER_ID_KEY.len()..];
            let end = value.iter().position(|&byte| byte == b'"')?;
            let value = &value[..end];
            (!value.contains(&b'\\')).then_some(value)
        })
        .and_then(|value| std::str::from_utf8(value).ok());
    if let Some(id) = fast {
        return Some(Cow::Borrowed(id));
    }
    let value: serde_json::Value = serde_json::from_slice(data).ok()?;
    Some(Cow::Owned(value.get("order_id")?.as_str()?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = DataFrames::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, |data| {
                out.push(String::from_utf8(data.to_vec()).unwrap())
            });
        }
        out
    }

    #[test]
    fn messages_split_anywhere_are_put_back_together() {
        let stream: &[u8] =
            b"retry: 2000\n\n: heartbeat\n\nid: 7\ndata: {\"a\":1}\n\nid: 8\r\ndata: x\r\ndata:y\r\n\r\n";
        let whole = messages(&[stream]);
        assert_eq!(whole, vec!["{\"a\":1}".to_owned(), "x\ny".to_owned()]);
        for split in 1..stream.len() {
            assert_eq!(messages(&[&stream[..split], &stream[split..]]), whole);
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(messages(&bytewise), whole);
    }

    #[test]
    fn order_ids_are_found_fast_or_by_parsing() {
        let kitchen = br#"{"order_id":"bench-1-2-fanout-17","otter_order_id":"x","items":[]}"#;
        assert_eq!(order_id(kitchen).as_deref(), Some("bench-1-2-fanout-17"));
        let reordered = br#"{"brand_name":"B", "order_id" : "a\"b"}"#;
        assert_eq!(order_id(reordered).as_deref(), Some("a\"b"));
        assert_eq!(order_id(b"not json"), None);
    }
}
