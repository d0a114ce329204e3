//! `/healthz` says the process serves; `/readyz` says whether the database and the broker are
//! reachable and storing works, so a load balancer stops sending traffic while any is not.

mod support;

use std::time::Duration;
use support::services::{TestBroker, TestPostgres};
use support::{fresh_database_on, http_request, spawn_app_on, unique_name, TestApp};

async fn answer(app: &TestApp, path: &str) -> (u16, String) {
    let response = http_request(app.port, "GET", path, &[], "").await;
    (response.status, response.body)
}

async fn wait_for_readiness(app: &TestApp, wanted: (u16, &str)) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = answer(app, "/readyz").await;
        if status == wanted.0 && body == wanted.1 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz stayed {status} {body:?}, expected {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn readiness_follows_the_database_and_the_broker_while_health_stays_up() {
    let postgres = TestPostgres::start().await;
    let mut broker = TestBroker::start().await;
    let app = spawn_app_on(
        &fresh_database_on(&postgres.admin_url()).await,
        &broker.url(),
        &unique_name("t"),
        &unique_name("lookout"),
        |_| {},
    )
    .await;
    assert_eq!(answer(&app, "/healthz").await, (200, "ok\n".to_owned()));
    wait_for_readiness(&app, (200, "database ok\nstorage ok\nbroker ok\n")).await;

    broker.stop();
    wait_for_readiness(&app, (503, "database ok\nstorage ok\nbroker unreachable\n")).await;
    assert_eq!(answer(&app, "/healthz").await.0, 200);
    broker.launch().await;
    wait_for_readiness(&app, (200, "database ok\nstorage ok\nbroker ok\n")).await;

    postgres.stop();
    wait_for_readiness(&app, (503, "database unreachable\nstorage ok\nbroker ok\n")).await;
    assert_eq!(answer(&app, "/healthz").await.0, 200);
    postgres.launch().await;
    wait_for_readiness(&app, (200, "database ok\nstorage ok\nbroker ok\n")).await;
}

#[tokio::test]
async fn readiness_reports_storage_that_fails_while_the_database_still_answers() {
    let app = support::spawn_app().await;
    wait_for_readiness(&app, (200, "database ok\nstorage ok\nbroker ok\n")).await;
    // The database answers every ping but refuses every write, as a full disk would.
    sqlx::query(
        "create function refuse_writes() returns trigger language plpgsql as \
         $$ begin raise exception 'could not extend file' using errcode = 'disk_full'; end $$",
    )
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "create trigger refuse_writes before insert on latest \
         for each row execute function refuse_writes()",
    )
    .execute(&app.db)
    .await
    .unwrap();
    support::publish(&[(
        &app.topic("tank/level"),
        b"42",
        rumqttc::QoS::AtLeastOnce,
        false,
    )])
    .await;
    wait_for_readiness(&app, (503, "database ok\nstorage failing\nbroker ok\n")).await;

    sqlx::query("drop trigger refuse_writes on latest")
        .execute(&app.db)
        .await
        .unwrap();
    // The writer retries what failed; nothing was lost meanwhile.
    app.wait_for_stored(1).await;
    wait_for_readiness(&app, (200, "database ok\nstorage ok\nbroker ok\n")).await;
}
