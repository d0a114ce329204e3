//! Incidents: what people tell a status page's visitors about something going wrong, in their
//! own words (an alert may propose one, a person writes it). An incident has a title and a
//! status that moves from investigating to resolved, and each change comes with an update: a
//! time, the status from then on and a message.

use serde::{Deserialize, Serialize};

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
    pub updates: Vec<IncidentUpdate>,
}

/// Why a typed incident or update was refused; each names its form field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentProblem {
    Title,
    Status,
    Message,
}

impl IncidentProblem {
    pub const ALL: [IncidentProblem; 3] = [
        IncidentProblem::Title,
        IncidentProblem::Status,
        IncidentProblem::Message,
    ];

    pub fn code(self) -> &'static str {
        match self {
            IncidentProblem::Title => "bad_incident_title",
            IncidentProblem::Status => "bad_incident_status",
            IncidentProblem::Message => "bad_incident_message",
        }
    }

    pub fn field(self) -> &'static str {
        match self {
            IncidentProblem::Title => "title",
            IncidentProblem::Status => "status",
            IncidentProblem::Message => "message",
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
