//! A SIGTERM stops the real binary gracefully: what it took is stored and acknowledged, what the
//! broker sent after that stays in the persistent session, and after a restart every message is
//! stored exactly once.

mod support;

use rumqttc::QoS;
use sqlx::PgPool;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::services::{free_port, TestBroker};
use support::{
    duplicate_count, fresh_database, publish_all, publish_to, sequenced, test_environment,
    unique_name,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn start(vars: &std::collections::HashMap<String, String>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("serve")
        .env_clear()
        .envs(vars)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lookout starts")
}

async fn stored_readings(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "select count(distinct m.payload) from message m join topic t on t.id = m.topic_id \
         where t.name like '%/reading'",
    )
    .fetch_one(db)
    .await
    .unwrap_or(0)
}

async fn wait_for_readings(db: &PgPool, count: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stored_readings(db).await < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} readings stored",
            stored_readings(db).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes probes until one is stored: then Lookout's subscription is in place and its
/// session will hold whatever comes while it is away.
async fn wait_until_subscribed(broker: &str, prefix: &str, db: &PgPool) {
    for attempt in 0..200 {
        let probe = format!("probe-{attempt}");
        publish_to(
            broker,
            &[(
                &format!("{prefix}/probe"),
                probe.as_bytes(),
                QoS::AtLeastOnce,
                false,
            )],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stored: i64 = sqlx::query_scalar("select count(*) from message")
            .fetch_one(db)
            .await
            .unwrap_or(0);
        if stored > 0 {
            return;
        }
    }
    panic!("lookout never stored a probe");
}

/// Logs a viewer in and opens `/api/live`; returns the connection after the response head.
async fn open_live_stream(database_url: &str, port: u16) -> tokio::net::TcpStream {
    let store = app::server::store::Store::connect(database_url, Duration::from_secs(10))
        .await
        .unwrap();
    let password = "watching-the-shutdown";
    app::server::accounts::add_user(
        &store,
        app::server::store::audit::Actor::CLI,
        "watcher",
        password,
        app::domain::roles::Role::Viewer,
    )
    .await
    .unwrap();
    let cookie = support::log_in_on(port, "watcher", password).await;
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        assert_eq!(
            socket.read(&mut byte).await.unwrap(),
            1,
            "the stream closed"
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stores_and_acknowledges_what_was_taken_and_a_restart_loses_nothing() {
    const TOTAL: u64 = 30_000;
    let broker = TestBroker::start().await;
    let database_url = fresh_database().await;
    let prefix = unique_name("t");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let vars = test_environment(
        &database_url,
        &broker.url(),
        &unique_name("lookout"),
        &prefix,
        &[("LOOKOUT_LISTEN", &listen)],
    );
    let db = PgPool::connect(&database_url).await.unwrap();
    let lookout = start(&vars);
    wait_until_subscribed(&broker.url(), &prefix, &db).await;
    let mut stream = open_live_stream(&database_url, port).await;

    let publishing = tokio::spawn({
        let url = broker.url();
        let messages = sequenced(&prefix, 0, TOTAL, 100);
        async move { publish_all(&url, &messages).await }
    });
    wait_for_readings(&db, 3_000).await;

    // Mid-stream: the publisher is still sending.
    let stopped_at = std::time::Instant::now();
    let signal = Command::new("kill")
        .args(["-TERM", &lookout.id().to_string()])
        .status()
        .unwrap();
    assert!(signal.success());
    let output = tokio::task::spawn_blocking(move || lookout.wait_with_output().unwrap())
        .await
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}: {logs}", output.status);
    assert!(
        stopped_at.elapsed() < Duration::from_secs(20),
        "stopping took {:?}",
        stopped_at.elapsed()
    );
    assert!(
        logs.contains("everything received is stored and acknowledged"),
        "{logs}"
    );
    // The live stream ended with the process's shutdown, not by a reset.
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(ended, Ok(Ok(_))),
        "the stream did not end cleanly: {ended:?}"
    );
    let stored_at_stop = stored_readings(&db).await;
    assert!(
        stored_at_stop < TOTAL as i64,
        "the stop came too late to test anything"
    );

    publishing.await.unwrap();
    let mut lookout = start(&vars);
    wait_for_readings(&db, TOTAL as i64).await;
    // Acknowledged only after their commit, and all of them before the DISCONNECT: nothing
    // stored before the stop comes again.
    let detail: (Option<i64>, Option<i64>, Option<i64>, Option<i64>) = sqlx::query_as(
        "with d as (select payload, count(*) c, min(received_at) first, max(received_at) last from message group by payload having count(*) > 1)          select min((convert_from(payload,'UTF8')::jsonb->>'seq')::bigint), max((convert_from(payload,'UTF8')::jsonb->>'seq')::bigint),                 max(extract(epoch from last - first) * 1000)::bigint, min(extract(epoch from last - first) * 1000)::bigint from d",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        duplicate_count(&db).await,
        0,
        "stored at the stop: {stored_at_stop}; {detail:?}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &lookout.id().to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || lookout.wait()).await;
}
