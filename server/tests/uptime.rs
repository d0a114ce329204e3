//! Uptime against the real application, broker and database: every change of a device's
//! liveness recorded at the moment it happened (the message that brought it back, its report of
//! offline, the end of its grace), Lookout's own outage recorded as "no data" and never as the
//! devices' downtime, and the status pages' uptime bar and percentages with their CSV, JSON and
//! badges, complete without JavaScript.

mod support;

use rumqttc::QoS;
use std::time::Duration;
use support::services::TestBroker;
use support::{
    add_widget, create_page, http_request, make_public, post_expecting, publish, publish_to,
    set_published, spawn_app_via, spawn_app_with, wait_for_count, TestApp,
};

/// Adds a liveness rule through the admin form, and waits until the uptime watcher follows it
/// (it reads the rules at each look, then extends its stretch of sight).
async fn add_device_rule(app: &TestApp, devices: &str, status: &str, interval: &str) {
    let fields = [
        ("name", "pumps"),
        ("filter", devices),
        ("status_topic", status),
        ("interval", interval),
        ("online", ""),
        ("offline", ""),
    ];
    post_expecting(app, "/admin/devices/add", &fields, "done=device_rule_added").await;
    wait_for_count(
        &app.db,
        "select count(*) from watch_span s, liveness_rule r where s.seen_until > r.created_at",
        1,
    )
    .await;
}

/// The recorded transitions: state, cause, and the time in Unix milliseconds.
async fn transitions(app: &TestApp) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "select state, cause, floor(extract(epoch from at) * 1000)::int8 \
         from device_transition order by at, id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// The time `payload` of `topic` was received, in Unix milliseconds.
async fn received_ms(app: &TestApp, topic: &str, payload: &str) -> i64 {
    sqlx::query_scalar(
        "select floor(extract(epoch from m.received_at) * 1000)::int8 from message m \
         join topic t on t.id = m.topic_id where t.name = $1 and m.payload = $2",
    )
    .bind(topic)
    .bind(payload.as_bytes())
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn anonymous(app: &TestApp, path: &str) -> support::HttpResponse {
    http_request(app.port, "GET", path, &[], "").await
}

#[tokio::test]
async fn a_device_s_changes_are_recorded_at_their_moments_and_shown_as_uptime() {
    let app = spawn_app_with(|settings| settings.web.status_ttl = Duration::from_secs(1)).await;
    app.sign_in_as("boss", app::domain::roles::Role::Admin)
        .await;
    let devices = app.topic("pumps/+/#");
    add_device_rule(&app, &devices, &app.topic("pumps/+/status"), "1").await;
    make_public(&app, &devices).await;

    let data = app.topic("pumps/p1/flow");
    let status = app.topic("pumps/p1/status");
    publish(&[(&data, b"12.5", QoS::AtLeastOnce, false)]).await;
    wait_for_count(&app.db, "select count(*) from device_transition", 1).await;
    publish(&[(&status, b"offline", QoS::AtLeastOnce, false)]).await;
    wait_for_count(&app.db, "select count(*) from device_transition", 2).await;
    publish(&[(&data, b"13.5", QoS::AtLeastOnce, false)]).await;
    // Then silence: expected every second, so down 1.5 s after the last message.
    wait_for_count(&app.db, "select count(*) from device_transition", 4).await;

    let recorded = transitions(&app).await;
    let came = received_ms(&app, &data, "12.5").await;
    let reported = received_ms(&app, &status, "offline").await;
    let back = received_ms(&app, &data, "13.5").await;
    // Database times are microseconds; the records keep milliseconds.
    let moments: Vec<(&str, i64)> = recorded
        .iter()
        .map(|(state, _, at)| (state.as_str(), *at))
        .collect();
    assert_eq!(
        moments,
        vec![
            ("online", came),
            ("offline", reported),
            ("online", back),
            ("offline", back + 1_500),
        ],
        "{recorded:?}"
    );
    assert!(recorded[1].1.contains("reported offline"), "{recorded:?}");
    assert!(recorded[3].1.contains("silent"), "{recorded:?}");

    // A status page shows it: a bar of 30 days and the percentages.
    let page = create_page(&app, "pumps", "Pumps").await;
    for (kind, label, days) in [
        ("uptime_bar", "Pump 1 days", "30"),
        ("uptime", "Pump 1 uptime", ""),
    ] {
        let fields = [
            ("kind", kind),
            ("label", label),
            ("device", "p1"),
            ("days", days),
        ];
        add_widget(&app, page, &fields).await;
    }
    // Refused: an uptime widget without a device, and a bar of 45 days.
    for (device, days, problem) in [
        ("", "30", "error=bad_device"),
        ("p1", "45", "error=bad_days"),
    ] {
        let page = page.to_string();
        let fields = [
            ("page", page.as_str()),
            ("kind", "uptime_bar"),
            ("label", "Wrong"),
            ("device", device),
            ("days", days),
            ("form_id", "new-widget"),
        ];
        let response = app.post_form("/admin/pages/widgets/add", &fields).await;
        let location = response.header("location").unwrap_or_default();
        assert!(location.contains(problem), "{location}");
    }
    set_published(&app, page, "pumps", "Pumps", true).await;
    app.forget_session();

    let json = anonymous(&app, "/status/pumps.json").await;
    assert_eq!(json.status, 200, "{}", json.head);
    let snapshot: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let widgets = snapshot["widgets"].as_array().unwrap();
    let bar = &widgets[0];
    assert_eq!(bar["kind"], "uptime_bar");
    let days = bar["days"].as_array().unwrap();
    assert_eq!(days.len(), 30, "{bar}");
    let today = &days[29];
    let down_ms = today["down_ms"].as_i64().unwrap();
    assert!(down_ms >= 1_000, "{today}");
    let percent = today["percent"].as_f64().unwrap();
    assert!(percent > 0.0 && percent < 100.0, "{today}");
    assert!(!today["outages"].as_array().unwrap().is_empty(), "{today}");
    // Before Lookout watched: no data, neither up nor down.
    assert!(days[0]["percent"].is_null(), "{}", days[0]);
    assert_eq!(days[0]["down_ms"], 0);
    let figures = widgets[1]["uptime"].as_array().unwrap();
    let windows: Vec<&str> = figures
        .iter()
        .map(|f| f["window"].as_str().unwrap())
        .collect();
    assert_eq!(windows, ["24h", "7d", "30d", "90d"]);
    assert!(figures[0]["percent"].as_f64().unwrap() < 100.0);

    // Without JavaScript: every day is a cell with its figure in words, the outages listed.
    let html = anonymous(&app, "/status/pumps").await;
    assert_eq!(html.status, 200);
    let cells = html.body.matches(r#"class="day day-"#).count();
    assert_eq!(cells, 30, "{}", html.body);
    assert!(html.body.contains("day day-none"), "days before watching");
    assert!(html.body.contains("(no data)"));
    assert!(html.body.contains("Days with outages: 1"), "{}", html.body);
    assert!(html.body.contains("24 hours"));

    let bar_id = bar["id"].as_i64().unwrap();
    let csv = anonymous(&app, &format!("/status/pumps/history/{bar_id}.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("date,uptime_percent,"), "{}", csv.body);
    assert_eq!(csv.body.lines().count(), 31);
    let figures_id = widgets[1]["id"].as_i64().unwrap();
    for (file, wanted) in [
        (format!("{figures_id}.svg"), "(30d)"),
        (format!("{figures_id}-24h.svg"), "(24h)"),
        (format!("{bar_id}-90d.svg"), "(90d)"),
    ] {
        let badge = anonymous(&app, &format!("/status/pumps/badge/{file}")).await;
        assert_eq!(badge.status, 200, "{file}");
        assert!(
            badge.body.contains(wanted) && badge.body.contains('%'),
            "{}",
            badge.body
        );
    }
    let missing = anonymous(&app, &format!("/status/pumps/badge/{figures_id}-1y.svg")).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn while_the_broker_is_away_lookout_records_no_data_and_no_device_goes_down() {
    let mut broker = TestBroker::start().await;
    let app = spawn_app_via(&broker.url(), |_| {}).await;
    app.sign_in_as("boss", app::domain::roles::Role::Admin)
        .await;
    // Expected every 10 s: silent after 15 s.
    add_device_rule(&app, &app.topic("pumps/+/#"), "", "10").await;
    let data = app.topic("pumps/p2/flow");
    publish_to(&broker.url(), &[(&data, b"1", QoS::AtLeastOnce, false)]).await;
    wait_for_count(&app.db, "select count(*) from device_transition", 1).await;

    // Away for longer than the device's grace and two looks of the watcher.
    broker.stop();
    tokio::time::sleep(Duration::from_secs(25)).await;
    broker.launch().await;
    // The device sends as soon as Lookout can hear it again.
    app.metrics_until(|metrics| metrics.contains("lookout_broker_connected 1"))
        .await;
    publish_to(&broker.url(), &[(&data, b"2", QoS::AtLeastOnce, false)]).await;
    wait_for_count(&app.db, "select count(*) from watch_span", 2).await;
    publish_to(&broker.url(), &[(&data, b"3", QoS::AtLeastOnce, false)]).await;
    // Longer than a look of the watcher after it saw again, inside the device's grace.
    tokio::time::sleep(Duration::from_secs(11)).await;

    let recorded = transitions(&app).await;
    let states: Vec<&str> = recorded.iter().map(|(state, ..)| state.as_str()).collect();
    assert_eq!(states, ["online"], "{recorded:?}");
    // The gap between the stretches of sight covers the outage.
    let gap_ms: i64 = sqlx::query_scalar(
        "select (extract(epoch from max(started_at) - min(seen_until)) * 1000)::int8 \
         from watch_span",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(gap_ms >= 15_000, "blind for {gap_ms} ms");
}

#[tokio::test]
async fn uptime_records_past_the_longest_window_go_but_each_device_keeps_its_last_state() {
    let url = support::fresh_database().await;
    let store = app::server::store::Store::connect(&url, Duration::from_secs(10))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let rule: i64 = sqlx::query_scalar(
        "insert into liveness_rule (name, device_filter, interval_seconds) \
         values ('pumps', 'pumps/+/#', 60) returning id",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let now = chrono::Utc::now();
    for (days_ago, state) in [
        (200, "online"),
        (150, "offline"),
        (100, "online"),
        (10, "offline"),
    ] {
        sqlx::query(
            "insert into device_transition (rule_id, device, at, state, cause) \
             values ($1, 'p1', $2, $3, 'test')",
        )
        .bind(rule)
        .bind(now - chrono::TimeDelta::days(days_ago))
        .bind(state)
        .execute(&db)
        .await
        .unwrap();
    }
    for days_ago in [120, 5] {
        let end = now - chrono::TimeDelta::days(days_ago);
        sqlx::query("insert into watch_span (started_at, seen_until) values ($1, $2)")
            .bind(end - chrono::TimeDelta::hours(1))
            .bind(end)
            .execute(&db)
            .await
            .unwrap();
    }

    let retention = lookout::config::RetentionSettings {
        days: 30,
        rules: Vec::new(),
        rollups: Default::default(),
    };
    let report = lookout::maintenance::run_round(&store, &retention, now)
        .await
        .unwrap();
    assert_eq!(report.uptime_deleted, 3, "{report:?}");
    let kept: Vec<String> = sqlx::query_scalar("select state from device_transition order by at")
        .fetch_all(&db)
        .await
        .unwrap();
    // The change 100 days ago says the pump was online when the 90 days began.
    assert_eq!(kept, ["online", "offline"]);
    let spans: i64 = sqlx::query_scalar("select count(*) from watch_span")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(spans, 1);
}

#[tokio::test]
async fn an_uptime_widget_on_a_topic_counts_its_value_against_its_thresholds() {
    let app = spawn_app_with(|settings| settings.web.status_ttl = Duration::from_secs(1)).await;
    app.sign_in_as("boss", app::domain::roles::Role::Admin)
        .await;
    let topic = app.topic("plant/boiler");
    make_public(&app, &topic).await;
    let page = create_page(&app, "boiler", "Boiler").await;
    for (kind, label, days) in [
        ("uptime", "Boiler uptime", ""),
        ("uptime_bar", "Boiler days", "30"),
    ] {
        let fields = [
            ("kind", kind),
            ("label", label),
            ("topic", topic.as_str()),
            ("pointer", "/temp"),
            ("worse", "above"),
            ("degraded_at", "60"),
            ("down_at", "80"),
            ("days", days),
        ];
        add_widget(&app, page, &fields).await;
    }
    set_published(&app, page, "boiler", "Boiler", true).await;
    // The watcher reads the widgets at each look.
    wait_for_count(
        &app.db,
        "select count(*) from watch_span s, status_page p where s.seen_until > p.updated_at",
        1,
    )
    .await;

    for (count, temp) in [(1, "20"), (2, "85"), (3, "30")] {
        let payload = format!(r#"{{"temp": {temp}, "owner": "Ada"}}"#);
        publish(&[(&topic, payload.as_bytes(), QoS::AtLeastOnce, false)]).await;
        wait_for_count(&app.db, "select count(*) from threshold_transition", count).await;
    }
    let recorded: Vec<(String, String, i64)> = sqlx::query_as(
        "select level, cause, floor(extract(epoch from at) * 1000)::int8 \
         from threshold_transition order by at, id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let levels: Vec<&str> = recorded.iter().map(|(level, ..)| level.as_str()).collect();
    assert_eq!(levels, ["up", "down", "up"], "{recorded:?}");
    assert_eq!(recorded[1].1, "85 (degraded at 60, down at 80)");
    let hot = received_ms(&app, &topic, r#"{"temp": 85, "owner": "Ada"}"#).await;
    assert_eq!(recorded[1].2, hot, "at the message's own time");

    let admin = app.session();
    app.forget_session();
    let json = anonymous(&app, "/status/boiler.json").await;
    let snapshot: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let figures = &snapshot["widgets"][0]["uptime"];
    let day = figures[0]["percent"].as_f64().unwrap();
    assert!(day > 0.0 && day < 100.0, "{figures}");
    assert!(figures[0]["down_ms"].as_i64().unwrap() > 0, "{figures}");
    assert!(
        !json.body.contains("Ada"),
        "only the bound field is ever shown"
    );

    // Maintenance the admin leaves out of uptime: 20 minutes that ended before the messages,
    // drawn as maintenance on the bar rather than as time not seen.
    app.use_session(&admin);
    let bar: i64 = sqlx::query_scalar(
        "select id from status_widget where page_id = $1 and kind = 'uptime_bar'",
    )
    .bind(page)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let starts = (chrono::Utc::now() - chrono::TimeDelta::minutes(40))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let (page_id, bar_id) = (page.to_string(), bar.to_string());
    post_expecting(
        &app,
        "/admin/pages/maintenance/add",
        &[
            ("page", &page_id),
            ("title", "Burner service"),
            ("message", "The burner is serviced."),
            ("starts", &starts),
            ("minutes", "20"),
            ("repeat", "once"),
            ("uptime", "excluded"),
            ("scope", "widgets"),
            ("widget", &bar_id),
        ],
        "done=maintenance_planned",
    )
    .await;
    app.forget_session();
    // The page's snapshot lives a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let json = anonymous(&app, "/status/boiler.json").await;
    let snapshot: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let days = |widget: usize| -> Vec<i64> {
        snapshot["widgets"][widget]["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|day| day["maintenance_ms"].as_i64().unwrap_or(0))
            .collect()
    };
    assert_eq!(days(1).iter().sum::<i64>(), 20 * 60_000, "{snapshot}");
    assert_eq!(
        days(0).iter().sum::<i64>(),
        0,
        "the other widget is not covered"
    );
    let html = anonymous(&app, "/status/boiler").await.body;
    // (20 min, or two parts of it when the window straddled midnight.)
    assert!(html.contains("under maintenance for "), "{html}");
    assert!(
        html.contains("day-maintained") || html.contains("day-maintenance"),
        "{html}"
    );
}
