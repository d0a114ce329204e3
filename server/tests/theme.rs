//! The colour theme: the buttons every page has post a plain form that remembers the choice in a
//! cookie and comes back, and `/theme.css` applies it, to anonymous visitors of status pages as
//! to signed-in users.

mod support;

use support::{http_request, spawn_app, HttpResponse, TestApp};

/// Posts the theme buttons' form as a page at `referer` does (a path here, or a whole URL;
/// nothing for no `Referer` at all).
async fn choose(app: &TestApp, theme: &str, referer: &str) -> HttpResponse {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("theme", theme)])
        .finish();
    let origin = format!("Origin: {}", app.origin);
    let referer = match referer {
        "" => None,
        path if path.starts_with('/') => Some(format!("Referer: {}{path}", app.origin)),
        url => Some(format!("Referer: {url}")),
    };
    let mut headers = vec![
        origin.as_str(),
        "Content-Type: application/x-www-form-urlencoded",
    ];
    headers.extend(referer.as_deref());
    http_request(app.port, "POST", "/theme", &headers, &body).await
}

async fn stylesheet(app: &TestApp, headers: &[&str]) -> HttpResponse {
    http_request(app.port, "GET", "/theme.css", headers, "").await
}

#[tokio::test]
async fn a_chosen_theme_is_remembered_and_applied_until_the_system_one_is_chosen_again() {
    let app = spawn_app().await;

    let chosen = choose(&app, "dark", "/status/plant?x=1").await;
    assert_eq!(chosen.status, 303, "{}", chosen.head);
    assert_eq!(chosen.header("location"), Some("/status/plant?x=1"));
    let cookie = chosen
        .set_cookies()
        .into_iter()
        .find(|cookie| cookie.starts_with("lookout_theme="))
        .expect("the choice is remembered in a cookie");
    assert_eq!(cookie, "lookout_theme=dark");

    let header = format!("Cookie: {cookie}");
    let dark = stylesheet(&app, &[&header]).await;
    assert_eq!(dark.status, 200);
    assert!(dark.header("content-type").unwrap().starts_with("text/css"));
    assert!(dark.body.contains("color-scheme:dark"), "{}", dark.body);
    assert_eq!(dark.header("cache-control"), Some("private, no-cache"));
    // Asked again with what it has, the browser keeps it.
    let etag = format!("If-None-Match: {}", dark.header("etag").unwrap());
    assert_eq!(stylesheet(&app, &[&header, &etag]).await.status, 304);

    // Without the cookie the system decides, and the dark stylesheet is not reused.
    let system = stylesheet(&app, &[&etag]).await;
    assert_eq!(system.status, 200);
    assert!(!system.body.contains("color-scheme"), "{}", system.body);

    let back_to_system = choose(&app, "system", "/").await;
    assert!(
        back_to_system
            .head
            .to_ascii_lowercase()
            .contains("set-cookie: lookout_theme=; path=/; max-age=0"),
        "{}",
        back_to_system.head
    );
}

#[tokio::test]
async fn the_theme_form_sends_nobody_elsewhere_and_refuses_what_is_no_theme() {
    let app = spawn_app().await;
    for foreign in [
        "https://evil.example//evil.example/",
        "http://127.0.0.1//evil.example/",
        "not a url",
        "",
    ] {
        let answer = choose(&app, "light", foreign).await;
        assert_eq!(answer.status, 303);
        assert_eq!(answer.header("location"), Some("/"), "{foreign:?}");
    }
    // Only ever a path of this site, whatever host the referring page named.
    let elsewhere = choose(&app, "light", "https://evil.example/topics?x=1").await;
    assert_eq!(elsewhere.header("location"), Some("/topics?x=1"));
    let unknown = choose(&app, "purple", "/").await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body.contains("no such theme"), "{}", unknown.body);
    assert!(unknown.set_cookies().is_empty());

    // A form from another site changes nothing (the origin rule every form has).
    let forged = http_request(
        app.port,
        "POST",
        "/theme",
        &[
            "Origin: https://evil.example",
            "Content-Type: application/x-www-form-urlencoded",
        ],
        "theme=dark",
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.head);
}

#[tokio::test]
async fn every_page_links_the_theme_stylesheet_and_offers_the_buttons() {
    let app = spawn_app().await;
    let login = app.get("/login").await;
    assert!(
        login.body.contains(r#"href="/theme.css""#),
        "{}",
        login.body
    );
    assert!(login.body.contains(r#"action="/theme""#));
    // The same form on every page, so a cached page or a 404 tells nothing of its address.
    assert!(!login.body.contains(r#"name="back""#));
}
