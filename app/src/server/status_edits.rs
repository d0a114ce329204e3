//! Admins' changes to status pages: each checked by [`crate::domain::status_page`] (what a widget
//! may show of a payload) and by the access policy (whether what it is bound to is in the public
//! audience) before it is stored, written to the audit log, and shown on this instance at once
//! (the snapshot cache is dropped; other instances follow within their TTL).

use crate::domain::incident::{checked_message, checked_status, checked_title, IncidentProblem};
use crate::domain::maintenance::{MaintenanceProblem, MaintenanceText};
use crate::domain::status_page::{OutsideAudience, PageSpec, SpecProblem, WidgetSpec, WidgetText};
use crate::server::snapshot::StatusPages;
use crate::server::store::audit::{Actor, AuditEntry};
use crate::server::store::incidents::UpdateAdded;
use crate::server::store::maintenance::MaintenanceAdded;
use crate::server::store::status_pages::PageChange;
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
    #[error("that incident has as many updates as it may")]
    TooManyUpdates,
    #[error("{}", .0.describe())]
    Maintenance(MaintenanceProblem),
    #[error("there is no such maintenance window on that page")]
    NoSuchMaintenance,
    #[error("that page has as many maintenance windows as it may")]
    TooManyMaintenance,
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
    /// `text` checked as a widget, and refused when it would be bound outside the public
    /// audience.
    async fn checked_widget(&self, text: WidgetText<'_>) -> Result<WidgetSpec> {
        let spec = WidgetSpec::check(text)?;
        let rules = self.cache.access().rules().await?;
        let devices = match spec.device() {
            Some(_) => self.store.liveness_rules().await?,
            None => Vec::new(),
        };
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

/// Creates a draft page and returns its id.
pub async fn add_page(pages: Pages<'_>, actor: Actor<'_>, slug: &str, title: &str) -> Result<i64> {
    let spec = PageSpec::check(slug, title, "", false)?;
    let id = pages
        .store
        .create_status_page(&spec)
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
    id: i64,
    spec: &PageSpec,
) -> Result<()> {
    match pages.store.update_status_page(id, spec).await? {
        PageChange::Done => {}
        PageChange::NoSuchPage => return Err(PageEditError::NoSuchPage),
        PageChange::SlugTaken => return Err(PageEditError::SlugTaken),
    }
    let detail = json!({ "page_id": id, "slug": spec.slug, "published": spec.published });
    pages.done(actor, "status_page_changed", detail).await
}

pub async fn delete_page(pages: Pages<'_>, actor: Actor<'_>, id: i64) -> Result<()> {
    if !pages.store.delete_status_page(id).await? {
        return Err(PageEditError::NoSuchPage);
    }
    pages
        .done(actor, "status_page_deleted", json!({ "page_id": id }))
        .await
}

fn describe(page_id: i64, widget_id: i64, spec: &WidgetSpec) -> serde_json::Value {
    json!({
        "page_id": page_id,
        "widget_id": widget_id,
        "kind": spec.kind.key(),
        "topic": spec.topic,
        "pointer": spec.pointer,
    })
}

pub async fn add_widget(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    text: WidgetText<'_>,
) -> Result<i64> {
    let spec = pages.checked_widget(text).await?;
    let id = pages
        .store
        .add_status_widget(page_id, &spec)
        .await?
        .ok_or(PageEditError::NoSuchPage)?;
    pages
        .done(actor, "status_widget_added", describe(page_id, id, &spec))
        .await?;
    Ok(id)
}

pub async fn change_widget(
    pages: Pages<'_>,
    actor: Actor<'_>,
    page_id: i64,
    id: i64,
    text: WidgetText<'_>,
) -> Result<()> {
    let spec = pages.checked_widget(text).await?;
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
    page_id: i64,
    id: i64,
) -> Result<()> {
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
    page_id: i64,
    id: i64,
    earlier: bool,
) -> Result<()> {
    if !pages.store.move_status_widget(page_id, id, earlier).await? {
        return Err(PageEditError::NoSuchWidget);
    }
    let detail = json!({ "page_id": page_id, "widget_id": id, "earlier": earlier });
    pages.done(actor, "status_widget_moved", detail).await
}

/// An incident as typed: its title (for a new one), status and the update's message.
#[derive(Clone, Copy, Debug, Default)]
pub struct IncidentText<'a> {
    pub title: &'a str,
    pub status: &'a str,
    pub message: &'a str,
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
    let id = pages
        .store
        .open_incident(page_id, &title, status, &message, actor.name)
        .await?
        .ok_or(PageEditError::NoSuchPage)?;
    pages
        .done(
            actor,
            "incident_opened",
            json!({ "page_id": page_id, "incident_id": id, "title": title, "status": status }),
        )
        .await?;
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
