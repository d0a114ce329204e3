//! The live stream (`/api/live`) against the real application, broker and database: who gets it,
//! what each connection receives, resuming, and what a client that falls behind is told.

mod support;

use app::domain::roles::Role;
use rumqttc::QoS;
use std::time::Duration;
use support::live_stream::{open_stream, query, topic_of, Event, Stream};
use support::services::TestBroker;
use support::{publish, publish_all, sequenced, TestApp};

/// Opens the stream with `query`, as the test app's current session (if any).
async fn open(
    app: &TestApp,
    query: &str,
    last_event_id: Option<&str>,
) -> Result<Stream, (u16, String)> {
    let cookie = app.cookie.lock().unwrap().clone();
    open_stream(app.port, cookie.as_deref(), query, last_event_id).await
}

#[tokio::test]
async fn anonymous_visitors_get_no_stream() {
    let app = support::spawn_app().await;
    app.forget_session();
    for path in ["", "?filter=%23", "?conflate_ms=250"] {
        let (status, _) = open(&app, path, None).await.err().expect("refused");
        assert_eq!(status, 401, "{path}");
    }
}

#[tokio::test]
async fn a_message_reaches_the_stream_with_its_value_and_an_id() {
    let app = support::spawn_app().await;
    let topic = app.topic("kitchen/temp");
    let mut stream = open(&app, &query(&[&topic]), None).await.unwrap();
    publish(&[(&topic, br#"{"celsius": 21.5}"#, QoS::AtLeastOnce, true)]).await;
    let event = stream
        .next(Duration::from_secs(10))
        .await
        .expect("an event");
    assert_eq!(event.kind, "message");
    assert!(event.id.is_some());
    let message = event.json();
    assert_eq!(message["topic"], topic.as_str());
    assert_eq!(message["payload"], r#"{"celsius": 21.5}"#);
    assert_eq!(message["kind"], "json");
    assert_eq!(message["value"], 21.5);
    assert_eq!(
        message["retain"], false,
        "a fresh publish is not a retained copy"
    );
    assert_eq!(message["qos"], 1);
}

#[tokio::test]
async fn bad_stream_requests_are_refused_with_the_reason() {
    let app = support::spawn_app().await;
    for (path, reason) in [
        ("?filter=a%2B", "filter"),
        ("?conflate_ms=forever", "conflate_ms"),
        ("?colour=red", "unknown parameter"),
    ] {
        let (status, body) = open(&app, path, None).await.err().expect("refused");
        assert_eq!(status, 400, "{path}");
        assert!(body.contains(reason), "{path}: {body}");
    }
    let (status, _) = open(&app, "", Some("not-an-id")).await.err().unwrap();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_viewer_never_receives_a_topic_its_rules_forbid() {
    let app = support::spawn_app().await;
    // An admin narrows what viewers read (through the rules page, which applies at once).
    let admin_password = app.add_user("rules-admin", Role::Admin).await;
    app.log_in("rules-admin", &admin_password).await;
    let everything: i64 = sqlx::query_scalar(
        "select id from access_rule where role = 'viewer' and filter = '#' and permission = 'read'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let id = everything.to_string();
    let deleted = app.post_form("/admin/rules/delete", &[("id", &id)]).await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    let public = app.topic("public/#");
    let added = app
        .post_form(
            "/admin/rules/add",
            &[
                ("role", "viewer"),
                ("filter", &public),
                ("permission", "read"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);

    let password = app.add_user("narrow-viewer", Role::Viewer).await;
    app.log_in("narrow-viewer", &password).await;
    let mut everything = open(&app, "", None).await.unwrap();
    let secret_only = app.topic("secret/#");
    let mut asking_for_secrets = open(&app, &query(&[&secret_only]), None).await.unwrap();

    let (secret, open_topic, last) = (
        app.topic("secret/key"),
        app.topic("public/weather"),
        app.topic("public/last"),
    );
    publish(&[
        (&secret, b"s3cr3t-marker", QoS::AtLeastOnce, false),
        (&open_topic, b"sunny", QoS::AtLeastOnce, false),
        (&secret, b"s3cr3t-marker-2", QoS::AtLeastOnce, false),
        (&last, b"done", QoS::AtLeastOnce, false),
    ])
    .await;
    let seen = everything.until(|event| topic_of(event) == last).await;
    let topics: Vec<String> = seen.iter().map(topic_of).collect();
    assert_eq!(topics, [open_topic.clone(), last.clone()]);
    assert!(seen.iter().all(|event| !event.data.contains("s3cr3t")));
    assert_eq!(
        asking_for_secrets.next(Duration::from_secs(2)).await,
        None,
        "a filter does not widen what the rules allow"
    );
}

#[tokio::test]
async fn a_resumed_stream_gets_exactly_what_it_missed() {
    let app = support::spawn_app().await;
    let topic = app.topic("counter");
    let mut first = open(&app, &query(&[&topic]), None).await.unwrap();
    publish(&[(&topic, b"1", QoS::AtLeastOnce, false)]).await;
    let seen = first.next(Duration::from_secs(10)).await.unwrap();
    drop(first);

    let missed: Vec<(String, Vec<u8>)> = (2..=4)
        .map(|n| (topic.clone(), n.to_string().into_bytes()))
        .collect();
    publish_all(&support::broker_url(), &missed).await;
    // Stored means ingest has handed them to the hub long before.
    app.wait_for_stored(4).await;

    let mut resumed = open(&app, &query(&[&topic]), seen.id.as_deref())
        .await
        .unwrap();
    let replayed = resumed.until(|event| event.json()["payload"] == "4").await;
    let payloads: Vec<String> = replayed
        .iter()
        .map(|event| event.json()["payload"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(payloads, ["2", "3", "4"]);
    assert!(replayed.windows(2).all(|w| w[0].seq() < w[1].seq()));

    // An id from another run of the server: told to start over, then live as usual.
    let mut foreign = open(&app, &query(&[&topic]), Some("1-1")).await.unwrap();
    let first_event = foreign.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first_event.kind, "resync");
    assert_eq!(first_event.json()["reason"], "restarted");
}

#[tokio::test]
async fn a_stream_that_falls_behind_is_told_to_resync_never_left_with_a_silent_gap() {
    // A broker with the queue settings docs/ingest.md asks for: a stock Mosquitto drops what
    // queues past 1,000 messages while Lookout stores the burst, and then the stream would never
    // fall behind at all (CI once saw exactly that: 1,740 events, then silence).
    let broker = TestBroker::start().await;
    let app = support::spawn_app_via(&broker.url(), |_| {}).await;
    let mut stream = open(&app, "", None).await.unwrap();
    // Far more than the connection's queue and the sockets' buffers (several MiB on loopback)
    // hold while nobody reads: 40 MiB of frames, published before anything is read.
    let count = 10_000;
    let mut burst = sequenced(&app.prefix, 0, count, 20);
    for (_, payload) in &mut burst {
        payload.resize(4000, b'.');
    }
    publish_all(&broker.url(), &burst).await;

    let mut events = stream.until(|event| event.kind == "resync").await;
    assert!(
        events.len() < count as usize,
        "what overflowed was skipped, not queued"
    );
    // Once told, the client refetches its snapshot; the stream goes on from there.
    let marker = app.topic("after-the-resync");
    support::publish_to(&broker.url(), &[(&marker, b"end", QoS::AtLeastOnce, false)]).await;
    events.extend(
        stream
            .until(|event| event.kind == "message" && topic_of(event) == marker)
            .await,
    );
    // Every jump in the ids comes right after a resync.
    let mut previous: Option<&Event> = None;
    for event in &events {
        if event.kind == "resync" {
            assert_eq!(event.json()["reason"], "lagged");
            previous = None;
            continue;
        }
        if let Some(previous) = previous {
            assert_eq!(
                event.seq(),
                previous.seq() + 1,
                "a gap without a resync after {previous:?}"
            );
        }
        previous = Some(event);
    }
}

#[tokio::test]
async fn a_conflated_stream_sends_the_newest_value_per_topic() {
    let app = support::spawn_app().await;
    let mut stream = open(&app, "?conflate_ms=1000", None).await.unwrap();
    let (a, b) = (app.topic("a"), app.topic("b"));
    let messages: Vec<(String, Vec<u8>)> = (0..50)
        .flat_map(|n| {
            [
                (a.clone(), format!("a{n}").into_bytes()),
                (b.clone(), format!("b{n}").into_bytes()),
            ]
        })
        .collect();
    publish_all(&support::broker_url(), &messages).await;
    let mut last = std::collections::HashMap::new();
    // Per topic: messages sent plus the older ones they replaced, which must add up exactly.
    let mut counted = std::collections::HashMap::<String, u64>::new();
    let mut received = 0;
    while last.get(&a) != Some(&"a49".to_owned()) || last.get(&b) != Some(&"b49".to_owned()) {
        let event = stream
            .next(Duration::from_secs(10))
            .await
            .expect("the newest values arrive");
        let data = event.json();
        if event.kind == "replaced" {
            for (topic, replaced) in data.as_object().unwrap() {
                *counted.entry(topic.clone()).or_default() += replaced.as_u64().unwrap();
            }
            continue;
        }
        received += 1;
        let topic = data["topic"].as_str().unwrap().to_owned();
        *counted.entry(topic.clone()).or_default() += 1;
        last.insert(topic, data["payload"].as_str().unwrap().to_owned());
    }
    assert!(
        received < 100,
        "conflated: {received} events for 100 messages"
    );
    assert_eq!(counted[&a], 50);
    assert_eq!(counted[&b], 50);
}

#[tokio::test]
async fn a_conflated_stream_holds_a_bounded_amount_between_ticks() {
    let app = support::spawn_app().await;
    // The longest interval a client may ask for: without a bound, everything would wait a
    // minute in the connection's memory.
    let mut stream = open(&app, "?conflate_ms=60000", None).await.unwrap();
    // Distinct topics with long names: conflation replaces nothing, so all of it waits.
    let messages: Vec<(String, Vec<u8>)> = (0..1000)
        .map(|n| {
            (
                app.topic(&format!("{n:04}/{}", "x".repeat(900))),
                b"1".to_vec(),
            )
        })
        .collect();
    publish_all(&support::broker_url(), &messages).await;
    let event = stream
        .next(Duration::from_secs(20))
        .await
        .expect("what waits goes out early once it reaches the bound, not at the tick");
    assert_eq!(event.kind, "message");
}

#[tokio::test]
async fn logging_out_ends_the_stream() {
    let app = support::spawn_app().await;
    let mut stream = open(&app, "", None).await.unwrap();
    let out = app.post_form("/logout", &[]).await;
    assert_eq!(out.status, 303);
    // Streams check their login every 20 s.
    assert!(stream.ends_within(Duration::from_secs(45)).await);
}

/// The pages that follow the stream (the overview, the explorer) hold browser-only state in their
/// reactive owner. A multi-threaded server may finish rendering a page on another worker thread
/// than the one that began it, and must still send the whole page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_following_the_stream_render_whole_on_any_worker_thread() {
    let app = support::spawn_app().await;
    publish(&[(&app.topic("a/b"), b"1", QoS::AtLeastOnce, false)]).await;
    app.wait_for_stored(1).await;
    for round in 0..25 {
        for path in ["/", "/topics"] {
            let response = app.get(path).await;
            assert_eq!(response.status, 200, "{path}");
            // Leptos appends the resolved data after the document; a cut page lacks both.
            let body = response.body.trim_end();
            assert!(
                body.contains("</body></html>") && body.ends_with("</script>"),
                "{path} was cut short in round {round}"
            );
        }
    }
}
