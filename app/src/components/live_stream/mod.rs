//! The page's end of the stream: a "server signal" is a Leptos signal that starts as a snapshot
//! from a server function and then follows the stream. On the server it is just the snapshot; the
//! stream opens once the page is hydrated.

use crate::domain::live::{LiveMessage, STREAM_PATH};
use leptos::prelude::*;
use std::future::Future;

#[cfg(feature = "hydrate")]
mod browser;

/// What the page says about its live connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Opening (also what a page shows before it is hydrated).
    Connecting,
    Live,
    /// Lost; the browser is trying again.
    Retrying,
}

impl StreamState {
    pub fn label(self) -> &'static str {
        match self {
            StreamState::Connecting => "connecting",
            StreamState::Live => "live",
            StreamState::Retrying => "reconnecting",
        }
    }
}

/// What a page follows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamOptions {
    /// MQTT topic filters; none means every topic the user may read.
    pub filters: Vec<String>,
    /// The newest message per topic at most this often (0: every message).
    pub conflate_ms: u32,
}

impl StreamOptions {
    pub fn following(filters: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            filters: filters.into_iter().map(Into::into).collect(),
            conflate_ms: 0,
        }
    }

    pub fn conflated(mut self, every_ms: u32) -> Self {
        self.conflate_ms = every_ms;
        self
    }

    /// The stream's URL; `resume_after` continues after that event id.
    pub fn url(&self, resume_after: Option<&str>) -> String {
        let mut query = Vec::new();
        for filter in &self.filters {
            query.push(format!("filter={}", encode(filter)));
        }
        if self.conflate_ms > 0 {
            query.push(format!("conflate_ms={}", self.conflate_ms));
        }
        if let Some(id) = resume_after {
            query.push(format!("last_event_id={}", encode(id)));
        }
        if query.is_empty() {
            STREAM_PATH.to_owned()
        } else {
            format!("{STREAM_PATH}?{}", query.join("&"))
        }
    }
}

/// Percent-encodes a query value (topic filters hold `#`, `+` and `/`).
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// Follows the stream once the page is hydrated. `on_messages` gets what arrived, at most once
/// per animation frame (a busy stream costs one render per frame, not one per message);
/// `on_resync` is told when messages may have been missed, so the page fetches its snapshot again.
pub fn use_live_stream(
    options: StreamOptions,
    on_messages: impl Fn(Vec<LiveMessage>) + 'static,
    on_resync: impl Fn() + 'static,
) -> ReadSignal<StreamState> {
    let (state, set_state) = signal(StreamState::Connecting);
    #[cfg(feature = "hydrate")]
    {
        let connection = browser::Connection::open(options, set_state, on_messages, on_resync);
        // Closed when the page (or the component) goes away.
        let connection = leptos::__reexports::send_wrapper::SendWrapper::new(connection);
        on_cleanup(move || drop(connection));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (options, set_state, on_messages, on_resync);
    state
}

/// A value that starts as `initial` (the snapshot a server function returned) and then follows
/// the stream: each message changes it through `apply`; after a resync, `refetch` fetches the
/// snapshot again, and messages that arrive while it is on its way are applied on top of it.
/// `apply` should ignore a message older than what the value holds, so that nothing goes back.
pub fn server_signal<T, Fut>(
    initial: T,
    options: StreamOptions,
    apply: impl Fn(&mut T, &LiveMessage) + Clone + 'static,
    refetch: impl Fn() -> Fut + 'static,
) -> (ReadSignal<T>, ReadSignal<StreamState>)
where
    T: Send + Sync + 'static,
    Fut: Future<Output = Option<T>> + 'static,
{
    let value = RwSignal::new(initial);
    // Messages that arrived while a refetch was on its way, applied again on top of its answer.
    // Thread-safe storage although only the browser uses it: on the server the page's owner may
    // be dropped on another worker thread than the one that rendered it, and dropping local
    // storage there panics and cuts the page short.
    let in_flight: StoredValue<Option<Vec<LiveMessage>>> = StoredValue::new(None);
    let apply_batch = {
        let apply = apply.clone();
        move |batch: Vec<LiveMessage>| {
            value.try_update(|value| batch.iter().for_each(|message| apply(value, message)));
            in_flight.update_value(|replay| {
                if let Some(replay) = replay {
                    replay.extend(batch);
                }
            });
        }
    };
    let resync = move || {
        if in_flight.with_value(Option::is_some) {
            return;
        }
        in_flight.set_value(Some(Vec::new()));
        let fetched = refetch();
        let apply = apply.clone();
        leptos::task::spawn_local(async move {
            let fresh = fetched.await;
            let replay = in_flight.try_update_value(Option::take).flatten();
            if let Some(mut fresh) = fresh {
                for message in replay.iter().flatten() {
                    apply(&mut fresh, message);
                }
                // The page may have gone meanwhile.
                let _ = value.try_set(fresh);
            }
        });
    };
    let state = use_live_stream(options, apply_batch, resync);
    (value.read_only(), state)
}

#[cfg(test)]
mod tests {
    use super::StreamOptions;

    #[test]
    fn stream_urls_encode_filters_and_resume_points() {
        assert_eq!(StreamOptions::default().url(None), "/api/live");
        let options = StreamOptions::following(["plant/+/temp", "a b/#"]).conflated(250);
        assert_eq!(
            options.url(Some("17-4")),
            "/api/live?filter=plant%2F%2B%2Ftemp&filter=a%20b%2F%23&conflate_ms=250&last_event_id=17-4"
        );
    }
}
