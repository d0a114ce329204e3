//! Device liveness: which devices are online, offline or unknown, and why. Pure logic: it takes
//! the rules admins configured, the newest message of each topic (what `latest` keeps) and a
//! clock, and decides. The SQL is in `server::store::liveness`, the pages are `pages::devices`
//! and `pages::admin::device_rules`; the dashboard's device list and public status pages share
//! this.
//!
//! A rule names its devices with a topic filter holding one `+` (`sensors/+/#`: every topic under
//! `sensors/boiler/` belongs to the device `boiler`), says how often a device is expected to send,
//! and optionally where it reports its state (`sensors/+/status`, typically its last will and a
//! retained "online" on connect). A device is
//! - **offline** when its status topic's newest message says so and nothing arrived live after
//!   it, or when it has been silent for longer than [`GRACE`] times its interval;
//! - **online** when it sends within that time (a retained "online" status counts until then);
//! - **unknown** when nothing was ever received, or only retained messages and not yet long enough
//!   to call it silent.
//!
//! Retained messages: the broker hands them over whenever Lookout (re)subscribes, with the retain
//! flag set, at the time of that subscription. They are the current state, but their arrival says
//! nothing about the device being alive, so silence is measured from live messages only.

use crate::domain::topic_filter::{InvalidFilter, TopicFilter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A device is silent once nothing arrived for this many times its expected interval: one late
/// message is not an outage.
pub const GRACE: (i64, i64) = (3, 2);

/// The longest expected interval a rule may have: a week.
pub const MAX_INTERVAL_SECONDS: i64 = 7 * 86_400;
/// Rule names and status words are short labels.
pub const MAX_NAME_CHARS: usize = 80;
pub const MAX_WORD_CHARS: usize = 64;

/// A topic filter with exactly one `+`, the level that names the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePattern(TopicFilter);

/// Why a text is not a [`DevicePattern`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternError {
    Filter(InvalidFilter),
    /// No `+`, or more than one: which level names the device would be unclear.
    DeviceLevel(usize),
    /// A status topic is one topic per device, so it cannot end in `#`.
    MultiLevel,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Filter(error) => write!(f, "{error}"),
            PatternError::DeviceLevel(count) => {
                write!(f, "exactly one '+' must name the device, not {count}")
            }
            PatternError::MultiLevel => f.write_str("a status topic cannot use '#'"),
        }
    }
}

impl std::error::Error for PatternError {}

impl DevicePattern {
    /// The topics of devices: `sensors/+/#`, `plant/+/temperature`.
    pub fn devices(text: &str) -> Result<Self, PatternError> {
        let filter = TopicFilter::parse(text).map_err(PatternError::Filter)?;
        match filter.single_level_wildcards() {
            1 => Ok(Self(filter)),
            count => Err(PatternError::DeviceLevel(count)),
        }
    }

    /// One status topic per device: `sensors/+/status`.
    pub fn status(text: &str) -> Result<Self, PatternError> {
        let pattern = Self::devices(text)?;
        if pattern.0.has_multi_level_wildcard() {
            return Err(PatternError::MultiLevel);
        }
        Ok(pattern)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The topics it names, as a filter to follow.
    pub fn filter(&self) -> &TopicFilter {
        &self.0
    }

    /// The device `topic` belongs to. An empty level (`sensors//temp`) names no device.
    pub fn device_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let captured = self.0.captures(topic)?;
        captured
            .first()
            .copied()
            .filter(|device| !device.is_empty())
    }

    /// The start every matching topic shares (`sensors` for `sensors/+/#`), so storage can narrow
    /// its search before the exact match here.
    pub fn literal_prefix(&self) -> &str {
        let text = self.as_str();
        let literal = &text[..text.find(['+', '#']).unwrap_or(text.len())];
        literal.strip_suffix('/').unwrap_or(literal)
    }
}

/// The payloads that mean online and offline on a status topic, besides the fixed ones (see
/// [`read_status`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusWords {
    pub online: String,
    pub offline: String,
}

impl Default for StatusWords {
    fn default() -> Self {
        Self {
            online: "online".to_owned(),
            offline: "offline".to_owned(),
        }
    }
}

/// What a status message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    Online,
    Offline,
}

/// What a status payload says, or `None` when it says neither. Understood, ignoring letter case
/// and surrounding white space:
/// - the rule's words (`online` and `offline` unless changed);
/// - `true`/`false` and `1`/`0`;
/// - any of these as a JSON string, or as the `state`, `status` or `online` member of a JSON
///   object: `{"state": "offline"}`, `{"online": true}`.
pub fn read_status(payload: &[u8], words: &StatusWords) -> Option<Reported> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    read_word(text, words).or_else(|| {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        read_json(&json, words, 0)
    })
}

fn read_word(text: &str, words: &StatusWords) -> Option<Reported> {
    let is = |word: &str| text.eq_ignore_ascii_case(word.trim());
    if is(&words.online) {
        Some(Reported::Online)
    } else if is(&words.offline) {
        Some(Reported::Offline)
    } else if is("true") || is("1") {
        Some(Reported::Online)
    } else if is("false") || is("0") {
        Some(Reported::Offline)
    } else {
        None
    }
}

fn read_json(value: &serde_json::Value, words: &StatusWords, depth: u8) -> Option<Reported> {
    use serde_json::Value;
    match value {
        Value::String(text) => read_word(text.trim(), words),
        Value::Bool(online) => Some(if *online {
            Reported::Online
        } else {
            Reported::Offline
        }),
        Value::Number(number) => read_word(&number.to_string(), words),
        // One level only: `{"state": "offline"}`, not a search through a whole document.
        Value::Object(members) if depth == 0 => ["state", "status", "online"]
            .iter()
            .find_map(|key| members.get(*key))
            .and_then(|member| read_json(member, words, depth + 1)),
        _ => None,
    }
}

/// A liveness rule as admins configure it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivenessRule {
    pub id: i64,
    pub name: String,
    /// Every topic of a device; its `+` level is the device's name.
    pub devices: DevicePattern,
    /// Where a device reports online or offline (its last will, typically).
    pub status: Option<DevicePattern>,
    pub interval_seconds: i64,
    pub words: StatusWords,
}

/// A rule as typed into a form or stored, before it is checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuleText<'a> {
    pub name: &'a str,
    pub devices: &'a str,
    /// Empty for none.
    pub status: &'a str,
    pub interval_seconds: &'a str,
    /// Empty for the default word.
    pub online: &'a str,
    pub offline: &'a str,
}

/// What is wrong with a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleProblem {
    Name,
    Devices(PatternError),
    Status(PatternError),
    Interval,
    /// Empty, too long, or the same word for online and offline.
    Words,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleProblem::Name => write!(f, "a name has 1 to {MAX_NAME_CHARS} characters"),
            RuleProblem::Devices(error) => write!(f, "device topics: {error}"),
            RuleProblem::Status(error) => write!(f, "status topic: {error}"),
            RuleProblem::Interval => write!(
                f,
                "the interval is a whole number of seconds from 1 to {MAX_INTERVAL_SECONDS}"
            ),
            RuleProblem::Words => f.write_str("the status words must differ and not be empty"),
        }
    }
}

impl std::error::Error for RuleProblem {}

impl LivenessRule {
    /// Checks a rule. Surrounding white space is ignored everywhere.
    pub fn check(id: i64, text: RuleText<'_>) -> Result<Self, RuleProblem> {
        let name = text.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(RuleProblem::Name);
        }
        let devices = DevicePattern::devices(text.devices.trim()).map_err(RuleProblem::Devices)?;
        let status = match text.status.trim() {
            "" => None,
            status => Some(DevicePattern::status(status).map_err(RuleProblem::Status)?),
        };
        let interval_seconds = text
            .interval_seconds
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|seconds| (1..=MAX_INTERVAL_SECONDS).contains(seconds))
            .ok_or(RuleProblem::Interval)?;
        let defaults = StatusWords::default();
        let word = |typed: &str, default: String| match typed.trim() {
            "" => Ok(default),
            word if word.chars().count() > MAX_WORD_CHARS => Err(RuleProblem::Words),
            word => Ok(word.to_owned()),
        };
        let words = StatusWords {
            online: word(text.online, defaults.online)?,
            offline: word(text.offline, defaults.offline)?,
        };
        if words.online.eq_ignore_ascii_case(&words.offline) {
            return Err(RuleProblem::Words);
        }
        Ok(Self {
            id,
            name: name.to_owned(),
            devices,
            status,
            interval_seconds,
            words,
        })
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval_seconds * 1000
    }

    /// The prefixes that every topic of this rule starts with.
    pub fn literal_prefixes(&self) -> impl Iterator<Item = &str> + '_ {
        std::iter::once(self.devices.literal_prefix())
            .chain(self.status.iter().map(DevicePattern::literal_prefix))
    }
}

/// The newest message of one topic, as `latest` keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicSeen {
    pub topic: String,
    pub received_at_ms: i64,
    /// Handed over from the broker's retained store at a (re)subscription, not sent live then.
    pub retained: bool,
    /// The start of the payload (enough to read a status).
    pub payload: Vec<u8>,
    /// The newest message that arrived live, with its payload: this one unless `retained`; for a
    /// retained one, an earlier message from history, if still stored.
    pub live: Option<(i64, Vec<u8>)>,
}

impl TopicSeen {
    /// A message that arrived live (not retained).
    pub fn live(topic: &str, received_at_ms: i64, payload: &[u8]) -> Self {
        Self {
            topic: topic.to_owned(),
            received_at_ms,
            retained: false,
            payload: payload.to_vec(),
            live: Some((received_at_ms, payload.to_vec())),
        }
    }

    /// A retained message handed over at a subscription, with the newest live one if known.
    pub fn retained(
        topic: &str,
        received_at_ms: i64,
        payload: &[u8],
        live: Option<(i64, &[u8])>,
    ) -> Self {
        Self {
            topic: topic.to_owned(),
            received_at_ms,
            retained: true,
            payload: payload.to_vec(),
            live: live.map(|(at, payload)| (at, payload.to_vec())),
        }
    }
}

/// What is known about one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The newest message of any of its topics that arrived live.
    pub last_live_ms: Option<i64>,
    /// The newest retained message handed over at a subscription: Lookout was listening from
    /// then on, whatever the device did.
    pub last_retained_ms: Option<i64>,
    /// What its status topic says, if it has one and it says something understood.
    pub status: Option<StatusReport>,
    /// How many of its topics were seen.
    pub topics: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusReport {
    pub reported: Reported,
    /// When it was reported: exact for a live message, or for a retained one whose payload a live
    /// message of the same topic had said before. Otherwise the time the retained copy was
    /// handed over, which the report itself preceded.
    pub at_ms: i64,
    pub exact: bool,
}

impl StatusReport {
    fn of(seen: &TopicSeen, words: &StatusWords) -> Option<Self> {
        let reported = read_status(&seen.payload, words)?;
        let exact_at = match &seen.live {
            Some((at, _)) if !seen.retained => Some(*at),
            Some((at, payload)) if read_status(payload, words) == Some(reported) => Some(*at),
            _ => None,
        };
        Some(Self {
            reported,
            at_ms: exact_at.unwrap_or(seen.received_at_ms),
            exact: exact_at.is_some(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    Online,
    Offline,
    Unknown,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Online => "online",
            DeviceState::Offline => "offline",
            DeviceState::Unknown => "unknown",
        }
    }
}

/// Why a device is in its state. Times are Unix milliseconds of the server's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    NothingReceived,
    ReportedOffline {
        at_ms: i64,
        exact: bool,
    },
    /// Nothing live since `since_ms`; `at_least` when that is only when Lookout got the retained
    /// messages, and the device may have been silent long before.
    Silent {
        since_ms: i64,
        at_least: bool,
        interval_ms: i64,
    },
    /// Live messages keep coming.
    Sending {
        interval_ms: i64,
        reported_online: bool,
        /// It had reported offline at that time and sends again since.
        back_after_offline_ms: Option<i64>,
    },
    /// Only retained messages so far, received `since_ms`; not yet long enough to call it
    /// silent. Online if its retained status says so, otherwise unknown.
    Waiting {
        since_ms: i64,
        interval_ms: i64,
        reported_online: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub state: DeviceState,
    pub cause: Cause,
}

/// The decision for one device. Ages never go below zero, so a message stamped a little ahead
/// (another instance's clock) counts as just arrived.
pub fn decide(evidence: &Evidence, interval_ms: i64, now_ms: i64) -> Verdict {
    let grace_ms = interval_ms.saturating_mul(GRACE.0) / GRACE.1;
    let quiet_for = |since: i64| now_ms.saturating_sub(since).max(0);
    let verdict = |state, cause| Verdict { state, cause };
    let status = evidence.status;
    let reported_online = status.is_some_and(|s| s.reported == Reported::Online);

    let mut back_after_offline_ms = None;
    if let Some(report) = status.filter(|s| s.reported == Reported::Offline) {
        // Live messages after the report mean it came back without saying so.
        match evidence.last_live_ms {
            Some(live) if live > report.at_ms => back_after_offline_ms = Some(report.at_ms),
            _ => {
                return verdict(
                    DeviceState::Offline,
                    Cause::ReportedOffline {
                        at_ms: report.at_ms,
                        exact: report.exact,
                    },
                )
            }
        }
    }

    match (evidence.last_live_ms, evidence.last_retained_ms) {
        (Some(live), _) if quiet_for(live) > grace_ms => verdict(
            DeviceState::Offline,
            Cause::Silent {
                since_ms: live,
                at_least: false,
                interval_ms,
            },
        ),
        (Some(_), _) => verdict(
            DeviceState::Online,
            Cause::Sending {
                interval_ms,
                reported_online,
                back_after_offline_ms,
            },
        ),
        (None, Some(retained)) if quiet_for(retained) > grace_ms => verdict(
            DeviceState::Offline,
            Cause::Silent {
                since_ms: retained,
                at_least: true,
                interval_ms,
            },
        ),
        (None, Some(retained)) => verdict(
            if reported_online {
                DeviceState::Online
            } else {
                DeviceState::Unknown
            },
            Cause::Waiting {
                since_ms: retained,
                interval_ms,
                reported_online,
            },
        ),
        (None, None) => verdict(DeviceState::Unknown, Cause::NothingReceived),
    }
}

impl Cause {
    /// The reason as the device list shows it, at `now_ms`.
    pub fn describe(&self, now_ms: i64) -> String {
        let at = |ms: i64| clock(ms, now_ms);
        match *self {
            Cause::NothingReceived => "nothing received yet".to_owned(),
            // MQTT does not tell a last will from any other publish, hence "or".
            Cause::ReportedOffline { at_ms, exact: true } => {
                format!(
                    "reported offline at {} (last will or status message)",
                    at(at_ms)
                )
            }
            Cause::ReportedOffline {
                at_ms,
                exact: false,
            } => format!(
                "reported offline before {} (retained last will or status message)",
                at(at_ms)
            ),
            Cause::Silent {
                since_ms,
                at_least,
                interval_ms,
            } => format!(
                "silent for {}{}, expected every {}",
                if at_least { "at least " } else { "" },
                format_span(now_ms.saturating_sub(since_ms)),
                format_interval(interval_ms)
            ),
            Cause::Sending {
                interval_ms,
                reported_online,
                back_after_offline_ms,
            } => {
                let every = format_interval(interval_ms);
                match back_after_offline_ms {
                    Some(offline) => format!(
                        "sending again after reporting offline at {}, expected every {every}",
                        at(offline)
                    ),
                    None if reported_online => {
                        format!("reports online and sends, expected every {every}")
                    }
                    None => format!("sending, expected every {every}"),
                }
            }
            Cause::Waiting {
                since_ms,
                interval_ms,
                reported_online,
            } => {
                let every = format_interval(interval_ms);
                let since = at(since_ms);
                if reported_online {
                    format!(
                        "retained status says online (received at {since}); no live message \
                         yet, expected every {every}"
                    )
                } else {
                    format!(
                        "only retained messages so far (received at {since}); a live one is \
                         expected every {every}"
                    )
                }
            }
        }
    }
}

/// One device found by a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub rule_id: i64,
    pub rule_name: String,
    pub name: String,
    pub evidence: Evidence,
    pub verdict: Verdict,
}

/// Every device the rules find in `topics`, decided at `now_ms`, ordered by rule name, rule and
/// device name. A topic several rules match counts for each; only topics given count, so a list
/// for a visitor is built from the topics that visitor may read.
pub fn evaluate(rules: &[LivenessRule], topics: &[TopicSeen], now_ms: i64) -> Vec<Device> {
    let mut devices = Vec::new();
    for rule in rules {
        let mut found: BTreeMap<&str, Evidence> = BTreeMap::new();
        for seen in topics {
            let status = rule
                .status
                .as_ref()
                .and_then(|pattern| pattern.device_of(&seen.topic));
            let Some(name) = status.or_else(|| rule.devices.device_of(&seen.topic)) else {
                continue;
            };
            let evidence = found.entry(name).or_default();
            evidence.topics += 1;
            if let Some((at, _)) = seen.live {
                evidence.last_live_ms = evidence.last_live_ms.max(Some(at));
            }
            if seen.retained {
                evidence.last_retained_ms =
                    evidence.last_retained_ms.max(Some(seen.received_at_ms));
            }
            if status.is_some() {
                evidence.status = StatusReport::of(seen, &rule.words);
            }
        }
        devices.extend(found.into_iter().map(|(name, evidence)| Device {
            rule_id: rule.id,
            rule_name: rule.name.clone(),
            name: name.to_owned(),
            verdict: decide(&evidence, rule.interval_ms(), now_ms),
            evidence,
        }));
    }
    devices.sort_by(|a, b| {
        (&a.rule_name, a.rule_id, &a.name).cmp(&(&b.rule_name, b.rule_id, &b.name))
    });
    devices
}

/// How many devices are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCounts {
    pub online: usize,
    pub offline: usize,
    pub unknown: usize,
}

impl DeviceCounts {
    pub fn of(states: impl IntoIterator<Item = DeviceState>) -> Self {
        let mut counts = Self::default();
        for state in states {
            *match state {
                DeviceState::Online => &mut counts.online,
                DeviceState::Offline => &mut counts.offline,
                DeviceState::Unknown => &mut counts.unknown,
            } += 1;
        }
        counts
    }
}

/// A length of time, rounded down to its largest whole unit: "45 s", "15 min", "3 h", "2 d".
pub fn format_span(ms: i64) -> String {
    match ms.max(0) / 1000 {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// An interval exactly, in the largest unit that divides it: "1 min", "90 s", "2 h".
pub fn format_interval(ms: i64) -> String {
    let seconds = ms / 1000;
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// "12:03 UTC", with the date when that is not within a day of `now_ms`: "2026-11-24 12:03 UTC".
pub fn clock(at_ms: i64, now_ms: i64) -> String {
    const DAY_MS: i64 = 86_400_000;
    let (day, ms_of_day) = (at_ms.div_euclid(DAY_MS), at_ms.rem_euclid(DAY_MS));
    let minutes = ms_of_day / 60_000;
    let time = format!("{:02}:{:02} UTC", minutes / 60, minutes % 60);
    if now_ms.saturating_sub(at_ms).saturating_abs() < DAY_MS {
        return time;
    }
    let (year, month, day) = civil_date(day);
    format!("{year:04}-{month:02}-{day:02} {time}")
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), so formatting needs no date library in the browser bundle.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    /// 2026-11-25 12:03 UTC.
    const T: i64 = 1_795_608_180_000;

    fn rule(devices: &str, status: Option<&str>, interval_seconds: i64) -> LivenessRule {
        LivenessRule::check(
            1,
            RuleText {
                name: "sensors",
                devices,
                status: status.unwrap_or(""),
                interval_seconds: &interval_seconds.to_string(),
                ..RuleText::default()
            },
        )
        .unwrap()
    }

    fn evidence(live: Option<i64>, retained: Option<i64>) -> Evidence {
        Evidence {
            last_live_ms: live,
            last_retained_ms: retained,
            status: None,
            topics: 1,
        }
    }

    fn report(reported: Reported, at_ms: i64, exact: bool) -> Option<StatusReport> {
        Some(StatusReport {
            reported,
            at_ms,
            exact,
        })
    }

    #[test]
    fn the_clock_and_dates_read_as_utc() {
        assert_eq!(clock(T, T + 5 * MIN), "12:03 UTC");
        assert_eq!(clock(T, T + 3 * 86_400_000), "2026-11-25 12:03 UTC");
        assert_eq!(clock(0, 2 * 86_400_000), "1970-01-01 00:00 UTC");
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(19_782), (2024, 2, 29));
        assert_eq!(civil_date(19_783), (2024, 3, 1));
    }

    #[test]
    fn spans_round_down_and_intervals_stay_exact() {
        assert_eq!(format_span(15 * MIN + 59_000), "15 min");
        assert_eq!(format_span(-5), "0 s");
        assert_eq!(format_interval(MIN), "1 min");
        assert_eq!(format_interval(90_000), "90 s");
        assert_eq!(format_interval(2 * 3_600_000), "2 h");
        assert_eq!(format_interval(86_400_000), "1 d");
    }

    #[test]
    fn status_payloads_are_read_in_the_documented_forms() {
        let words = StatusWords::default();
        for (payload, expected) in [
            ("online", Some(Reported::Online)),
            (" OFFLINE\n", Some(Reported::Offline)),
            ("true", Some(Reported::Online)),
            ("0", Some(Reported::Offline)),
            (r#""Online""#, Some(Reported::Online)),
            (r#"{"state":"offline"}"#, Some(Reported::Offline)),
            (r#"{"status": "ONLINE", "ts": 5}"#, Some(Reported::Online)),
            (r#"{"online": false}"#, Some(Reported::Offline)),
            (r#"{"state": 1}"#, Some(Reported::Online)),
            (r#"{"state": {"state": "online"}}"#, None),
            (r#"{"temperature": 21}"#, None),
            ("21.5", None),
            ("", None),
            ("[true]", None),
        ] {
            assert_eq!(
                read_status(payload.as_bytes(), &words),
                expected,
                "{payload:?}"
            );
        }
        assert_eq!(read_status(&[0xff, 0xfe], &words), None);
        let custom = StatusWords {
            online: "Connected".to_owned(),
            offline: "Lost".to_owned(),
        };
        assert_eq!(read_status(b"lost", &custom), Some(Reported::Offline));
        assert_eq!(
            read_status(br#"{"state":"connected"}"#, &custom),
            Some(Reported::Online)
        );
        assert_eq!(
            read_status(b"offline", &custom),
            None,
            "the words replace the defaults"
        );
    }

    #[test]
    fn rules_are_checked() {
        let text = RuleText {
            name: " Sensors ",
            devices: "sensors/+/#",
            status: "sensors/+/status",
            interval_seconds: " 60 ",
            online: "",
            offline: "",
        };
        let checked = LivenessRule::check(7, text).unwrap();
        assert_eq!(checked.name, "Sensors");
        assert_eq!(checked.interval_ms(), 60_000);
        assert_eq!(checked.words, StatusWords::default());
        assert_eq!(
            checked.literal_prefixes().collect::<Vec<_>>(),
            ["sensors", "sensors"]
        );
        for (broken, problem) in [
            (RuleText { name: " ", ..text }, RuleProblem::Name),
            (
                RuleText {
                    devices: "sensors/#",
                    ..text
                },
                RuleProblem::Devices(PatternError::DeviceLevel(0)),
            ),
            (
                RuleText {
                    devices: "+/+/#",
                    ..text
                },
                RuleProblem::Devices(PatternError::DeviceLevel(2)),
            ),
            (
                RuleText {
                    devices: "a/+x",
                    ..text
                },
                RuleProblem::Devices(PatternError::Filter(InvalidFilter::PartialWildcard)),
            ),
            (
                RuleText {
                    status: "sensors/+/#",
                    ..text
                },
                RuleProblem::Status(PatternError::MultiLevel),
            ),
            (
                RuleText {
                    interval_seconds: "0",
                    ..text
                },
                RuleProblem::Interval,
            ),
            (
                RuleText {
                    interval_seconds: "1.5",
                    ..text
                },
                RuleProblem::Interval,
            ),
            (
                RuleText {
                    interval_seconds: "604801",
                    ..text
                },
                RuleProblem::Interval,
            ),
            (
                RuleText {
                    online: "OFFLINE",
                    ..text
                },
                RuleProblem::Words,
            ),
        ] {
            assert_eq!(LivenessRule::check(7, broken), Err(problem), "{broken:?}");
        }
    }

    #[test]
    fn devices_are_named_by_the_plus_level() {
        let pattern = DevicePattern::devices("sensors/+/#").unwrap();
        assert_eq!(pattern.device_of("sensors/boiler/temp"), Some("boiler"));
        assert_eq!(pattern.device_of("sensors/boiler"), Some("boiler"));
        assert_eq!(pattern.device_of("sensors//temp"), None, "an empty level");
        assert_eq!(pattern.device_of("other/boiler"), None);
        assert_eq!(pattern.literal_prefix(), "sensors");
        assert_eq!(DevicePattern::devices("+/x").unwrap().literal_prefix(), "");
        assert_eq!(
            DevicePattern::devices("a/b/+").unwrap().literal_prefix(),
            "a/b"
        );
    }

    #[test]
    fn a_device_that_sends_in_time_is_online_and_one_that_stops_goes_silent() {
        let fresh = decide(&evidence(Some(T), None), MIN, T + MIN);
        assert_eq!(fresh.state, DeviceState::Online);
        assert_eq!(
            fresh.cause.describe(T + MIN),
            "sending, expected every 1 min"
        );
        // One late message is within the grace of 1.5 intervals.
        assert_eq!(
            decide(&evidence(Some(T), None), MIN, T + 90_000).state,
            DeviceState::Online
        );
        let silent = decide(&evidence(Some(T), None), MIN, T + 15 * MIN);
        assert_eq!(silent.state, DeviceState::Offline);
        assert_eq!(
            silent.cause.describe(T + 15 * MIN),
            "silent for 15 min, expected every 1 min"
        );
    }

    #[test]
    fn nothing_received_is_unknown() {
        let verdict = decide(&Evidence::default(), MIN, T);
        assert_eq!(verdict.state, DeviceState::Unknown);
        assert_eq!(verdict.cause.describe(T), "nothing received yet");
    }

    #[test]
    fn an_offline_report_wins_until_something_arrives_live_after_it() {
        let mut known = evidence(Some(T - MIN), None);
        known.status = report(Reported::Offline, T, true);
        let offline = decide(&known, MIN, T + 5 * MIN);
        assert_eq!(offline.state, DeviceState::Offline);
        assert_eq!(
            offline.cause.describe(T + 5 * MIN),
            "reported offline at 12:03 UTC (last will or status message)"
        );
        // The report's own arrival is no sign of life after it.
        known.last_live_ms = Some(T);
        assert_eq!(decide(&known, MIN, T + 1000).state, DeviceState::Offline);
        // Data after the report: it came back without saying so.
        known.last_live_ms = Some(T + 2 * MIN);
        let back = decide(&known, MIN, T + 2 * MIN + 1000);
        assert_eq!(back.state, DeviceState::Online);
        assert_eq!(
            back.cause.describe(T + 2 * MIN + 1000),
            "sending again after reporting offline at 12:03 UTC, expected every 1 min"
        );
        // ... and if it then stops, it is silent, not offline by the old report.
        let silent = decide(&known, MIN, T + 30 * MIN);
        assert!(matches!(silent.cause, Cause::Silent { .. }), "{silent:?}");
    }

    #[test]
    fn an_online_status_does_not_hide_silence() {
        let mut known = evidence(Some(T), None);
        known.status = report(Reported::Online, T, true);
        let online = decide(&known, MIN, T + 30_000);
        assert_eq!(online.state, DeviceState::Online);
        assert_eq!(
            online.cause.describe(T + 30_000),
            "reports online and sends, expected every 1 min"
        );
        let silent = decide(&known, MIN, T + 15 * MIN);
        assert_eq!(silent.state, DeviceState::Offline);
        assert_eq!(
            silent.cause.describe(T + 15 * MIN),
            "silent for 15 min, expected every 1 min"
        );
    }

    #[test]
    fn a_clock_behind_the_messages_counts_them_as_just_arrived() {
        // Another instance stamped the message 10 s ahead of this one's clock.
        let verdict = decide(&evidence(Some(T + 10_000), None), 2000, T);
        assert_eq!(verdict.state, DeviceState::Online);
        let verdict = decide(&evidence(None, Some(T + 10_000)), 2000, T);
        assert_eq!(verdict.state, DeviceState::Unknown);
        // Extreme values neither overflow nor panic.
        decide(
            &evidence(Some(i64::MIN), Some(i64::MAX)),
            i64::MAX,
            i64::MAX,
        )
        .cause
        .describe(0);
        decide(&evidence(Some(i64::MAX), None), 1000, i64::MIN);
    }

    #[test]
    fn retained_messages_are_state_but_no_sign_of_life() {
        // Replayed when Lookout subscribed at T; nothing live known.
        let mut replayed = evidence(None, Some(T));
        let waiting = decide(&replayed, MIN, T + 30_000);
        assert_eq!(waiting.state, DeviceState::Unknown);
        assert_eq!(
            waiting.cause.describe(T + 30_000),
            "only retained messages so far (received at 12:03 UTC); a live one is expected every \
             1 min"
        );
        replayed.status = report(Reported::Online, T, false);
        assert_eq!(
            decide(&replayed, MIN, T + 30_000).state,
            DeviceState::Online
        );
        let silent = decide(&replayed, MIN, T + 15 * MIN);
        assert_eq!(silent.state, DeviceState::Offline);
        assert_eq!(
            silent.cause.describe(T + 15 * MIN),
            "silent for at least 15 min, expected every 1 min"
        );
        // A live message from before the replay still dates the silence.
        let known = evidence(Some(T - 20 * MIN), Some(T));
        let silent = decide(&known, MIN, T + 30_000);
        assert_eq!(
            silent.cause.describe(T + 30_000),
            "silent for 20 min, expected every 1 min"
        );
    }

    #[test]
    fn topics_are_grouped_into_devices_with_their_status() {
        let rules = [rule("s/+/#", Some("s/+/status"), 60)];
        let topics = [
            TopicSeen::live("s/boiler/temp", T, b"71"),
            TopicSeen::live("s/boiler/status", T - 10 * MIN, b"online"),
            TopicSeen::live("s/pump/status", T - 10 * MIN, br#"{"state":"offline"}"#),
            TopicSeen::live("s/pump/flow", T - 20 * MIN, b"3"),
            TopicSeen::live("s/fan/status", T, b"on fire"),
            TopicSeen::live("other/thing", T, b"1"),
        ];
        let devices = evaluate(&rules, &topics, T + 1000);
        let summary: Vec<(&str, DeviceState, usize)> = devices
            .iter()
            .map(|d| (d.name.as_str(), d.verdict.state, d.evidence.topics))
            .collect();
        assert_eq!(
            summary,
            [
                ("boiler", DeviceState::Online, 2),
                // A status it does not understand is still a message.
                ("fan", DeviceState::Online, 1),
                ("pump", DeviceState::Offline, 2),
            ]
        );
        assert_eq!(devices[0].evidence.last_live_ms, Some(T));
        assert_eq!(devices[1].evidence.status, None);
        assert_eq!(
            DeviceCounts::of(devices.iter().map(|d| d.verdict.state)),
            DeviceCounts {
                online: 2,
                offline: 1,
                unknown: 0
            }
        );
        assert!(evaluate(&[], &topics, T).is_empty(), "no rule, no devices");
    }

    #[test]
    fn a_status_topic_outside_the_device_topics_still_belongs_to_the_device() {
        let rules = [rule("data/+/reading", Some("state/+"), 60)];
        let topics = [
            TopicSeen::live("data/a/reading", T - 30 * MIN, b"1"),
            TopicSeen::live("state/a", T - 20 * MIN, b"offline"),
            TopicSeen::live("state/b", T, b"online"),
        ];
        let devices = evaluate(&rules, &topics, T);
        assert_eq!(devices.len(), 2);
        assert_eq!(
            devices[0].verdict.cause,
            Cause::ReportedOffline {
                at_ms: T - 20 * MIN,
                exact: true
            }
        );
        assert_eq!(devices[1].verdict.state, DeviceState::Online);
    }

    #[test]
    fn a_retained_offline_is_dated_by_history_when_it_says_the_same() {
        let rules = [rule("s/+/#", Some("s/+/status"), 60)];
        // The will arrived live at T; Lookout resubscribed at T + 1 h and got it again, retained.
        let resubscribed = T + 60 * MIN;
        let dated = [TopicSeen::retained(
            "s/pump/status",
            resubscribed,
            b"offline",
            Some((T, b"offline")),
        )];
        let devices = evaluate(&rules, &dated, resubscribed + 1000);
        assert_eq!(
            devices[0].verdict.cause.describe(resubscribed + 1000),
            "reported offline at 12:03 UTC (last will or status message)"
        );
        // History says otherwise (or nothing): only "before" the replay is known.
        for live in [Some((T, b"online".as_slice())), None] {
            let undated = [TopicSeen::retained(
                "s/pump/status",
                resubscribed,
                b"offline",
                live,
            )];
            let devices = evaluate(&rules, &undated, resubscribed + 1000);
            assert_eq!(
                devices[0].verdict.cause.describe(resubscribed + 1000),
                "reported offline before 13:03 UTC (retained last will or status message)"
            );
        }
    }

    #[test]
    fn each_rule_finds_its_own_devices() {
        let mut second = rule("s/+/temp", None, 5);
        second.id = 2;
        second.name = "temperatures".to_owned();
        let rules = [rule("s/+/#", None, 60), second];
        let topics = [TopicSeen::live("s/a/temp", T - 10_000, b"1")];
        let devices = evaluate(&rules, &topics, T);
        let states: Vec<(&str, DeviceState)> = devices
            .iter()
            .map(|d| (d.rule_name.as_str(), d.verdict.state))
            .collect();
        assert_eq!(
            states,
            [
                ("sensors", DeviceState::Online),
                ("temperatures", DeviceState::Offline)
            ]
        );
    }

    /// A reproducible source of random choices (xorshift).
    struct Random(u64);

    impl Random {
        fn below(&mut self, bound: i64) -> i64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % bound as u64) as i64
        }

        fn maybe(&mut self, bound: i64) -> Option<i64> {
            (self.below(3) > 0).then(|| self.below(bound))
        }
    }

    #[test]
    fn random_evidence_keeps_the_promises_of_the_module() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        for _ in 0..50_000 {
            let interval = 1000 * (1 + random.below(120));
            let now = 10_000_000 + random.below(1_000_000);
            let span = 10_000_000 + 1_000_000;
            let status = random.maybe(span).map(|at| StatusReport {
                reported: if random.below(2) == 0 {
                    Reported::Online
                } else {
                    Reported::Offline
                },
                at_ms: at,
                exact: random.below(2) == 0,
            });
            let known = Evidence {
                last_live_ms: random.maybe(span),
                last_retained_ms: random.maybe(span),
                status,
                topics: 1,
            };
            let verdict = decide(&known, interval, now);
            let grace = interval * 3 / 2;
            let fresh = |at: Option<i64>| at.is_some_and(|at| now - at <= grace);
            let offline_report = status.filter(|s| s.reported == Reported::Offline);
            let live_after_report = offline_report
                .is_some_and(|report| known.last_live_ms.is_some_and(|l| l > report.at_ms));
            // Online needs a fresh sign: live data in time, or a retained online status in time.
            if verdict.state == DeviceState::Online {
                assert!(
                    fresh(known.last_live_ms)
                        || (known.last_live_ms.is_none() && fresh(known.last_retained_ms)),
                    "{known:?} {verdict:?}"
                );
                assert!(offline_report.is_none() || live_after_report, "{known:?}");
            }
            // Fresh live data and no unanswered offline report is always online.
            if fresh(known.last_live_ms) && (offline_report.is_none() || live_after_report) {
                assert_eq!(verdict.state, DeviceState::Online, "{known:?}");
            }
            // An offline report nothing live followed is always offline, with that reason.
            if offline_report.is_some() && !live_after_report {
                assert!(
                    matches!(verdict.cause, Cause::ReportedOffline { .. }),
                    "{known:?}"
                );
            }
            if known.last_live_ms.is_none() && known.last_retained_ms.is_none() {
                assert_ne!(verdict.state, DeviceState::Online, "{known:?}");
            }
            // The state and its cause never disagree, and every cause can be read.
            let expected = match verdict.cause {
                Cause::NothingReceived => DeviceState::Unknown,
                Cause::ReportedOffline { .. } | Cause::Silent { .. } => DeviceState::Offline,
                Cause::Sending { .. } => DeviceState::Online,
                Cause::Waiting {
                    reported_online, ..
                } => {
                    if reported_online {
                        DeviceState::Online
                    } else {
                        DeviceState::Unknown
                    }
                }
            };
            assert_eq!(verdict.state, expected);
            assert!(!verdict.cause.describe(now).is_empty());
        }
    }
}
