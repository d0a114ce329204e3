//! `/admin/alerts`: the channels notices go to and the rules that watch, with plain forms to
//! add, change, test and delete them, each rule with what it watches now (how many subjects,
//! which fire and since when) and its last notices, each channel with whether its sends fail.
//! What a rule means: [`crate::domain::alert_rule`]; when it fires: [`crate::domain::alerting`].

use crate::components::load_error::LoadError;
use crate::components::outcome_message::{FieldProblem, FormId, OutcomeMessage};
use crate::domain::alert_rule::RuleForm;
use crate::domain::notice::ChannelFormat;
use crate::domain::wording;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A channel as the page shows and edits it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub format: String,
    pub url: String,
    /// Empty: the format's default.
    pub template: String,
    pub enabled: bool,
    pub failing_since_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Kept in the config file: changed there, not here.
    #[serde(default)]
    pub from_config: bool,
}

/// A notice as the page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoticeView {
    pub id: i64,
    pub channel: String,
    pub state: String,
    pub subject: String,
    pub at_ms: i64,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// A subject that fires now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FiringView {
    pub subject: String,
    pub since_ms: Option<i64>,
    pub value: String,
}

/// A rule as the page shows and edits it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    pub id: i64,
    pub form: RuleForm,
    pub describe: String,
    /// Subjects with a recorded state (that fired at least once, or are watched by a silence).
    pub recorded: usize,
    /// The first few that fire now, longest first.
    pub firing: Vec<FiringView>,
    pub firing_count: usize,
    pub notices: Vec<NoticeView>,
    /// Kept in the config file: changed there, not here.
    #[serde(default)]
    pub from_config: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertsView {
    pub channels: Vec<ChannelView>,
    /// One page of the rules, oldest first.
    pub rules: Vec<RuleView>,
    /// The page shown (from 0) and how many rules there are in all.
    pub page: u32,
    pub total_rules: i64,
    /// Device rules by id and name, for device offline rules.
    pub device_rules: Vec<(i64, String)>,
    /// The last channel tests.
    pub tests: Vec<NoticeView>,
}

/// Rules per page: each card carries its whole form, so a page stays a page.
pub const RULES_PER_PAGE: u32 = 50;

/// How many firing subjects and notices a rule shows.
#[cfg(feature = "ssr")]
const SHOWN_PER_RULE: i64 = 10;

/// Every channel, and page `page` of the rules with their states and last notices: a bounded
/// number of queries and rows whatever the number of rules and subjects.
#[server(endpoint = "admin_alerts", output = crate::domain::answer::JsonAnswer)]
pub async fn load_alerts(page: Option<u32>) -> Result<AlertsView, ServerFnError> {
    let page = page
        .unwrap_or(0)
        .min(crate::domain::alert_rule::MAX_RULES as u32 / RULES_PER_PAGE);
    use super::unavailable;
    use crate::server::store::alerts::NoticeRecord;
    let state = crate::server::state::app_state()?;
    let store = &state.store;
    let notice_view = |record: NoticeRecord| NoticeView {
        id: record.id,
        channel: record.channel,
        state: record.state.as_str().to_owned(),
        subject: record.subject,
        at_ms: record.created_at.timestamp_millis(),
        status: record.status,
        attempts: record.attempts,
        last_error: record.last_error,
    };
    let (config_channels, config_rules) = store.config_alerts().await.map_err(unavailable)?;
    let channels = store
        .alert_channels()
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|row| ChannelView {
            id: row.channel.id,
            name: row.channel.name,
            format: row.channel.format.as_str().to_owned(),
            url: row.channel.url,
            template: row.channel.template.unwrap_or_default(),
            enabled: row.channel.enabled,
            failing_since_ms: row.failing_since.map(|at| at.timestamp_millis()),
            last_error: row.last_error,
            from_config: config_channels.contains(&row.channel.id),
        })
        .collect();
    let (page_rules, total_rules) = store
        .alert_rules_page(
            i64::from(page) * i64::from(RULES_PER_PAGE),
            i64::from(RULES_PER_PAGE),
        )
        .await
        .map_err(unavailable)?;
    let ids: Vec<i64> = page_rules.iter().map(|rule| rule.id).collect();
    let mut summaries = store
        .alert_rule_summaries(&ids, SHOWN_PER_RULE)
        .await
        .map_err(unavailable)?;
    let mut notices = store
        .recent_notices_of(&ids, SHOWN_PER_RULE)
        .await
        .map_err(unavailable)?;
    let rules = page_rules
        .into_iter()
        .map(|rule| {
            let summary = summaries.remove(&rule.id).unwrap_or_default();
            RuleView {
                from_config: config_rules.contains(&rule.id),
                id: rule.id,
                describe: rule.condition.describe(),
                form: RuleForm::from_rule(&rule),
                recorded: summary.recorded as usize,
                firing_count: summary.firing_count as usize,
                firing: summary
                    .firing
                    .into_iter()
                    .map(|(subject, since, value)| FiringView {
                        subject,
                        since_ms: since.map(|at| at.timestamp_millis()),
                        value,
                    })
                    .collect(),
                notices: notices
                    .remove(&rule.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(notice_view)
                    .collect(),
            }
        })
        .collect();
    let device_rules = store
        .liveness_rules()
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|rule| (rule.id, rule.name))
        .collect();
    let tests = store
        .recent_tests(SHOWN_PER_RULE)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(notice_view)
        .collect();
    Ok(AlertsView {
        channels,
        rules,
        page,
        total_rules,
        device_rules,
        tests,
    })
}

/// `/admin/alerts`: channels and rules, with forms to add, change, test and delete them.
#[component]
pub fn AlertsPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|page| page.parse::<u32>().ok())
    };
    let alerts = Resource::new(page, load_alerts);
    view! {
        <main class="admin alerts">
            <h1>"Alerts"</h1>
            <p class="notice">
                "A rule watches devices, values or Lookout itself and tells its channels when it "
                "fires, reminds, resolves or flaps. A channel is a web address that takes a JSON "
                "body (a webhook, Slack, Discord, Teams, Telegram, ntfy, Gotify or Matrix). "
                "Rules are evaluated as messages arrive; while Lookout cannot see the broker, "
                "rules about devices and topics hold, and only a rule about Lookout itself tells."
            </p>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading alerts…"</p> }>
                {move || Suspend::new(async move {
                    match alerts.await {
                        Ok(alerts) => view! { <AlertsBody alerts/> }.into_any(),
                        Err(error) => view! { <LoadError error/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn AlertsBody(alerts: AlertsView) -> impl IntoView {
    let AlertsView {
        channels,
        rules,
        page,
        total_rules,
        device_rules,
        tests,
    } = alerts;
    let last_page = (total_rules.max(1) - 1) / i64::from(RULES_PER_PAGE);
    let pager = (total_rules > i64::from(RULES_PER_PAGE)).then(|| {
        let page = i64::from(page);
        let first = page * i64::from(RULES_PER_PAGE) + 1;
        let shown_last = ((page + 1) * i64::from(RULES_PER_PAGE)).min(total_rules);
        view! {
            <nav class="pager" aria-label="Rule pages">
                <span>{format!("Rules {first} to {shown_last} of {total_rules}")}</span>
                {(page > 0).then(|| view! {
                    <a class="button" href=format!("/admin/alerts?page={}", page - 1)>"Earlier rules"</a>
                })}
                {(page < last_page).then(|| view! {
                    <a class="button" href=format!("/admin/alerts?page={}", page + 1)>"Later rules"</a>
                })}
            </nav>
        }
    });
    let channel_choices: Vec<(i64, String)> =
        channels.iter().map(|c| (c.id, c.name.clone())).collect();
    let rule_cards = rules
        .into_iter()
        .map(|rule| {
            view! {
                <RuleCard
                    rule
                    channels=channel_choices.clone()
                    device_rules=device_rules.clone()
                />
            }
        })
        .collect_view();
    let channel_rows = channels
        .into_iter()
        .map(|channel| view! { <ChannelCard channel/> })
        .collect_view();
    view! {
        <section aria-labelledby="rules-heading">
            <h2 id="rules-heading">"Rules"</h2>
            <div class="alert-rules">{rule_cards}</div>
            {pager}
            <details class="card" open=false>
                <summary>"Add a rule"</summary>
                <RuleFields
                    form_id="new-alert-rule".to_owned()
                    rule=None
                    channels=channel_choices.clone()
                    device_rules=device_rules.clone()
                />
                <form method="post" action="/admin/alerts/rules/add" id="new-alert-rule">
                    <FormId id="new-alert-rule"/>
                    <button type="submit">"Add rule"</button>
                </form>
            </details>
        </section>
        <section aria-labelledby="channels-heading">
            <h2 id="channels-heading">"Channels"</h2>
            <div class="alert-channels">{channel_rows}</div>
            <details class="card">
                <summary>"Add a channel"</summary>
                <ChannelFields form_id="new-channel".to_owned() channel=None/>
                <form method="post" action="/admin/alerts/channels/add" id="new-channel">
                    <FormId id="new-channel"/>
                    <button type="submit">"Add channel"</button>
                </form>
            </details>
            <h3>"Last tests"</h3>
            <NoticeTable notices=tests/>
        </section>
    }
    .into_any()
}

#[component]
fn RuleCard(
    rule: RuleView,
    channels: Vec<(i64, String)>,
    device_rules: Vec<(i64, String)>,
) -> impl IntoView {
    let form = format!("alert-rule-{}", rule.id);
    let id = rule.id;
    let state = if !rule.form.enabled {
        view! { <span class="badge">"disabled"</span> }.into_any()
    } else if rule.firing_count > 0 {
        view! { <span class="badge bad">{format!("firing: {}", rule.firing_count)}</span> }
            .into_any()
    } else {
        view! { <span class="badge good">"quiet"</span> }.into_any()
    };
    let firing = rule
        .firing
        .iter()
        .map(|firing| {
            let since = firing.since_ms.map(wording::format_utc).unwrap_or_default();
            view! {
                <li>
                    <code>{firing.subject.clone()}</code>
                    " since " {since}
                    {(!firing.value.is_empty()).then(|| format!(", value {}", firing.value))}
                </li>
            }
        })
        .collect_view();
    view! {
        <article class="card alert-rule" data-alert-rule=id>
            <h3>
                {rule.form.name.clone()} " " {state}
                {rule.from_config.then(|| view! { " " <span class="badge">"from the config file"</span> })}
            </h3>
            <p>
                {rule.describe.clone()} " · " {rule.form.severity.clone()}
                {(rule.form.for_seconds != "0")
                    .then(|| format!(" · for {} s", rule.form.for_seconds))}
            </p>
            <p class="muted">
                {format!("{} subject(s) recorded", rule.recorded)}
            </p>
            <ul class="firing">{firing}</ul>
            <NoticeTable notices=rule.notices.clone()/>
            <details>
                <summary>"Change"</summary>
                <RuleFields
                    form_id=form.clone()
                    rule=Some(rule.form.clone())
                    channels
                    device_rules
                />
                <form method="post" action="/admin/alerts/rules/change" id=form.clone()>
                    <FormId id=form.clone()/>
                    <input type="hidden" name="id" value=id/>
                    <button type="submit">"Save"</button>
                </form>
            </details>
            <form method="post" action="/admin/alerts/rules/delete">
                <input type="hidden" name="id" value=id/>
                <button type="submit">"Delete rule"</button>
            </form>
        </article>
    }
    .into_any()
}

#[component]
fn NoticeTable(notices: Vec<NoticeView>) -> impl IntoView {
    if notices.is_empty() {
        return view! { <p class="muted">"No notices yet."</p> }.into_any();
    }
    let rows = notices
        .into_iter()
        .map(|notice| {
            view! {
                <tr data-notice=notice.id>
                    <td>{wording::format_utc(notice.at_ms)}</td>
                    <td>{notice.state}</td>
                    <td><code>{notice.subject}</code></td>
                    <td>{notice.channel}</td>
                    <td>
                        {notice.status} {format!(" ({} attempt(s))", notice.attempts)}
                        {notice.last_error.map(|error| view! { <br/><small>{error}</small> })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="admin-table notices">
                <thead>
                    <tr>
                        <th scope="col">"Queued"</th>
                        <th scope="col">"Told"</th>
                        <th scope="col">"Subject"</th>
                        <th scope="col">"Channel"</th>
                        <th scope="col">"Delivery"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// A labelled input of a rule or channel form, joined to its form by the form's id.
#[component]
fn Field(
    form: String,
    name: &'static str,
    label: &'static str,
    value: String,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    let problem = FieldProblem::new(&form, name);
    let id = format!("{form}-{name}");
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                value=value
                placeholder=placeholder
                form=form
                aria-invalid=problem.invalid()
                aria-describedby=problem.described_by()
            />
            {(!hint.is_empty()).then(|| view! { <small>{hint}</small> })}
            {problem.message()}
        </div>
    }
    .into_any()
}

/// A labelled choice of a rule or channel form.
#[component]
fn Choice(
    form: String,
    name: &'static str,
    label: &'static str,
    chosen: String,
    options: Vec<(String, String)>,
) -> impl IntoView {
    let problem = FieldProblem::new(&form, name);
    let id = format!("{form}-{name}");
    let options = options
        .into_iter()
        .map(|(value, words)| {
            let selected = value == chosen;
            view! { <option value=value selected=selected>{words}</option> }
        })
        .collect_view();
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select
                id=id
                name=name
                form=form
                aria-invalid=problem.invalid()
                aria-describedby=problem.described_by()
            >
                {options}
            </select>
            {problem.message()}
        </div>
    }
    .into_any()
}

/// A checkbox of a rule or channel form.
#[component]
fn Tick(
    form: String,
    name: &'static str,
    label: String,
    checked: bool,
    #[prop(optional, into)] value: Option<String>,
) -> impl IntoView {
    let id = format!(
        "{form}-{name}-{}",
        value.clone().unwrap_or_else(|| "on".to_owned())
    );
    view! {
        <div class="field tick">
            <input
                type="checkbox"
                id=id.clone()
                name=name
                value=value.unwrap_or_else(|| "on".to_owned())
                checked=checked
                form=form
            />
            <label for=id>{label}</label>
        </div>
    }
    .into_any()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(value, words)| ((*value).to_owned(), (*words).to_owned()))
        .collect()
}

/// Every field of a rule: those of all kinds, each saying which kind reads it, so the form works
/// without JavaScript.
#[component]
fn RuleFields(
    form_id: String,
    rule: Option<RuleForm>,
    channels: Vec<(i64, String)>,
    device_rules: Vec<(i64, String)>,
) -> impl IntoView {
    let new = rule.is_none();
    let rule = rule.unwrap_or_else(|| RuleForm {
        kind: "threshold".to_owned(),
        direction: "above".to_owned(),
        comparison: "equals".to_owned(),
        check: "cannot_see".to_owned(),
        severity: "warning".to_owned(),
        for_seconds: "0".to_owned(),
        notify_resolve: "on".to_owned(),
        enabled: true,
        ..RuleForm::default()
    });
    let f = form_id;
    let device_options = device_rules
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect::<Vec<_>>();
    let channel_ticks = channels
        .into_iter()
        .map(|(id, name)| {
            view! {
                <Tick
                    form=f.clone()
                    name="channel"
                    label=name
                    value=id.to_string()
                    checked=rule.channels.contains(&id)
                />
            }
        })
        .collect_view();
    view! {
        <div class="rule-fields">
            <Field form=f.clone() name="name" label="Name" value=rule.name.clone()
                placeholder="Boiler too hot"/>
            <Choice form=f.clone() name="kind" label="Watches" chosen=rule.kind.clone()
                options=pairs(&[
                    ("threshold", "a number beyond a threshold"),
                    ("field", "a JSON field equal to or different from a value"),
                    ("stale", "a silence on some topics"),
                    ("device_offline", "devices offline"),
                    ("lookout", "Lookout itself"),
                ])/>
            <fieldset>
                <legend>"Numbers, fields and silences"</legend>
                <Field form=f.clone() name="topics" label="Topics" value=rule.topics.clone()
                    placeholder="plant/+/temperature"/>
                <Field form=f.clone() name="pointer" label="Field (JSON pointer)"
                    value=rule.pointer.clone() placeholder="/temperature"
                    hint="Empty for a threshold on the payload's own number."/>
                <Choice form=f.clone() name="direction" label="Bad when the number is"
                    chosen=rule.direction.clone()
                    options=pairs(&[("above", "above"), ("below", "below")])/>
                <Field form=f.clone() name="trigger" label="Threshold" value=rule.trigger.clone()
                    placeholder="90"/>
                <Field form=f.clone() name="recover" label="Recovers at"
                    value=rule.recover.clone() placeholder="85"
                    hint="Good again only past this level (empty: the threshold)."/>
                <Choice form=f.clone() name="comparison" label="Field is bad when"
                    chosen=rule.comparison.clone()
                    options=pairs(&[("equals", "equal to"), ("differs", "different from")])/>
                <Field form=f.clone() name="value" label="Value" value=rule.value.clone()
                    placeholder="error"/>
            </fieldset>
            <fieldset>
                <legend>"Devices and Lookout"</legend>
                <Choice form=f.clone() name="device_rule" label="Devices of"
                    chosen=rule.device_rule.clone() options=device_options/>
                <Tick form=f.clone() name="unknown_is_bad"
                    label="A device never heard counts as offline".to_owned()
                    checked=rule.unknown_is_bad == "on"/>
                <Choice form=f.clone() name="check" label="Lookout" chosen=rule.check.clone()
                    options=pairs(&[
                        ("cannot_see", "cannot see (the broker is unreachable)"),
                        ("storage_failing", "cannot store messages"),
                        ("ingest_behind", "stores messages late"),
                    ])/>
                <Field form=f.clone() name="behind_seconds" label="Late by more than (s)"
                    value=rule.behind_seconds.clone() placeholder="60"/>
            </fieldset>
            <fieldset>
                <legend>"When and whom to tell"</legend>
                <Field form=f.clone() name="for_seconds" label="Bad for at least (s)"
                    value=rule.for_seconds.clone()
                    hint="A silence: how long no message may come."/>
                <Field form=f.clone() name="reminder_minutes" label="Remind every (minutes)"
                    value=rule.reminder_minutes.clone() hint="Empty: no reminders; at least 5."/>
                <Tick form=f.clone() name="notify_resolve" label="Tell when it resolves".to_owned()
                    checked=rule.notify_resolve == "on"/>
                <Field form=f.clone() name="flap_changes" label="Flapping after changes"
                    value=rule.flap_changes.clone() placeholder="6"/>
                <Field form=f.clone() name="flap_minutes" label="within (minutes)"
                    value=rule.flap_minutes.clone() placeholder="10"/>
                <Choice form=f.clone() name="severity" label="Severity"
                    chosen=rule.severity.clone()
                    options=pairs(&[
                        ("info", "info"),
                        ("warning", "warning"),
                        ("critical", "critical"),
                    ])/>
                <div class="channel-ticks" role="group" aria-label="Channels told">
                    {channel_ticks}
                </div>
                {(!new).then(|| view! {
                    <Tick form=f.clone() name="enabled" label="Enabled".to_owned()
                        checked=rule.enabled/>
                })}
            </fieldset>
        </div>
    }
    .into_any()
}

#[component]
fn ChannelCard(channel: ChannelView) -> impl IntoView {
    let form = format!("channel-{}", channel.id);
    let id = channel.id;
    let state = match (&channel.failing_since_ms, channel.enabled) {
        (_, false) => view! { <span class="badge">"disabled"</span> }.into_any(),
        (Some(since), true) => view! {
            <span class="badge bad">{format!("failing since {}", wording::format_utc(*since))}</span>
        }
        .into_any(),
        (None, true) => view! { <span class="badge good">"working"</span> }.into_any(),
    };
    view! {
        <article class="card alert-channel" data-channel=id>
            <h3>
                {channel.name.clone()} " " {state}
                {channel.from_config.then(|| view! { " " <span class="badge">"from the config file"</span> })}
            </h3>
            <p>{channel.format.clone()}</p>
            {channel.last_error.clone().map(|error| view! { <p class="muted">{error}</p> })}
            <details>
                <summary>"Change"</summary>
                <ChannelFields form_id=form.clone() channel=Some(channel.clone())/>
                <form method="post" action="/admin/alerts/channels/change" id=form.clone()>
                    <FormId id=form.clone()/>
                    <input type="hidden" name="id" value=id/>
                    <button type="submit">"Save"</button>
                </form>
            </details>
            <div class="actions">
                <form method="post" action="/admin/alerts/channels/test">
                    <input type="hidden" name="id" value=id/>
                    <button type="submit">"Send a test"</button>
                </form>
                <form method="post" action="/admin/alerts/channels/delete">
                    <input type="hidden" name="id" value=id/>
                    <button type="submit">"Delete channel"</button>
                </form>
            </div>
        </article>
    }
    .into_any()
}

#[component]
fn ChannelFields(form_id: String, channel: Option<ChannelView>) -> impl IntoView {
    let f = form_id;
    let new = channel.is_none();
    let channel = channel.unwrap_or(ChannelView {
        id: 0,
        name: String::new(),
        format: "webhook".to_owned(),
        url: String::new(),
        template: String::new(),
        enabled: true,
        failing_since_ms: None,
        last_error: None,
        from_config: false,
    });
    let formats = ChannelFormat::ALL
        .iter()
        .map(|format| (format.as_str().to_owned(), format.as_str().to_owned()))
        .collect();
    let template = FieldProblem::new(&f, "template");
    let template_id = format!("{f}-template");
    view! {
        <div class="channel-fields">
            <Field form=f.clone() name="name" label="Name" value=channel.name.clone()
                placeholder="Operations chat"/>
            <Choice form=f.clone() name="format" label="Format" chosen=channel.format.clone()
                options=formats/>
            <Field form=f.clone() name="url" label="Address" value=channel.url.clone()
                placeholder="https://hooks.example.com/…"/>
            <div class="field">
                <label for=template_id.clone()>"Template (empty: the format's default)"</label>
                <textarea
                    id=template_id
                    name="template"
                    rows="3"
                    maxlength="4096"
                    form=f.clone()
                    aria-invalid=template.invalid()
                    aria-describedby=template.described_by()
                >
                    {channel.template.clone()}
                </textarea>
                {template.message()}
            </div>
            {(!new).then(|| view! {
                <Tick form=f.clone() name="enabled" label="Enabled".to_owned()
                    checked=channel.enabled/>
            })}
        </div>
    }
    .into_any()
}
