//! Public status pages' snapshots. Each published page is built from PostgreSQL at most once per
//! TTL, whatever the traffic, and kept fully rendered (HTML, JSON, Atom, CSV and badges), so
//! serving a request is a memory read. A page being rebuilt keeps being served from its previous
//! snapshot, so no visitor waits for the database; only a page's first request does.
//!
//! Each board has a snapshot per view: the public's (what anonymous visitors get) and each
//! signed-in role's. What a view shows is asked of the access policy at every build: a widget
//! bound outside the view's audience is left out, a table lists only the audience's topics under
//! its filter, and a device's state is told only by the audience's topics. A topic taken out of
//! an audience is gone from its views at their next build, within a TTL.

mod markdown;
pub mod render;
mod representation;

pub use representation::{Encoding, Representation};

use crate::domain::history::Resolution;
use crate::domain::incident::{Incident, Month, PAST_SHOWN};
use crate::domain::liveness::{Device, DeviceState};
use crate::domain::maintenance::{Maintenance, Repeat};
use crate::domain::notice::Severity;
use crate::domain::roles::Audience;
use crate::domain::series::SharedSeries;
use crate::domain::status_page::{
    bound_value, level_of, Level, PageSpec, Shown, SliderBounds, StatusRule, ThresholdWatch,
    Visibility, WidgetKind, WidgetSpec, Width, CHART_POINTS, CHART_RANGES, HISTORY_POINTS,
    SPARKLINE_POINTS, SPARKLINE_SPAN_MS, TABLE_MAX_ROWS, UPTIME_BAR_DAYS, UPTIME_WINDOWS,
};
use crate::domain::topic_filter::TopicFilter;
use crate::domain::uptime;
use crate::server::access::{audience_sees_alerts, board_opens_for, AccessPolicy, Rules};
use crate::server::live_hub::LiveHub;
use crate::server::store::status_pages::{
    Sample, StatusChange, StoredPage, StoredWidget, TopicNewest, STATUS_PAYLOAD_MAX_BYTES,
};
use crate::server::store::Store;
use axum::http::HeaderValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The window of an uptime widget's badge at `badge/<id>.svg`.
const DEFAULT_UPTIME_BADGE: &str = "30d";
/// How many status changes a page's feed carries.
pub const FEED_ENTRIES: i64 = 50;
/// Topics a table widget reads before narrowing them to its filter.
const TABLE_CANDIDATES: i64 = 5_000;

/// A page as visitors get it: exactly what `/status/<slug>.json` serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageSnapshot {
    pub slug: String,
    pub title: String,
    pub description: String,
    /// False only in an admin's preview of a draft.
    pub published: bool,
    pub generated_at_ms: i64,
    pub ttl_seconds: u64,
    /// The worst status of the page's status widgets; `None` when it has none.
    pub summary: Option<Level>,
    /// The summary in words ("All systems operational").
    pub summary_text: Option<String>,
    pub widgets: Vec<WidgetSnapshot>,
    pub changes: Vec<StatusChange>,
    /// Open incidents first, then the most recent resolved ones, each with its updates newest
    /// first; left out of the JSON while there are none.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub incidents: Vec<Incident>,
    /// Maintenance windows in effect or starting within two weeks, soonest first; left out of
    /// the JSON while there are none.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub maintenance: Vec<MaintenanceShown>,
    /// The page's id, for what is read later on its behalf (its incident history).
    #[serde(skip)]
    pub page_id: i64,
    /// When its first incident was opened: the incident history has no month before.
    #[serde(skip)]
    pub first_incident_ms: Option<i64>,
    /// It takes e-mail subscriptions: it has a mail channel, and the site a public address for
    /// the links in the e-mails.
    #[serde(skip)]
    pub subscribable: bool,
    /// Whose view of the board this is: the public's, or a signed-in role's.
    #[serde(skip, default = "public_audience")]
    pub audience: Audience,
    /// The board has a public view.
    #[serde(skip)]
    pub public: bool,
    /// Each widget shown, by id, as the admin set it up: what a live view brings up to date.
    #[serde(skip)]
    pub bindings: Vec<(i64, WidgetSpec)>,
}

/// How many of the live hub's newest messages a live view's read looks through: at 5,000 msg/s
/// the last 0.8 s.
const LIVE_SCAN_MAX: usize = 4096;

/// A live stream takes at most this many filters (`/api/live`); a board bound to more topics
/// follows everything its visitor may read.
const LIVE_FILTERS_MAX: usize = 100;

impl PageSnapshot {
    /// The topics and filters a signed-in role's view follows live, as the JSON array its page
    /// hands its script; `None` for the public view, which follows nothing live.
    pub fn live_filters(&self) -> Option<String> {
        if self.audience == Audience::Public {
            return None;
        }
        let mut filters: Vec<&str> = self
            .bindings
            .iter()
            .flat_map(|(_, spec)| live_topics(spec))
            .collect();
        filters.sort_unstable();
        filters.dedup();
        if filters.len() > LIVE_FILTERS_MAX {
            filters = vec!["#"];
        }
        serde_json::to_string(&filters).ok()
    }
}

/// A widget a message changes: one bound to a topic's field, or a table over a filter. A
/// device's state and uptime change with time as much as with messages: their snapshot's TTL
/// brings them.
fn follows_live(spec: &WidgetSpec) -> bool {
    spec.kind == WidgetKind::Chart
        || (!spec.topic.is_empty()
            && spec.device().is_none()
            && !spec.kind.shows_uptime()
            && spec.kind != WidgetKind::Devices)
}

/// The topics (or a table's filter) whose messages change what a widget shows live: a chart's
/// series' topics, or its own topic.
fn live_topics(spec: &WidgetSpec) -> Vec<&str> {
    match spec.kind {
        _ if !follows_live(spec) => Vec::new(),
        WidgetKind::Chart => spec.series.iter().map(|s| s.topic.as_str()).collect(),
        _ => vec![spec.topic.as_str()],
    }
}

fn public_audience() -> Audience {
    Audience::Public
}

/// A control as a role's view shows it: never its topic or payloads, which stay on the server.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlShown {
    /// A switch (on and off) rather than a button.
    pub switch: bool,
    /// A slider's bounds, which its input offers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub slider: Option<SliderBounds>,
    /// The view's role may publish to its command topic.
    pub usable: bool,
}

/// A maintenance window as visitors see it: its occurrence in effect or next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceShown {
    pub id: i64,
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub message: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// In effect now (at the snapshot's time).
    pub active: bool,
    pub repeat: Repeat,
    /// The widgets it covers, of those shown; `None`: the whole page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub widgets: Option<Vec<i64>>,
    /// When the page began to show this occurrence, for the feed.
    #[serde(skip)]
    pub announced_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidgetSnapshot {
    pub id: i64,
    pub kind: WidgetKind,
    pub label: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub unit: String,
    /// The bound field of the newest message, if it is a single value.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<Shown>,
    /// The value as the page writes it, with its unit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<Level>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status_text: Option<String>,
    /// When the topic (or the followed device) last sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_seen_ms: Option<i64>,
    /// The newest numeric value of each interval of the last day (of a history widget's range),
    /// oldest first; for a widget bound to a named series, each interval's average from the
    /// series' rollups.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub series: Vec<Point>,
    /// The series as drawn, so a page refreshing itself redraws without drawing code of its own.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plot: Option<render::Plot>,
    /// A multi-series chart: its legend and each range drawn.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chart: Option<render::ChartShown>,
    /// Gauge: its dial as drawn.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gauge: Option<render::Gauge>,
    /// A control: whether the view's role may use it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub control: Option<ControlShown>,
    /// Text block: its Markdown as HTML, made safe to show anyone (`markdown::to_html`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub html: Option<String>,
    /// Table: the topics under the filter.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub rows: Vec<TableRow>,
    /// Incidents summary: what needs attention now.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attention: Option<AttentionShown>,
    /// Device list: the devices under the filter, problems first, at most [`TABLE_MAX_ROWS`].
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub devices: Vec<DeviceRow>,
    /// Uptime widgets: the device's availability over the last 24 hours, 7, 30 and 90 days.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub uptime: Vec<UptimeFigure>,
    /// Uptime bar: one cell per UTC day, oldest first, today last.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub days: Vec<UptimeDay>,
    /// A maintenance window covering it is in effect.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub maintenance: bool,
    /// The open incidents that name it as affected, by id.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub incidents: Vec<i64>,
    /// How much of a row it takes; left out when one column, so a page that was never
    /// arranged answers as before.
    #[serde(skip_serializing_if = "Width::is_normal", default)]
    pub width: Width,
}

/// Availability over one window up to the snapshot's time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UptimeFigure {
    /// `24h`, `7d`, `30d` or `90d`.
    pub window: String,
    /// Percent of the time seen that the device was up; `None` when Lookout saw none of it or
    /// the device's state was not known ("no data", never 0 or 100).
    pub percent: Option<f64>,
    pub down_ms: i64,
    /// Time Lookout could not see (not running, the broker away, storage failing).
    pub blind_ms: i64,
}

/// One UTC day of an uptime bar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UptimeDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub start_ms: i64,
    pub percent: Option<f64>,
    pub up_ms: i64,
    pub down_ms: i64,
    pub unknown_ms: i64,
    /// Time Lookout could not see, or left out for maintenance the admin chose not to count.
    pub blind_ms: i64,
    /// The part of `blind_ms` left out for maintenance (absent when none, as before maintenance
    /// existed), which a bar draws as maintenance rather than as time not seen.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub maintenance_ms: i64,
    /// When it was down that day, in order.
    pub outages: Vec<Outage>,
}

fn is_zero(ms: &i64) -> bool {
    *ms == 0
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    pub from_ms: i64,
    pub to_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub at_ms: i64,
    pub value: f64,
}

/// What an incidents summary shows: the open incidents of the boards its audience may open and,
/// for those who work the incident desk, the alerts firing; each list the [`ATTENTION_SHOWN`]
/// most recent, with how many there are (of the [`ATTENTION_READ`] most recent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionShown {
    pub incidents_open: usize,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub incidents: Vec<IncidentLine>,
    /// `None` for an audience that does not see alerts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alerts_firing: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub alerts: Vec<AlertLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentLine {
    /// The board's address, where the incident is told.
    pub slug: String,
    pub board: String,
    pub id: i64,
    pub title: String,
    pub status: String,
    pub opened_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertLine {
    pub name: String,
    /// What it fires about: a topic, a device, a check.
    pub subject: String,
    pub severity: String,
    pub since_ms: i64,
}

/// An incidents summary lists at most this many of each.
pub const ATTENTION_SHOWN: usize = 10;
/// ...and counts at most this many of each.
const ATTENTION_READ: i64 = 1_000;

impl AttentionShown {
    /// Its line above the lists.
    pub fn words(&self) -> String {
        let incidents = match self.incidents_open {
            0 => "No open incidents".to_owned(),
            1 => "1 open incident".to_owned(),
            n => format!("{n} open incidents"),
        };
        match self.alerts_firing {
            None => incidents,
            Some(0) => format!("{incidents}, no alerts firing"),
            Some(1) => format!("{incidents}, 1 alert firing"),
            Some(n) => format!("{incidents}, {n} alerts firing"),
        }
    }
}

/// One device of a device list, as its audience's topics tell its liveness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceRow {
    pub name: String,
    /// Up for online, down for offline, unknown without a verdict.
    pub status: Level,
    /// The state in words: "Online", "Offline", "No data".
    pub status_text: String,
    /// Why, worded when the snapshot was built.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_seen_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    pub topic: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<Shown>,
    pub text: Option<String>,
    pub last_seen_ms: i64,
}

/// A snapshot with everything served from it.
#[derive(Debug)]
pub struct Rendered {
    pub snapshot: PageSnapshot,
    pub built: Instant,
    pub html: Representation,
    pub json: Representation,
    pub feed: Representation,
    /// Per widget with a series.
    pub csv: HashMap<i64, Representation>,
    /// Per status or uptime widget, by file name without `.svg`: the widget's id, and for an
    /// uptime widget also `<id>-<window>` (`12-90d`), the id alone being the 30 days'.
    pub badges: HashMap<String, Representation>,
    /// Months of its incident history built since this snapshot, at most one per month from
    /// its first incident to now, so they stay as bounded and as fresh as the snapshot.
    months: Mutex<HashMap<Month, Representation>>,
    /// The public view's page as someone signed in who asked for it sees it, built when first
    /// asked.
    noted_for_signed_in: OnceLock<Representation>,
}

/// What every page of the site shares: where the pages are seen from, for absolute links in
/// feeds and OpenGraph tags, and the theme buttons.
#[derive(Clone, Debug, Default)]
pub struct SiteInfo {
    /// The configured public address, without a trailing slash.
    pub public_url: Option<String>,
    /// The markup of the theme buttons (`components::theme_choice`, as in the dashboard's
    /// header), rendered once by whoever builds the site: this layer draws no component.
    pub theme_buttons: String,
}

/// The snapshot cache of every published page on this instance.
#[derive(Clone)]
pub struct StatusPages(Arc<Inner>);

struct Inner {
    store: Store,
    access: AccessPolicy,
    /// A widget bound to a named series reads its rollups.
    series: SharedSeries,
    ttl: Duration,
    cache_control: HeaderValue,
    site: SiteInfo,
    published: RwLock<Option<(Instant, Arc<PublishedBoards>)>>,
    /// One reload of the published boards at a time.
    published_reload: tokio::sync::Mutex<()>,
    pages: RwLock<HashMap<String, Arc<Board>>>,
    builds: AtomicU64,
    failures: AtomicU64,
}

/// The published boards by slug, with who may open each.
pub type PublishedBoards = HashMap<String, Visibility>;

/// A board's views, each built and cached apart: the public one and one per role (all who share
/// a role may read the same topics, so they share its view).
#[derive(Default)]
struct Board {
    views: [Slot; Audience::ALL.len()],
}

impl Board {
    fn view(&self, audience: Audience) -> &Slot {
        let at = Audience::ALL
            .iter()
            .position(|each| *each == audience)
            .expect("every audience is in Audience::ALL");
        &self.views[at]
    }
}

#[derive(Default)]
struct Slot {
    current: RwLock<Option<Arc<Rendered>>>,
    /// One build of a page at a time: the others wait for it, or serve the older snapshot.
    building: tokio::sync::Mutex<()>,
}

/// Read-mostly: every request reads, a rebuild writes once per TTL, so readers never wait on
/// each other.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StatusPages {
    pub fn new(
        store: Store,
        access: AccessPolicy,
        series: SharedSeries,
        ttl: Duration,
        site: SiteInfo,
    ) -> Self {
        let cache_control = format!("public, max-age={}", ttl.as_secs());
        Self(Arc::new(Inner {
            store,
            access,
            series,
            ttl,
            cache_control: HeaderValue::from_str(&cache_control)
                .expect("digits are a valid header"),
            site,
            published: RwLock::default(),
            published_reload: tokio::sync::Mutex::default(),
            pages: RwLock::default(),
            builds: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }))
    }

    pub fn ttl(&self) -> Duration {
        self.0.ttl
    }

    /// The access policy the pages obey (and their editor checks widgets against).
    pub fn access(&self) -> &AccessPolicy {
        &self.0.access
    }

    /// What every page of the site shares (its public address, the theme buttons).
    pub fn site(&self) -> &SiteInfo {
        &self.0.site
    }

    /// `Cache-Control` for a published page's responses.
    pub fn cache_control(&self) -> HeaderValue {
        self.0.cache_control.clone()
    }

    /// Snapshots built since start: the database reads public pages caused.
    pub fn builds(&self) -> u64 {
        self.0.builds.load(Ordering::Relaxed)
    }

    /// Prometheus lines for `/metrics`.
    pub fn prometheus_text(&self) -> String {
        format!(
            "# HELP lookout_status_snapshot_builds_total Public status page snapshots built from the database.\n\
             # TYPE lookout_status_snapshot_builds_total counter\n\
             lookout_status_snapshot_builds_total {}\n\
             # HELP lookout_status_snapshot_failures_total Snapshot builds that failed (an older snapshot was served if there was one).\n\
             # TYPE lookout_status_snapshot_failures_total counter\n\
             lookout_status_snapshot_failures_total {}\n",
            self.builds(),
            self.0.failures.load(Ordering::Relaxed),
        )
    }

    /// The public view's page (`rendered` is one) as someone signed in who asked for it gets
    /// it: the same, with a note that says so and the way back to their own view.
    pub fn public_page_for_signed_in<'r>(&self, rendered: &'r Rendered) -> &'r Representation {
        rendered.noted_for_signed_in.get_or_init(|| {
            let note = render::ViewNote::PublicToSignedIn;
            Representation::of(render::document_noted(
                &rendered.snapshot,
                &self.0.site,
                note,
            ))
        })
    }

    /// A role's view (`rendered`) brought up to the newest messages the live hub holds, as its
    /// JSON: what a signed-in visitor's page rereads as messages arrive, so the view is live
    /// without a database read per message. Only what the snapshot already shows changes (its
    /// audience could read it when it was built), and only by messages newer than it; device
    /// states, uptime and incidents follow at the next build, within a TTL.
    pub fn live_json(&self, rendered: &Rendered, hub: &LiveHub) -> Representation {
        let snapshot = &rendered.snapshot;
        let specs: HashMap<i64, &WidgetSpec> = snapshot
            .bindings
            .iter()
            .filter(|(_, spec)| follows_live(spec))
            .map(|(id, spec)| (*id, spec))
            .collect();
        let mut topics: HashSet<&str> = HashSet::new();
        for widget in &snapshot.widgets {
            match specs.get(&widget.id) {
                Some(spec) if spec.kind == WidgetKind::Table => {
                    topics.extend(widget.rows.iter().map(|row| row.topic.as_str()));
                }
                Some(spec) => topics.extend(live_topics(spec)),
                None => {}
            }
        }
        let newest = hub.newest_of(&topics, LIVE_SCAN_MAX);
        let newer = |topic: &str, than: Option<i64>| {
            newest
                .get(topic)
                .map(|event| (event.received_at.timestamp_millis(), event))
                .filter(|(at_ms, _)| than.is_none_or(|than| *at_ms > than))
                .map(|(at_ms, event)| {
                    // As a build reads it: a payload too large for a page shows nothing.
                    let payload = &event.payload;
                    let fits = payload.len() <= STATUS_PAYLOAD_MAX_BYTES as usize;
                    (at_ms, fits.then_some(&payload[..]))
                })
        };
        let mut live = snapshot.clone();
        let now_ms = Utc::now().timestamp_millis();
        let mut changed = false;
        for shown in &mut live.widgets {
            let Some(spec) = specs.get(&shown.id) else {
                continue;
            };
            if spec.kind == WidgetKind::Chart {
                if let Some(chart) = &mut shown.chart {
                    let mut moved = false;
                    // The legend holds the series the view may read, in the spec's order.
                    for (index, series) in spec.series.iter().enumerate() {
                        let Some(entry) = chart.legend.get_mut(index) else {
                            continue;
                        };
                        let Some((at_ms, payload)) = newer(&series.topic, entry.last_seen_ms)
                        else {
                            continue;
                        };
                        let value =
                            payload.and_then(|payload| bound_value(payload, &series.pointer));
                        let number = value.as_ref().and_then(Shown::as_number);
                        entry.show(value, Some(at_ms));
                        if let Some(number) = number {
                            for range in &mut chart.ranges {
                                let span_ms = range.range.span_ms();
                                if let Some(points) = range.series.get_mut(index) {
                                    points.retain(|point| point.at_ms > now_ms - span_ms);
                                    points.push(Point {
                                        at_ms,
                                        value: number,
                                    });
                                }
                            }
                        }
                        moved = true;
                    }
                    if moved {
                        chart.draw(now_ms, &spec.unit);
                        changed = true;
                    }
                }
                continue;
            }
            if spec.kind == WidgetKind::Table {
                for row in &mut shown.rows {
                    if let Some((at_ms, payload)) = newer(&row.topic, Some(row.last_seen_ms)) {
                        row.value = payload.and_then(|payload| bound_value(payload, &spec.pointer));
                        row.text = row.value.as_ref().map(|value| value.display(&spec.unit));
                        row.last_seen_ms = at_ms;
                        changed = true;
                    }
                }
                continue;
            }
            let Some((at_ms, payload)) = newer(&spec.topic, shown.last_seen_ms) else {
                continue;
            };
            let value = payload.and_then(|payload| bound_value(payload, &spec.pointer));
            let number = value.as_ref().and_then(Shown::as_number);
            show_value(shown, spec, value);
            shown.status_text = shown.status.map(|level| level.label().to_owned());
            shown.last_seen_ms = Some(at_ms);
            // A chart extends by the newest value, and forgets what left its span.
            if let (Some((span_ms, _)), Some(number)) = (series_shape(spec), number) {
                shown.series.retain(|point| point.at_ms > now_ms - span_ms);
                shown.series.push(Point {
                    at_ms,
                    value: number,
                });
                draw_series(shown, spec, now_ms);
            }
            changed = true;
        }
        if !changed {
            return rendered.json.clone();
        }
        live.summary = Level::worst(live.widgets.iter().filter_map(|w| w.status));
        live.summary_text = live.summary.map(|level| level.summary().to_owned());
        Representation::of(serde_json::to_vec(&live).unwrap_or_default())
    }

    /// Forgets every snapshot after an admin's change, so this instance shows it at once
    /// (others within their TTL).
    pub fn invalidate(&self) {
        *write(&self.0.published) = None;
        write(&self.0.pages).clear();
    }

    /// The published boards, read at most once per TTL.
    pub async fn published_boards(&self) -> Result<Arc<PublishedBoards>, sqlx::Error> {
        let fresh = |inner: &Inner| {
            read(&inner.published)
                .as_ref()
                .filter(|(at, _)| at.elapsed() < inner.ttl)
                .map(|(_, slugs)| slugs.clone())
        };
        if let Some(slugs) = fresh(&self.0) {
            return Ok(slugs);
        }
        let _reloading = self.0.published_reload.lock().await;
        if let Some(slugs) = fresh(&self.0) {
            return Ok(slugs);
        }
        let boards: Arc<PublishedBoards> =
            Arc::new(self.0.store.published_boards().await?.into_iter().collect());
        *write(&self.0.published) = Some((Instant::now(), boards.clone()));
        // A page unpublished or renamed elsewhere stops being served here.
        let mut pages = write(&self.0.pages);
        let known: &HashMap<String, Visibility> = &boards;
        pages.retain(|slug, _| known.contains_key(slug));
        Ok(boards)
    }

    /// The view for `audience` of the published board at `slug`, from a snapshot at most a TTL
    /// old (or older while a rebuild is under way or failing). `None` when no such board is
    /// published, or for the public view of a board that is not public. Whether the visitor
    /// may have this view is the access policy's to say (`access::board_view`), before.
    pub async fn published(
        &self,
        slug: &str,
        audience: Audience,
    ) -> Result<Option<Arc<Rendered>>, sqlx::Error> {
        match self.published_boards().await?.get(slug) {
            Some(visibility) if visibility.public || audience != Audience::Public => {}
            _ => return Ok(None),
        }
        // Looked up before inserting: the slug is copied only for a page's first request.
        let found = read(&self.0.pages).get(slug).cloned();
        let board = match found {
            Some(board) => board,
            None => write(&self.0.pages)
                .entry(slug.to_owned())
                .or_default()
                .clone(),
        };
        let slot = board.view(audience);
        let current = read(&slot.current).clone();
        if let Some(rendered) = &current {
            if rendered.built.elapsed() < self.0.ttl {
                return Ok(current);
            }
        }
        let _building = match (&current, slot.building.try_lock()) {
            (_, Ok(guard)) => guard,
            // Someone is rebuilding: the older snapshot now beats waiting for the database.
            (Some(_), Err(_)) => return Ok(current),
            (None, Err(_)) => slot.building.lock().await,
        };
        // Built by whoever held the lock before us?
        if let Some(rendered) = read(&slot.current).clone() {
            if rendered.built.elapsed() < self.0.ttl {
                return Ok(Some(rendered));
            }
        }
        match self.build_published(slug, audience).await {
            Ok(Some(rendered)) => {
                let rendered = Arc::new(rendered);
                *write(&slot.current) = Some(rendered.clone());
                Ok(Some(rendered))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.0.failures.fetch_add(1, Ordering::Relaxed);
                match current {
                    Some(older) => {
                        tracing::warn!(%slug, error = %error, "rebuilding a status page failed; serving the older snapshot");
                        Ok(Some(older))
                    }
                    None => Err(error),
                }
            }
        }
    }

    async fn build_published(
        &self,
        slug: &str,
        audience: Audience,
    ) -> Result<Option<Rendered>, sqlx::Error> {
        match self.0.store.status_page_by_slug(slug).await? {
            // Only the public view's statuses are news: the feed and followers are public.
            Some(page)
                if page.spec.published
                    && (page.spec.visibility.public || audience != Audience::Public) =>
            {
                let record_changes = audience == Audience::Public;
                Ok(Some(self.build(page, audience, record_changes).await?))
            }
            _ => Ok(None),
        }
    }

    /// Board `slug` built afresh, published or draft, in the view `choose` picks from its spec
    /// and owner (`None`: no view for this visitor, the same as no board). Never cached, and it records no
    /// status changes (a draft's statuses are not news).
    pub async fn preview(
        &self,
        slug: &str,
        choose: impl FnOnce(&PageSpec, Option<i64>) -> Option<Audience>,
    ) -> Result<Option<Rendered>, sqlx::Error> {
        let Some(page) = self.0.store.status_page_by_slug(slug).await? else {
            return Ok(None);
        };
        match choose(&page.spec, page.owner) {
            Some(audience) => Ok(Some(self.build(page, audience, false).await?)),
            None => Ok(None),
        }
    }

    /// Builds the public view of every public board whose snapshot is older than `age`, so
    /// status changes are recorded for the feed even while nobody visits.
    pub async fn refresh_older_than(&self, age: Duration) -> Result<(), sqlx::Error> {
        let boards = self.published_boards().await?;
        for (slug, _) in boards.iter().filter(|(_, visibility)| visibility.public) {
            let stale = read(&self.0.pages)
                .get(slug)
                .and_then(|board| {
                    read(&board.view(Audience::Public).current)
                        .as_ref()
                        .map(|r| r.built.elapsed())
                })
                .is_none_or(|built| built >= age);
            if stale {
                self.published(slug, Audience::Public).await?;
            }
        }
        Ok(())
    }

    async fn build(
        &self,
        mut page: StoredPage,
        audience: Audience,
        record_changes: bool,
    ) -> Result<Rendered, sqlx::Error> {
        self.0.builds.fetch_add(1, Ordering::Relaxed);
        let store = &self.0.store;
        let now = Utc::now();
        let now_ms = now.timestamp_millis();
        // Asked at every build, so a topic that left the audience leaves the page.
        let rules = self.0.access.rules().await?;
        let device_rules = if page
            .widgets
            .iter()
            .any(|w| w.spec.device().is_some() || w.spec.kind == WidgetKind::Devices)
        {
            store.liveness_rules().await?
        } else {
            Vec::new()
        };
        page.widgets.retain(|widget| {
            rules
                .widget_for(audience, &widget.spec, &device_rules)
                .is_ok()
        });
        // A chart's series the audience may not read go whole, before anything is read for them.
        for widget in &mut page.widgets {
            widget.spec.series = rules.readable_series(audience, &widget.spec.series);
        }

        let mut topics: Vec<String> = page
            .widgets
            .iter()
            .flat_map(|w| {
                let own = (!w.spec.kind.takes_filter() && !w.spec.topic.is_empty())
                    .then(|| w.spec.topic.clone());
                own.into_iter()
                    .chain(w.spec.series.iter().map(|s| s.topic.clone()))
            })
            .collect();
        topics.sort_unstable();
        topics.dedup();
        let newest: HashMap<String, TopicNewest> = if topics.is_empty() {
            HashMap::new()
        } else {
            store
                .newest_of_topics(&topics)
                .await?
                .into_iter()
                .map(|newest| (newest.topic.clone(), newest))
                .collect()
        };

        // A series bound to a named series (its topic's, its field) reads the series' rollups:
        // each interval's exact average, whatever was stored. The others sample the messages, the
        // newest value of each interval, one query per distinct (span, points): a page's
        // sparklines share one, and its charts' ranges one each. What is read is bounded by the
        // widgets and their shapes, never by the messages stored.
        let named = self.0.series.current();
        let drawn: BTreeSet<Drawn> = page
            .widgets
            .iter()
            .flat_map(|widget| drawn_series(&widget.spec))
            .collect();
        let mut rolled: HashMap<&Drawn, Vec<Point>> = HashMap::new();
        let mut topic_ids: HashMap<&str, Option<i64>> = HashMap::new();
        let mut series_queries: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
        for wanted in &drawn {
            let (topic, pointer, (span_ms, points)) = wanted;
            let series = named
                .for_topic(topic)
                .into_iter()
                .find(|series| &series.pointer == pointer);
            if let Some(series) = series {
                let id = match topic_ids.get(topic.as_str()) {
                    Some(id) => *id,
                    None => {
                        let id = store.topic_id(topic).await?;
                        topic_ids.insert(topic, id);
                        id
                    }
                };
                let points = match id {
                    Some(id) => {
                        rollup_points(store, id, series.id, *span_ms, *points, now_ms).await?
                    }
                    None => Vec::new(),
                };
                rolled.insert(wanted, points);
            } else {
                series_queries
                    .entry((*span_ms, *points))
                    .or_default()
                    .push(topic.clone());
            }
        }
        let mut samples: HashMap<((i64, i64), String), Vec<Sample>> = HashMap::new();
        for ((span_ms, points), mut names) in series_queries {
            names.sort_unstable();
            names.dedup();
            let step_ms = span_ms / points;
            // Intervals aligned to the step, so consecutive snapshots sample the same ones.
            let from_ms = (now_ms - span_ms).div_euclid(step_ms) * step_ms + step_ms;
            let from = DateTime::from_timestamp_millis(from_ms).unwrap_or(now);
            for sample in store.sampled_series(&names, from, step_ms, points).await? {
                samples
                    .entry(((span_ms, points), sample.topic.clone()))
                    .or_default()
                    .push(sample);
            }
        }

        let devices = if page.widgets.iter().any(|w| w.spec.device().is_some()) {
            // Only topics the audience may read tell the state: nothing of another topic shapes
            // what is shown.
            let readable = |topic: &str| rules.audience_may_read(audience, topic);
            crate::server::devices::find_devices(store, &device_rules, readable, now_ms).await?
        } else {
            Vec::new()
        };

        let uptime_from = now - chrono::TimeDelta::milliseconds(UPTIME_WINDOWS[3].1);
        let blind = if page.widgets.iter().any(|w| w.spec.kind.shows_uptime()) {
            store
                .blind_windows(uptime_from, now, uptime::WATCH_SLACK_MS)
                .await?
        } else {
            Vec::new()
        };

        let maintenance = store.page_maintenance(page.id).await?;
        let attention = if page
            .widgets
            .iter()
            .any(|w| w.spec.kind == WidgetKind::Incidents)
        {
            Some(attention(store, audience).await?)
        } else {
            None
        };

        // The loop's `newest` is its widget's; a chart looks up each of its series'.
        let newest_by_topic = &newest;
        let mut widgets = Vec::with_capacity(page.widgets.len());
        for widget in &page.widgets {
            let spec = &widget.spec;
            let newest = newest.get(&spec.topic);
            let value = newest
                .and_then(|newest| newest.payload.as_deref())
                .and_then(|payload| bound_value(payload, &spec.pointer));
            let mut shown = WidgetSnapshot {
                id: widget.id,
                kind: spec.kind,
                label: spec.label.clone(),
                unit: spec.unit.clone(),
                text: None,
                value: None,
                status: None,
                status_text: None,
                last_seen_ms: newest.map(|newest| newest.received_at_ms),
                series: Vec::new(),
                plot: None,
                chart: None,
                gauge: None,
                html: spec.markdown.as_deref().map(markdown::to_html),
                control: spec.control.as_ref().map(|control| ControlShown {
                    switch: control.off.is_some(),
                    slider: control.slider,
                    usable: rules.audience_may_publish(audience, &control.command_topic),
                }),
                rows: Vec::new(),
                devices: Vec::new(),
                attention: None,
                uptime: Vec::new(),
                days: Vec::new(),
                maintenance: maintenance
                    .iter()
                    .any(|window| window.covers(widget.id) && window.active_at(now_ms)),
                incidents: Vec::new(),
                width: spec.width,
            };
            show_value(&mut shown, spec, value);
            if spec.kind.shows_uptime() {
                // Maintenance the admin chose not to count is left out, as time not seen.
                let excluded = excluded_maintenance(
                    &maintenance,
                    widget.id,
                    now_ms - UPTIME_WINDOWS[3].1,
                    now_ms,
                );
                let blind: Vec<uptime::Blind> = blind.iter().chain(&excluded).copied().collect();
                // A device (under every rule that finds one of that name), or the widget's
                // value against its thresholds.
                let timelines = match (spec.device(), ThresholdWatch::of(spec)) {
                    (Some(device), _) => store.device_timelines(device, uptime_from, now).await?,
                    (None, Some(watch)) => vec![
                        store
                            .threshold_timeline(&watch.key(), uptime_from, now)
                            .await?,
                    ],
                    (None, None) => Vec::new(),
                };
                let timelines: Vec<_> = timelines
                    .into_iter()
                    .map(|timeline| (timeline.before, timeline.transitions))
                    .collect();
                let (before, transitions) = uptime::worst_of(&timelines);
                shown.uptime = UPTIME_WINDOWS
                    .iter()
                    .map(|(window, span_ms)| {
                        let spent = uptime::availability(
                            before,
                            &transitions,
                            &blind,
                            now_ms - span_ms,
                            now_ms,
                        );
                        UptimeFigure {
                            window: (*window).to_owned(),
                            percent: spent.ratio().map(|ratio| ratio * 100.0),
                            down_ms: spent.down_ms,
                            blind_ms: spent.blind_ms,
                        }
                    })
                    .collect();
                // The percentages' CSV lists the days of their longest window.
                let days = match spec.kind {
                    WidgetKind::UptimeBar => spec.uptime_days,
                    _ => UPTIME_BAR_DAYS[UPTIME_BAR_DAYS.len() - 1],
                };
                shown.days = uptime::days(before, &transitions, &blind, u32::from(days), now_ms)
                    .into_iter()
                    .map(|day| {
                        let end_ms = (day.start_ms + uptime::DAY_MS).min(now_ms);
                        UptimeDay {
                            maintenance_ms: uptime::covered_ms(&excluded, day.start_ms, end_ms),
                            ..UptimeDay::from(day)
                        }
                    })
                    .collect();
                shown.value = None;
                shown.text = None;
                shown.last_seen_ms = None;
            }
            match (spec.kind, &spec.status) {
                (WidgetKind::Status, StatusRule::Device(name)) => {
                    let found = devices.iter().filter(|device| &device.name == name);
                    let worst = found
                        .clone()
                        .map(|device| device_level(device.verdict.state))
                        .max();
                    shown.status = Some(worst.unwrap_or(Level::Unknown));
                    shown.last_seen_ms = found.filter_map(|d| d.evidence.last_live_ms).max();
                    shown.value = None;
                    shown.text = None;
                }
                (WidgetKind::Incidents, _) => {
                    shown.text = attention.as_ref().map(AttentionShown::words);
                    shown.attention = attention.clone();
                    shown.value = None;
                    shown.last_seen_ms = None;
                }
                (WidgetKind::Devices, _) => {
                    // Only the audience's topics under the filter find a device and tell its
                    // state.
                    let filter = TopicFilter::parse(&spec.topic).ok();
                    let readable = |topic: &str| {
                        filter.as_ref().is_some_and(|filter| filter.matches(topic))
                            && rules.audience_may_read(audience, topic)
                    };
                    let found = crate::server::devices::find_devices(
                        store,
                        &device_rules,
                        readable,
                        now_ms,
                    )
                    .await?;
                    shown.devices = device_rows(&found, now_ms);
                    shown.value = None;
                    shown.last_seen_ms = None;
                    shown.text = Some(device_counts_text(&shown.devices));
                }
                (WidgetKind::Table, _) => {
                    shown.rows = self
                        .table_rows(
                            &rules,
                            audience,
                            &widget.spec.topic,
                            &widget.spec.pointer,
                            &spec.unit,
                        )
                        .await?;
                    shown.value = None;
                    shown.text = None;
                    shown.last_seen_ms = None;
                }
                _ => {}
            }
            let points_of = |topic: &str, pointer: &str, shape: (i64, i64)| -> Vec<Point> {
                let wanted = (topic.to_owned(), pointer.to_owned(), shape);
                match rolled.get(&wanted) {
                    Some(points) => points.clone(),
                    None => samples
                        .get(&(shape, wanted.0))
                        .into_iter()
                        .flatten()
                        .filter_map(|sample| {
                            let value = bound_value(&sample.payload, pointer)?.as_number()?;
                            Some(Point {
                                at_ms: sample.received_at_ms,
                                value,
                            })
                        })
                        .collect(),
                }
            };
            if let Some(shape) = series_shape(spec) {
                shown.series = points_of(&spec.topic, &spec.pointer, shape);
                draw_series(&mut shown, spec, now_ms);
            }
            if spec.kind == WidgetKind::Chart {
                let legend = spec
                    .series
                    .iter()
                    .map(|series| {
                        let newest = newest_by_topic.get(&series.topic);
                        let value = newest
                            .and_then(|newest| newest.payload.as_deref())
                            .and_then(|payload| bound_value(payload, &series.pointer));
                        let mut entry = render::LegendEntry {
                            label: series.label.clone(),
                            unit: spec.unit.clone(),
                            value: None,
                            text: None,
                            last_seen_ms: None,
                        };
                        entry.show(value, newest.map(|newest| newest.received_at_ms));
                        entry
                    })
                    .collect();
                let ranges = CHART_RANGES
                    .iter()
                    .map(|range| render::ChartRange {
                        range: *range,
                        svg: None,
                        span: String::new(),
                        series: spec
                            .series
                            .iter()
                            .map(|series| {
                                let shape = (range.span_ms(), CHART_POINTS);
                                points_of(&series.topic, &series.pointer, shape)
                            })
                            .collect(),
                    })
                    .collect();
                let mut chart = render::ChartShown {
                    range: spec.range,
                    legend,
                    ranges,
                };
                chart.draw(now_ms, &spec.unit);
                shown.chart = Some(chart);
                shown.value = None;
                shown.text = None;
                shown.last_seen_ms = None;
            }
            shown.status_text = shown.status.map(|level| level.label().to_owned());
            if record_changes {
                if let Some(level) = shown.status {
                    self.record(widget, level, now).await?;
                }
            }
            widgets.push(shown);
        }

        let summary = Level::worst(widgets.iter().filter_map(|w| w.status));
        let shown_ids: Vec<i64> = widgets.iter().map(|w| w.id).collect();
        let incidents = affected_among(
            store.page_incidents(page.id, PAST_SHOWN).await?,
            &mut widgets,
        );
        let snapshot = PageSnapshot {
            summary,
            summary_text: summary.map(|level| level.summary().to_owned()),
            slug: page.spec.slug,
            title: page.spec.title,
            description: page.spec.description,
            published: page.spec.published,
            generated_at_ms: now_ms,
            ttl_seconds: self.0.ttl.as_secs().max(1),
            widgets,
            // Only the widgets shown: one that left the audience takes its history with it.
            changes: store
                .status_changes(page.id, &shown_ids, FEED_ENTRIES)
                .await?,
            incidents,
            maintenance: maintenance_shown(&maintenance, &shown_ids, now_ms),
            page_id: page.id,
            first_incident_ms: store.first_incident_ms(page.id).await?,
            // Followers are told the public view's news: a board without one has none to tell.
            subscribable: page.spec.visibility.public
                && self.0.site.public_url.is_some()
                && store.takes_subscriptions(page.id).await?,
            audience,
            public: page.spec.visibility.public,
            bindings: page
                .widgets
                .into_iter()
                .filter(|widget| shown_ids.contains(&widget.id))
                .map(|widget| (widget.id, widget.spec))
                .collect(),
        };
        Ok(self.render(snapshot))
    }

    async fn record(
        &self,
        widget: &StoredWidget,
        level: Level,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        // "No data" is not news; a widget that had none and gets some is recorded from there.
        if level == Level::Unknown || widget.last_level == Some(level) {
            return Ok(());
        }
        self.0
            .store
            .record_status_level(widget.id, level, at)
            .await?;
        Ok(())
    }

    /// The topics under `filter` that `audience` may read, each with its bound value.
    async fn table_rows(
        &self,
        rules: &Rules,
        audience: Audience,
        filter: &str,
        pointer: &str,
        unit: &str,
    ) -> Result<Vec<TableRow>, sqlx::Error> {
        let Ok(filter) = TopicFilter::parse(filter) else {
            return Ok(Vec::new());
        };
        // By name, whichever start found them.
        let mut candidates = BTreeMap::new();
        for start in rules.starts_for(audience, &filter) {
            for newest in self.0.store.newest_under(&start, TABLE_CANDIDATES).await? {
                candidates.insert(newest.topic.clone(), newest);
            }
        }
        let rows = candidates
            .into_values()
            .filter(|newest| {
                filter.matches(&newest.topic) && rules.audience_may_read(audience, &newest.topic)
            })
            .take(TABLE_MAX_ROWS)
            .map(|newest| {
                let value = newest
                    .payload
                    .as_deref()
                    .and_then(|payload| bound_value(payload, pointer));
                TableRow {
                    text: value.as_ref().map(|value| value.display(unit)),
                    value,
                    topic: newest.topic,
                    last_seen_ms: newest.received_at_ms,
                }
            })
            .collect();
        Ok(rows)
    }

    fn render(&self, snapshot: PageSnapshot) -> Rendered {
        let site = &self.0.site;
        let json = serde_json::to_vec(&snapshot).unwrap_or_default();
        let csv = snapshot
            .widgets
            .iter()
            .filter_map(|widget| {
                let body = if widget.kind.shows_uptime() {
                    render::uptime_csv(&widget.days)
                } else if widget.kind.has_series() {
                    render::csv(widget)
                } else if let Some(chart) = &widget.chart {
                    render::chart_csv(chart)
                } else {
                    return None;
                };
                Some((widget.id, Representation::of(body)))
            })
            .collect();
        let mut badges = HashMap::new();
        for widget in &snapshot.widgets {
            if let Some(level) = widget.status {
                let badge = render::badge(&widget.label, level);
                badges.insert(widget.id.to_string(), Representation::of(badge));
            }
            for figure in &widget.uptime {
                let badge = Representation::of(render::uptime_badge(&widget.label, figure));
                if figure.window == DEFAULT_UPTIME_BADGE {
                    badges.insert(widget.id.to_string(), badge.clone());
                }
                badges.insert(format!("{}-{}", widget.id, figure.window), badge);
            }
        }
        Rendered {
            html: Representation::of(render::document(&snapshot, site)),
            feed: Representation::of(render::feed(&snapshot, site)),
            json: Representation::of(json),
            csv,
            badges,
            months: Mutex::default(),
            noted_for_signed_in: OnceLock::new(),
            built: Instant::now(),
            snapshot,
        }
    }

    /// The incident history of published page `slug` for `month` (the current one if `None`):
    /// `None` when the page is not published or the month is before its first incident or
    /// after now.
    pub async fn incident_history(
        &self,
        slug: &str,
        month: Option<Month>,
    ) -> Result<Option<Representation>, sqlx::Error> {
        let Some(rendered) = self.published(slug, Audience::Public).await? else {
            return Ok(None);
        };
        let snapshot = &rendered.snapshot;
        let now = Month::of_ms(snapshot.generated_at_ms);
        let month = month.unwrap_or(now);
        let first = snapshot.first_incident_ms.map(Month::of_ms).unwrap_or(now);
        if month < first || month > now {
            return Ok(None);
        }
        if let Some(built) = lock(&rendered.months).get(&month) {
            return Ok(Some(built.clone()));
        }
        let from = DateTime::<Utc>::from_timestamp_millis(month.start_ms()).unwrap_or_default();
        let to =
            DateTime::<Utc>::from_timestamp_millis(month.next().start_ms()).unwrap_or_default();
        let mut incidents = self
            .0
            .store
            .incidents_opened_between(snapshot.page_id, from, to)
            .await?;
        naming_only(&mut incidents, &snapshot.widgets);
        let history = render::MonthHistory {
            month,
            incidents: &incidents,
            earlier: (month > first).then(|| month.previous()),
            later: (month < now).then(|| month.next()),
        };
        let built = Representation::of(render::history_document(snapshot, &history, &self.0.site));
        lock(&rendered.months).insert(month, built.clone());
        Ok(Some(built))
    }
}

/// The average of each interval of `span_ms / points` up to `now_ms` (intervals aligned as the
/// sampled series' are) of topic `id`'s named `series`, each at its interval's middle, from the
/// coarsest rollups whose buckets fit the interval whole.
async fn rollup_points(
    store: &Store,
    id: i64,
    series: i32,
    span_ms: i64,
    points: i64,
    now_ms: i64,
) -> Result<Vec<Point>, sqlx::Error> {
    let step_ms = span_ms / points;
    let resolution = [Resolution::Day, Resolution::Hour, Resolution::Minute]
        .into_iter()
        .find(|level| step_ms % level.width_ms() == 0)
        .unwrap_or(Resolution::Minute);
    let from_ms = (now_ms - span_ms).div_euclid(step_ms) * step_ms + step_ms;
    let at = |ms| DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let buckets = store
        .value_buckets(id, series, resolution, at(from_ms), at(now_ms), step_ms)
        .await?;
    Ok(buckets
        .into_iter()
        .map(|bucket| Point {
            at_ms: bucket.start_ms + step_ms / 2,
            value: bucket.avg,
        })
        .collect())
}

/// The span and number of points of a widget's series, if it has one: a history widget's
/// range, a day for the others (their CSV history, and the sparkline's line).
fn series_shape(spec: &WidgetSpec) -> Option<(i64, i64)> {
    match spec.kind {
        WidgetKind::History => Some((spec.range.span_ms(), HISTORY_POINTS)),
        kind if kind.has_series() => Some((SPARKLINE_SPAN_MS, SPARKLINE_POINTS)),
        _ => None,
    }
    .filter(|_| !spec.topic.is_empty())
}

/// A series a build reads: topic, JSON pointer, and (span, points).
type Drawn = (String, String, (i64, i64));

/// Every series a widget draws or exports: its own, or each of a chart's series over each range
/// the chart offers.
fn drawn_series(spec: &WidgetSpec) -> Vec<Drawn> {
    if spec.kind == WidgetKind::Chart {
        return CHART_RANGES
            .iter()
            .flat_map(|range| {
                spec.series.iter().map(|series| {
                    let shape = (range.span_ms(), CHART_POINTS);
                    (series.topic.clone(), series.pointer.clone(), shape)
                })
            })
            .collect();
    }
    series_shape(spec)
        .map(|shape| (spec.topic.clone(), spec.pointer.clone(), shape))
        .into_iter()
        .collect()
}

/// Draws a sparkline's or history widget's series up to `now_ms`, for the page and its JSON.
fn draw_series(shown: &mut WidgetSnapshot, spec: &WidgetSpec, now_ms: i64) {
    let Some((span_ms, points)) = series_shape(spec).filter(|_| spec.kind.draws_series()) else {
        return;
    };
    shown.plot = render::Plot::of(
        &shown.series,
        now_ms - span_ms,
        now_ms,
        span_ms / points,
        spec.kind,
        &spec.unit,
    );
}

/// What a widget bound to one topic's field shows of `value`: its words, and the status or the
/// dial its thresholds give it. A gauge shows its value's stretch in colour but is no check: the
/// page's summary counts status widgets only.
fn show_value(shown: &mut WidgetSnapshot, spec: &WidgetSpec, value: Option<Shown>) {
    shown.text = value.as_ref().map(|value| value.display(&spec.unit));
    if let StatusRule::Value {
        worse,
        degraded_at,
        down_at,
    } = spec.status
    {
        let level = level_of(value.as_ref(), worse, degraded_at, down_at);
        match spec.kind {
            WidgetKind::Status => shown.status = Some(level),
            WidgetKind::Gauge => {
                shown.gauge = spec.scale.map(|scale| {
                    render::Gauge::of(
                        scale,
                        value.as_ref().and_then(Shown::as_number),
                        (worse, degraded_at, down_at),
                        level,
                        &spec.unit,
                    )
                });
            }
            _ => {}
        }
    }
    shown.value = value;
}

impl From<uptime::Day> for UptimeDay {
    fn from(day: uptime::Day) -> Self {
        let date = crate::domain::wording::UtcTime::from_ms(day.start_ms);
        Self {
            date: format!("{:04}-{:02}-{:02}", date.year, date.month, date.day),
            start_ms: day.start_ms,
            percent: day.spent.ratio().map(|ratio| ratio * 100.0),
            up_ms: day.spent.up_ms,
            down_ms: day.spent.down_ms,
            unknown_ms: day.spent.unknown_ms,
            blind_ms: day.spent.blind_ms,
            maintenance_ms: 0,
            outages: day
                .outages
                .into_iter()
                .map(|(from_ms, to_ms)| Outage { from_ms, to_ms })
                .collect(),
        }
    }
}

/// What needs attention now, as `audience` may know it: incidents only of boards it may open,
/// alerts only for those who work the incident desk, the most severe first.
async fn attention(store: &Store, audience: Audience) -> Result<AttentionShown, sqlx::Error> {
    let incidents: Vec<IncidentLine> = store
        .open_board_incidents(ATTENTION_READ)
        .await?
        .into_iter()
        .filter(|incident| board_opens_for(audience, incident.visibility))
        .map(|incident| IncidentLine {
            slug: incident.slug,
            board: incident.board,
            id: incident.id,
            title: incident.title,
            status: incident.status.words().to_owned(),
            opened_ms: incident.opened_ms,
        })
        .collect();
    let mut alerts = Vec::new();
    let mut alerts_firing = None;
    if audience_sees_alerts(audience) {
        let firing = store.firing_alerts(ATTENTION_READ).await?;
        let mut ids: Vec<i64> = firing.iter().map(|alert| alert.rule_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let rules: HashMap<i64, (String, Severity)> = store
            .alert_rules_of(&ids)
            .await?
            .into_iter()
            .map(|rule| (rule.id, (rule.name, rule.severity)))
            .collect();
        let mut named: Vec<(Severity, AlertLine)> = firing
            .into_iter()
            .filter_map(|alert| {
                let (name, severity) = rules.get(&alert.rule_id)?;
                Some((
                    *severity,
                    AlertLine {
                        name: name.clone(),
                        subject: alert.subject,
                        severity: severity.as_str().to_owned(),
                        since_ms: alert.since_ms,
                    },
                ))
            })
            .collect();
        alerts_firing = Some(named.len());
        // Most severe first, the newest first within a severity (as read).
        named.sort_by_key(|(severity, _)| std::cmp::Reverse(*severity));
        alerts = named
            .into_iter()
            .take(ATTENTION_SHOWN)
            .map(|(_, line)| line)
            .collect();
    }
    Ok(AttentionShown {
        incidents_open: incidents.len(),
        incidents: incidents.into_iter().take(ATTENTION_SHOWN).collect(),
        alerts_firing,
        alerts,
    })
}

/// A device list's rows: problems first (offline, then unknown), then by name; at most
/// [`TABLE_MAX_ROWS`], so a fleet never makes a page heavy.
fn device_rows(devices: &[Device], now_ms: i64) -> Vec<DeviceRow> {
    let mut rows: Vec<DeviceRow> = devices
        .iter()
        .map(|device| {
            let status = device_level(device.verdict.state);
            DeviceRow {
                name: device.name.clone(),
                status,
                status_text: device_words(device.verdict.state).to_owned(),
                reason: device.verdict.cause.describe(now_ms),
                last_seen_ms: device.evidence.last_live_ms,
            }
        })
        .collect();
    // A name several rules find is one device, in its worst state, as a status widget has it.
    rows.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.status.cmp(&a.status)));
    rows.dedup_by(|later, first| later.name == first.name);
    rows.sort_by(|a, b| b.status.cmp(&a.status).then_with(|| a.name.cmp(&b.name)));
    rows.truncate(TABLE_MAX_ROWS);
    rows
}

fn device_words(state: DeviceState) -> &'static str {
    match state {
        DeviceState::Online => "Online",
        DeviceState::Offline => "Offline",
        DeviceState::Unknown => "No data",
    }
}

/// A device list's line above its rows: how many are in each state.
fn device_counts_text(rows: &[DeviceRow]) -> String {
    if rows.is_empty() {
        return "No devices found".to_owned();
    }
    let count = |level: Level| rows.iter().filter(|row| row.status == level).count();
    let parts = [
        (count(Level::Up), "online"),
        (count(Level::Down), "offline"),
        (count(Level::Unknown), "without data"),
    ];
    parts
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, words)| format!("{n} {words}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn device_level(state: DeviceState) -> Level {
    match state {
        DeviceState::Online => Level::Up,
        DeviceState::Offline => Level::Down,
        DeviceState::Unknown => Level::Unknown,
    }
}

/// The windows a page shows at `now_ms` (in effect or soon), soonest first, naming only the
/// widgets shown.
/// Incidents name only the widgets shown: one outside the public audience is never named.
fn naming_only(incidents: &mut [Incident], widgets: &[WidgetSnapshot]) {
    for incident in incidents {
        incident
            .widgets
            .retain(|id| widgets.iter().any(|widget| widget.id == *id));
    }
}

/// `incidents` naming only the widgets shown (one outside the public audience is never named),
/// and each shown widget marked with the open incidents that affect it.
fn affected_among(mut incidents: Vec<Incident>, widgets: &mut [WidgetSnapshot]) -> Vec<Incident> {
    naming_only(&mut incidents, widgets);
    for incident in &incidents {
        if incident.resolved_ms.is_some() {
            continue;
        }
        for widget in widgets.iter_mut() {
            if incident.widgets.contains(&widget.id) {
                widget.incidents.push(incident.id);
            }
        }
    }
    incidents
}

fn maintenance_shown(
    windows: &[Maintenance],
    shown_widgets: &[i64],
    now_ms: i64,
) -> Vec<MaintenanceShown> {
    let mut shown: Vec<MaintenanceShown> = windows
        .iter()
        .filter_map(|window| {
            let occurrence = window.shown_at(now_ms)?;
            let widgets = match &window.widgets {
                None => None,
                Some(ids) => {
                    let ids: Vec<i64> = ids
                        .iter()
                        .copied()
                        .filter(|id| shown_widgets.contains(id))
                        .collect();
                    // A window over nothing the visitor sees is none of their business.
                    if ids.is_empty() {
                        return None;
                    }
                    Some(ids)
                }
            };
            Some(MaintenanceShown {
                id: window.id,
                title: window.title.clone(),
                message: window.message.clone(),
                from_ms: occurrence.from_ms,
                to_ms: occurrence.to_ms,
                active: occurrence.from_ms <= now_ms,
                repeat: window.repeat,
                widgets,
                announced_ms: window.announced_ms(&occurrence),
            })
        })
        .collect();
    shown.sort_by_key(|window| (window.from_ms, window.id));
    shown
}

/// The occurrences within `from_ms..to_ms` of the maintenance covering the widget that the
/// admin chose not to count in uptime: left out as time not seen.
fn excluded_maintenance(
    windows: &[Maintenance],
    widget_id: i64,
    from_ms: i64,
    to_ms: i64,
) -> Vec<uptime::Blind> {
    windows
        .iter()
        .filter(|window| !window.counted && window.covers(widget_id))
        .flat_map(|window| window.occurrences(from_ms, to_ms))
        .map(|occurrence| uptime::Blind {
            from_ms: occurrence.from_ms,
            to_ms: occurrence.to_ms.min(to_ms),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn nightly(counted: bool, widgets: Option<Vec<i64>>) -> Maintenance {
        Maintenance {
            id: 7,
            title: "Backup".into(),
            message: String::new(),
            starts_ms: 2 * HOUR,
            duration_ms: HOUR,
            repeat: Repeat::Daily,
            until_ms: None,
            counted,
            widgets,
            planned_ms: 0,
        }
    }

    #[test]
    fn uncounted_maintenance_is_left_out_of_the_uptime_of_what_it_covers() {
        let now_ms = 10 * 24 * HOUR;
        let windows = [nightly(false, Some(vec![1])), nightly(true, None)];
        let blind = excluded_maintenance(&windows, 1, now_ms - 3 * 24 * HOUR, now_ms);
        assert_eq!(blind.len(), 3, "{blind:?}");
        assert!(blind.iter().all(|b| b.to_ms - b.from_ms == HOUR));
        // Another widget, or counted time: nothing left out.
        assert!(excluded_maintenance(&windows, 2, 0, now_ms).is_empty());
        let spent = uptime::availability(
            Some(uptime::Seen::Down),
            &[],
            &blind,
            now_ms - 3 * 24 * HOUR,
            now_ms,
        );
        assert_eq!(spent.blind_ms, 3 * HOUR);
        assert_eq!(spent.down_ms, 69 * HOUR);
    }

    #[test]
    fn a_page_shows_windows_in_effect_or_soon_and_only_over_widgets_it_shows() {
        let now_ms = 10 * 24 * HOUR + 2 * HOUR + 1;
        let windows = [
            nightly(false, Some(vec![1, 2])),
            Maintenance {
                id: 8,
                repeat: Repeat::Once,
                ..nightly(false, Some(vec![3]))
            },
        ];
        let shown = maintenance_shown(&windows, &[2, 3], now_ms);
        assert_eq!(shown.len(), 1, "the one-off is over: {shown:?}");
        assert!(shown[0].active);
        assert_eq!(shown[0].widgets, Some(vec![2]));
        assert!(maintenance_shown(&windows, &[4], now_ms).is_empty());
    }
}
