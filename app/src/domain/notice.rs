//! What an alert says, and how each kind of channel wants it said: one short, complete message
//! (what, where, since when, the value, a link) filled into a template per channel format. Every
//! chat service Lookout speaks to is a template of the same code path, so a format is a default
//! body and method here, never a client of its own; admins may edit a channel's template.

use serde::{Deserialize, Serialize};

/// The formats a channel can speak. Each is a JSON body (ntfy's is plain text) sent over HTTPS,
/// except e-mail: a plain text message sent over SMTP to the addresses the channel names.
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
    /// A plain text e-mail; the channel's address is `smtp://` or `smtps://` with `from` and `to`
    /// (see [`EmailAddress`]).
    Email,
}

impl ChannelFormat {
    pub const ALL: [ChannelFormat; 9] = [
        ChannelFormat::Webhook,
        ChannelFormat::Slack,
        ChannelFormat::Discord,
        ChannelFormat::Teams,
        ChannelFormat::Telegram,
        ChannelFormat::Ntfy,
        ChannelFormat::Gotify,
        ChannelFormat::Matrix,
        ChannelFormat::Email,
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
            ChannelFormat::Email => "email",
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
            ChannelFormat::Email => {
                "{{text}}\n\nRule: {{rule}}\nAbout: {{subject}}\nState: {{state}}\nSeverity: \
                 {{severity}}\nSince: {{since}}\nValue: {{value}}\n{{link}}\n\nNotice {{id}} from Lookout.\n"
            }
        }
    }

    /// How the body is escaped: JSON string content, or as it is for a plain text body.
    fn escaping(self) -> Escaping {
        match self {
            ChannelFormat::Ntfy | ChannelFormat::Email => Escaping::None,
            _ => Escaping::JsonString,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ChannelFormat::Ntfy | ChannelFormat::Email => "text/plain; charset=utf-8",
            _ => "application/json",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escaping {
    None,
    JsonString,
}

/// Where an e-mail channel sends: the server (`smtp://` with STARTTLS, `smtps://` with TLS from
/// the start, at most with `tls=none` on `smtp://` for a server on a trusted network), its login,
/// the sender and the recipients, all in one address:
/// `smtp://user:password@mail.example.com:587?from=lookout@example.com&to=ops@example.com,oncall@example.com`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress {
    /// The server's address as the SMTP client takes it (`from` and `to` removed, `tls` spelled
    /// out).
    pub server: String,
    pub from: String,
    pub to: Vec<String>,
}

/// At most this many recipients per channel: a channel is a team's address, not a mailing list.
pub const MAX_RECIPIENTS: usize = 20;

impl EmailAddress {
    /// Reads a channel's address, or says what is wrong with it.
    pub fn parse(address: &str) -> Result<Self, &'static str> {
        let (base, query) = address.split_once('?').unwrap_or((address, ""));
        let plain = base.starts_with("smtp://");
        if !plain && !base.starts_with("smtps://") {
            return Err("an e-mail channel's address starts with smtp:// or smtps://");
        }
        let mut from = None;
        let mut to = Vec::new();
        let mut tls = None;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value =
                percent_decoded(value).ok_or("the address is not valid percent-encoding")?;
            match key {
                "from" => from = Some(mailbox(&value)?),
                "to" => {
                    for one in value.split(',').filter(|one| !one.trim().is_empty()) {
                        to.push(mailbox(one)?);
                    }
                }
                "tls" => tls = Some(value),
                _ => return Err("an e-mail address knows only from, to and tls"),
            }
        }
        let from = from.ok_or("an e-mail channel needs from=")?;
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return Err("an e-mail channel needs to= with 1 to 20 addresses");
        }
        let server = match (plain, tls.as_deref()) {
            (true, None | Some("required")) => format!("{base}?tls=required"),
            (true, Some("opportunistic")) => format!("{base}?tls=opportunistic"),
            (true, Some("none")) => base.to_owned(),
            (false, None) => base.to_owned(),
            _ => return Err("tls is required, opportunistic or none (smtp:// only)"),
        };
        Ok(Self { server, from, to })
    }
}

/// One e-mail address, plainly: something@somewhere, no spaces, no display name.
fn mailbox(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    let valid = text.len() <= 254
        && text.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && (domain.contains('.') || domain == "localhost")
        })
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | '"'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err("not an e-mail address (as in ops@example.com)")
    }
}

fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
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
    fn an_email_address_names_server_sender_and_recipients_and_defaults_to_starttls() {
        let address = EmailAddress::parse(
            "smtp://lookout:s%40cret@mail.example.com:587?from=lookout@example.com&to=ops@example.com,%20oncall@example.com",
        )
        .unwrap();
        assert_eq!(
            address.server,
            "smtp://lookout:s%40cret@mail.example.com:587?tls=required"
        );
        assert_eq!(address.from, "lookout@example.com");
        assert_eq!(address.to, ["ops@example.com", "oncall@example.com"]);
        let plain =
            EmailAddress::parse("smtp://127.0.0.1:2525?tls=none&from=a@localhost&to=b@localhost")
                .unwrap();
        assert_eq!(plain.server, "smtp://127.0.0.1:2525");
        let wrapped =
            EmailAddress::parse("smtps://mail.example.com?from=a@b.io&to=c@d.io").unwrap();
        assert_eq!(wrapped.server, "smtps://mail.example.com");
        for bad in [
            "https://mail.example.com?from=a@b.io&to=c@d.io",
            "smtp://mail.example.com?to=c@d.io",
            "smtp://mail.example.com?from=a@b.io",
            "smtp://mail.example.com?from=a@b.io&to=not-an-address",
            "smtp://mail.example.com?from=a@b.io&to=c@d.io%0ABcc:%20x@y.io",
            "smtp://mail.example.com?from=a@b.io&to=c@d.io&tls=maybe",
            "smtps://mail.example.com?from=a@b.io&to=c@d.io&tls=none",
            "smtp://mail.example.com?from=a@b.io&to=c@d.io&bcc=e@f.io",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_format_gives_valid_json_whatever_the_subject_holds() {
        for format in ChannelFormat::ALL {
            let body = render(format, format.default_template(), &notice()).unwrap();
            if matches!(format, ChannelFormat::Ntfy | ChannelFormat::Email) {
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
