//! Public status pages: what a page is made of, what a widget may show of a payload, and how a
//! status is decided. Plain data and pure functions, shared by the editor
//! (`pages::admin::status_pages`), the snapshot builder (`server::snapshot`) and the renderer
//! (`server::snapshot::render`).
//!
//! The rule that keeps pages from leaking: a widget shows exactly one field of its topic's
//! payload, the one its JSON pointer names, and only when that field is a single value (a
//! number, a short text or a boolean). An object or an array is never shown, so a payload that
//! also carries a name, a position or a key gives away nothing but the bound field.

use crate::domain::history::HistoryRange;
use crate::domain::roles::Role;
use crate::domain::topic_filter::TopicFilter;
use crate::domain::wording::format_value;
use serde::{Deserialize, Serialize};

/// Where public pages live: `/status/<slug>`, `/status/<slug>.json`, and so on.
pub const STATUS_PREFIX: &str = "/status";
pub const SLUG_MAX_CHARS: usize = 64;
pub const TITLE_MAX_CHARS: usize = 120;
pub const DESCRIPTION_MAX_CHARS: usize = 1000;
pub const LABEL_MAX_CHARS: usize = 100;
pub const UNIT_MAX_CHARS: usize = 16;
pub const POINTER_MAX_CHARS: usize = 200;
/// A text block's Markdown: a few paragraphs of notes and links, not a document.
pub const MARKDOWN_MAX_CHARS: usize = 4000;
/// Longest text value a widget shows; longer ones are cut with an ellipsis.
pub const SHOWN_TEXT_MAX_CHARS: usize = 200;
/// Most rows a table widget lists.
pub const TABLE_MAX_ROWS: usize = 100;
/// Points in a sparkline: one per half hour over a day.
pub const SPARKLINE_POINTS: i64 = 48;
pub const SPARKLINE_SPAN_MS: i64 = 24 * 3600 * 1000;
/// Points in a history widget's chart.
pub const HISTORY_POINTS: i64 = 240;
/// Points per series per range in a multi-series chart: half a history chart's, since up to
/// [`CHART_MAX_SERIES`] lines share the drawing and every range's drawing travels in the page.
pub const CHART_POINTS: i64 = 120;
/// The most series a multi-series chart draws: more lines than this no legend keeps apart.
pub const CHART_MAX_SERIES: usize = 6;
/// A series' label is a legend entry, not a title.
pub const SERIES_LABEL_MAX_CHARS: usize = 40;
/// A series' topic: longer than any a device sensibly sends, short enough for the editor's row.
pub const SERIES_TOPIC_MAX_CHARS: usize = 200;
/// The ranges a multi-series chart offers its visitors, each drawn in its snapshot: those its
/// samples of the stored messages cover under the default retention ([`widget_offers`]), a few
/// enough that a build's reads stay bounded (ranges × series × [`CHART_POINTS`]).
pub const CHART_RANGES: [HistoryRange; 4] = [
    HistoryRange::Hour1,
    HistoryRange::Hours24,
    HistoryRange::Days7,
    HistoryRange::Days30,
];
/// The days an uptime bar may show.
pub const UPTIME_BAR_DAYS: [u16; 3] = [30, 60, 90];
/// The windows uptime percentages are given over: label and length.
pub const UPTIME_WINDOWS: [(&str, i64); 4] = [
    ("24h", 86_400_000),
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
    ("90d", 90 * 86_400_000),
];

/// The address of a page and of its exports.
pub fn page_path(slug: &str) -> String {
    format!("{STATUS_PREFIX}/{slug}")
}

pub fn json_path(slug: &str) -> String {
    format!("{STATUS_PREFIX}/{slug}.json")
}

pub fn feed_path(slug: &str) -> String {
    format!("{STATUS_PREFIX}/{slug}/feed.atom")
}

pub fn csv_path(slug: &str, widget: i64) -> String {
    format!("{STATUS_PREFIX}/{slug}/history/{widget}.csv")
}

/// Where a board's controls post.
pub fn control_path(slug: &str) -> String {
    format!("{STATUS_PREFIX}/{slug}/control")
}

pub fn badge_path(slug: &str, widget: i64) -> String {
    format!("{STATUS_PREFIX}/{slug}/badge/{widget}.svg")
}

/// Whether a history widget offers `range`: only those its samples of the stored messages cover
/// under the default retention (status widgets do not read rollups yet).
pub fn widget_offers(range: HistoryRange) -> bool {
    range.span_ms() <= HistoryRange::Days30.span_ms()
}

/// What a widget draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WidgetKind {
    /// The bound value with its unit.
    Value,
    /// Up, degraded or down: by thresholds on the bound value, or by a device's liveness.
    Status,
    /// How long ago the topic last sent.
    LastSeen,
    /// The last day of the bound value as a small line.
    Sparkline,
    /// The bound value over a chosen range as a chart.
    History,
    /// The topics under a filter, each with its bound value.
    Table,
    /// A device's availability per UTC day over the last 30, 60 or 90 days.
    UptimeBar,
    /// A device's availability over the last 24 hours, 7, 30 and 90 days.
    Uptime,
    /// The bound value on a dial between a minimum and a maximum, its stretches coloured by the
    /// status thresholds.
    Gauge,
    /// Words the admin wrote, in Markdown: bound to no topic.
    Text,
    /// A control: sends one fixed payload to its command topic, and shows its topic's value.
    Button,
    /// A control: sends its "on" or its "off" payload to its command topic, and shows its
    /// topic's value, the state as the device reports it.
    Switch,
    /// A control: sends a number chosen between its bounds, on its step, to its command topic,
    /// and shows its topic's value.
    Slider,
    /// The devices with topics under a filter, each with its liveness: problems first.
    Devices,
    /// What needs attention now: the open incidents of the boards its visitor may open, and
    /// for operators and admins the alerts firing. Bound to no topic.
    Incidents,
    /// Several topics' or fields' values on one time axis and one value axis, over a range the
    /// visitor picks. Bound to its series' topics, not to one.
    Chart,
}

impl WidgetKind {
    pub const ALL: [WidgetKind; 16] = [
        WidgetKind::Value,
        WidgetKind::Status,
        WidgetKind::LastSeen,
        WidgetKind::Sparkline,
        WidgetKind::History,
        WidgetKind::Table,
        WidgetKind::UptimeBar,
        WidgetKind::Uptime,
        WidgetKind::Gauge,
        WidgetKind::Text,
        WidgetKind::Button,
        WidgetKind::Switch,
        WidgetKind::Slider,
        WidgetKind::Devices,
        WidgetKind::Incidents,
        WidgetKind::Chart,
    ];

    /// The name the database, the forms and the JSON use.
    pub fn key(self) -> &'static str {
        match self {
            WidgetKind::Value => "value",
            WidgetKind::Status => "status",
            WidgetKind::LastSeen => "last_seen",
            WidgetKind::Sparkline => "sparkline",
            WidgetKind::History => "history",
            WidgetKind::Table => "table",
            WidgetKind::UptimeBar => "uptime_bar",
            WidgetKind::Uptime => "uptime",
            WidgetKind::Gauge => "gauge",
            WidgetKind::Text => "text",
            WidgetKind::Button => "button",
            WidgetKind::Switch => "switch",
            WidgetKind::Slider => "slider",
            WidgetKind::Devices => "devices",
            WidgetKind::Incidents => "incidents",
            WidgetKind::Chart => "chart",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            WidgetKind::Value => "Value",
            WidgetKind::Status => "Status",
            WidgetKind::LastSeen => "Last seen",
            WidgetKind::Sparkline => "Sparkline (24 h)",
            WidgetKind::History => "History chart",
            WidgetKind::Table => "Table of topics",
            WidgetKind::UptimeBar => "Uptime bar (a device, per day)",
            WidgetKind::Uptime => "Uptime percentages (a device)",
            WidgetKind::Gauge => "Gauge (a dial, min to max)",
            WidgetKind::Text => "Text (Markdown)",
            WidgetKind::Button => "Button (publishes a payload)",
            WidgetKind::Switch => "Switch (publishes on / off)",
            WidgetKind::Slider => "Slider (publishes a number)",
            WidgetKind::Devices => "Device list (liveness)",
            WidgetKind::Incidents => "Incidents and alerts",
            WidgetKind::Chart => "Chart, several series",
        }
    }

    /// Whether the widget has a CSV history of values: every kind bound to one topic's values.
    pub fn has_series(self) -> bool {
        !matches!(
            self,
            WidgetKind::Table
                | WidgetKind::UptimeBar
                | WidgetKind::Uptime
                | WidgetKind::Text
                | WidgetKind::Button
                | WidgetKind::Switch
                | WidgetKind::Slider
                | WidgetKind::Devices
                | WidgetKind::Incidents
                | WidgetKind::Chart
        )
    }

    /// Whether the widget publishes: shown only to signed-in roles, usable only by those that
    /// may publish to its command topic.
    pub fn is_control(self) -> bool {
        matches!(
            self,
            WidgetKind::Button | WidgetKind::Switch | WidgetKind::Slider
        )
    }

    /// Whether the widget is bound to no topic: what it shows is an admin's words, or comes
    /// from elsewhere than messages.
    pub fn is_unbound(self) -> bool {
        matches!(self, WidgetKind::Text | WidgetKind::Incidents)
    }

    /// Whether the widget's topic is a filter (a table's topics, a device list's devices) rather
    /// than one topic.
    pub fn takes_filter(self) -> bool {
        matches!(self, WidgetKind::Table | WidgetKind::Devices)
    }

    /// Whether the widget shows a device's uptime (its CSV lists the days, its badge the
    /// percentage).
    pub fn shows_uptime(self) -> bool {
        matches!(self, WidgetKind::UptimeBar | WidgetKind::Uptime)
    }

    /// Whether the widget draws its series.
    pub fn draws_series(self) -> bool {
        matches!(self, WidgetKind::Sparkline | WidgetKind::History)
    }
}

/// A status, ordered from best to worst as a page's summary ranks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Up,
    /// No data to decide on yet.
    Unknown,
    Degraded,
    Down,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Up, Level::Unknown, Level::Degraded, Level::Down];

    pub fn key(self) -> &'static str {
        match self {
            Level::Up => "up",
            Level::Unknown => "unknown",
            Level::Degraded => "degraded",
            Level::Down => "down",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.key() == key)
    }

    /// One widget's status in words.
    pub fn label(self) -> &'static str {
        match self {
            Level::Up => "Up",
            Level::Unknown => "No data",
            Level::Degraded => "Degraded",
            Level::Down => "Down",
        }
    }

    /// A whole page's status in words, for its summary.
    pub fn summary(self) -> &'static str {
        match self {
            Level::Up => "All systems operational",
            Level::Unknown => "Some checks have no data yet",
            Level::Degraded => "Partially degraded",
            Level::Down => "Major outage",
        }
    }

    /// The worst of `levels`, or `None` when there are none.
    pub fn worst(levels: impl IntoIterator<Item = Level>) -> Option<Level> {
        levels.into_iter().max()
    }
}

/// Which side of a threshold is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Worse {
    /// Higher values are worse (a temperature, a load, a queue).
    Above,
    /// Lower values are worse (a battery, free space, a signal).
    Below,
}

impl Worse {
    pub fn key(self) -> &'static str {
        match self {
            Worse::Above => "above",
            Worse::Below => "below",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        [Worse::Above, Worse::Below]
            .into_iter()
            .find(|worse| worse.key() == key)
    }
}

/// How a status widget decides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StatusRule {
    /// From the bound value: numbers against the thresholds (either may be unset), booleans as
    /// up or down, and a few common words (`ok`, `online`, `warning`, `offline`, ...).
    Value {
        worse: Worse,
        degraded_at: Option<f64>,
        down_at: Option<f64>,
    },
    /// From the liveness of the device of this name, as the device rules decide it.
    Device(String),
}

/// One widget as an admin set it up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidgetSpec {
    pub kind: WidgetKind,
    pub label: String,
    /// A topic name (no wildcards); for a table, a topic filter. Empty only for a status
    /// widget that follows a device.
    pub topic: String,
    /// The JSON pointer of the one field shown; empty means the whole payload, which is shown
    /// only when it is a single value.
    pub pointer: String,
    pub unit: String,
    pub status: StatusRule,
    /// The history widget's range.
    pub range: HistoryRange,
    /// The uptime bar's days: one of [`UPTIME_BAR_DAYS`].
    pub uptime_days: u16,
    /// A gauge's dial; `None` for every other kind.
    pub scale: Option<Scale>,
    /// A text block's Markdown, as the admin wrote it; `None` for every other kind.
    pub markdown: Option<String>,
    /// What a control publishes; `None` for every other kind.
    #[serde(default)]
    pub control: Option<Control>,
    /// How much of a row the widget takes on a screen wide enough.
    #[serde(default)]
    pub width: Width,
    /// A multi-series chart's series, 1 to [`CHART_MAX_SERIES`]; empty for every other kind.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub series: Vec<ChartSeries>,
}

/// One line of a multi-series chart: one field of one topic, and the words its legend gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartSeries {
    pub label: String,
    /// A topic name, no wildcards.
    pub topic: String,
    /// The JSON pointer of the field drawn; empty: the payload itself, when it is a number.
    pub pointer: String,
}

/// A chart series' row of the editor's form, as typed.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChartSeriesText<'a> {
    pub label: &'a str,
    pub topic: &'a str,
    pub pointer: &'a str,
}

/// How much of a board's row a widget takes. Narrow screens show every widget full width, one
/// under another, whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Width {
    /// One column of the grid.
    #[default]
    Normal,
    /// Two columns, where the screen has them.
    Wide,
    /// The whole row.
    Full,
}

impl Width {
    pub const ALL: [Width; 3] = [Width::Normal, Width::Wide, Width::Full];

    pub fn key(self) -> &'static str {
        match self {
            Width::Normal => "normal",
            Width::Wide => "wide",
            Width::Full => "full",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|width| width.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            Width::Normal => "One column",
            Width::Wide => "Two columns",
            Width::Full => "The whole row",
        }
    }

    pub fn is_normal(&self) -> bool {
        *self == Width::Normal
    }
}

/// The most widgets a board holds: enough for a wall screen, few enough that its snapshot and
/// its editor stay quick.
pub const BOARD_MAX_WIDGETS: usize = 200;

/// A board's widgets in the order asked for, as ids; `None` unless it names each of `current`
/// exactly once (an order from a stale editor, after a widget was added or deleted elsewhere, is
/// refused rather than guessed at).
pub fn arrangement(asked: &str, current: &[i64]) -> Option<Vec<i64>> {
    let order: Vec<i64> = asked
        .split(',')
        .filter(|id| !id.trim().is_empty())
        .take(current.len() + 1)
        .map(|id| id.trim().parse().ok())
        .collect::<Option<_>>()?;
    let mut sorted = order.clone();
    sorted.sort_unstable();
    let mut expected = current.to_vec();
    expected.sort_unstable();
    (sorted == expected).then_some(order)
}

/// What a control (a button, a switch or a slider) publishes. Its widget's topic and pointer say
/// what it shows: the state as the device reports it, the command topic itself by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub command_topic: String,
    /// A button's payload, a switch's "on", or a slider's template: `{value}` in it stands for
    /// the number chosen, and an empty template sends the number alone.
    pub on: String,
    /// A switch's "off"; `None` for the others.
    pub off: Option<String>,
    /// A slider's bounds; `None` for the others.
    #[serde(default)]
    pub slider: Option<SliderBounds>,
}

/// The numbers a slider may send: from `min` to `max` (`min < max`, both finite) in steps of
/// `step` counted from `min`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliderBounds {
    pub min: f64,
    pub max: f64,
    pub step: f64,
}

impl SliderBounds {
    /// The bounds if they make a slider: a finite, ordered span and a positive step no wider
    /// than it that cuts it into at most a million positions (a browser's slider is no finer).
    pub fn new(min: f64, max: f64, step: f64) -> Option<Self> {
        let sound = min.is_finite()
            && max.is_finite()
            && min < max
            && step.is_finite()
            && step > 0.0
            && step <= max - min
            && (max - min) / step <= 1_000_000.0;
        sound.then_some(Self { min, max, step })
    }

    /// Whether `value` is one the slider offers: inside the bounds and on a step, allowing for
    /// the rounding a decimal typed in a browser gets in binary.
    pub fn admits(self, value: f64) -> bool {
        let slack = self.step * 1e-6;
        if !value.is_finite() || value < self.min - slack || value > self.max + slack {
            return false;
        }
        let steps = ((value - self.min) / self.step).round();
        (value - (self.min + steps * self.step)).abs() <= slack
    }
}

/// What a person asks of a control: a button's press, a switch's on or off, a slider's number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ControlAction {
    Press,
    On,
    Off,
    Set(f64),
}

impl ControlAction {
    /// From a control form's `action` and, for `set`, its `value`.
    pub fn from_form(action: &str, value: &str) -> Option<Self> {
        match action {
            "press" => Some(ControlAction::Press),
            "on" => Some(ControlAction::On),
            "off" => Some(ControlAction::Off),
            "set" => value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|value| value.is_finite())
                .map(ControlAction::Set),
            _ => None,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            ControlAction::Press => "press",
            ControlAction::On => "on",
            ControlAction::Off => "off",
            ControlAction::Set(_) => "set",
        }
    }
}

impl Control {
    /// The payload `action` sends, if this control does that: a button is pressed, a switch is
    /// turned on or off, a slider is set to a number it offers.
    pub fn payload(&self, action: ControlAction) -> Option<String> {
        match (action, &self.off, self.slider) {
            (ControlAction::Press, None, None) | (ControlAction::On, Some(_), None) => {
                Some(self.on.clone())
            }
            (ControlAction::Off, Some(off), None) => Some(off.clone()),
            (ControlAction::Set(value), None, Some(bounds)) if bounds.admits(value) => {
                // Shortest text that reads back as the same number: 21.5, not 21.500000001.
                let number = format!("{value}");
                Some(if self.on.is_empty() {
                    number
                } else {
                    self.on.replace(SLIDER_VALUE_MARK, &number)
                })
            }
            _ => None,
        }
    }
}

/// Where a slider's payload template puts the number.
pub const SLIDER_VALUE_MARK: &str = "{value}";

/// A gauge's dial: from `min` to `max`, `min < max`, both finite.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    pub min: f64,
    pub max: f64,
}

/// A stretch of a gauge's dial, and the status a value in it gets.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    pub from: f64,
    pub to: f64,
    pub level: Level,
}

impl Scale {
    /// Where `value` sits on the dial: 0 at `min`, 1 at `max`, held to the ends (a value off
    /// the dial pins the needle there; its number is still written as it is).
    pub fn fraction(self, value: f64) -> f64 {
        let fraction = (value - self.min) / (self.max - self.min);
        // Ends near the limits of f64 overflow the span: infinity over infinity.
        if fraction.is_nan() {
            return 0.0;
        }
        fraction.clamp(0.0, 1.0)
    }

    /// The dial cut at the thresholds that fall on it, each stretch with the status a value
    /// inside it gets (as [`level_of`] decides), neighbours of one status merged; none without
    /// a threshold, so an uncoloured dial claims nothing.
    pub fn zones(self, worse: Worse, degraded_at: Option<f64>, down_at: Option<f64>) -> Vec<Zone> {
        if degraded_at.is_none() && down_at.is_none() {
            return Vec::new();
        }
        let mut cuts: Vec<f64> = [degraded_at, down_at]
            .into_iter()
            .flatten()
            .filter(|at| *at > self.min && *at < self.max)
            .collect();
        cuts.sort_by(f64::total_cmp);
        let bounds: Vec<f64> = std::iter::once(self.min)
            .chain(cuts)
            .chain(std::iter::once(self.max))
            .collect();
        let mut zones: Vec<Zone> = Vec::new();
        for pair in bounds.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            // A threshold counts as crossed at its own value, so a stretch takes the status of
            // its inside, not of its ends.
            let inside = Shown::Number(from + (to - from) / 2.0);
            let level = level_of(Some(&inside), worse, degraded_at, down_at);
            match zones.last_mut() {
                Some(last) if last.level == level => last.to = to,
                _ => zones.push(Zone { from, to, level }),
            }
        }
        zones
    }
}

/// Who may open a published board (a draft only admins may). Admins always may: they edit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    /// Anonymous visitors get its public view, from the cached snapshot: only the widgets
    /// inside the public audience.
    pub public: bool,
    /// Signed-in users of this role and above get their own view: every widget their role may
    /// read.
    pub open_to: Role,
}

impl Default for Visibility {
    /// What every status page was before boards: public, and open to every signed-in role.
    fn default() -> Self {
        Self {
            public: true,
            open_to: Role::Viewer,
        }
    }
}

impl Visibility {
    /// From the editor's fields: the `public` checkbox and the `open_to` role.
    pub fn check(public: bool, open_to: &str) -> Result<Self, SpecProblem> {
        let open_to = open_to.parse().map_err(|_| SpecProblem::BadOpenTo)?;
        Ok(Self { public, open_to })
    }

    /// May a signed-in user of `role` open the board in their own view?
    pub fn opens_for(&self, role: Role) -> bool {
        role == Role::Admin || role >= self.open_to
    }

    /// The editor's words for who may open it.
    pub fn describe(&self) -> &'static str {
        match (self.public, self.open_to) {
            (true, Role::Viewer) => "Public, and live for every signed-in user",
            (true, Role::Operator) => "Public, and live for operators and admins",
            (true, Role::Admin) => "Public, and live for admins",
            (false, Role::Viewer) => "Signed-in users only",
            (false, Role::Operator) => "Operators and admins only",
            (false, Role::Admin) => "Admins only",
        }
    }
}

/// A page as an admin set it up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageSpec {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub published: bool,
    pub visibility: Visibility,
}

/// A widget's settings as typed into the editor's form.
#[derive(Clone, Copy, Debug, Default)]
pub struct WidgetText<'a> {
    pub kind: &'a str,
    pub label: &'a str,
    pub topic: &'a str,
    pub pointer: &'a str,
    pub unit: &'a str,
    pub worse: &'a str,
    pub degraded_at: &'a str,
    pub down_at: &'a str,
    pub device: &'a str,
    pub range: &'a str,
    /// Empty for the default, 90.
    pub days: &'a str,
    /// A gauge's dial; ignored for other kinds.
    pub min: &'a str,
    pub max: &'a str,
    /// A text block's Markdown; ignored for other kinds.
    pub markdown: &'a str,
    /// A control's command topic and payloads (a button's is `payload_on`); ignored for other
    /// kinds.
    pub command_topic: &'a str,
    pub payload_on: &'a str,
    pub payload_off: &'a str,
    /// A slider's step (its bounds are `min` and `max`); empty for 1.
    pub step: &'a str,
    /// Empty for one column.
    pub width: &'a str,
    /// A multi-series chart's rows, in order; rows left wholly empty are no series.
    pub series: &'a [ChartSeriesText<'a>],
}

/// Why a page or widget was refused. Each names the field, so the editor can say what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecProblem {
    BadSlug,
    BadTitle,
    BadDescription,
    BadKind,
    BadLabel,
    /// Not a topic name (empty, a wildcard where one topic is meant, or not a valid filter
    /// for a table).
    BadTopic,
    BadPointer,
    BadUnit,
    BadThreshold,
    BadDevice,
    BadRange,
    BadDays,
    BadScale,
    BadMarkdown,
    BadOpenTo,
    BadCommandTopic,
    BadControlPayload,
    BadWidth,
    /// A multi-series chart without a series, or with more than it may draw.
    BadSeriesCount,
    BadSeriesLabel,
    BadSeriesTopic,
    BadSeriesPointer,
}

impl SpecProblem {
    pub const ALL: [SpecProblem; 22] = [
        SpecProblem::BadSlug,
        SpecProblem::BadTitle,
        SpecProblem::BadDescription,
        SpecProblem::BadKind,
        SpecProblem::BadLabel,
        SpecProblem::BadTopic,
        SpecProblem::BadPointer,
        SpecProblem::BadUnit,
        SpecProblem::BadThreshold,
        SpecProblem::BadDevice,
        SpecProblem::BadRange,
        SpecProblem::BadDays,
        SpecProblem::BadScale,
        SpecProblem::BadMarkdown,
        SpecProblem::BadOpenTo,
        SpecProblem::BadCommandTopic,
        SpecProblem::BadControlPayload,
        SpecProblem::BadWidth,
        SpecProblem::BadSeriesCount,
        SpecProblem::BadSeriesLabel,
        SpecProblem::BadSeriesTopic,
        SpecProblem::BadSeriesPointer,
    ];

    /// The code an editor's redirect carries (`?error=CODE`).
    pub fn code(self) -> &'static str {
        match self {
            SpecProblem::BadSlug => "bad_slug",
            SpecProblem::BadTitle => "bad_title",
            SpecProblem::BadDescription => "bad_description",
            SpecProblem::BadKind => "bad_kind",
            SpecProblem::BadLabel => "bad_label",
            SpecProblem::BadTopic => "bad_topic",
            SpecProblem::BadPointer => "bad_pointer",
            SpecProblem::BadUnit => "bad_unit",
            SpecProblem::BadThreshold => "bad_threshold",
            SpecProblem::BadDevice => "bad_device",
            SpecProblem::BadRange => "bad_range",
            SpecProblem::BadDays => "bad_days",
            SpecProblem::BadScale => "bad_scale",
            SpecProblem::BadMarkdown => "bad_markdown",
            SpecProblem::BadOpenTo => "bad_open_to",
            SpecProblem::BadCommandTopic => "bad_command_topic",
            SpecProblem::BadControlPayload => "bad_control_payload",
            SpecProblem::BadWidth => "bad_width",
            SpecProblem::BadSeriesCount => "bad_chart_series_count",
            SpecProblem::BadSeriesLabel => "bad_chart_series_label",
            SpecProblem::BadSeriesTopic => "bad_chart_series_topic",
            SpecProblem::BadSeriesPointer => "bad_chart_series_pointer",
        }
    }

    /// The editor's form field this problem is about.
    pub fn field(self) -> &'static str {
        match self {
            SpecProblem::BadSlug => "slug",
            SpecProblem::BadTitle => "title",
            SpecProblem::BadDescription => "description",
            SpecProblem::BadKind => "kind",
            SpecProblem::BadLabel => "label",
            SpecProblem::BadTopic => "topic",
            SpecProblem::BadPointer => "pointer",
            SpecProblem::BadUnit => "unit",
            SpecProblem::BadThreshold => "degraded_at",
            SpecProblem::BadDevice => "device",
            SpecProblem::BadRange => "range",
            SpecProblem::BadDays => "days",
            SpecProblem::BadScale => "min",
            SpecProblem::BadMarkdown => "markdown",
            SpecProblem::BadOpenTo => "open_to",
            SpecProblem::BadCommandTopic => "command_topic",
            SpecProblem::BadControlPayload => "payload_on",
            SpecProblem::BadWidth => "width",
            SpecProblem::BadSeriesCount => "series",
            SpecProblem::BadSeriesLabel => "series_label",
            SpecProblem::BadSeriesTopic => "series_topic",
            SpecProblem::BadSeriesPointer => "series_pointer",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            SpecProblem::BadSlug => {
                "The address must be 1 to 64 lowercase letters, digits or dashes, not starting \
                 or ending with a dash."
            }
            SpecProblem::BadTitle => "The title must be 1 to 120 characters.",
            SpecProblem::BadDescription => "The description may be at most 1000 characters.",
            SpecProblem::BadKind => "Choose one of the widget kinds.",
            SpecProblem::BadLabel => "The label must be 1 to 100 characters.",
            SpecProblem::BadTopic => {
                "Give one topic name (no + or #); a table or a device list takes a topic filter instead."
            }
            SpecProblem::BadPointer => {
                "A JSON pointer is empty or starts with / (like /temperature or /sensors/0/value), \
                 at most 200 characters, with ~ only as ~0 or ~1."
            }
            SpecProblem::BadUnit => "The unit may be at most 16 characters.",
            SpecProblem::BadThreshold => "Thresholds must be numbers, or left empty.",
            SpecProblem::BadDevice => {
                "A device name may be at most 200 characters; an uptime widget needs a device or \
                 a topic."
            }
            SpecProblem::BadRange => {
                "Choose one of the history ranges (a chart of several series starts at 1 h, \
                 24 h, 7 d or 30 d)."
            }
            SpecProblem::BadDays => "An uptime bar shows 30, 60 or 90 days.",
            SpecProblem::BadMarkdown => {
                "A text block needs 1 to 4000 characters of Markdown (line breaks and tabs are \
                 welcome, other control characters are not)."
            }
            SpecProblem::BadOpenTo => {
                "Choose who may open the board: viewers, operators or admins."
            }
            SpecProblem::BadCommandTopic => {
                "A control needs the topic it publishes to: one topic name, no + or #, not \
                 starting with $."
            }
            SpecProblem::BadControlPayload => {
                "A button needs its payload and a switch its on and off payloads (not the \
                 same), each at most 4096 bytes; a slider's payload, if given, must say where \
                 the number goes with {value}."
            }
            SpecProblem::BadWidth => "Choose one of the widths.",
            SpecProblem::BadSeriesCount => {
                "A chart of several series needs 1 to 6 series: fill in a row for each (leave a \
                 row wholly empty to remove its series)."
            }
            SpecProblem::BadSeriesLabel => {
                "Each series needs a label of 1 to 40 characters, for its legend."
            }
            SpecProblem::BadSeriesTopic => {
                "Each series needs one topic name (no + or #, at most 200 characters)."
            }
            SpecProblem::BadSeriesPointer => {
                "A series' JSON pointer is empty or starts with / (like /temperature), at most \
                 200 characters, with ~ only as ~0 or ~1."
            }
            SpecProblem::BadScale => {
                "A gauge or a slider needs a minimum and a maximum, both numbers, the minimum \
                 below the maximum; a slider's step must be above 0, at most the span, and \
                 cut it into at most a million steps."
            }
        }
    }
}

/// Why a widget may not show on a public page: what it is bound to is outside the public audience
/// (the access policy decides, `Rules::public_widget`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutsideAudience {
    Topic,
    Filter,
    Device,
}

impl OutsideAudience {
    pub const ALL: [OutsideAudience; 3] = [
        OutsideAudience::Topic,
        OutsideAudience::Filter,
        OutsideAudience::Device,
    ];

    /// The code an editor's redirect carries (`?error=CODE`).
    pub fn code(self) -> &'static str {
        match self {
            OutsideAudience::Topic => "topic_not_public",
            OutsideAudience::Filter => "filter_not_public",
            OutsideAudience::Device => "device_not_public",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            OutsideAudience::Topic => {
                "That topic is not in the public audience, so no page may show it. An admin \
                 chooses what is public on the access rules page (a rule for \"public\")."
            }
            OutsideAudience::Filter => {
                "No topic under that filter is in the public audience, so the table would \
                 always be empty. A table shows only the public topics under its filter; an \
                 admin chooses them on the access rules page (a rule for \"public\")."
            }
            OutsideAudience::Device => {
                "None of that device's topics (as the device rules find them) is in the public \
                 audience, so no page may show its state. An admin chooses what is public on \
                 the access rules page (a rule for \"public\")."
            }
        }
    }
}

fn chars_within(text: &str, min: usize, max: usize) -> bool {
    let count = text.chars().count();
    (min..=max).contains(&count) && !text.chars().any(char::is_control)
}

impl PageSpec {
    pub fn check(
        slug: &str,
        title: &str,
        description: &str,
        published: bool,
        visibility: Visibility,
    ) -> Result<Self, SpecProblem> {
        let slug = slug.trim();
        if !is_slug(slug) {
            return Err(SpecProblem::BadSlug);
        }
        let title = title.trim();
        if !chars_within(title, 1, TITLE_MAX_CHARS) {
            return Err(SpecProblem::BadTitle);
        }
        // Line breaks are welcome in a description; other control characters are not.
        let description = description.trim().replace("\r\n", "\n");
        if description.chars().count() > DESCRIPTION_MAX_CHARS
            || description.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(SpecProblem::BadDescription);
        }
        Ok(Self {
            slug: slug.to_owned(),
            title: title.to_owned(),
            description,
            published,
            visibility,
        })
    }
}

/// A page's address: lowercase letters, digits and inner dashes. No dots, so `<slug>.json`
/// can never be another page.
pub fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= SLUG_MAX_CHARS
        && !text.starts_with('-')
        && !text.ends_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `pointer` is a JSON pointer (RFC 6901) Lookout accepts: empty, or `/`-separated
/// tokens where `~` appears only as `~0` or `~1`.
pub fn is_pointer(pointer: &str) -> bool {
    if pointer.is_empty() {
        return true;
    }
    if !pointer.starts_with('/')
        || pointer.chars().count() > POINTER_MAX_CHARS
        || pointer.chars().any(char::is_control)
    {
        return false;
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return false;
        }
    }
    true
}

/// A multi-series chart's rows as typed: each row wholly empty is skipped, every other must be a
/// whole series; 1 to [`CHART_MAX_SERIES`] of them.
fn chart_series(rows: &[ChartSeriesText<'_>]) -> Result<Vec<ChartSeries>, SpecProblem> {
    let filled = rows.iter().filter(|row| {
        ![row.label, row.topic, row.pointer]
            .iter()
            .all(|text| text.trim().is_empty())
    });
    // Counted before anything is checked, so a form with too many rows is told that first.
    if !(1..=CHART_MAX_SERIES).contains(&filled.clone().count()) {
        return Err(SpecProblem::BadSeriesCount);
    }
    filled
        .map(|row| {
            let label = row.label.trim();
            if !chars_within(label, 1, SERIES_LABEL_MAX_CHARS) {
                return Err(SpecProblem::BadSeriesLabel);
            }
            let topic = row.topic.trim();
            if crate::domain::topic_filter::check_topic_name(topic).is_err()
                || topic.chars().count() > SERIES_TOPIC_MAX_CHARS
            {
                return Err(SpecProblem::BadSeriesTopic);
            }
            let pointer = row.pointer.trim();
            if !is_pointer(pointer) {
                return Err(SpecProblem::BadSeriesPointer);
            }
            Ok(ChartSeries {
                label: label.to_owned(),
                topic: topic.to_owned(),
                pointer: pointer.to_owned(),
            })
        })
        .collect()
}

/// The most a control's payload may hold: a command, not a file.
pub const CONTROL_PAYLOAD_MAX_BYTES: usize = 4096;

/// A control's command topic and payloads as typed: a button takes `payload_on`, a switch both,
/// a slider `payload_on` as its template and its bounds.
fn control(kind: WidgetKind, text: WidgetText<'_>) -> Result<Control, SpecProblem> {
    let command_topic = text.command_topic.trim();
    if crate::domain::topic_filter::check_topic_name(command_topic).is_err()
        || command_topic.starts_with('$')
    {
        return Err(SpecProblem::BadCommandTopic);
    }
    let payload = |text: &str| {
        (text.len() <= CONTROL_PAYLOAD_MAX_BYTES)
            .then(|| text.to_owned())
            .ok_or(SpecProblem::BadControlPayload)
    };
    let on = payload(text.payload_on)?;
    let off = match kind {
        WidgetKind::Switch => Some(payload(text.payload_off)?),
        _ => None,
    };
    if off.as_deref() == Some(on.as_str()) {
        return Err(SpecProblem::BadControlPayload);
    }
    let slider = if kind == WidgetKind::Slider {
        // A template that never says where the number goes would send one fixed payload.
        if !on.is_empty() && !on.contains(SLIDER_VALUE_MARK) {
            return Err(SpecProblem::BadControlPayload);
        }
        let number = |text: &str| text.trim().parse::<f64>().ok();
        let step = match text.step.trim() {
            "" => Some(1.0),
            step => number(step),
        };
        let bounds = match (number(text.min), number(text.max), step) {
            (Some(min), Some(max), Some(step)) => SliderBounds::new(min, max, step),
            _ => None,
        };
        Some(bounds.ok_or(SpecProblem::BadScale)?)
    } else {
        None
    };
    Ok(Control {
        command_topic: command_topic.to_owned(),
        on,
        off,
        slider,
    })
}

/// A text block's Markdown as it is kept: Windows line ends made plain, the ends trimmed.
fn markdown(text: &str) -> Result<String, SpecProblem> {
    let text = text.trim().replace("\r\n", "\n");
    let count = text.chars().count();
    if !(1..=MARKDOWN_MAX_CHARS).contains(&count)
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(SpecProblem::BadMarkdown);
    }
    Ok(text)
}

fn threshold(text: &str) -> Result<Option<f64>, SpecProblem> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(Some(number)),
        _ => Err(SpecProblem::BadThreshold),
    }
}

impl WidgetSpec {
    pub fn check(text: WidgetText<'_>) -> Result<Self, SpecProblem> {
        let kind = WidgetKind::from_key(text.kind.trim()).ok_or(SpecProblem::BadKind)?;
        let label = text.label.trim();
        if !chars_within(label, 1, LABEL_MAX_CHARS) {
            return Err(SpecProblem::BadLabel);
        }
        let width = match text.width.trim() {
            "" => Width::Normal,
            key => Width::from_key(key).ok_or(SpecProblem::BadWidth)?,
        };
        // Bound to nothing but what the kind names: whatever else the form carried is left
        // behind, so a text block (or an incidents summary) can never be a way to put a topic on
        // a page, nor a chart one beyond its series.
        let bare = Self {
            kind,
            label: label.to_owned(),
            topic: String::new(),
            pointer: String::new(),
            unit: String::new(),
            status: StatusRule::Value {
                worse: Worse::Above,
                degraded_at: None,
                down_at: None,
            },
            range: HistoryRange::default(),
            uptime_days: UPTIME_BAR_DAYS[UPTIME_BAR_DAYS.len() - 1],
            scale: None,
            markdown: None,
            control: None,
            width,
            series: Vec::new(),
        };
        if kind.is_unbound() {
            return Ok(Self {
                markdown: match kind {
                    WidgetKind::Text => Some(markdown(text.markdown)?),
                    _ => None,
                },
                ..bare
            });
        }
        if kind == WidgetKind::Chart {
            let unit = text.unit.trim();
            if !chars_within(unit, 0, UNIT_MAX_CHARS) {
                return Err(SpecProblem::BadUnit);
            }
            let range = match text.range.trim() {
                "" => HistoryRange::default(),
                key => HistoryRange::from_key(key)
                    .filter(|range| CHART_RANGES.contains(range))
                    .ok_or(SpecProblem::BadRange)?,
            };
            return Ok(Self {
                unit: unit.to_owned(),
                range,
                series: chart_series(text.series)?,
                ..bare
            });
        }
        let control = if kind.is_control() {
            Some(control(kind, text)?)
        } else {
            None
        };
        let pointer = text.pointer.trim();
        if !is_pointer(pointer) {
            return Err(SpecProblem::BadPointer);
        }
        let unit = text.unit.trim();
        if !chars_within(unit, 0, UNIT_MAX_CHARS) {
            return Err(SpecProblem::BadUnit);
        }
        let device = text.device.trim();
        if !chars_within(device, 0, 200) {
            return Err(SpecProblem::BadDevice);
        }
        // An uptime widget follows a device, or its topic's value against its thresholds.
        if kind.shows_uptime() && device.is_empty() && text.topic.trim().is_empty() {
            return Err(SpecProblem::BadDevice);
        }
        let follows_device =
            (kind == WidgetKind::Status || kind.shows_uptime()) && !device.is_empty();
        // A control shows its command topic's value unless told another topic (its state); a
        // device list without a filter lists every device.
        let topic = match text.topic.trim() {
            "" if kind.is_control() => text.command_topic.trim(),
            "" if kind == WidgetKind::Devices => "#",
            topic => topic,
        };
        let topic = if follows_device && topic.is_empty() {
            String::new()
        } else {
            let filter = TopicFilter::parse(topic).map_err(|_| SpecProblem::BadTopic)?;
            let wildcard = topic.split('/').any(|level| level == "+" || level == "#");
            if wildcard && !kind.takes_filter() {
                return Err(SpecProblem::BadTopic);
            }
            filter.as_str().to_owned()
        };
        let status = if follows_device {
            StatusRule::Device(device.to_owned())
        } else {
            StatusRule::Value {
                worse: Worse::from_key(text.worse.trim()).unwrap_or(Worse::Above),
                degraded_at: threshold(text.degraded_at)?,
                down_at: threshold(text.down_at)?,
            }
        };
        let range = match text.range.trim() {
            "" => HistoryRange::default(),
            key => HistoryRange::from_key(key)
                .filter(|range| widget_offers(*range))
                .ok_or(SpecProblem::BadRange)?,
        };
        let uptime_days = match text.days.trim() {
            "" => UPTIME_BAR_DAYS[UPTIME_BAR_DAYS.len() - 1],
            days => days
                .parse()
                .ok()
                .filter(|days| UPTIME_BAR_DAYS.contains(days))
                .ok_or(SpecProblem::BadDays)?,
        };
        let scale = if kind == WidgetKind::Gauge {
            let end = |text: &str| text.trim().parse::<f64>().ok().filter(|n| n.is_finite());
            match (end(text.min), end(text.max)) {
                (Some(min), Some(max)) if min < max => Some(Scale { min, max }),
                _ => return Err(SpecProblem::BadScale),
            }
        } else {
            None
        };
        Ok(Self {
            kind,
            label: label.to_owned(),
            topic,
            pointer: pointer.to_owned(),
            unit: unit.to_owned(),
            status,
            range,
            uptime_days,
            scale,
            markdown: None,
            control,
            width,
            series: Vec::new(),
        })
    }

    /// The device this widget follows, if it is a status or uptime widget that follows one.
    pub fn device(&self) -> Option<&str> {
        match (&self.status, self.kind) {
            (StatusRule::Device(name), WidgetKind::Status) => Some(name),
            (StatusRule::Device(name), kind) if kind.shows_uptime() => Some(name),
            _ => None,
        }
    }
}

/// What an uptime widget that follows no device watches: its topic's bound field against its
/// thresholds, decided as a status widget with the same settings decides ([`level_of`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdWatch {
    pub topic: String,
    pub pointer: String,
    pub worse: Worse,
    pub degraded_at: Option<f64>,
    pub down_at: Option<f64>,
}

impl ThresholdWatch {
    /// The watch of an uptime widget bound to a topic; `None` for any other widget.
    pub fn of(spec: &WidgetSpec) -> Option<Self> {
        match &spec.status {
            StatusRule::Value {
                worse,
                degraded_at,
                down_at,
            } if spec.kind.shows_uptime() && !spec.topic.is_empty() => Some(Self {
                topic: spec.topic.clone(),
                pointer: spec.pointer.clone(),
                worse: *worse,
                degraded_at: *degraded_at,
                down_at: *down_at,
            }),
            _ => None,
        }
    }

    /// The name its record is kept under: every setting, so changed settings start anew.
    pub fn key(&self) -> String {
        serde_json::json!([
            self.topic,
            self.pointer,
            self.worse.key(),
            self.degraded_at,
            self.down_at
        ])
        .to_string()
    }

    /// The level `payload` says, and the value it read, in words.
    pub fn level(&self, payload: &[u8]) -> (Level, String) {
        let value = bound_value(payload, &self.pointer);
        let level = level_of(value.as_ref(), self.worse, self.degraded_at, self.down_at);
        let limit = |name: &str, limit: Option<f64>| {
            limit.map(|limit| format!("{name} at {}", format_value(limit)))
        };
        let limits: Vec<String> = [
            limit("degraded", self.degraded_at),
            limit("down", self.down_at),
        ]
        .into_iter()
        .flatten()
        .collect();
        let value = value.map_or_else(|| "no value".to_owned(), |value| value.display(""));
        let words = if limits.is_empty() {
            value
        } else {
            format!("{value} ({})", limits.join(", "))
        };
        (level, words)
    }
}

/// The one field of a payload a widget shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Shown {
    Number(f64),
    Bool(bool),
    Text(String),
}

impl Shown {
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Shown::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The value as the page writes it, with its unit.
    pub fn display(&self, unit: &str) -> String {
        let bare = match self {
            Shown::Number(number) => format_value(*number),
            Shown::Bool(true) => "true".to_owned(),
            Shown::Bool(false) => "false".to_owned(),
            Shown::Text(text) => text.clone(),
        };
        if unit.is_empty() {
            bare
        } else {
            format!("{bare} {unit}")
        }
    }
}

/// The field `pointer` names in `payload`, when it is a single value. Without a pointer the whole
/// payload counts, under the same rule: a number, a boolean or a short text (a JSON string, or
/// UTF-8 that is not JSON). Objects, arrays, nulls and binary payloads give `None`.
pub fn bound_value(payload: &[u8], pointer: &str) -> Option<Shown> {
    let text = std::str::from_utf8(payload).ok()?;
    let json = serde_json::from_str::<serde_json::Value>(text);
    let value = match (&json, pointer) {
        (Ok(json), pointer) => json.pointer(pointer)?,
        // A plain-text payload has no fields to point into.
        (Err(_), "") => return Some(Shown::Text(shorten(text.trim()))),
        (Err(_), _) => return None,
    };
    match value {
        serde_json::Value::Number(number) => {
            number.as_f64().filter(|n| n.is_finite()).map(Shown::Number)
        }
        serde_json::Value::Bool(flag) => Some(Shown::Bool(*flag)),
        serde_json::Value::String(text) => Some(Shown::Text(shorten(text))),
        _ => None,
    }
}

fn shorten(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= SHOWN_TEXT_MAX_CHARS {
        return clean;
    }
    let mut cut: String = clean.chars().take(SHOWN_TEXT_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The status a value rule gives a bound value.
pub fn level_of(
    value: Option<&Shown>,
    worse: Worse,
    degraded_at: Option<f64>,
    down_at: Option<f64>,
) -> Level {
    match value {
        None => Level::Unknown,
        Some(Shown::Bool(true)) => Level::Up,
        Some(Shown::Bool(false)) => Level::Down,
        Some(Shown::Number(number)) => {
            let crossed = |limit: Option<f64>| {
                limit.is_some_and(|limit| match worse {
                    Worse::Above => *number >= limit,
                    Worse::Below => *number <= limit,
                })
            };
            if crossed(down_at) {
                Level::Down
            } else if crossed(degraded_at) {
                Level::Degraded
            } else {
                Level::Up
            }
        }
        Some(Shown::Text(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "up" | "ok" | "online" | "healthy" | "operational" | "running" | "true" | "1" => {
                Level::Up
            }
            "degraded" | "warning" | "warn" | "partial" => Level::Degraded,
            "down" | "offline" | "error" | "fail" | "failed" | "critical" | "false" | "0" => {
                Level::Down
            }
            _ => Level::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bound_field_is_ever_shown() {
        let payload =
            br#"{"temp": 21.5, "owner": "Ada", "pos": {"lat": 51.5}, "ok": true, "key": "s3cr3t"}"#;
        assert_eq!(bound_value(payload, "/temp"), Some(Shown::Number(21.5)));
        assert_eq!(bound_value(payload, "/ok"), Some(Shown::Bool(true)));
        // An object or the whole payload is never shown, so its other fields cannot leak.
        assert_eq!(bound_value(payload, "/pos"), None);
        assert_eq!(bound_value(payload, ""), None);
        assert_eq!(bound_value(payload, "/missing"), None);
        assert_eq!(bound_value(b"[1,2]", ""), None);
        assert_eq!(bound_value(b"null", ""), None);
        assert_eq!(bound_value(&[0xff, 0xfe], ""), None);
        // Plain payloads are themselves the value.
        assert_eq!(bound_value(b"21.5", ""), Some(Shown::Number(21.5)));
        assert_eq!(
            bound_value(b"online", ""),
            Some(Shown::Text("online".into()))
        );
        assert_eq!(bound_value(b"online", "/x"), None);
        assert_eq!(
            bound_value(br#""a\nb""#, ""),
            Some(Shown::Text("a b".into()))
        );
        let long = "x".repeat(500);
        let Some(Shown::Text(cut)) = bound_value(long.as_bytes(), "") else {
            panic!("text expected");
        };
        assert_eq!(cut.chars().count(), SHOWN_TEXT_MAX_CHARS);
    }

    #[test]
    fn thresholds_words_and_booleans_decide_a_status() {
        let n = |v: f64| Shown::Number(v);
        let above = |v: f64| level_of(Some(&n(v)), Worse::Above, Some(60.0), Some(80.0));
        assert_eq!(above(20.0), Level::Up);
        assert_eq!(above(60.0), Level::Degraded);
        assert_eq!(above(95.0), Level::Down);
        let below = |v: f64| level_of(Some(&n(v)), Worse::Below, Some(20.0), Some(10.0));
        assert_eq!(below(50.0), Level::Up);
        assert_eq!(below(15.0), Level::Degraded);
        assert_eq!(below(3.0), Level::Down);
        assert_eq!(level_of(None, Worse::Above, None, None), Level::Unknown);
        assert_eq!(
            level_of(Some(&Shown::Bool(false)), Worse::Above, None, None),
            Level::Down
        );
        let word = |w: &str| level_of(Some(&Shown::Text(w.into())), Worse::Above, None, None);
        assert_eq!(word("OK"), Level::Up);
        assert_eq!(word("warning"), Level::Degraded);
        assert_eq!(word("offline"), Level::Down);
        assert_eq!(word("banana"), Level::Unknown);
        assert_eq!(
            Level::worst([Level::Up, Level::Down, Level::Degraded]),
            Some(Level::Down)
        );
        assert_eq!(
            Level::worst([Level::Up, Level::Unknown]),
            Some(Level::Unknown)
        );
        assert_eq!(Level::worst([]), None);
    }

    fn widget(kind: &str, topic: &str) -> WidgetText<'static> {
        let (kind, topic): (&'static str, &'static str) =
            (Box::leak(kind.into()), Box::leak(topic.into()));
        WidgetText {
            kind,
            label: "Label",
            topic,
            ..WidgetText::default()
        }
    }

    #[test]
    fn the_editor_refuses_what_cannot_be_shown_safely() {
        assert!(WidgetSpec::check(widget("value", "home/temp")).is_ok());
        assert_eq!(
            WidgetSpec::check(widget("value", "home/+")),
            Err(SpecProblem::BadTopic)
        );
        assert!(WidgetSpec::check(widget("table", "home/+/temp")).is_ok());
        assert_eq!(
            WidgetSpec::check(widget("speedometer", "a")),
            Err(SpecProblem::BadKind)
        );
        assert_eq!(
            WidgetSpec::check(widget("value", "")),
            Err(SpecProblem::BadTopic)
        );
        let pointer = |p: &'static str| WidgetText {
            pointer: p,
            ..widget("value", "a")
        };
        assert!(WidgetSpec::check(pointer("/a/0/b~1c")).is_ok());
        assert_eq!(
            WidgetSpec::check(pointer("a")),
            Err(SpecProblem::BadPointer)
        );
        assert_eq!(
            WidgetSpec::check(pointer("/a~2")),
            Err(SpecProblem::BadPointer)
        );
        let thresholds = WidgetText {
            degraded_at: "60",
            down_at: "NaN",
            ..widget("status", "a")
        };
        assert_eq!(
            WidgetSpec::check(thresholds),
            Err(SpecProblem::BadThreshold)
        );
        let device = WidgetSpec::check(WidgetText {
            device: "boiler",
            ..widget("status", "")
        })
        .unwrap();
        assert_eq!(device.device(), Some("boiler"));
        assert!(is_slug("plant-7"));
        for bad in ["", "-a", "a-", "A", "a.json", "a/b", &"a".repeat(65)] {
            assert!(!is_slug(bad), "{bad:?}");
        }
        assert_eq!(
            PageSpec::check("ok", "", "", true, Visibility::default()),
            Err(SpecProblem::BadTitle)
        );
    }

    #[test]
    fn a_device_list_takes_a_filter_and_lists_every_device_without_one() {
        let list = |topic| {
            WidgetSpec::check(WidgetText {
                kind: "devices",
                label: "Fleet",
                topic,
                ..WidgetText::default()
            })
        };
        assert_eq!(list("").unwrap().topic, "#");
        assert_eq!(list("plant/+/#").unwrap().topic, "plant/+/#");
        assert_eq!(list("plant/#/x"), Err(SpecProblem::BadTopic));
        assert!(!WidgetKind::Devices.has_series());
    }

    #[test]
    fn an_incidents_summary_is_bound_to_no_topic_whatever_its_form_carried() {
        let summary = WidgetSpec::check(WidgetText {
            kind: "incidents",
            label: "Attention",
            topic: "plant/secret",
            pointer: "/x",
            markdown: "ignored",
            ..WidgetText::default()
        })
        .unwrap();
        assert_eq!((summary.topic.as_str(), summary.pointer.as_str()), ("", ""));
        assert_eq!(summary.markdown, None);
    }

    #[test]
    fn a_slider_sends_only_numbers_on_its_steps_within_its_bounds() {
        let text = |on, min, max, step| WidgetText {
            kind: "slider",
            label: "Setpoint",
            command_topic: "plant/boiler/setpoint/set",
            payload_on: on,
            min,
            max,
            step,
            ..WidgetText::default()
        };
        let plain = WidgetSpec::check(text("", "15", "25", "0.5")).unwrap();
        assert_eq!(plain.scale, None, "a slider draws no dial");
        let control = plain.control.unwrap();
        let set = |value: &str| ControlAction::from_form("set", value).unwrap();
        assert_eq!(control.payload(set("21.5")).as_deref(), Some("21.5"));
        assert_eq!(control.payload(set("15")).as_deref(), Some("15"));
        assert_eq!(control.payload(set(" 25 ")).as_deref(), Some("25"));
        for refused in ["21.3", "14.5", "25.5", "-1e300"] {
            assert_eq!(control.payload(set(refused)), None, "{refused}");
        }
        for not_a_number in ["", "NaN", "inf", "21,5", "0x10"] {
            assert_eq!(ControlAction::from_form("set", not_a_number), None);
        }
        assert_eq!(control.payload(ControlAction::Press), None);
        assert_eq!(control.payload(ControlAction::On), None);
        // Decimal steps that binary cannot hold exactly are still met.
        let tenths = WidgetSpec::check(text("", "0", "1", "0.1")).unwrap();
        let tenths = tenths.control.unwrap();
        assert_eq!(tenths.payload(set("0.3")).as_deref(), Some("0.3"));
        assert_eq!(tenths.payload(set("0.7")).as_deref(), Some("0.7"));
        let templated = WidgetSpec::check(text(r#"{"target": {value}}"#, "0", "100", ""));
        let templated = templated.unwrap().control.unwrap();
        assert_eq!(
            templated.payload(set("42")).as_deref(),
            Some(r#"{"target": 42}"#)
        );
        assert_eq!(
            templated.payload(set("42.5")),
            None,
            "the step is 1 by default"
        );
        assert_eq!(
            WidgetSpec::check(text("ON", "0", "1", "")),
            Err(SpecProblem::BadControlPayload),
            "a template must place the number"
        );
        for (min, max, step) in [
            ("", "1", ""),
            ("1", "1", ""),
            ("2", "1", ""),
            ("0", "1", "0"),
            ("0", "1", "-1"),
            ("0", "1", "2"),
            ("0", "1", "1e-9"),
            ("0", "inf", "1"),
        ] {
            assert_eq!(
                WidgetSpec::check(text("", min, max, step)),
                Err(SpecProblem::BadScale),
                "{min}..{max} by {step}"
            );
        }
    }

    #[test]
    fn a_control_sends_only_what_its_admin_set_for_each_action() {
        let text = |kind, command_topic, on, off| WidgetText {
            kind,
            label: "Pump",
            command_topic,
            payload_on: on,
            payload_off: off,
            ..WidgetText::default()
        };
        let switch = WidgetSpec::check(text("switch", "plant/pump/set", "ON", "OFF")).unwrap();
        assert_eq!(
            switch.topic, "plant/pump/set",
            "shows its command topic by default"
        );
        let control = switch.control.unwrap();
        assert_eq!(control.payload(ControlAction::On).as_deref(), Some("ON"));
        assert_eq!(control.payload(ControlAction::Off).as_deref(), Some("OFF"));
        assert_eq!(control.payload(ControlAction::Press), None);
        assert_eq!(control.payload(ControlAction::Set(1.0)), None);
        let button = WidgetSpec::check(text("button", "plant/bell", "", "ignored")).unwrap();
        let control = button.control.unwrap();
        assert_eq!(control.off, None);
        assert_eq!(control.payload(ControlAction::Press).as_deref(), Some(""));
        assert_eq!(control.payload(ControlAction::On), None);
        for bad in ["", "plant/+", "plant/#", "$SYS/broker"] {
            assert_eq!(
                WidgetSpec::check(text("button", bad, "x", "")),
                Err(SpecProblem::BadCommandTopic),
                "{bad:?}"
            );
        }
        let huge = "x".repeat(CONTROL_PAYLOAD_MAX_BYTES + 1);
        assert_eq!(
            WidgetSpec::check(text("button", "a", &huge, "")),
            Err(SpecProblem::BadControlPayload)
        );
        assert_eq!(
            WidgetSpec::check(text("switch", "a", "1", "1")),
            Err(SpecProblem::BadControlPayload)
        );
        let value = WidgetSpec::check(text("value", "a", "x", "y"));
        assert!(value.is_err_and(|problem| problem == SpecProblem::BadTopic));
    }

    #[test]
    fn a_board_opens_for_its_roles_and_always_for_admins() {
        let operators = Visibility::check(false, "Operator").unwrap();
        assert!(!operators.opens_for(Role::Viewer));
        assert!(operators.opens_for(Role::Operator));
        assert!(operators.opens_for(Role::Admin));
        let admins = Visibility::check(true, "admin").unwrap();
        assert!(!admins.opens_for(Role::Operator));
        assert!(admins.opens_for(Role::Admin));
        assert!(Role::ALL
            .into_iter()
            .all(|role| Visibility::default().opens_for(role)));
        for bad in ["", "public", "everyone", "root"] {
            assert_eq!(
                Visibility::check(true, bad),
                Err(SpecProblem::BadOpenTo),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_uptime_widget_follows_a_device_over_30_60_or_90_days() {
        let bar = |device: &'static str, days: &'static str| {
            WidgetSpec::check(WidgetText {
                device,
                days,
                ..widget("uptime_bar", "")
            })
        };
        let spec = bar("boiler", "").unwrap();
        assert_eq!((spec.device(), spec.uptime_days), (Some("boiler"), 90));
        assert_eq!(bar("boiler", "30").unwrap().uptime_days, 30);
        assert_eq!(bar("boiler", "45"), Err(SpecProblem::BadDays));
        assert_eq!(bar("", "30"), Err(SpecProblem::BadDevice));
        let percentages = WidgetSpec::check(WidgetText {
            device: "pump",
            ..widget("uptime", "")
        })
        .unwrap();
        assert_eq!(percentages.device(), Some("pump"));
        assert!(!WidgetKind::Uptime.has_series() && WidgetKind::Uptime.shows_uptime());
    }

    #[test]
    fn an_uptime_widget_on_a_topic_watches_its_value_against_its_thresholds() {
        let spec = WidgetSpec::check(WidgetText {
            pointer: "/temp",
            degraded_at: "60",
            down_at: "80",
            ..widget("uptime", "plant/boiler")
        })
        .unwrap();
        assert_eq!(spec.device(), None);
        let watch = ThresholdWatch::of(&spec).unwrap();
        assert_eq!(watch.level(br#"{"temp": 20}"#).0, Level::Up);
        let (level, words) = watch.level(br#"{"temp": 85}"#);
        assert_eq!(level, Level::Down);
        assert_eq!(words, "85 (degraded at 60, down at 80)");
        assert_eq!(watch.level(b"garbage").0, Level::Unknown);
        // Other settings, another record; a value widget watches nothing.
        let other = ThresholdWatch {
            down_at: Some(90.0),
            ..watch.clone()
        };
        assert_ne!(watch.key(), other.key());
        let value = WidgetSpec::check(widget("value", "plant/boiler")).unwrap();
        assert_eq!(ThresholdWatch::of(&value), None);
        // Neither a device nor a topic: refused.
        assert_eq!(
            WidgetSpec::check(widget("uptime", "")),
            Err(SpecProblem::BadDevice)
        );
    }

    #[test]
    fn a_gauge_needs_a_dial_from_a_lower_to_a_higher_number() {
        let gauge = |min: &'static str, max: &'static str| {
            WidgetSpec::check(WidgetText {
                min,
                max,
                ..widget("gauge", "plant/boiler")
            })
        };
        assert_eq!(
            gauge(" -10 ", "40.5").unwrap().scale,
            Some(Scale {
                min: -10.0,
                max: 40.5
            })
        );
        for (min, max) in [
            ("", "10"),
            ("0", ""),
            ("5", "5"),
            ("9", "1"),
            ("0", "inf"),
            ("NaN", "1"),
        ] {
            assert_eq!(
                gauge(min, max),
                Err(SpecProblem::BadScale),
                "{min:?}..{max:?}"
            );
        }
        // Other kinds keep no dial, whatever was typed.
        let value = WidgetSpec::check(WidgetText {
            min: "0",
            max: "1",
            ..widget("value", "plant/boiler")
        });
        assert_eq!(value.unwrap().scale, None);
    }

    #[test]
    fn a_text_block_keeps_its_words_and_no_binding() {
        let text = |markdown: &str| {
            WidgetSpec::check(WidgetText {
                markdown,
                pointer: "/temperature",
                unit: "°C",
                degraded_at: "5",
                min: "0",
                max: "1",
                ..widget("text", "plant/secret")
            })
        };
        let spec = text("  # Hello\r\n\r\n\tSee *there*.  ").unwrap();
        assert_eq!(spec.markdown.as_deref(), Some("# Hello\n\n\tSee *there*."));
        // Nothing it was sent binds it to the broker.
        assert_eq!(
            (
                spec.topic.as_str(),
                spec.pointer.as_str(),
                spec.unit.as_str()
            ),
            ("", "", "")
        );
        assert_eq!(spec.scale, None);
        assert!(!spec.kind.has_series());
        assert_eq!(
            WidgetSpec::check(WidgetText {
                markdown: "no topic needed",
                ..widget("text", "")
            })
            .map(|spec| spec.topic),
            Ok(String::new())
        );
        let long = "é".repeat(MARKDOWN_MAX_CHARS + 1);
        for bad in ["", "   \n ", "a\u{0}b", "bell \u{7}", long.as_str()] {
            assert_eq!(text(bad), Err(SpecProblem::BadMarkdown), "{bad:?}");
        }
        assert!(text(&"é".repeat(MARKDOWN_MAX_CHARS)).is_ok());
        // Other kinds keep no words, whatever was typed.
        let value = WidgetSpec::check(WidgetText {
            markdown: "words",
            ..widget("value", "plant/boiler")
        });
        assert_eq!(value.unwrap().markdown, None);
    }

    #[test]
    fn a_dial_is_cut_at_the_thresholds_on_it_and_holds_values_off_it_at_its_ends() {
        let dial = Scale {
            min: 0.0,
            max: 100.0,
        };
        assert_eq!(dial.fraction(25.0), 0.25);
        assert_eq!((dial.fraction(-5.0), dial.fraction(1e9)), (0.0, 1.0));
        let huge = Scale {
            min: -f64::MAX,
            max: f64::MAX,
        };
        assert_eq!(huge.fraction(f64::MAX), 0.0);
        let zone = |from, to, level| Zone { from, to, level };
        assert_eq!(
            dial.zones(Worse::Above, Some(70.0), Some(90.0)),
            vec![
                zone(0.0, 70.0, Level::Up),
                zone(70.0, 90.0, Level::Degraded),
                zone(90.0, 100.0, Level::Down)
            ]
        );
        assert_eq!(
            dial.zones(Worse::Below, Some(20.0), Some(10.0)),
            vec![
                zone(0.0, 10.0, Level::Down),
                zone(10.0, 20.0, Level::Degraded),
                zone(20.0, 100.0, Level::Up)
            ]
        );
        // A threshold off the dial colours all of it; none colours nothing.
        assert_eq!(
            dial.zones(Worse::Above, None, Some(-1.0)),
            vec![zone(0.0, 100.0, Level::Down)]
        );
        assert_eq!(dial.zones(Worse::Above, None, None), vec![]);
    }

    #[test]
    fn a_chart_takes_one_to_six_whole_series_and_no_topic_of_its_own() {
        fn row<'a>(label: &'a str, topic: &'a str, pointer: &'a str) -> ChartSeriesText<'a> {
            ChartSeriesText {
                label,
                topic,
                pointer,
            }
        }
        fn chart(rows: &[ChartSeriesText<'_>], range: &str) -> Result<WidgetSpec, SpecProblem> {
            WidgetSpec::check(WidgetText {
                kind: "chart",
                label: "Rooms",
                topic: "plant/secret",
                pointer: "/x",
                unit: "°C",
                range,
                series: rows,
                ..WidgetText::default()
            })
        }
        let two = [
            row(" Kitchen ", "home/kitchen", "/temperature"),
            row("", "", ""),
            row("Hall", "home/hall", ""),
        ];
        let spec = chart(&two, "7d").unwrap();
        assert_eq!(
            spec.series,
            vec![
                ChartSeries {
                    label: "Kitchen".into(),
                    topic: "home/kitchen".into(),
                    pointer: "/temperature".into()
                },
                ChartSeries {
                    label: "Hall".into(),
                    topic: "home/hall".into(),
                    pointer: String::new()
                },
            ]
        );
        assert_eq!((spec.topic.as_str(), spec.pointer.as_str()), ("", ""));
        assert_eq!(
            (spec.unit.as_str(), spec.range),
            ("°C", HistoryRange::Days7)
        );
        assert_eq!(chart(&two, "").unwrap().range, HistoryRange::Hours24);
        assert_eq!(chart(&two, "15m"), Err(SpecProblem::BadRange));
        assert_eq!(chart(&[], ""), Err(SpecProblem::BadSeriesCount));
        assert_eq!(
            chart(&[row(" ", "", "")], ""),
            Err(SpecProblem::BadSeriesCount)
        );
        let seven = [row("A", "a", ""); CHART_MAX_SERIES + 1];
        assert_eq!(chart(&seven, ""), Err(SpecProblem::BadSeriesCount));
        assert!(chart(&seven[..CHART_MAX_SERIES], "").is_ok());
        let long_label = "x".repeat(SERIES_LABEL_MAX_CHARS + 1);
        let long_topic = "t".repeat(SERIES_TOPIC_MAX_CHARS + 1);
        for (bad, problem) in [
            (row("", "a", ""), SpecProblem::BadSeriesLabel),
            (row(&long_label, "a", ""), SpecProblem::BadSeriesLabel),
            (row("A", "", "/x"), SpecProblem::BadSeriesTopic),
            (row("A", "home/+", ""), SpecProblem::BadSeriesTopic),
            (row("A", "home/#", ""), SpecProblem::BadSeriesTopic),
            (row("A", &long_topic, ""), SpecProblem::BadSeriesTopic),
            (row("A", "a", "temperature"), SpecProblem::BadSeriesPointer),
        ] {
            assert_eq!(chart(&[two[0], bad], ""), Err(problem), "{bad:?}");
        }
        // Other kinds keep no series, whatever was typed.
        let value = WidgetSpec::check(WidgetText {
            series: Box::leak(two.to_vec().into_boxed_slice()),
            ..widget("value", "plant/boiler")
        });
        assert_eq!(value.unwrap().series, vec![]);
    }
}
