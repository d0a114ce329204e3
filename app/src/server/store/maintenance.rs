//! The SQL of maintenance windows (`maintenance`).

use super::Store;
use crate::domain::alert_rule::WatchedWidget;
use crate::domain::maintenance::{Maintenance, Repeat, MAX_PER_PAGE};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Windows read for the alert engine at most: every page's, [`MAX_PER_PAGE`] each, up to this.
pub const MAX_WINDOWS: i64 = 10_000;

/// What planning a window came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaintenanceAdded {
    Added(i64),
    UnknownPage,
    /// A widget named is not on that page.
    UnknownWidget,
    /// The page has [`MAX_PER_PAGE`] windows already.
    Full,
}

impl Store {
    pub async fn add_maintenance(
        &self,
        page_id: i64,
        window: &Maintenance,
        author: Option<&str>,
    ) -> Result<MaintenanceAdded, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // The page's row lock keeps two admins from passing the count together.
        let count = sqlx::query_scalar!(
            r#"select (select count(*) from maintenance m where m.page_id = p.id) as "n!"
               from status_page p where p.id = $1 for update"#,
            page_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        match count {
            None => return Ok(MaintenanceAdded::UnknownPage),
            Some(count) if count >= MAX_PER_PAGE => return Ok(MaintenanceAdded::Full),
            Some(_) => {}
        }
        if let Some(widgets) = &window.widgets {
            let found = sqlx::query_scalar!(
                r#"select count(*) as "n!" from status_widget where page_id = $1 and id = any($2)"#,
                page_id,
                widgets
            )
            .fetch_one(&mut *tx)
            .await?;
            if found != widgets.len() as i64 {
                return Ok(MaintenanceAdded::UnknownWidget);
            }
        }
        let starts = DateTime::<Utc>::from_timestamp_millis(window.starts_ms).unwrap_or_default();
        let until = window
            .until_ms
            .and_then(DateTime::<Utc>::from_timestamp_millis);
        let id = sqlx::query_scalar!(
            "insert into maintenance (page_id, title, message, starts_at, duration_minutes, \
             repeat, until, counted, widgets, author) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id",
            page_id,
            window.title,
            window.message,
            starts as DateTime<Utc>,
            (window.duration_ms / 60_000) as i32,
            window.repeat.as_str(),
            until as Option<DateTime<Utc>>,
            window.counted,
            window.widgets.as_deref(),
            author,
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(MaintenanceAdded::Added(id))
    }

    pub async fn delete_maintenance(&self, page_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!(
            "delete from maintenance where id = $1 and page_id = $2",
            id,
            page_id
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Page `page_id`'s windows, soonest first start; a window's widgets are those still on the
    /// page.
    pub async fn page_maintenance(&self, page_id: i64) -> Result<Vec<Maintenance>, sqlx::Error> {
        let rows = sqlx::query_as!(
            WindowRow,
            r#"select m.id, m.page_id, m.title, m.message,
                      m.starts_at as "starts_at: DateTime<Utc>", m.duration_minutes, m.repeat,
                      m.until as "until: DateTime<Utc>", m.counted,
                      case when m.widgets is null then null
                           else array(select w.id from status_widget w
                                      where w.page_id = m.page_id and w.id = any(m.widgets)
                                      order by w.id) end as "widgets: Vec<i64>",
                      m.created_at as "created_at: DateTime<Utc>"
               from maintenance m where m.page_id = $1
               order by m.starts_at, m.id limit $2"#,
            page_id,
            MAX_PER_PAGE,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().filter_map(WindowRow::window).collect())
    }

    /// Every window with what it covers of its page (every widget for a page-wide one), for
    /// the alert engine: those that may still be in effect at `now` or later, at most
    /// [`MAX_WINDOWS`] (the first planned).
    pub async fn maintenance_coverage(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Maintenance, Vec<WatchedWidget>)>, sqlx::Error> {
        let rows = sqlx::query_as!(
            WindowRow,
            r#"select m.id, m.page_id, m.title, m.message,
                      m.starts_at as "starts_at: DateTime<Utc>", m.duration_minutes, m.repeat,
                      m.until as "until: DateTime<Utc>", m.counted, m.widgets,
                      m.created_at as "created_at: DateTime<Utc>"
               from maintenance m
               where m.repeat <> 'once'
                     and (m.until is null or m.until >= $1::timestamptz - interval '7 days')
                  or m.starts_at + make_interval(mins => m.duration_minutes) > $1::timestamptz
               order by m.id limit $2"#,
            now as DateTime<Utc>,
            MAX_WINDOWS,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut pages: Vec<i64> = rows.iter().map(|row| row.page_id).collect();
        pages.sort_unstable();
        pages.dedup();
        let widgets = sqlx::query!(
            "select id, page_id, kind, topic, device from status_widget where page_id = any($1)",
            &pages
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_page: HashMap<i64, Vec<_>> = HashMap::new();
        for widget in &widgets {
            by_page.entry(widget.page_id).or_default().push(widget);
        }
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let page = by_page.get(&row.page_id);
                let window = row.window()?;
                let covered = page
                    .into_iter()
                    .flatten()
                    .filter(|widget| window.covers(widget.id))
                    .map(|widget| WatchedWidget {
                        topic: widget.topic.clone(),
                        is_table: widget.kind == "table",
                        device: widget.device.clone(),
                    })
                    .collect();
                Some((window, covered))
            })
            .collect())
    }
}

/// A `maintenance` row as the queries above read it.
struct WindowRow {
    id: i64,
    page_id: i64,
    title: String,
    message: String,
    starts_at: DateTime<Utc>,
    duration_minutes: i32,
    repeat: String,
    until: Option<DateTime<Utc>>,
    counted: bool,
    widgets: Option<Vec<i64>>,
    created_at: DateTime<Utc>,
}

impl WindowRow {
    fn window(self) -> Option<Maintenance> {
        Some(Maintenance {
            id: self.id,
            title: self.title,
            message: self.message,
            starts_ms: self.starts_at.timestamp_millis(),
            duration_ms: i64::from(self.duration_minutes) * 60_000,
            repeat: Repeat::parse(&self.repeat)?,
            until_ms: self.until.map(|until| until.timestamp_millis()),
            counted: self.counted,
            widgets: self.widgets,
            planned_ms: self.created_at.timestamp_millis(),
        })
    }
}
