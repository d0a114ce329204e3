//! A topic's messages as its page shows them: the newest one in full (up to the shown size),
//! and the log, newest first, a page at a time from a position in the table.

use crate::domain::live::LiveMessage;
use crate::domain::payload::{self, PayloadKind};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The newest message of a topic as the page shows it. The fields are those of the live
/// stream's `message` event (docs/live.md), so an event deserializes into this type as it is and
/// can replace the snapshot in the page's signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatestMessage {
    pub topic: String,
    pub at_ms: i64,
    pub kind: PayloadKind,
    /// The whole payload's size in bytes.
    pub size: i64,
    /// Text and JSON: the payload as text, up to [`payload::SHOWN_PAYLOAD_BYTES`]. Binary: empty.
    pub payload: String,
    /// `payload` holds only the start of the payload.
    pub truncated: bool,
    pub value: Option<f64>,
    pub retain: bool,
    pub qos: u8,
    /// Binary only: the first bytes in hex. The database has them; the live stream does not.
    #[serde(default)]
    pub head_hex: Option<String>,
}

impl LatestMessage {
    /// The payload fields from a stored payload's first bytes (`prefix`) and its full size; the
    /// other fields are for the caller to fill in.
    pub fn from_stored(
        topic: String,
        at_ms: i64,
        kind: PayloadKind,
        prefix: &[u8],
        size: i64,
    ) -> Self {
        let (payload, head_hex) = match kind {
            PayloadKind::Binary => {
                let head = &prefix[..prefix.len().min(payload::SHOWN_BINARY_BYTES)];
                (String::new(), Some(payload::hex(head)))
            }
            PayloadKind::Text | PayloadKind::Json => (
                payload::text_of_prefix(prefix)
                    .unwrap_or_default()
                    .to_owned(),
                None,
            ),
        };
        Self {
            truncated: kind != PayloadKind::Binary && (payload.len() as i64) < size,
            topic,
            at_ms,
            kind,
            size,
            payload,
            value: None,
            retain: false,
            qos: 0,
            head_hex,
        }
    }
}

impl From<&LiveMessage> for LatestMessage {
    fn from(message: &LiveMessage) -> Self {
        Self {
            topic: message.topic.clone(),
            at_ms: message.at_ms,
            kind: message.kind,
            size: message.size as i64,
            payload: message.payload.clone(),
            truncated: message.truncated,
            value: message.value,
            retain: message.retain,
            qos: message.qos,
            head_hex: None,
        }
    }
}

/// A message's place in the log's order (newest first: receive time, then its row in the
/// table), so a page can start right after it. Written `<unix µs>.<block>.<row>`; the row is
/// PostgreSQL's `ctid`, which sets apart messages received in the same microsecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogPosition {
    pub at_us: i64,
    pub block: u32,
    pub row: u16,
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.at_us, self.block, self.row)
    }
}

impl FromStr for LogPosition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not a log position: {text:?}");
        let mut parts = text.split('.');
        let (Some(at_us), Some(block), Some(row), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Self {
            at_us: at_us.parse().map_err(|_| bad())?,
            block: block.parse().map_err(|_| bad())?,
            row: row.parse().map_err(|_| bad())?,
        })
    }
}

impl TryFrom<String> for LogPosition {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<LogPosition> for String {
    fn from(position: LogPosition) -> Self {
        position.to_string()
    }
}

/// Which page of the log: the newest, or the one just older or just newer than a position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogPage {
    #[default]
    Newest,
    Before(LogPosition),
    After(LogPosition),
}

impl LogPage {
    /// From the `before` / `after` query parameters; anything unreadable means the newest page.
    pub fn from_query(before: Option<String>, after: Option<String>) -> Self {
        let parse = |text: Option<String>| text.and_then(|text| text.parse().ok());
        Self::from_positions(parse(before), parse(after))
    }

    pub fn from_positions(before: Option<LogPosition>, after: Option<LogPosition>) -> Self {
        match (before, after) {
            (Some(position), _) => LogPage::Before(position),
            (None, Some(position)) => LogPage::After(position),
            (None, None) => LogPage::Newest,
        }
    }

    /// The `before` and `after` positions, as the log's server function takes them.
    pub fn positions(self) -> (Option<LogPosition>, Option<LogPosition>) {
        match self {
            LogPage::Newest => (None, None),
            LogPage::Before(position) => (Some(position), None),
            LogPage::After(position) => (None, Some(position)),
        }
    }
}

/// One message in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at_ms: i64,
    pub preview: String,
    pub position: LogPosition,
}

/// A page of the log, newest first, with where the neighbouring pages start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessagePage {
    pub entries: Vec<LogEntry>,
    /// Older messages exist: the next page starts before this position.
    pub older: Option<LogPosition>,
    /// Newer messages exist: the previous page starts after this position.
    pub newer: Option<LogPosition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_positions_round_trip_and_bad_ones_mean_the_newest_page() {
        let position = LogPosition {
            at_us: 1_764_064_800_123_456,
            block: 12,
            row: 3,
        };
        assert_eq!(position.to_string(), "1764064800123456.12.3");
        assert_eq!("1764064800123456.12.3".parse(), Ok(position));
        for bad in ["", "1.2", "1.2.3.4", "x.1.2", "1.2.70000"] {
            assert!(bad.parse::<LogPosition>().is_err(), "{bad}");
        }
        assert_eq!(
            LogPage::from_query(Some("nonsense".into()), None),
            LogPage::Newest
        );
        assert_eq!(
            LogPage::from_query(None, Some(position.to_string())),
            LogPage::After(position)
        );
    }

    #[test]
    fn a_live_event_reads_as_a_latest_message() {
        let event = r#"{"topic":"a/b","at_ms":1732550000123,"kind":"binary","size":123,
            "payload":"","truncated":false,"value":null,"retain":false,"qos":1}"#;
        let latest: LatestMessage = serde_json::from_str(event).unwrap();
        assert_eq!(latest.kind, PayloadKind::Binary);
        assert_eq!(latest.head_hex, None);
    }

    #[test]
    fn stored_payloads_are_cut_at_a_character_and_binary_shows_its_head() {
        let text = "é".repeat(10);
        let latest =
            LatestMessage::from_stored("t".into(), 0, PayloadKind::Text, &text.as_bytes()[..5], 20);
        assert_eq!((latest.payload.as_str(), latest.truncated), ("éé", true));
        let binary =
            LatestMessage::from_stored("t".into(), 0, PayloadKind::Binary, &[0xff; 40], 40);
        assert_eq!(binary.head_hex.unwrap().len(), 32 * 3 - 1);
        assert!(!binary.truncated);
    }
}
