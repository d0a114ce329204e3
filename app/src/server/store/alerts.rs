//! The SQL of alerts: channels, rules and the channels each tells (`alert_channel`,
//! `alert_rule`, `alert_rule_channel`), each rule's state per subject (`alert_state`), and the
//! outbox of notices (`alert_notice`). A subject's new state and the notices it causes are
//! written in one transaction ([`Store::record_alert`]), and a notice is taken for sending by a
//! lease ([`Store::claim_due_notices`]), so that neither a failover nor a crash mid-send loses a
//! notice; a repeat is possible only after a crash mid-send, and carries the same id.
//!
//! Conditions, timings and notices travel as JSON text (sqlx's `json` feature would be a
//! dependency for these columns alone); the domain checks them on the way in and out.

use super::Store;
use crate::domain::alert_rule::{AlertChannel, AlertRule, Condition, MAX_CHANNELS, MAX_RULES};
use crate::domain::alerting::Timing;
use crate::domain::incident::Firing;
use crate::domain::ingest_status::FailingChannel;
use crate::domain::notice::{ChannelFormat, Notice, NoticeState, Severity};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What adding a rule or a channel came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertAdded {
    Added(i64),
    /// The name is taken.
    Duplicate,
    /// As many as may exist exist.
    Full,
}

/// A channel with how its sends have gone.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelRow {
    pub channel: AlertChannel,
    /// Since when its sends have failed without a delivery between.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// One rule's stored state for one subject.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredState {
    pub rule_id: i64,
    pub subject: String,
    /// `domain::alerting::AlertState` as JSON.
    pub state: String,
    pub firing: bool,
    pub since: Option<DateTime<Utc>>,
    pub value: String,
    pub updated_at: DateTime<Utc>,
}

/// A notice taken for sending, with the channel it goes to as it is now.
#[derive(Clone, Debug)]
pub struct DueNotice {
    pub id: i64,
    pub channel: AlertChannel,
    pub notice: Notice,
    /// Attempts before this one.
    pub attempts: i32,
}

/// What one rule watches now, as `/admin/alerts` shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleSummary {
    /// Subjects with a recorded state.
    pub recorded: i64,
    pub firing_count: i64,
    /// The first that fire, longest first: subject, since when, value.
    pub firing: Vec<(String, Option<DateTime<Utc>>, String)>,
}

/// A notice as a rule's page lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct NoticeRecord {
    pub id: i64,
    pub channel: String,
    pub state: NoticeState,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Errors longer than this are cut: a receiver's answer is not ours to store whole.
const MAX_ERROR_CHARS: usize = 500;

pub(super) fn cut(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

fn channel_of(
    id: i64,
    name: String,
    format: &str,
    url: String,
    template: Option<String>,
    enabled: bool,
) -> Option<AlertChannel> {
    Some(AlertChannel {
        id,
        name,
        format: ChannelFormat::parse(format)?,
        url,
        template,
        enabled,
    })
}

fn severity_of(text: &str) -> Severity {
    match text {
        "info" => Severity::Info,
        "critical" => Severity::Critical,
        _ => Severity::Warning,
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Store {
    /// Every channel, oldest first.
    pub async fn alert_channels(&self) -> Result<Vec<ChannelRow>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select id, name, format, url, template, enabled,
                      failing_since as "failing_since: DateTime<Utc>", last_error
               from alert_channel order by id"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(ChannelRow {
                    channel: channel_of(
                        row.id,
                        row.name,
                        &row.format,
                        row.url,
                        row.template,
                        row.enabled,
                    )?,
                    failing_since: row.failing_since,
                    last_error: row.last_error,
                })
            })
            .collect())
    }

    pub async fn add_alert_channel(
        &self,
        channel: &AlertChannel,
    ) -> Result<AlertAdded, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!("lock table alert_channel in share row exclusive mode")
            .execute(&mut *tx)
            .await?;
        let count = sqlx::query_scalar!(r#"select count(*) as "n!" from alert_channel"#)
            .fetch_one(&mut *tx)
            .await?;
        if count >= MAX_CHANNELS as i64 {
            return Ok(AlertAdded::Full);
        }
        let id = sqlx::query_scalar!(
            "insert into alert_channel (name, format, url, template) values ($1, $2, $3, $4) \
             on conflict (name) do nothing returning id",
            channel.name,
            channel.format.as_str(),
            channel.url,
            channel.template,
        )
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id.map_or(AlertAdded::Duplicate, AlertAdded::Added))
    }

    /// Changes channel `channel.id`; `Ok(None)` when the name is taken, `Ok(Some(false))` when
    /// there is no such channel.
    pub async fn change_alert_channel(
        &self,
        channel: &AlertChannel,
    ) -> Result<Option<bool>, sqlx::Error> {
        let changed = sqlx::query!(
            "update alert_channel set name = $2, format = $3, url = $4, template = $5, \
             enabled = $6 where id = $1",
            channel.id,
            channel.name,
            channel.format.as_str(),
            channel.url,
            channel.template,
            channel.enabled,
        )
        .execute(&self.pool)
        .await;
        match changed {
            Ok(done) => Ok(Some(done.rows_affected() == 1)),
            Err(error) if is_unique_violation(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn delete_alert_channel(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!("delete from alert_channel where id = $1", id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A count that moves with every change to the rules or the channels they tell (triggers
    /// count them): the rules need reading again only when it moved.
    pub async fn alert_rules_revision(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar!("select revision from alert_rules_revision")
            .fetch_one(&self.pool)
            .await
    }

    /// Every rule, oldest first, with the channels it tells. A stored rule that cannot be read
    /// (none should: they are checked on entry) is skipped with a warning.
    pub async fn alert_rules(&self) -> Result<Vec<AlertRule>, sqlx::Error> {
        self.alert_rules_among(None).await
    }

    /// One page of the rules, oldest first: `limit` from the `offset`-th, and how many there
    /// are in all.
    pub async fn alert_rules_page(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AlertRule>, i64), sqlx::Error> {
        let ids = sqlx::query_scalar!(
            "select id from alert_rule order by id offset $1 limit $2",
            offset,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query_scalar!(r#"select count(*) as "n!" from alert_rule"#)
            .fetch_one(&self.pool)
            .await?;
        Ok((self.alert_rules_among(Some(&ids)).await?, total))
    }

    /// The rules of `ids`, oldest first.
    pub async fn alert_rules_of(&self, ids: &[i64]) -> Result<Vec<AlertRule>, sqlx::Error> {
        self.alert_rules_among(Some(ids)).await
    }

    /// The alerts firing now, the `limit` most recent firings first.
    pub async fn firing_alerts(&self, limit: i64) -> Result<Vec<Firing>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select rule_id, subject, since as "since!: DateTime<Utc>" from alert_state
               where firing and since is not null order by since desc limit $1"#,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| Firing {
                rule_id: row.rule_id,
                subject: row.subject,
                since_ms: row.since.timestamp_millis(),
            })
            .collect())
    }

    /// The rules of `ids` (all of them for `None`), oldest first.
    async fn alert_rules_among(&self, ids: Option<&[i64]>) -> Result<Vec<AlertRule>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select r.id, r.name, r.condition::text as "condition!", r.timing::text as "timing!",
                      r.severity, r.enabled,
                      coalesce(array_agg(c.channel_id order by c.channel_id)
                               filter (where c.channel_id is not null), '{}') as "channels!"
               from alert_rule r left join alert_rule_channel c on c.rule_id = r.id
               where $1::int8[] is null or r.id = any($1)
               group by r.id order by r.id"#,
            ids as Option<&[i64]>,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let condition = serde_json::from_str::<Condition>(&row.condition);
                let timing = serde_json::from_str::<Timing>(&row.timing);
                match (condition, timing) {
                    (Ok(condition), Ok(timing)) => Some(AlertRule {
                        id: row.id,
                        name: row.name,
                        condition,
                        timing,
                        severity: severity_of(&row.severity),
                        enabled: row.enabled,
                        channels: row.channels,
                    }),
                    (condition, timing) => {
                        tracing::warn!(id = row.id, condition = ?condition.err(),
                            timing = ?timing.err(), "an alert rule cannot be read; ignored");
                        None
                    }
                }
            })
            .collect())
    }

    pub async fn add_alert_rule(&self, rule: &AlertRule) -> Result<AlertAdded, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!("lock table alert_rule in share row exclusive mode")
            .execute(&mut *tx)
            .await?;
        let count = sqlx::query_scalar!(r#"select count(*) as "n!" from alert_rule"#)
            .fetch_one(&mut *tx)
            .await?;
        if count >= MAX_RULES as i64 {
            return Ok(AlertAdded::Full);
        }
        let id = sqlx::query_scalar!(
            "insert into alert_rule (name, condition, timing, severity, enabled) \
             values ($1, $2::text::jsonb, $3::text::jsonb, $4, $5) \
             on conflict (name) do nothing returning id",
            rule.name,
            json(&rule.condition),
            json(&rule.timing),
            rule.severity.as_str(),
            rule.enabled,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(AlertAdded::Duplicate);
        };
        set_channels(&mut tx, id, &rule.channels).await?;
        tx.commit().await?;
        Ok(AlertAdded::Added(id))
    }

    /// Changes rule `rule.id`, keeping its state when its condition stays the same (a new
    /// condition starts afresh); as [`Store::change_alert_channel`] answers.
    pub async fn change_alert_rule(&self, rule: &AlertRule) -> Result<Option<bool>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let before = sqlx::query_scalar!(
            r#"select condition::text as "condition!" from alert_rule where id = $1 for update"#,
            rule.id
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            return Ok(Some(false));
        };
        let changed = sqlx::query!(
            "update alert_rule set name = $2, condition = $3::text::jsonb, \
             timing = $4::text::jsonb, severity = $5, enabled = $6 where id = $1",
            rule.id,
            rule.name,
            json(&rule.condition),
            json(&rule.timing),
            rule.severity.as_str(),
            rule.enabled,
        )
        .execute(&mut *tx)
        .await;
        match changed {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => return Ok(None),
            Err(error) => return Err(error),
        }
        if serde_json::from_str::<Condition>(&before).ok().as_ref() != Some(&rule.condition) {
            sqlx::query!("delete from alert_state where rule_id = $1", rule.id)
                .execute(&mut *tx)
                .await?;
        }
        set_channels(&mut tx, rule.id, &rule.channels).await?;
        tx.commit().await?;
        Ok(Some(true))
    }

    /// Makes the channels and rules kept in the config file what the database holds of them,
    /// in one transaction: each made or updated by name (a rule whose condition changed starts
    /// afresh), those the file no longer has deleted. Each rule comes with its channels' names,
    /// all of them among `channels`.
    pub async fn sync_config_alerts(
        &self,
        channels: &[AlertChannel],
        rules: &[(AlertRule, Vec<String>)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!("lock table alert_channel, alert_rule in share row exclusive mode")
            .execute(&mut *tx)
            .await?;
        let mut channel_ids = std::collections::HashMap::new();
        for channel in channels {
            let id = sqlx::query_scalar!(
                "insert into alert_channel (name, format, url, template, enabled, from_config) \
                 values ($1, $2, $3, $4, $5, true) \
                 on conflict (name) do update set format = excluded.format, url = excluded.url, \
                 template = excluded.template, enabled = excluded.enabled, from_config = true \
                 returning id",
                channel.name,
                channel.format.as_str(),
                channel.url,
                channel.template,
                channel.enabled,
            )
            .fetch_one(&mut *tx)
            .await?;
            channel_ids.insert(channel.name.as_str(), id);
        }
        let names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
        sqlx::query!(
            "delete from alert_channel where from_config and not (name = any($1::text[]))",
            &names as &[&str]
        )
        .execute(&mut *tx)
        .await?;
        for (rule, channel_names) in rules {
            let before = sqlx::query_scalar!(
                r#"select condition::text as "condition!" from alert_rule where name = $1"#,
                rule.name
            )
            .fetch_optional(&mut *tx)
            .await?;
            let id = sqlx::query_scalar!(
                "insert into alert_rule (name, condition, timing, severity, enabled, from_config) \
                 values ($1, $2::text::jsonb, $3::text::jsonb, $4, $5, true) \
                 on conflict (name) do update set condition = excluded.condition, \
                 timing = excluded.timing, severity = excluded.severity, \
                 enabled = excluded.enabled, from_config = true returning id",
                rule.name,
                json(&rule.condition),
                json(&rule.timing),
                rule.severity.as_str(),
                rule.enabled,
            )
            .fetch_one(&mut *tx)
            .await?;
            let same = before
                .and_then(|text| serde_json::from_str::<Condition>(&text).ok())
                .is_some_and(|condition| condition == rule.condition);
            if !same {
                sqlx::query!("delete from alert_state where rule_id = $1", id)
                    .execute(&mut *tx)
                    .await?;
            }
            let ids: Vec<i64> = channel_names
                .iter()
                .filter_map(|name| channel_ids.get(name.as_str()).copied())
                .collect();
            set_channels(&mut tx, id, &ids).await?;
        }
        let names: Vec<&str> = rules.iter().map(|(rule, _)| rule.name.as_str()).collect();
        sqlx::query!(
            "delete from alert_rule where from_config and not (name = any($1::text[]))",
            &names as &[&str]
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// The ids of the channels and of the rules the config file keeps.
    pub async fn config_alerts(&self) -> Result<(Vec<i64>, Vec<i64>), sqlx::Error> {
        let channels = sqlx::query_scalar!("select id from alert_channel where from_config")
            .fetch_all(&self.pool)
            .await?;
        let rules = sqlx::query_scalar!("select id from alert_rule where from_config")
            .fetch_all(&self.pool)
            .await?;
        Ok((channels, rules))
    }

    pub async fn delete_alert_rule(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!("delete from alert_rule where id = $1", id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every rule's stored state per subject.
    pub async fn alert_states(&self) -> Result<Vec<StoredState>, sqlx::Error> {
        sqlx::query_as!(
            StoredState,
            r#"select rule_id, subject, state::text as "state!", firing,
                      since as "since: DateTime<Utc>", value,
                      updated_at as "updated_at: DateTime<Utc>"
               from alert_state order by rule_id, subject"#
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Writes a subject's new state and queues `notices` (one per channel), at once: an instance
    /// that takes over finds both or neither. Returns the notices' ids.
    pub async fn record_alert(
        &self,
        state: &StoredState,
        notices: &[(i64, Notice)],
    ) -> Result<Vec<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let value = state.value.chars().take(200).collect::<String>();
        let subject = state.subject.chars().take(2048).collect::<String>();
        sqlx::query!(
            "insert into alert_state (rule_id, subject, state, firing, since, value, updated_at) \
             select $1, $2, $3::text::jsonb, $4, $5, $6, $7 \
             where exists (select 1 from alert_rule where id = $1) \
             on conflict (rule_id, subject) do update set state = excluded.state, \
             firing = excluded.firing, since = excluded.since, value = excluded.value, \
             updated_at = excluded.updated_at",
            state.rule_id,
            subject,
            state.state,
            state.firing,
            state.since as Option<DateTime<Utc>>,
            value,
            state.updated_at as DateTime<Utc>,
        )
        .execute(&mut *tx)
        .await?;
        let mut ids = Vec::with_capacity(notices.len());
        for (channel_id, notice) in notices {
            let id = sqlx::query_scalar!(
                "insert into alert_notice (rule_id, channel_id, notice) \
                 select r.id, c.id, $3::text::jsonb from alert_channel c \
                 left join alert_rule r on r.id = $1 where c.id = $2 returning id",
                state.rule_id,
                channel_id,
                json(notice),
            )
            .fetch_optional(&mut *tx)
            .await?;
            ids.extend(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Queues a test of channel `channel_id` (no rule) and returns its id.
    pub async fn queue_test_notice(
        &self,
        channel_id: i64,
        notice: &Notice,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar!(
            "insert into alert_notice (channel_id, notice) \
             select id, $2::text::jsonb from alert_channel where id = $1 returning id",
            channel_id,
            json(notice),
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// Takes up to `limit` notices that are due for sending, oldest first, and leases them for
    /// `lease`: no other sender takes them meanwhile, and if this one dies they are due again
    /// when the lease runs out. Notices of disabled channels wait.
    pub async fn claim_due_notices(
        &self,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<DueNotice>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"with due as (
                   select n.id from alert_notice n join alert_channel c on c.id = n.channel_id
                   where n.status = 'pending' and n.next_attempt <= now() and c.enabled
                   order by n.next_attempt, n.id limit $1 for update of n skip locked)
               update alert_notice n set next_attempt = now() + $2::float8 * interval '1 second'
               from due, alert_channel c
               where n.id = due.id and c.id = n.channel_id
               returning n.id, n.notice::text as "notice!", n.attempts, c.id as channel_id,
                         c.name, c.format, c.url, c.template, c.enabled"#,
            limit,
            lease.as_secs_f64(),
        )
        .fetch_all(&self.pool)
        .await?;
        let mut due: Vec<DueNotice> = rows
            .into_iter()
            .filter_map(|row| {
                let mut notice: Notice = serde_json::from_str(&row.notice)
                    .inspect_err(|error| {
                        tracing::warn!(id = row.id, %error, "a queued notice cannot be read")
                    })
                    .ok()?;
                notice.id = row.id;
                Some(DueNotice {
                    id: row.id,
                    channel: channel_of(
                        row.channel_id,
                        row.name,
                        &row.format,
                        row.url,
                        row.template,
                        row.enabled,
                    )?,
                    notice,
                    attempts: row.attempts,
                })
            })
            .collect();
        due.sort_by_key(|notice| notice.id);
        Ok(due)
    }

    /// Records notice `id` delivered: its channel works.
    pub async fn notice_delivered(&self, id: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let channel = sqlx::query_scalar!(
            "update alert_notice set status = 'delivered', attempts = attempts + 1, \
             finished_at = now(), last_error = null where id = $1 returning channel_id",
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query!(
            "update alert_channel set failing_since = null, last_error = null where id = $1",
            channel
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Records a failed attempt at notice `id`: tried again at `retry_at`, or given up when
    /// that is `None`. Its channel is failing from now unless it already was.
    pub async fn notice_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), sqlx::Error> {
        let error = cut(error);
        let mut tx = self.pool.begin().await?;
        let channel = sqlx::query_scalar!(
            "update alert_notice set attempts = attempts + 1, last_error = $2, \
             status = case when $3::timestamptz is null then 'failed' else 'pending' end, \
             next_attempt = coalesce($3, next_attempt), \
             finished_at = case when $3::timestamptz is null then now() end \
             where id = $1 returning channel_id",
            id,
            error,
            retry_at as Option<DateTime<Utc>>,
        )
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query!(
            "update alert_channel set failing_since = coalesce(failing_since, now()), \
             last_error = $2 where id = $1",
            channel,
            error,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Enabled channels whose sends fail with no delivery since, by name.
    pub async fn failing_channels(&self) -> Result<Vec<FailingChannel>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select name, failing_since as "since!: DateTime<Utc>" from alert_channel
               where enabled and failing_since is not null order by name"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| FailingChannel {
                name: row.name,
                since_ms: row.since.timestamp_millis(),
            })
            .collect())
    }

    /// The newest `limit` channel tests (notices of deleted rules are not tests), newest first.
    pub async fn recent_tests(&self, limit: i64) -> Result<Vec<NoticeRecord>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select n.id, c.name as channel, n.notice::text as "notice!",
                      n.created_at as "created_at: DateTime<Utc>", n.status, n.attempts,
                      n.last_error
               from alert_notice n join alert_channel c on c.id = n.channel_id
               where n.rule_id is null and n.notice->>'state' = 'test'
               order by n.id desc limit $1"#,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let notice: Notice = serde_json::from_str(&row.notice).ok()?;
                Some(NoticeRecord {
                    id: row.id,
                    channel: row.channel,
                    state: notice.state,
                    subject: notice.subject,
                    created_at: row.created_at,
                    status: row.status,
                    attempts: row.attempts,
                    last_error: row.last_error,
                })
            })
            .collect())
    }

    /// What each rule of `rule_ids` watches now: how many subjects have a recorded state and
    /// how many fire, and the first `firing_shown` of those that fire (longest first).
    pub async fn alert_rule_summaries(
        &self,
        rule_ids: &[i64],
        firing_shown: i64,
    ) -> Result<HashMap<i64, RuleSummary>, sqlx::Error> {
        let counts = sqlx::query!(
            r#"select rule_id, count(*) as "recorded!", count(*) filter (where firing) as "firing!"
               from alert_state where rule_id = any($1) group by rule_id"#,
            rule_ids
        )
        .fetch_all(&self.pool)
        .await?;
        let mut summaries: HashMap<i64, RuleSummary> = counts
            .into_iter()
            .map(|row| {
                let summary = RuleSummary {
                    recorded: row.recorded,
                    firing_count: row.firing,
                    firing: Vec::new(),
                };
                (row.rule_id, summary)
            })
            .collect();
        let firing = sqlx::query!(
            r#"select r.id as "rule_id!", s.subject as "subject!",
                      s.since as "since: DateTime<Utc>", s.value as "value!"
               from unnest($1::int8[]) r(id)
               cross join lateral (select subject, since, value from alert_state
                                   where rule_id = r.id and firing
                                   order by since nulls last, subject limit $2) s"#,
            rule_ids,
            firing_shown,
        )
        .fetch_all(&self.pool)
        .await?;
        for row in firing {
            summaries.entry(row.rule_id).or_default().firing.push((
                row.subject,
                row.since,
                row.value,
            ));
        }
        Ok(summaries)
    }

    /// The newest `limit` notices of each rule of `rule_ids`, newest first.
    pub async fn recent_notices_of(
        &self,
        rule_ids: &[i64],
        limit: i64,
    ) -> Result<HashMap<i64, Vec<NoticeRecord>>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select r.id as "rule_id!", n.id as "id!", c.name as channel,
                      n.notice::text as "notice!",
                      n.created_at as "created_at!: DateTime<Utc>", n.status as "status!",
                      n.attempts as "attempts!", n.last_error
               from unnest($1::int8[]) r(id)
               cross join lateral (select * from alert_notice
                                   where rule_id = r.id order by id desc limit $2) n
               join alert_channel c on c.id = n.channel_id
               order by r.id, n.id desc"#,
            rule_ids,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut notices: HashMap<i64, Vec<NoticeRecord>> = HashMap::new();
        for row in rows {
            let Ok(notice) = serde_json::from_str::<Notice>(&row.notice) else {
                continue;
            };
            notices.entry(row.rule_id).or_default().push(NoticeRecord {
                id: row.id,
                channel: row.channel,
                state: notice.state,
                subject: notice.subject,
                created_at: row.created_at,
                status: row.status,
                attempts: row.attempts,
                last_error: row.last_error,
            });
        }
        Ok(notices)
    }

    /// Deletes notices and status pages' deliveries finished before `before`; returns how
    /// many.
    pub async fn delete_finished_notices(&self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let notices = sqlx::query!(
            "delete from alert_notice where status <> 'pending' and finished_at < $1",
            before as DateTime<Utc>
        )
        .execute(&self.pool)
        .await?;
        let deliveries = sqlx::query!(
            "delete from page_delivery where status <> 'pending' and finished_at < $1",
            before as DateTime<Utc>
        )
        .execute(&self.pool)
        .await?;
        Ok(notices.rows_affected() + deliveries.rows_affected())
    }
}

async fn set_channels(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rule_id: i64,
    channels: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from alert_rule_channel where rule_id = $1", rule_id)
        .execute(&mut **tx)
        .await?;
    // Channels deleted meanwhile are left out rather than failing the whole change.
    sqlx::query!(
        "insert into alert_rule_channel (rule_id, channel_id) \
         select $1, id from alert_channel where id = any($2)",
        rule_id,
        channels,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("alert data always serializes")
}
