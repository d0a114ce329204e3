//! Publishing from the dashboard against the real application and the real broker: what an
//! operator's form post puts on the broker (seen by a client of the test's own), what Lookout
//! stores of it, what is refused and to whom, and the audit log of every attempt.

mod support;

use app::domain::roles::Role;
use rumqttc::{AsyncClient, Event, Packet, Publish, QoS};
use sha2::{Digest, Sha256};
use std::time::Duration;
use support::services::TestBroker;
use support::{
    broker_url, client_options, http_request, publish, publish_to, spawn_app, spawn_app_via,
    spawn_app_with, HttpResponse, TestApp,
};
use tokio::sync::mpsc;

/// `app`, where operators may now publish under `{prefix}/allowed/#` (a rule added by an admin
/// through the rules form), with the operator `op` signed in.
async fn with_operator(app: TestApp) -> TestApp {
    app.sign_in_as("boss", Role::Admin).await;
    let filter = app.topic("allowed/#");
    let response = app
        .post_form(
            "/admin/rules/add",
            &[
                ("role", "operator"),
                ("filter", &filter),
                ("permission", "publish"),
            ],
        )
        .await;
    assert_eq!(
        response.header("location"),
        Some("/admin/rules?done=rule_added"),
        "{}",
        response.head
    );
    app.sign_in_as("op", Role::Operator).await;
    app
}

/// Posts the publish form; returns the response and the page it leads back to.
async fn post_publish(app: &TestApp, fields: &[(&str, &str)]) -> (HttpResponse, Option<String>) {
    let response = app.post_form("/publish", fields).await;
    if response.status != 303 {
        return (response, None);
    }
    assert_eq!(response.header("location"), Some("/publish"));
    let page = app.get("/publish").await;
    assert_eq!(page.status, 200, "{}", page.head);
    (response, Some(page.body))
}

/// Publishes through the form; returns the page it leads back to.
async fn publish_via_form(app: &TestApp, topic: &str, qos: &str, payload: &str) -> String {
    let fields = [("topic", topic), ("payload", payload), ("qos", qos)];
    let (response, page) = post_publish(app, &fields).await;
    page.unwrap_or_else(|| panic!("not back to the page: {}", response.head))
}

/// An MQTT client of the test's own, subscribed to a filter: what the broker hands subscribers.
struct Observer {
    messages: mpsc::UnboundedReceiver<Publish>,
    client: AsyncClient,
}

impl Observer {
    /// Returns once the shared test broker confirmed the subscription.
    async fn watch(filter: &str) -> Self {
        Self::watch_on(&broker_url(), filter).await
    }

    async fn watch_on(broker: &str, filter: &str) -> Self {
        let (client, mut eventloop) = AsyncClient::new(client_options(broker, "observer"), 10);
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        let (sender, messages) = mpsc::unbounded_channel();
        let (subscribed, confirmed) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut subscribed = Some(subscribed);
            while let Ok(event) = eventloop.poll().await {
                let read = match event {
                    Event::Incoming(Packet::SubAck(_)) => {
                        if let Some(subscribed) = subscribed.take() {
                            let _ = subscribed.send(());
                        }
                        true
                    }
                    Event::Incoming(Packet::Publish(publish)) => sender.send(publish).is_ok(),
                    _ => true,
                };
                // The test is over once nobody reads.
                if !read {
                    return;
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), confirmed)
            .await
            .expect("the broker confirms the subscription")
            .unwrap();
        Self { messages, client }
    }

    async fn next(&mut self) -> Publish {
        tokio::time::timeout(Duration::from_secs(10), self.messages.recv())
            .await
            .expect("a message arrives within 10 s")
            .expect("the observer is running")
    }

    /// Proves nothing else arrived first: a marker published now by a device is the next message
    /// (a publish Lookout had made would have reached the broker before its answer came back).
    async fn expect_nothing_before_marker(&mut self, topic: &str) {
        let marker = format!("marker {}", support::unique_name("m"));
        publish(&[(topic, marker.as_bytes(), QoS::AtLeastOnce, false)]).await;
        let next = self.next().await;
        assert_eq!(
            (next.topic.as_str(), &next.payload[..]),
            (topic, marker.as_bytes()),
            "something reached the broker before the marker"
        );
    }

    async fn stop(self) {
        let _ = self.client.disconnect().await;
    }
}

/// The payload Lookout stored for `topic`, waiting for the writer.
async fn stored_payloads(app: &TestApp, topic: &str, count: usize) -> Vec<(Vec<u8>, i16, bool)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let rows: Vec<(Vec<u8>, i16, bool)> = sqlx::query_as(
            "select m.payload, m.qos, m.retain from message m join topic t on t.id = m.topic_id \
             where t.name = $1 order by m.received_at",
        )
        .bind(topic)
        .fetch_all(&app.db)
        .await
        .unwrap();
        if rows.len() >= count {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Lookout stored {} of {count} messages on {topic}",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[tokio::test]
async fn an_operator_publishes_to_an_allowed_topic_and_the_broker_and_lookout_get_it() {
    let app = with_operator(spawn_app().await).await;
    let page = app.get("/publish").await;
    assert!(
        page.body.contains(r#"class="publish-form""#),
        "{}",
        page.body
    );
    assert!(page.body.contains(&app.topic("allowed/#")), "{}", page.body);
    // The header links to the page for those who may publish.
    assert!(page.body.contains(r#"href="/publish""#), "{}", page.body);

    let topic = app.topic("allowed/lights/hall");
    let mut observer = Observer::watch(&app.topic("#")).await;
    for (qos, payload, delivery) in [
        ("1", r#"{"on": true}"#, "acknowledged"),
        ("0", "off", "written"),
    ] {
        let page = publish_via_form(&app, &topic, qos, payload).await;
        assert!(
            page.contains(&format!(r#"data-delivery="{delivery}""#)),
            "{page}"
        );
        assert!(
            page.contains(&format!("Published {} bytes to", payload.len())),
            "{page}"
        );
        let received = observer.next().await;
        assert_eq!(received.topic, topic);
        assert_eq!(&received.payload[..], payload.as_bytes());
        assert_eq!(received.qos as u8, qos.parse::<u8>().unwrap());
        assert!(!received.retain);
    }
    // The notice shows once; the form keeps the topic.
    let again = app.get("/publish").await;
    assert!(!again.body.contains("data-delivery"), "{}", again.body);

    // Lookout subscribes to its prefix, so it stored its own messages like any other.
    let stored = stored_payloads(&app, &topic, 2).await;
    assert_eq!(stored[0], (br#"{"on": true}"#.to_vec(), 1, false));
    assert_eq!(stored[1].0, b"off".to_vec());

    let audited = app.audited("publish").await;
    assert_eq!(audited.len(), 2);
    let (actor, detail) = &audited[0];
    assert_eq!(actor.as_deref(), Some("op"));
    assert_eq!(detail["topic"], topic.as_str());
    assert_eq!(detail["qos"], 1);
    assert_eq!(detail["retain"], false);
    assert_eq!(detail["payload_bytes"], 12);
    assert_eq!(
        detail["payload_sha256"],
        sha256(br#"{"on": true}"#).as_str()
    );
    let mut keys: Vec<&String> = detail.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["payload_bytes", "payload_sha256", "qos", "retain", "topic"],
        "never the payload itself"
    );

    // Admins need no rule.
    app.sign_in_as("root", Role::Admin).await;
    let anywhere = app.topic("anywhere");
    let (_, page) = post_publish(
        &app,
        &[("topic", &anywhere), ("payload", "2"), ("qos", "2")],
    )
    .await;
    assert!(page.unwrap().contains(r#"data-delivery="acknowledged""#));
    assert_eq!(observer.next().await.topic, anywhere);
    observer.stop().await;
}

#[tokio::test]
async fn a_retained_publish_needs_its_confirmation_and_stays_on_the_broker() {
    let app = with_operator(spawn_app().await).await;
    let topic = app.topic("allowed/mode");
    let mut observer = Observer::watch(&topic).await;
    let form = [
        ("topic", topic.as_str()),
        ("payload", "eco"),
        ("qos", "1"),
        ("retain", "on"),
    ];
    let (_, page) = post_publish(&app, &form).await;
    let page = page.expect("the form comes back");
    assert!(page.contains("Tick the confirmation"), "{page}");
    // The form comes back as it was sent, but for the payload, which is asked for again.
    assert!(page.contains(&format!(r#"value="{topic}""#)), "{page}");
    assert!(page.contains("paste the payload (3 bytes) again"), "{page}");
    observer.expect_nothing_before_marker(&topic).await;
    let (actor, refused) = app.audited("publish_refused").await.pop().unwrap();
    assert_eq!(actor.as_deref(), Some("op"));
    assert_eq!(refused["reason"], "retain_not_confirmed");
    assert_eq!(refused["topic"], topic.as_str());
    assert!(app.audited("publish").await.is_empty());

    let confirmed = [&form[..], &[("confirm_retain", "on")]].concat();
    let (_, page) = post_publish(&app, &confirmed).await;
    let page = page.unwrap();
    assert!(page.contains("(QoS 1, retained)"), "{page}");
    let live = observer.next().await;
    assert_eq!((&live.payload[..], live.retain), (&b"eco"[..], false));
    observer.stop().await;

    // A subscriber arriving later gets it from the broker, flagged retained.
    let mut latecomer = Observer::watch(&topic).await;
    let retained = latecomer.next().await;
    assert_eq!(
        (&retained.payload[..], retained.retain),
        (&b"eco"[..], true)
    );
    latecomer.stop().await;
    assert_eq!(app.audited("publish").await[0].1["retain"], true);
    // Leave the shared broker as it was.
    publish(&[(&topic, b"", QoS::AtLeastOnce, true)]).await;
}

#[tokio::test]
async fn a_viewer_is_refused_and_nothing_reaches_the_broker() {
    let app = spawn_app().await; // signed in as a viewer
    let page = app.get("/publish").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("publish-form"), "{}", page.body);
    assert!(
        page.body.contains("may not publish to any topic"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(r#"href="/publish""#),
        "no link for viewers"
    );

    let topic = app.topic("lights");
    let mut observer = Observer::watch(&topic).await;
    let response = app
        .post_form(
            "/publish",
            &[("topic", &topic), ("payload", "on"), ("qos", "1")],
        )
        .await;
    assert_eq!(response.status, 403, "{}", response.head);
    observer.expect_nothing_before_marker(&topic).await;
    observer.stop().await;
    let (actor, refused) = app.audited("publish_refused").await.pop().unwrap();
    assert_eq!(actor.as_deref(), Some("test-viewer"));
    assert_eq!(refused["reason"], "not_allowed");
    assert_eq!(refused["payload_bytes"], 2);

    // An operator without any publish rule (a fresh install) is refused the same way.
    app.sign_in_as("rookie", Role::Operator).await;
    assert!(app
        .get("/publish")
        .await
        .body
        .contains("may not publish to any topic"));
    let response = app
        .post_form(
            "/publish",
            &[("topic", &topic), ("payload", "on"), ("qos", "1")],
        )
        .await;
    assert_eq!(response.status, 403);
    assert!(app.audited("publish").await.is_empty());
}

#[tokio::test]
async fn an_operator_is_refused_outside_its_rules() {
    let app = with_operator(spawn_app().await).await;
    let topic = app.topic("boiler/setpoint");
    let mut observer = Observer::watch(&topic).await;
    let response = app
        .post_form(
            "/publish",
            &[("topic", &topic), ("payload", "90"), ("qos", "1")],
        )
        .await;
    assert_eq!(response.status, 403, "{}", response.head);
    assert!(
        response.body.contains("Nothing was published"),
        "{}",
        response.body
    );
    observer.expect_nothing_before_marker(&topic).await;
    observer.stop().await;
    let (actor, refused) = app.audited("publish_refused").await.pop().unwrap();
    assert_eq!(actor.as_deref(), Some("op"));
    assert_eq!(refused["reason"], "not_allowed");
    assert_eq!(refused["topic"], topic.as_str());
}

#[tokio::test]
async fn malformed_topics_and_fields_come_back_with_a_clear_message() {
    let app = with_operator(spawn_app().await).await;
    let wildcard = app.topic("allowed/+/set");
    let allowed = app.topic("allowed/x");
    for (fields, message, reason) in [
        (
            vec![("topic", wildcard.as_str()), ("payload", "x"), ("qos", "0")],
            "'+' and '#' are wildcards",
            "wildcard",
        ),
        (
            vec![("topic", ""), ("payload", "x"), ("qos", "0")],
            "Enter the topic",
            "empty_topic",
        ),
        (
            vec![("topic", "$SYS/broker/x"), ("payload", "x"), ("qos", "0")],
            "belong to the broker",
            "reserved_topic",
        ),
        (
            vec![("topic", wildcard.as_str()), ("payload", "x"), ("qos", "5")],
            "'+' and '#' are wildcards",
            "wildcard",
        ),
        (
            vec![("topic", allowed.as_str()), ("payload", "x"), ("qos", "5")],
            "QoS is 0, 1 or 2",
            "bad_qos",
        ),
    ] {
        let (response, page) = post_publish(&app, &fields).await;
        let page = page.unwrap_or_else(|| panic!("{fields:?}: {}", response.head));
        assert!(page.contains(message), "{fields:?}: {page}");
        assert!(page.contains(r#"role="alert""#));
        let (_, refused) = app.audited("publish_refused").await.pop().unwrap();
        assert_eq!(refused["reason"], reason, "{fields:?}");
    }
    assert!(app.audited("publish").await.is_empty());
}

#[tokio::test]
async fn a_payload_over_the_configured_limit_is_refused() {
    let app = spawn_app_with(|settings| settings.mqtt.max_payload_bytes = 64).await;
    let app = with_operator(app).await;
    let topic = app.topic("allowed/blob");
    let mut observer = Observer::watch(&topic).await;
    let too_big = "x".repeat(65);
    let (_, page) = post_publish(
        &app,
        &[("topic", &topic), ("payload", &too_big), ("qos", "1")],
    )
    .await;
    let page = page.unwrap();
    assert!(
        page.contains("The payload is 65 bytes; Lookout publishes at most 64 bytes"),
        "{page}"
    );
    observer.expect_nothing_before_marker(&topic).await;
    let (_, refused) = app.audited("publish_refused").await.pop().unwrap();
    assert_eq!(refused["reason"], "payload_too_large");
    assert_eq!(refused["payload_bytes"], 65);

    // Multi-byte characters count as the bytes they are.
    let just_fits = "é".repeat(32);
    let (_, page) = post_publish(
        &app,
        &[("topic", &topic), ("payload", &just_fits), ("qos", "1")],
    )
    .await;
    assert!(page.unwrap().contains(r#"data-delivery="acknowledged""#));
    assert_eq!(&observer.next().await.payload[..], just_fits.as_bytes());
    observer.stop().await;
}

#[tokio::test]
async fn a_cross_origin_post_is_refused_before_anything_happens() {
    let app = with_operator(spawn_app().await).await;
    let topic = app.topic("allowed/door");
    let mut observer = Observer::watch(&topic).await;
    let cookie = format!("Cookie: {}", app.session().unwrap());
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("topic", topic.as_str()), ("payload", "open"), ("qos", "1")])
        .finish();
    let response = http_request(
        app.port,
        "POST",
        "/publish",
        &[
            "Origin: http://evil.example",
            "Content-Type: application/x-www-form-urlencoded",
            &cookie,
        ],
        &body,
    )
    .await;
    assert_eq!(response.status, 403, "{}", response.head);
    observer.expect_nothing_before_marker(&topic).await;
    observer.stop().await;
    // Not an attempt of the user's: their browser was made to send it.
    assert!(app.audited("publish").await.is_empty());
    assert!(app.audited("publish_refused").await.is_empty());
}

#[tokio::test]
async fn while_the_broker_is_away_publishing_is_refused_and_afterwards_works_again() {
    let mut broker = TestBroker::start().await;
    let app = with_operator(spawn_app_via(&broker.url(), |_| {}).await).await;
    let topic = app.topic("allowed/pump");
    let page = publish_via_form(&app, &topic, "1", "before").await;
    assert!(page.contains(r#"data-delivery="acknowledged""#));

    broker.stop();
    app.get_until("/publish", |page| {
        page.contains("not connected to the broker right now")
    })
    .await;
    let page = publish_via_form(&app, &topic, "1", "while away").await;
    assert!(page.contains("nothing was published"), "{page}");
    assert!(
        page.contains("paste the payload (10 bytes) again"),
        "{page}"
    );
    let (_, refused) = app.audited("publish_refused").await.pop().unwrap();
    assert_eq!(refused["reason"], "not_connected");

    broker.launch().await;
    app.get_until("/publish", |page| {
        !page.contains("not connected to the broker")
    })
    .await;
    let mut observer = Observer::watch_on(&broker.url(), &topic).await;
    // Each answer still belongs to its own message after the reconnect.
    for (qos, payload, delivery) in [
        ("1", "after 1", "acknowledged"),
        ("2", "after 2", "acknowledged"),
        ("0", "after 0", "written"),
        ("1", "after 1 again", "acknowledged"),
    ] {
        let page = publish_via_form(&app, &topic, qos, payload).await;
        assert!(
            page.contains(&format!(r#"data-delivery="{delivery}""#)),
            "{qos}: {page}"
        );
        assert_eq!(&observer.next().await.payload[..], payload.as_bytes());
    }
    observer.stop().await;
    let published: Vec<String> = app
        .audited("publish")
        .await
        .into_iter()
        .map(|(_, detail)| detail["payload_bytes"].to_string())
        .collect();
    assert_eq!(published, ["6", "7", "7", "7", "13"]);
}

#[tokio::test]
async fn topics_that_brokers_refuse_are_refused_with_the_reason() {
    let app = with_operator(spawn_app().await).await;
    let allowed = app.topic("allowed/");
    let bell = format!("{allowed}bell\u{7}");
    let next_line = format!("{allowed}c1\u{85}");
    let non_character = format!("{allowed}x\u{fdd0}");
    let last_plane = format!("{allowed}x\u{10ffff}");
    let too_long = format!("{allowed}{}", "a".repeat(1025 - allowed.len()));
    let just_fits = format!("{allowed}{}", "a".repeat(1024 - allowed.len()));
    for (topic, message, reason) in [
        (
            &bell,
            "contains U+0007, a control character",
            "control_character",
        ),
        (
            &next_line,
            "contains U+0085, a control character",
            "control_character",
        ),
        (
            &non_character,
            "contains U+FDD0, a Unicode non-character",
            "non_character",
        ),
        (
            &last_plane,
            "contains U+10FFFF, a Unicode non-character",
            "non_character",
        ),
        (
            &too_long,
            "at most 1024 bytes, the longest topic Lookout stores",
            "topic_too_long",
        ),
    ] {
        let (response, page) = post_publish(
            &app,
            &[("topic", topic.as_str()), ("payload", "x"), ("qos", "1")],
        )
        .await;
        let page = page.unwrap_or_else(|| panic!("{topic:?}: {}", response.head));
        assert!(page.contains(message), "{topic:?}: {page}");
        let (_, refused) = app.audited("publish_refused").await.pop().unwrap();
        assert_eq!(refused["reason"], reason, "{topic:?}");
    }
    assert!(app.audited("publish").await.is_empty());

    // Nothing reached the broker, and the connection is still there for a topic that fits.
    let mut observer = Observer::watch(&app.topic("allowed/#")).await;
    let page = publish_via_form(&app, &just_fits, "1", "fits").await;
    assert!(page.contains(r#"data-delivery="acknowledged""#), "{page}");
    let received = observer.next().await;
    assert_eq!(
        (received.topic.as_str(), &received.payload[..]),
        (just_fits.as_str(), &b"fits"[..])
    );
    observer.stop().await;
}

/// A message the broker refuses (Mosquitto closes the connection over a packet larger than its
/// `max_packet_size`) must cost one reconnect of the publishing connection and nothing else: on
/// ingest's persistent session rumqttc sent it again after every reconnect, forever, and ingest
/// could acknowledge nothing and stored every held message again at each reconnect.
#[tokio::test]
async fn a_message_the_broker_refuses_is_reported_lost_and_ingest_keeps_storing() {
    let broker = TestBroker::start_with_settings("max_packet_size 2048").await;
    let app = with_operator(spawn_app_via(&broker.url(), |_| {}).await).await;
    let topic = app.topic("allowed/firmware");
    let page = publish_via_form(&app, &topic, "1", &"x".repeat(4000)).await;
    assert!(page.contains(r#"data-delivery="lost""#), "{page}");
    assert!(
        page.contains("Brokers close the connection over a message they refuse"),
        "{page}"
    );
    let (_, published) = app.audited("publish").await.pop().unwrap();
    assert_eq!(published["payload_bytes"], 4000);

    // Time for a few rounds of a reconnect loop (its backoff starts at 250 ms).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let refusals = broker
        .log()
        .matches("disconnected due to oversize packet")
        .count();
    assert_eq!(
        refusals,
        1,
        "the refused message went out again:\n{}",
        broker.log()
    );

    // Ingest never noticed: a device's message is stored once (a reconnect of ingest's session
    // would have stored unacknowledged ones twice), and the next publish goes through.
    let reading = app.topic("boiler/temperature");
    publish_to(
        &broker.url(),
        &[(&reading, b"21.5", QoS::AtLeastOnce, false)],
    )
    .await;
    assert_eq!(stored_payloads(&app, &reading, 1).await.len(), 1);
    let page = publish_via_form(&app, &topic, "1", "small").await;
    assert!(page.contains(r#"data-delivery="acknowledged""#), "{page}");
    stored_payloads(&app, &topic, 1).await;
    let ingest_drops = broker
        .log()
        .lines()
        .filter(|line| {
            line.contains(&app.client_id) && !line.contains(&format!("{}-pub", app.client_id))
        })
        .filter(|line| line.contains("disconnected") || line.contains("closed its connection"))
        .count();
    assert_eq!(ingest_drops, 0, "{}", broker.log());
}

#[tokio::test]
async fn a_refused_form_keeps_no_payload_in_the_session() {
    let app = with_operator(spawn_app().await).await;
    let topic = app.topic("allowed/door/code");
    let secret = support::unique_name("secret-door-code");
    // Refused: retained without the confirmation.
    let response = app
        .post_form(
            "/publish",
            &[
                ("topic", topic.as_str()),
                ("payload", &secret),
                ("qos", "1"),
                ("retain", "on"),
            ],
        )
        .await;
    assert_eq!(response.status, 303, "{}", response.head);
    // The outcome waits in the session row until the page shows it: it names the topic, and
    // never the payload.
    let holding = |needle: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from tower_sessions.session \
                 where position(convert_to($1, 'UTF8') in data) > 0",
            )
            .bind(needle)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(
        holding(topic.clone()).await,
        1,
        "the flash is in the session"
    );
    assert_eq!(holding(secret.clone()).await, 0, "the payload is not");
    let page = app.get("/publish").await.body;
    assert!(page.contains("Tick the confirmation"), "{page}");
    assert!(!page.contains(&secret), "{page}");
    assert!(
        page.contains(&format!("paste the payload ({} bytes) again", secret.len())),
        "{page}"
    );
}
