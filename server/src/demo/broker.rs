//! The demo's MQTT broker: rumqttd, inside this process, on one plain TCP listener. Lookout's
//! ingest and the simulated devices reach it over TCP like any other broker, so the demo runs the
//! same code path as `lookout serve`.

use anyhow::Context;
use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Lookout's default payload limit, so nothing a device may send to `serve` is refused here.
const MAX_PAYLOAD_BYTES: usize = crate::config::DEFAULT_MAX_PAYLOAD_BYTES as usize;

/// Starts the broker on `listen` (port 0: a free one) and returns the address clients use once
/// it accepts connections.
pub async fn start(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    // rumqttd binds inside its own thread and never says where, so the port is chosen here. A
    // probe also turns a busy port into an error naming it, instead of a log line from that thread.
    let listen = std::net::TcpListener::bind(listen)
        .and_then(|probe| probe.local_addr())
        .with_context(|| format!("the demo's MQTT broker cannot listen on {listen}"))?;

    let mut broker = rumqttd::Broker::new(config(listen));
    std::thread::Builder::new()
        .name("demo-broker".to_owned())
        // Returns only if every listener failed; the wait below reports that.
        .spawn(move || {
            if let Err(error) = broker.start() {
                tracing::error!(error = %error, "the demo's MQTT broker stopped");
            }
        })
        .context("starting the demo's MQTT broker thread")?;

    let address = super::reachable(listen);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok(address);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the demo's MQTT broker did not start listening on {listen}")
}

fn config(listen: SocketAddr) -> Config {
    let server = ServerSettings {
        name: "demo".to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PAYLOAD_BYTES,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            // Clients may subscribe to any filter, not only ones configured in advance.
            dynamic_filters: true,
        },
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 200,
            // rumqttd keeps a log per filter in memory, at most size × count: bounded however
            // long the demo runs.
            max_segment_size: 4 << 20,
            max_segment_count: 4,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("demo".to_owned(), server)])),
        ..Config::default()
    }
}
