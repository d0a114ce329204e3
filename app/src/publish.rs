//! The publish page: a plain form (it works without JavaScript) posted to `POST /publish`, which
//! `server/src/publish.rs` checks, audits and hands to ingest's broker connection. Who may publish
//! where is the access policy's decision; the page only explains it, and the form is absent for
//! whoever may publish nowhere.
//!
//! After a post the server redirects back here (post/redirect/get) and leaves the outcome in the
//! session (a "flash", taken once): the notice and a refused form's values come from the server,
//! never from the URL, so a crafted link cannot make the page claim a publish that did not happen.
//! The session never holds a payload (see [`Draft`]).

use crate::pages::LoadError;
use crate::topic_filter::MAX_TOPIC_BYTES;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// The page, and where its form posts.
pub const PUBLISH: &str = "/publish";

/// The session key of the outcome the page shows once.
pub const FLASH_KEY: &str = "publish_flash";

/// The form's values, to fill it in again after a refusal. Not the payload: the draft waits in
/// the session, which PostgreSQL keeps, and a payload may be large or a secret meant for a
/// device. Its size is kept, so the page can ask for it again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload_bytes: usize,
}

/// How far a publish got. rumqttc reports what happened to a message only as the broker's
/// acknowledgements arrive, so this says exactly what is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// QoS 1 or 2: the broker acknowledged it (PUBACK, or PUBCOMP for QoS 2).
    Acknowledged,
    /// QoS 0: written to the broker connection. QoS 0 has no acknowledgement.
    Written,
    /// Queued on the connection, but no acknowledgement arrived within the wait. It is still
    /// queued or in flight and may reach the broker later.
    Unconfirmed,
    /// The connection dropped before the broker acknowledged it and the broker had not kept
    /// Lookout's session, so it will not be sent again. It may or may not have arrived.
    Lost,
    /// The connection dropped before it was sent and the broker had not kept Lookout's
    /// session, so it was never sent.
    NotSent,
}

impl Delivery {
    pub fn code(self) -> &'static str {
        match self {
            Delivery::Acknowledged => "acknowledged",
            Delivery::Written => "written",
            Delivery::Unconfirmed => "unconfirmed",
            Delivery::Lost => "lost",
            Delivery::NotSent => "not_sent",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Delivery::Acknowledged => "The broker acknowledged it.",
            Delivery::Written => {
                "It was sent to the broker; QoS 0 has no acknowledgement, so whether the broker \
                 took it is not known."
            }
            Delivery::Unconfirmed => {
                "The broker has not acknowledged it yet: it is still queued on Lookout's \
                 connection and may reach the broker later."
            }
            Delivery::Lost => {
                "The connection to the broker dropped before the broker acknowledged it, and \
                 Lookout does not send it again. It may or may not have arrived. Brokers close \
                 the connection over a message they refuse (one larger than they accept, say)."
            }
            Delivery::NotSent => {
                "The connection to the broker dropped before it was sent, and Lookout does not \
                 send it again: it was never sent."
            }
        }
    }

    fn is_warning(self) -> bool {
        !matches!(self, Delivery::Acknowledged | Delivery::Written)
    }
}

/// Why a form was sent back and nothing published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    EmptyTopic,
    Wildcard,
    NulCharacter,
    TopicTooLong,
    /// `$SYS/...` and other topics starting with `$` belong to the broker.
    ReservedTopic,
    /// A code point brokers refuse in a topic (see `topic_filter::check_topic_name`).
    ControlCharacter {
        code_point: u32,
    },
    NonCharacter {
        code_point: u32,
    },
    PayloadTooLarge {
        bytes: usize,
        limit: usize,
    },
    BadQos,
    RetainNotConfirmed,
    NotConnected,
    QueueFull,
    /// The audit log could not be written, and nothing is published unaudited.
    Unavailable,
}

impl Refusal {
    /// As the audit log records it.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::EmptyTopic => "empty_topic",
            Refusal::Wildcard => "wildcard",
            Refusal::NulCharacter => "nul_character",
            Refusal::TopicTooLong => "topic_too_long",
            Refusal::ReservedTopic => "reserved_topic",
            Refusal::ControlCharacter { .. } => "control_character",
            Refusal::NonCharacter { .. } => "non_character",
            Refusal::PayloadTooLarge { .. } => "payload_too_large",
            Refusal::BadQos => "bad_qos",
            Refusal::RetainNotConfirmed => "retain_not_confirmed",
            Refusal::NotConnected => "not_connected",
            Refusal::QueueFull => "queue_full",
            Refusal::Unavailable => "unavailable",
        }
    }

    pub fn text(self) -> String {
        match self {
            Refusal::EmptyTopic => "Enter the topic to publish to.".to_owned(),
            Refusal::Wildcard => {
                "A message goes to one topic: '+' and '#' are wildcards for subscribing and \
                 cannot be part of a topic to publish to."
                    .to_owned()
            }
            Refusal::NulCharacter => "A topic cannot contain the character U+0000.".to_owned(),
            Refusal::TopicTooLong => format!(
                "A topic is at most {MAX_TOPIC_BYTES} bytes, the longest topic Lookout stores."
            ),
            Refusal::ControlCharacter { code_point } => format!(
                "The topic contains U+{code_point:04X}, a control character. Brokers refuse \
                 topics with control characters (U+0000 to U+001F and U+007F to U+009F) and may \
                 drop the connection over them."
            ),
            Refusal::NonCharacter { code_point } => format!(
                "The topic contains U+{code_point:04X}, a Unicode non-character. Brokers refuse \
                 topics with non-characters (U+FDD0 to U+FDEF, and U+FFFE and U+FFFF in every \
                 plane) and may drop the connection over them."
            ),
            Refusal::ReservedTopic => {
                "Topics starting with '$' (such as $SYS/...) belong to the broker; clients do \
                 not publish to them."
                    .to_owned()
            }
            Refusal::PayloadTooLarge { bytes, limit } => format!(
                "The payload is {bytes} bytes; Lookout publishes at most {limit} bytes (the \
                 configured mqtt.max_payload_bytes)."
            ),
            Refusal::BadQos => "QoS is 0, 1 or 2.".to_owned(),
            Refusal::RetainNotConfirmed => {
                "A retained message stays on the broker and goes to every future subscriber of \
                 the topic until it is replaced. Tick the confirmation to publish it retained."
                    .to_owned()
            }
            Refusal::NotConnected => {
                "Lookout is not connected to the broker right now, so nothing was published. \
                 Try again once it has reconnected."
                    .to_owned()
            }
            Refusal::QueueFull => {
                "Lookout's broker connection is not taking requests right now (its queue is \
                 full), so nothing was published. Try again shortly."
                    .to_owned()
            }
            Refusal::Unavailable => {
                "Lookout cannot write its audit log right now, and publishes nothing it cannot \
                 record. Try again shortly."
                    .to_owned()
            }
        }
    }
}

/// What the last post to [`PUBLISH`] came to, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flash {
    Published {
        topic: String,
        qos: u8,
        retain: bool,
        bytes: usize,
        delivery: Delivery,
    },
    Refused {
        refusal: Refusal,
        draft: Draft,
    },
}

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
#[server(endpoint = "publish_page", output = crate::answer::JsonAnswer)]
pub async fn load_publish_page() -> Result<PublishPageData, ServerFnError> {
    use crate::access::PublishScope;
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("application state is missing"))?;
    let rules = state.access.rules().await.map_err(|error| {
        tracing::error!(error = ?error, "loading the rules for the publish page failed");
        ServerFnError::new("Lookout cannot reach its database right now; try again.")
    })?;
    let scope = match rules.publish_scope(&crate::access::current_visitor()) {
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
        .remove::<Flash>(FLASH_KEY)
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
    let (draft, notice) = match data.flash {
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
            let notice = view! {
                <p class="error" role="alert">{refusal.text()}</p>
                {paste_again}
            };
            (draft, Some(notice.into_any()))
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
            (draft, Some(notice.into_any()))
        }
        None => (
            Draft {
                topic: linked_topic,
                qos: 1,
                ..Draft::default()
            },
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
    let form = (!nowhere).then(|| view! { <PublishForm draft/> });
    view! {
        {notice}
        {scope}
        {disconnected}
        {form}
    }
}

#[component]
fn PublishForm(draft: Draft) -> impl IntoView {
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
                />
            </label>
            <label>
                "Payload" <textarea name="payload" rows="6" spellcheck="false"></textarea>
            </label>
            <label>"QoS " <select name="qos">{qos_options}</select></label>
            <label class="check">
                <input type="checkbox" name="retain" value="on" checked=draft.retain/>
                "Retain"
            </label>
            <label class="check">
                <input type="checkbox" name="confirm_retain" value="on"/>
                "Yes, keep it on the broker as the topic's retained message: every future \
                 subscriber gets it until it is replaced."
            </label>
            <button type="submit">"Publish"</button>
        </form>
    }
}
