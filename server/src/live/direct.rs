//! Long-lived streams without hyper's connection buffers. A hyper HTTP/1 connection holds two
//! 8 KiB buffers for as long as it is open (response headers, reads), which is most of what an
//! idle stream costs. So the listener hands every connection whose request starts with
//! `GET /api/live` to [`serve_stream`] instead: it reads the request head itself, runs it through
//! the same router (sessions, visitor, access, security headers: one code path for every route),
//! and writes the response head and then each chunk of the body straight to the socket. Every
//! other connection goes to hyper (`connections::serve_http`). Both hold a place under the
//! connection cap and keep the same header and write timeouts.

use crate::config::ConnectionLimits;
use crate::connections::{self, Bounded, Slot, Slots};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::WriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

/// How the request line of a stream starts.
const STREAM_REQUEST: &[u8] = b"GET /api/live";
/// The largest request head a stream may send.
const MAX_HEAD: usize = 16 * 1024;
/// The longest pause between looks at a request line that has only partly arrived.
const MAX_PEEK_PAUSE: Duration = Duration::from_millis(100);

/// Serves `listener` until `stop`: live streams directly, every other connection through hyper
/// (`connections::serve_http`). Each holds a place under the cap from its acceptance to its
/// end; then this waits for the connections under way to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    slots: Slots,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
) {
    connections::accept(&listener, &slots, stop.clone(), |socket, peer, slot| {
        let (router, limits, mut stop) = (router.clone(), limits.clone(), stop.clone());
        tokio::spawn(async move {
            // The head, however it is served, must be here by then.
            let head_deadline = Instant::now() + limits.header_timeout;
            let looked = tokio::select! {
                looked = tokio::time::timeout_at(head_deadline, is_stream_request(&socket)) => looked,
                // A shutdown does not wait for a client that has not said what it wants.
                () = connections::stopped(&mut stop) => return,
            };
            match looked {
                Ok(Ok(true)) => {
                    serve_stream(socket, peer, router, &limits, head_deadline, slot).await
                }
                Ok(Ok(false)) => {
                    let io = Bounded::new(socket, slot, &limits);
                    connections::serve_http(io, peer, router, limits, stop).await
                }
                Ok(Err(_)) | Err(_) => {}
            }
        });
    })
    .await;
    drop(listener);
    slots.all_free().await;
}

/// Looks at the first bytes without taking them, so that hyper still reads the whole request.
async fn is_stream_request(socket: &TcpStream) -> io::Result<bool> {
    let mut start = [0; STREAM_REQUEST.len()];
    let mut pause = Duration::from_millis(5);
    loop {
        let seen = socket.peek(&mut start).await?;
        if seen == 0 {
            return Ok(false);
        }
        if !STREAM_REQUEST.starts_with(&start[..seen]) {
            return Ok(false);
        }
        if seen == start.len() {
            return Ok(true);
        }
        // Only part of the request line is here yet; a client sending it a byte at a time
        // should not cost a look every few milliseconds until the header timeout.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PEEK_PAUSE);
    }
}

/// Serves one live stream. It ends when the server ends it, when the client closes (noticed at
/// once, so the user's stream place is free again), or when the client has not taken the next
/// bytes within the write timeout: a client that stops reading must not hold a stream, whose
/// login is then no longer rechecked either.
async fn serve_stream(
    mut socket: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &ConnectionLimits,
    head_deadline: Instant,
    _slot: Slot,
) {
    let request = match tokio::time::timeout_at(head_deadline, read_head(&mut socket)).await {
        Ok(Ok(request)) => request,
        Ok(Err(problem)) => {
            let _ = tokio::time::timeout(
                limits.write_timeout,
                socket.write_all(&bad_request(&problem)),
            )
            .await;
            return;
        }
        Err(_) => return,
    };
    let mut request = request;
    request.extensions_mut().insert(ConnectInfo(peer));
    let Ok(response) = router.oneshot(request).await;
    let (parts, mut body) = response.into_parts();
    let (mut reader, mut writer) = socket.split();
    let taken = limits.write_timeout;
    if !write_within(&mut writer, &head_of(&parts), taken).await {
        return;
    }
    // A stream's client sends nothing after its head: a read that ends means it closed.
    let mut probe = [0; 1];
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = reader.read(&mut probe) => return,
        };
        let Some(Ok(frame)) = frame else { break };
        if let Ok(data) = frame.into_data() {
            if !write_within(&mut writer, &data, taken).await {
                return;
            }
        }
    }
    let _ = tokio::time::timeout(limits.write_timeout, writer.shutdown()).await;
}

/// Whether the client took all of `bytes` within `timeout`.
async fn write_within(writer: &mut WriteHalf<'_>, bytes: &[u8], timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, writer.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// Reads and parses the request head; the read buffer is gone once this returns.
async fn read_head(socket: &mut TcpStream) -> Result<Request<Body>, String> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0; 1024];
    loop {
        let read = socket
            .read(&mut chunk)
            .await
            .map_err(|error| error.to_string())?;
        if read == 0 {
            return Err("the request ended early".to_owned());
        }
        head.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&head) {
            Ok(httparse::Status::Complete(_)) => return to_request(&parsed),
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err("the request head is too large".into()),
            Err(error) => return Err(format!("malformed request: {error}")),
        }
    }
}

fn to_request(parsed: &httparse::Request<'_, '_>) -> Result<Request<Body>, String> {
    let mut request = Request::builder()
        .method(parsed.method.unwrap_or("GET"))
        .uri(parsed.path.unwrap_or("/"));
    for header in parsed.headers.iter() {
        request = request.header(header.name, header.value);
    }
    request
        .body(Body::empty())
        .map_err(|error| format!("malformed request: {error}"))
}

/// The response head; the body is delimited by closing the connection.
fn head_of(parts: &axum::http::response::Parts) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

fn bad_request(problem: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{problem}",
        problem.len()
    )
    .into_bytes()
}
