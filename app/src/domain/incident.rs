//! Incidents: what people tell a status page's visitors about something going wrong, in their
//! own words (an alert may propose one, a person writes it). An incident has a title and a
//! status that moves from investigating to resolved, and each change comes with an update: a
//! time, the status from then on and a message.

use crate::domain::alert_rule::{AlertRule, WatchedWidget, WidgetIndex};
use crate::domain::notice::Severity;
use crate::domain::topic_filter::TopicFilter;
use crate::domain::wording::{parse_utc_minute, UtcTime};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const MAX_TITLE_CHARS: usize = 120;
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Updates one incident may have: a long incident is still one story.
pub const MAX_UPDATES: i64 = 100;
/// Resolved incidents one page shows below its open ones: the most recent.
pub const PAST_SHOWN: i64 = 20;
/// Open incidents one page shows: the most recent (more open at once is no longer news).
pub const OPEN_SHOWN: i64 = 20;
/// Updates shown of each incident, the newest: with the limits above and on a message, a page's
/// incidents stay bounded whatever is typed.
pub const UPDATES_SHOWN: i64 = 10;
/// Widgets one incident may name as affected (a page's widgets are fewer in practice).
pub const MAX_AFFECTED: usize = 200;
/// Incidents one month's history page shows, the most recently opened: a month with more is
/// a month to read in the JSON's paging (`?before=`) rather than on one page.
pub const MONTH_SHOWN: i64 = 100;
/// Open incidents across all pages the operators' desk shows.
pub const DESK_SHOWN: i64 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 4] = [
        IncidentStatus::Investigating,
        IncidentStatus::Identified,
        IncidentStatus::Monitoring,
        IncidentStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Monitoring => "monitoring",
            IncidentStatus::Resolved => "resolved",
        }
    }

    /// As a visitor reads it.
    pub fn words(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "Investigating",
            IncidentStatus::Identified => "Identified",
            IncidentStatus::Monitoring => "Monitoring",
            IncidentStatus::Resolved => "Resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// One update of an incident, as visitors read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub at_ms: i64,
    pub status: IncidentStatus,
    pub message: String,
}

/// An incident with its updates, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub opened_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resolved_ms: Option<i64>,
    /// The widgets it affects, by id; empty: the page as a whole.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub widgets: Vec<i64>,
    pub updates: Vec<IncidentUpdate>,
}

/// Proposals the incident desk lists at most: the most recent firings.
pub const PROPOSALS_SHOWN: usize = 50;

/// An alert firing now, as the incident desk weighs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    pub rule_id: i64,
    pub subject: String,
    pub since_ms: i64,
}

/// A status page's widget with its page and label, as proposals name them.
#[derive(Clone, Debug, PartialEq)]
pub struct PageWidget {
    pub id: i64,
    pub page_id: i64,
    pub label: String,
    pub watched: WatchedWidget,
}

/// An incident a firing alert proposes on a page whose widgets it is about. A person decides
/// whether to open it, and in what words: the title is only a suggestion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub page_id: i64,
    pub rule_id: i64,
    pub rule: String,
    pub severity: Severity,
    /// The alert's subject, as stored (the key of its state).
    pub subject: String,
    /// The subject as people read it.
    pub subject_words: String,
    pub since_ms: i64,
    /// The page's widgets it is about.
    pub widgets: Vec<i64>,
    pub title: String,
}

impl Proposal {
    /// What names one firing's proposal on one page, for settling it.
    pub fn key(&self) -> (i64, &str, i64, i64) {
        (self.rule_id, &self.subject, self.page_id, self.since_ms)
    }
}

/// The proposals of `firing` alerts (newest first): one per page with widgets an alert is about,
/// but those a person already settled (opened or dismissed) for that firing, at most
/// [`PROPOSALS_SHOWN`].
pub fn proposals(
    firing: &[Firing],
    rules: &[AlertRule],
    widgets: &[PageWidget],
    settled: &HashSet<(i64, String, i64, i64)>,
) -> Vec<Proposal> {
    let indexed: Vec<(&PageWidget, WidgetIndex)> = widgets
        .iter()
        .map(|widget| (widget, WidgetIndex::new([&widget.watched])))
        .collect();
    let mut found = Vec::new();
    for alert in firing {
        let Some(rule) = rules.iter().find(|rule| rule.id == alert.rule_id) else {
            continue;
        };
        let watched = rule
            .condition
            .topics()
            .and_then(|topics| TopicFilter::parse(topics).ok());
        let mut by_page: Vec<(i64, Vec<&PageWidget>)> = Vec::new();
        for (widget, index) in &indexed {
            if !index.concerns(&rule.condition, watched.as_ref(), &alert.subject) {
                continue;
            }
            match by_page.iter_mut().find(|(page, _)| *page == widget.page_id) {
                Some((_, shown)) => shown.push(widget),
                None => by_page.push((widget.page_id, vec![widget])),
            }
        }
        for (page_id, shown) in by_page {
            let key = (
                alert.rule_id,
                alert.subject.clone(),
                page_id,
                alert.since_ms,
            );
            if settled.contains(&key) {
                continue;
            }
            let labels: Vec<&str> = shown.iter().map(|widget| widget.label.as_str()).collect();
            let title: String = format!("{}: {}", labels.join(", "), rule.name)
                .chars()
                .take(MAX_TITLE_CHARS)
                .collect();
            found.push(Proposal {
                page_id,
                rule_id: rule.id,
                rule: rule.name.clone(),
                severity: rule.severity,
                subject: alert.subject.clone(),
                subject_words: rule.condition.subject_words(&alert.subject),
                since_ms: alert.since_ms,
                widgets: shown.iter().map(|widget| widget.id).collect(),
                title,
            });
            if found.len() == PROPOSALS_SHOWN {
                return found;
            }
        }
    }
    found
}

/// Why a typed incident or update was refused; each names its form field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentProblem {
    Title,
    Status,
    Message,
    /// A widget named is not one of the page's, or too many are.
    Widgets,
}

impl IncidentProblem {
    pub const ALL: [IncidentProblem; 4] = [
        IncidentProblem::Title,
        IncidentProblem::Status,
        IncidentProblem::Message,
        IncidentProblem::Widgets,
    ];

    pub fn code(self) -> &'static str {
        match self {
            IncidentProblem::Title => "bad_incident_title",
            IncidentProblem::Status => "bad_incident_status",
            IncidentProblem::Message => "bad_incident_message",
            IncidentProblem::Widgets => "bad_incident_widgets",
        }
    }

    pub fn field(self) -> &'static str {
        match self {
            IncidentProblem::Title => "title",
            IncidentProblem::Status => "status",
            IncidentProblem::Message => "message",
            IncidentProblem::Widgets => "widget",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            IncidentProblem::Title => {
                "An incident needs a title of 1 to 120 characters, without control characters."
            }
            IncidentProblem::Status => "Choose investigating, identified, monitoring or resolved.",
            IncidentProblem::Message => {
                "An update needs a message of 1 to 4000 characters: what visitors should know."
            }
            IncidentProblem::Widgets => "Tick only widgets of this page (at most 200).",
        }
    }
}

/// A title as typed, checked.
pub fn checked_title(text: &str) -> Result<String, IncidentProblem> {
    let title = text.trim();
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(IncidentProblem::Title);
    }
    Ok(title.to_owned())
}

/// A message as typed, checked: line breaks are kept, other control characters are not.
pub fn checked_message(text: &str) -> Result<String, IncidentProblem> {
    let message = text.trim().replace("\r\n", "\n");
    let chars = message.chars().count();
    if chars == 0
        || chars > MAX_MESSAGE_CHARS
        || message.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(IncidentProblem::Message);
    }
    Ok(message)
}

pub fn checked_status(text: &str) -> Result<IncidentStatus, IncidentProblem> {
    IncidentStatus::parse(text.trim()).ok_or(IncidentProblem::Status)
}

/// The affected widgets as ticked (ids), each once; whether they are the page's is for the
/// store to say.
pub fn checked_widgets(ticked: &[&str]) -> Result<Vec<i64>, IncidentProblem> {
    let mut ids = ticked
        .iter()
        .map(|id| {
            id.trim()
                .parse::<i64>()
                .map_err(|_| IncidentProblem::Widgets)
        })
        .collect::<Result<Vec<i64>, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_AFFECTED {
        return Err(IncidentProblem::Widgets);
    }
    Ok(ids)
}

/// A month of incident history, `YYYY-MM` in addresses: the first instant of it and of the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Month {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    /// The month of an instant, in UTC.
    pub fn of_ms(at_ms: i64) -> Self {
        let at = UtcTime::from_ms(at_ms);
        Month {
            year: at.year as i32,
            month: at.month,
        }
    }

    /// `2026-12`; years outside 2000 to 9999 are not a history anyone keeps.
    pub fn parse(text: &str) -> Option<Self> {
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let month: u32 = month.parse().ok()?;
        ((2000..=9999).contains(&year) && (1..=12).contains(&month))
            .then_some(Month { year, month })
    }

    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// "December 2026".
    pub fn words(self) -> String {
        const NAMES: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        format!("{} {}", NAMES[(self.month - 1) as usize], self.year)
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The first instant of the month, in milliseconds since the epoch (UTC).
    pub fn start_ms(self) -> i64 {
        parse_utc_minute(&format!("{}-01T00:00", self.key())).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert_rule::{Condition, LookoutCheck};
    use crate::domain::alerting::{Threshold, Timing};

    #[test]
    fn titles_messages_and_statuses_are_checked() {
        assert_eq!(
            checked_title("  Database slow "),
            Ok("Database slow".to_owned())
        );
        assert_eq!(checked_title(""), Err(IncidentProblem::Title));
        assert_eq!(
            checked_title(&"x".repeat(MAX_TITLE_CHARS + 1)),
            Err(IncidentProblem::Title)
        );
        assert_eq!(checked_title("a\u{0}b"), Err(IncidentProblem::Title));
        assert_eq!(
            checked_message("We are on it.\r\nMore soon."),
            Ok("We are on it.\nMore soon.".to_owned())
        );
        assert_eq!(checked_message("   "), Err(IncidentProblem::Message));
        assert_eq!(checked_message("bell\u{7}"), Err(IncidentProblem::Message));
        assert_eq!(checked_status("monitoring"), Ok(IncidentStatus::Monitoring));
        assert_eq!(checked_status("fixed"), Err(IncidentProblem::Status));
        assert_eq!(checked_widgets(&["3", " 1", "3"]), Ok(vec![1, 3]));
        assert_eq!(checked_widgets(&[]), Ok(vec![]));
        assert_eq!(checked_widgets(&["x"]), Err(IncidentProblem::Widgets));
        let many: Vec<String> = (0..=MAX_AFFECTED).map(|id| id.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(checked_widgets(&many), Err(IncidentProblem::Widgets));
    }

    fn rule(id: i64, name: &str, condition: Condition) -> AlertRule {
        AlertRule {
            id,
            name: name.to_owned(),
            condition,
            timing: Timing::default(),
            severity: Severity::Critical,
            enabled: true,
            channels: Vec::new(),
        }
    }

    fn widget(id: i64, page_id: i64, label: &str, topic: &str, device: Option<&str>) -> PageWidget {
        PageWidget {
            id,
            page_id,
            label: label.to_owned(),
            watched: WatchedWidget {
                topic: topic.to_owned(),
                is_table: label.starts_with("Table"),
                device: device.map(str::to_owned),
            },
        }
    }

    #[test]
    fn a_firing_proposes_one_incident_per_page_it_is_about_until_someone_settles_it() {
        let hot = rule(
            1,
            "Too hot",
            Condition::Threshold {
                topics: "plant/+/temp".to_owned(),
                pointer: String::new(),
                threshold: Threshold {
                    above: true,
                    trigger: 90.0,
                    recover: 90.0,
                },
            },
        );
        let silent = rule(
            2,
            "Silent",
            Condition::Stale {
                topics: "plant/#".to_owned(),
            },
        );
        let offline = rule(
            3,
            "Offline",
            Condition::DeviceOffline {
                device_rule: 7,
                unknown_is_bad: false,
            },
        );
        let own = rule(
            4,
            "Blind",
            Condition::Lookout {
                check: LookoutCheck::CannotSee,
            },
        );
        let widgets = [
            widget(10, 100, "Pump", "plant/pump/temp", None),
            widget(11, 100, "Table of plant", "plant/#", None),
            widget(12, 200, "Boiler", "plant/boiler/temp", None),
            widget(13, 200, "Gateway", "", Some("gw-1")),
            widget(14, 300, "Office", "office/temp", None),
        ];
        let firing = |rule_id: i64, subject: &str| Firing {
            rule_id,
            subject: subject.to_owned(),
            since_ms: 1_000,
        };
        let rules = [hot, silent, offline, own];
        let found = proposals(
            &[
                firing(1, "plant/pump/temp"),
                firing(2, ""),
                firing(3, "gw-1"),
                firing(4, "broker connection"),
                firing(9, "plant/pump/temp"),
            ],
            &rules,
            &widgets,
            &HashSet::new(),
        );
        let summary: Vec<(i64, i64, Vec<i64>, &str)> = found
            .iter()
            .map(|p| (p.rule_id, p.page_id, p.widgets.clone(), p.title.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 100, vec![10, 11], "Pump, Table of plant: Too hot"),
                (2, 100, vec![10, 11], "Pump, Table of plant: Silent"),
                (2, 200, vec![12], "Boiler: Silent"),
                (3, 200, vec![13], "Gateway: Offline"),
            ]
        );
        assert_eq!(found[1].subject_words, "plant/#");

        // Settled for this firing: gone; the same alert firing again later proposes again.
        let settled: HashSet<_> = [(1, "plant/pump/temp".to_owned(), 100, 1_000)].into();
        let again = proposals(&[firing(1, "plant/pump/temp")], &rules, &widgets, &settled);
        assert!(again.is_empty());
        let later = Firing {
            since_ms: 5_000,
            ..firing(1, "plant/pump/temp")
        };
        assert_eq!(proposals(&[later], &rules, &widgets, &settled).len(), 1);
    }

    #[test]
    fn months_read_and_write_as_addresses_and_step_over_years() {
        let december = Month::parse("2026-12").unwrap();
        assert_eq!(december.key(), "2026-12");
        assert_eq!(december.words(), "December 2026");
        assert_eq!(december.next().key(), "2027-01");
        assert_eq!(december.next().previous(), december);
        assert_eq!(Month::parse("2027-01").unwrap().previous(), december);
        assert_eq!(Month::of_ms(december.start_ms()), december);
        assert_eq!(Month::of_ms(december.next().start_ms() - 1), december);
        for bad in [
            "2026-13", "2026-00", "26-12", "2026-1", "1999-12", "2026/12", "", "x-y",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }
}
