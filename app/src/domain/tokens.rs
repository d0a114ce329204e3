//! Personal access tokens: what MQTT tools (MQTTX, MQTT.js, scripts) give as their password to
//! reach Lookout's MQTT endpoint as a user, never the user's password. A token acts for its user
//! only within its scope (read, or read and publish) and, when it names filters, only on the
//! topics they match; the user's own rules still decide first. It expires, may be revoked, and
//! is shown once: only its SHA-256 is stored.

use super::topic_filter::{InvalidFilter, TopicFilter};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a token's secret starts with, so a leaked one is recognisable (by secret scanners too).
pub const SECRET_PREFIX: &str = "lkt_";
/// A user keeps at most this many tokens that are neither revoked nor expired.
pub const MAX_TOKENS_PER_USER: i64 = 20;
pub const MAX_NAME_CHARS: usize = 64;
/// Filters a token may narrow itself to.
pub const MAX_FILTERS: usize = 16;
pub const MAX_FILTER_CHARS: usize = 256;
/// How long a token may live, in days; the form offers these.
pub const EXPIRY_DAYS: [u16; 5] = [7, 30, 90, 180, 365];

/// What a token lets its holder do, within its user's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    Read,
    ReadPublish,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::ReadPublish => "read_publish",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            TokenScope::Read => "read only",
            TokenScope::ReadPublish => "read and publish",
        }
    }

    pub fn may_publish(self) -> bool {
        self == TokenScope::ReadPublish
    }
}

impl std::str::FromStr for TokenScope {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        [TokenScope::Read, TokenScope::ReadPublish]
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or(())
    }
}

/// A token as its user typed it on the account page.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenText<'a> {
    pub name: &'a str,
    pub scope: &'a str,
    /// Topic filters, one per line (or separated by commas); empty: all the user may.
    pub filters: &'a str,
    pub expiry_days: &'a str,
}

/// A token's settings, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSpec {
    pub name: String,
    pub scope: TokenScope,
    pub filters: Vec<TopicFilter>,
    pub expiry_days: u16,
}

/// Why a typed token was refused; each names the form field to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Name,
    Scope,
    Filter,
    TooManyFilters,
    Expiry,
}

impl TokenProblem {
    pub const ALL: [TokenProblem; 5] = [
        TokenProblem::Name,
        TokenProblem::Scope,
        TokenProblem::Filter,
        TokenProblem::TooManyFilters,
        TokenProblem::Expiry,
    ];

    pub fn field(self) -> &'static str {
        match self {
            TokenProblem::Name => "name",
            TokenProblem::Scope => "scope",
            TokenProblem::Filter | TokenProblem::TooManyFilters => "filters",
            TokenProblem::Expiry => "expiry_days",
        }
    }

    /// The outcome code a form's redirect carries.
    pub fn code(self) -> &'static str {
        match self {
            TokenProblem::Name => "bad_token_name",
            TokenProblem::Scope => "bad_token_scope",
            TokenProblem::Filter => "bad_token_filter",
            TokenProblem::TooManyFilters => "too_many_token_filters",
            TokenProblem::Expiry => "bad_token_expiry",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            TokenProblem::Name => {
                "A token's name has 1 to 64 characters, none of them control characters."
            }
            TokenProblem::Scope => "A token reads, or reads and publishes.",
            TokenProblem::Filter => {
                "Each line of topics is an MQTT topic filter (such as plant/+/temperature or \
                 plant/#) of at most 256 characters."
            }
            TokenProblem::TooManyFilters => "A token names at most 16 topic filters.",
            TokenProblem::Expiry => "A token lives 7, 30, 90, 180 or 365 days.",
        }
    }
}

impl fmt::Display for TokenProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl From<InvalidFilter> for TokenProblem {
    fn from(_: InvalidFilter) -> Self {
        TokenProblem::Filter
    }
}

impl TokenSpec {
    pub fn check(text: TokenText<'_>) -> Result<Self, TokenProblem> {
        let name = text.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(TokenProblem::Name);
        }
        let scope = text.scope.parse().map_err(|()| TokenProblem::Scope)?;
        let lines: Vec<&str> = text
            .filters
            .split(['\n', ','])
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        if lines.len() > MAX_FILTERS {
            return Err(TokenProblem::TooManyFilters);
        }
        let mut filters = Vec::with_capacity(lines.len());
        for line in lines {
            if line.chars().count() > MAX_FILTER_CHARS {
                return Err(TokenProblem::Filter);
            }
            let filter = TopicFilter::parse(line)?;
            if !filters.contains(&filter) {
                filters.push(filter);
            }
        }
        let expiry_days = text
            .expiry_days
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|days| EXPIRY_DAYS.contains(days))
            .ok_or(TokenProblem::Expiry)?;
        Ok(TokenSpec {
            name: name.to_owned(),
            scope,
            filters,
            expiry_days,
        })
    }
}

/// A token as its account page lists it: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    /// Whose it is (the account page of an admin lists everyone's).
    pub user: String,
    pub name: String,
    pub scope: TokenScope,
    pub filters: Vec<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

impl TokenView {
    /// Whether it still lets its holder in at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && self.expires_at_ms > now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(name: &'a str, scope: &'a str, filters: &'a str, days: &'a str) -> TokenText<'a> {
        TokenText {
            name,
            scope,
            filters,
            expiry_days: days,
        }
    }

    #[test]
    fn a_token_is_named_scoped_narrowed_and_expires() {
        let spec = TokenSpec::check(text(
            " MQTTX ",
            "read_publish",
            "plant/#\n\n a/+/b ,plant/#",
            "30",
        ))
        .unwrap();
        assert_eq!(spec.name, "MQTTX");
        assert_eq!(spec.scope, TokenScope::ReadPublish);
        let filters: Vec<&str> = spec.filters.iter().map(TopicFilter::as_str).collect();
        assert_eq!(filters, ["plant/#", "a/+/b"], "trimmed, without repeats");
        assert_eq!(spec.expiry_days, 30);
        let everything = TokenSpec::check(text("x", "read", "", "7")).unwrap();
        assert!(everything.filters.is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let long_name = "n".repeat(65);
        let cases = [
            (text("", "read", "", "30"), TokenProblem::Name),
            (text("a\u{7}b", "read", "", "30"), TokenProblem::Name),
            (text(&long_name, "read", "", "30"), TokenProblem::Name),
            (text("x", "write", "", "30"), TokenProblem::Scope),
            (text("x", "read", "a/#/b", "30"), TokenProblem::Filter),
            (text("x", "read", "", "31"), TokenProblem::Expiry),
            (text("x", "read", "", "-7"), TokenProblem::Expiry),
        ];
        for (text, problem) in cases {
            assert_eq!(TokenSpec::check(text), Err(problem), "{text:?}");
        }
        let many = (0..17)
            .map(|n| format!("t/{n}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            TokenSpec::check(text("x", "read", &many, "30")),
            Err(TokenProblem::TooManyFilters)
        );
        let long = "t/".repeat(129);
        assert_eq!(
            TokenSpec::check(text("x", "read", &long, "30")),
            Err(TokenProblem::Filter)
        );
        for problem in TokenProblem::ALL {
            assert!(!problem.code().is_empty() && !problem.field().is_empty());
        }
    }
}
