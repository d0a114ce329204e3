//! What every HTTP request passes through: the session, security headers, and the rule that a
//! request changing state must come from Lookout's own pages.

use crate::config::WebSettings;
use app::store::Store;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;
use url::Url;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "lookout_session";

/// How often expired sessions are swept from the database.
const EXPIRED_SESSION_SWEEP: Duration = Duration::from_secs(60 * 60);

/// Sessions kept in PostgreSQL, so any instance serves any user and a logout is seen by all.
/// Creates the store's own table (schema `tower_sessions`) if missing and starts the sweeper.
pub async fn sessions(
    store: &Store,
    settings: &WebSettings,
) -> Result<SessionManagerLayer<PostgresStore>, sqlx::Error> {
    let sessions = PostgresStore::new(store.pool().clone());
    sessions.migrate().await?;
    tokio::spawn({
        use tower_sessions::ExpiredDeletion;
        let sessions = sessions.clone();
        async move {
            if let Err(error) = sessions
                .continuously_delete_expired(EXPIRED_SESSION_SWEEP)
                .await
            {
                tracing::error!(%error, "sweeping expired sessions stopped");
            }
        }
    });
    let idle = tower_sessions::cookie::time::Duration::try_from(settings.session_idle)
        .unwrap_or(tower_sessions::cookie::time::Duration::HOUR);
    Ok(SessionManagerLayer::new(sessions)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        // Lax: a link from elsewhere still arrives logged in; cross-site form posts are refused
        // by `same_origin_only` anyway.
        .with_same_site(SameSite::Lax)
        .with_secure(settings.is_https())
        // Kept alive while used by `login::resolve_visitor`, which touches the session now and
        // then (see `SessionRefresh`).
        .with_expiry(Expiry::OnInactivity(idle)))
}

/// The headers that are right for every response. HTML pages set their own
/// Content-Security-Policy (with the nonce of their scripts, see `app::shell`); anything else
/// gets one that allows nothing.
pub async fn security_headers(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Same-origin: our own pages still send it (the origin check can fall back on it), other
    // sites never learn a dashboard URL.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Whether a conditional GET already holds `etag` (`If-None-Match`, weak or strong, or `*`): then
/// the answer is 304 without a body.
pub fn holds_etag(request: &HeaderMap, etag: &[u8]) -> bool {
    request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag.as_bytes() == etag || tag == "*")
        })
}

/// Refuses a request that could change state (anything but GET, HEAD and OPTIONS) unless its
/// `Origin` (or, lacking one, its `Referer`) is Lookout itself: a page on another site can make
/// a browser send a form here with the user's cookie, but not with our origin.
pub async fn same_origin_only(
    State(public_url): State<Option<Url>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || is_same_origin(request.headers(), public_url.as_ref())
    {
        return next.run(request).await;
    }
    tracing::warn!(
        method = %request.method(),
        path = %request.uri().path(),
        origin = ?request.headers().get(header::ORIGIN),
        "cross-origin request refused"
    );
    (
        StatusCode::FORBIDDEN,
        "This request did not come from a Lookout page, so it was refused.",
    )
        .into_response()
}

fn is_same_origin(headers: &HeaderMap, public_url: Option<&Url>) -> bool {
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| Url::parse(value).ok());
    let Some(claimed) = claimed else {
        return false;
    };
    match public_url {
        Some(public_url) => claimed.origin() == public_url.origin(),
        // Without a configured address, the Host the browser asked for is ours.
        None => {
            let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
                return false;
            };
            let authority = match (claimed.host_str(), claimed.port()) {
                (Some(name), Some(port)) => format!("{name}:{port}"),
                (Some(name), None) => name.to_owned(),
                (None, _) => return false,
            };
            matches!(claimed.scheme(), "http" | "https") && authority.eq_ignore_ascii_case(host)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_same_origin;
    use axum::http::{header, HeaderMap, HeaderValue};
    use url::Url;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn the_origin_must_be_the_host_asked_for_or_the_public_url() {
        let host = (header::HOST, "127.0.0.1:3000");
        let ours = (header::ORIGIN, "http://127.0.0.1:3000");
        assert!(is_same_origin(
            &headers(&[host.clone(), ours.clone()]),
            None
        ));
        for foreign in [
            "http://evil.example",
            "http://127.0.0.1:3001",
            "null",
            "file:///etc",
        ] {
            let origin = (header::ORIGIN, foreign);
            assert!(
                !is_same_origin(&headers(&[host.clone(), origin]), None),
                "{foreign}"
            );
        }
        assert!(
            !is_same_origin(&headers(std::slice::from_ref(&host)), None),
            "no origin at all"
        );
        let referer = (header::REFERER, "http://127.0.0.1:3000/login?next=/");
        assert!(is_same_origin(&headers(&[host.clone(), referer]), None));

        let public = Url::parse("https://lookout.example.com").unwrap();
        let origin = (header::ORIGIN, "https://lookout.example.com");
        assert!(is_same_origin(&headers(&[origin]), Some(&public)));
        let downgraded = (header::ORIGIN, "http://lookout.example.com");
        assert!(!is_same_origin(&headers(&[downgraded]), Some(&public)));
    }
}
