//! Several instances on one PostgreSQL and one broker (docs/scaling.md): real `lookout` processes
//! in one shared subscription group, a Mosquitto of the test's own, and the shared test
//! PostgreSQL. Each message is stored once, logins work on every instance, every operator sees
//! every message live, and a killed instance loses nothing.

mod support;

use app::domain::roles::Role;
use app::server::accounts::add_user;
use app::server::store::audit::Actor;
use app::server::store::batch_writer::{BatchWriter, NewMessage};
use app::server::store::Store;
use chrono::{TimeDelta, Utc};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use support::live_stream::{open_stream, query, Stream};
use support::process::Lookout;
use support::services::{free_port, TestBroker};
use support::{
    duplicate_count, fresh_database, http_request, log_in_on, publish_all, sequenced,
    test_environment, unique_name,
};

const PATIENCE: Duration = Duration::from_secs(120);

/// As ingest_failures.rs: what one instance can hold received but unacknowledged (its queue and
/// two batches committing); only that can come twice when it is killed.
const MOST_UNACKNOWLEDGED: i64 = 10_000 + 2 * 10_000;

/// A group of instances sharing one database, one broker and one topic prefix.
struct Group {
    broker: TestBroker,
    database_url: String,
    db: PgPool,
    prefix: String,
    name: String,
}

impl Group {
    async fn new() -> Self {
        let database_url = fresh_database().await;
        Self {
            broker: TestBroker::start().await,
            db: PgPool::connect(&database_url).await.unwrap(),
            database_url,
            prefix: unique_name("t"),
            name: unique_name("group"),
        }
    }

    /// The environment of instance `id`: its own port and client id, the group's share.
    fn instance(&self, id: &str) -> HashMap<String, String> {
        let listen = format!("127.0.0.1:{}", free_port());
        test_environment(
            &self.database_url,
            &self.broker.url(),
            &format!("{}-{id}", self.name),
            &self.prefix,
            &[
                ("LOOKOUT_LISTEN", &listen),
                ("LOOKOUT_MQTT_SHARED_GROUP", &self.name),
                ("RUST_LOG", "warn"),
            ],
        )
    }

    /// Distinct readings stored (payloads are unique; duplicates are counted apart).
    async fn stored_readings(&self) -> i64 {
        sqlx::query_scalar(
            "select count(distinct m.payload) from message m join topic t on t.id = m.topic_id \
             where t.name like '%/reading'",
        )
        .fetch_one(&self.db)
        .await
        .unwrap()
    }

    async fn wait_for_readings(&self, count: i64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let stored = self.stored_readings().await;
            if stored >= count {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {stored} of {count} readings stored"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A viewer that can log in on any instance; returns the password.
    async fn add_viewer(&self, name: &str) -> String {
        let store = Store::connect(&self.database_url, Duration::from_secs(10))
            .await
            .unwrap();
        let password = format!("{name}-{}", unique_name("pw"));
        add_user(&store, Actor::CLI, name, &password, Role::Viewer)
            .await
            .unwrap();
        password
    }
}

/// What instance `port` says in `/metrics` for `name`.
async fn metric(port: u16, name: &str) -> u64 {
    let response = http_request(
        port,
        "GET",
        "/metrics",
        &[support::METRICS_AUTHORIZATION],
        "",
    )
    .await;
    response
        .body
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {}", response.body))
}

/// Reads `stream` until it has shown every payload of `wanted`.
async fn sees_all(stream: &mut Stream, wanted: &HashSet<String>, instance: &str) {
    let mut seen = HashSet::new();
    while !wanted.is_subset(&seen) {
        let event = stream
            .next(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "instance {instance}'s stream went quiet: {} of {} seen",
                    wanted.intersection(&seen).count(),
                    wanted.len()
                )
            });
        if event.kind == "message" {
            seen.insert(event.json()["payload"].as_str().unwrap().to_owned());
        }
    }
}

/// Publishes probes to `topic` until both streams have shown one: then both instances' live
/// connections are subscribed.
async fn wait_until_live(group: &Group, topic: &str, streams: [&mut Stream; 2]) {
    for stream in streams {
        let mut shown = false;
        for attempt in 0..100 {
            let probe = format!("probe-{}", unique_name(&attempt.to_string()));
            let probe = vec![(topic.to_owned(), probe.into_bytes())];
            publish_all(&group.broker.url(), &probe).await;
            if let Some(event) = stream.next(Duration::from_millis(300)).await {
                if event.kind == "message" {
                    shown = true;
                    break;
                }
            }
        }
        assert!(shown, "a stream never showed a probe");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_store_each_message_once_share_logins_and_both_show_everything_live() {
    const TOTAL: u64 = 20_000;
    let group = Group::new().await;
    // Started together on an empty database: both migrate it at once.
    let (a, b) = (group.instance("a"), group.instance("b"));
    let (a, b) = tokio::join!(Lookout::start(&a), Lookout::start(&b));

    // A session started on one instance is a session on the other.
    let password = group.add_viewer("operator").await;
    let session = log_in_on(a.port, "operator", &password).await;
    let live_topics = format!("{}/live/#", group.prefix);
    let mut on_a = open_stream(a.port, Some(&session), &query(&[&live_topics]), None)
        .await
        .expect("A takes its own session");
    let mut on_b = open_stream(b.port, Some(&session), &query(&[&live_topics]), None)
        .await
        .expect("B takes a session started on A");
    assert_eq!(
        open_stream(b.port, None, "", None).await.err().map(|e| e.0),
        Some(401),
        "B still refuses the anonymous"
    );

    // Live: each instance shows every message, not only the ones the broker gave it to store.
    let probe_topic = format!("{}/live/probe", group.prefix);
    wait_until_live(&group, &probe_topic, [&mut on_a, &mut on_b]).await;
    let live: Vec<(String, Vec<u8>)> = (0..200)
        .map(|n| {
            let topic = format!("{}/live/sensor-{}", group.prefix, n % 10);
            (topic, format!("live-{n}").into_bytes())
        })
        .collect();
    let wanted: HashSet<String> = (0..200).map(|n| format!("live-{n}")).collect();
    publish_all(&group.broker.url(), &live).await;
    sees_all(&mut on_a, &wanted, "A").await;
    sees_all(&mut on_b, &wanted, "B").await;

    // Storage: the broker spreads the messages over the two; each is stored exactly once.
    publish_all(
        &group.broker.url(),
        &sequenced(&group.prefix, 0, TOTAL, 100),
    )
    .await;
    group.wait_for_readings(TOTAL as i64).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // a straggler would show up by now
    let rows: i64 = sqlx::query_scalar(
        "select count(*) from message m join topic t on t.id = m.topic_id \
         where t.name like '%/reading'",
    )
    .fetch_one(&group.db)
    .await
    .unwrap();
    assert_eq!(rows, TOTAL as i64, "no reading lost and none stored twice");
    assert_eq!(duplicate_count(&group.db).await, 0);
    let stored = [
        metric(a.port, "lookout_messages_stored_total").await,
        metric(b.port, "lookout_messages_stored_total").await,
    ];
    eprintln!("stored by A and B: {stored:?}");
    assert!(
        stored.iter().all(|share| *share > TOTAL / 10),
        "both instances stored a share: {stored:?}"
    );

    // The latest row of each topic is its newest message, and its count is the topic's whole
    // count, whichever instance wrote what.
    let wrong: Vec<(String, i64, i64)> = sqlx::query_as(
        "select t.name, l.message_count, \
                (select count(*) from message m where m.topic_id = t.id) \
         from latest l join topic t on t.id = l.topic_id \
         where l.message_count <> (select count(*) from message m where m.topic_id = t.id) \
            or l.received_at <> (select max(received_at) from message m where m.topic_id = t.id) \
            or l.payload not in (select payload from message m where m.topic_id = t.id \
                                 and m.received_at = l.received_at)",
    )
    .fetch_all(&group.db)
    .await
    .unwrap();
    assert!(wrong.is_empty(), "latest rows out of step: {wrong:?}");

    // Logging out on B ends the session on A too.
    let origin = format!("Origin: http://127.0.0.1:{}", b.port);
    let cookie = format!("Cookie: {session}");
    let logout = http_request(b.port, "POST", "/logout", &[&origin, &cookie], "").await;
    assert_eq!(logout.status, 303, "{}", logout.head);
    assert_eq!(
        open_stream(a.port, Some(&session), "", None)
            .await
            .err()
            .map(|e| e.0),
        Some(401),
        "A no longer takes the session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_loses_nothing_and_the_other_stores_on_meanwhile() {
    const TOTAL: u64 = 20_000;
    let group = Group::new().await;
    let (a_vars, b_vars) = (group.instance("a"), group.instance("b"));
    let (a, b) = tokio::join!(Lookout::start(&a_vars), Lookout::start(&b_vars));
    let mut a = a;

    let publisher = tokio::spawn({
        let url = group.broker.url();
        let messages = sequenced(&group.prefix, 0, TOTAL, 100);
        async move { publish_all(&url, &messages).await }
    });
    while group.stored_readings().await < 2_000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill();
    let b_before = metric(b.port, "lookout_messages_stored_total").await;
    publisher.await.unwrap();
    // B goes on storing its share while A is away; A's share waits in A's session.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut b_after = b_before;
    while b_after < b_before + 1_000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "B stored only {} more while A was down",
            b_after - b_before
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        b_after = metric(b.port, "lookout_messages_stored_total").await;
    }

    let _a = Lookout::start(&a_vars).await;
    group.wait_for_readings(TOTAL as i64).await;
    let duplicates = duplicate_count(&group.db).await;
    eprintln!(
        "kill -9 of one of two: {TOTAL} stored, {duplicates} duplicates; \
         B stored {} while A was down",
        b_after - b_before
    );
    // Only what A held received but unacknowledged can come twice (docs/ingest.md).
    assert!(duplicates <= MOST_UNACKNOWLEDGED, "{duplicates} duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_leaves_the_group_hands_over_its_share_and_strands_nothing() {
    let group = Group::new().await;
    let (a_vars, b_vars) = (group.instance("a"), group.instance("b"));
    let (a, b) = tokio::join!(Lookout::start(&a_vars), Lookout::start(&b_vars));
    let mut a = a;
    publish_all(&group.broker.url(), &sequenced(&group.prefix, 0, 1_000, 10)).await;
    group.wait_for_readings(1_000).await;

    // Only a member of a group can leave one.
    let mut lone = a_vars.clone();
    lone.remove("LOOKOUT_MQTT_SHARED_GROUP");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("leave-group")
        .envs(&lone)
        .env_remove("LOOKOUT_MQTT_SHARED_GROUP")
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(error.contains("LOOKOUT_MQTT_SHARED_GROUP"), "{error}");

    // A goes away for good; meanwhile the broker queues A's share in A's session.
    a.kill();
    publish_all(
        &group.broker.url(),
        &sequenced(&group.prefix, 1_000, 4_000, 10),
    )
    .await;
    let leaving = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
            .arg("leave-group")
            .envs(&a_vars)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&leaving.stdout);
    assert!(
        leaving.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&leaving.stderr)
    );
    assert!(said.starts_with("Left the group: "), "{said}");
    group.wait_for_readings(5_000).await;

    // From now on B gets everything: nothing waits for A any more.
    let before = metric(b.port, "lookout_messages_stored_total").await;
    publish_all(
        &group.broker.url(),
        &sequenced(&group.prefix, 5_000, 2_000, 10),
    )
    .await;
    group.wait_for_readings(7_000).await;
    let after = metric(b.port, "lookout_messages_stored_total").await;
    assert!(after - before >= 2_000, "B stored {}", after - before);
}

/// A fresh database as two instances see it: each its own pool.
async fn two_stores() -> (String, Store, Store) {
    let database_url = fresh_database().await;
    let connect = || Store::connect(&database_url, Duration::from_secs(10));
    let first = connect().await.unwrap();
    first.migrate().await.unwrap();
    let second = connect().await.unwrap();
    (database_url, first, second)
}

#[tokio::test]
async fn the_latest_row_never_goes_back_to_an_older_message_whoever_commits_last() {
    let (database_url, first, second) = two_stores().await;
    let now = Utc::now();
    let message = |payload: &'static [u8], received_at| NewMessage {
        topic: "plant/boiler",
        received_at,
        payload,
        qos: 1,
        retain: false,
    };
    // The newer message is committed first, by one instance; the older one after, by the other
    // (its writer was slower, or its clock a little behind).
    BatchWriter::new(second.clone(), Default::default())
        .write(&[message(b"newer", now)])
        .await
        .unwrap();
    BatchWriter::new(first.clone(), Default::default())
        .write(&[message(b"older", now - TimeDelta::milliseconds(5))])
        .await
        .unwrap();

    let db = PgPool::connect(&database_url).await.unwrap();
    let (payload, count): (Vec<u8>, i64) =
        sqlx::query_as("select payload, message_count from latest")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((payload.as_slice(), count), (&b"newer"[..], 2));
}

#[tokio::test]
async fn maintenance_passes_to_another_instance_when_the_one_running_it_dies() {
    let (database_url, dying, survivor) = two_stores().await;
    let retention = lookout::config::RetentionSettings {
        days: 30,
        rules: Vec::new(),
        rollups: Default::default(),
    };

    let held = dying.try_maintenance_lock().await.unwrap().unwrap();
    let report = lookout::maintenance::run_round(&survivor, &retention, Utc::now())
        .await
        .unwrap();
    assert!(report.skipped, "one instance at a time");

    // The instance holding the lock dies mid-round: its connections go away with it. (Only
    // this database's: other tests' instances take advisory locks too, to migrate.)
    let db = PgPool::connect(&database_url).await.unwrap();
    let holders = "from pg_locks where locktype = 'advisory' and pid <> pg_backend_pid() \
                   and database = (select oid from pg_database where datname = current_database())";
    sqlx::query(&format!("select pg_terminate_backend(pid) {holders}"))
        .execute(&db)
        .await
        .unwrap();
    // Termination is a signal: the backend is gone, and its lock with it, a moment later.
    for _ in 0..100 {
        let held: i64 = sqlx::query_scalar(&format!("select count(*) {holders}"))
            .fetch_one(&db)
            .await
            .unwrap();
        if held == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = lookout::maintenance::run_round(&survivor, &retention, Utc::now())
        .await
        .unwrap();
    assert!(!report.skipped, "the lock died with its holder");
    drop(held);
}
