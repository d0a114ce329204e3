//! Logging in and out with plain HTML forms (they work with and without JavaScript), the
//! throttle on failed logins, and the visitor of each request. Who may do what is decided by
//! `app::server::access`; this module only establishes who is asking.

use app::server::access::{self, Decision, Visitor};
use app::server::accounts::{self, LoginCheck};
use app::server::state::AppState;
use app::server::store::audit::{Actor, AuditEntry};
use app::server::store::users::Credentials;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
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

/// What a login attempt goes through before its password is checked: the throttle, the cap on
/// password checks running at once, and how device cookies are set. One per process.
#[derive(Clone, Debug)]
pub struct LoginGuard {
    throttle: LoginThrottle,
    checks: accounts::PasswordChecks,
    /// Whether cookies get `Secure` (HTTPS, as for the session cookie).
    secure_cookies: bool,
}

impl LoginGuard {
    pub fn new(secure_cookies: bool) -> Self {
        Self {
            throttle: LoginThrottle::default(),
            checks: accounts::PasswordChecks::for_this_machine(),
            secure_cookies,
        }
    }
}

// Device cookies: what a user whose name is under attack can still do.
//
// The throttle counts failures per client address and per typed name, so anybody can make a
// name wait up to `MAX_WAIT` per attempt by guessing at it, and its owner would wait too. After
// a successful login the browser therefore gets a device cookie (OWASP's "device cookies"): a
// random token, HttpOnly, SameSite=Strict, sent only to `/login`, of which PostgreSQL keeps a
// SHA-256 (table `login_device`), so every instance knows it and a copy of the table is no
// cookie. A login that presents a device cookie of the user whose name it types is throttled
// per that device only: not by the name's or the address's counts, which an attacker can trip,
// and its failures do not add to them. Its own count works like the others (three free, then
// waiting twice as long each time), and `DEVICE_MAX_FAILURES` wrong passwords in a row on any
// instance delete the device, so a stolen cookie buys a handful of guesses at most. A device
// cookie never lets anybody in by itself: the password is checked all the same. Each success
// replaces the token (a copied cookie dies when its owner next logs in), a user keeps at most
// `DEVICES_PER_USER`, and a password change forgets them all. A user on a browser that never
// logged in before is throttled like the attacker until the attack stops.

/// The device cookie's name.
pub const DEVICE_COOKIE: &str = "lookout_device";
/// A device unused this long is forgotten (and its cookie expires).
const DEVICE_LIFETIME: Duration = Duration::from_secs(180 * 24 * 3600);
/// Devices kept per user: the newest ones.
const DEVICES_PER_USER: i64 = 10;
/// Wrong passwords in a row with one device cookie, across instances, before it is forgotten.
const DEVICE_MAX_FAILURES: i32 = 10;

/// `POST /login`. A wrong name and a wrong password get the same answer; repeated failures from
/// one address or for one name must wait longer each time (see [`LoginThrottle`]), unless the
/// browser has a device cookie for that name (above).
pub async fn log_in(
    State(state): State<AppState>,
    Extension(guard): Extension<LoginGuard>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(&form.next);
    let client = peer.ip();
    let client_addr = client.to_string();
    let store = &state.store;
    let device = match device_token_hash(&headers) {
        None => None,
        Some(token_hash) => match store
            .login_device_user(&token_hash, &form.name, DEVICE_LIFETIME)
            .await
        {
            Ok(user) => user.map(|_| token_hash),
            Err(error) => {
                tracing::error!(%error, "looking up a login device failed");
                return unavailable();
            }
        },
    };
    let keys = match &device {
        Some(token_hash) => vec![ThrottleKey::device(token_hash)],
        None => guard.throttle.keys(client, &form.name),
    };
    // Checked before waiting for a password check, so throttled guesses never queue for one;
    // then reserved once one is free (two attempts may have passed this check together).
    if let Some(wait) = guard.throttle.wait_needed(&keys) {
        return too_many_failures(wait);
    }
    let Some(slot) = guard.checks.slot().await else {
        return busy();
    };
    let attempt = match guard.throttle.reserve(keys) {
        Ok(attempt) => attempt,
        Err(wait) => return too_many_failures(wait),
    };
    let checked = match accounts::check_login_in_slot(store, slot, &form.name, &form.password).await
    {
        Ok(checked) => checked,
        Err(error) => {
            tracing::error!(%error, "checking a login failed");
            return unavailable();
        }
    };
    let known_device = serde_json::json!({ "device": device.is_some() });
    let (user, password_hash) = match checked {
        LoginCheck::Accepted(Credentials {
            user,
            password_hash,
        }) => (user, password_hash),
        LoginCheck::Refused { user } => {
            // The attempt counts as a failure from here on.
            drop(attempt);
            if let Some(token_hash) = &device {
                if let Err(error) = store
                    .login_device_failed(token_hash, DEVICE_MAX_FAILURES)
                    .await
                {
                    tracing::error!(%error, "counting a login device's failure failed");
                }
            }
            let entry = match &user {
                Some(user) => AuditEntry::new(
                    Actor::user(user, Some(&client_addr)),
                    "login_failed",
                    known_device,
                ),
                // What was typed is not kept: a name that matches nobody is often a password
                // typed into the wrong field. A short keyed hash still shows which failures
                // typed the same name (one instance, until it restarts: the key is in memory).
                None => AuditEntry::new(
                    Actor {
                        user_id: None,
                        name: None,
                        client_addr: Some(&client_addr),
                    },
                    "login_failed",
                    serde_json::json!({ "unknown_name": guard.throttle.name_tag(&form.name) }),
                ),
            };
            audit(&state, entry).await;
            return Redirect::to(&format!("/login?failed=1&next={}", encode(&next)))
                .into_response();
        }
    };
    attempt.succeeded();

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
    let device_cookie = remember_device(&state, &guard, user.id, device.as_ref()).await;
    audit(
        &state,
        AuditEntry::new(
            Actor::user(&user, Some(&client_addr)),
            "login",
            known_device,
        ),
    )
    .await;
    tracing::info!(user = %user.name, role = %user.role, client = %client_addr, "logged in");
    let mut response = Redirect::to(&next).into_response();
    if let Some(cookie) = device_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn too_many_failures(wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string())],
        format!("Too many failed logins. Try again in {seconds} s."),
    )
        .into_response()
}

fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "2")],
        "Lookout is busy checking other logins right now. Try again in a few seconds.",
    )
        .into_response()
}

/// The SHA-256 of the device cookie's token, if the request carries a well-formed one.
fn device_token_hash(headers: &HeaderMap) -> Option<[u8; 32]> {
    let prefix = format!("{DEVICE_COOKIE}=");
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().strip_prefix(&prefix))
        // Anything else is not one of ours: not looked up, and no cost to anybody.
        .find(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|token| Sha256::digest(token.to_ascii_lowercase().as_bytes()).into())
}

/// Records a new device for `user_id` (replacing `presented`, the token hash the browser sent,
/// when it was this user's) and returns its cookie. A failure here costs only the device: the
/// login itself has succeeded.
async fn remember_device(
    state: &AppState,
    guard: &LoginGuard,
    user_id: i64,
    presented: Option<&[u8; 32]>,
) -> Option<HeaderValue> {
    let token = hex(&accounts::random_bytes::<32>());
    let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let remembered = state
        .store
        .remember_login_device(
            user_id,
            &token_hash,
            presented.map(|hash| hash.as_slice()),
            DEVICES_PER_USER,
            DEVICE_LIFETIME,
        )
        .await;
    if let Err(error) = remembered {
        tracing::error!(%error, "recording a login device failed");
        return None;
    }
    let secure = if guard.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{DEVICE_COOKIE}={token}; Path={LOG_IN_PATH}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        DEVICE_LIFETIME.as_secs()
    );
    HeaderValue::from_str(&cookie).ok()
}

/// Where the login form posts, and the only path the device cookie is sent to.
const LOG_IN_PATH: &str = "/login";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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

/// Where to go after logging in: a path on this site ([`crate::web::local_path`]) other than
/// the login page itself; the overview otherwise.
fn local_path(next: &str) -> String {
    match crate::web::local_path(next) {
        Some(path) if !path.starts_with(LOG_IN_PATH) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Failed logins per client address and per user name (or per device cookie, see above). The
/// first [`FREE_ATTEMPTS`] failures cost nothing (a mistyped password); each failure after them
/// makes the next attempt wait twice as long as the last (1 s, 2 s, 4 s ... up to [`MAX_WAIT`]),
/// so guessing is slow.
///
/// An attempt is counted as a failure when it is let through, before its password is checked
/// ([`LoginThrottle::reserve`]), and forgiven only if it succeeds: otherwise attempts sent in
/// parallel would all pass the check before any failure was recorded, and one that the client
/// abandons mid-check would cost nothing.
///
/// Memory is bounded: names are kept as a keyed hash (16 bytes, key random per process, so
/// nobody can aim at a collision), addresses as themselves (IPv6 by /64, what one subscriber
/// gets), at most [`CAPACITY`] entries, the least recently counted evicted first, and entries
/// idle for [`FORGET_AFTER`] dropped as new ones arrive. Kept in memory: each instance throttles
/// on its own, and a restart forgives.
#[derive(Clone, Debug)]
pub struct LoginThrottle {
    ledger: Arc<Mutex<Ledger>>,
    /// The key of the names' hashes.
    key: Arc<[u8; 32]>,
}

/// What an attempt is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ThrottleKey {
    Client(IpAddr),
    Name([u8; 16]),
    Device([u8; 16]),
}

impl ThrottleKey {
    fn device(token_hash: &[u8; 32]) -> Self {
        Self::Device(first_16(token_hash))
    }
}

fn first_16(bytes: &[u8; 32]) -> [u8; 16] {
    let mut first = [0; 16];
    first.copy_from_slice(&bytes[..16]);
    first
}

#[derive(Debug)]
struct Ledger {
    entries: HashMap<ThrottleKey, Failures>,
    /// Keys from least to most recently counted. An item whose stamp is not its entry's is
    /// stale (counted again since, or forgiven) and skipped: cheaper than moving items.
    order: VecDeque<(ThrottleKey, u64)>,
    next_stamp: u64,
    capacity: usize,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    stamp: u64,
}

const FREE_ATTEMPTS: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(300);
/// Entries idle this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// At most this many addresses, names and devices are remembered (under 16 MiB, the map and its
/// order together). Evicting forgives, but an attacker pays a password check per entry to push
/// one out.
const CAPACITY: usize = 65_536;

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl LoginThrottle {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            ledger: Arc::new(Mutex::new(Ledger {
                entries: HashMap::new(),
                order: VecDeque::new(),
                next_stamp: 0,
                capacity: capacity.max(1),
            })),
            key: Arc::new(accounts::random_bytes()),
        }
    }

    /// The keys of an attempt without a device cookie: its client and the name it typed.
    fn keys(&self, client: IpAddr, name: &str) -> Vec<ThrottleKey> {
        vec![
            ThrottleKey::Client(client_network(client)),
            ThrottleKey::Name(first_16(&self.name_hash(name))),
        ]
    }

    /// A name as logins compare it (any letter case, spaces around ignored), hashed with this
    /// process's key: fixed-size whatever was typed, and nothing typed kept.
    fn name_hash(&self, name: &str) -> [u8; 32] {
        hmac_sha256(&self.key, name.trim().to_lowercase().as_bytes())
    }

    /// A short tag of a typed name for the audit log: equal names, equal tags, in this process.
    fn name_tag(&self, name: &str) -> String {
        hex(&self.name_hash(name)[..4])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long an attempt under `keys` must still wait, if at all.
    fn wait_needed(&self, keys: &[ThrottleKey]) -> Option<Duration> {
        self.lock().wait(keys, Instant::now())
    }

    /// Lets an attempt under `keys` through and counts it as a failure until it succeeds; or
    /// says how long it must still wait.
    fn reserve(&self, keys: Vec<ThrottleKey>) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let mut ledger = self.lock();
        if let Some(wait) = ledger.wait(&keys, now) {
            return Err(wait);
        }
        for key in &keys {
            ledger.count(*key, now);
        }
        drop(ledger);
        Ok(Attempt {
            throttle: self.clone(),
            keys,
            succeeded: false,
        })
    }
}

/// An attempt let through by [`LoginThrottle::reserve`]: a failure unless it succeeds.
#[derive(Debug)]
struct Attempt {
    throttle: LoginThrottle,
    keys: Vec<ThrottleKey>,
    succeeded: bool,
}

impl Attempt {
    /// The password was right: this client, name or device starts afresh.
    fn succeeded(mut self) {
        self.succeeded = true;
        let mut ledger = self.throttle.lock();
        for key in &self.keys {
            ledger.entries.remove(key);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.succeeded {
            // The wait after a failure runs from when its check ended, as it would if the
            // attempts had come one after another.
            let now = Instant::now();
            let mut ledger = self.throttle.lock();
            for key in &self.keys {
                if ledger.entries.contains_key(key) {
                    ledger.count_again(*key, now);
                }
            }
        }
    }
}

impl Ledger {
    fn wait(&self, keys: &[ThrottleKey], now: Instant) -> Option<Duration> {
        keys.iter()
            .filter_map(|key| self.entries.get(key))
            .filter_map(|failures| failures.wait(now))
            .max()
    }

    /// One more failure under `key`.
    fn count(&mut self, key: ThrottleKey, now: Instant) {
        self.touch(key, now, 1);
    }

    /// Moves the last failure under `key` to `now`, without counting another.
    fn count_again(&mut self, key: ThrottleKey, now: Instant) {
        self.touch(key, now, 0);
    }

    fn touch(&mut self, key: ThrottleKey, now: Instant, more: u32) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let failures = self.entries.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            stamp,
        });
        failures.count = failures.count.saturating_add(more);
        failures.last = now;
        failures.stamp = stamp;
        self.order.push_back((key, stamp));
        self.trim(now);
    }

    /// Drops stale items, then entries beyond the capacity or idle too long, oldest first. Each
    /// item is pushed once and popped once, so this is constant time per failure on average;
    /// the occasional compaction keeps the stale items from outnumbering the live ones.
    fn trim(&mut self, now: Instant) {
        while let Some(&(key, stamp)) = self.order.front() {
            let live = self.entries.get(&key).filter(|entry| entry.stamp == stamp);
            match live {
                None => {}
                Some(entry)
                    if self.entries.len() > self.capacity
                        || now.duration_since(entry.last) >= FORGET_AFTER =>
                {
                    self.entries.remove(&key);
                }
                Some(_) => break,
            }
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(key, stamp)| entries.get(key).is_some_and(|e| e.stamp == *stamp));
        }
    }
}

impl Failures {
    fn wait(&self, now: Instant) -> Option<Duration> {
        let excess = self.count.checked_sub(FREE_ATTEMPTS + 1)?;
        let wait = Duration::from_secs(1u64 << excess.min(16)).min(MAX_WAIT);
        (self.last + wait)
            .checked_duration_since(now)
            .filter(|left| !left.is_zero())
    }
}

/// The address a client is throttled by: IPv4 as it is, IPv6 by its /64 (one subscriber
/// usually holds a whole /64, and could otherwise take a fresh address per attempt).
fn client_network(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// HMAC-SHA-256 (RFC 2104) with a 32-byte key; written out, as one use does not warrant a crate.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    /// One attempt that fails, as a login with a wrong password goes through the throttle.
    fn fail(throttle: &LoginThrottle, client: IpAddr, name: &str) {
        drop(throttle.reserve(throttle.keys(client, name)).unwrap());
    }

    fn wait(throttle: &LoginThrottle, client: IpAddr, name: &str) -> Option<Duration> {
        throttle.wait_needed(&throttle.keys(client, name))
    }

    #[test]
    fn after_three_failures_each_attempt_waits_longer() {
        let throttle = LoginThrottle::default();
        for _ in 0..FREE_ATTEMPTS {
            assert_eq!(wait(&throttle, CLIENT, "alice"), None);
            fail(&throttle, CLIENT, "alice");
        }
        assert_eq!(wait(&throttle, CLIENT, "alice"), None, "three are free");
        fail(&throttle, CLIENT, "alice");
        let first = wait(&throttle, CLIENT, "alice").unwrap();
        assert!(first <= Duration::from_secs(1) && !first.is_zero());
        // As if it had waited: the next failure doubles the wait.
        throttle.lock().entries.values_mut().for_each(|entry| {
            entry.last -= Duration::from_secs(1);
        });
        fail(&throttle, CLIENT, "alice");
        let second = wait(&throttle, CLIENT, "alice").unwrap();
        assert!(second > Duration::from_secs(1), "{second:?}");
        // The name is throttled from any address, the address for any name.
        let elsewhere: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(wait(&throttle, elsewhere, "ALICE ").is_some());
        assert!(wait(&throttle, CLIENT, "bob").is_some());
        throttle.lock().entries.clear();
        let attempt = throttle.reserve(throttle.keys(CLIENT, "alice")).unwrap();
        attempt.succeeded();
        assert_eq!(wait(&throttle, CLIENT, "alice"), None);
        assert!(throttle.lock().entries.is_empty(), "a success forgets");
    }

    #[test]
    fn attempts_in_flight_count_as_failures_before_their_check_ends() {
        let throttle = LoginThrottle::default();
        let keys = throttle.keys(CLIENT, "alice");
        let in_flight: Vec<Attempt> = (0..=FREE_ATTEMPTS)
            .map(|_| throttle.reserve(keys.clone()).expect("let through"))
            .collect();
        assert!(
            throttle.reserve(keys.clone()).is_err(),
            "a fifth attempt at once waits as if the four had failed"
        );
        let elsewhere: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(throttle.reserve(throttle.keys(elsewhere, "alice")).is_err());
        drop(in_flight);
        assert!(throttle.reserve(keys).is_err(), "and after they failed");
    }

    #[test]
    fn a_device_is_throttled_apart_from_its_name_and_address() {
        let throttle = LoginThrottle::default();
        for _ in 0..10 {
            let _ = throttle.reserve(throttle.keys(CLIENT, "alice"));
        }
        assert!(wait(&throttle, CLIENT, "alice").is_some());
        let device = vec![ThrottleKey::device(&[7; 32])];
        for _ in 0..=FREE_ATTEMPTS {
            drop(throttle.reserve(device.clone()).expect("its own count"));
        }
        assert!(throttle.reserve(device).is_err(), "and its own limit");
    }

    #[test]
    fn the_throttle_keeps_at_most_its_capacity_and_no_typed_names() {
        let throttle = LoginThrottle::with_capacity(100);
        let last = IpAddr::from(9_999u32.to_be_bytes());
        for n in 0..10_000u32 {
            // Each failure touches its entries twice (let through, then failed), so stale
            // items pile up unless they are dropped.
            fail(
                &throttle,
                IpAddr::from(n.to_be_bytes()),
                &format!("name-{n}"),
            );
        }
        let ledger = throttle.lock();
        assert!(ledger.entries.len() <= 100, "{}", ledger.entries.len());
        assert!(ledger.order.len() <= 2 * 100 + 64, "{}", ledger.order.len());
        for key in throttle.keys(last, "name-9999") {
            assert!(ledger.entries.contains_key(&key), "the newest stay");
        }
        assert!(!format!("{ledger:?}").contains("name-9999"));
        // What CAPACITY's memory estimate assumes: 56 bytes a map slot (at most 2 slots an
        // entry), 32 an order item (at most 4 an entry, the queue's capacity included).
        assert!(std::mem::size_of::<(ThrottleKey, Failures)>() <= 56);
        assert!(std::mem::size_of::<(ThrottleKey, u64)>() <= 32);
    }

    #[test]
    fn idle_entries_are_forgotten_as_new_ones_arrive() {
        let throttle = LoginThrottle::default();
        fail(&throttle, CLIENT, "alice");
        let mut ledger = throttle.lock();
        assert_eq!(ledger.entries.len(), 2);
        let later = Instant::now() + FORGET_AFTER;
        ledger.count(ThrottleKey::Client("198.51.100.1".parse().unwrap()), later);
        assert_eq!(ledger.entries.len(), 1, "only the new one");
    }

    #[test]
    fn names_are_compared_as_logins_compare_them_and_addresses_by_network() {
        let throttle = LoginThrottle::default();
        assert_eq!(
            throttle.keys(CLIENT, " Alice "),
            throttle.keys(CLIENT, "alice")
        );
        assert_ne!(
            throttle.keys(CLIENT, "alice"),
            throttle.keys(CLIENT, "alicf")
        );
        assert_eq!(throttle.name_tag("ALICE").len(), 8);
        assert_eq!(throttle.name_tag("ALICE"), throttle.name_tag("alice"));
        let other_process = LoginThrottle::default();
        assert_ne!(
            throttle.name_hash("alice"),
            other_process.name_hash("alice")
        );
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_network(one), client_network(same_net));
        assert_ne!(client_network(one), client_network(other_net));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_network(mapped), CLIENT);
    }

    #[test]
    fn the_keyed_hash_is_hmac_sha256() {
        // RFC 4231, test case 2: a key shorter than the block is padded with zeros, as here.
        let mut key = [0; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex(&hmac_sha256(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn after_login_only_local_paths_are_followed() {
        for local in [
            "/topics?x=1",
            "/topic/a%2Fb?from=1#latest",
            "/%09/evil.example",
            "/?next=//evil.example",
        ] {
            assert_eq!(local_path(local), local);
        }
        for foreign in [
            "https://evil.example/",
            "javascript:alert(1)",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\x0b/evil.example",
            "/\x0c/evil.example",
            "/\0/evil.example",
            "/\x7f/evil.example",
            " //evil.example",
            "\t//evil.example",
            "/ /evil.example",
            "/\u{a0}/evil.example",
            "/\u{3000}/evil.example",
            "/\u{ff0f}evil.example",
            "evil.example",
            "",
            "/login",
            "/login?next=/",
        ] {
            assert_eq!(local_path(foreign), "/", "{foreign:?}");
        }
        let long = format!("/{}", "a".repeat(2048));
        assert_eq!(local_path(&long), "/");
    }

    #[test]
    fn device_cookies_are_read_only_when_well_formed() {
        let token = "ab".repeat(32);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("lookout_session=x; {DEVICE_COOKIE}={token}")).unwrap(),
        );
        let expected: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        assert_eq!(device_token_hash(&headers), Some(expected));
        for bad in ["abc", &"zz".repeat(32), &"ab".repeat(33)] {
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(&format!("{DEVICE_COOKIE}={bad}")).unwrap(),
            );
            assert_eq!(device_token_hash(&headers), None, "{bad}");
        }
    }
}
