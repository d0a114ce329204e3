//! `lookout demo`, the real binary: it becomes ready, its status page shows the simulated
//! devices' values, the first run writes a week of their history, the password it prints logs
//! in, a second run reuses what the first set up and writes no history again, and without
//! DATABASE_URL it runs a private PostgreSQL that is stopped when the demo ends.

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{fresh_database, http_request, unique_name, HttpResponse};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Long enough for a first run's initdb on a busy machine.
const READY_WITHIN: Duration = Duration::from_secs(120);

#[derive(Clone, Copy)]
enum Database<'a> {
    Url(&'a str),
    /// No DATABASE_URL: a private cluster under this directory.
    Private(&'a Path),
}

/// A running `lookout demo` and what it printed once ready.
struct Demo {
    child: Child,
    port: u16,
    /// The welcome text on stdout.
    welcome: String,
    stderr: Arc<Mutex<String>>,
}

impl Demo {
    async fn start(database: Database<'_>) -> Demo {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lookout"));
        command
            .args(["demo", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info,rumqttd=off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match database {
            Database::Url(url) => command.env("DATABASE_URL", url),
            Database::Private(dir) => command
                .env_remove("DATABASE_URL")
                .arg("--data-dir")
                .arg(dir),
        };
        let mut child = command.spawn().expect("the lookout binary runs");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut errors = child.stderr.take().unwrap();
        let collected = stderr.clone();
        tokio::spawn(async move {
            let mut buffer = [0; 4096];
            while let Ok(n @ 1..) = errors.read(&mut buffer).await {
                collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });

        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut welcome = String::new();
        let ready = tokio::time::timeout(READY_WITHIN, async {
            while let Ok(Some(line)) = lines.next_line().await {
                welcome.push_str(&line);
                welcome.push('\n');
                if line.trim_start().starts_with("Ctrl-C") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "the demo did not become ready; it printed:\n{welcome}\nand logged:\n{}",
            stderr.lock().unwrap()
        );
        // Later output is not needed, but the pipe must not fill up and block the demo.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let dashboard = field(&welcome, "Dashboard:");
        let port = dashboard
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {dashboard:?}"));
        Demo {
            child,
            port,
            welcome,
            stderr,
        }
    }

    /// The password printed, if this run printed one.
    fn password(&self) -> Option<String> {
        let line = field(&self.welcome, "Password:");
        (!line.starts_with("printed")).then(|| line.split_whitespace().next().unwrap().to_owned())
    }

    async fn get(&self, path: &str) -> HttpResponse {
        http_request(self.port, "GET", path, &[], "").await
    }

    /// Asks for `path` until `wanted` holds for the body; fails after 60 s with the last body.
    async fn get_until(&self, path: &str, wanted: impl Fn(&str) -> bool) -> HttpResponse {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let response = self.get(path).await;
            if response.status == 200 && wanted(&response.body) {
                return response;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never showed what was expected: {} {}",
                response.head,
                response.body
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn log_in(&self, name: &str, password: &str) -> HttpResponse {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("name", name), ("password", password), ("next", "/")])
            .finish();
        let origin = format!("Origin: http://127.0.0.1:{}", self.port);
        let headers = [
            origin.as_str(),
            "Content-Type: application/x-www-form-urlencoded",
        ];
        http_request(self.port, "POST", "/login", &headers, &body).await
    }

    /// Stops the demo as a service manager would, and checks it ended cleanly.
    async fn stop(mut self) {
        let pid = self.child.id().expect("the demo is still running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the demo stops within a minute of SIGTERM")
            .unwrap();
        assert!(
            status.success(),
            "the demo ended with {status}; it logged:\n{}",
            self.stderr.lock().unwrap()
        );
    }
}

/// A test that fails midway still stops its demo the gentle way, so a private PostgreSQL does not
/// outlive it.
impl Drop for Demo {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        for _ in 0..300 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The rest of the welcome line labelled `label`.
fn field<'a>(welcome: &'a str, label: &str) -> &'a str {
    welcome
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{welcome}"))
        .trim()
}

/// A login form's answer that lets the user in: on to the page asked for, with a session.
/// A refusal goes back to the form (`/login?failed=1...`).
fn logged_in(response: &HttpResponse) -> bool {
    response.status == 303
        && response.header("location") == Some("/")
        && response.set_cookie().is_some()
}

/// A temperature as the status page shows one (`17.4 °C`).
fn shows_a_temperature(body: &str) -> bool {
    body.match_indices(" °C").any(|(at, _)| {
        let before = &body[..at];
        let number = before
            .rsplit(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .next()
            .unwrap_or("");
        number
            .parse::<f64>()
            .is_ok_and(|t| (-30.0..50.0).contains(&t))
    })
}

/// What the page shows once every kind of device has reported.
fn shows_every_device(body: &str) -> bool {
    shows_a_temperature(body)
        && body.contains("m/s")
        && ["hilltop", "harbour", "lighthouse", "orchard"]
            .iter()
            .all(|node| body.contains(node))
}

async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

/// What a run left in the database: demo pages, their widgets, admins, liveness rules, the
/// public audience, named series.
async fn set_up_rows(db: &PgPool) -> [i64; 6] {
    [
        count(db, "select count(*) from status_page where slug = 'demo'").await,
        count(db, "select count(*) from status_widget").await,
        count(db, "select count(*) from app_user where role = 'admin'").await,
        count(db, "select count(*) from liveness_rule").await,
        count(db, "select count(*) from access_rule where role = 'public'").await,
        count(db, "select count(*) from value_series").await,
    ]
}

/// What a topic holds from before `before`: its oldest time, how many messages, how many of them
/// are numbers, and the smallest and largest number.
struct Past {
    oldest: DateTime<Utc>,
    messages: i64,
    numbers: i64,
    min: f64,
    max: f64,
}

async fn past(db: &PgPool, topic: &str, before: DateTime<Utc>) -> Past {
    let (oldest, messages, numbers, min, max): (DateTime<Utc>, i64, i64, f64, f64) =
        sqlx::query_as(
            "select min(received_at), count(*), count(value), min(value), max(value) \
             from message where topic_id = (select id from topic where name = $1) \
             and received_at < $2",
        )
        .bind(topic)
        .bind(before)
        .fetch_one(db)
        .await
        .unwrap_or_else(|error| panic!("no history of {topic}: {error}"));
    Past {
        oldest,
        messages,
        numbers,
        min,
        max,
    }
}

/// Messages received before `before`, and how many of them share their topic and time with
/// another.
async fn history_rows(db: &PgPool, before: DateTime<Utc>) -> (i64, i64) {
    sqlx::query_as(
        "select (select count(*) from message where received_at < $1), \
                (select count(*) from (select topic_id, received_at from message \
                                       where received_at < $1 \
                                       group by 1, 2 having count(*) > 1) twice)",
    )
    .bind(before)
    .fetch_one(db)
    .await
    .unwrap()
}

/// The first run wrote days of history: of the temperature, numbers a thermometer could show,
/// reaching back more than six days; of the pump's status, times it went and came back.
async fn check_history(db: &PgPool, started: DateTime<Utc>) {
    let temperature = past(db, "demo/weather/temperature", started).await;
    assert!(
        temperature.oldest < started - TimeDelta::days(6),
        "the temperature's history starts at {}",
        temperature.oldest
    );
    assert!(
        temperature.messages >= 6 * 24 * 60,
        "{} temperatures",
        temperature.messages
    );
    assert_eq!(
        temperature.numbers, temperature.messages,
        "every one a number"
    );
    assert!(
        -30.0 <= temperature.min && temperature.max <= 50.0 && temperature.min < temperature.max,
        "temperatures from {} to {}",
        temperature.min,
        temperature.max
    );
    // The servers' CPU, a field of their JSON health, is charted from the same past.
    let cpu_minutes = count(
        db,
        "select count(*) from value_rollup r join value_series s on s.id = r.series \
         where s.pointer = '/cpu' and r.level = 1",
    )
    .await;
    assert!(cpu_minutes >= 6 * 24 * 60, "{cpu_minutes} minutes of CPU");
    let pump: Vec<(String, i64)> = sqlx::query_as(
        "select convert_from(payload, 'UTF8'), count(*) from message \
         where topic_id = (select id from topic where name = 'demo/pumps/pump-1/status') \
         and received_at < $1 group by 1 order by 1",
    )
    .bind(started)
    .fetch_all(db)
    .await
    .unwrap();
    assert!(
        matches!(pump.as_slice(), [(offline, o), (online, n)]
            if offline == "offline" && online == "online" && *o >= 10 && *n >= 10),
        "the pump's past: {pump:?}"
    );
}

/// The first run sets up the page, writes the history and prints a password; the second reuses
/// them all.
async fn check_two_runs(database: Database<'_>, database_url: &str) {
    // Whatever the demo stores from before this moment is history it wrote, not live readings.
    let started = Utc::now();
    let first = Demo::start(database).await;
    let password = first
        .password()
        .unwrap_or_else(|| panic!("the first run prints a password:\n{}", first.welcome));
    assert!(first.welcome.contains("/status/demo"), "{}", first.welcome);
    let page = first.get_until("/status/demo", shows_every_device).await;
    assert!(page.body.contains("Lookout demo"), "{}", page.body);

    let refused = first.log_in("admin", "not-the-password").await;
    assert!(!logged_in(&refused), "{}", refused.head);
    let login = first.log_in("admin", &password).await;
    assert!(logged_in(&login), "{}", login.head);

    let db = PgPool::connect(database_url).await.unwrap();
    let after_first = set_up_rows(&db).await;
    assert_eq!(after_first[0], 1, "one demo page");
    assert!(
        after_first[1] >= 6,
        "a widget of every kind: {after_first:?}"
    );
    assert_eq!(after_first[2], 1, "one admin");
    assert_eq!(after_first[3], 3, "three liveness rules");
    assert_eq!(after_first[4], 7, "a public audience of the page's topics");
    assert_eq!(after_first[5], 6, "six named series");
    // The public audience holds everything the page shows: no widget is left out, and the pump
    // (a device) has its state.
    let json = first.get("/status/demo.json").await;
    let snapshot: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let widgets = snapshot["widgets"].as_array().unwrap();
    assert_eq!(widgets.len() as i64, after_first[1], "{snapshot}");
    let pump = widgets.iter().find(|w| w["label"] == "Pump").unwrap();
    assert!(pump["status"].is_string(), "{pump}");
    // The simulated week shows on the uptime bar at once, with the pump's outages.
    let bar = widgets.iter().find(|w| w["kind"] == "uptime_bar").unwrap();
    let days = bar["days"].as_array().unwrap();
    let seen = days.iter().filter(|day| day["percent"].is_number()).count();
    assert!((7..=8).contains(&seen), "{bar}");
    assert!(
        days.iter().any(|day| day["down_ms"].as_i64() > Some(0)),
        "{bar}"
    );
    let mesh = widgets.iter().find(|w| w["kind"] == "table").unwrap();
    assert_eq!(mesh["rows"].as_array().unwrap().len(), 4, "{mesh}");
    let nodes = widgets.iter().find(|w| w["kind"] == "devices").unwrap();
    assert_eq!(nodes["devices"].as_array().unwrap().len(), 4, "{nodes}");
    let incidents = widgets.iter().find(|w| w["kind"] == "incidents").unwrap();
    assert_eq!(incidents["text"], "No open incidents", "{incidents}");
    // Wind speed and gusts on one chart: both series in its legend, every range drawn.
    let wind = widgets.iter().find(|w| w["kind"] == "chart").unwrap();
    let labels: Vec<&str> = wind["chart"]["legend"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["label"].as_str())
        .collect();
    assert_eq!(labels, ["Speed", "Gusts"], "{wind}");
    let drawn = wind["chart"]["ranges"].as_array().unwrap();
    assert!(drawn.iter().all(|range| range["svg"].is_string()), "{wind}");
    check_history(&db, started).await;
    let history = history_rows(&db, started).await;
    assert_eq!(history.1, 0, "no message stored twice");
    db.close().await;
    first.stop().await;

    let second = Demo::start(database).await;
    assert_eq!(second.password(), None, "{}", second.welcome);
    assert!(
        second.welcome.contains("lookout user passwd admin"),
        "{}",
        second.welcome
    );
    second.get_until("/status/demo", shows_a_temperature).await;
    let login = second.log_in("admin", &password).await;
    assert!(
        logged_in(&login),
        "the first password still works: {}",
        login.head
    );
    let db = PgPool::connect(database_url).await.unwrap();
    assert_eq!(set_up_rows(&db).await, after_first, "nothing added twice");
    assert_eq!(
        history_rows(&db, started).await,
        history,
        "no history written twice"
    );
    db.close().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_on_a_given_database_shows_simulated_values_and_a_second_run_reuses_its_set_up() {
    let url = fresh_database().await;
    check_two_runs(Database::Url(&url), &url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_database_url_the_demo_runs_a_private_postgres_and_stops_it() {
    // Under /tmp: when the test runs as root, the postgres user must be able to reach it.
    let dir = PathBuf::from("/tmp").join(unique_name("lookout_demo"));
    let cluster = dir.join("postgres");
    let socket = cluster.join(".s.PGSQL.5432");
    let url = {
        let host: String =
            url::form_urlencoded::byte_serialize(cluster.to_string_lossy().as_bytes()).collect();
        format!("postgres://postgres@localhost:5432/lookout?host={host}")
    };
    check_two_runs(Database::Private(&dir), &url).await;

    assert!(cluster.join("PG_VERSION").exists(), "the cluster is kept");
    assert!(
        !cluster.join("postmaster.pid").exists() && !socket.exists(),
        "the private PostgreSQL is stopped"
    );
    assert!(
        PgPool::connect(&url).await.is_err(),
        "nothing answers at {url}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
