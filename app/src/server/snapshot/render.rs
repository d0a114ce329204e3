//! What visitors receive of a status page snapshot: the HTML document (complete without
//! JavaScript: values, statuses and ages in text, sparklines and charts as inline SVG), the Atom
//! feed of status changes, CSV histories and SVG badges. Everything is drawn from the snapshot
//! alone, so nothing here can show more than the snapshot holds.

use crate::domain::chart::{fitted_start, span_words, Frame, Layout, MultiLayout, Sample};
use crate::domain::history::HistoryRange;
use crate::domain::incident::{Incident, Month, MONTH_SHOWN};
use crate::domain::liveness::format_span;
use crate::domain::maintenance::Repeat;
use crate::domain::roles::{Audience, Role};
use crate::domain::status_page::{
    badge_path, control_path, csv_path, feed_path, json_path, page_path, Level, Scale, Shown,
    WidgetKind, Width, Worse, Zone, CHART_POINTS,
};
use crate::domain::theme::THEME_CSS;
use crate::domain::wording::{
    format_age, format_utc, format_utc_minute, format_value, xml_escape, UtcTime,
};
use crate::server::snapshot::{
    AttentionShown, ControlShown, DeviceRow, MaintenanceShown, PageSnapshot, Point, SiteInfo,
    TableRow, UptimeDay, UptimeFigure, WidgetSnapshot,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// The stylesheet cargo-leptos builds for the whole site.
const STYLESHEET: &str = "/pkg/lookout.css";
/// The progressive enhancement: refreshes values from the page's JSON at its TTL.
pub const SCRIPT: &str = "/status.js";

/// A drawing's height in CSS pixels, should the stylesheet not set one; its width is always its
/// container's.
const SPARK_HEIGHT_PX: u32 = 48;
const CHART_HEIGHT_PX: u32 = 160;
/// A multi-series chart is taller: its lines need the room to stay apart.
const MULTI_CHART_HEIGHT_PX: u32 = 224;

/// A series as drawn, laid out by `domain::chart` like the topic page's chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plot {
    /// The whole `<svg>` element, so a page refreshing itself redraws by swapping it in.
    pub svg: String,
    pub low: String,
    pub high: String,
    pub latest: String,
    /// The stretch of time drawn, in words: "from 2026-12-07 10:02 to 10:12 UTC".
    pub span: String,
    /// How the chart reads to someone who cannot see it.
    pub description: String,
}

/// A multi-series chart as visitors get it: its legend and a drawing of each range it offers,
/// so choosing a range needs no request (and no JavaScript: the page switches between them with
/// CSS, `.multi-chart` in the stylesheet).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartShown {
    /// The range shown first, as the admin chose it.
    pub range: HistoryRange,
    /// Each series the view may read, in the admin's order.
    pub legend: Vec<LegendEntry>,
    /// Each range offered, in order.
    pub ranges: Vec<ChartRange>,
}

/// A series in a chart's legend: its label, its newest value and when it came.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LegendEntry {
    pub label: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub unit: String,
    /// The series' field of its topic's newest message, if it is a single value.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<Shown>,
    /// The value as the page writes it, with its unit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_seen_ms: Option<i64>,
}

impl LegendEntry {
    pub fn show(&mut self, value: Option<Shown>, last_seen_ms: Option<i64>) {
        self.text = value.as_ref().map(|value| value.display(&self.unit));
        self.value = value;
        self.last_seen_ms = last_seen_ms;
    }
}

/// One range of a multi-series chart, drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartRange {
    pub range: HistoryRange,
    /// The whole `<svg>` element; `None` while no series has a number in the range.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub svg: Option<String>,
    /// The stretch of time drawn, in words.
    pub span: String,
    /// Each series' points (in the legend's order), oldest first: what is drawn, kept for a live
    /// view to extend and for the CSV, never sent as they are.
    #[serde(skip)]
    pub series: Vec<Vec<Point>>,
}

impl ChartShown {
    /// (Re)draws every range up to `to_ms` (now) from its points. Each range starts at the
    /// earliest point of any series (as [`Plot::of`] starts at its first value), so a few
    /// minutes of data fill the chart, but shows at least a twelfth of the range, so a new
    /// series is a dot in some context and there is room to zoom into; all its series share
    /// that time axis and one value axis.
    pub fn draw(&mut self, to_ms: i64, unit: &str) {
        for range in &mut self.ranges {
            let span_ms = range.range.span_ms();
            let step_ms = span_ms / CHART_POINTS;
            let first = range
                .series
                .iter()
                .filter_map(|points| points.first())
                .map(|p| p.at_ms)
                .min();
            let start = first.map_or(to_ms - span_ms, |first| {
                fitted_start(to_ms - span_ms, to_ms, first, span_ms / 12)
            });
            range.span = span_words(start, to_ms);
            let samples: Vec<Vec<Sample>> = range
                .series
                .iter()
                .map(|points| {
                    points
                        .iter()
                        .map(|point| Sample::point(point.at_ms, point.value))
                        .collect()
                })
                .collect();
            let latest: Vec<String> = self
                .legend
                .iter()
                .map(|entry| {
                    let value = entry.text.as_deref().unwrap_or("no value yet");
                    format!("{} {value}", entry.label)
                })
                .collect();
            let description = format!(
                "{} over the last {}, {}: latest {}.",
                match self.legend.len() {
                    1 => "1 series".to_owned(),
                    n => format!("{n} series"),
                },
                range.range.label(),
                range.span,
                latest.join(", "),
            );
            range.svg = MultiLayout::new(&samples, step_ms, start, to_ms, Frame::CHART, unit)
                .map(|layout| layout.svg(MULTI_CHART_HEIGHT_PX, &description));
        }
    }

    /// The range shown first.
    pub fn shown(&self) -> Option<&ChartRange> {
        self.ranges.iter().find(|range| range.range == self.range)
    }
}

/// A gauge as drawn: its dial, the stretches its thresholds colour, and the value's place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    pub min: f64,
    pub max: f64,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub zones: Vec<Zone>,
    /// The status of the stretch the value is in (unknown without a number).
    pub level: Level,
    /// The dial in words, with the unit: "0 to 100 °C; degraded from 70, down from 90".
    pub scale_words: String,
    /// The whole `<svg>` element, so a page refreshing itself redraws by swapping it in.
    pub svg: String,
}

/// The dial's centre and radii in its view box (200 × 110): a half circle opening downwards.
const DIAL_X: f64 = 100.0;
const DIAL_Y: f64 = 100.0;
const DIAL_R: f64 = 78.0;
const ZONE_R: f64 = 93.0;

impl Gauge {
    /// `value`: the bound value when it is a number; `thresholds`: the widget's status rule.
    pub fn of(
        scale: Scale,
        value: Option<f64>,
        (worse, degraded_at, down_at): (Worse, Option<f64>, Option<f64>),
        level: Level,
        unit: &str,
    ) -> Self {
        let zones = scale.zones(worse, degraded_at, down_at);
        let mut svg = String::from(
            "<svg class=\"gauge-dial\" viewBox=\"0 0 200 110\" aria-hidden=\"true\" \
             focusable=\"false\">",
        );
        let _ = write!(
            svg,
            "<path class=\"gauge-track\" d=\"{}\"/>",
            arc(0.0, 1.0, DIAL_R)
        );
        for zone in &zones {
            let _ = write!(
                svg,
                "<path class=\"gauge-zone zone-{}\" d=\"{}\"/>",
                zone.level.key(),
                arc(scale.fraction(zone.from), scale.fraction(zone.to), ZONE_R)
            );
        }
        if let Some(value) = value {
            let at = scale.fraction(value);
            if at > 0.0 {
                // Coloured by status only where thresholds say what is good.
                let colour = if zones.is_empty() {
                    String::new()
                } else {
                    format!(" zone-{}", level.key())
                };
                let _ = write!(
                    svg,
                    "<path class=\"gauge-value{colour}\" d=\"{}\"/>",
                    arc(0.0, at, DIAL_R)
                );
            }
            // The needle's tip, so a value at the bottom of the dial still shows.
            let (x, y) = dial_point(at, DIAL_R);
            let _ = write!(
                svg,
                "<circle class=\"gauge-needle\" cx=\"{x:.2}\" cy=\"{y:.2}\" r=\"9\"/>"
            );
        }
        svg.push_str("</svg>");
        let number = format_value;
        let mut scale_words = format!("{} to {}", number(scale.min), number(scale.max));
        if !unit.is_empty() {
            let _ = write!(scale_words, " {unit}");
        }
        let from = [("degraded", degraded_at), ("down", down_at)]
            .into_iter()
            .filter_map(|(what, at)| Some(format!("{what} from {}", number(at?))))
            .collect::<Vec<_>>();
        if !from.is_empty() {
            let _ = write!(scale_words, "; {}", from.join(", "));
        }
        Self {
            min: scale.min,
            max: scale.max,
            zones,
            level,
            scale_words,
            svg,
        }
    }
}

/// The point of the dial at `at` (0 its left end, 1 its right end) on a circle of `radius`.
fn dial_point(at: f64, radius: f64) -> (f64, f64) {
    let angle = std::f64::consts::PI * (1.0 - at);
    (DIAL_X + radius * angle.cos(), DIAL_Y - radius * angle.sin())
}

/// The dial's arc from `from` to `to` (0 to 1, clockwise over the top).
fn arc(from: f64, to: f64, radius: f64) -> String {
    let (x0, y0) = dial_point(from, radius);
    let (x1, y1) = dial_point(to, radius);
    format!("M{x0:.2} {y0:.2}A{radius} {radius} 0 0 1 {x1:.2} {y1:.2}")
}

impl Plot {
    /// The series (oldest first, sampled every `step_ms`) of the widget's range `from_ms` to
    /// `to_ms` (now). The chart starts at the first value rather than at `from_ms`, so the few
    /// minutes of a new topic fill it instead of being a sliver at its right edge; a page's
    /// range is the most it shows, not a view a visitor chose. It ends now, so a silence since
    /// the last value stays in sight. `None` for an empty series: the page says "no values".
    pub fn of(
        series: &[Point],
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
        kind: WidgetKind,
        unit: &str,
    ) -> Option<Self> {
        let first = series.first()?;
        let latest = series.last()?;
        let (frame, height) = if kind == WidgetKind::History {
            (Frame::CHART, CHART_HEIGHT_PX)
        } else {
            (Frame::SPARKLINE, SPARK_HEIGHT_PX)
        };
        // A sampling interval at least: one value is a dot with some time around it.
        let start = fitted_start(from_ms, to_ms, first.at_ms, step_ms);
        let samples: Vec<Sample> = series
            .iter()
            .map(|point| Sample::point(point.at_ms, point.value))
            .collect();
        let layout = Layout::new(&samples, step_ms, start, to_ms, frame, unit)?;
        let low = series.iter().map(|p| p.value).fold(f64::INFINITY, f64::min);
        let high = series
            .iter()
            .map(|p| p.value)
            .fold(f64::NEG_INFINITY, f64::max);
        let (low, high, latest) = (
            format_value(low),
            format_value(high),
            format_value(latest.value),
        );
        let span = span_words(start, to_ms);
        let description = format!(
            "{} {span}: lowest {low}, highest {high}, latest {latest}.",
            match series.len() {
                1 => "1 value".to_owned(),
                n => format!("{n} values"),
            },
        );
        Some(Self {
            svg: layout.svg(height, &description),
            description,
            span,
            low,
            high,
            latest,
        })
    }
}

fn iso(at_ms: i64) -> String {
    let t = UtcTime::from_ms(at_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

fn clock(at_ms: i64) -> String {
    let t = UtcTime::from_ms(at_ms);
    format!("{:02}:{:02}:{:02} UTC", t.hour, t.minute, t.second)
}

/// What a page says, above its title, of the view it is. Anonymous visitors' pages say nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewNote {
    Silent,
    /// A signed-in role's own view; `public`: the board has a public view to switch to.
    Role {
        role: Role,
        public: bool,
    },
    /// The public view, shown to someone signed in who asked for it.
    PublicToSignedIn,
}

impl ViewNote {
    /// What the snapshot's own page says: its view's note.
    pub fn of(snapshot: &PageSnapshot) -> Self {
        match snapshot.audience {
            Audience::Public => ViewNote::Silent,
            Audience::Role(role) => ViewNote::Role {
                role,
                public: snapshot.public,
            },
        }
    }
}

/// The whole HTML document of a page, saying what its view is.
pub fn document(snapshot: &PageSnapshot, site: &SiteInfo) -> String {
    document_noted(snapshot, site, ViewNote::of(snapshot))
}

/// The whole HTML document of a page, with `note` above its title.
pub fn document_noted(snapshot: &PageSnapshot, site: &SiteInfo, note: ViewNote) -> String {
    let owner = Owner::new();
    let body = owner.with(|| {
        view! {
            <body class="status-page">
                <header class="site-header">
                    <span class="brand">"Status"</span>
                </header>
                {body(snapshot, note)}
                <footer class="status-footer">
                    <p>
                        "Also as "
                        <a href=json_path(&snapshot.slug) type="application/json">"JSON"</a>
                        " and as a "
                        <a href=feed_path(&snapshot.slug) type="application/atom+xml">
                            "feed of status changes"
                        </a>
                        ". Served by Lookout."
                    </p>
                    <div class="theme-slot" inner_html=site.theme_buttons.clone()></div>
                </footer>
            </body>
        }
        .to_html()
    });
    format!(
        "<!DOCTYPE html><html lang=\"en\">{}{body}</html>",
        head(snapshot, site, None)
    )
}

/// The body of a status site's page besides the page itself: the header, `main`, and the footer
/// with the theme buttons.
fn in_shell<V: IntoView>(site: &SiteInfo, main: impl FnOnce() -> V) -> String {
    let owner = Owner::new();
    owner.with(|| {
        view! {
            <body class="status-page">
                <header class="site-header">
                    <span class="brand">"Status"</span>
                </header>
                {main()}
                <footer class="status-footer">
                    <p>"Served by Lookout."</p>
                    <div class="theme-slot" inner_html=site.theme_buttons.clone()></div>
                </footer>
            </body>
        }
        .to_html()
    })
}

/// What a follower's page (of one status page) says: the answers to its forms and the page an
/// e-mail's link opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowerPage {
    /// An address was typed: the same words whatever became of it, so nobody learns who is
    /// subscribed.
    Asked,
    BadAddress,
    /// The page takes no new subscriptions now.
    Closed,
    /// The page an e-mail links to: confirm a pending subscription, or unsubscribe.
    Manage {
        address: String,
        confirmed: bool,
        token: String,
    },
    Confirmed,
    Unsubscribed,
    /// A link that is wrong, was used to unsubscribe, or waited too long to be confirmed.
    UnknownLink,
}

/// The whole HTML document of a follower's page of status page `slug` (titled `page_title`).
pub fn follower_document(
    page_title: &str,
    slug: &str,
    page: &FollowerPage,
    site: &SiteInfo,
) -> String {
    let (heading, words): (&str, String) = match page {
        FollowerPage::Asked => (
            "Check your inbox",
            "If that address takes mail, a message with a link to confirm is on its way. \
             Nothing else is sent until you confirm."
                .to_owned(),
        ),
        FollowerPage::BadAddress => (
            "That is not an e-mail address",
            "Go back and type the address you want the updates at.".to_owned(),
        ),
        FollowerPage::Closed => (
            "No subscriptions right now",
            "This page cannot take new e-mail subscriptions right now. Its feed (Atom) carries \
             the same news."
                .to_owned(),
        ),
        FollowerPage::Manage {
            address, confirmed, ..
        } => (
            if *confirmed {
                "Your updates"
            } else {
                "Confirm your updates"
            },
            if *confirmed {
                format!("{address} gets e-mail when this page has news.")
            } else {
                format!("Confirm that {address} should get e-mail when this page has news.")
            },
        ),
        FollowerPage::Confirmed => (
            "Confirmed",
            "You will get an e-mail when this page has news; each has a link to unsubscribe."
                .to_owned(),
        ),
        FollowerPage::Unsubscribed => (
            "Unsubscribed",
            "You will get no more e-mail from this page.".to_owned(),
        ),
        FollowerPage::UnknownLink => (
            "This link does not work",
            "It is mistyped, was used to unsubscribe, or was not confirmed within 7 days."
                .to_owned(),
        ),
    };
    let forms = match page {
        FollowerPage::Manage {
            confirmed, token, ..
        } => {
            let action = format!("/status/{slug}/subscription");
            Some(view! {
                {(!confirmed).then(|| view! {
                    <form method="post" action=action.clone()>
                        <input type="hidden" name="token" value=token.clone()/>
                        <input type="hidden" name="action" value="confirm"/>
                        <button type="submit">"Confirm"</button>
                    </form>
                })}
                <form method="post" action=action.clone()>
                    <input type="hidden" name="token" value=token.clone()/>
                    <input type="hidden" name="action" value="unsubscribe"/>
                    <button type="submit" class="secondary">
                        {if *confirmed { "Unsubscribe" } else { "Do not subscribe" }}
                    </button>
                </form>
            })
        }
        _ => None,
    };
    let body = in_shell(site, || {
        view! {
            <main class="status follower">
                <p><a href=page_path(slug)>"← " {page_title.to_owned()}</a></p>
                <h1>{heading}</h1>
                <p data-follower-words>{words}</p>
                {forms}
            </main>
        }
    });
    noindex_document(heading, page_title, &body)
}

/// What became of a press of one of a board's controls, for a browser without JavaScript (one
/// with it shows the words in the widget): a heading, the words, and the way back.
pub fn control_outcome_document(
    page_title: &str,
    slug: &str,
    heading: &str,
    words: &str,
    site: &SiteInfo,
) -> String {
    let body = in_shell(site, || {
        view! {
            <main class="status follower">
                <p><a href=page_path(slug)>"← " {page_title.to_owned()}</a></p>
                <h1>{heading.to_owned()}</h1>
                <p data-control-words>{words.to_owned()}</p>
            </main>
        }
    });
    noindex_document(heading, page_title, &body)
}

/// A page of a board's that no search engine should keep (a follower's, a control's outcome):
/// `body` under the board's stylesheets.
fn noindex_document(heading: &str, page_title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"{STYLESHEET}\">\
         <link rel=\"stylesheet\" href=\"{THEME_CSS}\"></head>{body}</html>",
        title = xml_escape(&format!("{heading} · {page_title} · Status")),
    )
}

/// One month of a page's incident history, as its page shows it.
pub struct MonthHistory<'a> {
    pub month: Month,
    /// Opened that month, the most recently opened first.
    pub incidents: &'a [Incident],
    /// The neighbouring months the history has, to link to.
    pub earlier: Option<Month>,
    pub later: Option<Month>,
}

/// The whole HTML document of one month of a page's incident history.
pub fn history_document(
    snapshot: &PageSnapshot,
    history: &MonthHistory,
    site: &SiteInfo,
) -> String {
    let slug = &snapshot.slug;
    let heading = format!("Incidents in {}", history.month.words());
    let incidents = history
        .incidents
        .iter()
        .map(|incident| incident_view(incident, &snapshot.widgets))
        .collect_view();
    let body = in_shell(site, || {
        view! {
                <main class="status incident-history">
                    <p><a href=page_path(slug)>"← " {snapshot.title.clone()}</a></p>
                    <h1>{heading.clone()}</h1>
                    {if history.incidents.is_empty() {
                        view! { <p data-no-incidents>"No incidents were opened this month."</p> }
                            .into_any()
                    } else {
                        view! {
                            <section class="incidents" aria-labelledby="month-incidents">
                                <h2 id="month-incidents">"Opened this month"</h2>
                                {incidents}
                            </section>
                        }
                        .into_any()
                    }}
                    {(history.incidents.len() as i64 >= MONTH_SHOWN).then(|| view! {
                        <p class="notice">"Only the " {MONTH_SHOWN} " most recently opened are shown."</p>
                    })}
                    <nav class="history-months" aria-label="Months">
                        {history.earlier.map(|month| view! {
                            <a href=history_path(slug, Some(month)) rel="prev">"← " {month.words()}</a>
                        })}
                        " "
                        {history.later.map(|month| view! {
                            <a href=history_path(slug, Some(month)) rel="next">{month.words()} " →"</a>
                        })}
                    </nav>
                </main>
        }
    });
    format!(
        "<!DOCTYPE html><html lang=\"en\">{}{body}</html>",
        head(snapshot, site, Some(&heading))
    )
}

/// The document's head, written out by hand: Leptos' `view!` reserves `property`, which
/// OpenGraph tags need. Every value passes through [`xml_escape`], which is also right for HTML
/// attributes and text. `part` names a part of the page (its incident history) in the title.
fn head(snapshot: &PageSnapshot, site: &SiteInfo, part: Option<&str>) -> String {
    let title = xml_escape(&match part {
        Some(part) => format!("{part} · {} · Status", snapshot.title),
        None => format!("{} · Status", snapshot.title),
    });
    let description = xml_escape(&if snapshot.description.is_empty() {
        match snapshot.summary {
            Some(level) => format!("{}: {}", snapshot.title, level.summary()),
            None => snapshot.title.clone(),
        }
    } else {
        snapshot.description.clone()
    });
    let mut head = String::from(
        "<head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\">",
    );
    let _ = write!(
        head,
        "<title>{title}</title><meta name=\"description\" content=\"{description}\">\
         <meta property=\"og:type\" content=\"website\">\
         <meta property=\"og:title\" content=\"{title}\">\
         <meta property=\"og:description\" content=\"{description}\">"
    );
    if let Some(base) = &site.public_url {
        let url = xml_escape(&format!("{base}{}", page_path(&snapshot.slug)));
        let _ = write!(head, "<meta property=\"og:url\" content=\"{url}\">");
    }
    // A draft, or a signed-in role's view: nothing for a search engine.
    if !snapshot.published || snapshot.audience != Audience::Public {
        head.push_str("<meta name=\"robots\" content=\"noindex\">");
    }
    let _ = write!(
        head,
        "<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"{STYLESHEET}\">\
         <link rel=\"stylesheet\" href=\"{THEME_CSS}\">\
         <link rel=\"alternate\" type=\"application/json\" href=\"{json}\">\
         <link rel=\"alternate\" type=\"application/atom+xml\" title=\"Status changes\" \
         href=\"{feed}\">\
         <script src=\"{SCRIPT}\" defer></script></head>",
        json = json_path(&snapshot.slug),
        feed = feed_path(&snapshot.slug),
    );
    head
}

/// A signed-in visitor's note on which view of the board this is, with the way to the other.
fn view_note(note: ViewNote, slug: &str) -> Option<AnyView> {
    let view = match note {
        ViewNote::Silent => return None,
        ViewNote::Role { role, public } => {
            let who = match role {
                Role::Viewer => "a viewer",
                Role::Operator => "an operator",
                Role::Admin => "an admin",
            };
            view! {
                <p class="view-note" role="note" data-view=role.as_str()>
                    "You see this board as " {who} ": every widget your role may read. "
                    {public.then(|| view! {
                        <a href=format!("{}?view=public", page_path(slug))>
                            "See the public view"
                        </a>
                    })}
                </p>
            }
            .into_any()
        }
        ViewNote::PublicToSignedIn => view! {
            <p class="view-note" role="note" data-view="public">
                "Public view: what visitors without an account see. "
                <a href=page_path(slug)>"Back to your view"</a>
            </p>
        }
        .into_any(),
    };
    Some(view)
}

fn body(snapshot: &PageSnapshot, note: ViewNote) -> AnyView {
    let now = snapshot.generated_at_ms;
    let summary = snapshot.summary.map(|level| {
        view! {
            <section class=format!("status-summary level-{}", level.key()) aria-label="Summary" data-summary>
                <p>
                    <span class="dot" aria-hidden="true"></span>
                    <strong data-summary-text>{level.summary()}</strong>
                </p>
            </section>
        }
    });
    let widgets = snapshot
        .widgets
        .iter()
        .map(|widget| widget_view(widget, &snapshot.incidents, &snapshot.slug, now))
        .collect_view();
    view! {
        <main
            class="status"
            id="status"
            data-json=json_path(&snapshot.slug)
            data-ttl=snapshot.ttl_seconds
            data-live=snapshot.live_filters()
        >
            {(!snapshot.published).then(|| view! {
                <p class="draft-notice" role="note">
                    "Draft preview: only admins see this page until it is published."
                </p>
            })}
            {view_note(note, &snapshot.slug)}
            <h1>{snapshot.title.clone()}</h1>
            {(!snapshot.description.is_empty()).then(|| view! {
                <p class="status-description">{snapshot.description.clone()}</p>
            })}
            {summary}
            {incidents_view(&snapshot.incidents, &snapshot.widgets, &snapshot.slug, snapshot.public)}
            {maintenance_view(&snapshot.maintenance, &snapshot.widgets)}
            <p class="status-updated">
                "Updated "
                <time datetime=iso(now) data-generated-ms=now>{format!("at {}", clock(now))}</time>
                {format!("; refreshed every {} s.", snapshot.ttl_seconds)}
            </p>
            <div class="status-widgets">{widgets}</div>
            {snapshot.subscribable.then(|| view! {
                <section class="follow" aria-labelledby="follow">
                    <h2 id="follow">"Get updates by e-mail"</h2>
                    <form method="post" action=format!("/status/{}/subscribe", snapshot.slug)>
                        <label for="follow-email">"E-mail address"</label>
                        <input id="follow-email" type="email" name="email" required
                            maxlength="254" autocomplete="email"/>
                        <button type="submit">"Subscribe"</button>
                    </form>
                    <p class="notice">
                        "You confirm by e-mail; every message has a link to unsubscribe."
                    </p>
                </section>
            })}
        </main>
    }
    .into_any()
}

/// Open incidents on top, each with its updates, then the past ones, and the link to the
/// month-by-month history; nothing without any.
fn incidents_view(
    incidents: &[Incident],
    widgets: &[WidgetSnapshot],
    slug: &str,
    public: bool,
) -> Option<AnyView> {
    if incidents.is_empty() {
        return None;
    }
    let one = |incident: &Incident| incident_view(incident, widgets);
    let open: Vec<_> = incidents
        .iter()
        .filter(|i| i.resolved_ms.is_none())
        .map(one)
        .collect();
    let past: Vec<_> = incidents
        .iter()
        .filter(|i| i.resolved_ms.is_some())
        .map(one)
        .collect();
    // The month pages are the public view's: a board without one has none.
    let history = public.then(|| history_path(slug, None));
    Some(
        view! {
            {(!open.is_empty()).then(|| view! {
                <section class="incidents open" aria-labelledby="incidents-open">
                    <h2 id="incidents-open">"Current incidents"</h2>
                    {open}
                </section>
            })}
            <section class="incidents past" aria-labelledby="incidents-past">
                {(!past.is_empty()).then(|| view! {
                    <h2 id="incidents-past">"Past incidents"</h2>
                    {past}
                })}
                {history.map(|history| view! {
                    <p><a href=history data-incident-history>"Incident history, month by month"</a></p>
                })}
            </section>
        }
        .into_any(),
    )
}

/// The address of a page's incident history: of `month`, or of the current month.
pub fn history_path(slug: &str, month: Option<Month>) -> String {
    match month {
        Some(month) => format!("/status/{slug}/incidents/{}", month.key()),
        None => format!("/status/{slug}/incidents"),
    }
}

/// One incident with its updates and the widgets it affects (among those shown).
fn incident_view(incident: &Incident, widgets: &[WidgetSnapshot]) -> AnyView {
    let updates = incident
        .updates
        .iter()
        .map(|update| {
            view! {
                <li>
                    <strong>{update.status.words()}</strong>
                    " — "
                    <time datetime=iso(update.at_ms)>{format_utc_minute(update.at_ms)}</time>
                    <p class="incident-message">{update.message.clone()}</p>
                </li>
            }
        })
        .collect_view();
    let state = if incident.resolved_ms.is_some() {
        "resolved"
    } else {
        "open"
    };
    let affected: Vec<AnyView> = incident
        .widgets
        .iter()
        .filter_map(|id| widgets.iter().find(|widget| widget.id == *id))
        .enumerate()
        .map(|(at, widget)| {
            view! {
                {(at > 0).then_some(", ")}
                <a href=format!("#w-{}", widget.id)>{widget.label.clone()}</a>
            }
            .into_any()
        })
        .collect();
    view! {
        <article class=format!("incident {state}") id=format!("incident-{}", incident.id)
            data-incident=incident.id>
            <h3>{incident.title.clone()}</h3>
            {(!affected.is_empty()).then(|| view! {
                <p class="incident-affects" data-affects>"Affects: " {affected}</p>
            })}
            <ul class="incident-updates">{updates}</ul>
        </article>
    }
    .into_any()
}

/// Maintenance in effect, then what is planned within two weeks; nothing without any.
fn maintenance_view(windows: &[MaintenanceShown], widgets: &[WidgetSnapshot]) -> Option<AnyView> {
    if windows.is_empty() {
        return None;
    }
    let one = |window: &MaintenanceShown| {
        let covers = match &window.widgets {
            None => "The whole page.".to_owned(),
            Some(ids) => {
                let labels: Vec<&str> = widgets
                    .iter()
                    .filter(|widget| ids.contains(&widget.id))
                    .map(|widget| widget.label.as_str())
                    .collect();
                format!("Affects: {}.", labels.join(", "))
            }
        };
        let repeat = match window.repeat {
            Repeat::Once => None,
            repeat => Some(format!(" ({})", repeat.words().to_lowercase())),
        };
        let state = if window.active { "active" } else { "planned" };
        view! {
            <article class=format!("maintenance {state}") data-maintenance=window.id>
                <h3>{window.title.clone()}</h3>
                <p>
                    <time datetime=iso(window.from_ms)>{format_utc_minute(window.from_ms)}</time>
                    " to "
                    <time datetime=iso(window.to_ms)>{format_utc_minute(window.to_ms)}</time>
                    {repeat}
                </p>
                <p class="maintenance-covers">{covers}</p>
                {(!window.message.is_empty()).then(|| view! {
                    <p class="incident-message">{window.message.clone()}</p>
                })}
            </article>
        }
    };
    let active: Vec<_> = windows.iter().filter(|w| w.active).map(one).collect();
    let planned: Vec<_> = windows.iter().filter(|w| !w.active).map(one).collect();
    Some(
        view! {
            {(!active.is_empty()).then(|| view! {
                <section class="incidents maintenance-now" aria-labelledby="maintenance-now">
                    <h2 id="maintenance-now">"Maintenance in progress"</h2>
                    {active}
                </section>
            })}
            {(!planned.is_empty()).then(|| view! {
                <section class="incidents maintenance-planned" aria-labelledby="maintenance-planned">
                    <h2 id="maintenance-planned">"Planned maintenance"</h2>
                    {planned}
                </section>
            })}
        }
        .into_any(),
    )
}

/// "12 s ago" at the snapshot's time, with the moment itself for machines and the page's script.
fn age(at_ms: i64, now: i64) -> AnyView {
    view! {
        <time datetime=iso(at_ms) data-at-ms=at_ms title=format_utc(at_ms)>
            {format_age(now - at_ms)}
        </time>
    }
    .into_any()
}

fn widget_view(widget: &WidgetSnapshot, incidents: &[Incident], slug: &str, now: i64) -> AnyView {
    let heading = format!("w-{}-label", widget.id);
    let seen = widget.last_seen_ms.map(|at_ms| {
        view! { <p class="seen">"Last message " {age(at_ms, now)}</p> }
    });
    let value_line = || match &widget.text {
        Some(text) => view! { <p class="value" data-value>{text.clone()}</p> }.into_any(),
        None => view! { <p class="value none" data-value>"No value yet"</p> }.into_any(),
    };
    let body = match widget.kind {
        WidgetKind::Value => view! {
            {value_line()}
            {seen}
            {csv_link(slug, widget.id)}
        }
        .into_any(),
        WidgetKind::Status => {
            let level = widget.status.unwrap_or(Level::Unknown);
            view! {
                <p class=format!("level level-{}", level.key()) data-level>
                    <span class="dot" aria-hidden="true"></span>
                    <span data-level-text>{level.label()}</span>
                </p>
                {widget.text.clone().map(|text| view! { <p class="value small" data-value>{text}</p> })}
                {seen}
                {embeds(slug, widget.id, "History (CSV)")}
            }
            .into_any()
        }
        WidgetKind::LastSeen => view! {
            {match widget.last_seen_ms {
                Some(at_ms) => view! { <p class="value" data-value>{age(at_ms, now)}</p> }.into_any(),
                None => view! { <p class="value none" data-value>"Never"</p> }.into_any(),
            }}
            {csv_link(slug, widget.id)}
        }
        .into_any(),
        WidgetKind::Sparkline | WidgetKind::History => {
            let figure = widget.plot.as_ref().map(|plot| {
                view! {
                    <figure class="plot">
                        <div class="plot-drawing" data-plot inner_html=plot.svg.clone()></div>
                        <figcaption>
                            "Low " <span data-plot-low>{plot.low.clone()}</span>
                            ", high " <span data-plot-high>{plot.high.clone()}</span>
                            ", " <span data-plot-span>{plot.span.clone()}</span> "."
                        </figcaption>
                    </figure>
                }
            });
            view! {
                {value_line()}
                {match figure {
                    Some(figure) => figure.into_any(),
                    None => view! {
                        <figure class="plot empty">
                            <figcaption>"No numeric values in this period."</figcaption>
                        </figure>
                    }
                    .into_any(),
                }}
                {seen}
                {csv_link(slug, widget.id)}
            }
            .into_any()
        }
        WidgetKind::Chart => view! {
            {widget.chart.as_ref().map(|chart| multi_chart(chart, widget.id, now))}
            {csv_link(slug, widget.id)}
        }
        .into_any(),
        WidgetKind::Table => topic_table(&widget.rows, &widget.label, now),
        WidgetKind::Incidents => view! {
            <p class="value small" data-value>{widget.text.clone()}</p>
            {widget.attention.as_ref().map(|attention| attention_lists(attention, now))}
        }
        .into_any(),
        WidgetKind::Devices => view! {
            <p class="value small" data-value>{widget.text.clone()}</p>
            {device_table(&widget.devices, &widget.label, now)}
        }
        .into_any(),
        WidgetKind::Gauge => view! {
            {value_line()}
            {widget.gauge.as_ref().map(|gauge| view! {
                <figure class="gauge">
                    <div class="gauge-drawing" data-gauge inner_html=gauge.svg.clone()></div>
                    <figcaption data-gauge-scale>{gauge.scale_words.clone()}</figcaption>
                </figure>
            })}
            {seen}
            {csv_link(slug, widget.id)}
        }
        .into_any(),
        WidgetKind::Text => view! {
            <div class="markdown" inner_html=widget.html.clone().unwrap_or_default()></div>
        }
        .into_any(),
        WidgetKind::UptimeBar => view! {
            {uptime_bar(&widget.days)}
            {embeds(slug, widget.id, "Days (CSV)")}
        }
        .into_any(),
        WidgetKind::Uptime => view! {
            {uptime_figures(&widget.uptime)}
            {embeds(slug, widget.id, "Days (CSV)")}
        }
        .into_any(),
        WidgetKind::Button | WidgetKind::Switch | WidgetKind::Slider => view! {
            {value_line()}
            {seen}
            {widget.control.map(|control| {
                let now = widget.value.as_ref().and_then(Shown::as_number);
                control_form(control, now, widget.id, slug)
            })}
        }
        .into_any(),
    };
    view! {
        <section
            class=match widget.width {
                Width::Normal => format!("status-widget widget-{}", widget.kind.key()),
                width => format!("status-widget widget-{} width-{}", widget.kind.key(), width.key()),
            }
            id=format!("w-{}", widget.id)
            aria-labelledby=heading
        >
            <h2 id=heading.clone()>{widget.label.clone()}</h2>
            {widget.maintenance.then(|| view! {
                <p class="badge maintenance" data-under-maintenance>"Under maintenance"</p>
            })}
            {incidents
                .iter()
                .filter(|incident| widget.incidents.contains(&incident.id))
                .map(|incident| view! {
                    <p class="badge incident" data-affected-by=incident.id>
                        <a href=format!("#incident-{}", incident.id)>
                            {format!("{}: {}", incident.status.words(), incident.title)}
                        </a>
                    </p>
                })
                .collect_view()}
            {body}
        </section>
    }
    .into_any()
}

/// A control's buttons, posting to the board (`/status/<slug>/control`): the widget and what is
/// asked, never a topic or a payload, which the server takes from the board. A role that may not
/// publish to the control's topic is told so instead.
fn control_form(control: ControlShown, now: Option<f64>, widget: i64, slug: &str) -> AnyView {
    if !control.usable {
        return view! { <p class="notice">"Your role may not use this control."</p> }.into_any();
    }
    let buttons = if let Some(bounds) = control.slider {
        // A number field works without JavaScript; the page's script adds a slider beside it.
        // It starts at the state shown when that is a number the slider offers.
        let start = now.filter(|now| bounds.admits(*now)).unwrap_or(bounds.min);
        let field = format!("control-{widget}-value");
        view! {
            <label for=field.clone()>"Set to "</label>
            <input type="number" id=field name="value" required data-slider
                min=bounds.min max=bounds.max step=bounds.step value=start/>
            <button type="submit" name="action" value="set">"Set"</button>
        }
        .into_any()
    } else if control.switch {
        view! {
            <button type="submit" name="action" value="on">"On"</button>
            <button type="submit" name="action" value="off">"Off"</button>
        }
        .into_any()
    } else {
        view! { <button type="submit" name="action" value="press">"Send"</button> }.into_any()
    };
    view! {
        <form method="post" action=control_path(slug) class="control" data-control=widget>
            <input type="hidden" name="widget" value=widget/>
            {buttons}
        </form>
        <p class="control-outcome" role="status" data-control-outcome></p>
    }
    .into_any()
}

/// A multi-series chart: the ranges to choose from (radio buttons: the stylesheet shows the
/// drawing of the one checked, with or without JavaScript), each range's drawing, and the
/// legend, which tells each series apart by its order, its line's dash pattern and its colour.
fn multi_chart(chart: &ChartShown, widget: i64, now: i64) -> AnyView {
    let group = format!("w-{widget}-range");
    let choices = chart
        .ranges
        .iter()
        .map(|range| {
            let key = range.range.key();
            let id = format!("{group}-{key}");
            view! {
                <input type="radio" name=group.clone() id=id.clone() value=key
                    checked=range.range == chart.range/>
                <label for=id>{range.range.label()}</label>
            }
        })
        .collect_view();
    let views = chart
        .ranges
        .iter()
        .map(|range| {
            let drawing = match &range.svg {
                Some(svg) => view! {
                    <div class="plot-drawing" data-chart-plot inner_html=svg.clone()></div>
                }
                .into_any(),
                None => view! {
                    <div class="plot-drawing" data-chart-plot>
                        <p class="notice">"No numeric values in this period."</p>
                    </div>
                }
                .into_any(),
            };
            view! {
                <figure class="plot chart-view" data-range=range.range.key()>
                    {drawing}
                    <figcaption>
                        {format!("Last {}, ", range.range.label())}
                        <span data-chart-span>{range.span.clone()}</span> "."
                    </figcaption>
                </figure>
            }
        })
        .collect_view();
    let legend = chart
        .legend
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            view! {
                <li data-series=index>
                    <svg class="series-key" width="32" height="12" aria-hidden="true">
                        <line class=format!("line series-{index}") x1="2" y1="6" x2="30" y2="6"/>
                        <circle class=format!("point series-{index}") cx="16" cy="6" r="3"/>
                    </svg>
                    // One item beside the key, so the words read as one line.
                    <span>
                        <span class="series-label">{entry.label.clone()}</span>
                        ": "
                        <span class="series-value" data-series-value>
                            {entry.text.clone().unwrap_or_else(|| "No value yet".to_owned())}
                        </span>
                        {entry.last_seen_ms.map(|at_ms| view! { " (" {age(at_ms, now)} ")" })}
                    </span>
                </li>
            }
        })
        .collect_view();
    view! {
        <div class="multi-chart" data-chart>
            <fieldset class="chart-ranges">
                <legend>"Range"</legend>
                {choices}
            </fieldset>
            {views}
            <ol class="chart-legend" aria-label="Series">{legend}</ol>
        </div>
    }
    .into_any()
}

fn csv_link(slug: &str, widget: i64) -> AnyView {
    view! {
        <p class="embed">
            <a href=csv_path(slug, widget) type="text/csv">"History (CSV)"</a>
        </p>
    }
    .into_any()
}

/// A share of time as a page writes it: never rounded up to 100 % while there was an outage,
/// and "No data" rather than a figure when nothing was seen.
pub fn percent_text(percent: Option<f64>, down_ms: i64) -> String {
    match percent {
        None => "No data".to_owned(),
        Some(_) if down_ms == 0 => "100 %".to_owned(),
        Some(percent) => format!("{:.2} %", (percent * 100.0).floor() / 100.0),
    }
}

/// How a day of an uptime bar is coloured: by its availability, grey without data, the colour
/// of maintenance when uncounted maintenance is all that was left out of a day without data.
fn day_grade(day: &UptimeDay) -> &'static str {
    match day.percent {
        None if day.maintenance_ms > 0 && day.maintenance_ms >= day.blind_ms => "maintenance",
        None => "none",
        Some(_) if day.down_ms == 0 => "up",
        Some(percent) if percent >= 99.0 => "minor",
        Some(percent) if percent >= 90.0 => "major",
        Some(_) => "down",
    }
}

/// A day in words: its date, its figure, and when it was down (the first few).
fn day_words(day: &UptimeDay) -> String {
    const LISTED: usize = 3;
    if day_grade(day) == "maintenance" {
        return format!(
            "{}: under maintenance for {} (not counted)",
            day.date,
            format_span(day.maintenance_ms)
        );
    }
    let mut words = format!("{}: {}", day.date, percent_text(day.percent, day.down_ms));
    if day.percent.is_none() {
        words.push_str(" (no data)");
    } else if !day.outages.is_empty() {
        let listed: Vec<String> = day
            .outages
            .iter()
            .take(LISTED)
            .map(|outage| {
                format!(
                    "{}–{}",
                    clock_minute(outage.from_ms),
                    clock_minute(outage.to_ms)
                )
            })
            .collect();
        let _ = write!(
            words,
            "; down {} in all: {} UTC",
            format_span(day.down_ms),
            listed.join(", ")
        );
        if day.outages.len() > LISTED {
            let _ = write!(words, " and {} more", day.outages.len() - LISTED);
        }
    }
    if day.maintenance_ms > 0 {
        let _ = write!(
            words,
            "; under maintenance for {} (not counted)",
            format_span(day.maintenance_ms)
        );
    }
    let unwatched_ms = day.blind_ms - day.maintenance_ms;
    if unwatched_ms > 0 && day.percent.is_some() {
        let _ = write!(words, "; not watched for {}", format_span(unwatched_ms));
    }
    words
}

fn clock_minute(at_ms: i64) -> String {
    let t = UtcTime::from_ms(at_ms);
    format!("{:02}:{:02}", t.hour, t.minute)
}

/// One cell per day, each with its figure and outages as its tooltip and as text for screen
/// readers; the days with outages listed below in plain text, readable without a mouse.
fn uptime_bar(days: &[UptimeDay]) -> AnyView {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return view! { <p class="value none">"No data yet."</p> }.into_any();
    };
    let cells = days
        .iter()
        .map(|day| {
            let words = day_words(day);
            let title = words.clone();
            // A day partly left out for maintenance keeps its grade and wears a cap.
            let maintained = if day.maintenance_ms > 0 && day.percent.is_some() {
                " day-maintained"
            } else {
                ""
            };
            view! {
                <li class=format!("day day-{}{maintained}", day_grade(day)) title=title>
                    <span class="visually-hidden">{words}</span>
                </li>
            }
        })
        .collect_view();
    let (up, down): (i64, i64) = days.iter().fold((0, 0), |(up, down), day| {
        (up + day.up_ms, down + day.down_ms)
    });
    let total = (up + down > 0).then(|| 100.0 * up as f64 / (up + down) as f64);
    let bad_days: Vec<String> = days
        .iter()
        .rev()
        .filter(|day| day.down_ms > 0)
        .map(day_words)
        .collect();
    let outages = if bad_days.is_empty() {
        view! { <p class="uptime-outages">"No outages in this period."</p> }.into_any()
    } else {
        let count = bad_days.len();
        let items = bad_days
            .into_iter()
            .map(|words| view! { <li>{words}</li> })
            .collect_view();
        view! {
            <details class="uptime-outages">
                <summary>{format!("Days with outages: {count}")}</summary>
                <ul>{items}</ul>
            </details>
        }
        .into_any()
    };
    view! {
        // Not marked `data-value`: the page's script refreshes values, and this is none.
        <p class="value">
            {percent_text(total, down)}
            <span class="small">{period_words(days)}</span>
        </p>
        <ol class="uptime-days" aria-label=format!("Availability per day from {} to {} (UTC)", first.date, last.date)>
            {cells}
        </ol>
        <p class="uptime-span" aria-hidden="true">
            <span>{first.date.clone()}</span>
            <span>"Today"</span>
        </p>
        {outages}
    }
    .into_any()
}

/// " over 90 days", and how many of them Lookout has data of when not all.
fn period_words(days: &[UptimeDay]) -> String {
    let seen = days.iter().filter(|day| day.percent.is_some()).count();
    match seen {
        _ if seen == days.len() => format!(" over {} days", days.len()),
        1 => format!(" over {} days (1 day with data)", days.len()),
        seen => format!(" over {} days ({seen} days with data)", days.len()),
    }
}

fn uptime_figures(figures: &[UptimeFigure]) -> AnyView {
    let items = figures
        .iter()
        .map(|figure| {
            let window = window_words(&figure.window);
            view! {
                <div class="uptime-figure">
                    <dt>{window}</dt>
                    <dd data-window=figure.window.clone()>
                        {percent_text(figure.percent, figure.down_ms)}
                    </dd>
                </div>
            }
        })
        .collect_view();
    view! { <dl class="uptime-figures">{items}</dl> }.into_any()
}

fn window_words(window: &str) -> String {
    match window.strip_suffix('d') {
        Some(days) => format!("{days} days"),
        None => format!("{} hours", window.trim_end_matches('h')),
    }
}

/// Links to a widget's badge and its CSV, which `csv` names.
fn embeds(slug: &str, widget: i64, csv: &'static str) -> AnyView {
    view! {
        <p class="embed">
            <a href=badge_path(slug, widget)>"Badge (SVG)"</a>
            " · "
            <a href=csv_path(slug, widget) type="text/csv">{csv}</a>
        </p>
    }
    .into_any()
}

fn topic_table(rows: &[TableRow], label: &str, now: i64) -> AnyView {
    if rows.is_empty() {
        return view! { <p class="value none">"No topics yet."</p> }.into_any();
    }
    let rows = rows
        .iter()
        .map(|row| {
            view! {
                <tr data-topic=row.topic.clone()>
                    <th scope="row">{row.topic.clone()}</th>
                    <td data-value>{row.text.clone().unwrap_or_else(|| "—".to_owned())}</td>
                    <td>{age(row.last_seen_ms, now)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="status-table">
            <caption class="visually-hidden">{label.to_owned()}</caption>
            <thead>
                <tr>
                    <th scope="col">"Topic"</th>
                    <th scope="col">"Value"</th>
                    <th scope="col">"Last message"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// An incidents summary's lists: each incident links to where its board tells it.
fn attention_lists(attention: &AttentionShown, now: i64) -> AnyView {
    let incidents = (!attention.incidents.is_empty()).then(|| {
        let items = attention
            .incidents
            .iter()
            .map(|incident| {
                let href = format!("{}#incident-{}", page_path(&incident.slug), incident.id);
                view! {
                    <li data-incident=incident.id>
                        <a href=href>{incident.title.clone()}</a>
                        " · " {incident.status.clone()} " on " {incident.board.clone()}
                        " · opened " {age(incident.opened_ms, now)}
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="attention incidents">{items}</ul> }
    });
    let alerts = (!attention.alerts.is_empty()).then(|| {
        let items = attention
            .alerts
            .iter()
            .map(|alert| {
                view! {
                    <li data-alert-severity=alert.severity.clone()>
                        <strong>{alert.name.clone()}</strong>
                        " · " {alert.subject.clone()}
                        " · firing since " {age(alert.since_ms, now)}
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="attention alerts">{items}</ul> }
    });
    view! { {incidents} {alerts} }.into_any()
}

fn device_table(rows: &[DeviceRow], label: &str, now: i64) -> Option<AnyView> {
    if rows.is_empty() {
        return None;
    }
    let rows = rows
        .iter()
        .map(|row| {
            view! {
                <tr data-device=row.name.clone()>
                    <th scope="row">{row.name.clone()}</th>
                    <td>
                        <span class=format!("level level-{}", row.status.key()) data-level
                            title=row.reason.clone()>
                            <span class="dot" aria-hidden="true"></span>
                            <span data-level-text>{row.status_text.clone()}</span>
                        </span>
                    </td>
                    <td>{row.last_seen_ms.map(|at_ms| age(at_ms, now))}</td>
                </tr>
            }
        })
        .collect_view();
    Some(
        view! {
            <table class="status-table">
                <caption class="visually-hidden">{label.to_owned()}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Device"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Last message"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any(),
    )
}

/// The Atom feed of a page's status changes, newest first.
pub fn feed(snapshot: &PageSnapshot, site: &SiteInfo) -> String {
    let base = site.public_url.clone().unwrap_or_default();
    let page = format!("{base}{}", page_path(&snapshot.slug));
    let updated = snapshot
        .changes
        .first()
        .map(|change| change.at_ms)
        .into_iter()
        .chain(
            snapshot
                .incidents
                .iter()
                .flat_map(|incident| incident.updates.first().map(|update| update.at_ms)),
        )
        .chain(
            snapshot
                .maintenance
                .iter()
                .map(|window| window.announced_ms),
        )
        .max()
        .unwrap_or(snapshot.generated_at_ms);
    let mut xml = String::new();
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>{title}: status changes</title>\n\
         <id>tag:lookout,2026:status/{slug}</id>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{base}{feed}\"/>\n\
         <updated>{updated}</updated>\n\
         <author><name>{title}</name></author>\n",
        title = xml_escape(&snapshot.title),
        slug = snapshot.slug,
        page = xml_escape(&page),
        base = xml_escape(&base),
        feed = feed_path(&snapshot.slug),
        updated = iso(updated),
    );
    for incident in &snapshot.incidents {
        for update in &incident.updates {
            let _ = write!(
                xml,
                "<entry>\n<title>{title}: {status}</title>\n\
                 <id>tag:lookout,2026:status/{slug}/incident/{id}/{at_ms}</id>\n\
                 <link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n\
                 <updated>{at}</updated>\n\
                 <summary>{message}</summary>\n</entry>\n",
                title = xml_escape(&incident.title),
                status = update.status.words(),
                slug = snapshot.slug,
                id = incident.id,
                at_ms = update.at_ms,
                page = xml_escape(&page),
                at = iso(update.at_ms),
                message = xml_escape(&update.message),
            );
        }
    }
    for window in &snapshot.maintenance {
        let _ = write!(
            xml,
            "<entry>\n<title>Maintenance: {title}</title>\n\
             <id>tag:lookout,2026:status/{slug}/maintenance/{id}/{from_ms}</id>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n\
             <updated>{announced}</updated>\n\
             <summary>From {from} to {to}{repeat}.{message}</summary>\n</entry>\n",
            title = xml_escape(&window.title),
            slug = snapshot.slug,
            id = window.id,
            from_ms = window.from_ms,
            page = xml_escape(&page),
            announced = iso(window.announced_ms),
            from = format_utc_minute(window.from_ms),
            to = format_utc_minute(window.to_ms),
            repeat = match window.repeat {
                Repeat::Once => String::new(),
                repeat => format!(" ({})", repeat.words().to_lowercase()),
            },
            message = if window.message.is_empty() {
                String::new()
            } else {
                format!(" {}", xml_escape(&window.message))
            },
        );
    }
    for change in &snapshot.changes {
        let from = change.from.map(Level::label).unwrap_or("No record");
        let _ = write!(
            xml,
            "<entry>\n<title>{label}: {to}</title>\n\
             <id>tag:lookout,2026:status/{slug}/change/{id}</id>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n\
             <updated>{at}</updated>\n\
             <summary>{label} changed from {from} to {to} at {when}.</summary>\n</entry>\n",
            label = xml_escape(&change.label),
            to = change.to.label(),
            slug = snapshot.slug,
            id = change.id,
            page = xml_escape(&page),
            at = iso(change.at_ms),
            when = format_utc(change.at_ms),
        );
    }
    xml.push_str("</feed>\n");
    xml
}

/// An uptime widget's days as CSV: the date, the share up (empty without data), and the time
/// up, down, unknown and not watched, in seconds. The days of the bar, or the last 90 for the
/// percentages (which the JSON gives per window).
pub fn uptime_csv(days: &[UptimeDay]) -> String {
    let mut csv = String::from(
        "date,uptime_percent,up_seconds,down_seconds,unknown_seconds,no_data_seconds,outages\n",
    );
    for day in days {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            day.date,
            day.percent.map(|p| format!("{p:.4}")).unwrap_or_default(),
            day.up_ms / 1000,
            day.down_ms / 1000,
            day.unknown_ms / 1000,
            day.blind_ms / 1000,
            day.outages.len(),
        );
    }
    csv
}

/// A widget's series as CSV: time (ISO 8601, UTC), Unix milliseconds, value.
pub fn csv(widget: &WidgetSnapshot) -> String {
    let mut csv = String::from("time,unix_ms,value\n");
    for point in &widget.series {
        let _ = writeln!(csv, "{},{},{}", iso(point.at_ms), point.at_ms, point.value);
    }
    csv
}

/// A multi-series chart's series as CSV, over the range it shows first: time (ISO 8601, UTC),
/// Unix milliseconds, the series' label and its value; each series' rows together, in the
/// legend's order.
pub fn chart_csv(chart: &ChartShown) -> String {
    let mut csv = String::from("time,unix_ms,series,value\n");
    let Some(range) = chart.shown() else {
        return csv;
    };
    for (entry, points) in chart.legend.iter().zip(&range.series) {
        let label = csv_field(&entry.label);
        for point in points {
            let _ = writeln!(
                csv,
                "{},{},{label},{}",
                iso(point.at_ms),
                point.at_ms,
                point.value
            );
        }
    }
    csv
}

/// A CSV field as RFC 4180 quotes it, when it must be; a leading `=`, `+`, `-` or `@` is made
/// text, so a spreadsheet never reads an admin's label as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// A badge in the usual two-part style: the label, then the status in its colour.
pub fn badge(label: &str, level: Level) -> String {
    badge_svg(label, &level.label().to_lowercase(), level)
}

/// An uptime badge: the label and window, then the figure, coloured like a status.
pub fn uptime_badge(label: &str, figure: &UptimeFigure) -> String {
    let level = match figure.percent {
        None => Level::Unknown,
        Some(_) if figure.down_ms == 0 => Level::Up,
        Some(percent) if percent >= 99.0 => Level::Up,
        Some(percent) if percent >= 95.0 => Level::Degraded,
        Some(_) => Level::Down,
    };
    let label = format!("{label} ({})", figure.window);
    badge_svg(
        &label,
        &percent_text(figure.percent, figure.down_ms).to_lowercase(),
        level,
    )
}

fn badge_svg(label: &str, status: &str, level: Level) -> String {
    // Verdana-ish 11 px averages about 6.5 px per character.
    let text_width = |text: &str| 10.0 + 6.5 * text.chars().count() as f64;
    let label_width = text_width(label).min(400.0);
    let status_width = text_width(status);
    let width = label_width + status_width;
    let colour = match level {
        Level::Up => "#2e7d32",
        Level::Degraded => "#b45309",
        Level::Down => "#c62828",
        Level::Unknown => "#555555",
    };
    let status = xml_escape(status);
    let label = xml_escape(label);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"20\" role=\"img\" \
         aria-label=\"{label}: {status}\"><title>{label}: {status}</title>\
         <rect width=\"{label_width:.0}\" height=\"20\" fill=\"#333\"/>\
         <rect x=\"{label_width:.0}\" width=\"{status_width:.0}\" height=\"20\" fill=\"{colour}\"/>\
         <g fill=\"#fff\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"5\" y=\"14\" textLength=\"{label_text:.0}\" lengthAdjust=\"spacingAndGlyphs\">{label}</text>\
         <text x=\"{status_x:.0}\" y=\"14\">{status}</text></g></svg>",
        label_text = label_width - 10.0,
        status_x = label_width + 5.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at_ms: i64, value: f64) -> Point {
        Point { at_ms, value }
    }

    /// The line's path data in a drawing.
    /// The line's path data; empty when there is no line (a lone value is a dot).
    fn line_of(svg: &str) -> &str {
        let Some(start) = svg.find("class=\"line\" d=\"") else {
            return "";
        };
        let start = start + 16;
        &svg[start..start + svg[start..].find('"').unwrap()]
    }

    #[test]
    fn a_gauge_draws_from_the_left_end_over_the_top_to_its_value() {
        let scale = Scale {
            min: 0.0,
            max: 10.0,
        };
        assert_eq!(
            arc(0.0, 0.5, DIAL_R),
            "M22.00 100.00A78 78 0 0 1 100.00 22.00"
        );
        let half = Gauge::of(
            scale,
            Some(5.0),
            (Worse::Above, None, Some(8.0)),
            Level::Up,
            "",
        );
        assert!(half.svg.contains("<path class=\"gauge-value zone-up\" d=\"M22.00 100.00A78 78 0 0 1 100.00 22.00\"/>"), "{}", half.svg);
        assert_eq!(half.scale_words, "0 to 10; down from 8");
        // At the bottom of the dial there is no arc, only the needle; off it, the needle
        // stays at the end; without a number, neither.
        let bottom = Gauge::of(scale, Some(-3.0), (Worse::Above, None, None), Level::Up, "");
        assert!(!bottom.svg.contains("gauge-value"), "{}", bottom.svg);
        assert!(
            bottom.svg.contains("cx=\"22.00\" cy=\"100.00\""),
            "{}",
            bottom.svg
        );
        let none = Gauge::of(scale, None, (Worse::Above, None, None), Level::Unknown, "");
        assert!(!none.svg.contains("gauge-needle"), "{}", none.svg);
    }

    #[test]
    fn a_plot_spans_its_box_and_a_flat_series_draws_mid_height() {
        let series = [point(0, 1.0), point(50, 3.0), point(100, 2.0)];
        let plot = Plot::of(&series, 0, 100, 10, WidgetKind::Sparkline, "").unwrap();
        // From side to side, between the sparkline's top and bottom margins.
        assert_eq!(line_of(&plot.svg), "M2.00,88.00 L50.00,12.00 L98.00,50.00");
        assert_eq!(
            (plot.low.as_str(), plot.high.as_str(), plot.latest.as_str()),
            ("1", "3", "2")
        );
        assert!(!plot.svg.contains("<text"), "a sparkline has no labels");
        let flat = [point(0, 5.0), point(100, 5.0)];
        let plot = Plot::of(&flat, 0, 100, 10, WidgetKind::Sparkline, "").unwrap();
        assert_eq!(line_of(&plot.svg), "M2.00,50.00 L98.00,50.00");
        assert!(Plot::of(&[], 0, 100, 10, WidgetKind::History, "").is_none());
    }

    #[test]
    fn a_single_value_is_a_dot_with_its_value() {
        let now = 100 * 3_600_000;
        let step = 1_800_000;
        let single = [point(now - 60_000, 7.0)];
        let plot = Plot::of(
            &single,
            now - 7 * 24 * 3_600_000,
            now,
            step,
            WidgetKind::History,
            "°C",
        )
        .unwrap();
        assert_eq!(line_of(&plot.svg), "", "a line needs two points");
        assert_eq!(plot.svg.matches("<circle").count(), 1, "{}", plot.svg);
        assert!(plot.svg.contains(">7 °C</text>"), "{}", plot.svg);
        assert!(
            plot.description.starts_with("1 value from "),
            "{}",
            plot.description
        );
        let spark = Plot::of(
            &single,
            now - 24 * 3_600_000,
            now,
            step,
            WidgetKind::Sparkline,
            "",
        )
        .unwrap();
        assert_eq!(spark.svg.matches("<circle").count(), 1, "{}", spark.svg);
    }

    #[test]
    fn a_short_series_fills_the_chart_and_a_silence_is_a_gap() {
        let now = 100 * 3_600_000;
        let (minute, step) = (60_000, 1_800_000);
        // Ninety minutes of values in a week's range: drawn from the first value to now.
        let series = [
            point(now - 90 * minute, 1.0),
            point(now - 60 * minute, 2.0),
            point(now - 30 * minute, 3.0),
            point(now - minute, 2.0),
        ];
        let week = now - 7 * 24 * 3_600_000;
        let plot = Plot::of(&series, week, now, step, WidgetKind::History, "").unwrap();
        let line = line_of(&plot.svg);
        assert!(line.starts_with("M1.00,"), "{line}");
        assert_eq!(line.matches('L').count(), 3, "{line}");
        assert!(
            plot.span.starts_with("from 1970-01-05 02:30 to"),
            "{}",
            plot.span
        );
        assert!(
            plot.svg.contains("text-anchor"),
            "times are labelled: {}",
            plot.svg
        );

        // Nothing for five hours in the middle: two runs, not a line across the silence.
        let gappy = [
            point(now - 9 * 60 * minute, 1.0),
            point(now - 8 * 60 * minute - 30 * minute, 2.0),
            point(now - 8 * 60 * minute, 1.0),
            point(now - 3 * 60 * minute, 3.0),
            point(now - 2 * 60 * minute - 30 * minute, 2.0),
            point(now - 2 * 60 * minute, 3.0),
        ];
        let plot = Plot::of(&gappy, week, now, step, WidgetKind::Sparkline, "").unwrap();
        assert_eq!(line_of(&plot.svg).matches('M').count(), 2, "{}", plot.svg);
        assert!(!plot.svg.contains("<circle"));
    }

    #[test]
    fn badges_and_feeds_escape_what_admins_typed() {
        let badge = badge("<b>&\"x\"", Level::Down);
        assert!(badge.contains("&lt;b&gt;&amp;&quot;x&quot;: down"));
        assert!(!badge.contains("<b>"));
    }
}
