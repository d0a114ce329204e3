//! `/incidents`, the incident desk: where the people on duty (operators and admins) tell status
//! pages' visitors what is going wrong. Every open incident of every page with a form for its
//! next update, and, for the page chosen (`?page=<id>`), the form that opens one with the
//! widgets it affects; above them, the incidents firing alerts propose (worked out from the
//! firing states and the published pages' widgets), each to open in a person's words or dismiss.
//! It reads through the `ops_incidents` server function; the forms post to
//! the routes of `components::incident_forms`. The access policy opens both to operators and
//! admins only (`Area::Operations`).

use crate::components::incident_forms::{Back, IncidentCard, OpenIncidentForm, ProposalCard};
use crate::components::load_error::LoadError;
use crate::components::outcome_message::OutcomeMessage;
#[cfg(feature = "ssr")]
use crate::domain::incident::proposals;
use crate::domain::incident::{Incident, Proposal, DESK_SHOWN};
use crate::domain::status_page::page_path;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// A status page as the desk lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeskPage {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub published: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Desk {
    pub pages: Vec<DeskPage>,
    /// Open incidents with their page's id, the most recently opened first.
    pub open: Vec<(i64, Incident)>,
    /// The widgets (id, label) of every page that has an open incident and of the chosen one.
    pub widgets: Vec<(i64, Vec<(i64, String)>)>,
    /// The page chosen to open an incident on.
    pub chosen: Option<i64>,
    /// Incidents firing alerts propose, for someone to open in their words or dismiss.
    pub proposals: Vec<Proposal>,
}

#[server(endpoint = "ops_incidents", output = crate::domain::answer::JsonAnswer)]
pub async fn load_desk(page: Option<i64>) -> Result<Desk, ServerFnError> {
    use crate::components::load_error::unavailable;
    let store = &crate::server::state::app_state()?.store;
    let pages: Vec<DeskPage> = store
        .status_pages()
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|page| DeskPage {
            id: page.id,
            slug: page.slug,
            title: page.title,
            published: page.published,
        })
        .collect();
    let open = store.open_incidents().await.map_err(unavailable)?;
    let chosen = page.filter(|id| pages.iter().any(|page| page.id == *id));
    let proposals = proposed(store).await.map_err(unavailable)?;
    let mut wanted: Vec<i64> = open
        .iter()
        .map(|(page, _)| *page)
        .chain(chosen)
        .chain(proposals.iter().map(|proposal| proposal.page_id))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let widgets = store.widget_labels(&wanted).await.map_err(unavailable)?;
    Ok(Desk {
        pages,
        open,
        widgets,
        chosen,
        proposals,
    })
}

/// What the alerts firing now propose: each about widgets of a published page, and not yet
/// answered by anyone.
#[cfg(feature = "ssr")]
async fn proposed(store: &crate::server::store::Store) -> Result<Vec<Proposal>, sqlx::Error> {
    /// Firings weighed: far more than the desk shows, as most are about no page.
    const FIRINGS_READ: i64 = 1_000;
    let firing = store.firing_alerts(FIRINGS_READ).await?;
    if firing.is_empty() {
        return Ok(Vec::new());
    }
    let mut rule_ids: Vec<i64> = firing.iter().map(|alert| alert.rule_id).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let rules = store.alert_rules_of(&rule_ids).await?;
    let widgets = store.published_widgets().await?;
    let settled = store.settled_proposals(&rule_ids).await?;
    Ok(proposals(&firing, &rules, &widgets, &settled))
}

#[component]
pub fn IncidentDesk() -> impl IntoView {
    let query = use_query_map();
    let chosen = move || {
        query
            .read()
            .get("page")
            .and_then(|page| page.parse::<i64>().ok())
    };
    let desk = Resource::new(chosen, load_desk);
    view! {
        <main class="admin incident-desk">
            <h1>"Incidents"</h1>
            <p class="notice">
                "Tell the visitors of a status page what is going wrong, in your own words: what "
                "you write is shown on the public page, in its JSON and in its feed at once. "
                "Post an update at each change; resolving one moves it to the page's history."
            </p>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading incidents…"</p> }>
                {move || Suspend::new(async move {
                    match desk.await {
                        Ok(desk) => view! { <DeskBody desk/> }.into_any(),
                        Err(error) => view! { <LoadError error/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn DeskBody(desk: Desk) -> impl IntoView {
    let Desk {
        pages,
        open,
        widgets,
        chosen,
        proposals,
    } = desk;
    let widgets_of = move |page: i64| {
        widgets
            .iter()
            .find(|(id, _)| *id == page)
            .map(|(_, labels)| labels.clone())
            .unwrap_or_default()
    };
    let title_of = |page: i64| {
        pages
            .iter()
            .find(|listed| listed.id == page)
            .map(|listed| listed.title.clone())
            .unwrap_or_default()
    };
    let full = open.len() as i64 >= DESK_SHOWN;
    let none_open = open.is_empty();
    let cards = open
        .into_iter()
        .map(|(page, incident)| {
            view! {
                <IncidentCard
                    page
                    incident
                    widgets=widgets_of(page)
                    back=Back::Desk
                    heading=title_of(page)
                />
            }
        })
        .collect_view();
    let opening = chosen.map(|page| {
        let listed = pages.iter().find(|listed| listed.id == page).cloned();
        view! {
            <section class="card" aria-labelledby="open-incident">
                <h2 id="open-incident">
                    "Open an incident on “" {listed.as_ref().map(|p| p.title.clone())} "”"
                </h2>
                <OpenIncidentForm page widgets=widgets_of(page) back=Back::Desk/>
            </section>
        }
    });
    let rows = pages
        .iter()
        .map(|page| {
            view! {
                <tr data-page=page.slug.clone()>
                    <td>{page.title.clone()}</td>
                    <td>
                        <a href=page_path(&page.slug)>{page_path(&page.slug)}</a>
                        {(!page.published).then_some(" (draft)")}
                    </td>
                    <td><a href=format!("/incidents?page={}#open-incident", page.id)>"Open an incident"</a></td>
                </tr>
            }
        })
        .collect_view();
    let proposed = (!proposals.is_empty()).then(|| {
        let cards = proposals
            .into_iter()
            .map(|proposal| {
                view! {
                    <ProposalCard
                        widgets=widgets_of(proposal.page_id)
                        page_title=title_of(proposal.page_id)
                        proposal
                    />
                }
            })
            .collect_view();
        view! {
            <h2>"Proposed by alerts"</h2>
            <p class="notice">
                "These alerts fire about widgets of published pages. Open an incident to tell "
                "visitors (the words are yours), or dismiss the proposal."
            </p>
            {cards}
        }
    });
    view! {
        {opening}
        {proposed}
        <h2>"Open incidents"</h2>
        {full.then(|| view! {
            <p class="notice">"Only the " {DESK_SHOWN} " most recently opened are listed."</p>
        })}
        {none_open.then(|| view! { <p data-no-incidents>"No incident is open."</p> })}
        {cards}
        <h2>"Status pages"</h2>
        {if pages.is_empty() {
            view! { <p>"No status pages yet: an admin makes them."</p> }.into_any()
        } else {
            view! {
                <table class="admin-table">
                    <thead><tr>
                        <th scope="col">"Page"</th><th scope="col">"Address"</th>
                        <th scope="col">"Incident"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }
            .into_any()
        }}
    }
}
