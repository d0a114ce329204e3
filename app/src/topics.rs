//! What the topic list shows, shared by the server (which builds it) and the browser (which
//! hydrates it), and the server function that fetches it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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

/// How many topics the list shows at most; the topic explorer will page through the rest.
pub const TOPIC_LIST_LIMIT: i64 = 500;

/// How many topics the explorer loads at most.
pub const TOPIC_TREE_LIMIT: i64 = 100_000;

/// The topics the visitor may read, with their latest values.
#[server(endpoint = "topic_list", output = crate::answer::JsonAnswer)]
pub async fn load_topic_list() -> Result<TopicList, ServerFnError> {
    readable_topics(TOPIC_LIST_LIMIT).await
}

/// As [`load_topic_list`], for the explorer: every topic up to [`TOPIC_TREE_LIMIT`].
#[server(endpoint = "topic_tree", output = crate::answer::JsonAnswer)]
pub async fn load_topic_tree() -> Result<TopicList, ServerFnError> {
    readable_topics(TOPIC_TREE_LIMIT).await
}

#[cfg(feature = "ssr")]
async fn readable_topics(limit: i64) -> Result<TopicList, ServerFnError> {
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("application state is missing"))?;
    let unavailable = |error: sqlx::Error| {
        // The cause is for the log; the visitor gets no database details.
        tracing::error!(error = ?error, "listing the latest topics failed");
        ServerFnError::new("the topic list is unavailable right now")
    };
    let visitor = crate::access::current_visitor();
    let rules = state.access.rules().await.map_err(unavailable)?;
    let mut list = TopicList {
        topics: state
            .store
            .latest_topics(limit)
            .await
            .map_err(unavailable)?,
        server_now_ms: chrono::Utc::now().timestamp_millis(),
    };
    // What ingest received but the writer has not committed yet: a snapshot fetched after a
    // stream's resync must not be older than the messages the stream skipped.
    for event in state.live.newest_per_topic().into_values() {
        list.apply(&event.message());
    }
    list.topics
        .retain(|topic| rules.may_read(&visitor, &topic.name));
    list.topics.truncate(limit as usize);
    Ok(list)
}

impl TopicList {
    /// Takes a live message into the list: the topic's value moves on (unless the list already
    /// holds something newer), or a new topic joins in name order.
    pub fn apply(&mut self, message: &crate::live::LiveMessage) {
        match self
            .topics
            .binary_search_by(|topic| topic.name.as_str().cmp(&message.topic))
        {
            Ok(found) => {
                let topic = &mut self.topics[found];
                if message.at_ms > topic.received_at_ms {
                    topic.received_at_ms = message.at_ms;
                    topic.preview = message.preview.clone();
                    topic.message_count += 1 + message.replaced as i64;
                }
            }
            Err(position) => self.topics.insert(
                position,
                TopicLatest {
                    name: message.topic.clone(),
                    preview: message.preview.clone(),
                    received_at_ms: message.at_ms,
                    message_count: 1 + message.replaced as i64,
                },
            ),
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
    use super::{format_age, format_utc, TopicLatest, TopicList};
    use crate::live::LiveMessage;

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
