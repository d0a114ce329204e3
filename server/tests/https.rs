//! HTTPS served by Lookout itself (rustls): pages and logins over TLS with a Secure session
//! cookie, plain HTTP redirected when a redirect listener is configured and refused otherwise,
//! and certificate settings that cannot work refused at start-up with the setting's name.

mod support;

use app::domain::roles::Role;
use app::server::store::audit::Actor;
use app::server::store::Store;
use lookout::config::Settings;
use lookout::startup::Application;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use support::services::TestCertificates;
use support::{broker_url, fresh_database, http_request, test_environment, unique_name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Settings for an app on a fresh database with `extra` variables.
async fn settings(extra: &[(&str, &str)]) -> (Settings, String) {
    let database_url = fresh_database().await;
    let vars = test_environment(
        &database_url,
        &broker_url(),
        &unique_name("lookout"),
        &unique_name("t"),
        extra,
    );
    let settings = Settings::load_from(None, |name| vars.get(name).cloned()).unwrap();
    (settings, database_url)
}

fn tls_vars(certificates: &TestCertificates) -> Vec<(&'static str, String)> {
    vec![
        (
            "LOOKOUT_TLS_CERT_FILE",
            certificates.server_cert.display().to_string(),
        ),
        (
            "LOOKOUT_TLS_KEY_FILE",
            certificates.server_key.display().to_string(),
        ),
    ]
}

fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect()
}

/// One HTTP/1.0 request over TLS, trusting only the test authority; returns the whole response.
async fn https_request(
    certificates: &TestCertificates,
    port: u16,
    request: &str,
) -> std::io::Result<String> {
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
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let socket = TcpStream::connect(("127.0.0.1", port)).await?;
    let server = ServerName::try_from("localhost").unwrap();
    let mut stream = connector.connect(server, socket).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    // A TLS peer may close without close_notify after an HTTP/1.0 answer; what arrived counts.
    let _ = stream.read_to_end(&mut response).await;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn pages_and_logins_are_served_over_https_with_a_secure_cookie() {
    let certificates = TestCertificates::generate();
    let mut extra = tls_vars(&certificates);
    extra.push(("LOOKOUT_HTTP_REDIRECT_LISTEN", "127.0.0.1:0".to_owned()));
    let (settings, database_url) = settings(&borrowed(&extra)).await;
    let app = Application::build(settings)
        .await
        .expect("starts with HTTPS");
    let port = app.port();
    let redirect_port = app.redirect_port().expect("a redirect listener");
    tokio::spawn(app.run_until_stopped());

    let health = https_request(
        &certificates,
        port,
        "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    assert_eq!(
        header(&health, "strict-transport-security"),
        Some("max-age=31536000")
    );

    let store = Store::connect(&database_url, Duration::from_secs(10))
        .await
        .unwrap();
    app::server::accounts::add_user(&store, Actor::CLI, "ada", "correct horse", Role::Viewer)
        .await
        .unwrap();
    let form = "name=ada&password=correct+horse&next=%2F";
    let login = https_request(
        &certificates,
        port,
        &format!(
            "POST /login HTTP/1.0\r\nHost: localhost:{port}\r\nOrigin: https://localhost:{port}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
    .await
    .unwrap();
    assert!(login.starts_with("HTTP/1.0 303"), "{login}");
    // The session cookie, not the device cookie a login also sets.
    let cookie = login
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, cookie)| cookie.trim())
        .find(|cookie| cookie.starts_with("lookout_session="))
        .expect("a session cookie");
    assert!(
        cookie.split(';').any(|part| part.trim() == "Secure"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap();
    let dashboard = https_request(
        &certificates,
        port,
        &format!("GET / HTTP/1.0\r\nHost: localhost\r\nCookie: {session}\r\n\r\n"),
    )
    .await
    .unwrap();
    assert!(dashboard.starts_with("HTTP/1.0 200"), "{dashboard}");
    assert!(dashboard.contains("ada"), "signed in over HTTPS");

    // Plain HTTP on the redirect port goes to the same address over HTTPS, forms included.
    let redirect = http_request(redirect_port, "POST", "/login?next=%2F", &[], "").await;
    assert_eq!(redirect.status, 308, "{}", redirect.head);
    assert_eq!(
        redirect.header("location"),
        Some(format!("https://127.0.0.1:{port}/login?next=%2F").as_str())
    );

    // Plain HTTP on the HTTPS port gets no page: the handshake fails and the connection closes.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("ok\n"),
        "plain HTTP was served on the HTTPS port"
    );
}

#[tokio::test]
async fn without_a_redirect_plain_http_finds_nothing_listening_for_it() {
    let certificates = TestCertificates::generate();
    let extra = tls_vars(&certificates);
    let (settings, _) = settings(&borrowed(&extra)).await;
    let app = Application::build(settings)
        .await
        .expect("starts with HTTPS");
    assert_eq!(app.redirect_port(), None);
}

#[tokio::test]
async fn certificate_files_that_cannot_work_are_refused_with_the_setting_named() {
    let certificates = TestCertificates::generate();
    let cases = [
        (
            // The CA's certificate with the server's key: they do not belong together.
            vec![
                (
                    "LOOKOUT_TLS_CERT_FILE",
                    certificates.ca.display().to_string(),
                ),
                (
                    "LOOKOUT_TLS_KEY_FILE",
                    certificates.server_key.display().to_string(),
                ),
            ],
            "LOOKOUT_TLS_KEY_FILE is not valid: the key does not go with the certificate",
        ),
        (
            vec![
                (
                    "LOOKOUT_TLS_CERT_FILE",
                    "/nonexistent/lookout.pem".to_owned(),
                ),
                (
                    "LOOKOUT_TLS_KEY_FILE",
                    certificates.server_key.display().to_string(),
                ),
            ],
            "LOOKOUT_TLS_CERT_FILE: cannot read /nonexistent/lookout.pem",
        ),
        (
            vec![
                (
                    "LOOKOUT_TLS_CERT_FILE",
                    certificates.server_key.display().to_string(),
                ),
                (
                    "LOOKOUT_TLS_KEY_FILE",
                    certificates.server_key.display().to_string(),
                ),
            ],
            "LOOKOUT_TLS_CERT_FILE is not valid",
        ),
    ];
    for (vars, expected) in cases {
        let (settings, _) = settings(&borrowed(&vars)).await;
        let error = Application::build(settings)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(error.starts_with(expected), "{error}");
    }
}
