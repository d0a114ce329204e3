//! The pages of the application.

use crate::topics::{format_age, load_topic_list, TopicList};
use leptos::prelude::*;
use std::time::Duration;

/// `/`: every topic with its latest value and how long ago it arrived.
#[component]
pub fn TopicsPage() -> impl IntoView {
    let snapshot = Resource::new(|| (), |_| load_topic_list());

    view! {
        <main class="topics">
            <h1>"Topics"</h1>
            <Suspense fallback=|| view! { <p>"Loading topics…"</p> }>
                {move || Suspend::new(async move {
                    match snapshot.await {
                        Ok(snapshot) => view! { <TopicTable snapshot/> }.into_any(),
                        Err(error) => {
                            view! { <p class="error" role="alert">{error.to_string()}</p> }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn TopicTable(snapshot: TopicList) -> impl IntoView {
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

    if snapshot.topics.is_empty() {
        return view! {
            <p class="empty" data-hydrated=move || hydrated.get().to_string()>
                "No messages yet. Publish to the broker and reload this page."
            </p>
        }
        .into_any();
    }

    let server_now_ms = snapshot.server_now_ms;
    let rows = snapshot
        .topics
        .into_iter()
        .map(|topic| {
            let received_at_ms = topic.received_at_ms;
            let age = move || format_age(server_now_ms - received_at_ms + elapsed_ms.get());
            view! {
                <tr>
                    <th scope="row" class="topic">{topic.name}</th>
                    <td class="value"><code>{topic.preview}</code></td>
                    <td class="age">{age}</td>
                    <td class="count">{topic.message_count}</td>
                </tr>
            }
        })
        .collect_view();

    view! {
        <table class="topic-table" data-hydrated=move || hydrated.get().to_string()>
            <thead>
                <tr>
                    <th scope="col">"Topic"</th>
                    <th scope="col">"Latest value"</th>
                    <th scope="col">"Received"</th>
                    <th scope="col">"Messages"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
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
