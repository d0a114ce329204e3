//! The SQL of public status pages: the pages and widgets admins edit, what a snapshot reads,
//! and the recorded status changes behind the Atom feed.

use super::Store;
use crate::domain::history::HistoryRange;
use crate::domain::roles::Role;
use crate::domain::status_page::{
    ChartSeries, Control, Level, PageSpec, Scale, SliderBounds, StatusRule, Visibility, WidgetKind,
    WidgetSpec, Width, Worse,
};
use chrono::{DateTime, Utc};

/// Payloads larger than this are not read for a status page: a widget shows one small field,
/// and a snapshot must stay cheap to build whatever devices send.
pub const STATUS_PAYLOAD_MAX_BYTES: i32 = 64 * 1024;

/// A page with its widgets in order.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPage {
    pub id: i64,
    pub spec: PageSpec,
    /// The operator who composes it by a rule; `None` for an admin's board.
    pub owner: Option<i64>,
    pub updated_at_ms: i64,
    pub widgets: Vec<StoredWidget>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoredWidget {
    pub id: i64,
    pub spec: WidgetSpec,
    /// The status last recorded for the feed.
    pub last_level: Option<Level>,
}

/// A page in the editor's list.
#[derive(Clone, Debug, PartialEq)]
pub struct PageListing {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub published: bool,
    pub visibility: Visibility,
    pub widgets: i64,
    /// The operator who composes it by a rule; `None` for an admin's board.
    pub owner: Option<i64>,
}

/// The newest message of a topic, as far as a status page reads it.
#[derive(Clone, Debug)]
pub struct TopicNewest {
    pub topic: String,
    pub received_at_ms: i64,
    /// `None` when the payload is too large to read for a page.
    pub payload: Option<Vec<u8>>,
}

/// A topic's newest message, its payload only when no larger than a page reads.
struct NewestRow {
    name: String,
    received_at: DateTime<Utc>,
    payload: Option<Vec<u8>>,
}

impl From<NewestRow> for TopicNewest {
    fn from(row: NewestRow) -> Self {
        Self {
            topic: row.name,
            received_at_ms: row.received_at.timestamp_millis(),
            payload: row.payload,
        }
    }
}

/// The newest message in one interval of a sampled series.
#[derive(Clone, Debug)]
pub struct Sample {
    pub topic: String,
    pub received_at_ms: i64,
    pub payload: Vec<u8>,
}

/// A recorded change of a widget's status.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    pub id: i64,
    pub widget_id: i64,
    pub label: String,
    pub at_ms: i64,
    pub from: Option<Level>,
    pub to: Level,
}

/// What a change to a page came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageChange {
    Done,
    NoSuchPage,
    SlugTaken,
}

struct WidgetRow {
    id: i64,
    kind: String,
    label: String,
    topic: String,
    pointer: String,
    unit: String,
    worse: String,
    degraded_at: Option<f64>,
    down_at: Option<f64>,
    device: Option<String>,
    range: String,
    uptime_days: i16,
    scale_min: Option<f64>,
    scale_max: Option<f64>,
    scale_step: Option<f64>,
    width: String,
    markdown: Option<String>,
    command_topic: Option<String>,
    payload_on: Option<String>,
    payload_off: Option<String>,
    /// A chart's series, jsonb as text (see `store::audit` for why text).
    chart_series: Option<String>,
    last_level: Option<String>,
}

impl WidgetRow {
    fn into_widget(self) -> Result<StoredWidget, sqlx::Error> {
        let bad = |what: &str, value: &str| {
            sqlx::Error::Decode(
                format!("status widget {}: unknown {what} {value:?}", self.id).into(),
            )
        };
        let kind = WidgetKind::from_key(&self.kind).ok_or_else(|| bad("kind", &self.kind))?;
        let status = match self.device.filter(|device| !device.is_empty()) {
            Some(device) => StatusRule::Device(device),
            None => StatusRule::Value {
                worse: Worse::from_key(&self.worse).ok_or_else(|| bad("side", &self.worse))?,
                degraded_at: self.degraded_at,
                down_at: self.down_at,
            },
        };
        let range = HistoryRange::from_key(&self.range).ok_or_else(|| bad("range", &self.range))?;
        let width = Width::from_key(&self.width).ok_or_else(|| bad("width", &self.width))?;
        // A gauge's dial and a slider's bounds share the columns.
        let scale = match (self.scale_min, self.scale_max) {
            (Some(min), Some(max)) => Some(Scale { min, max }),
            _ => None,
        };
        let slider = match (scale, self.scale_step) {
            (Some(scale), Some(step)) => Some(
                SliderBounds::new(scale.min, scale.max, step)
                    .ok_or_else(|| bad("slider", &format!("{scale:?} by {step}")))?,
            ),
            _ => None,
        };
        let control = match (self.command_topic, self.payload_on) {
            (Some(command_topic), Some(on)) => Some(Control {
                command_topic,
                on,
                off: self.payload_off,
                slider,
            }),
            _ => None,
        };
        let scale = scale.filter(|_| slider.is_none());
        let series: Vec<ChartSeries> = match &self.chart_series {
            Some(json) => serde_json::from_str(json).map_err(|_| bad("series", json))?,
            None => Vec::new(),
        };
        Ok(StoredWidget {
            id: self.id,
            spec: WidgetSpec {
                kind,
                label: self.label,
                topic: self.topic,
                pointer: self.pointer,
                unit: self.unit,
                status,
                range,
                uptime_days: u16::try_from(self.uptime_days).unwrap_or(90),
                scale,
                markdown: self.markdown,
                control,
                width,
                series,
            },
            last_level: self.last_level.as_deref().and_then(Level::from_key),
        })
    }
}

/// A widget's settings as the columns of `status_widget` hold them.
struct WidgetColumns<'a> {
    kind: &'static str,
    label: &'a str,
    topic: &'a str,
    pointer: &'a str,
    unit: &'a str,
    worse: &'static str,
    degraded_at: Option<f64>,
    down_at: Option<f64>,
    device: Option<&'a str>,
    range: &'static str,
    uptime_days: i16,
    scale_min: Option<f64>,
    scale_max: Option<f64>,
    scale_step: Option<f64>,
    width: &'static str,
    markdown: Option<&'a str>,
    command_topic: Option<&'a str>,
    payload_on: Option<&'a str>,
    payload_off: Option<&'a str>,
    chart_series: Option<String>,
}

impl<'a> WidgetColumns<'a> {
    fn of(spec: &'a WidgetSpec) -> Self {
        let (worse, degraded_at, down_at, device) = match &spec.status {
            StatusRule::Value {
                worse,
                degraded_at,
                down_at,
            } => (worse.key(), *degraded_at, *down_at, None),
            StatusRule::Device(device) => ("above", None, None, Some(device.as_str())),
        };
        let slider = spec.control.as_ref().and_then(|control| control.slider);
        Self {
            kind: spec.kind.key(),
            label: &spec.label,
            topic: &spec.topic,
            pointer: &spec.pointer,
            unit: &spec.unit,
            worse,
            degraded_at,
            down_at,
            device,
            range: spec.range.key(),
            uptime_days: i16::try_from(spec.uptime_days).unwrap_or(90),
            scale_min: spec.scale.map(|scale| scale.min).or(slider.map(|s| s.min)),
            scale_max: spec.scale.map(|scale| scale.max).or(slider.map(|s| s.max)),
            scale_step: slider.map(|s| s.step),
            width: spec.width.key(),
            markdown: spec.markdown.as_deref(),
            command_topic: spec.control.as_ref().map(|c| c.command_topic.as_str()),
            payload_on: spec.control.as_ref().map(|c| c.on.as_str()),
            payload_off: spec.control.as_ref().and_then(|c| c.off.as_deref()),
            // Null for every kind but a chart, as the table's check wants.
            chart_series: (spec.kind == WidgetKind::Chart)
                .then(|| serde_json::to_string(&spec.series).unwrap_or_default()),
        }
    }
}

/// What became of an arrangement of a page's widgets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arranged {
    /// In this order now.
    Done(Vec<i64>),
    NoSuchPage,
    /// The order asked for was not one of the page's widgets.
    Refused,
}

/// Locks page `page_id` for the rest of `tx`, so what is decided for it from its rows (its widgets,
/// its followers) holds until the commit; false when there is no such page.
pub(super) async fn lock_page(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    page_id: i64,
) -> Result<bool, sqlx::Error> {
    let page = sqlx::query_scalar!(
        "select id from status_page where id = $1 for update",
        page_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(page.is_some())
}

/// Gives widgets the positions of their places in `order`: renumbered whole, so positions stay
/// dense whatever deletions left behind.
async fn renumber(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    order: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update status_widget w set position = o.position \
         from unnest($1::bigint[]) with ordinality as o(id, position) \
         where w.id = o.id",
        order,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A stored page's visibility; a role the enum holds but this build does not know is a decode
/// error rather than a guess.
pub(super) fn visibility(public: bool, open_to: &str) -> Result<Visibility, sqlx::Error> {
    let open_to: Role = open_to
        .parse()
        .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
    Ok(Visibility { public, open_to })
}

impl Store {
    /// Every page, by slug, for the editor.
    pub async fn status_pages(&self) -> Result<Vec<PageListing>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select p.id, p.slug, p.title, p.published, p.public, p.open_to::text as "open_to!",
                      p.owner_id,
                      (select count(*) from status_widget w where w.page_id = p.id) as "widgets!"
               from status_page p order by p.slug"#
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(PageListing {
                    id: row.id,
                    slug: row.slug,
                    title: row.title,
                    published: row.published,
                    visibility: visibility(row.public, &row.open_to)?,
                    widgets: row.widgets,
                    owner: row.owner_id,
                })
            })
            .collect()
    }

    /// The published pages' slugs, with who may open each.
    pub async fn published_boards(&self) -> Result<Vec<(String, Visibility)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select slug, public, open_to::text as "open_to!"
               from status_page where published order by slug"#
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| Ok((row.slug, visibility(row.public, &row.open_to)?)))
            .collect()
    }

    /// The page at `slug`, with its widgets in order.
    pub async fn status_page_by_slug(&self, slug: &str) -> Result<Option<StoredPage>, sqlx::Error> {
        let id = sqlx::query_scalar!("select id from status_page where slug = $1", slug)
            .fetch_optional(&self.pool)
            .await?;
        match id {
            Some(id) => self.status_page(id).await,
            None => Ok(None),
        }
    }

    /// Who may open board `id`, and who composes it (`None`: an admin's board); `None` when
    /// there is no such board.
    pub async fn board_visibility(
        &self,
        id: i64,
    ) -> Result<Option<(Visibility, Option<i64>)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select public, open_to::text as "open_to!", owner_id
               from status_page where id = $1"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((visibility(row.public, &row.open_to)?, row.owner_id)))
            .transpose()
    }

    /// Page `id`, with its widgets in order.
    pub async fn status_page(&self, id: i64) -> Result<Option<StoredPage>, sqlx::Error> {
        let page = sqlx::query!(
            r#"select slug, title, description, published, public, open_to::text as "open_to!",
                      owner_id, updated_at as "updated_at: DateTime<Utc>"
               from status_page where id = $1"#,
            id,
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(page) = page else {
            return Ok(None);
        };
        let rows = sqlx::query_as!(
            WidgetRow,
            "select id, kind, label, topic, pointer, unit, worse, degraded_at, down_at, device, \
                    range, uptime_days, scale_min, scale_max, scale_step, width, markdown, \
                    command_topic, payload_on, payload_off, chart_series::text, last_level \
             from status_widget where page_id = $1 order by position, id",
            id,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(StoredPage {
            id,
            spec: PageSpec {
                slug: page.slug,
                title: page.title,
                description: page.description,
                published: page.published,
                visibility: visibility(page.public, &page.open_to)?,
            },
            owner: page.owner_id,
            updated_at_ms: page.updated_at.timestamp_millis(),
            widgets: rows
                .into_iter()
                .map(WidgetRow::into_widget)
                .collect::<Result<_, _>>()?,
        }))
    }

    /// The widgets (id and label, in the page's order) of each of `pages`.
    pub async fn widget_labels(
        &self,
        pages: &[i64],
    ) -> Result<Vec<(i64, Vec<(i64, String)>)>, sqlx::Error> {
        let rows = sqlx::query!(
            "select page_id, id, label from status_widget where page_id = any($1) \
             order by page_id, position, id",
            pages,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut labels: Vec<(i64, Vec<(i64, String)>)> = Vec::new();
        for row in rows {
            match labels.last_mut() {
                Some((page, widgets)) if *page == row.page_id => widgets.push((row.id, row.label)),
                _ => labels.push((row.page_id, vec![(row.id, row.label)])),
            }
        }
        Ok(labels)
    }

    /// Creates a page composed by `owner` (`None`: an admin's); `None` when its slug is taken.
    pub async fn create_status_page(
        &self,
        spec: &PageSpec,
        owner: Option<i64>,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar!(
            "insert into status_page (slug, title, description, published, public, open_to, \
                                      owner_id) \
             values ($1, $2, $3, $4, $5, $6::text::user_role, $7) \
             on conflict (slug) do nothing returning id",
            spec.slug,
            spec.title,
            spec.description,
            spec.published,
            spec.visibility.public,
            spec.visibility.open_to.as_str(),
            owner,
        )
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn update_status_page(
        &self,
        id: i64,
        spec: &PageSpec,
    ) -> Result<PageChange, sqlx::Error> {
        let updated = sqlx::query!(
            "update status_page set slug = $2, title = $3, description = $4, published = $5, \
                    public = $6, open_to = $7::text::user_role, updated_at = now() \
             where id = $1",
            id,
            spec.slug,
            spec.title,
            spec.description,
            spec.published,
            spec.visibility.public,
            spec.visibility.open_to.as_str(),
        )
        .execute(&self.pool)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => Ok(PageChange::NoSuchPage),
            Ok(_) => Ok(PageChange::Done),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Ok(PageChange::SlugTaken)
            }
            Err(error) => Err(error),
        }
    }

    /// Deletes page `id` with its widgets and their history of changes.
    pub async fn delete_status_page(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!("delete from status_page where id = $1", id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Adds a widget at the end of page `page_id`; `None` when there is no such page or it holds
    /// `max_widgets` already.
    pub async fn add_status_widget(
        &self,
        page_id: i64,
        spec: &WidgetSpec,
        max_widgets: usize,
    ) -> Result<Option<i64>, sqlx::Error> {
        let w = WidgetColumns::of(spec);
        let id = sqlx::query_scalar!(
            "insert into status_widget (page_id, position, kind, label, topic, pointer, unit, \
                                        worse, degraded_at, down_at, device, range, \
                                        uptime_days, scale_min, scale_max, markdown, \
                                        command_topic, payload_on, payload_off, scale_step, \
                                        width, chart_series) \
             select p.id, coalesce((select max(position) + 1 from status_widget \
                                    where page_id = p.id), 0), \
                    $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, \
                    $8::float8, $9::float8, $10::text, $11::text, $12::smallint, \
                    $13::float8, $14::float8, $15::text, $16::text, $17::text, $18::text, \
                    $19::float8, $20::text, $22::text::jsonb \
             from status_page p \
             where p.id = $1 \
               and (select count(*) from status_widget where page_id = p.id) < $21 \
             returning id",
            page_id,
            w.kind,
            w.label,
            w.topic,
            w.pointer,
            w.unit,
            w.worse,
            w.degraded_at,
            w.down_at,
            w.device,
            w.range,
            w.uptime_days,
            w.scale_min,
            w.scale_max,
            w.markdown,
            w.command_topic,
            w.payload_on,
            w.payload_off,
            w.scale_step,
            w.width,
            i64::try_from(max_widgets).unwrap_or(i64::MAX),
            w.chart_series,
        )
        .fetch_optional(&self.pool)
        .await?;
        if id.is_some() {
            self.touch_status_page(page_id).await?;
        }
        Ok(id)
    }

    /// Rewrites widget `id` of page `page_id`; false when there is no such widget there.
    pub async fn update_status_widget(
        &self,
        page_id: i64,
        id: i64,
        spec: &WidgetSpec,
    ) -> Result<bool, sqlx::Error> {
        let w = WidgetColumns::of(spec);
        let done = sqlx::query!(
            "update status_widget set kind = $3, label = $4, topic = $5, pointer = $6, \
                    unit = $7, worse = $8, degraded_at = $9, down_at = $10, device = $11, \
                    range = $12, uptime_days = $13, scale_min = $14, scale_max = $15, \
                    markdown = $16, command_topic = $17, payload_on = $18, payload_off = $19, \
                    scale_step = $20, width = $21, chart_series = $22::text::jsonb \
             where page_id = $1 and id = $2",
            page_id,
            id,
            w.kind,
            w.label,
            w.topic,
            w.pointer,
            w.unit,
            w.worse,
            w.degraded_at,
            w.down_at,
            w.device,
            w.range,
            w.uptime_days,
            w.scale_min,
            w.scale_max,
            w.markdown,
            w.command_topic,
            w.payload_on,
            w.payload_off,
            w.scale_step,
            w.width,
            w.chart_series,
        )
        .execute(&self.pool)
        .await?;
        self.touch_status_page(page_id).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_status_widget(&self, page_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query!(
            "delete from status_widget where page_id = $1 and id = $2",
            page_id,
            id,
        )
        .execute(&self.pool)
        .await?;
        self.touch_status_page(page_id).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Puts page `page_id`'s widgets in the order `choose` makes of the current one (their ids),
    /// if it makes one; with the page's widgets locked, so a widget added or deleted meanwhile
    /// is never lost or left without a place.
    pub async fn arrange_status_widgets(
        &self,
        page_id: i64,
        choose: impl FnOnce(&[i64]) -> Option<Vec<i64>>,
    ) -> Result<Arranged, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if !lock_page(&mut tx, page_id).await? {
            return Ok(Arranged::NoSuchPage);
        }
        let current = sqlx::query_scalar!(
            "select id from status_widget where page_id = $1 order by position, id for update",
            page_id,
        )
        .fetch_all(&mut *tx)
        .await?;
        let Some(order) = choose(&current) else {
            return Ok(Arranged::Refused);
        };
        renumber(&mut tx, &order).await?;
        tx.commit().await?;
        self.touch_status_page(page_id).await?;
        Ok(Arranged::Done(order))
    }

    /// Swaps widget `id` with its neighbour before it (`earlier`) or after it; false when there
    /// is no such widget or no neighbour on that side.
    pub async fn move_status_widget(
        &self,
        page_id: i64,
        id: i64,
        earlier: bool,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let mut order = sqlx::query_scalar!(
            "select id from status_widget where page_id = $1 order by position, id for update",
            page_id,
        )
        .fetch_all(&mut *tx)
        .await?;
        let Some(at) = order.iter().position(|widget| *widget == id) else {
            return Ok(false);
        };
        let other = if earlier {
            at.checked_sub(1)
        } else {
            Some(at + 1)
        };
        let Some(other) = other.filter(|other| *other < order.len()) else {
            return Ok(false);
        };
        order.swap(at, other);
        renumber(&mut tx, &order).await?;
        tx.commit().await?;
        self.touch_status_page(page_id).await?;
        Ok(true)
    }

    async fn touch_status_page(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "update status_page set updated_at = now() where id = $1",
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest message of each of `topics` that has one.
    pub async fn newest_of_topics(
        &self,
        topics: &[String],
    ) -> Result<Vec<TopicNewest>, sqlx::Error> {
        let rows = sqlx::query_as!(
            NewestRow,
            r#"select t.name, l.received_at as "received_at: DateTime<Utc>",
                      case when octet_length(l.payload) <= $2 then l.payload end as "payload?"
               from topic t join latest l on l.topic_id = t.id
               where t.name = any($1)"#,
            topics,
            STATUS_PAYLOAD_MAX_BYTES,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(TopicNewest::from).collect())
    }

    /// The newest message of the topics starting with `prefix`, at most `limit` of them, by name.
    /// The caller narrows them to its filter: `prefix` is the filter's literal start.
    pub async fn newest_under(
        &self,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<TopicNewest>, sqlx::Error> {
        let rows = sqlx::query_as!(
            NewestRow,
            r#"select t.name, l.received_at as "received_at: DateTime<Utc>",
                      case when octet_length(l.payload) <= $2 then l.payload end as "payload?"
               from topic t join latest l on l.topic_id = t.id
               where left(t.name, length($1)) = $1 order by t.name limit $3"#,
            prefix,
            STATUS_PAYLOAD_MAX_BYTES,
            limit,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(TopicNewest::from).collect())
    }

    /// A sampled series of each of `topics`: the time from `from` is cut into `points`
    /// intervals of `step_ms`, and each interval gives its newest message, if any. One index
    /// lookup per interval, so the cost depends on the number of points, never on how many
    /// messages were stored.
    pub async fn sampled_series(
        &self,
        topics: &[String],
        from: DateTime<Utc>,
        step_ms: i64,
        points: i64,
    ) -> Result<Vec<Sample>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select t.name, m.received_at as "received_at!: DateTime<Utc>", m.payload as "payload!"
               from topic t
               cross join lateral generate_series(0, $4::int8 - 1) as step(n)
               cross join lateral (
                   select received_at, payload from message
                   where topic_id = t.id
                     and received_at >= $2::timestamptz
                                        + step.n * $3::float8 * interval '1 millisecond'
                     and received_at < $2::timestamptz
                                       + (step.n + 1) * $3::float8 * interval '1 millisecond'
                     and octet_length(payload) <= $5::int4
                   order by received_at desc limit 1) m
               where t.name = any($1)
               order by t.name, m.received_at"#,
            topics,
            from as DateTime<Utc>,
            step_ms as f64,
            points,
            STATUS_PAYLOAD_MAX_BYTES,
        )
        .fetch_all(&self.ranged_reads)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| Sample {
                topic: row.name,
                received_at_ms: row.received_at.timestamp_millis(),
                payload: row.payload,
            })
            .collect())
    }

    /// Records that widget `id` is now at `level`, unless that is what was recorded last (by
    /// this instance or another). Returns whether a change was recorded.
    pub async fn record_status_level(
        &self,
        id: i64,
        level: Level,
        at: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        // One statement, so two instances seeing the same change record it once.
        let recorded = sqlx::query_scalar!(
            "with changed as ( \
                 update status_widget w set last_level = $2::text \
                 from (select id, last_level as before from status_widget where id = $1 for update) old \
                 where w.id = old.id and w.last_level is distinct from $2::text \
                 returning w.id, old.before) \
             insert into status_change (widget_id, at, from_level, to_level) \
             select id, $3::timestamptz, before, $2::text from changed returning id",
            id,
            level.key(),
            at as DateTime<Utc>,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(recorded.is_some())
    }

    /// The newest status changes of those of page `page_id`'s widgets in `widgets`, newest first.
    pub async fn status_changes(
        &self,
        page_id: i64,
        widgets: &[i64],
        limit: i64,
    ) -> Result<Vec<StatusChange>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"select c.id, c.widget_id, w.label, c.at as "at: DateTime<Utc>", c.from_level,
                      c.to_level
               from status_change c join status_widget w on w.id = c.widget_id
               where w.page_id = $1 and w.id = any($3)
               order by c.at desc, c.id desc limit $2"#,
            page_id,
            limit,
            widgets,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(StatusChange {
                    id: row.id,
                    widget_id: row.widget_id,
                    label: row.label,
                    at_ms: row.at.timestamp_millis(),
                    from: row.from_level.as_deref().and_then(Level::from_key),
                    to: Level::from_key(&row.to_level)?,
                })
            })
            .collect())
    }
}
