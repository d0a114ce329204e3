//! The site's files served from inside the binary, when the build embedded them (see
//! `build.rs` and scripts/release.sh): then `lookout serve` runs from any directory with nothing
//! beside it but its configuration. A build without them serves the files from
//! `LEPTOS_SITE_ROOT` on disk through Leptos' file handler instead.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// URL path, ETag and contents.
type EmbeddedFile = (&'static str, &'static str, &'static [u8]);

/// In path order (build.rs sorts them, so that a build is reproducible).
static FILES: &[EmbeddedFile] = include!(concat!(env!("OUT_DIR"), "/embedded_site.rs"));

/// How many files and bytes the binary carries (none without the site inside).
pub fn size() -> (usize, usize) {
    (
        FILES.len(),
        FILES.iter().map(|(_, _, bytes)| bytes.len()).sum(),
    )
}

/// A route per embedded file (none when the build embedded nothing), to be merged outside the
/// session layer: a file needs no visitor. GET and HEAD only.
pub fn routes() -> Router {
    FILES.iter().fold(Router::new(), |router, file| {
        // Decided once per file here, not per request.
        let content_type = mime_guess::from_path(file.0).first_or_octet_stream();
        let content_type = HeaderValue::from_str(content_type.as_ref())
            .expect("a MIME type is a valid header value");
        router.route(
            file.0,
            get(move |headers: HeaderMap| async move { respond(file, &content_type, &headers) }),
        )
    })
}

fn respond(
    &(_, etag, bytes): &'static EmbeddedFile,
    content_type: &HeaderValue,
    request: &HeaderMap,
) -> Response {
    let headers = [
        (header::ETAG, HeaderValue::from_static(etag)),
        // File names carry no hash, so a browser asks again each time and gets 304 while the
        // binary is the same.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if crate::web::holds_etag(request, etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(header::CONTENT_TYPE, content_type.clone())],
        bytes,
    )
        .into_response()
}
