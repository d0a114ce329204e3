//! Background upkeep of the message table: daily partitions made ahead of time, and history past
//! its retention removed, by dropping whole partitions where every topic's retention allows it
//! and by bounded deletes where a topic's retention is shorter, rollups past their level's
//! retention deleted (and those of deleted series), uptime records older than the longest
//! window pages show, and alert notices finished more than [`NOTICES_KEPT_DAYS`] ago. One instance at a time runs a round (a PostgreSQL advisory lock); a failed
//! round is logged and tried again at the next. Apart from rounds, [`fold_rollups`] folds the
//! minutes each batch appended into the rollups every few seconds, and [`backfill_rollups`] rolls
//! up the messages stored before rollups existed, once.

use crate::config::RetentionSettings;
use anyhow::Context;
use app::domain::ingest_status::{BackfillProgress, RollupsBehind};
use app::domain::uptime::UPTIME_KEPT_DAYS;
use app::server::ingest_status::IngestStatus;
use app::server::store::history::{Backfill, BackfillStep};
use app::server::store::retention::MessagePartition;
use app::server::store::Store;
use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

/// How often a round runs. Retention counts in days and partitions are made a week ahead, so an
/// hour is prompt enough, and a round that finds nothing to do costs a few catalog queries.
pub const ROUND_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// Daily message partitions kept ready ahead of today.
pub const PARTITION_DAYS_AHEAD: u64 = 7;

/// What a round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Another instance was running a round, so this one did nothing.
    pub skipped: bool,
    pub created: Vec<NaiveDate>,
    pub dropped: Vec<NaiveDate>,
    /// Messages deleted row by row (those in dropped partitions are not counted).
    pub deleted: u64,
    /// Rollup buckets deleted (past retention, or of deleted series).
    pub rollups_deleted: u64,
    /// Uptime records deleted (devices' changes and stretches of sight).
    pub uptime_deleted: u64,
    /// Alert notices delivered or given up more than [`NOTICES_KEPT_DAYS`] ago.
    pub notices_deleted: u64,
}

/// How long sent (or given up) alert notices are kept, for the rules' pages.
pub const NOTICES_KEPT_DAYS: u32 = 30;

/// Runs a round now and then every [`ROUND_INTERVAL`], forever.
pub async fn run(store: Store, retention: RetentionSettings) {
    let mut ticker = tokio::time::interval(ROUND_INTERVAL);
    // A round that overran is followed by a full interval, not by a burst of catch-up rounds.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // Its own task, so that a panic ends one round and not maintenance.
        let round = tokio::spawn({
            let (store, retention) = (store.clone(), retention.clone());
            async move { run_round(&store, &retention, Utc::now()).await }
        });
        match round.await {
            Ok(Ok(report)) => tracing::debug!(?report, "maintenance round done"),
            Ok(Err(error)) => {
                tracing::error!(error = %format!("{error:#}"), retry_in = ?ROUND_INTERVAL,
                    "maintenance round failed")
            }
            Err(error) => tracing::error!(error = %error, "maintenance round panicked"),
        }
    }
}

/// One round as of `now`: create partitions ahead, drop the expired ones, delete expired rows.
#[tracing::instrument(skip_all, fields(now = %now))]
pub async fn run_round(
    store: &Store,
    retention: &RetentionSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<RoundReport> {
    let Some(lock) = store
        .try_maintenance_lock()
        .await
        .context("taking the maintenance lock")?
    else {
        tracing::debug!("another instance is running maintenance; skipping this round");
        return Ok(RoundReport {
            skipped: true,
            ..RoundReport::default()
        });
    };
    let mut report = RoundReport {
        created: store
            .ensure_message_partitions(now.date_naive(), PARTITION_DAYS_AHEAD)
            .await
            .context("creating message partitions")?,
        ..RoundReport::default()
    };
    for day in &report.created {
        tracing::info!(partition = %MessagePartition::Day(*day).table(), "partition created");
    }

    let longest_days = retention.longest_days();
    let longest_cutoff = cutoff(now, longest_days);
    let mut kept = Vec::new();
    for partition in store
        .message_partitions()
        .await
        .context("listing message partitions")?
    {
        match partition {
            MessagePartition::Day(day) if start_of(day + Days::new(1)) <= longest_cutoff => {
                store
                    .drop_message_partition(day)
                    .await
                    .with_context(|| format!("dropping {}", partition.table()))?;
                tracing::info!(
                    partition = %partition.table(),
                    retention_days = longest_days,
                    "partition dropped: every message in it is past retention"
                );
                report.dropped.push(day);
            }
            _ => kept.push(partition),
        }
    }

    let mut topics_by_days: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for (id, name) in store.topic_names().await.context("listing topics")? {
        topics_by_days
            .entry(retention.days_for(&name))
            .or_default()
            .push(id);
    }
    for (days, topic_ids) in &topics_by_days {
        let before = cutoff(now, *days);
        // Without rules every topic is kept alike: no list of ids for the database to check.
        let topics = (!retention.rules.is_empty()).then_some(topic_ids.as_slice());
        for partition in &kept {
            let may_hold_expired = match partition {
                // Where this is the longest retention, expired rows go with their partition
                // once all of it has expired: at most a day late, and no row-by-row delete.
                MessagePartition::Day(day) => *days < longest_days && start_of(*day) < before,
                // Never dropped, so its rows go one by one whatever their retention.
                MessagePartition::Default => true,
            };
            if !may_hold_expired {
                continue;
            }
            let deleted = store
                .delete_old_messages(*partition, topics, before)
                .await
                .with_context(|| format!("deleting expired messages from {}", partition.table()))?;
            if deleted > 0 {
                tracing::info!(
                    partition = %partition.table(),
                    retention_days = days,
                    topics = topic_ids.len(),
                    deleted,
                    "messages past retention deleted"
                );
            }
            report.deleted += deleted;
        }
    }

    for (resolution, days) in retention.rollups.levels() {
        let Some(days) = days else { continue };
        let deleted = store
            .delete_old_rollups(resolution, cutoff(now, days))
            .await
            .with_context(|| format!("deleting expired {resolution:?} rollups"))?;
        if deleted > 0 {
            tracing::info!(level = ?resolution, retention_days = days, deleted,
                "rollups past retention deleted");
        }
        report.rollups_deleted += deleted;
    }

    report.rollups_deleted += store
        .delete_orphan_rollups()
        .await
        .context("deleting the rollups of deleted series")?;

    report.uptime_deleted = store
        .delete_old_uptime(cutoff(now, UPTIME_KEPT_DAYS))
        .await
        .context("deleting uptime records past the longest window shown")?;

    report.notices_deleted = store
        .delete_finished_notices(cutoff(now, NOTICES_KEPT_DAYS))
        .await
        .context("deleting old alert notices")?;

    lock.release()
        .await
        .context("releasing the maintenance lock")?;
    Ok(report)
}

/// How often the minutes batches appended are folded into the rollups: charts read from
/// rollups lag the stored messages by about this much.
pub const FOLD_INTERVAL: Duration = Duration::from_secs(2);
/// How many folds apart the deltas waiting are counted (a scan of what waits).
const FOLD_LOOKS: u32 = 15;
/// Values waiting longer than this to be folded are shown on the overview as a problem.
const FOLD_LAG_SHOWN: TimeDelta = TimeDelta::seconds(60);

/// Folds the deltas batches appended into the rollups every [`FOLD_INTERVAL`] until `stopping`
/// (on one instance of a group at a time: the others find the fold's lock taken and wait for the
/// next turn), and shows on the overview and in the metrics when values wait too long.
pub async fn fold_rollups(
    store: Store,
    status: IngestStatus,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    // What waited at the last count, and since when.
    let mut waiting: (u64, Option<DateTime<Utc>>) = (0, None);
    for turn in 0u32.. {
        let error = match store.fold_rollup_deltas().await {
            Ok(_) => None,
            Err(failed) => {
                tracing::warn!(error = %failed, retry_in = ?FOLD_INTERVAL,
                    "folding values into the rollups failed; they wait in rollup_pending");
                Some(failed.to_string())
            }
        };
        // Counted every few turns only: while the fold fails, what waits grows, and counting it
        // at every turn would add a scan of it to each failure. The error shows at once.
        if turn % FOLD_LOOKS == 0 {
            match store.rollup_deltas_waiting().await {
                Ok((count, oldest)) => waiting = (count.max(0) as u64, oldest),
                Err(failed) => tracing::warn!(error = %failed, "counting the rollup deltas failed"),
            }
        }
        let (count, oldest) = waiting;
        let late = oldest.is_some_and(|oldest| Utc::now() - oldest > FOLD_LAG_SHOWN);
        let behind = (late || error.is_some()).then(|| RollupsBehind {
            waiting: count,
            oldest_ms: oldest.map(|oldest| oldest.timestamp_millis()),
            error,
        });
        status.set_rollups(count, behind);
        tokio::select! {
            _ = tokio::time::sleep(FOLD_INTERVAL) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// The pause between two days of the backfill, so it takes a share of the database rather than
/// all of it.
const BACKFILL_PAUSE: Duration = Duration::from_secs(1);
/// The wait before trying again after a failed step.
const BACKFILL_RETRY: Duration = Duration::from_secs(60);

/// Rolls up the messages stored before this version (a day per transaction, oldest first) until
/// none are left or `stopping` says so, showing its progress on the overview (`status`) and in
/// the log; returns at once where there is nothing to do, as on a new database. Instances
/// running it at once take turns (a step locks the progress row).
pub async fn backfill_rollups(
    store: Store,
    status: IngestStatus,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let show = |progress: Backfill| {
        status.set_history_backfill(progress.finished.is_none().then(|| BackfillProgress {
            done_before_ms: progress.done_before.map(|at| at.timestamp_millis()),
            cutoff_ms: progress.cutoff.timestamp_millis(),
        }));
    };
    // Shown from the start: the first day may take a while.
    if let Ok(progress) = store.rollup_backfill().await {
        show(progress);
    }
    loop {
        let pause = match store.backfill_rollups_step().await {
            Ok(BackfillStep::AlreadyFinished) => break,
            Ok(BackfillStep::Finished { rolled_up }) => {
                tracing::info!(
                    rolled_up,
                    "history rolled up: every chart now reads rollups"
                );
                break;
            }
            Ok(BackfillStep::Day { rolled_up }) => {
                match store.rollup_backfill().await {
                    Ok(progress) => {
                        tracing::info!(rolled_up, done_before = ?progress.done_before,
                            cutoff = %progress.cutoff,
                            "rolling up the history stored before this version");
                        show(progress);
                    }
                    Err(error) => tracing::warn!(%error, "reading the backfill's progress failed"),
                }
                BACKFILL_PAUSE
            }
            Err(error) => {
                tracing::error!(%error, retry_in = ?BACKFILL_RETRY,
                    "rolling up the stored history failed");
                BACKFILL_RETRY
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            // Stopping, or nobody left to say so.
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
    status.set_history_backfill(None);
}

/// Messages received before this are past a retention of `days`.
fn cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - TimeDelta::days(i64::from(days))
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}
