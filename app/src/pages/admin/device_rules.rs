//! `/admin/devices`: the liveness rules, which find devices by their topics and say how often
//! each is expected to send, with forms to add, change and delete them. What a state means is
//! decided in [`crate::domain::liveness`].

use crate::components::load_error::LoadError;
use crate::components::outcome_message::{FieldProblem, FormId, OutcomeMessage};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A liveness rule as the admin page shows and edits it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LivenessRuleView {
    pub id: i64,
    pub name: String,
    pub device_filter: String,
    /// Empty when there is none.
    pub status_topic: String,
    pub interval_seconds: i64,
    pub online: String,
    pub offline: String,
    /// How many devices it finds now, so an admin sees at once whether the filter fits.
    pub devices: usize,
}

/// Every liveness rule, with how many devices each finds.
#[server(endpoint = "admin_devices", output = crate::domain::answer::JsonAnswer)]
pub async fn load_liveness_rules() -> Result<Vec<LivenessRuleView>, ServerFnError> {
    use super::unavailable;
    let state = crate::server::state::app_state()?;
    let rules = state.store.liveness_rules().await.map_err(unavailable)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let devices = crate::server::devices::find_devices(&state.store, &rules, |_| true, now_ms)
        .await
        .map_err(unavailable)?;
    Ok(rules
        .into_iter()
        .map(|rule| LivenessRuleView {
            devices: devices.iter().filter(|d| d.rule_id == rule.id).count(),
            id: rule.id,
            device_filter: rule.devices.as_str().to_owned(),
            status_topic: rule
                .status
                .as_ref()
                .map(|status| status.as_str().to_owned())
                .unwrap_or_default(),
            interval_seconds: rule.interval_seconds,
            online: rule.words.online,
            offline: rule.words.offline,
            name: rule.name,
        })
        .collect())
}

/// `/admin/devices`: the liveness rules, with forms to add, change and delete them.
#[component]
pub fn DeviceRulesPage() -> impl IntoView {
    let rules = Resource::new(|| (), |_| load_liveness_rules());
    view! {
        <main class="admin">
            <h1>"Device rules"</h1>
            <p class="notice">
                "A rule finds devices by their topics: the one '+' of its filter names the device "
                "(" <code>"sensors/+/#"</code> " makes every topic under " <code>"sensors/boiler/"</code>
                " belong to " <code>"boiler"</code> "). A device is offline when it is silent for "
                "1.5 times its expected interval, or when its status topic (often its last will) "
                "says so. Status payloads are the online and offline words (any letter case), "
                <code>"true"</code> "/" <code>"false"</code> ", " <code>"1"</code> "/" <code>"0"</code>
                ", or JSON such as " <code>"{\"state\": \"offline\"}"</code> "."
            </p>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading device rules…"</p> }>
                {move || Suspend::new(async move {
                    match rules.await {
                        Ok(rules) => view! { <LivenessRuleTable rules/> }.into_any(),
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

/// The inputs of one rule, joined to its form by the form's id (a form cannot span table cells).
#[component]
fn LivenessRuleCells(form: String, rule: Option<LivenessRuleView>) -> impl IntoView {
    let value = |pick: fn(&LivenessRuleView) -> String| rule.as_ref().map(pick);
    let [name, filter, interval, status_topic, online, offline] = [
        "name",
        "filter",
        "interval",
        "status_topic",
        "online",
        "offline",
    ]
    .map(|field| FieldProblem::new(&form, field));
    view! {
        <td>
            <input
                name="name"
                required
                maxlength="80"
                value=value(|r| r.name.clone())
                placeholder="Sensors"
                form=form.clone()
                aria-label="Name"
                aria-invalid=name.invalid()
                aria-describedby=name.described_by()
            />
            {name.message()}
        </td>
        <td>
            <input
                name="filter"
                required
                value=value(|r| r.device_filter.clone())
                placeholder="sensors/+/#"
                form=form.clone()
                aria-label="Device topics"
                aria-invalid=filter.invalid()
                aria-describedby=filter.described_by()
            />
            {filter.message()}
        </td>
        <td>
            <input
                name="interval"
                type="number"
                required
                min="1"
                max="604800"
                value=value(|r| r.interval_seconds.to_string()).unwrap_or_else(|| "60".to_owned())
                form=form.clone()
                aria-label="Expected interval in seconds"
                aria-invalid=interval.invalid()
                aria-describedby=interval.described_by()
            />
            {interval.message()}
        </td>
        <td>
            <input
                name="status_topic"
                value=value(|r| r.status_topic.clone())
                placeholder="sensors/+/status"
                form=form.clone()
                aria-label="Status topic"
                aria-invalid=status_topic.invalid()
                aria-describedby=status_topic.described_by()
            />
            {status_topic.message()}
        </td>
        <td>
            <input
                name="online"
                maxlength="64"
                value=value(|r| r.online.clone()).unwrap_or_else(|| "online".to_owned())
                form=form.clone()
                aria-label="Online payload"
                aria-invalid=online.invalid()
                aria-describedby=online.described_by()
            />
            {online.message()}
        </td>
        <td>
            <input
                name="offline"
                maxlength="64"
                value=value(|r| r.offline.clone()).unwrap_or_else(|| "offline".to_owned())
                form=form
                aria-label="Offline payload"
                aria-invalid=offline.invalid()
                aria-describedby=offline.described_by()
            />
            {offline.message()}
        </td>
    }
}

#[component]
fn LivenessRuleTable(rules: Vec<LivenessRuleView>) -> impl IntoView {
    let rows = rules
        .into_iter()
        .map(|rule| {
            let form = format!("device-rule-{}", rule.id);
            let (id, found) = (rule.id, rule.devices);
            view! {
                <tr data-device-rule=id>
                    <LivenessRuleCells form=form.clone() rule=Some(rule)/>
                    <td class="count">{found}</td>
                    <td class="actions">
                        <form method="post" action="/admin/devices/change" id=form.clone()>
                            <FormId id=form.clone()/>
                            <input type="hidden" name="id" value=id/>
                            <button type="submit">"Save"</button>
                        </form>
                        <form method="post" action="/admin/devices/delete">
                            <input type="hidden" name="id" value=id/>
                            <button type="submit">"Delete"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="admin-table device-rules">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Device topics"</th>
                    <th scope="col">"Expected every (s)"</th>
                    <th scope="col">"Status topic"</th>
                    <th scope="col">"Online payload"</th>
                    <th scope="col">"Offline payload"</th>
                    <th scope="col">"Devices"</th>
                    <th scope="col">"Change"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
            <tfoot>
                <tr>
                    <LivenessRuleCells form="new-device-rule".to_owned() rule=None/>
                    <td></td>
                    <td class="actions">
                        <form method="post" action="/admin/devices/add" id="new-device-rule">
                            <FormId id="new-device-rule"/>
                            <button type="submit">"Add rule"</button>
                        </form>
                    </td>
                </tr>
            </tfoot>
        </table>
    }
}
