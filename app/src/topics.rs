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

/// The topics the visitor may read, with their latest values.
#[server(endpoint = "topic_list")]
pub async fn load_topic_list() -> Result<TopicList, ServerFnError> {
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("application state is missing"))?;
    let unavailable = |error: sqlx::Error| {
        // The cause is for the log; the visitor gets no database details.
        tracing::error!(error = ?error, "listing the latest topics failed");
        ServerFnError::new("the topic list is unavailable right now")
    };
    let visitor = crate::access::current_visitor();
    let rules = state.access.rules().await.map_err(unavailable)?;
    let topics = state
        .store
        .latest_topics(TOPIC_LIST_LIMIT)
        .await
        .map_err(unavailable)?
        .into_iter()
        .filter(|topic| rules.may_read(&visitor, &topic.name))
        .collect();
    Ok(TopicList {
        topics,
        server_now_ms: chrono::Utc::now().timestamp_millis(),
    })
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

#[cfg(test)]
mod tests {
    use super::format_age;

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
