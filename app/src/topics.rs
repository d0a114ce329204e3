//! What the topic list shows, shared by the server (which builds it) and the browser (which
//! hydrates it), and the server function that fetches it.

use crate::topic_filter::MAX_TOPIC_BYTES;
use leptos::prelude::*;
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

/// How many topics a page of the overview shows.
pub const TOPIC_LIST_LIMIT: usize = 500;

/// How many topics the explorer loads at most.
pub const TOPIC_TREE_LIMIT: usize = 100_000;

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
    fn covers(&self, name: &str) -> bool {
        let (start, end) = (self.start.as_ref(), self.end.as_ref());
        RangeBounds::<str>::contains(&(start.map(String::as_str), end.map(String::as_str)), name)
    }

    /// As [`TopicList::apply`], for topics in the page's part of the name order: a new topic
    /// beyond it belongs to another page.
    pub fn apply(&mut self, message: &crate::live::LiveMessage) {
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

/// A page of the topics the visitor may read, with their latest values: the first, or the one
/// just after `after` or just before `before` (names, as [`TopicPage`]'s links carry them).
#[server(endpoint = "topic_list", output = crate::answer::JsonAnswer)]
pub async fn load_topic_list(
    after: Option<String>,
    before: Option<String>,
) -> Result<TopicPage, ServerFnError> {
    let too_long = |name: &Option<String>| name.as_ref().is_some_and(|n| n.len() > MAX_TOPIC_BYTES);
    if too_long(&after) || too_long(&before) {
        return Err(ServerFnError::new("that is not a page of the topic list"));
    }
    let walk = match (&before, &after) {
        (Some(before), _) => crate::store::TopicWalk::Before(before),
        (None, Some(after)) => crate::store::TopicWalk::After(after),
        (None, None) => crate::store::TopicWalk::First,
    };
    ssr::readable_page(walk, TOPIC_LIST_LIMIT).await
}

/// As [`load_topic_list`], for the explorer: every topic up to [`TOPIC_TREE_LIMIT`].
#[server(endpoint = "topic_tree", output = crate::answer::JsonAnswer)]
pub async fn load_topic_tree() -> Result<TopicList, ServerFnError> {
    let page = ssr::readable_page(crate::store::TopicWalk::First, TOPIC_TREE_LIMIT).await?;
    Ok(page.list)
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::{lay_over, TopicLatest, TopicList, TopicPage};
    use crate::access::{Rules, Visitor};
    use crate::live::LiveMessage;
    use crate::store::{Store, TopicWalk};
    use crate::topic_filter::TopicFilter;
    use leptos::prelude::*;
    use std::ops::Bound;

    fn unavailable(error: sqlx::Error) -> ServerFnError {
        // The cause is for the log; the visitor gets no database details.
        tracing::error!(error = ?error, "listing the latest topics failed");
        ServerFnError::new("the topic list is unavailable right now")
    }

    /// A page of at most `limit` topics the visitor may read, from `walk` on; a walk back that
    /// reaches the first topic gives the first page, full.
    pub async fn readable_page(
        walk: TopicWalk<'_>,
        limit: usize,
    ) -> Result<TopicPage, ServerFnError> {
        let state = use_context::<crate::state::AppState>()
            .ok_or_else(|| ServerFnError::new("application state is missing"))?;
        let visitor = crate::access::current_visitor();
        let rules = state.access.rules().await.map_err(unavailable)?;
        let filters = rules.read_filters(&visitor);
        let reader = Reader {
            store: &state.store,
            rules: &rules,
            visitor: &visitor,
            filters: filters.as_deref(),
        };
        // One more than a page tells whether more lie beyond it.
        let mut topics = reader.topics(walk, limit + 1).await.map_err(unavailable)?;
        let more = topics.len() > limit;
        topics.truncate(limit);
        let (start, end) = match walk {
            TopicWalk::Before(_) if !more => {
                topics = reader
                    .topics(TopicWalk::First, limit + 1)
                    .await
                    .map_err(unavailable)?;
                let more = topics.len() > limit;
                topics.truncate(limit);
                (Bound::Unbounded, last_if(more, &topics))
            }
            TopicWalk::Before(_) => {
                topics.reverse();
                let first = topics.first().map(|topic| topic.name.clone());
                let last = topics.last().map(|topic| topic.name.clone());
                (
                    first.map_or(Bound::Unbounded, Bound::Included),
                    last.map_or(Bound::Unbounded, Bound::Included),
                )
            }
            TopicWalk::After(after) => (Bound::Excluded(after.to_owned()), last_if(more, &topics)),
            TopicWalk::First => (Bound::Unbounded, last_if(more, &topics)),
        };
        let mut page = TopicPage {
            list: TopicList {
                topics,
                server_now_ms: chrono::Utc::now().timestamp_millis(),
            },
            start,
            end,
        };
        // What ingest received but the writer has not committed yet: a page fetched after a
        // stream's resync must not be older than the messages the stream skipped.
        let live: Vec<LiveMessage> = state
            .live
            .newest_per_topic()
            .into_iter()
            .filter(|(topic, _)| page.covers(topic) && rules.may_read(&visitor, topic))
            .map(|(_, event)| event.message())
            .collect();
        let rows = std::mem::take(&mut page.list.topics);
        page.list.topics = lay_over(rows, live);
        Ok(page)
    }

    fn last_if(more: bool, topics: &[TopicLatest]) -> Bound<String> {
        match topics.last() {
            Some(last) if more => Bound::Included(last.name.clone()),
            _ => Bound::Unbounded,
        }
    }

    /// Reads topics for one visitor: the database narrows by the rules' filters, the access
    /// policy decides each topic.
    struct Reader<'a> {
        store: &'a Store,
        rules: &'a Rules,
        visitor: &'a Visitor,
        filters: Option<&'a [TopicFilter]>,
    }

    impl Reader<'_> {
        /// Up to `want` readable topics from `walk` on, in its order. The query selects what the
        /// policy allows, so one round is the rule; should the policy refuse some, the walk goes
        /// on from the last name read until it has `want` or the names run out.
        async fn topics(
            &self,
            walk: TopicWalk<'_>,
            want: usize,
        ) -> Result<Vec<TopicLatest>, sqlx::Error> {
            let mut kept = Vec::new();
            let mut last: Option<String> = None;
            loop {
                let step = match (&last, walk) {
                    (None, walk) => walk,
                    (Some(name), TopicWalk::Before(_)) => TopicWalk::Before(name),
                    (Some(name), _) => TopicWalk::After(name),
                };
                let batch = self
                    .store
                    .latest_topics(self.filters, step, want as i64)
                    .await?;
                let exhausted = batch.len() < want;
                last = batch.last().map(|topic| topic.name.clone());
                kept.extend(
                    batch
                        .into_iter()
                        .filter(|topic| self.rules.may_read(self.visitor, &topic.name)),
                );
                if exhausted || kept.len() >= want {
                    kept.truncate(want);
                    return Ok(kept);
                }
            }
        }
    }
}

/// `rows` (in name order) with `live` laid over them: a topic's newer message moves its
/// value on, a topic only the live ring knows joins in its place. One sort of the live
/// messages and one pass over both.
#[cfg(any(feature = "ssr", test))]
fn lay_over(rows: Vec<TopicLatest>, mut live: Vec<crate::live::LiveMessage>) -> Vec<TopicLatest> {
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
    fn take(&mut self, message: &crate::live::LiveMessage) {
        if message.at_ms > self.received_at_ms {
            self.received_at_ms = message.at_ms;
            self.preview = message.preview.clone();
            self.message_count += 1 + message.replaced as i64;
        }
    }
}

impl From<&crate::live::LiveMessage> for TopicLatest {
    fn from(message: &crate::live::LiveMessage) -> Self {
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
    pub fn apply(&mut self, message: &crate::live::LiveMessage) {
        match self
            .topics
            .binary_search_by(|topic| topic.name.as_str().cmp(&message.topic))
        {
            Ok(found) => self.topics[found].take(message),
            Err(position) => self.topics.insert(position, TopicLatest::from(message)),
        }
    }
}

/// "12 s ago", "5 min ago", "3 h ago", "2 d ago".
pub fn format_age(age_ms: i64) -> String {
    let seconds = age_ms.max(0) / 1000;
    match seconds {
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// A moment split into UTC calendar fields, computed the same way on the server and in the
/// browser (which has no time zone database to agree with), so hydration changes no text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl UtcTime {
    pub fn from_ms(at_ms: i64) -> Self {
        const DAY_MS: i64 = 86_400_000;
        let (days, in_day) = (at_ms.div_euclid(DAY_MS), at_ms.rem_euclid(DAY_MS));
        // Howard Hinnant's days-to-civil: eras of 400 years, years starting in March.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        let seconds = in_day / 1000;
        Self {
            year,
            month: month as u32,
            day: day as u32,
            hour: (seconds / 3600) as u32,
            minute: (seconds / 60 % 60) as u32,
            second: (seconds % 60) as u32,
            millis: (in_day % 1000) as u32,
        }
    }
}

/// "2026-11-25 10:00:00.123 UTC".
pub fn format_utc(at_ms: i64) -> String {
    let t = UtcTime::from_ms(at_ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

#[cfg(test)]
mod tests {
    use super::{
        format_age, format_utc, lay_over, page_cursor, page_href, TopicLatest, TopicList, TopicPage,
    };
    use crate::live::LiveMessage;
    use std::ops::Bound;

    fn message(topic: &str, at_ms: i64, preview: &str) -> LiveMessage {
        LiveMessage {
            topic: topic.into(),
            at_ms,
            kind: crate::payload::PayloadKind::Text,
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
        let longest = "a".repeat(crate::topic_filter::MAX_TOPIC_BYTES);
        assert_eq!(page_cursor(&"61".repeat(longest.len())), Some(longest));
        for bad in ["", "6", "zz", "ff", "c3", "+61", "+6+1", &"61".repeat(1025)] {
            assert_eq!(page_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn times_are_shown_in_utc_to_the_millisecond() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(format_utc(1_764_064_800_123), "2025-11-25 10:00:00.123 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59.999 UTC");
    }

    #[test]
    fn ages_are_rounded_down_to_the_largest_whole_unit() {
        assert_eq!(format_age(0), "0 s ago");
        assert_eq!(format_age(59_999), "59 s ago");
        assert_eq!(format_age(60_000), "1 min ago");
        assert_eq!(format_age(3_599_000), "59 min ago");
        assert_eq!(format_age(7_200_000), "2 h ago");
        assert_eq!(format_age(3 * 86_400_000), "3 d ago");
    }

    #[test]
    fn a_clock_slightly_ahead_does_not_show_negative_ages() {
        assert_eq!(format_age(-1500), "0 s ago");
    }
}
