//! The SQL of a topic's values over time: buckets aggregated from the raw messages or from their
//! rollups per minute, hour and UTC day (`value_rollup`); the merge of each batch into those
//! rollups, in the transaction that stores the batch; the background roll-up of messages stored
//! before rollups existed; and each level's retention.

use super::retention::MessagePartition;
use super::Store;
use crate::domain::history::{Resolution, ValueBucket};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// One bucket's values, as `value_rollup` keeps them: exact count, minimum, maximum and sum, and
/// the first and last value by receive time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fold {
    pub count: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first_at: DateTime<Utc>,
    pub first_value: f64,
    pub last_at: DateTime<Utc>,
    pub last_value: f64,
}

impl Fold {
    fn of(at: DateTime<Utc>, value: f64) -> Self {
        Self {
            count: 1,
            min: value,
            max: value,
            sum: value,
            first_at: at,
            first_value: value,
            last_at: at,
            last_value: value,
        }
    }

    /// As the merge in SQL does it ([`MERGE_ROLLUPS`]): of two values received at the same
    /// moment, the first stays first and the one added later is last, as in `latest`.
    fn add(&mut self, at: DateTime<Utc>, value: f64) {
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        if at < self.first_at {
            (self.first_at, self.first_value) = (at, value);
        }
        if at >= self.last_at {
            (self.last_at, self.last_value) = (at, value);
        }
    }
}

/// Values folded per topic, level and bucket, in the order rows are merged (topic, level,
/// bucket): concurrent writers then lock rollup rows in the same order and wait for each other
/// instead of deadlocking.
#[derive(Debug, Default)]
pub struct RollupBatch {
    folds: BTreeMap<(i64, i16, DateTime<Utc>), Fold>,
}

impl RollupBatch {
    /// Folds topic `topic_id`'s `value`, received `at`, into its minute, hour and day.
    pub fn add(&mut self, topic_id: i64, at: DateTime<Utc>, value: f64) {
        let at_ms = at.timestamp_millis();
        for resolution in Resolution::ROLLUPS {
            let Some(level) = resolution.level() else {
                continue;
            };
            let bucket = DateTime::from_timestamp_millis(resolution.bucket_of(at_ms))
                .expect("a bucket start lies before a time that exists");
            self.folds
                .entry((topic_id, level, bucket))
                .and_modify(|fold| fold.add(at, value))
                .or_insert_with(|| Fold::of(at, value));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.folds.is_empty()
    }

    /// Merges the folds into `value_rollup` on `connection` (the batch's own transaction).
    pub async fn merge(self, connection: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        if self.folds.is_empty() {
            return Ok(());
        }
        let rows = self.folds.len();
        let mut topic_ids = Vec::with_capacity(rows);
        let mut levels = Vec::with_capacity(rows);
        let mut buckets = Vec::with_capacity(rows);
        let mut counts = Vec::with_capacity(rows);
        let mut mins = Vec::with_capacity(rows);
        let mut maxes = Vec::with_capacity(rows);
        let mut sums = Vec::with_capacity(rows);
        let mut first_ats = Vec::with_capacity(rows);
        let mut first_values = Vec::with_capacity(rows);
        let mut last_ats = Vec::with_capacity(rows);
        let mut last_values = Vec::with_capacity(rows);
        for ((topic_id, level, bucket), fold) in self.folds {
            topic_ids.push(topic_id);
            levels.push(level);
            buckets.push(bucket);
            counts.push(fold.count);
            mins.push(fold.min);
            maxes.push(fold.max);
            sums.push(fold.sum);
            first_ats.push(fold.first_at);
            first_values.push(fold.first_value);
            last_ats.push(fold.last_at);
            last_values.push(fold.last_value);
        }
        // `r.*` in the SET list is the row as it was: a bucket's figures combine, and its first
        // and last value move only to values received earlier or (the same moment or) later.
        sqlx::query!(
            "insert into value_rollup as r (topic_id, series, level, bucket, count, min, max, sum, \
                                            first_at, first_value, last_at, last_value) \
             select topic_id, 0, level, bucket, count, min, max, sum, first_at, first_value, \
                    last_at, last_value \
             from unnest($1::int8[], $2::int2[], $3::timestamptz[], $4::int8[], $5::float8[], \
                         $6::float8[], $7::float8[], $8::timestamptz[], $9::float8[], \
                         $10::timestamptz[], $11::float8[]) \
                  as b(topic_id, level, bucket, count, min, max, sum, first_at, first_value, \
                       last_at, last_value) \
             on conflict (topic_id, series, level, bucket) do update set \
                 count = r.count + excluded.count, \
                 min = least(r.min, excluded.min), \
                 max = greatest(r.max, excluded.max), \
                 sum = r.sum + excluded.sum, \
                 first_at = least(r.first_at, excluded.first_at), \
                 first_value = case when excluded.first_at < r.first_at \
                               then excluded.first_value else r.first_value end, \
                 last_at = greatest(r.last_at, excluded.last_at), \
                 last_value = case when excluded.last_at >= r.last_at \
                              then excluded.last_value else r.last_value end",
            &topic_ids,
            &levels,
            &buckets as &[DateTime<Utc>],
            &counts,
            &mins,
            &maxes,
            &sums,
            &first_ats as &[DateTime<Utc>],
            &first_values,
            &last_ats as &[DateTime<Utc>],
            &last_values,
        )
        .execute(connection)
        .await?;
        Ok(())
    }
}

/// A chart bucket as both history queries return it.
struct BucketRow {
    bucket: DateTime<Utc>,
    min: f64,
    max: f64,
    avg: f64,
    count: i64,
}

impl From<BucketRow> for ValueBucket {
    fn from(row: BucketRow) -> Self {
        ValueBucket {
            start_ms: row.bucket.timestamp_millis(),
            min: row.min,
            max: row.max,
            avg: row.avg,
            count: row.count,
        }
    }
}

/// At most this many buckets a backfill step folds before merging them: a day of a large fleet
/// (topics × 1,440 minutes) would not fit in memory at once. Merges add up, so merging a day in
/// parts within its transaction gives the same rollups.
const BACKFILL_FOLDS: usize = 100_000;

/// Where the roll-up of messages stored before rollups existed stands
/// (`rollup_backfill`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backfill {
    /// When the writer began to roll up: messages received before it are the backfill's.
    pub cutoff: DateTime<Utc>,
    /// Messages received before this are rolled up.
    pub done_before: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
}

/// What one step of the backfill did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackfillStep {
    /// The messages of one daily partition (up to the cutoff) were rolled up.
    Day { rolled_up: u64 },
    /// The last step (the default partition's messages) is done; nothing is left.
    Finished { rolled_up: u64 },
    /// Nothing was left to do.
    AlreadyFinished,
}

impl Store {
    /// The numeric values of topic `id` received from `from` (inclusive) to `to` (exclusive),
    /// from the raw messages: min, max, average and count per bucket of `bucket_ms`, buckets
    /// counted from the Unix epoch, oldest first, empty buckets left out. PostgreSQL aggregates
    /// over the index on `(topic_id, received_at)`, so only the buckets travel; the cost grows
    /// with the values in the range, which is why only short ranges read them
    /// ([`HistoryRange::resolution`](crate::domain::history::HistoryRange::resolution)).
    pub async fn raw_value_buckets(
        &self,
        id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_ms: i64,
    ) -> Result<Vec<ValueBucket>, sqlx::Error> {
        let rows = sqlx::query_as!(
            BucketRow,
            r#"select date_bin($4::float8 * interval '1 millisecond', received_at,
                               timestamptz 'epoch') as "bucket!: DateTime<Utc>",
                      min(value) as "min!", max(value) as "max!", avg(value) as "avg!",
                      count(value) as "count!"
               from message
               where topic_id = $1 and received_at >= $2 and received_at < $3
                     and value is not null
               group by 1
               order by 1"#,
            id,
            from as DateTime<Utc>,
            to as DateTime<Utc>,
            bucket_ms as f64,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ValueBucket::from).collect())
    }

    /// How far back topic `id`'s default chart reaches: the time of its oldest numeric value
    /// received from `recent` (inclusive) to `to` (exclusive), and that of its latest message if
    /// that one is numeric. The first is one step along the index on `(topic_id, received_at)`
    /// for a numeric topic and never scans more than `value_buckets` over the same span; the
    /// second reads `latest` rather than searching older partitions for a number, which could
    /// walk every message of a busy text topic.
    pub async fn value_reach(
        &self,
        id: i64,
        recent: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), sqlx::Error> {
        let row = sqlx::query!(
            r#"select
                 (select received_at from message
                  where topic_id = $1 and received_at >= $2 and received_at < $3
                        and value is not null
                  order by received_at
                  limit 1) as "oldest_recent?: DateTime<Utc>",
                 (select received_at from latest
                  where topic_id = $1 and value is not null) as "latest?: DateTime<Utc>""#,
            id,
            recent as DateTime<Utc>,
            to as DateTime<Utc>,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.oldest_recent, row.latest))
    }

    /// The minimum, maximum, average and count per bucket of `bucket_ms` (a whole number of the
    /// level's buckets) of topic `id`'s values in `from..to`, read from `resolution`: the raw
    /// messages ([`Store::raw_value_buckets`]), or the rollups of a level, one row per rollup
    /// bucket, so the cost depends on the range and the level, never on how many values were
    /// stored. From rollups, `from` and `to` are taken as whole rollup buckets.
    pub async fn value_buckets(
        &self,
        id: i64,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_ms: i64,
    ) -> Result<Vec<ValueBucket>, sqlx::Error> {
        let Some(level) = resolution.level() else {
            return self.raw_value_buckets(id, from, to, bucket_ms).await;
        };
        let rows = sqlx::query_as!(
            BucketRow,
            r#"select date_bin($5::float8 * interval '1 millisecond', bucket,
                               timestamptz 'epoch') as "bucket!: DateTime<Utc>",
                      min(min) as "min!", max(max) as "max!",
                      sum(sum) / sum(count)::float8 as "avg!", sum(count)::int8 as "count!"
               from value_rollup
               where topic_id = $1 and series = 0 and level = $2 and bucket >= $3 and bucket < $4
               group by 1
               order by 1"#,
            id,
            level,
            from as DateTime<Utc>,
            to as DateTime<Utc>,
            bucket_ms as f64,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ValueBucket::from).collect())
    }

    /// Whether the rollups hold every value received from `from` on: always once the backfill
    /// has finished (remembered, as it never unfinishes), else only after its cutoff.
    pub async fn rollups_cover(&self, from: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        if self.rollups_backfilled.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let backfill = self.rollup_backfill().await?;
        if backfill.finished.is_some() {
            self.rollups_backfilled.store(true, Ordering::Relaxed);
            return Ok(true);
        }
        Ok(from >= backfill.cutoff)
    }

    pub async fn rollup_backfill(&self) -> Result<Backfill, sqlx::Error> {
        sqlx::query_as!(
            Backfill,
            r#"select cutoff as "cutoff: DateTime<Utc>",
                      done_before as "done_before: DateTime<Utc>",
                      finished as "finished: DateTime<Utc>"
               from rollup_backfill"#
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Rolls up the next daily partition's messages received before the cutoff (and, after the
    /// last day, those in the default partition), with the progress, in one transaction: a crash
    /// repeats nothing and loses nothing. Ingest goes on meanwhile; it only waits where it merges
    /// into a bucket the step is merging into too.
    pub async fn backfill_rollups_step(&self) -> Result<BackfillStep, sqlx::Error> {
        let partitions = self.message_partitions().await?;
        let mut tx = self.pool.begin().await?;
        // Locked, so that two steps (say, a round on each of two instances) never take one day
        // twice.
        let backfill = sqlx::query_as!(
            Backfill,
            r#"select cutoff as "cutoff: DateTime<Utc>",
                      done_before as "done_before: DateTime<Utc>",
                      finished as "finished: DateTime<Utc>"
               from rollup_backfill for update"#
        )
        .fetch_one(&mut *tx)
        .await?;
        if backfill.finished.is_some() {
            return Ok(BackfillStep::AlreadyFinished);
        }
        let next_day = partitions.iter().find_map(|partition| match partition {
            MessagePartition::Day(day) => {
                let start = day.and_hms_opt(0, 0, 0)?.and_utc();
                let after_done = backfill.done_before.is_none_or(|done| start >= done);
                (after_done && start < backfill.cutoff).then_some(start)
            }
            MessagePartition::Default => None,
        });
        let step = match next_day {
            Some(start) => {
                let end = (start + chrono::Days::new(1)).min(backfill.cutoff);
                // Run-time statements, like the partition ones: a cursor's statements cannot be
                // described at compile time. The text is fixed; only the bounds are parameters.
                sqlx::query(
                    "declare backfill_rows no scroll cursor for \
                     select topic_id, received_at, value from message \
                     where received_at >= $1 and received_at < $2 and value is not null",
                )
                .bind(start)
                .bind(end)
                .execute(&mut *tx)
                .await?;
                let rolled_up = roll_up_cursor(&mut tx).await?;
                sqlx::query!(
                    "update rollup_backfill set done_before = $1",
                    end as DateTime<Utc>
                )
                .execute(&mut *tx)
                .await?;
                BackfillStep::Day { rolled_up }
            }
            None => {
                // Rows a clock far off put outside every daily partition.
                sqlx::query(
                    "declare backfill_rows no scroll cursor for \
                     select topic_id, received_at, value from message_default \
                     where received_at < $1 and value is not null",
                )
                .bind(backfill.cutoff)
                .execute(&mut *tx)
                .await?;
                let rolled_up = roll_up_cursor(&mut tx).await?;
                sqlx::query!("update rollup_backfill set finished = now()")
                    .execute(&mut *tx)
                    .await?;
                BackfillStep::Finished { rolled_up }
            }
        };
        tx.commit().await?;
        Ok(step)
    }

    /// Deletes `resolution`'s rollups of buckets that start before `before`, in statements of at
    /// most [`DELETE_BATCH`](super::retention::DELETE_BATCH) rows, and returns how many went.
    pub async fn delete_old_rollups(
        &self,
        resolution: Resolution,
        before: DateTime<Utc>,
    ) -> Result<u64, sqlx::Error> {
        let Some(level) = resolution.level() else {
            return Ok(0);
        };
        let mut deleted = 0;
        loop {
            let batch = sqlx::query!(
                "delete from value_rollup \
                 where (topic_id, series, level, bucket) in ( \
                     select topic_id, series, level, bucket from value_rollup \
                     where level = $1 and bucket < $2 limit $3)",
                level,
                before as DateTime<Utc>,
                super::retention::DELETE_BATCH,
            )
            .execute(&self.pool)
            .await?
            .rows_affected();
            deleted += batch;
            if batch < super::retention::DELETE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }
}

/// Folds the rows of the cursor `backfill_rows` (topic id, receive time, value) a page at a
/// time and merges them into the rollups whenever [`BACKFILL_FOLDS`] buckets are folded, so
/// memory stays bounded however much a day holds; returns how many values it rolled up.
async fn roll_up_cursor(connection: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    let mut batch = RollupBatch::default();
    let mut rolled_up = 0;
    loop {
        let rows: Vec<(i64, DateTime<Utc>, f64)> = sqlx::query_as("fetch 10000 from backfill_rows")
            .fetch_all(&mut *connection)
            .await?;
        if rows.is_empty() {
            break;
        }
        rolled_up += rows.len() as u64;
        for (topic_id, at, value) in rows {
            batch.add(topic_id, at, value);
        }
        if batch.folds.len() >= BACKFILL_FOLDS {
            std::mem::take(&mut batch).merge(&mut *connection).await?;
        }
    }
    batch.merge(&mut *connection).await?;
    sqlx::query("close backfill_rows")
        .execute(&mut *connection)
        .await?;
    Ok(rolled_up)
}
