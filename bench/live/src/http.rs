//! Just enough HTTP/1.1 for the benchmark, straight over a `TcpStream`: the login form, a request
//! whose response head is read, and the chunked body of a stream. A client per connection stays
//! a few kilobytes, so 20,000 of them fit beside the server on one machine.

use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

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

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
    }
}

/// Connects from `source` (one of 127.0.0.x: each source address has its own ephemeral ports,
/// and 20,000 connections to one server port come close to one address's 28,000).
pub async fn connect(source: IpAddr, server: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("cannot connect to {server} from {source}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads until a whole response head is in `buffer`, then takes it out.
pub async fn read_head(stream: &mut TcpStream, buffer: &mut BytesMut) -> Result<Head> {
    loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            let head = parse_head(&buffer[..end])?;
            buffer.advance(end + 4);
            return Ok(head);
        }
        if buffer.len() > 64 * 1024 {
            bail!("a response head over 64 KiB");
        }
        if stream.read_buf(buffer).await? == 0 {
            bail!("the server closed the connection before answering");
        }
    }
}

fn parse_head(text: &[u8]) -> Result<Head> {
    let text = std::str::from_utf8(text).context("a response head that is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("a bad status line: {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(Head { status, headers })
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Logs in with the login form and returns the `lookout_session` cookie as `name=value`.
pub async fn log_in(server: SocketAddr, name: &str, password: &str) -> Result<String> {
    let mut stream = TcpStream::connect(server)
        .await
        .with_context(|| format!("cannot reach Lookout at {server}"))?;
    let body = format!(
        "name={}&password={}&next=%2F",
        form_encode(name),
        form_encode(password)
    );
    // The login form refuses a POST whose Origin is not Lookout's own.
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {server}\r\nOrigin: http://{server}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = BytesMut::with_capacity(4096);
    let head = read_head(&mut stream, &mut buffer).await?;
    let cookie = head
        .headers
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, value)| value.split(';').next())
        .find(|pair| pair.starts_with("lookout_session="));
    match cookie {
        Some(cookie) if (300..400).contains(&head.status) => Ok(cookie.to_owned()),
        _ => {
            while stream.read_buf(&mut buffer).await.unwrap_or(0) > 0 {}
            bail!(
                "logging in as {name} failed: {} {}",
                head.status,
                String::from_utf8_lossy(&buffer)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )
        }
    }
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

/// Undoes chunked transfer encoding as bytes arrive.
#[derive(Default)]
pub struct Dechunker {
    state: ChunkState,
    pub finished: bool,
}

#[derive(Clone, Copy, Default)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
}

impl Dechunker {
    /// Moves the body bytes of `input` to `output`, leaving an incomplete chunk header in `input`.
    pub fn decode(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Result<()> {
        while !self.finished {
            match self.state {
                ChunkState::Size => {
                    let Some(end) = find(input, b"\r\n") else {
                        if input.len() > 1024 {
                            bail!("a chunk size line over 1 KiB");
                        }
                        return Ok(());
                    };
                    let line = std::str::from_utf8(&input[..end])?;
                    let hex = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(hex, 16)
                        .with_context(|| format!("a bad chunk size {line:?}"))?;
                    input.advance(end + 2);
                    if size == 0 {
                        self.finished = true;
                        return Ok(());
                    }
                    self.state = ChunkState::Data(size);
                }
                ChunkState::Data(left) => {
                    if input.is_empty() {
                        return Ok(());
                    }
                    let take = left.min(input.len());
                    output.extend_from_slice(&input[..take]);
                    input.advance(take);
                    self.state = if take == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
                ChunkState::DataEnd => {
                    if input.len() < 2 {
                        return Ok(());
                    }
                    if &input[..2] != b"\r\n" {
                        bail!("a chunk not followed by CRLF");
                    }
                    input.advance(2);
                    self.state = ChunkState::Size;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_anywhere_decode_to_the_body() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut dechunker = Dechunker::default();
            let mut input = BytesMut::new();
            let mut output = BytesMut::new();
            for part in [&wire[..split], &wire[split..]] {
                input.extend_from_slice(part);
                dechunker.decode(&mut input, &mut output).unwrap();
            }
            assert_eq!(&output[..], b"hello, world", "split at {split}");
            assert!(dechunker.finished);
        }
    }

    #[test]
    fn a_head_gives_status_and_headers() {
        let head = parse_head(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked",
        )
        .unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("Content-Type"), Some("text/event-stream"));
        assert!(head.is_chunked());
    }

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
