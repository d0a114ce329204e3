//! Whatever the broker delivers, ingest stores it or sets it aside (counted, logged, acknowledged)
//! and goes on: one message never stops the others.

mod support;

use std::time::Duration;
use support::{publish_all, TestApp};

/// The ingest status as the dashboard reads it.
async fn ingest_status(app: &TestApp) -> serde_json::Value {
    let response = app.post_form("/api/ingest_status", &[]).await;
    assert_eq!(response.status, 200, "{}", response.head);
    serde_json::from_str(&response.body).expect("the ingest status is JSON")
}

/// Waits until the ingest status counts `count` unstorable messages and nothing is left waiting.
async fn wait_for_unstorable(app: &TestApp, count: u64) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = ingest_status(app).await;
        let received = status["received"].as_u64().unwrap();
        let settled = status["stored"].as_u64().unwrap()
            + status["oversized"].as_u64().unwrap()
            + status["unstorable"].as_u64().unwrap();
        if status["unstorable"] == count && received == settled {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {count} unstorable and nothing waiting: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Messages on ten ordinary topics with unique payloads, and `odd` interleaved.
fn mixed(app: &TestApp, count: usize, odd: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut messages: Vec<(String, Vec<u8>)> = (0..count)
        .map(|n| {
            (
                app.topic(&format!("meter-{}/reading", n % 10)),
                format!(r#"{{"seq": {n}}}"#).into_bytes(),
            )
        })
        .collect();
    for (n, topic) in odd.iter().enumerate() {
        let at = (n + 1) * count / (odd.len() + 1);
        messages.insert(at, (topic.clone(), format!("odd {n}").into_bytes()));
    }
    messages
}

#[tokio::test]
async fn a_topic_too_long_to_store_is_set_aside_and_ingest_goes_on() {
    let app = support::spawn_app().await;
    // Both are valid MQTT and Mosquitto passes them on; neither fits Lookout's 1024-byte limit,
    // and the second would not fit PostgreSQL's index either.
    let long = vec![
        app.topic(&"a".repeat(1100)),
        app.topic(&format!("{}/end", "b".repeat(40_000))),
    ];
    publish_all(&support::broker_url(), &mixed(&app, 200, &long)).await;
    app.wait_for_stored(200).await;
    let status = wait_for_unstorable(&app, 2).await;
    assert_eq!(status["stored"], 200, "{status}");

    let longest: i32 = sqlx::query_scalar("select max(octet_length(name)) from topic")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(longest <= 1024, "a topic of {longest} bytes was stored");
    // Ingest still takes new messages: nothing is stuck behind the refused ones.
    publish_all(
        &support::broker_url(),
        &[(app.topic("after"), b"still here".to_vec())],
    )
    .await;
    app.wait_for_stored(201).await;
}

#[tokio::test]
async fn a_row_the_database_refuses_is_set_aside_and_the_rest_of_its_batch_is_stored() {
    let app = support::spawn_app().await;
    // A rule of this database's own that the writer does not know about: the database refuses
    // these rows for what they hold, whatever the writer checked before.
    sqlx::query("alter table topic add constraint no_poison check (name not like '%/poison/%')")
        .execute(&app.db)
        .await
        .unwrap();
    let poison: Vec<String> = (0..3).map(|n| app.topic(&format!("poison/{n}"))).collect();
    // Published in one go, so they reach the writer as one batch with the poisoned rows inside.
    publish_all(&support::broker_url(), &mixed(&app, 500, &poison)).await;
    app.wait_for_stored(500).await;
    let status = wait_for_unstorable(&app, 3).await;
    assert_eq!(status["stored"], 500, "{status}");
    assert_eq!(status["storage_error"], serde_json::Value::Null, "{status}");

    let (messages, topics): (i64, i64) =
        sqlx::query_as("select (select count(*) from message), (select count(*) from topic)")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((messages, topics), (500, 10));
    let counted: i64 = sqlx::query_scalar("select sum(message_count)::int8 from latest")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(counted, 500, "latest rows count every stored message once");

    // Later messages are stored as usual, the refused ones are not redelivered.
    publish_all(
        &support::broker_url(),
        &[(app.topic("meter-0/reading"), b"after".to_vec())],
    )
    .await;
    app.wait_for_stored(501).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let status = wait_for_unstorable(&app, 3).await;
    assert_eq!(status["received"], 504, "{status}");
}

#[tokio::test]
async fn a_payload_larger_than_any_limit_is_read_counted_and_acknowledged_not_looped_on() {
    let app = support::spawn_app().await;
    // 20 MiB: over the payload limit and over what rumqttc reads by default; the machine's
    // broker passes it on (Mosquitto's default message_size_limit is MQTT's own maximum).
    let mut options = support::client_options(&support::broker_url(), "device");
    options.set_max_packet_size(32 << 20, 32 << 20);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let huge = vec![b'x'; 20 << 20];
    client
        .publish(
            app.topic("camera/frame"),
            rumqttc::QoS::AtLeastOnce,
            false,
            huge,
        )
        .await
        .unwrap();
    client
        .publish(
            app.topic("camera/state"),
            rumqttc::QoS::AtLeastOnce,
            false,
            b"ok".to_vec(),
        )
        .await
        .unwrap();
    let mut acknowledged = 0;
    tokio::time::timeout(Duration::from_secs(60), async {
        while acknowledged < 2 {
            if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) =
                eventloop.poll().await.expect("the broker is reachable")
            {
                acknowledged += 1;
            }
        }
    })
    .await
    .expect("the broker took both messages");
    app.wait_for_stored(1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = ingest_status(&app).await;
        if status["oversized"] == 1 && status["received"] == 2 {
            // Read once: the connection held, so the broker never had to send it again.
            assert_eq!(status["reconnects"], 0, "{status}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
