//! The kinds of value a setting holds: how each is read from a variable's text (a default is
//! written the same way) and from a value in the config file, and what a value must be on its
//! own. Rules between settings are `config::resolve`'s.
//!
//! Problems are worded for the user and never quote a secret: the caller puts the setting's
//! name and source in front.

use super::broker::{broker_url_login, parse_broker_url, BrokerAddress, BrokerLogin, Subscription};
use super::layers::File;
use super::{DatabaseUrl, MetricsToken};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use toml::de::{DeValue, ValueDeserializer};
use toml::Spanned;
use url::Url;

/// A kind of setting value.
pub trait Value: Sized {
    /// From a variable's text, or a default.
    fn from_text(text: &str) -> Result<Self, String>;

    /// From the config file. Most settings are strings there, read as a variable's text is.
    fn from_toml(value: &Spanned<DeValue<'_>>, _file: &File<'_>) -> Result<Self, String> {
        match value.get_ref() {
            DeValue::String(text) => Self::from_text(text),
            other => Err(format!("expected a string in quotes, got {}", kind(other))),
        }
    }
}

/// What a file value is, for an error that must not quote it (it may be a secret).
fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true or false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// A file value as `T`, through serde (for lists and tables).
fn deserialize<T: DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    file: &File<'_>,
) -> Result<T, String> {
    T::deserialize(ValueDeserializer::from(value.clone())).map_err(|error| {
        let message = error.message().trim_end();
        match error.span() {
            Some(span) => format!("{message} (line {})", file.line(span.start)),
            None => message.to_owned(),
        }
    })
}

fn whole_number(value: &Spanned<DeValue<'_>>, file: &File<'_>) -> Option<i64> {
    match value.get_ref() {
        DeValue::Integer(_) => deserialize(value, file).ok(),
        _ => None,
    }
}

impl Value for String {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl Value for PathBuf {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
}

impl Value for SocketAddr {
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse().map_err(|_| {
            format!("expected an address and port such as 127.0.0.1:3000, got {text:?}")
        })
    }
}

/// A whole number from `MIN` to `MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Whole<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Whole<MIN, MAX> {
    pub fn get(self) -> u64 {
        self.0
    }

    pub fn count(self) -> usize {
        self.0 as usize
    }

    pub fn seconds(self) -> Duration {
        Duration::from_secs(self.0)
    }

    fn check(n: Option<u64>, got: impl fmt::Display) -> Result<Self, String> {
        match n {
            Some(n) if (MIN..=MAX).contains(&n) => Ok(Self(n)),
            _ => Err(out_of_range(MIN, MAX, got)),
        }
    }
}

/// The problem with a number outside `min..=max`; also for bounds that depend on another
/// setting.
pub fn out_of_range(min: u64, max: u64, got: impl fmt::Display) -> String {
    format!("expected a whole number from {min} to {max}, got {got}")
}

impl<const MIN: u64, const MAX: u64> Value for Whole<MIN, MAX> {
    fn from_text(text: &str) -> Result<Self, String> {
        Self::check(text.trim().parse().ok(), format_args!("{text:?}"))
    }

    fn from_toml(value: &Spanned<DeValue<'_>>, file: &File<'_>) -> Result<Self, String> {
        match (value.get_ref(), whole_number(value, file)) {
            (_, Some(n)) => Self::check(u64::try_from(n).ok(), n),
            (DeValue::String(text), None) => Self::check(None, format_args!("the string {text:?}")),
            (other, None) => Self::check(None, kind(other)),
        }
    }
}

/// A century: beyond it date arithmetic would only invite overflow, and nobody means more.
const MAX_RETENTION_DAYS: i64 = 36_500;

/// How many days messages are kept.
#[derive(Clone, Copy, Debug)]
pub struct Days(pub u32);

impl Days {
    pub fn new(days: i64) -> Result<Self, String> {
        if (1..=MAX_RETENTION_DAYS).contains(&days) {
            Ok(Self(days as u32))
        } else {
            Err(format!(
                "retention is 1 to {MAX_RETENTION_DAYS} days, got {days}"
            ))
        }
    }
}

impl Value for Days {
    fn from_text(text: &str) -> Result<Self, String> {
        // Signed, so that a negative number is answered with the range rather than as a typo.
        let days = text
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("expected a number of days, got {text:?}"))?;
        Self::new(days)
    }

    fn from_toml(value: &Spanned<DeValue<'_>>, file: &File<'_>) -> Result<Self, String> {
        match whole_number(value, file) {
            Some(days) => Self::new(days),
            None => Err(format!(
                "expected a number of days, got {}",
                kind(value.get_ref())
            )),
        }
    }
}

impl Value for DatabaseUrl {
    fn from_text(text: &str) -> Result<Self, String> {
        match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => {
                Ok(DatabaseUrl(text.to_owned()))
            }
            Ok(url) => Err(format!(
                "expected a postgres:// URL, got the scheme {:?}",
                url.scheme()
            )),
            // The URL itself may hold a password, so the problem shows only what was wrong.
            Err(error) => Err(format!("expected a postgres:// URL ({error})")),
        }
    }
}

/// Where browsers reach Lookout.
#[derive(Clone, Debug)]
pub struct HttpUrl(pub Url);

impl Value for HttpUrl {
    fn from_text(text: &str) -> Result<Self, String> {
        match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Ok(Self(url))
            }
            _ => Err(format!(
                "expected an http:// or https:// URL such as https://lookout.example.com, got \
                 {text:?}"
            )),
        }
    }
}

/// A token Prometheus can send as `Authorization: Bearer <token>`: visible ASCII (what an HTTP
/// header carries unaltered), and long enough not to be guessed.
impl Value for MetricsToken {
    fn from_text(text: &str) -> Result<Self, String> {
        let token = text.trim();
        if !(32..=4096).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_graphic()) {
            let problem = "expected 32 to 4096 visible ASCII characters without spaces, such as \
                           the output of `openssl rand -hex 32` (the value is not shown)";
            return Err(problem.to_owned());
        }
        Ok(MetricsToken(token.to_owned()))
    }
}

/// A password. `Debug` hides it.
#[derive(Clone)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Value for Secret {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(Self(text.to_owned()))
    }
}

/// The broker's URL: where it is, and the login it may carry (which never prints).
#[derive(Clone, Debug)]
pub struct BrokerUrl {
    pub address: BrokerAddress,
    pub login: Option<BrokerLogin>,
}

impl Value for BrokerUrl {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(Self {
            address: parse_broker_url(text)?,
            login: broker_url_login(text),
        })
    }
}

/// The MQTT client id: fixed, so the broker keeps this client's session across restarts.
#[derive(Clone, Debug)]
pub struct ClientId(pub String);

impl Value for ClientId {
    fn from_text(text: &str) -> Result<Self, String> {
        // Room for the live feed's suffix within MQTT's 65535 bytes.
        if text.trim().is_empty() || text.len() > 65_530 {
            return Err("a client id must be 1 to 65530 bytes".to_owned());
        }
        Ok(Self(text.to_owned()))
    }
}

/// The name of a shared subscription group: it becomes a level of `$share/<group>/<filter>`.
#[derive(Clone, Debug)]
pub struct GroupName(pub String);

impl Value for GroupName {
    fn from_text(name: &str) -> Result<Self, String> {
        if name.is_empty()
            || name.len() > 256
            || name.contains(['/', '+', '#', '\0'])
            || name.trim() != name
        {
            return Err(format!(
                "a shared subscription group is a name of 1 to 256 bytes without '/', '+', '#' \
                 or surrounding spaces, got {name:?}"
            ));
        }
        Ok(Self(name.to_owned()))
    }
}

/// `"filter"`, `"filter@1"`, or `{ filter = "...", qos = 1 }` (for a filter that itself ends in
/// `@` and a digit).
#[derive(Deserialize)]
#[serde(untagged)]
enum FileSubscription {
    Short(String),
    Full { filter: String, qos: u8 },
}

/// Comma-separated in a variable, a list in the file.
impl Value for Vec<Subscription> {
    fn from_text(text: &str) -> Result<Self, String> {
        Subscription::parse_list(text)
    }

    fn from_toml(value: &Spanned<DeValue<'_>>, file: &File<'_>) -> Result<Self, String> {
        let list: Vec<FileSubscription> = deserialize(value, file)?;
        if list.is_empty() {
            return Err("at least one topic filter is needed".to_owned());
        }
        list.into_iter()
            .map(|entry| match entry {
                FileSubscription::Short(text) => Subscription::parse(&text),
                FileSubscription::Full { filter, qos } => {
                    let qos = rumqttc::qos(qos)
                        .map_err(|_| format!("qos {qos} of {filter:?} is not 0, 1 or 2"))?;
                    Subscription::new(&filter, qos)
                }
            })
            .collect()
    }
}

/// A `[[retention.rules]]` table as written; `config::resolve` checks its filter and days, and
/// names a bad one by its place.
#[derive(Clone, Debug)]
pub struct RuleEntry {
    pub filter: String,
    // Signed, so that a negative number is answered with the range rather than as a typo.
    pub days: i64,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    filter: String,
    days: i64,
}

/// Only in the file: rules have no one-line form.
impl Value for Vec<RuleEntry> {
    fn from_text(_: &str) -> Result<Self, String> {
        Err("only the config file can give retention rules".to_owned())
    }

    fn from_toml(value: &Spanned<DeValue<'_>>, file: &File<'_>) -> Result<Self, String> {
        let rules: Vec<Spanned<FileRule>> = deserialize(value, file)?;
        Ok(rules
            .into_iter()
            .map(|rule| {
                let line = file.line(rule.span().start);
                let FileRule { filter, days } = rule.into_inner();
                RuleEntry { filter, days, line }
            })
            .collect())
    }
}

/// An `[[alerts.channels]]` or `[[alerts.rules]]` table as written: its fields as the admin
/// forms name them, each as text (`true` as a ticked box, a list as the field repeated), and its
/// line. `config::resolve` checks it as the forms are checked.
#[derive(Clone, Debug, Default)]
pub struct AlertEntry {
    pub fields: Vec<(String, String)>,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileField {
    Text(String),
    Whole(i64),
    Number(f64),
    Flag(bool),
    List(Vec<String>),
}

/// Only in the file: channels and rules have no one-line form.
impl Value for Vec<AlertEntry> {
    fn from_text(_: &str) -> Result<Self, String> {
        Err("only the config file can give alert channels and rules".to_owned())
    }

    fn from_toml(value: &Spanned<DeValue<'_>>, file: &File<'_>) -> Result<Self, String> {
        let entries: Vec<Spanned<std::collections::BTreeMap<String, FileField>>> =
            deserialize(value, file)?;
        Ok(entries
            .into_iter()
            .map(|entry| {
                let line = file.line(entry.span().start);
                let mut fields = Vec::new();
                for (key, value) in entry.into_inner() {
                    match value {
                        FileField::Text(text) => fields.push((key, text)),
                        FileField::Whole(whole) => fields.push((key, whole.to_string())),
                        FileField::Number(number) => fields.push((key, number.to_string())),
                        FileField::Flag(flag) => {
                            fields.push((key, if flag { "on" } else { "off" }.to_owned()))
                        }
                        FileField::List(items) => {
                            fields.extend(items.into_iter().map(|item| (key.clone(), item)))
                        }
                    }
                }
                AlertEntry { fields, line }
            })
            .collect())
    }
}
