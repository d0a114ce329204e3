//! The colour theme a browser chose (`app::domain::theme`): the form that remembers it in a
//! cookie, and the stylesheet that applies it. Both are public, as every page has the buttons,
//! and neither reads or changes anything but the cookie.

use app::domain::theme::{Theme, THEME_COOKIE};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

/// How long a choice is remembered (a year), renewed by each choice.
const REMEMBERED_SECONDS: u32 = 365 * 24 * 60 * 60;

#[derive(Deserialize)]
pub struct ThemeForm {
    theme: String,
}

/// `POST /theme`: remembers the choice and goes back to the page the buttons were on, as its
/// `Referer` says (pages send it to their own site: `web::security_headers`), so the form is
/// the same on every page, a cached status page or a 404 alike; a path of this site only, the
/// overview otherwise. The system's theme is no cookie at all. Not secret: it says only how
/// pages look.
pub async fn choose(headers: HeaderMap, Form(form): Form<ThemeForm>) -> Response {
    let Some(theme) = Theme::from_key(&form.theme) else {
        return (
            StatusCode::BAD_REQUEST,
            "There is no such theme: choose system, light or dark.",
        )
            .into_response();
    };
    let referer = headers
        .get(header::REFERER)
        .and_then(|value| value.to_str().ok())
        .and_then(|referer| referer.parse::<Uri>().ok());
    let back = referer
        .as_ref()
        .and_then(|uri| uri.path_and_query())
        .and_then(|path| crate::web::local_path(path.as_str()))
        .unwrap_or("/");
    let cookie = match theme {
        Theme::System => format!("{THEME_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax"),
        theme => format!(
            "{THEME_COOKIE}={}; Path=/; Max-Age={REMEMBERED_SECONDS}; SameSite=Lax",
            theme.key()
        ),
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, back.to_owned()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

/// `GET /theme.css`: the stylesheet of this browser's choice. Private to the browser and
/// revalidated on each load (a choice must show at once), which its ETag makes a 304.
pub async fn stylesheet(headers: HeaderMap) -> Response {
    let theme = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(Theme::from_cookies)
        .find(|theme| *theme != Theme::System)
        .unwrap_or_default();
    let etag = format!("\"{}\"", theme.key());
    let cache = [
        (header::CACHE_CONTROL, "private, no-cache".to_owned()),
        (header::VARY, "Cookie".to_owned()),
        (header::ETAG, etag.clone()),
    ];
    if crate::web::holds_etag(&headers, etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8".to_owned())],
        cache,
        theme.stylesheet(),
    )
        .into_response()
}
