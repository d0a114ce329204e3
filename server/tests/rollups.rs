//! The rollups of numeric values against the real PostgreSQL: after random batches (late, out of
//! order, in minutes already rolled up, from writers at once), every minute, hour and day equals
//! the aggregate of the raw rows; a batch that fails leaves no trace and is counted once when
//! written again; the backfill of messages stored before rollups existed is exact and repeats
//! nothing after a failed step; and every chart read from rollups equals the one read from the
//! raw rows.

mod support;

use app::domain::history::{HistoryRange, Resolution};
use app::domain::series::{SeriesDef, SeriesText, OWN_NUMBER};
use app::server::store::batch_writer::{BatchWriter, NewMessage};
use app::server::store::history::BackfillStep;
use app::server::store::series::SeriesAdded;
use app::server::store::Store;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgPool, Row};
use std::time::Duration;
use support::fresh_database;

async fn fresh_store() -> (Store, PgPool) {
    let (store, db, _) = fresh_store_at().await;
    (store, db)
}

/// A fresh store, its pool, and its database's URL (for a second instance).
async fn fresh_store_at() -> (Store, PgPool, String) {
    let url = fresh_database().await;
    let store = Store::connect(&url, Duration::from_secs(10)).await.unwrap();
    store.migrate().await.unwrap();
    store
        .ensure_message_partitions((Utc::now() - TimeDelta::days(4)).date_naive(), 6)
        .await
        .unwrap();
    let db = PgPool::connect(&url).await.unwrap();
    (store, db, url)
}

/// A small generator with a fixed seed, so a failure can be run again exactly.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// A message as the test makes it: topic, time, payload.
type Made = (String, DateTime<Utc>, Vec<u8>);

/// `count` messages on a few topics over the last three days, in random order: mostly numbers,
/// some JSON objects with one number, some text and some objects with no number; a few share
/// their microsecond with another of the same topic.
fn random_messages(random: &mut Random, prefix: &str, count: usize) -> Vec<Made> {
    let now = Utc::now();
    let mut made: Vec<Made> = Vec::with_capacity(count);
    for _ in 0..count {
        let topic = format!("{prefix}/t{}", random.below(4));
        let at = if made.len() > 10 && random.below(20) == 0 {
            made[random.below(made.len() as u64) as usize].1
        } else {
            now - TimeDelta::microseconds(random.below(3 * 86_400_000_000) as i64)
        };
        let value = (random.below(2_000_001) as f64 - 1_000_000.0) / 1000.0;
        let payload = match random.below(14) {
            0 => format!("{{\"temperature\": {value}, \"unit\": \"C\"}}"),
            1 => "on".to_owned(),
            2 => "{\"a\": 1, \"b\": 2}".to_owned(),
            // Fields the named series of the series test read, or fail to read.
            3 => format!("{{\"a\": {value}, \"b\": {{\"c\": {}}}}}", value / 2.0),
            4 => format!("{{\"a\": \"{value}\", \"b\": {{\"c\": null}}}}"),
            5 => format!("{{\"b\": {{\"c\": {value}}}, \"a\": [1]}}"),
            _ => value.to_string(),
        };
        made.push((topic, at, payload.into_bytes()));
    }
    made
}

async fn write_in_batches(writer: &BatchWriter, made: &[Made], random: &mut Random) {
    let mut rest = made;
    while !rest.is_empty() {
        let take = (1 + random.below(200) as usize).min(rest.len());
        let (batch, after) = rest.split_at(take);
        let messages: Vec<NewMessage<'_>> = batch
            .iter()
            .map(|(topic, at, payload)| NewMessage {
                topic,
                received_at: *at,
                payload,
                qos: 1,
                retain: false,
            })
            .collect();
        writer.write(&messages).await.unwrap();
        rest = after;
    }
}

/// Every rollup row of the payloads' own numbers, and the same figures aggregated from the raw
/// rows.
async fn assert_rollups_equal_raw(store: &Store, db: &PgPool) {
    assert_series_equal_raw(store, db, OWN_NUMBER, "m.value").await;
}

/// Every rollup row of `series`, and the same figures aggregated from the raw rows, per level, in
/// one order; `value_sql` is the series' number of a raw row `m` (of topic `t`), as SQL. What
/// batches appended is folded into the rollups first.
/// Sums are compared to within rounding of what they add up to; everything else exactly. Of
/// values received at the same microsecond either may be first or last, so a first or last value
/// is checked only where its moment holds one value.
async fn assert_series_equal_raw(store: &Store, db: &PgPool, series: i32, value_sql: &str) {
    store.fold_rollup_deltas().await.unwrap();
    let values = format!(
        "with v as (select m.topic_id, m.received_at, {value_sql} as value \
                    from message m join topic t on t.id = m.topic_id)"
    );
    let stored = sqlx::query(
        "select topic_id, level, bucket, count, min, max, sum, first_at, first_value, last_at, \
                last_value \
         from value_rollup where series = $1 order by topic_id, level, bucket",
    )
    .bind(series)
    .fetch_all(db)
    .await
    .unwrap();
    let raw = sqlx::query(&format!(
        "{values}, levels(level, width) as (values (1::int2, interval '1 minute'), \
                                              (2::int2, interval '1 hour'), \
                                              (3::int2, interval '1 day')) \
         select topic_id, level, date_bin(width, received_at, timestamptz 'epoch') as bucket, \
                count(*) as count, min(value) as min, max(value) as max, sum(value) as sum, \
                min(received_at) as first_at, max(received_at) as last_at, \
                sum(abs(value)) as magnitude \
         from v cross join levels \
         where value is not null \
         group by 1, 2, 3 order by 1, 2, 3"
    ))
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(stored.len(), raw.len(), "rollup rows");
    assert!(!raw.is_empty());
    for (stored, raw) in stored.iter().zip(&raw) {
        let key = |row: &sqlx::postgres::PgRow| {
            (
                row.get::<i64, _>("topic_id"),
                row.get::<i16, _>("level"),
                row.get::<DateTime<Utc>, _>("bucket"),
            )
        };
        let where_ = key(raw);
        assert_eq!(key(stored), where_);
        assert_eq!(
            stored.get::<i64, _>("count"),
            raw.get::<i64, _>("count"),
            "{where_:?}"
        );
        for exact in ["min", "max"] {
            assert_eq!(
                stored.get::<f64, _>(exact),
                raw.get::<f64, _>(exact),
                "{exact} {where_:?}"
            );
        }
        for at in ["first_at", "last_at"] {
            assert_eq!(
                stored.get::<DateTime<Utc>, _>(at),
                raw.get::<DateTime<Utc>, _>(at),
                "{at} {where_:?}"
            );
        }
        let (sum, expected) = (stored.get::<f64, _>("sum"), raw.get::<f64, _>("sum"));
        let tolerance = raw.get::<f64, _>("magnitude") * 1e-12 + 1e-9;
        assert!(
            (sum - expected).abs() <= tolerance,
            "sum {sum} against {expected} at {where_:?}"
        );
    }
    // First and last values: exact wherever no other value of the bucket shares the moment.
    let ambiguous: i64 = sqlx::query_scalar(&format!(
        "{values} select count(*) from value_rollup r \
         where r.series = $1 and ( \
               (select count(*) from v where v.topic_id = r.topic_id \
                and v.received_at = r.first_at and v.value is not null) = 1 \
           and r.first_value <> (select value from v where v.topic_id = r.topic_id \
                and v.received_at = r.first_at and v.value is not null) \
            or (select count(*) from v where v.topic_id = r.topic_id \
                and v.received_at = r.last_at and v.value is not null) = 1 \
           and r.last_value <> (select value from v where v.topic_id = r.topic_id \
                and v.received_at = r.last_at and v.value is not null))"
    ))
    .bind(series)
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        ambiguous, 0,
        "rollups whose first or last value is not that value's"
    );
}

#[tokio::test]
async fn rollups_equal_the_raw_aggregates_after_random_late_and_concurrent_batches() {
    for seed in [0x5eed_0001_u64, 0xdead_beef, 0x1234_5678_9abc] {
        let (store, db, url) = fresh_store_at().await;
        let mut random = Random(seed);
        let made = random_messages(&mut random, "rollup", 3000);
        let writer = BatchWriter::new(store.clone(), Default::default());
        // Half in one stream of batches (random order: most land in minutes already rolled up,
        // many before others already stored), then two writers at once over the other half.
        let (first, second) = made.split_at(made.len() / 2);
        write_in_batches(&writer, first, &mut random).await;
        let (left, right) = second.split_at(second.len() / 2);
        let mut random_left = Random(seed ^ 1);
        let mut random_right = Random(seed ^ 2);
        let other = writer.clone();
        // Folding meanwhile, from two instances' stores: one folds at a time, none twice.
        let second_instance = Store::connect(&url, Duration::from_secs(10)).await.unwrap();
        let fold_meanwhile = |store: Store| async move {
            for _ in 0..20 {
                store.fold_rollup_deltas().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::join!(
            write_in_batches(&writer, left, &mut random_left),
            write_in_batches(&other, right, &mut random_right),
            fold_meanwhile(store.clone()),
            fold_meanwhile(second_instance),
        );
        assert_rollups_equal_raw(&store, &db).await;
    }
}

/// A named series' number of a raw row, as SQL: the field at `path` (a `#>` path) of a JSON
/// payload when it is a number, on topics `topics` (a `like` pattern).
fn field_sql(topics: &str, path: &str) -> String {
    format!(
        "case when m.kind = 'json' and t.name like '{topics}' \
                   and jsonb_typeof(convert_from(m.payload, 'UTF8')::jsonb #> '{path}') = 'number' \
              then (convert_from(m.payload, 'UTF8')::jsonb #>> '{path}')::float8 end"
    )
}

#[tokio::test]
async fn named_series_are_rolled_up_exactly_like_their_fields_beside_the_payloads_own_numbers() {
    let (store, db) = fresh_store().await;
    let typed = |filter, pointer, label| SeriesText {
        filter,
        pointer,
        label,
        unit: "",
    };
    let mut named = Vec::new();
    for text in [
        typed("series/+", "/a", "A"),
        typed("series/t1", "/b/c", "C"),
    ] {
        let series = SeriesDef::check(0, text).unwrap();
        match store.add_value_series(&series).await.unwrap() {
            SeriesAdded::Added(id) => named.push(id),
            other => panic!("{other:?}"),
        }
    }
    // The same topics and field again are refused.
    let again = SeriesDef::check(0, typed("series/+", "/a", "Again")).unwrap();
    assert_eq!(
        store.add_value_series(&again).await.unwrap(),
        SeriesAdded::Duplicate
    );
    let series = app::server::series_edits::load(&store).await.unwrap();
    let mut random = Random(0x005e_71e5);
    let made = random_messages(&mut random, "series", 3000);
    let writer = BatchWriter::new(store.clone(), series.clone());
    let (first, second) = made.split_at(made.len() / 2);
    let other = writer.clone();
    let mut random_other = Random(7);
    tokio::join!(
        write_in_batches(&writer, first, &mut random),
        write_in_batches(&other, second, &mut random_other),
    );
    assert_rollups_equal_raw(&store, &db).await;
    assert_series_equal_raw(&store, &db, named[0], &field_sql("series/%", "{a}")).await;
    assert_series_equal_raw(&store, &db, named[1], &field_sql("series/t1", "{b,c}")).await;

    // A chart of a named series reads its rollups, minutes at the finest, for any range.
    let id = store.topic_id("series/t1").await.unwrap().unwrap();
    let to_ms = Utc::now().timestamp_millis();
    for range in [HistoryRange::Minutes15, HistoryRange::Days7] {
        let history = app::server::history::value_history(&store, id, named[1], Some(range), to_ms)
            .await
            .unwrap();
        assert_eq!(history.bucket_ms % 60_000, 0, "{range:?}");
        assert_eq!(history.from_ms % 60_000, 0, "{range:?}");
        let expected: i64 = sqlx::query_scalar(&format!(
            "select count(*) from message m join topic t on t.id = m.topic_id \
             where t.id = $1 and m.received_at >= $2 and ({}) is not null",
            field_sql("series/t1", "{b,c}")
        ))
        .bind(id)
        .bind(DateTime::from_timestamp_millis(history.from_ms).unwrap())
        .fetch_one(&db)
        .await
        .unwrap();
        let charted: i64 = history.buckets.iter().map(|bucket| bucket.count).sum();
        assert_eq!(charted, expected, "{range:?}");
    }

    // Deleted, a series is no longer folded, and maintenance deletes its rollups (those of a
    // batch still in flight with it too).
    let stale = app::server::series_edits::load(&store).await.unwrap();
    assert!(store.delete_value_series(named[0]).await.unwrap());
    app::server::series_edits::refresh(&store, &series)
        .await
        .unwrap();
    write_in_batches(&writer, &made[..200], &mut random).await;
    // A writer that still had the series when it was deleted.
    write_in_batches(
        &BatchWriter::new(store.clone(), stale),
        &made[..200],
        &mut random,
    )
    .await;
    store.fold_rollup_deltas().await.unwrap();
    let kept: i64 = sqlx::query_scalar("select count(*) from value_rollup where series = $1")
        .bind(named[1])
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(store.delete_orphan_rollups().await.unwrap() > 0);
    let left: i64 = sqlx::query_scalar("select count(*) from value_rollup where series = $1")
        .bind(named[0])
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_series_equal_raw(&store, &db, named[1], &field_sql("series/t1", "{b,c}")).await;
    assert!(kept > 0);
    assert!(!store.delete_value_series(named[0]).await.unwrap());
}

#[tokio::test]
async fn a_batch_or_a_fold_that_fails_leaves_no_trace_and_counts_once_when_done_again() {
    let (store, db) = fresh_store().await;
    let writer = BatchWriter::new(store.clone(), Default::default());
    let at = Utc::now() - TimeDelta::minutes(5);
    let messages = |value: &'static str| {
        vec![
            NewMessage {
                topic: "fails/a",
                received_at: at,
                payload: value.as_bytes(),
                qos: 0,
                retain: false,
            },
            NewMessage {
                topic: "fails/b",
                received_at: at,
                payload: value.as_bytes(),
                qos: 0,
                retain: false,
            },
        ]
    };
    writer.write(&messages("1")).await.unwrap();
    // The last statement of the next batch fails, as a crash after it would leave it: nothing
    // of the batch may remain.
    refuse_writes(&db, "rollup_pending").await;
    assert!(writer.write(&messages("10")).await.is_err());
    allow_writes(&db, "rollup_pending").await;
    let stored: i64 = sqlx::query_scalar("select count(*) from message")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stored, 2, "the failed batch's messages were rolled back");
    writer.forget_topics(["fails/a", "fails/b"]);
    writer.write(&messages("10")).await.unwrap();

    // A fold that fails at its last level leaves the rollups and the deltas as they were.
    refuse_writes(&db, "value_rollup_day").await;
    assert!(store.fold_rollup_deltas().await.is_err());
    allow_writes(&db, "value_rollup_day").await;
    let (rollups, batches, folds): (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from value_rollup), (select count(*) from rollup_pending), \
                (select sum(fold_count)::int8 from rollup_pending)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        (rollups, batches, folds),
        (0, 2, 4),
        "two batches of two topics wait"
    );
    assert_eq!(store.fold_rollup_deltas().await.unwrap(), Some(2));
    assert_eq!(store.fold_rollup_deltas().await.unwrap(), Some(0));
    let sums: Vec<(i64, f64)> =
        sqlx::query_as("select count, sum from value_rollup order by topic_id, level")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(sums, vec![(2, 11.0); 6]);
    assert_rollups_equal_raw(&store, &db).await;
}

/// Makes every write to `table` fail, as a crash at that statement would end its transaction.
async fn refuse_writes(db: &PgPool, table: &str) {
    sqlx::raw_sql(&format!(
        "create or replace function refuse_rollup() returns trigger language plpgsql as \
           $$ begin raise exception 'refused for the test'; end $$; \
         create trigger refuse_rollup before insert or update on {table} \
           for each row execute function refuse_rollup();"
    ))
    .execute(db)
    .await
    .unwrap();
}

async fn allow_writes(db: &PgPool, table: &str) {
    sqlx::raw_sql(&format!("drop trigger refuse_rollup on {table}"))
        .execute(db)
        .await
        .unwrap();
}

/// Stores `made` as a version without rollups did: the messages only.
async fn store_without_rollups(db: &PgPool, made: &[Made]) {
    for (topic, at, payload) in made {
        sqlx::query(
            "with t as (insert into topic (name) values ($1) \
                        on conflict (name) do update set name = excluded.name returning id) \
             insert into message (topic_id, received_at, payload, kind, qos, retain, value) \
             select id, $2, $3, 'text', 0, false, \
                    case when convert_from($3, 'UTF8') ~ '^-?[0-9.]+$' \
                         then convert_from($3, 'UTF8')::float8 end \
             from t",
        )
        .bind(topic)
        .bind(at)
        .bind(payload)
        .execute(db)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn the_backfill_rolls_up_older_messages_exactly_once_even_after_a_failed_step() {
    let (store, db) = fresh_store().await;
    let mut random = Random(42);
    let older: Vec<Made> = random_messages(&mut random, "old", 2000)
        .into_iter()
        .filter(|(_, _, payload)| payload[0] != b'{')
        .collect();
    store_without_rollups(&db, &older).await;
    // And one a clock far off put in the default partition.
    let far = Utc::now() - TimeDelta::days(400);
    store_without_rollups(&db, &[("old/t0".to_owned(), far, b"5".to_vec())]).await;
    // As the migration leaves a database that held messages.
    sqlx::query("update rollup_backfill set cutoff = now(), done_before = null, finished = null")
        .execute(&db)
        .await
        .unwrap();
    let from = Utc::now() - TimeDelta::days(2);
    assert!(!store.rollups_cover(from).await.unwrap());
    // Newer messages go through the writer, rolled up as they are stored.
    let writer = BatchWriter::new(store.clone(), Default::default());
    let newer = vec![("old/t1".to_owned(), Utc::now(), b"7.5".to_vec())];
    write_in_batches(&writer, &newer, &mut random).await;

    // Up to the first day that held values (the partitions before it are empty).
    loop {
        match store.backfill_rollups_step().await.unwrap() {
            BackfillStep::Day { rolled_up: 0 } => continue,
            BackfillStep::Day { .. } => break,
            other => panic!("the backfill ended early: {other:?}"),
        }
    }
    // A step that fails part way (the next day holds values too) is rolled back whole,
    // progress included.
    refuse_writes(&db, "value_rollup_day").await;
    let before = store.rollup_backfill().await.unwrap();
    assert!(store.backfill_rollups_step().await.is_err());
    assert_eq!(store.rollup_backfill().await.unwrap(), before);
    allow_writes(&db, "value_rollup_day").await;

    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 20, "the backfill does not end");
        match store.backfill_rollups_step().await.unwrap() {
            BackfillStep::Day { .. } => continue,
            BackfillStep::Finished { .. } => break,
            BackfillStep::AlreadyFinished => panic!("finished without saying so"),
        }
    }
    assert_eq!(
        store.backfill_rollups_step().await.unwrap(),
        BackfillStep::AlreadyFinished
    );
    assert!(store.rollups_cover(from).await.unwrap());
    assert_rollups_equal_raw(&store, &db).await;
}

#[tokio::test]
async fn every_chart_read_from_rollups_equals_the_one_read_from_raw_rows() {
    let (store, _db) = fresh_store().await;
    let mut random = Random(7);
    let made: Vec<Made> = random_messages(&mut random, "chart", 4000)
        .into_iter()
        .map(|(_, at, payload)| ("chart/t".to_owned(), at, payload))
        .collect();
    write_in_batches(
        &BatchWriter::new(store.clone(), Default::default()),
        &made,
        &mut random,
    )
    .await;
    store.fold_rollup_deltas().await.unwrap();
    let id = store.topic_id("chart/t").await.unwrap().unwrap();
    let to_ms = Utc::now().timestamp_millis();
    let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();
    for range in HistoryRange::ALL {
        let resolution = range.resolution();
        let (from, to, bucket) = (at(range.from_ms(to_ms)), at(to_ms), range.bucket_ms());
        let rolled = store
            .value_buckets(id, OWN_NUMBER, resolution, from, to, bucket)
            .await
            .unwrap();
        let raw = store.raw_value_buckets(id, from, to, bucket).await.unwrap();
        assert_eq!(rolled.len(), raw.len(), "{range:?}");
        if range.span_ms() >= HistoryRange::Hours24.span_ms() {
            assert!(!raw.is_empty(), "{range:?} draws nothing");
        }
        for (rolled, raw) in rolled.iter().zip(&raw) {
            assert_eq!(
                (rolled.start_ms, rolled.min, rolled.max, rolled.count),
                (raw.start_ms, raw.min, raw.max, raw.count),
                "{range:?} from {resolution:?}"
            );
            assert!((rolled.avg - raw.avg).abs() < 1e-6, "{range:?}");
        }
    }
    // The service picks the rollup for long ranges and says what it drew.
    let history = app::server::history::value_history(
        &store,
        id,
        OWN_NUMBER,
        Some(HistoryRange::Days7),
        to_ms,
    )
    .await
    .unwrap();
    assert_eq!(history.bucket_ms, HistoryRange::Days7.bucket_ms());
    assert_eq!(
        history.buckets.iter().map(|b| b.count).sum::<i64>(),
        made.iter()
            .filter(|(_, _, payload)| { app::domain::payload::numeric_value(payload).is_some() })
            .count() as i64
    );
    assert_eq!(Resolution::Minute, HistoryRange::Days7.resolution());
}

#[tokio::test]
async fn an_upgrade_folds_what_waited_in_the_old_delta_table() {
    let url = fresh_database().await;
    let db = PgPool::connect(&url).await.unwrap();
    // The schema as the version with one row per delta left it.
    support::migrate_before(&db, 20261206000020).await;
    let store = Store::connect(&url, Duration::from_secs(10)).await.unwrap();
    store
        .ensure_message_partitions((Utc::now() - TimeDelta::days(4)).date_naive(), 6)
        .await
        .unwrap();
    // Stored messages and, for each, the delta that version's writer appended (one value
    // each, several per minute and hour), none of them folded yet.
    let mut random = Random(20);
    let made: Vec<Made> = random_messages(&mut random, "upgrade", 600)
        .into_iter()
        .filter(|(_, _, payload)| payload[0] != b'{')
        .collect();
    store_without_rollups(&db, &made).await;
    sqlx::query(
        "insert into rollup_delta (topic_id, series, bucket, count, min, max, sum, first_at, \
                                   first_value, last_at, last_value) \
         select topic_id, 0, date_bin('1 minute', received_at, timestamptz 'epoch'), 1, value, \
                value, value, received_at, value, received_at, value \
         from message where value is not null",
    )
    .execute(&db)
    .await
    .unwrap();

    store.migrate().await.unwrap();
    assert_rollups_equal_raw(&store, &db).await;
    let rollups: i64 = sqlx::query_scalar("select count(*) from value_rollup")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(rollups > 0, "nothing was folded");
}
