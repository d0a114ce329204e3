//! Settings: defaults, then the TOML file, then environment variables. Every error names the
//! setting as the user gave it (the variable or the file key), and the database URL never prints
//! with its password.

mod broker;

use app::topic_filter::TopicFilter;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

pub use broker::{
    broker_url_login, parse_broker_url, BrokerAddress, BrokerLogin, BrokerTransport, Subscription,
};

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

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            write_timeout: Duration::from_secs(DEFAULT_WRITE_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            max_streams_per_user: DEFAULT_MAX_STREAMS_PER_USER as usize,
        }
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
}

/// The config file. Unknown keys are refused so that a typo does not silently fall back to a
/// default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    listen: Option<String>,
    #[serde(default)]
    web: FileWeb,
    #[serde(default)]
    mqtt: FileMqtt,
    #[serde(default)]
    writer: FileWriter,
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
struct FileWeb {
    public_url: Option<String>,
    session_idle_minutes: Option<u64>,
    status_ttl_seconds: Option<u64>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    http_redirect_listen: Option<String>,
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    write_timeout_secs: Option<u64>,
    max_connections: Option<u64>,
    max_streams_per_user: Option<u64>,
    metrics_token: Option<String>,
    metrics_listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMqtt {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
    client_id: Option<String>,
    subscriptions: Option<Vec<FileSubscription>>,
    shared_group: Option<String>,
    keep_alive_secs: Option<u64>,
    max_payload_bytes: Option<u64>,
}

/// `"filter"`, `"filter@1"`, or `{ filter = "...", qos = 1 }` (for a filter that itself ends in
/// `@` and a digit).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileSubscription {
    Short(String),
    Full { filter: String, qos: u8 },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWriter {
    batch_max: Option<u64>,
    batch_delay_ms: Option<u64>,
    queue_capacity: Option<u64>,
    buffer_bytes: Option<u64>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_MQTT_URL: &str = "mqtt://127.0.0.1:1883";
pub const DEFAULT_CLIENT_ID: &str = "lookout";
pub const DEFAULT_MAX_PAYLOAD_BYTES: u64 = 256 * 1024;
/// Per-topic work (counts, the latest row) is done once per batch, so under load larger batches
/// store more per second (bench/results/ingest.md); when traffic is light a batch closes after
/// `batch_delay` anyway, so latency then does not grow with this.
pub const DEFAULT_BATCH_MAX: u64 = 10_000;
/// 64 MiB: room for a queue and two batches of small messages, and for a few hundred messages at
/// the default payload limit.
pub const DEFAULT_BUFFER_BYTES: u64 = 64 * 1024 * 1024;
/// A month of history: enough to look back over a few weeks, and a demo or a forgotten test
/// machine does not fill its disk. Keeping data for years is a choice someone should make.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// Long enough for a slow mobile link to send a request head, short enough that a client
/// trickling one byte at a time holds its connection only briefly.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// As nginx's `send_timeout`: a client on a bad link may pause that long and still be reading.
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 60;
/// Far more than one instance serves in practice (bench/results/live.md holds 20,000 idle
/// streams with it raised), few enough that the descriptors and memory they take stay bounded.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
/// A browser holds at most six HTTP/1.1 connections to one site, one stream per tab: room for a
/// few browsers and wall screens sharing a login.
pub const DEFAULT_MAX_STREAMS_PER_USER: u64 = 20;
/// A century: beyond it date arithmetic would only invite overflow, and nobody means more.
const MAX_RETENTION_DAYS: i64 = 36_500;

/// Reads settings from the environment first, then the file, and says where each came from.
struct Sources<'a, E> {
    env: E,
    path: &'a Path,
}

impl<E: Fn(&str) -> Option<String>> Sources<'_, E> {
    fn pick(
        &self,
        env_name: &'static str,
        key: &'static str,
        from_file: Option<String>,
    ) -> Option<Sourced<String>> {
        // An empty variable counts as unset, as shells and service managers often leave them.
        match (self.env)(env_name).filter(|value| !value.is_empty()) {
            Some(value) => Some(Sourced {
                value,
                origin: Origin::Env(env_name),
            }),
            None => from_file.map(|value| Sourced {
                value,
                origin: self.file_origin(key),
            }),
        }
    }

    fn pick_or(
        &self,
        env_name: &'static str,
        key: &'static str,
        from_file: Option<String>,
        default: &str,
    ) -> Sourced<String> {
        self.pick(env_name, key, from_file)
            .unwrap_or_else(|| Sourced {
                value: default.to_owned(),
                origin: Origin::Default(env_name),
            })
    }

    fn path_setting(
        &self,
        env_name: &'static str,
        key: &'static str,
        from_file: Option<PathBuf>,
    ) -> Option<Sourced<PathBuf>> {
        let from_file = from_file.map(|path| path.to_string_lossy().into_owned());
        self.pick(env_name, key, from_file).map(|found| Sourced {
            value: PathBuf::from(found.value),
            origin: found.origin,
        })
    }

    /// A whole number within `range`, or `default` when unset.
    fn number(
        &self,
        env_name: &'static str,
        key: &'static str,
        from_file: Option<u64>,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let found = self.pick_or(
            env_name,
            key,
            from_file.map(|n| n.to_string()),
            &default.to_string(),
        );
        match found.value.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(found.invalid(format!(
                "expected a whole number from {} to {}, got {:?}",
                range.start(),
                range.end(),
                found.value
            ))),
        }
    }

    fn file_origin(&self, key: &'static str) -> Origin {
        Origin::File {
            key,
            path: self.path.to_path_buf(),
        }
    }
}

impl Settings {
    /// Reads the optional file, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, |name| std::env::var(name).ok())
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

    /// As [`Settings::load`], with the environment given as a lookup (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let parsed = match file {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let sources = Sources {
            env,
            path: file.unwrap_or(Path::new("")),
        };

        let database_url = sources
            .pick("DATABASE_URL", "database_url", parsed.database_url)
            .ok_or(ConfigError::Missing {
                setting: "DATABASE_URL",
                hint: "set it (or database_url in the config file) to a PostgreSQL URL such as \
                       postgres://lookout@127.0.0.1:5432/lookout",
            })?;
        let database_url = parse_database_url(database_url)?;

        let listen = sources.pick_or("LOOKOUT_LISTEN", "listen", parsed.listen, DEFAULT_LISTEN);
        let listen = parse_address(listen)?;
        let limits = connection_limits(&sources, &parsed.web)?;

        let public_url = sources
            .pick(
                "LOOKOUT_PUBLIC_URL",
                "web.public_url",
                parsed.web.public_url,
            )
            .map(|found| match Url::parse(&found.value) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Ok(Sourced {
                        value: url,
                        origin: found.origin,
                    })
                }
                _ => Err(found.invalid(format!(
                    "expected an http:// or https:// URL such as https://lookout.example.com, \
                     got {:?}",
                    found.value
                ))),
            })
            .transpose()?;
        let web = WebSettings {
            public_url,
            session_idle: Duration::from_secs(
                60 * sources.number(
                    "LOOKOUT_SESSION_IDLE_MINUTES",
                    "web.session_idle_minutes",
                    parsed.web.session_idle_minutes,
                    12 * 60,
                    1..=365 * 24 * 60,
                )?,
            ),
            status_ttl: Duration::from_secs(sources.number(
                "LOOKOUT_STATUS_TTL_SECONDS",
                "web.status_ttl_seconds",
                parsed.web.status_ttl_seconds,
                5,
                1..=3600,
            )?),
            tls: server_tls(&sources, parsed.web.tls_cert_file, parsed.web.tls_key_file)?,
            http_redirect_listen: sources
                .pick(
                    "LOOKOUT_HTTP_REDIRECT_LISTEN",
                    "web.http_redirect_listen",
                    parsed.web.http_redirect_listen,
                )
                .map(parse_address)
                .transpose()?,
            limits,
            metrics_token: sources
                .pick(
                    "LOOKOUT_METRICS_TOKEN",
                    "web.metrics_token",
                    parsed.web.metrics_token,
                )
                .map(parse_metrics_token)
                .transpose()?,
            metrics_listen: sources
                .pick(
                    "LOOKOUT_METRICS_LISTEN",
                    "web.metrics_listen",
                    parsed.web.metrics_listen,
                )
                .map(parse_address)
                .transpose()?,
        };
        if let (None, Some(redirect)) = (&web.tls, &web.http_redirect_listen) {
            return Err(redirect.invalid(
                "redirecting plain HTTP needs HTTPS: set LOOKOUT_TLS_CERT_FILE and \
                 LOOKOUT_TLS_KEY_FILE (web.tls_cert_file, web.tls_key_file) too",
            ));
        }

        let mqtt = mqtt_settings(&sources, parsed.mqtt)?;

        let writer = &parsed.writer;
        let writer = WriterSettings {
            batch_max: sources.number(
                "LOOKOUT_WRITER_BATCH_MAX",
                "writer.batch_max",
                writer.batch_max,
                DEFAULT_BATCH_MAX,
                1..=100_000,
            )? as usize,
            batch_delay: Duration::from_millis(sources.number(
                "LOOKOUT_WRITER_BATCH_DELAY_MS",
                "writer.batch_delay_ms",
                writer.batch_delay_ms,
                20,
                0..=10_000,
            )?),
            queue_capacity: sources.number(
                "LOOKOUT_WRITER_QUEUE_CAPACITY",
                "writer.queue_capacity",
                writer.queue_capacity,
                10_000,
                1..=10_000_000,
            )? as usize,
            buffer_bytes: sources.number(
                "LOOKOUT_WRITER_BUFFER_BYTES",
                "writer.buffer_bytes",
                writer.buffer_bytes,
                DEFAULT_BUFFER_BYTES,
                // A payload of the largest allowed size must fit, or ingest would wait forever.
                mqtt.max_payload_bytes as u64..=1 << 36,
            )? as usize,
        };

        let retention = retention_settings(
            sources.pick(
                "LOOKOUT_RETENTION_DAYS",
                "retention.days",
                parsed.retention.days.map(|days| days.to_string()),
            ),
            parsed.retention.rules,
            sources.path,
        )?;

        Ok(Settings {
            database_url,
            listen,
            web,
            mqtt,
            writer,
            retention,
        })
    }
}

fn parse_address(found: Sourced<String>) -> Result<Sourced<SocketAddr>, ConfigError> {
    match found.value.parse::<SocketAddr>() {
        Ok(address) => Ok(Sourced {
            value: address,
            origin: found.origin,
        }),
        Err(_) => Err(found.invalid(format!(
            "expected an address and port such as 127.0.0.1:3000, got {:?}",
            found.value
        ))),
    }
}

fn connection_limits<E: Fn(&str) -> Option<String>>(
    sources: &Sources<'_, E>,
    web: &FileWeb,
) -> Result<ConnectionLimits, ConfigError> {
    let seconds = |env_name, key, from_file, default, range| {
        sources
            .number(env_name, key, from_file, default, range)
            .map(Duration::from_secs)
    };
    Ok(ConnectionLimits {
        header_timeout: seconds(
            "LOOKOUT_HEADER_TIMEOUT_SECS",
            "web.header_timeout_secs",
            web.header_timeout_secs,
            DEFAULT_HEADER_TIMEOUT_SECS,
            1..=300,
        )?,
        // Above the live stream's keep-alive comment (15 s), which keeps a quiet stream from
        // counting as idle.
        idle_timeout: seconds(
            "LOOKOUT_IDLE_TIMEOUT_SECS",
            "web.idle_timeout_secs",
            web.idle_timeout_secs,
            DEFAULT_IDLE_TIMEOUT_SECS,
            20..=3600,
        )?,
        write_timeout: seconds(
            "LOOKOUT_WRITE_TIMEOUT_SECS",
            "web.write_timeout_secs",
            web.write_timeout_secs,
            DEFAULT_WRITE_TIMEOUT_SECS,
            1..=3600,
        )?,
        max_connections: sources.number(
            "LOOKOUT_MAX_CONNECTIONS",
            "web.max_connections",
            web.max_connections,
            DEFAULT_MAX_CONNECTIONS,
            1..=1_000_000,
        )? as usize,
        max_streams_per_user: sources.number(
            "LOOKOUT_MAX_STREAMS_PER_USER",
            "web.max_streams_per_user",
            web.max_streams_per_user,
            DEFAULT_MAX_STREAMS_PER_USER,
            1..=1_000_000,
        )? as usize,
    })
}

/// A token Prometheus can send as `Authorization: Bearer <token>`: visible ASCII (what an HTTP
/// header carries unaltered), and long enough not to be guessed.
fn parse_metrics_token(found: Sourced<String>) -> Result<Sourced<MetricsToken>, ConfigError> {
    let token = found.value.trim();
    if !(32..=4096).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(found.invalid(
            "expected 32 to 4096 visible ASCII characters without spaces, such as the output of \
             `openssl rand -hex 32` (the value is not shown)",
        ));
    }
    Ok(Sourced {
        value: MetricsToken(token.to_owned()),
        origin: found.origin,
    })
}

fn server_tls<E: Fn(&str) -> Option<String>>(
    sources: &Sources<'_, E>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
) -> Result<Option<ServerTls>, ConfigError> {
    let cert_file = sources.path_setting("LOOKOUT_TLS_CERT_FILE", "web.tls_cert_file", cert_file);
    let key_file = sources.path_setting("LOOKOUT_TLS_KEY_FILE", "web.tls_key_file", key_file);
    match (cert_file, key_file) {
        (Some(cert_file), Some(key_file)) => Ok(Some(ServerTls {
            cert_file,
            key_file,
        })),
        (Some(cert_file), None) => Err(cert_file.invalid(
            "a certificate needs its key: set LOOKOUT_TLS_KEY_FILE (web.tls_key_file) too",
        )),
        (None, Some(key_file)) => Err(key_file.invalid(
            "a key needs its certificate: set LOOKOUT_TLS_CERT_FILE (web.tls_cert_file) too",
        )),
        (None, None) => Ok(None),
    }
}

fn mqtt_settings<E: Fn(&str) -> Option<String>>(
    sources: &Sources<'_, E>,
    file: FileMqtt,
) -> Result<MqttSettings, ConfigError> {
    let url = sources.pick_or("LOOKOUT_MQTT_URL", "mqtt.url", file.url, DEFAULT_MQTT_URL);
    let login_in_url = broker_url_login(&url.value);
    let username = sources.pick("LOOKOUT_MQTT_USERNAME", "mqtt.username", file.username);
    let password = sources.pick("LOOKOUT_MQTT_PASSWORD", "mqtt.password", file.password);
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

    let ca_file = sources.path_setting("LOOKOUT_MQTT_CA_FILE", "mqtt.ca_file", file.ca_file);
    let cert_file = sources.path_setting(
        "LOOKOUT_MQTT_CLIENT_CERT_FILE",
        "mqtt.client_cert_file",
        file.client_cert_file,
    );
    let key_file = sources.path_setting(
        "LOOKOUT_MQTT_CLIENT_KEY_FILE",
        "mqtt.client_key_file",
        file.client_key_file,
    );
    let client_certificate = match (cert_file, key_file) {
        (Some(cert_file), Some(key_file)) => Some(ClientCertificate {
            cert_file,
            key_file,
        }),
        (Some(cert_file), None) => {
            return Err(cert_file.invalid(
                "a client certificate needs its key: set LOOKOUT_MQTT_CLIENT_KEY_FILE \
                 (mqtt.client_key_file) too",
            ))
        }
        (None, Some(key_file)) => {
            return Err(key_file.invalid(
                "a client key needs its certificate: set LOOKOUT_MQTT_CLIENT_CERT_FILE \
                 (mqtt.client_cert_file) too",
            ))
        }
        (None, None) => None,
    };
    let tls = BrokerTls {
        ca_file,
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

    let client_id = sources.pick_or(
        "LOOKOUT_MQTT_CLIENT_ID",
        "mqtt.client_id",
        file.client_id,
        DEFAULT_CLIENT_ID,
    );
    // Room for the live feed's suffix within MQTT's 65535 bytes.
    if client_id.value.trim().is_empty() || client_id.value.len() > 65_530 {
        return Err(client_id.invalid("a client id must be 1 to 65530 bytes"));
    }

    let subscriptions = subscriptions(sources, file.subscriptions)?;

    let shared_group = sources
        .pick(
            "LOOKOUT_MQTT_SHARED_GROUP",
            "mqtt.shared_group",
            file.shared_group,
        )
        .map(|group| {
            let name = group.value.as_str();
            if name.len() > 256 || name.contains(['/', '+', '#', '\0']) || name.trim() != name {
                return Err(group.invalid(format!(
                    "a shared subscription group is a name of 1 to 256 bytes without '/', '+', \
                     '#' or surrounding spaces, got {name:?}"
                )));
            }
            if client_id.origin == Origin::Default("LOOKOUT_MQTT_CLIENT_ID") {
                // Instances with one client id would take the broker session from each other in
                // turn; the id is the broker's only way to tell them apart.
                return Err(client_id.invalid(format!(
                    "instances sharing the group {name:?} each need their own fixed client id: \
                     set LOOKOUT_MQTT_CLIENT_ID (mqtt.client_id), e.g. lookout-1, lookout-2"
                )));
            }
            Ok(group)
        })
        .transpose()?;

    let keep_alive = Duration::from_secs(sources.number(
        "LOOKOUT_MQTT_KEEP_ALIVE_SECS",
        "mqtt.keep_alive_secs",
        file.keep_alive_secs,
        30,
        5..=65_535,
    )?);
    let max_payload_bytes = sources.number(
        "LOOKOUT_MQTT_MAX_PAYLOAD_BYTES",
        "mqtt.max_payload_bytes",
        file.max_payload_bytes,
        DEFAULT_MAX_PAYLOAD_BYTES,
        // Above the largest packet ingest reads, an oversized message could not be counted.
        1..=crate::ingest::MAX_INCOMING_PACKET as u64 - 65_536,
    )? as usize;

    Ok(MqttSettings {
        url,
        login,
        tls,
        client_id: client_id.value,
        subscriptions,
        shared_group,
        keep_alive,
        max_payload_bytes,
    })
}

fn subscriptions<E: Fn(&str) -> Option<String>>(
    sources: &Sources<'_, E>,
    file: Option<Vec<FileSubscription>>,
) -> Result<Sourced<Vec<Subscription>>, ConfigError> {
    const ENV: &str = "LOOKOUT_MQTT_SUBSCRIPTIONS";
    let (parsed, origin) = match (sources.env)(ENV).filter(|v| !v.is_empty()) {
        Some(list) => (Subscription::parse_list(&list), Origin::Env(ENV)),
        None => match file {
            Some(list) => (
                list.into_iter()
                    .map(|entry| match entry {
                        FileSubscription::Short(text) => Subscription::parse(&text),
                        FileSubscription::Full { filter, qos } => {
                            let qos = rumqttc::qos(qos)
                                .map_err(|_| format!("qos {qos} of {filter:?} is not 0, 1 or 2"))?;
                            Subscription::new(&filter, qos)
                        }
                    })
                    .collect(),
                sources.file_origin("mqtt.subscriptions"),
            ),
            None => (
                Subscription::parse("#").map(|s| vec![s]),
                Origin::Default(ENV),
            ),
        },
    };
    let found = Sourced { value: (), origin };
    let value: Vec<Subscription> = parsed.map_err(|problem| found.invalid(problem))?;
    if value.is_empty() {
        return Err(found.invalid("at least one topic filter is needed"));
    }
    Ok(Sourced {
        value,
        origin: found.origin,
    })
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
        assert_eq!(settings.listen.value.to_string(), DEFAULT_LISTEN);
        assert_eq!(settings.mqtt.url.value.to_string(), DEFAULT_MQTT_URL);
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
}
