//! Logging in and out: sessions, their cookie, what ends them, throttling, and the audit log.

mod support;

use app::domain::roles::Role;
use app::server::accounts;
use app::server::store::audit::Actor;
use app::server::store::Store;
use sha2::{Digest, Sha256};
use std::time::Duration;
use support::{
    http_request, raw_request, spawn_app, spawn_app_with, status_of, HttpResponse, TestApp,
};

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

/// The whole `Set-Cookie` header of the cookie `name`, attributes included.
fn cookie_header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
    response
        .head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.trim().eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.trim())
        .find(|value| value.starts_with(&format!("{name}=")))
}

/// The `lookout_device=...` a login response set, if any.
fn device_cookie(response: &HttpResponse) -> Option<String> {
    cookie_header(response, lookout::login::DEVICE_COOKIE)
        .map(|value| value.split(';').next().unwrap().to_owned())
}

/// A login from a browser that holds `cookie` (a device cookie) and no session.
async fn log_in_with(app: &TestApp, cookie: &str, name: &str, password: &str) -> HttpResponse {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("name", name), ("password", password), ("next", "/")])
        .finish();
    let origin = format!("Origin: {}", app.origin);
    let cookie = format!("Cookie: {cookie}");
    http_request(
        app.port,
        "POST",
        "/login",
        &[
            &origin,
            "Content-Type: application/x-www-form-urlencoded",
            &cookie,
        ],
        &body,
    )
    .await
}

/// Wrong passwords for `name` until `failures` of them were checked, waiting whenever told to:
/// each attempt after that must wait 2^(failures - 4) s.
async fn hammer(app: &TestApp, name: &str, failures: u32) {
    let mut checked = 0;
    while checked < failures {
        let response = app.log_in(name, "guess-guess-guess").await;
        match response.status {
            303 => checked += 1,
            429 => {
                let seconds: u64 = response.header("retry-after").unwrap().parse().unwrap();
                tokio::time::sleep(Duration::from_secs(seconds)).await;
            }
            _ => panic!("{}", response.head),
        }
    }
}

async fn devices_of(app: &TestApp, name: &str) -> Vec<(Vec<u8>, i32)> {
    sqlx::query_as(
        "select token_hash, failures from login_device d join app_user u on u.id = d.user_id \
         where u.name = $1 order by d.created_at",
    )
    .bind(name)
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
    assert!(actions.contains(&("login_failed".to_owned(), None)));
}

#[tokio::test]
async fn a_failed_login_for_an_unknown_name_keeps_nothing_of_what_was_typed() {
    let app = spawn_app().await;
    app.forget_session();
    app.add_user("rosalind", Role::Viewer).await;
    // Someone types their password into the name field, twice, then a different unknown name.
    let typed = "Secret-Passphrase-In-The-Name-Field";
    for name in [typed, typed, "someone-else-entirely"] {
        let response = app.log_in(name, "whatever-was-in-the-other-field").await;
        assert_eq!(response.status, 303, "{}", response.head);
    }
    // A wrong password for a real user names that user (as stored, whatever the letter case).
    app.log_in("ROSALIND", "not-her-password-at-all").await;

    let rows: Vec<(Option<i64>, Option<String>, String)> = sqlx::query_as(
        "select actor_user_id, actor_name, detail::text from audit_log \
         where action = 'login_failed' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let tags: Vec<String> = rows[..3]
        .iter()
        .map(|(user_id, name, detail)| {
            assert_eq!((user_id, name), (&None, &None), "{detail}");
            let detail: serde_json::Value = serde_json::from_str(detail).unwrap();
            detail["unknown_name"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(tags[0], tags[1], "the same name, the same tag");
    assert_ne!(tags[0], tags[2]);
    assert_eq!(tags[0].len(), 8);
    assert!(rows[3].0.is_some());
    assert_eq!(rows[3].1.as_deref(), Some("rosalind"));
    let anywhere: i64 = sqlx::query_scalar(
        "select count(*) from audit_log a where lower(a::text) like '%passphrase-in-the%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(anywhere, 0, "what was typed is nowhere in the audit log");
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
    let set_cookie = cookie_header(&response, "lookout_session")
        .unwrap()
        .to_ascii_lowercase();
    assert!(set_cookie.contains("httponly"), "{set_cookie}");
    assert!(set_cookie.contains("samesite=lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("secure"),
        "plain HTTP here: {set_cookie}"
    );
    // The device cookie: sent only to the login form, only from this site, unreadable by scripts.
    let device = cookie_header(&response, lookout::login::DEVICE_COOKIE)
        .expect("a device cookie")
        .to_ascii_lowercase();
    for attribute in ["httponly", "samesite=strict", "path=/login", "max-age="] {
        assert!(device.contains(attribute), "{device}");
    }
    assert!(!device.contains("secure"), "plain HTTP here: {device}");

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
    for cookie in ["lookout_session", lookout::login::DEVICE_COOKIE] {
        let set_cookie = cookie_header(&response, cookie)
            .unwrap()
            .to_ascii_lowercase();
        assert!(set_cookie.contains("secure"), "{set_cookie}");
    }
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

#[tokio::test]
async fn wrong_logins_sent_all_at_once_are_throttled_as_if_sent_one_after_another() {
    let app = spawn_app().await;
    app.forget_session();
    app.add_user("grace-h", Role::Viewer).await;
    let attempts = (0..16).map(|_| app.log_in("grace-h", "guess-guess-guess"));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|response| response.status)
        .collect();
    // Three free failures and a fourth that starts the waiting, as when sent one by one; the
    // rest are refused before their password is checked.
    let checked = statuses.iter().filter(|status| **status == 303).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!(checked, 4, "{statuses:?}");
    assert_eq!(refused, 12, "{statuses:?}");
}

#[tokio::test]
async fn an_attacker_hammering_a_name_does_not_stop_its_owner_on_a_browser_she_used_before() {
    let app = spawn_app().await;
    app.forget_session();
    let password = app.add_user("hedy", Role::Operator).await;
    // Hedy logged in from this browser before: it holds a device cookie.
    let earlier = app.log_in("hedy", &password).await;
    assert_eq!(earlier.status, 303, "{}", earlier.head);
    let device = device_cookie(&earlier).expect("a device cookie");
    let stored = devices_of(&app, "hedy").await;
    assert_eq!(stored.len(), 1);
    let token = device.split_once('=').unwrap().1;
    assert_eq!(
        stored[0].0,
        Sha256::digest(token.as_bytes()).to_vec(),
        "only a hash of the token is stored"
    );

    // Someone else guesses at her name (from the same address, even) until each attempt must
    // wait 4 s, long enough for what follows...
    app.forget_session();
    hammer(&app, "hedy", 6).await;
    assert_eq!(app.log_in("hedy", "guess-guess-guess").await.status, 429);
    // ...and stays throttled, whatever they try without her device cookie.
    assert_eq!(app.log_in("hedy", &password).await.status, 429);
    let stolen_elsewhere = log_in_with(&app, "lookout_device=abc", "hedy", &password).await;
    assert_eq!(
        stolen_elsewhere.status, 429,
        "a made-up cookie is no cookie"
    );

    // Hedy's browser is throttled on its own: her typo is answered, not refused...
    let typo = log_in_with(&app, &device, "hedy", "hedy-typo-typo").await;
    assert_eq!(typo.status, 303, "{}", typo.head);
    assert_eq!(typo.header("location"), Some("/login?failed=1&next=%2F"));
    assert_eq!(
        devices_of(&app, "hedy").await[0].1,
        1,
        "one failure counted"
    );
    // ...and she gets in.
    let hedy = log_in_with(&app, &device, "hedy", &password).await;
    assert_eq!(hedy.status, 303, "{}", hedy.head);
    assert_eq!(hedy.header("location"), Some("/"));
    let session = hedy.set_cookie().expect("a session");
    app.use_session(&Some(session));
    assert_eq!(app.get("/").await.status, 200);
    app.forget_session();

    // Her cookie is renewed at each login; the old token is spent.
    let renewed = device_cookie(&hedy).expect("a new device cookie");
    assert_ne!(renewed, device);
    let stored = devices_of(&app, "hedy").await;
    assert_eq!(stored.len(), 1, "replaced, not added");
    assert_eq!(stored[0].1, 0, "failures forgiven at a success");
    assert_eq!(
        log_in_with(&app, &device, "hedy", &password).await.status,
        429,
        "the old token is the attacker's lot now"
    );

    // The cookie speaks for her name only, and the attacker is still throttled.
    app.add_user("alan", Role::Viewer).await;
    assert_eq!(
        log_in_with(&app, &renewed, "alan", "alan-anything")
            .await
            .status,
        429
    );
    assert_eq!(app.log_in("hedy", "guess-guess-guess").await.status, 429);
    let audited: Vec<serde_json::Value> = app
        .audited("login")
        .await
        .into_iter()
        .filter(|(name, _)| name.as_deref() == Some("hedy"))
        .map(|(_, detail)| detail)
        .collect();
    assert_eq!(
        audited,
        [
            serde_json::json!({"device": false}),
            serde_json::json!({"device": true})
        ]
    );
}

#[tokio::test]
async fn a_device_cookie_wears_out_after_wrong_passwords_and_at_a_password_change() {
    let app = spawn_app().await;
    app.forget_session();
    let password = app.add_user("barbara-l", Role::Viewer).await;
    let login = app.log_in("barbara-l", &password).await;
    let device = device_cookie(&login).expect("a device cookie");
    let token_hash = Sha256::digest(device.split_once('=').unwrap().1.as_bytes()).to_vec();
    let store = store(&app).await;
    let lifetime = Duration::from_secs(3600);
    let user_id = store
        .login_device_user(&token_hash, "BARBARA-L", lifetime)
        .await
        .unwrap()
        .expect("her device, any letter case");
    assert_eq!(
        store
            .login_device_user(&token_hash, "someone-else", lifetime)
            .await
            .unwrap(),
        None
    );
    // Wrong passwords in a row, on any instance, up to the limit: then the device is forgotten.
    for _ in 0..4 {
        assert!(!store.login_device_failed(&token_hash, 5).await.unwrap());
    }
    assert!(store.login_device_failed(&token_hash, 5).await.unwrap());
    assert!(devices_of(&app, "barbara-l").await.is_empty());

    // A user keeps only her newest few devices.
    for n in 0..5u8 {
        store
            .remember_login_device(user_id, &[n; 32], None, 3, lifetime)
            .await
            .unwrap();
    }
    let kept: Vec<Vec<u8>> = devices_of(&app, "barbara-l")
        .await
        .into_iter()
        .map(|(hash, _)| hash)
        .collect();
    assert_eq!(kept, [vec![2; 32], vec![3; 32], vec![4; 32]]);

    // Whoever logged in with an old password may hold a device cookie: a new one forgets them.
    accounts::change_password(&store, Actor::CLI, "barbara-l", "a brand new passphrase")
        .await
        .unwrap();
    assert!(devices_of(&app, "barbara-l").await.is_empty());
}

#[tokio::test]
async fn after_logging_in_a_browser_is_never_sent_off_site() {
    let app = spawn_app().await;
    app.forget_session();
    let password = app.add_user("katherine", Role::Viewer).await;
    // Browsers drop a tab or newline inside a URL: "/\t/evil.example" would be "//evil.example".
    let response = app
        .post_form(
            "/login",
            &[
                ("name", "katherine"),
                ("password", &password),
                ("next", "/\t/evil.example"),
            ],
        )
        .await;
    assert_eq!(response.status, 303, "{}", response.head);
    assert_eq!(response.header("location"), Some("/"));
    app.forget_session();
    for next in [
        "/\n/evil.example",
        "/\\evil.example",
        " //evil.example",
        "/\x7f/x",
    ] {
        let failed = app
            .post_form(
                "/login",
                &[
                    ("name", "katherine"),
                    ("password", "wrong-wrong-wrong"),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(
            failed.header("location"),
            Some("/login?failed=1&next=%2F"),
            "{next:?}"
        );
    }
}

/// A login form is a few hundred bytes: an anonymous client must not make Lookout read
/// megabytes per request (axum's default limit) before the form is even looked at.
#[tokio::test]
async fn a_login_body_over_the_limit_is_refused_unread() {
    let app = spawn_app().await;
    app.forget_session();
    let origin = format!("Origin: {}", app.origin);
    let form = "Content-Type: application/x-www-form-urlencoded";
    // Exactly at the limit: read, and answered as any failed login.
    let prefix = "name=nobody&next=%2F&password=";
    let at_limit = format!(
        "{prefix}{}",
        "x".repeat(lookout::web::REQUEST_BODY_LIMIT - prefix.len())
    );
    let answer = http_request(app.port, "POST", "/login", &[&origin, form], &at_limit).await;
    assert_eq!(answer.status, 303, "{}", answer.head);
    // One byte more declared: refused before the body is read (none is sent).
    let over = format!("Content-Length: {}", lookout::web::REQUEST_BODY_LIMIT + 1);
    let answer = raw_request(
        app.port,
        &format!("POST /login HTTP/1.0\r\n{origin}\r\n{form}\r\n{over}\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&answer), 413, "{answer}");
}

/// Leptos' server functions read a body whole: the limit must hold for them too, for a
/// signed-in user as for anyone. (A body that grows past the limit unannounced is
/// web::bounded_bodies' unit test.)
#[tokio::test]
async fn a_server_function_body_over_the_limit_is_refused() {
    let app = spawn_app().await;
    let session = app.sign_in_as("heavy", Role::Viewer).await.unwrap();
    let origin = format!("Origin: {}", app.origin);
    let cookie = format!("Cookie: {session}");
    let path = "/api/load_topic_detail";
    let over = format!("Content-Length: {}", lookout::web::REQUEST_BODY_LIMIT + 1);
    let answer = raw_request(
        app.port,
        &format!("POST {path} HTTP/1.0\r\n{origin}\r\n{cookie}\r\n{over}\r\n\r\n"),
    )
    .await;
    assert_eq!(status_of(&answer), 413, "{answer}");

    assert_eq!(app.get("/healthz").await.status, 200);
}
