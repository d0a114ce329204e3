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

/// Sorted by path.
static FILES: &[EmbeddedFile] = include!(concat!(env!("OUT_DIR"), "/embedded_site.rs"));

/// Whether this binary carries the site.
pub fn is_embedded() -> bool {
    !FILES.is_empty()
}

/// How many files and bytes the binary carries, for the start-up log.
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
        router.route(
            file.0,
            get(move |headers: HeaderMap| async move { respond(file, &headers) }),
        )
    })
}

fn respond(&(path, etag, bytes): &'static EmbeddedFile, request: &HeaderMap) -> Response {
    let headers = [
        (header::ETAG, HeaderValue::from_static(etag)),
        // File names carry no hash, so a browser asks again each time and gets 304 while the
        // binary is the same.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if crate::web::holds_etag(request, etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let content_type = HeaderValue::from_static(content_type(path));
    (headers, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

#[cfg(test)]
fn find(path: &str) -> Option<&'static EmbeddedFile> {
    FILES
        .binary_search_by(|(url, _, _)| (*url).cmp(path))
        .ok()
        .map(|index| &FILES[index])
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
    match extension {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_sorted_so_lookups_find_them() {
        assert!(FILES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (url, _, _) in FILES {
            assert!(find(url).is_some(), "{url}");
        }
        assert!(find("/pkg/missing.wasm").is_none());
    }

    #[test]
    fn the_browser_is_told_what_each_file_is() {
        assert_eq!(content_type("/pkg/lookout.wasm"), "application/wasm");
        assert_eq!(content_type("/pkg/lookout.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("/status.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/no-extension"), "application/octet-stream");
    }
}
