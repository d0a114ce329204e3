//! The SQL of uptime: devices' recorded changes of state (`device_transition`), values' changes
//! of level against thresholds (`threshold_transition`) and the stretches in which Lookout could
//! see (`watch_span`), as `server::uptime_watch` writes them and status
//! pages read them; [`crate::domain::uptime`] computes availability from both.

use super::Store;
use crate::domain::status_page::{Level, ThresholdWatch, WidgetKind, Worse};
use crate::domain::uptime::{blind_between, Blind, Change, Seen, Transition};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::Connection;

/// The advisory lock only the watching instance holds (the maintenance lock's key is 1).
const WATCH_LOCK_KEY: i64 = 0x4c6f_6f6b_5570; // "LookUp"

/// A device as transitions name it: the liveness rule that found it and its name.
pub type DeviceKey = (i64, String);

/// A device's recorded changes over a window: its state as the window began (`None` when
/// nothing was recorded before it) and the changes inside it, in time order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    pub before: Option<Seen>,
    pub transitions: Vec<Transition>,
}

/// Held by the one instance that watches; the lock goes with its connection, so an instance that
/// dies or loses the database lets another take over.
#[derive(Debug)]
pub struct WatchLock(PgConnection);

impl WatchLock {
    /// Whether the lock's connection still answers: a watcher that cannot tell stops watching.
    pub async fn check(&mut self) -> Result<(), sqlx::Error> {
        self.0.ping().await
    }
}

impl Store {
    /// The watcher's lock, when no other instance holds it; on a connection of its own, outside
    /// the pool, held until dropped.
    pub async fn try_watch_lock(&self) -> Result<Option<WatchLock>, sqlx::Error> {
        let mut connection = PgConnection::connect_with(&self.pool.connect_options()).await?;
        let locked = sqlx::query_scalar!(
            r#"select pg_try_advisory_lock($1) as "locked!""#,
            WATCH_LOCK_KEY
        )
        .fetch_one(&mut connection)
        .await?;
        Ok(locked.then_some(WatchLock(connection)))
    }

    /// The state each device was recorded in last, and since when.
    pub async fn last_device_states(&self) -> Result<Vec<(DeviceKey, Seen, i64)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select distinct on (rule_id, device) rule_id, device, state,
                      at as "at: DateTime<Utc>"
               from device_transition order by rule_id, device, at desc, id desc"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let state = Seen::from_key(&row.state)?;
                Some(((row.rule_id, row.device), state, row.at.timestamp_millis()))
            })
            .collect())
    }

    /// Records that `device` changed as `change` says. A rule deleted meanwhile takes its
    /// devices' records with it, so such a change is dropped (`false`).
    pub async fn record_device_change(
        &self,
        (rule_id, device): &DeviceKey,
        change: &Change,
    ) -> Result<bool, sqlx::Error> {
        let at = DateTime::from_timestamp_millis(change.at_ms).unwrap_or_else(Utc::now);
        let recorded = sqlx::query!(
            "insert into device_transition (rule_id, device, at, state, cause) \
             select $1, $2, $3, $4, $5 where exists (select 1 from liveness_rule where id = $1)",
            rule_id,
            device,
            at as DateTime<Utc>,
            change.state.key(),
            change.cause,
        )
        .execute(&self.pool)
        .await?;
        Ok(recorded.rows_affected() > 0)
    }

    /// Records `changes` of `device` at once (the demo's simulated past), in their order.
    pub async fn record_device_changes(
        &self,
        (rule_id, device): &DeviceKey,
        changes: &[Change],
    ) -> Result<(), sqlx::Error> {
        let times: Vec<DateTime<Utc>> = changes
            .iter()
            .map(|change| DateTime::from_timestamp_millis(change.at_ms).unwrap_or_default())
            .collect();
        let states: Vec<&str> = changes.iter().map(|change| change.state.key()).collect();
        let causes: Vec<&str> = changes.iter().map(|change| change.cause.as_str()).collect();
        sqlx::query!(
            "insert into device_transition (rule_id, device, at, state, cause) \
             select $1, $2, at, state, cause \
             from unnest($3::timestamptz[], $4::text[], $5::text[]) \
                 with ordinality as c (at, state, cause, n) order by n",
            rule_id,
            device,
            &times as &[DateTime<Utc>],
            &states as &[&str],
            &causes as &[&str],
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The recorded changes of every device named `device` (whichever rule found it) over
    /// `from..to`, one timeline per rule.
    pub async fn device_timelines(
        &self,
        device: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Timeline>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select rule_id as "rule_id!", state as "state!", at as "at!: DateTime<Utc>",
                      before as "before!"
               from (
                   select distinct on (rule_id) rule_id, state, at, true as before
                   from device_transition where device = $1 and at <= $2
                   order by rule_id, at desc, id desc
               ) b
               union all
               select rule_id, state, at, false from device_transition
               where device = $1 and at > $2 and at < $3
               order by 1, 3, 4 desc"#,
            device,
            from as DateTime<Utc>,
            to as DateTime<Utc>,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut timelines: Vec<(i64, Timeline)> = Vec::new();
        for row in rows {
            let Some(state) = Seen::from_key(&row.state) else {
                continue;
            };
            if timelines
                .last()
                .is_none_or(|(rule, _)| *rule != row.rule_id)
            {
                timelines.push((row.rule_id, Timeline::default()));
            }
            let (_, timeline) = timelines.last_mut().expect("pushed above");
            if row.before {
                timeline.before = Some(state);
            } else {
                timeline.transitions.push(Transition {
                    at_ms: row.at.timestamp_millis(),
                    state,
                });
            }
        }
        Ok(timelines
            .into_iter()
            .map(|(_, timeline)| timeline)
            .collect())
    }

    /// Deletes what uptime no longer shows: stretches of sight that ended before `before`, and
    /// changes of state before it, except each device's last one (what it was doing from
    /// `before` on). Returns how many rows went.
    pub async fn delete_old_uptime(&self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let transitions = sqlx::query!(
            "delete from device_transition d \
             where d.at < $1 and exists ( \
                 select 1 from device_transition n \
                 where n.device = d.device and n.rule_id = d.rule_id and n.at < $1 \
                   and (n.at, n.id) > (d.at, d.id))",
            before as DateTime<Utc>,
        )
        .execute(&self.pool)
        .await?;
        let levels = sqlx::query!(
            "delete from threshold_transition d \
             where d.at < $1 and exists ( \
                 select 1 from threshold_transition n \
                 where n.watch = d.watch and n.at < $1 and (n.at, n.id) > (d.at, d.id))",
            before as DateTime<Utc>,
        )
        .execute(&self.pool)
        .await?;
        let spans = sqlx::query!(
            "delete from watch_span where seen_until < $1",
            before as DateTime<Utc>,
        )
        .execute(&self.pool)
        .await?;
        Ok(transitions.rows_affected() + levels.rows_affected() + spans.rows_affected())
    }

    /// What the uptime widgets bound to a topic watch, each once.
    pub async fn threshold_watches(&self) -> Result<Vec<ThresholdWatch>, sqlx::Error> {
        let kinds = [WidgetKind::UptimeBar.key(), WidgetKind::Uptime.key()];
        let rows = sqlx::query!(
            "select distinct topic, pointer, worse, degraded_at, down_at from status_widget \
             where kind = any($1) and coalesce(device, '') = '' and topic <> ''",
            &kinds as &[&str],
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| ThresholdWatch {
                topic: row.topic,
                pointer: row.pointer,
                worse: Worse::from_key(&row.worse).unwrap_or(Worse::Above),
                degraded_at: row.degraded_at,
                down_at: row.down_at,
            })
            .collect())
    }

    /// The level each watch was recorded at last, and since when.
    pub async fn last_threshold_levels(&self) -> Result<Vec<(String, Level, i64)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select distinct on (watch) watch, level, at as "at: DateTime<Utc>"
               from threshold_transition order by watch, at desc, id desc"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let level = Level::from_key(&row.level)?;
                Some((row.watch, level, row.at.timestamp_millis()))
            })
            .collect())
    }

    /// Records that the watch named `watch` went to `level` at `at_ms`, because of `cause`.
    pub async fn record_threshold_change(
        &self,
        watch: &str,
        level: Level,
        at_ms: i64,
        cause: &str,
    ) -> Result<(), sqlx::Error> {
        let at = DateTime::from_timestamp_millis(at_ms).unwrap_or_else(Utc::now);
        sqlx::query!(
            "insert into threshold_transition (watch, at, level, cause) values ($1, $2, $3, $4)",
            watch,
            at as DateTime<Utc>,
            level.key(),
            cause,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The recorded levels of the watch named `watch` over `from..to`, as uptime counts them.
    pub async fn threshold_timeline(
        &self,
        watch: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Timeline, sqlx::Error> {
        let rows = sqlx::query!(
            r#"(select level as "level!", at as "at!: DateTime<Utc>", true as "before!"
                from threshold_transition where watch = $1 and at <= $2
                order by at desc, id desc limit 1)
               union all
               (select level, at, false from threshold_transition
                where watch = $1 and at > $2 and at < $3 order by at, id)"#,
            watch,
            from as DateTime<Utc>,
            to as DateTime<Utc>,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut timeline = Timeline::default();
        for row in rows {
            let Some(state) = Level::from_key(&row.level).map(Seen::of_level) else {
                continue;
            };
            if row.before {
                timeline.before = Some(state);
            } else if timeline.transitions.last().map(|t| t.state) != Some(state) {
                // Up and degraded are both up: a change between them is none here.
                timeline.transitions.push(Transition {
                    at_ms: row.at.timestamp_millis(),
                    state,
                });
            }
        }
        Ok(timeline)
    }

    /// Starts a stretch of sight at `at` and returns its id.
    pub async fn open_watch_span(&self, at: DateTime<Utc>) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar!(
            "insert into watch_span (started_at, seen_until) values ($1, $1) returning id",
            at as DateTime<Utc>,
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Lookout could see until `at` in stretch `id`.
    pub async fn extend_watch_span(&self, id: i64, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "update watch_span set seen_until = greatest(seen_until, $2) where id = $1",
            id,
            at as DateTime<Utc>,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The windows of `from..to` Lookout could not see; a stretch that ended within `slack_ms`
    /// of `to` counts as still going on.
    pub async fn blind_windows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        slack_ms: i64,
    ) -> Result<Vec<Blind>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select started_at as "started_at: DateTime<Utc>",
                      seen_until as "seen_until: DateTime<Utc>"
               from watch_span where seen_until >= $1 and started_at < $2"#,
            from as DateTime<Utc>,
            to as DateTime<Utc>,
        )
        .fetch_all(&self.pool)
        .await?;
        let seen: Vec<(i64, i64)> = rows
            .into_iter()
            .map(|row| {
                (
                    row.started_at.timestamp_millis(),
                    row.seen_until.timestamp_millis(),
                )
            })
            .collect();
        Ok(blind_between(
            &seen,
            from.timestamp_millis(),
            to.timestamp_millis(),
            slack_ms,
        ))
    }
}
