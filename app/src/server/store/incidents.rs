//! The SQL of incidents on status pages (`incident`, `incident_update`).

use super::Store;
use crate::domain::incident::{
    Incident, IncidentStatus, IncidentUpdate, MAX_UPDATES, OPEN_SHOWN, UPDATES_SHOWN,
};
use chrono::{DateTime, Utc};

/// What adding an update came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateAdded {
    Added,
    /// No such incident on that page.
    Unknown,
    /// It has [`MAX_UPDATES`] already.
    Full,
}

impl Store {
    /// Opens an incident on page `page_id` with its first update; `None` when there is no such
    /// page.
    pub async fn open_incident(
        &self,
        page_id: i64,
        title: &str,
        status: IncidentStatus,
        message: &str,
        author: Option<&str>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let id = sqlx::query_scalar!(
            "insert into incident (page_id, title, status, resolved_at) \
             select id, $2, $3, case when $3 = 'resolved' then now() end \
             from status_page where id = $1 returning id",
            page_id,
            title,
            status.as_str(),
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        insert_update(&mut tx, id, status, message, author).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Adds an update to incident `id` of page `page_id`; the incident takes its status.
    pub async fn add_incident_update(
        &self,
        page_id: i64,
        id: i64,
        status: IncidentStatus,
        message: &str,
        author: Option<&str>,
    ) -> Result<UpdateAdded, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let updates = sqlx::query_scalar!(
            r#"select (select count(*) from incident_update u where u.incident_id = i.id) as "n!"
               from incident i where i.id = $1 and i.page_id = $2 for update"#,
            id,
            page_id,
        )
        .fetch_optional(&mut *tx)
        .await?;
        match updates {
            None => return Ok(UpdateAdded::Unknown),
            Some(count) if count >= MAX_UPDATES => return Ok(UpdateAdded::Full),
            Some(_) => {}
        }
        sqlx::query!(
            "update incident set status = $2, \
             resolved_at = case when $2 = 'resolved' then coalesce(resolved_at, now()) end \
             where id = $1",
            id,
            status.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        insert_update(&mut tx, id, status, message, author).await?;
        tx.commit().await?;
        Ok(UpdateAdded::Added)
    }

    pub async fn delete_incident(&self, page_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!(
            "delete from incident where id = $1 and page_id = $2",
            id,
            page_id
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Page `page_id`'s open incidents (the [`OPEN_SHOWN`] newest) and its `past` most recent
    /// resolved ones, each with its [`UPDATES_SHOWN`] newest updates, newest first; open ones
    /// first, newest first within each.
    pub async fn page_incidents(
        &self,
        page_id: i64,
        past: i64,
    ) -> Result<Vec<Incident>, sqlx::Error> {
        let incidents = sqlx::query!(
            r#"(select id, title, status, opened_at as "opened_at!: DateTime<Utc>",
                       resolved_at as "resolved_at: DateTime<Utc>"
                from incident where page_id = $1 and resolved_at is null
                order by opened_at desc limit $3)
               union all
               (select id, title, status, opened_at, resolved_at
                from incident where page_id = $1 and resolved_at is not null
                order by resolved_at desc limit $2)"#,
            page_id,
            past,
            OPEN_SHOWN,
        )
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<i64> = incidents.iter().filter_map(|row| row.id).collect();
        let updates = sqlx::query!(
            r#"select incident_id as "incident_id!", status as "status!", message as "message!",
                      at as "at!: DateTime<Utc>"
               from (select *, row_number() over (partition by incident_id
                                                  order by at desc, id desc) as place
                     from incident_update where incident_id = any($1)) newest
               where place <= $2 order by at desc, id desc"#,
            &ids,
            UPDATES_SHOWN,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut found: Vec<Incident> = incidents
            .into_iter()
            .filter_map(|row| {
                let id = row.id?;
                Some(Incident {
                    id,
                    title: row.title?,
                    status: IncidentStatus::parse(row.status.as_deref()?)?,
                    opened_ms: row.opened_at.timestamp_millis(),
                    resolved_ms: row.resolved_at.map(|at| at.timestamp_millis()),
                    updates: updates
                        .iter()
                        .filter(|update| update.incident_id == id)
                        .filter_map(|update| {
                            Some(IncidentUpdate {
                                at_ms: update.at.timestamp_millis(),
                                status: IncidentStatus::parse(&update.status)?,
                                message: update.message.clone(),
                            })
                        })
                        .collect(),
                })
            })
            .collect();
        found.sort_by_key(|incident| {
            (
                incident.resolved_ms.is_some(),
                -incident.resolved_ms.unwrap_or(incident.opened_ms),
            )
        });
        Ok(found)
    }
}

async fn insert_update(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: i64,
    status: IncidentStatus,
    message: &str,
    author: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into incident_update (incident_id, status, message, author) \
         values ($1, $2, $3, $4)",
        id,
        status.as_str(),
        message,
        author,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
