//! What the demo sets up in its database on the first run, through the same functions as the
//! admin pages and `lookout user` (so each step is checked and audited): an admin, device
//! liveness rules, named series for the numbers inside its JSON payloads, a public audience of
//! exactly the topics its page shows, and a published status page with a widget of every kind. A later run finds them and adds nothing; the roles' access
//! rules stay as a fresh install has them.

use super::devices::{MESH_NODES, PUMP, SERVERS};
use anyhow::Context;
use app::domain::liveness::RuleText;
use app::domain::roles::{Audience, Permission, Role};
use app::domain::series::{SeriesText, SharedSeries};
use app::domain::status_page::{ChartSeriesText, PageSpec, Visibility, WidgetText};
use app::server::access::{AccessPolicy, BoardRights};
use app::server::accounts;
use app::server::liveness_edits::{self, LivenessRuleError};
use app::server::rule_edits::{self, RuleError};
use app::server::series_edits::{self, SeriesError};
use app::server::snapshot::{SiteInfo, StatusPages};
use app::server::status_edits::{self, Pages};
use app::server::store::audit::Actor;
use app::server::store::Store;
use std::time::Duration;

pub const ADMIN: &str = "admin";
pub const PAGE_SLUG: &str = "demo";

/// How the audit log names the demo's changes. Lookout itself writes them, with an admin's
/// rights ([`BoardRights::Every`]).
const DEMO: Actor<'static> = Actor {
    user_id: None,
    name: Some("demo"),
    client_addr: None,
};

/// The liveness rules for the demo's devices, its series, the public audience and the status
/// page.
pub async fn set_up_devices_and_page(store: &Store) -> anyhow::Result<()> {
    liveness_rules(store).await?;
    series(store).await?;
    public_audience(store).await?;
    status_page(store).await
}

/// The topics the demo page shows, and nothing else: the weather station's, two servers' health,
/// the mesh nodes' telemetry (the table, and one node's history) and the pump's topics, which
/// tell its state. Every other demo topic stays private, as on a real install.
fn public_filters() -> Vec<String> {
    vec![
        "demo/weather/temperature".to_owned(),
        "demo/weather/wind".to_owned(),
        "demo/weather/humidity".to_owned(),
        format!("demo/servers/{}/health", SERVERS[0]),
        format!("demo/servers/{}/health", SERVERS[2]),
        "demo/mesh/+/telemetry".to_owned(),
        format!("demo/pumps/{PUMP}/#"),
    ]
}

async fn public_audience(store: &Store) -> anyhow::Result<()> {
    let policy = AccessPolicy::new(store.clone());
    for filter in public_filters() {
        let added = rule_edits::add_rule(
            store,
            &policy,
            DEMO,
            Audience::Public,
            &filter,
            Permission::Read,
        )
        .await;
        match added {
            Ok(_) | Err(RuleError::Duplicate) => {}
            Err(error) => {
                return Err(error).with_context(|| format!("making {filter:?} public"));
            }
        }
    }
    Ok(())
}

/// The admin's password when this run created the admin; `None` when it existed already.
pub async fn admin(store: &Store) -> anyhow::Result<Option<String>> {
    if store.user_by_name(ADMIN).await?.is_some() {
        return Ok(None);
    }
    let password = accounts::generate_password();
    accounts::add_user(store, DEMO, ADMIN, &password, Role::Admin)
        .await
        .context("creating the demo's admin")?;
    Ok(Some(password))
}

/// The numbers of the JSON payloads worth charting, named before the simulated history is
/// written, so that their charts have a past too.
async fn series(store: &Store) -> anyhow::Result<()> {
    let series = |filter, pointer, label, unit| SeriesText {
        filter,
        pointer,
        label,
        unit,
    };
    let named = [
        series("demo/servers/+/health", "/cpu", "CPU", "%"),
        series("demo/servers/+/health", "/mem", "Memory", "%"),
        series("demo/mesh/+/telemetry", "/battery", "Battery", "%"),
        series("demo/mesh/+/telemetry", "/snr", "Signal to noise", "dB"),
        series("demo/weather/wind", "/speed", "Wind speed", "m/s"),
        series("demo/weather/wind", "/gust", "Gusts", "m/s"),
    ];
    // The application reads them again when it starts.
    let shared = SharedSeries::default();
    for text in named {
        match series_edits::add_series(store, &shared, DEMO, text).await {
            Ok(_) | Err(SeriesError::Duplicate) => {}
            Err(error) => {
                return Err(error).with_context(|| format!("naming the series {:?}", text.label))
            }
        }
    }
    Ok(())
}

async fn liveness_rules(store: &Store) -> anyhow::Result<()> {
    let rules = [
        RuleText {
            name: "Pumps (last will)",
            devices: "demo/pumps/+/#",
            status: "demo/pumps/+/status",
            interval_seconds: "5",
            ..RuleText::default()
        },
        RuleText {
            name: "Mesh nodes",
            devices: "demo/mesh/+/#",
            interval_seconds: "10",
            ..RuleText::default()
        },
        RuleText {
            name: "Servers",
            devices: "demo/servers/+/#",
            interval_seconds: "5",
            ..RuleText::default()
        },
    ];
    for rule in rules {
        match liveness_edits::add_rule(store, DEMO, rule).await {
            Ok(_) | Err(LivenessRuleError::Duplicate) => {}
            Err(error) => {
                return Err(error).with_context(|| format!("adding the rule {:?}", rule.name))
            }
        }
    }
    Ok(())
}

async fn status_page(store: &Store) -> anyhow::Result<()> {
    if store.status_page_by_slug(PAGE_SLUG).await?.is_some() {
        return Ok(());
    }
    // Nothing is served yet, so no cache holds this page; the edits still go through one.
    let cache = StatusPages::new(
        store.clone(),
        AccessPolicy::new(store.clone()),
        SharedSeries::default(),
        Duration::from_secs(1),
        SiteInfo::default(),
    );
    let pages = Pages {
        store,
        cache: &cache,
    };
    let title = "Lookout demo";
    let id = status_edits::add_page(pages, DEMO, &BoardRights::Every, PAGE_SLUG, title).await?;
    let description = "Simulated devices publishing through the demo's own MQTT broker: a \
                       weather station, servers, mesh radio nodes, and a pump that drops off now \
                       and then.";
    let spec = PageSpec::check(PAGE_SLUG, title, description, true, Visibility::default())
        .map_err(|problem| anyhow::anyhow!("the demo page: {}", problem.describe()))?;
    status_edits::change_page(pages, DEMO, &BoardRights::Every, id, &spec).await?;

    let server = SERVERS[0];
    let server_health = format!("demo/servers/{server}/health");
    let database_health = format!("demo/servers/{}/health", SERVERS[2]);
    let mesh_node = format!("demo/mesh/{}/telemetry", MESH_NODES[0]);
    let server_cpu = format!("{server} CPU");
    let widgets = [
        WidgetText {
            kind: "value",
            label: "Temperature",
            topic: "demo/weather/temperature",
            unit: "°C",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "value",
            label: "Wind",
            topic: "demo/weather/wind",
            pointer: "/speed",
            unit: "m/s",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "gauge",
            label: "Gusts",
            topic: "demo/weather/wind",
            pointer: "/gust",
            unit: "m/s",
            worse: "above",
            degraded_at: "14",
            down_at: "20",
            min: "0",
            max: "30",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "status",
            label: &server_cpu,
            topic: &server_health,
            pointer: "/cpu",
            unit: "%",
            worse: "above",
            degraded_at: "80",
            down_at: "95",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "status",
            label: "Database server",
            topic: &database_health,
            pointer: "/status",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "status",
            label: "Pump",
            device: PUMP,
            ..WidgetText::default()
        },
        WidgetText {
            kind: "uptime",
            label: "Pump uptime",
            device: PUMP,
            ..WidgetText::default()
        },
        WidgetText {
            kind: "uptime_bar",
            label: "Pump, last 90 days",
            device: PUMP,
            ..WidgetText::default()
        },
        WidgetText {
            kind: "last_seen",
            label: "Weather station",
            topic: "demo/weather/temperature",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "sparkline",
            label: "Humidity",
            topic: "demo/weather/humidity",
            unit: "%",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "history",
            label: "Temperature",
            topic: "demo/weather/temperature",
            unit: "°C",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "table",
            label: "Mesh batteries",
            topic: "demo/mesh/+/telemetry",
            pointer: "/battery",
            unit: "%",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "history",
            label: "Signal to noise, hilltop",
            topic: &mesh_node,
            pointer: "/snr",
            unit: "dB",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "chart",
            label: "Wind: speed and gusts",
            unit: "m/s",
            series: &[
                ChartSeriesText {
                    label: "Speed",
                    topic: "demo/weather/wind",
                    pointer: "/speed",
                },
                ChartSeriesText {
                    label: "Gusts",
                    topic: "demo/weather/wind",
                    pointer: "/gust",
                },
            ],
            ..WidgetText::default()
        },
        WidgetText {
            kind: "devices",
            label: "Mesh nodes",
            topic: "demo/mesh/#",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "incidents",
            label: "Incidents",
            ..WidgetText::default()
        },
        WidgetText {
            kind: "text",
            label: "About this page",
            markdown: "Every figure above comes from the demo's **simulated devices**, as their \
                       MQTT messages arrive; nothing here is real.\n\n\
                       The same page is [JSON](/status/demo.json) for scripts and an \
                       [Atom feed](/status/demo/feed.atom) of status changes.",
            ..WidgetText::default()
        },
    ];
    for widget in widgets {
        status_edits::add_widget(pages, DEMO, &BoardRights::Every, id, widget)
            .await
            .with_context(|| format!("adding the widget {:?}", widget.label))?;
    }
    Ok(())
}
