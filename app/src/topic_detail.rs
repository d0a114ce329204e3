//! The topic detail page, `/topic/<name>`: the latest value, a history chart downsampled by
//! PostgreSQL, and the raw message log paged by keyset. Each part has its own server function,
//! and each answers alike for a topic that does not exist and one the visitor may not read, so
//! neither the page nor the functions tell the two apart.

use crate::chart::HistoryChart;
use crate::live::{use_live_stream, LiveMessage, StreamOptions};
use crate::pages::{LoadError, NotFound, PageClock};
use crate::payload::{self, PayloadKind};
use crate::topics::format_utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};
use serde::{Deserialize, Serialize};
use std::fmt::{self, Write};
use std::str::FromStr;

/// The path of a topic's page: each level percent-encoded, levels joined by `/`. A `/` next to
/// an empty, `.` or `..` level is encoded too (`%2F`): URL parsers would otherwise merge double
/// slashes or resolve dot segments and so open another topic.
pub fn topic_path(name: &str) -> String {
    let plain = |level: &str| !matches!(level, "" | "." | "..");
    let mut path = String::from("/topic/");
    let mut previous: Option<&str> = None;
    for level in name.split('/') {
        if let Some(previous) = previous {
            path.push_str(if plain(previous) && plain(level) {
                "/"
            } else {
                "%2F"
            });
        }
        for byte in level.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                path.push(char::from(byte));
            } else {
                let _ = write!(path, "%{byte:02X}");
            }
        }
        previous = Some(level);
    }
    path
}

/// The topic of a page path, [`topic_path`] undone. Pages read it from the location rather than
/// from the route's params: leptos_router 0.8 percent-decodes params once more than the path was
/// encoded, which changes names holding `%` (`50%41` would become `50A`).
pub fn topic_of_path(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/topic/")?.as_bytes();
    let hex = |byte: Option<&u8>| byte.and_then(|b| char::from(*b).to_digit(16));
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut index = 0;
    while index < encoded.len() {
        match (
            encoded[index],
            hex(encoded.get(index + 1)),
            hex(encoded.get(index + 2)),
        ) {
            (b'%', Some(high), Some(low)) => {
                bytes.push((high * 16 + low) as u8);
                index += 3;
            }
            (byte, _, _) => {
                bytes.push(byte);
                index += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `rel` for links to a topic's page. In the browser, leptos_router decodes a followed link's
/// path once more than the server does, which changes names holding `%`, `\` or control
/// characters (`a%41` would open `aA`); such links load the page from the server instead.
pub fn topic_link_rel(name: &str) -> Option<&'static str> {
    name.chars()
        .any(|c| c == '%' || c == '\\' || c.is_control())
        .then_some("external")
}

/// The newest message of a topic as the page shows it. The fields are those of the live
/// stream's `message` event (docs/live.md), so an event deserializes into this type as it is and
/// can replace the snapshot in the page's signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatestMessage {
    pub topic: String,
    pub at_ms: i64,
    pub kind: PayloadKind,
    /// The whole payload's size in bytes.
    pub size: i64,
    /// Text and JSON: the payload as text, up to [`payload::SHOWN_PAYLOAD_BYTES`]. Binary: empty.
    pub payload: String,
    /// `payload` holds only the start of the payload.
    pub truncated: bool,
    pub value: Option<f64>,
    pub retain: bool,
    pub qos: u8,
    /// Binary only: the first bytes in hex. The database has them; the live stream does not.
    #[serde(default)]
    pub head_hex: Option<String>,
}

impl LatestMessage {
    /// The payload fields from a stored payload's first bytes (`prefix`) and its full size; the
    /// other fields are for the caller to fill in.
    pub fn from_stored(
        topic: String,
        at_ms: i64,
        kind: PayloadKind,
        prefix: &[u8],
        size: i64,
    ) -> Self {
        let (payload, head_hex) = match kind {
            PayloadKind::Binary => {
                let head = &prefix[..prefix.len().min(payload::SHOWN_BINARY_BYTES)];
                (String::new(), Some(payload::hex(head)))
            }
            PayloadKind::Text | PayloadKind::Json => (
                payload::text_of_prefix(prefix)
                    .unwrap_or_default()
                    .to_owned(),
                None,
            ),
        };
        Self {
            truncated: kind != PayloadKind::Binary && (payload.len() as i64) < size,
            topic,
            at_ms,
            kind,
            size,
            payload,
            value: None,
            retain: false,
            qos: 0,
            head_hex,
        }
    }
}

impl From<&LiveMessage> for LatestMessage {
    fn from(message: &LiveMessage) -> Self {
        Self {
            topic: message.topic.clone(),
            at_ms: message.at_ms,
            kind: message.kind,
            size: message.size as i64,
            payload: message.payload.clone(),
            truncated: message.truncated,
            value: message.value,
            retain: message.retain,
            qos: message.qos,
            head_hex: None,
        }
    }
}

/// What the page starts from: the latest message and how many the topic has had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicDetail {
    pub latest: LatestMessage,
    pub message_count: i64,
    pub server_now_ms: i64,
}

/// The time ranges the chart offers, as the `range` query parameter spells them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HistoryRange {
    #[serde(rename = "15m")]
    Minutes15,
    #[serde(rename = "1h")]
    Hour1,
    #[serde(rename = "6h")]
    Hours6,
    #[default]
    #[serde(rename = "24h")]
    Hours24,
    #[serde(rename = "7d")]
    Days7,
    #[serde(rename = "30d")]
    Days30,
}

/// At most this many buckets come back per chart, whatever the number of stored values: about
/// one per two pixels of the chart's width, which is all a chart can show.
pub const MAX_BUCKETS: i64 = 500;

impl HistoryRange {
    pub const ALL: [HistoryRange; 6] = [
        HistoryRange::Minutes15,
        HistoryRange::Hour1,
        HistoryRange::Hours6,
        HistoryRange::Hours24,
        HistoryRange::Days7,
        HistoryRange::Days30,
    ];

    pub fn key(self) -> &'static str {
        match self {
            HistoryRange::Minutes15 => "15m",
            HistoryRange::Hour1 => "1h",
            HistoryRange::Hours6 => "6h",
            HistoryRange::Hours24 => "24h",
            HistoryRange::Days7 => "7d",
            HistoryRange::Days30 => "30d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            HistoryRange::Minutes15 => "15 min",
            HistoryRange::Hour1 => "1 h",
            HistoryRange::Hours6 => "6 h",
            HistoryRange::Hours24 => "24 h",
            HistoryRange::Days7 => "7 d",
            HistoryRange::Days30 => "30 d",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|range| range.key() == key)
    }

    pub fn span_ms(self) -> i64 {
        const MINUTE: i64 = 60_000;
        match self {
            HistoryRange::Minutes15 => 15 * MINUTE,
            HistoryRange::Hour1 => 60 * MINUTE,
            HistoryRange::Hours6 => 6 * 60 * MINUTE,
            HistoryRange::Hours24 => 24 * 60 * MINUTE,
            HistoryRange::Days7 => 7 * 24 * 60 * MINUTE,
            HistoryRange::Days30 => 30 * 24 * 60 * MINUTE,
        }
    }

    /// The width of one bucket, in whole seconds. Buckets are aligned to the Unix epoch rather
    /// than to the range's start, so a reload draws the same buckets; a range then overlaps one
    /// bucket more than it spans, hence `MAX_BUCKETS - 1`.
    pub fn bucket_ms(self) -> i64 {
        let per_bucket = (self.span_ms() as u64).div_ceil(MAX_BUCKETS as u64 - 1);
        (per_bucket.div_ceil(1000) * 1000) as i64
    }
}

/// The numeric values of one time bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueBucket {
    pub start_ms: i64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: i64,
}

/// A topic's numeric values over a range, in buckets of `bucket_ms` from the oldest; buckets
/// without values are left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub range: HistoryRange,
    /// The range: values received at or after `from_ms` and before `to_ms`.
    pub from_ms: i64,
    pub to_ms: i64,
    pub bucket_ms: i64,
    pub buckets: Vec<ValueBucket>,
}

/// A message's place in the log's order (newest first: receive time, then its row in the
/// table), so a page can start right after it. Written `<unix µs>.<block>.<row>`; the row is
/// PostgreSQL's `ctid`, which sets apart messages received in the same microsecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogPosition {
    pub at_us: i64,
    pub block: u32,
    pub row: u16,
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.at_us, self.block, self.row)
    }
}

impl FromStr for LogPosition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not a log position: {text:?}");
        let mut parts = text.split('.');
        let (Some(at_us), Some(block), Some(row), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Self {
            at_us: at_us.parse().map_err(|_| bad())?,
            block: block.parse().map_err(|_| bad())?,
            row: row.parse().map_err(|_| bad())?,
        })
    }
}

impl TryFrom<String> for LogPosition {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<LogPosition> for String {
    fn from(position: LogPosition) -> Self {
        position.to_string()
    }
}

/// Which page of the log: the newest, or the one just older or just newer than a position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LogPage {
    #[default]
    Newest,
    Before(LogPosition),
    After(LogPosition),
}

impl LogPage {
    /// From the `before` / `after` query parameters; anything unreadable means the newest page.
    fn from_query(before: Option<String>, after: Option<String>) -> Self {
        let parse = |text: Option<String>| text.and_then(|text| text.parse().ok());
        Self::from_positions(parse(before), parse(after))
    }

    fn from_positions(before: Option<LogPosition>, after: Option<LogPosition>) -> Self {
        match (before, after) {
            (Some(position), _) => LogPage::Before(position),
            (None, Some(position)) => LogPage::After(position),
            (None, None) => LogPage::Newest,
        }
    }

    /// As [`load_topic_messages`] takes it.
    fn positions(self) -> (Option<LogPosition>, Option<LogPosition>) {
        match self {
            LogPage::Newest => (None, None),
            LogPage::Before(position) => (Some(position), None),
            LogPage::After(position) => (None, Some(position)),
        }
    }
}

/// How many messages a page of the log shows.
pub const LOG_PAGE_SIZE: i64 = 50;

/// One message in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at_ms: i64,
    pub preview: String,
    pub position: LogPosition,
}

/// A page of the log, newest first, with where the neighbouring pages start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessagePage {
    pub entries: Vec<LogEntry>,
    /// Older messages exist: the next page starts before this position.
    pub older: Option<LogPosition>,
    /// Newer messages exist: the previous page starts after this position.
    pub newer: Option<LogPosition>,
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::state::AppState;
    use leptos::prelude::*;

    pub fn state() -> Result<AppState, ServerFnError> {
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("application state is missing"))
    }

    pub fn unavailable(error: sqlx::Error) -> ServerFnError {
        // The cause is for the log; the visitor gets no database details.
        tracing::error!(error = ?error, "reading a topic's details failed");
        ServerFnError::new("this topic is unavailable right now")
    }

    /// The id of `topic` when it exists and the visitor may read it; `None` alike when it does
    /// not exist and when it is not theirs to read.
    pub async fn readable_topic(
        state: &AppState,
        topic: &str,
    ) -> Result<Option<i64>, ServerFnError> {
        let visitor = crate::access::current_visitor();
        let rules = state.access.rules().await.map_err(unavailable)?;
        if !rules.may_read(&visitor, topic) {
            return Ok(None);
        }
        state.store.topic_id(topic).await.map_err(unavailable)
    }
}

/// The latest message of `topic` and its message count; `None` for a topic that does not exist
/// or that the visitor may not read.
#[server(endpoint = "topic_detail", output = crate::answer::JsonAnswer)]
pub async fn load_topic_detail(topic: String) -> Result<Option<TopicDetail>, ServerFnError> {
    let state = ssr::state()?;
    let Some(id) = ssr::readable_topic(&state, &topic).await? else {
        return Ok(None);
    };
    let latest = state
        .store
        .topic_latest(id)
        .await
        .map_err(ssr::unavailable)?;
    Ok(latest.map(|(latest, message_count)| TopicDetail {
        latest,
        message_count,
        server_now_ms: chrono::Utc::now().timestamp_millis(),
    }))
}

/// The numeric values of `topic` over `range` up to now, in at most [`MAX_BUCKETS`] buckets;
/// `None` as for [`load_topic_detail`].
#[server(endpoint = "topic_history", output = crate::answer::JsonAnswer)]
pub async fn load_topic_history(
    topic: String,
    range: HistoryRange,
) -> Result<Option<History>, ServerFnError> {
    let state = ssr::state()?;
    let Some(id) = ssr::readable_topic(&state, &topic).await? else {
        return Ok(None);
    };
    // Whole milliseconds, so the bounds sent back are exactly those queried.
    let to_ms = chrono::Utc::now().timestamp_millis();
    let from_ms = to_ms - range.span_ms();
    let at = |ms| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let buckets = state
        .store
        .value_buckets(id, at(from_ms), at(to_ms), range.bucket_ms())
        .await
        .map_err(ssr::unavailable)?;
    Ok(Some(History {
        range,
        from_ms,
        to_ms,
        bucket_ms: range.bucket_ms(),
        buckets,
    }))
}

/// A page of `topic`'s messages, newest first: the newest page, or the one before or after a
/// position; `None` as for [`load_topic_detail`].
#[server(endpoint = "topic_messages", output = crate::answer::JsonAnswer)]
pub async fn load_topic_messages(
    topic: String,
    before: Option<LogPosition>,
    after: Option<LogPosition>,
) -> Result<Option<MessagePage>, ServerFnError> {
    let state = ssr::state()?;
    let Some(id) = ssr::readable_topic(&state, &topic).await? else {
        return Ok(None);
    };
    state
        .store
        .message_page(id, LogPage::from_positions(before, after), LOG_PAGE_SIZE)
        .await
        .map(Some)
        .map_err(ssr::unavailable)
}

/// A link to this page with another range or log page; the default range is left out.
fn detail_href(topic: &str, range: HistoryRange, log: LogPage) -> String {
    let mut query = Vec::new();
    if range != HistoryRange::default() {
        query.push(format!("range={}", range.key()));
    }
    match log {
        LogPage::Newest => {}
        LogPage::Before(position) => query.push(format!("before={position}")),
        LogPage::After(position) => query.push(format!("after={position}")),
    }
    let mut href = topic_path(topic);
    if !query.is_empty() {
        href.push('?');
        href.push_str(&query.join("&"));
    }
    href
}

/// `/topic/<name>`: everything about one topic, or the plain 404 page.
#[component]
pub fn TopicPage() -> impl IntoView {
    let location = use_location();
    let query = use_query_map();
    let topic = Memo::new(move |_| topic_of_path(&location.pathname.read()).unwrap_or_default());
    let range = Memo::new(move |_| {
        query
            .read()
            .get("range")
            .and_then(|key| HistoryRange::from_key(&key))
            .unwrap_or_default()
    });
    let log = Memo::new(move |_| {
        let query = query.read();
        LogPage::from_query(query.get("before"), query.get("after"))
    });
    // Three requests at once, not one after another.
    let detail = Resource::new(move || topic.get(), load_topic_detail);
    let history = Resource::new(
        move || (topic.get(), range.get()),
        |(topic, range)| load_topic_history(topic, range),
    );
    let messages = Resource::new(
        move || (topic.get(), log.get()),
        |(topic, log)| {
            let (before, after) = log.positions();
            load_topic_messages(topic, before, after)
        },
    );

    view! {
        <Suspense fallback=|| view! { <main><p>"Loading…"</p></main> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(Some(detail)) => {
                        view! { <TopicView detail range log history messages/> }.into_any()
                    }
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(error) => {
                        view! {
                            <main>
                                <LoadError error/>
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

type Loaded<T> = Resource<Result<Option<T>, ServerFnError>>;

#[component]
fn TopicView(
    detail: TopicDetail,
    range: Memo<HistoryRange>,
    log: Memo<LogPage>,
    history: Loaded<History>,
    messages: Loaded<MessagePage>,
) -> impl IntoView {
    let clock = PageClock::start();
    let age_of = clock.age_from(detail.server_now_ms);
    let name = detail.latest.topic.clone();
    let latest = RwSignal::new(detail.latest);
    let message_count = RwSignal::new(detail.message_count);
    // Live: the newest message takes the value's place, and every message counts (a resync
    // fetches both again).
    let stream = use_live_stream(
        StreamOptions::following([name.clone()]),
        move |batch| {
            if let Some(newest) = batch.iter().max_by_key(|message| message.at_ms) {
                if newest.at_ms > latest.with_untracked(|latest| latest.at_ms) {
                    latest.set(LatestMessage::from(newest));
                }
            }
            let arrived: i64 = batch.iter().map(|m| 1 + m.replaced as i64).sum();
            message_count.update(|count| *count += arrived);
        },
        {
            let name = name.clone();
            move || {
                let name = name.clone();
                leptos::task::spawn_local(async move {
                    if let Ok(Some(fresh)) = load_topic_detail(name).await {
                        latest.set(fresh.latest);
                        message_count.set(fresh.message_count);
                    }
                });
            }
        },
    );

    let range_links = {
        let name = name.clone();
        move || {
            HistoryRange::ALL
                .into_iter()
                .map(|choice| {
                    view! {
                        <a
                            href=detail_href(&name, choice, log.get())
                            rel=topic_link_rel(&name)
                            aria-current=(choice == range.get()).then_some("page")
                        >
                            {choice.label()}
                        </a>
                    }
                })
                .collect_view()
        }
    };
    let chart_name = name.clone();
    let log_name = name.clone();

    view! {
        <Title text=format!("{name} · Lookout")/>
        <main class="topic-detail" data-hydrated=move || clock.hydrated.get().to_string()>
            <h1><code>{name.clone()}</code></h1>
            <p class="live-state" data-state=move || stream.get().label()>
                {move || stream.get().label()}
            </p>
            <LatestValue latest=latest.into() message_count=message_count.into() age_of/>
            <section class="history" aria-labelledby="history-heading">
                <h2 id="history-heading">"History"</h2>
                <nav class="ranges" aria-label="Time range">{range_links}</nav>
                <Suspense fallback=|| view! { <p>"Loading the history…"</p> }>
                    {move || {
                        let name = chart_name.clone();
                        Suspend::new(async move {
                            match history.await {
                                Ok(Some(history)) if history.buckets.is_empty() => {
                                    view! {
                                        <p class="empty">
                                            {format!(
                                                "No numeric values to chart in the last {}.",
                                                history.range.label(),
                                            )}
                                        </p>
                                    }
                                        .into_any()
                                }
                                Ok(Some(history)) => {
                                    view! { <HistoryChart history topic=name/> }.into_any()
                                }
                                Ok(None) => ().into_any(),
                                Err(error) => {
                                    view! { <LoadError error/> }
                                        .into_any()
                                }
                            }
                        })
                    }}
                </Suspense>
            </section>
            <section class="log" aria-labelledby="log-heading">
                <h2 id="log-heading">"Messages"</h2>
                <Suspense fallback=|| view! { <p>"Loading messages…"</p> }>
                    {move || {
                        let name = log_name.clone();
                        Suspend::new(async move {
                            match messages.await {
                                Ok(Some(page)) => {
                                    view! { <MessageLog page topic=name range=range.get()/> }
                                        .into_any()
                                }
                                Ok(None) => ().into_any(),
                                Err(error) => {
                                    view! { <LoadError error/> }
                                        .into_any()
                                }
                            }
                        })
                    }}
                </Suspense>
            </section>
        </main>
    }
}

/// The newest message: when, how, and its payload in full (up to the shown size).
#[component]
fn LatestValue(
    latest: Signal<LatestMessage>,
    message_count: Signal<i64>,
    age_of: impl Fn(i64) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let at_ms = move || latest.read().at_ms;
    let payload = move || {
        let latest = latest.read();
        let cut = latest.truncated.then(|| {
            view! {
                <p class="notice">
                    {format!(
                        "The first {} of {} bytes.",
                        latest.payload.len(),
                        latest.size,
                    )}
                </p>
            }
        });
        let shown = match latest.kind {
            PayloadKind::Json => view! {
                <pre class="payload json">{payload::pretty_json(&latest.payload)}</pre>
            }
            .into_any(),
            PayloadKind::Text if latest.payload.is_empty() => {
                view! { <p class="payload empty">"(empty)"</p> }.into_any()
            }
            PayloadKind::Text => {
                view! { <pre class="payload text">{latest.payload.clone()}</pre> }.into_any()
            }
            PayloadKind::Binary => {
                let head = latest.head_hex.clone().map(|hex| {
                    let shown = latest.size.min(payload::SHOWN_BINARY_BYTES as i64);
                    view! {
                        <p class="notice">{format!("The first {shown} bytes in hex:")}</p>
                        <pre class="payload binary">{hex}</pre>
                    }
                });
                view! {
                    <p class="payload binary-size">
                        {format!("binary, {} bytes", latest.size)}
                    </p>
                    {head}
                }
                .into_any()
            }
        };
        view! {
            {shown}
            {cut}
        }
    };
    let value = move || {
        latest
            .read()
            .value
            .map(|value| view! { <dt>"Value"</dt> <dd class="value">{value.to_string()}</dd> })
    };
    view! {
        <section class="latest" aria-labelledby="latest-heading">
            <h2 id="latest-heading">"Latest message"</h2>
            <dl class="facts">
                <dt>"Received"</dt>
                <dd class="received">
                    <time>{move || format_utc(at_ms())}</time>
                    " (" {move || age_of(at_ms())} ")"
                </dd>
                <dt>"Kind"</dt>
                <dd class="kind">{move || latest.read().kind.as_sql()}</dd>
                <dt>"Size"</dt>
                <dd class="size">{move || format!("{} bytes", latest.read().size)}</dd>
                <dt>"QoS"</dt>
                <dd class="qos">{move || latest.read().qos}</dd>
                <dt>"Retained"</dt>
                <dd class="retain">{move || if latest.read().retain { "yes" } else { "no" }}</dd>
                <dt>"Messages"</dt>
                <dd class="count">{move || message_count.get()}</dd>
                {value}
            </dl>
            {payload}
        </section>
    }
}

/// One page of the log, with links to the pages beside it.
#[component]
fn MessageLog(page: MessagePage, topic: String, range: HistoryRange) -> impl IntoView {
    let rel = topic_link_rel(&topic);
    let newer = page.newer.map(|position| {
        view! {
            <a class="newer" href=detail_href(&topic, range, LogPage::After(position)) rel=rel>
                "← Newer"
            </a>
        }
    });
    let older = page.older.map(|position| {
        view! {
            <a class="older" href=detail_href(&topic, range, LogPage::Before(position)) rel=rel>
                "Older →"
            </a>
        }
    });
    let entries = if page.entries.is_empty() {
        view! { <p class="empty">"No stored messages here (retention may have removed them)."</p> }
            .into_any()
    } else {
        let rows = page
            .entries
            .into_iter()
            .map(|entry| {
                view! {
                    <tr>
                        <td class="time"><time>{format_utc(entry.at_ms)}</time></td>
                        <td class="payload-preview"><code>{entry.preview}</code></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="message-log">
                <thead>
                    <tr>
                        <th scope="col">"Received"</th>
                        <th scope="col">"Payload"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        {entries}
        <nav class="pager" aria-label="Message pages">{newer} {older}</nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_paths_encode_each_level_and_keep_the_separators() {
        assert_eq!(topic_path("plant/boiler/temp"), "/topic/plant/boiler/temp");
        assert_eq!(
            topic_path("a b/50%/#/+/é"),
            "/topic/a%20b/50%25/%23/%2B/%C3%A9"
        );
        assert_eq!(topic_path("a?x=1&y"), "/topic/a%3Fx%3D1%26y");
    }

    #[test]
    fn slashes_around_empty_and_dot_levels_are_encoded() {
        assert_eq!(topic_path("/a"), "/topic/%2Fa");
        assert_eq!(topic_path("a//b"), "/topic/a%2F%2Fb");
        assert_eq!(topic_path("a/"), "/topic/a%2F");
        assert_eq!(topic_path("a/../b/./c"), "/topic/a%2F..%2Fb%2F.%2Fc");
    }

    #[test]
    fn a_path_gives_back_its_topic() {
        for name in [
            "plant/boiler/temp",
            "a b/50%41/100%/é °C",
            "/lead//empty/",
            "a/../b/./c",
            "q?x=1&y#z+",
        ] {
            assert_eq!(topic_of_path(&topic_path(name)).as_deref(), Some(name));
        }
        assert_eq!(topic_of_path("/topic/a%2"), Some("a%2".to_owned()));
        assert_eq!(topic_of_path("/topics/a"), None);
    }

    #[test]
    fn only_names_the_browser_router_would_change_load_from_the_server() {
        assert_eq!(topic_link_rel("plant/é #+ x"), None);
        assert_eq!(topic_link_rel("50%41"), Some("external"));
        assert_eq!(topic_link_rel("a\\b"), Some("external"));
    }

    #[test]
    fn buckets_never_exceed_the_limit_for_any_range() {
        for range in HistoryRange::ALL {
            let bucket = range.bucket_ms();
            assert_eq!(bucket % 1000, 0, "{range:?}");
            // A range not aligned to the buckets overlaps one more than it spans.
            let overlapped = (range.span_ms() + bucket - 1) / bucket + 1;
            assert!(overlapped <= MAX_BUCKETS, "{range:?}: {overlapped}");
            assert!(overlapped > MAX_BUCKETS / 2, "{range:?}: {overlapped}");
            assert_eq!(HistoryRange::from_key(range.key()), Some(range));
        }
    }

    #[test]
    fn log_positions_round_trip_and_bad_ones_mean_the_newest_page() {
        let position = LogPosition {
            at_us: 1_764_064_800_123_456,
            block: 12,
            row: 3,
        };
        assert_eq!(position.to_string(), "1764064800123456.12.3");
        assert_eq!("1764064800123456.12.3".parse(), Ok(position));
        for bad in ["", "1.2", "1.2.3.4", "x.1.2", "1.2.70000"] {
            assert!(bad.parse::<LogPosition>().is_err(), "{bad}");
        }
        assert_eq!(
            LogPage::from_query(Some("nonsense".into()), None),
            LogPage::Newest
        );
        assert_eq!(
            LogPage::from_query(None, Some(position.to_string())),
            LogPage::After(position)
        );
    }

    #[test]
    fn links_keep_the_other_half_of_the_query() {
        let position = LogPosition {
            at_us: 5,
            block: 0,
            row: 1,
        };
        assert_eq!(
            detail_href("a b", HistoryRange::Hour1, LogPage::Before(position)),
            "/topic/a%20b?range=1h&before=5.0.1"
        );
        assert_eq!(
            detail_href("a", HistoryRange::default(), LogPage::Newest),
            "/topic/a"
        );
    }

    #[test]
    fn a_live_event_reads_as_a_latest_message() {
        let event = r#"{"topic":"a/b","at_ms":1732550000123,"kind":"binary","size":123,
            "payload":"","truncated":false,"value":null,"retain":false,"qos":1}"#;
        let latest: LatestMessage = serde_json::from_str(event).unwrap();
        assert_eq!(latest.kind, PayloadKind::Binary);
        assert_eq!(latest.head_hex, None);
    }

    #[test]
    fn stored_payloads_are_cut_at_a_character_and_binary_shows_its_head() {
        let text = "é".repeat(10);
        let latest =
            LatestMessage::from_stored("t".into(), 0, PayloadKind::Text, &text.as_bytes()[..5], 20);
        assert_eq!((latest.payload.as_str(), latest.truncated), ("éé", true));
        let binary =
            LatestMessage::from_stored("t".into(), 0, PayloadKind::Binary, &[0xff; 40], 40);
        assert_eq!(binary.head_hex.unwrap().len(), 32 * 3 - 1);
        assert!(!binary.truncated);
    }
}
