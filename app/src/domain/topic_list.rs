//! What the topic list shows: the overview's pages of topics and the explorer's list, built by
//! the server and kept live by the browser.

use crate::domain::live::LiveMessage;
use crate::domain::topic_filter::MAX_TOPIC_BYTES;
use serde::{Deserialize, Serialize};
use std::ops::{Bound, RangeBounds};

/// The newest message of one topic, reduced to what a list needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicLatest {
    pub name: String,
    /// A short, printable rendering of the payload (see `payload::preview`).
    pub preview: String,
    pub received_at_ms: i64,
    pub message_count: i64,
}

/// The topic list as of one moment. Ages are computed against `server_now_ms` rather than the
/// browser's clock, so the server-rendered and the hydrated page agree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicList {
    pub topics: Vec<TopicLatest>,
    pub server_now_ms: i64,
}

/// One page of the overview's topic list, and where it sits in name order (byte order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicPage {
    pub list: TopicList,
    /// The names the page covers: its topics, and new topics that arrive between them while it
    /// is open. An end is unbounded when no page lies beyond it.
    pub start: Bound<String>,
    pub end: Bound<String>,
}

impl TopicPage {
    /// Whether `name` falls within the page's part of the name order.
    pub fn covers(&self, name: &str) -> bool {
        let (start, end) = (self.start.as_ref(), self.end.as_ref());
        RangeBounds::<str>::contains(&(start.map(String::as_str), end.map(String::as_str)), name)
    }

    /// As [`TopicList::apply`], for topics in the page's part of the name order: a new topic
    /// beyond it belongs to another page.
    pub fn apply(&mut self, message: &LiveMessage) {
        if self.covers(&message.topic) {
            self.list.apply(message);
        }
    }

    /// Whether other pages lie before or after this one.
    pub fn is_one_of_several(&self) -> bool {
        self.start != Bound::Unbounded || self.end != Bound::Unbounded
    }

    /// The link to the page before this one, when there is one.
    pub fn previous_href(&self) -> Option<String> {
        let first = self.list.topics.first()?;
        (self.start != Bound::Unbounded).then(|| page_href("before", &first.name))
    }

    /// The link to the page after this one, when there is one.
    pub fn next_href(&self) -> Option<String> {
        match &self.end {
            Bound::Included(last) | Bound::Excluded(last) => Some(page_href("after", last)),
            Bound::Unbounded => None,
        }
    }
}

/// The overview's address for the page just after or just before `name`. The name travels as
/// hex: topic names may hold any character, and a plain hex string survives every URL parser
/// and router unchanged.
fn page_href(key: &str, name: &str) -> String {
    use std::fmt::Write;
    let mut href = format!("/?{key}=");
    for byte in name.bytes() {
        let _ = write!(href, "{byte:02x}");
    }
    href
}

/// The topic name of a page link's `after` or `before`; `None` for anything that is not one.
pub fn page_cursor(hex: &str) -> Option<String> {
    let hex_digits = hex.bytes().all(|byte| byte.is_ascii_hexdigit());
    if !hex_digits || !hex.len().is_multiple_of(2) || hex.len() > 2 * MAX_TOPIC_BYTES {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes)
        .ok()
        .filter(|name| !name.is_empty())
}

/// `rows` (in name order) with `live` laid over them: a topic's newer message moves its
/// value on, a topic only the live ring knows joins in its place. One sort of the live
/// messages and one pass over both.
#[cfg(any(feature = "ssr", test))]
pub fn lay_over(rows: Vec<TopicLatest>, mut live: Vec<LiveMessage>) -> Vec<TopicLatest> {
    live.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
    let mut merged = Vec::with_capacity(rows.len() + live.len());
    let mut live = live.into_iter().peekable();
    for mut row in rows {
        while let Some(message) = live.next_if(|message| message.topic < row.name) {
            merged.push(TopicLatest::from(&message));
        }
        if let Some(message) = live.next_if(|message| message.topic == row.name) {
            row.take(&message);
        }
        merged.push(row);
    }
    merged.extend(live.map(|message| TopicLatest::from(&message)));
    merged
}

impl TopicLatest {
    /// Moves on to `message` unless what it holds is as new or newer (a snapshot that overtook
    /// the stream).
    fn take(&mut self, message: &LiveMessage) {
        if message.at_ms > self.received_at_ms {
            self.received_at_ms = message.at_ms;
            self.preview = message.preview.clone();
            self.message_count += 1 + message.replaced as i64;
        }
    }
}

impl From<&LiveMessage> for TopicLatest {
    fn from(message: &LiveMessage) -> Self {
        Self {
            name: message.topic.clone(),
            preview: message.preview.clone(),
            received_at_ms: message.at_ms,
            message_count: 1 + message.replaced as i64,
        }
    }
}

impl TopicList {
    /// Takes a live message into the list: the topic's value moves on (unless the list already
    /// holds something newer), or a new topic joins in name order.
    pub fn apply(&mut self, message: &LiveMessage) {
        match self
            .topics
            .binary_search_by(|topic| topic.name.as_str().cmp(&message.topic))
        {
            Ok(found) => self.topics[found].take(message),
            Err(position) => self.topics.insert(position, TopicLatest::from(message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        lay_over, page_cursor, page_href, TopicLatest, TopicList, TopicPage, MAX_TOPIC_BYTES,
    };
    use crate::domain::live::LiveMessage;
    use crate::domain::payload::PayloadKind;
    use std::ops::Bound;

    fn message(topic: &str, at_ms: i64, preview: &str) -> LiveMessage {
        LiveMessage {
            topic: topic.into(),
            at_ms,
            kind: PayloadKind::Text,
            size: preview.len(),
            payload: preview.into(),
            truncated: false,
            preview: preview.into(),
            value: None,
            retain: false,
            qos: 0,
            replaced: 0,
        }
    }

    fn row(name: &str, at_ms: i64, preview: &str, count: i64) -> TopicLatest {
        TopicLatest {
            name: name.into(),
            preview: preview.into(),
            received_at_ms: at_ms,
            message_count: count,
        }
    }

    #[test]
    fn live_messages_move_values_on_and_add_topics_in_order() {
        let mut list = TopicList {
            topics: vec![row("a", 10, "old", 4), row("c", 10, "c", 1)],
            server_now_ms: 0,
        };
        list.apply(&message("a", 20, "new"));
        list.apply(&message("b", 30, "b"));
        // Older than what the list holds (a snapshot overtook it): ignored.
        list.apply(&message("c", 5, "older"));
        assert_eq!(
            list.topics,
            [
                row("a", 20, "new", 5),
                row("b", 30, "b", 1),
                row("c", 10, "c", 1)
            ]
        );
    }

    #[test]
    fn live_messages_are_laid_over_rows_in_one_pass() {
        let rows = vec![
            row("b", 10, "b", 3),
            row("d", 10, "d", 1),
            row("f", 10, "f", 2),
        ];
        let live = vec![
            message("g", 40, "g"),
            message("a", 20, "a"),
            message("d", 30, "d2"),
            // Older than the row: the row stays.
            message("f", 5, "old"),
            message("c", 25, "c"),
        ];
        assert_eq!(
            lay_over(rows, live),
            [
                row("a", 20, "a", 1),
                row("b", 10, "b", 3),
                row("c", 25, "c", 1),
                row("d", 30, "d2", 2),
                row("f", 10, "f", 2),
                row("g", 40, "g", 1),
            ]
        );
        assert_eq!(
            lay_over(vec![], vec![message("x", 1, "x")]),
            [row("x", 1, "x", 1)]
        );
    }

    #[test]
    fn a_page_takes_new_topics_only_between_its_bounds() {
        let mut page = TopicPage {
            list: TopicList {
                topics: vec![row("b", 10, "b", 1), row("d", 10, "d", 1)],
                server_now_ms: 0,
            },
            start: Bound::Included("b".to_owned()),
            end: Bound::Included("d".to_owned()),
        };
        for topic in ["a", "c", "da", "e"] {
            page.apply(&message(topic, 20, topic));
        }
        page.apply(&message("d", 20, "d2"));
        let names: Vec<&str> = page.list.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "d"]);
        assert_eq!(page.list.topics[2].preview, "d2");
        assert_eq!(page.previous_href().as_deref(), Some("/?before=62"));
        assert_eq!(page.next_href().as_deref(), Some("/?after=64"));

        // The last page, reached after `b`: open upwards, not downwards.
        page.list.topics.remove(0);
        page.start = Bound::Excluded("b".to_owned());
        page.end = Bound::Unbounded;
        page.apply(&message("b", 30, "b2"));
        page.apply(&message("a", 30, "a"));
        page.apply(&message("zz", 30, "zz"));
        let names: Vec<&str> = page.list.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["c", "d", "zz"], "b is not on this page");
        assert_eq!(page.next_href(), None);
        assert_eq!(page.previous_href().as_deref(), Some("/?before=63"));
    }

    #[test]
    fn page_links_carry_any_topic_name() {
        for name in [
            "plant/boiler",
            "a b&c=d+e%41#",
            "\u{7}é/日本/\u{10ffff}",
            "/",
        ] {
            let href = page_href("after", name);
            let hex = href.strip_prefix("/?after=").unwrap();
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{href}");
            assert_eq!(page_cursor(hex).as_deref(), Some(name));
        }
        let longest = "a".repeat(MAX_TOPIC_BYTES);
        assert_eq!(page_cursor(&"61".repeat(longest.len())), Some(longest));
        for bad in ["", "6", "zz", "ff", "c3", "+61", "+6+1", &"61".repeat(1025)] {
            assert_eq!(page_cursor(bad), None, "{bad:?}");
        }
    }
}
