//! What the live stream carries to signed-in users, the same for the server that sends it and
//! the browser that reads it. The hub that fans messages out is `server::live_hub`, the page's
//! end of the stream `components::live_stream`; the protocol is described in `docs/live.md`.

use crate::domain::payload::PayloadKind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The path of the stream.
pub const STREAM_PATH: &str = "/api/live";

/// How much of a payload a live message carries as text; the topic page fetches the rest.
pub const PAYLOAD_TEXT_LIMIT: usize = 4096;

/// One message as the stream carries it (`event: message`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveMessage {
    pub topic: String,
    /// When Lookout received it, Unix milliseconds.
    pub at_ms: i64,
    /// Sent as `json`, `text` or `binary`.
    pub kind: PayloadKind,
    /// The whole payload's size in bytes.
    pub size: usize,
    /// The payload as text, cut at [`PAYLOAD_TEXT_LIMIT`] bytes; empty for binary payloads.
    pub payload: String,
    pub truncated: bool,
    /// One short line for lists (see `payload::preview`).
    pub preview: String,
    /// The payload as a number, when it is one (see `payload::numeric_value`).
    pub value: Option<f64>,
    pub retain: bool,
    pub qos: u8,
    /// On a conflated stream: how many older messages of the topic this one replaced since the
    /// last it sent (from the `replaced` event before it). Never sent inside the message itself:
    /// message frames are shared by every connection.
    #[serde(default, skip_serializing)]
    pub replaced: u64,
}

/// Why a connection must refetch its snapshot (`event: resync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResyncReason {
    /// It fell behind and messages were skipped.
    Lagged,
    /// It resumed after an id the server no longer keeps messages for.
    Expired,
    /// It resumed after an id from before the server restarted.
    Restarted,
}

/// An event id: `<boot>-<seq>`, where `boot` tells this server process from an earlier one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventId {
    pub boot: u64,
    pub seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.boot, self.seq)
    }
}

impl FromStr for EventId {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (boot, seq) = text.trim().split_once('-').ok_or(())?;
        Ok(Self {
            boot: boot.parse().map_err(drop)?,
            seq: seq.parse().map_err(drop)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::EventId;

    #[test]
    fn event_ids_round_trip_and_refuse_garbage() {
        let id = EventId { boot: 17, seq: 4 };
        assert_eq!(id.to_string().parse(), Ok(id));
        for bad in ["", "17", "17-", "-4", "a-4", "17-4-1", "17--4"] {
            assert_eq!(bad.parse::<EventId>(), Err(()), "{bad:?}");
        }
    }
}
