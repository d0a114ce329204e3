//! The public status pages' routes: the page, its JSON, Atom feed, incident history by month,
//! CSV histories and badges.
//! Published pages come from the snapshot cache (`app::server::snapshot`) with `Cache-Control`,
//! `ETag` and `304 Not Modified`, so a CDN or reverse proxy can hold them. A draft is built
//! afresh for an admin's preview and never cached; everyone else gets the same 404 as for a page
//! that does not exist.

use crate::ingest::{Publisher, RECONNECT_GRACE};
use crate::login;
use crate::publish::{send_audited, Outgoing};
use crate::web::{self, Coding};
use app::domain::incident::Month;
use app::domain::publish::{Delivery, Refusal};
use app::domain::roles::Audience;
use app::domain::status_page::is_slug;
use app::domain::status_page::{ControlAction, PageSpec};
use app::domain::subscription::{checked_email, is_token};
use app::server::access::{board_view, Visitor};
use app::server::accounts::follower_token;
use app::server::snapshot::render::{self, FollowerPage};
use app::server::snapshot::{Encoding, Rendered, Representation};
use app::server::state::AppState;
use app::server::store::audit::{Actor, AuditEntry};
use app::server::store::followers::{FollowerView, Signup};
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::Uri;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use rumqttc::QoS;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// Every status address: `/status/<slug>`, `/status/<slug>.json`, `/status/<slug>/feed.atom`,
/// `/status/<slug>/incidents[/<YYYY-MM>]`, `/status/<slug>/history/<widget>.csv` and
/// `/status/<slug>/badge/<widget>.svg`. One route,
/// told apart by [`serve`], so that [`anonymous_shortcut`] reaches the same code without the
/// router.
pub const ROUTE: &str = "/status/{*path}";

/// Status pages load nothing but their own stylesheets, script and JSON, and post no form but
/// the theme buttons' (to this site).
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// A snapshot to serve: a view from the cache, or an admin's private preview.
enum Served {
    Cached(Arc<Rendered>),
    /// The public view, for someone signed in who asked for it: its page says so.
    Noted(Arc<Rendered>),
    Preview(Box<Rendered>),
}

impl Served {
    fn rendered(&self) -> &Rendered {
        match self {
            Served::Cached(rendered) | Served::Noted(rendered) => rendered,
            Served::Preview(rendered) => rendered,
        }
    }

    /// Who may keep it: anything between the visitor and Lookout only for the public view as
    /// everyone gets it; a role's view only the visitor's own browser, checking it each time, so
    /// it never outlives a logout there; a draft's preview nobody.
    fn keep(&self) -> Keep {
        match self {
            Served::Cached(rendered) if rendered.snapshot.audience == Audience::Public => {
                Keep::Shared
            }
            Served::Cached(_) | Served::Noted(_) => Keep::Private,
            Served::Preview(_) => Keep::Never,
        }
    }
}

/// Who may keep a response (`Cache-Control`).
#[derive(Clone, Copy)]
enum Keep {
    /// Anyone, for the TTL: a CDN or reverse proxy too.
    Shared,
    /// The visitor's browser, revalidating each time (the ETag makes that cheap).
    Private,
    Never,
}

/// Anonymous reads of public pages skip every layer but this one: the session, the visitor's
/// lookup, the origin check (a GET changes nothing), the body limits (the body is not read) and
/// the compression (snapshots keep their compressed forms), the costs a busy public page would
/// otherwise pay on every request. Without a session cookie the visitor is anonymous
/// (`login::carries_no_session`); [`serve`] still asks the access policy about drafts. It adds
/// the headers every answer carries itself (`web::secure`). Everything else, and any request
/// with a session, goes the usual way.
pub async fn anonymous_shortcut(
    State(shortcut): State<Shortcut>,
    request: Request,
    next: Next,
) -> Response {
    let reads_status = matches!(*request.method(), Method::GET | Method::HEAD)
        && request.uri().path().starts_with("/status/")
        && login::carries_no_session(request.headers());
    if !reads_status {
        return next.run(request).await;
    }
    let (parts, _) = request.into_parts();
    let mut response = dispatch(&shortcut.state, &Visitor::Anonymous, &parts).await;
    web::secure(response.headers_mut(), shortcut.https, || {
        Some(HeaderValue::from_static(PAGE_POLICY))
    });
    response
}

/// What [`anonymous_shortcut`] needs: the application, and whether it is served over HTTPS.
#[derive(Clone)]
pub struct Shortcut {
    pub state: AppState,
    pub https: bool,
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
    let asked = Asked {
        visitor,
        public: asks_public(request.uri.query()),
    };
    let visitor = &asked;
    match parts.as_slice() {
        [page] => match page.strip_suffix(".json") {
            Some(slug) => json(state, visitor, slug, headers).await,
            None => html(state, visitor, page, headers).await,
        },
        [slug, "feed.atom"] => feed(state, visitor, slug, headers).await,
        [slug, "incidents"] => history(state, slug, None, headers).await,
        // What an e-mail's links open (a GET changes nothing: mail scanners follow links).
        [slug, "subscription" | "unsubscribe"] => {
            let token = query_token(request.uri.query());
            manage(state, slug, &token).await
        }
        [slug, "incidents", month] => match Month::parse(month) {
            Some(month) => history(state, slug, Some(month), headers).await,
            None => not_found(),
        },
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

/// Who asks, and whether for the public view (`?view=public`: a signed-in visitor checking what
/// anonymous visitors see).
struct Asked<'v> {
    visitor: &'v Visitor,
    public: bool,
}

fn asks_public(query: Option<&str>) -> bool {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(key, value)| key == "view" && value == "public")
}

async fn html(state: &AppState, visitor: &Asked<'_>, slug: &str, headers: &HeaderMap) -> Response {
    let served = match find(state, visitor, slug).await {
        Ok(served) => served,
        Err(refusal) => return refusal,
    };
    let page = match &served {
        Served::Noted(rendered) => state.status_pages.public_page_for_signed_in(rendered),
        _ => &served.rendered().html,
    };
    html_response(served.keep(), page, state, headers)
}

/// A page of HTML under the status pages' policy.
fn html_response(
    keep: Keep,
    representation: &Representation,
    state: &AppState,
    headers: &HeaderMap,
) -> Response {
    let mut response = respond_with(
        keep,
        representation,
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

async fn json(state: &AppState, visitor: &Asked<'_>, slug: &str, headers: &HeaderMap) -> Response {
    let served = match find(state, visitor, slug).await {
        Ok(served) => served,
        Err(refusal) => return refusal,
    };
    // A role's view is live: brought up to the newest messages at each read.
    let live;
    let representation = match &served {
        Served::Cached(rendered) if rendered.snapshot.audience != Audience::Public => {
            live = state.status_pages.live_json(rendered, &state.live);
            &live
        }
        _ => &served.rendered().json,
    };
    let mut response = respond(&served, representation, "application/json", state, headers);
    // The public view is public data, meant to be read by other sites' scripts too; a role's
    // view is one visitor's, for this site's pages only.
    if matches!(served.keep(), Keep::Shared) {
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

/// The page's status changes.
async fn feed(state: &AppState, visitor: &Asked<'_>, slug: &str, headers: &HeaderMap) -> Response {
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

/// `POST` to a status address: a board's control (`/status/<slug>/control`), or following a
/// page ([`follow`]).
pub async fn post(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Extension(publisher): Extension<Arc<Publisher>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    match uri
        .path()
        .strip_prefix("/status/")
        .and_then(|path| path.strip_suffix("/control"))
    {
        Some(slug) => {
            let client = peer.map(|Extension(ConnectInfo(peer))| peer.ip().to_string());
            let asked = ControlAsked {
                visitor: &visitor,
                client: client.as_deref(),
                wants_json: accepts_json(&headers),
            };
            control(&state, &publisher, &asked, slug, &body).await
        }
        None => follow(state, uri, body).await,
    }
}

/// A posted form's fields, read as a form whatever its declared type.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The value of field `name` (the first, if sent twice), empty when missing.
fn field_of<'f>(fields: &'f [(String, String)], name: &str) -> &'f str {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_default()
}

/// A control form is three small fields.
const CONTROL_FORM_BYTES: usize = 256;

/// Who presses a control, and how they want the answer.
struct ControlAsked<'a> {
    visitor: &'a Visitor,
    client: Option<&'a str>,
    /// The page's script asks for JSON, to show the outcome in the widget; a browser without
    /// one gets a page.
    wants_json: bool,
}

fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"))
}

/// `POST /status/<slug>/control`: `widget` and `action` (press, on, off, or set with a slider's
/// `value`). The board must give the visitor their role's view, the widget must be one of its
/// controls that the view shows, and the role must be allowed to publish to its command topic
/// (else 403, audited as `publish_refused`). The topic and payload come from the board (a
/// slider's number only once its bounds admit it), never from the form; the message goes out
/// audited as the publish page's do, at QoS 1, and the answer says whether the broker
/// acknowledged it.
async fn control(
    state: &AppState,
    publisher: &Publisher,
    asked: &ControlAsked<'_>,
    slug: &str,
    body: &[u8],
) -> Response {
    let Some(user) = asked.visitor.user() else {
        return not_found();
    };
    if !is_slug(slug) {
        return not_found();
    }
    if body.len() > CONTROL_FORM_BYTES {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let fields = form_fields(body);
    let field = |name: &str| field_of(&fields, name).trim();
    let (Ok(widget_id), Some(action)) = (
        field("widget").parse::<i64>(),
        ControlAction::from_form(field("action"), field("value")),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "A control form needs its widget and action.",
        )
            .into_response();
    };
    let boards = match state.status_pages.published_boards().await {
        Ok(boards) => boards,
        Err(error) => return unavailable(slug, error),
    };
    let view = boards
        .get(slug)
        .and_then(|visibility| board_view(asked.visitor, true, *visibility, false, None));
    let Some(audience @ Audience::Role(_)) = view else {
        return not_found();
    };
    let (page, rules) = match (
        state.store.status_page_by_slug(slug).await,
        state.access.rules().await,
    ) {
        (Ok(Some(page)), Ok(rules)) => (page, rules),
        (Ok(None), _) => return not_found(),
        (Err(error), _) | (_, Err(error)) => return unavailable(slug, error),
    };
    // Only a control the visitor's view shows: its state is a topic the role may read.
    let Some((_, control)) = page
        .widgets
        .iter()
        .find(|widget| widget.id == widget_id)
        .and_then(|widget| Some((&widget.spec, widget.spec.control.as_ref()?)))
        .filter(|(spec, _)| rules.widget_for(audience, spec, &[]).is_ok())
    else {
        return not_found();
    };
    let Some(payload) = control.payload(action) else {
        return (
            StatusCode::BAD_REQUEST,
            "This control does not do that (a slider takes only numbers on its steps, within \
             its bounds).",
        )
            .into_response();
    };
    let actor = Actor::user(user, asked.client);
    let context = json!({ "board": slug, "widget": widget_id, "control": action.key() });
    let refusal = |reason: &str| {
        let mut detail = context.clone();
        detail["reason"] = reason.into();
        detail["topic"] = control.command_topic.clone().into();
        AuditEntry::new(actor, "publish_refused", detail)
    };
    if !rules.may_publish(asked.visitor, &control.command_topic) {
        if let Err(error) = state.store.audit(&refusal("not_allowed")).await {
            tracing::error!(%error, "writing the audit log failed");
        }
        let words = "Your role may not use this control. Nothing was published.";
        return control_answer(
            state,
            asked,
            &page.spec.title,
            slug,
            StatusCode::FORBIDDEN,
            "not_allowed",
            words,
        );
    }
    let sent = if publisher.connected_within(RECONNECT_GRACE).await {
        let outgoing = Outgoing {
            topic: &control.command_topic,
            payload: payload.as_bytes(),
            qos: QoS::AtLeastOnce,
            qos_number: 1,
            retain: false,
        };
        send_audited(state, publisher, actor, &outgoing, context).await
    } else {
        let refused = refusal(Refusal::NotConnected.code());
        if let Err(error) = state.store.audit(&refused).await {
            tracing::error!(%error, "writing the audit log failed");
        }
        Err(Refusal::NotConnected)
    };
    let (status, code, words) = match sent {
        Ok(Delivery::Acknowledged) => (
            StatusCode::OK,
            Delivery::Acknowledged.code(),
            Delivery::Acknowledged.text().to_owned(),
        ),
        Ok(delivery) => (
            StatusCode::ACCEPTED,
            delivery.code(),
            delivery.text().to_owned(),
        ),
        Err(refusal) => (
            StatusCode::SERVICE_UNAVAILABLE,
            refusal.code(),
            refusal.text(),
        ),
    };
    let title = &page.spec.title;
    control_answer(state, asked, title, slug, status, code, &words)
}

/// What a control's press became: JSON for the page's script, a page for a browser without one.
fn control_answer(
    state: &AppState,
    asked: &ControlAsked<'_>,
    title: &str,
    slug: &str,
    status: StatusCode,
    code: &str,
    words: &str,
) -> Response {
    let private = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if asked.wants_json {
        let body = json!({ "outcome": code, "words": words });
        return (status, [private], axum::Json(body)).into_response();
    }
    let heading = if status == StatusCode::OK {
        "Sent"
    } else {
        "Not confirmed"
    };
    let html =
        render::control_outcome_document(title, slug, heading, words, state.status_pages.site());
    (
        status,
        [
            private,
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            ),
        ],
        html,
    )
        .into_response()
}

/// `POST /status/<slug>/subscribe` (an address from the page's form),
/// `/status/<slug>/subscription` (a follower's page's buttons: token and action) and
/// `/status/<slug>/unsubscribe?token=` (a mail program's one-click unsubscribe, RFC 8058, which
/// `web::same_origin_only` lets through from anywhere: the token is the credential, and all it
/// can do is end its own subscription).
async fn follow(state: AppState, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().strip_prefix("/status/").unwrap_or("");
    let Some((slug, action)) = path.split_once('/') else {
        return not_found();
    };
    if !is_slug(slug) {
        return not_found();
    }
    if body.len() > FOLLOW_FORM_BYTES {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let Ok(_turn) = FOLLOWER_WORK.try_acquire() else {
        return busy();
    };
    // Read as a form whatever its declared type: a mail program's one-click POST may come as
    // multipart, and it carries nothing this needs.
    let fields = form_fields(&body);
    let field = |name: &str| field_of(&fields, name);
    let Some(title) = published_title(&state, slug).await else {
        return not_found();
    };
    let answer = match action {
        "subscribe" => sign_up(&state, slug, field("email")).await,
        "subscription" => {
            let token = field("token");
            match (field("action"), follower_of(&state, slug, token).await) {
                (_, Err(error)) => return unavailable(slug, error),
                (_, Ok(None)) => Ok(FollowerPage::UnknownLink),
                ("confirm", Ok(Some(follower))) => state
                    .store
                    .confirm_follower(follower.id)
                    .await
                    .map(|_| FollowerPage::Confirmed),
                ("unsubscribe", Ok(Some(_))) => state
                    .store
                    .unsubscribe(slug, token)
                    .await
                    .map(|_| FollowerPage::Unsubscribed),
                (_, Ok(Some(_))) => return StatusCode::UNPROCESSABLE_ENTITY.into_response(),
            }
        }
        "unsubscribe" => {
            let token = query_token(uri.query());
            if is_token(&token) {
                state.store.unsubscribe(slug, &token).await.map(|gone| {
                    if gone {
                        FollowerPage::Unsubscribed
                    } else {
                        FollowerPage::UnknownLink
                    }
                })
            } else {
                Ok(FollowerPage::UnknownLink)
            }
        }
        _ => return not_found(),
    };
    match answer {
        Ok(page) => follower_response(&state, &title, slug, &page),
        Err(error) => unavailable(slug, error),
    }
}

/// Bytes of a follower's form read at most: an address, a token and a word.
const FOLLOW_FORM_BYTES: usize = 2048;

/// Followers' requests reading or writing the database at once on this instance. They are
/// anonymous and cannot be served from the snapshot cache, so a flood of them is turned away
/// here (503, try again) rather than taking the connection pool from everything else.
static FOLLOWER_WORK: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

fn busy() -> Response {
    try_again_soon("Too many requests about subscriptions right now; try again in a few seconds.")
}

/// 503 with a hint to retry in a few seconds, never cached.
fn try_again_soon(message: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "5"),
        ],
        message,
    )
        .into_response()
}

async fn sign_up(state: &AppState, slug: &str, typed: &str) -> Result<FollowerPage, sqlx::Error> {
    let Some(address) = checked_email(typed) else {
        return Ok(FollowerPage::BadAddress);
    };
    // The links in the e-mails need the site's public address.
    if state.status_pages.site().public_url.is_none() {
        return Ok(FollowerPage::Closed);
    }
    let token = follower_token();
    match state.store.sign_up(slug, &address, &token).await? {
        Signup::Asked => {
            state.outbox.notify_one();
            Ok(FollowerPage::Asked)
        }
        Signup::Quiet => Ok(FollowerPage::Asked),
        Signup::Closed => Ok(FollowerPage::Closed),
    }
}

async fn follower_of(
    state: &AppState,
    slug: &str,
    token: &str,
) -> Result<Option<FollowerView>, sqlx::Error> {
    if !is_token(token) {
        return Ok(None);
    }
    state.store.follower(slug, token).await
}

/// The page a follower's link opens: what it can do with its subscription.
async fn manage(state: &AppState, slug: &str, token: &str) -> Response {
    if !is_slug(slug) {
        return not_found();
    }
    let Some(title) = published_title(state, slug).await else {
        return not_found();
    };
    let Ok(_turn) = FOLLOWER_WORK.try_acquire() else {
        return busy();
    };
    let page = match follower_of(state, slug, token).await {
        Ok(Some(follower)) => FollowerPage::Manage {
            address: follower.address,
            confirmed: follower.confirmed,
            token: token.to_owned(),
        },
        Ok(None) => FollowerPage::UnknownLink,
        Err(error) => return unavailable(slug, error),
    };
    follower_response(state, &title, slug, &page)
}

/// The title of public board `slug`, from its public view: followers follow only those.
async fn published_title(state: &AppState, slug: &str) -> Option<String> {
    match state.status_pages.published(slug, Audience::Public).await {
        Ok(Some(rendered)) => Some(rendered.snapshot.title.clone()),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%slug, %error, "reading a status page for a follower failed");
            None
        }
    }
}

fn query_token(query: Option<&str>) -> String {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn follower_response(state: &AppState, title: &str, slug: &str, page: &FollowerPage) -> Response {
    let status = match page {
        FollowerPage::BadAddress => StatusCode::UNPROCESSABLE_ENTITY,
        FollowerPage::UnknownLink => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    let html = render::follower_document(title, slug, page, state.status_pages.site());
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            // A follower's page names an address: never kept on the way.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_POLICY),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        html,
    )
        .into_response()
}

/// One month of a published page's incident history (the current one without a month). Drafts
/// have none to show: only their editor's preview exists.
async fn history(
    state: &AppState,
    slug: &str,
    month: Option<Month>,
    headers: &HeaderMap,
) -> Response {
    if !is_slug(slug) {
        return not_found();
    }
    match state.status_pages.incident_history(slug, month).await {
        Ok(Some(representation)) => html_response(Keep::Shared, &representation, state, headers),
        Ok(None) => not_found(),
        Err(error) => unavailable(slug, error),
    }
}

async fn widget_file(
    state: &AppState,
    visitor: &Asked<'_>,
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

/// The board at `slug` in the view the access policy gives `asked` (`access::board_view`): a
/// cached view when it is published, a fresh preview for an admin when it is a draft, or the
/// refusal to send (the same 404 as for no board at all).
async fn find(state: &AppState, asked: &Asked<'_>, slug: &str) -> Result<Served, Response> {
    if !is_slug(slug) {
        return Err(not_found());
    }
    let boards = match state.status_pages.published_boards().await {
        Ok(boards) => boards,
        Err(error) => return Err(unavailable(slug, error)),
    };
    let visitor = asked.visitor;
    if let Some(visibility) = boards.get(slug) {
        let Some(audience) = board_view(visitor, true, *visibility, asked.public, None) else {
            return Err(not_found());
        };
        // Their role opens the board, yet they have the public view: they asked for it.
        let noted = audience == Audience::Public
            && visitor
                .user()
                .is_some_and(|user| visibility.opens_for(user.role));
        return match state.status_pages.published(slug, audience).await {
            Ok(Some(rendered)) if noted => Ok(Served::Noted(rendered)),
            Ok(Some(rendered)) => Ok(Served::Cached(rendered)),
            Ok(None) => Err(not_found()),
            Err(error) => Err(unavailable(slug, error)),
        };
    }
    // A draft, or nothing: only admins, and an operator of the draft they compose, are told
    // which.
    if visitor.user().is_none() {
        return Err(not_found());
    }
    let choose = |spec: &PageSpec, owner: Option<i64>| {
        board_view(
            visitor,
            spec.published,
            spec.visibility,
            asked.public,
            owner,
        )
    };
    match state.status_pages.preview(slug, choose).await {
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
    respond_with(served.keep(), representation, content_type, state, request)
}

fn respond_with(
    keep: Keep,
    representation: &Representation,
    content_type: &'static str,
    state: &AppState,
    request: &HeaderMap,
) -> Response {
    let cache_control = match keep {
        Keep::Shared => state.status_pages.cache_control(),
        Keep::Private => HeaderValue::from_static("private, no-cache"),
        Keep::Never => HeaderValue::from_static("private, no-store"),
    };
    let etag = &representation.etag;
    // On every answer, 304s included: a cache must keep each coding's form apart.
    let headers = [
        (header::CACHE_CONTROL, cache_control),
        (header::ETAG, etag.clone()),
        (header::VARY, HeaderValue::from_static("accept-encoding")),
    ];
    if web::holds_etag(request, etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let offered = representation
        .encodings()
        .iter()
        .map(|encoding| match encoding {
            Encoding::Brotli => Coding::Brotli,
            Encoding::Gzip => Coding::Gzip,
        });
    let coding = web::negotiate_coding(request, offered);
    let body = match coding {
        Coding::Brotli => representation.encoded(Encoding::Brotli),
        Coding::Gzip => representation.encoded(Encoding::Gzip),
        Coding::Identity => representation.body.clone(),
    };
    let mut response = (
        headers,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response();
    if let Some(name) = coding.content_encoding() {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    }
    response
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
    try_again_soon("This status page is unavailable right now; try again in a few seconds.")
}
