//! The topic detail page and its server functions against the real application: history
//! downsampled by PostgreSQL to exact per-bucket figures, the message log paged without gaps or
//! repeats, nothing shown of a topic the visitor may not read, and a complete page without
//! JavaScript.

mod support;

use app::domain::history::{History, HistoryRange, MAX_BUCKETS, MIN_BUCKETS};
use app::domain::payload::numeric_value;
use app::domain::topic_path::topic_path;
use app::pages::topic::TopicHistory;
use app::server::store::batch_writer::{BatchWriter, NewMessage};
use app::server::store::history::BackfillStep;
use app::server::store::Store;
use chrono::{DateTime, Utc};
use rumqttc::QoS;
use std::collections::HashSet;
use std::time::Duration;
use support::{publish, spawn_app, TestApp};

/// A message to store directly, as ingest would hand it to the writer.
struct Stored {
    topic: String,
    at_ms: i64,
    payload: Vec<u8>,
}

/// Stores `messages` through the application's own batch writer.
async fn store_all(app: &TestApp, messages: &[Stored]) {
    let store = Store::connect(&app.database_url, Duration::from_secs(10))
        .await
        .unwrap();
    let writer = BatchWriter::new(store.clone(), Default::default());
    for chunk in messages.chunks(5_000) {
        let batch: Vec<NewMessage> = chunk
            .iter()
            .map(|message| NewMessage {
                topic: &message.topic,
                received_at: DateTime::from_timestamp_millis(message.at_ms).unwrap(),
                payload: &message.payload,
                qos: 1,
                retain: false,
            })
            .collect();
        writer.write(&batch).await.unwrap();
    }
    // As the application's own fold would, a moment later.
    store.fold_rollup_deltas().await.unwrap();
}

/// Calls a server function as the page does: a same-origin form post.
async fn call(app: &TestApp, endpoint: &str, fields: &[(&str, &str)]) -> String {
    let response = app.post_form(&format!("/api/{endpoint}"), fields).await;
    assert_eq!(response.status, 200, "{endpoint}: {}", response.body);
    response.body
}

async fn history(app: &TestApp, topic: &str, range: HistoryRange) -> History {
    let body = call(
        app,
        "topic_history",
        &[("topic", topic), ("range", range.key())],
    )
    .await;
    serde_json::from_str::<Option<TopicHistory>>(&body)
        .unwrap()
        .expect("a readable topic has a history")
        .history
}

/// The history the page asks for when the address names no range: the fitted one.
async fn default_history(app: &TestApp, topic: &str) -> History {
    let body = call(app, "topic_history", &[("topic", topic)]).await;
    serde_json::from_str::<Option<TopicHistory>>(&body)
        .unwrap()
        .expect("a readable topic has a history")
        .history
}

/// The x coordinates (percent of the width) of the points of the chart's line in `html`.
fn line_xs(html: &str) -> Vec<f64> {
    let lines: Vec<&str> = all_between(html, "<path ", ">")
        .into_iter()
        .filter(|path| path.contains(r#"class="line""#))
        .collect();
    assert_eq!(lines.len(), 1, "one chart, one line: {html}");
    all_between(lines[0], r#"d=""#, "\"")[0]
        .split(['M', 'L'])
        .filter(|point| !point.trim().is_empty())
        .map(|point| point.trim().split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// Equal but perhaps for the last place: serde_json (without `float_roundtrip`) may read a
/// number of the server function's JSON answer one unit in the last place off.
fn same_value(read: f64, expected: f64) -> bool {
    read == expected
        || (read.signum() == expected.signum() && read.to_bits().abs_diff(expected.to_bits()) <= 1)
}

/// Text as a browser reads it from the page's HTML.
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `href` of the link of class `class` in `html`, as a browser would follow it.
fn link_of_class(html: &str, class: &str) -> Option<String> {
    html.split("<a ")
        .skip(1)
        .map(|tag| tag.split('>').next().unwrap())
        .find(|tag| tag.contains(&format!("class=\"{class}\"")))
        .map(|tag| unescape(all_between(tag, "href=\"", "\"")[0]))
}

/// The texts between each `start` and the next `end` in `text`.
fn all_between<'a>(text: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    text.split(start)
        .skip(1)
        .map(|rest| rest.split(end).next().unwrap())
        .collect()
}

#[tokio::test]
async fn history_comes_in_at_most_max_buckets_with_exact_figures_per_bucket() {
    let app = spawn_app().await;
    let topic = app.topic("plant/boiler/temp");
    let range = HistoryRange::Hour1;
    let bucket_ms = range.bucket_ms();
    let now_ms = Utc::now().timestamp_millis();
    let start_ms = now_ms - 58 * 60_000;

    let mut messages = Vec::new();
    let mut values: Vec<(i64, f64)> = Vec::new();
    for i in 0..20_000_i64 {
        // Every 174 ms over 58 minutes, then a message exactly on each of 40 bucket boundaries,
        // which belongs to the bucket it starts.
        let at_ms = if i < 19_960 {
            start_ms + i * 174
        } else {
            (start_ms / bucket_ms + 1 + (i - 19_960) * 10) * bucket_ms
        };
        let value = ((i * 37) % 1000) as f64 / 10.0 - 20.0;
        let payload = match i % 7 {
            // Not numbers: stored and listed, never charted.
            0 => b"offline".to_vec(),
            1 => format!(r#"{{"temperature": {value}, "unit": "C"}}"#).into_bytes(),
            _ => value.to_string().into_bytes(),
        };
        // As ingest reads it: serde_json may round a JSON number one unit in the last place away
        // from `value`, and the buckets are to aggregate what was stored.
        if let Some(stored) = numeric_value(&payload) {
            values.push((at_ms, stored));
        }
        messages.push(Stored {
            topic: topic.clone(),
            at_ms,
            payload,
        });
    }
    assert_eq!(
        values.len(),
        20_000 - 2_858,
        "all but every 7th are numbers"
    );
    store_all(&app, &messages).await;

    let history = history(&app, &topic, range).await;
    assert_eq!(history.bucket_ms, bucket_ms);
    // The range, from the start of its first bucket.
    assert_eq!(history.from_ms % bucket_ms, 0);
    let shown = history.to_ms - history.from_ms;
    assert!(shown >= range.span_ms() && shown < range.span_ms() + bucket_ms);
    let buckets = &history.buckets;
    assert!(
        buckets.len() as i64 <= MAX_BUCKETS && buckets.len() > 400,
        "{} buckets",
        buckets.len()
    );
    assert!(buckets.windows(2).all(|b| b[0].start_ms < b[1].start_ms));
    let mut counted = 0;
    for bucket in buckets {
        assert_eq!(bucket.start_ms % bucket_ms, 0, "aligned to the epoch");
        let inside: Vec<f64> = values
            .iter()
            .filter(|(at, _)| *at >= history.from_ms && *at < history.to_ms)
            .filter(|(at, _)| *at >= bucket.start_ms && *at < bucket.start_ms + bucket_ms)
            .map(|(_, value)| *value)
            .collect();
        let min = inside.iter().copied().fold(f64::INFINITY, f64::min);
        let max = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = inside.iter().sum::<f64>() / inside.len() as f64;
        assert_eq!(bucket.count, inside.len() as i64, "{bucket:?}");
        assert!(
            same_value(bucket.min, min) && same_value(bucket.max, max),
            "{bucket:?}: expected {min} to {max}"
        );
        assert!(
            (bucket.avg - avg).abs() < 1e-9,
            "{bucket:?}: expected {avg}"
        );
        counted += bucket.count;
    }
    assert_eq!(
        counted,
        values.len() as i64,
        "every numeric value is in a bucket"
    );
}

#[tokio::test]
async fn a_large_history_stored_before_rollups_is_charted_from_the_rows_then_from_its_rollups() {
    let app = spawn_app().await;
    let topic = app.topic("busy");
    // 200,000 values over the last 28 days, 1 to 200,000, straight into the tables, as a version
    // without rollups stored them; and the backfill not done, as the migration leaves it then.
    sqlx::query(
        "with t as (insert into topic (name) values ($1) returning id) \
         insert into message (topic_id, received_at, payload, kind, qos, retain, value) \
         select t.id, now() - g * interval '12 seconds', convert_to(g::text, 'UTF8'), 'json', \
                0, false, g \
         from t, generate_series(1, 200000) g",
    )
    .bind(&topic)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("update rollup_backfill set cutoff = now(), done_before = null, finished = null")
        .execute(&app.db)
        .await
        .unwrap();

    let check = |history: &History| {
        assert!(history.buckets.len() as i64 <= MAX_BUCKETS);
        assert!(
            history.buckets.len() as i64 > MIN_BUCKETS,
            "{}",
            history.buckets.len()
        );
        let count: i64 = history.buckets.iter().map(|b| b.count).sum();
        assert_eq!(count, 200_000);
        let min = history
            .buckets
            .iter()
            .map(|b| b.min)
            .fold(f64::INFINITY, f64::min);
        let max = history.buckets.iter().map(|b| b.max).fold(0.0, f64::max);
        assert_eq!((min, max), (1.0, 200_000.0));
        // Newest first in time means the smallest values are in the last bucket.
        assert!(history.buckets.last().unwrap().min < history.buckets[0].min);
    };
    // Not rolled up yet: the chart reads the rows, and misses nothing.
    let from_rows = history(&app, &topic, HistoryRange::Days30).await;
    check(&from_rows);

    // Rolled up as the background task does it, a day at a time: the same chart, from rollups.
    let store = Store::connect(&app.database_url, Duration::from_secs(10))
        .await
        .unwrap();
    while store.backfill_rollups_step().await.unwrap() != BackfillStep::AlreadyFinished {}
    let rolled: i64 = sqlx::query_scalar("select count(*) from value_rollup where level = 2")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(rolled > 600, "{rolled} hours rolled up");
    let from_rollups = history(&app, &topic, HistoryRange::Days30).await;
    check(&from_rollups);
    let figures = |history: &History| -> Vec<(i64, f64, f64, i64)> {
        history
            .buckets
            .iter()
            .map(|b| (b.start_ms, b.min, b.max, b.count))
            .collect()
    };
    assert_eq!(figures(&from_rollups), figures(&from_rows));
}

#[tokio::test]
async fn a_few_minutes_of_values_fill_the_default_chart_and_a_chosen_range_is_kept() {
    let app = spawn_app().await;
    let topic = app.topic("fresh/sensor");
    let now_ms = Utc::now().timestamp_millis();
    // Every 20 s from ten minutes ago to a minute ago, as on a fresh install.
    let messages: Vec<Stored> = (0..28)
        .map(|i| Stored {
            topic: topic.clone(),
            at_ms: now_ms - 10 * 60_000 + i * 20_000,
            payload: format!("{}", 20 + i % 5).into_bytes(),
        })
        .collect();
    store_all(&app, &messages).await;

    let fitted = default_history(&app, &topic).await;
    assert!(fitted.fitted);
    assert_eq!(fitted.range, HistoryRange::Minutes15);
    assert_eq!(
        fitted.buckets.len(),
        28,
        "2 s buckets keep every value apart"
    );

    // The page without a range: the data spread over more than half of the chart's width.
    let page = app.get(&topic_path(&topic)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let xs = line_xs(&page.body);
    assert_eq!(xs.len(), 28, "{xs:?}");
    let (left, right) = (xs[0], xs[27]);
    assert!(right - left > 50.0, "a vertical line: {xs:?}");
    assert!(
        right > 90.0,
        "the newest value, a minute ago, is near the right: {xs:?}"
    );
    assert!(
        page.body.contains(r#"aria-current="page">15 min</a>"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("smallest range"), "{}", page.body);

    // A range in the address is the visitor's: 24 h stays 24 h, however thin the data in it.
    let asked = history(&app, &topic, HistoryRange::Hours24).await;
    assert!(!asked.fitted);
    let page = app.get(&format!("{}?range=24h", topic_path(&topic))).await;
    let xs = line_xs(&page.body);
    assert!(xs.last().unwrap() - xs[0] < 2.0, "{xs:?}");
    assert!(
        page.body.contains(r#"aria-current="page">24 h</a>"#),
        "{}",
        page.body
    );

    // Silent for days: the default reaches back to its last values instead of an empty 24 h.
    let quiet = app.topic("quiet/sensor");
    // Both in one bucket of the week's range, so it is one value to chart.
    let bucket_ms = HistoryRange::Days7.bucket_ms();
    let bucket_start = (now_ms - 3 * 86_400_000).div_euclid(bucket_ms) * bucket_ms;
    store_all(
        &app,
        &[
            Stored {
                topic: quiet.clone(),
                at_ms: bucket_start + 1_000,
                payload: b"4.5".to_vec(),
            },
            Stored {
                topic: quiet.clone(),
                at_ms: bucket_start + 61_000,
                payload: b"5.5".to_vec(),
            },
        ],
    )
    .await;
    let quiet_history = default_history(&app, &quiet).await;
    assert_eq!(quiet_history.range, HistoryRange::Days7);
    assert_eq!(quiet_history.buckets.len(), 1, "{quiet_history:?}");
    // One bucket: a dot that says its value.
    let page = app.get(&topic_path(&quiet)).await;
    let body = unescape(&page.body);
    assert!(body.contains(r#"class="point""#), "{body}");
    assert!(body.contains(">5</text>"), "the bucket's average: {body}");
}

#[tokio::test]
async fn the_message_log_pages_through_every_message_once_both_ways() {
    let app = spawn_app().await;
    let topic = app.topic("door");
    let now_ms = Utc::now().timestamp_millis();
    // 137 messages a second apart, except for two groups that each share one millisecond
    // where a page ends (50 and 100 from the newest); and another topic's messages in between,
    // which the log leaves out.
    let at_of = |i: i64| {
        let second = match i {
            82..=91 => 82,
            33..=39 => 33,
            _ => i,
        };
        now_ms - 200_000 + second * 1000
    };
    let mut messages: Vec<Stored> = (0..137)
        .map(|i| Stored {
            topic: topic.clone(),
            at_ms: at_of(136 - i),
            payload: format!("m-{i:03}").into_bytes(),
        })
        .collect();
    messages.extend((0..20).map(|i| Stored {
        topic: app.topic("window"),
        at_ms: now_ms - 150_000 + i,
        payload: format!("other-{i}").into_bytes(),
    }));
    store_all(&app, &messages).await;
    let at_by_payload = |payload: &str| {
        messages
            .iter()
            .find(|m| m.payload == payload.as_bytes())
            .unwrap()
            .at_ms
    };

    let read_page = |path: String| {
        let app = &app;
        async move {
            let page = app.get(&path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.body);
            let rows: Vec<String> =
                all_between(&page.body, "class=\"payload-preview\"><code>", "<")
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
            (
                rows,
                link_of_class(&page.body, "older"),
                link_of_class(&page.body, "newer"),
            )
        }
    };

    let mut pages = Vec::new();
    let mut next = Some(topic_path(&topic));
    while let Some(path) = next {
        let (rows, older, newer) = read_page(path).await;
        assert_eq!(
            newer.is_some(),
            !pages.is_empty(),
            "a newer link except on the first"
        );
        pages.push(rows);
        next = older;
        assert!(pages.len() < 10, "the older links never end");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [50, 50, 37]);
    let all: Vec<&String> = pages.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 137, "every message once: {all:?}");
    assert!(all.iter().all(|row| row.starts_with("m-")), "{all:?}");
    let times: Vec<i64> = all.iter().map(|row| at_by_payload(row)).collect();
    assert!(
        times.windows(2).all(|t| t[0] >= t[1]),
        "newest first: {all:?}"
    );

    // Back from the last page, the newer links give the same pages in reverse.
    let last = {
        let mut path = topic_path(&topic);
        for _ in 1..pages.len() {
            path = read_page(path).await.1.unwrap();
        }
        path
    };
    let mut back = Vec::new();
    let mut next = Some(last);
    while let Some(path) = next {
        let (rows, _, newer) = read_page(path).await;
        back.push(rows);
        next = newer;
        assert!(back.len() < 10, "the newer links never end");
    }
    back.reverse();
    assert_eq!(back, pages);
}

#[tokio::test]
async fn a_viewer_gets_the_same_nothing_for_a_forbidden_topic_as_for_a_missing_one() {
    let app = spawn_app().await;
    app.restrict_viewers_to(&[&app.topic("public/#")]).await;
    let (public, secret, missing) = (
        app.topic("public/temp"),
        app.topic("secret/temp"),
        app.topic("secret/none"),
    );
    let now_ms = Utc::now().timestamp_millis();
    store_all(
        &app,
        &[
            Stored {
                topic: public.clone(),
                at_ms: now_ms,
                payload: b"20.5".to_vec(),
            },
            Stored {
                topic: secret.clone(),
                at_ms: now_ms,
                payload: b"73.25".to_vec(),
            },
        ],
    )
    .await;

    let page = app.get(&topic_path(&public)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("20.5"), "{}", page.body);

    // Nonces differ per response; nothing else may.
    let without_nonces = |body: &str| {
        let nonce = all_between(body, "nonce=\"", "\"")[0];
        body.replace(nonce, "NONCE")
    };
    let forbidden = app.get(&topic_path(&secret)).await;
    let absent = app.get(&topic_path(&missing)).await;
    assert_eq!((forbidden.status, absent.status), (404, 404));
    assert!(!forbidden.body.contains("73.25"), "{}", forbidden.body);
    assert!(!forbidden.body.contains("secret"), "{}", forbidden.body);
    assert_eq!(
        without_nonces(&forbidden.body),
        without_nonces(&absent.body)
    );

    for (endpoint, extra) in [
        ("topic_detail", None),
        ("topic_history", Some(("range", "24h"))),
        ("topic_messages", None),
    ] {
        let ask = |topic: &str| {
            let mut fields = vec![("topic", topic.to_owned())];
            fields.extend(extra.map(|(k, v)| (k, v.to_owned())));
            let app = &app;
            async move {
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                call(app, endpoint, &fields).await
            }
        };
        let (forbidden, absent) = (ask(&secret).await, ask(&missing).await);
        assert_eq!(forbidden, "null", "{endpoint}");
        assert_eq!(absent, "null", "{endpoint}");
        assert_ne!(ask(&public).await, "null", "{endpoint}");
    }
}

#[tokio::test]
async fn the_page_shows_the_value_and_its_chart_without_javascript() {
    let app = spawn_app().await;
    // A name that needs every kind of encoding a path can need.
    let json = app.topic("hall/Ofen 50%41 °C");
    let (text, binary) = (app.topic("door"), app.topic("cam/frame"));
    let frame: Vec<u8> = [0xde, 0xad, 0xbe, 0xef, 0x00].repeat(10);
    publish(&[
        (
            &json,
            br#"{"temp": 21.5, "unit": "C"}"#,
            QoS::AtLeastOnce,
            false,
        ),
        (&text, b"open", QoS::AtLeastOnce, false),
        (&binary, &frame, QoS::AtMostOnce, false),
    ])
    .await;
    app.wait_for_stored(3).await;
    publish(&[(
        &json,
        br#"{"temp": 22.75, "unit": "C"}"#,
        QoS::AtLeastOnce,
        false,
    )])
    .await;
    app.wait_for_stored(4).await;

    // The list links each topic to its page.
    let list = app.get("/").await;
    let href = topic_path(&json);
    assert!(
        list.body
            .contains(&format!(r#"href="{href}" rel="external""#)),
        "{}",
        list.body
    );
    assert!(list
        .body
        .contains(&format!(r#"href="{}""#, topic_path(&text))));

    let page = app.get(&href).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = unescape(&page.body);
    assert!(
        body.contains(&format!("<h1><code>{json}</code></h1>")),
        "{body}"
    );
    assert!(
        body.contains("{\n  \"temp\": 22.75,\n  \"unit\": \"C\"\n}"),
        "pretty-printed JSON: {body}"
    );
    assert_eq!(all_between(&body, "class=\"kind\">", "<"), ["json"]);
    assert_eq!(all_between(&body, "class=\"qos\">", "<"), ["1"]);
    assert_eq!(all_between(&body, "class=\"retain\">", "<"), ["no"]);
    assert_eq!(all_between(&body, "class=\"count\">", "<"), ["2"]);
    let chart = all_between(&body, "<figure class=\"chart\">", "</figure>");
    assert_eq!(chart.len(), 1, "{body}");
    assert!(chart[0].contains(r#"role="img""#), "{}", chart[0]);
    assert!(
        chart[0].contains("2 numeric values") && chart[0].contains("maximum 22.75"),
        "{}",
        chart[0]
    );
    // Two values a moment apart: in one bucket a dot, in two a line.
    let paths = all_between(chart[0], "<path ", ">");
    assert!(
        paths
            .iter()
            .any(|path| path.contains(r#"class="line""#) && path.contains(r#"d="M"#))
            || chart[0].contains(r#"class="point""#),
        "{}",
        chart[0]
    );
    // Seconds of values: the default range is the smallest, and the page says so.
    assert!(body.contains(r#"aria-current="page">15 min</a>"#), "{body}");
    assert_eq!(
        all_between(&body, "class=\"payload-preview\"><code>", "<").len(),
        2
    );

    let page = app.get(&topic_path(&text)).await;
    assert!(
        page.body.contains("No numeric values to chart"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<svg"));
    assert!(page
        .body
        .contains(r#"<pre class="payload text">open</pre>"#));

    let page = app.get(&topic_path(&binary)).await;
    assert!(page.body.contains("binary, 50 bytes"), "{}", page.body);
    assert!(page.body.contains("de ad be ef 00 de ad"), "{}", page.body);
}
