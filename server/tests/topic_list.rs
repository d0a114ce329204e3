//! The overview's topic list against the real database, broker and application: the access rules
//! apply inside the query (a viewer with narrow rules among many topics sees theirs, not an
//! empty first page), pages follow each other without gaps or repeats, and the query's reading
//! of MQTT filters is exactly the access policy's.

mod support;

use app::domain::topic_filter::TopicFilter;
use app::server::store::topics::{filters_pattern, TopicWalk};
use app::server::store::Store;
use lookout::config::Settings;
use lookout::startup::Application;
use std::collections::BTreeSet;
use std::time::Duration;
use support::services::TestBroker;
use support::{
    publish_all, spawn_app_via, test_environment, unique_name, wait_for_distinct_payloads, TestApp,
};

/// An app on a broker of its own, whose queues hold a burst of 2,000 messages (the shared broker
/// keeps Mosquitto's default of 1,000 queued per session, and Lookout acknowledges a message only
/// once it is stored).
async fn spawn_with_broker() -> (TestApp, TestBroker) {
    let broker = TestBroker::start().await;
    (spawn_app_via(&broker.url(), |_| {}).await, broker)
}

/// A second instance on `app`'s database, signed in with `app`'s session (sessions live in
/// PostgreSQL). Its live ring is empty: everything it lists comes from the database, as after a
/// restart, or for topics whose messages the ring has long forgotten.
async fn fresh_instance(app: &TestApp, broker: &TestBroker) -> TestApp {
    let client_id = unique_name("lookout");
    let vars = test_environment(
        &app.database_url,
        &broker.url(),
        &client_id,
        &app.prefix,
        &[],
    );
    let settings = Settings::load_from(None, |name| vars.get(name).cloned()).unwrap();
    let instance = Application::build(settings)
        .await
        .expect("the instance starts");
    let port = instance.port();
    let metrics_port = instance.metrics_port();
    tokio::spawn(instance.run_until_stopped());
    TestApp {
        port,
        metrics_port,
        db: app.db.clone(),
        cookie: std::sync::Mutex::new(app.session()),
        origin: format!("http://127.0.0.1:{port}"),
        prefix: app.prefix.clone(),
        database_url: app.database_url.clone(),
        client_id,
    }
}

/// Publishes one message to each of `names` and waits until all are stored. Every payload is
/// unique, as `wait_for_distinct_payloads` counts payloads.
async fn publish_topics(app: &TestApp, broker: &TestBroker, names: &[String]) {
    let messages: Vec<(String, Vec<u8>)> = names
        .iter()
        .enumerate()
        .map(|(index, name)| (name.clone(), format!("value {index}").into_bytes()))
        .collect();
    publish_all(&broker.url(), &messages).await;
    // Each new topic costs the writer a row of its own; a debug build on a busy machine takes a
    // while over 2,000 of them.
    let patience = Duration::from_secs(180);
    wait_for_distinct_payloads(&app.db, names.len() as i64, patience).await;
}

/// The names of a page of `/api/topic_list`, and the page.
async fn api_page(app: &TestApp, fields: &[(&str, &str)]) -> (Vec<String>, serde_json::Value) {
    let response = app.post_form("/api/topic_list", fields).await;
    assert_eq!(response.status, 200, "{}", response.head);
    let page: serde_json::Value = serde_json::from_str(&response.body).expect(&response.body);
    let names = page["list"]["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|topic| topic["name"].as_str().unwrap().to_owned())
        .collect();
    (names, page)
}

/// The topic names in the overview's table, as the server rendered it.
fn rendered_topics(html: &str) -> Vec<String> {
    html.split(r#"<th scope="row" class="topic">"#)
        .skip(1)
        .map(|row| {
            let link = &row[row.find('>').unwrap() + 1..];
            link[..link.find("</a>").unwrap()].to_owned()
        })
        .collect()
}

/// The `href` of the link with `class` on a rendered page.
fn link(html: &str, class: &str) -> Option<String> {
    html.split("<a ").skip(1).find_map(|tag| {
        let tag = &tag[..tag.find('>')?];
        if !tag.contains(&format!(r#"class="{class}""#)) {
            return None;
        }
        let href = &tag[tag.find(r#"href=""#)? + 6..];
        Some(href[..href.find('"')?].replace("&amp;", "&"))
    })
}

#[tokio::test]
async fn a_viewer_whose_rules_allow_three_topics_among_two_thousand_sees_exactly_those_three() {
    let (app, broker) = spawn_with_broker().await;
    let readable = [
        app.topic("z/exact"),
        app.topic("z/plus/one/x"),
        app.topic("z/hash/deep/er"),
    ];
    // Near misses of each filter, then filler that sorts before them all: the old list took the
    // first 500 names and then applied the rules, and showed this viewer nothing.
    let mut names: Vec<String> = [
        "z/exact/more",
        "z/exacT",
        "z/plus/one/two/x",
        "z/plus/one/xx",
        "z/hashy",
        "z/has",
    ]
    .iter()
    .map(|name| app.topic(name))
    .chain(readable.iter().cloned())
    .collect();
    names.extend((0..2000 - names.len()).map(|index| app.topic(&format!("a/{index:04}"))));
    publish_topics(&app, &broker, &names).await;
    app.restrict_viewers_to(&[
        &app.topic("z/exact"),
        &app.topic("z/plus/+/x"),
        &app.topic("z/hash/#"),
    ])
    .await;

    let mut expected = readable.to_vec();
    expected.sort();
    // From the database alone, and with the messages still in the live ring, whose topics
    // must obey the rules too.
    for app in [&fresh_instance(&app, &broker).await, &app] {
        let (names, page) = api_page(app, &[]).await;
        assert_eq!(names, expected);
        assert_eq!(page["end"], "Unbounded", "one page: {page}");
        let html = app.get("/").await.body;
        assert_eq!(rendered_topics(&html), expected, "{html}");
        assert!(html.contains("3 topics"), "{html}");
        assert!(link(&html, "next").is_none(), "{html}");
    }
}

/// Walks the overview's pages forwards through the plain links, as a browser without JavaScript
/// follows them, then back; checks they list `readable` once, in order. Returns each page's
/// address and topics.
async fn walk_pages(app: &TestApp, readable: &[String]) -> Vec<(String, Vec<String>)> {
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut next = Some("/".to_owned());
    while let Some(href) = next {
        let page = app.get(&href).await;
        assert_eq!(page.status, 200, "{href}: {}", page.head);
        let topics = rendered_topics(&page.body);
        assert!(topics.len() <= 500, "{href}: {} topics", topics.len());
        seen.extend(topics.iter().cloned());
        pages.push((href, topics));
        next = link(&page.body, "next");
        assert!(pages.len() <= 10, "the links go round in circles");
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(seen, readable, "every readable topic once, in name order");
    assert!(link(&app.get("/").await.body, "previous").is_none());

    // Backwards from the last page, the same pages again.
    let mut previous = link(&app.get(&pages[2].0).await.body, "previous");
    for (_, topics) in pages[..2].iter().rev() {
        let href = previous.expect("a link to the page before");
        let page = app.get(&href).await.body;
        assert_eq!(&rendered_topics(&page), topics, "{href}");
        previous = link(&page, "previous");
    }
    assert_eq!(previous, None, "the first page has none before it");

    pages
}

#[tokio::test]
async fn paging_returns_every_readable_topic_once() {
    let (app, broker) = spawn_with_broker().await;
    let readable: Vec<String> = (0..1200)
        .map(|index| app.topic(&format!("open/{index:04}")))
        .collect();
    let mut names = readable.clone();
    // Unreadable topics sorted between and around the readable ones.
    names.extend((0..800).map(|index| app.topic(&format!("open{index:03}/closed"))));
    publish_topics(&app, &broker, &names).await;
    app.restrict_viewers_to(&[&app.topic("open/#")]).await;

    // With the messages still in the live ring (which must keep each topic to its page), and
    // from the database alone.
    let pages = walk_pages(&app, &readable).await;
    assert_eq!(
        walk_pages(&fresh_instance(&app, &broker).await, &readable).await,
        pages
    );

    // The server function pages the same way; a stale cursor past the end is an empty page,
    // and one past the start gives the first page.
    let (first, _) = api_page(&app, &[]).await;
    assert_eq!(first, pages[0].1);
    let (after_last, page) = api_page(&app, &[("after", &app.topic("open/9999"))]).await;
    assert!(after_last.is_empty(), "{page}");
    let (before_first, _) = api_page(&app, &[("before", &app.topic("open/"))]).await;
    assert_eq!(before_first, pages[0].1);
    let response = app
        .post_form("/api/topic_list", &[("after", &"a".repeat(1025))])
        .await;
    assert_ne!(
        response.status, 200,
        "a cursor longer than any topic: {}",
        response.head
    );
}

/// Names that stress both the MQTT rules and regular expressions.
const TOPICS: &[&str] = &[
    "a", "a/b", "a/b/c", "a//b", "a/", "/", "/a", "//", "$SYS/x", "$SYS", "$a/b", "b/$x", "a.b",
    "aXb", "a*b", "a(b)", "a[b]", "a\\b", "a\\d", "a^b$", "a|b", "a?b", "a{2}", "aa", "a b", "é/ü",
    "日本/x", "a\nb", "a\u{7}b", "A/B", "a/bc", "ab/c", "a/b/c/d", ".", "..",
];

const FILTERS: &[&str] = &[
    "#", "+", "+/#", "a/#", "a/+", "a/+/c", "a//b", "/+", "+/+", "+/", "$SYS/#", "$SYS/+", "+/$x",
    "a.b", "a*b", "a(b)", "a[b]", "a\\b", "a\\d", "a^b$", "a|b", "a?b", "a{2}", "a b", "é/#",
    "a\nb", "a\u{7}b", "a/b/#", "+/b/+", "a/b/c/#", "a", ".", "//",
];

#[tokio::test]
async fn the_query_selects_exactly_what_the_access_policy_reads() {
    let store = Store::connect(&support::fresh_database().await, Duration::from_secs(10))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    for name in TOPICS {
        sqlx::query(
            "with t as (insert into topic (name) values ($1) returning id) \
             insert into latest (topic_id, received_at, payload, kind, qos, retain) \
             select id, now(), '\\x00', 'binary', 0, false from t",
        )
        .bind(name)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let selected = |filters: Vec<TopicFilter>| {
        let store = store.clone();
        async move {
            let rows = store
                .latest_topics(Some(&filters), TopicWalk::First, 1000)
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", filters_pattern(&filters)));
            rows.into_iter()
                .map(|row| row.name)
                .collect::<BTreeSet<String>>()
        }
    };
    let parse = |text: &str| TopicFilter::parse(text).unwrap();
    for filter in FILTERS {
        let expected: BTreeSet<String> = TOPICS
            .iter()
            .filter(|topic| parse(filter).matches(topic))
            .map(|topic| topic.to_string())
            .collect();
        let got = selected(vec![parse(filter)]).await;
        assert_eq!(
            got,
            expected,
            "{filter:?} as {}",
            filters_pattern(&[parse(filter)])
        );
    }
    // Several filters in one expression select what any of them selects.
    for pair in FILTERS.windows(3) {
        let filters: Vec<TopicFilter> = pair.iter().map(|text| parse(text)).collect();
        let expected: BTreeSet<String> = TOPICS
            .iter()
            .filter(|topic| filters.iter().any(|filter| filter.matches(topic)))
            .map(|topic| topic.to_string())
            .collect();
        assert_eq!(selected(filters).await, expected, "{pair:?}");
    }
    assert!(
        selected(Vec::new()).await.is_empty(),
        "no filters, no topics"
    );

    // The walk goes by bytes, whatever the database's collation, and picks up after a cursor.
    let every = store
        .latest_topics(None, TopicWalk::First, 1000)
        .await
        .unwrap();
    let mut sorted: Vec<&str> = TOPICS.to_vec();
    sorted.sort();
    let names: Vec<&str> = every.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names, sorted);
    let after = store
        .latest_topics(None, TopicWalk::After("a/b"), 3)
        .await
        .unwrap();
    let before = store
        .latest_topics(None, TopicWalk::Before("a/b"), 3)
        .await
        .unwrap();
    let at = sorted.iter().position(|name| *name == "a/b").unwrap();
    let names = |rows: &[app::domain::topic_list::TopicLatest]| -> Vec<String> {
        rows.iter().map(|row| row.name.clone()).collect()
    };
    assert_eq!(names(&after), sorted[at + 1..at + 4]);
    let mut expected_before = sorted[at - 3..at].to_vec();
    expected_before.reverse();
    assert_eq!(names(&before), expected_before);
}
