//! What every HTTP request passes through: the session, security headers, compression, and the
//! rule that a request changing state must come from Lookout's own pages.

use crate::config::WebSettings;
use app::server::page_policy::{page_policy, PageNonce};
use app::server::store::Store;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tower::layer::util::{Identity, Stack};
use tower::util::{MapRequestLayer, MapResponseLayer};
use tower::ServiceBuilder;
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
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

/// What [`security_headers`] needs to know of the deployment.
#[derive(Clone, Debug, Default)]
pub struct HeaderSettings {
    /// Served over HTTPS: browsers are told to keep to it.
    pub https: bool,
    /// The address of `cargo leptos watch`'s reload socket, which its pages connect to.
    pub reload: Option<Arc<str>>,
}

/// The policy of everything that is not a page: nothing may run or load.
const NOTHING_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The headers that are right for every response. Each request gets a nonce first
/// ([`PageNonce`], the one its page's scripts carry, see `app::shell`): an HTML answer without a
/// policy of its own (the status pages set theirs) gets the page policy allowing that nonce;
/// anything else gets one that allows nothing (see [`secure`]).
pub async fn security_headers(
    State(settings): State<HeaderSettings>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = PageNonce::generate();
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    secure(response.headers_mut(), settings.https, || {
        HeaderValue::from_str(&page_policy(&nonce, settings.reload.as_deref())).ok()
    });
    response
}

/// Adds what every response carries to `headers`: no sniffing, no framing, no referrer to other
/// sites, HTTPS kept to when served over it, and a content security policy unless the answer
/// set its own: `html_policy` for HTML, one that allows nothing for anything else. Answers that
/// skip [`security_headers`] (anonymous status pages) call it themselves.
pub fn secure(
    headers: &mut HeaderMap,
    https: bool,
    html_policy: impl FnOnce() -> Option<HeaderValue>,
) {
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
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let page = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|kind| kind.as_bytes().starts_with(b"text/html"));
        let policy = page
            .then(html_policy)
            .flatten()
            .unwrap_or(HeaderValue::from_static(NOTHING_POLICY));
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

/// The longest redirect target followed; a real one is a path of this site, far shorter.
const MAX_LOCAL_PATH_BYTES: usize = 2048;

/// `target` if it is a path on this site, to redirect to after a form (logging in, choosing a
/// theme), so a crafted link or form cannot send someone elsewhere. Browsers drop tabs and
/// newlines anywhere in a URL, trim spaces and control characters at its ends and read `\` as
/// `/`, so `/\t/evil.example` arrives as `//evil.example`, another host. Rather than guess every
/// such rewriting, anything but printable ASCII refuses the whole value, and so does any
/// backslash; what is left must be a path (a leading `/`, so no scheme) that does not start with
/// two slashes (another host).
pub fn local_path(target: &str) -> Option<&str> {
    let printable = target.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let safe = printable
        && target.len() <= MAX_LOCAL_PATH_BYTES
        && target.starts_with('/')
        && !target.starts_with("//");
    safe.then_some(target)
}

/// Whether a conditional GET already holds `etag` (`If-None-Match`, weak or strong, or `*`): then
/// the answer is 304 without a body. The comparison is weak (RFC 9110 13.1.2): `W/` on either
/// side is ignored.
pub fn holds_etag(request: &HeaderMap, etag: &[u8]) -> bool {
    let etag = etag.strip_prefix(b"W/").unwrap_or(etag);
    request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag.as_bytes() == etag || tag == "*")
        })
}

/// The content codings Lookout sends, in its order of preference when a client accepts several
/// equally: brotli is the smaller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    /// The `Content-Encoding` to send (none for identity).
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Coding::Brotli => Some("br"),
            Coding::Gzip => Some("gzip"),
            Coding::Identity => None,
        }
    }

    fn is_named(self, token: &str) -> bool {
        match self {
            Coding::Brotli => token.eq_ignore_ascii_case("br"),
            Coding::Gzip => {
                token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip")
            }
            Coding::Identity => token.eq_ignore_ascii_case("identity"),
        }
    }
}

/// Which of the `available` codings (in Lookout's order of preference) to send for the request's
/// `Accept-Encoding` (RFC 9110 12.5.3): the one it weighs highest, `*` standing for those it does
/// not name and `q=0` meaning never. Identity when it names none of them, when it prefers
/// identity, or when it sends no `Accept-Encoding` at all (a client that does not say it decodes
/// may not).
pub fn negotiate_coding(
    request: &HeaderMap,
    available: impl IntoIterator<Item = Coding>,
) -> Coding {
    if !request.contains_key(header::ACCEPT_ENCODING) {
        return Coding::Identity;
    }
    // Identity is acceptable unless excluded, but only as the last choice unless it is named.
    let identity = weight(request, Coding::Identity).unwrap_or(1);
    let mut best = (Coding::Identity, 0);
    for coding in available {
        let weight = weight(request, coding).unwrap_or(0);
        if weight > best.1 {
            best = (coding, weight);
        }
    }
    if best.1 > 0 && best.1 >= identity {
        best.0
    } else {
        Coding::Identity
    }
}

/// How much the request's `Accept-Encoding` wants `coding`, in thousandths (its q-value), from its
/// own entry or else from `*`; `None` when it names neither.
fn weight(request: &HeaderMap, coding: Coding) -> Option<u16> {
    let entries = request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let token = parts.next()?.trim();
            let q = parts
                .filter_map(|parameter| parameter.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1000), |(_, value)| q_value(value.trim()));
            // A q-value that does not parse makes the entry count as a refusal.
            Some((token, q.unwrap_or(0)))
        });
    let mut star = None;
    for (token, q) in entries {
        if coding.is_named(token) {
            return Some(q);
        }
        if token == "*" && star.is_none() {
            star = Some(q);
        }
    }
    star
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths.
fn q_value(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Answers smaller than this go out as they are: compressed, they would save less than a packet.
const COMPRESS_FROM_BYTES: u16 = 1024;

/// brotli and gzip level for answers compressed as they go out, which each request pays for. On
/// a 10 KB stylesheet brotli's default, 11, took 16 ms; 4 took 0.4 ms (most of it setting up its
/// window) for about what gzip makes at 4 in 0.07 ms. Brotli is a sixth to a quarter smaller than
/// gzip only at 11, which only the site's files, compressed at build time, can afford.
const ON_THE_FLY_LEVEL: i32 = 4;

/// The compression every answer but the embedded site's files (compressed at build time) passes
/// through: see [`compression`].
pub type Compression = ServiceBuilder<
    Stack<
        MapResponseLayer<fn(Response) -> Response>,
        Stack<
            CompressionLayer<Compressible>,
            Stack<MapRequestLayer<fn(Request) -> Request>, Identity>,
        >,
    >,
>;

/// Pages, server function answers, status page exports, and in a build without the site inside
/// its files from disk: compressed with brotli or gzip as the client accepts, when they are text
/// of [`COMPRESS_FROM_BYTES`] or more. Never the live stream, whose events must go out one by one.
pub fn compression() -> Compression {
    ServiceBuilder::new()
        .map_request(never_for_live_streams as fn(Request) -> Request)
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Precise(ON_THE_FLY_LEVEL))
                .compress_when(Compressible),
        )
        .map_response(weak_etag as fn(Response) -> Response)
}

/// Which answers are worth compressing as they go out: text of some size, never a stream of
/// server-sent events.
#[derive(Clone, Copy, Debug)]
pub struct Compressible;

impl Predicate for Compressible {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        is_compressible_type(content_type)
            && SizeAbove::new(COMPRESS_FROM_BYTES).should_compress(response)
    }
}

/// Text compresses; images, fonts and archives are compressed already. An event stream is text,
/// but compressing it would hold each event back until enough followed.
fn is_compressible_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let is = |name: &str| essence.eq_ignore_ascii_case(name);
    let ends_with = |suffix: &str| {
        essence.len() >= suffix.len()
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    if is("text/event-stream") {
        return false;
    }
    essence
        .get(..5)
        .is_some_and(|kind| kind.eq_ignore_ascii_case("text/"))
        || is("application/json")
        || is("application/javascript")
        || is("application/xml")
        || is("application/wasm")
        || is("image/svg+xml")
        || ends_with("+json")
        || ends_with("+xml")
}

/// The live stream is never compressed, whatever its answer's type: taking away the request's
/// `Accept-Encoding` leaves the compression nothing to choose.
fn never_for_live_streams(mut request: Request) -> Request {
    if request.uri().path() == app::domain::live::STREAM_PATH {
        request.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    request
}

/// An answer with an `ETag` (a status page, its JSON, CSV, feed and badges) may go out compressed
/// or not depending on the request: its validator becomes weak, which says exactly that (RFC 9110
/// 8.8.1), and `Vary: Accept-Encoding` tells a cache to keep the forms apart. `If-None-Match`
/// compares weakly (`holds_etag`), so a client holding either form gets its 304; the 304 carries
/// the same weak tag and `Vary` as the full answer would.
fn weak_etag(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let Some(etag) = headers.get(header::ETAG) else {
        return response;
    };
    if !etag.as_bytes().starts_with(b"W/") {
        let weak = [b"W/", etag.as_bytes()].concat();
        let weak =
            HeaderValue::from_bytes(&weak).expect("an ETag with W/ before it is still valid");
        headers.insert(header::ETAG, weak);
    }
    let varies = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|name| name.trim().eq_ignore_ascii_case("accept-encoding") || name.trim() == "*");
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// The largest request body Lookout reads, but the publish form's: the longest fields of the
/// admin and status page forms (a 1,000-character description, four bytes a character,
/// percent-encoded) and of any server function's arguments, with room to spare.
pub const REQUEST_BODY_LIMIT: usize = 64 * 1024;

/// Request body limits by route, for [`bounded_bodies`].
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// The publish form's: room for the largest payload and topic, percent-encoded.
    pub publish: usize,
}

/// Bounds every request body before anything reads it: a body declared larger than its route
/// takes is refused with 413 unread, and one that grows past it while read fails its reader.
/// Needed beside axum's per-extractor default (2 MB) because Leptos' server functions read a
/// body whole, without a limit.
pub async fn bounded_bodies(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    let limit = if request.uri().path() == app::domain::publish::PUBLISH {
        limits.publish
    } else {
        REQUEST_BODY_LIMIT
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|bytes| bytes > limit as u64) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("This request's body is larger than Lookout takes here ({limit} bytes)."),
        )
            .into_response();
    }
    next.run(request.map(|body| Body::new(http_body_util::Limited::new(body, limit))))
        .await
}

/// Refuses a request that could change state (anything but GET, HEAD and OPTIONS) unless its
/// `Origin` (or, lacking one, its `Referer`) is Lookout itself: a page on another site can make
/// a browser send a form here with the user's cookie, but not with our origin. A mail program's
/// one-click unsubscribe comes from anywhere, with its token as its credential.
pub async fn same_origin_only(
    State(public_url): State<Option<Url>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || is_same_origin(request.headers(), public_url.as_ref())
        || app::domain::subscription::is_one_click_path(request.uri().path())
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
    use super::{
        holds_etag, is_compressible_type, is_same_origin, negotiate_coding, weak_etag, Coding,
    };
    use axum::http::{header, HeaderMap, HeaderValue};
    use axum::response::{IntoResponse, Response};
    use url::Url;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn if_none_match_compares_weakly_on_both_sides() {
        let asked = |tags| headers(&[(header::IF_NONE_MATCH, tags)]);
        for (tags, held, matches) in [
            ("\"a\"", &b"\"a\""[..], true),
            ("W/\"a\"", b"\"a\"", true),
            ("\"a\"", b"W/\"a\"", true),
            ("W/\"b\", W/\"a\"", b"W/\"a\"", true),
            ("*", b"W/\"a\"", true),
            ("W/\"b\"", b"W/\"a\"", false),
        ] {
            assert_eq!(
                holds_etag(&asked(tags), held),
                matches,
                "{tags} against {held:?}"
            );
        }
        assert!(!holds_etag(&HeaderMap::new(), b"\"a\""));
    }

    /// A body sent in chunks, its size never declared, is cut off at the limit for a reader that
    /// takes it whole, as Leptos' server functions do.
    #[tokio::test]
    async fn a_body_that_grows_past_the_limit_fails_its_reader() {
        use super::{bounded_bodies, BodyLimits, REQUEST_BODY_LIMIT};
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        async fn read_whole(request: axum::extract::Request) -> StatusCode {
            match request.into_body().collect().await {
                Ok(_) => StatusCode::OK,
                Err(_) => StatusCode::PAYLOAD_TOO_LARGE,
            }
        }
        let router = axum::Router::new()
            .route("/api/anything", axum::routing::post(read_whole))
            .layer(axum::middleware::from_fn_with_state(
                BodyLimits { publish: 0 },
                bounded_bodies,
            ));
        let chunked = |bytes: usize| {
            let chunks = (0..bytes / 1024).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024]));
            Request::post("/api/anything")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap()
        };
        let within = router.clone().oneshot(chunked(REQUEST_BODY_LIMIT)).await;
        assert_eq!(within.unwrap().status(), StatusCode::OK);
        let over = router.oneshot(chunked(REQUEST_BODY_LIMIT + 1024)).await;
        assert_eq!(over.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
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

    fn accepting(value: &'static str) -> HeaderMap {
        headers(&[(header::ACCEPT_ENCODING, value)])
    }

    #[test]
    fn the_coding_sent_is_the_one_the_client_weighs_highest() {
        use Coding::{Brotli, Gzip, Identity};
        let both = [Brotli, Gzip];
        for (accept, expected) in [
            ("br, gzip", Brotli),
            ("gzip, br", Brotli),
            ("gzip, deflate, br, zstd", Brotli),
            ("GZIP", Gzip),
            ("x-gzip", Gzip),
            ("br;q=0.5, gzip;q=0.8", Gzip),
            ("br;q=0, gzip", Gzip),
            ("br ; q=0.0 , gzip", Gzip),
            ("br;q=0.001", Brotli),
            ("*", Brotli),
            ("*;q=0.5, br;q=0.2", Gzip),
            ("*;q=0", Identity),
            ("identity", Identity),
            ("identity, br;q=0.9", Identity),
            ("br, identity", Brotli),
            ("br;q=1.5", Identity),
            ("br;q=abc", Identity),
            ("br;q=0.1234", Identity),
            ("deflate, zstd", Identity),
            ("", Identity),
        ] {
            assert_eq!(
                negotiate_coding(&accepting(accept), both),
                expected,
                "{accept:?}"
            );
        }
        assert_eq!(
            negotiate_coding(&HeaderMap::new(), both),
            Identity,
            "no header"
        );
        assert_eq!(
            negotiate_coding(&accepting("br"), [Gzip]),
            Identity,
            "br not on offer"
        );
        assert_eq!(negotiate_coding(&accepting("br, gzip"), [Gzip]), Gzip);
        assert_eq!(negotiate_coding(&accepting("br, gzip"), []), Identity);
    }

    #[test]
    fn text_is_compressed_and_streams_and_images_are_not() {
        for compressible in [
            "text/html; charset=utf-8",
            "text/csv; charset=utf-8",
            "application/json",
            "application/atom+xml; charset=utf-8",
            "image/svg+xml",
            "application/wasm",
            "text/javascript",
            "Text/CSS",
        ] {
            assert!(is_compressible_type(compressible), "{compressible}");
        }
        for not in [
            "text/event-stream",
            "image/png",
            "font/woff2",
            "application/octet-stream",
            "application/gzip",
            "",
        ] {
            assert!(!is_compressible_type(not), "{not}");
        }
    }

    #[test]
    fn an_etag_that_may_go_out_compressed_is_weak_and_varies_by_accept_encoding() {
        let strong = ([(header::ETAG, "\"abc\"")], "body").into_response();
        let response: Response = weak_etag(strong);
        assert_eq!(response.headers()[header::ETAG], "W/\"abc\"");
        assert_eq!(response.headers()[header::VARY], "accept-encoding");

        let weak = (
            [
                (header::ETAG, "W/\"abc\""),
                (header::VARY, "Accept-Encoding"),
            ],
            "",
        )
            .into_response();
        let response = weak_etag(weak);
        assert_eq!(response.headers()[header::ETAG], "W/\"abc\"");
        assert_eq!(response.headers().get_all(header::VARY).iter().count(), 1);

        let untagged = weak_etag("body".into_response());
        assert!(!untagged.headers().contains_key(header::VARY));
    }
}
