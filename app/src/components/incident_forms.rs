//! Incidents as the people who write them see them: each with its updates and a form for the
//! next one, and the form that opens one. Shown in the status page editor (admins) and on the
//! incident desk (operators and admins); both post to the same routes, handled in
//! `server/src/admin.rs` through `server::status_edits`, which the access policy opens to
//! operators (`Area::Operations`). Plain forms, so they work without JavaScript.

use crate::components::outcome_message::{FieldProblem, FormId};
use crate::domain::incident::{Incident, IncidentStatus, Proposal};
use crate::domain::wording::format_utc_minute;
use leptos::prelude::*;

pub const OPEN_INCIDENT: &str = "/incidents/open";
pub const UPDATE_INCIDENT: &str = "/incidents/update";
pub const DISMISS_PROPOSAL: &str = "/incidents/dismiss";

/// Where a form's post returns to: the value of its `back` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Back {
    /// The page's editor (`/admin/pages/<id>`).
    Editor,
    /// The incident desk (`/incidents`).
    Desk,
}

impl Back {
    pub fn as_str(self) -> &'static str {
        match self {
            Back::Editor => "editor",
            Back::Desk => "desk",
        }
    }

    /// A posted `back`; anything else returns to the desk, which every operator may open.
    pub fn parse(text: &str) -> Self {
        if text == "editor" {
            Back::Editor
        } else {
            Back::Desk
        }
    }
}

/// One incident with its newest updates and the form for the next update. `widgets` are the
/// page's widgets (id and label), to name the affected ones; `children` adds actions (the
/// editor's delete button).
#[component]
pub fn IncidentCard(
    page: i64,
    incident: Incident,
    widgets: Vec<(i64, String)>,
    back: Back,
    #[prop(optional, into)] heading: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let form = format!("incident-{}", incident.id);
    let updates = incident
        .updates
        .iter()
        .map(|update| {
            view! {
                <li>
                    <strong>{update.status.words()}</strong>
                    " · " {format_utc_minute(update.at_ms)} " — "
                    <span class="incident-message">{update.message.clone()}</span>
                </li>
            }
        })
        .collect_view();
    let affected = affected_words(&incident.widgets, &widgets);
    view! {
        <article class="card incident" data-incident=incident.id>
            {heading.map(|heading| view! { <p class="incident-page">{heading}</p> })}
            <h3>{incident.title.clone()} " " <span class="badge">{incident.status.words()}</span></h3>
            <p class="incident-affects">{affected}</p>
            <ul class="incident-updates">{updates}</ul>
            <IncidentFields form=form.clone() title=false status=incident.status/>
            <form method="post" action=UPDATE_INCIDENT id=form.clone()>
                <FormId id=form.clone()/>
                <input type="hidden" name="page" value=page/>
                <input type="hidden" name="id" value=incident.id/>
                <input type="hidden" name="back" value=back.as_str()/>
                <button type="submit">"Post update"</button>
            </form>
            {children.map(|children| children())}
        </article>
    }
}

/// "Affects: Pump, Boiler", or the page as a whole.
fn affected_words(affected: &[i64], widgets: &[(i64, String)]) -> String {
    let labels: Vec<&str> = affected
        .iter()
        .filter_map(|id| {
            widgets
                .iter()
                .find(|(widget, _)| widget == id)
                .map(|(_, label)| label.as_str())
        })
        .collect();
    if labels.is_empty() {
        "Affects the whole page".to_owned()
    } else {
        format!("Affects: {}", labels.join(", "))
    }
}

/// The form that opens an incident on page `page`, with a box per widget it may affect.
#[component]
pub fn OpenIncidentForm(page: i64, widgets: Vec<(i64, String)>, back: Back) -> impl IntoView {
    view! { <IncidentOpening form="new-incident" page widgets back/> }
}

/// An incident a firing alert proposes, with the form that opens it (its title only a
/// suggestion, its widgets ticked) and the button that dismisses it.
#[component]
pub fn ProposalCard(
    proposal: Proposal,
    widgets: Vec<(i64, String)>,
    page_title: String,
) -> impl IntoView {
    let form = format!(
        "proposal-{}-{}-{}",
        proposal.rule_id, proposal.page_id, proposal.since_ms
    );
    let named = (
        proposal.rule_id.to_string(),
        proposal.subject.clone(),
        proposal.since_ms.to_string(),
    );
    let fields = {
        let (rule, subject, since) = named.clone();
        move || {
            view! {
                <input type="hidden" name="proposal_rule" value=rule.clone()/>
                <input type="hidden" name="proposal_subject" value=subject.clone()/>
                <input type="hidden" name="proposal_since" value=since.clone()/>
            }
        }
    };
    view! {
        <article class="card proposal" data-proposal=form.clone()>
            <p class="incident-page">{page_title}</p>
            <h3>
                {proposal.rule.clone()} " " <span class="badge">{proposal.severity.as_str()}</span>
            </h3>
            <p>
                "Firing since " {format_utc_minute(proposal.since_ms)} " about "
                <code>{proposal.subject_words.clone()}</code>
                ". Visitors see nothing until you open an incident, in your words."
            </p>
            <IncidentOpening
                form=form.clone()
                page=proposal.page_id
                widgets
                back=Back::Desk
                suggested=proposal.title.clone()
                ticked=proposal.widgets.clone()
                proposal=fields().into_any()
            />
            <form method="post" action=DISMISS_PROPOSAL>
                <input type="hidden" name="page" value=proposal.page_id/>
                {fields()}
                <button type="submit" class="secondary">"Dismiss"</button>
            </form>
        </article>
    }
}

#[component]
fn IncidentOpening(
    #[prop(into)] form: String,
    page: i64,
    widgets: Vec<(i64, String)>,
    back: Back,
    #[prop(optional)] suggested: String,
    #[prop(optional)] ticked: Vec<i64>,
    #[prop(optional, into)] proposal: Option<AnyView>,
) -> impl IntoView {
    let affected = FieldProblem::new(&form, "widget");
    let boxes = widgets
        .iter()
        .map(|(id, label)| {
            let box_id = format!("{form}-widget-{id}");
            view! {
                <div class="field tick">
                    <input type="checkbox" id=box_id.clone() name="widget" value=*id
                        checked=ticked.contains(id) form=form.clone()/>
                    <label for=box_id>{label.clone()}</label>
                </div>
            }
        })
        .collect_view();
    view! {
        <IncidentFields
            form=form.clone()
            title=true
            status=IncidentStatus::Investigating
            suggested
        />
        {(!widgets.is_empty()).then(|| view! {
            <fieldset class="field">
                <legend>"Affected widgets (none ticked: the whole page)"</legend>
                {boxes}
                {affected.message()}
            </fieldset>
        })}
        <form method="post" action=OPEN_INCIDENT id=form.clone()>
            <FormId id=form.clone()/>
            <input type="hidden" name="page" value=page/>
            <input type="hidden" name="back" value=back.as_str()/>
            {proposal}
            <button type="submit">"Open incident"</button>
        </form>
    }
}

/// The fields of an incident's form: a title (for a new one), the status from now on and the
/// message.
#[component]
fn IncidentFields(
    form: String,
    title: bool,
    status: IncidentStatus,
    #[prop(optional)] suggested: String,
) -> impl IntoView {
    let [title_problem, status_problem, message_problem] =
        ["title", "status", "message"].map(|field| FieldProblem::new(&form, field));
    let options = IncidentStatus::ALL
        .into_iter()
        .map(|choice| {
            view! {
                <option value=choice.as_str() selected=choice == status>{choice.words()}</option>
            }
        })
        .collect_view();
    let ids = ["title", "status", "message"].map(|field| format!("{form}-{field}"));
    view! {
        <div class="incident-fields">
            {title.then(|| view! {
                <div class="field">
                    <label for=ids[0].clone()>"Title"</label>
                    <input id=ids[0].clone() name="title" maxlength="120" form=form.clone()
                        placeholder="Readings from the plant are delayed"
                        value=suggested.clone()
                        aria-invalid=title_problem.invalid()
                        aria-describedby=title_problem.described_by()/>
                    {title_problem.message()}
                </div>
            })}
            <div class="field">
                <label for=ids[1].clone()>"Status"</label>
                <select id=ids[1].clone() name="status" form=form.clone()
                    aria-invalid=status_problem.invalid()
                    aria-describedby=status_problem.described_by()>
                    {options}
                </select>
                {status_problem.message()}
            </div>
            <div class="field">
                <label for=ids[2].clone()>"Message"</label>
                <textarea id=ids[2].clone() name="message" rows="3" maxlength="4000" form=form.clone()
                    aria-invalid=message_problem.invalid()
                    aria-describedby=message_problem.described_by()></textarea>
                {message_problem.message()}
            </div>
        </div>
    }
    .into_any()
}
