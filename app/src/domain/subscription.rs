//! Following a status page: visitors' e-mail subscriptions (double opt-in: nothing is sent but
//! the confirmation until the address's owner confirms; every message carries a one-click
//! unsubscribe), and outbound webhooks an admin adds per page. Both are told the page's news: an
//! incident opened or updated, maintenance planned.

use crate::domain::alert_rule::is_web_address;
use crate::domain::incident::{Incident, IncidentStatus};
use crate::domain::maintenance::Maintenance;
use crate::domain::wording::format_utc_minute;
use serde::{Deserialize, Serialize};

/// Longest address taken (RFC 5321's limit on a path).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Subscribers (confirmed or not) one page keeps.
pub const MAX_SUBSCRIBERS: i64 = 10_000;
/// Webhooks one page tells.
pub const MAX_WEBHOOKS: i64 = 20;
/// New addresses one page takes per hour: the form cannot be used to flood mailboxes.
pub const SIGNUPS_PER_HOUR: i64 = 100;
/// How long a confirmation link works; a subscription not confirmed by then is forgotten.
pub const CONFIRM_WITHIN_MS: i64 = 7 * 24 * 3_600_000;
/// A pending address gets its confirmation again at most this often, however often it is typed.
pub const REMAIL_AFTER_MS: i64 = 3_600_000;
/// Characters of a subscriber's secret (hex of 16 random bytes).
pub const TOKEN_CHARS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowerKind {
    Email,
    Webhook,
}

impl FollowerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowerKind::Email => "email",
            FollowerKind::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(FollowerKind::Email),
            "webhook" => Some(FollowerKind::Webhook),
            _ => None,
        }
    }
}

/// An address as typed into a page's form, checked: one `@` between a local part and a domain
/// with a dot, no spaces or control characters, at most [`MAX_EMAIL_CHARS`]. Whether it takes
/// mail is for the confirmation to find out.
pub fn checked_email(text: &str) -> Option<String> {
    let address = text.trim();
    let (local, domain) = address.split_once('@')?;
    let fine = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && address.chars().count() <= MAX_EMAIL_CHARS
        && !address.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        });
    fine.then(|| address.to_owned())
}

/// A webhook's address as an admin typed it, checked like an alert channel's.
pub fn checked_webhook(text: &str) -> Option<String> {
    let url = text.trim();
    is_web_address(url).then(|| url.to_owned())
}

/// Whether `path` is where a mail program unsubscribes with one POST
/// (`/status/<slug>/unsubscribe`): the one form post taken from anywhere, since its token is its
/// credential and all it can do is end its own subscription.
pub fn is_one_click_path(path: &str) -> bool {
    path.strip_prefix("/status/")
        .and_then(|rest| rest.strip_suffix("/unsubscribe"))
        .is_some_and(|slug| !slug.is_empty() && !slug.contains('/'))
}

/// Whether `text` has the shape of a subscriber's secret, so that nothing else is looked up.
pub fn is_token(text: &str) -> bool {
    text.len() == TOKEN_CHARS && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a page's followers are told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PageNews {
    /// Only to a new e-mail subscriber: the link that confirms (or ignores) the subscription.
    Confirm { page: String, slug: String },
    Incident {
        page: String,
        slug: String,
        incident_id: i64,
        title: String,
        status: IncidentStatus,
        message: String,
        at_ms: i64,
    },
    Maintenance {
        page: String,
        slug: String,
        maintenance_id: i64,
        title: String,
        message: String,
        from_ms: i64,
        to_ms: i64,
    },
}

impl PageNews {
    /// An incident's newest update.
    pub fn incident(page: &str, slug: &str, incident: &Incident) -> Option<Self> {
        let update = incident.updates.first()?;
        Some(PageNews::Incident {
            page: page.to_owned(),
            slug: slug.to_owned(),
            incident_id: incident.id,
            title: incident.title.clone(),
            status: update.status,
            message: update.message.clone(),
            at_ms: update.at_ms,
        })
    }

    /// A window just planned: its next occurrence.
    pub fn maintenance(page: &str, slug: &str, window: &Maintenance, now_ms: i64) -> Option<Self> {
        let next = window.current_or_next(now_ms)?;
        Some(PageNews::Maintenance {
            page: page.to_owned(),
            slug: slug.to_owned(),
            maintenance_id: window.id,
            title: window.title.clone(),
            message: window.message.clone(),
            from_ms: next.from_ms,
            to_ms: next.to_ms,
        })
    }

    pub fn slug(&self) -> &str {
        match self {
            PageNews::Confirm { slug, .. }
            | PageNews::Incident { slug, .. }
            | PageNews::Maintenance { slug, .. } => slug,
        }
    }

    fn page(&self) -> &str {
        match self {
            PageNews::Confirm { page, .. }
            | PageNews::Incident { page, .. }
            | PageNews::Maintenance { page, .. } => page,
        }
    }

    /// An e-mail's subject.
    pub fn subject(&self) -> String {
        let page = self.page();
        match self {
            PageNews::Confirm { .. } => format!("Confirm your updates from {page}"),
            PageNews::Incident { title, status, .. } => {
                format!("[{page}] {}: {title}", status.words())
            }
            PageNews::Maintenance { title, .. } => format!("[{page}] Planned maintenance: {title}"),
        }
    }

    /// An e-mail's text. `links.manage` is the subscriber's own page (confirm, unsubscribe).
    pub fn mail_text(&self, links: &MailLinks) -> String {
        let page = self.page();
        match self {
            PageNews::Confirm { .. } => format!(
                "Someone (we hope you) asked for e-mail updates from the status page \"{page}\".\n\n\
                 To confirm, open this link and press the button:\n{manage}\n\n\
                 If it was not you, ignore this message: nothing more will be sent, and the \
                 request is forgotten in 7 days.\n",
                manage = links.manage,
            ),
            PageNews::Incident {
                title,
                status,
                message,
                at_ms,
                ..
            } => format!(
                "{title}\n{status} at {at}\n\n{message}\n\nThe page: {page_url}\n\n\
                 You get this because you subscribed to updates from \"{page}\".\n\
                 Unsubscribe (one click): {manage}\n",
                status = status.words(),
                at = format_utc_minute(*at_ms),
                page_url = links.page,
                manage = links.manage,
            ),
            PageNews::Maintenance {
                title,
                message,
                from_ms,
                to_ms,
                ..
            } => format!(
                "Planned maintenance: {title}\nFrom {from} to {to}\n\n{message}{gap}The page: \
                 {page_url}\n\nYou get this because you subscribed to updates from \"{page}\".\n\
                 Unsubscribe (one click): {manage}\n",
                from = format_utc_minute(*from_ms),
                to = format_utc_minute(*to_ms),
                gap = if message.is_empty() { "" } else { "\n\n" },
                page_url = links.page,
                manage = links.manage,
            ),
        }
    }
}

/// The addresses a message to one subscriber links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailLinks {
    /// The status page.
    pub page: String,
    /// The subscriber's own page: confirm, or unsubscribe with one press.
    pub manage: String,
    /// Where a mail program unsubscribes with one POST (RFC 8058).
    pub unsubscribe: String,
}

impl MailLinks {
    /// The links under `base` (the public address, or nothing for paths alone).
    pub fn new(base: &str, slug: &str, token: &str) -> Self {
        let base = base.trim_end_matches('/');
        MailLinks {
            page: format!("{base}/status/{slug}"),
            manage: format!("{base}/status/{slug}/subscription?token={token}"),
            unsubscribe: format!("{base}/status/{slug}/unsubscribe?token={token}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::IncidentUpdate;

    #[test]
    fn addresses_are_checked_for_shape_only() {
        assert_eq!(
            checked_email("  ops@example.com "),
            Some("ops@example.com".to_owned())
        );
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@example",
            "ops@.example.com",
            "ops@example.com.",
            "o ps@example.com",
            "ops@exa@mple.com",
            "ops@example.com\r\nBcc: x@y.z",
            "<ops@example.com>",
            "a@b.c,d@e.f",
        ] {
            assert_eq!(checked_email(bad), None, "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS));
        assert_eq!(checked_email(&long), None);
    }

    #[test]
    fn only_a_pages_unsubscribe_address_is_one_click() {
        assert!(is_one_click_path("/status/plant/unsubscribe"));
        for other in [
            "/status/plant/subscribe",
            "/status//unsubscribe",
            "/status/a/b/unsubscribe",
            "/admin/unsubscribe",
            "/status/plant/unsubscribe/x",
        ] {
            assert!(!is_one_click_path(other), "{other}");
        }
    }

    #[test]
    fn tokens_are_32_hex_characters() {
        assert!(is_token("0123456789abcdef0123456789ABCDEF"));
        assert!(!is_token("0123456789abcdef0123456789abcde"));
        assert!(!is_token("0123456789abcdef0123456789abcdeg"));
        assert!(!is_token("'; drop table page_subscriber; --"));
    }

    #[test]
    fn news_reads_as_mail_with_its_links() {
        let incident = Incident {
            id: 4,
            title: "Readings delayed".to_owned(),
            status: IncidentStatus::Identified,
            opened_ms: 0,
            resolved_ms: None,
            widgets: Vec::new(),
            updates: vec![IncidentUpdate {
                at_ms: 60_000,
                status: IncidentStatus::Identified,
                message: "A cable.".to_owned(),
            }],
        };
        let news = PageNews::incident("Plant", "plant", &incident).unwrap();
        assert_eq!(news.subject(), "[Plant] Identified: Readings delayed");
        let links = MailLinks::new("https://status.example.com/", "plant", "ab");
        assert_eq!(
            links.unsubscribe,
            "https://status.example.com/status/plant/unsubscribe?token=ab"
        );
        let text = news.mail_text(&links);
        assert!(text.contains("A cable."), "{text}");
        assert!(text.contains(&links.manage), "{text}");
        assert!(
            text.contains("https://status.example.com/status/plant\n"),
            "{text}"
        );
        let json = serde_json::to_value(&news).unwrap();
        assert_eq!(json["event"], "incident");
        assert_eq!(json["status"], "identified");
    }
}
