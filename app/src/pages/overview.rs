//! `/`: the overview. The broker connection, message rate, ingest queue and lag, and devices;
//! then the topics with their latest values, live, a page at a time.

use crate::components::device_list::load_devices;
use crate::components::live_stream::{server_signal, StreamOptions};
use crate::components::load_error::LoadError;
use crate::components::page_clock::PageClock;
use crate::components::sparkline::Sparkline;
use crate::domain::ingest_status::{IngestStatusView, MinuteTrend};
use crate::domain::liveness::DeviceCounts;
use crate::domain::topic_list::{page_cursor, TopicLatest, TopicPage};
use crate::domain::topic_path::{topic_link_rel, topic_path};
use crate::domain::wording::format_utc;
use leptos::prelude::*;
use std::time::Duration;

/// The status as the visitor may see it: the last oversized topic only when their rules let them
/// read it. Without the rules (the database away and the cached rules too old) it is left out, and
/// the rest still answers.
#[server(endpoint = "ingest_status", output = crate::domain::answer::JsonAnswer)]
pub async fn load_ingest_status() -> Result<IngestStatusView, ServerFnError> {
    let state = crate::server::state::app_state()?;
    let mut view = state.ingest.view_with_trend();
    if let Some(topic) = view.last_oversized_topic.take() {
        let visitor = crate::server::access::current_visitor();
        if let Ok(rules) = state.access.rules().await {
            view.last_oversized_topic = rules.may_read(&visitor, &topic).then_some(topic);
        }
    }
    Ok(view)
}

/// How many topics a page of the overview shows.
pub const TOPIC_LIST_LIMIT: usize = 500;

/// A page of the topics the visitor may read, with their latest values: the first, or the one
/// just after `after` or just before `before` (names, as [`TopicPage`]'s links carry them).
#[server(endpoint = "topic_list", output = crate::domain::answer::JsonAnswer)]
pub async fn load_topic_list(
    after: Option<String>,
    before: Option<String>,
) -> Result<TopicPage, ServerFnError> {
    use crate::domain::topic_filter::MAX_TOPIC_BYTES;
    use crate::server::store::topics::TopicWalk;
    let too_long = |name: &Option<String>| name.as_ref().is_some_and(|n| n.len() > MAX_TOPIC_BYTES);
    if too_long(&after) || too_long(&before) {
        return Err(ServerFnError::new("that is not a page of the topic list"));
    }
    let walk = match (&before, &after) {
        (Some(before), _) => TopicWalk::Before(before),
        (None, Some(after)) => TopicWalk::After(after),
        (None, None) => TopicWalk::First,
    };
    crate::server::topic_list::readable_page(walk, TOPIC_LIST_LIMIT).await
}

/// `/`: the overview (broker connection, message rate, ingest queue and lag, devices), then the
/// topics with their latest values, live, a page at a time (`?after=` or `?before=` a topic name
/// in hex, as the page's own links write it).
#[component]
pub fn TopicsPage() -> impl IntoView {
    let status = Resource::new(|| (), |_| load_ingest_status());
    let devices = Resource::new(|| (), |_| load_devices());
    let query = leptos_router::hooks::use_query_map();
    let cursor = move |key: &str| query.read().get(key).and_then(|hex| page_cursor(&hex));
    let snapshot = Resource::new(
        move || (cursor("after"), cursor("before")),
        |(after, before)| load_topic_list(after, before),
    );
    // The figures are read again every few seconds once the page is hydrated (the interval runs
    // only in the browser); devices less often, as deciding them reads the database.
    Effect::new(move |_| {
        let ticks = StoredValue::new(0_u32);
        let refresh = move || {
            status.refetch();
            ticks.update_value(|ticks| *ticks += 1);
            if ticks.get_value().is_multiple_of(5) {
                devices.refetch();
            }
        };
        if let Ok(interval) = set_interval_with_handle(refresh, OVERVIEW_REFRESH) {
            on_cleanup(move || interval.clear());
        }
    });
    // The previous reading, for the message rate between two readings.
    let previous = StoredValue::new(None::<(u64, i64)>);

    view! {
        <main class="topics">
            <h1>"Overview"</h1>
            // Each part shows what it can: the status needs no database, so it still explains an
            // outage that makes the rest fail. Transitions keep the old figures while new ones
            // load.
            <Transition fallback=|| view! { <p>"Loading the status…"</p> }>
                {move || Suspend::new(async move {
                    let status = status.await.ok();
                    let rate = status.as_ref().and_then(|status| {
                        let reading = (status.received, status.server_now_ms);
                        let rate = previous.get_value().and_then(|(received, at_ms)| {
                            let seconds = (reading.1 - at_ms) as f64 / 1000.0;
                            (seconds > 0.0)
                                .then(|| reading.0.saturating_sub(received) as f64 / seconds)
                        });
                        previous.set_value(Some(reading));
                        rate
                    });
                    let devices = devices.await.ok().map(|list| list.counts);
                    view! { <Overview status rate devices/> }
                })}
            </Transition>
            <h2>"Topics"</h2>
            <Suspense fallback=|| view! { <p>"Loading topics…"</p> }>
                {move || Suspend::new(async move {
                    let (after, before) = (cursor("after"), cursor("before"));
                    view! { <TopicsView snapshot=snapshot.await after before/> }
                })}
            </Suspense>
        </main>
    }
}

/// How often the overview's figures are read again.
const OVERVIEW_REFRESH: Duration = Duration::from_secs(2);

/// The top of the overview, read at a glance: what is wrong first (the broker away, storing
/// failing, devices offline), then the broker connection, then each figure as a card with its
/// trend over the last hour.
#[component]
fn Overview(
    status: Option<IngestStatusView>,
    rate: Option<f64>,
    devices: Option<DeviceCounts>,
) -> impl IntoView {
    let clock = PageClock::start();
    let Some(status) = status else {
        return view! { <p class="error" role="alert">"The ingest status is unavailable."</p> }
            .into_any();
    };
    let age_of = clock.age_from(status.server_now_ms);
    let problems = problems(&status, devices.as_ref());
    let to_ms = status.server_now_ms;
    let from_ms = to_ms - TREND_SPAN_MS;
    // Each minute's figure drawn at the middle of its minute.
    let series = |value: fn(&MinuteTrend) -> Option<f64>| -> Vec<(i64, f64)> {
        status
            .trend
            .iter()
            .filter_map(|minute| Some((minute.start_ms + 30_000, value(minute)?)))
            .collect()
    };
    let figure = move |title: &'static str, class: &'static str, shown: String, points| {
        view! {
            <div class="figure">
                <dt>{title}</dt>
                <dd class=class>{shown}</dd>
                <dd class="trend">
                    <Sparkline
                        points
                        from_ms
                        to_ms
                        step_ms=TREND_STEP_MS
                        label=format!("{title} over the last hour")
                    />
                </dd>
            </div>
        }
    };
    let rate = match rate {
        Some(rate) => format!("{rate:.0} msg/s"),
        None => "measuring…".to_owned(),
    };
    let devices = devices.map(|counts| {
        let watched = counts.online + counts.offline + counts.unknown;
        let summary = if watched == 0 {
            view! { <dd class="device-summary">"No device rule watches any device yet."</dd> }
                .into_any()
        } else {
            view! {
                <dd class="device-summary">
                    {(counts.offline > 0).then(|| view! {
                        <span class="device-state offline">{format!("{} offline", counts.offline)}</span>
                    })}
                    {(counts.unknown > 0).then(|| view! {
                        <span class="device-state unknown">{format!("{} unknown", counts.unknown)}</span>
                    })}
                    {(counts.offline + counts.unknown == 0).then(|| view! {
                        <span class="device-state online">"all online"</span>
                    })}
                </dd>
            }
            .into_any()
        };
        view! {
            <div class="figure">
                <dt>"Devices"</dt>
                <dd class="devices">
                    <a href="/devices">{format!("{} online", counts.online)}</a>
                </dd>
                {summary}
            </div>
        }
    });
    // Not a problem: charts stay complete (they read raw rows where rollups are missing).
    let backfill = status.history_backfill.map(|progress| {
        let done = match progress.done_before_ms {
            Some(done) => format!("done up to {}", &format_utc(done)[..10]),
            None => "starting".to_owned(),
        };
        view! {
            <p class="notice history-backfill" role="status">
                {format!(
                    "Rolling up the history stored before this version (up to {}): {done}. \
                     Long charts reaching before it read the stored messages meanwhile.",
                    &format_utc(progress.cutoff_ms)[..16],
                )}
            </p>
        }
    });
    let rollups_behind = status.rollups_behind.clone().map(|behind| {
        let since = behind
            .oldest_ms
            .map(|oldest| format!(" since {}", format_utc(oldest)))
            .unwrap_or_default();
        let cause = behind
            .error
            .map(|error| format!(" The last attempt failed: {error}."))
            .unwrap_or_default();
        view! {
            <p class="notice rollups-behind" role="status">
                {format!(
                    "Charts of 6 h and more are behind the stored messages{since}: {} minutes of \
                     values wait to be folded into the rollups.{cause}",
                    behind.waiting,
                )}
            </p>
        }
    });
    view! {
        {problems}
        {backfill}
        {rollups_behind}
        <IngestSummary status=status.clone() age_of/>
        <dl class="overview-figures">
            {figure("Message rate", "rate", rate, series(|m| m.rate))}
            {figure(
                "Waiting to be stored",
                "backlog",
                status.backlog().to_string(),
                series(|m| Some(m.backlog as f64)),
            )}
            {figure(
                "Storage lag",
                "lag",
                format!("{} ms", status.storage_lag_ms),
                series(|m| Some(m.lag_ms as f64)),
            )}
            {devices}
        </dl>
    }
    .into_any()
}

/// How far back the figures' trends go.
const TREND_SPAN_MS: i64 = 60 * 60 * 1000;
/// The trend has a reading a minute; minutes missing (Lookout was not running) are a gap.
const TREND_STEP_MS: i64 = 60_000;

/// What needs someone's attention now, most serious first; nothing when all is well.
fn problems(status: &IngestStatusView, devices: Option<&DeviceCounts>) -> Option<impl IntoView> {
    let mut problems: Vec<AnyView> = Vec::new();
    if !status.connected {
        problems.push(
            view! { <li>"Not connected to the broker: nothing new arrives."</li> }.into_any(),
        );
    }
    if status.storage_error.is_some() {
        problems.push(
            view! { <li>"Storing is failing: messages wait until the database recovers."</li> }
                .into_any(),
        );
    }
    for channel in &status.failing_channels {
        problems.push(
            view! {
                <li>
                    {format!(
                        "Alert channel \"{}\" has failed since {}: alerts may not reach anyone.",
                        channel.name,
                        format_utc(channel.since_ms)
                    )}
                </li>
            }
            .into_any(),
        );
    }
    if let Some(counts) = devices.filter(|counts| counts.offline > 0) {
        let offline = counts.offline;
        problems.push(
            view! {
                <li>
                    <a href="/devices">
                        {format!("{offline} device{} offline", if offline == 1 { "" } else { "s" })}
                    </a>
                </li>
            }
            .into_any(),
        );
    }
    (!problems.is_empty()).then(|| {
        view! {
            <section class="problems" aria-labelledby="problems-title">
                <h2 id="problems-title">"Needs attention"</h2>
                <ul>{problems}</ul>
            </section>
        }
    })
}

/// The status line and the table, with ages that keep counting once the page is hydrated, and
/// values that follow the live stream; links to the pages before and after.
#[component]
fn TopicsView(
    snapshot: Result<TopicPage, ServerFnError>,
    after: Option<String>,
    before: Option<String>,
) -> impl IntoView {
    let clock = PageClock::start();
    let table = match snapshot {
        Ok(snapshot) => {
            let age_of = clock.age_from(snapshot.list.server_now_ms);
            let pager = topic_pager(&snapshot);
            // A browser following every topic gets the newest value per topic four times a
            // second at most: enough to watch, and a busy broker cannot flood the page.
            let (page, stream) = server_signal(
                snapshot,
                StreamOptions::default().conflated(250),
                TopicPage::apply,
                move || {
                    let (after, before) = (after.clone(), before.clone());
                    async move { load_topic_list(after, before).await.ok() }
                },
            );
            view! {
                <p class="live-state" data-state=move || stream.get().label()>
                    {move || stream.get().label()}
                </p>
                <p class="topic-total">
                    {move || {
                        let (count, paged) = page
                            .with(|page| (page.list.topics.len(), page.is_one_of_several()));
                        if paged {
                            format!("{count} topics on this page")
                        } else {
                            format!("{count} topics")
                        }
                    }}
                </p>
                <TopicTable page age_of/>
                {pager}
            }
            .into_any()
        }
        Err(error) => view! { <LoadError error/> }.into_any(),
    };
    view! {
        <div class="topics-view" data-hydrated=move || clock.hydrated.get().to_string()>
            {table}
        </div>
    }
}

/// The broker connection and what ingest has done since start-up.
#[component]
fn IngestSummary(
    status: IngestStatusView,
    age_of: impl Fn(i64) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let since_ms = status.since_ms;
    let connection = if status.connected {
        view! { <span class="state up">"connected"</span> " since " {move || age_of(since_ms)} }
            .into_any()
    } else {
        view! { <span class="state down">"not connected"</span> ", retrying" }.into_any()
    };
    let last_error = status.last_error.clone().map(|error| {
        let at_ms = status.last_error_at_ms.unwrap_or(since_ms);
        view! {
            <p class="last-error">
                "Last connection error, " {move || age_of(at_ms)} ": " <code>{error}</code>
            </p>
        }
    });
    let oversized = (status.oversized > 0).then(|| {
        let last = status.last_oversized_topic.clone().unwrap_or_default();
        view! {
            <li class="oversized">
                {format!("{} over the size limit, not stored", status.oversized)} " (last on "
                <code>{last}</code> ")"
            </li>
        }
    });
    let unstorable = (status.unstorable > 0).then(|| {
        view! {
            <li class="unstorable">
                {format!(
                    "{} with a topic or content the database cannot store, set aside",
                    status.unstorable,
                )}
            </li>
        }
    });
    let storage_error = status.storage_error.clone().map(|error| {
        view! {
            <p class="storage-error" role="alert">
                "Storing is failing, nothing is acknowledged to the broker until it recovers: "
                <code>{error}</code>
            </p>
        }
    });
    view! {
        <section
            class="ingest-status"
            aria-label="Ingest status"
            data-connected=status.connected.to_string()
        >
            <p>"Broker " <code>{status.broker.clone()}</code> ": " {connection}</p>
            {last_error}
            {storage_error}
            <ul class="counters">
                <li>{format!("{} received", status.received)}</li>
                <li>{format!("{} stored", status.stored)}</li>
                <li>{format!("{} waiting to be stored", status.backlog())}</li>
                <li>{format!("{} reconnects", status.reconnects)}</li>
                {oversized}
                {unstorable}
            </ul>
        </section>
    }
}

/// Plain links to the pages around this one, so paging works without JavaScript too. The
/// links are those of the page as loaded: live topics joining it do not move its bounds.
fn topic_pager(page: &TopicPage) -> Option<impl IntoView> {
    let first = (page.start != std::ops::Bound::Unbounded).then(|| {
        view! { <a class="first" href="/">"First topics"</a> }
    });
    let previous = page
        .previous_href()
        .map(|href| view! { <a class="previous" href=href>"← Previous topics"</a> });
    let next = page
        .next_href()
        .map(|href| view! { <a class="next" href=href>"Next topics →"</a> });
    page.is_one_of_several().then(|| {
        view! {
            <nav class="pager topic-pages" aria-label="Topic pages">{first} {previous} {next}</nav>
        }
    })
}

#[component]
fn TopicTable(
    page: ReadSignal<TopicPage>,
    age_of: impl Fn(i64) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let rows = move || page.with(|page| page.list.topics.clone());
    view! {
        <Show
            when=move || page.with(|page| !page.list.topics.is_empty())
            fallback=|| view! { <p class="empty">"No messages yet. Publish to the broker and they appear here."</p> }
        >
            <table class="topic-table">
                <thead>
                    <tr>
                        <th scope="col">"Topic"</th>
                        <th scope="col">"Latest value"</th>
                        <th scope="col">"Received"</th>
                        <th scope="col">"Messages"</th>
                    </tr>
                </thead>
                <tbody>
                    // Keyed by what a row shows, so a row is redrawn exactly when it changed.
                    <For
                        each=rows
                        key=|topic| (topic.name.clone(), topic.received_at_ms, topic.message_count)
                        let(topic)
                    >
                        <TopicRow topic age_of/>
                    </For>
                </tbody>
            </table>
        </Show>
    }
}

#[component]
fn TopicRow(
    topic: TopicLatest,
    age_of: impl Fn(i64) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let received_at_ms = topic.received_at_ms;
    view! {
        <tr>
            <th scope="row" class="topic">
                <a href=topic_path(&topic.name) rel=topic_link_rel(&topic.name)>
                    {topic.name.clone()}
                </a>
            </th>
            <td class="value"><code>{topic.preview}</code></td>
            <td class="age">{move || age_of(received_at_ms)}</td>
            <td class="count">{topic.message_count}</td>
        </tr>
    }
}
