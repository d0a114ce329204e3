//! Server-sent events out of a decoded body: events end at a blank line; `event`, `data` and
//! `id` fields; lines starting with `:` are comments (Lookout's keep-alives).

use bytes::{Buf, BytesMut};

#[derive(Default)]
pub struct SseParser {
    buffer: BytesMut,
    kind: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    pub comments: u64,
}

impl SseParser {
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// Calls `on_event(kind, data)` for every complete event in the buffer; `kind` is `message`
    /// when the event names none.
    pub fn drain(&mut self, mut on_event: impl FnMut(&[u8], &[u8])) {
        while let Some(newline) = self.buffer.iter().position(|&b| b == b'\n') {
            let mut line = &self.buffer[..newline];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.is_empty() {
                if self.has_data {
                    let kind: &[u8] = if self.kind.is_empty() {
                        b"message"
                    } else {
                        &self.kind
                    };
                    on_event(kind, &self.data);
                }
                self.kind.clear();
                self.data.clear();
                self.has_data = false;
            } else if line[0] == b':' {
                self.comments += 1;
            } else {
                let (field, value) = match line.iter().position(|&b| b == b':') {
                    Some(colon) => {
                        let value = &line[colon + 1..];
                        (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                    }
                    None => (line, &b""[..]),
                };
                match field {
                    b"event" => {
                        self.kind.clear();
                        self.kind.extend_from_slice(value);
                    }
                    b"data" => {
                        if self.has_data {
                            self.data.push(b'\n');
                        }
                        self.data.extend_from_slice(value);
                        self.has_data = true;
                    }
                    _ => {}
                }
            }
            self.buffer.advance(newline + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_comments_and_multi_line_data_come_out_whole_however_they_arrive() {
        let wire = b": keep-alive\n\nevent: message\nid: 7-1\ndata: {\"a\":1}\n\n\
                     event:resync\r\ndata: one\r\ndata: two\r\n\r\ndata: plain\n\n";
        for split in 0..wire.len() {
            let mut parser = SseParser::default();
            let mut events = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                parser.buffer().extend_from_slice(part);
                parser.drain(|kind, data| events.push((kind.to_vec(), data.to_vec())));
            }
            assert_eq!(
                events,
                vec![
                    (b"message".to_vec(), b"{\"a\":1}".to_vec()),
                    (b"resync".to_vec(), b"one\ntwo".to_vec()),
                    (b"message".to_vec(), b"plain".to_vec()),
                ],
                "split at {split}"
            );
            assert_eq!(parser.comments, 1);
        }
    }
}
