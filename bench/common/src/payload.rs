//! The benchmark's messages: about 200 bytes of JSON that start with the sequence number and the
//! publish time, spread over 1,000 topics.

use std::time::{SystemTime, UNIX_EPOCH};

pub const TOPICS: u64 = 1000;
/// Sequence numbers from here on are readiness probes, not part of any measured step.
pub const PROBE_BASE: u64 = 1_000_000_000_000;
const TARGET_BYTES: usize = 200;

/// How messages spread over topics: message `seq` goes to topic `seq % count`. With more than one
/// group, the topics sit one level deeper, in `groups` levels of consecutive devices, as a topic
/// tree of a real site would (bench/explorer draws them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Topics {
    pub count: u64,
    pub groups: u64,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            count: TOPICS,
            groups: 1,
        }
    }
}

impl Topics {
    pub fn name(&self, seq: u64) -> String {
        let device = seq % self.count;
        if self.groups <= 1 {
            format!("bench/dev-{device:04}")
        } else {
            let group = device * self.groups / self.count;
            format!("bench/group-{group:03}/dev-{device:05}")
        }
    }
}

/// Microseconds since the Unix epoch: the clock PostgreSQL's commit timestamps use too.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// `seq` and `sent_us` come first so that a reader can take them from the first 64 bytes.
pub fn build(seq: u64, sent_us: u64) -> Vec<u8> {
    let device = seq % TOPICS;
    let temperature = 15.0 + (seq % 200) as f64 / 10.0;
    let humidity = 30.0 + (seq % 500) as f64 / 10.0;
    let mut json = format!(
        "{{\"seq\":{seq},\"sent_us\":{sent_us},\"device\":\"bench-{device:03}\",\
         \"temperature\":{temperature:.1},\"humidity\":{humidity:.1},\"pad\":\""
    );
    let pad = TARGET_BYTES.saturating_sub(json.len() + 2);
    json.extend(std::iter::repeat_n('x', pad));
    json.push_str("\"}");
    json.into_bytes()
}

/// `seq` and `sent_us` from the start of a payload, without parsing the rest. The payload may
/// also be a string inside other JSON (escaped quotes), as Lookout's live stream sends it.
pub fn parse_head(bytes: &[u8]) -> Option<(u64, u64)> {
    Some((
        number_after(bytes, b"\"seq")?,
        number_after(bytes, b"\"sent_us")?,
    ))
}

/// The digits after `key` and then `":` or `\":`.
fn number_after(bytes: &[u8], key: &[u8]) -> Option<u64> {
    let mut from = 0;
    let start = loop {
        let at = from + bytes[from..].windows(key.len()).position(|w| w == key)? + key.len();
        let rest = &bytes[at..];
        if rest.starts_with(b"\":") {
            break at + 2;
        }
        if rest.starts_with(b"\\\":") {
            break at + 3;
        }
        from = at;
    };
    let digits = bytes[start..].iter().take_while(|b| b.is_ascii_digit());
    let mut value: u64 = 0;
    let mut any = false;
    for digit in digits {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
        any = true;
    }
    any.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_about_200_bytes_of_json_whose_head_gives_seq_and_time() {
        let payload = build(123_456, 1_732_540_000_123_456);
        assert!((195..=205).contains(&payload.len()), "{}", payload.len());
        let value: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(value["seq"], 123_456);
        assert_eq!(
            parse_head(&payload[..64]),
            Some((123_456, 1_732_540_000_123_456))
        );
        assert_eq!(Topics::default().name(123_456), "bench/dev-0456");
    }

    #[test]
    fn grouped_topics_put_consecutive_devices_under_one_level() {
        let topics = Topics {
            count: 10_000,
            groups: 100,
        };
        assert_eq!(topics.name(0), "bench/group-000/dev-00000");
        assert_eq!(topics.name(199), "bench/group-001/dev-00199");
        assert_eq!(topics.name(19_999), "bench/group-099/dev-09999");
    }

    #[test]
    fn the_head_is_found_in_a_payload_carried_as_a_json_string() {
        let payload = String::from_utf8(build(42, 1_732_540_000_000_001)).unwrap();
        let event = serde_json::json!({"topic": Topics::default().name(42), "payload": payload})
            .to_string();
        assert!(event.contains("\\\"seq\\\":42"), "{event}");
        assert_eq!(
            parse_head(event.as_bytes()),
            Some((42, 1_732_540_000_000_001))
        );
        // A key that only starts like `seq` is not it.
        assert_eq!(
            parse_head(b"{\"sequel\":1,\"seq\":2,\"sent_us\":3}"),
            Some((2, 3))
        );
    }
}
