//! Logging in and out: sessions, their cookie, what ends them, throttling, and the audit log.

mod support;

use app::accounts::{self, Actor};
use app::roles::Role;
use app::store::Store;
use std::time::Duration;
use support::{http_request, spawn_app, spawn_app_with, TestApp};

async fn store(app: &TestApp) -> Store {
    Store::connect(&app.database_url, Duration::from_secs(10))
        .await
        .unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, Option<String>)> {
    sqlx::query_as("select action, actor_name from audit_log order by id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_log_in_and_back_afterwards() {
    let app = spawn_app().await;
    app.forget_session();
    let page = app.get("/?view=all").await;
    assert_eq!(page.status, 303, "{}", page.head);
    assert_eq!(
        page.header("location"),
        Some("/login?next=%2F%3Fview%3Dall")
    );

    let login = app.get("/login?next=%2F%3Fview%3Dall").await;
    assert_eq!(login.status, 200);
    // A plain form: it works without JavaScript.
    assert!(
        login
            .body
            .contains(r#"<form method="post" action="/login""#),
        "{}",
        login.body
    );
    assert!(
        login.body.contains(r#"value="/?view=all""#),
        "{}",
        login.body
    );

    let password = app.add_user("ada", Role::Operator).await;
    let response = app
        .post_form(
            "/login",
            &[
                ("name", "ada"),
                ("password", &password),
                ("next", "/?view=all"),
            ],
        )
        .await;
    assert_eq!(response.status, 303, "{}", response.head);
    assert_eq!(response.header("location"), Some("/?view=all"));
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("ada"),
        "the header names who is signed in"
    );
}

#[tokio::test]
async fn a_wrong_name_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.forget_session();
    app.add_user("grace", Role::Viewer).await;
    let wrong_password = app.log_in("grace", "not-her-password").await;
    let wrong_name = app.log_in("nobody-called-this", "not-her-password").await;
    assert_eq!(wrong_password.status, 303);
    assert_eq!(
        wrong_password.header("location"),
        wrong_name.header("location")
    );
    assert_eq!(wrong_password.body, wrong_name.body);
    assert_eq!(
        wrong_password.set_cookie(),
        None,
        "no session for a failed login"
    );
    let page = app.get("/login?failed=1").await;
    assert!(page.body.contains("do not match"), "{}", page.body);

    let actions = audit_actions(&app).await;
    assert!(actions.contains(&("login_failed".to_owned(), Some("grace".to_owned()))));
    assert!(actions.contains(&(
        "login_failed".to_owned(),
        Some("nobody-called-this".to_owned())
    )));
}

#[tokio::test]
async fn logging_in_gives_a_new_session_id_and_a_careful_cookie() {
    let app = spawn_app().await;
    let first = app.cookie.lock().unwrap().clone().unwrap();
    // An id planted in the browser (session fixation), then a login: the id must change.
    *app.cookie.lock().unwrap() = Some("lookout_session=planted-by-someone-else".to_owned());
    let password = app.add_user("linus", Role::Viewer).await;
    let response = app.log_in("linus", &password).await;
    let cookie = response.set_cookie().expect("a session cookie");
    assert!(!cookie.contains("planted"), "{cookie}");
    assert_ne!(cookie, first);
    let set_cookie = response.header("set-cookie").unwrap().to_ascii_lowercase();
    assert!(set_cookie.contains("httponly"), "{set_cookie}");
    assert!(set_cookie.contains("samesite=lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("secure"),
        "plain HTTP here: {set_cookie}"
    );

    // Logging in again from a signed-in session rotates it too, and the old id is worthless.
    let again = app.log_in("linus", &password).await;
    let second = again.set_cookie().unwrap();
    assert_ne!(second, cookie);
    *app.cookie.lock().unwrap() = Some(cookie);
    assert_eq!(app.get("/").await.status, 303, "the old id no longer works");
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_hsts_is_sent() {
    let app = spawn_app_with(|settings| {
        settings.web.public_url = Some(lookout::config::Sourced {
            value: url::Url::parse("https://lookout.example.com").unwrap(),
            origin: lookout::config::Origin::Env("LOOKOUT_PUBLIC_URL"),
        })
    })
    .await;
    let password = app.add_user("margaret", Role::Viewer).await;
    app.forget_session();
    let response = app.log_in("margaret", &password).await;
    assert_eq!(response.status, 303, "{}", response.head);
    let set_cookie = response.header("set-cookie").unwrap().to_ascii_lowercase();
    assert!(set_cookie.contains("secure"), "{set_cookie}");
    assert!(response
        .header("strict-transport-security")
        .is_some_and(|value| value.contains("max-age=")));
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let app = spawn_app().await;
    let cookie = app.cookie.lock().unwrap().clone();
    let response = app.post_form("/logout", &[]).await;
    assert_eq!(response.status, 303);
    assert_eq!(response.header("location"), Some("/login?logged_out=1"));
    // Even a copy of the cookie kept from before is logged out.
    *app.cookie.lock().unwrap() = cookie;
    assert_eq!(app.get("/").await.status, 303);
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&("login".to_owned(), Some("test-viewer".to_owned()))));
    assert!(actions.contains(&("logout".to_owned(), Some("test-viewer".to_owned()))));
}

#[tokio::test]
async fn a_new_password_or_disabling_ends_every_session_of_that_user() {
    let app = spawn_app().await;
    let password = app.add_user("barbara", Role::Operator).await;
    let mut sessions = Vec::new();
    for _ in 0..2 {
        app.forget_session();
        app.log_in("barbara", &password).await;
        sessions.push(app.cookie.lock().unwrap().clone());
    }
    let other_user = {
        app.forget_session();
        let other = app.add_user("edsger", Role::Viewer).await;
        app.log_in("edsger", &other).await;
        app.cookie.lock().unwrap().clone()
    };
    let store = store(&app).await;
    let ended = accounts::change_password(&store, Actor::CLI, "barbara", "a brand new password")
        .await
        .unwrap();
    assert_eq!(ended, 2);
    for session in &sessions {
        *app.cookie.lock().unwrap() = session.clone();
        assert_eq!(app.get("/").await.status, 303, "{session:?} still works");
    }
    *app.cookie.lock().unwrap() = other_user;
    assert_eq!(app.get("/").await.status, 200, "other users stay logged in");

    accounts::set_disabled(&store, Actor::CLI, "edsger", true)
        .await
        .unwrap();
    assert_eq!(
        app.get("/").await.status,
        303,
        "a disabled user is logged out"
    );
    app.forget_session();
    let refused = app.log_in("edsger", "edsger-anything").await;
    assert_eq!(refused.header("location"), Some("/login?failed=1&next=%2F"));
}

#[tokio::test]
async fn repeated_failures_are_throttled_even_for_the_right_password() {
    let app = spawn_app().await;
    app.forget_session();
    let password = app.add_user("alan", Role::Viewer).await;
    for _ in 0..4 {
        let response = app.log_in("alan", "guess-guess-guess").await;
        assert_eq!(response.status, 303, "{}", response.head);
    }
    let throttled = app.log_in("alan", &password).await;
    assert_eq!(throttled.status, 429, "{}", throttled.head);
    assert!(throttled.header("retry-after").is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = app.log_in("alan", &password).await;
    assert_eq!(response.header("location"), Some("/"), "{}", response.head);
}

#[tokio::test]
async fn a_login_posted_from_another_site_is_refused() {
    let app = spawn_app().await;
    let password = app.add_user("mallory-target", Role::Admin).await;
    let body = format!("name=mallory-target&password={password}");
    let response = http_request(
        app.port,
        "POST",
        "/login",
        &[
            "Origin: https://evil.example",
            "Content-Type: application/x-www-form-urlencoded",
        ],
        &body,
    )
    .await;
    assert_eq!(response.status, 403, "{}", response.head);
    assert_eq!(response.set_cookie(), None);
}

#[tokio::test]
async fn a_fresh_install_says_how_to_create_the_first_admin() {
    let app = spawn_app().await;
    app.forget_session();
    sqlx::query("delete from audit_log")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("delete from app_user")
        .execute(&app.db)
        .await
        .unwrap();
    let page = app.get("/login").await;
    assert!(
        page.body.contains("lookout user add NAME --role admin"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_session_ends_after_its_idle_time_but_not_while_in_use() {
    let app = spawn_app_with(|settings| settings.web.session_idle = Duration::from_secs(3)).await;
    // Requests keep it alive past its idle time...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(app.get("/").await.status, 200);
    }
    // ...and a pause longer than it ends it, whatever the browser still holds.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(app.get("/").await.status, 303);
}

#[tokio::test]
async fn a_login_checked_against_a_password_changed_meanwhile_gets_no_session() {
    let app = spawn_app().await;
    let password = app.add_user("ken", Role::Operator).await;
    let store = store(&app).await;
    // The login's password check passes, then the password changes before its session is
    // recorded: the session must not be recorded (or it would outlive the change).
    let checked = accounts::check_login(&store, "ken", &password)
        .await
        .unwrap()
        .expect("the right password");
    accounts::change_password(&store, Actor::CLI, "ken", "changed in between")
        .await
        .unwrap();
    let recorded = store
        .record_user_session("racing-session", checked.user.id, &checked.password_hash)
        .await
        .unwrap();
    assert!(!recorded);
}
