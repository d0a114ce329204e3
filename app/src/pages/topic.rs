//! The topic detail page, `/topic/<name>`: the latest value, a history chart downsampled by
//! PostgreSQL, and the raw message log paged by keyset. Each part has its own server function,
//! and each answers alike for a topic that does not exist and one the visitor may not read, so
//! neither the page nor the functions tell the two apart.

use crate::components::chart::HistoryChart;
use crate::components::live_stream::{use_live_stream, StreamOptions};
use crate::components::load_error::LoadError;
use crate::components::not_found::NotFound;
use crate::components::page_clock::PageClock;
use crate::domain::history::{History, HistoryRange};
use crate::domain::message_log::{LatestMessage, LogPage, LogPosition, MessagePage};
use crate::domain::payload::{self, PayloadKind};
use crate::domain::series::{SeriesChoice, OWN_NUMBER};
use crate::domain::topic_path::{topic_link_rel, topic_of_path, topic_path};
use crate::domain::wording::{format_utc, xml_escape};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};
use serde::{Deserialize, Serialize};

/// What the page starts from: the latest message and how many the topic has had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicDetail {
    pub latest: LatestMessage,
    pub message_count: i64,
    pub server_now_ms: i64,
}

/// A topic's chart: its values, the series it may show (none when it has no named series: then
/// only its payload's own number) and the one shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicHistory {
    pub history: History,
    pub series: Vec<SeriesChoice>,
    pub shown: i32,
}

impl TopicHistory {
    fn unit(&self) -> String {
        self.series
            .iter()
            .find(|choice| choice.id == self.shown)
            .map(|choice| choice.unit.clone())
            .unwrap_or_default()
    }
}

/// How many messages a page of the log shows.
pub const LOG_PAGE_SIZE: i64 = 50;

#[cfg(feature = "ssr")]
mod ssr {
    use crate::server::state::AppState;
    use leptos::prelude::*;

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
        let visitor = crate::server::access::current_visitor();
        let rules = state.access.rules().await.map_err(unavailable)?;
        if !rules.may_read(&visitor, topic) {
            return Ok(None);
        }
        state.store.topic_id(topic).await.map_err(unavailable)
    }
}

/// The latest message of `topic` and its message count; `None` for a topic that does not exist
/// or that the visitor may not read.
#[server(endpoint = "topic_detail", output = crate::domain::answer::JsonAnswer)]
pub async fn load_topic_detail(topic: String) -> Result<Option<TopicDetail>, ServerFnError> {
    let state = crate::server::state::app_state()?;
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

/// The numeric values of `topic` (of `series`, a field named for it, or by default as
/// [`SeriesSet::choices_for`](crate::domain::series::SeriesSet::choices_for) says) over `range`
/// up to now, in at most [`MAX_BUCKETS`](crate::domain::history::MAX_BUCKETS) buckets; without a
/// range, over the one that fits its values ([`HistoryRange::fitting`]). `None` as for
/// [`load_topic_detail`].
#[server(endpoint = "topic_history", output = crate::domain::answer::JsonAnswer)]
pub async fn load_topic_history(
    topic: String,
    range: Option<HistoryRange>,
    series: Option<i32>,
) -> Result<Option<TopicHistory>, ServerFnError> {
    let state = crate::server::state::app_state()?;
    let Some(id) = ssr::readable_topic(&state, &topic).await? else {
        return Ok(None);
    };
    let (choices, shown) = state.series.current().choices_for(&topic, series);
    let to_ms = chrono::Utc::now().timestamp_millis();
    let history = crate::server::history::value_history(&state.store, id, shown, range, to_ms)
        .await
        .map_err(ssr::unavailable)?;
    Ok(Some(TopicHistory {
        history,
        series: choices,
        shown,
    }))
}

/// A page of `topic`'s messages, newest first: the newest page, or the one before or after a
/// position; `None` as for [`load_topic_detail`].
#[server(endpoint = "topic_messages", output = crate::domain::answer::JsonAnswer)]
pub async fn load_topic_messages(
    topic: String,
    before: Option<LogPosition>,
    after: Option<LogPosition>,
) -> Result<Option<MessagePage>, ServerFnError> {
    let state = crate::server::state::app_state()?;
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

/// What the chart was asked to show: no range is the one fitted to the values, a range chosen
/// is kept (even the default one, which then stays put); no series is the topic's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ChartChoice {
    range: Option<HistoryRange>,
    series: Option<i32>,
}

/// A link to this page with another chart or log page.
fn detail_href(topic: &str, chart: ChartChoice, log: LogPage) -> String {
    let mut query = Vec::new();
    if let Some(range) = chart.range {
        query.push(format!("range={}", range.key()));
    }
    if let Some(series) = chart.series {
        query.push(format!("series={series}"));
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
    // No range (or one not offered): the history server function fits one to the values.
    let chart = Memo::new(move |_| {
        let query = query.read();
        ChartChoice {
            range: query
                .get("range")
                .and_then(|key| HistoryRange::from_key(&key)),
            series: query.get("series").and_then(|id| id.parse().ok()),
        }
    });
    let log = Memo::new(move |_| {
        let query = query.read();
        LogPage::from_query(query.get("before"), query.get("after"))
    });
    // Three requests at once, not one after another.
    let detail = Resource::new(move || topic.get(), load_topic_detail);
    let history = Resource::new(
        move || (topic.get(), chart.get()),
        |(topic, chart)| load_topic_history(topic, chart.range, chart.series),
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
                        view! { <TopicView detail chart log history messages/> }.into_any()
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
    chart: Memo<ChartChoice>,
    log: Memo<LogPage>,
    history: Loaded<TopicHistory>,
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

    // The range shown is known once the history is: a fitted one is marked like a chosen one.
    let range_links = {
        let name = name.clone();
        move |shown: Option<HistoryRange>| {
            let links = HistoryRange::ALL
                .into_iter()
                .map(|choice| {
                    let href = {
                        let name = name.clone();
                        move || {
                            let chart = ChartChoice {
                                range: Some(choice),
                                ..chart.get()
                            };
                            detail_href(&name, chart, log.get())
                        }
                    };
                    view! {
                        <a
                            href=href
                            rel=topic_link_rel(&name)
                            aria-current=(Some(choice) == shown).then_some("page")
                        >
                            {choice.label()}
                        </a>
                    }
                })
                .collect_view();
            view! { <nav class="ranges" aria-label="Time range">{links}</nav> }
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
                <Suspense fallback=|| view! { <p>"Loading the history…"</p> }>
                    {move || {
                        let name = chart_name.clone();
                        let range_links = range_links.clone();
                        Suspend::new(async move {
                            match history.await {
                                Ok(Some(charted)) => {
                                    let series = series_links(&name, &charted, chart.get());
                                    let unit = charted.unit();
                                    let what = charted
                                        .series
                                        .iter()
                                        .find(|choice| choice.id == charted.shown)
                                        .filter(|choice| choice.id != OWN_NUMBER)
                                        .map_or(name.clone(), |choice| {
                                            format!("{name}, {}", choice.label)
                                        });
                                    let history = charted.history;
                                    let ranges = range_links(Some(history.range));
                                    let drawn = if history.buckets.is_empty() {
                                        view! {
                                            <p class="empty">
                                                {format!(
                                                    "No numeric values to chart in the last {}.",
                                                    history.range.label(),
                                                )}
                                            </p>
                                        }
                                            .into_any()
                                    } else {
                                        view! { <HistoryChart history what unit/> }.into_any()
                                    };
                                    view! {
                                        {series}
                                        {ranges}
                                        {drawn}
                                    }
                                        .into_any()
                                }
                                Ok(None) => ().into_any(),
                                Err(error) => {
                                    view! {
                                        {range_links(chart.get().range)}
                                        <LoadError error/>
                                    }
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
                                    view! { <MessageLog page topic=name chart=chart.get()/> }
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

/// Links to the other series of the topic, when it has named ones: each keeps the range.
fn series_links(topic: &str, charted: &TopicHistory, chart: ChartChoice) -> Option<impl IntoView> {
    if charted.series.is_empty() {
        return None;
    }
    let links = charted
        .series
        .iter()
        .map(|choice| {
            let href = detail_href(
                topic,
                ChartChoice {
                    series: Some(choice.id),
                    ..chart
                },
                LogPage::Newest,
            );
            let title = choice.title();
            view! {
                <a
                    href=href
                    rel=topic_link_rel(topic)
                    aria-current=(choice.id == charted.shown).then_some("page")
                    data-series=choice.id
                >
                    {title}
                </a>
            }
        })
        .collect_view();
    Some(view! { <nav class="ranges series" aria-label="Series">{links}</nav> })
}

/// One page of the log, with links to the pages beside it.
#[component]
fn MessageLog(page: MessagePage, topic: String, chart: ChartChoice) -> impl IntoView {
    let rel = topic_link_rel(&topic);
    let newer = page.newer.map(|position| {
        view! {
            <a class="newer" href=detail_href(&topic, chart, LogPage::After(position)) rel=rel>
                "← Newer"
            </a>
        }
    });
    let older = page.older.map(|position| {
        view! {
            <a class="older" href=detail_href(&topic, chart, LogPage::Before(position)) rel=rel>
                "Older →"
            </a>
        }
    });
    let entries = if page.entries.is_empty() {
        view! { <p class="empty">"No stored messages here (retention may have removed them)."</p> }
            .into_any()
    } else {
        // Markup, not elements: hydration takes the rows over without walking each one.
        let rows: String = page
            .entries
            .iter()
            .map(|entry| {
                format!(
                    "<tr><td class=\"time\"><time>{}</time></td>\
                     <td class=\"payload-preview\"><code>{}</code></td></tr>",
                    format_utc(entry.at_ms),
                    xml_escape(&entry.preview),
                )
            })
            .collect();
        view! {
            <table class="message-log">
                <thead>
                    <tr>
                        <th scope="col">"Received"</th>
                        <th scope="col">"Payload"</th>
                    </tr>
                </thead>
                <tbody inner_html=rows></tbody>
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
    fn links_keep_the_other_half_of_the_query() {
        let position = LogPosition {
            at_us: 5,
            block: 0,
            row: 1,
        };
        let range = |range| ChartChoice {
            range: Some(range),
            series: None,
        };
        assert_eq!(
            detail_href("a b", range(HistoryRange::Hour1), LogPage::Before(position)),
            "/topic/a%20b?range=1h&before=5.0.1"
        );
        assert_eq!(
            detail_href("a", ChartChoice::default(), LogPage::Newest),
            "/topic/a"
        );
        // A range chosen stays chosen, the default one too: it is not fitted again.
        assert_eq!(
            detail_href("a", range(HistoryRange::default()), LogPage::Newest),
            "/topic/a?range=24h"
        );
        let series = ChartChoice {
            range: None,
            series: Some(3),
        };
        assert_eq!(
            detail_href("a", series, LogPage::After(position)),
            "/topic/a?series=3&after=5.0.1"
        );
    }
}
