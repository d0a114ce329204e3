//! The pages of the application.

use crate::ingest_status::{load_ingest_status, IngestStatusView};
use crate::live::{server_signal, StreamOptions};
use crate::roles::Role;
use crate::session::{load_current_visitor, load_login_hints};
use crate::topics::{format_age, load_topic_list, TopicLatest, TopicList};
use leptos::prelude::*;
use std::time::Duration;

/// `/`: how ingest is doing, then every topic with its latest value and how long ago it arrived.
#[component]
pub fn TopicsPage() -> impl IntoView {
    let status = Resource::new(|| (), |_| load_ingest_status());
    let snapshot = Resource::new(|| (), |_| load_topic_list());

    view! {
        <main class="topics">
            <h1>"Topics"</h1>
            <Suspense fallback=|| view! { <p>"Loading topics…"</p> }>
                {move || Suspend::new(async move {
                    // Each half shows what it can: the status needs no database, so it still
                    // explains an outage that makes the topic list fail.
                    let (status, snapshot) = (status.await, snapshot.await);
                    view! { <TopicsView status=status.ok() snapshot/> }
                })}
            </Suspense>
        </main>
    }
}

/// The status line and the table, with ages that keep counting once the page is hydrated, and
/// values that follow the live stream.
#[component]
fn TopicsView(
    status: Option<IngestStatusView>,
    snapshot: Result<TopicList, ServerFnError>,
) -> impl IntoView {
    // Effects run only in the browser: the marker tells users (and tests) the page is live, and
    // the ticking offset keeps the ages current without asking the server again.
    let hydrated = RwSignal::new(false);
    let elapsed_ms = RwSignal::new(0_i64);
    Effect::new(move |_| {
        hydrated.set(true);
        let tick = Duration::from_secs(1);
        if let Ok(interval) =
            set_interval_with_handle(move || elapsed_ms.update(|ms| *ms += 1000), tick)
        {
            on_cleanup(move || interval.clear());
        }
    });
    // Ages count from the server's clock at render time, so server and browser agree.
    let age_from = move |server_now_ms: i64| {
        move |at_ms: i64| format_age(server_now_ms - at_ms + elapsed_ms.get())
    };

    let summary = status.map(|status| {
        let age_of = age_from(status.server_now_ms);
        view! { <IngestSummary status age_of/> }
    });
    let table = match snapshot {
        Ok(snapshot) => {
            let age_of = age_from(snapshot.server_now_ms);
            // A browser following every topic gets the newest value per topic four times a
            // second at most: enough to watch, and a busy broker cannot flood the page.
            let (topics, stream) = server_signal(
                snapshot,
                StreamOptions::default().conflated(250),
                TopicList::apply,
                || async { load_topic_list().await.ok() },
            );
            view! {
                <p class="live-state" data-state=move || stream.get().label()>
                    {move || stream.get().label()}
                </p>
                <TopicTable topics age_of/>
            }
            .into_any()
        }
        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
    };
    view! {
        <div class="topics-view" data-hydrated=move || hydrated.get().to_string()>
            {summary}
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
            </ul>
        </section>
    }
}

#[component]
fn TopicTable(
    topics: ReadSignal<TopicList>,
    age_of: impl Fn(i64) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let rows = move || topics.with(|list| list.topics.clone());
    view! {
        <Show
            when=move || topics.with(|list| !list.topics.is_empty())
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
            <th scope="row" class="topic">{topic.name}</th>
            <td class="value"><code>{topic.preview}</code></td>
            <td class="age">{move || age_of(received_at_ms)}</td>
            <td class="count">{topic.message_count}</td>
        </tr>
    }
}

/// `/login`: a plain form posted to the server, so it works with JavaScript off. The query says
/// what happened last (`failed`, `logged_out`) and where to go after (`next`).
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let hints = Resource::new(|| (), |_| load_login_hints());
    let next = move || query.read().get("next").unwrap_or_default();
    let failed = move || query.read().get("failed").is_some();
    let logged_out = move || query.read().get("logged_out").is_some();

    view! {
        <main class="login">
            <h1>"Log in"</h1>
            <Show when=failed>
                <p class="error" role="alert">"That user name and password do not match."</p>
            </Show>
            <Show when=logged_out>
                <p class="notice" role="status">"You have logged out."</p>
            </Show>
            <Suspense>
                {move || Suspend::new(async move {
                    hints.await.ok().filter(|hints| hints.no_users_yet).map(|_| view! {
                        <p class="notice">
                            "No users yet. Create the first admin on the server with "
                            <code>"lookout user add NAME --role admin"</code> "."
                        </p>
                    })
                })}
            </Suspense>
            <form method="post" action="/login" class="login-form">
                <input type="hidden" name="next" value=next/>
                <label>"User name" <input name="name" autocomplete="username" required/></label>
                <label>
                    "Password"
                    <input
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                    />
                </label>
                <button type="submit">"Log in"</button>
            </form>
        </main>
    }
}

/// Who is signed in, with the logout button; or the way to log in.
#[component]
pub fn AccountMenu() -> impl IntoView {
    let visitor = Resource::new(|| (), |_| load_current_visitor());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                match visitor.await.ok().flatten() {
                    Some(user) => {
                        // Only a convenience: the admin pages themselves refuse everyone else.
                        let admin_links = (user.role == Role::Admin).then(|| view! {
                            <nav class="admin-links" aria-label="Administration">
                                <a href="/admin/users">"Users"</a>
                                <a href="/admin/rules">"Rules"</a>
                            </nav>
                        });
                        view! {
                            {admin_links}
                            <span class="account">
                                <span class="user">{user.name}</span>
                                " (" {user.role.as_str()} ") "
                                <form method="post" action="/logout" class="logout">
                                    <button type="submit">"Log out"</button>
                                </form>
                            </span>
                        }
                        .into_any()
                    }
                    None => view! { <a class="account" href="/login">"Log in"</a> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main>
            <h1>"Not found"</h1>
            <p>"There is no page here. " <a href="/">"See all topics"</a></p>
        </main>
    }
}
