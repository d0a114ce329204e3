//! The demo's devices and what each publishes, as a pure function of the time: the live devices
//! (`simulator`) and the history written on the first run (`history`) both ask here, so the past
//! days a chart shows run on into the live curves. Values vary slowly (a few sine waves of
//! different periods plus a little noise) and follow the wall clock, so a second run continues
//! the curves of the first.
//!
//! - a weather station: `demo/weather/temperature` and `humidity` (plain numbers) and `wind`
//!   (JSON `{speed, gust, direction}`);
//! - servers: `demo/servers/<name>/health` (JSON `{cpu, mem, load, status}`);
//! - mesh radio nodes: `demo/mesh/<node>/telemetry` (JSON `{battery, snr, lat, lon}`);
//! - a pump with a last will: `demo/pumps/pump-1/status` is a retained `online` while it is
//!   connected; it drops its connection now and then without saying goodbye, so the broker
//!   publishes its will (`offline`), and it comes back a while later.

use serde_json::json;
use std::f64::consts::TAU;
use std::time::Duration;

pub const SERVERS: [&str; 3] = ["web-1", "web-2", "db-1"];
pub const MESH_NODES: [&str; 4] = ["hilltop", "harbour", "lighthouse", "orchard"];
pub const PUMP: &str = "pump-1";
/// What the pump's status topic says: on each connection, and in its last will.
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// The pump's timetable. Cycles of four minutes, in about half of which it is away for the last
/// 45 s, so that someone watching the demo soon sees it go and come back; and in about a third of
/// the six-hour blocks an outage of 10 to 60 minutes, so that days of history have bad hours
/// among good ones, as uptime bars need. Every change falls on a whole multiple of
/// [`PUMP_STEP`], so stepping by it finds each one exactly.
const PUMP_CYCLE: f64 = 240.0;
const PUMP_AWAY: f64 = 45.0;
const OUTAGE_BLOCK: f64 = 6.0 * 3_600.0;
pub const PUMP_STEP: f64 = 5.0;

/// One simulated device, an MQTT client of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    WeatherStation,
    /// An index into [`SERVERS`].
    Server(usize),
    /// An index into [`MESH_NODES`].
    MeshNode(usize),
    Pump,
}

/// A message a device publishes.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub topic: String,
    pub payload: String,
}

impl Reading {
    fn new(topic: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
        }
    }
}

impl Device {
    pub fn all() -> Vec<Device> {
        let mut devices = vec![Device::WeatherStation];
        devices.extend((0..SERVERS.len()).map(Device::Server));
        devices.extend((0..MESH_NODES.len()).map(Device::MeshNode));
        devices.push(Device::Pump);
        devices
    }

    pub fn client_id(self) -> String {
        match self {
            Device::WeatherStation => "demo-weather-station".to_owned(),
            Device::Server(index) => format!("demo-server-{}", SERVERS[index]),
            Device::MeshNode(index) => format!("demo-mesh-{}", MESH_NODES[index]),
            Device::Pump => format!("demo-{PUMP}"),
        }
    }

    /// How often the live device publishes.
    pub fn period(self) -> Duration {
        Duration::from_secs(match self {
            Device::WeatherStation | Device::MeshNode(_) => 5,
            Device::Server(_) => 3,
            Device::Pump => 2,
        })
    }

    /// Where it says whether it is connected (a retained message and its last will), if it does.
    pub fn status_topic(self) -> Option<String> {
        (self == Device::Pump).then(|| format!("demo/pumps/{PUMP}/status"))
    }

    /// Whether it is connected to the broker at `t` (seconds since the epoch). Only the pump
    /// ever drops off.
    pub fn connected(self, t: f64) -> bool {
        self != Device::Pump || pump_connected(t)
    }

    /// The first time after `t` at which [`Device::connected`] changes; a day on when it does
    /// not change within one.
    pub fn next_change(self, t: f64) -> f64 {
        let now = self.connected(t);
        let mut step = (t / PUMP_STEP).floor() * PUMP_STEP + PUMP_STEP;
        let give_up = t + 86_400.0;
        while step < give_up {
            if self.connected(step) != now {
                return step;
            }
            step += PUMP_STEP;
        }
        give_up
    }

    /// What it publishes at `t` (seconds since the epoch): nothing while it is away. The same
    /// `t` always gives the same readings, the noise included.
    pub fn readings(self, t: f64) -> Vec<Reading> {
        if !self.connected(t) {
            return Vec::new();
        }
        self.measure(t)
    }

    /// The topics of its readings (its status topic aside).
    pub fn reading_topics(self) -> Vec<String> {
        self.measure(0.0)
            .into_iter()
            .map(|reading| reading.topic)
            .collect()
    }

    /// What it would publish at `t` if it were connected.
    fn measure(self, t: f64) -> Vec<Reading> {
        match self {
            Device::WeatherStation => weather_station(t),
            Device::Server(index) => vec![server(index, t)],
            Device::MeshNode(index) => vec![mesh_node(index, t)],
            Device::Pump => vec![pump_flow(t)],
        }
    }
}

fn weather_station(t: f64) -> Vec<Reading> {
    let noise = Noise::at(1, t);
    // A day's swing, with a shorter wave on top so that minutes of watching show movement.
    let temperature = 16.0 - 5.0 * wave(t, 86_400.0, 0.3) + 1.5 * wave(t, 600.0, 0.0);
    let humidity = 62.0 + 14.0 * wave(t, 86_400.0, 0.3) - 4.0 * wave(t, 600.0, 0.0);
    let speed = (4.0 + 3.0 * wave(t, 300.0, 1.0) + 0.6 * noise.draw(0)).max(0.0);
    let direction = (230.0 + 40.0 * wave(t, 900.0, 2.0)).rem_euclid(360.0);
    let wind = json!({
        "speed": round(speed, 1),
        "gust": round(speed * 1.4 + noise.draw(1).abs(), 1),
        "direction": direction.round(),
    });
    vec![
        Reading::new(
            "demo/weather/temperature",
            format!("{:.1}", temperature + 0.2 * noise.draw(2)),
        ),
        Reading::new(
            "demo/weather/humidity",
            format!("{:.0}", (humidity + noise.draw(3)).clamp(0.0, 100.0)),
        ),
        Reading::new("demo/weather/wind", wind.to_string()),
    ]
}

fn server(index: usize, t: f64) -> Reading {
    let noise = Noise::at(10 + index as u64, t);
    let phase = index as f64;
    // Busy spells now and then, so the thresholds on the status page get crossed.
    let cpu = (40.0 + 30.0 * wave(t, 240.0 + 60.0 * phase, phase) + 8.0 * noise.draw(0))
        .clamp(1.0, 100.0);
    let mem = 55.0 + 10.0 * wave(t, 1_800.0, phase) + noise.draw(1);
    let load = cpu / 25.0 + 0.1 * noise.draw(2).abs();
    let status = if cpu > 85.0 { "warning" } else { "ok" };
    let health = json!({
        "cpu": round(cpu, 1),
        "mem": round(mem, 1),
        "load": round(load, 2),
        "status": status,
    });
    Reading::new(
        format!("demo/servers/{}/health", SERVERS[index]),
        health.to_string(),
    )
}

fn mesh_node(index: usize, t: f64) -> Reading {
    let noise = Noise::at(20 + index as u64, t);
    let phase = index as f64;
    // Spread around a harbour town; each node wanders a few metres (GPS jitter).
    let (lat, lon) = (54.32 + 0.01 * phase, 10.13 + 0.015 * phase);
    // Solar-charged: the battery follows the hour's sun in this compressed world.
    let battery = 68.0 + 27.0 * wave(t, 3_600.0, phase * 1.3) + 0.5 * noise.draw(0);
    let snr = -4.0 + 6.0 * wave(t, 120.0 + 15.0 * phase, phase) + 1.5 * noise.draw(1);
    let telemetry = json!({
        "battery": round(battery.clamp(0.0, 100.0), 0),
        "snr": round(snr, 1),
        "lat": round(lat + 0.00005 * noise.draw(2), 5),
        "lon": round(lon + 0.00005 * noise.draw(3), 5),
    });
    Reading::new(
        format!("demo/mesh/{}/telemetry", MESH_NODES[index]),
        telemetry.to_string(),
    )
}

fn pump_flow(t: f64) -> Reading {
    let litres = 42.0 + 6.0 * wave(t, 180.0, 0.0) + Noise::at(30, t).draw(0);
    Reading::new(format!("demo/pumps/{PUMP}/flow"), format!("{litres:.1}"))
}

fn pump_connected(t: f64) -> bool {
    let cycle = (t / PUMP_CYCLE).floor();
    let short_drop =
        unit(31, cycle as i64, 0) < 0.5 && t - cycle * PUMP_CYCLE >= PUMP_CYCLE - PUMP_AWAY;

    let block = (t / OUTAGE_BLOCK).floor();
    let key = block as i64;
    let outage = unit(32, key, 0) < 1.0 / 3.0 && {
        let minutes = (10.0 + (51.0 * unit(32, key, 1)).floor()) * 60.0;
        // Whole minutes into the block, ending before the block does.
        let start = block * OUTAGE_BLOCK
            + (unit(32, key, 2) * (OUTAGE_BLOCK - minutes) / 60.0).floor() * 60.0;
        (start..start + minutes).contains(&t)
    };
    !(short_drop || outage)
}

/// A sine of `period` seconds, from -1 to 1.
fn wave(t: f64, period: f64, phase: f64) -> f64 {
    (TAU * t / period + phase).sin()
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// A device's jitter at one moment: a hash of the device's stream and the millisecond, so the
/// live device and the history compute the same reading for the same time. A demo needs no good
/// randomness, and no random-number crate.
struct Noise {
    stream: u64,
    millis: i64,
}

impl Noise {
    fn at(stream: u64, t: f64) -> Self {
        Self {
            stream,
            millis: (t * 1_000.0).floor() as i64,
        }
    }

    /// The `n`th independent draw, from -1 to 1.
    fn draw(&self, n: u64) -> f64 {
        unit(self.stream, self.millis, n) * 2.0 - 1.0
    }
}

/// From 0 to 1, fixed by its three keys (splitmix64's mixing).
fn unit(stream: u64, key: i64, n: u64) -> f64 {
    let mut x = stream
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(key as u64)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9)
        .wrapping_add(n.wrapping_mul(0x94D0_49BB_1331_11EB));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-05 00:00 UTC.
    const MONDAY: f64 = 1_767_571_200.0;

    #[test]
    fn noise_stays_within_its_range() {
        for ms in 0..10_000 {
            let n = Noise::at(7, MONDAY + ms as f64 / 1_000.0).draw(0);
            assert!((-1.0..1.0).contains(&n), "{n}");
        }
    }

    #[test]
    fn rounding_keeps_the_asked_decimals() {
        assert_eq!(round(12.3456, 1), 12.3);
        assert_eq!(round(-3.25, 0), -3.0);
    }

    #[test]
    fn a_reading_depends_only_on_its_time() {
        for device in Device::all() {
            let t = MONDAY + 1_234.5;
            assert_eq!(device.readings(t), device.readings(t), "{device:?}");
        }
        let temperature = |t| Device::WeatherStation.readings(t)[0].payload.clone();
        assert_ne!(temperature(MONDAY), temperature(MONDAY + 60.0));
    }

    #[test]
    fn temperatures_over_a_week_are_plausible() {
        let mut t = MONDAY;
        while t < MONDAY + 7.0 * 86_400.0 {
            let reading = &Device::WeatherStation.readings(t)[0];
            assert_eq!(reading.topic, "demo/weather/temperature");
            let celsius: f64 = reading.payload.parse().unwrap();
            assert!((5.0..30.0).contains(&celsius), "{celsius} at {t}");
            t += 60.0;
        }
    }

    #[test]
    fn the_pump_is_mostly_connected_and_sends_nothing_while_away() {
        let (mut connected, mut changes, mut longest_away, mut away_since) = (0, 0, 0.0, None);
        let mut t = MONDAY;
        let mut was = Device::Pump.connected(t);
        while t < MONDAY + 7.0 * 86_400.0 {
            let now = Device::Pump.connected(t);
            assert_eq!(Device::Pump.readings(t).len(), usize::from(now), "at {t}");
            if now {
                connected += 1;
            }
            if now != was {
                changes += 1;
                match away_since.take() {
                    Some(since) => longest_away = f64::max(longest_away, t - since),
                    None => away_since = Some(t),
                }
            }
            was = now;
            t += PUMP_STEP;
        }
        let share = f64::from(connected) / (7.0 * 86_400.0 / PUMP_STEP);
        assert!((0.8..0.97).contains(&share), "connected {share}");
        assert!(changes > 1_000, "{changes} changes");
        assert!(longest_away >= 600.0, "longest outage {longest_away} s");
        assert!(Device::WeatherStation.connected(MONDAY + 1.0));
    }

    #[test]
    fn the_next_change_is_the_first_moment_the_pump_is_otherwise() {
        let mut t = MONDAY;
        for _ in 0..200 {
            let next = Device::Pump.next_change(t);
            assert!(next > t);
            assert_ne!(Device::Pump.connected(next), Device::Pump.connected(t));
            let mut between = t;
            while between < next {
                assert_eq!(Device::Pump.connected(between), Device::Pump.connected(t));
                between += 1.0;
            }
            t = next + 0.5;
        }
    }
}
