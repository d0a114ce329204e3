//! Logging in and out with plain HTML forms (they work with and without JavaScript), the
//! throttle on failed logins, and the visitor of each request. Who may do what is decided by
//! `app::access`; this module only establishes who is asking.

use app::access::{self, Decision, Visitor};
use app::accounts::{self, Actor, AuditEntry};
use app::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower_sessions::Session;

/// The session key holding the signed-in user's id.
const USER_ID: &str = "user_id";
/// The session key holding when a request last moved the session's expiry (Unix milliseconds).
const REFRESHED_AT: &str = "refreshed_at";

/// How stale a signed-in session's expiry may get before a request moves it. A session's expiry
/// moves only when it is saved, and it is saved only when changed; touching it on every request
/// would cost a database write each, so it is touched once per this interval (a quarter of the
/// idle time, at most a minute).
#[derive(Clone, Copy, Debug)]
pub struct SessionRefresh(pub Duration);

impl SessionRefresh {
    pub fn for_idle(idle: Duration) -> Self {
        Self((idle / 4).min(Duration::from_secs(60)))
    }
}

/// Puts the request's [`Visitor`] into its extensions and asks the access policy whether it may
/// have the route. Anonymous visitors are sent to log in (pages) or told 401 (server functions).
/// Whether a request carries no session cookie. Its visitor is then anonymous, known without
/// the session layer or the session store: `status_pages::anonymous_shortcut` serves public pages
/// to such requests directly.
pub fn carries_no_session(headers: &axum::http::HeaderMap) -> bool {
    let prefix = format!("{}=", crate::web::SESSION_COOKIE);
    !headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .any(|value| {
            // Unreadable cookies go the long way, which knows what to do with them.
            value.to_str().map_or(true, |cookies| {
                cookies
                    .split(';')
                    .any(|cookie| cookie.trim_start().starts_with(&prefix))
            })
        })
}

pub async fn resolve_visitor(
    State(state): State<AppState>,
    Extension(refresh): Extension<SessionRefresh>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let routed = request.extensions().get::<MatchedPath>().is_some();
    let area = access::area_of_request(&path, routed);
    let checked = async {
        let user_id = session.get::<i64>(USER_ID).await?;
        let visitor = state.access.visitor(user_id).await?;
        if user_id.is_some() && visitor == Visitor::Anonymous {
            // Disabled or deleted since logging in: the session is worth nothing now.
            session.flush().await?;
        }
        if visitor != Visitor::Anonymous {
            keep_alive(&session, refresh).await?;
        }
        let decision = state.access.rules().await?.route(&visitor, area);
        Ok::<_, anyhow::Error>((visitor, decision))
    }
    .await;
    let (visitor, decision) = match checked {
        Ok(checked) => checked,
        // Public pages need nobody's login, so they stay up while the database is away.
        Err(_) if area == access::Area::Public => (Visitor::Anonymous, Decision::Allow),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), %path, "checking the visitor failed");
            return unavailable();
        }
    };
    match decision {
        Decision::Allow => {
            request.extensions_mut().insert(visitor);
            next.run(request).await
        }
        Decision::LogIn if path.starts_with("/api/") => {
            (StatusCode::UNAUTHORIZED, "Log in first.").into_response()
        }
        Decision::LogIn => {
            let target = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/login?next={}", encode(target))).into_response()
        }
        Decision::Forbidden => {
            (StatusCode::FORBIDDEN, "Your role does not allow this page.").into_response()
        }
    }
}

/// Marks a signed-in session changed once per refresh interval, so that it is saved and its
/// inactivity expiry moves.
async fn keep_alive(
    session: &Session,
    refresh: SessionRefresh,
) -> Result<(), tower_sessions::session::Error> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let refreshed_ms = session.get::<i64>(REFRESHED_AT).await?.unwrap_or(0);
    if now_ms - refreshed_ms >= refresh.0.as_millis() as i64 {
        session.insert(REFRESHED_AT, now_ms).await?;
    }
    Ok(())
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Lookout cannot reach its database right now, so it cannot check your login. \
         Try again shortly; /metrics shows what ingest is doing meanwhile.",
    )
        .into_response()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`. A wrong name and a wrong password get the same answer; repeated failures from
/// one address or for one name must wait longer each time.
pub async fn log_in(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(&form.next);
    let client = peer.ip();
    let client_addr = client.to_string();
    if let Some(wait) = throttle.wait_needed(client, &form.name) {
        let seconds = wait.as_secs().max(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, seconds.to_string())],
            format!("Too many failed logins. Try again in {seconds} s."),
        )
            .into_response();
    }
    let store = &state.store;
    let checked = match accounts::check_login(store, &form.name, &form.password).await {
        Ok(checked) => checked,
        Err(error) => {
            tracing::error!(%error, "checking a login failed");
            return unavailable();
        }
    };
    let Some(accounts::Credentials {
        user,
        password_hash,
    }) = checked
    else {
        throttle.failed(client, &form.name);
        let typed: String = form.name.chars().take(accounts::MAX_NAME_CHARS).collect();
        audit(
            &state,
            AuditEntry::new(
                Actor {
                    user_id: None,
                    name: Some(&typed),
                    client_addr: Some(&client_addr),
                },
                "login_failed",
                serde_json::json!({}),
            ),
        )
        .await;
        return Redirect::to(&format!("/login?failed=1&next={}", encode(&next))).into_response();
    };
    throttle.succeeded(client, &form.name);

    // A new id at login: an id planted in the browser before (session fixation) is worthless.
    let started = async {
        session.cycle_id().await?;
        session.insert(USER_ID, user.id).await?;
        session.save().await?;
        Ok::<_, tower_sessions::session::Error>(session.id())
    }
    .await;
    let session_id = match started {
        Ok(Some(id)) => id.to_string(),
        Ok(None) | Err(_) => {
            tracing::error!(user = %user.name, "starting a session failed");
            return unavailable();
        }
    };
    match store
        .record_user_session(&session_id, user.id, &password_hash)
        .await
    {
        Ok(true) => {}
        // The password changed (or the user was disabled) while this login was being checked.
        Ok(false) => {
            let _ = session.flush().await;
            return Redirect::to(&format!("/login?failed=1&next={}", encode(&next)))
                .into_response();
        }
        Err(error) => {
            tracing::error!(%error, "recording the session failed");
            let _ = session.flush().await;
            return unavailable();
        }
    }
    audit(
        &state,
        AuditEntry::new(
            Actor::user(&user, Some(&client_addr)),
            "login",
            serde_json::json!({}),
        ),
    )
    .await;
    tracing::info!(user = %user.name, role = %user.role, client = %client_addr, "logged in");
    Redirect::to(&next).into_response()
}

/// `POST /logout`: ends the session everywhere (it lives in PostgreSQL, so every instance sees
/// it gone).
pub async fn log_out(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
) -> Response {
    let user_id = session.get::<i64>(USER_ID).await.ok().flatten();
    if let Some(id) = session.id() {
        let _ = state.store.forget_user_session(&id.to_string()).await;
    }
    let _ = session.flush().await;
    if let Some(user_id) = user_id {
        let client_addr = peer.ip().to_string();
        let name = state
            .store
            .user_by_id(user_id)
            .await
            .ok()
            .flatten()
            .map(|user| user.name);
        audit(
            &state,
            AuditEntry::new(
                Actor {
                    user_id: Some(user_id),
                    name: name.as_deref(),
                    client_addr: Some(&client_addr),
                },
                "logout",
                serde_json::json!({}),
            ),
        )
        .await;
    }
    Redirect::to("/login?logged_out=1").into_response()
}

async fn audit(state: &AppState, entry: AuditEntry<'_>) {
    // The login itself has happened either way; a missing audit row is logged loudly.
    if let Err(error) = state.store.audit(&entry).await {
        tracing::error!(%error, action = entry.action, "writing the audit log failed");
    }
}

/// Only a path on this site, so a crafted link cannot send someone elsewhere after logging in.
fn local_path(next: &str) -> String {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n']);
    if safe && !next.starts_with("/login") {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

/// Failed logins per client address and per user name. The first [`FREE_ATTEMPTS`] failures cost
/// nothing (a mistyped password); each failure after them makes the next attempt wait twice as
/// long as the last (1 s, 2 s, 4 s ... up to [`MAX_WAIT`]), so guessing is slow. Kept in memory:
/// each instance throttles on its own, and a restart forgives.
#[derive(Clone, Debug, Default)]
pub struct LoginThrottle {
    failures: Arc<Mutex<HashMap<ThrottleKey, Failures>>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ThrottleKey {
    Client(IpAddr),
    Name(String),
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

const FREE_ATTEMPTS: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Entries idle this long are forgotten, so the map cannot grow without bound.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

impl LoginThrottle {
    fn keys(client: IpAddr, name: &str) -> [ThrottleKey; 2] {
        [
            ThrottleKey::Client(client),
            ThrottleKey::Name(name.trim().to_lowercase()),
        ]
    }

    fn wait_for(failures: &Failures, now: Instant) -> Option<Duration> {
        let excess = failures.count.checked_sub(FREE_ATTEMPTS + 1)?;
        let wait = Duration::from_secs(1u64 << excess.min(16)).min(MAX_WAIT);
        (failures.last + wait)
            .checked_duration_since(now)
            .filter(|left| !left.is_zero())
    }

    /// How long this client or name must still wait, if at all.
    pub fn wait_needed(&self, client: IpAddr, name: &str) -> Option<Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        Self::keys(client, name)
            .iter()
            .filter_map(|key| failures.get(key))
            .filter_map(|entry| Self::wait_for(entry, now))
            .max()
    }

    pub fn failed(&self, client: IpAddr, name: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, entry| now.duration_since(entry.last) < FORGET_AFTER);
        for key in Self::keys(client, name) {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            entry.count += 1;
            entry.last = now;
        }
    }

    pub fn succeeded(&self, client: IpAddr, name: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in Self::keys(client, name) {
            failures.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_three_failures_each_attempt_waits_longer() {
        let throttle = LoginThrottle::default();
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..FREE_ATTEMPTS {
            assert_eq!(throttle.wait_needed(client, "alice"), None);
            throttle.failed(client, "alice");
        }
        assert_eq!(
            throttle.wait_needed(client, "alice"),
            None,
            "three are free"
        );
        throttle.failed(client, "alice");
        let first = throttle.wait_needed(client, "alice").unwrap();
        assert!(first <= Duration::from_secs(1) && !first.is_zero());
        throttle.failed(client, "alice");
        let second = throttle.wait_needed(client, "alice").unwrap();
        assert!(second > Duration::from_secs(1), "{second:?}");
        // The name is throttled from any address, the address for any name.
        let elsewhere: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(throttle.wait_needed(elsewhere, "ALICE ").is_some());
        assert!(throttle.wait_needed(client, "bob").is_some());
        throttle.succeeded(client, "alice");
        assert_eq!(throttle.wait_needed(client, "alice"), None);
    }

    #[test]
    fn after_login_only_local_paths_are_followed() {
        assert_eq!(local_path("/topics?x=1"), "/topics?x=1");
        for foreign in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "",
            "/login",
        ] {
            assert_eq!(local_path(foreign), "/", "{foreign}");
        }
    }
}
