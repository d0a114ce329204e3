//! Maintenance rounds against the real PostgreSQL, at chosen dates: expired partitions are
//! dropped, shorter per-topic rules delete rows in batches, the default partition is cleaned, the
//! latest value of every topic stays, and instances sharing a database take turns.

mod support;

use app::domain::topic_filter::TopicFilter;
use app::server::store::batch_writer::{BatchWriter, NewMessage};
use app::server::store::retention::{MessagePartition, DELETE_BATCH};
use app::server::store::Store;
use chrono::{DateTime, NaiveDate, Utc};
use lookout::config::{RetentionRule, RetentionSettings};
use lookout::maintenance::run_round;
use sqlx::PgPool;
use std::time::Duration;
use support::fresh_database;

/// A migrated database, with a store on it and a pool for the test's own queries.
async fn fresh_store() -> (Store, PgPool, String) {
    let url = fresh_database().await;
    let store = Store::connect(&url, Duration::from_secs(10)).await.unwrap();
    store.migrate().await.unwrap();
    (store, PgPool::connect(&url).await.unwrap(), url)
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn retention(days: u32, rules: &[(&str, u32)]) -> RetentionSettings {
    RetentionSettings {
        days,
        rules: rules
            .iter()
            .map(|(filter, days)| RetentionRule {
                filter: TopicFilter::parse(filter).unwrap(),
                days: *days,
            })
            .collect(),
        rollups: Default::default(),
    }
}

/// Creates the partitions of each of `days` (and of the day before it).
async fn partitions_for(store: &Store, days: &[&str]) {
    for today in days {
        store
            .ensure_message_partitions(day(today), 0)
            .await
            .unwrap();
    }
}

/// Stores `count` messages on `topic` received at `when`, each with its own payload.
async fn store_messages(store: &Store, topic: &str, when: &str, count: usize) {
    let payloads: Vec<Vec<u8>> = (0..count)
        .map(|n| format!("{topic} {when} {n}").into_bytes())
        .collect();
    let batch: Vec<NewMessage<'_>> = payloads
        .iter()
        .map(|payload| NewMessage {
            topic,
            received_at: at(when),
            payload,
            qos: 1,
            retain: false,
        })
        .collect();
    BatchWriter::new(store.clone(), Default::default())
        .write(&batch)
        .await
        .unwrap();
}

/// The receive times of `topic`'s stored messages, oldest first, each with its count.
async fn history(db: &PgPool, topic: &str) -> Vec<(DateTime<Utc>, i64)> {
    sqlx::query_as(
        "select m.received_at, count(*) from message m join topic t on t.id = m.topic_id \
         where t.name = $1 group by m.received_at order by m.received_at",
    )
    .bind(topic)
    .fetch_all(db)
    .await
    .unwrap()
}

async fn latest(db: &PgPool) -> Vec<(String, DateTime<Utc>)> {
    sqlx::query_as(
        "select t.name, l.received_at from latest l join topic t on t.id = l.topic_id \
         order by t.name",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

async fn partition_days(store: &Store) -> Vec<NaiveDate> {
    store
        .message_partitions()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|partition| match partition {
            MessagePartition::Day(day) => Some(day),
            MessagePartition::Default => None,
        })
        .collect()
}

const NOW: &str = "2031-03-15T12:00:00Z";

#[tokio::test]
async fn expired_partitions_are_dropped_and_a_shorter_rule_deletes_only_its_topics_rows() {
    let (store, db, _) = fresh_store().await;
    // 02-01..02-02 and 02-12 lie wholly before 30 days ago (02-13 12:00); 02-13 straddles it.
    partitions_for(
        &store,
        &["2031-02-02", "2031-02-13", "2031-03-01", "2031-03-14"],
    )
    .await;
    let rows = DELETE_BATCH as usize + 500;
    for (topic, when, count) in [
        ("plant/temp", "2031-02-01T10:00:00Z", 1),
        ("plant/temp", "2031-02-12T23:00:00Z", 1),
        ("plant/temp", "2031-02-13T06:00:00Z", 1),
        ("plant/temp", "2031-03-01T10:00:00Z", 1),
        ("plant/temp", "2031-03-14T10:00:00Z", 1),
        ("plant/debug/x", "2031-02-13T06:00:00Z", 1),
        ("plant/debug/x", "2031-03-01T10:00:00Z", rows),
        ("plant/debug/x", "2031-03-13T10:00:00Z", 1),
        ("plant/debug/x", "2031-03-14T10:00:00Z", 1),
        ("plant/debug/y", "2031-03-01T10:00:00Z", 1),
        ("plant/gone", "2031-02-01T10:00:00Z", 1),
        // No partitions for these days: they land in message_default.
        ("plant/temp", "2030-12-01T10:00:00Z", 1),
        ("plant/temp", "2031-03-10T10:00:00Z", 1),
        ("plant/debug/x", "2031-03-10T10:00:00Z", 1),
    ] {
        store_messages(&store, topic, when, count).await;
    }
    let latest_before = latest(&db).await;
    let in_default: i64 = sqlx::query_scalar("select count(*) from message_default")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(in_default, 3);

    let settings = retention(30, &[("plant/debug/#", 2)]);
    let report = run_round(&store, &settings, at(NOW)).await.unwrap();

    assert!(!report.skipped);
    assert_eq!(
        report.dropped,
        vec![day("2031-02-01"), day("2031-02-02"), day("2031-02-12")]
    );
    assert_eq!(
        report.created,
        (15..=22)
            .map(|d| day(&format!("2031-03-{d}")))
            .collect::<Vec<_>>()
    );
    // Within the longest retention, or in the partition that straddles its cutoff (kept until
    // all of it has expired), or in the default partition and recent.
    assert_eq!(
        history(&db, "plant/temp").await,
        vec![
            (at("2031-02-13T06:00:00Z"), 1),
            (at("2031-03-01T10:00:00Z"), 1),
            (at("2031-03-10T10:00:00Z"), 1),
            (at("2031-03-14T10:00:00Z"), 1),
        ]
    );
    // Two days: only what arrived after 03-13 12:00 stays, in every partition.
    assert_eq!(
        history(&db, "plant/debug/x").await,
        vec![(at("2031-03-14T10:00:00Z"), 1)]
    );
    assert_eq!(history(&db, "plant/debug/y").await, vec![]);
    assert_eq!(history(&db, "plant/gone").await, vec![]);
    assert_eq!(report.deleted, rows as u64 + 5);
    // The last value of a topic outlives its history.
    assert_eq!(latest(&db).await, latest_before);
    assert_eq!(latest_before.len(), 4);

    let again = run_round(&store, &settings, at(NOW)).await.unwrap();
    assert_eq!(
        (again.dropped.len(), again.created.len(), again.deleted),
        (0, 0, 0),
        "a second round finds nothing to do"
    );
}

#[tokio::test]
async fn a_rule_longer_than_the_global_retention_keeps_its_topics_and_the_rest_go_row_by_row() {
    let (store, db, _) = fresh_store().await;
    partitions_for(&store, &["2031-01-02", "2031-03-01"]).await;
    for (topic, when) in [
        ("plant/audit/login", "2031-01-01T10:00:00Z"),
        ("plant/audit/login", "2031-03-01T10:00:00Z"),
        ("plant/temp", "2031-01-01T10:00:00Z"),
        ("plant/temp", "2031-03-01T10:00:00Z"),
        ("plant/temp", "2031-03-14T10:00:00Z"),
    ] {
        store_messages(&store, topic, when, 1).await;
    }

    let settings = retention(7, &[("plant/audit/#", 60)]);
    let report = run_round(&store, &settings, at(NOW)).await.unwrap();

    assert_eq!(report.dropped, vec![day("2031-01-01"), day("2031-01-02")]);
    assert_eq!(report.deleted, 1);
    assert_eq!(
        history(&db, "plant/audit/login").await,
        vec![(at("2031-03-01T10:00:00Z"), 1)]
    );
    assert_eq!(
        history(&db, "plant/temp").await,
        vec![(at("2031-03-14T10:00:00Z"), 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_waits_its_turn_and_concurrent_rounds_of_two_instances_do_not_fail() {
    let (store, db, url) = fresh_store().await;
    // Another instance: its own pool on the same database.
    let other = Store::connect(&url, Duration::from_secs(10)).await.unwrap();
    partitions_for(&store, &["2031-01-02", "2031-03-14"]).await;
    store_messages(&store, "plant/temp", "2031-01-01T10:00:00Z", 1).await;
    store_messages(&store, "plant/temp", "2031-03-14T10:00:00Z", 1).await;
    store_messages(&store, "plant/debug", "2031-03-01T10:00:00Z", 1).await;
    let settings = retention(30, &[("plant/debug", 2)]);

    let held = store.try_maintenance_lock().await.unwrap().unwrap();
    assert!(other.try_maintenance_lock().await.unwrap().is_none());
    let report = run_round(&other, &settings, at(NOW)).await.unwrap();
    assert!(report.skipped);
    assert_eq!(
        partition_days(&store).await.len(),
        4,
        "a skipped round changes nothing"
    );
    held.release().await.unwrap();

    let rounds: Vec<_> = (0..6)
        .map(|n| {
            let instance = if n % 2 == 0 { &store } else { &other }.clone();
            let settings = settings.clone();
            tokio::spawn(async move { run_round(&instance, &settings, at(NOW)).await })
        })
        .collect();
    let mut reports = Vec::new();
    for round in rounds {
        reports.push(round.await.unwrap().unwrap());
    }
    assert!(reports.iter().any(|report| !report.skipped));
    let dropped: usize = reports.iter().map(|report| report.dropped.len()).sum();
    let deleted: u64 = reports.iter().map(|report| report.deleted).sum();
    assert_eq!((dropped, deleted), (2, 1), "the work was done exactly once");
    assert_eq!(
        history(&db, "plant/temp").await,
        vec![(at("2031-03-14T10:00:00Z"), 1)]
    );
    assert_eq!(history(&db, "plant/debug").await, vec![]);
    assert!(other.try_maintenance_lock().await.unwrap().is_some());
}

#[tokio::test]
async fn a_day_whose_rows_sit_in_the_default_partition_does_not_stop_maintenance() {
    let (store, db, _) = fresh_store().await;
    // A clock that ran three days ahead, before that day had its partition.
    store_messages(&store, "plant/temp", "2031-03-18T10:00:00Z", 1).await;

    let report = run_round(&store, &retention(30, &[]), at(NOW))
        .await
        .unwrap();

    assert!(!report.created.contains(&day("2031-03-18")));
    assert_eq!(report.created.len(), 8);
    let in_default: i64 = sqlx::query_scalar("select count(*) from message_default")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(in_default, 1);
    // New messages of that day still have a place to go.
    store_messages(&store, "plant/temp", "2031-03-18T11:00:00Z", 1).await;
    assert_eq!(history(&db, "plant/temp").await.len(), 2);
}
