//! Notices sent to a real HTTP receiver on this machine: each format's body arrives as the
//! receiver reads it, and the receiver's answer decides whether a send is retried.

mod support;

use app::domain::notice::{ChannelFormat, Notice, NoticeState, Severity};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use lookout::notify::{Channel, Delivery, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// What the receiver got: content type and body per request.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A receiver answering every request with `status`, after `delay`.
async fn receiver(status: StatusCode, delay: Duration) -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/{*path}",
            post(
                move |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    received
                        .lock()
                        .unwrap()
                        .push((kind, String::from_utf8_lossy(&body).into_owned()));
                    tokio::time::sleep(delay).await;
                    (status, "the receiver's own words")
                },
            ),
        )
        .with_state(received.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hooks/lookout?token=t1"), received)
}

fn notice() -> Notice {
    Notice {
        id: 7,
        rule: "Pump offline".to_owned(),
        subject: "pumps/p7".to_owned(),
        state: NoticeState::Firing,
        severity: Severity::Warning,
        since: "2026-12-06T10:00:00Z".to_owned(),
        value: String::new(),
        link: "http://127.0.0.1/devices".to_owned(),
    }
}

fn sender(timeout: Duration) -> Sender {
    Sender::with_roots(rustls::RootCertStore::empty(), timeout)
}

#[tokio::test]
async fn every_format_reaches_a_real_receiver_as_it_expects() {
    let (url, received) = receiver(StatusCode::OK, Duration::ZERO).await;
    let web_formats: Vec<ChannelFormat> = ChannelFormat::ALL
        .into_iter()
        .filter(|format| *format != ChannelFormat::Email)
        .collect();
    for format in web_formats.iter().copied() {
        let channel = Channel {
            format,
            url: url.parse().unwrap(),
            template: None,
        };
        let delivery = sender(Duration::from_secs(5))
            .send(&channel, &notice())
            .await;
        assert_eq!(delivery, Delivery::Delivered { status: 200 }, "{format:?}");
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), web_formats.len());
    for ((kind, body), format) in received.iter().zip(web_formats) {
        assert_eq!(kind, format.content_type(), "{format:?}");
        if format == ChannelFormat::Ntfy {
            assert!(body.starts_with("pumps/p7 (warning) since"), "{body}");
        } else {
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(
                json.to_string().contains("Pump offline"),
                "{format:?}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn a_receiver_s_answer_decides_whether_to_try_again() {
    for (status, retry) in [
        (StatusCode::INTERNAL_SERVER_ERROR, true),
        (StatusCode::TOO_MANY_REQUESTS, true),
        (StatusCode::NOT_FOUND, false),
        (StatusCode::UNAUTHORIZED, false),
    ] {
        let (url, _) = receiver(status, Duration::ZERO).await;
        let channel = Channel {
            format: ChannelFormat::Slack,
            url: url.parse().unwrap(),
            template: None,
        };
        let delivery = sender(Duration::from_secs(5))
            .send(&channel, &notice())
            .await;
        assert_eq!(delivery.should_retry(), retry, "{status}: {delivery:?}");
        let reason = match &delivery {
            Delivery::Failed { reason } | Delivery::Refused { reason, .. } => reason.clone(),
            Delivery::Delivered { .. } => panic!("{status} counted as delivered"),
        };
        assert!(reason.contains("the receiver's own words"), "{reason}");
    }
}

#[tokio::test]
async fn a_silent_receiver_or_a_closed_port_is_a_failure_to_retry_never_a_hang() {
    let (url, received) = receiver(StatusCode::OK, Duration::from_secs(30)).await;
    let channel = Channel {
        format: ChannelFormat::Webhook,
        url: url.parse().unwrap(),
        template: None,
    };
    let started = std::time::Instant::now();
    let delivery = sender(Duration::from_millis(300))
        .send(&channel, &notice())
        .await;
    assert!(delivery.should_retry(), "{delivery:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(received.lock().unwrap().len(), 1);

    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let channel = Channel {
        url: format!("http://{address}/").parse().unwrap(),
        ..channel
    };
    let delivery = sender(Duration::from_secs(5))
        .send(&channel, &notice())
        .await;
    assert!(
        matches!(&delivery, Delivery::Failed { reason } if reason.contains("cannot connect")),
        "{delivery:?}"
    );
}

#[tokio::test]
async fn an_address_or_template_that_cannot_work_is_refused_without_sending() {
    for (url, template) in [
        ("ftp://127.0.0.1/x", None),
        ("http://127.0.0.1:9/x", Some("{{nope}}".to_owned())),
    ] {
        let channel = Channel {
            format: ChannelFormat::Webhook,
            url: url.parse().unwrap(),
            template,
        };
        let delivery = sender(Duration::from_secs(5))
            .send(&channel, &notice())
            .await;
        assert!(
            matches!(delivery, Delivery::Refused { status: 0, .. }),
            "{url}: {delivery:?}"
        );
    }
}

#[tokio::test]
async fn https_receivers_are_checked_against_the_trusted_authorities() {
    use hyper_util::rt::TokioIo;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let certificates = support::services::TestCertificates::generate();
    let acceptor =
        support::services::tls_acceptor(&certificates.server_cert, &certificates.server_key);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let bodies: Received = Arc::default();
    tokio::spawn({
        let bodies = bodies.clone();
        async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, bodies) = (acceptor.clone(), bodies.clone());
                tokio::spawn(async move {
                    // A sender that does not trust the authority hangs up mid-handshake.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let bodies = bodies.clone();
                            async move {
                                use http_body_util::BodyExt;
                                let body = request.into_body().collect().await?.to_bytes();
                                bodies.lock().unwrap().push((
                                    String::new(),
                                    String::from_utf8_lossy(&body).into_owned(),
                                ));
                                Ok::<_, hyper::Error>(hyper::Response::new(String::new()))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        }
    });
    let channel = Channel {
        format: ChannelFormat::Discord,
        url: format!("https://localhost:{}/api/webhooks/1/x", address.port())
            .parse()
            .unwrap(),
        template: None,
    };

    let untrusting = sender(Duration::from_secs(5))
        .send(&channel, &notice())
        .await;
    assert!(
        matches!(&untrusting, Delivery::Failed { reason } if reason.contains("TLS")),
        "{untrusting:?}"
    );
    assert!(bodies.lock().unwrap().is_empty());

    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(&certificates.ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let trusting = Sender::with_roots(roots, Duration::from_secs(5));
    assert_eq!(
        trusting.send(&channel, &notice()).await,
        Delivery::Delivered { status: 200 }
    );
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].1.contains("Pump offline"), "{bodies:?}");
}

#[tokio::test]
async fn an_email_reaches_a_real_mail_server_and_a_required_starttls_is_never_skipped() {
    let mail = support::services::TestMailServer::start().await;
    let address = |tls: &str| {
        format!(
            "smtp://127.0.0.1:{}?{tls}from=lookout@localhost&to=ops@localhost,oncall@localhost",
            mail.port
        )
    };
    let channel = |url: String| Channel {
        format: ChannelFormat::Email,
        url: url.parse().unwrap(),
        template: None,
    };
    let delivery = sender(Duration::from_secs(5))
        .send(&channel(address("tls=none&")), &notice())
        .await;
    assert_eq!(delivery, Delivery::Delivered { status: 250 });
    let messages = mail.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert!(
        message.contains("Subject: [FIRING] Pump offline: pumps/p7"),
        "{message}"
    );
    assert!(message.contains("From: lookout@localhost"), "{message}");
    assert!(message.contains("ops@localhost"), "{message}");
    assert!(message.contains("oncall@localhost"), "{message}");
    assert!(message.contains("Notice 7 from Lookout."), "{message}");

    // The same server offers no STARTTLS: the default (required) sends nothing in the clear.
    let delivery = sender(Duration::from_secs(5))
        .send(&channel(address("")), &notice())
        .await;
    assert!(delivery.should_retry(), "{delivery:?}");
    assert_eq!(mail.messages().len(), 1, "nothing was sent in the clear");

    // No server there: a failure to retry.
    let closed = support::services::free_port();
    let url = format!("smtp://127.0.0.1:{closed}?tls=none&from=a@localhost&to=b@localhost");
    let delivery = sender(Duration::from_secs(5))
        .send(&channel(url), &notice())
        .await;
    assert!(delivery.should_retry(), "{delivery:?}");
}
