//! Where the broker is and how Lookout logs in: its URL, split into an address that may be
//! printed and a login that never is, and the topic filters to subscribe to.

use app::domain::topic_filter::TopicFilter;
use rumqttc::QoS;
use std::fmt;
use url::Url;

/// How the broker is reached, from the URL's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerTransport {
    /// `mqtt://`
    Tcp,
    /// `mqtts://`
    Tls,
    /// `ws://`: MQTT over a WebSocket, for brokers behind an HTTP proxy.
    Ws,
    /// `wss://`
    Wss,
}

impl BrokerTransport {
    fn from_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "mqtt" => Some(Self::Tcp),
            "mqtts" => Some(Self::Tls),
            "ws" => Some(Self::Ws),
            "wss" => Some(Self::Wss),
            _ => None,
        }
    }

    pub fn scheme(self) -> &'static str {
        match self {
            Self::Tcp => "mqtt",
            Self::Tls => "mqtts",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Tcp => 1883,
            Self::Tls => 8883,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// Where the broker is. Never holds the login, so it can be printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddress {
    pub transport: BrokerTransport,
    pub host: String,
    pub port: u16,
    /// The HTTP path of a WebSocket endpoint (brokers differ: `/mqtt` is common); empty for
    /// plain MQTT.
    pub path: String,
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.transport.scheme();
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// A topic filter with the highest QoS the broker should deliver it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub filter: String,
    pub qos: QoS,
}

impl Subscription {
    /// A comma-separated list, as `LOOKOUT_MQTT_SUBSCRIPTIONS` gives it.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        text.split(',').map(Self::parse).collect()
    }

    /// `filter` or `filter@qos`. QoS 2 by default: the broker then delivers each message at the
    /// QoS it was published with, so nothing is downgraded unless asked.
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (filter, qos) = match text.rsplit_once('@') {
            Some((filter, "0")) => (filter, QoS::AtMostOnce),
            Some((filter, "1")) => (filter, QoS::AtLeastOnce),
            Some((filter, "2")) => (filter, QoS::ExactlyOnce),
            _ => (text, QoS::ExactlyOnce),
        };
        Self::new(filter, qos)
    }

    pub(super) fn new(filter: &str, qos: QoS) -> Result<Self, String> {
        if filter.starts_with("$share/") {
            return Err(format!(
                "{filter:?} names a shared subscription: list the plain filter and set \
                 LOOKOUT_MQTT_SHARED_GROUP (mqtt.shared_group) instead, so that live views still \
                 get every message"
            ));
        }
        if let Err(error) = TopicFilter::parse(filter) {
            return Err(format!("{filter:?} is not an MQTT topic filter: {error}"));
        }
        Ok(Self {
            filter: filter.to_owned(),
            qos,
        })
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

/// `scheme://[user[:password]@]host[:port][/path]` with the scheme `mqtt`, `mqtts`, `ws` or
/// `wss`; a path only for the WebSocket ones. The address never includes the login, so it can be
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
    let transport = BrokerTransport::from_scheme(url.scheme()).ok_or_else(|| {
        format!(
            "the scheme {:?} is not supported; use mqtt://, mqtts://, ws:// or wss://",
            url.scheme()
        )
    })?;
    let host = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| format!("{shown} has no host; use mqtt://host:port"))?;
    let path = match url.path() {
        "" | "/" if !transport.is_websocket() => String::new(),
        path if transport.is_websocket() => match url.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        },
        _ => {
            return Err(format!(
                "{shown} has a path, which only ws:// and wss:// take"
            ))
        }
    };
    Ok(BrokerAddress {
        transport,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: url.port().unwrap_or(transport.default_port()),
        path,
    })
}
