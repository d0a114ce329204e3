//! The device list as pages show it: each device with its state and why, and the counts by
//! state. Decided by [`crate::domain::liveness`] on the server, worded at one moment.

use crate::domain::liveness::{Device, DeviceCounts, DeviceState};
use serde::{Deserialize, Serialize};

/// One device as the list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceView {
    /// The name of the rule that found it.
    pub rule: String,
    pub name: String,
    pub state: DeviceState,
    /// Why, worded on the server at `server_now_ms`.
    pub reason: String,
    /// When its newest live message arrived; `None` when none did (or only retained ones).
    pub last_seen_ms: Option<i64>,
    pub topics: usize,
}

/// Every device a visitor may see, as of one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceList {
    pub devices: Vec<DeviceView>,
    /// Devices online, offline and unknown: what an overview shows.
    pub counts: DeviceCounts,
    pub server_now_ms: i64,
}

impl DeviceList {
    pub fn new(devices: &[Device], now_ms: i64) -> Self {
        Self {
            counts: DeviceCounts::of(devices.iter().map(|device| device.verdict.state)),
            devices: devices
                .iter()
                .map(|device| DeviceView {
                    rule: device.rule_name.clone(),
                    name: device.name.clone(),
                    state: device.verdict.state,
                    reason: device.verdict.cause.describe(now_ms),
                    last_seen_ms: device.evidence.last_live_ms,
                    topics: device.evidence.topics,
                })
                .collect(),
            server_now_ms: now_ms,
        }
    }
}
