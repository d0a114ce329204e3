//! The form posts of the admin pages (`app::pages::admin`): plain HTML forms, so they work
//! without JavaScript. Each one changes something through `app::server::accounts`,
//! `app::server::rule_edits`, `app::server::liveness_edits`, `app::server::series_edits` or
//! `app::server::status_edits` or `app::server::alert_edits` (which check and audit) and
//! redirects back to its page with the outcome's code. Only admins get here, but for the
//! incident forms and the board editor's: the paths start with `/admin`, which the access policy
//! keeps for them, the incident forms' with `/incidents`, which it opens to operators too, and
//! the board editor's are its `Area::Boards`, open to operators a compose rule lets build
//! boards (each change then asks `BoardRights` whose board it is and what it may bind).

use app::components::incident_forms::Back;
use app::domain::accounts::User;
use app::domain::alert_rule::{ChannelText, RuleForm};
use app::domain::liveness::{RuleProblem, RuleText};
use app::domain::maintenance::MaintenanceText;
use app::domain::outcome::Outcome;
use app::domain::roles::{Audience, Permission, Role};
use app::domain::series::{SeriesProblem, SeriesText};
use app::domain::status_page::{ChartSeriesText, PageSpec, Visibility, WidgetText};
use app::pages::admin::status_pages as status_editor;
use app::server::access::{BoardRights, Visitor};
use app::server::accounts::{self, AccountError};
use app::server::alert_edits::{self, AlertEditError};
use app::server::liveness_edits::{self, LivenessRuleError};
use app::server::rule_edits::{self, RuleError};
use app::server::series_edits::{self, SeriesError};
use app::server::state::AppState;
use app::server::status_edits::{self, IncidentText, PageEditError, Pages};
use app::server::store::audit::Actor;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

pub const ADD_USER: &str = "/admin/users/add";
pub const SET_ROLE: &str = "/admin/users/role";
pub const SET_PASSWORD: &str = "/admin/users/password";
pub const SET_DISABLED: &str = "/admin/users/disable";
pub const ADD_RULE: &str = "/admin/rules/add";
pub const CHANGE_RULE: &str = "/admin/rules/change";
pub const DELETE_RULE: &str = "/admin/rules/delete";
pub const ADD_DEVICE_RULE: &str = "/admin/devices/add";
pub const CHANGE_DEVICE_RULE: &str = "/admin/devices/change";
pub const DELETE_DEVICE_RULE: &str = "/admin/devices/delete";
pub const ADD_SERIES: &str = "/admin/series/add";
pub const RENAME_SERIES: &str = "/admin/series/change";
pub const DELETE_SERIES: &str = "/admin/series/delete";
pub const ADD_ALERT_RULE: &str = "/admin/alerts/rules/add";
pub const CHANGE_ALERT_RULE: &str = "/admin/alerts/rules/change";
pub const DELETE_ALERT_RULE: &str = "/admin/alerts/rules/delete";
pub const ADD_CHANNEL: &str = "/admin/alerts/channels/add";
pub const CHANGE_CHANNEL: &str = "/admin/alerts/channels/change";
pub const DELETE_CHANNEL: &str = "/admin/alerts/channels/delete";
pub const TEST_CHANNEL: &str = "/admin/alerts/channels/test";

/// Every field is optional text, so a malformed post still gets the page back with a message
/// rather than a bare 422.
#[derive(Deserialize)]
pub struct AdminForm {
    /// Which form on the page was posted (`app::domain::outcome::FORM_ID`).
    #[serde(default)]
    form_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    disabled: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    permission: String,
    #[serde(default)]
    status_topic: String,
    #[serde(default)]
    interval: String,
    #[serde(default)]
    online: String,
    #[serde(default)]
    offline: String,
    #[serde(default)]
    pointer: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    enabled: String,
}

impl AdminForm {
    fn role(&self) -> Result<Role, Outcome> {
        self.role.parse().map_err(|_| Outcome::BadForm)
    }

    /// Whom a rule is for: a role, or `public`.
    fn audience(&self) -> Result<Audience, Outcome> {
        self.role.parse().map_err(|_| Outcome::BadForm)
    }

    fn permission(&self) -> Result<Permission, Outcome> {
        self.permission.parse().map_err(|_| Outcome::BadForm)
    }

    fn id(&self) -> Result<i64, Outcome> {
        self.id.trim().parse().map_err(|_| Outcome::BadForm)
    }

    /// Surrounding spaces in a filter are a slip of the keyboard, not part of a topic.
    fn filter(&self) -> &str {
        self.filter.trim()
    }

    /// A liveness rule as typed (checked by `app::domain::liveness`).
    fn liveness_rule(&self) -> RuleText<'_> {
        RuleText {
            name: &self.name,
            devices: &self.filter,
            status: &self.status_topic,
            interval_seconds: &self.interval,
            online: &self.online,
            offline: &self.offline,
        }
    }
}

impl AdminForm {
    /// A series as typed (checked by `app::domain::series`).
    fn series(&self) -> SeriesText<'_> {
        SeriesText {
            filter: &self.filter,
            pointer: &self.pointer,
            label: &self.label,
            unit: &self.unit,
        }
    }

    fn series_id(&self) -> Result<i32, Outcome> {
        self.id.trim().parse().map_err(|_| Outcome::BadForm)
    }
}

/// The signed-in user making a change (an admin here, anyone signed in for a publish), as the
/// audit log names them: taken from what `login::resolve_visitor` put in the request, after the
/// access policy let it through.
pub struct Acting {
    user: User,
    client_addr: String,
}

impl Acting {
    pub fn actor(&self) -> Actor<'_> {
        Actor::user(&self.user, Some(&self.client_addr))
    }

    pub fn visitor(&self) -> Visitor {
        Visitor::SignedIn(self.user.clone())
    }

    pub fn user(&self) -> &User {
        &self.user
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Acting {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let user = parts
            .extensions
            .get::<Visitor>()
            .and_then(|visitor| visitor.user().cloned());
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        match (user, peer) {
            (Some(user), Some(ConnectInfo(peer))) => Ok(Acting {
                user,
                client_addr: peer.ip().to_string(),
            }),
            // Only a signed-in user gets past the access policy to a form that changes
            // something; no user here means the middleware did not run, which is a bug, not a
            // visitor to serve.
            _ => {
                tracing::error!("a form arrived without a signed-in visitor");
                Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

/// Back to `page` with the outcome, naming the posted form (its `form_id` field) when a refusal is
/// about one of its fields.
pub(crate) fn back(page: &str, form_id: &str, outcome: Result<Outcome, Outcome>) -> Response {
    let outcome = outcome.unwrap_or_else(|refused| refused);
    Redirect::to(&format!("{page}?{}", outcome.query_for(form_id))).into_response()
}

fn account_outcome(error: AccountError) -> Outcome {
    match error {
        AccountError::NameTaken(_) => Outcome::NameTaken,
        AccountError::BadName(_) => Outcome::BadName,
        AccountError::WeakPassword(_) => Outcome::WeakPassword,
        AccountError::LastAdmin { .. } => Outcome::LastAdmin,
        AccountError::UnknownUser(_) => Outcome::UnknownUser,
        other => {
            tracing::error!(error = %other, "an admin change to a user failed");
            Outcome::Unavailable
        }
    }
}

fn rule_outcome(error: RuleError) -> Outcome {
    match error {
        RuleError::BadFilter(_) => Outcome::BadFilter,
        RuleError::Duplicate => Outcome::DuplicateRule,
        RuleError::PublicPublish => Outcome::PublicPublish,
        RuleError::NoSuchRule => Outcome::UnknownRule,
        RuleError::Database(error) => {
            tracing::error!(%error, "an admin change to the access rules failed");
            Outcome::Unavailable
        }
    }
}

fn liveness_rule_outcome(error: LivenessRuleError) -> Outcome {
    match error {
        LivenessRuleError::Invalid(problem) => match problem {
            RuleProblem::Name => Outcome::BadDeviceRuleName,
            RuleProblem::Devices(_) => Outcome::BadDeviceFilter,
            RuleProblem::Status(_) => Outcome::BadStatusTopic,
            RuleProblem::Interval => Outcome::BadInterval,
            RuleProblem::Words => Outcome::BadStatusWords,
        },
        LivenessRuleError::Duplicate => Outcome::DuplicateDeviceRule,
        LivenessRuleError::NoSuchRule => Outcome::UnknownDeviceRule,
        LivenessRuleError::Database(error) => {
            tracing::error!(%error, "an admin change to the liveness rules failed");
            Outcome::Unavailable
        }
    }
}

fn series_outcome(error: SeriesError) -> Outcome {
    match error {
        SeriesError::Invalid(problem) => match problem {
            SeriesProblem::Filter(_) | SeriesProblem::FilterTooLong => Outcome::BadSeriesTopics,
            SeriesProblem::Pointer => Outcome::BadSeriesField,
            SeriesProblem::Label => Outcome::BadSeriesLabel,
            SeriesProblem::Unit => Outcome::BadSeriesUnit,
        },
        SeriesError::Duplicate => Outcome::DuplicateSeries,
        SeriesError::Full => Outcome::TooManySeries,
        SeriesError::NoSuchSeries => Outcome::UnknownSeries,
        SeriesError::Database(error) => {
            tracing::error!(%error, "an admin change to the series failed");
            Outcome::Unavailable
        }
    }
}

const USERS: &str = "/admin/users";
const RULES: &str = "/admin/rules";
const DEVICE_RULES: &str = "/admin/devices";
const SERIES: &str = "/admin/series";

/// `POST /admin/users/add`: name, role, password.
pub async fn add_user(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let role = form.role()?;
        accounts::add_user(&state.store, actor, &form.name, &form.password, role)
            .await
            .map_err(account_outcome)?;
        Ok(Outcome::UserAdded)
    };
    back(USERS, &form.form_id, outcome.await)
}

/// `POST /admin/users/role`: name, role.
pub async fn set_role(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let role = form.role()?;
        accounts::set_role(&state.store, actor, &form.name, role)
            .await
            .map_err(account_outcome)?;
        Ok(Outcome::RoleChanged)
    };
    back(USERS, &form.form_id, outcome.await)
}

/// `POST /admin/users/password`: name, password. Ends that user's sessions (the admin's own
/// too, when they set their own).
pub async fn set_password(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = accounts::change_password(&state.store, actor, &form.name, &form.password)
        .await
        .map(|_| Outcome::PasswordReset)
        .map_err(account_outcome);
    back(USERS, &form.form_id, outcome)
}

/// `POST /admin/users/disable`: name, disabled (`true` or `false`).
pub async fn set_disabled(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let disabled = match form.disabled.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(Outcome::BadForm),
        };
        accounts::set_disabled(&state.store, actor, &form.name, disabled)
            .await
            .map_err(account_outcome)?;
        Ok(if disabled {
            Outcome::UserDisabled
        } else {
            Outcome::UserEnabled
        })
    };
    back(USERS, &form.form_id, outcome.await)
}

/// After a change to the rules: public pages on this instance are rebuilt under them at their
/// next request, so a topic taken out of the public audience is gone at once here (other
/// instances follow within their rules' freshness and their TTL).
fn rules_changed(state: &AppState) {
    state.status_pages.invalidate();
}

/// `POST /admin/rules/add`: role (or `public`), filter, permission.
pub async fn add_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let (audience, permission) = (form.audience()?, form.permission()?);
        rule_edits::add_rule(
            &state.store,
            &state.access,
            actor,
            audience,
            form.filter(),
            permission,
        )
        .await
        .map_err(rule_outcome)?;
        rules_changed(&state);
        Ok(Outcome::RuleAdded)
    };
    back(RULES, &form.form_id, outcome.await)
}

/// `POST /admin/rules/change`: id, role (or `public`), filter, permission.
pub async fn change_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let (id, audience, permission) = (form.id()?, form.audience()?, form.permission()?);
        rule_edits::change_rule(
            &state.store,
            &state.access,
            actor,
            id,
            audience,
            form.filter(),
            permission,
        )
        .await
        .map_err(rule_outcome)?;
        rules_changed(&state);
        Ok(Outcome::RuleChanged)
    };
    back(RULES, &form.form_id, outcome.await)
}

/// `POST /admin/rules/delete`: id.
pub async fn delete_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let id = form.id()?;
        rule_edits::delete_rule(&state.store, &state.access, actor, id)
            .await
            .map_err(rule_outcome)?;
        rules_changed(&state);
        Ok(Outcome::RuleDeleted)
    };
    back(RULES, &form.form_id, outcome.await)
}

/// `POST /admin/devices/add`: name, filter (the device topics), interval (seconds), status_topic,
/// online, offline.
pub async fn add_device_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let outcome = liveness_edits::add_rule(&state.store, acting.actor(), form.liveness_rule())
        .await
        .map(|_| Outcome::DeviceRuleAdded)
        .map_err(liveness_rule_outcome);
    back(DEVICE_RULES, &form.form_id, outcome)
}

/// `POST /admin/devices/change`: id and the fields of [`add_device_rule`].
pub async fn change_device_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let id = form.id()?;
        liveness_edits::change_rule(&state.store, actor, id, form.liveness_rule())
            .await
            .map_err(liveness_rule_outcome)?;
        Ok(Outcome::DeviceRuleChanged)
    };
    back(DEVICE_RULES, &form.form_id, outcome.await)
}

/// `POST /admin/devices/delete`: id.
pub async fn delete_device_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let id = form.id()?;
        liveness_edits::delete_rule(&state.store, actor, id)
            .await
            .map_err(liveness_rule_outcome)?;
        Ok(Outcome::DeviceRuleDeleted)
    };
    back(DEVICE_RULES, &form.form_id, outcome.await)
}

/// `POST /admin/series/add`: filter (the topics), pointer (the field), label, unit.
pub async fn add_series(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let outcome =
        series_edits::add_series(&state.store, &state.series, acting.actor(), form.series())
            .await
            .map(|_| Outcome::SeriesAdded)
            .map_err(series_outcome);
    back(SERIES, &form.form_id, outcome)
}

/// `POST /admin/series/change`: id, label, unit.
pub async fn rename_series(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let id = form.series_id()?;
        series_edits::rename_series(
            &state.store,
            &state.series,
            actor,
            id,
            &form.label,
            &form.unit,
        )
        .await
        .map_err(series_outcome)?;
        Ok(Outcome::SeriesRenamed)
    };
    back(SERIES, &form.form_id, outcome.await)
}

/// `POST /admin/series/delete`: id.
pub async fn delete_series(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let actor = acting.actor();
    let outcome = async {
        let id = form.series_id()?;
        series_edits::delete_series(&state.store, &state.series, actor, id)
            .await
            .map_err(series_outcome)?;
        Ok(Outcome::SeriesDeleted)
    };
    back(SERIES, &form.form_id, outcome.await)
}

/// The fields of the status page editor's forms (`app::pages::admin::status_pages`), all
/// optional text for the same reason as [`AdminForm`].
#[derive(Deserialize)]
pub struct PageForm {
    /// Which form on the page was posted (`app::domain::outcome::FORM_ID`).
    #[serde(default)]
    form_id: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    published: Option<String>,
    /// A checkbox: present when ticked.
    #[serde(default)]
    public: Option<String>,
    #[serde(default)]
    open_to: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    pointer: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    worse: String,
    #[serde(default)]
    degraded_at: String,
    #[serde(default)]
    down_at: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    range: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    min: String,
    #[serde(default)]
    max: String,
    #[serde(default)]
    markdown: String,
    #[serde(default)]
    command_topic: String,
    #[serde(default)]
    payload_on: String,
    #[serde(default)]
    payload_off: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    width: String,
    #[serde(default)]
    direction: String,
    /// The editor's drag: the page's widget ids in their new order, comma separated.
    #[serde(default)]
    order: String,
    /// Every other field: a chart's series rows, `series_label_<n>`, `series_topic_<n>` and
    /// `series_pointer_<n>` for rows 1, 2, ... (numbered, as a form without JavaScript posts a
    /// fixed set of rows and a map keeps one value per name).
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

/// Rows of a chart's series read from a form at most: more than a chart may have, so a form
/// with too many is told so rather than cut short, and few enough to bound the work.
const SERIES_ROWS_READ: usize = 32;

impl PageForm {
    fn id(&self) -> Result<i64, Outcome> {
        self.id.trim().parse().map_err(|_| Outcome::BadForm)
    }

    fn page(&self) -> Result<i64, Outcome> {
        self.page.trim().parse().map_err(|_| Outcome::BadForm)
    }

    /// A chart's series rows (blank ones among them: the chart's check skips those).
    fn series_rows(&self) -> Vec<ChartSeriesText<'_>> {
        let field = |what: &str, row: usize| {
            self.rest
                .get(&format!("series_{what}_{row}"))
                .map(String::as_str)
                .unwrap_or_default()
        };
        (1..=SERIES_ROWS_READ)
            .map(|row| ChartSeriesText {
                label: field("label", row),
                topic: field("topic", row),
                pointer: field("pointer", row),
            })
            .collect()
    }

    fn widget<'a>(&'a self, series: &'a [ChartSeriesText<'a>]) -> WidgetText<'a> {
        WidgetText {
            kind: &self.kind,
            label: &self.label,
            topic: &self.topic,
            pointer: &self.pointer,
            unit: &self.unit,
            worse: &self.worse,
            degraded_at: &self.degraded_at,
            down_at: &self.down_at,
            device: &self.device,
            range: &self.range,
            days: &self.days,
            min: &self.min,
            max: &self.max,
            markdown: &self.markdown,
            command_topic: &self.command_topic,
            payload_on: &self.payload_on,
            payload_off: &self.payload_off,
            step: &self.step,
            width: &self.width,
            series,
        }
    }
}

fn page_outcome(error: PageEditError) -> Outcome {
    match error {
        PageEditError::Spec(problem) => Outcome::Spec(problem),
        PageEditError::OutsideAudience(outside) => Outcome::OutsideAudience(outside),
        PageEditError::SlugTaken => Outcome::SlugTaken,
        PageEditError::NoSuchPage => Outcome::UnknownPage,
        PageEditError::NoSuchWidget => Outcome::UnknownWidget,
        PageEditError::Incident(problem) => Outcome::Incident(problem),
        PageEditError::NoSuchIncident => Outcome::UnknownIncident,
        PageEditError::NoSuchProposal => Outcome::UnknownProposal,
        PageEditError::TooManyUpdates => Outcome::TooManyUpdates,
        PageEditError::Maintenance(problem) => Outcome::Maintenance(problem),
        PageEditError::NoSuchMaintenance => Outcome::UnknownMaintenance,
        PageEditError::TooManyMaintenance => Outcome::TooManyMaintenance,
        PageEditError::NotAMailChannel => Outcome::NotAMailChannel,
        PageEditError::BadWebhook => Outcome::BadWebhook,
        PageEditError::TooManyWebhooks => Outcome::TooManyWebhooks,
        PageEditError::TooManyWidgets => Outcome::TooManyWidgets,
        PageEditError::StaleArrangement => Outcome::StaleArrangement,
        PageEditError::NoSuchFollower => Outcome::UnknownFollower,
        PageEditError::NotYourBoard => Outcome::NotYourBoard,
        PageEditError::NotComposable => Outcome::NotComposable,
        PageEditError::OpensBeyondRights => Outcome::BoardOpensBeyondRights,
        PageEditError::Database(error) => {
            tracing::error!(error = %error, "changing a status page failed");
            Outcome::Unavailable
        }
    }
}

fn pages(state: &AppState) -> Pages<'_> {
    Pages {
        store: &state.store,
        cache: &state.status_pages,
    }
}

const STATUS_PAGES: &str = "/admin/pages";

/// What the acting user may do in the board editor, by the rules in force.
async fn board_rights(state: &AppState, acting: &Acting) -> Result<BoardRights, Outcome> {
    match state.access.rules().await {
        Ok(rules) => Ok(rules.board_rights(&acting.visitor())),
        Err(error) => {
            tracing::error!(%error, "reading the access rules for the board editor failed");
            Err(Outcome::Unavailable)
        }
    }
}

/// `POST /admin/pages/add`: slug and title; the new draft's editor opens.
pub async fn add_page(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    let added = async {
        let rights = board_rights(&state, &acting).await?;
        status_edits::add_page(
            pages(&state),
            acting.actor(),
            &rights,
            &form.slug,
            &form.title,
        )
        .await
        .map_err(page_outcome)
    };
    match added.await {
        Ok(id) => back(
            &status_editor::editor_path(id),
            &form.form_id,
            Ok(Outcome::PageAdded),
        ),
        Err(outcome) => back(STATUS_PAGES, &form.form_id, Err(outcome)),
    }
}

/// `POST /admin/pages/change`: id, slug, title, description, published, public, open_to.
pub async fn change_page(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    let Ok(id) = form.id() else {
        return back(STATUS_PAGES, &form.form_id, Err(Outcome::BadForm));
    };
    let outcome = async {
        let visibility =
            Visibility::check(form.public.is_some(), &form.open_to).map_err(Outcome::Spec)?;
        let spec = PageSpec::check(
            &form.slug,
            &form.title,
            &form.description,
            form.published.is_some(),
            visibility,
        )
        .map_err(Outcome::Spec)?;
        let rights = board_rights(&state, &acting).await?;
        status_edits::change_page(pages(&state), acting.actor(), &rights, id, &spec)
            .await
            .map_err(page_outcome)?;
        Ok(Outcome::PageChanged)
    };
    back(
        &status_editor::editor_path(id),
        &form.form_id,
        outcome.await,
    )
}

/// `POST /admin/pages/delete`: id.
pub async fn delete_page(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    let outcome = async {
        let rights = board_rights(&state, &acting).await?;
        status_edits::delete_page(pages(&state), acting.actor(), &rights, form.id()?)
            .await
            .map_err(page_outcome)?;
        Ok(Outcome::PageDeleted)
    };
    back(STATUS_PAGES, &form.form_id, outcome.await)
}

/// The editor of the page a widget form came from, or the page list when it named none.
/// A post about one item (`id`) of page `page` (an incident, a window, a follower): `change`
/// it, and back to the page's editor with `done` or the refusal.
async fn on_page_item<Fut>(
    form: &PageForm,
    done: Outcome,
    change: impl FnOnce(i64, i64) -> Fut,
) -> Response
where
    Fut: std::future::Future<Output = Result<(), PageEditError>>,
{
    let outcome = async {
        let (page, id) = (form.page()?, form.id()?);
        change(page, id).await.map_err(page_outcome)?;
        Ok(done)
    };
    widget_back(form, outcome.await)
}

fn widget_back(form: &PageForm, outcome: Result<Outcome, Outcome>) -> Response {
    match form.page() {
        Ok(page) => back(&status_editor::editor_path(page), &form.form_id, outcome),
        Err(_) => back(STATUS_PAGES, &form.form_id, Err(Outcome::BadForm)),
    }
}

/// `POST /admin/pages/widgets/add`: page and the widget's fields.
pub async fn add_widget(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    let series = form.series_rows();
    let outcome = async {
        let rights = board_rights(&state, &acting).await?;
        status_edits::add_widget(
            pages(&state),
            acting.actor(),
            &rights,
            form.page()?,
            form.widget(&series),
        )
        .await
        .map_err(page_outcome)?;
        Ok(Outcome::WidgetAdded)
    };
    let outcome = outcome.await;
    widget_back(&form, outcome)
}

/// `POST /admin/pages/widgets/change`: page, id and the widget's fields.
pub async fn change_widget(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    let series = form.series_rows();
    let outcome = async {
        let rights = board_rights(&state, &acting).await?;
        status_edits::change_widget(
            pages(&state),
            acting.actor(),
            &rights,
            form.page()?,
            form.id()?,
            form.widget(&series),
        )
        .await
        .map_err(page_outcome)?;
        Ok(Outcome::WidgetChanged)
    };
    let outcome = outcome.await;
    widget_back(&form, outcome)
}

/// `POST /admin/pages/widgets/delete`: page and id.
pub async fn delete_widget(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    let outcome = async {
        let rights = board_rights(&state, &acting).await?;
        let (page, id) = (form.page()?, form.id()?);
        status_edits::delete_widget(pages(&state), acting.actor(), &rights, page, id)
            .await
            .map_err(page_outcome)?;
        Ok(Outcome::WidgetDeleted)
    };
    let outcome = outcome.await;
    widget_back(&form, outcome)
}

/// `POST /admin/pages/widgets/move`: page, id and direction (`up` or `down`).
pub async fn move_widget(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    let outcome = async {
        let earlier = match form.direction.as_str() {
            "up" => true,
            "down" => false,
            _ => return Err(Outcome::BadForm),
        };
        let rights = board_rights(&state, &acting).await?;
        status_edits::move_widget(
            pages(&state),
            acting.actor(),
            &rights,
            form.page()?,
            form.id()?,
            earlier,
        )
        .await
        .map_err(page_outcome)?;
        Ok(Outcome::WidgetMoved)
    };
    let outcome = outcome.await;
    widget_back(&form, outcome)
}

/// `POST /admin/pages/widgets/arrange`: page and order (every widget's id, comma separated), as
/// the editor's drag sends them.
pub async fn arrange_widgets(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    let outcome = async {
        let rights = board_rights(&state, &acting).await?;
        let page = form.page()?;
        status_edits::arrange_widgets(pages(&state), acting.actor(), &rights, page, &form.order)
            .await
            .map_err(page_outcome)?;
        Ok(Outcome::WidgetsArranged)
    };
    let outcome = outcome.await;
    widget_back(&form, outcome)
}

fn alert_outcome(error: AlertEditError) -> Outcome {
    match error {
        AlertEditError::Invalid(problem) => Outcome::Alert(problem),
        AlertEditError::NameTaken => Outcome::AlertNameTaken,
        AlertEditError::Full => Outcome::TooManyAlerts,
        AlertEditError::Unknown => Outcome::UnknownAlert,
        AlertEditError::FromConfig => Outcome::AlertFromConfig,
        AlertEditError::Database(error) => {
            tracing::error!(%error, "an admin change to alerts failed");
            Outcome::Unavailable
        }
    }
}

const ALERTS: &str = "/admin/alerts";

/// The fields of a rule's form, read as pairs: its channels are a repeated field.
fn rule_form(pairs: &[(String, String)]) -> (RuleForm, String, String) {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    (RuleForm::from_pairs(pairs), field("form_id"), field("id"))
}

/// `POST /admin/alerts/rules/add`: the fields of `domain::alert_rule::RuleForm`.
pub async fn add_alert_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (form, form_id, _) = rule_form(&pairs);
    let outcome = alert_edits::add_rule(
        &state.store,
        acting.actor(),
        form.text(),
        form.channels.clone(),
    )
    .await
    .map(|_| Outcome::AlertRuleAdded)
    .map_err(alert_outcome);
    back(ALERTS, &form_id, outcome)
}

/// `POST /admin/alerts/rules/change`: id, and the fields of a new rule with `enabled`.
pub async fn change_alert_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (form, form_id, id) = rule_form(&pairs);
    let outcome = async {
        let id = id.trim().parse().map_err(|_| Outcome::BadForm)?;
        alert_edits::change_rule(
            &state.store,
            acting.actor(),
            id,
            form.text(),
            form.channels.clone(),
            form.enabled,
        )
        .await
        .map_err(alert_outcome)?;
        Ok(Outcome::AlertRuleChanged)
    };
    back(ALERTS, &form_id, outcome.await)
}

/// `POST /admin/alerts/rules/delete`: id.
pub async fn delete_alert_rule(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let outcome = async {
        let id = form.id()?;
        alert_edits::delete_rule(&state.store, acting.actor(), id)
            .await
            .map_err(alert_outcome)?;
        Ok(Outcome::AlertRuleDeleted)
    };
    back(ALERTS, &form.form_id, outcome.await)
}

impl AdminForm {
    /// A channel as typed (checked by `app::domain::alert_rule`).
    fn channel(&self) -> ChannelText<'_> {
        ChannelText {
            name: &self.name,
            format: &self.format,
            url: &self.url,
            template: &self.template,
        }
    }
}

/// `POST /admin/alerts/channels/add`: name, format, url, template.
pub async fn add_channel(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let outcome = alert_edits::add_channel(&state.store, acting.actor(), form.channel())
        .await
        .map(|_| Outcome::ChannelAdded)
        .map_err(alert_outcome);
    back(ALERTS, &form.form_id, outcome)
}

/// `POST /admin/alerts/channels/change`: id, name, format, url, template, enabled.
pub async fn change_channel(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let outcome = async {
        let id = form.id()?;
        let enabled = form.enabled == "on";
        alert_edits::change_channel(&state.store, acting.actor(), id, form.channel(), enabled)
            .await
            .map_err(alert_outcome)?;
        Ok(Outcome::ChannelChanged)
    };
    back(ALERTS, &form.form_id, outcome.await)
}

/// `POST /admin/alerts/channels/delete`: id.
pub async fn delete_channel(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let outcome = async {
        let id = form.id()?;
        alert_edits::delete_channel(&state.store, acting.actor(), id)
            .await
            .map_err(alert_outcome)?;
        Ok(Outcome::ChannelDeleted)
    };
    back(ALERTS, &form.form_id, outcome.await)
}

/// `POST /admin/alerts/channels/test`: id. The test goes through the outbox like any notice,
/// so what it shows is what a real alert would meet.
pub async fn test_channel(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<AdminForm>,
) -> Response {
    let outcome = async {
        let id = form.id()?;
        alert_edits::test_channel(&state.store, acting.actor(), id)
            .await
            .map_err(alert_outcome)?;
        state.outbox.notify_one();
        Ok(Outcome::ChannelTestQueued)
    };
    back(ALERTS, &form.form_id, outcome.await)
}

/// Where an incident form's post returns: the page's editor or the incident desk, as its `back`
/// field says (never an address taken from the form).
fn incident_back(
    pairs: &[(String, String)],
    page: i64,
    outcome: Result<Outcome, Outcome>,
) -> Response {
    let to = match Back::parse(pair(pairs, "back")) {
        Back::Editor => status_editor::editor_path(page),
        Back::Desk => INCIDENT_DESK.to_owned(),
    };
    back(&to, pair(pairs, "form_id"), outcome)
}

const INCIDENT_DESK: &str = "/incidents";

/// The incident typed in a form read as pairs; `widgets` are its `widget` fields.
fn incident_text<'a>(pairs: &'a [(String, String)], widgets: &'a [&'a str]) -> IncidentText<'a> {
    IncidentText {
        title: pair(pairs, "title"),
        status: pair(pairs, "status"),
        message: pair(pairs, "message"),
        widgets,
        proposed_by: proposal_named(pairs),
    }
}

/// The alert firing a form answers, when it answers one: `rule`, `subject` and `since`
/// fields prefixed with `proposal_`.
fn proposal_named(pairs: &[(String, String)]) -> Option<(&str, &str, &str)> {
    let rule = pair(pairs, "proposal_rule");
    (!rule.is_empty()).then(|| {
        (
            rule,
            pair(pairs, "proposal_subject"),
            pair(pairs, "proposal_since"),
        )
    })
}

/// `POST /incidents/dismiss` (operators and admins): page and the proposal's fields.
pub async fn dismiss_proposal(
    State(state): State<AppState>,
    acting: Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form_id = pair(&pairs, "form_id");
    let (Ok(page), Some(named)) = (
        pair(&pairs, "page").trim().parse::<i64>(),
        proposal_named(&pairs),
    ) else {
        return back(INCIDENT_DESK, form_id, Err(Outcome::BadForm));
    };
    let outcome = status_edits::dismiss_proposal(pages(&state), acting.actor(), page, named)
        .await
        .map(|_| Outcome::ProposalDismissed)
        .map_err(page_outcome);
    back(INCIDENT_DESK, form_id, outcome)
}

/// `POST /incidents/open` (operators and admins): page, title, status, message, a `widget` per
/// affected widget, and `back`.
pub async fn open_incident(
    State(state): State<AppState>,
    acting: Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let Some(page) = id_in(&pairs, "page") else {
        return back(
            INCIDENT_DESK,
            pair(&pairs, "form_id"),
            Err(Outcome::BadForm),
        );
    };
    let widgets = every(&pairs, "widget");
    let outcome = status_edits::open_incident(
        pages(&state),
        acting.actor(),
        page,
        incident_text(&pairs, &widgets),
    )
    .await
    .map(|_| Outcome::IncidentOpened)
    .map_err(page_outcome);
    incident_back(&pairs, page, outcome)
}

/// `POST /incidents/update` (operators and admins): page, id (the incident's), status,
/// message and `back`.
pub async fn update_incident(
    State(state): State<AppState>,
    acting: Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (Some(page), Some(id)) = (id_in(&pairs, "page"), id_in(&pairs, "id")) else {
        return back(
            INCIDENT_DESK,
            pair(&pairs, "form_id"),
            Err(Outcome::BadForm),
        );
    };
    let outcome = status_edits::update_incident(
        pages(&state),
        acting.actor(),
        page,
        id,
        incident_text(&pairs, &[]),
    )
    .await
    .map(|_| Outcome::IncidentUpdated)
    .map_err(page_outcome);
    incident_back(&pairs, page, outcome)
}

/// `POST /admin/pages/incidents/delete`: page, id.
pub async fn delete_incident(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    on_page_item(&form, Outcome::IncidentDeleted, |page, id| {
        status_edits::delete_incident(pages(&state), acting.actor(), page, id)
    })
    .await
}

/// The value of field `name` of a form read as pairs (empty when absent).
fn pair<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_default()
}

/// Every value of field `name` (a box ticked per widget, say).
fn every<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .collect()
}

/// Field `name` as an id, if it is one.
fn id_in(pairs: &[(String, String)], name: &str) -> Option<i64> {
    pair(pairs, name).trim().parse().ok()
}

/// `POST /admin/pages/maintenance/add`: page, title, message, starts (UTC), minutes, repeat,
/// until, uptime (`counted` or not), scope (`page` or `widgets`) and a `widget` per widget
/// covered.
pub async fn add_maintenance(
    State(state): State<AppState>,
    acting: Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| pair(&pairs, name);
    let form_id = field("form_id");
    let Some(page) = id_in(&pairs, "page") else {
        return back(STATUS_PAGES, form_id, Err(Outcome::BadForm));
    };
    let text = MaintenanceText {
        title: field("title"),
        message: field("message"),
        starts: field("starts"),
        minutes: field("minutes"),
        repeat: field("repeat"),
        until: field("until"),
        uptime: field("uptime"),
        whole_page: field("scope") != "widgets",
        widgets: every(&pairs, "widget"),
    };
    let outcome = status_edits::add_maintenance(pages(&state), acting.actor(), page, &text)
        .await
        .map(|_| Outcome::MaintenancePlanned)
        .map_err(page_outcome);
    back(&status_editor::editor_path(page), form_id, outcome)
}

/// `POST /admin/pages/maintenance/delete`: page, id.
pub async fn delete_maintenance(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    on_page_item(&form, Outcome::MaintenanceDeleted, |page, id| {
        status_edits::delete_maintenance(pages(&state), acting.actor(), page, id)
    })
    .await
}

/// `POST /admin/pages/followers/mail`: page and channel (empty: none).
pub async fn set_mail_channel(
    State(state): State<AppState>,
    acting: Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form_id = pair(&pairs, "form_id");
    let Some(page) = id_in(&pairs, "page") else {
        return back(STATUS_PAGES, form_id, Err(Outcome::BadForm));
    };
    let channel = match (pair(&pairs, "channel").trim(), id_in(&pairs, "channel")) {
        ("", _) => None,
        (_, Some(id)) => Some(id),
        (_, None) => {
            let refused = Err(Outcome::NotAMailChannel);
            return back(&status_editor::editor_path(page), form_id, refused);
        }
    };
    let outcome = status_edits::set_mail_channel(pages(&state), acting.actor(), page, channel)
        .await
        .map(|_| Outcome::MailChannelSet)
        .map_err(page_outcome);
    back(&status_editor::editor_path(page), form_id, outcome)
}

/// `POST /admin/pages/followers/webhooks/add`: page and url.
pub async fn add_webhook(
    State(state): State<AppState>,
    acting: Acting,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form_id = pair(&pairs, "form_id");
    let Some(page) = id_in(&pairs, "page") else {
        return back(STATUS_PAGES, form_id, Err(Outcome::BadForm));
    };
    let outcome =
        status_edits::add_webhook(pages(&state), acting.actor(), page, pair(&pairs, "url"))
            .await
            .map(|_| Outcome::WebhookAdded)
            .map_err(page_outcome);
    back(&status_editor::editor_path(page), form_id, outcome)
}

/// `POST /admin/pages/followers/delete`: page and id (a webhook's or a subscriber's).
pub async fn delete_follower(
    State(state): State<AppState>,
    acting: Acting,
    Form(form): Form<PageForm>,
) -> Response {
    on_page_item(&form, Outcome::FollowerDeleted, |page, id| {
        status_edits::delete_follower(pages(&state), acting.actor(), page, id)
    })
    .await
}
