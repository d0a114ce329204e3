//! A message published to the broker reaches PostgreSQL and the server-rendered page.

mod support;

use rumqttc::QoS;
use support::{publish, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_published_message_is_stored_and_shown_on_the_home_page() {
    let app = spawn_app().await;
    let temperature = app.topic("weather/temperature");
    let status = app.topic("door/status");
    let blob = app.topic("camera/frame");
    publish(&[
        (&temperature, b"21.5", QoS::AtLeastOnce, false),
        (
            &status,
            br#"{"state": "open", "battery": 87}"#,
            QoS::AtMostOnce,
            false,
        ),
        (&blob, &[0xff, 0x00, 0xfe, 0x01], QoS::ExactlyOnce, false),
    ])
    .await;
    app.wait_for_stored(3).await;

    /// topic, payload, QoS, retain flag, numeric value
    type StoredRow = (String, Vec<u8>, i16, bool, Option<f64>);
    let stored: Vec<StoredRow> = sqlx::query_as(
        "select t.name, m.payload, m.qos, m.retain, m.value \
         from message m join topic t on t.id = m.topic_id order by t.name",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        stored,
        vec![
            (blob.clone(), vec![0xff, 0x00, 0xfe, 0x01], 2, false, None),
            (
                status.clone(),
                br#"{"state": "open", "battery": 87}"#.to_vec(),
                0,
                false,
                Some(87.0)
            ),
            (temperature.clone(), b"21.5".to_vec(), 1, false, Some(21.5)),
        ]
    );
    let latest: i64 = sqlx::query_scalar("select count(*) from latest")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(latest, 3);

    let page = app.get("/").await;
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(page.body.contains(&temperature), "{}", page.body);
    assert!(page.body.contains("21.5"));
    assert!(page.body.contains(r#"{"state": "open", "battery": 87}"#));
    assert!(page.body.contains("binary, 4 bytes"));
    assert!(page.body.contains(" s ago"));

    // Acknowledgements follow the commit: QoS 1 and 2 are acknowledged, QoS 0 needs none.
    let metrics = app
        .metrics_until(|body| body.contains("\nlookout_messages_acknowledged_total 2\n"))
        .await;
    assert!(
        metrics.head.contains("text/plain; version=0.0.4"),
        "{}",
        metrics.head
    );
    for line in [
        "lookout_broker_connected 1",
        "lookout_messages_received_total 3",
        "lookout_messages_stored_total 3",
        "lookout_messages_rejected_total 0",
        "lookout_ingest_backlog 0",
        "lookout_storage_failing 0",
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "{line} not in {}",
            metrics.body
        );
    }
    assert!(metrics.body.contains("lookout_batch_commit_seconds_count "));
}

#[tokio::test]
async fn the_newest_message_of_a_topic_is_its_latest_value() {
    let app = spawn_app().await;
    let topic = app.topic("counter");
    let payloads: Vec<String> = (1..=60).map(|n| n.to_string()).collect();
    let messages: Vec<(&str, &[u8], QoS, bool)> = payloads
        .iter()
        .map(|p| (topic.as_str(), p.as_bytes(), QoS::AtLeastOnce, false))
        .collect();
    publish(&messages).await;
    app.wait_for_stored(60).await;

    let (payload, count): (Vec<u8>, i64) =
        sqlx::query_as("select payload, message_count from latest")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(payload, b"60");
    assert_eq!(count, 60);
    let page = app.get("/").await;
    assert!(page.body.contains("<code>60</code>"), "{}", page.body);
}

#[tokio::test]
async fn a_retained_message_is_received_at_start_and_stored_with_its_flag() {
    let prefix = support::unique_name("t");
    let topic = format!("{prefix}/config");
    publish(&[(&topic, b"mode=eco", QoS::AtLeastOnce, true)]).await;

    let database_url = support::fresh_database().await;
    let client_id = support::unique_name("lookout");
    let app = support::spawn_app_on(
        &database_url,
        &support::broker_url(),
        &prefix,
        &client_id,
        |_| {},
    )
    .await;
    app.wait_for_stored(1).await;
    let retain: bool = sqlx::query_scalar("select retain from message")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(retain);

    // An empty retained publish clears it on the broker, so the next run starts clean.
    publish(&[(&topic, b"", QoS::AtLeastOnce, true)]).await;
}

#[tokio::test]
async fn an_oversized_payload_is_skipped_and_later_messages_still_arrive() {
    let app = spawn_app_with(|settings| settings.mqtt.max_payload_bytes = 1024).await;
    let big = vec![b'x'; 4096];
    let large = app.topic("large");
    let small = app.topic("small");
    publish(&[
        (&large, &big, QoS::AtLeastOnce, false),
        (&small, b"ok", QoS::AtLeastOnce, false),
    ])
    .await;
    app.wait_for_stored(1).await;
    // Give a wrongly stored large message time to show up too.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let names: Vec<String> =
        sqlx::query_scalar("select t.name from message m join topic t on t.id = m.topic_id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(names, vec![small]);

    // Counted and named where operators look, acknowledged so the broker does not resend it.
    let page = app.get("/").await;
    assert!(
        page.body.contains("1 over the size limit, not stored"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&large), "{}", page.body);
    let metrics = app
        .metrics_until(|body| body.contains("\nlookout_messages_acknowledged_total 2\n"))
        .await;
    assert!(metrics
        .body
        .contains("\nlookout_messages_rejected_total 1\n"));
}

#[tokio::test]
async fn an_unknown_path_is_a_404_page() {
    let app = spawn_app().await;
    let page = app.get("/no/such/page").await;
    assert_eq!(page.status, 404, "{}", page.head);
    assert!(page.body.contains("Not found"));
}

#[tokio::test]
async fn pages_carry_security_headers_and_a_script_nonce_policy() {
    let (app, _) = support::spawn_as_admin().await;
    // Pages loaded with the main module, ones loaded lazily, and the page for nothing found.
    for path in [
        "/",
        "/login",
        "/admin/rules",
        "/admin/pages",
        "/no/such/page",
    ] {
        let page = app.get(path).await;
        let head = page.head.to_ascii_lowercase();
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(head.contains("x-frame-options: deny"), "{head}");
        assert!(head.contains("referrer-policy: same-origin"), "{head}");
        assert!([200, 404].contains(&page.status), "{path}: {}", page.head);
        // The policy allows exactly the nonce every script of the page carries.
        let nonces: Vec<&str> = page
            .body
            .split("nonce=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(
            !nonces.is_empty(),
            "{path}: the hydration script has a nonce"
        );
        assert!(
            nonces.iter().all(|nonce| *nonce == nonces[0]),
            "{path}: {nonces:?}"
        );
        assert!(
            head.contains(&format!(
                "script-src 'self' 'nonce-{}'",
                nonces[0].to_ascii_lowercase()
            )),
            "{path}: {head}"
        );
        assert!(head.contains("frame-ancestors 'none'"), "{head}");
        // Not served over HTTPS here, so no HSTS.
        assert!(!head.contains("strict-transport-security"), "{head}");
    }
    // Anything else allows nothing.
    let css = app.get("/theme.css").await;
    assert!(
        css.head
            .to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'"),
        "{}",
        css.head
    );
}

#[tokio::test]
async fn a_state_changing_request_from_another_origin_is_refused() {
    let app = spawn_app().await;
    for headers in [
        vec!["Origin: http://evil.example"],
        vec!["Referer: http://evil.example/form.html"],
        vec![],
    ] {
        let response =
            support::http_request(app.port, "POST", "/api/anything", &headers, "a=1").await;
        assert_eq!(response.status, 403, "{headers:?}: {}", response.head);
    }
    let own = format!("Origin: http://127.0.0.1:{}", app.port);
    let response = support::http_request(app.port, "POST", "/api/anything", &[&own], "a=1").await;
    assert_ne!(response.status, 403, "{}", response.head);
}

/// Starting a server must never stall a page another server of the same process is rendering:
/// Leptos works out a server's routes with data loading switched off process-wide, so a page
/// whose data was first asked for meanwhile waited forever (leptos-rs/leptos#4773). The routes
/// are now worked out once per process (`startup::route_list`). Working them out per server, as
/// before, failed this test in about a third of its runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_another_server_never_stalls_a_page_being_rendered() {
    let app = spawn_app().await;
    let starting = async {
        let mut others = Vec::new();
        for _ in 0..8 {
            others.push(spawn_app().await);
        }
        others
    };
    let rendering = |_| async {
        for _ in 0..60 {
            // A stalled page fails here, after http_request's timeout.
            let page = app.get("/").await;
            assert_eq!(page.status, 200, "{}", page.head);
        }
    };
    // The other servers stay up until every page is in.
    let (_others, _) = tokio::join!(
        starting,
        futures_util::future::join_all((0..4).map(rendering))
    );
}
