//! The public status pages' routes: the page, its JSON, Atom feed, CSV histories and badges.
//! Published pages come from the snapshot cache (`app::server::snapshot`) with `Cache-Control`,
//! `ETag` and `304 Not Modified`, so a CDN or reverse proxy can hold them. A draft is built
//! afresh for an admin's preview and never cached; everyone else gets the same 404 as for a page
//! that does not exist.

use crate::{login, web};
use app::domain::status_page::is_slug;
use app::server::access::Visitor;
use app::server::snapshot::{Rendered, Representation};
use app::server::state::AppState;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::sync::Arc;

/// Every status address: `/status/<slug>`, `/status/<slug>.json`, `/status/<slug>/feed.atom`,
/// `/status/<slug>/history/<widget>.csv` and `/status/<slug>/badge/<widget>.svg`. One route,
/// told apart by [`serve`], so that [`anonymous_shortcut`] reaches the same code without the
/// router.
pub const ROUTE: &str = "/status/{*path}";

/// Status pages load nothing but their own stylesheets, script and JSON, and post no form but
/// the theme buttons' (to this site).
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// A snapshot to serve: shared from the cache, or an admin's private preview.
enum Served {
    Cached(Arc<Rendered>),
    Preview(Box<Rendered>),
}

impl Served {
    fn rendered(&self) -> &Rendered {
        match self {
            Served::Cached(rendered) => rendered,
            Served::Preview(rendered) => rendered,
        }
    }
}

/// Anonymous reads of public pages skip the session layer and the visitor's lookup, the costs
/// a busy public page would otherwise pay on every request: without a session cookie the visitor
/// is anonymous (`login::carries_no_session`). [`serve`] still asks the access policy about
/// drafts. Everything else, and any request with a session, goes the usual way.
pub async fn anonymous_shortcut(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let reads_status = matches!(*request.method(), Method::GET | Method::HEAD)
        && request.uri().path().starts_with("/status/")
        && login::carries_no_session(request.headers());
    if reads_status {
        let (parts, _) = request.into_parts();
        dispatch(&state, &Visitor::Anonymous, &parts).await
    } else {
        next.run(request).await
    }
}

/// The handler of [`ROUTE`].
pub async fn serve(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    dispatch(&state, &visitor, &parts).await
}

/// A request's head is all a status address needs; the body (a GET has none) is not kept,
/// since it may not be shared between threads.
async fn dispatch(state: &AppState, visitor: &Visitor, request: &Parts) -> Response {
    let headers = &request.headers;
    let path = request.uri.path().strip_prefix("/status/").unwrap_or("");
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [page] => match page.strip_suffix(".json") {
            Some(slug) => json(state, visitor, slug, headers).await,
            None => html(state, visitor, page, headers).await,
        },
        [slug, "feed.atom"] => feed(state, visitor, slug, headers).await,
        [slug, "history", file] => {
            widget_file(
                state,
                visitor,
                slug,
                file,
                ".csv",
                headers,
                |rendered, name| rendered.csv.get(&name.parse::<i64>().ok()?),
            )
            .await
        }
        [slug, "badge", file] => {
            widget_file(
                state,
                visitor,
                slug,
                file,
                ".svg",
                headers,
                |rendered, name| rendered.badges.get(name),
            )
            .await
        }
        _ => not_found(),
    }
}

async fn html(state: &AppState, visitor: &Visitor, slug: &str, headers: &HeaderMap) -> Response {
    let served = match find(state, visitor, slug).await {
        Ok(served) => served,
        Err(refusal) => return refusal,
    };
    let mut response = respond(
        &served,
        &served.rendered().html,
        "text/html; charset=utf-8",
        state,
        headers,
    );
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    response
}

async fn json(state: &AppState, visitor: &Visitor, slug: &str, headers: &HeaderMap) -> Response {
    let served = match find(state, visitor, slug).await {
        Ok(served) => served,
        Err(refusal) => return refusal,
    };
    let mut response = respond(
        &served,
        &served.rendered().json,
        "application/json",
        state,
        headers,
    );
    // Public data, meant to be read by other sites' scripts too.
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The page's status changes.
async fn feed(state: &AppState, visitor: &Visitor, slug: &str, headers: &HeaderMap) -> Response {
    match find(state, visitor, slug).await {
        Ok(served) => respond(
            &served,
            &served.rendered().feed,
            "application/atom+xml; charset=utf-8",
            state,
            headers,
        ),
        Err(refusal) => refusal,
    }
}

async fn widget_file(
    state: &AppState,
    visitor: &Visitor,
    slug: &str,
    file: &str,
    extension: &str,
    headers: &HeaderMap,
    pick: impl for<'r> Fn(&'r Rendered, &str) -> Option<&'r Representation>,
) -> Response {
    let Some(name) = file.strip_suffix(extension) else {
        return not_found();
    };
    let served = match find(state, visitor, slug).await {
        Ok(served) => served,
        Err(refusal) => return refusal,
    };
    let content_type = if extension == ".csv" {
        "text/csv; charset=utf-8"
    } else {
        "image/svg+xml"
    };
    match pick(served.rendered(), name) {
        Some(representation) => respond(&served, representation, content_type, state, headers),
        None => not_found(),
    }
}

/// The page at `slug` as `visitor` may have it: the cached snapshot when it is published, a
/// fresh preview for an admin when it is a draft, or the refusal to send.
async fn find(state: &AppState, visitor: &Visitor, slug: &str) -> Result<Served, Response> {
    if !is_slug(slug) {
        return Err(not_found());
    }
    match state.status_pages.published(slug).await {
        Ok(Some(rendered)) => return Ok(Served::Cached(rendered)),
        Ok(None) => {}
        Err(error) => return Err(unavailable(slug, error)),
    }
    let rules = match state.access.rules().await {
        Ok(rules) => rules,
        Err(error) => return Err(unavailable(slug, error)),
    };
    if !rules.may_view_status_page(visitor, false) {
        return Err(not_found());
    }
    match state.status_pages.preview(slug).await {
        Ok(Some(rendered)) => Ok(Served::Preview(Box::new(rendered))),
        Ok(None) => Err(not_found()),
        Err(error) => Err(unavailable(slug, error)),
    }
}

fn respond(
    served: &Served,
    representation: &Representation,
    content_type: &'static str,
    state: &AppState,
    request: &HeaderMap,
) -> Response {
    let cache_control = match served {
        Served::Cached(_) => state.status_pages.cache_control(),
        // A draft must not be kept by anything between the admin and Lookout.
        Served::Preview(_) => HeaderValue::from_static("private, no-store"),
    };
    let etag = &representation.etag;
    let headers = [
        (header::CACHE_CONTROL, cache_control),
        (header::ETAG, etag.clone()),
    ];
    if web::holds_etag(request, etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        representation.body.clone(),
    )
        .into_response()
}

/// The one answer for a missing page, a draft, a bad address or an unknown widget: nothing in
/// it depends on what exists.
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        NOT_FOUND_PAGE,
    )
        .into_response()
}

const NOT_FOUND_PAGE: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>No such status page</title><link rel=\"stylesheet\" href=\"/pkg/lookout.css\"></head>\
<body class=\"status-page\"><main class=\"status\"><h1>No such status page</h1>\
<p>There is no published status page at this address.</p></main></body></html>";

fn unavailable(slug: &str, error: sqlx::Error) -> Response {
    tracing::error!(%slug, error = %error, "building a status page failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "5"),
        ],
        "This status page is unavailable right now; try again in a few seconds.",
    )
        .into_response()
}
