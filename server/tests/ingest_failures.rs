//! Storage is at-least-once: whatever the broker accepted ends up in PostgreSQL, through bursts,
//! database outages, broker restarts and a killed process. Each test owns its broker (and, where
//! it stops one, its PostgreSQL), so stopping them disturbs no other test.

mod support;

use std::time::Duration;
use support::process::Lookout;
use support::services::{free_port, TestBroker, TestPostgres};
use support::{
    duplicate_count, fresh_database, fresh_database_on, publish_all, sequenced, spawn_app_on,
    unique_name, wait_for_distinct_payloads,
};

const PATIENCE: Duration = Duration::from_secs(120);

/// The most messages Lookout holds received but unacknowledged with default settings: its queue
/// (10,000) plus two batches committing at once (2 × 10,000). Only these can come twice.
const MOST_UNACKNOWLEDGED: i64 = 10_000 + 2 * 10_000;

/// An app on a PostgreSQL and a broker of the test's own, which it may stop and restart.
async fn app_on_private_services() -> (TestPostgres, TestBroker, String, support::TestApp) {
    let postgres = TestPostgres::start().await;
    let broker = TestBroker::start().await;
    let prefix = unique_name("t");
    let app = spawn_app_on(
        &fresh_database_on(&postgres.admin_url()).await,
        &broker.url(),
        &prefix,
        &unique_name("lookout"),
        |_| {},
    )
    .await;
    (postgres, broker, prefix, app)
}

#[tokio::test]
async fn a_burst_of_50000_messages_is_stored_exactly_once() {
    let broker = TestBroker::start().await;
    let app = support::spawn_app_via(&broker.url(), |_| {}).await;
    let prefix = app.prefix.clone();

    let messages = sequenced(&prefix, 0, 50_000, 1_000);
    publish_all(&broker.url(), &messages).await;
    wait_for_distinct_payloads(&app.db, 50_000, PATIENCE).await;

    let (rows, topics, latest): (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from message), (select count(*) from topic), \
                (select count(*) from latest)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((rows, topics, latest), (50_000, 1_000, 1_000));
    // One publisher keeps its order per topic, so each topic's latest is its highest sequence.
    let stale: i64 = sqlx::query_scalar(
        "select count(*) from latest l join topic t on t.id = l.topic_id \
         where convert_from(l.payload, 'UTF8')::jsonb->>'seq' <> \
               (select max((convert_from(m.payload, 'UTF8')::jsonb->>'seq')::int)::text \
                from message m where m.topic_id = l.topic_id)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stale, 0, "some latest rows are not the newest message");
    let counted: i64 = sqlx::query_scalar("select sum(message_count)::int8 from latest")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(counted, 50_000);
}

#[tokio::test]
async fn a_postgres_outage_mid_stream_loses_nothing() {
    let (postgres, broker, prefix, app) = app_on_private_services().await;

    publish_all(&broker.url(), &sequenced(&prefix, 0, 2_000, 100)).await;
    wait_for_distinct_payloads(&app.db, 2_000, PATIENCE).await;

    // The broker accepts these while Lookout cannot store them: more than its queue holds, so
    // ingest also stops reading and the broker keeps the rest.
    postgres.stop();
    publish_all(&broker.url(), &sequenced(&prefix, 2_000, 15_000, 100)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Logins live in the database, so the dashboard says it cannot check them; /metrics needs
    // none and tells that storing is failing (once the writer's attempt has failed).
    let page = app.get("/").await;
    assert_eq!(page.status, 503, "{}", page.head);
    assert!(
        page.body.contains("cannot reach its database"),
        "{}",
        page.body
    );
    app.metrics_until(|body| body.contains("\nlookout_storage_failing 1\n"))
        .await;
    postgres.launch().await;
    publish_all(&broker.url(), &sequenced(&prefix, 17_000, 3_000, 100)).await;

    let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    wait_for_distinct_payloads(&db, 20_000, PATIENCE).await;
    let duplicates = duplicate_count(&db).await;
    eprintln!("postgres outage: 20000 stored, {duplicates} duplicates");
    let page = app.get("/").await;
    assert_eq!(
        page.status, 200,
        "the session survived the outage: {}",
        page.head
    );
    assert!(!page.body.contains("Storing is failing"), "{}", page.body);
}

#[tokio::test]
async fn the_page_shows_a_lost_broker_connection_and_its_error_until_it_is_back() {
    let (_postgres, mut broker, prefix, app) = app_on_private_services().await;
    let page = app.get("/").await;
    assert!(
        page.body.contains(r#"data-connected="true""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("0 reconnects"), "{}", page.body);

    broker.stop();
    let page = app
        .get_until("/", |body| body.contains(r#"data-connected="false""#))
        .await;
    assert!(page.body.contains("Last connection error"), "{}", page.body);

    broker.launch().await;
    publish_all(&broker.url(), &sequenced(&prefix, 0, 10, 2)).await;
    wait_for_distinct_payloads(&app.db, 10, PATIENCE).await;
    let page = app.get("/").await;
    assert!(
        page.body.contains(r#"data-connected="true""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 reconnects"), "{}", page.body);
    // The error stays on show after reconnecting, so a flapping link is visible.
    assert!(page.body.contains("Last connection error"), "{}", page.body);
}

#[tokio::test]
async fn a_broker_restart_with_messages_queued_for_lookout_loses_nothing() {
    let (postgres, mut broker, prefix, app) = app_on_private_services().await;

    // Hold Lookout back (no database) so that the broker is still holding messages for it, and
    // Lookout holds received but unacknowledged ones, when the broker restarts.
    postgres.stop();
    publish_all(&broker.url(), &sequenced(&prefix, 0, 20_000, 100)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.restart(Duration::from_secs(1)).await;
    postgres.launch().await;
    publish_all(&broker.url(), &sequenced(&prefix, 20_000, 2_000, 100)).await;

    let db = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    wait_for_distinct_payloads(&db, 22_000, PATIENCE).await;
    let duplicates = duplicate_count(&db).await;
    eprintln!("broker restart: 22000 stored, {duplicates} duplicates");
    // What Lookout held unacknowledged when the connection dropped comes again: at most its
    // queue plus the batches in flight (see docs/ingest.md).
    assert!(duplicates <= MOST_UNACKNOWLEDGED, "{duplicates} duplicates");
}

#[tokio::test]
async fn killing_lookout_mid_stream_loses_nothing_and_duplicates_stay_within_one_queue() {
    let broker = TestBroker::start().await;
    let prefix = unique_name("t");
    let database_url = fresh_database().await;
    let client_id = unique_name("lookout");
    let listen = format!("127.0.0.1:{}", free_port());
    let vars = support::test_environment(
        &database_url,
        &broker.url(),
        &client_id,
        &prefix,
        &[("LOOKOUT_LISTEN", &listen), ("RUST_LOG", "error")],
    );
    let mut lookout = Lookout::start(&vars).await;
    let db = sqlx::PgPool::connect(&database_url).await.unwrap();
    publish_all(&broker.url(), &sequenced(&prefix, 0, 100, 10)).await;
    wait_for_distinct_payloads(&db, 100, PATIENCE).await;

    let publisher = {
        let url = broker.url();
        let messages = sequenced(&prefix, 100, 30_000, 500);
        tokio::spawn(async move { publish_all(&url, &messages).await })
    };
    // Kill it while it is storing.
    loop {
        let stored: i64 = sqlx::query_scalar("select count(*) from message")
            .fetch_one(&db)
            .await
            .unwrap();
        if stored > 3_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lookout.kill(); // SIGKILL: no chance to flush or acknowledge
    publisher.await.unwrap();

    let mut lookout = Lookout::start(&vars).await;
    wait_for_distinct_payloads(&db, 30_100, PATIENCE).await;
    lookout.kill();

    let duplicates = duplicate_count(&db).await;
    eprintln!("kill -9: 30100 stored, {duplicates} duplicates");
    // Only what was received but not yet acknowledged can come twice: at most the writer's queue
    // plus the batches in flight (see docs/ingest.md).
    assert!(duplicates <= MOST_UNACKNOWLEDGED, "{duplicates} duplicates");
}

#[tokio::test]
async fn a_broker_login_in_the_url_is_used_and_a_wrong_one_is_refused_by_name() {
    let broker = TestBroker::start_with_login("plant", "s3cret-pw").await;
    let with_login = |password: &str| format!("mqtt://plant:{password}@127.0.0.1:{}", broker.port);

    let app = support::spawn_app_via(&with_login("s3cret-pw"), |_| {}).await;
    let prefix = app.prefix.clone();
    // The test's own publisher logs in the same way.
    support::publish_all(&with_login("s3cret-pw"), &sequenced(&prefix, 0, 10, 2)).await;
    wait_for_distinct_payloads(&app.db, 10, PATIENCE).await;

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("serve")
        .env("DATABASE_URL", fresh_database().await)
        .env("LOOKOUT_MQTT_URL", with_login("wrong-pw"))
        .env("LOOKOUT_MQTT_CLIENT_ID", unique_name("lookout"))
        .env("LOOKOUT_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "LOOKOUT_MQTT_URL: the broker at mqtt://127.0.0.1:{} refused the connection",
            broker.port
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-pw"), "{stderr}");
}
