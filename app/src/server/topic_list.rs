//! The topics a visitor may read, a page at a time, with their latest values: the database
//! narrows by the rules' filters, the access policy decides each topic, and what the live hub
//! holds but the writer has not stored yet is laid over the rows. The overview's and the
//! explorer's server functions read through this.

use crate::domain::live::LiveMessage;
use crate::domain::topic_filter::TopicFilter;
use crate::domain::topic_list::{lay_over, TopicLatest, TopicList, TopicPage};
use crate::server::access::{Rules, Visitor};
use crate::server::store::topics::TopicWalk;
use crate::server::store::Store;
use leptos::prelude::*;
use std::ops::Bound;

fn unavailable(error: sqlx::Error) -> ServerFnError {
    // The cause is for the log; the visitor gets no database details.
    tracing::error!(error = ?error, "listing the latest topics failed");
    ServerFnError::new("the topic list is unavailable right now")
}

/// A page of at most `limit` topics the visitor may read, from `walk` on; a walk back that
/// reaches the first topic gives the first page, full.
pub async fn readable_page(walk: TopicWalk<'_>, limit: usize) -> Result<TopicPage, ServerFnError> {
    let state = crate::server::state::app_state()?;
    let visitor = crate::server::access::current_visitor();
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
