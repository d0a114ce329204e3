//! Just enough HTTP/1.1 for the benchmark, straight over a `TcpStream`: the login form, the admin
//! forms posted as a browser posts them (session cookie, Lookout's own `Origin`) over a kept-alive
//! connection, and the receiver the webhook channel points at, which notes when each request
//! arrived.

use anyhow::{bail, Context, Result};
use bench_common::payload;
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A response's status and headers; the bytes after them stay in the caller's buffer.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn content_length(&self) -> usize {
        self.header("content-length")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    }
}

/// Reads until a whole head (request or response) is in `buffer`, then takes it out; `None`
/// when the peer closed the connection before sending any of it.
async fn read_head(stream: &mut TcpStream, buffer: &mut BytesMut) -> Result<Option<Head>> {
    loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            let head = parse_head(&buffer[..end])?;
            buffer.advance(end + 4);
            return Ok(Some(head));
        }
        if buffer.len() > 64 * 1024 {
            bail!("a head over 64 KiB");
        }
        if stream.read_buf(buffer).await? == 0 {
            if buffer.is_empty() {
                return Ok(None);
            }
            bail!("the connection closed in the middle of a head");
        }
    }
}

/// Reads `length` bytes of body into `buffer` and takes them out.
async fn read_body(
    stream: &mut TcpStream,
    buffer: &mut BytesMut,
    length: usize,
) -> Result<Vec<u8>> {
    while buffer.len() < length {
        if stream.read_buf(buffer).await? == 0 {
            bail!("the connection closed in the middle of a body");
        }
    }
    Ok(buffer.split_to(length).to_vec())
}

/// A status line (`HTTP/1.1 303 See Other`) or request line (`POST /hook HTTP/1.1`) and headers;
/// a request's `status` is 0.
fn parse_head(text: &[u8]) -> Result<Head> {
    let text = std::str::from_utf8(text).context("a head that is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let status = if first.starts_with("HTTP/") {
        first
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("a bad status line: {first:?}"))?
    } else {
        0
    };
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(Head { status, headers })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Fields as an `application/x-www-form-urlencoded` body; a name may repeat.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Logs in with the login form and returns the `lookout_session` cookie as `name=value`.
pub async fn log_in(server: SocketAddr, name: &str, password: &str) -> Result<String> {
    let mut client = FormClient::connect(server, String::new()).await?;
    let (head, body) = client
        .post(
            "/login",
            &form_body(&[("name", name), ("password", password), ("next", "/")]),
        )
        .await?;
    let cookie = head
        .headers
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, value)| value.split(';').next())
        .find(|pair| pair.starts_with("lookout_session="));
    match cookie {
        Some(cookie) if (300..400).contains(&head.status) => Ok(cookie.to_owned()),
        _ => bail!(
            "logging in as {name} failed: {} {}",
            head.status,
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ),
    }
}

/// One kept-alive connection posting forms as a signed-in browser: the session cookie, and
/// Lookout's own address as `Origin` (it refuses a change from anywhere else).
pub struct FormClient {
    server: SocketAddr,
    cookie: String,
    stream: Option<TcpStream>,
    buffer: BytesMut,
}

impl FormClient {
    pub async fn connect(server: SocketAddr, cookie: String) -> Result<Self> {
        let mut client = Self {
            server,
            cookie,
            stream: None,
            buffer: BytesMut::with_capacity(8192),
        };
        client.reconnect().await?;
        Ok(client)
    }

    async fn reconnect(&mut self) -> Result<()> {
        let stream = TcpStream::connect(self.server)
            .await
            .with_context(|| format!("cannot reach Lookout at {}", self.server))?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        self.buffer.clear();
        Ok(())
    }

    /// Posts `body` to `path`; the answer's head and body. A connection the server closed
    /// between two requests is opened again once.
    pub async fn post(&mut self, path: &str, body: &str) -> Result<(Head, Vec<u8>)> {
        let cookie = if self.cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: {}\r\n", self.cookie)
        };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {server}\r\nOrigin: http://{server}\r\n{cookie}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            server = self.server,
        );
        for attempt in 0..2 {
            if self.stream.is_none() {
                self.reconnect().await?;
            }
            let stream = self.stream.as_mut().expect("connected above");
            let sent = stream.write_all(request.as_bytes()).await;
            let head = match sent {
                Ok(()) => read_head(stream, &mut self.buffer).await,
                Err(error) => Err(error.into()),
            };
            match head {
                Ok(Some(head)) => {
                    let body = read_body(stream, &mut self.buffer, head.content_length()).await?;
                    if head
                        .header("connection")
                        .is_some_and(|value| value.eq_ignore_ascii_case("close"))
                    {
                        self.stream = None;
                    }
                    return Ok((head, body));
                }
                Ok(None) | Err(_) if attempt == 0 => self.stream = None,
                Ok(None) => bail!("Lookout closed the connection without answering {path}"),
                Err(error) => return Err(error),
            }
        }
        unreachable!("the second attempt returns")
    }
}

/// One request the receiver took.
#[derive(Clone, Debug)]
pub struct Received {
    /// When its body had arrived, microseconds since the Unix epoch.
    pub at_us: u64,
    pub body: Vec<u8>,
}

/// The HTTP receiver a webhook channel points at: answers every request 200 and keeps what
/// came, with the time it arrived.
#[derive(Clone, Default)]
pub struct Receiver {
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Listens on a port of its own on 127.0.0.1; its address.
    pub async fn start() -> Result<(SocketAddr, Self)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let receiver = Receiver::default();
        let kept = receiver.received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let kept = kept.clone();
                tokio::spawn(async move {
                    if let Err(error) = serve(stream, kept).await {
                        eprintln!("alerts-bench: the webhook receiver: {error:#}");
                    }
                });
            }
        });
        Ok((address, receiver))
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

async fn serve(mut stream: TcpStream, kept: Arc<Mutex<Vec<Received>>>) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut buffer = BytesMut::with_capacity(4096);
    while let Some(head) = read_head(&mut stream, &mut buffer).await? {
        let body = read_body(&mut stream, &mut buffer, head.content_length()).await?;
        let at_us = payload::now_us();
        kept.lock().unwrap().push(Received { at_us, body });
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_of_requests_and_responses_are_read() {
        let head = parse_head(b"HTTP/1.1 303 See Other\r\nlocation: /admin/alerts?done=x").unwrap();
        assert_eq!(head.status, 303);
        assert_eq!(head.header("Location"), Some("/admin/alerts?done=x"));
        let request =
            parse_head(b"POST /hook HTTP/1.1\r\nhost: 127.0.0.1:1\r\ncontent-length: 12").unwrap();
        assert_eq!(request.status, 0);
        assert_eq!(request.content_length(), 12);
    }

    #[test]
    fn form_values_are_percent_encoded_and_names_may_repeat() {
        assert_eq!(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            form_body(&[
                ("topics", "bench/dev-0001"),
                ("channel", "1"),
                ("channel", "2")
            ]),
            "topics=bench%2Fdev-0001&channel=1&channel=2"
        );
    }

    #[tokio::test]
    async fn the_receiver_keeps_each_request_of_a_kept_alive_connection() {
        let (address, receiver) = Receiver::start().await.unwrap();
        let mut stream = TcpStream::connect(address).await.unwrap();
        for body in ["{\"a\":1}", "{\"b\":2}"] {
            let request = format!(
                "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut buffer = BytesMut::new();
            let head = read_head(&mut stream, &mut buffer).await.unwrap().unwrap();
            assert_eq!(head.status, 200);
        }
        let received = receiver.take();
        assert_eq!(received.len(), 2);
        assert_eq!(received[1].body, b"{\"b\":2}");
    }
}
