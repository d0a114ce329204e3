//! HTTPS served by Lookout itself (rustls), for a deployment without a proxy in front: the TLS
//! connections, and the plain-HTTP listener that only redirects.

use crate::config::{ConfigError, ConnectionLimits, ServerTls};
use crate::connections::{self, Bounded, Slots};
use crate::pem;
use axum::extract::Request;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use rustls::ServerConfig;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use url::Url;

/// The server's TLS configuration from the configured files, refused with the setting's name
/// when a file is unreadable or the key does not fit the certificate.
pub fn server_config(tls: &ServerTls) -> Result<Arc<ServerConfig>, ConfigError> {
    let chain = pem::certificates(&tls.cert_file)?;
    let key = pem::private_key(&tls.key_file)?;
    // ring explicitly: the one provider in the build, and no process-wide default to install.
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| tls.cert_file.invalid(format!("TLS set-up failed: {error}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|error| {
                tls.key_file.invalid(format!(
                    "the key does not go with the certificate in {}: {error}",
                    tls.cert_file.value.display()
                ))
            })?;
    // The web server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` over TLS on every connection of `listener` until `stop`, then waits for the
/// connections under way to finish. Each holds a place under the cap from its acceptance; the
/// handshake runs in the connection's own task and must end within the header timeout, so a
/// slow or silent client holds up nobody else.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Router,
    slots: Slots,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(config);
    connections::accept(&listener, &slots, stop.clone(), |socket, peer, slot| {
        let (acceptor, router, limits, mut stop) = (
            acceptor.clone(),
            router.clone(),
            limits.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(socket));
            let handshaken = tokio::select! {
                handshaken = handshake => handshaken,
                // A shutdown does not wait for a client still shaking hands.
                () = connections::stopped(&mut stop) => return,
            };
            match handshaken {
                Ok(Ok(stream)) => {
                    let io = Bounded::new(stream, slot, &limits);
                    connections::serve_http(io, peer, router, limits, stop).await
                }
                // Plain HTTP on the HTTPS port ends here too.
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    })
    .await;
    drop(listener);
    slots.all_free().await;
}

/// Serves plain HTTP that answers every request with a permanent redirect to the same address
/// over HTTPS, until `stop`. Its connections count under the same cap as the HTTPS ones.
pub async fn redirect_plain_http(
    listener: TcpListener,
    https_port: u16,
    public_url: Option<Url>,
    slots: Slots,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
) {
    let public_url = public_url.filter(|url| url.scheme() == "https");
    let router = Router::new().fallback(move |request: Request| {
        let public_url = public_url.clone();
        async move { redirect(&request, https_port, public_url.as_ref()) }
    });
    connections::serve(listener, router, slots, limits, stop).await
}

fn redirect(request: &Request, https_port: u16, public_url: Option<&Url>) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    match https_location(request.uri(), host, https_port, public_url) {
        // 308 rather than 301: a form posted over plain HTTP is posted again, not turned into a GET.
        Some(location) => Redirect::permanent(&location).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            "Lookout is served over HTTPS; use an https:// address.\n",
        )
            .into_response(),
    }
}

/// Where a plain-HTTP request should go: the public URL's origin when configured, or else the
/// host the browser asked for on the HTTPS port. `None` without a usable host.
fn https_location(
    uri: &Uri,
    host: Option<&str>,
    https_port: u16,
    public_url: Option<&Url>,
) -> Option<String> {
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    if let Some(public_url) = public_url {
        return Some(format!(
            "{}{path}",
            public_url.origin().ascii_serialization()
        ));
    }
    // Parsed as a URL so that only a well-formed host (name, IPv4 or [IPv6]) is echoed back.
    let asked = Url::parse(&format!("http://{}/", host?)).ok()?;
    let only_a_host = asked.path() == "/"
        && asked.username().is_empty()
        && asked.password().is_none()
        && asked.query().is_none()
        && asked.fragment().is_none();
    if !only_a_host {
        return None;
    }
    let name = match asked.host()? {
        url::Host::Ipv6(address) => format!("[{address}]"),
        other => other.to_string(),
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    Some(format!("https://{name}{port}{path}"))
}

#[cfg(test)]
mod tests {
    use super::https_location;
    use url::Url;

    #[test]
    fn plain_http_is_sent_to_the_same_place_over_https() {
        let uri = "/status/plant?x=1".parse().unwrap();
        assert_eq!(
            https_location(&uri, Some("lookout.example.com"), 443, None).as_deref(),
            Some("https://lookout.example.com/status/plant?x=1")
        );
        assert_eq!(
            https_location(&uri, Some("127.0.0.1:8080"), 8443, None).as_deref(),
            Some("https://127.0.0.1:8443/status/plant?x=1")
        );
        assert_eq!(
            https_location(&"/".parse().unwrap(), Some("[::1]:80"), 443, None).as_deref(),
            Some("https://[::1]/")
        );
        let public = Url::parse("https://status.example.org/").unwrap();
        assert_eq!(
            https_location(&uri, Some("10.0.0.5"), 8443, Some(&public)).as_deref(),
            Some("https://status.example.org/status/plant?x=1")
        );
    }

    #[test]
    fn a_request_without_a_usable_host_gets_no_redirect() {
        let uri = "/".parse().unwrap();
        assert_eq!(https_location(&uri, None, 443, None), None);
        assert_eq!(
            https_location(&uri, Some("evil.example/x"), 443, None),
            None
        );
        assert_eq!(
            https_location(&uri, Some("me@evil.example"), 443, None),
            None
        );
        assert_eq!(https_location(&uri, Some(""), 443, None), None);
    }
}
