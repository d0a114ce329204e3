//! Sends a notice to a channel: one HTTP(S) request, with the body its format's template makes
//! (`domain::notice`), bounded in time and in what is read back, and an answer that says whether
//! to try again. Every chat service is the same request with another body; nothing here knows
//! one from another. E-mail is the one other way: one message over SMTP (lettre), STARTTLS or
//! TLS unless the channel's address says `tls=none`, with the same answer. A status page's
//! followers are sent to the same two ways (`page_outbox`).

use app::domain::notice::{render, ChannelFormat, EmailAddress, Notice, TemplateError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use lettre::message::header::{ContentType, HeaderName, HeaderValue as MailHeader};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::Url;

/// How long one attempt may take, connection to the end of the answer's head: a receiver slower
/// than this is retried later rather than holding a sender.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an answer's body is kept, to say why a receiver refused: enough for an error
/// message, never a page.
const REASON_BYTES: usize = 512;

/// Where and how a channel is reached.
#[derive(Clone, Debug)]
pub struct Channel {
    pub format: ChannelFormat,
    pub url: Url,
    /// The channel's own template, or its format's default.
    pub template: Option<String>,
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver took it (a 2xx answer).
    Delivered { status: u16 },
    /// The receiver refused it for good (a 4xx other than 408 and 429: a wrong address or
    /// token, a template it cannot read); trying again would not help.
    Refused { status: u16, reason: String },
    /// It may work later: no connection, a timeout, a 5xx, 408 or 429.
    Failed { reason: String },
}

impl Delivery {
    pub fn should_retry(&self) -> bool {
        matches!(self, Delivery::Failed { .. })
    }
}

/// Sends notices; cheap to clone, one per process.
#[derive(Clone)]
pub struct Sender {
    tls: TlsConnector,
    timeout: Duration,
}

impl Sender {
    /// A sender that trusts the system's certificate authorities, as a browser does.
    pub fn with_system_roots() -> Self {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        Self::with_roots(roots, SEND_TIMEOUT)
    }

    pub fn with_roots(roots: RootCertStore, timeout: Duration) -> Self {
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        Self {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        }
    }

    /// Renders `notice` for `channel` and sends it once.
    pub async fn send(&self, channel: &Channel, notice: &Notice) -> Delivery {
        let template = channel
            .template
            .as_deref()
            .unwrap_or(channel.format.default_template());
        let body = match render(channel.format, template, notice) {
            Ok(body) => body,
            Err(error) => return refused_by_us(error),
        };
        if channel.format == ChannelFormat::Email {
            return self.mail(channel.url.as_str(), notice, body).await;
        }
        let attempt = self.post(&channel.url, channel.format.content_type(), body);
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(delivery) => delivery,
            Err(_) => Delivery::Failed {
                reason: format!("no answer within {} s", self.timeout.as_secs()),
            },
        }
    }

    async fn post(&self, url: &Url, content_type: &'static str, body: String) -> Delivery {
        let failed = |reason: String| Delivery::Failed { reason };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Delivery::Refused {
                status: 0,
                reason: "the address has no host".to_owned(),
            };
        };
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Delivery::Refused {
                    status: 0,
                    reason: format!("{other}: only http and https addresses are sent to"),
                }
            }
        };
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let host_header = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, host_header)
            .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .header(USER_AGENT, concat!("Lookout/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                return Delivery::Refused {
                    status: 0,
                    reason: format!("the request cannot be made: {error}"),
                }
            }
        };
        // IPv6 literals come bracketed in URLs, and bare to the resolver.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = match TcpStream::connect((bare, port)).await {
            Ok(tcp) => tcp,
            Err(error) => return failed(format!("cannot connect to {host}:{port}: {error}")),
        };
        let _ = tcp.set_nodelay(true);
        if https {
            let name = match ServerName::try_from(bare.to_owned()) {
                Ok(name) => name,
                Err(error) => return failed(format!("{host} is no server name: {error}")),
            };
            match self.tls.connect(name, tcp).await {
                Ok(stream) => exchange(TokioIo::new(stream), request).await,
                Err(error) => failed(format!("TLS with {host} failed: {error}")),
            }
        } else {
            exchange(TokioIo::new(tcp), request).await
        }
    }
}

impl Sender {
    async fn mail(&self, address: &str, notice: &Notice, body: String) -> Delivery {
        match EmailAddress::parse(address) {
            Ok(address) => {
                let mail = Mail {
                    to: &address.to,
                    subject: notice.title(),
                    body,
                    unsubscribe: None,
                };
                self.send_mail(&address, mail).await
            }
            Err(problem) => Delivery::Refused {
                status: 0,
                reason: problem.to_owned(),
            },
        }
    }

    /// Sends `mail` through the server of a mail channel's `address`, from its sender, within
    /// the sender's timeout.
    pub async fn send_mail(&self, address: &EmailAddress, mail: Mail<'_>) -> Delivery {
        match tokio::time::timeout(self.timeout, self.send_mail_once(address, mail)).await {
            Ok(delivery) => delivery,
            Err(_) => Delivery::Failed {
                reason: format!(
                    "the mail server did not finish within {} s",
                    self.timeout.as_secs()
                ),
            },
        }
    }

    async fn send_mail_once(&self, address: &EmailAddress, mail: Mail<'_>) -> Delivery {
        let refused = |reason: String| Delivery::Refused { status: 0, reason };
        let mut message = Message::builder()
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .user_agent(concat!("Lookout/", env!("CARGO_PKG_VERSION")).to_owned());
        match address.from.parse() {
            Ok(from) => message = message.from(from),
            Err(error) => return refused(format!("from: {error}")),
        }
        for to in mail.to {
            match to.parse() {
                Ok(to) => message = message.to(to),
                Err(error) => return refused(format!("to {to}: {error}")),
            }
        }
        if let Some(unsubscribe) = mail.unsubscribe {
            // RFC 2369 and RFC 8058: a mail program's own "unsubscribe", one POST, no page.
            message = message
                .raw_header(MailHeader::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{unsubscribe}>"),
                ))
                .raw_header(MailHeader::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let message = match message.body(mail.body) {
            Ok(message) => message,
            Err(error) => return refused(format!("the message cannot be made: {error}")),
        };
        let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&address.server) {
            Ok(builder) => builder.timeout(Some(self.timeout)).build(),
            Err(error) => return refused(format!("the mail server's address: {error}")),
        };
        match transport.send(message).await {
            Ok(response) => Delivery::Delivered {
                status: u16::from(response.code()),
            },
            // A 5xx answer is the server's refusal for good (no such mailbox, not allowed to
            // relay, a wrong password); anything else may pass later.
            Err(error) if error.is_permanent() => Delivery::Refused {
                status: error.status().map_or(0, u16::from),
                reason: format!("the mail server refused: {error}"),
            },
            Err(error) => Delivery::Failed {
                reason: format!("sending the e-mail failed: {error}"),
            },
        }
    }

    /// Posts a JSON `body` to `url` once, within the sender's timeout.
    pub async fn post_json(&self, url: &Url, body: String) -> Delivery {
        match tokio::time::timeout(self.timeout, self.post(url, "application/json", body)).await {
            Ok(delivery) => delivery,
            Err(_) => Delivery::Failed {
                reason: format!("no answer within {} s", self.timeout.as_secs()),
            },
        }
    }
}

/// One e-mail to send.
pub struct Mail<'a> {
    pub to: &'a [String],
    pub subject: String,
    pub body: String,
    /// Where a mail program unsubscribes with one POST, for mail to a page's subscribers.
    pub unsubscribe: Option<&'a str>,
}

fn refused_by_us(error: TemplateError) -> Delivery {
    Delivery::Refused {
        status: 0,
        reason: format!("the channel's template cannot be used: {error}"),
    }
}

/// One request on a fresh connection, and what its answer means.
async fn exchange<IO>(io: IO, request: Request<Full<Bytes>>) -> Delivery
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(io).await {
        Ok(pair) => pair,
        Err(error) => {
            return Delivery::Failed {
                reason: format!("HTTP failed: {error}"),
            }
        }
    };
    let driver = tokio::spawn(connection);
    let answer = sender.send_request(request).await;
    let delivery = match answer {
        Err(error) => Delivery::Failed {
            reason: format!("HTTP failed: {error}"),
        },
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Delivery::Delivered {
                    status: status.as_u16(),
                }
            } else {
                let reason = read_reason(response.into_body()).await;
                let reason = format!(
                    "{status}{}",
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                );
                let retry = status.is_server_error()
                    || status == StatusCode::REQUEST_TIMEOUT
                    || status == StatusCode::TOO_MANY_REQUESTS;
                if retry {
                    Delivery::Failed { reason }
                } else {
                    Delivery::Refused {
                        status: status.as_u16(),
                        reason,
                    }
                }
            }
        }
    };
    driver.abort();
    delivery
}

/// The start of an answer's body, as text, if it has one: receivers say there what was wrong.
async fn read_reason(body: hyper::body::Incoming) -> Option<String> {
    // Limited: a receiver answering with a large page must not fill memory; a body over the
    // limit gives no reason rather than part of one.
    let collected = Limited::new(body, 64 * 1024).collect().await.ok()?;
    let bytes = collected.to_bytes();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(REASON_BYTES)]);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
