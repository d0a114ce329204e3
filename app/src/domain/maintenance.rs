//! Maintenance windows of status pages: planned time in which a page (or some of its widgets) is
//! expected to be down. While one is in effect the alerts about what it covers are muted
//! (`domain::alerting` keeps what the channels missed and tells it after), visitors see it
//! ahead and during, and the uptime of what it covers leaves it out unless the admin chose to
//! count it.
//!
//! A window happens once or again every day or week, at the same UTC time, until an optional
//! last day. Times are milliseconds since the Unix epoch; nothing here reads a clock.

use crate::domain::incident::{checked_message, checked_title};
use crate::domain::wording::parse_utc_minute;
use serde::{Deserialize, Serialize};

/// Windows one page may have (each may repeat): more is a calendar, not a status page.
pub const MAX_PER_PAGE: i64 = 50;
/// The longest one occurrence may last: a week.
pub const MAX_DURATION_MINUTES: i64 = 7 * 24 * 60;
/// How far ahead a page announces a window.
pub const SHOWN_AHEAD_MS: i64 = 14 * DAY_MS;
/// Widgets one window may name (a page-wide window names none).
pub const MAX_WIDGETS: usize = 200;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    Once,
    Daily,
    Weekly,
}

impl Repeat {
    pub const ALL: [Repeat; 3] = [Repeat::Once, Repeat::Daily, Repeat::Weekly];

    pub fn as_str(self) -> &'static str {
        match self {
            Repeat::Once => "once",
            Repeat::Daily => "daily",
            Repeat::Weekly => "weekly",
        }
    }

    /// As a form's option and a visitor read it.
    pub fn words(self) -> &'static str {
        match self {
            Repeat::Once => "Once",
            Repeat::Daily => "Every day",
            Repeat::Weekly => "Every week",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|repeat| repeat.as_str() == text)
    }

    fn period_ms(self) -> Option<i64> {
        match self {
            Repeat::Once => None,
            Repeat::Daily => Some(DAY_MS),
            Repeat::Weekly => Some(7 * DAY_MS),
        }
    }
}

/// One occurrence of a window: `from_ms` inclusive to `to_ms` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// A maintenance window as an admin planned it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Maintenance {
    pub id: i64,
    pub title: String,
    /// What visitors should know; may be empty.
    pub message: String,
    /// The first occurrence's start.
    pub starts_ms: i64,
    pub duration_ms: i64,
    pub repeat: Repeat,
    /// No occurrence starts after this.
    pub until_ms: Option<i64>,
    /// Whether uptime counts the time as it was (else it is left out, as time not seen).
    pub counted: bool,
    /// The widgets it covers; `None`: the whole page.
    pub widgets: Option<Vec<i64>>,
    /// When it was planned (0 until stored).
    #[serde(default)]
    pub planned_ms: i64,
}

impl Maintenance {
    /// The occurrence in effect at `now_ms`, or else the next one.
    pub fn current_or_next(&self, now_ms: i64) -> Option<Occurrence> {
        self.occurrences(now_ms, i64::MAX).next()
    }

    /// Whether an occurrence is in effect at `at_ms`.
    pub fn active_at(&self, at_ms: i64) -> bool {
        self.current_or_next(at_ms)
            .is_some_and(|occurrence| occurrence.from_ms <= at_ms)
    }

    /// The occurrences that overlap `from_ms..to_ms`, in order.
    pub fn occurrences(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = Occurrence> + '_ {
        let period = self.repeat.period_ms();
        // The first occurrence that has not ended by `from_ms`.
        let first = match period {
            Some(period) if from_ms >= self.starts_ms + self.duration_ms => {
                (from_ms - self.starts_ms - self.duration_ms).div_euclid(period) + 1
            }
            _ => 0,
        };
        (first..)
            .map_while(move |n| match period {
                None if n > 0 => None,
                None => Some(self.starts_ms),
                Some(period) => n.checked_mul(period)?.checked_add(self.starts_ms),
            })
            .take_while(move |start| {
                *start < to_ms && self.until_ms.is_none_or(|until| *start <= until)
            })
            .map(|start| Occurrence {
                from_ms: start,
                to_ms: start + self.duration_ms,
            })
            .filter(move |occurrence| occurrence.to_ms > from_ms)
    }

    /// Whether it covers widget `id` of its page.
    pub fn covers(&self, widget_id: i64) -> bool {
        self.widgets
            .as_ref()
            .is_none_or(|widgets| widgets.contains(&widget_id))
    }

    /// When a page began to show `occurrence`: once planned, [`SHOWN_AHEAD_MS`] before it
    /// starts.
    pub fn announced_ms(&self, occurrence: &Occurrence) -> i64 {
        self.planned_ms
            .max(occurrence.from_ms - SHOWN_AHEAD_MS)
            .min(occurrence.from_ms)
    }

    /// Whether a page shows it at `now_ms`: in effect, or starting within [`SHOWN_AHEAD_MS`].
    pub fn shown_at(&self, now_ms: i64) -> Option<Occurrence> {
        self.current_or_next(now_ms)
            .filter(|occurrence| occurrence.from_ms <= now_ms + SHOWN_AHEAD_MS)
    }
}

/// Why a typed window was refused; each names its form field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaintenanceProblem {
    Title,
    Message,
    Starts,
    Duration,
    Repeat,
    Until,
    Widgets,
}

impl MaintenanceProblem {
    pub const ALL: [MaintenanceProblem; 7] = [
        MaintenanceProblem::Title,
        MaintenanceProblem::Message,
        MaintenanceProblem::Starts,
        MaintenanceProblem::Duration,
        MaintenanceProblem::Repeat,
        MaintenanceProblem::Until,
        MaintenanceProblem::Widgets,
    ];

    pub fn code(self) -> &'static str {
        match self {
            MaintenanceProblem::Title => "bad_maintenance_title",
            MaintenanceProblem::Message => "bad_maintenance_message",
            MaintenanceProblem::Starts => "bad_maintenance_start",
            MaintenanceProblem::Duration => "bad_maintenance_duration",
            MaintenanceProblem::Repeat => "bad_maintenance_repeat",
            MaintenanceProblem::Until => "bad_maintenance_until",
            MaintenanceProblem::Widgets => "bad_maintenance_widgets",
        }
    }

    pub fn field(self) -> &'static str {
        match self {
            MaintenanceProblem::Title => "title",
            MaintenanceProblem::Message => "message",
            MaintenanceProblem::Starts => "starts",
            MaintenanceProblem::Duration => "minutes",
            MaintenanceProblem::Repeat => "repeat",
            MaintenanceProblem::Until => "until",
            MaintenanceProblem::Widgets => "widget",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            MaintenanceProblem::Title => {
                "A maintenance window needs a title of 1 to 120 characters, without control characters."
            }
            MaintenanceProblem::Message => {
                "The message has at most 4000 characters (it may be empty)."
            }
            MaintenanceProblem::Starts => {
                "The start is a UTC date and time such as 2026-12-24T22:00."
            }
            MaintenanceProblem::Duration => {
                "A window lasts 1 minute to 7 days, and a repeating one no longer than its period."
            }
            MaintenanceProblem::Repeat => "Choose once, every day or every week.",
            MaintenanceProblem::Until => {
                "The last day is empty or a UTC date and time no earlier than the start."
            }
            MaintenanceProblem::Widgets => {
                "Choose the whole page or some of its widgets (at most 200)."
            }
        }
    }
}

/// A window as typed into the editor's form.
#[derive(Clone, Debug, Default)]
pub struct MaintenanceText<'a> {
    pub title: &'a str,
    pub message: &'a str,
    /// `datetime-local`, read as UTC.
    pub starts: &'a str,
    pub minutes: &'a str,
    pub repeat: &'a str,
    /// Empty, or `datetime-local`: no occurrence starts after it.
    pub until: &'a str,
    /// `counted` counts the time in uptime; anything else leaves it out.
    pub uptime: &'a str,
    /// Whether it covers the whole page; else `widgets`.
    pub whole_page: bool,
    pub widgets: Vec<&'a str>,
}

impl MaintenanceText<'_> {
    /// The window it describes (with id 0), or the first thing wrong with it. Widget ids are
    /// checked against the page by the store.
    pub fn checked(&self) -> Result<Maintenance, MaintenanceProblem> {
        let title = checked_title(self.title).map_err(|_| MaintenanceProblem::Title)?;
        let message = if self.message.trim().is_empty() {
            String::new()
        } else {
            checked_message(self.message).map_err(|_| MaintenanceProblem::Message)?
        };
        let starts_ms = parse_utc_minute(self.starts).ok_or(MaintenanceProblem::Starts)?;
        let repeat = Repeat::parse(self.repeat.trim()).ok_or(MaintenanceProblem::Repeat)?;
        let minutes: i64 = self
            .minutes
            .trim()
            .parse()
            .map_err(|_| MaintenanceProblem::Duration)?;
        let duration_ms = minutes * MINUTE_MS;
        if !(1..=MAX_DURATION_MINUTES).contains(&minutes)
            || repeat
                .period_ms()
                .is_some_and(|period| duration_ms > period)
        {
            return Err(MaintenanceProblem::Duration);
        }
        let until_ms = match self.until.trim() {
            "" => None,
            text => Some(
                parse_utc_minute(text)
                    .filter(|until| *until >= starts_ms)
                    .ok_or(MaintenanceProblem::Until)?,
            ),
        };
        let widgets = if self.whole_page {
            None
        } else {
            let mut ids = self
                .widgets
                .iter()
                .map(|id| id.trim().parse::<i64>())
                .collect::<Result<Vec<i64>, _>>()
                .map_err(|_| MaintenanceProblem::Widgets)?;
            ids.sort_unstable();
            ids.dedup();
            if ids.is_empty() || ids.len() > MAX_WIDGETS {
                return Err(MaintenanceProblem::Widgets);
            }
            Some(ids)
        };
        Ok(Maintenance {
            id: 0,
            title,
            message,
            starts_ms,
            duration_ms,
            repeat,
            until_ms,
            counted: self.uptime.trim() == "counted",
            widgets,
            planned_ms: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    /// 2026-12-07 00:00 UTC, a Monday.
    const MONDAY: i64 = 1_796_601_600_000;

    fn window(repeat: Repeat, until_ms: Option<i64>) -> Maintenance {
        Maintenance {
            id: 1,
            title: "Firmware update".into(),
            message: String::new(),
            starts_ms: MONDAY + 22 * HOUR,
            duration_ms: 2 * HOUR,
            repeat,
            until_ms,
            counted: false,
            widgets: Some(vec![3, 5]),
            planned_ms: 0,
        }
    }

    #[test]
    fn a_one_off_window_is_ahead_then_in_effect_then_gone() {
        let once = window(Repeat::Once, None);
        let occurrence = Occurrence {
            from_ms: MONDAY + 22 * HOUR,
            to_ms: MONDAY + 24 * HOUR,
        };
        assert_eq!(once.current_or_next(MONDAY), Some(occurrence));
        assert!(!once.active_at(MONDAY + 22 * HOUR - 1));
        assert!(once.active_at(MONDAY + 22 * HOUR));
        assert!(once.active_at(MONDAY + 24 * HOUR - 1));
        assert!(!once.active_at(MONDAY + 24 * HOUR));
        assert_eq!(once.current_or_next(MONDAY + 24 * HOUR), None);
        // Announced two weeks ahead, not earlier.
        assert_eq!(once.shown_at(MONDAY - 13 * 24 * HOUR), Some(occurrence));
        assert_eq!(once.shown_at(MONDAY - 15 * 24 * HOUR), None);
    }

    #[test]
    fn a_repeating_window_comes_back_at_its_period_until_its_last_day() {
        let nightly = window(Repeat::Daily, Some(MONDAY + 2 * 24 * HOUR + 22 * HOUR));
        // Tuesday noon: the next is Tuesday night.
        assert_eq!(
            nightly.current_or_next(MONDAY + 36 * HOUR),
            Some(Occurrence {
                from_ms: MONDAY + 46 * HOUR,
                to_ms: MONDAY + 48 * HOUR,
            })
        );
        // Wednesday 23:00: in the last occurrence.
        assert!(nightly.active_at(MONDAY + 71 * HOUR));
        assert_eq!(nightly.current_or_next(MONDAY + 72 * HOUR), None);
        let overlapping: Vec<Occurrence> = nightly
            .occurrences(MONDAY, MONDAY + 10 * 24 * HOUR)
            .collect();
        assert_eq!(overlapping.len(), 3);
        // Before its first start, a weekly window's next occurrence is the first.
        let weekly = window(Repeat::Weekly, None);
        assert_eq!(
            weekly.current_or_next(0).map(|o| o.from_ms),
            Some(MONDAY + 22 * HOUR)
        );
        assert_eq!(
            weekly
                .current_or_next(MONDAY + 3 * 24 * HOUR)
                .map(|o| o.from_ms),
            Some(MONDAY + 7 * 24 * HOUR + 22 * HOUR)
        );
        assert!(weekly.covers(5) && !weekly.covers(4));
        assert!(Maintenance {
            widgets: None,
            ..weekly
        }
        .covers(4));
    }

    #[test]
    fn typed_windows_are_checked_field_by_field() {
        let good = MaintenanceText {
            title: "Database upgrade",
            message: "The history is read-only meanwhile.",
            starts: "2026-12-07T22:00",
            minutes: "120",
            repeat: "weekly",
            until: "",
            uptime: "excluded",
            whole_page: false,
            widgets: vec!["5", "3", "5"],
        };
        let checked = good.checked().unwrap();
        assert_eq!(checked.starts_ms, MONDAY + 22 * HOUR);
        assert_eq!(checked.widgets, Some(vec![3, 5]));
        assert!(!checked.counted);
        let refused = [
            (
                MaintenanceText {
                    title: " ",
                    ..good.clone()
                },
                MaintenanceProblem::Title,
            ),
            (
                MaintenanceText {
                    starts: "next week",
                    ..good.clone()
                },
                MaintenanceProblem::Starts,
            ),
            (
                MaintenanceText {
                    minutes: "0",
                    ..good.clone()
                },
                MaintenanceProblem::Duration,
            ),
            (
                MaintenanceText {
                    minutes: "1500",
                    repeat: "daily",
                    ..good.clone()
                },
                MaintenanceProblem::Duration,
            ),
            (
                MaintenanceText {
                    repeat: "monthly",
                    ..good.clone()
                },
                MaintenanceProblem::Repeat,
            ),
            (
                MaintenanceText {
                    until: "2026-12-01T00:00",
                    ..good.clone()
                },
                MaintenanceProblem::Until,
            ),
            (
                MaintenanceText {
                    widgets: vec![],
                    ..good.clone()
                },
                MaintenanceProblem::Widgets,
            ),
            (
                MaintenanceText {
                    widgets: vec!["x"],
                    ..good.clone()
                },
                MaintenanceProblem::Widgets,
            ),
        ];
        for (text, problem) in refused {
            assert_eq!(text.checked().map(|_| ()), Err(problem), "{text:?}");
        }
        let whole = MaintenanceText {
            whole_page: true,
            widgets: vec![],
            uptime: "counted",
            ..good
        }
        .checked()
        .unwrap();
        assert_eq!(whole.widgets, None);
        assert!(whole.counted);
    }
}
