//! Compression on the fly against the real application: pages, status pages and their exports
//! come back brotli or gzip as the client accepts, read the same as plain, revalidate with 304 in
//! each encoding, and the live stream is never compressed. (The site's files compressed at build
//! time exist only in the release binary: see the unit tests in src/embedded_site.rs and
//! end2end/tests/release.test.mjs.)

mod support;

use app::domain::roles::Role;
use rumqttc::QoS;
use std::io::Read;
use std::time::Duration;
use support::{post_expecting, publish, spawn_app_with, status_of, unique_name, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response with its body as bytes, exactly as sent.
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body with its `Content-Encoding` undone.
    fn decoded(&self) -> Vec<u8> {
        let mut plain = Vec::new();
        match self.header("content-encoding") {
            None => plain.clone_from(&self.body),
            Some("br") => {
                brotli::Decompressor::new(&self.body[..], 4096)
                    .read_to_end(&mut plain)
                    .expect("valid brotli");
            }
            Some("gzip") => {
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut plain)
                    .expect("valid gzip");
            }
            Some(other) => panic!("unexpected Content-Encoding {other}"),
        }
        plain
    }
}

/// A plain HTTP/1.0 GET (the answer arrives whole, unchunked) with extra header lines.
async fn get(port: u16, path: &str, headers: &[String]) -> Raw {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no complete answer within 60 s"))
        .unwrap();
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8(raw[..split].to_vec()).expect("a text head");
    Raw {
        status: status_of(&head),
        head,
        body: raw[split + 4..].to_vec(),
    }
}

fn accepting(encoding: Option<&str>) -> Vec<String> {
    encoding
        .map(|value| format!("Accept-Encoding: {value}"))
        .into_iter()
        .collect()
}

/// An app with a published status page (of several widgets, so its HTML is well over the size
/// that is compressed) whose snapshot stays the same for the test; returns its path.
async fn app_with_status_page() -> (TestApp, String) {
    let app = spawn_app_with(|settings| settings.web.status_ttl = Duration::from_secs(600)).await;
    app.sign_in_as("boss", Role::Admin).await;
    let slug = unique_name("plant").to_lowercase().replace('_', "-");
    let boiler = app.topic("plant/boiler");
    publish(&[(&boiler, br#"{"temp": 71.5}"#, QoS::AtLeastOnce, false)]).await;
    app.wait_for_stored(1).await;
    // Only topics in the public audience may be bound to a public page.
    post_expecting(
        &app,
        "/admin/rules/add",
        &[
            ("role", "public"),
            ("filter", &boiler),
            ("permission", "read"),
        ],
        "done=rule_added",
    )
    .await;
    let created = app
        .post_form("/admin/pages/add", &[("slug", &slug), ("title", "Plant 7")])
        .await;
    let location = created.header("location").unwrap().to_owned();
    let page = location
        .trim_start_matches("/admin/pages/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    for (kind, label) in [
        ("value", "Boiler"),
        ("sparkline", "Boiler today"),
        ("last_seen", "Boiler heard"),
    ] {
        post_expecting(
            &app,
            "/admin/pages/widgets/add",
            &[
                ("page", &page),
                ("kind", kind),
                ("label", label),
                ("topic", &boiler),
                ("pointer", "/temp"),
            ],
            "done=widget_added",
        )
        .await;
    }
    post_expecting(
        &app,
        "/admin/pages/change",
        &[
            ("id", &page),
            ("slug", &slug),
            ("title", "Plant 7"),
            ("description", "Boiler room, plant 7."),
            ("published", "on"),
            ("public", "on"),
            ("open_to", "viewer"),
        ],
        "done=page_changed",
    )
    .await;
    app.forget_session();
    (app, format!("/status/{slug}"))
}

#[tokio::test]
async fn a_status_page_comes_back_in_the_encoding_asked_for_and_reads_the_same_as_plain() {
    let (app, path) = app_with_status_page().await;
    let plain = get(app.port, &path, &[]).await;
    assert_eq!(plain.status, 200, "{}", plain.head);
    assert_eq!(plain.header("content-encoding"), None);
    assert!(
        plain.body.len() > 1024,
        "the page must be big enough to be compressed: {} bytes",
        plain.body.len()
    );
    let etag = plain.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with("W/"), "{etag}");

    for (accept, encoding) in [
        (Some("identity"), None),
        (Some("br"), Some("br")),
        (Some("gzip"), Some("gzip")),
        (Some("gzip, deflate, br"), Some("br")),
        (Some("br;q=0, gzip"), Some("gzip")),
        (Some("compress"), None),
    ] {
        let response = get(app.port, &path, &accepting(accept)).await;
        assert_eq!(response.status, 200, "{accept:?}: {}", response.head);
        assert_eq!(response.header("content-encoding"), encoding, "{accept:?}");
        assert_eq!(
            response.header("vary"),
            Some("accept-encoding"),
            "{accept:?}"
        );
        // The same snapshot, so the same (weak) validator whatever the encoding.
        assert_eq!(response.header("etag"), Some(etag.as_str()), "{accept:?}");
        assert_eq!(response.decoded(), plain.body, "{accept:?}");
        if encoding.is_some() {
            assert!(
                response.body.len() < plain.body.len() / 2,
                "{accept:?}: {} of {} bytes",
                response.body.len(),
                plain.body.len()
            );
        }
    }
}

#[tokio::test]
async fn a_status_page_is_revalidated_with_304_in_every_encoding() {
    let (app, path) = app_with_status_page().await;
    for accept in [None, Some("identity"), Some("br"), Some("gzip")] {
        let full = get(app.port, &path, &accepting(accept)).await;
        let etag = full.header("etag").expect("an ETag").to_owned();
        let mut headers = accepting(accept);
        headers.push(format!("If-None-Match: {etag}"));
        let again = get(app.port, &path, &headers).await;
        assert_eq!(again.status, 304, "{accept:?}: {}", again.head);
        assert!(again.body.is_empty(), "{accept:?}");
        assert_eq!(again.header("etag"), Some(etag.as_str()), "{accept:?}");
        assert_eq!(again.header("vary"), Some("accept-encoding"), "{accept:?}");
        assert_eq!(again.header("content-encoding"), None, "{accept:?}");
        // The tag as a client that dropped the W/ sends it back matches too.
        let strong = etag.trim_start_matches("W/");
        headers.pop();
        headers.push(format!("If-None-Match: {strong}"));
        assert_eq!(
            get(app.port, &path, &headers).await.status,
            304,
            "{accept:?}"
        );
    }
    let stale = get(
        app.port,
        &path,
        &[
            "Accept-Encoding: br".to_owned(),
            "If-None-Match: W/\"something-else\"".to_owned(),
        ],
    )
    .await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("content-encoding"), Some("br"));
}

#[tokio::test]
async fn a_hydrated_page_comes_back_compressed_and_whole() {
    let app = support::spawn_app().await;
    let cookie = format!("Cookie: {}", app.session().unwrap());
    let plain = get(app.port, "/", std::slice::from_ref(&cookie)).await;
    assert_eq!(plain.status, 200, "{}", plain.head);
    assert_eq!(plain.header("content-encoding"), None);
    let plain = String::from_utf8(plain.body).expect("HTML");
    assert!(plain.contains("<h1>Overview</h1>"), "{plain}");
    let comparable_plain = comparable(&plain);
    for encoding in ["br", "gzip"] {
        let headers = [cookie.clone(), format!("Accept-Encoding: {encoding}")];
        let response = get(app.port, "/", &headers).await;
        assert_eq!(response.status, 200, "{}", response.head);
        assert_eq!(response.header("content-encoding"), Some(encoding));
        assert!(response
            .header("vary")
            .is_some_and(|vary| vary.to_ascii_lowercase().contains("accept-encoding")));
        let html = String::from_utf8(response.decoded()).expect("HTML");
        assert_eq!(comparable(&html), comparable_plain, "{encoding}");
        assert!(response.body.len() < html.len() / 2, "{encoding}");
    }
}

/// A page rendered for a request, without what differs from one rendering to the next: the
/// scripts' nonce and the figures (times, ages).
fn comparable(html: &str) -> String {
    let nonce = html
        .split_once("nonce=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(nonce, _)| nonce)
        .expect("a nonce");
    html.replace(nonce, "NONCE")
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect()
}

#[tokio::test]
async fn small_answers_and_clients_that_accept_no_encoding_get_them_plain() {
    let app = support::spawn_app().await;
    let health = get(app.port, "/healthz", &accepting(Some("br, gzip"))).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.header("content-encoding"), None);
    assert_eq!(health.body, b"ok\n");
    let cookie = format!("Cookie: {}", app.session().unwrap());
    for accept in [None, Some("identity"), Some("br;q=0, gzip;q=0"), Some("")] {
        let mut headers = accepting(accept);
        headers.push(cookie.clone());
        let page = get(app.port, "/", &headers).await;
        assert_eq!(page.status, 200, "{accept:?}");
        assert_eq!(page.header("content-encoding"), None, "{accept:?}");
        assert!(page.body.starts_with(b"<!DOCTYPE html>"), "{accept:?}");
    }
}

#[tokio::test]
async fn the_live_stream_is_never_compressed_and_each_event_arrives_as_sent() {
    let app = support::spawn_app().await;
    let topic = app.topic("kitchen/temp");
    let mut socket = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("filter", &topic)
        .finish();
    let request = format!(
        "GET /api/live?{query} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\
         Accept-Encoding: br, gzip\r\nCookie: {}\r\n\r\n",
        app.port,
        app.session().unwrap()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let marker = unique_name("plain-marker");
    let mut received = Vec::new();
    let mut published = false;
    let arrived = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let mut buffer = [0; 4096];
            let read = socket.read(&mut buffer).await.unwrap();
            assert!(
                read > 0,
                "the stream ended: {}",
                String::from_utf8_lossy(&received)
            );
            received.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&received);
            if !published && text.contains("\r\n\r\n") {
                // The head is in: now a message, which must arrive readable at once.
                let payload = format!("{{\"note\": \"{marker}\"}}");
                publish(&[(&topic, payload.as_bytes(), QoS::AtLeastOnce, false)]).await;
                published = true;
            }
            if text.contains(&marker) {
                return;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&received);
    assert!(arrived.is_ok(), "no plain event within 15 s: {text}");
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert_eq!(status_of(&head), 200, "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
}

#[tokio::test]
async fn anonymous_status_answers_carry_every_protective_header() {
    let (app, path) = app_with_status_page().await;
    for (address, policy) in [
        (path.clone(), "script-src 'self'"),
        (format!("{path}.json"), "default-src 'none'"),
        (format!("{path}/feed.atom"), "default-src 'none'"),
        ("/status/no-such-board".to_owned(), "script-src 'self'"),
    ] {
        let response = get(app.port, &address, &accepting(Some("br"))).await;
        let head = response.head.to_ascii_lowercase();
        assert!([200, 404].contains(&response.status), "{address}: {head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(head.contains("x-frame-options: deny"), "{head}");
        assert!(head.contains("referrer-policy: same-origin"), "{head}");
        let csp = response
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{address}: no policy: {head}"));
        assert!(csp.contains(policy), "{address}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{address}: {csp}");
        assert!(!head.contains("strict-transport-security"), "{head}");
    }
}
