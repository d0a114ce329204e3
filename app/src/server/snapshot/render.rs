//! What visitors receive of a status page snapshot: the HTML document (complete without
//! JavaScript: values, statuses and ages in text, sparklines and charts as inline SVG), the Atom
//! feed of status changes, CSV histories and SVG badges. Everything is drawn from the snapshot
//! alone, so nothing here can show more than the snapshot holds.

use crate::domain::status_page::{
    badge_path, csv_path, feed_path, json_path, page_path, Level, WidgetKind,
};
use crate::domain::theme::{Theme, CHOOSE_THEME, THEME_CSS};
use crate::domain::wording::{format_age, format_utc, format_value, UtcTime};
use crate::server::snapshot::{PageSnapshot, Point, SiteInfo, TableRow, WidgetSnapshot};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// The stylesheet cargo-leptos builds for the whole site.
const STYLESHEET: &str = "/pkg/lookout.css";
/// The progressive enhancement: refreshes values from the page's JSON at its TTL.
pub const SCRIPT: &str = "/status.js";

/// The viewBox of a sparkline and of a history chart.
const SPARK_SIZE: (f64, f64) = (120.0, 32.0);
const CHART_SIZE: (f64, f64) = (600.0, 160.0);

/// A series as drawn: the polyline's points in the widget's viewBox, and its value range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plot {
    pub points: String,
    pub low: String,
    pub high: String,
    pub latest: String,
    /// How the chart reads to someone who cannot see it.
    pub description: String,
}

impl Plot {
    /// `None` for an empty series: the page says "no values" instead.
    pub fn of(series: &[Point], from_ms: i64, to_ms: i64, kind: WidgetKind) -> Option<Self> {
        let latest = series.last()?;
        let (width, height) = if kind == WidgetKind::History {
            CHART_SIZE
        } else {
            SPARK_SIZE
        };
        let low = series.iter().map(|p| p.value).fold(f64::INFINITY, f64::min);
        let high = series
            .iter()
            .map(|p| p.value)
            .fold(f64::NEG_INFINITY, f64::max);
        // A flat series draws mid-height rather than dividing by zero.
        let spread = if high > low { high - low } else { 1.0 };
        let span = (to_ms - from_ms).max(1) as f64;
        let margin = 2.0;
        let mut points = String::new();
        // The newest value holds until now: drawn to the right edge, so a series of one
        // sample is still a line.
        let held = Point {
            at_ms: to_ms,
            value: latest.value,
        };
        let until_now = (latest.at_ms < to_ms).then_some(&held);
        for point in series.iter().chain(until_now) {
            let x = ((point.at_ms - from_ms) as f64 / span).clamp(0.0, 1.0) * width;
            let y = if high > low {
                margin + (1.0 - (point.value - low) / spread) * (height - 2.0 * margin)
            } else {
                height / 2.0
            };
            let _ = write!(points, "{x:.1},{y:.1} ");
        }
        points.pop();
        let (low, high, latest) = (
            format_value(low),
            format_value(high),
            format_value(latest.value),
        );
        Some(Self {
            description: format!(
                "{} from {} to {}: lowest {low}, highest {high}, latest {latest}.",
                match series.len() {
                    1 => "1 value".to_owned(),
                    n => format!("{n} values"),
                },
                format_utc(from_ms),
                format_utc(to_ms),
            ),
            points,
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

/// The whole HTML document of a page.
pub fn document(snapshot: &PageSnapshot, site: &SiteInfo) -> String {
    let owner = Owner::new();
    let body = owner.with(|| {
        view! {
            <body class="status-page">
                <header class="site-header">
                    <span class="brand">"Status"</span>
                </header>
                {body(snapshot)}
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
                    {theme_choice(&snapshot.slug)}
                </footer>
            </body>
        }
        .to_html()
    });
    format!(
        "<!DOCTYPE html><html lang=\"en\">{}{body}</html>",
        head(snapshot, site)
    )
}

/// The theme buttons, as in the dashboard's header (`components::theme_choice`), coming back to
/// this page. The same for every visitor: `/theme.css` marks the chosen one.
fn theme_choice(slug: &str) -> AnyView {
    let buttons = Theme::ALL
        .into_iter()
        .map(|theme| {
            view! {
                <button type="submit" name="theme" value=theme.key() title=theme.label()>
                    <span aria-hidden="true">{theme.symbol()}</span>
                    <span class="visually-hidden">{theme.label()}</span>
                </button>
            }
        })
        .collect_view();
    view! {
        <form method="post" action=CHOOSE_THEME class="theme-choice" aria-label="Colour theme">
            <input type="hidden" name="back" value=page_path(slug)/>
            {buttons}
        </form>
    }
    .into_any()
}

/// The document's head, written out by hand: Leptos' `view!` reserves `property`, which
/// OpenGraph tags need. Every value passes through [`xml_escape`], which is also right for HTML
/// attributes and text.
fn head(snapshot: &PageSnapshot, site: &SiteInfo) -> String {
    let title = xml_escape(&format!("{} · Status", snapshot.title));
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
    if !snapshot.published {
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

fn body(snapshot: &PageSnapshot) -> AnyView {
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
        .map(|widget| widget_view(widget, &snapshot.slug, now))
        .collect_view();
    view! {
        <main
            class="status"
            id="status"
            data-json=json_path(&snapshot.slug)
            data-ttl=snapshot.ttl_seconds
        >
            {(!snapshot.published).then(|| view! {
                <p class="draft-notice" role="note">
                    "Draft preview: only admins see this page until it is published."
                </p>
            })}
            <h1>{snapshot.title.clone()}</h1>
            {(!snapshot.description.is_empty()).then(|| view! {
                <p class="status-description">{snapshot.description.clone()}</p>
            })}
            {summary}
            <p class="status-updated">
                "Updated "
                <time datetime=iso(now) data-generated-ms=now>{format!("at {}", clock(now))}</time>
                {format!("; refreshed every {} s.", snapshot.ttl_seconds)}
            </p>
            <div class="status-widgets">{widgets}</div>
        </main>
    }
    .into_any()
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

fn widget_view(widget: &WidgetSnapshot, slug: &str, now: i64) -> AnyView {
    let heading = format!("w-{}-label", widget.id);
    let seen = widget.last_seen_ms.map(|at_ms| {
        view! { <p class="seen">"Last message " {age(at_ms, now)}</p> }
    });
    let no_value = || view! { <p class="value none" data-value>"No value yet"</p> };
    let body = match widget.kind {
        WidgetKind::Value => view! {
            {match &widget.text {
                Some(text) => view! { <p class="value" data-value>{text.clone()}</p> }.into_any(),
                None => no_value().into_any(),
            }}
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
                <p class="embed">
                    <a href=badge_path(slug, widget.id)>"Badge (SVG)"</a>
                    " · "
                    <a href=csv_path(slug, widget.id) type="text/csv">"History (CSV)"</a>
                </p>
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
            let size = if widget.kind == WidgetKind::History {
                CHART_SIZE
            } else {
                SPARK_SIZE
            };
            let figure = widget.plot.as_ref().map(|plot| {
                view! {
                    <figure class="plot">
                        <svg
                            viewBox=format!("0 0 {} {}", size.0, size.1)
                            preserveAspectRatio="none"
                            role="img"
                            aria-label=plot.description.clone()
                            xmlns="http://www.w3.org/2000/svg"
                        >
                            <title>{plot.description.clone()}</title>
                            <polyline points=plot.points.clone() data-plot/>
                        </svg>
                        <figcaption>
                            "Low " <span data-plot-low>{plot.low.clone()}</span>
                            ", high " <span data-plot-high>{plot.high.clone()}</span>
                            {if widget.kind == WidgetKind::History { " over the chosen range (UTC)." } else { " over 24 h." }}
                        </figcaption>
                    </figure>
                }
            });
            view! {
                {match &widget.text {
                    Some(text) => view! { <p class="value" data-value>{text.clone()}</p> }.into_any(),
                    None => no_value().into_any(),
                }}
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
        WidgetKind::Table => topic_table(&widget.rows, &widget.label, now),
    };
    view! {
        <section
            class=format!("status-widget widget-{}", widget.kind.key())
            id=format!("w-{}", widget.id)
            aria-labelledby=heading
        >
            <h2 id=heading.clone()>{widget.label.clone()}</h2>
            {body}
        </section>
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

/// Text for XML (Atom, SVG badges): the five characters that matter escaped, control
/// characters dropped (XML 1.0 allows none but tab and line breaks).
pub fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// The Atom feed of a page's status changes, newest first.
pub fn feed(snapshot: &PageSnapshot, site: &SiteInfo) -> String {
    let base = site.public_url.clone().unwrap_or_default();
    let page = format!("{base}{}", page_path(&snapshot.slug));
    let updated = snapshot
        .changes
        .first()
        .map(|change| change.at_ms)
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

/// A widget's series as CSV: time (ISO 8601, UTC), Unix milliseconds, value.
pub fn csv(widget: &WidgetSnapshot) -> String {
    let mut csv = String::from("time,unix_ms,value\n");
    for point in &widget.series {
        let _ = writeln!(csv, "{},{},{}", iso(point.at_ms), point.at_ms, point.value);
    }
    csv
}

/// A badge in the usual two-part style: the label, then the status in its colour.
pub fn badge(label: &str, level: Level) -> String {
    // Verdana-ish 11 px averages about 6.5 px per character.
    let text_width = |text: &str| 10.0 + 6.5 * text.chars().count() as f64;
    let label_width = text_width(label).min(400.0);
    let status = level.label().to_lowercase();
    let status_width = text_width(&status);
    let width = label_width + status_width;
    let colour = match level {
        Level::Up => "#2e7d32",
        Level::Degraded => "#b45309",
        Level::Down => "#c62828",
        Level::Unknown => "#555555",
    };
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

    #[test]
    fn a_plot_spans_its_box_and_a_flat_series_draws_mid_height() {
        let series = [
            Point {
                at_ms: 0,
                value: 1.0,
            },
            Point {
                at_ms: 50,
                value: 3.0,
            },
            Point {
                at_ms: 100,
                value: 2.0,
            },
        ];
        let plot = Plot::of(&series, 0, 100, WidgetKind::Sparkline).unwrap();
        assert_eq!(plot.points, "0.0,30.0 60.0,2.0 120.0,16.0");
        assert_eq!(
            (plot.low.as_str(), plot.high.as_str(), plot.latest.as_str()),
            ("1", "3", "2")
        );
        let flat = [
            Point {
                at_ms: 0,
                value: 5.0,
            },
            Point {
                at_ms: 100,
                value: 5.0,
            },
        ];
        let plot = Plot::of(&flat, 0, 100, WidgetKind::Sparkline).unwrap();
        assert_eq!(plot.points, "0.0,16.0 120.0,16.0");
        assert!(Plot::of(&[], 0, 100, WidgetKind::History).is_none());
        let single = [Point {
            at_ms: 50,
            value: 7.0,
        }];
        let plot = Plot::of(&single, 0, 100, WidgetKind::Sparkline).unwrap();
        assert_eq!(plot.points, "60.0,16.0 120.0,16.0", "held until now");
    }

    #[test]
    fn badges_and_feeds_escape_what_admins_typed() {
        let badge = badge("<b>&\"x\"", Level::Down);
        assert!(badge.contains("&lt;b&gt;&amp;&quot;x&quot;: down"));
        assert!(!badge.contains("<b>"));
    }
}
