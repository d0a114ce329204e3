//! Starts the real application against a fresh PostgreSQL database and the real broker, and
//! talks to it the way users and devices do: HTTP requests and MQTT publishes.

#![allow(dead_code)] // each test file uses its own part of this

pub mod live_stream;
pub mod process;
pub mod services;
pub mod websocket_front;

use app::domain::roles::Role;
use app::server::store::audit::Actor;
use app::server::store::Store;
use lookout::config::Settings;
use lookout::startup::Application;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server role that may create databases. scripts/test.sh sets it; the default matches the
/// machines this project runs on.
pub fn admin_database_url() -> String {
    std::env::var("LOOKOUT_PG_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn broker_url() -> String {
    std::env::var("LOOKOUT_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".to_owned())
}

/// A name no other test (in this run or a parallel one) uses.
pub fn unique_name(kind: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{kind}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Applies the migrations older than `version` to `db`: the schema an earlier version of
/// Lookout left, for a test of the upgrade from it.
pub async fn migrate_before(db: &PgPool, version: i64) {
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let older = std::env::temp_dir().join(unique_name("migrations"));
    std::fs::create_dir_all(&older).unwrap();
    for file in std::fs::read_dir(&all).unwrap() {
        let file = file.unwrap();
        let name = file.file_name().into_string().unwrap();
        let file_version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if file_version < version {
            std::fs::copy(file.path(), older.join(&name)).unwrap();
        }
    }
    let before = sqlx::migrate::Migrator::new(older.as_path()).await.unwrap();
    before.run(db).await.unwrap();
    std::fs::remove_dir_all(&older).unwrap();
}

/// Creates an empty database on the shared test server and returns its URL.
pub async fn fresh_database() -> String {
    fresh_database_on(&admin_database_url()).await
}

/// Creates an empty database on the server of `admin_url` and returns its URL.
pub async fn fresh_database_on(admin_url: &str) -> String {
    let admin = PgPool::connect(admin_url)
        .await
        .expect("the test PostgreSQL is reachable (see scripts/test.sh)");
    let name = unique_name("lookout_test");
    sqlx::query(&format!("create database {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (server, _) = admin_url.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

pub struct TestApp {
    pub port: u16,
    /// Where `/metrics` is served, when it has an address of its own.
    pub metrics_port: Option<u16>,
    pub db: PgPool,
    /// The session cookie requests carry, once logged in.
    pub cookie: std::sync::Mutex<Option<String>>,
    /// What the app's own pages send as `Origin`.
    pub origin: String,
    /// Every topic of this test lives under it, so tests sharing the broker never meet.
    pub prefix: String,
    pub database_url: String,
    pub client_id: String,
}

/// The token test apps serve `/metrics` with.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789abcdef";
/// The header that carries it.
pub const METRICS_AUTHORIZATION: &str = "Authorization: Bearer test-metrics-token-0123456789abcdef";

/// The variables a test app runs with: a fresh database, port 0, its own client id and its own
/// topic prefix. `extra` adds to or overrides them.
pub fn test_environment(
    database_url: &str,
    broker_url: &str,
    client_id: &str,
    prefix: &str,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", database_url.to_owned()),
        ("LOOKOUT_LISTEN", "127.0.0.1:0".to_owned()),
        ("LOOKOUT_MQTT_URL", broker_url.to_owned()),
        ("LOOKOUT_MQTT_CLIENT_ID", client_id.to_owned()),
        ("LOOKOUT_MQTT_SUBSCRIPTIONS", format!("{prefix}/#")),
        // As a deployment that scrapes it: `/metrics` is served only with a token.
        ("LOOKOUT_METRICS_TOKEN", METRICS_TOKEN.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in extra {
        vars.insert((*key).to_owned(), (*value).to_owned());
    }
    vars
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// As [`spawn_app`], with a chance to adjust the settings first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_via(&broker_url(), adjust).await
}

/// An app of its own (fresh database, topic prefix and client id) on the broker at `broker`.
pub async fn spawn_app_via(broker: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database_url = fresh_database().await;
    let prefix = unique_name("t");
    let client_id = unique_name("lookout");
    spawn_app_on(&database_url, broker, &prefix, &client_id, adjust).await
}

/// Starts an app on a given database, broker, topic prefix and client id (a restart, say).
pub async fn spawn_app_on(
    database_url: &str,
    broker_url: &str,
    prefix: &str,
    client_id: &str,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let vars = test_environment(database_url, broker_url, client_id, prefix, &[]);
    let mut settings = Settings::load_from(None, |name| vars.get(name).cloned()).unwrap();
    adjust(&mut settings);
    let public_origin = settings
        .web
        .public_url
        .as_ref()
        .map(|url| url.value.origin().ascii_serialization());
    let app = Application::build(settings)
        .await
        .expect("the application starts");
    let port = app.port();
    let metrics_port = app.metrics_port();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        port,
        metrics_port,
        db: PgPool::connect(database_url).await.unwrap(),
        cookie: Default::default(),
        origin: public_origin.unwrap_or_else(|| format!("http://127.0.0.1:{port}")),
        prefix: prefix.to_owned(),
        database_url: database_url.to_owned(),
        client_id: client_id.to_owned(),
    };
    // Most tests look at the dashboard, which needs a login; a viewer sees every topic by the
    // rules a fresh install starts with.
    let password = app.add_user("test-viewer", Role::Viewer).await;
    let response = app.log_in("test-viewer", &password).await;
    assert_eq!(response.status, 303, "{}", response.head);
    app
}

/// An app with the usual signed-in viewer, then an admin `boss` signed in. Returns the viewer's
/// session too, to switch back to it.
pub async fn spawn_as_admin() -> (TestApp, Option<String>) {
    let app = spawn_app().await;
    let viewer = app.session();
    app.sign_in_as("boss", Role::Admin).await;
    (app, viewer)
}

// Status pages, as an admin builds them with the editor's forms.

/// Creates a draft page through the editor and returns its id.
pub async fn create_page(app: &TestApp, slug: &str, title: &str) -> i64 {
    let response = app
        .post_form("/admin/pages/add", &[("slug", slug), ("title", title)])
        .await;
    assert_eq!(response.status, 303, "{}", response.body);
    let location = response.header("location").unwrap().to_owned();
    assert!(location.ends_with("?done=page_added"), "{location}");
    location
        .trim_start_matches("/admin/pages/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

pub async fn add_widget(app: &TestApp, page: i64, fields: &[(&str, &str)]) {
    let page = page.to_string();
    let mut form = vec![("page", page.as_str())];
    form.extend_from_slice(fields);
    post_expecting(app, "/admin/pages/widgets/add", &form, "done=widget_added").await;
}

/// Publishes page `page` (or makes it a draft again) as a public board open to every role.
pub async fn set_published(app: &TestApp, page: i64, slug: &str, title: &str, published: bool) {
    set_board(app, page, slug, title, published, true, "viewer").await;
}

/// Changes page `page`'s settings through the editor's form: published or not, public or not,
/// and the lowest role that gets its own view.
pub async fn set_board(
    app: &TestApp,
    page: i64,
    slug: &str,
    title: &str,
    published: bool,
    public: bool,
    open_to: &str,
) {
    let id = page.to_string();
    let mut form = vec![
        ("id", id.as_str()),
        ("slug", slug),
        ("title", title),
        ("description", "Boiler room, plant 7."),
        ("open_to", open_to),
    ];
    if published {
        form.push(("published", "on"));
    }
    if public {
        form.push(("public", "on"));
    }
    post_expecting(app, "/admin/pages/change", &form, "done=page_changed").await;
}

/// Puts `filter` in the public audience, through the rules page's form.
pub async fn make_public(app: &TestApp, filter: &str) {
    let fields = [
        ("role", "public"),
        ("filter", filter),
        ("permission", "read"),
    ];
    post_expecting(app, "/admin/rules/add", &fields, "done=rule_added").await;
}

/// Lets operators publish to `filter`, through the rules page's form.
pub async fn let_operators_publish(app: &TestApp, filter: &str) {
    let fields = [
        ("role", "operator"),
        ("filter", filter),
        ("permission", "publish"),
    ];
    post_expecting(app, "/admin/rules/add", &fields, "done=rule_added").await;
}

/// Posts an admin form and checks it came back to `page` with `outcome` (`done=...` or
/// `error=...`); returns the page as then shown.
pub async fn post_expecting(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
    outcome: &str,
) -> HttpResponse {
    let response = app.post_form(path, fields).await;
    assert_eq!(
        response.status, 303,
        "{path}: {} {}",
        response.head, response.body
    );
    let location = response.header("location").unwrap_or_default().to_owned();
    assert!(
        location.ends_with(&format!("?{outcome}")),
        "{path} {fields:?}: went to {location}, expected {outcome}"
    );
    let page = app.get(&location).await;
    assert_eq!(page.status, 200, "{location}: {}", page.head);
    page
}

impl TestApp {
    pub fn topic(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.prefix)
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        let cookie = self.cookie_header();
        let headers: Vec<&str> = cookie.iter().map(String::as_str).collect();
        http_request(self.port, "GET", path, &headers, "").await
    }

    fn cookie_header(&self) -> Option<String> {
        let cookie = self.cookie.lock().unwrap().clone();
        cookie.map(|cookie| format!("Cookie: {cookie}"))
    }

    /// A same-origin form post with the session cookie, as the app's own pages send one.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> HttpResponse {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let origin = format!("Origin: {}", self.origin);
        let mut headers = vec![
            origin.as_str(),
            "Content-Type: application/x-www-form-urlencoded",
        ];
        let cookie = self.cookie_header();
        headers.extend(cookie.as_deref());
        let response = http_request(self.port, "POST", path, &headers, &body).await;
        if let Some(cookie) = response.set_cookie() {
            *self.cookie.lock().unwrap() = Some(cookie);
        }
        response
    }

    /// Adds a user straight through the accounts module (as `lookout user add` does) and
    /// returns its password.
    pub async fn add_user(&self, name: &str, role: Role) -> String {
        let store = Store::connect(&self.database_url, Duration::from_secs(10))
            .await
            .unwrap();
        let password = format!("{name}-password-{}", unique_name("pw"));
        app::server::accounts::add_user(&store, Actor::CLI, name, &password, role)
            .await
            .unwrap();
        password
    }

    /// Logs in with the login form; later requests carry the session it starts.
    pub async fn log_in(&self, name: &str, password: &str) -> HttpResponse {
        self.post_form(
            "/login",
            &[("name", name), ("password", password), ("next", "/")],
        )
        .await
    }

    /// Lets viewers read only the topics matching `filters`, instead of everything as a fresh
    /// install does: an admin of its own changes the rules through the admin forms, which apply
    /// at once. The session this app had stays in use.
    pub async fn restrict_viewers_to(&self, filters: &[&str]) {
        let viewer = self.cookie.lock().unwrap().take();
        let admin = unique_name("rules_admin");
        let password = self.add_user(&admin, Role::Admin).await;
        assert_eq!(self.log_in(&admin, &password).await.status, 303);
        let everything: i64 = sqlx::query_scalar(
            "select id from access_rule \
             where role = 'viewer' and filter = '#' and permission = 'read'",
        )
        .fetch_one(&self.db)
        .await
        .unwrap();
        let mut changes = vec![("/admin/rules/delete", vec![("id", everything.to_string())])];
        for filter in filters {
            let fields = [
                ("role", "viewer"),
                ("filter", filter),
                ("permission", "read"),
            ];
            changes.push((
                "/admin/rules/add",
                fields.map(|(k, v)| (k, v.to_owned())).to_vec(),
            ));
        }
        for (path, fields) in changes {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = self.post_form(path, &fields).await;
            let location = response.header("location").unwrap_or_default();
            assert!(location.contains("done="), "{path}: {}", response.head);
        }
        *self.cookie.lock().unwrap() = viewer;
    }

    /// Forgets the session cookie: requests are anonymous again.
    pub fn forget_session(&self) {
        *self.cookie.lock().unwrap() = None;
    }

    /// Adds a user and signs in as them with a session of their own; returns the session, to
    /// switch back to it with [`TestApp::use_session`].
    pub async fn sign_in_as(&self, name: &str, role: Role) -> Option<String> {
        let password = self.add_user(name, role).await;
        // Logging in rotates the session it was sent from: start from none.
        self.forget_session();
        let response = self.log_in(name, &password).await;
        assert_eq!(response.status, 303, "{}", response.head);
        self.session()
    }

    /// The session cookie sent now.
    pub fn session(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    /// Sends `cookie` (a session saved with [`TestApp::session`]) from now on.
    pub fn use_session(&self, cookie: &Option<String>) {
        *self.cookie.lock().unwrap() = cookie.clone();
    }

    /// The audit log's rows of `action`, oldest first: who, and the detail.
    pub async fn audited(&self, action: &str) -> Vec<(Option<String>, serde_json::Value)> {
        let rows: Vec<(Option<String>, String)> = sqlx::query_as(
            "select actor_name, detail::text from audit_log where action = $1 order by id",
        )
        .bind(action)
        .fetch_all(&self.db)
        .await
        .unwrap();
        rows.into_iter()
            .map(|(actor, detail)| (actor, serde_json::from_str(&detail).unwrap()))
            .collect()
    }

    /// Asks for `path` until the body satisfies `wanted`; fails with the last body after 30 s.
    pub async fn get_until(&self, path: &str, wanted: impl Fn(&str) -> bool) -> HttpResponse {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response = self.get(path).await;
            if wanted(&response.body) {
                return response;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never showed what was expected: {}",
                response.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Asks for `/metrics` (with the token) until the body satisfies `wanted`; fails with the
    /// last body after 30 s.
    pub async fn metrics_until(&self, wanted: impl Fn(&str) -> bool) -> HttpResponse {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response =
                http_request(self.port, "GET", "/metrics", &[METRICS_AUTHORIZATION], "").await;
            if wanted(&response.body) {
                return response;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/metrics never showed what was expected: {} {}",
                response.head,
                response.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until `count` messages are stored.
    pub async fn wait_for_stored(&self, count: i64) {
        wait_for_distinct_payloads(&self.db, count, Duration::from_secs(15)).await;
    }
}

/// Logs in through the login form of the instance on `port`, as a browser on its own page would;
/// returns the session cookie (`name=value`).
pub async fn log_in_on(port: u16, name: &str, password: &str) -> String {
    let origin = format!("Origin: http://127.0.0.1:{port}");
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("name", name), ("password", password), ("next", "/")])
        .finish();
    let response = http_request(
        port,
        "POST",
        "/login",
        &[&origin, "Content-Type: application/x-www-form-urlencoded"],
        &body,
    )
    .await;
    assert_eq!(response.status, 303, "{}", response.head);
    response.set_cookie().expect("a session cookie")
}

/// Waits until `count` different payloads are stored (tests make every payload unique, so this
/// counts messages while ignoring at-least-once duplicates). Fails after `patience`.
pub async fn wait_for_distinct_payloads(db: &PgPool, count: i64, patience: Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let stored: i64 = sqlx::query_scalar("select count(distinct payload) from message")
            .fetch_one(db)
            .await
            .unwrap_or(0);
        if stored >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {stored} of {count} messages were stored within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many stored rows repeat a payload already stored: at-least-once duplicates.
pub async fn duplicate_count(db: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) - count(distinct payload) from message")
        .fetch_one(db)
        .await
        .unwrap()
}

/// `count` QoS 1 messages spread over `topics` topics under `prefix`, each payload a JSON object
/// with a unique sequence number starting at `first`.
pub fn sequenced(prefix: &str, first: u64, count: u64, topics: u64) -> Vec<(String, Vec<u8>)> {
    (first..first + count)
        .map(|seq| {
            (
                format!("{prefix}/device-{}/reading", seq % topics),
                format!(r#"{{"seq": {seq}, "value": {}}}"#, seq % 100).into_bytes(),
            )
        })
        .collect()
}

/// Publishes owned messages at QoS 1 to `broker`; returns once the broker acknowledged all.
pub async fn publish_all(broker: &str, messages: &[(String, Vec<u8>)]) {
    let borrowed: Vec<(&str, &[u8], QoS, bool)> = messages
        .iter()
        .map(|(topic, payload)| (topic.as_str(), payload.as_slice(), QoS::AtLeastOnce, false))
        .collect();
    publish_to(broker, &borrowed).await;
}

pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl HttpResponse {
    /// The `name=value` of a `Set-Cookie` header, if the response set one; not the device cookie
    /// that a login sets beside the session's (`login::DEVICE_COOKIE`).
    pub fn set_cookie(&self) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|cookie| !cookie.starts_with("lookout_device="))
    }

    /// The `name=value` of every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.head
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case("set-cookie")
                    .then(|| value.split(';').next().unwrap_or("").trim().to_owned())
            })
            .collect()
    }

    /// A header's value (the first, if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// A plain HTTP/1.0 request (the response arrives whole and unchunked, and the test needs no
/// client library), with extra header lines (`"Origin: http://x"`) and a body.
pub async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> HttpResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // A server that never finishes its answer fails the test with what it sent, rather than
    // holding the whole run until CI's budget is gone.
    let answered =
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw)).await;
    assert!(
        answered.is_ok(),
        "{method} {path}: no complete answer within 60 s; received so far:\n{}",
        String::from_utf8_lossy(&raw)
    );
    answered.unwrap().unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    HttpResponse {
        status: status_of(head),
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Sends `request` exactly as given (head and body) and returns all the server answered, as
/// text: for requests [`http_request`] would make well-formed.
pub async fn raw_request(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let answered =
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw)).await;
    assert!(answered.is_ok(), "no complete answer within 60 s");
    answered.unwrap().unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

/// The status code of a response head (0 if it has none).
pub fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Publishes with a client of its own (a device, as far as Lookout can tell) and returns once
/// the broker has the messages: acknowledged for QoS 1, written to the socket for QoS 0.
pub async fn publish(messages: &[(&str, &[u8], QoS, bool)]) {
    publish_to(&broker_url(), messages).await
}

/// Options for an MQTT client of a test's own (a device, an observer) on `broker`.
pub fn client_options(broker: &str, kind: &str) -> MqttOptions {
    let address = lookout::config::parse_broker_url(broker).unwrap();
    let mut options = MqttOptions::new(unique_name(kind), address.host, address.port);
    if let Some(login) = lookout::config::broker_url_login(broker) {
        options.set_credentials(login.username, login.password);
    }
    options.set_keep_alive(Duration::from_secs(10));
    // Devices may send payloads beyond rumqttc's 10 KiB default.
    options.set_max_packet_size(16 << 20, 16 << 20);
    options
}

/// As [`publish`], to a given broker.
pub async fn publish_to(broker: &str, messages: &[(&str, &[u8], QoS, bool)]) {
    let options = client_options(broker, "device");
    let (client, mut eventloop) = AsyncClient::new(options, messages.len().max(1) * 2);
    for (topic, payload, qos, retain) in messages {
        client
            .publish(*topic, *qos, *retain, payload.to_vec())
            .await
            .unwrap();
    }
    let mut outstanding = messages.len();
    tokio::time::timeout(Duration::from_secs(60), async {
        while outstanding > 0 {
            match eventloop
                .poll()
                .await
                .expect("the test broker is reachable")
            {
                Event::Incoming(Packet::PubAck(_)) | Event::Incoming(Packet::PubComp(_)) => {
                    outstanding -= 1
                }
                Event::Outgoing(Outgoing::Publish(0)) => outstanding -= 1, // QoS 0: no ack
                _ => {}
            }
        }
        client.disconnect().await.unwrap();
        // Let the disconnect reach the broker.
        while eventloop.poll().await.is_ok() {}
    })
    .await
    .expect("the broker acknowledged every publish");
}

/// Waits (up to a minute) until `query` returns at least `count`.
pub async fn wait_for_count(db: &PgPool, query: &str, count: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found: i64 = sqlx::query_scalar(query).fetch_one(db).await.unwrap();
        if found >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{query}: {found}, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
