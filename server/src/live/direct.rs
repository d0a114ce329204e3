//! Long-lived streams without hyper's connection buffers. A hyper HTTP/1 connection holds two
//! 8 KiB buffers for as long as it is open (response headers, reads), which is most of what an
//! idle stream costs. So the listener hands every connection whose request starts with
//! `GET /api/live` to [`serve_stream`] instead: it reads the request head itself, runs it through
//! the same router (sessions, visitor, access, security headers: one code path for every route),
//! and writes the response head and then each chunk of the body straight to the socket. Every
//! other connection goes to axum as before.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower::ServiceExt;

/// How the request line of a stream starts.
const STREAM_REQUEST: &[u8] = b"GET /api/live";
/// The largest request head a stream may send.
const MAX_HEAD: usize = 16 * 1024;
/// How long a new connection may take to send enough to be told apart, or its whole head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections waiting for axum to take them.
const HANDOFF: usize = 256;

/// The listener axum serves: every accepted connection except live streams.
pub struct OtherRequests {
    handoff: mpsc::Receiver<(TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for OtherRequests {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        match self.handoff.recv().await {
            Some(connection) => connection,
            // The acceptor is gone only when the server is stopping; axum stops by then.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Accepts on `listener`, serving live streams directly and handing everything else to the
/// returned listener. The acceptor runs until that listener is dropped.
pub fn split(listener: TcpListener, router: Router) -> io::Result<OtherRequests> {
    let local = listener.local_addr()?;
    let (sender, handoff) = mpsc::channel(HANDOFF);
    tokio::spawn(async move {
        loop {
            let (socket, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if sender.is_closed() {
                return;
            }
            let (sender, router) = (sender.clone(), router.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HEAD_TIMEOUT, is_stream_request(&socket)).await {
                    Ok(Ok(true)) => {
                        // Small frames go out as they come: Nagle's algorithm would hold them
                        // back by tens of milliseconds (bench/results/live.md).
                        let _ = socket.set_nodelay(true);
                        serve_stream(socket, peer, router).await
                    }
                    Ok(Ok(false)) => {
                        let _ = sender.send((socket, peer)).await;
                    }
                    Ok(Err(_)) | Err(_) => {}
                }
            });
        }
    });
    Ok(OtherRequests { handoff, local })
}

/// Looks at the first bytes without taking them, so that axum still reads the whole request.
async fn is_stream_request(socket: &TcpStream) -> io::Result<bool> {
    let mut start = [0; STREAM_REQUEST.len()];
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
        // Only part of the request line is here yet.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn serve_stream(mut socket: TcpStream, peer: SocketAddr, router: Router) {
    let request = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut socket)).await {
        Ok(Ok(request)) => request,
        Ok(Err(problem)) => {
            let _ = socket.write_all(&bad_request(&problem)).await;
            return;
        }
        Err(_) => return,
    };
    let mut request = request;
    request.extensions_mut().insert(ConnectInfo(peer));
    let Ok(response) = router.oneshot(request).await;
    let (parts, mut body) = response.into_parts();
    if socket.write_all(&head_of(&parts)).await.is_err() {
        return;
    }
    // Each chunk as it comes; the stream ends when the client goes (a failed write) or the
    // server ends it.
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            if socket.write_all(&data).await.is_err() {
                return;
            }
        }
    }
    let _ = socket.shutdown().await;
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
