//! What an alert says, and how each kind of channel wants it said: one short, complete message
//! (what, where, since when, the value, a link) filled into a template per channel format. Every
//! chat service Lookout speaks to is a template of the same code path, so a format is a default
//! body and method here, never a client of its own; admins may edit a channel's template.

use serde::{Deserialize, Serialize};

/// The formats a channel can speak. Each is a JSON body (ntfy's is plain text) sent over HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelFormat {
    /// Any receiver: every field of the notice as JSON.
    Webhook,
    Slack,
    Discord,
    Teams,
    Telegram,
    Ntfy,
    Gotify,
    Matrix,
}

impl ChannelFormat {
    pub const ALL: [ChannelFormat; 8] = [
        ChannelFormat::Webhook,
        ChannelFormat::Slack,
        ChannelFormat::Discord,
        ChannelFormat::Teams,
        ChannelFormat::Telegram,
        ChannelFormat::Ntfy,
        ChannelFormat::Gotify,
        ChannelFormat::Matrix,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelFormat::Webhook => "webhook",
            ChannelFormat::Slack => "slack",
            ChannelFormat::Discord => "discord",
            ChannelFormat::Teams => "teams",
            ChannelFormat::Telegram => "telegram",
            ChannelFormat::Ntfy => "ntfy",
            ChannelFormat::Gotify => "gotify",
            ChannelFormat::Matrix => "matrix",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.as_str() == text)
    }

    /// The body sent unless the channel has its own template. Values are filled in escaped for
    /// where they stand (see [`render`]); Telegram's chat and Matrix's room are part of the
    /// channel's address or its template.
    pub fn default_template(self) -> &'static str {
        match self {
            ChannelFormat::Webhook => {
                r#"{"title": "{{title}}", "text": "{{text}}", "state": "{{state}}", "severity": "{{severity}}", "rule": "{{rule}}", "subject": "{{subject}}", "since": "{{since}}", "value": "{{value}}", "link": "{{link}}", "id": "{{id}}"}"#
            }
            ChannelFormat::Slack => r#"{"text": "{{title}}\n{{text}}"}"#,
            ChannelFormat::Discord => r#"{"content": "**{{title}}**\n{{text}}"}"#,
            ChannelFormat::Teams => {
                r#"{"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": "{{title}}", "title": "{{title}}", "text": "{{text}}"}"#
            }
            ChannelFormat::Telegram => r#"{"chat_id": "CHAT_ID", "text": "{{title}}\n{{text}}"}"#,
            ChannelFormat::Ntfy => "{{text}}",
            ChannelFormat::Gotify => {
                r#"{"title": "{{title}}", "message": "{{text}}", "priority": {{priority}}}"#
            }
            ChannelFormat::Matrix => r#"{"msgtype": "m.text", "body": "{{title}}\n{{text}}"}"#,
        }
    }

    /// How the body is escaped: JSON string content, or as it is for a plain text body.
    fn escaping(self) -> Escaping {
        match self {
            ChannelFormat::Ntfy => Escaping::None,
            _ => Escaping::JsonString,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ChannelFormat::Ntfy => "text/plain; charset=utf-8",
            _ => "application/json",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escaping {
    None,
    JsonString,
}

/// How serious a rule says its alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Gotify's and ntfy's scale, 1 (min) to 5 (max) for ntfy, 0 to 10 for Gotify's; both read
    /// these as low, default and high.
    fn priority(self) -> u8 {
        match self {
            Severity::Info => 2,
            Severity::Warning => 4,
            Severity::Critical => 5,
        }
    }
}

/// One thing an alert tells, with everything a message about it needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Unique per notice, so a receiver can drop a repeat (a send retried after a timeout may
    /// have arrived).
    pub id: i64,
    pub rule: String,
    /// The device or topic it is about.
    pub subject: String,
    pub state: NoticeState,
    pub severity: Severity,
    /// Since when it has been as it is, RFC 3339 in UTC.
    pub since: String,
    /// The value that decided, as read (empty when none did, e.g. a device that fell silent).
    pub value: String,
    /// Where to look: the topic or device page.
    pub link: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    Firing,
    Reminder,
    Resolved,
    Flapping,
    Steady,
    /// A test a person asked for from the channel's page.
    Test,
}

impl NoticeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeState::Firing => "firing",
            NoticeState::Reminder => "reminder",
            NoticeState::Resolved => "resolved",
            NoticeState::Flapping => "flapping",
            NoticeState::Steady => "steady",
            NoticeState::Test => "test",
        }
    }
}

impl Notice {
    /// One line a person reads first: the state and what it is about.
    pub fn title(&self) -> String {
        let word = match self.state {
            NoticeState::Firing => "FIRING",
            NoticeState::Reminder => "STILL FIRING",
            NoticeState::Resolved => "RESOLVED",
            NoticeState::Flapping => "FLAPPING",
            NoticeState::Steady => "STEADY",
            NoticeState::Test => "TEST",
        };
        format!("[{word}] {}: {}", self.rule, self.subject)
    }

    /// The rest, short and complete.
    pub fn text(&self) -> String {
        let value = if self.value.is_empty() {
            String::new()
        } else {
            format!(", value {}", self.value)
        };
        let since = match self.state {
            NoticeState::Resolved => "had fired since",
            NoticeState::Flapping => "changing too often to tell each change, since",
            NoticeState::Test => "sent",
            _ => "since",
        };
        format!(
            "{} ({}) {since} {}{value}. {}",
            self.subject,
            self.severity.as_str(),
            self.since,
            self.link
        )
    }
}

/// The largest template accepted: a message, not a document.
pub const MAX_TEMPLATE_BYTES: usize = 4096;

/// What is wrong with a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    TooLong,
    UnknownField(String),
    Unclosed,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::TooLong => write!(f, "a template holds at most 4096 bytes"),
            TemplateError::UnknownField(name) => write!(
                f,
                "{{{{{name}}}}} is no field (title, text, state, severity, rule, subject, since, \
                 value, link, id, priority)"
            ),
            TemplateError::Unclosed => write!(f, "a {{{{ is never closed by }}}}"),
        }
    }
}

/// Fills `template` with `notice`, each value escaped for `format` (inside a JSON string for
/// the JSON formats), so a topic or payload holding quotes or newlines cannot break the body or
/// add fields to it. Fails only on a template that would fail for every notice, which the
/// channel's form refuses before it is saved.
pub fn render(
    format: ChannelFormat,
    template: &str,
    notice: &Notice,
) -> Result<String, TemplateError> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::TooLong);
    }
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..end].trim();
        let value = match name {
            "title" => notice.title(),
            "text" => notice.text(),
            "state" => notice.state.as_str().to_owned(),
            "severity" => notice.severity.as_str().to_owned(),
            "rule" => notice.rule.clone(),
            "subject" => notice.subject.clone(),
            "since" => notice.since.clone(),
            "value" => notice.value.clone(),
            "link" => notice.link.clone(),
            "id" => notice.id.to_string(),
            "priority" => notice.severity.priority().to_string(),
            other => return Err(TemplateError::UnknownField(other.to_owned())),
        };
        escape_into(&mut out, &value, format.escaping());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn escape_into(out: &mut String, value: &str, escaping: Escaping) {
    match escaping {
        Escaping::None => out.push_str(value),
        Escaping::JsonString => {
            // serde_json writes a complete string literal; its quotes are the template's own.
            let quoted = serde_json::to_string(value).expect("a string always serializes");
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            id: 42,
            rule: "Boiler too hot".to_owned(),
            subject: "plant/boiler \"north\"\nline 2".to_owned(),
            state: NoticeState::Firing,
            severity: Severity::Critical,
            since: "2026-12-06T10:00:00Z".to_owned(),
            value: "91.5 °C".to_owned(),
            link: "https://lookout.example/topic/plant/boiler".to_owned(),
        }
    }

    #[test]
    fn every_format_gives_valid_json_whatever_the_subject_holds() {
        for format in ChannelFormat::ALL {
            let body = render(format, format.default_template(), &notice()).unwrap();
            if format == ChannelFormat::Ntfy {
                assert!(body.contains("plant/boiler \"north\"\nline 2"), "{body}");
                continue;
            }
            let parsed: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|error| panic!("{format:?}: {error}: {body}"));
            let text = parsed.to_string();
            assert!(text.contains("Boiler too hot"), "{format:?}: {text}");
            assert!(text.contains("2026-12-06T10:00:00Z"), "{format:?}: {text}");
            assert!(text.contains("91.5 °C"), "{format:?}: {text}");
            assert!(
                text.contains("https://lookout.example/topic/plant/boiler"),
                "{format:?}: {text}"
            );
        }
        let webhook = render(
            ChannelFormat::Webhook,
            ChannelFormat::Webhook.default_template(),
            &notice(),
        )
        .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&webhook).unwrap();
        assert_eq!(parsed["subject"], "plant/boiler \"north\"\nline 2");
        assert_eq!(parsed["state"], "firing");
        assert_eq!(parsed["id"], "42");
    }

    #[test]
    fn a_value_cannot_add_fields_to_the_body() {
        let sly = Notice {
            subject: r#"x", "admin": true, "y": ""#.to_owned(),
            ..notice()
        };
        let body = render(ChannelFormat::Slack, r#"{"text": "{{subject}}"}"#, &sly).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed.as_object().unwrap().len(), 1, "{body}");
        assert_eq!(parsed["text"], sly.subject);
    }

    #[test]
    fn the_default_message_is_short_and_complete() {
        let firing = notice();
        assert_eq!(
            firing.title(),
            "[FIRING] Boiler too hot: plant/boiler \"north\"\nline 2"
        );
        assert_eq!(
            firing.text(),
            "plant/boiler \"north\"\nline 2 (critical) since 2026-12-06T10:00:00Z, value 91.5 °C. \
             https://lookout.example/topic/plant/boiler"
        );
        let silent = Notice {
            state: NoticeState::Resolved,
            value: String::new(),
            ..notice()
        };
        assert!(silent
            .text()
            .contains("had fired since 2026-12-06T10:00:00Z. https://"));
    }

    #[test]
    fn templates_that_cannot_work_are_refused() {
        for (template, error) in [
            ("{{nope}}", TemplateError::UnknownField("nope".to_owned())),
            ("{{title", TemplateError::Unclosed),
            (
                &"x".repeat(MAX_TEMPLATE_BYTES + 1) as &str,
                TemplateError::TooLong,
            ),
        ] {
            assert_eq!(
                render(ChannelFormat::Webhook, template, &notice()),
                Err(error)
            );
        }
        // Spaces inside the braces are allowed, and text around them is kept.
        assert_eq!(
            render(ChannelFormat::Webhook, "a {{ id }} b", &notice()).unwrap(),
            "a 42 b"
        );
        assert_eq!(ChannelFormat::parse("matrix"), Some(ChannelFormat::Matrix));
        assert_eq!(ChannelFormat::parse("fax"), None);
    }
}
