//! Admins' changes to the named series, each checked ([`SeriesDef::check`]) before it is stored
//! and written to the audit log. The series are read once into a [`SharedSeries`] that the
//! writer and the pages share: a change here replaces it at once on this instance, and every
//! instance reads them again every [`SERIES_REFRESH`], so the others follow within that.

use crate::domain::series::{SeriesDef, SeriesProblem, SeriesText, SharedSeries, MAX_SERIES};
use crate::server::store::audit::{Actor, AuditEntry};
use crate::server::store::series::SeriesAdded;
use crate::server::store::Store;
use serde_json::json;
use std::time::Duration;

/// How often an instance reads the series again, for changes made on another instance.
pub const SERIES_REFRESH: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    #[error("not a valid series: {0}")]
    Invalid(#[from] SeriesProblem),
    #[error("a series of this field of these topics exists already")]
    Duplicate,
    #[error("at most {MAX_SERIES} series can be named")]
    Full,
    #[error("there is no such series")]
    NoSuchSeries,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

type Result<T, E = SeriesError> = std::result::Result<T, E>;

/// The series as stored now.
pub async fn load(store: &Store) -> Result<SharedSeries, sqlx::Error> {
    let shared = SharedSeries::default();
    shared.replace(store.value_series().await?);
    Ok(shared)
}

/// Reads the series again into `shared`.
pub async fn refresh(store: &Store, shared: &SharedSeries) -> Result<(), sqlx::Error> {
    shared.replace(store.value_series().await?);
    Ok(())
}

fn describe(series: &SeriesDef) -> serde_json::Value {
    json!({
        "series_id": series.id,
        "topic_filter": series.topics.as_str(),
        "pointer": series.pointer,
        "label": series.label,
        "unit": series.unit,
    })
}

/// Names a series and returns its id. Values are rolled up from the next batch on; what was
/// stored before is not (the page says so).
#[tracing::instrument(skip_all, fields(filter = text.filter, pointer = text.pointer))]
pub async fn add_series(
    store: &Store,
    shared: &SharedSeries,
    actor: Actor<'_>,
    text: SeriesText<'_>,
) -> Result<i32> {
    let mut series = SeriesDef::check(0, text)?;
    series.id = match store.add_value_series(&series).await? {
        SeriesAdded::Added(id) => id,
        SeriesAdded::Duplicate => return Err(SeriesError::Duplicate),
        SeriesAdded::Full => return Err(SeriesError::Full),
    };
    store
        .audit(&AuditEntry::new(actor, "series_added", describe(&series)))
        .await?;
    refresh(store, shared).await?;
    Ok(series.id)
}

/// Gives series `id` another label and unit (its topics and field stay: they are what its
/// rollups were made of).
#[tracing::instrument(skip_all, fields(id))]
pub async fn rename_series(
    store: &Store,
    shared: &SharedSeries,
    actor: Actor<'_>,
    id: i32,
    label: &str,
    unit: &str,
) -> Result<()> {
    let before = series_now(store, id)
        .await?
        .ok_or(SeriesError::NoSuchSeries)?;
    let renamed = SeriesDef::check(
        id,
        SeriesText {
            filter: before.topics.as_str(),
            pointer: &before.pointer,
            label,
            unit,
        },
    )?;
    if !store
        .rename_value_series(id, &renamed.label, &renamed.unit)
        .await?
    {
        return Err(SeriesError::NoSuchSeries);
    }
    let detail = json!({ "series_id": id, "from": describe(&before), "to": describe(&renamed) });
    store
        .audit(&AuditEntry::new(actor, "series_renamed", detail))
        .await?;
    refresh(store, shared).await?;
    Ok(())
}

/// Deletes series `id` with its rollups.
#[tracing::instrument(skip_all, fields(id))]
pub async fn delete_series(
    store: &Store,
    shared: &SharedSeries,
    actor: Actor<'_>,
    id: i32,
) -> Result<()> {
    let before = series_now(store, id).await?;
    if !store.delete_value_series(id).await? {
        return Err(SeriesError::NoSuchSeries);
    }
    let detail = before
        .as_ref()
        .map(describe)
        .unwrap_or(json!({ "series_id": id }));
    store
        .audit(&AuditEntry::new(actor, "series_deleted", detail))
        .await?;
    refresh(store, shared).await?;
    Ok(())
}

/// Series `id` as stored now (another instance may have named it a moment ago).
async fn series_now(store: &Store, id: i32) -> Result<Option<SeriesDef>> {
    let all = store.value_series().await?;
    Ok(all.into_iter().find(|series| series.id == id))
}
