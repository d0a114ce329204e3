//! Settings: defaults, then the TOML file, then environment variables. Every error names the
//! setting as the user gave it (the variable or the file key), and the database URL never prints
//! with its password.

use app::topic_filter::TopicFilter;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("{setting} is not set: {hint}")]
    Missing {
        setting: &'static str,
        hint: &'static str,
    },
    #[error("{setting} is not valid: {problem}")]
    Invalid { setting: String, problem: String },
    /// A well-formed setting that does not work: an unreachable database, a busy port.
    #[error("{setting}: {problem}")]
    Unusable { setting: String, problem: String },
}

/// Where a value came from, so an error can point at the right place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Neither the file nor the environment set it; names the variable that would.
    Default(&'static str),
    File {
        key: &'static str,
        path: PathBuf,
    },
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default(env_name) => write!(f, "{env_name} (unset, so its default)"),
            Origin::File { key, path } => write!(f, "{key} (in {})", path.display()),
            Origin::Env(name) => f.write_str(name),
        }
    }
}

/// A setting's value together with where it came from.
#[derive(Clone, Debug)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Sourced<T> {
    /// An error about this setting, worded for the user.
    pub fn invalid(&self, problem: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid {
            setting: self.origin.to_string(),
            problem: problem.to_string(),
        }
    }

    /// An error about a well-formed value that does not work, worded for the user.
    pub fn unusable(&self, problem: impl fmt::Display) -> ConfigError {
        ConfigError::Unusable {
            setting: self.origin.to_string(),
            problem: problem.to_string(),
        }
    }
}

/// The PostgreSQL URL. Its `Debug` and `Display` hide the password.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(&self.0) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                write!(f, "{url}")
            }
            Err(_) => f.write_str("(unparsable URL)"),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Where the broker is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddress {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mqtt://{}:{}", self.host, self.port)
    }
}

/// A broker login. `Debug` hides the password.
#[derive(Clone)]
pub struct BrokerLogin {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for BrokerLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerLogin({:?}, password: ***)", self.username)
    }
}

#[derive(Clone, Debug)]
pub struct MqttSettings {
    pub url: Sourced<BrokerAddress>,
    /// From `mqtt://user:password@host` or the username/password settings (which win).
    pub login: Option<Sourced<BrokerLogin>>,
    /// Fixed, so the broker keeps this client's session (and its QoS 1/2 messages) across restarts.
    pub client_id: String,
    pub subscriptions: Vec<String>,
    pub keep_alive: Duration,
    /// Payloads larger than this are counted and logged, not stored.
    pub max_payload_bytes: usize,
}

#[derive(Clone, Debug)]
pub struct WriterSettings {
    pub batch_max: usize,
    pub batch_delay: Duration,
    /// Messages waiting between the broker and the writer; when full, ingest stops reading.
    pub queue_capacity: usize,
}

/// How long messages are kept. The `latest` row of a topic is kept whatever its age.
#[derive(Clone, Debug)]
pub struct RetentionSettings {
    /// For topics that no rule matches.
    pub days: u32,
    /// In file order: the first rule whose filter matches a topic decides its retention.
    pub rules: Vec<RetentionRule>,
}

#[derive(Clone, Debug)]
pub struct RetentionRule {
    pub filter: TopicFilter,
    pub days: u32,
}

impl RetentionSettings {
    /// The days `topic`'s messages are kept.
    pub fn days_for(&self, topic: &str) -> u32 {
        self.rules
            .iter()
            .find(|rule| rule.filter.matches(topic))
            .map_or(self.days, |rule| rule.days)
    }

    /// The longest retention of any topic: older messages can go a whole partition at a time.
    pub fn longest_days(&self) -> u32 {
        self.rules
            .iter()
            .map(|rule| rule.days)
            .fold(self.days, u32::max)
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: Sourced<DatabaseUrl>,
    pub listen: Sourced<SocketAddr>,
    pub mqtt: MqttSettings,
    pub writer: WriterSettings,
    pub retention: RetentionSettings,
}

/// The config file. Unknown keys are refused so that a typo does not silently fall back to a
/// default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    listen: Option<String>,
    #[serde(default)]
    mqtt: FileMqtt,
    #[serde(default)]
    retention: FileRetention,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    // Signed, so that a negative number is answered with the range instead of a type error.
    days: Option<i64>,
    #[serde(default)]
    rules: Vec<FileRetentionRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetentionRule {
    filter: String,
    days: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMqtt {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    client_id: Option<String>,
    subscriptions: Option<Vec<String>>,
    keep_alive_secs: Option<u64>,
    max_payload_bytes: Option<usize>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_MQTT_URL: &str = "mqtt://127.0.0.1:1883";
pub const DEFAULT_CLIENT_ID: &str = "lookout";
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// A month of history: enough to look back over a few weeks, and a demo or a forgotten test
/// machine does not fill its disk. Keeping data for years is a choice someone should make.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// A century: beyond it date arithmetic would only invite overflow, and nobody means more.
const MAX_RETENTION_DAYS: i64 = 36_500;

impl Settings {
    /// Reads the optional file, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, |name| std::env::var(name).ok())
    }

    /// As [`Settings::load`], with the environment given as a lookup (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let (parsed, path) = match file {
            Some(path) => (read_file(path)?, path.to_path_buf()),
            None => (FileSettings::default(), PathBuf::new()),
        };
        let pick = |env_name: &'static str, key: &'static str, from_file: Option<String>| {
            // An empty variable counts as unset, as shells and service managers often leave them.
            match env(env_name).filter(|value| !value.is_empty()) {
                Some(value) => Some(Sourced {
                    value,
                    origin: Origin::Env(env_name),
                }),
                None => from_file.map(|value| Sourced {
                    value,
                    origin: Origin::File {
                        key,
                        path: path.clone(),
                    },
                }),
            }
        };
        let or_default = |found: Option<Sourced<String>>, env_name: &'static str, default: &str| {
            found.unwrap_or_else(|| Sourced {
                value: default.to_owned(),
                origin: Origin::Default(env_name),
            })
        };

        let database_url = pick("DATABASE_URL", "database_url", parsed.database_url).ok_or(
            ConfigError::Missing {
                setting: "DATABASE_URL",
                hint: "set it (or database_url in the config file) to a PostgreSQL URL such as \
                       postgres://lookout@127.0.0.1:5432/lookout",
            },
        )?;
        let database_url = parse_database_url(database_url)?;

        let listen = or_default(
            pick("LOOKOUT_LISTEN", "listen", parsed.listen),
            "LOOKOUT_LISTEN",
            DEFAULT_LISTEN,
        );
        let listen = Sourced {
            value: listen.value.parse::<SocketAddr>().map_err(|_| {
                listen.invalid(format!(
                    "expected an address and port such as 127.0.0.1:3000, got {:?}",
                    listen.value
                ))
            })?,
            origin: listen.origin,
        };

        let url = or_default(
            pick("LOOKOUT_MQTT_URL", "mqtt.url", parsed.mqtt.url),
            "LOOKOUT_MQTT_URL",
            DEFAULT_MQTT_URL,
        );
        let login_in_url = broker_url_login(&url.value);
        let username = pick(
            "LOOKOUT_MQTT_USERNAME",
            "mqtt.username",
            parsed.mqtt.username,
        );
        let password = pick(
            "LOOKOUT_MQTT_PASSWORD",
            "mqtt.password",
            parsed.mqtt.password,
        );
        let login = match (username, password, login_in_url) {
            (Some(username), password, _) => Some(Sourced {
                value: BrokerLogin {
                    username: username.value,
                    password: password.map(|p| p.value).unwrap_or_default(),
                },
                origin: username.origin,
            }),
            (None, Some(password), _) => {
                return Err(
                    password.invalid("a password needs LOOKOUT_MQTT_USERNAME (mqtt.username) too")
                )
            }
            (None, None, Some(login)) => Some(Sourced {
                value: login,
                origin: url.origin.clone(),
            }),
            (None, None, None) => None,
        };
        let url = Sourced {
            value: parse_broker_url(&url.value).map_err(|problem| url.invalid(problem))?,
            origin: url.origin,
        };

        let client_id = or_default(
            pick(
                "LOOKOUT_MQTT_CLIENT_ID",
                "mqtt.client_id",
                parsed.mqtt.client_id,
            ),
            "LOOKOUT_MQTT_CLIENT_ID",
            DEFAULT_CLIENT_ID,
        );
        if client_id.value.trim().is_empty() || client_id.value.len() > 65_535 {
            return Err(client_id.invalid("a client id must be 1 to 65535 bytes"));
        }

        let subscriptions = match env("LOOKOUT_MQTT_SUBSCRIPTIONS").filter(|v| !v.is_empty()) {
            Some(list) => Sourced {
                value: list.split(',').map(|f| f.trim().to_owned()).collect(),
                origin: Origin::Env("LOOKOUT_MQTT_SUBSCRIPTIONS"),
            },
            None => match parsed.mqtt.subscriptions {
                Some(list) => Sourced {
                    value: list,
                    origin: Origin::File {
                        key: "mqtt.subscriptions",
                        path: path.clone(),
                    },
                },
                None => Sourced {
                    value: vec!["#".to_owned()],
                    origin: Origin::Default("LOOKOUT_MQTT_SUBSCRIPTIONS"),
                },
            },
        };
        if subscriptions.value.is_empty() {
            return Err(subscriptions.invalid("at least one topic filter is needed"));
        }
        if let Some(bad) = subscriptions
            .value
            .iter()
            .find(|filter| !rumqttc::valid_filter(filter))
        {
            return Err(subscriptions.invalid(format!(
                "{bad:?} is not an MQTT topic filter ('+' and '#' must fill a whole level, '#' \
                 only at the end)"
            )));
        }

        let keep_alive = Duration::from_secs(parsed.mqtt.keep_alive_secs.unwrap_or(30).max(5));
        let max_payload_bytes = parsed
            .mqtt
            .max_payload_bytes
            .unwrap_or(DEFAULT_MAX_PAYLOAD_BYTES);

        let retention = retention_settings(
            pick(
                "LOOKOUT_RETENTION_DAYS",
                "retention.days",
                parsed.retention.days.map(|days| days.to_string()),
            ),
            parsed.retention.rules,
            &path,
        )?;

        Ok(Settings {
            database_url,
            listen,
            mqtt: MqttSettings {
                url,
                login,
                client_id: client_id.value,
                subscriptions: subscriptions.value,
                keep_alive,
                max_payload_bytes,
            },
            writer: WriterSettings {
                batch_max: 2000,
                batch_delay: Duration::from_millis(20),
                queue_capacity: 10_000,
            },
            retention,
        })
    }
}

fn retention_settings(
    days: Option<Sourced<String>>,
    rules: Vec<FileRetentionRule>,
    path: &Path,
) -> Result<RetentionSettings, ConfigError> {
    let days = match days {
        Some(days) => {
            let value = days.value.trim().parse::<i64>().map_err(|_| {
                days.invalid(format!("expected a number of days, got {:?}", days.value))
            })?;
            retention_days(value).map_err(|problem| days.invalid(problem))?
        }
        None => DEFAULT_RETENTION_DAYS,
    };
    let rules = rules
        .into_iter()
        .enumerate()
        .map(|(index, rule)| {
            // Rules have no name: the error counts them in file order and quotes the filter.
            let invalid = |key: &str, problem: String| ConfigError::Invalid {
                setting: format!(
                    "retention.rules.{key} of rule {} (filter {:?}, in {})",
                    index + 1,
                    rule.filter,
                    path.display()
                ),
                problem,
            };
            let filter = TopicFilter::parse(&rule.filter)
                .map_err(|error| invalid("filter", format!("not an MQTT topic filter: {error}")))?;
            let days = retention_days(rule.days).map_err(|problem| invalid("days", problem))?;
            Ok(RetentionRule { filter, days })
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(RetentionSettings { days, rules })
}

fn retention_days(days: i64) -> Result<u32, String> {
    if (1..=MAX_RETENTION_DAYS).contains(&days) {
        Ok(days as u32)
    } else {
        Err(format!(
            "retention is 1 to {MAX_RETENTION_DAYS} days, got {days}"
        ))
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::Malformed {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

fn parse_database_url(url: Sourced<String>) -> Result<Sourced<DatabaseUrl>, ConfigError> {
    match Url::parse(&url.value) {
        Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => Ok(Sourced {
            value: DatabaseUrl(url.value),
            origin: url.origin,
        }),
        Ok(parsed) => Err(url.invalid(format!(
            "expected a postgres:// URL, got the scheme {:?}",
            parsed.scheme()
        ))),
        // The URL itself may hold a password, so the error shows only what was wrong.
        Err(error) => Err(url.invalid(format!("expected a postgres:// URL ({error})"))),
    }
}

/// The user and password of `mqtt://user:password@host`, percent-decoded.
pub fn broker_url_login(text: &str) -> Option<BrokerLogin> {
    let url = Url::parse(text).ok()?;
    if url.username().is_empty() {
        return None;
    }
    let decode = |part: &str| {
        url::form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Some(BrokerLogin {
        username: decode(url.username()),
        password: url.password().map(decode).unwrap_or_default(),
    })
}

/// `mqtt://[user[:password]@]host[:port]`. The address never includes the login, so it can be
/// printed.
pub fn parse_broker_url(text: &str) -> Result<BrokerAddress, String> {
    // The URL may carry a password: errors quote it only with the login removed.
    let shown = match Url::parse(text) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        Err(_) if text.contains('@') => "(the URL, which holds a login)".to_owned(),
        Err(_) => format!("{text:?}"),
    };
    let url = Url::parse(text).map_err(|error| {
        format!("expected a URL such as mqtt://127.0.0.1:1883, got {shown} ({error})")
    })?;
    if url.scheme() != "mqtt" {
        return Err(format!(
            "the scheme {:?} is not supported; use mqtt://host:port",
            url.scheme()
        ));
    }
    let host = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| format!("{shown} has no host; use mqtt://host:port"))?;
    if url.path() != "" && url.path() != "/" {
        return Err(format!("{shown} has a path; use mqtt://host:port"));
    }
    Ok(BrokerAddress {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: url.port().unwrap_or(1883),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(None, move |name| vars.get(name).cloned())
    }

    const DB: (&str, &str) = (
        "DATABASE_URL",
        "postgres://lookout:hunter2@127.0.0.1/lookout",
    );

    #[test]
    fn defaults_fill_everything_but_the_database() {
        let settings = load(&[DB]).unwrap();
        assert_eq!(settings.listen.value.to_string(), DEFAULT_LISTEN);
        assert_eq!(settings.mqtt.url.value.to_string(), DEFAULT_MQTT_URL);
        assert_eq!(settings.mqtt.subscriptions, vec!["#"]);
    }

    #[test]
    fn a_missing_database_url_names_the_variable() {
        let error = load(&[]).unwrap_err().to_string();
        assert!(error.starts_with("DATABASE_URL is not set"), "{error}");
    }

    #[test]
    fn a_malformed_broker_url_names_the_variable() {
        let error = load(&[DB, ("LOOKOUT_MQTT_URL", "mqtt//nohost")]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("LOOKOUT_MQTT_URL is not valid"),
            "{error}"
        );
        let error = load(&[DB, ("LOOKOUT_MQTT_URL", "http://broker:1883")]).unwrap_err();
        assert!(
            error.to_string().contains("\"http\" is not supported"),
            "{error}"
        );
    }

    #[test]
    fn a_broker_login_comes_from_the_url_or_the_settings_and_never_prints() {
        let settings = load(&[
            DB,
            ("LOOKOUT_MQTT_URL", "mqtt://plant:s%40cret@broker:1884"),
        ])
        .unwrap();
        let login = settings.mqtt.login.clone().unwrap().value;
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("plant", "s@cret")
        );
        assert_eq!(settings.mqtt.url.value.to_string(), "mqtt://broker:1884");
        assert!(!format!("{settings:?}").contains("s@cret"));

        let settings = load(&[
            DB,
            ("LOOKOUT_MQTT_URL", "mqtt://plant:old@broker"),
            ("LOOKOUT_MQTT_USERNAME", "ops"),
            ("LOOKOUT_MQTT_PASSWORD", "new"),
        ])
        .unwrap();
        let login = settings.mqtt.login.unwrap().value;
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("ops", "new")
        );

        let error = load(&[DB, ("LOOKOUT_MQTT_PASSWORD", "orphan")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("LOOKOUT_MQTT_PASSWORD is not valid"),
            "{error}"
        );
        let error = load(&[DB, ("LOOKOUT_MQTT_URL", "mqtt://u:hunter2@/x")])
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn a_bad_listen_address_names_the_variable() {
        let error = load(&[DB, ("LOOKOUT_LISTEN", "localhost")]).unwrap_err();
        assert!(
            error.to_string().starts_with("LOOKOUT_LISTEN is not valid"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_topic_filter_is_refused() {
        let error = load(&[DB, ("LOOKOUT_MQTT_SUBSCRIPTIONS", "a/#/b")]).unwrap_err();
        assert!(error.to_string().contains("\"a/#/b\""), "{error}");
    }

    #[test]
    fn the_database_password_never_prints() {
        let settings = load(&[DB]).unwrap();
        let shown = format!("{} {:?}", settings.database_url.value, settings);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        let error = load(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn retention_defaults_to_a_month_and_the_variable_sets_it() {
        let settings = load(&[DB]).unwrap();
        assert_eq!(settings.retention.days, DEFAULT_RETENTION_DAYS);
        assert!(settings.retention.rules.is_empty());
        assert_eq!(settings.retention.days_for("any/topic"), 30);

        let settings = load(&[DB, ("LOOKOUT_RETENTION_DAYS", "7")]).unwrap();
        assert_eq!(settings.retention.days, 7);
        for bad in ["0", "-3", "thirty", "36501"] {
            let error = load(&[DB, ("LOOKOUT_RETENTION_DAYS", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("LOOKOUT_RETENTION_DAYS is not valid"),
                "{error}"
            );
        }
    }

    /// Loads `text` as the config file, with `vars` as the environment.
    fn load_file(text: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join(format!(
            "lookout-config-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lookout.toml");
        std::fs::write(
            &path,
            format!("database_url = \"postgres://x@h/d\"\n{text}"),
        )
        .unwrap();
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = Settings::load_from(Some(&path), move |name| vars.get(name).cloned());
        std::fs::remove_dir_all(&dir).unwrap();
        settings
    }

    #[test]
    fn retention_rules_apply_in_file_order_and_the_longest_retention_is_known() {
        let file = "[retention]\ndays = 90\n\
                    [[retention.rules]]\nfilter = \"sensors/debug/#\"\ndays = 2\n\
                    [[retention.rules]]\nfilter = \"sensors/+/raw\"\ndays = 7\n\
                    [[retention.rules]]\nfilter = \"audit/#\"\ndays = 400\n";
        let retention = load_file(file, &[]).unwrap().retention;
        assert_eq!(retention.days, 90);
        assert_eq!(
            retention.days_for("sensors/debug/raw"),
            2,
            "first rule wins"
        );
        assert_eq!(retention.days_for("sensors/debug"), 2);
        assert_eq!(retention.days_for("sensors/pump/raw"), 7);
        assert_eq!(retention.days_for("audit/login"), 400);
        assert_eq!(retention.days_for("sensors/pump/temp"), 90);
        assert_eq!(retention.longest_days(), 400);

        // The variable overrides the file's global days; the rules stay.
        let retention = load_file(file, &[("LOOKOUT_RETENTION_DAYS", "3")])
            .unwrap()
            .retention;
        assert_eq!(retention.days, 3);
        assert_eq!(retention.rules.len(), 3);
    }

    #[test]
    fn a_bad_retention_rule_is_named_by_its_place_and_filter() {
        let rule = |filter: &str, days: &str| {
            load_file(
                &format!(
                    "[[retention.rules]]\nfilter = \"a/#\"\ndays = 1\n\
                     [[retention.rules]]\nfilter = \"{filter}\"\ndays = {days}\n"
                ),
                &[],
            )
            .unwrap_err()
            .to_string()
        };
        let error = rule("a/#/b", "2");
        assert!(
            error.starts_with("retention.rules.filter of rule 2 (filter \"a/#/b\", in "),
            "{error}"
        );
        assert!(error.contains("'#' may only be the last level"), "{error}");
        let error = rule("b/+", "0");
        assert!(
            error.starts_with("retention.rules.days of rule 2 (filter \"b/+\", in "),
            "{error}"
        );
        assert!(error.contains("got 0"), "{error}");
        let error = load_file("[retention]\ndays = -1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("retention.days (in "), "{error}");
        let error = load_file("[[retention.rules]]\nfilter = \"a\"\nday = 2\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `day`"), "{error}");
    }

    #[test]
    fn environment_variables_override_the_file_and_errors_name_the_file_key() {
        let dir = std::env::temp_dir().join(format!("lookout-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lookout.toml");
        std::fs::write(
            &path,
            "database_url = \"postgres://file@127.0.0.1/lookout\"\nlisten = \"127.0.0.1:4000\"\n\
             [mqtt]\nurl = \"mqtt://broker.example:1884\"\nsubscriptions = [\"plant/#\"]\n",
        )
        .unwrap();
        let vars = [("LOOKOUT_LISTEN".to_owned(), "127.0.0.1:5000".to_owned())];
        let settings = Settings::load_from(Some(&path), |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        assert_eq!(settings.listen.value.port(), 5000);
        assert_eq!(settings.mqtt.url.value.host, "broker.example");
        assert_eq!(settings.mqtt.url.value.port, 1884);
        assert_eq!(settings.mqtt.subscriptions, vec!["plant/#"]);
        assert_eq!(
            settings.database_url.value.expose(),
            "postgres://file@127.0.0.1/lookout"
        );

        std::fs::write(
            &path,
            "database_url = \"postgres://x@h/d\"\n[mqtt]\nurl = \"tcp:/\"\n",
        )
        .unwrap();
        let error = Settings::load_from(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("mqtt.url (in "), "{error}");

        std::fs::write(&path, "databse_url = \"postgres://x@h/d\"\n").unwrap();
        let error = Settings::load_from(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `databse_url`"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
