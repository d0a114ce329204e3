//! Every route and every server function, asked by an anonymous visitor, a viewer, an operator
//! and an admin, answers as the access policy says. The routes come from the router's own tables
//! (`lookout::startup::served_routes`): a route added without an entry here fails the test, and
//! so does an entry for a route that does not exist, so nothing is served without a decision
//! about who may have it.

mod support;

use app::domain::roles::Role;
use rumqttc::QoS;
use std::collections::BTreeSet;
use std::time::Duration;
use support::{publish, spawn_app, spawn_app_with, HttpResponse, TestApp};

/// Status per visitor: anonymous, viewer, operator, admin.
type Expected = [u16; 4];

const EVERYONE: Expected = [200; 4];
const SIGNED_IN: Expected = [303, 200, 200, 200];
const SIGNED_IN_API: Expected = [401, 200, 200, 200];
const ADMIN: Expected = [303, 403, 403, 200];
const ADMIN_API: Expected = [401, 403, 403, 200];
/// Admin forms redirect back to their page, with a message for an empty form.
const ADMIN_FORM: Expected = [303, 403, 403, 303];
/// The people on duty: operators and admins.
const OPERATIONS: Expected = [303, 403, 200, 200];
const OPERATIONS_API: Expected = [401, 403, 200, 200];
/// Their forms redirect back, with a message for an empty form.
const OPERATIONS_FORM: Expected = [303, 403, 303, 303];
/// The publish form: refused to viewers, and to operators while no rule lets them publish (none
/// does on a fresh install); an admin's empty form comes back with a message.
const PUBLISH_FORM: Expected = [303, 403, 403, 303];

/// (method, path, expected). Server functions are called as the pages call them: POST.
const MATRIX: &[(&str, &str, Expected)] = &[
    ("GET", "/", SIGNED_IN),
    ("GET", "/login", EVERYONE),
    ("GET", "/topics", SIGNED_IN),
    ("POST", "/api/topic_tree", SIGNED_IN_API),
    ("GET", "/metrics", [401; 4]), // a bearer token, never a session, opens it (metrics.rs)
    ("GET", "/healthz", EVERYONE),
    ("GET", "/readyz", EVERYONE),
    // No such topic: signed-in visitors get the 404 page, anonymous ones the login first.
    ("GET", "/topic/{*name}", [303, 404, 404, 404]),
    ("POST", "/api/topic_list", SIGNED_IN_API),
    ("POST", "/api/topic_detail", SIGNED_IN_API),
    ("POST", "/api/topic_history", SIGNED_IN_API),
    ("POST", "/api/topic_messages", SIGNED_IN_API),
    ("POST", "/api/ingest_status", SIGNED_IN_API),
    ("GET", "/devices", SIGNED_IN),
    ("POST", "/api/devices", SIGNED_IN_API),
    ("POST", "/api/current_visitor", EVERYONE),
    ("POST", "/api/login_hints", EVERYONE),
    ("GET", "/api/live", SIGNED_IN_API),
    ("GET", "/publish", SIGNED_IN),
    ("POST", "/api/publish_page", SIGNED_IN_API),
    ("POST", "/publish", PUBLISH_FORM),
    // A failed login and a logout both answer with a redirect, whoever asks.
    ("POST", "/login", [303; 4]),
    ("GET", "/theme.css", EVERYONE),
    // An empty form is refused for what it is, whoever sends it.
    ("POST", "/theme", [422; 4]),
    ("GET", "/admin/users", ADMIN),
    ("GET", "/admin/rules", ADMIN),
    ("POST", "/api/admin_users", ADMIN_API),
    ("POST", "/api/admin_rules", ADMIN_API),
    ("POST", "/admin/users/add", ADMIN_FORM),
    ("POST", "/admin/users/role", ADMIN_FORM),
    ("POST", "/admin/users/password", ADMIN_FORM),
    ("POST", "/admin/users/disable", ADMIN_FORM),
    ("POST", "/admin/rules/add", ADMIN_FORM),
    ("POST", "/admin/rules/change", ADMIN_FORM),
    ("POST", "/admin/rules/delete", ADMIN_FORM),
    ("GET", "/admin/devices", ADMIN),
    ("POST", "/api/admin_devices", ADMIN_API),
    ("POST", "/admin/devices/add", ADMIN_FORM),
    ("POST", "/admin/devices/change", ADMIN_FORM),
    ("POST", "/admin/devices/delete", ADMIN_FORM),
    ("GET", "/admin/series", ADMIN),
    ("POST", "/api/admin_series", ADMIN_API),
    ("POST", "/admin/series/add", ADMIN_FORM),
    ("POST", "/admin/series/change", ADMIN_FORM),
    ("POST", "/admin/series/delete", ADMIN_FORM),
    ("GET", "/admin/alerts", ADMIN),
    ("POST", "/api/admin_alerts", ADMIN_API),
    ("POST", "/admin/alerts/rules/add", ADMIN_FORM),
    ("POST", "/admin/alerts/rules/change", ADMIN_FORM),
    ("POST", "/admin/alerts/rules/delete", ADMIN_FORM),
    ("POST", "/admin/alerts/channels/add", ADMIN_FORM),
    ("POST", "/admin/alerts/channels/change", ADMIN_FORM),
    ("POST", "/admin/alerts/channels/delete", ADMIN_FORM),
    ("POST", "/admin/alerts/channels/test", ADMIN_FORM),
    // Status pages: nothing is published in a fresh install, so every visitor gets the 404.
    ("GET", "/status/{*path}", [404; 4]),
    // Following one: no page there either.
    ("POST", "/status/{*path}", [404; 4]),
    ("GET", "/admin/pages", ADMIN),
    ("GET", "/admin/pages/{id}", ADMIN),
    ("POST", "/api/admin_status_pages", ADMIN_API),
    ("POST", "/api/admin_status_page", ADMIN_API),
    ("POST", "/admin/pages/add", ADMIN_FORM),
    ("POST", "/admin/pages/change", ADMIN_FORM),
    ("POST", "/admin/pages/delete", ADMIN_FORM),
    ("POST", "/admin/pages/widgets/add", ADMIN_FORM),
    ("POST", "/admin/pages/widgets/change", ADMIN_FORM),
    ("POST", "/admin/pages/widgets/delete", ADMIN_FORM),
    ("POST", "/admin/pages/widgets/move", ADMIN_FORM),
    ("POST", "/admin/pages/widgets/arrange", ADMIN_FORM),
    ("GET", "/incidents", OPERATIONS),
    ("POST", "/api/ops_incidents", OPERATIONS_API),
    ("POST", "/incidents/open", OPERATIONS_FORM),
    ("POST", "/incidents/update", OPERATIONS_FORM),
    ("POST", "/incidents/dismiss", OPERATIONS_FORM),
    ("POST", "/admin/pages/incidents/delete", ADMIN_FORM),
    ("POST", "/admin/pages/followers/mail", ADMIN_FORM),
    ("POST", "/admin/pages/followers/webhooks/add", ADMIN_FORM),
    ("POST", "/admin/pages/followers/delete", ADMIN_FORM),
    ("POST", "/admin/pages/maintenance/add", ADMIN_FORM),
    ("POST", "/admin/pages/maintenance/delete", ADMIN_FORM),
    // A user's own access tokens.
    ("GET", "/account", SIGNED_IN),
    ("POST", "/api/account_tokens", SIGNED_IN_API),
    // An empty form comes back with a message, to whoever is signed in.
    ("POST", "/account/tokens/add", [303; 4]),
    ("POST", "/account/tokens/revoke", [303; 4]),
    ("POST", "/logout", [303; 4]),
];

/// Every route the server has, as the router registers them: plain handlers, Leptos pages and
/// server functions.
fn served_routes() -> BTreeSet<(String, String)> {
    lookout::startup::served_routes()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path))
        .collect()
}

async fn ask(app: &TestApp, method: &str, path: &str) -> HttpResponse {
    match method {
        // A stream never ends by itself: its head is the answer.
        "GET" if path == app::domain::live::STREAM_PATH => head_only(app, path).await,
        "GET" => app.get(path).await,
        // Wrong credentials, so that asking does not change who is signed in.
        "POST" if path == "/login" => {
            app.post_form(path, &[("name", "nobody"), ("password", "wrong-password")])
                .await
        }
        // A topic nobody has: the answer depends on who asks, not on what exists.
        _ if path.starts_with("/api/topic_") && path != "/api/topic_list" => {
            app.post_form(path, &[("topic", "no/such/topic"), ("range", "1h")])
                .await
        }
        "POST" if path == "/api/admin_status_page" => app.post_form(path, &[("id", "1")]).await,
        _ => app.post_form(path, &[]).await,
    }
}

async fn head_only(app: &TestApp, path: &str) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let cookie = app.cookie.lock().unwrap().clone();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{cookie}\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        if socket.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    HttpResponse {
        status: support::status_of(&head),
        head,
        body: String::new(),
    }
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_policy_says() {
    let app = spawn_app().await;
    // After the app started: it worked out its route list, which the list below reuses.
    let served = served_routes();
    let listed: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(listed.len(), MATRIX.len(), "a route listed twice");
    let missing: Vec<_> = served.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the access matrix: {missing:?}"
    );
    let unknown: Vec<_> = listed.difference(&served).collect();
    assert!(
        unknown.is_empty(),
        "access matrix entries for routes the router does not have: {unknown:?}"
    );

    let mut passwords = Vec::new();
    for role in [Role::Viewer, Role::Operator, Role::Admin] {
        let name = format!("matrix-{role}");
        passwords.push((name.clone(), app.add_user(&name, role).await));
    }
    let mut failures = Vec::new();
    for visitor in 0..4 {
        app.forget_session();
        if visitor > 0 {
            let (name, password) = &passwords[visitor - 1];
            let response = app.log_in(name, password).await;
            assert_eq!(response.status, 303, "{}", response.head);
        }
        // Logging out last: it ends the session the other requests need.
        for (method, path, expected) in MATRIX {
            let response = ask(&app, method, path).await;
            if response.status != expected[visitor] {
                failures.push(format!(
                    "{method} {path} as visitor {visitor}: {} (expected {})",
                    response.status, expected[visitor]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn the_route_list_holds_every_kind_of_route_the_router_serves() {
    let _app = spawn_app().await;
    let served = served_routes();
    for route in [
        ("POST", "/admin/rules/add"),
        ("GET", "/metrics"),
        ("GET", "/admin/rules"),
        ("GET", "/topic/{*name}"),
        ("POST", "/api/ingest_status"),
    ] {
        let route = (route.0.to_owned(), route.1.to_owned());
        assert!(served.contains(&route), "{route:?} missing from {served:?}");
    }
}

#[tokio::test]
async fn an_address_no_route_serves_is_the_404_page_for_everyone_and_never_a_login() {
    let app = spawn_app().await;
    for signed_in in [true, false] {
        if !signed_in {
            app.forget_session();
        }
        for path in ["/no/such/page", "/admin/no-such-page", "/api-no-such-thing"] {
            let page = app.get(path).await;
            assert_eq!(
                page.status, 404,
                "{path} (signed in: {signed_in}): {}",
                page.head
            );
            assert!(page.body.contains("Not found"), "{path}: {}", page.body);
        }
    }
}

/// The ingest status as the signed-in visitor gets it.
async fn ingest_status(app: &TestApp) -> serde_json::Value {
    let response = app.post_form("/api/ingest_status", &[]).await;
    assert_eq!(response.status, 200, "{}", response.head);
    serde_json::from_str(&response.body).unwrap()
}

#[tokio::test]
async fn the_ingest_status_names_an_oversized_topic_only_to_those_who_may_read_it() {
    let app = spawn_app_with(|settings| settings.mqtt.max_payload_bytes = 64).await;
    let open = app.topic("open/big");
    let private = app.topic("private/big");
    let open_filter = app.topic("open/#");
    app.restrict_viewers_to(&[&open_filter]).await;
    let viewer = app.session();
    let admin = app.sign_in_as("status-admin", Role::Admin).await;

    let big = vec![b'x'; 256];
    publish(&[(&private, &big, QoS::AtLeastOnce, false)]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while ingest_status(&app).await["oversized"] != 1 {
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ingest_status(&app).await["last_oversized_topic"],
        private.as_str()
    );
    app.use_session(&viewer);
    let status = ingest_status(&app).await;
    assert_eq!(status["oversized"], 1, "the count is no secret: {status}");
    assert!(status["last_oversized_topic"].is_null(), "{status}");
    let overview = app.get("/").await;
    assert!(!overview.body.contains(&private), "{}", overview.body);

    publish(&[(&open, &big, QoS::AtLeastOnce, false)]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while ingest_status(&app).await["last_oversized_topic"] != open.as_str() {
        assert!(tokio::time::Instant::now() < deadline, "never named");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.use_session(&admin);
    assert_eq!(
        ingest_status(&app).await["last_oversized_topic"],
        open.as_str()
    );
}
