//! The demo's devices: each an MQTT client of its own that publishes through the broker, as
//! real devices would. Values vary slowly (a few sine waves of different periods plus a little
//! noise) and follow the wall clock, so a second run continues the curves of the first.
//!
//! - a weather station: `demo/weather/temperature` and `humidity` (plain numbers) and `wind`
//!   (JSON `{speed, gust, direction}`);
//! - servers: `demo/servers/<name>/health` (JSON `{cpu, mem, load, status}`);
//! - mesh radio nodes: `demo/mesh/<node>/telemetry` (JSON `{battery, snr, lat, lon}`);
//! - a pump with a last will: `demo/pumps/pump-1/status` is a retained `online` while it is
//!   connected; every few minutes it drops its connection without saying goodbye, so the broker
//!   publishes its will (`offline`), and it comes back a while later.

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::json;
use std::f64::consts::TAU;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

pub const SERVERS: [&str; 3] = ["web-1", "web-2", "db-1"];
pub const MESH_NODES: [&str; 4] = ["hilltop", "harbour", "lighthouse", "orchard"];
pub const PUMP: &str = "pump-1";
/// How long the pump stays connected, then away, in each cycle.
const PUMP_ONLINE: Duration = Duration::from_secs(120);
const PUMP_AWAY: Duration = Duration::from_secs(45);

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
    let mut devices = vec![tokio::spawn(weather_station(broker))];
    for (index, name) in SERVERS.into_iter().enumerate() {
        devices.push(tokio::spawn(server(broker, name, index as f64)));
    }
    for (index, name) in MESH_NODES.into_iter().enumerate() {
        devices.push(tokio::spawn(mesh_node(broker, name, index as f64)));
    }
    devices.push(tokio::spawn(pump(broker)));
    Simulation(devices)
}

async fn weather_station(broker: SocketAddr) {
    let device = Device::connect(broker, "demo-weather-station", None);
    let mut noise = Noise::new(1);
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    loop {
        ticks.tick().await;
        let t = now();
        // A day's swing, with a shorter wave on top so that minutes of watching show movement.
        let temperature = 16.0 - 5.0 * wave(t, 86_400.0, 0.3) + 1.5 * wave(t, 600.0, 0.0);
        let humidity = 62.0 + 14.0 * wave(t, 86_400.0, 0.3) - 4.0 * wave(t, 600.0, 0.0);
        let speed = (4.0 + 3.0 * wave(t, 300.0, 1.0) + 0.6 * noise.next()).max(0.0);
        let direction = (230.0 + 40.0 * wave(t, 900.0, 2.0)).rem_euclid(360.0);
        device.publish(
            "demo/weather/temperature",
            format!("{:.1}", temperature + 0.2 * noise.next()),
        );
        device.publish(
            "demo/weather/humidity",
            format!("{:.0}", (humidity + noise.next()).clamp(0.0, 100.0)),
        );
        let wind = json!({
            "speed": round(speed, 1),
            "gust": round(speed * 1.4 + noise.next().abs(), 1),
            "direction": direction.round(),
        });
        device.publish("demo/weather/wind", wind.to_string());
    }
}

async fn server(broker: SocketAddr, name: &'static str, index: f64) {
    let device = Device::connect(broker, &format!("demo-server-{name}"), None);
    let topic = format!("demo/servers/{name}/health");
    let mut noise = Noise::new(10 + index as u64);
    let mut ticks = tokio::time::interval(Duration::from_secs(3));
    loop {
        ticks.tick().await;
        let t = now();
        // Busy spells now and then, so the thresholds on the status page get crossed.
        let cpu = (40.0 + 30.0 * wave(t, 240.0 + 60.0 * index, index) + 8.0 * noise.next())
            .clamp(1.0, 100.0);
        let mem = 55.0 + 10.0 * wave(t, 1_800.0, index) + noise.next();
        let load = cpu / 25.0 + 0.1 * noise.next().abs();
        let status = if cpu > 85.0 { "warning" } else { "ok" };
        let health = json!({
            "cpu": round(cpu, 1),
            "mem": round(mem, 1),
            "load": round(load, 2),
            "status": status,
        });
        device.publish(&topic, health.to_string());
    }
}

async fn mesh_node(broker: SocketAddr, name: &'static str, index: f64) {
    let device = Device::connect(broker, &format!("demo-mesh-{name}"), None);
    let topic = format!("demo/mesh/{name}/telemetry");
    let mut noise = Noise::new(20 + index as u64);
    // Spread around a harbour town; each node wanders a few metres (GPS jitter).
    let (lat, lon) = (54.32 + 0.01 * index, 10.13 + 0.015 * index);
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    loop {
        ticks.tick().await;
        let t = now();
        // Solar-charged: the battery follows the hour's sun in this compressed world.
        let battery = 68.0 + 27.0 * wave(t, 3_600.0, index * 1.3) + 0.5 * noise.next();
        let snr = -4.0 + 6.0 * wave(t, 120.0 + 15.0 * index, index) + 1.5 * noise.next();
        let telemetry = json!({
            "battery": round(battery.clamp(0.0, 100.0), 0),
            "snr": round(snr, 1),
            "lat": round(lat + 0.00005 * noise.next(), 5),
            "lon": round(lon + 0.00005 * noise.next(), 5),
        });
        device.publish(&topic, telemetry.to_string());
    }
}

async fn pump(broker: SocketAddr) {
    let status = format!("demo/pumps/{PUMP}/status");
    let flow = format!("demo/pumps/{PUMP}/flow");
    let mut noise = Noise::new(30);
    loop {
        let will = LastWill::new(&status, "offline", QoS::AtLeastOnce, true);
        let online = (status.clone(), "online".to_owned());
        let device = Device::connect(broker, "demo-pump-1", Some((will, online)));
        let connected = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(Duration::from_secs(2));
        while connected.elapsed() < PUMP_ONLINE {
            ticks.tick().await;
            let litres = 42.0 + 6.0 * wave(now(), 180.0, 0.0) + noise.next();
            device.publish(&flow, format!("{litres:.1}"));
        }
        // Gone without a DISCONNECT packet, as when power or the network fails: the broker
        // then publishes the will.
        tracing::info!(
            device = PUMP,
            "the demo pump drops off; its last will says offline"
        );
        device.vanish();
        tokio::time::sleep(PUMP_AWAY).await;
    }
}

/// One device's MQTT connection. A task keeps polling the event loop (that is what sends,
/// receives and reconnects); dropping the device ends that task and with it the TCP connection,
/// without a DISCONNECT packet.
struct Device {
    client: AsyncClient,
    event_loop: JoinHandle<()>,
}

impl Device {
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

impl Drop for Device {
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

/// A sine of `period` seconds, from -1 to 1.
fn wave(t: f64, period: f64, phase: f64) -> f64 {
    (TAU * t / period + phase).sin()
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Small jitter from xorshift: a demo needs no cryptographic or even good randomness, and no
/// random-number crate.
struct Noise(u64);

impl Noise {
    fn new(stream: u64) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos() as u64;
        Self((nanos ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// From -1 to 1.
    fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_stays_within_its_range() {
        let mut noise = Noise::new(7);
        for _ in 0..10_000 {
            let n = noise.next();
            assert!((-1.0..1.0).contains(&n), "{n}");
        }
    }

    #[test]
    fn rounding_keeps_the_asked_decimals() {
        assert_eq!(round(12.3456, 1), 12.3);
        assert_eq!(round(-3.25, 0), -3.0);
    }
}
