//! `/metrics` names private topics' traffic, so it is closed unless configured: with a bearer
//! token it answers only requests bearing it, and with an address of its own it is served there
//! and nowhere else. Against the real application, broker and database.

mod support;

use app::domain::roles::Role;
use lookout::config::{MetricsToken, Origin, Settings, Sourced};
use support::{http_request, spawn_app, spawn_app_with, METRICS_AUTHORIZATION, METRICS_TOKEN};

/// What a scrape shows whoever may read it.
const A_COUNTER: &str = "lookout_messages_received_total ";

fn without_token(settings: &mut Settings) {
    settings.web.metrics_token = None;
}

fn on_an_address_of_their_own(settings: &mut Settings) {
    settings.web.metrics_listen = Some(Sourced {
        value: "127.0.0.1:0".parse().unwrap(),
        origin: Origin::Env("LOOKOUT_METRICS_LISTEN"),
    });
}

#[tokio::test]
async fn without_a_token_or_an_address_of_their_own_the_metrics_are_not_served() {
    let app = spawn_app_with(without_token).await;
    // Not to a visitor, not to a signed-in admin, not to a guessed token.
    let anonymous = http_request(app.port, "GET", "/metrics", &[], "").await;
    app.sign_in_as("boss", Role::Admin).await;
    let admin = app.get("/metrics").await;
    let guessed = http_request(app.port, "GET", "/metrics", &[METRICS_AUTHORIZATION], "").await;
    for response in [anonymous, admin, guessed] {
        assert_eq!(response.status, 404, "{}", response.head);
        assert!(!response.body.contains("lookout_"), "{}", response.body);
    }
}

#[tokio::test]
async fn with_a_token_only_requests_bearing_it_get_the_metrics() {
    let app = spawn_app().await;
    let mut wrong = METRICS_TOKEN.to_owned();
    wrong.pop();
    wrong.push('X');
    let refused = [
        None,
        Some(format!("Authorization: Bearer {wrong}")),
        Some(format!("Authorization: Bearer {}", &METRICS_TOKEN[1..])),
        Some(format!(
            "Authorization: Bearer {METRICS_TOKEN}{METRICS_TOKEN}"
        )),
        Some(format!("Authorization: Basic {METRICS_TOKEN}")),
        Some(format!("Authorization: {METRICS_TOKEN}")),
        Some("Authorization: Bearer ".to_owned()),
    ];
    for header in refused {
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        let response = http_request(app.port, "GET", "/metrics", &headers, "").await;
        assert_eq!(response.status, 401, "{header:?}: {}", response.head);
        assert_eq!(
            response.header("www-authenticate"),
            Some(r#"Bearer realm="lookout metrics""#)
        );
        assert!(!response.body.contains("lookout_"), "{}", response.body);
    }
    // A session does not stand in for the token.
    app.sign_in_as("boss", Role::Admin).await;
    assert_eq!(app.get("/metrics").await.status, 401);

    for header in [
        METRICS_AUTHORIZATION.to_owned(),
        format!("authorization: bearer {METRICS_TOKEN}"),
    ] {
        let response = http_request(app.port, "GET", "/metrics", &[&header], "").await;
        assert_eq!(response.status, 200, "{header}: {}", response.head);
        assert!(response.body.contains(A_COUNTER), "{}", response.body);
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test]
async fn on_an_address_of_their_own_the_metrics_are_served_there_and_nowhere_else() {
    let app = spawn_app_with(|settings| {
        without_token(settings);
        on_an_address_of_their_own(settings);
    })
    .await;
    let metrics_port = app.metrics_port.expect("a metrics address");
    assert_ne!(metrics_port, app.port);

    let response = http_request(metrics_port, "GET", "/metrics", &[], "").await;
    assert_eq!(response.status, 200, "{}", response.head);
    assert!(response.body.contains(A_COUNTER), "{}", response.body);
    // Nothing else of the site is there.
    for path in ["/", "/login", "/api/live", "/healthz"] {
        let response = http_request(metrics_port, "GET", path, &[], "").await;
        assert_eq!(response.status, 404, "{path}: {}", response.head);
    }
    // And the main listener does not serve them.
    for headers in [vec![], vec![METRICS_AUTHORIZATION]] {
        let response = http_request(app.port, "GET", "/metrics", &headers, "").await;
        assert_eq!(response.status, 404, "{}", response.head);
    }
}

#[tokio::test]
async fn with_a_token_and_an_address_of_their_own_the_address_asks_for_the_token() {
    let app = spawn_app_with(on_an_address_of_their_own).await;
    let metrics_port = app.metrics_port.expect("a metrics address");
    let response = http_request(metrics_port, "GET", "/metrics", &[], "").await;
    assert_eq!(response.status, 401, "{}", response.head);
    let response = http_request(
        metrics_port,
        "GET",
        "/metrics",
        &[METRICS_AUTHORIZATION],
        "",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.head);
    assert!(response.body.contains(A_COUNTER), "{}", response.body);
    let response = http_request(app.port, "GET", "/metrics", &[METRICS_AUTHORIZATION], "").await;
    assert_eq!(response.status, 404, "{}", response.head);
}

#[test]
fn the_token_never_prints() {
    let settings = Settings::load_from(None, |name| match name {
        "DATABASE_URL" => Some("postgres://lookout@127.0.0.1/lookout".to_owned()),
        "LOOKOUT_METRICS_TOKEN" => Some(METRICS_TOKEN.to_owned()),
        _ => None,
    })
    .unwrap();
    let token: &Sourced<MetricsToken> = settings.web.metrics_token.as_ref().unwrap();
    assert_eq!(token.value.expose(), METRICS_TOKEN);
    assert!(!format!("{settings:?}").contains(METRICS_TOKEN));
    assert!(!settings.summary().contains(METRICS_TOKEN));
    assert!(settings.summary().contains("web.metrics_token"));
}
