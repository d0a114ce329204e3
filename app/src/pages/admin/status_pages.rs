//! The board (status page) editor: the list of boards (`/admin/pages`) and one board with its
//! widgets (`/admin/pages/<id>`). They read through the `admin_status_*` server functions and
//! change things with plain form posts to `/admin/pages/...` (handled in `server/src/admin.rs`
//! through `server::status_edits`), so they work without JavaScript. What a page may show is
//! decided in [`crate::domain::status_page`]. The access policy opens the editor to admins, who
//! edit every board, and to operators a compose rule lets build boards of their own
//! (`access::BoardRights`); a board's incidents, maintenance and followers stay admins'.

use crate::components::incident_forms::{Back, IncidentCard, OpenIncidentForm};
use crate::components::load_error::LoadError;
use crate::components::outcome_message::{FieldProblem, FormId, OutcomeMessage};
use crate::domain::history::HistoryRange;
use crate::domain::incident::{Incident, PAST_SHOWN};
use crate::domain::maintenance::{Maintenance, Repeat, MAX_PER_PAGE};
use crate::domain::roles::Role;
use crate::domain::status_page::{
    page_path, widget_offers, ChartSeries, OutsideAudience, PageSpec, Scale, StatusRule,
    WidgetKind, WidgetSpec, Width, Worse, CHART_MAX_SERIES, MARKDOWN_MAX_CHARS, POINTER_MAX_CHARS,
    SERIES_LABEL_MAX_CHARS, SERIES_TOPIC_MAX_CHARS, UPTIME_BAR_DAYS,
};
use crate::domain::wording::{format_utc_input, format_utc_minute};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

pub const ADD_PAGE: &str = "/admin/pages/add";
pub const CHANGE_PAGE: &str = "/admin/pages/change";
pub const DELETE_PAGE: &str = "/admin/pages/delete";
pub const ADD_WIDGET: &str = "/admin/pages/widgets/add";
pub const CHANGE_WIDGET: &str = "/admin/pages/widgets/change";
pub const DELETE_WIDGET: &str = "/admin/pages/widgets/delete";
pub const MOVE_WIDGET: &str = "/admin/pages/widgets/move";
pub const ARRANGE_WIDGETS: &str = "/admin/pages/widgets/arrange";
pub const DELETE_INCIDENT: &str = "/admin/pages/incidents/delete";
pub const ADD_MAINTENANCE: &str = "/admin/pages/maintenance/add";
pub const SET_MAIL_CHANNEL: &str = "/admin/pages/followers/mail";
pub const ADD_WEBHOOK: &str = "/admin/pages/followers/webhooks/add";
pub const DELETE_FOLLOWER: &str = "/admin/pages/followers/delete";
pub const DELETE_MAINTENANCE: &str = "/admin/pages/maintenance/delete";

/// The [`FormId`]s of the forms for a new page and for a page's settings.
const NEW_PAGE: &str = "new-page";
const PAGE_SETTINGS: &str = "page-settings";
const ARRANGE: &str = "arrange";

/// The editor's address of page `id`.
pub fn editor_path(id: i64) -> String {
    format!("/admin/pages/{id}")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageRow {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub published: bool,
    /// Who may open it, in words.
    #[serde(default)]
    pub visibility: String,
    pub widgets: i64,
}

/// The boards the editor's user may change, and what they may bind widgets to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardList {
    pub pages: Vec<PageRow>,
    /// The filters a composing operator's compose rules grant; `None` for an admin.
    pub compose: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageEdit {
    pub id: i64,
    /// The filters a composing operator's compose rules grant; `None` for an admin, who also
    /// gets the board's incidents, maintenance and followers.
    #[serde(default)]
    pub compose: Option<Vec<String>>,
    pub spec: PageSpec,
    /// Each widget, with why visitors do not get it when it is outside the public audience
    /// (it was bound before the audience shrank, or before the audience existed).
    pub widgets: Vec<(i64, WidgetSpec, Option<OutsideAudience>)>,
    /// Its open incidents, then the most recent resolved ones.
    #[serde(default)]
    pub incidents: Vec<Incident>,
    /// Its maintenance windows, by first start.
    #[serde(default)]
    pub maintenance: Vec<Maintenance>,
    /// The server's time when read, for the windows' state and the form's default start.
    #[serde(default)]
    pub now_ms: i64,
    #[serde(default)]
    pub followers: Followers,
}

/// Who follows a page besides its feed: e-mail subscribers and webhooks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Followers {
    /// The e-mail channel that writes to subscribers.
    pub mail_channel: Option<i64>,
    /// Every e-mail channel (id, name), to choose from.
    pub mail_channels: Vec<(i64, String)>,
    pub confirmed: i64,
    pub pending: i64,
    /// Each webhook: id, address, and its last failure while that is the last word.
    pub webhooks: Vec<(i64, String, Option<String>)>,
    /// The site has a public address, which the links in e-mails need.
    pub has_public_url: bool,
}

/// What the signed-in user may do in the board editor, by the rules in force.
#[cfg(feature = "ssr")]
async fn board_rights(
    state: &crate::server::state::AppState,
) -> Result<crate::server::access::BoardRights, ServerFnError> {
    let rules = state.access.rules().await.map_err(super::unavailable)?;
    Ok(rules.board_rights(&crate::server::access::current_visitor()))
}

#[cfg(feature = "ssr")]
fn compose_words(rights: &crate::server::access::BoardRights) -> Option<Vec<String>> {
    rights
        .compose_filters()
        .map(|filters| filters.iter().map(|f| f.as_str().to_owned()).collect())
}

#[server(endpoint = "admin_status_pages", output = crate::domain::answer::JsonAnswer)]
pub async fn load_status_pages() -> Result<BoardList, ServerFnError> {
    let state = crate::server::state::app_state()?;
    let rights = board_rights(&state).await?;
    let pages = state
        .store
        .status_pages()
        .await
        .map_err(super::unavailable)?;
    let pages = pages
        .into_iter()
        .filter(|page| rights.may_edit(page.owner))
        .map(|page| PageRow {
            id: page.id,
            slug: page.slug,
            title: page.title,
            published: page.published,
            visibility: page.visibility.describe().to_owned(),
            widgets: page.widgets,
        })
        .collect();
    Ok(BoardList {
        pages,
        compose: compose_words(&rights),
    })
}

#[server(endpoint = "admin_status_page", output = crate::domain::answer::JsonAnswer)]
pub async fn load_status_page(id: i64) -> Result<Option<PageEdit>, ServerFnError> {
    let state = crate::server::state::app_state()?;
    let unavailable = super::unavailable;
    let Some(page) = state.store.status_page(id).await.map_err(unavailable)? else {
        return Ok(None);
    };
    let rights = board_rights(&state).await?;
    if !rights.may_edit(page.owner) {
        return Ok(None);
    }
    let compose = compose_words(&rights);
    if compose.is_some() {
        // An operator's own board: settings and widgets; incidents, maintenance and who
        // follows the page (webhook addresses among them) are admins'.
        return Ok(Some(PageEdit {
            compose,
            id: page.id,
            spec: page.spec,
            widgets: page
                .widgets
                .into_iter()
                .map(|widget| (widget.id, widget.spec, None))
                .collect(),
            incidents: Vec::new(),
            maintenance: Vec::new(),
            now_ms: chrono::Utc::now().timestamp_millis(),
            followers: Followers::default(),
        }));
    }
    let rules = state.access.rules().await.map_err(unavailable)?;
    let devices = state.store.liveness_rules().await.map_err(unavailable)?;
    let incidents = state
        .store
        .page_incidents(page.id, PAST_SHOWN)
        .await
        .map_err(unavailable)?;
    let maintenance = state
        .store
        .page_maintenance(page.id)
        .await
        .map_err(unavailable)?;
    let (mail_channel, confirmed, pending, webhooks) = state
        .store
        .page_followers(page.id)
        .await
        .map_err(unavailable)?;
    let mail_channels = state
        .store
        .alert_channels()
        .await
        .map_err(unavailable)?
        .into_iter()
        .filter(|row| row.channel.format == crate::domain::notice::ChannelFormat::Email)
        .map(|row| (row.channel.id, row.channel.name))
        .collect();
    let followers = Followers {
        mail_channel,
        mail_channels,
        confirmed,
        pending,
        webhooks: webhooks
            .into_iter()
            .map(|hook| (hook.id, hook.url, hook.failing))
            .collect(),
        has_public_url: state.status_pages.site().public_url.is_some(),
    };
    let public = page.spec.visibility.public;
    Ok(Some(PageEdit {
        compose: None,
        incidents,
        maintenance,
        followers,
        now_ms: chrono::Utc::now().timestamp_millis(),
        id: page.id,
        spec: page.spec,
        widgets: page
            .widgets
            .into_iter()
            .map(|widget| {
                // Only a public board's visitors are held to the public audience.
                let outside = public
                    .then(|| rules.public_widget(&widget.spec, &devices).err())
                    .flatten();
                (widget.id, widget.spec, outside)
            })
            .collect(),
    }))
}

/// `/admin/pages`: every status page, and a form for a new one.
#[component]
pub fn StatusPagesPage() -> impl IntoView {
    let pages = Resource::new(|| (), |_| load_status_pages());
    let [slug, title] = ["slug", "title"].map(|field| FieldProblem::new(NEW_PAGE, field));
    view! {
        <main class="admin">
            <h1>"Status pages"</h1>
            <p class="notice">
                "Public pages anyone can open without logging in. A page shows only its widgets, "
                "each one field of one topic; a draft is visible to admins only."
            </p>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading pages…"</p> }>
                {move || Suspend::new(async move {
                    match pages.await {
                        Ok(BoardList { pages, compose }) => view! {
                            {compose.map(|filters| view! { <ComposeNotice filters/> })}
                            <PageTable pages/>
                        }
                        .into_any(),
                        Err(error) => view! { <LoadError error/> }.into_any(),
                    }
                })}
            </Suspense>
            <h2>"New page"</h2>
            <form method="post" action=ADD_PAGE class="stacked">
                <FormId id=NEW_PAGE/>
                <label>"Address " <code>"/status/"</code>
                    <input name="slug" required pattern="[a-z0-9]([a-z0-9\\-]*[a-z0-9])?" maxlength="64" placeholder="plant-7"
                        aria-invalid=slug.invalid() aria-describedby=slug.described_by()/>
                </label>
                {slug.message()}
                <label>"Title " <input name="title" required maxlength="120" placeholder="Plant 7"
                    aria-invalid=title.invalid() aria-describedby=title.described_by()/></label>
                {title.message()}
                <button type="submit">"Create draft"</button>
            </form>
        </main>
    }
}

/// What an operator composing boards by a rule may build: their boards only, of these topics.
#[component]
fn ComposeNotice(filters: Vec<String>) -> impl IntoView {
    let filters = filters
        .into_iter()
        .map(|filter| view! { <li><code>{filter}</code></li> })
        .collect_view();
    view! {
        <div class="notice compose-rights">
            <p>
                "You compose boards of your own: those you create are listed here, for you and "
                "admins to change. Their widgets may show the topics you may read that these "
                "filters match; a board opens for operators, or viewers too, and only an admin "
                "makes a board public."
            </p>
            <ul>{filters}</ul>
        </div>
    }
}

#[component]
fn PageTable(pages: Vec<PageRow>) -> impl IntoView {
    if pages.is_empty() {
        return view! { <p>"No status pages yet."</p> }.into_any();
    }
    let rows = pages
        .into_iter()
        .map(|page| {
            view! {
                <tr data-page=page.slug.clone()>
                    <td><a href=editor_path(page.id)>{page.title}</a></td>
                    <td><a href=page_path(&page.slug)>{page_path(&page.slug)}</a></td>
                    <td>{if page.published { "Published" } else { "Draft" }}</td>
                    <td>{page.visibility}</td>
                    <td>{page.widgets}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="admin-table">
            <thead>
                <tr>
                    <th scope="col">"Title"</th>
                    <th scope="col">"Address"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Who may open it"</th>
                    <th scope="col">"Widgets"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// `/admin/pages/<id>`: a page's settings and its widgets in order.
#[component]
pub fn StatusPageEditor() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<i64>().ok())
    };
    let page = Resource::new(id, |id| async move {
        match id {
            Some(id) => load_status_page(id).await,
            None => Ok(None),
        }
    });
    view! {
        <main class="admin status-editor">
            <p><a href="/admin/pages">"← All status pages"</a></p>
            <OutcomeMessage/>
            <Suspense fallback=|| view! { <p>"Loading the page…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(Some(page)) => view! { <PageForm page/> }.into_any(),
                        Ok(None) => view! { <h1>"No such status page"</h1> }.into_any(),
                        Err(error) => view! { <LoadError error/> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn PageForm(page: PageEdit) -> impl IntoView {
    let [slug, title, description, open_to] = ["slug", "title", "description", "open_to"]
        .map(|field| FieldProblem::new(PAGE_SETTINGS, field));
    let id = page.id;
    let spec = page.spec;
    let count = page.widgets.len();
    // An admin's editor; an operator composing their own board gets its settings and widgets.
    let admin = page.compose.is_none();
    let labels: Vec<(i64, String)> = page
        .widgets
        .iter()
        .map(|(id, spec, _)| (*id, spec.label.clone()))
        .collect();
    let widgets = page
        .widgets
        .into_iter()
        .enumerate()
        .map(|(at, (widget_id, widget, outside))| {
            let label = widget.label.clone();
            view! {
                {outside.map(|outside| view! {
                    <p class="error" role="alert" data-outside-audience=widget_id>
                        "Visitors do not get “" {label} "”: " {outside.describe()}
                    </p>
                })}
                <WidgetForm
                    page=id
                    widget=Some((widget_id, widget))
                    first=at == 0
                    last=at + 1 == count
                />
            }
        })
        .collect_view();
    view! {
        <h1>{spec.title.clone()}</h1>
        <p>
            <a href=page_path(&spec.slug)>
                {if spec.published { "View the public page" } else { "Preview (only admins see a draft)" }}
            </a>
        </p>
        <form method="post" action=CHANGE_PAGE class="stacked page-settings">
            <FormId id=PAGE_SETTINGS/>
            <input type="hidden" name="id" value=id/>
            <label>"Address " <code>"/status/"</code>
                <input name="slug" required maxlength="64" value=spec.slug.clone()
                    aria-invalid=slug.invalid() aria-describedby=slug.described_by()/>
            </label>
            {slug.message()}
            <label>"Title " <input name="title" required maxlength="120" value=spec.title.clone()
                aria-invalid=title.invalid() aria-describedby=title.described_by()/></label>
            {title.message()}
            <label>"Description "
                <textarea name="description" maxlength="1000" rows="3"
                    aria-invalid=description.invalid() aria-describedby=description.described_by()>
                    {spec.description.clone()}
                </textarea>
            </label>
            {description.message()}
            <label class="inline">
                <input type="checkbox" name="published" value="on" checked=spec.published/>
                " Published: open to those chosen below (a draft only admins, and whoever "
                "composes it, see)"
            </label>
            <fieldset class="board-visibility">
                <legend>"Who may open it"</legend>
                {if admin {
                    view! {
                        <label class="inline">
                            <input type="checkbox" name="public" value="on"
                                checked=spec.visibility.public/>
                            " Public: anyone, without signing in, gets its public view (the "
                            "widgets inside the public audience, from a snapshot)"
                        </label>
                    }
                    .into_any()
                } else {
                    view! { <p class="notice">"Only an admin makes a board public."</p> }
                        .into_any()
                }}
                <label>"Signed in, each with every widget their role may read: "
                    <select name="open_to" aria-invalid=open_to.invalid()
                        aria-describedby=open_to.described_by()>
                        {Role::ALL.into_iter().filter(|role| admin || *role != Role::Admin).map(|role| {
                            let words = match role {
                                Role::Viewer => "viewers, operators and admins",
                                Role::Operator => "operators and admins",
                                Role::Admin => "admins only",
                            };
                            view! {
                                <option value=role.as_str()
                                    selected=spec.visibility.open_to == role>{words}</option>
                            }
                        }).collect_view()}
                    </select>
                </label>
                {open_to.message()}
            </fieldset>
            <button type="submit">"Save page"</button>
        </form>
        <h2>"Widgets"</h2>
        <p class="notice">
            "Each widget shows one field of one topic: give a JSON pointer such as "
            <code>"/temperature"</code>
            " to pick it. Without one, the payload itself is shown only when it is a single "
            "number, word or boolean; objects are never shown whole."
        </p>
        <p class="notice">
            "A page shows only topics in the public audience, which an admin chooses on the "
            <a href="/admin/rules">"access rules"</a>
            " page (rules for \"public\"). A table lists only the public topics under its filter."
        </p>
        {page.compose.map(|filters| view! { <ComposeNotice filters/> })}
        <ArrangeWidgets page=id widgets=labels.clone()/>
        {widgets}
        <h3>"Add a widget"</h3>
        <WidgetForm page=id widget=None first=true last=true/>
        {admin.then(|| view! {
            <Incidents page=id incidents=page.incidents widgets=labels.clone()/>
            <MaintenanceWindows
                page=id
                windows=page.maintenance
                widgets=labels
                now_ms=page.now_ms
            />
            <FollowersSection page=id followers=page.followers/>
        })}
        <h2>"Delete"</h2>
        <form method="post" action=DELETE_PAGE>
            <input type="hidden" name="id" value=id/>
            <button type="submit" class="danger">"Delete this page"</button>
        </form>
    }
}

/// The page's widgets as a list to drag into order, saved when one is dropped. It shows once the
/// page runs in the browser: without JavaScript nothing could be dragged, and each widget's
/// Move up and Move down do the same.
#[component]
fn ArrangeWidgets(page: i64, widgets: Vec<(i64, String)>) -> impl IntoView {
    let order = RwSignal::new(widgets);
    let dragged = RwSignal::new(None::<i64>);
    let moved = RwSignal::new(false);
    let running = RwSignal::new(false);
    Effect::new(move || running.set(true));
    let form = NodeRef::<leptos::html::Form>::new();
    let field = NodeRef::<leptos::html::Input>::new();
    // Entering another widget's place takes it: from above, the dragged one goes below it.
    let enter = move |over: i64| {
        let Some(dragging) = dragged.get_untracked().filter(|id| *id != over) else {
            return;
        };
        order.update(|order| {
            let from = order.iter().position(|(id, _)| *id == dragging);
            let to = order.iter().position(|(id, _)| *id == over);
            if let (Some(from), Some(to)) = (from, to) {
                let widget = order.remove(from);
                order.insert(to, widget);
            }
        });
        moved.set(true);
    };
    let save = move || {
        dragged.set(None);
        if !moved.get_untracked() {
            return;
        }
        moved.set(false);
        let ids = order.with_untracked(|order| {
            order
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
                .join(",")
        });
        if let (Some(form), Some(field)) = (form.get_untracked(), field.get_untracked()) {
            field.set_value(&ids);
            // The editor reloads with the outcome, as after any of its forms.
            let _ = form.request_submit();
        }
    };
    view! {
        <form method="post" action=ARRANGE_WIDGETS class="arrange" node_ref=form
            hidden=move || !running.get() data-arrange>
            <FormId id=ARRANGE/>
            <input type="hidden" name="page" value=page/>
            <input type="hidden" name="order" node_ref=field/>
            <p class="notice">"Drag a widget to its place; the page keeps the order at once."</p>
            <ol>
                <For
                    each=move || order.get()
                    key=|(id, _)| *id
                    children=move |(id, label)| view! {
                        <li
                            draggable="true"
                            data-widget=id
                            class:dragging=move || dragged.get() == Some(id)
                            on:dragstart=move |event| {
                                dragged.set(Some(id));
                                carry(&event, id);
                            }
                            on:dragenter=move |event| {
                                event.prevent_default();
                                enter(id);
                            }
                            on:dragover=move |event| event.prevent_default()
                            on:drop=move |event| event.prevent_default()
                            on:dragend=move |_| save()
                        >
                            <span class="grip" aria-hidden="true">"⠿"</span>
                            {label}
                        </li>
                    }
                />
            </ol>
        </form>
    }
}

/// Some browsers start a drag only with data to carry.
#[cfg(feature = "hydrate")]
fn carry(event: &leptos::ev::DragEvent, id: i64) {
    if let Some(carried) = event.data_transfer() {
        let _ = carried.set_data("text/plain", &id.to_string());
        carried.set_effect_allowed("move");
    }
}

#[cfg(not(feature = "hydrate"))]
fn carry(_: &leptos::ev::DragEvent, _: i64) {}

#[component]
fn WidgetForm(
    page: i64,
    widget: Option<(i64, WidgetSpec)>,
    first: bool,
    last: bool,
) -> impl IntoView {
    let widget_id = widget.as_ref().map(|(id, _)| *id);
    let spec = widget.map(|(_, spec)| spec);
    let form_id = match widget_id {
        Some(id) => format!("widget-{id}"),
        None => "new-widget".to_owned(),
    };
    let kind = spec.as_ref().map(|s| s.kind).unwrap_or(WidgetKind::Value);
    let (worse, degraded_at, down_at, device) = match spec.as_ref().map(|s| &s.status) {
        Some(StatusRule::Value {
            worse,
            degraded_at,
            down_at,
        }) => (*worse, *degraded_at, *down_at, String::new()),
        Some(StatusRule::Device(device)) => (Worse::Above, None, None, device.clone()),
        None => (Worse::Above, None, None, String::new()),
    };
    let text = |f: Option<f64>| f.map(|f| f.to_string()).unwrap_or_default();
    let range = spec.as_ref().map(|s| s.range).unwrap_or_default();
    let field = |name: &'static str| {
        spec.as_ref()
            .map(|s| match name {
                "label" => s.label.clone(),
                "topic" => s.topic.clone(),
                "pointer" => s.pointer.clone(),
                _ => s.unit.clone(),
            })
            .unwrap_or_default()
    };
    let uptime_days = spec.as_ref().map(|s| s.uptime_days).unwrap_or(90);
    let width = spec.as_ref().map(|s| s.width).unwrap_or_default();
    let slider = spec
        .as_ref()
        .and_then(|s| s.control.as_ref())
        .and_then(|c| c.slider);
    let scale = spec
        .as_ref()
        .and_then(|s| s.scale)
        .or(slider.map(|s| Scale {
            min: s.min,
            max: s.max,
        }));
    let markdown = spec
        .as_ref()
        .and_then(|s| s.markdown.clone())
        .unwrap_or_default();
    let control = spec.as_ref().and_then(|s| s.control.clone());
    let (command_topic, payload_on, payload_off) = control
        .map(|c| (c.command_topic, c.on, c.off.unwrap_or_default()))
        .unwrap_or_default();
    let [command_problem, payload_problem, width_problem] =
        ["command_topic", "payload_on", "width"].map(|name| FieldProblem::new(&form_id, name));
    let series = spec.as_ref().map(|s| s.series.clone()).unwrap_or_default();
    let series_rows = series_fields(FieldProblem::new(&form_id, "series"), series, &form_id);
    let widths = Width::ALL
        .into_iter()
        .map(|option| view! { <option value=option.key() selected=option == width>{option.label()}</option> })
        .collect_view();
    let [kind_problem, label, topic, pointer, unit, threshold, device_problem, range_problem, days_problem, scale_problem, markdown_problem] =
        [
            "kind",
            "label",
            "topic",
            "pointer",
            "unit",
            "degraded_at",
            "device",
            "range",
            "days",
            "min",
            "markdown",
        ]
        .map(|name| FieldProblem::new(&form_id, name));
    let kinds = WidgetKind::ALL
        .into_iter()
        .map(|option| view! { <option value=option.key() selected=option == kind>{option.label()}</option> })
        .collect_view();
    let ranges = HistoryRange::ALL
        .into_iter()
        .filter(|range| widget_offers(*range))
        .map(|option| view! { <option value=option.key() selected=option == range>{option.label()}</option> })
        .collect_view();
    let days = UPTIME_BAR_DAYS
        .into_iter()
        .map(|option| view! { <option value=option selected=option == uptime_days>{format!("{option} days")}</option> })
        .collect_view();
    view! {
        <form
            method="post"
            action=if widget_id.is_some() { CHANGE_WIDGET } else { ADD_WIDGET }
            id=form_id.clone()
            class="widget-form"
        >
            <FormId id=form_id.clone()/>
            <input type="hidden" name="page" value=page/>
            {widget_id.map(|id| view! { <input type="hidden" name="id" value=id/> })}
            <fieldset>
                <legend>{spec.as_ref().map(|s| s.label.clone()).unwrap_or_else(|| "New widget".to_owned())}</legend>
                <label>"Kind " <select name="kind" aria-invalid=kind_problem.invalid() aria-describedby=kind_problem.described_by()>{kinds}</select></label>
                {kind_problem.message()}
                <label>"Label " <input name="label" required maxlength="100" value=field("label")
                    aria-invalid=label.invalid() aria-describedby=label.described_by()/></label>
                {label.message()}
                <label>"Topic (a filter for a table or a device list) "
                    <input name="topic" value=field("topic") placeholder="plant/boiler/temperature"
                        aria-invalid=topic.invalid() aria-describedby=topic.described_by()/>
                </label>
                {topic.message()}
                <label>"JSON pointer " <input name="pointer" value=field("pointer") placeholder="/temperature"
                    aria-invalid=pointer.invalid() aria-describedby=pointer.described_by()/></label>
                {pointer.message()}
                <label>"Unit " <input name="unit" maxlength="16" value=field("unit") placeholder="°C"
                    aria-invalid=unit.invalid() aria-describedby=unit.described_by()/></label>
                {unit.message()}
                <label>"Width on wide screens " <select name="width" aria-invalid=width_problem.invalid()
                    aria-describedby=width_problem.described_by()>{widths}</select></label>
                {width_problem.message()}
                <fieldset class="status-rule">
                    <legend>"Status (status widgets, and uptime widgets on a topic)"</legend>
                    <label>"Worse when the value is "
                        <select name="worse">
                            <option value="above" selected=worse == Worse::Above>"high"</option>
                            <option value="below" selected=worse == Worse::Below>"low"</option>
                        </select>
                    </label>
                    <label>"Degraded at " <input name="degraded_at" inputmode="decimal" value=text(degraded_at)
                        aria-invalid=threshold.invalid() aria-describedby=threshold.described_by()/></label>
                    {threshold.message()}
                    <label>"Down at " <input name="down_at" inputmode="decimal" value=text(down_at)
                        aria-invalid=threshold.invalid() aria-describedby=threshold.described_by()/></label>
                    <label>"…or follow the device " <input name="device" value=device placeholder="boiler"
                        aria-invalid=device_problem.invalid() aria-describedby=device_problem.described_by()/></label>
                    {device_problem.message()}
                </fieldset>
                <label>"History range " <select name="range" aria-invalid=range_problem.invalid() aria-describedby=range_problem.described_by()>{ranges}</select></label>
                {range_problem.message()}
                <label>"Uptime bar days " <select name="days" aria-invalid=days_problem.invalid() aria-describedby=days_problem.described_by()>{days}</select></label>
                {days_problem.message()}
                <fieldset class="gauge-scale">
                    <legend>"Gauge dial, or a slider's bounds"</legend>
                    <label>"From " <input name="min" inputmode="decimal" value=text(scale.map(|s| s.min))
                        aria-invalid=scale_problem.invalid() aria-describedby=scale_problem.described_by()/></label>
                    {scale_problem.message()}
                    <label>"to " <input name="max" inputmode="decimal" value=text(scale.map(|s| s.max))
                        aria-invalid=scale_problem.invalid() aria-describedby=scale_problem.described_by()/></label>
                    <label>"A slider's step " <input name="step" inputmode="decimal" value=text(slider.map(|s| s.step))
                        placeholder="1"
                        aria-invalid=scale_problem.invalid() aria-describedby=scale_problem.described_by()/></label>
                </fieldset>
                <label class="markdown-source">"Text block (Markdown: *emphasis*, **strong**, [links](https://…), lists) "
                    <textarea name="markdown" rows="4" maxlength=MARKDOWN_MAX_CHARS
                        aria-invalid=markdown_problem.invalid() aria-describedby=markdown_problem.described_by()>{markdown}</textarea>
                </label>
                {markdown_problem.message()}
                {series_rows}
                <fieldset class="control-fields">
                    <legend>"Control (buttons, switches and sliders: the topic above is the state shown)"</legend>
                    <label>"Publishes to " <input name="command_topic" value=command_topic
                        placeholder="plant/pump/set"
                        aria-invalid=command_problem.invalid() aria-describedby=command_problem.described_by()/></label>
                    {command_problem.message()}
                    <label>"Payload (a button's; a switch's on; a slider's, with {value} for the number, or empty for the number alone) "
                        <input name="payload_on" value=payload_on
                        placeholder="ON"
                        aria-invalid=payload_problem.invalid() aria-describedby=payload_problem.described_by()/></label>
                    {payload_problem.message()}
                    <label>"A switch's off payload " <input name="payload_off" value=payload_off
                        placeholder="OFF"/></label>
                </fieldset>
                <button type="submit">{if widget_id.is_some() { "Save widget" } else { "Add widget" }}</button>
            </fieldset>
        </form>
        {widget_id.map(|id| view! {
            <div class="widget-actions">
                <form method="post" action=MOVE_WIDGET>
                    <input type="hidden" name="page" value=page/>
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="direction" value="up"/>
                    <button type="submit" disabled=first>"Move up"</button>
                </form>
                <form method="post" action=MOVE_WIDGET>
                    <input type="hidden" name="page" value=page/>
                    <input type="hidden" name="id" value=id/>
                    <input type="hidden" name="direction" value="down"/>
                    <button type="submit" disabled=last>"Move down"</button>
                </form>
                <form method="post" action=DELETE_WIDGET>
                    <input type="hidden" name="page" value=page/>
                    <input type="hidden" name="id" value=id/>
                    <button type="submit" class="danger">"Delete widget"</button>
                </form>
            </div>
        })}
    }
}

/// A chart's series as rows of a widget's form: its series, then empty rows up to the most it
/// may have, so a series is added by filling a row and removed by emptying one, without
/// JavaScript. The rows are numbered in their fields' names (`series_label_1`, ...).
///
/// An `AnyView`: the widget form's view type is deep already, and the browser's build computes
/// its layout (its recursion limit).
fn series_fields(count: FieldProblem, series: Vec<ChartSeries>, form_id: &str) -> AnyView {
    let [label, topic, pointer] = ["series_label", "series_topic", "series_pointer"]
        .map(|name| FieldProblem::new(form_id, name));
    let rows = (1..=CHART_MAX_SERIES)
        .map(|row| {
            let shown = series.get(row - 1).cloned().unwrap_or(ChartSeries {
                label: String::new(),
                topic: String::new(),
                pointer: String::new(),
            });
            view! {
                <tr>
                    <th scope="row">{row}</th>
                    <td><input name=format!("series_label_{row}") value=shown.label
                        maxlength=SERIES_LABEL_MAX_CHARS aria-label=format!("Series {row} label")
                        aria-invalid=label.invalid() aria-describedby=label.described_by()/></td>
                    <td><input name=format!("series_topic_{row}") value=shown.topic
                        maxlength=SERIES_TOPIC_MAX_CHARS aria-label=format!("Series {row} topic")
                        placeholder="home/kitchen"
                        aria-invalid=topic.invalid() aria-describedby=topic.described_by()/></td>
                    <td><input name=format!("series_pointer_{row}") value=shown.pointer
                        maxlength=POINTER_MAX_CHARS aria-label=format!("Series {row} JSON pointer")
                        placeholder="/temperature"
                        aria-invalid=pointer.invalid() aria-describedby=pointer.described_by()/></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <fieldset class="chart-series" aria-describedby=count.described_by()>
            <legend>"Series (a chart of several series: 1 to 6, on one axis; the unit above is theirs)"</legend>
            <p class="notice">
                "Fill in a row per series: its label in the legend, its topic (no + or #) and "
                "the JSON pointer of its field. Empty a row to remove its series."
            </p>
            {count.message()}
            <table class="series-table">
                <thead><tr><th scope="col">"#"</th><th scope="col">"Label"</th>
                    <th scope="col">"Topic"</th><th scope="col">"JSON pointer"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {label.message()}
            {topic.message()}
            {pointer.message()}
        </fieldset>
    }
    .into_any()
}

/// The page's incidents, each with a form for its next update, and a form to open one. What
/// visitors read is what is typed here: words of people, never of an alert.
#[component]
fn Incidents(page: i64, incidents: Vec<Incident>, widgets: Vec<(i64, String)>) -> impl IntoView {
    let shown = incidents
        .into_iter()
        .map(|incident| {
            let id = incident.id;
            view! {
                <IncidentCard page incident widgets=widgets.clone() back=Back::Editor>
                    <form method="post" action=DELETE_INCIDENT>
                        <input type="hidden" name="page" value=page/>
                        <input type="hidden" name="id" value=id/>
                        <button type="submit" class="danger">"Delete incident"</button>
                    </form>
                </IncidentCard>
            }
        })
        .collect_view();
    view! {
        <h2>"Incidents"</h2>
        <p class="notice">
            "What you write here is shown on the public page, in its JSON and in its feed: open "
            "incidents on top, the last " {PAST_SHOWN} " resolved ones below, and every month's "
            "in its history. Operators write them too, on the "
            <a href="/incidents">"incident desk"</a> "."
        </p>
        {shown}
        <h3>"Open an incident"</h3>
        <OpenIncidentForm page widgets back=Back::Editor/>
    }
    .into_any()
}

/// Who the page's news goes to besides its feed: e-mail subscribers (through the e-mail
/// channel chosen) and webhooks.
#[component]
fn FollowersSection(page: i64, followers: Followers) -> impl IntoView {
    const MAIL: &str = "page-mail";
    const HOOK: &str = "new-webhook";
    let channel = FieldProblem::new(MAIL, "channel");
    let url = FieldProblem::new(HOOK, "url");
    let options = followers
        .mail_channels
        .iter()
        .map(|(id, name)| {
            view! {
                <option value=*id selected=followers.mail_channel == Some(*id)>{name.clone()}</option>
            }
        })
        .collect_view();
    let hooks = followers
        .webhooks
        .iter()
        .map(|(id, address, failing)| {
            view! {
                <tr data-webhook=*id>
                    <td><code>{address.clone()}</code></td>
                    <td>{failing.clone().unwrap_or_else(|| "—".to_owned())}</td>
                    <td>
                        <form method="post" action=DELETE_FOLLOWER>
                            <input type="hidden" name="page" value=page/>
                            <input type="hidden" name="id" value=*id/>
                            <button type="submit" class="danger">"Remove"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Followers"</h2>
        <p class="notice">
            "Besides the feed, visitors may follow the page by e-mail (they confirm by e-mail, "
            "and every message has a one-click unsubscribe), and webhooks get its news as JSON: "
            "incidents opened and updated, maintenance planned. "
            {followers.confirmed} " confirmed subscribers, " {followers.pending}
            " waiting for their confirmation."
        </p>
        {(!followers.has_public_url).then(|| view! {
            <p class="error" role="note">
                "E-mail subscriptions need the site's public address (web.public_url) for the "
                "links in the messages: the page offers none until it is set."
            </p>
        })}
        <form method="post" action=SET_MAIL_CHANNEL class="stacked">
            <FormId id=MAIL/>
            <input type="hidden" name="page" value=page/>
            <label for="page-mail-channel">"E-mail subscriptions write through"</label>
            <select id="page-mail-channel" name="channel"
                aria-invalid=channel.invalid() aria-describedby=channel.described_by()>
                <option value="" selected=followers.mail_channel.is_none()>
                    "No one: the page takes no e-mail subscriptions"
                </option>
                {options}
            </select>
            {channel.message()}
            <p class="notice">"The channel's server and sender are used; its own recipients are not."</p>
            <button type="submit">"Save"</button>
        </form>
        {(!followers.webhooks.is_empty()).then(|| view! {
            <table class="admin-table webhooks">
                <thead><tr><th>"Webhook"</th><th>"Last failure"</th><th>"Actions"</th></tr></thead>
                <tbody>{hooks}</tbody>
            </table>
        })}
        <form method="post" action=ADD_WEBHOOK class="stacked">
            <FormId id=HOOK/>
            <input type="hidden" name="page" value=page/>
            <label for="new-webhook-url">"Add a webhook"</label>
            <input id="new-webhook-url" name="url" type="url" maxlength="2048"
                placeholder="https://hooks.example.com/status"
                aria-invalid=url.invalid() aria-describedby=url.described_by()/>
            {url.message()}
            <button type="submit">"Add webhook"</button>
        </form>
    }
    .into_any()
}

/// The page's maintenance windows, each with its next occurrence, and a form to plan one.
#[component]
fn MaintenanceWindows(
    page: i64,
    windows: Vec<Maintenance>,
    widgets: Vec<(i64, String)>,
    now_ms: i64,
) -> impl IntoView {
    const FORM: &str = "new-maintenance";
    let label_of = |id: i64| {
        widgets
            .iter()
            .find(|(widget, _)| *widget == id)
            .map(|(_, label)| label.clone())
            .unwrap_or_default()
    };
    let rows = windows
        .iter()
        .map(|window| {
            let when = match window.current_or_next(now_ms) {
                Some(next) if next.from_ms <= now_ms => {
                    format!("In effect until {}", format_utc_minute(next.to_ms))
                }
                Some(next) => format!(
                    "Next: {} to {}",
                    format_utc_minute(next.from_ms),
                    format_utc_minute(next.to_ms)
                ),
                None => "Over".to_owned(),
            };
            let covers = match &window.widgets {
                None => "Whole page".to_owned(),
                Some(ids) if ids.is_empty() => "Nothing (its widgets were deleted)".to_owned(),
                Some(ids) => ids
                    .iter()
                    .map(|id| label_of(*id))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            view! {
                <tr data-maintenance=window.id>
                    <td>{window.title.clone()}</td>
                    <td>{when}</td>
                    <td>{window.repeat.words()}</td>
                    <td>{covers}</td>
                    <td>{if window.counted { "Counted" } else { "Left out" }}</td>
                    <td>
                        <form method="post" action=DELETE_MAINTENANCE>
                            <input type="hidden" name="page" value=page/>
                            <input type="hidden" name="id" value=window.id/>
                            <button type="submit" class="danger">"Delete"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let [title, message, starts, minutes, repeat, until, scope] = [
        "title", "message", "starts", "minutes", "repeat", "until", "widget",
    ]
    .map(|field| FieldProblem::new(FORM, field));
    let repeats = Repeat::ALL
        .into_iter()
        .map(|choice| view! { <option value=choice.as_str()>{choice.words()}</option> })
        .collect_view();
    let widget_boxes = widgets
        .iter()
        .map(|(id, label)| {
            let box_id = format!("{FORM}-widget-{id}");
            view! {
                <div class="field tick">
                    <input type="checkbox" id=box_id.clone() name="widget" value=*id form=FORM/>
                    <label for=box_id>{label.clone()}</label>
                </div>
            }
        })
        .collect_view();
    // The next whole hour, as a sensible default start.
    let next_hour = (now_ms / 3_600_000 + 1) * 3_600_000;
    view! {
        <h2>"Maintenance"</h2>
        <p class="notice">
            "Planned work: the page announces a window two weeks ahead and while it lasts, alerts "
            "about the widgets it covers (their topics and devices) are muted meanwhile and told "
            "after it if still true, and uptime leaves the time out unless you count it. Times "
            "are UTC. At most " {MAX_PER_PAGE} " windows per page."
        </p>
        {(!windows.is_empty()).then(|| view! {
            <table class="admin-table maintenance-windows">
                    <thead><tr>
                        <th>"Title"</th><th>"When"</th><th>"Repeats"</th><th>"Covers"</th>
                        <th>"Uptime"</th><th>"Actions"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
            </table>
        })}
        <h3>"Plan maintenance"</h3>
        <div class="incident-fields">
            <div class="field">
                <label for="new-maintenance-title">"Title"</label>
                <input id="new-maintenance-title" name="title" maxlength="120" form=FORM
                    placeholder="Firmware update of the gateways"
                    aria-invalid=title.invalid() aria-describedby=title.described_by()/>
                {title.message()}
            </div>
            <div class="field">
                <label for="new-maintenance-starts">"Starts (UTC)"</label>
                <input id="new-maintenance-starts" name="starts" type="datetime-local" form=FORM
                    value=format_utc_input(next_hour)
                    aria-invalid=starts.invalid() aria-describedby=starts.described_by()/>
                {starts.message()}
            </div>
            <div class="field">
                <label for="new-maintenance-minutes">"Lasts (minutes)"</label>
                <input id="new-maintenance-minutes" name="minutes" type="number" min="1"
                    max="10080" value="60" form=FORM
                    aria-invalid=minutes.invalid() aria-describedby=minutes.described_by()/>
                {minutes.message()}
            </div>
            <div class="field">
                <label for="new-maintenance-repeat">"Repeats"</label>
                <select id="new-maintenance-repeat" name="repeat" form=FORM
                    aria-invalid=repeat.invalid() aria-describedby=repeat.described_by()>
                    {repeats}
                </select>
                {repeat.message()}
            </div>
            <div class="field">
                <label for="new-maintenance-until">"Last start (UTC, empty: until deleted)"</label>
                <input id="new-maintenance-until" name="until" type="datetime-local" form=FORM
                    aria-invalid=until.invalid() aria-describedby=until.described_by()/>
                {until.message()}
            </div>
            <fieldset class="field">
                <legend>"Covers"</legend>
                <div class="field tick">
                    <input type="radio" id="new-maintenance-page" name="scope" value="page"
                        checked form=FORM/>
                    <label for="new-maintenance-page">"The whole page"</label>
                </div>
                <div class="field tick">
                    <input type="radio" id="new-maintenance-widgets" name="scope" value="widgets"
                        form=FORM aria-invalid=scope.invalid() aria-describedby=scope.described_by()/>
                    <label for="new-maintenance-widgets">"Only these widgets:"</label>
                </div>
                {widget_boxes}
                {scope.message()}
            </fieldset>
            <fieldset class="field">
                <legend>"Uptime"</legend>
                <div class="field tick">
                    <input type="radio" id="new-maintenance-excluded" name="uptime"
                        value="excluded" checked form=FORM/>
                    <label for="new-maintenance-excluded">"Leave the time out"</label>
                </div>
                <div class="field tick">
                    <input type="radio" id="new-maintenance-counted" name="uptime"
                        value="counted" form=FORM/>
                    <label for="new-maintenance-counted">"Count it as it was"</label>
                </div>
            </fieldset>
            <div class="field">
                <label for="new-maintenance-message">"Message for visitors (optional)"</label>
                <textarea id="new-maintenance-message" name="message" rows="2" maxlength="4000"
                    form=FORM aria-invalid=message.invalid()
                    aria-describedby=message.described_by()></textarea>
                {message.message()}
            </div>
        </div>
        <form method="post" action=ADD_MAINTENANCE id=FORM>
            <FormId id=FORM/>
            <input type="hidden" name="page" value=page/>
            <button type="submit">"Plan maintenance"</button>
        </form>
    }
    .into_any()
}
