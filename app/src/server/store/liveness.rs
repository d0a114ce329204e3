//! The SQL of device liveness: the rules admins keep, and the newest messages of the topics they
//! name, as [`crate::domain::liveness`] reads them to decide.

use super::{rule_change, RuleChange, Store};
use crate::domain::liveness::{LivenessRule, RuleText, TopicSeen};
use chrono::{DateTime, Utc};

/// How many bytes of a payload liveness reads: a status (`offline`, `{"state":"offline"}`) is
/// short, and a large data payload need not travel to be ignored.
const STATUS_FETCH_BYTES: i32 = 256;

impl Store {
    /// Every liveness rule, by name. A stored rule that no longer passes the checks (none should:
    /// they are checked on entry) is skipped with a warning.
    pub async fn liveness_rules(&self) -> Result<Vec<LivenessRule>, sqlx::Error> {
        let rows = sqlx::query!(
            "select id, name, device_filter, status_topic, interval_seconds, online_payload, \
                    offline_payload \
             from liveness_rule order by name, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let interval = row.interval_seconds.to_string();
                let text = RuleText {
                    name: &row.name,
                    devices: &row.device_filter,
                    status: row.status_topic.as_deref().unwrap_or(""),
                    interval_seconds: &interval,
                    online: &row.online_payload,
                    offline: &row.offline_payload,
                };
                LivenessRule::check(row.id, text)
                    .inspect_err(|problem| {
                        tracing::warn!(id = row.id, %problem, "a liveness rule cannot be read; ignored")
                    })
                    .ok()
            })
            .collect())
    }

    /// Adds a liveness rule (its id is ignored) and returns its id, or `None` when a rule for
    /// the same device filter exists already.
    pub async fn add_liveness_rule(&self, rule: &LivenessRule) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar!(
            "insert into liveness_rule (name, device_filter, status_topic, interval_seconds, \
                                        online_payload, offline_payload) \
             values ($1, $2, $3, $4, $5, $6) \
             on conflict (device_filter) do nothing returning id",
            rule.name,
            rule.devices.as_str(),
            rule.status.as_ref().map(|status| status.as_str()),
            rule.interval_seconds as i32,
            rule.words.online,
            rule.words.offline,
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// Rewrites liveness rule `rule.id`.
    pub async fn update_liveness_rule(
        &self,
        rule: &LivenessRule,
    ) -> Result<RuleChange, sqlx::Error> {
        let updated = sqlx::query!(
            "update liveness_rule set name = $2, device_filter = $3, status_topic = $4, \
                 interval_seconds = $5, online_payload = $6, offline_payload = $7 \
             where id = $1",
            rule.id,
            rule.name,
            rule.devices.as_str(),
            rule.status.as_ref().map(|status| status.as_str()),
            rule.interval_seconds as i32,
            rule.words.online,
            rule.words.offline,
        )
        .execute(&self.pool)
        .await;
        // A duplicate would have another rule's device filter.
        rule_change(updated)
    }

    /// Deletes liveness rule `id`; `false` when there was no such rule.
    pub async fn delete_liveness_rule(&self, id: i64) -> Result<bool, sqlx::Error> {
        let deleted = sqlx::query!("delete from liveness_rule where id = $1", id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The newest message of every topic whose name starts with one of `prefixes`, as liveness
    /// reads them. For a topic whose newest message is a retained copy (handed over when ingest
    /// subscribed), also the newest message that arrived live, from the history, so that a
    /// resubscription does not pass for a sign of life.
    pub async fn device_topics(&self, prefixes: &[&str]) -> Result<Vec<TopicSeen>, sqlx::Error> {
        if prefixes.is_empty() {
            return Ok(Vec::new());
        }
        let patterns: Vec<String> = prefixes
            .iter()
            .map(|prefix| format!("{}%", escape_like(prefix)))
            .collect();
        // `l.retain` inside the lateral query makes it a one-time filter: topics whose newest
        // message arrived live never touch the history.
        let rows = sqlx::query!(
            r#"select t.name, l.received_at as "received_at: DateTime<Utc>", l.retain,
                      substring(l.payload from 1 for $2) as "payload_prefix!",
                      live.received_at as "live_at?: DateTime<Utc>",
                      live.payload_prefix as "live_payload_prefix?"
               from latest l
               join topic t on t.id = l.topic_id
               left join lateral (
                   select m.received_at, substring(m.payload from 1 for $2) as payload_prefix
                   from message m
                   where l.retain and m.topic_id = l.topic_id and not m.retain
                   order by m.received_at desc limit 1
               ) live on true
               where t.name like any($1)"#,
            &patterns,
            STATUS_FETCH_BYTES,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let received_at_ms = row.received_at.timestamp_millis();
                let live = if row.retain {
                    row.live_at.map(|at| {
                        (
                            at.timestamp_millis(),
                            row.live_payload_prefix.unwrap_or_default(),
                        )
                    })
                } else {
                    Some((received_at_ms, row.payload_prefix.clone()))
                };
                TopicSeen {
                    topic: row.name,
                    received_at_ms,
                    retained: row.retain,
                    payload: row.payload_prefix,
                    live,
                }
            })
            .collect())
    }
}

/// `text` as a literal in a `like` pattern (whose default escape character is `\`).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
