//! Alerts against the real application, broker and database, delivered to a real HTTP receiver
//! on this machine: rules and channels made through the admin forms, messages published to the
//! broker, and what arrives at the receiver read as a chat service or webhook would read it.

mod support;

use app::domain::roles::Role;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use rumqttc::QoS;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::process::Lookout;
use support::services::{free_port, TestBroker};
use support::{
    broker_url, fresh_database, post_expecting, publish, publish_to, spawn_app_via, spawn_as_admin,
    test_environment, unique_name, wait_for_count, TestApp,
};
use tokio::net::TcpListener;

/// What a receiver got, as JSON, and how many of its first answers are failures.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    /// A receiver on a port of its own; answers 503 to its first `fail_first` requests.
    async fn start(fail_first: usize) -> (String, Self) {
        let receiver = Receiver {
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
            ..Receiver::default()
        };
        let app = Router::new()
            .route(
                "/hook",
                post(|State(receiver): State<Receiver>, body: Bytes| async move {
                    let failing = receiver
                        .fail_first
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if failing {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let json = serde_json::from_slice(&body).expect("the body is JSON");
                    receiver.bodies.lock().unwrap().push(json);
                    StatusCode::OK
                }),
            )
            .with_state(receiver.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{address}/hook"), receiver)
    }

    fn states(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|body| body["state"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits (up to `patience`) until `count` notices arrived, doing `meanwhile` every 500 ms.
    async fn wait_for<F, Fut>(&self, count: usize, patience: Duration, mut meanwhile: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let deadline = tokio::time::Instant::now() + patience;
        while self.bodies.lock().unwrap().len() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} notices, got {:?}",
                self.states()
            );
            meanwhile().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn add_channel(app: &TestApp, name: &str, url: &str) -> i64 {
    let fields = [
        ("name", name),
        ("format", "webhook"),
        ("url", url),
        ("template", ""),
    ];
    post_expecting(
        app,
        "/admin/alerts/channels/add",
        &fields,
        "done=channel_added",
    )
    .await;
    sqlx::query_scalar("select id from alert_channel where name = $1")
        .bind(name)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn add_rule(app: &TestApp, fields: &[(&str, &str)]) {
    post_expecting(
        app,
        "/admin/alerts/rules/add",
        fields,
        "done=alert_rule_added",
    )
    .await;
}

async fn publish_value(topic: &str, value: &str) {
    publish(&[(topic, value.as_bytes(), QoS::AtLeastOnce, false)]).await;
}

#[tokio::test]
async fn a_threshold_fires_once_holds_through_its_hysteresis_and_resolves() {
    let (app, _) = spawn_as_admin().await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    let topic = app.topic("boiler/temp");
    let filter = app.topic("+/temp");
    add_rule(
        &app,
        &[
            ("name", "Boiler too hot"),
            ("kind", "threshold"),
            ("topics", &filter),
            ("pointer", ""),
            ("direction", "above"),
            ("trigger", "90"),
            ("recover", "85"),
            ("for_seconds", "0"),
            ("notify_resolve", "on"),
            ("severity", "critical"),
            ("channel", &channel),
        ],
    )
    .await;

    // The engine reads rules at each look (every 10 s): hot until it fires.
    receiver
        .wait_for(1, Duration::from_secs(30), || publish_value(&topic, "95"))
        .await;
    // Below the threshold but above the recovery level: still firing, nothing told.
    for value in ["88", "91", "86"] {
        publish_value(&topic, value).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.states(), ["firing"]);
    publish_value(&topic, "84.5").await;
    receiver
        .wait_for(2, Duration::from_secs(10), || async {})
        .await;
    assert_eq!(receiver.states(), ["firing", "resolved"]);

    let bodies = receiver.bodies();
    let firing = &bodies[0];
    assert_eq!(firing["rule"], "Boiler too hot");
    assert_eq!(firing["subject"], topic.as_str());
    assert_eq!(firing["severity"], "critical");
    assert_eq!(firing["value"], "95");
    assert!(
        firing["link"].as_str().unwrap().ends_with("/boiler/temp"),
        "{firing}"
    );
    assert_eq!(bodies[1]["value"], "84.5");
    assert_ne!(
        bodies[0]["id"], bodies[1]["id"],
        "each notice has its own id"
    );

    // The page shows the rule quiet again, with both notices delivered.
    let page = app.get("/admin/alerts").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Boiler too hot"), "{}", page.body);
    assert_eq!(
        page.body.matches("data-notice=").count(),
        2,
        "{}",
        page.body
    );
    assert!(page.body.contains("delivered"), "{}", page.body);
    let delivered: i64 =
        sqlx::query_scalar("select count(*) from alert_notice where status = 'delivered'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(delivered, 2);
}

#[tokio::test]
async fn a_silence_fires_after_its_duration_and_the_next_message_resolves_it() {
    let (app, _) = spawn_as_admin().await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    let topic = app.topic("heartbeat");
    publish_value(&topic, "1").await;
    add_rule(
        &app,
        &[
            ("name", "Heartbeat stopped"),
            ("kind", "stale"),
            ("topics", &topic),
            ("for_seconds", "3"),
            ("notify_resolve", "on"),
            ("severity", "warning"),
            ("channel", &channel),
        ],
    )
    .await;
    // Read within 10 s, silent for 3 s after.
    receiver
        .wait_for(1, Duration::from_secs(30), || async {})
        .await;
    assert_eq!(receiver.states(), ["firing"]);
    assert_eq!(receiver.bodies()[0]["subject"], topic.as_str());
    publish_value(&topic, "2").await;
    receiver
        .wait_for(2, Duration::from_secs(10), || async {})
        .await;
    assert_eq!(receiver.states(), ["firing", "resolved"]);
}

#[tokio::test]
async fn a_failed_send_is_retried_and_a_test_reaches_the_channel() {
    let (app, _) = spawn_as_admin().await;
    // The first answer is a 503: the test notice waits for its retry (10 s later).
    let (url, receiver) = Receiver::start(1).await;
    let channel = add_channel(&app, "flaky", &url).await;
    post_expecting(
        &app,
        "/admin/alerts/channels/test",
        &[("id", &channel.to_string())],
        "done=channel_test_queued",
    )
    .await;
    // Failing meanwhile, with the reason, on the page.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = app.get("/admin/alerts").await;
        if page.body.contains("failing since") {
            assert!(page.body.contains("503"), "{}", page.body);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", page.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ... and on the overview, for everyone watching, until a send works again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let overview = app.get("/").await;
        if overview
            .body
            .contains("Alert channel \"flaky\" has failed since")
            || overview
                .body
                .contains("Alert channel &quot;flaky&quot; has failed since")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline && receiver.states().is_empty(),
            "the overview never said the channel fails"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    receiver
        .wait_for(1, Duration::from_secs(30), || async {})
        .await;
    assert_eq!(receiver.states(), ["test"]);
    let (attempts, status): (i32, String) =
        sqlx::query_as("select attempts, status from alert_notice")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((attempts, status.as_str()), (2, "delivered"));
    // Delivered again: no longer failing.
    let page = app.get("/admin/alerts").await;
    assert!(!page.body.contains("failing since"), "{}", page.body);
    assert!(page.body.contains("working"), "{}", page.body);
}

#[tokio::test]
async fn bad_rules_and_channels_are_refused_with_the_field_to_fix() {
    let (app, viewer) = spawn_as_admin().await;
    let refused = [
        (
            "/admin/alerts/channels/add",
            vec![
                ("name", "x"),
                ("format", "webhook"),
                ("url", "file:///etc/passwd"),
            ],
            "error=bad_channel_url",
        ),
        (
            "/admin/alerts/channels/add",
            vec![
                ("name", "x"),
                ("format", "slack"),
                ("url", "https://hooks.example/x"),
                ("template", "{{password}}"),
            ],
            "error=bad_channel_template",
        ),
        (
            "/admin/alerts/rules/add",
            vec![
                ("name", "r"),
                ("kind", "threshold"),
                ("topics", "a/#/b"),
                ("direction", "above"),
                ("trigger", "1"),
                ("severity", "info"),
            ],
            "error=bad_alert_topics",
        ),
        (
            "/admin/alerts/rules/add",
            vec![
                ("name", "r"),
                ("kind", "threshold"),
                ("topics", "a/b"),
                ("direction", "above"),
                ("trigger", "90"),
                ("recover", "95"),
                ("severity", "info"),
            ],
            "error=bad_alert_threshold",
        ),
        (
            "/admin/alerts/rules/add",
            vec![
                ("name", "r"),
                ("kind", "device_offline"),
                ("device_rule", "12345"),
                ("severity", "info"),
            ],
            "error=bad_alert_device_rule",
        ),
        (
            "/admin/alerts/rules/add",
            vec![
                ("name", "r"),
                ("kind", "stale"),
                ("topics", "a/b"),
                ("for_seconds", "10"),
                ("reminder_minutes", "1"),
                ("severity", "info"),
            ],
            "error=bad_alert_reminder",
        ),
    ];
    for (path, fields, outcome) in refused {
        let response = app.post_form(path, &fields).await;
        let location = response.header("location").unwrap_or_default().to_owned();
        assert!(location.contains(outcome), "{path} {fields:?}: {location}");
    }
    let stored: i64 = sqlx::query_scalar(
        "select (select count(*) from alert_rule) + (select count(*) from alert_channel)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);

    // A viewer may neither read nor change alerts.
    app.use_session(&viewer);
    let response = app
        .post_form(
            "/admin/alerts/channels/add",
            &[("name", "x"), ("format", "webhook"), ("url", "http://x/")],
        )
        .await;
    assert_eq!(response.status, 403, "{}", response.head);
    assert_eq!(app.get("/admin/alerts").await.status, 403);
}

#[tokio::test]
async fn while_lookout_cannot_see_only_its_own_rule_tells() {
    let mut broker = TestBroker::start().await;
    let app = spawn_app_via(&broker.url(), |_| {}).await;
    app.sign_in_as("boss", Role::Admin).await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    let topic = app.topic("pump/heartbeat");
    publish_to(
        &broker.url(),
        &[(&topic, b"1".as_slice(), QoS::AtLeastOnce, false)],
    )
    .await;
    for (name, kind, extra) in [
        ("Pump silent", "stale", ("topics", topic.as_str())),
        ("Lookout blind", "lookout", ("check", "cannot_see")),
    ] {
        add_rule(
            &app,
            &[
                ("name", name),
                ("kind", kind),
                extra,
                ("for_seconds", "5"),
                ("notify_resolve", "on"),
                ("severity", "critical"),
                ("channel", &channel),
            ],
        )
        .await;
    }
    // Both rules read (within a look), and the pump keeps talking.
    let broker_url = broker.url();
    let heartbeat = || {
        let (url, topic) = (broker_url.clone(), topic.clone());
        async move {
            publish_to(&url, &[(&topic, b"1".as_slice(), QoS::AtLeastOnce, false)]).await;
        }
    };
    for _ in 0..24 {
        heartbeat().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(receiver.states(), Vec::<String>::new());

    // The broker goes away for longer than the silence: Lookout says it cannot see, and the
    // pump's silence (which it could not observe) tells nothing.
    broker.stop();
    receiver
        .wait_for(1, Duration::from_secs(40), || async {})
        .await;
    assert_eq!(receiver.states(), ["firing"]);
    assert_eq!(receiver.bodies()[0]["rule"], "Lookout blind");
    broker.launch().await;
    receiver
        .wait_for(2, Duration::from_secs(60), || async {})
        .await;
    // Sight is back and the pump talks again within its 5 s: nothing about the pump.
    for _ in 0..16 {
        heartbeat().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let states = receiver.states();
    let rules: Vec<String> = receiver
        .bodies()
        .iter()
        .map(|body| body["rule"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(states, ["firing", "resolved"], "{rules:?}");
    assert!(
        rules.iter().all(|rule| rule == "Lookout blind"),
        "{rules:?}"
    );
}

#[tokio::test]
async fn a_device_that_falls_silent_fires_and_its_return_resolves() {
    let (app, _) = spawn_as_admin().await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    let devices = app.topic("pumps/+");
    let fields = [
        ("name", "pumps"),
        ("filter", devices.as_str()),
        ("status_topic", ""),
        ("interval", "2"),
        ("online", ""),
        ("offline", ""),
    ];
    post_expecting(
        &app,
        "/admin/devices/add",
        &fields,
        "done=device_rule_added",
    )
    .await;
    let device_rule: i64 = sqlx::query_scalar("select id from liveness_rule")
        .fetch_one(&app.db)
        .await
        .unwrap();
    add_rule(
        &app,
        &[
            ("name", "Pump offline"),
            ("kind", "device_offline"),
            ("device_rule", &device_rule.to_string()),
            ("for_seconds", "0"),
            ("notify_resolve", "on"),
            ("severity", "warning"),
            ("channel", &channel),
        ],
    )
    .await;
    let pump = app.topic("pumps/p7");
    // Talking, then silent past its grace: the watcher's look finds it offline.
    for _ in 0..4 {
        publish_value(&pump, "1").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    receiver
        .wait_for(1, Duration::from_secs(60), || async {})
        .await;
    assert_eq!(receiver.states(), ["firing"]);
    let firing = &receiver.bodies()[0];
    assert_eq!(firing["subject"], "p7");
    assert_eq!(firing["value"], "offline");
    assert!(firing["link"].as_str().unwrap().ends_with("/devices"));
    // Its next message brings it back at once.
    publish_value(&pump, "1").await;
    receiver
        .wait_for(2, Duration::from_secs(15), || async {})
        .await;
    assert_eq!(receiver.states(), ["firing", "resolved"]);
}

/// Two real instances on one database: the one that evaluates is killed while an alert fires,
/// the other takes over, reads the firing, tells nothing twice and tells its end.
/// Lookout processes sharing one fresh database, each started on demand, and a store to make
/// channels and rules as `lookout` would from the command line.
struct Instances {
    database_url: String,
    prefix: String,
    db: sqlx::PgPool,
}

impl Instances {
    async fn new() -> Self {
        let database_url = fresh_database().await;
        let db = sqlx::PgPool::connect(&database_url).await.unwrap();
        Self {
            database_url,
            prefix: unique_name("t"),
            db,
        }
    }

    /// Starts one more instance, `id` naming its broker client.
    async fn start(&self, id: &str) -> Lookout {
        let listen = format!("127.0.0.1:{}", free_port());
        Lookout::start(&test_environment(
            &self.database_url,
            &broker_url(),
            &unique_name(&format!("lookout-{id}")),
            &self.prefix,
            &[("LOOKOUT_LISTEN", &listen), ("RUST_LOG", "warn")],
        ))
        .await
    }

    /// Makes a webhook channel to `url` and a threshold rule telling it; the schema must exist
    /// (an instance started).
    async fn threshold_rule_to(&self, url: &str, rule: app::domain::alert_rule::RuleText<'_>) {
        use app::domain::alert_rule::ChannelText;
        use app::server::alert_edits;
        use app::server::store::audit::Actor;
        let store = app::server::store::Store::connect(&self.database_url, Duration::from_secs(10))
            .await
            .unwrap();
        let channel = alert_edits::add_channel(
            &store,
            Actor::CLI,
            ChannelText {
                name: "ops",
                format: "webhook",
                url,
                template: "",
            },
        )
        .await
        .unwrap();
        let rule = app::domain::alert_rule::RuleText {
            kind: "threshold",
            notify_resolve: "on",
            ..rule
        };
        alert_edits::add_rule(&store, Actor::CLI, rule, vec![channel])
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_failover_neither_repeats_a_firing_nor_loses_its_end() {
    let instances = Instances::new().await;
    let mut first = instances.start("a").await;
    let db = &instances.db;
    // The first instance watches before the second starts.
    wait_for_count(db, "select count(*) from watch_span", 1).await;
    let _second = instances.start("b").await;

    let (url, receiver) = Receiver::start(0).await;
    let topics = format!("{}/boiler/temp", instances.prefix);
    instances
        .threshold_rule_to(
            &url,
            app::domain::alert_rule::RuleText {
                name: "Boiler too hot",
                topics: &topics,
                direction: "above",
                trigger: "90",
                recover: "85",
                severity: "critical",
                ..Default::default()
            },
        )
        .await;
    receiver
        .wait_for(1, Duration::from_secs(30), || publish_value(&topics, "95"))
        .await;

    let spans: i64 = sqlx::query_scalar("select count(*) from watch_span")
        .fetch_one(db)
        .await
        .unwrap();
    first.kill();
    // The second takes over (within 15 s) and opens a stretch of sight of its own; the boiler
    // stays hot throughout.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        publish_value(&topics, "96").await;
        let now: i64 = sqlx::query_scalar("select count(*) from watch_span")
            .fetch_one(db)
            .await
            .unwrap();
        if now > spans {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "nobody took over");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for _ in 0..6 {
        publish_value(&topics, "97").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        receiver.states(),
        ["firing"],
        "the firing is not told again"
    );
    publish_value(&topics, "80").await;
    receiver
        .wait_for(2, Duration::from_secs(15), || async {})
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.states(), ["firing", "resolved"]);
}

/// A reminder is at least 5 minutes after the firing, so the test moves the stored state's
/// clock instead of waiting: the instance that told the firing is stopped, its state is made to
/// say the firing was told 6 minutes ago (as if Lookout had been down that long), and the next
/// instance must remind once at start, then not again before the interval, then tell the end.
#[tokio::test]
async fn a_firing_is_reminded_at_its_interval_across_a_restart_and_its_end_is_told() {
    let instances = Instances::new().await;
    let mut first = instances.start("a").await;
    let db = &instances.db;
    wait_for_count(db, "select count(*) from watch_span", 1).await;

    let (url, receiver) = Receiver::start(0).await;
    let topic = format!("{}/tank/level", instances.prefix);
    instances
        .threshold_rule_to(
            &url,
            app::domain::alert_rule::RuleText {
                name: "Tank overflowing",
                topics: &topic,
                direction: "above",
                trigger: "90",
                recover: "80",
                reminder_minutes: "5",
                severity: "warning",
                ..Default::default()
            },
        )
        .await;
    receiver
        .wait_for(1, Duration::from_secs(30), || publish_value(&topic, "95"))
        .await;
    assert_eq!(receiver.states(), ["firing"]);

    first.kill();
    let moved = sqlx::query(
        "update alert_state set state = jsonb_set(state, '{told_ms}', \
         to_jsonb((state->>'told_ms')::bigint - 6 * 60 * 1000)) where firing",
    )
    .execute(db)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(moved, 1, "one firing state was stored");

    let _second = instances.start("b").await;
    receiver
        .wait_for(2, Duration::from_secs(40), || async {})
        .await;
    let reminder = &receiver.bodies()[1];
    assert_eq!(reminder["state"], "reminder", "{reminder}");
    assert_eq!(reminder["subject"], topic.as_str(), "{reminder}");
    // Still firing and still hot: nothing more until the interval has passed again.
    for _ in 0..6 {
        publish_value(&topic, "96").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(receiver.states(), ["firing", "reminder"]);

    publish_value(&topic, "70").await;
    receiver
        .wait_for(3, Duration::from_secs(15), || async {})
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.states(), ["firing", "reminder", "resolved"]);
}

#[tokio::test]
async fn an_alert_reaches_a_real_mail_server_from_real_traffic() {
    let (app, _) = spawn_as_admin().await;
    let mail = support::services::TestMailServer::start().await;
    let address = format!(
        "smtp://127.0.0.1:{}?tls=none&from=lookout@localhost&to=ops@localhost",
        mail.port
    );
    let fields = [
        ("name", "ops mail"),
        ("format", "email"),
        ("url", address.as_str()),
        ("template", ""),
    ];
    post_expecting(
        &app,
        "/admin/alerts/channels/add",
        &fields,
        "done=channel_added",
    )
    .await;
    let channel: i64 = sqlx::query_scalar("select id from alert_channel")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let topic = app.topic("door");
    add_rule(
        &app,
        &[
            ("name", "Door open"),
            ("kind", "field"),
            ("topics", &topic),
            ("pointer", "/state"),
            ("comparison", "equals"),
            ("value", "open"),
            ("severity", "warning"),
            ("channel", &channel.to_string()),
        ],
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while mail.messages().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no e-mail arrived");
        publish_value(&topic, r#"{"state": "open"}"#).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let message = &mail.messages()[0];
    assert!(
        message.contains("Subject: [FIRING] Door open: "),
        "{message}"
    );
    assert!(message.contains("Value: open"), "{message}");
    // No plain e-mail channel without saying so: the form refuses a server address without
    // from and to.
    let response = app
        .post_form(
            "/admin/alerts/channels/add",
            &[
                ("name", "x"),
                ("format", "email"),
                ("url", "smtp://mail.example.com"),
            ],
        )
        .await;
    assert!(
        response
            .header("location")
            .unwrap_or_default()
            .contains("error=bad_channel_url"),
        "{}",
        response.head
    );
}

#[tokio::test]
async fn maintenance_mutes_the_alerts_it_covers_and_they_are_told_after_it() {
    let (app, _) = spawn_as_admin().await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    let covered = app.topic("pump/temp");
    let uncovered = app.topic("boiler/temp");
    support::make_public(&app, &app.topic("#")).await;
    let slug = unique_name("plant").to_lowercase().replace('_', "-");
    let page = support::create_page(&app, &slug, "Plant").await;
    support::add_widget(
        &app,
        page,
        &[("kind", "value"), ("label", "Pump"), ("topic", &covered)],
    )
    .await;
    support::set_published(&app, page, &slug, "Plant", true).await;
    let widget: i64 = sqlx::query_scalar("select id from status_widget where page_id = $1")
        .bind(page)
        .fetch_one(&app.db)
        .await
        .unwrap();

    // Refusals name their field; a widget of another page is not this page's to cover.
    let (page_id, widget_id) = (page.to_string(), widget.to_string());
    let other = support::create_page(&app, &format!("{slug}-other"), "Other").await;
    let other_id = other.to_string();
    let started = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    let starts = started.format("%Y-%m-%dT%H:%M:%S").to_string();
    let plan = |page: &str, starts: &str, widget: &str| {
        [
            ("page", page),
            ("title", "Pump replacement"),
            ("message", "The pump is swapped; its readings may jump."),
            ("starts", starts),
            ("minutes", "1"),
            ("repeat", "once"),
            ("uptime", "excluded"),
            ("scope", "widgets"),
            ("widget", widget),
        ]
        .map(|(name, value)| (name, value.to_owned()))
    };
    for (page, starts, outcome) in [
        (&page_id, "soon", "error=bad_maintenance_start"),
        (&other_id, starts.as_str(), "error=bad_maintenance_widgets"),
        (&page_id, starts.as_str(), "done=maintenance_planned"),
    ] {
        let fields = plan(page, starts, &widget_id);
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        post_expecting(&app, "/admin/pages/maintenance/add", &fields, outcome).await;
    }
    let ends = started + chrono::TimeDelta::seconds(60);

    // Visitors see it in effect, on the page and on the widget, without JavaScript.
    let admin = app.session();
    app.forget_session();
    let html = app.get(&format!("/status/{slug}")).await;
    assert!(
        html.body.contains("Maintenance in progress"),
        "{}",
        html.body
    );
    assert!(html.body.contains("Pump replacement"), "{}", html.body);
    assert!(
        html.body.contains("data-under-maintenance"),
        "{}",
        html.body
    );
    let json: serde_json::Value =
        serde_json::from_str(&app.get(&format!("/status/{slug}.json")).await.body).unwrap();
    assert_eq!(json["maintenance"][0]["active"], true, "{json}");
    assert_eq!(json["maintenance"][0]["widgets"][0], widget, "{json}");
    assert_eq!(json["widgets"][0]["maintenance"], true, "{json}");
    let feed = app.get(&format!("/status/{slug}/feed.atom")).await.body;
    assert!(
        feed.contains("<title>Maintenance: Pump replacement</title>"),
        "{feed}"
    );
    assert!(feed.contains("The pump is swapped"), "{feed}");
    app.use_session(&admin);

    // The engine reads rules and windows together at each look (every 10 s): a rule added
    // after the window is never judged without it.
    add_rule(
        &app,
        &[
            ("name", "Too hot"),
            ("kind", "threshold"),
            ("topics", &app.topic("+/temp")),
            ("direction", "above"),
            ("trigger", "90"),
            ("recover", "90"),
            ("for_seconds", "0"),
            ("notify_resolve", "on"),
            ("severity", "critical"),
            ("channel", &channel),
        ],
    )
    .await;
    receiver
        .wait_for(1, Duration::from_secs(30), || async {
            publish_value(&covered, "95").await;
            publish_value(&uncovered, "95").await;
        })
        .await;
    // The first pair may have straddled the engine's subscribing to the new rule's topics:
    // the pump is surely heard hot once more now that the boiler was.
    publish_value(&covered, "95").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        chrono::Utc::now() < ends,
        "the machine was too slow to tell anything of muting: the window ended first"
    );
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["subject"], uncovered.as_str());

    // The window ends while the pump is still hot: told then, with when it began.
    receiver
        .wait_for(2, Duration::from_secs(75), || async {})
        .await;
    assert!(chrono::Utc::now() >= ends, "told before the window ended");
    let bodies = receiver.bodies();
    assert_eq!(bodies[1]["subject"], covered.as_str(), "{bodies:?}");
    assert_eq!(bodies[1]["state"], "firing");
    assert_eq!(bodies[1]["value"], "95");

    // After it, the page no longer shows it, and deleting it is audited.
    let id: i64 = sqlx::query_scalar("select id from maintenance where page_id = $1")
        .bind(page)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let id = id.to_string();
    post_expecting(
        &app,
        "/admin/pages/maintenance/delete",
        &[("page", page_id.as_str()), ("id", id.as_str())],
        "done=maintenance_deleted",
    )
    .await;
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action in ('maintenance_planned', 'maintenance_deleted')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn the_alerts_page_shows_rules_a_page_at_a_time_with_their_own_notices() {
    let (app, _) = spawn_as_admin().await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    for n in 0..55 {
        let (name, topics) = (format!("Rule {n:02}"), app.topic(&format!("room/{n}/temp")));
        add_rule(
            &app,
            &[
                ("name", name.as_str()),
                ("kind", "threshold"),
                ("topics", &topics),
                ("direction", "above"),
                ("trigger", "90"),
                ("for_seconds", "0"),
                ("severity", "warning"),
                ("channel", &channel),
            ],
        )
        .await;
    }
    // Fires the first rule and the last: each page lists only its own rules' states and notices.
    let (first, last) = (app.topic("room/0/temp"), app.topic("room/54/temp"));
    receiver
        .wait_for(2, Duration::from_secs(30), || async {
            publish_value(&first, "95").await;
            publish_value(&last, "95").await;
        })
        .await;
    let delivered = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from alert_notice where status = 'delivered'")
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    for _ in 0..40 {
        if delivered().await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let first_page = app.get("/admin/alerts").await;
    assert_eq!(first_page.status, 200);
    let body = &first_page.body;
    assert_eq!(body.matches("data-alert-rule=").count(), 50, "{body}");
    assert!(body.contains("Rules 1 to 50 of 55"), "{body}");
    assert!(body.contains("href=\"/admin/alerts?page=1\""), "{body}");
    assert!(!body.contains("Rule 54"), "{body}");
    assert!(
        body.contains(first.as_str()),
        "the first rule's firing subject: {body}"
    );
    assert!(!body.contains(last.as_str()), "{body}");

    let second_page = app.get("/admin/alerts?page=1").await;
    let body = &second_page.body;
    assert_eq!(body.matches("data-alert-rule=").count(), 5, "{body}");
    assert!(body.contains("Rule 54"), "{body}");
    assert!(body.contains(last.as_str()), "{body}");
    assert!(!body.contains(first.as_str()), "{body}");
    assert_eq!(body.matches("data-notice=").count(), 1, "{body}");
    // A page past the end is empty, not an error; a crafted one is the first.
    assert_eq!(app.get("/admin/alerts?page=9").await.status, 200);
    let crafted = app.get("/admin/alerts?page=-1").await;
    assert_eq!(crafted.body.matches("data-alert-rule=").count(), 50);
}

#[tokio::test]
async fn a_value_that_keeps_crossing_is_told_once_as_flapping_then_once_it_keeps_still() {
    let (app, _) = spawn_as_admin().await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    let topic = app.topic("valve/pressure");
    add_rule(
        &app,
        &[
            ("name", "Pressure"),
            ("kind", "threshold"),
            ("topics", &topic),
            ("direction", "above"),
            ("trigger", "5"),
            ("for_seconds", "0"),
            ("notify_resolve", "on"),
            ("flap_changes", "3"),
            ("flap_minutes", "1"),
            ("severity", "warning"),
            ("channel", &channel),
        ],
    )
    .await;
    receiver
        .wait_for(1, Duration::from_secs(30), || publish_value(&topic, "9"))
        .await;
    // Up and down, faster than the window allows: resolved, fired, then held as flapping.
    for value in ["1", "9", "1", "9", "1", "9", "1"] {
        publish_value(&topic, value).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.states(),
        ["firing", "resolved", "firing", "flapping"],
        "three changes in the window are the guard's limit; the fourth is flapping"
    );
    // Still for a whole window (a minute, the shortest a rule may ask for): told once how it
    // stands.
    receiver
        .wait_for(5, Duration::from_secs(75), || async {})
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let states = receiver.states();
    assert_eq!(states.len(), 5, "{states:?}");
    assert_eq!(states[4], "steady", "{states:?}");
    assert_eq!(receiver.bodies()[4]["value"], "1");
}

#[tokio::test]
async fn rules_kept_in_the_config_file_are_made_at_start_fire_and_are_changed_only_there() {
    let database_url = fresh_database().await;
    let prefix = unique_name("t");
    let (url, receiver) = Receiver::start(0).await;
    let channel =
        format!("[[alerts.channels]]\nname = \"ops\"\nformat = \"webhook\"\nurl = \"{url}\"\n\n");
    let rule = format!(
        "[[alerts.rules]]\nname = \"Boiler too hot\"\nkind = \"threshold\"\n\
         topics = \"{prefix}/+/temp\"\ndirection = \"above\"\ntrigger = 90\nfor_seconds = 0\n\
         severity = \"critical\"\nnotify_resolve = true\nchannels = [\"ops\"]\n"
    );
    let path = std::env::temp_dir().join(format!("{prefix}.toml"));
    std::fs::write(&path, format!("{channel}{rule}")).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let config = path.display().to_string();
    let vars = test_environment(
        &database_url,
        &broker_url(),
        &unique_name("lookout-config"),
        &prefix,
        &[("LOOKOUT_LISTEN", &listen), ("LOOKOUT_CONFIG", &config)],
    );
    let mut lookout = Lookout::start(&vars).await;
    let db = sqlx::PgPool::connect(&database_url).await.unwrap();
    wait_for_count(
        &db,
        "select count(*) from alert_rule where from_config and name = 'Boiler too hot'",
        1,
    )
    .await;

    // It fires from real traffic like a rule made on the page.
    let topic = format!("{prefix}/boiler/temp");
    receiver
        .wait_for(1, Duration::from_secs(30), || publish_value(&topic, "95"))
        .await;
    assert_eq!(receiver.bodies()[0]["rule"], "Boiler too hot");

    // The page's edits are refused: the file would undo them.
    let store = app::server::store::Store::connect(&database_url, Duration::from_secs(10))
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar("select id from alert_rule where name = 'Boiler too hot'")
        .fetch_one(&db)
        .await
        .unwrap();
    use app::server::alert_edits::{self, AlertEditError};
    use app::server::store::audit::Actor;
    let refused = alert_edits::delete_rule(&store, Actor::CLI, id).await;
    assert!(
        matches!(refused, Err(AlertEditError::FromConfig)),
        "{refused:?}"
    );

    // Gone from the file, gone at the next start; the channel stays while the file keeps it.
    lookout.kill();
    std::fs::write(&path, &channel).unwrap();
    let _lookout = Lookout::start(&vars).await;
    let rules: i64 = sqlx::query_scalar("select count(*) from alert_rule")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(rules, 0);
    let channels: i64 = sqlx::query_scalar("select count(*) from alert_channel where from_config")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(channels, 1);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_firing_about_a_public_widget_proposes_an_incident_that_a_person_words_or_dismisses() {
    let (app, _) = spawn_as_admin().await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    let (pump, kiln) = (app.topic("pump/temp"), app.topic("kiln/temp"));
    support::make_public(&app, &app.topic("#")).await;
    let slug = unique_name("works").to_lowercase().replace('_', "-");
    let page = support::create_page(&app, &slug, "Works").await;
    for (label, topic) in [("Pump", &pump), ("Kiln", &kiln)] {
        support::add_widget(
            &app,
            page,
            &[("kind", "value"), ("label", label), ("topic", topic)],
        )
        .await;
    }
    support::set_published(&app, page, &slug, "Works", true).await;
    add_rule(
        &app,
        &[
            ("name", "Too hot"),
            ("kind", "threshold"),
            ("topics", &app.topic("+/temp")),
            ("direction", "above"),
            ("trigger", "90"),
            ("recover", "90"),
            ("for_seconds", "0"),
            ("severity", "critical"),
            ("channel", &channel),
        ],
    )
    .await;
    receiver
        .wait_for(2, Duration::from_secs(30), || async {
            publish_value(&pump, "95").await;
            publish_value(&kiln, "97").await;
        })
        .await;

    // Operators see both proposals on the desk; visitors see nothing yet.
    app.sign_in_as("otto", Role::Operator).await;
    let desk = app.get("/incidents").await;
    assert!(desk.body.contains("Proposed by alerts"), "{}", desk.body);
    assert!(desk.body.contains("Pump: Too hot"), "{}", desk.body);
    assert!(desk.body.contains("Kiln: Too hot"), "{}", desk.body);
    let public = app.get(&format!("/status/{slug}.json")).await.body;
    assert!(!public.contains("Too hot"), "{public}");

    let firing: Vec<(i64, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "select rule_id, subject, since from alert_state where firing order by subject",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let named = |subject: &str| {
        let (rule, subject, since) = firing.iter().find(|(_, s, _)| s == subject).unwrap();
        (
            rule.to_string(),
            subject.clone(),
            since.timestamp_millis().to_string(),
        )
    };
    let page_id = page.to_string();

    // Opened in a person's words from the pump's proposal: public, and no longer proposed.
    let (rule, subject, since) = named(&pump);
    let opened = app
        .post_form(
            "/incidents/open",
            &[
                ("page", page_id.as_str()),
                ("title", "The pump runs hot"),
                ("status", "investigating"),
                ("message", "We are cooling it down."),
                ("back", "desk"),
                ("proposal_rule", rule.as_str()),
                ("proposal_subject", subject.as_str()),
                ("proposal_since", since.as_str()),
            ],
        )
        .await;
    assert_eq!(
        opened.header("location"),
        Some("/incidents?done=incident_opened")
    );
    // The kiln's is dismissed; a second answer to it is refused.
    let (rule, subject, since) = named(&kiln);
    let dismiss = [
        ("page", page_id.as_str()),
        ("proposal_rule", rule.as_str()),
        ("proposal_subject", subject.as_str()),
        ("proposal_since", since.as_str()),
    ];
    for outcome in ["done=proposal_dismissed", "error=unknown_proposal"] {
        let response = app.post_form("/incidents/dismiss", &dismiss).await;
        assert!(
            response
                .header("location")
                .unwrap_or_default()
                .contains(outcome),
            "{}",
            response.head
        );
    }
    let desk = app.get("/incidents").await;
    assert!(!desk.body.contains("Proposed by alerts"), "{}", desk.body);
    assert!(desk.body.contains("The pump runs hot"), "{}", desk.body);
    assert_eq!(app.audited("incident_proposal_dismissed").await.len(), 1);
    let public = app.get(&format!("/status/{slug}.json")).await.body;
    assert!(public.contains("The pump runs hot"), "{public}");
    assert!(!public.contains("Too hot"), "{public}");
}

#[tokio::test]
async fn an_incidents_summary_tells_each_audience_only_the_incidents_and_alerts_it_may_know() {
    let (app, _) = spawn_as_admin().await;
    let (url, receiver) = Receiver::start(0).await;
    let channel = add_channel(&app, "ops", &url).await.to_string();
    let topic = app.topic("boiler/temp");
    add_rule(
        &app,
        &[
            ("name", "Boiler too hot"),
            ("kind", "threshold"),
            ("topics", &topic),
            ("direction", "above"),
            ("trigger", "90"),
            ("recover", "85"),
            ("for_seconds", "0"),
            ("severity", "critical"),
            ("channel", &channel),
        ],
    )
    .await;
    receiver
        .wait_for(1, Duration::from_secs(30), || publish_value(&topic, "95"))
        .await;

    // Three boards with an incident each: public, operators only, a draft.
    let stem = unique_name("summary").to_lowercase().replace('_', "-");
    let board = |name: &str| format!("{stem}-{name}");
    for (name, title, public, open_to, published) in [
        ("works", "Pump failure", true, "viewer", true),
        ("backroom", "Vault door stuck", false, "operator", true),
        ("plans", "Drafted trouble", true, "viewer", false),
    ] {
        let slug = board(name);
        let page = support::create_page(&app, &slug, name).await;
        support::set_board(&app, page, &slug, name, published, public, open_to).await;
        let page_id = page.to_string();
        let fields = [
            ("page", page_id.as_str()),
            ("title", title),
            ("status", "investigating"),
            ("message", "Looking into it."),
        ];
        post_expecting(&app, "/incidents/open", &fields, "done=incident_opened").await;
    }
    let overview = board("overview");
    let page = support::create_page(&app, &overview, "Overview").await;
    support::add_widget(&app, page, &[("kind", "incidents"), ("label", "Attention")]).await;
    support::set_published(&app, page, &overview, "Overview", true).await;

    let json = format!("/status/{overview}.json");
    let titles = |widget: &serde_json::Value, list: &str, field: &str| -> Vec<String> {
        widget["attention"][list]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|line| line[field].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // An admin: every published board's incident and the alert firing; never a draft's.
    let widget = first_widget(&app, &json).await;
    let mut seen = titles(&widget, "incidents", "title");
    seen.sort();
    assert_eq!(seen, ["Pump failure", "Vault door stuck"], "{widget}");
    assert_eq!(titles(&widget, "alerts", "name"), ["Boiler too hot"]);
    assert_eq!(titles(&widget, "alerts", "subject"), [topic.as_str()]);
    assert_eq!(widget["text"], "2 open incidents, 1 alert firing");

    // An operator: the same; a viewer: not the operators' board's incident, and no alerts.
    app.sign_in_as("otto", Role::Operator).await;
    let widget = first_widget(&app, &json).await;
    assert_eq!(widget["attention"]["alerts_firing"], 1, "{widget}");
    app.sign_in_as("vera", Role::Viewer).await;
    let widget = first_widget(&app, &json).await;
    assert_eq!(titles(&widget, "incidents", "title"), ["Pump failure"]);
    assert_eq!(widget["attention"].get("alerts_firing"), None, "{widget}");
    assert_eq!(widget["text"], "1 open incident");

    // The public: the public board's incident, linked to where it is told; nothing else.
    app.forget_session();
    let widget = first_widget(&app, &json).await;
    assert_eq!(titles(&widget, "incidents", "title"), ["Pump failure"]);
    let html = app.get(&format!("/status/{overview}")).await.body;
    assert!(
        html.contains(&format!("/status/{}#incident-", board("works"))),
        "{html}"
    );
    for private in [
        "Vault door",
        "Drafted trouble",
        "Boiler too hot",
        topic.as_str(),
    ] {
        assert!(!html.contains(private), "{private} in {html}");
    }
}

/// The first widget of a board's JSON, as the visitor signed in now gets it.
async fn first_widget(app: &TestApp, json: &str) -> serde_json::Value {
    let body = app.get(json).await.body;
    let board: serde_json::Value = serde_json::from_str(&body).unwrap();
    board["widgets"][0].clone()
}
