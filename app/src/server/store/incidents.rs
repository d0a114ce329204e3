//! The SQL of incidents on status pages (`incident`, `incident_update`).

use super::Store;
use crate::domain::alert_rule::WatchedWidget;
use crate::domain::incident::PageWidget;
use crate::domain::incident::{
    Incident, IncidentStatus, IncidentUpdate, DESK_SHOWN, MAX_UPDATES, MONTH_SHOWN, OPEN_SHOWN,
    UPDATES_SHOWN,
};
use crate::domain::status_page::Visibility;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// An open incident of a published board, with the board's address, title and who may open it:
/// what an incidents summary chooses from for its audience.
#[derive(Clone, Debug, PartialEq)]
pub struct BoardIncident {
    pub slug: String,
    pub board: String,
    pub visibility: Visibility,
    pub id: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub opened_ms: i64,
}

/// What adding an update came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateAdded {
    Added,
    /// No such incident on that page.
    Unknown,
    /// It has [`MAX_UPDATES`] already.
    Full,
}

/// What opening an incident came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    Opened(i64),
    UnknownPage,
    /// A widget named as affected is not on that page.
    UnknownWidget,
}

/// Which incidents to read: all that match every condition given.
struct Wanted {
    page: Option<i64>,
    id: Option<i64>,
    open_only: bool,
    /// Opened within `[from, to)`.
    opened: Option<(DateTime<Utc>, DateTime<Utc>)>,
    limit: i64,
}

impl Default for Wanted {
    fn default() -> Self {
        Wanted {
            page: None,
            id: None,
            open_only: false,
            opened: None,
            limit: 1,
        }
    }
}

/// An incident as read, before its updates are.
struct IncidentRow {
    id: i64,
    page_id: i64,
    title: String,
    status: String,
    opened_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    widgets: Vec<i64>,
}

impl Store {
    /// Opens an incident on page `page_id` with its first update, affecting `widgets` (ids of
    /// the page's widgets; none: the page as a whole).
    pub async fn open_incident(
        &self,
        page_id: i64,
        title: &str,
        status: IncidentStatus,
        message: &str,
        author: Option<&str>,
        widgets: &[i64],
    ) -> Result<Opened, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query_scalar!(
            r#"select count(*) as "n!" from status_widget where page_id = $1 and id = any($2)"#,
            page_id,
            widgets,
        )
        .fetch_one(&mut *tx)
        .await?;
        if found != widgets.len() as i64 {
            return Ok(Opened::UnknownWidget);
        }
        let id = sqlx::query_scalar!(
            "insert into incident (page_id, title, status, resolved_at, widgets) \
             select id, $2, $3, case when $3 = 'resolved' then now() end, $4 \
             from status_page where id = $1 returning id",
            page_id,
            title,
            status.as_str(),
            widgets,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(Opened::UnknownPage);
        };
        insert_update(&mut tx, id, status, message, author).await?;
        tx.commit().await?;
        Ok(Opened::Opened(id))
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
        let rows = sqlx::query_as!(
            IncidentRow,
            r#"(select id as "id!", page_id as "page_id!", title as "title!", status as "status!",
                       opened_at as "opened_at!: DateTime<Utc>",
                       resolved_at as "resolved_at: DateTime<Utc>",
                       array(select w.id from status_widget w
                             where w.page_id = i.page_id and w.id = any(i.widgets)
                             order by w.id) as "widgets!: Vec<i64>"
                from incident i where page_id = $1 and resolved_at is null
                order by opened_at desc limit $3)
               union all
               (select id, page_id, title, status, opened_at, resolved_at,
                       array(select w.id from status_widget w
                             where w.page_id = i.page_id and w.id = any(i.widgets)
                             order by w.id)
                from incident i where page_id = $1 and resolved_at is not null
                order by resolved_at desc limit $2)"#,
            page_id,
            past,
            OPEN_SHOWN,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut found: Vec<Incident> = self
            .with_updates(rows)
            .await?
            .into_iter()
            .map(|(_, incident)| incident)
            .collect();
        found.sort_by_key(|incident| {
            (
                incident.resolved_ms.is_some(),
                -incident.resolved_ms.unwrap_or(incident.opened_ms),
            )
        });
        Ok(found)
    }

    /// Incident `id` of page `page_id` with its newest updates.
    pub async fn page_incident(
        &self,
        page_id: i64,
        id: i64,
    ) -> Result<Option<Incident>, sqlx::Error> {
        let found = self
            .incidents_where(&Wanted {
                page: Some(page_id),
                id: Some(id),
                ..Wanted::default()
            })
            .await?;
        Ok(found.into_iter().next().map(|(_, incident)| incident))
    }

    /// Open incidents of every page (the [`DESK_SHOWN`] most recently opened), each with its
    /// page's id, for the operators' desk.
    pub async fn open_incidents(&self) -> Result<Vec<(i64, Incident)>, sqlx::Error> {
        self.incidents_where(&Wanted {
            open_only: true,
            limit: DESK_SHOWN,
            ..Wanted::default()
        })
        .await
    }

    /// The open incidents of published boards, the `limit` most recently opened first.
    pub async fn open_board_incidents(
        &self,
        limit: i64,
    ) -> Result<Vec<BoardIncident>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select i.id, i.title, i.status, i.opened_at as "opened_at: DateTime<Utc>",
                      p.slug, p.title as board, p.public, p.open_to::text as "open_to!"
               from incident i join status_page p on p.id = i.page_id
               where i.resolved_at is null and p.published
               order by i.opened_at desc limit $1"#,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let status = IncidentStatus::parse(&row.status).ok_or_else(|| {
                    sqlx::Error::Decode(
                        format!("incident {}: status {:?}", row.id, row.status).into(),
                    )
                })?;
                Ok(BoardIncident {
                    slug: row.slug,
                    board: row.board,
                    visibility: super::status_pages::visibility(row.public, &row.open_to)?,
                    id: row.id,
                    title: row.title,
                    status,
                    opened_ms: row.opened_at.timestamp_millis(),
                })
            })
            .collect()
    }

    /// Page `page_id`'s incidents opened in `[from, to)`, the [`MONTH_SHOWN`] most recently
    /// opened first.
    pub async fn incidents_opened_between(
        &self,
        page_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Incident>, sqlx::Error> {
        let found = self
            .incidents_where(&Wanted {
                page: Some(page_id),
                opened: Some((from, to)),
                limit: MONTH_SHOWN,
                ..Wanted::default()
            })
            .await?;
        Ok(found.into_iter().map(|(_, incident)| incident).collect())
    }

    /// The incidents `wanted` names, the most recently opened first, each with its page's id
    /// and its newest updates.
    async fn incidents_where(&self, wanted: &Wanted) -> Result<Vec<(i64, Incident)>, sqlx::Error> {
        let (from, to) = wanted.opened.unzip();
        let rows = sqlx::query_as!(
            IncidentRow,
            r#"select id, page_id, title, status, opened_at as "opened_at: DateTime<Utc>",
                      resolved_at as "resolved_at: DateTime<Utc>",
                      array(select w.id from status_widget w
                            where w.page_id = i.page_id and w.id = any(i.widgets)
                            order by w.id) as "widgets!: Vec<i64>"
               from incident i
               where ($1::int8 is null or page_id = $1) and ($2::int8 is null or id = $2)
                 and (not $3 or resolved_at is null)
                 and ($4::timestamptz is null or opened_at >= $4)
                 and ($5::timestamptz is null or opened_at < $5)
               order by opened_at desc limit $6"#,
            wanted.page,
            wanted.id,
            wanted.open_only,
            from as Option<DateTime<Utc>>,
            to as Option<DateTime<Utc>>,
            wanted.limit,
        )
        .fetch_all(&self.pool)
        .await?;
        self.with_updates(rows).await
    }

    /// When page `page_id`'s first incident was opened, if it has any.
    pub async fn first_incident_ms(&self, page_id: i64) -> Result<Option<i64>, sqlx::Error> {
        let first = sqlx::query_scalar!(
            r#"select min(opened_at) as "first: DateTime<Utc>" from incident where page_id = $1"#,
            page_id,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(first.map(|at| at.timestamp_millis()))
    }

    /// The widgets of published pages, as proposals are matched against them.
    pub async fn published_widgets(&self) -> Result<Vec<PageWidget>, sqlx::Error> {
        let rows = sqlx::query!(
            "select w.id, w.page_id, w.label, w.kind, w.topic, w.device \
             from status_widget w join status_page p on p.id = w.page_id \
             where p.published order by w.page_id, w.position, w.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| PageWidget {
                id: row.id,
                page_id: row.page_id,
                label: row.label,
                watched: WatchedWidget {
                    is_table: row.kind == "table",
                    topic: row.topic,
                    device: row.device,
                },
            })
            .collect())
    }

    /// The proposals settled of the firings of rules `rule_ids`: (rule, subject, page, since).
    pub async fn settled_proposals(
        &self,
        rule_ids: &[i64],
    ) -> Result<HashSet<(i64, String, i64, i64)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select rule_id, subject, page_id, since as "since: DateTime<Utc>"
               from incident_proposal_settled where rule_id = any($1)"#,
            rule_ids,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    row.rule_id,
                    row.subject,
                    row.page_id,
                    row.since.timestamp_millis(),
                )
            })
            .collect())
    }

    /// Notes what a person did with the proposal of one firing on one page; `false` when the
    /// rule or page is gone or it was settled already.
    pub async fn settle_proposal(
        &self,
        (rule_id, subject, page_id, since_ms): (i64, &str, i64, i64),
        outcome: &str,
        incident_id: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let since = DateTime::<Utc>::from_timestamp_millis(since_ms).unwrap_or_default();
        let done = sqlx::query!(
            "insert into incident_proposal_settled \
             (rule_id, subject, page_id, since, outcome, incident_id) \
             select r.id, $2, p.id, $4, $5, $6 from alert_rule r, status_page p \
             where r.id = $1 and p.id = $3 on conflict do nothing",
            rule_id,
            subject,
            page_id,
            since as DateTime<Utc>,
            outcome,
            incident_id,
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The incidents of `rows`, in their order, each with its [`UPDATES_SHOWN`] newest updates.
    async fn with_updates(
        &self,
        rows: Vec<IncidentRow>,
    ) -> Result<Vec<(i64, Incident)>, sqlx::Error> {
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
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
        let mut by_incident: HashMap<i64, Vec<IncidentUpdate>> = HashMap::new();
        for update in updates {
            let Some(status) = IncidentStatus::parse(&update.status) else {
                continue;
            };
            by_incident
                .entry(update.incident_id)
                .or_default()
                .push(IncidentUpdate {
                    at_ms: update.at.timestamp_millis(),
                    status,
                    message: update.message,
                });
        }
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some((
                    row.page_id,
                    Incident {
                        id: row.id,
                        title: row.title,
                        status: IncidentStatus::parse(&row.status)?,
                        opened_ms: row.opened_at.timestamp_millis(),
                        resolved_ms: row.resolved_at.map(|at| at.timestamp_millis()),
                        widgets: row.widgets,
                        updates: by_incident.remove(&row.id).unwrap_or_default(),
                    },
                ))
            })
            .collect())
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
