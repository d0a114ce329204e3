//! Every setting: its key in the config file (the section, then the name), its kind, its
//! default, the variable that overrides it, and what it means, which is its row in README.md.
//!
//! To add a setting: write its entry here (`///` meaning, `name: Kind = default, env "NAME";`),
//! put the row that the README test then prints into README.md's table, and hand the value on in
//! `config::resolve` to the settings struct of the code that uses it. A new kind of value
//! implements `values::Value`. Comments with `//` say why a default or a bound is what it is.

use super::broker::Subscription;
use super::layers::settings;
use super::values::{
    AlertEntry, BrokerUrl, ClientId, Days, GroupName, HttpUrl, RuleEntry, Secret, Whole,
};
use super::{DatabaseUrl, MetricsToken};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Payloads above it are counted and logged, not stored. Also the demo broker's limit.
pub const DEFAULT_MAX_PAYLOAD_BYTES: u64 = 256 * 1024;

/// The largest payload limit: above the largest packet ingest reads, an oversized message could
/// not be counted.
const MAX_PAYLOAD_BYTES: u64 = crate::ingest::MAX_INCOMING_PACKET as u64 - 65_536;

settings! {
    /// The settings as layered from defaults, the file and the environment, each one checked on
    /// its own; `config::resolve` checks them together.
    pub struct Layers {
        /// a PostgreSQL URL such as `postgres://lookout@127.0.0.1:5432/lookout`
        database_url: DatabaseUrl = required, env "DATABASE_URL";
        /// HTTP address (HTTPS with `LOOKOUT_TLS_CERT_FILE` and `LOOKOUT_TLS_KEY_FILE`)
        listen: SocketAddr = "127.0.0.1:3000", env "LOOKOUT_LISTEN";
    }

    web: WebLayers {
        /// where users reach Lookout (behind a proxy); `https://` makes cookies Secure, sends
        /// HSTS, and is the only accepted `Origin`
        public_url: HttpUrl, env "LOOKOUT_PUBLIC_URL";
        /// inactivity before a session ends (1 to 525600)
        session_idle_minutes: Whole<1, { 365 * 24 * 60 }> = 720, env "LOOKOUT_SESSION_IDLE_MINUTES";
        /// serve HTTPS on `listen` without a proxy (rustls): a PEM certificate chain, with its
        /// key in `LOOKOUT_TLS_KEY_FILE`; the session cookie becomes `Secure` and HSTS is sent
        tls_cert_file: PathBuf, env "LOOKOUT_TLS_CERT_FILE";
        /// the PEM private key (PKCS#8, PKCS#1 or SEC1) of `LOOKOUT_TLS_CERT_FILE`
        tls_key_file: PathBuf, env "LOOKOUT_TLS_KEY_FILE";
        /// with HTTPS: an address (`0.0.0.0:80`) where plain HTTP gets a 308 redirect to the
        /// same path over HTTPS; unset, plain HTTP is refused (nothing listens for it, and plain
        /// HTTP sent to the HTTPS port gets no page)
        http_redirect_listen: SocketAddr, env "LOOKOUT_HTTP_REDIRECT_LISTEN";
        // Long enough for a slow mobile link to send a request head, short enough that a client
        // trickling one byte at a time holds its connection only briefly.
        /// a client must send its whole request head (over HTTPS: the handshake too) within this
        /// long (1 to 300); the clock starts when the connection opens, or when the previous
        /// answer went out on a kept-alive connection, so this is also how long an idle
        /// kept-alive connection stays open
        header_timeout_secs: Whole<1, 300> = 10, env "LOOKOUT_HEADER_TIMEOUT_SECS";
        // At least 20: above the live stream's keep-alive comment (15 s), which keeps a quiet
        // stream from counting as idle.
        /// a connection on which no byte moves either way for this long is closed, such as a
        /// request body that stops arriving (20 to 3600; a live stream sends a comment every
        /// 15 s, so it never counts as idle)
        idle_timeout_secs: Whole<20, 3600> = 60, env "LOOKOUT_IDLE_TIMEOUT_SECS";
        // As nginx's `send_timeout`: a client on a bad link may pause that long and still be
        // reading.
        /// an answer or a live stream whose client takes none of the next bytes for this long is
        /// closed (1 to 3600)
        write_timeout_secs: Whole<1, 3600> = 60, env "LOOKOUT_WRITE_TIMEOUT_SECS";
        // Far more than one instance serves in practice (bench/results/live.md holds 20,000 idle
        // streams with it raised), few enough that the descriptors and memory they take stay
        // bounded.
        /// connections open at once on `listen` and the redirect address, live streams included;
        /// beyond it a new connection gets a 503 and is closed at once, never queued. Lowered,
        /// with a warning, to what the open-files limit allows (raise it with `LimitNOFILE=` in
        /// a systemd unit)
        max_connections: Whole<1, 1_000_000> = 10_000, env "LOOKOUT_MAX_CONNECTIONS";
        // A browser holds at most six HTTP/1.1 connections to one site, one stream per tab: room
        // for a few browsers and wall screens sharing a login.
        /// live streams one user may have open at once on one instance; one more gets a 429
        /// saying why
        max_streams_per_user: Whole<1, 1_000_000> = 20, env "LOOKOUT_MAX_STREAMS_PER_USER";
        /// `/metrics` answers only requests with `Authorization: Bearer <token>` (32 to 4096
        /// visible ASCII characters, e.g. `openssl rand -hex 32`; compared in constant time,
        /// never printed); others get a 401
        metrics_token: MetricsToken, env "LOOKOUT_METRICS_TOKEN";
        /// an address (`127.0.0.1:9100`) that serves `/metrics` and nothing else (with the token
        /// too when both are set); `listen` then never serves it. With neither setting,
        /// `/metrics` is a 404
        metrics_listen: SocketAddr, env "LOOKOUT_METRICS_LISTEN";
        /// how long a public status page's snapshot is served before it is rebuilt (1 to 3600):
        /// at most one database read per page per TTL, and the `max-age` caches are told
        status_ttl_seconds: Whole<1, 3600> = 5, env "LOOKOUT_STATUS_TTL_SECONDS";
    }

    mqtt: MqttLayers {
        /// the broker: `mqtt://`, `mqtts://` (TLS), `ws://host:port/path`, `wss://host:port/path`
        /// (MQTT over WebSocket; EMQX and HiveMQ use the path `/mqtt`);
        /// `mqtt://user:password@host:port` logs in
        url: BrokerUrl = "mqtt://127.0.0.1:1883", env "LOOKOUT_MQTT_URL";
        /// a broker login's user (wins over one in the URL)
        username: String, env "LOOKOUT_MQTT_USERNAME";
        /// a broker login's password (with `LOOKOUT_MQTT_USERNAME`)
        password: Secret, env "LOOKOUT_MQTT_PASSWORD";
        /// PEM certificates to trust for `mqtts://`/`wss://` (a private CA) instead of the
        /// system's authorities
        ca_file: PathBuf, env "LOOKOUT_MQTT_CA_FILE";
        /// a PEM client certificate, for brokers that require one (with
        /// `LOOKOUT_MQTT_CLIENT_KEY_FILE`)
        client_cert_file: PathBuf, env "LOOKOUT_MQTT_CLIENT_CERT_FILE";
        /// the PEM key of `LOOKOUT_MQTT_CLIENT_CERT_FILE`
        client_key_file: PathBuf, env "LOOKOUT_MQTT_CLIENT_KEY_FILE";
        /// fixed, so the broker keeps the session
        client_id: ClientId = "lookout", env "LOOKOUT_MQTT_CLIENT_ID";
        // QoS 2 by default: the broker then delivers each message at the QoS it was published
        // with, so nothing is downgraded unless asked.
        /// topic filters, each optionally `@0`, `@1` or `@2` for its highest QoS (default 2:
        /// stored at the QoS published); comma-separated in the variable; in the file also
        /// `{ filter = "...", qos = 1 }`
        subscriptions: Vec<Subscription> = "#", env "LOOKOUT_MQTT_SUBSCRIPTIONS";
        /// run several instances as one group: each message is stored by one of them (an MQTT
        /// shared subscription, `$share/<group>/<filter>`), each shows every message live; every
        /// instance needs its own fixed `LOOKOUT_MQTT_CLIENT_ID` (`docs/scaling.md`)
        shared_group: GroupName, env "LOOKOUT_MQTT_SHARED_GROUP";
        /// MQTT keep-alive (5 to 65535)
        keep_alive_secs: Whole<5, 65_535> = 30, env "LOOKOUT_MQTT_KEEP_ALIVE_SECS";
        /// larger payloads are counted, logged with their topic and acknowledged, not stored
        max_payload_bytes: Whole<1, MAX_PAYLOAD_BYTES> = DEFAULT_MAX_PAYLOAD_BYTES,
            env "LOOKOUT_MQTT_MAX_PAYLOAD_BYTES";
    }

    writer: WriterLayers {
        // Per-topic work (counts, the latest row) is done once per batch, so under load larger
        // batches store more per second (bench/results/ingest.md); when traffic is light a batch
        // closes after `batch_delay_ms` anyway, so latency then does not grow with this.
        /// most messages per database transaction
        batch_max: Whole<1, 100_000> = 10_000, env "LOOKOUT_WRITER_BATCH_MAX";
        /// how long a batch waits to fill
        batch_delay_ms: Whole<0, 10_000> = 20, env "LOOKOUT_WRITER_BATCH_DELAY_MS";
        /// messages between the broker connection and the writer; when full, Lookout stops
        /// reading and the broker holds the rest
        queue_capacity: Whole<1, 10_000_000> = 10_000, env "LOOKOUT_WRITER_QUEUE_CAPACITY";
        // 64 MiB: room for a queue and two batches of small messages, and for a few hundred
        // messages at the default payload limit. The lower bound is `mqtt.max_payload_bytes`
        // (`config::resolve` checks it): a payload of the largest allowed size must fit, or
        // ingest would wait forever.
        /// topic and payload bytes received but not yet stored (queue and batches being written;
        /// 64 MiB by default); when reached, Lookout stops reading, so memory stays bounded
        /// whatever the message sizes; at least `max_payload_bytes`
        buffer_bytes: Whole<0, { 1 << 36 }> = 67_108_864, env "LOOKOUT_WRITER_BUFFER_BYTES";
    }

    retention: RetentionLayers {
        // A month of history: enough to look back over a few weeks, and a demo or a forgotten
        // test machine does not fill its disk. Keeping data for years is a choice someone should
        // make.
        /// days messages are kept (1 to 36500); each topic's latest value is kept whatever its
        /// age
        days: Days = 30, env "LOOKOUT_RETENTION_DAYS";
        /// a retention per MQTT topic filter, as `[[retention.rules]]` tables of `filter` and
        /// `days`; the first rule that matches a topic wins, in file order
        rules: Vec<RuleEntry>;
        // Charts of ranges up to a week read minutes, up to 90 days hours, longer ones days
        // (`HistoryRange::resolution`): each level is kept as long as the longest range that
        // reads it, and a day costs a few hundred bytes per numeric topic, so days stay.
        /// days the per-minute rollups of numeric values are kept (1 to 36500); charts of 6 h to
        /// 7 d read them
        minute_rollup_days: Days = 90, env "LOOKOUT_RETENTION_MINUTE_ROLLUP_DAYS";
        /// days the hourly rollups are kept (1 to 36500); charts of 30 and 90 days read them
        hour_rollup_days: Days = 730, env "LOOKOUT_RETENTION_HOUR_ROLLUP_DAYS";
        /// days the daily rollups are kept (1 to 36500; unset: for ever); charts of a year or
        /// more read them
        day_rollup_days: Days, env "LOOKOUT_RETENTION_DAY_ROLLUP_DAYS";
    }

    alerts: AlertLayers {
        /// alert channels kept in the file, as `[[alerts.channels]]` tables with the fields of
        /// the admin form (`name`, `format`, `url`, optional `template` and `enabled`); made or
        /// updated at start, and deleted when they leave the file
        channels: Vec<AlertEntry>;
        /// alert rules kept in the file, as `[[alerts.rules]]` tables with the fields of the
        /// admin form and `channels`, a list of names of the file's channels; made or updated
        /// at start, and deleted when they leave the file
        rules: Vec<AlertEntry>;
    }
}
