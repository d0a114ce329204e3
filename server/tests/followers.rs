//! Following a status page with the real application, database and a real mail server
//! (aiosmtpd): a visitor subscribes by e-mail on the public page, confirms through the link in
//! the mail, gets the page's news with a one-click unsubscribe that a mail program can use
//! from anywhere; an admin's webhook gets the same news as JSON.

mod support;

use app::domain::roles::Role;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::services::TestMailServer;
use support::{http_request, post_expecting, spawn_app_with, unique_name, TestApp};

const PUBLIC: &str = "https://status.example.com";

/// Waits (up to 30 s) until `count` somethings exist, as `look` counts them.
async fn wait_until(what: &str, count: usize, look: impl Fn() -> usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while look() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {count} {what}, got {}",
            look()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A webhook receiver on a port of its own, keeping the JSON bodies it gets.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let app = Router::new()
        .route(
            "/news",
            post(
                |State(bodies): State<Arc<Mutex<Vec<serde_json::Value>>>>, body: Bytes| async move {
                    bodies
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                },
            ),
        )
        .with_state(bodies.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/news"), bodies)
}

/// `raw` as read, its body's quoted-printable soft line breaks joined and escapes decoded (a
/// mail server may get long lines, such as links, wrapped so); the head stays as it came.
fn decoded(raw: &str) -> String {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return raw.to_owned();
    }
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let mut text = format!("{head}\n\n");
    let mut rest = joined.as_str();
    while let Some(at) = rest.find('=') {
        text.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 3)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match code {
            Some(byte) if byte.is_ascii() => {
                text.push(byte as char);
                rest = &rest[at + 3..];
            }
            _ => {
                text.push('=');
                rest = &rest[at + 1..];
            }
        }
    }
    text.push_str(rest);
    text
}

/// The token in the first link of `mail` to `path` (`subscription` or `unsubscribe`).
fn token_in(mail: &str, path: &str) -> String {
    let start = mail
        .find(&format!("/{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {mail}"));
    mail[start..]
        .split_once("token=")
        .unwrap()
        .1
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

async fn anonymous_post(
    app: &TestApp,
    path: &str,
    body: &str,
    origin: Option<&str>,
) -> support::HttpResponse {
    let origin = origin.map(|origin| format!("Origin: {origin}"));
    let mut headers = vec!["Content-Type: application/x-www-form-urlencoded"];
    headers.extend(origin.as_deref());
    http_request(app.port, "POST", path, &headers, body).await
}

#[tokio::test]
async fn a_visitor_subscribes_confirms_gets_news_and_leaves_with_one_click() {
    let app = spawn_app_with(|settings| {
        settings.web.public_url = Some(lookout::config::Sourced {
            value: url::Url::parse(PUBLIC).unwrap(),
            origin: lookout::config::Origin::Env("LOOKOUT_PUBLIC_URL"),
        })
    })
    .await;
    app.sign_in_as("boss", Role::Admin).await;
    let admin = app.session();
    let mail = TestMailServer::start().await;
    let slug = unique_name("mill").to_lowercase().replace('_', "-");
    let page = support::create_page(&app, &slug, "Mill").await;
    support::set_published(&app, page, &slug, "Mill", true).await;
    let page_id = page.to_string();
    let server = format!(
        "smtp://127.0.0.1:{}?tls=none&from=status@localhost&to=nobody@localhost",
        mail.port
    );
    post_expecting(
        &app,
        "/admin/alerts/channels/add",
        &[
            ("name", "status mail"),
            ("format", "email"),
            ("url", server.as_str()),
            ("template", ""),
        ],
        "done=channel_added",
    )
    .await;
    let channel: i64 = sqlx::query_scalar("select id from alert_channel")
        .fetch_one(&app.db)
        .await
        .unwrap();
    // No subscription form until the page has a mail channel.
    app.forget_session();
    assert!(!app
        .get(&format!("/status/{slug}"))
        .await
        .body
        .contains("/subscribe"));
    app.use_session(&admin);
    let channel = channel.to_string();
    post_expecting(
        &app,
        "/admin/pages/followers/mail",
        &[("page", page_id.as_str()), ("channel", channel.as_str())],
        "done=mail_channel_set",
    )
    .await;
    let (hook, hooked) = webhook_receiver().await;
    post_expecting(
        &app,
        "/admin/pages/followers/webhooks/add",
        &[("page", page_id.as_str()), ("url", "ftp://nope")],
        "error=bad_webhook",
    )
    .await;
    post_expecting(
        &app,
        "/admin/pages/followers/webhooks/add",
        &[("page", page_id.as_str()), ("url", hook.as_str())],
        "done=webhook_added",
    )
    .await;

    // A visitor signs up on the public page, without JavaScript.
    app.forget_session();
    let html = app.get(&format!("/status/{slug}")).await.body;
    assert!(
        html.contains(&format!("action=\"/status/{slug}/subscribe\"")),
        "{html}"
    );
    let subscribe = format!("/status/{slug}/subscribe");
    let refused = anonymous_post(&app, &subscribe, "email=not-an-address", Some(PUBLIC)).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let forged = anonymous_post(
        &app,
        &subscribe,
        "email=ann%40example.com",
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(forged.status, 403);
    for _ in 0..2 {
        // Typed twice: one confirmation, and the same answer both times.
        let asked = anonymous_post(&app, &subscribe, "email=ann%40example.com", Some(PUBLIC)).await;
        assert_eq!(asked.status, 200);
        assert!(asked.body.contains("Check your inbox"), "{}", asked.body);
    }
    wait_until("mails", 1, || mail.messages().len()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let messages: Vec<String> = mail.messages().iter().map(|raw| decoded(raw)).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("Subject: Confirm your updates from Mill"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("To: ann@example.com"),
        "{}",
        messages[0]
    );
    let token = token_in(&messages[0], "subscription");
    assert!(messages[0].contains(&format!(
        "{PUBLIC}/status/{slug}/subscription?token={token}"
    )));

    // Nothing is told before the confirmation; the link's page confirms with a button.
    let manage = format!("/status/{slug}/subscription?token={token}");
    let page_html = app.get(&manage).await;
    assert_eq!(page_html.status, 200);
    assert!(
        page_html.body.contains("Confirm your updates"),
        "{}",
        page_html.body
    );
    assert!(page_html
        .head
        .to_lowercase()
        .contains("cache-control: private, no-store"));
    let confirmed = anonymous_post(
        &app,
        &format!("/status/{slug}/subscription"),
        &format!("token={token}&action=confirm"),
        Some(PUBLIC),
    )
    .await;
    assert!(confirmed.body.contains("Confirmed"), "{}", confirmed.body);

    // News: an incident opened by an operator reaches the mailbox and the webhook.
    app.sign_in_as("otto", Role::Operator).await;
    post_expecting(
        &app,
        "/incidents/open",
        &[
            ("page", page_id.as_str()),
            ("title", "Saw stopped"),
            ("status", "identified"),
            ("message", "A belt broke."),
            ("back", "desk"),
        ],
        "done=incident_opened",
    )
    .await;
    wait_until("mails", 2, || mail.messages().len()).await;
    wait_until("webhook posts", 1, || hooked.lock().unwrap().len()).await;
    let news = mail
        .messages()
        .iter()
        .map(|raw| decoded(raw))
        .find(|message| message.contains("Saw stopped"))
        .unwrap();
    assert!(
        news.contains("Subject: [Mill] Identified: Saw stopped"),
        "{news}"
    );
    assert!(news.contains("A belt broke."), "{news}");
    assert!(
        news.contains(&format!(
            "List-Unsubscribe: <{PUBLIC}/status/{slug}/unsubscribe?token={token}>"
        )),
        "{news}"
    );
    assert!(
        news.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{news}"
    );
    let posted = hooked.lock().unwrap()[0].clone();
    assert_eq!(posted["event"], "incident");
    assert_eq!(posted["title"], "Saw stopped");
    assert_eq!(posted["status"], "identified");

    // The mail program's one-click unsubscribe: a POST from nowhere in particular.
    let gone = http_request(
        app.port,
        "POST",
        &format!("/status/{slug}/unsubscribe?token={token}"),
        &["Content-Type: application/x-www-form-urlencoded"],
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert!(gone.body.contains("Unsubscribed"), "{}", gone.body);
    assert_eq!(app.get(&manage).await.status, 404);
    let followers: i64 =
        sqlx::query_scalar("select count(*) from page_follower where kind = 'email'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(followers, 0);

    // The next news goes to the webhook only.
    let incident: i64 = sqlx::query_scalar("select id from incident")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let incident = incident.to_string();
    post_expecting(
        &app,
        "/incidents/update",
        &[
            ("page", page_id.as_str()),
            ("id", incident.as_str()),
            ("status", "resolved"),
            ("message", "New belt fitted."),
            ("back", "desk"),
        ],
        "done=incident_updated",
    )
    .await;
    wait_until("webhook posts", 2, || hooked.lock().unwrap().len()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(mail.messages().len(), 2);
    assert_eq!(hooked.lock().unwrap()[1]["status"], "resolved");
    assert_eq!(app.audited("page_webhook_added").await.len(), 1);
    assert_eq!(app.audited("page_mail_channel_set").await.len(), 1);
}
