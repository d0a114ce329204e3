//! `/admin/rules`: the access rules, forms to add, change and delete them, and who may read or
//! publish a given topic.

use crate::components::load_error::LoadError;
use crate::components::outcome_message::{FieldProblem, FormId, OutcomeMessage};
use crate::domain::roles::{Audience, Permission, Role};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// An access rule as the rules page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    pub id: i64,
    /// A role, or the public audience.
    pub role: Audience,
    pub filter: String,
    /// `read` or `publish`.
    pub permission: String,
}

/// Who may read and who may publish one topic, by the rules in force.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub topic: String,
    /// `false` when the text is not a topic name (empty, or with a wildcard): nobody's rules
    /// apply to it then.
    pub valid: bool,
    /// The public (through status pages) and the roles (live).
    pub read: Vec<Audience>,
    pub publish: Vec<Audience>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulesView {
    pub rules: Vec<RuleView>,
    pub preview: Option<Preview>,
}

/// The rules in force, and the "who can see topic X" answer when `topic` is given.
#[server(endpoint = "admin_rules", output = crate::domain::answer::JsonAnswer)]
pub async fn load_admin_rules(topic: Option<String>) -> Result<RulesView, ServerFnError> {
    let rules = crate::server::state::app_state()?
        .access
        .rules()
        .await
        .map_err(super::unavailable)?;
    let preview = topic.map(|topic| {
        let valid = crate::domain::topic_filter::is_topic_name(&topic);
        let (read, publish) = if valid {
            rules.who_may(&topic)
        } else {
            Default::default()
        };
        Preview {
            topic,
            valid,
            read,
            publish,
        }
    });
    Ok(RulesView {
        rules: rules
            .all()
            .iter()
            .map(|rule| RuleView {
                id: rule.id,
                role: rule.audience,
                filter: rule.filter.as_str().to_owned(),
                permission: rule.permission.as_str().to_owned(),
            })
            .collect(),
        preview,
    })
}

/// The roles and the public audience, for a rule.
#[component]
fn AudienceSelect(selected: Audience, form: String) -> impl IntoView {
    view! {
        <select name="role" form=form aria-label="Role or public">
            {Audience::ALL
                .into_iter()
                .map(|audience| {
                    view! {
                        <option value=audience.as_str() selected=audience == selected>
                            {audience.as_str()}
                        </option>
                    }
                })
                .collect_view()}
        </select>
    }
}

/// The add form's id (the row's inputs join it by HTML's `form` attribute).
const NEW_RULE: &str = "new-rule";

#[component]
fn PermissionSelect(
    selected: String,
    form: String,
    label: String,
    problem: FieldProblem,
) -> impl IntoView {
    view! {
        <select
            name="permission"
            form=form
            aria-label=label
            aria-invalid=problem.invalid()
            aria-describedby=problem.described_by()
        >
            {[Permission::Read, Permission::Publish, Permission::Compose]
                .map(Permission::as_str)
                .into_iter()
                .map(|permission| {
                    view! {
                        <option value=permission selected=permission == selected>
                            {permission}
                        </option>
                    }
                })
                .collect_view()}
        </select>
    }
}

/// `/admin/rules`: the access rules, forms to add, change and delete them, and which roles may
/// read or publish a given topic (`?topic=...`).
#[component]
pub fn RulesPage() -> impl IntoView {
    let query = use_query_map();
    let topic = move || query.read().get("topic").filter(|topic| !topic.is_empty());
    let rules = Resource::new(topic, load_admin_rules);
    view! {
        <main class="admin">
            <h1>"Access rules"</h1>
            <p class="notice">
                "Each rule lets a role read or publish the topics its MQTT filter matches. "
                "Admins may always read and publish everything; viewers never publish."
            </p>
            <p class="notice">
                "A " <strong>"compose"</strong> " rule lets its role's operators build boards of "
                "their own in the " <a href="/admin/pages">"board editor"</a> ", bound to the "
                "topics its filter matches that they may read. Each edits only the boards they "
                "created (admins edit all); only an admin makes a board public. Viewers never "
                "compose."
            </p>
            <p class="notice">
                "The rules for " <strong>"public"</strong> " are the public audience: the only "
                "topics anonymous visitors may ever see, through published "
                <a href="/admin/pages">"status pages"</a>
                ". With none, status pages show nothing; a widget bound outside them is refused, "
                "and a topic taken out of them leaves every page at its next rebuild. The public "
                "only reads."
            </p>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading rules…"</p> }>
                {move || Suspend::new(async move {
                    match rules.await {
                        Ok(view) => {
                            view! {
                                <RuleTable rules=view.rules/>
                                <h2>"Who can see a topic?"</h2>
                                <PreviewForm preview=view.preview/>
                            }
                                .into_any()
                        }
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
fn RuleTable(rules: Vec<RuleView>) -> impl IntoView {
    let rows = rules
        .into_iter()
        .map(|rule| {
            // The inputs sit in their own cells and join the form by its id (HTML's `form`
            // attribute), as a form cannot span table cells.
            let form = format!("rule-{}", rule.id);
            let (filter, permission) = (
                FieldProblem::new(&form, "filter"),
                FieldProblem::new(&form, "permission"),
            );
            view! {
                <tr data-rule=rule.id>
                    <td>
                        <AudienceSelect selected=rule.role form=form.clone()/>
                    </td>
                    <td>
                        <input
                            name="filter"
                            value=rule.filter.clone()
                            required
                            form=form.clone()
                            aria-label="Topic filter"
                            aria-invalid=filter.invalid()
                            aria-describedby=filter.described_by()
                        />
                        {filter.message()}
                    </td>
                    <td>
                        <PermissionSelect
                            selected=rule.permission.clone()
                            form=form.clone()
                            label="Permission".to_owned()
                            problem=permission.clone()
                        />
                        {permission.message()}
                    </td>
                    <td class="actions">
                        <form method="post" action="/admin/rules/change" id=form.clone()>
                            <FormId id=form.clone()/>
                            <input type="hidden" name="id" value=rule.id/>
                            <button type="submit">"Save"</button>
                        </form>
                        <form method="post" action="/admin/rules/delete">
                            <input type="hidden" name="id" value=rule.id/>
                            <button type="submit">"Delete"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let (new_filter, new_permission) = (
        FieldProblem::new(NEW_RULE, "filter"),
        FieldProblem::new(NEW_RULE, "permission"),
    );
    view! {
        <table class="admin-table rules">
            <thead>
                <tr>
                    <th scope="col">"Role"</th>
                    <th scope="col">"Topic filter"</th>
                    <th scope="col">"Permission"</th>
                    <th scope="col">"Change"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
            <tfoot>
                <tr>
                    <td>
                        <AudienceSelect
                            selected=Audience::Role(Role::Viewer)
                            form=NEW_RULE.to_owned()
                        />
                    </td>
                    <td>
                        <input
                            name="filter"
                            required
                            placeholder="plant/+/temperature"
                            form=NEW_RULE
                            aria-label="Topic filter"
                            aria-invalid=new_filter.invalid()
                            aria-describedby=new_filter.described_by()
                        />
                        {new_filter.message()}
                    </td>
                    <td>
                        <PermissionSelect
                            selected="read".to_owned()
                            form=NEW_RULE.to_owned()
                            label="Permission".to_owned()
                            problem=new_permission.clone()
                        />
                        {new_permission.message()}
                    </td>
                    <td class="actions">
                        <form method="post" action="/admin/rules/add" id=NEW_RULE>
                            <FormId id=NEW_RULE/>
                            <button type="submit">"Add rule"</button>
                        </form>
                    </td>
                </tr>
            </tfoot>
        </table>
    }
}

#[component]
fn PreviewForm(preview: Option<Preview>) -> impl IntoView {
    let typed = preview
        .as_ref()
        .map(|preview| preview.topic.clone())
        .unwrap_or_default();
    let names = |audiences: &[Audience]| {
        if audiences.is_empty() {
            "nobody".to_owned()
        } else {
            audiences
                .iter()
                .map(|audience| match audience {
                    Audience::Public => "public (through status pages)",
                    Audience::Role(role) => role.as_str(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let answer = preview.map(|preview| {
        if !preview.valid {
            return view! {
                <p class="error" role="alert">
                    <code>{preview.topic}</code>
                    " is not a topic name: it cannot be empty or hold '+' or '#'."
                </p>
            }
            .into_any();
        }
        view! {
            <dl class="preview" data-topic=preview.topic.clone()>
                <dt>"Topic"</dt>
                <dd><code>{preview.topic.clone()}</code></dd>
                <dt>"May read"</dt>
                <dd class="may-read">{names(&preview.read)}</dd>
                <dt>"May publish"</dt>
                <dd class="may-publish">{names(&preview.publish)}</dd>
            </dl>
        }
        .into_any()
    });
    view! {
        <form method="get" action="/admin/rules" class="preview-form">
            <label>
                "Topic " <input name="topic" value=typed placeholder="plant/boiler/temperature"/>
            </label>
            <button type="submit">"Show"</button>
        </form>
        {answer}
    }
}
