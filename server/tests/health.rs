//! `/healthz` says the process serves; `/readyz` says whether the database and the broker are
//! reachable, so a load balancer stops sending traffic while either is away.

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
    wait_for_readiness(&app, (200, "database ok\nbroker ok\n")).await;

    broker.stop();
    wait_for_readiness(&app, (503, "database ok\nbroker unreachable\n")).await;
    assert_eq!(answer(&app, "/healthz").await.0, 200);
    broker.launch().await;
    wait_for_readiness(&app, (200, "database ok\nbroker ok\n")).await;

    postgres.stop();
    wait_for_readiness(&app, (503, "database unreachable\nbroker ok\n")).await;
    assert_eq!(answer(&app, "/healthz").await.0, 200);
    postgres.launch().await;
    wait_for_readiness(&app, (200, "database ok\nbroker ok\n")).await;
}
