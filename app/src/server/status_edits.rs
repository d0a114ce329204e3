//! Changes to boards (status pages): admins', and operators' on the boards they compose by a
//! rule; incidents also operators'. Each is checked by [`crate::domain::status_page`] (what a
//! widget may show of a payload) and by the access policy (whose board it is, what its editor
//! may bind it to, whether what it is bound to is in the public audience) before it is stored,
//! written to the audit log, and shown on this instance at once (the snapshot cache is dropped;
//! other instances follow within their TTL).

use crate::domain::incident::{
    checked_message, checked_status, checked_title, checked_widgets, IncidentProblem,
};
use crate::domain::maintenance::{Maintenance, MaintenanceProblem, MaintenanceText};
use crate::domain::status_page::{
    arrangement, OutsideAudience, PageSpec, SpecProblem, Visibility, WidgetSpec, WidgetText,
    BOARD_MAX_WIDGETS,
};
use crate::domain::subscription::{checked_webhook, PageNews};
use crate::server::access::BoardRights;
use crate::server::snapshot::StatusPages;
use crate::server::store::audit::{Actor, AuditEntry};
use crate::server::store::incidents::{Opened, UpdateAdded};
use crate::server::store::maintenance::MaintenanceAdded;
use crate::server::store::status_pages::{Arranged, PageChange};
use crate::server::store::Store;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum PageEditError {
    #[error("{}", .0.describe())]
    Spec(SpecProblem),
    #[error("{}", .0.describe())]
    OutsideAudience(OutsideAudience),
    #[error("another page has that address")]
    SlugTaken,
    #[error("there is no such page")]
    NoSuchPage,
    #[error("there is no such widget on that page")]
    NoSuchWidget,
    #[error("{}", .0.describe())]
    Incident(IncidentProblem),
    #[error("there is no such incident on that page")]
    NoSuchIncident,
    #[error("that alert proposes no incident on that page (any more)")]
    NoSuchProposal,
    #[error("that incident has as many updates as it may")]
    TooManyUpdates,
    #[error("{}", .0.describe())]
    Maintenance(MaintenanceProblem),
    #[error("there is no such maintenance window on that page")]
    NoSuchMaintenance,
    #[error("that page has as many maintenance windows as it may")]
    TooManyMaintenance,
    #[error("that is no e-mail channel")]
    NotAMailChannel,
    #[error("a webhook's address must be an http(s) address")]
    BadWebhook,
    #[error("that page has as many webhooks as it may, or that one already")]
    TooManyWebhooks,
    #[error("that page has as many widgets as it may")]
    TooManyWidgets,
    #[error("that order does not name each of the page's widgets once")]
    StaleArrangement,
    #[error("that page has no such follower")]
    NoSuchFollower,
    #[error("only admins and the operator who composes a board change it")]
    NotYourBoard,
    #[error("that binds the widget outside what its editor may compose")]
    NotComposable,
    #[error("only an admin makes a board public, and an operator's opens for operators")]
    OpensBeyondRights,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<IncidentProblem> for PageEditError {
    fn from(problem: IncidentProblem) -> Self {
        PageEditError::Incident(problem)
    }
}

impl From<SpecProblem> for PageEditError {
    fn from(problem: SpecProblem) -> Self {
        PageEditError::Spec(problem)
    }
}

type Result<T, E = PageEditError> = std::result::Result<T, E>;

/// Where edits land and whose cache they drop.
#[derive(Clone, Copy)]
pub struct Pages<'a> {
    pub store: &'a Store,
    pub cache: &'a StatusPages,
}

impl Pages<'_> {
    /// Who may open board `page_id`, once `rights` may change it.
    async fn editable(&self, rights: &BoardRights, page_id: i64) -> Result<Visibility> {
        let (visibility, owner) = self
            .store
            .board_visibility(page_id)
            .await?
            .ok_or(PageEditError::NoSuchPage)?;
        if !rights.may_edit(owner) {
            return Err(PageEditError::NotYourBoard);
        }
        Ok(visibility)
    }

    /// `text` checked as a widget of board `page_id` that `rights` may change and bind it so,
    /// and on a public board refused when it would be bound outside the public audience: what
    /// a public board shows is chosen. A board only signed-in users open takes any topic; each
    /// sees the widgets their role may read.
    async fn checked_widget(
        &self,
        rights: &BoardRights,
        page_id: i64,
        text: WidgetText<'_>,
    ) -> Result<WidgetSpec> {
        let spec = WidgetSpec::check(text)?;
        let visibility = self.editable(rights, page_id).await?;
        let devices = match spec.device() {
            Some(_) => self.store.liveness_rules().await?,
            None => Vec::new(),
        };
        rights
            .may_bind(&spec, &devices)
            .map_err(|_| PageEditError::NotComposable)?;
        // A control never shows in the public view, so it needs no public topic.
        if !visibility.public || spec.kind.is_control() {
            return Ok(spec);
        }
        let rules = self.cache.access().rules().await?;
        rules
            .public_widget(&spec, &devices)
            .map_err(PageEditError::OutsideAudience)?;
        Ok(spec)
    }

    async fn done(&self, actor: Actor<'_>, action: &str, detail: serde_json::Value) -> Result<()> {
        self.cache.invalidate();
        self.store
            .audit(&AuditEntry::new(actor, action, detail))
            .await?;
        Ok(())
    }
}

/// Creates a draft page and returns its id: `rights` says whose it is and who it opens for.
pub async fn add_page(
    pages: Pages<'_>,
    actor: Actor<'_>,
    rights: &BoardRights,
    slug: &str,
    title: &str,
) -> Result<i64> {
    if *rights == BoardRights::Nothing {
        return Err(PageEditError::NotYourBoard);
    }
    let spec = PageSpec::check(slug, title, "", false, rights.new_board_visibility())?;
    let id = pages
        .store
        .create_status_page(&spec, rights.owner_of_new())
        .await?
        .ok_or(PageEditError::SlugTaken)?;
    pages
        .done(
            actor,
            "status_page_added",
            json!({ "page_id": id, "slug": spec.slug }),
        )
        .await?;
    Ok(id)
}

pub async fn change_page(
    pages: Pages<'_>,
    actor: Actor<'_>,
    rights: &BoardRights,
    id: i64,
    spec: &PageSpec,
) -> Result<()> {
    let before = pages.editable(rights, id).await?;
    let visibility = rights
        .may_open(before, spec.visibility)
        .ok_or(PageEditError::OpensBeyondRights)?;
    let spec = &PageSpec {
        visibility,
        ..spec.clone()
    };
    match pages.store.update_status_page(id, spec).await? {
        PageChange::Done => {}
        PageChange::NoSuchPage => return Err(PageEditError::NoSuchPage),
        PageChange::SlugTaken => return Err(PageEditError::SlugTaken),
    }
    let detail = json!({ "page_id": id, "slug": spec.slug, "published": spec.published });
    pages.done(actor, "status_page_changed", detail).await
}

pub async fn delete_page(
    pages: Pages<'_>,
    actor: Actor<'_>,
    rights: &BoardRights,
    id: i64,
) -> Result<()> {
    pages.editable(rights, id).await?;
    if !pages.store.delete_status_page(id).await? {
        return Err(PageEditError::NoSuchPage);
    }
    pages
        .done(actor, "status_page_deleted", json!({ "page_id": id }))
        .await
}

fn describe(page_id: i64, widget_id: i64, spec: &WidgetSpec) -> serde_json::Value {
    let mut detail = json!({
        "page_id": page_id,
        "widget_id": widget_id,
        "kind": spec.kind.key(),
        "topic": spec.topic,
        "pointer": spec.pointer,
    });
    // A chart is bound to its series' topics, not its own.
    if !spec.series.is_empty() {
        detail["series"] = json!(spec.series);
    }
    detail
}

pub async fn add_widget(
    pages: Pages<'_>,
    actor: Actor<'_>,
    rights: &BoardRights,
    page_id: i64,
    text: WidgetText<'_>,
) -> Result<i64> {
    let spec = pages.checked_widget(rights, page_id, text).await?;
    let Some(id) = pages
        .store
        .add_status_widget(page_id, &spec, BOARD_MAX_WIDGETS)
        .await?
    else {
        return Err(match pages.store.board_visibility(page_id).await? {
            Some(_) => PageEditError::TooManyWidgets,
            None => PageEditError::NoSuchPage,
        });
    };
    pages
        .done(actor, "status_widget_added", describe(page_id, id, &spec))
        .await?;
    Ok(id)
}

pub async fn change_widget(
    pages: Pages<'_>,
    actor: Actor<'_>,
    rights: &BoardRights,
    page_id: i64,
    id: i64,
    text: WidgetText<'_>,
) -> Result<()> {
    let spec = pages.checked_widget(rights, page_id, text).await?;
    if !pages.store.update_status_widget(page_id, id, &spec).await? {
        return Err(PageEditError::NoSuchWidget);
    }
    pages
        .done(actor, "status_widget_changed", describe(page_id, id, &spec))
        .await
}

pub async fn delete_widget(
    pages: Pages<'_>,
    actor: Actor<'_>,
    rights: &BoardRights,
    page_id: i64,
    id: i64,
) -> Result<()> {
    pages.editable(rights, page_id).await?;
    if !pages.store.delete_status_widget(page_id, id).await? {
        return Err(PageEditError::NoSuchWidget);
    }
    pages
        .done(
            actor,
            "status_widget_deleted",
            json!({ "page_id": page_id, "widget_id": id }),
        )
        .await
}

/// Moves widget `id` one place earlier or later; at either end it stays where it is.
pub async fn move_widget(
    pages: Pages<'_>,
    actor: Actor<'_>,
    rights: &BoardRights,
    page_id: i64,
    id: i64,
    earlier: bool,
) -> Result<()> {
    pages.editable(rights, page_id).await?;
    if !pages.store.move_status_widget(page_id, id, earlier).await? {
        return Err(PageEditError::NoSuchWidget);
    }
    let detail = json!({ "page_id": page_id, "widget_id": id, "earlier": earlier });
    pages.done(actor, "status_widget_moved", detail).await
}

/// Puts the page's widgets in the order `asked` gives (ids, comma separated), which must name
/// each of them once: what the editor's drag sends.
pub async fn arrange_widgets(
    pages: Pages<'_>,
    actor: Actor<'_>,
    rights: &BoardRights,
    page_id: i64,
    asked: &str,
) -> Result<()> {
    pages.editable(rights, page_id).await?;
    let order = match pages
        .store
        .arrange_status_widgets(page_id, |current| arrangement(asked, current))
        .await?
    {
        Arranged::Done(order) => order,
        Arranged::NoSuchPage => return Err(PageEditError::NoSuchPage),
        Arranged::Refused => return Err(PageEditError::StaleArrangement),
    };
    let detail = json!({ "page_id": page_id, "order": order });
    pages.done(actor, "status_widgets_arranged", detail).await
}

/// An incident as typed: its title and affected widgets (for a new one), status and the
/// update's message.
#[derive(Clone, Copy, Debug, Default)]
pub struct IncidentText<'a> {
    pub title: &'a str,
    pub status: &'a str,
    pub message: &'a str,
    /// The ids ticked, as typed.
    pub widgets: &'a [&'a str],
    /// The alert's firing it was proposed by, if any: rule, subject and since when (ms), as
    /// the desk's form carries them.
    pub proposed_by: Option<(&'a str, &'a str, &'a str)>,
}

/// A proposal as a form names it (rule, subject, since in ms), checked for form; whether it
/// exists is the store's to say.
fn proposal_key<'a>(
    page_id: i64,
    (rule, subject, since): (&str, &'a str, &str),
) -> Result<(i64, &'a str, i64, i64)> {
    match (rule.trim().parse::<i64>(), since.trim().parse::<i64>()) {
        (Ok(rule), Ok(since)) => Ok((rule, subject, page_id, since)),
        _ => Err(PageEditError::NoSuchProposal),
    }
}

/// Opens an incident on page `page_id` with its first update; returns its id. The page shows
/// it at once on this instance (others within their TTL).
pub async fn open_incident(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    text: IncidentText<'_>,
) -> Result<i64> {
    let title = checked_title(text.title)?;
    let status = checked_status(text.status)?;
    let message = checked_message(text.message)?;
    let widgets = checked_widgets(text.widgets)?;
    let proposal = text
        .proposed_by
        .map(|named| proposal_key(page_id, named))
        .transpose()?;
    let id = match pages
        .store
        .open_incident(page_id, &title, status, &message, actor.name, &widgets)
        .await?
    {
        Opened::Opened(id) => id,
        Opened::UnknownPage => return Err(PageEditError::NoSuchPage),
        Opened::UnknownWidget => return Err(IncidentProblem::Widgets.into()),
    };
    pages
        .done(
            actor,
            "incident_opened",
            json!({
                "page_id": page_id,
                "incident_id": id,
                "title": title,
                "status": status,
                "widgets": widgets,
                "proposed_by_rule": proposal.map(|(rule, ..)| rule),
            }),
        )
        .await?;
    if let Some(key) = proposal {
        // Opened the way it was proposed or not, the person has answered that proposal.
        pages.store.settle_proposal(key, "opened", Some(id)).await?;
    }
    tell_of_incident(pages, page_id, id).await?;
    Ok(id)
}

/// Adds an update to incident `id` of page `page_id`; the incident takes its status.
pub async fn update_incident(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    id: i64,
    text: IncidentText<'_>,
) -> Result<()> {
    let status = checked_status(text.status)?;
    let message = checked_message(text.message)?;
    match pages
        .store
        .add_incident_update(page_id, id, status, &message, actor.name)
        .await?
    {
        UpdateAdded::Added => {}
        UpdateAdded::Unknown => return Err(PageEditError::NoSuchIncident),
        UpdateAdded::Full => return Err(PageEditError::TooManyUpdates),
    }
    pages
        .done(
            actor,
            "incident_updated",
            json!({ "page_id": page_id, "incident_id": id, "status": status }),
        )
        .await?;
    tell_of_incident(pages, page_id, id).await
}

/// Dismisses the incident an alert's firing proposes on page `page_id`: the desk no longer
/// offers it (the same alert firing again later proposes anew).
pub async fn dismiss_proposal(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    named: (&str, &str, &str),
) -> Result<()> {
    let key = proposal_key(page_id, named)?;
    if !pages.store.settle_proposal(key, "dismissed", None).await? {
        return Err(PageEditError::NoSuchProposal);
    }
    let (rule_id, subject, _, since_ms) = key;
    pages
        .done(
            actor,
            "incident_proposal_dismissed",
            json!({ "page_id": page_id, "rule_id": rule_id, "subject": subject, "since_ms": since_ms }),
        )
        .await
}

pub async fn delete_incident(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    id: i64,
) -> Result<()> {
    if !pages.store.delete_incident(page_id, id).await? {
        return Err(PageEditError::NoSuchIncident);
    }
    pages
        .done(
            actor,
            "incident_deleted",
            json!({ "page_id": page_id, "incident_id": id }),
        )
        .await
}

/// Tells page `page_id`'s followers `news` (made from its slug and title), if it is published.
/// The outbox sends it within its poll (or at once, when the caller wakes it).
async fn tell_followers(
    pages: Pages<'_>,
    page_id: i64,
    news: impl FnOnce(&str, &str) -> Option<PageNews>,
) -> Result<()> {
    let Some((slug, title)) = pages.store.published_names(page_id).await? else {
        return Ok(());
    };
    if let Some(news) = news(&title, &slug) {
        pages.store.queue_news(page_id, &news).await?;
    }
    Ok(())
}

/// What the followers are told of an incident just changed: its newest update.
async fn tell_of_incident(pages: Pages<'_>, page_id: i64, incident: i64) -> Result<()> {
    let told = pages.store.page_incident(page_id, incident).await?;
    tell_followers(pages, page_id, |title, slug| {
        PageNews::incident(title, slug, told.as_ref()?)
    })
    .await
}

/// Plans a maintenance window on page `page_id`; returns its id. Alerts about what it covers
/// are muted while it is in effect, from the alert engine's next look (within 10 s).
pub async fn add_maintenance(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    text: &MaintenanceText<'_>,
) -> Result<i64> {
    let window = text.checked().map_err(PageEditError::Maintenance)?;
    let id = match pages
        .store
        .add_maintenance(page_id, &window, actor.name)
        .await?
    {
        MaintenanceAdded::Added(id) => id,
        MaintenanceAdded::UnknownPage => return Err(PageEditError::NoSuchPage),
        MaintenanceAdded::UnknownWidget => {
            return Err(PageEditError::Maintenance(MaintenanceProblem::Widgets))
        }
        MaintenanceAdded::Full => return Err(PageEditError::TooManyMaintenance),
    };
    pages
        .done(
            actor,
            "maintenance_planned",
            json!({
                "page_id": page_id,
                "maintenance_id": id,
                "title": window.title,
                "starts_ms": window.starts_ms,
                "duration_ms": window.duration_ms,
                "repeat": window.repeat,
                "widgets": window.widgets,
            }),
        )
        .await?;
    let planned = Maintenance { id, ..window };
    let now_ms = chrono::Utc::now().timestamp_millis();
    tell_followers(pages, page_id, |title, slug| {
        PageNews::maintenance(title, slug, &planned, now_ms)
    })
    .await?;
    Ok(id)
}

pub async fn delete_maintenance(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    id: i64,
) -> Result<()> {
    if !pages.store.delete_maintenance(page_id, id).await? {
        return Err(PageEditError::NoSuchMaintenance);
    }
    pages
        .done(
            actor,
            "maintenance_deleted",
            json!({ "page_id": page_id, "maintenance_id": id }),
        )
        .await
}

/// Chooses the e-mail channel that writes to page `page_id`'s subscribers (its server and
/// sender); `None` stops the page taking subscriptions (those confirmed are kept, and told
/// again once a channel is chosen).
pub async fn set_mail_channel(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    channel: Option<i64>,
) -> Result<()> {
    if !pages.store.set_mail_channel(page_id, channel).await? {
        return Err(PageEditError::NotAMailChannel);
    }
    pages
        .done(
            actor,
            "page_mail_channel_set",
            json!({ "page_id": page_id, "channel_id": channel }),
        )
        .await
}

/// Adds a webhook that page `page_id`'s news is posted to.
pub async fn add_webhook(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    url: &str,
) -> Result<()> {
    let url = checked_webhook(url).ok_or(PageEditError::BadWebhook)?;
    let token = crate::server::accounts::follower_token();
    match pages.store.add_webhook(page_id, &url, &token).await? {
        None => return Err(PageEditError::NoSuchPage),
        Some(false) => return Err(PageEditError::TooManyWebhooks),
        Some(true) => {}
    }
    pages
        .done(
            actor,
            "page_webhook_added",
            json!({ "page_id": page_id, "url": url }),
        )
        .await
}

/// Removes follower `id` (a webhook, or a subscriber) of page `page_id`.
pub async fn delete_follower(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    id: i64,
) -> Result<()> {
    if !pages.store.forget_follower(page_id, id).await? {
        return Err(PageEditError::NoSuchFollower);
    }
    pages
        .done(
            actor,
            "page_follower_deleted",
            json!({ "page_id": page_id, "follower_id": id }),
        )
        .await
}
