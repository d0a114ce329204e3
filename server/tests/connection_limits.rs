//! What one client may hold of the server, against the real application, broker and database,
//! over plain HTTP (hyper, and the direct live stream writer) and over HTTPS: a request head that
//! never ends is closed after the header timeout; connections beyond the cap are turned away at
//! once, and normal requests are served again once the header timeout frees places; a live
//! stream whose client stops reading is closed within the write timeout, giving its places back;
//! and one user's live streams are capped, with a 429 that says why.

mod support;

use app::domain::roles::Role;
use app::server::store::audit::Actor;
use app::server::store::Store;
use lookout::config::{ConnectionLimits, Settings};
use lookout::startup::Application;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use support::live_stream::open_stream;
use support::services::TestCertificates;
use support::{
    broker_url, fresh_database, publish_all, sequenced, spawn_app_with, status_of,
    test_environment, unique_name,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// A connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where a test app listens, and how to speak to it.
struct Target {
    port: u16,
    tls: Option<TlsConnector>,
}

impl Target {
    /// A connection; with `receive_buffer`, the client's socket holds only that much, so that a
    /// client that stops reading fills the buffers between it and the server soon.
    async fn connect(&self, receive_buffer: Option<u32>) -> Box<dyn Io> {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let stream = socket
            .connect(([127, 0, 0, 1], self.port).into())
            .await
            .unwrap();
        match &self.tls {
            None => Box::new(stream),
            Some(connector) => {
                let name = ServerName::try_from("localhost").unwrap();
                Box::new(connector.connect(name, stream).await.unwrap())
            }
        }
    }

    /// Sends `request` on a new connection and returns the status (0 if none came) and the
    /// whole answer.
    async fn request(&self, request: &str) -> (u16, String) {
        let mut connection = self.connect(None).await;
        // A connection refused at the cap may be reset before the request is out.
        let _ = connection.write_all(request.as_bytes()).await;
        let (answer, closed) = read_until_closed(&mut connection, Duration::from_secs(30)).await;
        assert!(closed, "no complete answer to {request:?}");
        let answer = String::from_utf8_lossy(&answer).into_owned();
        (status_of(&answer), answer)
    }

    /// Opens a live stream as `cookie` (following everything under `prefix`); returns the
    /// connection once the head is read, or the refusal's status and body.
    async fn open_stream(
        &self,
        cookie: &str,
        prefix: &str,
        receive_buffer: Option<u32>,
    ) -> Result<Box<dyn Io>, (u16, String)> {
        let mut connection = self.connect(receive_buffer).await;
        let request = format!(
            "GET /api/live?filter={prefix}%2F%23 HTTP/1.0\r\nHost: localhost\r\n\
             Cookie: {cookie}\r\n\r\n"
        );
        connection.write_all(request.as_bytes()).await.unwrap();
        // Byte by byte, so that nothing of the body is taken: the test decides what is read.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = tokio::time::timeout(Duration::from_secs(30), connection.read_u8())
                .await
                .expect("a response head")
                .expect("a response head");
            head.push(byte);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        match status_of(&head) {
            200 => Ok(connection),
            status => {
                let (body, _) = read_until_closed(&mut connection, Duration::from_secs(10)).await;
                Err((status, String::from_utf8_lossy(&body).into_owned()))
            }
        }
    }
}

/// Reads until the server closes the connection (an end, or a reset) or `patience` passes;
/// returns what arrived and whether it closed.
async fn read_until_closed(
    connection: &mut (impl AsyncRead + Unpin),
    patience: Duration,
) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + patience;
    let mut received = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match tokio::time::timeout_at(deadline, connection.read(&mut buffer)).await {
            Err(_) => return (received, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

fn limits(adjust: impl FnOnce(&mut ConnectionLimits)) -> impl FnOnce(&mut Settings) {
    move |settings| adjust(&mut settings.web.limits)
}

/// A test app served over plain HTTP, with the session of its signed-in viewer.
async fn plain_app(adjust: impl FnOnce(&mut ConnectionLimits)) -> (Target, String, String) {
    let app = spawn_app_with(limits(adjust)).await;
    let cookie = app.session().expect("the viewer's session");
    let target = Target {
        port: app.port,
        tls: None,
    };
    (target, cookie, app.prefix.clone())
}

/// A test app served over HTTPS (its certificates trusted by the returned target), with a
/// viewer signed in over it.
async fn https_app(adjust: impl FnOnce(&mut ConnectionLimits)) -> (Target, String, String) {
    let certificates = TestCertificates::generate();
    let database_url = fresh_database().await;
    let prefix = unique_name("t");
    let cert = certificates.server_cert.display().to_string();
    let key = certificates.server_key.display().to_string();
    let vars = test_environment(
        &database_url,
        &broker_url(),
        &unique_name("lookout"),
        &prefix,
        &[
            ("LOOKOUT_TLS_CERT_FILE", &cert),
            ("LOOKOUT_TLS_KEY_FILE", &key),
        ],
    );
    let mut settings = Settings::load_from(None, |name| vars.get(name).cloned()).unwrap();
    adjust(&mut settings.web.limits);
    let app = Application::build(settings)
        .await
        .expect("starts with HTTPS");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());

    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(&certificates.ca).unwrap();
    for certificate in CertificateDer::pem_slice_iter(&ca) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let target = Target {
        port,
        tls: Some(TlsConnector::from(Arc::new(config))),
    };

    let store = Store::connect(&database_url, Duration::from_secs(10))
        .await
        .unwrap();
    let password = format!("pw-{}", unique_name("viewer"));
    app::server::accounts::add_user(&store, Actor::CLI, "ada", &password, Role::Viewer)
        .await
        .unwrap();
    let form = format!("name=ada&password={password}&next=%2F");
    let (status, login) = target
        .request(&format!(
            "POST /login HTTP/1.0\r\nHost: localhost:{port}\r\nOrigin: https://localhost:{port}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ))
        .await;
    assert_eq!(status, 303, "{login}");
    let cookie = login
        .lines()
        .filter_map(|line| line.strip_prefix("set-cookie: "))
        .filter_map(|cookie| cookie.split(';').next())
        // A login also sets the browser's device cookie (`login.rs`); the stream wants the session.
        .find(|cookie| cookie.starts_with("lookout_session="))
        .expect("a session cookie")
        .to_owned();
    (target, cookie, prefix)
}

/// Each kind of unfinished head is closed after the header timeout, not before and not much
/// later.
async fn unfinished_heads_are_closed_after_the_header_timeout(target: &Target) {
    let cases = [
        ("nothing at all", ""),
        ("a request line cut short", "GET /api/li"),
        (
            "a page's head without its end",
            "GET / HTTP/1.1\r\nHost: x\r\n",
        ),
        (
            "a live stream's head without its end",
            "GET /api/live HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\n",
        ),
    ];
    let checks = cases.map(|(case, sent)| async move {
        let mut connection = target.connect(None).await;
        connection.write_all(sent.as_bytes()).await.unwrap();
        let started = Instant::now();
        let (_, closed) = read_until_closed(&mut connection, Duration::from_secs(6)).await;
        let after = started.elapsed();
        assert!(closed, "{case}: still open after {after:?}");
        assert!(
            after >= Duration::from_millis(800),
            "{case}: closed after {after:?}, before the timeout"
        );
    });
    futures_util::future::join_all(checks).await;
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_closed_after_the_header_timeout() {
    let (target, _, _) = plain_app(|limits| limits.header_timeout = Duration::from_secs(2)).await;
    unfinished_heads_are_closed_after_the_header_timeout(&target).await;
}

#[tokio::test]
async fn over_https_a_handshake_or_head_that_never_ends_is_closed_after_the_header_timeout() {
    let (target, _, _) = https_app(|limits| limits.header_timeout = Duration::from_secs(2)).await;
    unfinished_heads_are_closed_after_the_header_timeout(&target).await;
    // A client that never even finishes its handshake.
    let mut silent = TcpStream::connect(("127.0.0.1", target.port))
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(6)).await;
    assert!(closed, "a silent TLS client was kept");
}

#[tokio::test]
async fn a_request_body_that_stops_coming_is_closed_after_the_idle_timeout() {
    // The shortest idle timeout allowed: above a quiet stream's 15 s keep-alive comment.
    let idle_timeout = Duration::from_secs(20);
    let (target, _, _) = plain_app(|limits| limits.idle_timeout = idle_timeout).await;
    let port = target.port;
    let mut connection = target.connect(None).await;
    // The head whole, the body promised but only begun.
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=ad"
    );
    connection.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (_, closed) =
        read_until_closed(&mut connection, idle_timeout + Duration::from_secs(10)).await;
    let after = started.elapsed();
    assert!(closed, "a stalled body held its connection for {after:?}");
    assert!(
        after >= idle_timeout - Duration::from_secs(1),
        "closed after only {after:?}"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_are_turned_away_at_once_and_places_come_back_after_the_header_timeout(
) {
    const CAP: usize = 50;
    const FLOOD: usize = 1_000;
    let header_timeout = Duration::from_secs(5);
    let (target, _, _) = plain_app(|limits| {
        limits.max_connections = CAP;
        limits.header_timeout = header_timeout;
    })
    .await;
    // The log-in's connection has closed by then.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Half-sent heads, as a slow client (or an attacker) sends them.
    let started = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let mut connection = TcpStream::connect(("127.0.0.1", target.port))
            .await
            .unwrap();
        // A refused connection may already be reset.
        let _ = connection.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
        flood.push(connection);
    }
    // While every place is taken, a whole request is refused at once, never queued.
    let asked = Instant::now();
    let (status, answer) = target
        .request("GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(
        status == 503 || status == 0,
        "served beyond the cap: {answer}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "the refusal waited"
    );

    // The server holds at most CAP of them; the rest it closed.
    let open = futures_util::future::join_all(flood.iter_mut().map(|connection| async move {
        !read_until_closed(connection, Duration::from_millis(500))
            .await
            .1
    }))
    .await
    .into_iter()
    .filter(|open| *open)
    .count();
    assert!(
        started.elapsed() < header_timeout,
        "too slow to count before the header timeout; the test proves nothing"
    );
    assert!(
        open <= CAP,
        "{open} connections held, beyond the cap of {CAP}"
    );
    assert!(
        open >= CAP / 2,
        "only {open} held: the flood did not fill the cap"
    );

    // Once the header timeout closed them, normal requests are served again.
    let deadline = started + header_timeout + Duration::from_secs(10);
    loop {
        let (status, answer) = target
            .request("GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await;
        if status == 200 {
            assert!(answer.ends_with("ok\n"), "{answer}");
            break;
        }
        assert!(Instant::now() < deadline, "never served again: {answer}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for connection in &mut flood {
        let (_, closed) = read_until_closed(connection, Duration::from_secs(1)).await;
        assert!(closed, "a half-sent head outlived the header timeout");
    }
}

#[tokio::test]
async fn live_streams_count_under_the_connection_cap() {
    let (target, cookie, prefix) = plain_app(|limits| limits.max_connections = 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(target.open_stream(&cookie, &prefix, None).await.unwrap());
    }
    let health = "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n";
    let (status, answer) = target.request(health).await;
    assert_ne!(status, 200, "served beyond the cap: {answer}");
    // A stream the client closes gives its place back at once.
    drop(streams.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    while target.request(health).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the closed stream kept its place"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stream that stops reading while a lot is published to what it follows is closed within the
/// write timeout: with one stream per user, the user's next stream opens once it was.
async fn a_stalled_stream_is_closed_within_the_write_timeout(
    target: &Target,
    cookie: &str,
    prefix: &str,
    write_timeout: Duration,
) {
    let mut stalled = target
        .open_stream(cookie, prefix, Some(4096))
        .await
        .expect("the first stream");
    let (status, body) = target
        .open_stream(cookie, prefix, None)
        .await
        .err()
        .expect("one stream per user");
    assert_eq!(status, 429, "{body}");

    // About 12 MB of frames: far more than the socket buffers and the stream's queue hold.
    let mut burst = sequenced(prefix, 0, 3_000, 10);
    for (_, payload) in &mut burst {
        payload.resize(4_000, b'.');
    }
    publish_all(&broker_url(), &burst).await;
    let published = Instant::now();

    let deadline = published + write_timeout + Duration::from_secs(20);
    loop {
        match target.open_stream(cookie, prefix, None).await {
            Ok(_) => break,
            Err((429, _)) => {
                assert!(
                    Instant::now() < deadline,
                    "the stalled stream still held its place {:?} after the burst",
                    published.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err((status, body)) => panic!("{status}: {body}"),
        }
    }
    // What the buffers held arrives, then the end.
    let (_, closed) = read_until_closed(&mut stalled, Duration::from_secs(30)).await;
    assert!(closed, "the stalled stream was never closed");
}

#[tokio::test]
async fn a_live_stream_whose_client_stops_reading_is_closed_within_the_write_timeout() {
    let write_timeout = Duration::from_secs(2);
    let (target, cookie, prefix) = plain_app(|limits| {
        limits.write_timeout = write_timeout;
        limits.max_streams_per_user = 1;
    })
    .await;
    a_stalled_stream_is_closed_within_the_write_timeout(&target, &cookie, &prefix, write_timeout)
        .await;
}

#[tokio::test]
async fn over_https_a_live_stream_whose_client_stops_reading_is_closed_within_the_write_timeout() {
    let write_timeout = Duration::from_secs(2);
    let (target, cookie, prefix) = https_app(|limits| {
        limits.write_timeout = write_timeout;
        limits.max_streams_per_user = 1;
    })
    .await;
    a_stalled_stream_is_closed_within_the_write_timeout(&target, &cookie, &prefix, write_timeout)
        .await;
}

#[tokio::test]
async fn one_user_may_open_only_so_many_live_streams_and_is_told_why_beyond() {
    let app = spawn_app_with(limits(|limits| limits.max_streams_per_user = 2)).await;
    let viewer = app.session();
    let first = open_stream(app.port, viewer.as_deref(), "", None)
        .await
        .unwrap();
    let _second = open_stream(app.port, viewer.as_deref(), "", None)
        .await
        .unwrap();
    let (status, body) = open_stream(app.port, viewer.as_deref(), "", None)
        .await
        .err()
        .expect("a third stream is refused");
    assert_eq!(status, 429);
    assert!(body.contains("2 live streams open already"), "{body}");

    // Another user is not held back by this one's streams.
    let other = app.sign_in_as("other-viewer", Role::Viewer).await;
    open_stream(app.port, other.as_deref(), "", None)
        .await
        .expect("another user's stream");

    // A stream the client closes gives its place back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_stream(app.port, viewer.as_deref(), "", None)
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the closed stream kept its place"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
