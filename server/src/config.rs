//! Settings: defaults, then the TOML file, then environment variables (which win). Every error
//! names the setting as the user gave it (the variable, or the file key with its file and line),
//! and no secret (the database's or the broker's password, the metrics token) ever prints.
//!
//! - `table.rs` lists every setting once: file key, kind, default, variable and meaning;
//!   README.md's rows are checked against it.
//! - `layers.rs` layers them: the variable, else the file, else the default, each value kept with
//!   where it came from.
//! - `values.rs` reads each kind of value and checks what it must be on its own.
//! - `resolve` (here) applies the rules between settings and builds the [`Settings`] the rest of
//!   Lookout uses.
//!
//! Why this and not figment (or config-rs, which Leptos and rumqttd already bring): they merge
//! the three sources, the easy part, and get in the way of the rest. The variables are not a
//! prefix plus the key split at `_` (`LOOKOUT_MQTT_CLIENT_CERT_FILE` is `mqtt.client_cert_file`,
//! `DATABASE_URL` has no prefix), so a table of names is needed anyway. figment's `Env` reads only
//! the process environment (tests and the demo pass their own), takes an empty variable as a
//! value, and parses values as data, so a client id or password `1234` turns into a number that
//! fails as a string. Its errors name a provider ("`LOOKOUT_` environment variable(s)") where
//! ours name the variable, and a file without a line, so each would have to be reworded from its
//! metadata. Its cost was not the reason (six small crates, one a proc-macro, about 3 s of
//! build); this layer adds no crate at all: serde and toml were here already, and toml 1 (built
//! for Leptos anyway) knows each value's line.

mod broker;
mod layers;
mod table;
mod values;

use app::domain::alert_rule::{
    AlertChannel, AlertRule, ChannelText, RuleForm, MAX_CHANNELS, MAX_RULES,
};
use app::domain::history::Resolution;
use app::domain::topic_filter::TopicFilter;
use layers::{File, Layers, Sources};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use table::{AlertLayers, MqttLayers, RetentionLayers, WebLayers, WriterLayers};
use url::Url;

pub use broker::{
    broker_url_login, parse_broker_url, BrokerAddress, BrokerLogin, BrokerTransport, Subscription,
};
pub use layers::{DefaultValue, SettingDoc, SETTINGS};
pub use table::DEFAULT_MAX_PAYLOAD_BYTES;

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
    Missing { setting: &'static str, hint: String },
    #[error("{setting} is not valid: {problem}")]
    Invalid { setting: String, problem: String },
    /// A well-formed setting that does not work: an unreachable database, a busy port.
    #[error("{setting}: {problem}")]
    Unusable { setting: String, problem: String },
}

/// Where a value came from, so an error can point at the right place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Neither the file nor the environment set it; names the variable that would (the file
    /// key for a setting only the file gives).
    Default(&'static str),
    File {
        key: &'static str,
        path: PathBuf,
        /// Where the value starts, from 1.
        line: usize,
    },
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default(env_name) => write!(f, "{env_name} (unset, so its default)"),
            Origin::File { key, path, line } => {
                write!(f, "{key} (in {}, line {line})", path.display())
            }
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
    /// The same setting with its value turned into another type.
    pub fn map<U>(self, convert: impl FnOnce(T) -> U) -> Sourced<U> {
        Sourced {
            value: convert(self.value),
            origin: self.origin,
        }
    }

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

/// Files for a TLS connection to the broker (`mqtts://`, `wss://`).
#[derive(Clone, Debug, Default)]
pub struct BrokerTls {
    /// PEM certificates of the authorities to trust instead of the system's, for a broker with a
    /// private CA.
    pub ca_file: Option<Sourced<PathBuf>>,
    /// For brokers that authenticate clients by certificate.
    pub client_certificate: Option<ClientCertificate>,
}

#[derive(Clone, Debug)]
pub struct ClientCertificate {
    /// PEM certificate chain, the client's own certificate first.
    pub cert_file: Sourced<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Sourced<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct MqttSettings {
    pub url: Sourced<BrokerAddress>,
    /// From `mqtt://user:password@host` or the username/password settings (which win).
    pub login: Option<Sourced<BrokerLogin>>,
    /// Used only when the URL is `mqtts://` or `wss://`.
    pub tls: BrokerTls,
    /// Fixed, so the broker keeps this client's session (and its QoS 1/2 messages) across restarts.
    pub client_id: String,
    pub subscriptions: Sourced<Vec<Subscription>>,
    /// Set when several instances share the work: ingest then subscribes as
    /// `$share/<group>/<filter>`, so the broker hands each message to one instance of the group,
    /// and each instance follows the same filters on a second, ordinary connection for its own
    /// live views (see `ingest::LiveFeed`).
    pub shared_group: Option<Sourced<String>>,
    pub keep_alive: Duration,
    /// Payloads larger than this are counted and logged, not stored.
    pub max_payload_bytes: usize,
}

impl MqttSettings {
    /// The filter ingest subscribes with: in a shared group, the broker's share of it.
    pub fn ingest_filter(&self, filter: &str) -> String {
        match &self.shared_group {
            Some(group) => format!("$share/{}/{filter}", group.value),
            None => filter.to_owned(),
        }
    }

    /// The client id of the live feed's connection (see `ingest::LiveFeed`).
    pub fn live_feed_client_id(&self) -> String {
        format!("{}-live", self.client_id)
    }

    /// The client id of the dashboard's publishing connection (see `ingest::PublishConnection`).
    pub fn publisher_client_id(&self) -> String {
        format!("{}-pub", self.client_id)
    }
}

#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// The most messages in one transaction.
    pub batch_max: usize,
    /// How long a batch waits for more messages once it has one.
    pub batch_delay: Duration,
    /// Messages waiting between the broker and the writer; when full, ingest stops reading.
    pub queue_capacity: usize,
    /// Payload bytes received but not yet stored, in the queue and in the batches being written;
    /// when reached, ingest stops reading. Bounds memory whatever the payload sizes.
    pub buffer_bytes: usize,
}

/// How long messages are kept. The `latest` row of a topic is kept whatever its age.
#[derive(Clone, Debug)]
pub struct RetentionSettings {
    /// For topics that no rule matches.
    pub days: u32,
    /// In file order: the first rule whose filter matches a topic decides its retention.
    pub rules: Vec<RetentionRule>,
    pub rollups: RollupRetention,
}

/// How long each level of the values' rollups is kept, in days; `None` for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollupRetention {
    pub minutes: u32,
    pub hours: u32,
    pub days: Option<u32>,
}

impl Default for RollupRetention {
    fn default() -> Self {
        Self {
            minutes: 90,
            hours: 730,
            days: None,
        }
    }
}

impl RollupRetention {
    /// Each level with its retention, finest first.
    pub fn levels(&self) -> [(Resolution, Option<u32>); 3] {
        [
            (Resolution::Minute, Some(self.minutes)),
            (Resolution::Hour, Some(self.hours)),
            (Resolution::Day, self.days),
        ]
    }
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
pub struct WebSettings {
    /// Where users reach Lookout, when not at `listen` (behind a reverse proxy). An `https://` URL
    /// makes the session cookie Secure and turns on HSTS.
    pub public_url: Option<Sourced<Url>>,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// How long a public status page's snapshot is served before it is rebuilt: at most one
    /// database read per page per TTL, and the `max-age` caches downstream are told.
    pub status_ttl: Duration,
    /// HTTPS served by Lookout itself (rustls) on `listen`, without a proxy in front.
    pub tls: Option<ServerTls>,
    /// With `tls`: where plain HTTP is answered with a redirect to HTTPS. Unset, plain HTTP is
    /// refused: nothing listens for it.
    pub http_redirect_listen: Option<Sourced<SocketAddr>>,
    /// What one client may hold of the server: connections, time, live streams.
    pub limits: ConnectionLimits,
    /// Set: `/metrics` answers only requests bearing this token (`Authorization: Bearer ...`).
    pub metrics_token: Option<Sourced<MetricsToken>>,
    /// Set: `/metrics` is served on this address, not on `listen`. With neither this nor the
    /// token, `/metrics` is not served at all.
    pub metrics_listen: Option<Sourced<SocketAddr>>,
}

/// Bounds on what clients hold: each connection takes a descriptor, memory and a task, so a
/// client that sends slowly, reads slowly or opens many must not be able to take them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head (and, over HTTPS, the handshake before it) must arrive whole within this
    /// long of the server waiting for it: of the connection opening, or of the previous answer on
    /// a kept-alive connection.
    pub header_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed (a request body
    /// that stops coming, say). A live stream sends a comment every 15 s, so it is never idle.
    pub idle_timeout: Duration,
    /// An answer or a live stream whose client does not take the next bytes within this long is
    /// closed.
    pub write_timeout: Duration,
    /// Connections open at once on the web listeners, live streams included; beyond it a new
    /// connection is answered 503 and closed at once.
    pub max_connections: usize,
    /// Live streams one user may have open at once, on this instance.
    pub max_streams_per_user: usize,
}

/// The limits in force when nothing is set (their defaults are in `table.rs`).
impl Default for ConnectionLimits {
    fn default() -> Self {
        let web = WebLayers::read(&Sources::defaults_only()).expect("the defaults are valid");
        connection_limits(&web)
    }
}

/// The bearer token `/metrics` asks for. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl MetricsToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(***)")
    }
}

/// The certificate and key Lookout serves HTTPS with.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// PEM certificate chain, the server's own certificate first.
    pub cert_file: Sourced<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Sourced<PathBuf>,
}

impl WebSettings {
    /// Whether browsers reach Lookout over HTTPS, served here or by a proxy in front: the session
    /// cookie is then Secure and HSTS is on.
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
            || self
                .public_url
                .as_ref()
                .is_some_and(|url| url.value.scheme() == "https")
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: Sourced<DatabaseUrl>,
    pub listen: Sourced<SocketAddr>,
    pub web: WebSettings,
    pub mqtt: MqttSettings,
    pub writer: WriterSettings,
    pub retention: RetentionSettings,
    pub alerts: AlertSettings,
}

/// Alert channels and rules kept in the config file, checked as the admin forms check them;
/// the store makes the database agree with them at start (`Store::sync_config_alerts`).
#[derive(Clone, Debug, Default)]
pub struct AlertSettings {
    pub channels: Vec<AlertChannel>,
    /// Each rule with the names of the channels it tells (all of them the file's).
    pub rules: Vec<(AlertRule, Vec<String>)>,
}

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
        let unreadable = |path: &Path, source| ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
        };
        let text = file
            .map(|path| std::fs::read_to_string(path).map_err(|error| unreadable(path, error)))
            .transpose()?;
        let file = file
            .zip(text.as_deref())
            .map(|(path, text)| File::parse(path, text))
            .transpose()?;
        let layers = Layers::read(&Sources {
            file: file.as_ref(),
            env: &env,
        })?;
        resolve(layers)
    }

    /// The settings in force and where each came from, for `lookout check-config`. Passwords
    /// are never part of it.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut text = String::from("The settings are valid:\n");
        let mut line = |name: &str, value: &dyn fmt::Display, origin: &Origin| {
            let _ = writeln!(text, "  {name:<24} {value}   [{origin}]");
        };
        line(
            "database_url",
            &self.database_url.value,
            &self.database_url.origin,
        );
        line("listen", &self.listen.value, &self.listen.origin);
        if let Some(tls) = &self.web.tls {
            line(
                "web.tls_cert_file",
                &tls.cert_file.value.display(),
                &tls.cert_file.origin,
            );
            line(
                "web.tls_key_file",
                &tls.key_file.value.display(),
                &tls.key_file.origin,
            );
        }
        if let Some(redirect) = &self.web.http_redirect_listen {
            line(
                "web.http_redirect_listen",
                &redirect.value,
                &redirect.origin,
            );
        }
        if let Some(public_url) = &self.web.public_url {
            line("web.public_url", &public_url.value, &public_url.origin);
        }
        if let Some(token) = &self.web.metrics_token {
            line("web.metrics_token", &"(set)", &token.origin);
        }
        if let Some(metrics) = &self.web.metrics_listen {
            line("web.metrics_listen", &metrics.value, &metrics.origin);
        }
        line("mqtt.url", &self.mqtt.url.value, &self.mqtt.url.origin);
        if let Some(login) = &self.mqtt.login {
            line("mqtt.username", &login.value.username, &login.origin);
        }
        let filters: Vec<&str> = self
            .mqtt
            .subscriptions
            .value
            .iter()
            .map(|subscription| subscription.filter.as_str())
            .collect();
        line(
            "mqtt.subscriptions",
            &filters.join(", "),
            &self.mqtt.subscriptions.origin,
        );
        if let Some(group) = &self.mqtt.shared_group {
            line("mqtt.shared_group", &group.value, &group.origin);
        }
        text
    }
}

/// The rules between settings, and the shapes the rest of Lookout uses.
fn resolve(layers: Layers) -> Result<Settings, ConfigError> {
    let web = web_settings(layers.web)?;
    let mqtt = mqtt_settings(layers.mqtt)?;
    let writer = writer_settings(layers.writer, &mqtt)?;
    let retention = retention_settings(layers.retention)?;
    let alerts = alert_settings(layers.alerts)?;
    Ok(Settings {
        database_url: layers.database_url,
        listen: layers.listen,
        web,
        mqtt,
        writer,
        retention,
        alerts,
    })
}

fn web_settings(web: WebLayers) -> Result<WebSettings, ConfigError> {
    let limits = connection_limits(&web);
    let tls = both_or_neither(
        web.tls_cert_file,
        web.tls_key_file,
        "a certificate needs its key: set LOOKOUT_TLS_KEY_FILE (web.tls_key_file) too",
        "a key needs its certificate: set LOOKOUT_TLS_CERT_FILE (web.tls_cert_file) too",
        |cert_file, key_file| ServerTls {
            cert_file,
            key_file,
        },
    )?;
    if let (None, Some(redirect)) = (&tls, &web.http_redirect_listen) {
        return Err(redirect.invalid(
            "redirecting plain HTTP needs HTTPS: set LOOKOUT_TLS_CERT_FILE and \
             LOOKOUT_TLS_KEY_FILE (web.tls_cert_file, web.tls_key_file) too",
        ));
    }
    Ok(WebSettings {
        limits,
        public_url: web.public_url.map(|url| url.map(|url| url.0)),
        session_idle: Duration::from_secs(60 * web.session_idle_minutes.value.get()),
        status_ttl: web.status_ttl_seconds.value.seconds(),
        tls,
        http_redirect_listen: web.http_redirect_listen,
        metrics_token: web.metrics_token,
        metrics_listen: web.metrics_listen,
    })
}

/// Two settings that only work together, such as a certificate and its key, made into one.
fn both_or_neither<A, B, T>(
    first: Option<Sourced<A>>,
    second: Option<Sourced<B>>,
    first_alone: &str,
    second_alone: &str,
    both: impl FnOnce(Sourced<A>, Sourced<B>) -> T,
) -> Result<Option<T>, ConfigError> {
    match (first, second) {
        (Some(first), Some(second)) => Ok(Some(both(first, second))),
        (Some(first), None) => Err(first.invalid(first_alone)),
        (None, Some(second)) => Err(second.invalid(second_alone)),
        (None, None) => Ok(None),
    }
}

fn connection_limits(web: &WebLayers) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: web.header_timeout_secs.value.seconds(),
        idle_timeout: web.idle_timeout_secs.value.seconds(),
        write_timeout: web.write_timeout_secs.value.seconds(),
        max_connections: web.max_connections.value.count(),
        max_streams_per_user: web.max_streams_per_user.value.count(),
    }
}

fn mqtt_settings(mqtt: MqttLayers) -> Result<MqttSettings, ConfigError> {
    let url = mqtt.url;
    let login = match (mqtt.username, mqtt.password) {
        (Some(username), password) => Some(Sourced {
            value: BrokerLogin {
                username: username.value,
                password: password.map(|p| p.value.0).unwrap_or_default(),
            },
            origin: username.origin,
        }),
        (None, Some(password)) => {
            return Err(
                password.invalid("a password needs LOOKOUT_MQTT_USERNAME (mqtt.username) too")
            )
        }
        (None, None) => url.value.login.clone().map(|login| Sourced {
            value: login,
            origin: url.origin.clone(),
        }),
    };
    let url = url.map(|url| url.address);

    let client_certificate = both_or_neither(
        mqtt.client_cert_file,
        mqtt.client_key_file,
        "a client certificate needs its key: set LOOKOUT_MQTT_CLIENT_KEY_FILE \
         (mqtt.client_key_file) too",
        "a client key needs its certificate: set LOOKOUT_MQTT_CLIENT_CERT_FILE \
         (mqtt.client_cert_file) too",
        |cert_file, key_file| ClientCertificate {
            cert_file,
            key_file,
        },
    )?;
    let tls = BrokerTls {
        ca_file: mqtt.ca_file,
        client_certificate,
    };
    if !url.value.transport.is_tls() {
        // Quietly connecting without the TLS the user asked for would be worse than refusing.
        let stray = tls
            .ca_file
            .as_ref()
            .or(tls.client_certificate.as_ref().map(|c| &c.cert_file));
        if let Some(stray) = stray {
            return Err(stray.invalid(format!(
                "TLS files need an mqtts:// or wss:// broker URL, but {} is {}",
                url.origin, url.value
            )));
        }
    }

    let client_id = mqtt.client_id;
    let shared_group = mqtt.shared_group.map(|group| group.map(|group| group.0));
    if let Some(group) = &shared_group {
        if matches!(client_id.origin, Origin::Default(_)) {
            // Instances with one client id would take the broker session from each other in
            // turn; the id is the broker's only way to tell them apart.
            return Err(client_id.invalid(format!(
                "instances sharing the group {:?} each need their own fixed client id: set \
                 LOOKOUT_MQTT_CLIENT_ID (mqtt.client_id), e.g. lookout-1, lookout-2",
                group.value
            )));
        }
    }

    Ok(MqttSettings {
        url,
        login,
        tls,
        client_id: client_id.value.0,
        subscriptions: mqtt.subscriptions,
        shared_group,
        keep_alive: mqtt.keep_alive_secs.value.seconds(),
        max_payload_bytes: mqtt.max_payload_bytes.value.count(),
    })
}

fn writer_settings(
    writer: WriterLayers,
    mqtt: &MqttSettings,
) -> Result<WriterSettings, ConfigError> {
    let buffer = &writer.buffer_bytes;
    let (least, most) = (mqtt.max_payload_bytes as u64, 1 << 36);
    if buffer.value.get() < least {
        // A payload of the largest allowed size must fit, or ingest would wait forever.
        return Err(buffer.invalid(values::out_of_range(least, most, buffer.value.get())));
    }
    Ok(WriterSettings {
        batch_max: writer.batch_max.value.count(),
        batch_delay: Duration::from_millis(writer.batch_delay_ms.value.get()),
        queue_capacity: writer.queue_capacity.value.count(),
        buffer_bytes: writer.buffer_bytes.value.count(),
    })
}

fn retention_settings(retention: RetentionLayers) -> Result<RetentionSettings, ConfigError> {
    let rollups = RollupRetention {
        minutes: retention.minute_rollup_days.value.0,
        hours: retention.hour_rollup_days.value.0,
        days: retention.day_rollup_days.map(|days| days.value.0),
    };
    let Some(rules) = retention.rules else {
        return Ok(RetentionSettings {
            days: retention.days.value.0,
            rules: Vec::new(),
            rollups,
        });
    };
    let path = match &rules.origin {
        Origin::File { path, .. } => path.clone(),
        _ => PathBuf::new(),
    };
    let rules = rules
        .value
        .into_iter()
        .enumerate()
        .map(|(index, rule)| {
            // Rules have no name: the error counts them in file order and quotes the filter.
            let invalid = |key: &str, problem: String| ConfigError::Invalid {
                setting: format!(
                    "retention.rules.{key} of rule {} (filter {:?}, in {}, line {})",
                    index + 1,
                    rule.filter,
                    path.display(),
                    rule.line
                ),
                problem,
            };
            let filter = TopicFilter::parse(&rule.filter)
                .map_err(|error| invalid("filter", format!("not an MQTT topic filter: {error}")))?;
            let days = values::Days::new(rule.days).map_err(|problem| invalid("days", problem))?;
            Ok(RetentionRule {
                filter,
                days: days.0,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(RetentionSettings {
        days: retention.days.value.0,
        rules,
        rollups,
    })
}

/// The fields an `[[alerts.rules]]` table may have: the admin form's, with `channels` by name.
const RULE_FIELDS: [&str; 21] = [
    "name",
    "kind",
    "topics",
    "pointer",
    "device_rule",
    "unknown_is_bad",
    "direction",
    "trigger",
    "recover",
    "comparison",
    "value",
    "check",
    "behind_seconds",
    "for_seconds",
    "reminder_minutes",
    "notify_resolve",
    "flap_changes",
    "flap_minutes",
    "severity",
    "enabled",
    "channels",
];
const CHANNEL_FIELDS: [&str; 5] = ["name", "format", "url", "template", "enabled"];

fn alert_settings(alerts: AlertLayers) -> Result<AlertSettings, ConfigError> {
    let path_of = |origin: &Origin| match origin {
        Origin::File { path, .. } => path.display().to_string(),
        _ => String::new(),
    };
    let mut settings = AlertSettings::default();
    if let Some(channels) = alerts.channels {
        let path = path_of(&channels.origin);
        if channels.value.len() > MAX_CHANNELS {
            return Err(channels.invalid(format!("at most {MAX_CHANNELS} channels")));
        }
        for entry in &channels.value {
            let invalid = |problem: String| ConfigError::Invalid {
                setting: format!(
                    "the [[alerts.channels]] table {:?} (from line {} of {path})",
                    field_of(&entry.fields, "name"),
                    entry.line
                ),
                problem,
            };
            let field = |name: &str| field_of(&entry.fields, name);
            refuse_unknown_fields(&entry.fields, &CHANNEL_FIELDS).map_err(invalid)?;
            let mut channel = ChannelText {
                name: field("name"),
                format: field("format"),
                url: field("url"),
                template: field("template"),
            }
            .check(0)
            .map_err(|problem| invalid(format!("{} ({})", problem.describe(), problem.field())))?;
            channel.enabled = field("enabled") != "off";
            if settings.channels.iter().any(|c| c.name == channel.name) {
                return Err(invalid(format!(
                    "a second channel named {:?}",
                    channel.name
                )));
            }
            settings.channels.push(channel);
        }
    }
    if let Some(rules) = alerts.rules {
        let path = path_of(&rules.origin);
        if rules.value.len() > MAX_RULES {
            return Err(rules.invalid(format!("at most {MAX_RULES} rules")));
        }
        for entry in &rules.value {
            let invalid = |problem: String| ConfigError::Invalid {
                setting: format!(
                    "the [[alerts.rules]] table {:?} (from line {} of {path})",
                    field_of(&entry.fields, "name"),
                    entry.line
                ),
                problem,
            };
            refuse_unknown_fields(&entry.fields, &RULE_FIELDS).map_err(invalid)?;
            let names: Vec<String> = entry
                .fields
                .iter()
                .filter(|(key, _)| key == "channels")
                .map(|(_, name)| name.clone())
                .collect();
            let mut ids = Vec::new();
            for name in &names {
                let index = settings
                    .channels
                    .iter()
                    .position(|channel| channel.name == *name)
                    .ok_or_else(|| {
                        invalid(format!(
                            "channel {name:?} is not one of the file's [[alerts.channels]]"
                        ))
                    })?;
                ids.push(index as i64 + 1);
            }
            let mut pairs: Vec<(String, String)> = entry
                .fields
                .iter()
                .filter(|(key, _)| key != "channels")
                .map(|(key, value)| {
                    let ticked = matches!(key.as_str(), "notify_resolve" | "unknown_is_bad");
                    (
                        key.clone(),
                        if ticked && value == "off" {
                            String::new()
                        } else {
                            value.clone()
                        },
                    )
                })
                .collect();
            if !pairs.iter().any(|(key, _)| key == "enabled") {
                pairs.push(("enabled".to_owned(), "on".to_owned()));
            }
            let form = RuleForm::from_pairs(&pairs);
            let rule = form.text().check(0, ids).map_err(|problem| {
                invalid(format!("{} ({})", problem.describe(), problem.field()))
            })?;
            if settings
                .rules
                .iter()
                .any(|(other, _)| other.name == rule.name)
            {
                return Err(invalid(format!("a second rule named {:?}", rule.name)));
            }
            settings.rules.push((rule, names));
        }
    }
    Ok(settings)
}

fn field_of<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_default()
}

/// A misspelt field would otherwise be left at its default without a word.
fn refuse_unknown_fields(fields: &[(String, String)], known: &[&str]) -> Result<(), String> {
    match fields
        .iter()
        .find(|(key, _)| !known.contains(&key.as_str()))
    {
        Some((key, _)) => Err(format!(
            "unknown field `{key}`, expected one of {}",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::QoS;
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
        assert_eq!(settings.listen.value.to_string(), "127.0.0.1:3000");
        assert_eq!(settings.mqtt.url.value.to_string(), "mqtt://127.0.0.1:1883");
        assert_eq!(
            settings.mqtt.subscriptions.value,
            vec![Subscription {
                filter: "#".to_owned(),
                qos: QoS::ExactlyOnce
            }]
        );
        assert_eq!(settings.writer.batch_max, 10_000);
        assert_eq!(settings.writer.buffer_bytes, 64 * 1024 * 1024);
        let error = load(&[DB, ("LOOKOUT_WRITER_BUFFER_BYTES", "1000")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "LOOKOUT_WRITER_BUFFER_BYTES is not valid: expected a whole number from 262144"
            ),
            "{error}"
        );
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
    fn every_broker_scheme_has_its_port_and_only_websockets_take_a_path() {
        for (url, shown) in [
            ("mqtt://broker", "mqtt://broker:1883"),
            ("mqtts://broker", "mqtts://broker:8883"),
            ("ws://broker:9001/mqtt", "ws://broker:9001/mqtt"),
            (
                "wss://broker/mqtt?tenant=a",
                "wss://broker:443/mqtt?tenant=a",
            ),
            ("mqtt://[::1]:1884", "mqtt://[::1]:1884"),
        ] {
            assert_eq!(parse_broker_url(url).unwrap().to_string(), shown);
        }
        let error = parse_broker_url("mqtts://broker/mqtt").unwrap_err();
        assert!(error.contains("only ws:// and wss://"), "{error}");
    }

    #[test]
    fn tls_files_need_a_tls_url_and_come_in_pairs() {
        let error = load(&[DB, ("LOOKOUT_MQTT_CA_FILE", "/etc/ca.pem")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("LOOKOUT_MQTT_CA_FILE is not valid: TLS files need an mqtts://"),
            "{error}"
        );
        let error = load(&[
            DB,
            ("LOOKOUT_MQTT_URL", "mqtts://broker"),
            ("LOOKOUT_MQTT_CLIENT_CERT_FILE", "/etc/client.pem"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(
                "LOOKOUT_MQTT_CLIENT_CERT_FILE is not valid: a client certificate needs its key"
            ),
            "{error}"
        );
        let settings = load(&[
            DB,
            ("LOOKOUT_MQTT_URL", "wss://broker/mqtt"),
            ("LOOKOUT_MQTT_CA_FILE", "/etc/ca.pem"),
            ("LOOKOUT_MQTT_CLIENT_CERT_FILE", "/etc/client.pem"),
            ("LOOKOUT_MQTT_CLIENT_KEY_FILE", "/etc/client.key"),
        ])
        .unwrap();
        let tls = settings.mqtt.tls;
        assert_eq!(tls.ca_file.unwrap().value, Path::new("/etc/ca.pem"));
        assert_eq!(
            tls.client_certificate.unwrap().key_file.value,
            Path::new("/etc/client.key")
        );
    }

    #[test]
    fn https_needs_a_certificate_and_its_key_and_redirects_only_with_them() {
        let error = load(&[DB, ("LOOKOUT_TLS_CERT_FILE", "/etc/lookout.pem")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("LOOKOUT_TLS_CERT_FILE is not valid: a certificate needs its key"),
            "{error}"
        );
        let error = load(&[DB, ("LOOKOUT_HTTP_REDIRECT_LISTEN", "0.0.0.0:80")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "LOOKOUT_HTTP_REDIRECT_LISTEN is not valid: redirecting plain HTTP needs HTTPS"
            ),
            "{error}"
        );
        let error = load(&[
            DB,
            ("LOOKOUT_TLS_CERT_FILE", "/etc/lookout.pem"),
            ("LOOKOUT_TLS_KEY_FILE", "/etc/lookout.key"),
            ("LOOKOUT_HTTP_REDIRECT_LISTEN", "port 80"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("LOOKOUT_HTTP_REDIRECT_LISTEN is not valid: expected an address"),
            "{error}"
        );

        let plain = load(&[DB]).unwrap();
        assert!(!plain.web.is_https());
        let settings = load(&[
            DB,
            ("LOOKOUT_TLS_CERT_FILE", "/etc/lookout.pem"),
            ("LOOKOUT_TLS_KEY_FILE", "/etc/lookout.key"),
            ("LOOKOUT_HTTP_REDIRECT_LISTEN", "0.0.0.0:80"),
        ])
        .unwrap();
        assert!(settings.web.is_https(), "the session cookie is Secure");
        let tls = settings.web.tls.as_ref().unwrap();
        assert_eq!(tls.key_file.value, Path::new("/etc/lookout.key"));
        assert_eq!(
            settings.web.http_redirect_listen.as_ref().unwrap().value,
            "0.0.0.0:80".parse().unwrap()
        );
        assert!(settings.summary().contains("/etc/lookout.pem"));
    }

    #[test]
    fn each_subscription_has_its_own_qos() {
        let settings = load(&[
            DB,
            (
                "LOOKOUT_MQTT_SUBSCRIPTIONS",
                "plant/#@0, alarms/+/state@1 ,logs/#",
            ),
        ])
        .unwrap();
        let parsed: Vec<(&str, QoS)> = settings
            .mqtt
            .subscriptions
            .value
            .iter()
            .map(|s| (s.filter.as_str(), s.qos))
            .collect();
        assert_eq!(
            parsed,
            vec![
                ("plant/#", QoS::AtMostOnce),
                ("alarms/+/state", QoS::AtLeastOnce),
                ("logs/#", QoS::ExactlyOnce)
            ]
        );

        let dir = std::env::temp_dir().join(format!("lookout-qos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lookout.toml");
        std::fs::write(
            &path,
            "database_url = \"postgres://x@h/d\"\n[mqtt]\nsubscriptions = \
             [\"a/#@1\", { filter = \"mail/me@2\", qos = 0 }]\n",
        )
        .unwrap();
        let settings = Settings::load_from(Some(&path), |_| None).unwrap();
        let subscriptions = &settings.mqtt.subscriptions.value;
        assert_eq!(
            (
                subscriptions[0].qos,
                subscriptions[1].filter.as_str(),
                subscriptions[1].qos
            ),
            (QoS::AtLeastOnce, "mail/me@2", QoS::AtMostOnce)
        );
        std::fs::write(
            &path,
            "database_url = \"postgres://x@h/d\"\n[mqtt]\nsubscriptions = \
             [{ filter = \"a\", qos = 3 }]\n",
        )
        .unwrap();
        let error = Settings::load_from(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("mqtt.subscriptions (in "), "{error}");
        assert!(error.contains("qos 3"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_shared_group_turns_ingest_filters_into_shares_and_needs_a_client_id_per_instance() {
        let single = load(&[DB, ("LOOKOUT_MQTT_SUBSCRIPTIONS", "plant/#")]).unwrap();
        assert!(single.mqtt.shared_group.is_none());
        assert_eq!(single.mqtt.ingest_filter("plant/#"), "plant/#");

        let settings = load(&[
            DB,
            ("LOOKOUT_MQTT_SHARED_GROUP", "lookout"),
            ("LOOKOUT_MQTT_CLIENT_ID", "lookout-2"),
        ])
        .unwrap();
        assert_eq!(
            settings.mqtt.ingest_filter("plant/#"),
            "$share/lookout/plant/#"
        );
        assert_eq!(settings.mqtt.live_feed_client_id(), "lookout-2-live");
        assert!(settings.summary().contains("mqtt.shared_group"));

        let error = load(&[DB, ("LOOKOUT_MQTT_SHARED_GROUP", "lookout")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("LOOKOUT_MQTT_CLIENT_ID (unset, so its default) is not valid")
                && error.contains("instances sharing the group \"lookout\""),
            "{error}"
        );
        for bad in ["a/b", "all+", "#", " padded"] {
            let error = load(&[
                DB,
                ("LOOKOUT_MQTT_SHARED_GROUP", bad),
                ("LOOKOUT_MQTT_CLIENT_ID", "lookout-1"),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                error.starts_with("LOOKOUT_MQTT_SHARED_GROUP is not valid"),
                "{bad:?}: {error}"
            );
        }
        // A share written into the filters would leave the live views with a share only.
        let error = load(&[DB, ("LOOKOUT_MQTT_SUBSCRIPTIONS", "$share/g/plant/#")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("LOOKOUT_MQTT_SHARED_GROUP"), "{error}");
    }

    #[test]
    fn numbers_out_of_range_name_their_setting() {
        let error = load(&[DB, ("LOOKOUT_WRITER_BATCH_MAX", "0")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "LOOKOUT_WRITER_BATCH_MAX is not valid: expected a whole number from 1"
            ),
            "{error}"
        );
        let error = load(&[DB, ("LOOKOUT_MQTT_KEEP_ALIVE_SECS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"soon\""), "{error}");
        let settings = load(&[DB, ("LOOKOUT_MQTT_MAX_PAYLOAD_BYTES", "1024")]).unwrap();
        assert_eq!(settings.mqtt.max_payload_bytes, 1024);
    }

    #[test]
    fn an_https_public_url_means_secure_cookies() {
        let settings = load(&[DB]).unwrap();
        assert!(!settings.web.is_https());
        assert_eq!(settings.web.session_idle, Duration::from_secs(12 * 3600));
        let settings = load(&[DB, ("LOOKOUT_PUBLIC_URL", "https://lookout.example.com")]).unwrap();
        assert!(settings.web.is_https());
        let error = load(&[DB, ("LOOKOUT_PUBLIC_URL", "lookout.example.com")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("LOOKOUT_PUBLIC_URL is not valid"),
            "{error}"
        );
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
        assert_eq!(settings.retention.days, 30);
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
    fn alert_channels_and_rules_in_the_file_are_checked_as_the_forms_check_them() {
        let file = "[[alerts.channels]]\nname = \"ops\"\nformat = \"webhook\"\n\
                    url = \"https://hooks.example.org/ops\"\n\
                    [[alerts.rules]]\nname = \"Boiler too hot\"\nkind = \"threshold\"\n\
                    topics = \"plant/+/temp\"\ndirection = \"above\"\ntrigger = 90\n\
                    recover = 85.5\nfor_seconds = 60\nseverity = \"critical\"\n\
                    notify_resolve = true\nchannels = [\"ops\"]\n";
        let alerts = load_file(file, &[]).unwrap().alerts;
        assert_eq!(alerts.channels.len(), 1);
        assert_eq!(alerts.channels[0].name, "ops");
        assert!(alerts.channels[0].enabled);
        let (rule, channels) = &alerts.rules[0];
        assert_eq!(rule.name, "Boiler too hot");
        assert!(rule.enabled);
        assert!(rule.timing.notify_resolve);
        assert_eq!(rule.timing.for_ms, 60_000);
        assert_eq!(channels, &["ops".to_owned()]);
        assert!(load_file("", &[]).unwrap().alerts.rules.is_empty());

        let refused = |text: &str| load_file(text, &[]).unwrap_err().to_string();
        let error = refused(&file.replace("channels = [\"ops\"]", "channels = [\"pager\"]"));
        assert!(
            error.contains("[[alerts.rules]] table \"Boiler too hot\" (from line 6 of"),
            "{error}"
        );
        assert!(
            error.contains("\"pager\" is not one of the file's"),
            "{error}"
        );
        let error = refused(&file.replace("trigger = 90", "triger = 90"));
        assert!(error.contains("unknown field `triger`"), "{error}");
        let error = refused(&file.replace("recover = 85.5", "recover = 95"));
        assert!(error.contains("recovery level"), "{error}");
        let error = refused(&file.replace("https://hooks", "file://hooks"));
        assert!(
            error.contains("[[alerts.channels]] table \"ops\" (from line 2 of"),
            "{error}"
        );
        let error = refused(&format!(
            "{file}{}",
            &file[..file.find("[[alerts.rules]]").unwrap()]
        ));
        assert!(error.contains("a second channel named \"ops\""), "{error}");
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
        assert_eq!(settings.mqtt.subscriptions.value[0].filter, "plant/#");
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

    #[test]
    fn connection_limits_have_defaults_and_ranges() {
        let settings = load(&[DB]).unwrap();
        assert_eq!(settings.web.limits, ConnectionLimits::default());
        assert_eq!(settings.web.limits.header_timeout, Duration::from_secs(10));
        let settings = load(&[
            DB,
            ("LOOKOUT_HEADER_TIMEOUT_SECS", "3"),
            ("LOOKOUT_MAX_CONNECTIONS", "50"),
            ("LOOKOUT_MAX_STREAMS_PER_USER", "2"),
        ])
        .unwrap();
        assert_eq!(settings.web.limits.header_timeout, Duration::from_secs(3));
        assert_eq!(settings.web.limits.max_connections, 50);
        assert_eq!(settings.web.limits.max_streams_per_user, 2);
        // Shorter than a quiet stream's keep-alive comment, every stream would count as idle.
        let error = load(&[DB, ("LOOKOUT_IDLE_TIMEOUT_SECS", "10")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "LOOKOUT_IDLE_TIMEOUT_SECS is not valid: expected a whole number from 20"
            ),
            "{error}"
        );
        let error = load(&[DB, ("LOOKOUT_MAX_CONNECTIONS", "0")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("LOOKOUT_MAX_CONNECTIONS is not valid"),
            "{error}"
        );
    }

    #[test]
    fn metrics_are_served_with_a_long_token_or_on_an_address_of_their_own() {
        let settings = load(&[DB]).unwrap();
        assert!(settings.web.metrics_token.is_none() && settings.web.metrics_listen.is_none());

        let token = "0123456789abcdef0123456789abcdef";
        let settings = load(&[
            DB,
            ("LOOKOUT_METRICS_TOKEN", token),
            ("LOOKOUT_METRICS_LISTEN", "127.0.0.1:9100"),
        ])
        .unwrap();
        assert_eq!(
            settings.web.metrics_token.as_ref().unwrap().value.expose(),
            token
        );
        assert_eq!(settings.web.metrics_listen.unwrap().value.port(), 9100);
        assert!(!format!("{:?}", settings.web.metrics_token).contains(token));

        let short = "hunter2hunter2";
        let error = load(&[DB, ("LOOKOUT_METRICS_TOKEN", short)])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("LOOKOUT_METRICS_TOKEN is not valid: expected 32"),
            "{error}"
        );
        assert!(!error.contains(short), "{error}");
        let spaced = "0123456789abcdef 0123456789abcdef";
        assert!(load(&[DB, ("LOOKOUT_METRICS_TOKEN", spaced)]).is_err());
        let error = load(&[DB, ("LOOKOUT_METRICS_LISTEN", "9100")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("LOOKOUT_METRICS_LISTEN is not valid"),
            "{error}"
        );
    }

    #[test]
    fn a_file_value_is_named_by_its_key_its_file_and_its_line() {
        // `load_file` writes the database URL on line 1.
        let error = load_file("\n[web]\nheader_timeout_secs = \"10\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("web.header_timeout_secs (in ")
                && error.contains(
                    ", line 4) is not valid: expected a whole number from 1 to 300, got the \
                     string \"10\""
                ),
            "{error}"
        );
        let error = load_file("[web]\nlisten = \"0.0.0.0:80\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown field `listen` in [web] at line 3"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_variable_counts_as_unset_and_digits_stay_text_where_text_is_meant() {
        let settings = load(&[
            DB,
            ("LOOKOUT_LISTEN", ""),
            ("LOOKOUT_MQTT_CLIENT_ID", "1234"),
            ("LOOKOUT_MQTT_USERNAME", "42"),
            ("LOOKOUT_MQTT_PASSWORD", "0"),
        ])
        .unwrap();
        assert_eq!(settings.listen.origin, Origin::Default("LOOKOUT_LISTEN"));
        assert_eq!(settings.mqtt.client_id, "1234");
        let login = settings.mqtt.login.unwrap().value;
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("42", "0")
        );
    }

    /// README.md's tables of settings hold each setting's row exactly as `table.rs` describes
    /// it, and no row for a setting that does not exist (but `LOOKOUT_CONFIG`, which names the
    /// file itself), so the two cannot drift apart.
    #[test]
    fn the_readme_lists_every_setting_as_the_table_describes_it() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let mut rows = Vec::new();
        let mut in_table = false;
        for line in readme.lines() {
            if line == "| variable | file key | default | meaning |" {
                in_table = true;
            } else if !line.starts_with('|') {
                in_table = false;
            } else if in_table && !line.starts_with("| ---") {
                rows.push(line);
            }
        }
        let expected: Vec<String> = SETTINGS.iter().map(SettingDoc::readme_row).collect();
        let missing: Vec<&str> = expected
            .iter()
            .filter(|row| rows.iter().filter(|line| **line == row.as_str()).count() != 1)
            .map(String::as_str)
            .collect();
        let unknown: Vec<&str> = rows
            .iter()
            .copied()
            .filter(|line| !line.starts_with("| `LOOKOUT_CONFIG` |"))
            .filter(|line| !expected.iter().any(|row| row == line))
            .collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "README.md's tables of settings need each of these rows once, as \
             server/src/config/table.rs describes the setting:\n{}\n\nand none of these, which \
             describe no setting there:\n{}",
            missing.join("\n"),
            unknown.join("\n")
        );
    }
}
