//! The ways Lookout reaches a broker: TLS with a private authority and a client certificate,
//! MQTT over WebSockets (plain and TLS), and a QoS per subscription.

mod support;

use lookout::config::{BrokerTls, ClientCertificate, Origin, Settings, Sourced, Subscription};
use lookout::startup::Application;
use rumqttc::QoS;
use std::path::Path;
use std::time::Duration;
use support::services::{TestBroker, TestCertificates};
use support::websocket_front::WebSocketFront;
use support::{
    fresh_database, publish_all, publish_to, sequenced, spawn_app_on, spawn_app_via,
    test_environment, unique_name, wait_for_distinct_payloads,
};

const PATIENCE: Duration = Duration::from_secs(30);

fn file(env_name: &'static str, path: &Path) -> Sourced<std::path::PathBuf> {
    Sourced {
        value: path.to_path_buf(),
        origin: Origin::Env(env_name),
    }
}

fn trusting(certificates: &TestCertificates, with_client_certificate: bool) -> BrokerTls {
    BrokerTls {
        ca_file: Some(file("LOOKOUT_MQTT_CA_FILE", &certificates.ca)),
        client_certificate: with_client_certificate.then(|| ClientCertificate {
            cert_file: file("LOOKOUT_MQTT_CLIENT_CERT_FILE", &certificates.client_cert),
            key_file: file("LOOKOUT_MQTT_CLIENT_KEY_FILE", &certificates.client_key),
        }),
    }
}

/// Stores ten messages published on the broker's plain listener by an app that reaches the
/// broker at `url`, and checks that the page reports the connection.
async fn stores_through(url: &str, broker: &TestBroker, tls: Option<BrokerTls>) {
    let app = spawn_app_via(url, |settings| {
        if let Some(tls) = tls {
            settings.mqtt.tls = tls;
        }
    })
    .await;
    publish_all(&broker.url(), &sequenced(&app.prefix, 0, 10, 3)).await;
    wait_for_distinct_payloads(&app.db, 10, PATIENCE).await;
    let page = app.get("/").await;
    assert!(
        page.body.contains(r#"data-connected="true""#),
        "{}",
        page.body
    );
    // The address as configured, scheme and all, never with a login.
    let shown = lookout::config::parse_broker_url(url).unwrap().to_string();
    assert!(page.body.contains(&shown), "{shown} not in {}", page.body);
}

#[tokio::test]
async fn mqtts_with_a_private_authority_and_a_client_certificate() {
    let certificates = TestCertificates::generate();
    let broker = TestBroker::start_with_tls(&certificates).await;
    let url = format!("mqtts://localhost:{}", broker.tls_port.unwrap());
    stores_through(&url, &broker, Some(trusting(&certificates, true))).await;
}

#[tokio::test]
async fn a_broker_certificate_from_another_authority_is_refused_naming_the_ca_setting() {
    let certificates = TestCertificates::generate();
    let strangers = TestCertificates::generate();
    let broker = TestBroker::start_with_tls(&certificates).await;
    let error = build_error(
        &format!("mqtts://localhost:{}", broker.tls_port.unwrap()),
        trusting(&strangers, true),
    )
    .await;
    assert!(
        error.starts_with("LOOKOUT_MQTT_CA_FILE: TLS with the broker"),
        "{error}"
    );
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test]
async fn unreadable_or_wrong_tls_files_are_refused_naming_the_setting() {
    let certificates = TestCertificates::generate();
    let broker = TestBroker::start_with_tls(&certificates).await;
    let url = format!("mqtts://localhost:{}", broker.tls_port.unwrap());

    let mut missing = trusting(&certificates, false);
    missing.ca_file = Some(file(
        "LOOKOUT_MQTT_CA_FILE",
        Path::new("/nonexistent/ca.pem"),
    ));
    let error = build_error(&url, missing).await;
    assert!(
        error.starts_with("LOOKOUT_MQTT_CA_FILE: cannot read /nonexistent/ca.pem"),
        "{error}"
    );

    // A key as the authority, and a certificate as the key.
    let mut swapped = trusting(&certificates, true);
    swapped.ca_file = Some(file("LOOKOUT_MQTT_CA_FILE", &certificates.client_key));
    let error = build_error(&url, swapped).await;
    assert!(
        error.starts_with("LOOKOUT_MQTT_CA_FILE is not valid")
            && error.contains("no PEM certificate"),
        "{error}"
    );
    let mut swapped = trusting(&certificates, true);
    if let Some(client) = swapped.client_certificate.as_mut() {
        client.key_file = file("LOOKOUT_MQTT_CLIENT_KEY_FILE", &certificates.client_cert);
    }
    let error = build_error(&url, swapped).await;
    assert!(
        error.starts_with("LOOKOUT_MQTT_CLIENT_KEY_FILE is not valid: no PEM private key"),
        "{error}"
    );
}

/// The error `Application::build` gives for a broker at `url` with these TLS files.
async fn build_error(url: &str, tls: BrokerTls) -> String {
    let vars = test_environment(
        &fresh_database().await,
        url,
        &unique_name("lookout"),
        &unique_name("t"),
        &[],
    );
    let mut settings = Settings::load_from(None, |name| vars.get(name).cloned()).unwrap();
    settings.mqtt.tls = tls;
    match Application::build(settings).await {
        Ok(_) => panic!("the application started with bad TLS settings"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn mqtt_over_websockets_plain_and_tls() {
    let certificates = TestCertificates::generate();
    let broker = TestBroker::start().await;
    let plain = WebSocketFront::plain(broker.port).await;
    stores_through(
        &format!("ws://127.0.0.1:{}/mqtt", plain.port),
        &broker,
        None,
    )
    .await;

    let secure = WebSocketFront::tls(
        broker.port,
        &certificates.server_cert,
        &certificates.server_key,
    )
    .await;
    stores_through(
        &format!("wss://localhost:{}/mqtt", secure.port),
        &broker,
        Some(trusting(&certificates, false)),
    )
    .await;
}

#[tokio::test]
async fn several_wildcard_filters_each_at_its_own_qos() {
    let broker = TestBroker::start().await;
    let prefix = unique_name("t");
    let app = spawn_app_on(
        &fresh_database().await,
        &broker.url(),
        &prefix,
        &unique_name("lookout"),
        |settings| {
            let filters = format!("{prefix}/bulk/#@0,{prefix}/alarm/+/state");
            settings.mqtt.subscriptions.value = Subscription::parse_list(&filters).unwrap();
        },
    )
    .await;
    let bulk = app.topic("bulk/meter/7");
    let alarm = app.topic("alarm/door/state");
    let unsubscribed = [app.topic("alarm/door/battery"), app.topic("other")];
    publish_to(
        &broker.url(),
        &[
            (&unsubscribed[0], b"0", QoS::ExactlyOnce, false),
            (&unsubscribed[1], b"0", QoS::ExactlyOnce, false),
            (&bulk, b"1", QoS::ExactlyOnce, false),
            (&alarm, b"2", QoS::ExactlyOnce, false),
        ],
    )
    .await;
    wait_for_distinct_payloads(&app.db, 2, PATIENCE).await;
    // Published last, so once it is stored anything matched wrongly would be stored too.
    let last = app.topic("alarm/window/state");
    publish_to(&broker.url(), &[(&last, b"3", QoS::AtLeastOnce, false)]).await;
    wait_for_distinct_payloads(&app.db, 3, PATIENCE).await;
    let stored: Vec<(String, i16)> = sqlx::query_as(
        "select t.name, m.qos from message m join topic t on t.id = m.topic_id order by t.name",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    // The broker downgrades to the subscription's QoS; the stored QoS is the one received.
    assert_eq!(stored, vec![(alarm, 2), (last, 1), (bulk, 0)]);
}
