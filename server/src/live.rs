//! `GET /api/live`: the live stream, as server-sent events (protocol: `docs/live.md`). The hub
//! (`app::server::live_hub::LiveHub`) decides what reaches a connection; this module turns one
//! connection's share into SSE frames, keeps the stream alive, and ends it when its login does.

pub mod direct;

use app::domain::live::{EventId, ResyncReason};
use app::domain::topic_filter::TopicFilter;
use app::server::access::Visitor;
use app::server::live_hub::{Delivery, LiveEvent, ReadGate, Subscription};
use app::server::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::{Bytes, BytesMut};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tower_sessions::Session;

/// At most this many filters per connection.
const MAX_FILTERS: usize = 100;
/// The longest conflation interval a client may ask for.
const MAX_CONFLATE: Duration = Duration::from_secs(60);
/// An idle stream sends a comment this often, so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream checks that its login still holds (logout, password change, disabled
/// user, changed role) and picks up changed access rules. A database read per connection each
/// time, so not too often.
const RECHECK: Duration = Duration::from_secs(20);
/// Frames that are ready together go out in one write, up to this many.
const FRAMES_PER_WRITE: usize = 64;
/// What the browser waits before reconnecting by itself.
const OPENING: &[u8] = b"retry: 2000\n\n";

/// What a client asked for.
#[derive(Debug, PartialEq)]
struct StreamRequest {
    filters: Vec<TopicFilter>,
    conflate: Option<Duration>,
    resume_after: Option<EventId>,
}

impl StreamRequest {
    /// From the query (`filter`, `conflate_ms`, `last_event_id`) and the `Last-Event-ID` header,
    /// which a reconnecting `EventSource` sends by itself. The query form serves a client that
    /// opens a new `EventSource` after the old one gave up.
    fn parse(query: Option<&str>, headers: &HeaderMap) -> Result<Self, String> {
        let mut filters = Vec::new();
        let mut conflate = None;
        let mut resume_after = None;
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "filter" => {
                    if filters.len() == MAX_FILTERS {
                        return Err(format!("at most {MAX_FILTERS} filters per stream"));
                    }
                    let filter = TopicFilter::parse(&value)
                        .map_err(|error| format!("filter {value:?}: {error}"))?;
                    filters.push(filter);
                }
                "conflate_ms" => {
                    let ms: u64 = value
                        .parse()
                        .map_err(|_| format!("conflate_ms {value:?} is not a whole number"))?;
                    let every = Duration::from_millis(ms);
                    if every > MAX_CONFLATE {
                        return Err(format!(
                            "conflate_ms is at most {}",
                            MAX_CONFLATE.as_millis()
                        ));
                    }
                    conflate = (ms > 0).then_some(every);
                }
                "last_event_id" => resume_after = Some(parse_event_id(&value)?),
                other => return Err(format!("unknown parameter {other:?}")),
            }
        }
        if let Some(header) = headers.get("last-event-id") {
            let text = header
                .to_str()
                .map_err(|_| "Last-Event-ID is not text".to_owned())?;
            resume_after = Some(parse_event_id(text)?);
        }
        if filters.is_empty() {
            filters.push(TopicFilter::parse("#").expect("# is a filter"));
        }
        Ok(Self {
            filters,
            conflate,
            resume_after,
        })
    }
}

fn parse_event_id(text: &str) -> Result<EventId, String> {
    text.parse()
        .map_err(|()| format!("{text:?} is not an event id of this stream"))
}

pub async fn stream(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Extension(places): Extension<StreamPlaces>,
    session: Session,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = match StreamRequest::parse(uri.query(), &headers) {
        Ok(request) => request,
        Err(problem) => return (StatusCode::BAD_REQUEST, problem).into_response(),
    };
    let rules = match state.access.rules().await {
        Ok(rules) => rules,
        Err(error) => {
            tracing::error!(%error, "loading the access rules for a stream failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "The live stream is unavailable right now.",
            )
                .into_response();
        }
    };
    // The route is for signed-in users already; asked again here because a stream outlives the
    // request that opened it, and this is where the policy says who gets live views.
    if !rules.sees_live(&visitor) {
        return (StatusCode::UNAUTHORIZED, "Log in first.").into_response();
    }
    let Some(session_id) = session.id().map(|id| id.to_string()) else {
        return (StatusCode::UNAUTHORIZED, "Log in first.").into_response();
    };
    let Some(user) = visitor.user() else {
        return (StatusCode::UNAUTHORIZED, "Log in first.").into_response();
    };
    let Some(place) = places.take(user.id) else {
        tracing::info!(user = %user.name, "live stream refused: the user has the most open");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "You have {} live streams open already, the most one user may have at once. \
                 Close a tab or window showing Lookout, then reload this one.",
                places.per_user
            ),
        )
            .into_response();
    };
    let gate = Arc::new(ReadGate::new(visitor, rules));
    let subscription = state
        .live
        .subscribe(request.filters, gate.clone(), request.resume_after);
    let connection = Connection {
        subscription,
        gate,
        session_id,
        conflation: request.conflate.map(|every| Conflation {
            every: ticker(every),
            pending: HashMap::new(),
            pending_bytes: 0,
        }),
        keep_alive: ticker(KEEP_ALIVE),
        recheck: ticker(RECHECK),
        state,
        opened: false,
        _place: place,
    };
    let frames = futures_util::stream::unfold(connection, |mut connection| async move {
        let chunk = connection.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), connection))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            // nginx buffers responses by default, which would hold the stream back.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}

/// An interval whose first tick is one period away, and that does not burst after a stall.
fn ticker(period: Duration) -> Interval {
    let mut interval = interval_at(Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// One open stream.
struct Connection {
    subscription: Subscription,
    gate: Arc<ReadGate>,
    session_id: String,
    conflation: Option<Conflation>,
    keep_alive: Interval,
    recheck: Interval,
    state: AppState,
    opened: bool,
    /// Given back when the stream ends, however it ends.
    _place: StreamPlace,
}

/// How many live streams each user has open on this instance: one login must not be able to
/// take every connection place with streams. Only users with a stream open have an entry.
#[derive(Clone)]
pub struct StreamPlaces {
    per_user: usize,
    open: Arc<Mutex<HashMap<i64, usize>>>,
}

/// One open stream's place among its user's.
struct StreamPlace {
    places: StreamPlaces,
    user: i64,
}

impl StreamPlaces {
    pub fn new(per_user: usize) -> Self {
        Self {
            per_user,
            open: Arc::default(),
        }
    }

    /// A place for one more stream of `user`, or `None` if it has the most already.
    fn take(&self, user: i64) -> Option<StreamPlace> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user).or_insert(0);
        if *count >= self.per_user {
            return None;
        }
        *count += 1;
        Some(StreamPlace {
            places: self.clone(),
            user,
        })
    }
}

impl Drop for StreamPlace {
    fn drop(&mut self) {
        let mut open = self
            .places
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// The newest message per topic, waiting for the next tick, with how many older ones it
/// replaced (so that counts stay exact).
struct Conflation {
    every: Interval,
    pending: HashMap<Arc<str>, (Arc<LiveEvent>, u64)>,
    /// What the pending messages hold (see `LiveEvent::held_bytes`): a client following many
    /// topics with long names must not make one connection hold the ring's worth of memory.
    pending_bytes: usize,
}

/// The most a conflating connection holds between ticks; reaching it sends what waits at once,
/// a tick early, instead of holding more.
const CONFLATION_BYTES: usize = 1024 * 1024;

impl Connection {
    /// The next bytes to send; `None` ends the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.opened {
            self.opened = true;
            // Sent at once so the browser sees the stream open before the first message.
            return Some(Bytes::from_static(OPENING));
        }
        loop {
            let conflating = self.conflation.is_some();
            let mut out = BytesMut::new();
            tokio::select! {
                delivery = self.subscription.next() => {
                    self.take(delivery?, &mut out);
                    for _ in 1..FRAMES_PER_WRITE {
                        match self.subscription.try_next() {
                            Some(delivery) => self.take(delivery, &mut out),
                            None => break,
                        }
                    }
                }
                _ = conflation_tick(&mut self.conflation), if conflating => {
                    self.flush_conflated(&mut out);
                }
                _ = self.keep_alive.tick() => return Some(Bytes::from_static(b": keep-alive\n\n")),
                _ = self.recheck.tick() => {
                    if !self.login_still_holds().await {
                        return None;
                    }
                }
            }
            if !out.is_empty() {
                self.keep_alive.reset();
                return Some(out.freeze());
            }
        }
    }

    fn take(&mut self, delivery: Delivery, out: &mut BytesMut) {
        match (delivery, &mut self.conflation) {
            (Delivery::Message(event), None) => {
                out.extend_from_slice(&self.state.live.frame(&event));
            }
            (Delivery::Message(event), Some(conflation)) => {
                let held = event.held_bytes();
                match conflation.pending.entry(event.topic.clone()) {
                    Entry::Occupied(mut waiting) => {
                        let (newest, replaced) = waiting.get_mut();
                        conflation.pending_bytes -= newest.held_bytes();
                        *newest = event;
                        *replaced += 1;
                    }
                    Entry::Vacant(slot) => {
                        slot.insert((event, 0));
                    }
                }
                conflation.pending_bytes += held;
                if conflation.pending_bytes > CONFLATION_BYTES {
                    self.flush_conflated(out);
                }
            }
            (Delivery::Resync(reason), conflation) => {
                // The client refetches everything, so what waited is stale.
                if let Some(conflation) = conflation {
                    conflation.pending.clear();
                    conflation.pending_bytes = 0;
                }
                out.extend_from_slice(&resync_frame(reason));
            }
        }
    }

    fn flush_conflated(&mut self, out: &mut BytesMut) {
        let Some(conflation) = &mut self.conflation else {
            return;
        };
        conflation.pending_bytes = 0;
        let mut newest: Vec<_> = conflation.pending.drain().map(|(_, entry)| entry).collect();
        newest.sort_unstable_by_key(|(event, _)| event.seq);
        // Before the messages it is about: the client adds each count to the next message of
        // that topic. Serialized per connection, but once per tick, not per message.
        let replaced: serde_json::Map<String, serde_json::Value> = newest
            .iter()
            .filter(|(_, replaced)| *replaced > 0)
            .map(|(event, replaced)| (event.topic.to_string(), (*replaced).into()))
            .collect();
        if !replaced.is_empty() {
            let data = serde_json::Value::Object(replaced);
            out.extend_from_slice(format!("event: replaced\ndata: {data}\n\n").as_bytes());
        }
        for (event, _) in newest {
            out.extend_from_slice(&self.state.live.frame(&event));
        }
    }

    /// Whether the session that opened the stream is still signed in as the same user with the
    /// same role; refreshes the rules the hub filters with on the way.
    async fn login_still_holds(&mut self) -> bool {
        if let Ok(rules) = self.state.access.rules().await {
            self.gate.update_rules(rules);
        }
        let Some(user) = self.gate.visitor().user() else {
            return false;
        };
        match self
            .state
            .store
            .session_role(&self.session_id, user.id)
            .await
        {
            Ok(role) => role == Some(user.role),
            // A database hiccup is no reason to cut every stream; the next check decides.
            Err(error) => {
                tracing::warn!(%error, "checking a stream's session failed");
                true
            }
        }
    }
}

async fn conflation_tick(conflation: &mut Option<Conflation>) {
    match conflation {
        Some(conflation) => {
            conflation.every.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn resync_frame(reason: ResyncReason) -> Bytes {
    let data = serde_json::json!({ "reason": reason });
    Bytes::from(format!("event: resync\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str, last_event_id: Option<&str>) -> Result<StreamRequest, String> {
        let mut headers = HeaderMap::new();
        if let Some(id) = last_event_id {
            headers.insert("last-event-id", id.parse().unwrap());
        }
        StreamRequest::parse(Some(query), &headers)
    }

    #[test]
    fn a_bare_request_follows_everything_at_full_rate() {
        let request = parse("", None).unwrap();
        assert_eq!(request.filters, [TopicFilter::parse("#").unwrap()]);
        assert_eq!(request.conflate, None);
        assert_eq!(request.resume_after, None);
    }

    #[test]
    fn filters_conflation_and_resume_are_read() {
        let request = parse("filter=a%2F%2B&filter=b&conflate_ms=250", Some("9-42")).unwrap();
        assert_eq!(request.filters.len(), 2);
        assert_eq!(request.filters[0].as_str(), "a/+");
        assert_eq!(request.conflate, Some(Duration::from_millis(250)));
        assert_eq!(request.resume_after, Some(EventId { boot: 9, seq: 42 }));
        assert_eq!(parse("conflate_ms=0", None).unwrap().conflate, None);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        for (query, id, expected) in [
            ("filter=a%2B", None, "filter"),
            ("filter=a/%23/b", None, "filter"),
            ("conflate_ms=soon", None, "conflate_ms"),
            ("conflate_ms=60001", None, "conflate_ms"),
            ("colour=red", None, "unknown parameter"),
            ("", Some("yesterday"), "event id"),
        ] {
            let problem = parse(query, id).unwrap_err();
            assert!(problem.contains(expected), "{query}: {problem}");
        }
        let many = vec!["filter=a"; MAX_FILTERS + 1].join("&");
        assert!(parse(&many, None).unwrap_err().contains("at most"));
    }

    #[test]
    fn a_user_has_at_most_its_stream_places_and_gets_them_back() {
        let places = StreamPlaces::new(2);
        let first = places.take(7).unwrap();
        let second = places.take(7).unwrap();
        assert!(places.take(7).is_none());
        assert!(
            places.take(8).is_some(),
            "another user has places of its own"
        );
        drop(first);
        let third = places.take(7).unwrap();
        drop((second, third));
        assert!(
            places.open.lock().unwrap().is_empty(),
            "no entry stays behind"
        );
    }
}
