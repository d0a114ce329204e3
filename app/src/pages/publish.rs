//! The publish page: a plain form (it works without JavaScript) posted to `POST /publish`, which
//! `server/src/publish.rs` checks, audits and hands to ingest's broker connection. Who may publish
//! where is the access policy's decision; the page only explains it, and the form is absent for
//! whoever may publish nowhere.
//!
//! After a post the server redirects back here (post/redirect/get) and leaves the outcome in the
//! session (a "flash", taken once): the notice and a refused form's values come from the server,
//! never from the URL, so a crafted link cannot make the page claim a publish that did not happen.
//! The session never holds a payload (see [`Draft`]).

use crate::components::load_error::LoadError;
use crate::domain::publish::{Delivery, Draft, Flash, Refusal, PUBLISH};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// Where the visitor may publish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeView {
    Everything,
    /// The topics these filters match; nowhere when empty.
    Filters(Vec<String>),
}

impl ScopeView {
    fn is_nowhere(&self) -> bool {
        matches!(self, ScopeView::Filters(filters) if filters.is_empty())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishPageData {
    pub scope: ScopeView,
    pub connected: bool,
    pub flash: Option<Flash>,
}

/// Where the visitor may publish, whether the broker is connected, and the outcome of the last
/// post (taken from the session, so it shows once).
#[server(endpoint = "publish_page", output = crate::domain::answer::JsonAnswer)]
pub async fn load_publish_page() -> Result<PublishPageData, ServerFnError> {
    use crate::server::access::PublishScope;
    let state = crate::server::state::app_state()?;
    let rules = state.access.rules().await.map_err(|error| {
        tracing::error!(error = ?error, "loading the rules for the publish page failed");
        ServerFnError::new("Lookout cannot reach its database right now; try again.")
    })?;
    let scope = match rules.publish_scope(&crate::server::access::current_visitor()) {
        PublishScope::Everything => ScopeView::Everything,
        PublishScope::Filters(filters) => ScopeView::Filters(
            filters
                .iter()
                .map(|filter| filter.as_str().to_owned())
                .collect(),
        ),
    };
    let session: tower_sessions::Session = leptos_axum::extract().await?;
    // A flash that cannot be read is only a lost notice; the page still works.
    let flash = session
        .remove::<Flash>(crate::domain::publish::FLASH_KEY)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "reading the publish outcome from the session failed");
            None
        });
    Ok(PublishPageData {
        scope,
        connected: state.ingest.is_connected(),
        flash,
    })
}

/// `/publish` (`?topic=...` fills in the topic).
#[component]
pub fn PublishPage() -> impl IntoView {
    let query = use_query_map();
    let page = Resource::new(|| (), |_| load_publish_page());
    view! {
        <main class="publish">
            <h1>"Publish"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let linked_topic = query.read().get("topic").unwrap_or_default();
                    match page.await {
                        Ok(data) => view! { <PublishView data linked_topic/> }.into_any(),
                        Err(error) => {
                            view! { <LoadError error/> }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn PublishView(data: PublishPageData, linked_topic: String) -> impl IntoView {
    // A refused form comes back as it was but for the payload, which the page asks for again;
    // after a publish the topic and QoS stay (the next message often goes to the same place),
    // the payload and retain do not.
    let (draft, notice, refused) = match data.flash {
        Some(Flash::Refused { refusal, draft }) => {
            let paste_again = (draft.payload_bytes > 0).then(|| {
                view! {
                    <p class="notice paste-again">
                        {format!(
                            "Lookout does not keep payloads between pages: paste the payload \
                             ({} bytes) again.",
                            draft.payload_bytes,
                        )}
                    </p>
                }
            });
            // A refusal about one field is said in full below it; the top links there.
            let notice = match refusal.field() {
                Some(field) => view! {
                    <p class="error" role="alert">
                        "Nothing was published: "
                        <a href=format!("#{}", problem_id(field))>{refusal.text()}</a>
                    </p>
                }
                .into_any(),
                None => view! { <p class="error" role="alert">{refusal.text()}</p> }.into_any(),
            };
            let notice = view! {
                {notice}
                {paste_again}
            };
            (draft, Some(notice.into_any()), Some(refusal))
        }
        Some(Flash::Published {
            topic,
            qos,
            retain,
            bytes,
            delivery,
        }) => {
            let class = if delivery.is_warning() {
                "error"
            } else {
                "done"
            };
            let retained = if retain { ", retained" } else { "" };
            let verb = if delivery == Delivery::NotSent {
                "Did not publish"
            } else {
                "Published"
            };
            let notice = view! {
                <p class=class role="status" data-delivery=delivery.code()>
                    {format!("{verb} {bytes} bytes to ")}
                    <code class="published-topic">{topic.clone()}</code>
                    {format!(" (QoS {qos}{retained}). ")}
                    {delivery.text()}
                </p>
            };
            let draft = Draft {
                topic,
                qos,
                ..Draft::default()
            };
            (draft, Some(notice.into_any()), None)
        }
        None => (
            Draft {
                topic: linked_topic,
                qos: 1,
                ..Draft::default()
            },
            None,
            None,
        ),
    };
    let nowhere = data.scope.is_nowhere();
    let scope = match data.scope {
        ScopeView::Everything => view! {
            <p class="notice scope">"As an admin you may publish to any topic."</p>
        }
        .into_any(),
        ScopeView::Filters(filters) if filters.is_empty() => view! {
            <p class="notice scope">
                "Your role may not publish to any topic. An admin can allow it on the rules page."
            </p>
        }
        .into_any(),
        ScopeView::Filters(filters) => view! {
            <p class="notice scope">"You may publish to the topics these filters match:"</p>
            <ul class="publish-filters">
                {filters
                    .into_iter()
                    .map(|filter| view! { <li><code>{filter}</code></li> })
                    .collect_view()}
            </ul>
        }
        .into_any(),
    };
    let disconnected = (!data.connected).then(|| {
        view! {
            <p class="error" role="alert">
                "Lookout is not connected to the broker right now; publishing will be refused \
                 until it reconnects."
            </p>
        }
    });
    let form = (!nowhere).then(|| view! { <PublishForm draft refused/> });
    view! {
        {notice}
        {scope}
        {disconnected}
        {form}
    }
}

fn problem_id(field: &str) -> String {
    format!("publish-{field}-problem")
}

#[component]
fn PublishForm(draft: Draft, refused: Option<Refusal>) -> impl IntoView {
    // The refused field is marked invalid and described by the reason, written below it.
    let problem = |field: &'static str| {
        let refused = refused.filter(|refusal| refusal.field() == Some(field));
        let message = refused.map(|refusal| {
            view! { <p class="field-error" id=problem_id(field)>{refusal.text()}</p> }
        });
        (
            refused.map(|_| "true"),
            refused.map(|_| problem_id(field)),
            message,
        )
    };
    let (topic_invalid, topic_described, topic_problem) = problem("topic");
    let (payload_invalid, payload_described, payload_problem) = problem("payload");
    let (qos_invalid, qos_described, qos_problem) = problem("qos");
    let (retain_invalid, retain_described, retain_problem) = problem("confirm_retain");
    let qos_options = (0..=2u8)
        .map(|qos| {
            view! {
                <option value=qos.to_string() selected=qos == draft.qos>
                    {qos.to_string()}
                </option>
            }
        })
        .collect_view();
    view! {
        <form method="post" action=PUBLISH class="publish-form">
            <label>
                "Topic"
                <input
                    name="topic"
                    value=draft.topic
                    required
                    autocomplete="off"
                    placeholder="plant/lights/hall/set"
                    aria-invalid=topic_invalid
                    aria-describedby=topic_described
                />
            </label>
            {topic_problem}
            <label>
                "Payload"
                <textarea
                    name="payload"
                    rows="6"
                    spellcheck="false"
                    aria-invalid=payload_invalid
                    aria-describedby=payload_described
                ></textarea>
            </label>
            {payload_problem}
            <label>
                "QoS "
                <select name="qos" aria-invalid=qos_invalid aria-describedby=qos_described>
                    {qos_options}
                </select>
            </label>
            {qos_problem}
            <label class="check">
                <input type="checkbox" name="retain" value="on" checked=draft.retain/>
                "Retain"
            </label>
            <label class="check">
                <input
                    type="checkbox"
                    name="confirm_retain"
                    value="on"
                    aria-invalid=retain_invalid
                    aria-describedby=retain_described
                />
                "Yes, keep it on the broker as the topic's retained message: every future \
                 subscriber gets it until it is replaced."
            </label>
            {retain_problem}
            <button type="submit">"Publish"</button>
        </form>
    }
}
