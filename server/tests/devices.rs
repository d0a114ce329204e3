//! Device liveness against the real application, broker and database: devices that go offline by
//! their last will or by falling silent, retained status after a reconnection, who sees which
//! devices, and the admin forms of the liveness rules.

mod support;

use rumqttc::QoS;
use std::process::Stdio;
use support::{broker_url, post_expecting, publish, spawn_as_admin, unique_name, TestApp};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// Adds a liveness rule through the admin form (as the signed-in admin).
async fn add_device_rule(app: &TestApp, name: &str, devices: &str, status: &str, interval: &str) {
    post_expecting(
        app,
        "/admin/devices/add",
        &[
            ("name", name),
            ("filter", devices),
            ("status_topic", status),
            ("interval", interval),
            ("online", ""),
            ("offline", ""),
        ],
        "done=device_rule_added",
    )
    .await;
}

/// The table row of device `name` found by rule `rule`, if the page has one.
fn device_row<'a>(body: &'a str, rule: &str, name: &str) -> Option<&'a str> {
    let row = body
        .split(&format!(r#"data-device="{rule}/{name}""#))
        .nth(1)?;
    Some(&row[..row.find("</tr>")?])
}

/// Waits until `/devices` shows device `rule/name` in `state` with a reason containing `reason`,
/// and returns its row.
async fn wait_for_device(
    app: &TestApp,
    rule: &str,
    name: &str,
    state: &str,
    reason: &str,
) -> String {
    let wanted = format!(r#"data-state="{state}""#);
    let page = app
        .get_until("/devices", |body| {
            device_row(body, rule, name)
                .is_some_and(|row| row.contains(&wanted) && row.contains(reason))
        })
        .await;
    device_row(&page.body, rule, name).unwrap().to_owned()
}

/// A device as MQTT clients often are: connected for good with a last will that says "offline"
/// (retained) on its status topic, publishing a line of stdin per message to its data topic.
struct Device {
    process: Child,
}

impl Device {
    fn start(data_topic: &str, status_topic: &str) -> Self {
        let broker = lookout::config::parse_broker_url(&broker_url()).unwrap();
        let process = Command::new("mosquitto_pub")
            .args(["-h", &broker.host, "-p", &broker.port.to_string()])
            .args(["-i", &unique_name("device"), "-k", "5", "-q", "1"])
            .args(["-t", data_topic, "-l"])
            .args(["--will-topic", status_topic, "--will-payload", "offline"])
            .args(["--will-qos", "1", "--will-retain"])
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto_pub runs (the mosquitto-clients package)");
        Self { process }
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.process.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// Dies without a word: SIGKILL, so the broker sees the connection drop without a DISCONNECT
    /// and publishes the will.
    async fn kill(mut self) {
        self.process.kill().await.unwrap();
    }
}

/// "HH:MM" of the newest message of `topic` that arrived live (not a retained copy).
async fn live_clock(app: &TestApp, topic: &str) -> String {
    sqlx::query_scalar(
        "select to_char(m.received_at at time zone 'UTC', 'HH24:MI') \
         from message m join topic t on t.id = m.topic_id \
         where t.name = $1 and not m.retain order by m.received_at desc limit 1",
    )
    .bind(topic)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// Device `rule/name` as the `devices` server function lists it.
async fn api_device(app: &TestApp, rule: &str, name: &str) -> serde_json::Value {
    let response = app.post_form("/api/devices", &[]).await;
    let list: serde_json::Value = serde_json::from_str(&response.body).expect(&response.body);
    list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|device| device["rule"] == rule && device["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{rule}/{name} is not listed: {list}"))
}

async fn latest_is_retained(app: &TestApp, topic: &str) -> bool {
    sqlx::query_scalar(
        "select l.retain from latest l join topic t on t.id = l.topic_id where t.name = $1",
    )
    .bind(topic)
    .fetch_optional(&app.db)
    .await
    .unwrap()
    .unwrap_or(false)
}

#[tokio::test]
async fn a_device_goes_offline_by_its_last_will_and_a_reconnection_does_not_change_that() {
    let (app, viewer) = spawn_as_admin().await;
    let (data, status) = (
        app.topic("sensors/boiler/temp"),
        app.topic("sensors/boiler/status"),
    );
    add_device_rule(
        &app,
        "sensors",
        &app.topic("sensors/+/#"),
        &app.topic("sensors/+/status"),
        "60",
    )
    .await;
    app.use_session(&viewer);

    // Birth: a retained "online", as devices announce themselves; then a reading.
    publish(&[(&status, b"online", QoS::AtLeastOnce, true)]).await;
    let mut device = Device::start(&data, &status);
    device.send("71.5").await;
    let row = wait_for_device(
        &app,
        "sensors",
        "boiler",
        "online",
        "reports online and sends",
    )
    .await;
    assert!(row.contains("expected every 1 min"), "{row}");

    device.kill().await;
    let row = wait_for_device(&app, "sensors", "boiler", "offline", "reported offline").await;
    let will_at = live_clock(&app, &status).await;
    assert!(
        row.contains(&format!(
            "reported offline at {will_at} UTC (last will or status message)"
        )),
        "{row}"
    );

    // Taking over Lookout's client id ends its session: it reconnects, subscribes again and gets
    // the retained will once more, now flagged retained and stamped with the time of the replay.
    let broker = lookout::config::parse_broker_url(&broker_url()).unwrap();
    let takeover = Command::new("mosquitto_pub")
        .args(["-h", &broker.host, "-p", &broker.port.to_string()])
        .args(["-i", &app.client_id, "-t", &unique_name("elsewhere"), "-n"])
        .status()
        .await
        .unwrap();
    assert!(takeover.success());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !latest_is_retained(&app, &status).await {
        assert!(tokio::time::Instant::now() < deadline, "no retained replay");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Still dated by the will as it arrived live, and the replay is no sign of life: the device
    // was last heard from when its will arrived.
    let listed = api_device(&app, "sensors", "boiler").await;
    let will_ms: i64 = sqlx::query_scalar(
        "select floor(extract(epoch from max(m.received_at)) * 1000)::int8 \
         from message m join topic t on t.id = m.topic_id where t.name = $1 and not m.retain",
    )
    .bind(&status)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(listed["last_seen_ms"], will_ms, "{listed}");
    let page = app.get("/devices").await;
    let row = device_row(&page.body, "sensors", "boiler").unwrap();
    assert!(row.contains(r#"data-state="offline""#), "{row}");
    assert!(
        row.contains(&format!(
            "reported offline at {will_at} UTC (last will or status message)"
        )),
        "{row}"
    );

    // It sends again without announcing itself: the data after the will is the newer word.
    publish(&[(&data, b"70.0", QoS::AtLeastOnce, false)]).await;
    wait_for_device(
        &app,
        "sensors",
        "boiler",
        "online",
        &format!("sending again after reporting offline at {will_at} UTC"),
    )
    .await;

    // An empty retained publish clears the will on the broker.
    publish(&[(&status, b"", QoS::AtLeastOnce, true)]).await;
}

#[tokio::test]
async fn a_device_that_stops_sending_turns_silent_without_anything_published() {
    let (app, _) = spawn_as_admin().await;
    add_device_rule(&app, "meters", &app.topic("meters/+/power"), "", "4").await;
    let power = app.topic("meters/m1/power");
    publish(&[(&power, b"230", QoS::AtLeastOnce, false)]).await;
    app.wait_for_stored(1).await;
    let page = app
        .get_until("/devices", |body| {
            device_row(body, "meters", "m1").is_some()
        })
        .await;
    let row = device_row(&page.body, "meters", "m1").unwrap();
    assert!(
        row.contains(r#"data-state="online""#) && row.contains("sending, expected every 4 s"),
        "{row}"
    );
    assert!(page.body.contains("1 online"), "{}", page.body);

    // Nothing more is published: 1.5 intervals later it is silent.
    let row = wait_for_device(&app, "meters", "m1", "offline", "silent for").await;
    assert!(row.contains("expected every 4 s"), "{row}");
    let stored: i64 = sqlx::query_scalar("select count(*) from message")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let counts = app.post_form("/api/devices", &[]).await;
    assert!(
        counts
            .body
            .contains(r#""counts":{"online":0,"offline":1,"unknown":0}"#),
        "{}",
        counts.body
    );
}

#[tokio::test]
async fn a_viewer_sees_only_the_devices_of_topics_its_rules_allow() {
    let (app, viewer) = spawn_as_admin().await;
    let everything: i64 = sqlx::query_scalar(
        "select id from access_rule where role = 'viewer' and filter = '#' and permission = 'read'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    post_expecting(
        &app,
        "/admin/rules/delete",
        &[("id", &everything.to_string())],
        "done=rule_deleted",
    )
    .await;
    post_expecting(
        &app,
        "/admin/rules/add",
        &[
            ("role", "viewer"),
            ("filter", &app.topic("plant/pump/#")),
            ("permission", "read"),
        ],
        "done=rule_added",
    )
    .await;
    add_device_rule(&app, "plant", &app.topic("plant/+/#"), "", "60").await;
    let (pump, secret) = (app.topic("plant/pump/flow"), app.topic("plant/vault/door"));
    publish(&[
        (&pump, b"3.2", QoS::AtLeastOnce, false),
        (&secret, b"open", QoS::AtLeastOnce, false),
    ])
    .await;
    app.wait_for_stored(2).await;

    let page = app
        .get_until("/devices", |body| {
            device_row(body, "plant", "pump").is_some()
                && device_row(body, "plant", "vault").is_some()
        })
        .await;
    assert!(page.body.contains("2 online"), "an admin sees both");

    app.use_session(&viewer);
    let page = app.get("/devices").await;
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(
        device_row(&page.body, "plant", "pump").is_some(),
        "{}",
        page.body
    );
    assert!(!page.body.contains("vault"), "{}", page.body);
    assert!(page.body.contains("1 online"), "{}", page.body);
    let api = app.post_form("/api/devices", &[]).await;
    assert!(
        api.body.contains("pump") && !api.body.contains("vault"),
        "{}",
        api.body
    );

    app.forget_session();
    assert_eq!(app.get("/devices").await.status, 303, "anonymous: log in");
}

async fn device_rules(app: &TestApp) -> Vec<(i64, String, String, Option<String>, i32, String)> {
    sqlx::query_as(
        "select id, name, device_filter, status_topic, interval_seconds, offline_payload \
         from liveness_rule order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_admin_adds_changes_and_deletes_device_rules_through_the_forms() {
    let (app, viewer) = spawn_as_admin().await;
    let admin = app.session();
    let devices = app.topic("rooms/+/#");
    publish(&[(
        &app.topic("rooms/kitchen/temp"),
        b"21",
        QoS::AtLeastOnce,
        false,
    )])
    .await;
    app.wait_for_stored(1).await;
    add_device_rule(&app, "rooms", &devices, &app.topic("rooms/+/state"), "300").await;
    let rules = device_rules(&app).await;
    assert_eq!(rules.len(), 1);
    let (id, ..) = rules[0].clone();
    let page = app.get("/admin/devices").await;
    let row = page
        .body
        .split(&format!(r#"data-device-rule="{id}""#))
        .nth(1)
        .unwrap();
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains(&format!(r#"value="{devices}""#)), "{row}");
    assert!(row.contains(r#"value="300""#), "{row}");
    assert!(
        row.contains(r#"<td class="count">1</td>"#),
        "finds the kitchen: {row}"
    );

    // A rule as the form sends it: the good one, then one field at a time broken.
    let id_text = id.to_string();
    let good = [
        ("id", id_text.as_str()),
        ("name", "rooms"),
        ("filter", devices.as_str()),
        ("status_topic", ""),
        ("interval", "30"),
        ("online", "up"),
        ("offline", "down"),
    ];
    let with = |field: &str, value: String| -> Vec<(&'static str, String)> {
        good.iter()
            .map(|(key, old)| {
                (
                    *key,
                    if *key == field {
                        value.clone()
                    } else {
                        old.to_string()
                    },
                )
            })
            .collect()
    };
    for (fields, outcome) in [
        (with("name", " ".into()), "error=bad_device_rule_name"),
        (
            with("filter", app.topic("rooms/#")),
            "error=bad_device_filter",
        ),
        (
            with("filter", app.topic("+/+/#")),
            "error=bad_device_filter",
        ),
        (
            with("status_topic", app.topic("rooms/+/#")),
            "error=bad_status_topic",
        ),
        (with("interval", "0".into()), "error=bad_interval"),
        (with("interval", "soon".into()), "error=bad_interval"),
        (with("offline", "UP".into()), "error=bad_status_words"),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_expecting(&app, "/admin/devices/add", &fields, outcome).await;
        post_expecting(&app, "/admin/devices/change", &fields, outcome).await;
    }
    let fields = good;
    let page = post_expecting(
        &app,
        "/admin/devices/add",
        &fields,
        "error=duplicate_device_rule",
    )
    .await;
    assert!(page.body.contains("exists already"), "{}", page.body);
    assert_eq!(
        device_rules(&app).await.len(),
        1,
        "nothing refused was stored"
    );

    let page = post_expecting(
        &app,
        "/admin/devices/change",
        &fields,
        "done=device_rule_changed",
    )
    .await;
    assert!(
        page.body.contains("The device rule was changed."),
        "{}",
        page.body
    );
    assert_eq!(
        device_rules(&app).await,
        [(
            id,
            "rooms".to_owned(),
            devices.clone(),
            None,
            30,
            "down".to_owned()
        )]
    );

    // Nobody else may change them.
    app.use_session(&viewer);
    for path in [
        "/admin/devices/add",
        "/admin/devices/change",
        "/admin/devices/delete",
    ] {
        assert_eq!(app.post_form(path, &fields).await.status, 403, "{path}");
    }
    assert_eq!(app.get("/admin/devices").await.status, 403);
    app.use_session(&admin);

    post_expecting(
        &app,
        "/admin/devices/delete",
        &[("id", &id.to_string())],
        "done=device_rule_deleted",
    )
    .await;
    assert!(device_rules(&app).await.is_empty());
    post_expecting(
        &app,
        "/admin/devices/delete",
        &[("id", &id.to_string())],
        "error=unknown_device_rule",
    )
    .await;
    post_expecting(
        &app,
        "/admin/devices/change",
        &fields,
        "error=unknown_device_rule",
    )
    .await;

    let audited: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "select action, actor_name, detail::text from audit_log \
         where action like 'liveness_rule_%' order by id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let actions: Vec<&str> = audited.iter().map(|(action, ..)| action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "liveness_rule_added",
            "liveness_rule_changed",
            "liveness_rule_deleted"
        ]
    );
    assert!(audited
        .iter()
        .all(|(_, actor, _)| actor.as_deref() == Some("boss")));
    let changed: serde_json::Value = serde_json::from_str(&audited[1].2).unwrap();
    assert_eq!(changed["from"]["interval_seconds"], 300);
    assert_eq!(changed["to"]["interval_seconds"], 30);
    assert_eq!(changed["to"]["status_topic"], serde_json::Value::Null);
}
