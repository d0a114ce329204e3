//! The demo's devices live: each an MQTT client of its own that publishes through the broker, as
//! real devices would, what [`devices`](super::devices) says it sends at the moment. The pump
//! drops its connection when its timetable says so, without saying goodbye, so the broker
//! publishes its last will.

use super::devices::{Device, OFFLINE, ONLINE};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// The running devices; dropping it disconnects them all.
pub struct Simulation(Vec<JoinHandle<()>>);

impl Drop for Simulation {
    fn drop(&mut self) {
        for device in &self.0 {
            device.abort();
        }
    }
}

/// Starts every device, each connecting to the broker at `broker`.
pub fn start(broker: SocketAddr) -> Simulation {
    Simulation(
        Device::all()
            .into_iter()
            .map(|device| tokio::spawn(run(broker, device)))
            .collect(),
    )
}

/// Connects while the device's timetable has it connected, publishes its readings every period,
/// and vanishes when the timetable says so.
async fn run(broker: SocketAddr, device: Device) {
    loop {
        let t = now();
        if !device.connected(t) {
            let back = device.next_change(t);
            tokio::time::sleep(Duration::from_secs_f64((back - t).max(0.0))).await;
            continue;
        }
        let presence = device.status_topic().map(|topic| {
            let will = LastWill::new(&topic, OFFLINE, QoS::AtLeastOnce, true);
            (will, (topic, ONLINE.to_owned()))
        });
        let connection = Connection::connect(broker, &device.client_id(), presence);
        let mut ticks = tokio::time::interval(device.period());
        loop {
            ticks.tick().await;
            let t = now();
            if !device.connected(t) {
                break;
            }
            for reading in device.readings(t) {
                connection.publish(&reading.topic, reading.payload);
            }
        }
        // Gone without a DISCONNECT packet, as when power or the network fails: the broker
        // then publishes the will.
        tracing::info!(
            device = device.client_id(),
            "a demo device drops off; its last will says offline"
        );
        connection.vanish();
    }
}

/// One device's MQTT connection. A task keeps polling the event loop (that is what sends,
/// receives and reconnects); dropping the connection ends that task and with it the TCP connection,
/// without a DISCONNECT packet.
struct Connection {
    client: AsyncClient,
    event_loop: JoinHandle<()>,
}

impl Connection {
    /// `presence`: a last will, and the retained message that says the opposite, sent after
    /// every (re)connection.
    fn connect(
        broker: SocketAddr,
        client_id: &str,
        presence: Option<(LastWill, (String, String))>,
    ) -> Self {
        let mut options = MqttOptions::new(client_id, broker.ip().to_string(), broker.port());
        options.set_keep_alive(Duration::from_secs(15));
        let announce = presence.map(|(will, announce)| {
            options.set_last_will(will);
            announce
        });
        let (client, mut event_loop) = AsyncClient::new(options, 64);
        let announcer = client.clone();
        let event_loop = tokio::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some((topic, payload)) = &announce {
                            let _ = announcer.try_publish(
                                topic,
                                QoS::AtLeastOnce,
                                true,
                                payload.clone(),
                            );
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::debug!(error = %error, "a demo device lost the broker");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Self { client, event_loop }
    }

    /// Sends without waiting: a device whose link is down loses the reading, as real ones do.
    fn publish(&self, topic: &str, payload: String) {
        if let Err(error) = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
        {
            tracing::debug!(topic, error = %error, "a demo reading was dropped");
        }
    }

    fn vanish(self) {}
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.event_loop.abort();
    }
}

/// Seconds since the epoch: the curves depend on the time of day, not on when the demo started.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}
