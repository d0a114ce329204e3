//! What every web connection is bounded by, on every listener: a place under the connection cap
//! (taken when it is accepted, given back when it closes), the time a client has to send its
//! request head, to take an answer and to leave the connection idle; and the HTTP/1.1 serving
//! of it by hyper. axum's own `serve` sets no header timeout and no cap, hence this loop.

use crate::config::ConnectionLimits;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Descriptors kept for everything but web connections: the database pool, the broker
/// connections, listeners, logs.
const RESERVED_FILES: usize = 128;

/// What a connection beyond the cap is told, written without waiting before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    content-type: text/plain; charset=utf-8\r\ncontent-length: 45\r\nretry-after: 5\r\n\
    connection: close\r\n\r\nLookout has too many connections; retry soon.\n";

/// How often a full cap is logged at most, so that a flood does not flood the log too.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Places under a connection cap, shared by the listeners that draw on it.
#[derive(Clone)]
pub struct Slots {
    free: Arc<Semaphore>,
    total: u32,
}

/// A connection's place under the cap; dropping it (with the connection) frees the place.
pub type Slot = OwnedSemaphorePermit;

impl Slots {
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)) as u32;
        Self {
            free: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// As many places as `wanted`, but no more than the process may open files for (leaving
    /// some for the rest): beyond that, accepting fails anyway, and with it the database and
    /// broker connections.
    pub fn fitting_open_files(wanted: usize) -> Self {
        let fitting = match open_files_limit() {
            Some(limit) if limit < wanted + RESERVED_FILES => {
                let fitting = limit.saturating_sub(RESERVED_FILES).max(1);
                tracing::warn!(
                    wanted,
                    open_files_limit = limit,
                    serving = fitting,
                    "LOOKOUT_MAX_CONNECTIONS (web.max_connections) is above what the open files \
                     limit allows; serving fewer connections (raise the limit: LimitNOFILE= in a \
                     systemd unit, ulimit -n in a shell)"
                );
                fitting
            }
            _ => wanted,
        };
        Self::new(fitting)
    }

    /// A place for a new connection, or `None` when every place is taken.
    pub fn try_take(&self) -> Option<Slot> {
        self.free.clone().try_acquire_owned().ok()
    }

    /// Waits until every connection that held a place has closed.
    pub async fn all_free(&self) {
        let _ = self.free.acquire_many(self.total).await;
    }
}

/// The soft limit on open files (Linux: `/proc/self/limits`); `None` where unknown.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether the server is stopping.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Accepts on `listener` until `stop`, handing each connection that found a place under the cap
/// to `serve` with its place. A connection beyond the cap gets a 503 (written only if the socket
/// takes it at once) and is closed, so a flood costs a descriptor for a moment per connection,
/// never a queue.
pub async fn accept(
    listener: &TcpListener,
    slots: &Slots,
    mut stop: watch::Receiver<bool>,
    mut serve: impl FnMut(TcpStream, SocketAddr, Slot),
) {
    let mut refused = 0_u64;
    let mut refusals_logged: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => return,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = slots.try_take() else {
            let _ = socket.try_write(REFUSAL);
            refused += 1;
            if refusals_logged.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY) {
                tracing::warn!(
                    refused,
                    cap = slots.total,
                    "every connection place is taken; refusing new connections"
                );
                refusals_logged = Some(Instant::now());
                refused = 0;
            }
            continue;
        };
        // Answers go out whole at once, and small stream frames as they come, without waiting
        // for Nagle's algorithm (bench/results/live.md).
        let _ = socket.set_nodelay(true);
        serve(socket, peer, slot);
    }
}

/// Serves `router` on every connection of `listener` until `stop`, then waits for the
/// connections under way to finish (see [`serve_http`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    slots: Slots,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
) {
    accept(&listener, &slots, stop.clone(), |socket, peer, slot| {
        let io = Bounded::new(socket, slot, &limits);
        tokio::spawn(serve_http(
            io,
            peer,
            router.clone(),
            limits.clone(),
            stop.clone(),
        ));
    })
    .await;
    drop(listener);
    slots.all_free().await;
}

/// Serves HTTP/1.1 with `router` on one connection until either side ends it. The request head
/// must arrive within the header timeout (hyper starts that clock whenever it waits for a
/// request, so it also closes a kept-alive connection left without one). At `stop` the request
/// under way finishes and the connection closes.
pub async fn serve_http<T>(
    io: Bounded<T>,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        // What `into_make_service_with_connect_info` would add: the login throttle and the
        // audit log read the peer address.
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = outcome {
        // Timeouts, resets, malformed requests: the client's business, not an operator's.
        tracing::debug!(%peer, %error, "connection ended");
    }
}

/// A connection's socket with its place under the cap, and two clocks: a write the client does
/// not take within the write timeout fails, and so does a read when no byte moved either way
/// for the idle timeout. Either failure ends the connection, and the place is free again.
pub struct Bounded<T> {
    io: T,
    write_timeout: Duration,
    idle_timeout: Duration,
    /// When a byte last went either way.
    moved: Instant,
    /// Since when a write has waited for the client, if one waits.
    write_waiting: Option<Instant>,
    /// Wakes the connection when a deadline passes; created at the first wait.
    timer: Option<Pin<Box<Sleep>>>,
    _slot: Slot,
}

impl<T> Bounded<T> {
    pub fn new(io: T, slot: Slot, limits: &ConnectionLimits) -> Self {
        Self {
            io,
            write_timeout: limits.write_timeout,
            idle_timeout: limits.idle_timeout,
            moved: Instant::now(),
            write_waiting: None,
            timer: None,
            _slot: slot,
        }
    }

    /// `Pending` until the nearer deadline (the idle one, or the waiting write's), then the
    /// error that ends the connection. One timer for both: hyper polls reads and writes from
    /// one task, so whichever is polled last sets the wake-up for both.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let idle = (
            self.moved + self.idle_timeout,
            "nothing moved within the idle timeout",
        );
        let (deadline, problem) = match self.write_waiting {
            Some(since) if since + self.write_timeout < idle.0 => (
                since + self.write_timeout,
                "the client took nothing within the write timeout",
            ),
            _ => idle,
        };
        if Instant::now() >= deadline {
            return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, problem));
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, problem)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn after_write<R>(
        &mut self,
        polled: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => {
                self.write_waiting.get_or_insert_with(Instant::now);
                self.wait(cx).map(Err)
            }
            Poll::Ready(outcome) => {
                self.moved = Instant::now();
                self.write_waiting = None;
                Poll::Ready(outcome)
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Bounded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.wait(cx).map(Err),
            Poll::Ready(outcome) => {
                if buf.filled().len() > before {
                    this.moved = Instant::now();
                }
                Poll::Ready(outcome)
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Bounded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.after_write(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.after_write(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.after_write(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.after_write(polled, cx)
    }
}
