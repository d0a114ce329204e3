//! The SQL of a topic's values over time: buckets aggregated from the raw messages or from their
//! rollups per minute, hour and UTC day (`value_rollup`); each batch's minutes appended to
//! `rollup_pending` in the transaction that stores the batch, and folded into the rollups every few
//! seconds; the background roll-up of messages stored before rollups existed; and each level's
//! retention.

use super::retention::MessagePartition;
use super::Store;
use crate::domain::history::{Resolution, ValueBucket};
use crate::domain::series::OWN_NUMBER;
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

    /// As the merge in SQL does it ([`RollupBatch::merge`]): of two values received at the same
    /// moment, the first stays first and the one added later is last, as in `latest`.
    fn add(&mut self, at: DateTime<Utc>, value: f64) {
        self.combine(&Fold::of(at, value));
    }

    /// Takes in `other`, folded after this one, under the same rule as [`Fold::add`].
    fn combine(&mut self, other: &Fold) {
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        if other.first_at < self.first_at {
            (self.first_at, self.first_value) = (other.first_at, other.first_value);
        }
        if other.last_at >= self.last_at {
            (self.last_at, self.last_value) = (other.last_at, other.last_value);
        }
    }
}

/// A batch's values folded per topic, series and minute, as the writer appends them to
/// `rollup_pending` in the batch's transaction ([`Store::fold_rollup_deltas`] takes them on):
/// one row per batch, its folds encoded in one value ([`RollupDeltas::encode`]), so what a batch
/// costs the database does not grow with the topics and series it touched.
#[derive(Debug, Default)]
pub struct RollupDeltas {
    folds: BTreeMap<(i64, i32, DateTime<Utc>), Fold>,
}

/// The first byte of an encoded batch: the layout of what follows.
const DELTAS_FORMAT: u8 = 1;

/// One fold as encoded, little-endian: topic id (8 bytes), series (4), the minute's start in
/// milliseconds (8), count (8), min, max and sum (8 each), the first value's receive time in
/// microseconds (8, PostgreSQL's precision) and value (8), the last value's likewise (16).
const DELTA_BYTES: usize = 84;

/// Why an encoded batch could not be read back: only a bug or a hand-edited row makes one.
#[derive(Debug, thiserror::Error)]
#[error("rollup_pending row {id} cannot be read: {problem}")]
pub struct UnreadableDeltas {
    pub id: i64,
    pub problem: &'static str,
}

impl RollupDeltas {
    /// Folds `value` of topic `topic_id`'s `series`, received `at`, into its minute.
    pub fn add(&mut self, topic_id: i64, series: i32, at: DateTime<Utc>, value: f64) {
        let minute = Resolution::Minute.bucket_of(at.timestamp_millis());
        let bucket =
            DateTime::from_timestamp_millis(minute).expect("a minute starts at a time that exists");
        self.folds
            .entry((topic_id, series, bucket))
            .and_modify(|fold| fold.add(at, value))
            .or_insert_with(|| Fold::of(at, value));
    }

    /// The folds as `rollup_pending.folds` keeps them. Times are kept to the microsecond, as
    /// PostgreSQL keeps them, so a value's first or last place compares as it would in SQL.
    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + self.folds.len() * DELTA_BYTES);
        bytes.push(DELTAS_FORMAT);
        for ((topic_id, series, bucket), fold) in &self.folds {
            bytes.extend_from_slice(&topic_id.to_le_bytes());
            bytes.extend_from_slice(&series.to_le_bytes());
            bytes.extend_from_slice(&bucket.timestamp_millis().to_le_bytes());
            bytes.extend_from_slice(&fold.count.to_le_bytes());
            for number in [fold.min, fold.max, fold.sum] {
                bytes.extend_from_slice(&number.to_le_bytes());
            }
            bytes.extend_from_slice(&fold.first_at.timestamp_micros().to_le_bytes());
            bytes.extend_from_slice(&fold.first_value.to_le_bytes());
            bytes.extend_from_slice(&fold.last_at.timestamp_micros().to_le_bytes());
            bytes.extend_from_slice(&fold.last_value.to_le_bytes());
        }
        bytes
    }

    /// Reads what [`RollupDeltas::encode`] wrote into `batch`, each fold at its minute; all of
    /// it or, if any of it is unreadable, nothing.
    fn decode_into(id: i64, bytes: &[u8], batch: &mut RollupBatch) -> Result<(), UnreadableDeltas> {
        let unreadable = |problem| UnreadableDeltas { id, problem };
        let Some((&format, records)) = bytes.split_first() else {
            return Err(unreadable("it is empty"));
        };
        if format != DELTAS_FORMAT {
            return Err(unreadable("its format is unknown"));
        }
        if records.is_empty() || records.len() % DELTA_BYTES != 0 {
            return Err(unreadable("its length is not a whole number of folds"));
        }
        let mut read = Vec::with_capacity(records.len() / DELTA_BYTES);
        for record in records.chunks_exact(DELTA_BYTES) {
            let mut at = 0;
            let mut take = |width: usize| {
                let field = &record[at..at + width];
                at += width;
                field
            };
            let i64_of = |field: &[u8]| i64::from_le_bytes(field.try_into().expect("8 bytes"));
            let f64_of = |field: &[u8]| f64::from_le_bytes(field.try_into().expect("8 bytes"));
            let topic_id = i64_of(take(8));
            let series = i32::from_le_bytes(take(4).try_into().expect("4 bytes"));
            let bucket = DateTime::from_timestamp_millis(i64_of(take(8)));
            let count = i64_of(take(8));
            let (min, max, sum) = (f64_of(take(8)), f64_of(take(8)), f64_of(take(8)));
            let first_at = DateTime::from_timestamp_micros(i64_of(take(8)));
            let first_value = f64_of(take(8));
            let last_at = DateTime::from_timestamp_micros(i64_of(take(8)));
            let last_value = f64_of(take(8));
            let (Some(bucket), Some(first_at), Some(last_at)) = (bucket, first_at, last_at) else {
                return Err(unreadable("it holds a time out of range"));
            };
            if count <= 0 {
                return Err(unreadable("it holds an empty fold"));
            }
            let fold = Fold {
                count,
                min,
                max,
                sum,
                first_at,
                first_value,
                last_at,
                last_value,
            };
            read.push((topic_id, series, bucket, fold));
        }
        for (topic_id, series, bucket, fold) in read {
            batch.add_fold(topic_id, series, bucket, fold);
        }
        Ok(())
    }

    /// Appends the batch's folds to `rollup_pending` on `connection` (the batch's own
    /// transaction): one row, however many topics and series.
    pub async fn append(self, connection: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        let Some(oldest) = self.folds.values().map(|fold| fold.first_at).min() else {
            return Ok(());
        };
        let fold_count = i32::try_from(self.folds.len()).unwrap_or(i32::MAX);
        sqlx::query!(
            "insert into rollup_pending (fold_count, oldest, folds) values ($1, $2, $3)",
            fold_count,
            oldest as DateTime<Utc>,
            self.encode(),
        )
        .execute(connection)
        .await?;
        Ok(())
    }
}

/// Folds as the arrays a statement takes them in.
#[derive(Default)]
struct Columns {
    topic_ids: Vec<i64>,
    series: Vec<i32>,
    levels: Vec<i16>,
    buckets: Vec<DateTime<Utc>>,
    counts: Vec<i64>,
    mins: Vec<f64>,
    maxes: Vec<f64>,
    sums: Vec<f64>,
    first_ats: Vec<DateTime<Utc>>,
    first_values: Vec<f64>,
    last_ats: Vec<DateTime<Utc>>,
    last_values: Vec<f64>,
}

impl Columns {
    fn of(folds: impl ExactSizeIterator<Item = (i64, i32, i16, DateTime<Utc>, Fold)>) -> Self {
        let rows = folds.len();
        let mut columns = Columns {
            topic_ids: Vec::with_capacity(rows),
            series: Vec::with_capacity(rows),
            levels: Vec::with_capacity(rows),
            buckets: Vec::with_capacity(rows),
            counts: Vec::with_capacity(rows),
            mins: Vec::with_capacity(rows),
            maxes: Vec::with_capacity(rows),
            sums: Vec::with_capacity(rows),
            first_ats: Vec::with_capacity(rows),
            first_values: Vec::with_capacity(rows),
            last_ats: Vec::with_capacity(rows),
            last_values: Vec::with_capacity(rows),
        };
        for (topic_id, series, level, bucket, fold) in folds {
            columns.topic_ids.push(topic_id);
            columns.series.push(series);
            columns.levels.push(level);
            columns.buckets.push(bucket);
            columns.counts.push(fold.count);
            columns.mins.push(fold.min);
            columns.maxes.push(fold.max);
            columns.sums.push(fold.sum);
            columns.first_ats.push(fold.first_at);
            columns.first_values.push(fold.first_value);
            columns.last_ats.push(fold.last_at);
            columns.last_values.push(fold.last_value);
        }
        columns
    }
}

/// Values folded per topic, series, level and bucket, in the order rows are merged: the fold and
/// the backfill then lock rollup rows in the same order and wait for each other instead of
/// deadlocking.
#[derive(Debug, Default)]
pub struct RollupBatch {
    folds: BTreeMap<(i64, i32, i16, DateTime<Utc>), Fold>,
}

impl RollupBatch {
    /// Folds `value` of topic `topic_id`'s `series`, received `at`, into its minute, hour and day.
    pub fn add(&mut self, topic_id: i64, series: i32, at: DateTime<Utc>, value: f64) {
        self.add_fold(topic_id, series, at, Fold::of(at, value));
    }

    /// Folds `fold` (values received within one minute, at `at` or in its minute) into its
    /// minute, hour and day.
    fn add_fold(&mut self, topic_id: i64, series: i32, at: DateTime<Utc>, fold: Fold) {
        let at_ms = at.timestamp_millis();
        for resolution in Resolution::ROLLUPS {
            let Some(level) = resolution.level() else {
                continue;
            };
            let bucket = DateTime::from_timestamp_millis(resolution.bucket_of(at_ms))
                .expect("a bucket start lies before a time that exists");
            self.folds
                .entry((topic_id, series, level, bucket))
                .and_modify(|folded| folded.combine(&fold))
                .or_insert(fold);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.folds.is_empty()
    }

    /// Merges the folds into `value_rollup` on `connection` (the fold's or the backfill's
    /// transaction).
    pub async fn merge(self, connection: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        if self.folds.is_empty() {
            return Ok(());
        }
        let columns = Columns::of(self.folds.into_iter().map(
            |((topic_id, series, level, bucket), fold)| (topic_id, series, level, bucket, fold),
        ));
        // `r.*` in the SET list is the row as it was: a bucket's figures combine, and its first
        // and last value move only to values received earlier or (the same moment or) later.
        sqlx::query!(
            "insert into value_rollup as r (topic_id, series, level, bucket, count, min, max, sum, \
                                            first_at, first_value, last_at, last_value) \
             select * \
             from unnest($1::int8[], $12::int4[], $2::int2[], $3::timestamptz[], $4::int8[], \
                         $5::float8[], $6::float8[], $7::float8[], $8::timestamptz[], \
                         $9::float8[], $10::timestamptz[], $11::float8[]) \
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
            &columns.topic_ids,
            &columns.levels,
            &columns.buckets as &[DateTime<Utc>],
            &columns.counts,
            &columns.mins,
            &columns.maxes,
            &columns.sums,
            &columns.first_ats as &[DateTime<Utc>],
            &columns.first_values,
            &columns.last_ats as &[DateTime<Utc>],
            &columns.last_values,
            &columns.series,
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

/// The advisory lock of the instance folding deltas into the rollups ("lookout" and 3; the
/// maintenance lock's key ends in 1).
const FOLD_LOCK_KEY: i64 = 0x6c6f_6f6b_6f75_7403;

/// At most this many folds one fold transaction takes (more only when a single batch holds
/// more): a bound on its memory and its locks however many piled up (after an outage of the
/// fold, say).
pub const FOLD_ROWS: i64 = 100_000;

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
        .fetch_all(&self.ranged_reads)
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
        .fetch_one(&self.ranged_reads)
        .await?;
        Ok((row.oldest_recent, row.latest))
    }

    /// The minimum, maximum, average and count per bucket of `bucket_ms` (a whole number of the
    /// level's buckets) of topic `id`'s values in `from..to`, read from `resolution`: the raw
    /// messages ([`Store::raw_value_buckets`]), or the rollups of a level, one row per rollup
    /// bucket, so the cost depends on the range and the level, never on how many values were
    /// stored. From rollups, `from` and `to` are taken as whole rollup buckets. A named
    /// `series` has rollups only: read raw, it gives nothing.
    pub async fn value_buckets(
        &self,
        id: i64,
        series: i32,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_ms: i64,
    ) -> Result<Vec<ValueBucket>, sqlx::Error> {
        let Some(level) = resolution.level() else {
            if series != OWN_NUMBER {
                return Ok(Vec::new());
            }
            return self.raw_value_buckets(id, from, to, bucket_ms).await;
        };
        let rows = sqlx::query_as!(
            BucketRow,
            r#"select date_bin($5::float8 * interval '1 millisecond', bucket,
                               timestamptz 'epoch') as "bucket!: DateTime<Utc>",
                      min(min) as "min!", max(max) as "max!",
                      sum(sum) / sum(count)::float8 as "avg!", sum(count)::int8 as "count!"
               from value_rollup
               where topic_id = $1 and series = $6 and level = $2 and bucket >= $3 and bucket < $4
               group by 1
               order by 1"#,
            id,
            level,
            from as DateTime<Utc>,
            to as DateTime<Utc>,
            bucket_ms as f64,
            series,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ValueBucket::from).collect())
    }

    /// [`Store::value_reach`] for named series `series` of topic `id`, from its minute rollups:
    /// the first value of its oldest minute from `recent` (inclusive) to `to` (exclusive), and
    /// the last value of its newest minute. Two steps along the rollups' primary key.
    pub async fn series_reach(
        &self,
        id: i64,
        series: i32,
        recent: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), sqlx::Error> {
        let minute = Resolution::Minute.level();
        let row = sqlx::query!(
            r#"select
                 (select first_at from value_rollup
                  where topic_id = $1 and series = $2 and level = $3
                        and bucket >= date_trunc('minute', $4::timestamptz) and bucket < $5
                        and first_at >= $4
                  order by bucket
                  limit 1) as "oldest_recent?: DateTime<Utc>",
                 (select last_at from value_rollup
                  where topic_id = $1 and series = $2 and level = $3
                  order by bucket desc
                  limit 1) as "latest?: DateTime<Utc>""#,
            id,
            series,
            minute,
            recent as DateTime<Utc>,
            to as DateTime<Utc>,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.oldest_recent, row.latest))
    }

    /// Folds what batches appended to `rollup_pending` into the minutes, hours and days of
    /// `value_rollup`, deleting each batch's row in the transaction that merges it, at most
    /// [`FOLD_ROWS`] folds per transaction (and at least one batch), until none are left. One
    /// instance folds at a time (an advisory lock held by the transaction): `None` when another
    /// one is folding now. Returns how many batches were folded.
    ///
    /// A row that cannot be read (only a bug or a hand edit makes one) is deleted and logged
    /// rather than left to stop every later fold: the messages it summed are stored all the
    /// same.
    pub async fn fold_rollup_deltas(&self) -> Result<Option<u64>, sqlx::Error> {
        let mut folded = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let locked = sqlx::query_scalar!(
                r#"select pg_try_advisory_xact_lock($1) as "locked!""#,
                FOLD_LOCK_KEY
            )
            .fetch_one(&mut *tx)
            .await?;
            if !locked {
                return Ok((folded > 0).then_some(folded));
            }
            // A statement of many buckets: compiling it would cost more than running it.
            sqlx::query!("set local jit = off")
                .execute(&mut *tx)
                .await?;
            // Oldest batches first, as many as keep the folds within the bound; the first one
            // always, however large.
            let rows = sqlx::query!(
                r#"delete from rollup_pending
                   where id = any(array(
                       select id from (
                           select id, sum(fold_count) over (order by id) - fold_count as before
                           from rollup_pending
                           order by id
                           limit $1) as oldest
                       where before < $1))
                   returning id as "id!", fold_count as "fold_count!", folds as "folds!""#,
                FOLD_ROWS,
            )
            .fetch_all(&mut *tx)
            .await?;
            let taken = rows.len() as u64;
            let folds: i64 = rows.iter().map(|row| i64::from(row.fold_count)).sum();
            let mut batch = RollupBatch::default();
            for row in rows {
                if let Err(unreadable) = RollupDeltas::decode_into(row.id, &row.folds, &mut batch) {
                    tracing::error!(error = %unreadable, "a batch's rollups are dropped");
                }
            }
            batch.merge(&mut tx).await?;
            tx.commit().await?;
            folded += taken;
            // Fewer than the bound: nothing was left when this transaction looked.
            if folds < FOLD_ROWS {
                return Ok(Some(folded));
            }
        }
    }

    /// How many folds wait to be taken into the rollups, and when the oldest of their values was
    /// received: what the rollups lag behind the stored messages.
    pub async fn rollup_deltas_waiting(&self) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
        let row = sqlx::query!(
            r#"select coalesce(sum(fold_count), 0)::int8 as "waiting!",
                      min(oldest) as "oldest: DateTime<Utc>"
               from rollup_pending"#
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.waiting, row.oldest))
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
        super::retention::delete_in_batches(|| async {
            let deleted = sqlx::query!(
                "delete from value_rollup \
                 where (topic_id, series, level, bucket) in ( \
                     select topic_id, series, level, bucket from value_rollup \
                     where level = $1 and bucket < $2 limit $3)",
                level,
                before as DateTime<Utc>,
                super::retention::DELETE_BATCH,
            )
            .execute(&self.pool)
            .await?;
            Ok(deleted.rows_affected())
        })
        .await
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
            batch.add(topic_id, OWN_NUMBER, at, value);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(micros).unwrap()
    }

    #[test]
    fn a_batch_reads_back_as_it_was_folded() {
        let mut deltas = RollupDeltas::default();
        let mut expected = RollupBatch::default();
        let start = 1_764_000_000_000_000;
        for (n, (topic, series)) in [(1, OWN_NUMBER), (1, 3), (2, OWN_NUMBER), (1, 3)]
            .into_iter()
            .enumerate()
        {
            // Microsecond times, negative and odd values: what PostgreSQL would keep.
            let when = at(start + n as i64 * 10_000_001);
            let value = -1.5 * n as f64 + 0.1;
            deltas.add(topic, series, when, value);
            expected.add(topic, series, when, value);
        }
        let bytes = deltas.encode();
        assert_eq!(
            bytes.len(),
            1 + 3 * DELTA_BYTES,
            "one record per topic, series, minute"
        );
        let mut read = RollupBatch::default();
        RollupDeltas::decode_into(7, &bytes, &mut read).unwrap();
        assert_eq!(read.folds, expected.folds);
    }

    #[test]
    fn a_damaged_batch_is_refused_and_never_read_in_part() {
        let mut deltas = RollupDeltas::default();
        deltas.add(1, OWN_NUMBER, at(1_764_000_000_000_000), 2.0);
        let good = deltas.encode();
        let mut unknown_format = good.clone();
        unknown_format[0] = 9;
        let mut out_of_range = good.clone();
        // The first value's time: far past what a date can hold.
        out_of_range[1 + 52..1 + 60].copy_from_slice(&i64::MAX.to_le_bytes());
        let mut empty_fold = good.clone();
        empty_fold[1 + 20..1 + 28].copy_from_slice(&0_i64.to_le_bytes());
        // A good fold followed by a damaged one.
        let mut second_damaged = good.clone();
        second_damaged.extend_from_slice(&out_of_range[1..]);
        for (bytes, problem) in [
            (Vec::new(), "it is empty"),
            (
                vec![DELTAS_FORMAT],
                "its length is not a whole number of folds",
            ),
            (
                good[..good.len() - 1].to_vec(),
                "its length is not a whole number of folds",
            ),
            (unknown_format, "its format is unknown"),
            (out_of_range, "it holds a time out of range"),
            (empty_fold, "it holds an empty fold"),
            (second_damaged, "it holds a time out of range"),
        ] {
            let mut read = RollupBatch::default();
            let refused = RollupDeltas::decode_into(7, &bytes, &mut read).unwrap_err();
            assert_eq!((refused.id, refused.problem), (7, problem));
            assert!(read.is_empty());
        }
    }
}
