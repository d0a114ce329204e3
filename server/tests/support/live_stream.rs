//! A client of the live stream (`/api/live`): a plain HTTP/1.0 request, so the body is the
//! server-sent events, unchunked.

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    pub kind: String,
    pub data: String,
}

impl Event {
    pub fn seq(&self) -> u64 {
        let id = self.id.as_deref().expect("message events have ids");
        id.split_once('-').unwrap().1.parse().unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A stream opened with a plain HTTP/1.0 request, so the body is the events, unchunked.
pub struct Stream {
    reader: BufReader<TcpStream>,
}

/// Opens the stream on `port` with `query`, with the session `cookie` (`name=value`) if any; `Err`
/// carries the status and body of a refusal.
pub async fn open_stream(
    port: u16,
    cookie: Option<&str>,
    query: &str,
    last_event_id: Option<&str>,
) -> Result<Stream, (u16, String)> {
    let mut request = format!(
        "GET /api/live{query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n",
    );
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(id) = last_event_id {
        request.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    request.push_str("\r\n");
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(socket);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let status = super::status_of(&head);
    if status != 200 {
        let mut body = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut reader, &mut body).await;
        return Err((status, body));
    }
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    Ok(Stream { reader })
}

impl Stream {
    /// The next event, skipping comments and the retry hint; `None` if none comes within
    /// `patience` or the stream ends.
    pub async fn next(&mut self, patience: Duration) -> Option<Event> {
        tokio::time::timeout(patience, async {
            let mut event = Event {
                id: None,
                kind: "message".to_owned(),
                data: String::new(),
            };
            let mut fields = 0;
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).await.ok()? == 0 {
                    return None;
                }
                let line = line.trim_end_matches('\n');
                if line.is_empty() {
                    if fields > 0 && !event.data.is_empty() {
                        return Some(event);
                    }
                    fields = 0;
                    continue;
                }
                let Some((field, value)) = line.split_once(": ") else {
                    continue;
                };
                fields += 1;
                match field {
                    "id" => event.id = Some(value.to_owned()),
                    "event" => event.kind = value.to_owned(),
                    "data" => event.data = value.to_owned(),
                    _ => {}
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Events until one satisfies `wanted` (returned last); fails after a minute without any
    /// (a loaded machine can hold ingest back that long while it stores a burst).
    pub async fn until(&mut self, wanted: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut seen = Vec::new();
        loop {
            let event = self.next(Duration::from_secs(30)).await.unwrap_or_else(|| {
                let last = seen.last().map(|event: &Event| (&event.kind, &event.id));
                panic!(
                    "the stream went quiet after {} events; last {last:?}",
                    seen.len()
                )
            });
            let done = wanted(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// Whether the server closed the stream within `patience`.
    pub async fn ends_within(&mut self, patience: Duration) -> bool {
        tokio::time::timeout(patience, async {
            while self.next(Duration::from_secs(3600)).await.is_some() {}
        })
        .await
        .is_ok()
    }
}

pub fn query(filters: &[&str]) -> String {
    let pairs: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(filters.iter().map(|filter| ("filter", *filter)))
        .finish();
    format!("?{pairs}")
}

pub fn topic_of(event: &Event) -> String {
    event.json()["topic"].as_str().unwrap().to_owned()
}
