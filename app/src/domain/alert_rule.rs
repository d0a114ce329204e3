//! What an alert rule watches and what makes its subject bad, as an admin types it and as the
//! engine evaluates it: a device's liveness, a number against a threshold, a silence on some
//! topics, a JSON field's value, or Lookout itself. How the state then moves (a duration,
//! reminders, the flap guard) is [`super::alerting`]; what is told, [`super::notice`].

use super::alerting::{Threshold, Timing, MIN_REMINDER_MS};
use super::notice::{
    render, ChannelFormat, EmailAddress, Notice, NoticeState, Severity, MAX_TEMPLATE_BYTES,
};
use super::payload;
use super::status_page::is_pointer;
use super::topic_filter::TopicFilter;
use super::uptime::Seen;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const MAX_NAME_CHARS: usize = 64;
pub const MAX_FILTER_CHARS: usize = 256;
pub const MAX_VALUE_CHARS: usize = 200;
pub const MAX_URL_CHARS: usize = 2048;
/// How many rules may exist: each is evaluated for every message its topics carry.
pub const MAX_RULES: usize = 10_000;
pub const MAX_CHANNELS: usize = 100;
/// Subjects one rule may track (topics its filter matches, devices of its device rule): beyond
/// this, new subjects are not watched and the rule's page says so.
pub const MAX_SUBJECTS_PER_RULE: usize = 10_000;
/// Subjects all rules together may track: what bounds the engine's memory (and `alert_state`)
/// however many rules and topics there are, about 200 bytes each.
pub const MAX_SUBJECTS: usize = 200_000;
/// The longest duration a rule may wait, a week: longer is a report, not an alert.
pub const MAX_FOR_MS: i64 = 7 * 24 * 3600 * 1000;

/// What is bad.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// A device found by a liveness rule (`app::domain::liveness`) is offline; "unknown"
    /// (watched, never heard) counts as bad only when the rule says so.
    DeviceOffline {
        device_rule: i64,
        unknown_is_bad: bool,
    },
    /// A number of the topics' payloads (the payload's own, or a JSON field) beyond a threshold,
    /// with a separate recovery level. Each topic is a subject.
    Threshold {
        topics: String,
        /// Empty: the payload's own number.
        pointer: String,
        threshold: Threshold,
    },
    /// No message on any of the topics for the rule's duration.
    Stale { topics: String },
    /// A JSON field equal to (or, with `equals` false, different from) a value. Each topic is a
    /// subject; a payload without the field tells nothing.
    Field {
        topics: String,
        pointer: String,
        equals: bool,
        value: String,
    },
    /// Lookout itself.
    Lookout { check: LookoutCheck },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum LookoutCheck {
    /// The broker is unreachable: Lookout cannot see, and holds every other rule's state.
    CannotSee,
    /// Messages cannot be stored.
    StorageFailing,
    /// Storage is behind what was received by more than this many seconds.
    IngestBehind { seconds: u32 },
}

impl LookoutCheck {
    pub fn subject(&self) -> &'static str {
        match self {
            LookoutCheck::CannotSee => "broker connection",
            LookoutCheck::StorageFailing => "storage",
            LookoutCheck::IngestBehind { .. } => "ingest",
        }
    }
}

/// A status page widget as alerts are matched against it: what maintenance covering it mutes,
/// and what a firing about it proposes as an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedWidget {
    /// A topic, or for a table widget a topic filter; empty for a device's status.
    pub topic: String,
    pub is_table: bool,
    /// The device a status widget follows.
    pub device: Option<String>,
}

/// Widgets indexed for matching alerts against them many times (a maintenance window's, while
/// it is in effect, at every judged message): the one place that says what an alert is about.
#[derive(Clone, Debug, Default)]
pub struct WidgetIndex {
    /// Topics shown by value widgets.
    topics: HashSet<String>,
    /// Table widgets' filters.
    tables: Vec<TopicFilter>,
    devices: HashSet<String>,
}

impl WidgetIndex {
    pub fn new<'a>(widgets: impl IntoIterator<Item = &'a WatchedWidget>) -> Self {
        let mut index = WidgetIndex::default();
        for widget in widgets {
            if let Some(device) = &widget.device {
                index.devices.insert(device.clone());
            } else if widget.is_table {
                index.tables.extend(TopicFilter::parse(&widget.topic).ok());
            } else if !widget.topic.is_empty() {
                index.topics.insert(widget.topic.clone());
            }
        }
        index
    }

    /// Whether what a rule of `condition` says of `subject` is about one of the widgets: one
    /// shows the topic (or a table's filter takes it in), the stale rule's filter (`watched`,
    /// parsed from its topics) takes in what one shows, or a device rule's device is one a
    /// widget follows. Lookout's own rules are about no widget.
    pub fn concerns(
        &self,
        condition: &Condition,
        watched: Option<&TopicFilter>,
        subject: &str,
    ) -> bool {
        match condition {
            Condition::Threshold { .. } | Condition::Field { .. } => {
                self.topics.contains(subject)
                    || self.tables.iter().any(|filter| filter.matches(subject))
            }
            Condition::Stale { .. } => watched.is_some_and(|watched| {
                self.topics.iter().any(|topic| watched.matches(topic))
                    || self
                        .tables
                        .iter()
                        .any(|filter| filter.as_str() == watched.as_str())
            }),
            Condition::DeviceOffline { .. } => self.devices.contains(subject),
            Condition::Lookout { .. } => false,
        }
    }
}

impl Condition {
    /// Whether what it says of `subject` is about `widget` ([`WidgetIndex::concerns`]).
    pub fn is_about(&self, subject: &str, widget: &WatchedWidget) -> bool {
        let watched = self
            .topics()
            .and_then(|topics| TopicFilter::parse(topics).ok());
        WidgetIndex::new([widget]).concerns(self, watched.as_ref(), subject)
    }

    /// The subject as people read it: a stale rule's is its filter.
    pub fn subject_words(&self, subject: &str) -> String {
        match self {
            Condition::Stale { topics } => topics.clone(),
            _ => subject.to_owned(),
        }
    }

    /// The topics whose messages it is evaluated on, for the rules read from them.
    pub fn topics(&self) -> Option<&str> {
        match self {
            Condition::Threshold { topics, .. }
            | Condition::Stale { topics }
            | Condition::Field { topics, .. } => Some(topics),
            Condition::DeviceOffline { .. } | Condition::Lookout { .. } => None,
        }
    }

    /// Whether a device in `seen` is bad, for a device rule.
    pub fn device_is_bad(&self, seen: Seen) -> bool {
        match self {
            Condition::DeviceOffline { unknown_is_bad, .. } => match seen {
                Seen::Up => false,
                Seen::Down => true,
                Seen::Unknown => *unknown_is_bad,
            },
            _ => false,
        }
    }

    /// What a message of one of its topics says, for a message rule: whether the topic is bad
    /// (given whether it was), and the value that decided. `None`: the message says nothing to
    /// this rule (not a number, no such field).
    pub fn judge(&self, payload: &[u8], was_bad: bool) -> Option<(bool, Reading)> {
        self.judge_fields(&mut FieldsRead::new(payload), was_bad)
    }

    /// [`Condition::judge`] of a message that other rules may read too: a field is read once.
    pub fn judge_fields<'r>(
        &'r self,
        message: &mut FieldsRead<'_, 'r>,
        was_bad: bool,
    ) -> Option<(bool, Reading)> {
        match self {
            Condition::Threshold {
                pointer, threshold, ..
            } => {
                let number = if pointer.is_empty() {
                    payload::numeric_value(message.payload)?
                } else {
                    message.field(pointer)?.as_f64()?
                };
                if !number.is_finite() {
                    return None;
                }
                Some((threshold.is_bad(number, was_bad), Reading::Number(number)))
            }
            Condition::Field {
                pointer,
                equals,
                value,
                ..
            } => {
                let text = match message.field(pointer)? {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                Some(((text == *value) == *equals, Reading::Text(text)))
            }
            // A message is the good news of a stale rule: the engine handles it.
            Condition::Stale { .. } => Some((false, Reading::default())),
            Condition::DeviceOffline { .. } | Condition::Lookout { .. } => None,
        }
    }

    /// One line for the rules page.
    pub fn describe(&self) -> String {
        match self {
            Condition::DeviceOffline {
                device_rule,
                unknown_is_bad,
            } => format!(
                "a device of device rule {device_rule} offline{}",
                if *unknown_is_bad { " or unknown" } else { "" }
            ),
            Condition::Threshold {
                topics,
                pointer,
                threshold,
            } => format!(
                "{topics}{} {} {} (recovers {} {})",
                if pointer.is_empty() {
                    String::new()
                } else {
                    format!(" {pointer}")
                },
                if threshold.above { "above" } else { "below" },
                threshold.trigger,
                if threshold.above {
                    "at or below"
                } else {
                    "at or above"
                },
                threshold.recover
            ),
            Condition::Stale { topics } => format!("no message on {topics}"),
            Condition::Field {
                topics,
                pointer,
                equals,
                value,
            } => format!(
                "{topics} {pointer} {} \"{value}\"",
                if *equals {
                    "equal to"
                } else {
                    "different from"
                }
            ),
            Condition::Lookout { check } => match check {
                LookoutCheck::CannotSee => "Lookout cannot see (broker unreachable)".to_owned(),
                LookoutCheck::StorageFailing => "Lookout cannot store messages".to_owned(),
                LookoutCheck::IngestBehind { seconds } => {
                    format!("Lookout's storage more than {seconds} s behind")
                }
            },
        }
    }
}

/// One message as the rules of its topic read it: each JSON field once, however many of them
/// ask for it.
pub struct FieldsRead<'p, 'r> {
    payload: &'p [u8],
    /// The fields read so far, by pointer (a few at most: the rules of one topic).
    read: Vec<(&'r str, Option<serde_json::Value>)>,
}

impl<'p, 'r> FieldsRead<'p, 'r> {
    pub fn new(payload: &'p [u8]) -> Self {
        Self {
            payload,
            read: Vec::new(),
        }
    }

    fn field(&mut self, pointer: &'r str) -> Option<&serde_json::Value> {
        let index = match self.read.iter().position(|(read, _)| *read == pointer) {
            Some(index) => index,
            None => {
                let value = payload::json_at_pointer(self.payload, pointer);
                self.read.push((pointer, value));
                self.read.len() - 1
            }
        };
        self.read[index].1.as_ref()
    }
}

/// The value that decided a subject's state, as read: put into words only when a notice or a
/// stored state quotes it, which most messages (those that change nothing) never are.
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    Number(f64),
    Text(String),
}

impl Default for Reading {
    fn default() -> Self {
        Reading::Text(String::new())
    }
}

impl Reading {
    /// Whether it says nothing (a silence, a rule about one thing).
    pub fn is_empty(&self) -> bool {
        matches!(self, Reading::Text(text) if text.is_empty())
    }

    /// As a notice quotes it: at most [`MAX_VALUE_CHARS`] characters.
    pub fn words(&self) -> String {
        match self {
            Reading::Number(number) => short(&number.to_string()),
            Reading::Text(text) => short(text),
        }
    }
}

fn short(text: &str) -> String {
    text.chars().take(MAX_VALUE_CHARS).collect()
}

/// A rule as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    pub condition: Condition,
    pub timing: Timing,
    pub severity: Severity,
    pub enabled: bool,
    /// The channels told, by id.
    pub channels: Vec<i64>,
}

/// A channel as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertChannel {
    pub id: i64,
    pub name: String,
    pub format: ChannelFormat,
    pub url: String,
    /// `None`: the format's default.
    pub template: Option<String>,
    pub enabled: bool,
}

impl AlertChannel {
    pub fn template(&self) -> &str {
        self.template
            .as_deref()
            .unwrap_or(self.format.default_template())
    }
}

/// A rule's form as typed: every field text, as posted.
#[derive(Clone, Debug, Default)]
pub struct RuleText<'a> {
    pub name: &'a str,
    /// `device_offline`, `threshold`, `stale`, `field`, `lookout`.
    pub kind: &'a str,
    pub topics: &'a str,
    pub pointer: &'a str,
    pub device_rule: &'a str,
    /// `on` when unknown counts as offline.
    pub unknown_is_bad: &'a str,
    /// `above` or `below`.
    pub direction: &'a str,
    pub trigger: &'a str,
    pub recover: &'a str,
    /// `equals` or `differs`.
    pub comparison: &'a str,
    pub value: &'a str,
    /// `cannot_see`, `storage_failing`, `ingest_behind`.
    pub check: &'a str,
    pub behind_seconds: &'a str,
    pub for_seconds: &'a str,
    /// Empty: no reminders.
    pub reminder_minutes: &'a str,
    pub notify_resolve: &'a str,
    pub flap_changes: &'a str,
    pub flap_minutes: &'a str,
    pub severity: &'a str,
}

/// Why a typed rule or channel was refused; each names the form field to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertProblem {
    Name,
    Kind,
    Topics,
    Pointer,
    DeviceRule,
    Threshold,
    Value,
    Check,
    For,
    Reminder,
    Flap,
    Severity,
    Format,
    Url,
    Template,
}

impl AlertProblem {
    pub const ALL: [AlertProblem; 15] = [
        AlertProblem::Name,
        AlertProblem::Kind,
        AlertProblem::Topics,
        AlertProblem::Pointer,
        AlertProblem::DeviceRule,
        AlertProblem::Threshold,
        AlertProblem::Value,
        AlertProblem::Check,
        AlertProblem::For,
        AlertProblem::Reminder,
        AlertProblem::Flap,
        AlertProblem::Severity,
        AlertProblem::Format,
        AlertProblem::Url,
        AlertProblem::Template,
    ];

    /// The code an admin page's redirect carries (`domain::outcome`).
    pub fn code(self) -> &'static str {
        match self {
            AlertProblem::Name => "bad_alert_name",
            AlertProblem::Kind => "bad_alert_kind",
            AlertProblem::Topics => "bad_alert_topics",
            AlertProblem::Pointer => "bad_alert_pointer",
            AlertProblem::DeviceRule => "bad_alert_device_rule",
            AlertProblem::Threshold => "bad_alert_threshold",
            AlertProblem::Value => "bad_alert_value",
            AlertProblem::Check => "bad_alert_check",
            AlertProblem::For => "bad_alert_duration",
            AlertProblem::Reminder => "bad_alert_reminder",
            AlertProblem::Flap => "bad_alert_flap",
            AlertProblem::Severity => "bad_alert_severity",
            AlertProblem::Format => "bad_channel_format",
            AlertProblem::Url => "bad_channel_url",
            AlertProblem::Template => "bad_channel_template",
        }
    }

    /// What the page says of it.
    pub fn describe(self) -> &'static str {
        match self {
            AlertProblem::Name => "A rule or channel needs a name of 1 to 64 characters, without control characters.",
            AlertProblem::Kind => "Choose what the rule watches.",
            AlertProblem::Topics => "The topics must be an MQTT topic filter of at most 256 characters (as in plant/+/temp).",
            AlertProblem::Pointer => "The field must be a JSON pointer such as /temperature (empty for the payload's own number).",
            AlertProblem::DeviceRule => "Choose the device rule whose devices are watched.",
            AlertProblem::Threshold => "The threshold and recovery level must be numbers, the recovery level on the good side of the threshold (or empty: the threshold itself).",
            AlertProblem::Value => "Choose equal or different, and a value of at most 200 characters.",
            AlertProblem::Check => "Choose what of Lookout is watched; storage behind needs 1 to 86400 seconds.",
            AlertProblem::For => "The duration is 0 seconds to a week (a silence needs at least 1 second).",
            AlertProblem::Reminder => "Reminders come at most every 5 minutes and at least once a week (or leave it empty for none).",
            AlertProblem::Flap => "The flap guard needs 2 to 1000 changes within 1 minute to a week.",
            AlertProblem::Severity => "Choose info, warning or critical.",
            AlertProblem::Format => "Choose one of the channel formats.",
            AlertProblem::Url => "The address must start with https:// or http:// and hold no spaces (at most 2048 characters); an e-mail channel's is smtp://user:password@host:587?from=…&to=…,… (STARTTLS; smtps:// for TLS, tls=none only on a trusted network).",
            AlertProblem::Template => "The template may only name known fields in {{ }} (title, text, state, severity, rule, subject, since, value, link, id, priority), at most 4096 bytes.",
        }
    }

    pub fn field(self) -> &'static str {
        match self {
            AlertProblem::Name => "name",
            AlertProblem::Kind => "kind",
            AlertProblem::Topics => "topics",
            AlertProblem::Pointer => "pointer",
            AlertProblem::DeviceRule => "device_rule",
            AlertProblem::Threshold => "trigger",
            AlertProblem::Value => "value",
            AlertProblem::Check => "check",
            AlertProblem::For => "for_seconds",
            AlertProblem::Reminder => "reminder_minutes",
            AlertProblem::Flap => "flap_changes",
            AlertProblem::Severity => "severity",
            AlertProblem::Format => "format",
            AlertProblem::Url => "url",
            AlertProblem::Template => "template",
        }
    }
}

impl std::fmt::Display for AlertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

fn name(text: &str) -> Result<String, AlertProblem> {
    let name = text.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AlertProblem::Name);
    }
    Ok(name.to_owned())
}

fn topics(text: &str) -> Result<String, AlertProblem> {
    let text = text.trim();
    if text.chars().count() > MAX_FILTER_CHARS {
        return Err(AlertProblem::Topics);
    }
    TopicFilter::parse(text)
        .map(|filter| filter.as_str().to_owned())
        .map_err(|_| AlertProblem::Topics)
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn whole(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok()
}

impl RuleText<'_> {
    /// The rule this text says, checked, with the id and channels given.
    pub fn check(&self, id: i64, channels: Vec<i64>) -> Result<AlertRule, AlertProblem> {
        let name = name(self.name)?;
        let pointer = || {
            let pointer = self.pointer.trim();
            if is_pointer(pointer) {
                Ok(pointer.to_owned())
            } else {
                Err(AlertProblem::Pointer)
            }
        };
        let condition = match self.kind {
            "device_offline" => Condition::DeviceOffline {
                device_rule: whole(self.device_rule)
                    .filter(|id| *id > 0)
                    .ok_or(AlertProblem::DeviceRule)?,
                unknown_is_bad: self.unknown_is_bad == "on",
            },
            "threshold" => {
                let trigger = number(self.trigger).ok_or(AlertProblem::Threshold)?;
                let recover = if self.recover.trim().is_empty() {
                    trigger
                } else {
                    number(self.recover).ok_or(AlertProblem::Threshold)?
                };
                let above = match self.direction {
                    "above" => true,
                    "below" => false,
                    _ => return Err(AlertProblem::Threshold),
                };
                Condition::Threshold {
                    topics: topics(self.topics)?,
                    pointer: pointer()?,
                    threshold: Threshold {
                        above,
                        trigger,
                        recover,
                    }
                    .checked()
                    .map_err(|_| AlertProblem::Threshold)?,
                }
            }
            "stale" => Condition::Stale {
                topics: topics(self.topics)?,
            },
            "field" => {
                let pointer = pointer()?;
                if pointer.is_empty() {
                    return Err(AlertProblem::Pointer);
                }
                let value = self.value.trim();
                if value.chars().count() > MAX_VALUE_CHARS {
                    return Err(AlertProblem::Value);
                }
                Condition::Field {
                    topics: topics(self.topics)?,
                    pointer,
                    equals: match self.comparison {
                        "equals" => true,
                        "differs" => false,
                        _ => return Err(AlertProblem::Value),
                    },
                    value: value.to_owned(),
                }
            }
            "lookout" => Condition::Lookout {
                check: match self.check {
                    "cannot_see" => LookoutCheck::CannotSee,
                    "storage_failing" => LookoutCheck::StorageFailing,
                    "ingest_behind" => LookoutCheck::IngestBehind {
                        seconds: self
                            .behind_seconds
                            .trim()
                            .parse()
                            .ok()
                            .filter(|s| (1..=86_400).contains(s))
                            .ok_or(AlertProblem::Check)?,
                    },
                    _ => return Err(AlertProblem::Check),
                },
            },
            _ => return Err(AlertProblem::Kind),
        };
        let for_ms = if self.for_seconds.trim().is_empty() {
            0
        } else {
            whole(self.for_seconds)
                .and_then(|s| s.checked_mul(1000))
                .filter(|ms| (0..=MAX_FOR_MS).contains(ms))
                .ok_or(AlertProblem::For)?
        };
        if matches!(condition, Condition::Stale { .. }) && for_ms < 1000 {
            return Err(AlertProblem::For);
        }
        let reminder_ms = match self.reminder_minutes.trim() {
            "" => None,
            minutes => Some(
                whole(minutes)
                    .and_then(|m| m.checked_mul(60_000))
                    .filter(|ms| (MIN_REMINDER_MS..=MAX_FOR_MS).contains(ms))
                    .ok_or(AlertProblem::Reminder)?,
            ),
        };
        let defaults = Timing::default();
        let flap_changes = match self.flap_changes.trim() {
            "" => defaults.flap_changes,
            count => count
                .parse()
                .ok()
                .filter(|c| (2..=1000).contains(c))
                .ok_or(AlertProblem::Flap)?,
        };
        let flap_window_ms = match self.flap_minutes.trim() {
            "" => defaults.flap_window_ms,
            minutes => whole(minutes)
                .and_then(|m| m.checked_mul(60_000))
                .filter(|ms| (60_000..=MAX_FOR_MS).contains(ms))
                .ok_or(AlertProblem::Flap)?,
        };
        let timing = Timing {
            for_ms,
            reminder_ms,
            notify_resolve: self.notify_resolve == "on",
            flap_changes,
            flap_window_ms,
        }
        .checked()
        .map_err(|_| AlertProblem::For)?;
        let severity = match self.severity {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            _ => return Err(AlertProblem::Severity),
        };
        Ok(AlertRule {
            id,
            name,
            condition,
            timing,
            severity,
            enabled: true,
            channels,
        })
    }
}

/// A rule's form with its values owned: what the page fills an edit form with, and what the
/// server reads a post into (repeated `channel` fields name the channels told).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleForm {
    pub name: String,
    pub kind: String,
    pub topics: String,
    pub pointer: String,
    pub device_rule: String,
    pub unknown_is_bad: String,
    pub direction: String,
    pub trigger: String,
    pub recover: String,
    pub comparison: String,
    pub value: String,
    pub check: String,
    pub behind_seconds: String,
    pub for_seconds: String,
    pub reminder_minutes: String,
    pub notify_resolve: String,
    pub flap_changes: String,
    pub flap_minutes: String,
    pub severity: String,
    pub channels: Vec<i64>,
    pub enabled: bool,
}

/// The most channels one rule's form may name; more are ignored.
const MAX_FORM_CHANNELS: usize = MAX_CHANNELS;

impl RuleForm {
    pub fn text(&self) -> RuleText<'_> {
        RuleText {
            name: &self.name,
            kind: &self.kind,
            topics: &self.topics,
            pointer: &self.pointer,
            device_rule: &self.device_rule,
            unknown_is_bad: &self.unknown_is_bad,
            direction: &self.direction,
            trigger: &self.trigger,
            recover: &self.recover,
            comparison: &self.comparison,
            value: &self.value,
            check: &self.check,
            behind_seconds: &self.behind_seconds,
            for_seconds: &self.for_seconds,
            reminder_minutes: &self.reminder_minutes,
            notify_resolve: &self.notify_resolve,
            flap_changes: &self.flap_changes,
            flap_minutes: &self.flap_minutes,
            severity: &self.severity,
        }
    }

    /// A posted form's fields, in any order; unknown fields are ignored.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut form = RuleForm::default();
        for (key, value) in pairs {
            let value = value.clone();
            match key.as_str() {
                "name" => form.name = value,
                "kind" => form.kind = value,
                "topics" => form.topics = value,
                "pointer" => form.pointer = value,
                "device_rule" => form.device_rule = value,
                "unknown_is_bad" => form.unknown_is_bad = value,
                "direction" => form.direction = value,
                "trigger" => form.trigger = value,
                "recover" => form.recover = value,
                "comparison" => form.comparison = value,
                "value" => form.value = value,
                "check" => form.check = value,
                "behind_seconds" => form.behind_seconds = value,
                "for_seconds" => form.for_seconds = value,
                "reminder_minutes" => form.reminder_minutes = value,
                "notify_resolve" => form.notify_resolve = value,
                "flap_changes" => form.flap_changes = value,
                "flap_minutes" => form.flap_minutes = value,
                "severity" => form.severity = value,
                "enabled" => form.enabled = value == "on",
                "channel" => {
                    if let Ok(id) = value.trim().parse() {
                        if form.channels.len() < MAX_FORM_CHANNELS && !form.channels.contains(&id) {
                            form.channels.push(id);
                        }
                    }
                }
                _ => {}
            }
        }
        form
    }

    /// The form that edits `rule`.
    pub fn from_rule(rule: &AlertRule) -> Self {
        let seconds = |ms: i64| (ms / 1000).to_string();
        let minutes = |ms: i64| (ms / 60_000).to_string();
        let mut form = RuleForm {
            name: rule.name.clone(),
            for_seconds: seconds(rule.timing.for_ms),
            reminder_minutes: rule.timing.reminder_ms.map(minutes).unwrap_or_default(),
            notify_resolve: if rule.timing.notify_resolve { "on" } else { "" }.to_owned(),
            flap_changes: rule.timing.flap_changes.to_string(),
            flap_minutes: minutes(rule.timing.flap_window_ms),
            severity: rule.severity.as_str().to_owned(),
            channels: rule.channels.clone(),
            enabled: rule.enabled,
            ..RuleForm::default()
        };
        match &rule.condition {
            Condition::DeviceOffline {
                device_rule,
                unknown_is_bad,
            } => {
                form.kind = "device_offline".to_owned();
                form.device_rule = device_rule.to_string();
                form.unknown_is_bad = if *unknown_is_bad { "on" } else { "" }.to_owned();
            }
            Condition::Threshold {
                topics,
                pointer,
                threshold,
            } => {
                form.kind = "threshold".to_owned();
                form.topics = topics.clone();
                form.pointer = pointer.clone();
                form.direction = if threshold.above { "above" } else { "below" }.to_owned();
                form.trigger = threshold.trigger.to_string();
                form.recover = threshold.recover.to_string();
            }
            Condition::Stale { topics } => {
                form.kind = "stale".to_owned();
                form.topics = topics.clone();
            }
            Condition::Field {
                topics,
                pointer,
                equals,
                value,
            } => {
                form.kind = "field".to_owned();
                form.topics = topics.clone();
                form.pointer = pointer.clone();
                form.comparison = if *equals { "equals" } else { "differs" }.to_owned();
                form.value = value.clone();
            }
            Condition::Lookout { check } => {
                form.kind = "lookout".to_owned();
                form.check = match check {
                    LookoutCheck::CannotSee => "cannot_see",
                    LookoutCheck::StorageFailing => "storage_failing",
                    LookoutCheck::IngestBehind { seconds } => {
                        form.behind_seconds = seconds.to_string();
                        "ingest_behind"
                    }
                }
                .to_owned();
            }
        }
        form
    }
}

/// A channel's form as typed.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChannelText<'a> {
    pub name: &'a str,
    pub format: &'a str,
    pub url: &'a str,
    /// Empty: the format's default.
    pub template: &'a str,
}

/// An address of at most [`MAX_URL_CHARS`] without spaces or control characters.
fn is_plain_address(url: &str) -> bool {
    url.chars().count() <= MAX_URL_CHARS
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// An http(s) address a notice may be posted to (a webhook's, a chat service's).
pub fn is_web_address(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://")) && is_plain_address(url)
}

impl ChannelText<'_> {
    pub fn check(&self, id: i64) -> Result<AlertChannel, AlertProblem> {
        let name = name(self.name)?;
        let format = ChannelFormat::parse(self.format).ok_or(AlertProblem::Format)?;
        let url = self.url.trim();
        let fine = if format == ChannelFormat::Email {
            EmailAddress::parse(url).is_ok() && is_plain_address(url)
        } else {
            is_web_address(url)
        };
        if !fine {
            return Err(AlertProblem::Url);
        }
        let template = match self.template.trim() {
            "" => None,
            template => {
                if template.len() > MAX_TEMPLATE_BYTES {
                    return Err(AlertProblem::Template);
                }
                // A template that fails for a sample fails for every notice.
                render(format, template, &sample_notice()).map_err(|_| AlertProblem::Template)?;
                Some(template.to_owned())
            }
        };
        Ok(AlertChannel {
            id,
            name,
            format,
            url: url.to_owned(),
            template,
            enabled: true,
        })
    }
}

/// What a channel's test sends.
pub fn sample_notice() -> Notice {
    Notice {
        id: 0,
        rule: "Test from Lookout".to_owned(),
        subject: "this channel".to_owned(),
        state: NoticeState::Test,
        severity: Severity::Info,
        since: "now".to_owned(),
        value: String::new(),
        link: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold_text<'a>(trigger: &'a str, recover: &'a str) -> RuleText<'a> {
        RuleText {
            name: "Boiler hot",
            kind: "threshold",
            topics: "plant/+/temp",
            direction: "above",
            trigger,
            recover,
            for_seconds: "30",
            severity: "critical",
            notify_resolve: "on",
            ..RuleText::default()
        }
    }

    #[test]
    fn a_threshold_rule_is_checked_field_by_field() {
        let rule = threshold_text("90", "85").check(0, vec![1]).unwrap();
        assert_eq!(rule.timing.for_ms, 30_000);
        assert!(rule.timing.notify_resolve);
        assert_eq!(rule.severity, Severity::Critical);
        assert_eq!(
            threshold_text("90", "95").check(0, vec![]),
            Err(AlertProblem::Threshold),
            "recovering above an upper threshold is no recovery"
        );
        assert_eq!(
            threshold_text("hot", "").check(0, vec![]),
            Err(AlertProblem::Threshold)
        );
        let mut bad_topics = threshold_text("90", "");
        bad_topics.topics = "plant/#/temp";
        assert_eq!(bad_topics.check(0, vec![]), Err(AlertProblem::Topics));
        let mut often = threshold_text("90", "");
        often.reminder_minutes = "1";
        assert_eq!(often.check(0, vec![]), Err(AlertProblem::Reminder));
        let mut blank = threshold_text("90", "");
        blank.name = "  ";
        assert_eq!(blank.check(0, vec![]), Err(AlertProblem::Name));
    }

    #[test]
    fn a_threshold_keeps_its_hysteresis_when_judging_messages() {
        let rule = threshold_text("90", "85").check(0, vec![]).unwrap();
        let judge = |payload: &str, was_bad| {
            let (bad, value) = rule.condition.judge(payload.as_bytes(), was_bad)?;
            Some((bad, value.words()))
        };
        assert_eq!(judge("91", false), Some((true, "91".to_owned())));
        assert_eq!(judge("88", true), Some((true, "88".to_owned())));
        assert_eq!(judge("85", true), Some((false, "85".to_owned())));
        assert_eq!(judge("on", false), None, "not a number says nothing");
    }

    #[test]
    fn a_field_rule_compares_the_field_as_text() {
        let rule = RuleText {
            name: "Door",
            kind: "field",
            topics: "house/door",
            pointer: "/state",
            comparison: "equals",
            value: "open",
            severity: "warning",
            ..RuleText::default()
        }
        .check(0, vec![])
        .unwrap();
        let judge = |payload: &str| {
            let (bad, value) = rule.condition.judge(payload.as_bytes(), false)?;
            Some((bad, value.words()))
        };
        assert_eq!(
            judge(r#"{"state":"open"}"#),
            Some((true, "open".to_owned()))
        );
        assert_eq!(
            judge(r#"{"state":"shut"}"#),
            Some((false, "shut".to_owned()))
        );
        assert_eq!(judge(r#"{"other":1}"#), None);
        assert_eq!(judge("open"), None, "not JSON");
    }

    #[test]
    fn a_rule_comes_back_unchanged_through_its_edit_form() {
        let mut rule = threshold_text("90", "85").check(7, vec![3, 4]).unwrap();
        rule.timing.reminder_ms = Some(30 * 60_000);
        let form = RuleForm::from_rule(&rule);
        let mut pairs: Vec<(String, String)> = serde_json::to_value(&form)
            .unwrap()
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect();
        pairs.push(("channel".to_owned(), "3".to_owned()));
        pairs.push(("channel".to_owned(), "4".to_owned()));
        pairs.push(("channel".to_owned(), "4".to_owned()));
        pairs.push(("enabled".to_owned(), "on".to_owned()));
        let posted = RuleForm::from_pairs(&pairs);
        assert_eq!(posted, form);
        assert_eq!(posted.text().check(7, posted.channels.clone()), Ok(rule));
    }

    #[test]
    fn a_stale_rule_needs_a_duration() {
        let text = RuleText {
            name: "Quiet",
            kind: "stale",
            topics: "sensors/#",
            severity: "info",
            ..RuleText::default()
        };
        assert_eq!(text.check(0, vec![]), Err(AlertProblem::For));
        let text = RuleText {
            for_seconds: "60",
            ..text
        };
        assert!(text.check(0, vec![]).is_ok());
    }

    #[test]
    fn a_channel_needs_a_web_address_and_a_template_that_renders() {
        let text = ChannelText {
            name: "Ops",
            format: "slack",
            url: "https://hooks.example/abc",
            template: "",
        };
        assert!(text.check(0).unwrap().template.is_none());
        let ftp = ChannelText {
            url: "ftp://x",
            ..text
        };
        assert_eq!(ftp.check(0), Err(AlertProblem::Url));
        let unknown = ChannelText {
            template: "{{nope}}",
            ..text
        };
        assert_eq!(unknown.check(0), Err(AlertProblem::Template));
        let own = ChannelText {
            template: r#"{"text": "{{title}}"}"#,
            ..text
        };
        assert!(own.check(0).unwrap().template.is_some());
    }
}
