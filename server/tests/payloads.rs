//! Every kind of payload is stored safely, byte for byte, and classified as documented.

mod support;

use rumqttc::QoS;
use support::{publish, spawn_app};

#[tokio::test]
async fn empty_binary_text_and_malformed_json_payloads_are_stored_as_documented() {
    let app = spawn_app().await;
    let cases: Vec<(String, Vec<u8>, &str, Option<f64>)> = vec![
        (
            app.topic("json"),
            br#"{"temp": 21.5, "unit": "C"}"#.to_vec(),
            "json",
            Some(21.5),
        ),
        (app.topic("number"), b"42".to_vec(), "json", Some(42.0)),
        (app.topic("text"), b"door open".to_vec(), "text", None),
        (app.topic("empty"), Vec::new(), "text", None),
        (
            app.topic("malformed"),
            br#"{"temp": 21.5"#.to_vec(),
            "text",
            None,
        ),
        (
            app.topic("binary"),
            vec![0xde, 0xad, 0xbe, 0xef, 0x00],
            "binary",
            None,
        ),
    ];
    let messages: Vec<(&str, &[u8], QoS, bool)> = cases
        .iter()
        .map(|(topic, payload, _, _)| (topic.as_str(), payload.as_slice(), QoS::AtLeastOnce, false))
        .collect();
    publish(&messages).await;
    app.wait_for_stored(cases.len() as i64).await;

    for (topic, payload, kind, value) in &cases {
        let stored: (Vec<u8>, String, Option<f64>) = sqlx::query_as(
            "select m.payload, m.kind::text, m.value from message m \
             join topic t on t.id = m.topic_id where t.name = $1",
        )
        .bind(topic)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(
            &stored,
            &(payload.clone(), kind.to_string(), *value),
            "{topic}"
        );
    }

    // JSON payloads can be queried as JSON.
    let unit: String =
        sqlx::query_scalar("select payload_json->>'unit' from message_json where value = 21.5")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(unit, "C");

    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("binary, 5 bytes"));
    assert!(page.body.contains("(empty)"));
    assert!(page.body.contains(r#"{"temp": 21.5"#));
}

#[tokio::test]
async fn a_memory_budget_smaller_than_the_traffic_slows_ingest_but_loses_nothing() {
    // Room for two of these payloads at a time: ingest must wait for the writer again and again.
    let app = support::spawn_app_with(|settings| {
        settings.mqtt.max_payload_bytes = 64 * 1024;
        settings.writer.buffer_bytes = 128 * 1024;
    })
    .await;
    let payloads: Vec<(String, Vec<u8>)> = (0..200u32)
        .map(|n| {
            let mut payload = format!("{n:08}").into_bytes();
            payload.resize(50_000, b'.');
            (app.topic(&format!("camera/{}", n % 4)), payload)
        })
        .collect();
    support::publish_all(&support::broker_url(), &payloads).await;
    support::wait_for_distinct_payloads(&app.db, 200, std::time::Duration::from_secs(60)).await;
    let stored_bytes: i64 =
        sqlx::query_scalar("select sum(octet_length(payload))::int8 from message")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored_bytes, 200 * 50_000);
}
