//! Every route and every server function, asked by an anonymous visitor, a viewer, an operator
//! and an admin, answers as the access policy says. A route added without an entry here fails
//! the test, so nothing new is served without a decision about who may have it.

mod support;

use app::roles::Role;
use std::collections::BTreeSet;
use support::{spawn_app, HttpResponse, TestApp};

/// Status per visitor: anonymous, viewer, operator, admin.
type Expected = [u16; 4];

const EVERYONE: Expected = [200; 4];
const SIGNED_IN: Expected = [303, 200, 200, 200];
const SIGNED_IN_API: Expected = [401, 200, 200, 200];
const ADMIN: Expected = [303, 403, 403, 200];
const ADMIN_API: Expected = [401, 403, 403, 200];
/// Admin forms redirect back to their page, with a message for an empty form.
const ADMIN_FORM: Expected = [303, 403, 403, 303];
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
    // Status pages: nothing is published in a fresh install, so every visitor gets the 404.
    ("GET", "/status/{*path}", [404; 4]),
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
    ("POST", "/logout", [303; 4]),
];

/// Every route the server has: Leptos pages, server functions and plain handlers.
fn served_routes() -> BTreeSet<(String, String)> {
    let pages = leptos_axum::generate_route_list(app::App)
        .into_iter()
        .map(|route| ("GET".to_owned(), route.path().to_owned()));
    let server_fns = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (method.to_string(), path.to_owned()));
    let plain = lookout::startup::PLAIN_ROUTES
        .iter()
        .map(|(path, method)| (method.to_string(), path.to_string()));
    pages.chain(server_fns).chain(plain).collect()
}

async fn ask(app: &TestApp, method: &str, path: &str) -> HttpResponse {
    match method {
        // A stream never ends by itself: its head is the answer.
        "GET" if path == app::live::STREAM_PATH => head_only(app, path).await,
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
    // Generating the route list needs a reactive owner and registers the server functions.
    let served = served_routes();
    let listed: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes without an entry in the access matrix: {missing:?}"
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
