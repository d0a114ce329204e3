//! The site's files served from inside the binary, when the build embedded them (see
//! `build.rs` and scripts/release.sh): then `lookout serve` runs from any directory with nothing
//! beside it but its configuration. A build without them serves the files from
//! `LEPTOS_SITE_ROOT` on disk through Leptos' file handler instead.
//!
//! The build compressed what compresses well (brotli and gzip, at their slowest and smallest),
//! so a browser gets the smallest form it accepts and no request spends CPU on compressing.

use crate::web::{self, Coding};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One file as the build embedded it: as it is, and compressed where that paid.
struct EmbeddedFile {
    /// The URL path.
    path: &'static str,
    identity: Variant,
    brotli: Option<Variant>,
    gzip: Option<Variant>,
}

/// One representation of a file, with its own validator: a cache that holds the brotli form
/// must not revalidate it as the gzip one.
#[derive(Clone, Copy)]
struct Variant {
    etag: &'static str,
    bytes: &'static [u8],
}

impl EmbeddedFile {
    /// The form to send for a request's `Accept-Encoding`, and its coding.
    fn variant_for(&self, request: &HeaderMap) -> (Coding, Variant) {
        let compressed = [(Coding::Brotli, self.brotli), (Coding::Gzip, self.gzip)];
        let available = compressed
            .iter()
            .filter_map(|(coding, variant)| variant.map(|_| *coding));
        let chosen = web::negotiate_coding(request, available);
        compressed
            .into_iter()
            .find_map(|(coding, variant)| variant.filter(|_| coding == chosen).map(|v| (coding, v)))
            .unwrap_or((Coding::Identity, self.identity))
    }

    /// Whether the answer depends on `Accept-Encoding`.
    fn varies(&self) -> bool {
        self.brotli.is_some() || self.gzip.is_some()
    }
}

/// In path order (build.rs sorts them, so that a build is reproducible).
static FILES: &[EmbeddedFile] = include!(concat!(env!("OUT_DIR"), "/embedded_site.rs"));

/// How many files and bytes the binary carries, compressed forms included (none without the
/// site inside).
pub fn size() -> (usize, usize) {
    (
        FILES.len(),
        FILES
            .iter()
            .flat_map(|file| [Some(file.identity), file.brotli, file.gzip])
            .flatten()
            .map(|variant| variant.bytes.len())
            .sum(),
    )
}

/// A route per embedded file (none when the build embedded nothing), to be merged outside the
/// session layer: a file needs no visitor. Outside the on-the-fly compression too: these are
/// compressed already. GET and HEAD only.
pub fn routes() -> Router {
    routes_for(FILES)
}

fn routes_for(files: &'static [EmbeddedFile]) -> Router {
    files.iter().fold(Router::new(), |router, file| {
        // Decided once per file here, not per request.
        let content_type = mime_guess::from_path(file.path).first_or_octet_stream();
        let content_type = HeaderValue::from_str(content_type.as_ref())
            .expect("a MIME type is a valid header value");
        router.route(
            file.path,
            get(move |headers: HeaderMap| async move { respond(file, &content_type, &headers) }),
        )
    })
}

fn respond(
    file: &'static EmbeddedFile,
    content_type: &HeaderValue,
    request: &HeaderMap,
) -> Response {
    let (coding, variant) = file.variant_for(request);
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, HeaderValue::from_static(variant.etag));
    // File names carry no hash, so a browser asks again each time and gets 304 while the
    // binary is the same.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if file.varies() {
        // On every form, 304s included: a cache must key what it holds by the coding asked for.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if web::holds_etag(request, variant.etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, content_type.clone());
    if let Some(name) = coding.content_encoding() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    }
    (headers, variant.bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::{routes_for, EmbeddedFile, Variant};
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use axum::response::Response;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// What build.rs generates, for a site of two files: one that compressed, one too small to.
    static SITE: &[EmbeddedFile] = &[
        EmbeddedFile {
            path: "/pkg/app.wasm",
            identity: Variant {
                etag: "\"0a\"",
                bytes: b"the wasm as it is",
            },
            brotli: Some(Variant {
                etag: "\"0a-br\"",
                bytes: b"brotli",
            }),
            gzip: Some(Variant {
                etag: "\"0a-gz\"",
                bytes: b"gzip",
            }),
        },
        EmbeddedFile {
            path: "/favicon.ico",
            identity: Variant {
                etag: "\"0b\"",
                bytes: b"tiny",
            },
            brotli: None,
            gzip: None,
        },
    ];

    async fn get(path: &str, headers: &[(header::HeaderName, &str)]) -> (Response, Vec<u8>) {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let response = routes_for(SITE)
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (Response::from_parts(parts, Body::empty()), bytes)
    }

    fn header_of(response: &Response, name: header::HeaderName) -> Option<&str> {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap())
    }

    #[tokio::test]
    async fn each_accepted_encoding_gets_its_own_form_and_etag() {
        // Accept-Encoding sent, Content-Encoding, body and ETag expected.
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            &'static [u8],
            &'static str,
        );
        let cases: &[Case] = &[
            (
                Some("gzip, deflate, br, zstd"),
                Some("br"),
                b"brotli",
                "\"0a-br\"",
            ),
            (Some("br"), Some("br"), b"brotli", "\"0a-br\""),
            (Some("gzip"), Some("gzip"), b"gzip", "\"0a-gz\""),
            (Some("x-gzip"), Some("gzip"), b"gzip", "\"0a-gz\""),
            (Some("br;q=0.5, gzip"), Some("gzip"), b"gzip", "\"0a-gz\""),
            (Some("br;q=0, *"), Some("gzip"), b"gzip", "\"0a-gz\""),
            (Some("*"), Some("br"), b"brotli", "\"0a-br\""),
            (
                Some("br;q=0.4, identity;q=0.5"),
                None,
                b"the wasm as it is",
                "\"0a\"",
            ),
            (Some("identity"), None, b"the wasm as it is", "\"0a\""),
            (Some("deflate"), None, b"the wasm as it is", "\"0a\""),
            (Some(""), None, b"the wasm as it is", "\"0a\""),
            (
                Some("br;q=0, gzip;q=0"),
                None,
                b"the wasm as it is",
                "\"0a\"",
            ),
            (None, None, b"the wasm as it is", "\"0a\""),
        ];
        for &(accept, encoding, body, etag) in cases {
            let headers: Vec<_> = accept
                .map(|value| (header::ACCEPT_ENCODING, value))
                .into_iter()
                .collect();
            let (response, bytes) = get("/pkg/app.wasm", &headers).await;
            assert_eq!(response.status(), StatusCode::OK, "{accept:?}");
            assert_eq!(
                header_of(&response, header::CONTENT_ENCODING),
                encoding,
                "{accept:?}"
            );
            assert_eq!(bytes, body, "{accept:?}");
            assert_eq!(header_of(&response, header::ETAG), Some(etag), "{accept:?}");
            assert_eq!(
                header_of(&response, header::VARY),
                Some("accept-encoding"),
                "{accept:?}"
            );
            assert_eq!(
                header_of(&response, header::CONTENT_TYPE),
                Some("application/wasm"),
                "{accept:?}"
            );
            assert_eq!(
                header_of(&response, header::CONTENT_LENGTH),
                Some(body.len().to_string().as_str()),
                "{accept:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_revalidation_is_answered_304_only_for_the_form_the_client_holds() {
        for (accept, etag, other) in [
            ("br", "\"0a-br\"", "\"0a-gz\""),
            ("gzip", "\"0a-gz\"", "\"0a-br\""),
            ("identity", "\"0a\"", "\"0a-br\""),
        ] {
            let (response, bytes) = get(
                "/pkg/app.wasm",
                &[
                    (header::ACCEPT_ENCODING, accept),
                    (header::IF_NONE_MATCH, etag),
                ],
            )
            .await;
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{accept}");
            assert!(bytes.is_empty());
            assert_eq!(header_of(&response, header::ETAG), Some(etag));
            assert_eq!(header_of(&response, header::VARY), Some("accept-encoding"));
            assert_eq!(header_of(&response, header::CONTENT_ENCODING), None);

            // Holding another form, the client gets the one it asked for now.
            let (response, _) = get(
                "/pkg/app.wasm",
                &[
                    (header::ACCEPT_ENCODING, accept),
                    (header::IF_NONE_MATCH, other),
                ],
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK, "{accept}");
            assert_eq!(header_of(&response, header::ETAG), Some(etag));
        }
    }

    #[tokio::test]
    async fn a_file_kept_only_as_it_is_goes_out_plain_and_does_not_vary() {
        let (response, bytes) = get("/favicon.ico", &[(header::ACCEPT_ENCODING, "br, gzip")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(bytes, b"tiny");
        assert_eq!(header_of(&response, header::CONTENT_ENCODING), None);
        assert_eq!(header_of(&response, header::VARY), None);
        assert_eq!(header_of(&response, header::ETAG), Some("\"0b\""));
        let (response, _) = get(
            "/favicon.ico",
            &[
                (header::ACCEPT_ENCODING, "br"),
                (header::IF_NONE_MATCH, "\"0b\""),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    }
}
