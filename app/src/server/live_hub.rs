//! The live hub: ingest hands it every message before storing it, and it fans each one out to the
//! stream connections that follow its topic and may read it. The protocol the connections speak
//! is in `docs/live.md`; the HTTP side is `server/src/live.rs`.
//!
//! Memory stays bounded whatever the clients do: each connection has a fixed-size queue, and a
//! connection whose queue is full is marked lagging and skipped (it later gets one `resync`)
//! instead of queueing more. The hub also keeps the last few seconds of messages in a ring, for
//! clients resuming with `Last-Event-ID` and for snapshots that must not miss what the database
//! has not committed yet.

use crate::domain::live::{EventId, LiveMessage, ResyncReason, PAYLOAD_TEXT_LIMIT};
use crate::domain::payload::{self, PayloadKind};
use crate::domain::topic_filter::TopicFilter;
use crate::server::access::{Rules, Visitor};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use foldhash::fast::RandomState as FastHash;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::mpsc;

/// How much the hub keeps and queues.
#[derive(Clone, Copy, Debug)]
pub struct HubLimits {
    /// At most this many recent messages are kept for resuming clients.
    pub recent_messages: usize,
    /// ... and at most this many bytes among them (payloads, topics and frames).
    pub recent_bytes: usize,
    /// Messages waiting for one connection before it counts as lagging.
    pub queue: usize,
    /// Messages, and bytes as [`LiveEvent::held_bytes`] counts them, waiting for Lookout's own
    /// subscriber (the uptime watcher, which feeds the alert engine) before it counts as
    /// lagging. More than a connection's: it misses crossings when it lags, and it waits on the
    /// database now and then (each look of the watcher) while messages come at ingest's rate.
    pub own_queue: usize,
    pub own_queue_bytes: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        Self {
            // Several seconds at the ingest ceiling, minutes at ordinary rates.
            recent_messages: 100_000,
            recent_bytes: 32 * 1024 * 1024,
            queue: 1024,
            // A third of a second at 50,000 msg/s.
            own_queue: 16 * 1024,
            own_queue_bytes: 32 * 1024 * 1024,
        }
    }
}

/// One message as the hub holds it: shared by the ring and every queue it sits in.
#[derive(Debug)]
pub struct LiveEvent {
    pub seq: u64,
    pub topic: Arc<str>,
    pub received_at: DateTime<Utc>,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    /// The complete SSE frame, serialized by the first connection that sends it and then shared:
    /// ingest pays only for the hand-over, and a message nobody follows is never serialized.
    frame: OnceLock<Bytes>,
}

impl LiveEvent {
    /// What keeping this message costs, for the ring's byte bound: its payload, its topic, and
    /// its serialized frame once some connection sent it (which repeats the topic and at most a
    /// preview of the payload), so that long topics count as much as large payloads.
    pub fn held_bytes(&self) -> usize {
        const FRAME_OVERHEAD: usize = 256;
        self.payload.len() + 2 * self.topic.len() + FRAME_OVERHEAD
    }

    pub fn id(&self, boot: u64) -> EventId {
        EventId {
            boot,
            seq: self.seq,
        }
    }

    /// What the browser receives for this message.
    pub fn message(&self) -> LiveMessage {
        let (kind, value) = payload::kind_and_value(&self.payload);
        let (payload, truncated) = match kind {
            PayloadKind::Binary => (String::new(), false),
            _ => {
                let cut = text_prefix(&self.payload, PAYLOAD_TEXT_LIMIT);
                (cut.to_owned(), cut.len() < self.payload.len())
            }
        };
        LiveMessage {
            topic: self.topic.to_string(),
            at_ms: self.received_at.timestamp_millis(),
            kind,
            size: self.payload.len(),
            payload,
            truncated,
            preview: payload::preview(
                &self.payload[..self.payload.len().min(PREVIEW_BYTES)],
                self.payload.len(),
            ),
            value,
            retain: self.retain,
            qos: self.qos,
            replaced: 0,
        }
    }

    fn frame(&self, boot: u64) -> Bytes {
        self.frame
            .get_or_init(|| {
                // Written in place, JSON included, rather than serialized and then copied into
                // the frame: a stream following everything builds one per message.
                let shown = self.payload.len().min(PAYLOAD_TEXT_LIMIT)
                    + self.payload.len().min(PREVIEW_BYTES);
                let mut frame = Vec::with_capacity(160 + self.topic.len() + shown + shown / 8);
                write!(frame, "id: {}\nevent: message\ndata: ", self.id(boot))
                    .and_then(|()| Ok(serde_json::to_writer(&mut frame, &self.message())?))
                    .expect("a live message always serializes");
                frame.extend_from_slice(b"\n\n");
                Bytes::from(frame)
            })
            .clone()
    }
}

/// Enough bytes of a payload for its one-line preview.
const PREVIEW_BYTES: usize = 4 * payload::PREVIEW_CHARS;

/// The longest UTF-8 prefix of `bytes` of at most `limit` bytes (the payload is UTF-8 here).
fn text_prefix(bytes: &[u8], limit: usize) -> &str {
    let mut end = bytes.len().min(limit);
    while end > 0 {
        if let Ok(text) = std::str::from_utf8(&bytes[..end]) {
            return text;
        }
        end -= 1;
    }
    ""
}

/// What a connection may read: its visitor and the rules in force, refreshed by the connection as
/// rules change. The hub asks it before queueing, so a forbidden message never takes queue space.
#[derive(Debug)]
pub struct ReadGate {
    visitor: Visitor,
    rules: RwLock<Arc<Rules>>,
}

impl ReadGate {
    pub fn new(visitor: Visitor, rules: Arc<Rules>) -> Self {
        Self {
            visitor,
            rules: RwLock::new(rules),
        }
    }

    pub fn may_read(&self, topic: &str) -> bool {
        self.rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .may_read(&self.visitor, topic)
    }

    pub fn update_rules(&self, rules: Arc<Rules>) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
    }

    pub fn visitor(&self) -> &Visitor {
        &self.visitor
    }
}

/// The hub. Cheap to clone; every clone is the same hub.
#[derive(Clone, Debug)]
pub struct LiveHub {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Distinguishes this process's event ids from an earlier one's.
    boot: u64,
    limits: HubLimits,
    state: Mutex<HubState>,
}

#[derive(Debug, Default)]
struct HubState {
    next_seq: u64,
    recent: VecDeque<Arc<LiveEvent>>,
    recent_bytes: usize,
    next_subscriber: u64,
    subscribers: HashMap<u64, Subscriber, FastHash>,
    /// Filters without wildcards, by topic: most clients follow a few exact topics, and a lookup
    /// beats matching every filter of every client for every message.
    exact: HashMap<Arc<str>, HashSet<u64, FastHash>, FastHash>,
    /// Wildcard filters, each matched once per message however many connections share it (a
    /// thousand browsers following `#` cost one match).
    patterns: HashMap<Arc<str>, (TopicFilter, HashSet<u64>)>,
    /// Set on shutdown: no stream is taken any more.
    closed: bool,
}

#[derive(Debug)]
struct Subscriber {
    queue: mpsc::Sender<Arc<LiveEvent>>,
    gate: Arc<ReadGate>,
    lagging: Arc<AtomicBool>,
    /// The bytes waiting in its queue, and how many may.
    queued_bytes: Arc<AtomicUsize>,
    byte_limit: usize,
    /// The last message queued, so that overlapping filters (`a/#` and `a/b`) queue it once.
    last_seq: u64,
    /// Its filters, to unregister it from exactly their entries.
    filters: Vec<TopicFilter>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self::new(HubLimits::default())
    }
}

impl LiveHub {
    pub fn new(limits: HubLimits) -> Self {
        let boot = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_millis() as u64)
            .unwrap_or(0);
        Self {
            shared: Arc::new(Shared {
                boot,
                limits,
                state: Mutex::new(HubState {
                    next_seq: 1,
                    ..HubState::default()
                }),
            }),
        }
    }

    pub fn boot(&self) -> u64 {
        self.shared.boot
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends every stream and takes no new ones, on shutdown: each connection sends what is
    /// already queued for it and then ends, so browsers reconnect (to another instance, or to
    /// this one once it is back) instead of being cut off mid-frame.
    pub fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        // Dropping the queues' senders is what ends the streams.
        state.subscribers.clear();
        state.exact.clear();
        state.patterns.clear();
    }

    /// Takes one received message: keeps it in the ring and queues it for every connection that
    /// follows its topic and may read it. Never waits.
    pub fn publish(
        &self,
        topic: &str,
        received_at: DateTime<Utc>,
        payload: Bytes,
        qos: u8,
        retain: bool,
    ) {
        let mut state = self.state();
        let seq = state.next_seq;
        state.next_seq += 1;
        let event = Arc::new(LiveEvent {
            seq,
            topic: Arc::from(topic),
            received_at,
            payload,
            qos,
            retain,
            frame: OnceLock::new(),
        });
        state.remember(event.clone(), &self.shared.limits);

        let HubState {
            subscribers,
            exact,
            patterns,
            ..
        } = &mut *state;
        let mut closed = Vec::new();
        let exact_matches = exact.get(topic).into_iter().flatten();
        let pattern_matches = patterns
            .values()
            .filter(|(filter, _)| filter.matches(topic))
            .flat_map(|(_, ids)| ids);
        for id in exact_matches.chain(pattern_matches) {
            let Some(subscriber) = subscribers.get_mut(id) else {
                continue;
            };
            if subscriber.last_seq == seq
                || subscriber.lagging.load(Ordering::Acquire)
                || !subscriber.gate.may_read(topic)
            {
                continue;
            }
            subscriber.last_seq = seq;
            // Counted before it is queued: the subscriber takes it off as soon as it is there.
            let bytes = event.held_bytes();
            let queued = subscriber.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
            let sent = if queued + bytes > subscriber.byte_limit {
                Err(mpsc::error::TrySendError::Full(event.clone()))
            } else {
                subscriber.queue.try_send(event.clone())
            };
            if sent.is_err() {
                subscriber.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            }
            match sent {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    subscriber.lagging.store(true, Ordering::Release);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => closed.push(*id),
            }
        }
        for id in closed {
            state.unregister(id);
        }
    }

    /// Registers a connection following `filters`. With `resume_after`, the connection first gets
    /// the kept messages after that id, or a resync when they are no longer all kept.
    pub fn subscribe(
        &self,
        filters: Vec<TopicFilter>,
        gate: Arc<ReadGate>,
        resume_after: Option<EventId>,
    ) -> Subscription {
        self.register(
            filters,
            gate,
            resume_after,
            self.shared.limits.queue,
            usize::MAX,
        )
    }

    /// Registers Lookout's own subscriber, following `filters` from now on, with the longer
    /// queue of [`HubLimits::own_queue`].
    pub fn subscribe_own(&self, filters: Vec<TopicFilter>, gate: Arc<ReadGate>) -> Subscription {
        let limits = self.shared.limits;
        self.register(
            filters,
            gate,
            None,
            limits.own_queue,
            limits.own_queue_bytes,
        )
    }

    fn register(
        &self,
        filters: Vec<TopicFilter>,
        gate: Arc<ReadGate>,
        resume_after: Option<EventId>,
        queue: usize,
        byte_limit: usize,
    ) -> Subscription {
        let (sender, receiver) = mpsc::channel(queue);
        let lagging = Arc::new(AtomicBool::new(false));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let mut state = self.state();
        // Registered and read under one lock: nothing published meanwhile is missed or repeated.
        let (backlog, resync) = match resume_after {
            None => (VecDeque::new(), None),
            Some(after) if after.boot != self.shared.boot => {
                (VecDeque::new(), Some(ResyncReason::Restarted))
            }
            Some(after) => match state.recent_after(after.seq) {
                Some(events) => (
                    events
                        .filter(|event| {
                            filters.iter().any(|filter| filter.matches(&event.topic))
                                && gate.may_read(&event.topic)
                        })
                        .cloned()
                        .collect(),
                    None,
                ),
                None => (VecDeque::new(), Some(ResyncReason::Expired)),
            },
        };
        let id = state.next_subscriber;
        state.next_subscriber += 1;
        // After a shutdown nothing is registered: the sender goes at the end of this function,
        // so the stream sends its backlog, if any, and ends.
        if !state.closed {
            for filter in &filters {
                let text: Arc<str> = Arc::from(filter.as_str());
                if is_exact(filter) {
                    state.exact.entry(text).or_default().insert(id);
                } else {
                    state
                        .patterns
                        .entry(text)
                        .or_insert_with(|| (filter.clone(), HashSet::new()))
                        .1
                        .insert(id);
                }
            }
            state.subscribers.insert(
                id,
                Subscriber {
                    queue: sender,
                    gate,
                    lagging: lagging.clone(),
                    queued_bytes: queued_bytes.clone(),
                    byte_limit,
                    last_seq: 0,
                    filters,
                },
            );
        }
        drop(state);
        Subscription {
            id,
            hub: self.clone(),
            receiver,
            lagging,
            queued_bytes,
            backlog,
            resync,
        }
    }

    /// The newest kept message of each topic, for snapshots: the database lags ingest by a commit,
    /// and a snapshot taken after a `resync` must not be older than what the stream skipped.
    pub fn newest_per_topic(&self) -> HashMap<Arc<str>, Arc<LiveEvent>> {
        let state = self.state();
        let mut newest = HashMap::new();
        for event in &state.recent {
            newest.insert(event.topic.clone(), event.clone());
        }
        newest
    }

    /// The newest message of each of `topics` among the last `within` the hub holds, for a
    /// board's live view: read from the newest back, stopping once every topic is found. The
    /// bound keeps each read's hold on the hub short whoever asks how often; a topic quieter
    /// than that has nothing newer than its board's snapshot, or gets it at the next build.
    pub fn newest_of(
        &self,
        topics: &HashSet<&str>,
        within: usize,
    ) -> HashMap<Arc<str>, Arc<LiveEvent>> {
        let state = self.state();
        let mut newest: HashMap<Arc<str>, Arc<LiveEvent>> = HashMap::new();
        for event in state.recent.iter().rev().take(within) {
            if newest.len() == topics.len() {
                break;
            }
            if topics.contains(&*event.topic) && !newest.contains_key(&event.topic) {
                newest.insert(event.topic.clone(), event.clone());
            }
        }
        newest
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.state().subscribers.len()
    }

    /// The SSE frame of a message (see [`LiveEvent::frame`]).
    pub fn frame(&self, event: &LiveEvent) -> Bytes {
        event.frame(self.shared.boot)
    }
}

fn is_exact(filter: &TopicFilter) -> bool {
    !filter.as_str().contains(['+', '#'])
}

impl HubState {
    fn remember(&mut self, event: Arc<LiveEvent>, limits: &HubLimits) {
        self.recent_bytes += event.held_bytes();
        self.recent.push_back(event);
        while self.recent.len() > limits.recent_messages
            || (self.recent_bytes > limits.recent_bytes && self.recent.len() > 1)
        {
            if let Some(dropped) = self.recent.pop_front() {
                self.recent_bytes -= dropped.held_bytes();
            }
        }
    }

    /// The kept messages after `seq`, if none after it has been forgotten yet.
    fn recent_after(&self, seq: u64) -> Option<impl Iterator<Item = &Arc<LiveEvent>>> {
        let oldest_kept = self.recent.front().map_or(self.next_seq, |event| event.seq);
        if seq + 1 < oldest_kept || seq >= self.next_seq {
            // Forgotten already, or an id this hub never gave out.
            return None;
        }
        let skip = (seq + 1 - oldest_kept) as usize;
        Some(self.recent.iter().skip(skip))
    }

    fn unregister(&mut self, id: u64) {
        let Some(subscriber) = self.subscribers.remove(&id) else {
            return;
        };
        for filter in &subscriber.filters {
            let text = filter.as_str();
            if let Some(ids) = self.exact.get_mut(text) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.exact.remove(text);
                }
            }
            if let Some((_, ids)) = self.patterns.get_mut(text) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.patterns.remove(text);
                }
            }
        }
    }
}

/// One connection's share of the hub; unregisters itself when dropped.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    hub: LiveHub,
    receiver: mpsc::Receiver<Arc<LiveEvent>>,
    lagging: Arc<AtomicBool>,
    queued_bytes: Arc<AtomicUsize>,
    backlog: VecDeque<Arc<LiveEvent>>,
    resync: Option<ResyncReason>,
}

/// What a connection sends next.
#[derive(Debug)]
pub enum Delivery {
    Message(Arc<LiveEvent>),
    Resync(ResyncReason),
}

impl Subscription {
    /// The next thing to send, waiting for one. `None` once the hub is gone.
    pub async fn next(&mut self) -> Option<Delivery> {
        if let Some(ready) = self.try_next() {
            return Some(ready);
        }
        let event = self.receiver.recv().await?;
        Some(Delivery::Message(self.taken(event)))
    }

    fn taken(&self, event: Arc<LiveEvent>) -> Arc<LiveEvent> {
        self.queued_bytes
            .fetch_sub(event.held_bytes(), Ordering::AcqRel);
        event
    }

    /// The next thing to send if one is ready now.
    pub fn try_next(&mut self) -> Option<Delivery> {
        if let Some(reason) = self.resync.take() {
            return Some(Delivery::Resync(reason));
        }
        if let Some(event) = self.backlog.pop_front() {
            return Some(Delivery::Message(event));
        }
        match self.receiver.try_recv() {
            Ok(event) => Some(Delivery::Message(self.taken(event))),
            // Only once everything queued before the gap has gone out, so the resync marks it.
            Err(_) if self.lagging.swap(false, Ordering::AcqRel) => {
                Some(Delivery::Resync(ResyncReason::Lagged))
            }
            Err(_) => None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.state().unregister(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::User;
    use crate::domain::roles::{AccessRule, Permission, Role};

    fn viewer_reading(filters: &[&str]) -> Arc<ReadGate> {
        let rules = filters
            .iter()
            .enumerate()
            .map(|(id, filter)| AccessRule {
                id: id as i64,
                audience: Role::Viewer.into(),
                filter: TopicFilter::parse(filter).unwrap(),
                permission: Permission::Read,
            })
            .collect();
        let visitor = Visitor::SignedIn(User {
            id: 7,
            name: "v".into(),
            role: Role::Viewer,
            disabled: false,
        });
        Arc::new(ReadGate::new(visitor, Arc::new(Rules::new(rules))))
    }

    fn filters(texts: &[&str]) -> Vec<TopicFilter> {
        texts
            .iter()
            .map(|t| TopicFilter::parse(t).unwrap())
            .collect()
    }

    fn send(hub: &LiveHub, topic: &str, payload: &str) {
        hub.publish(topic, Utc::now(), Bytes::from(payload.to_owned()), 1, false);
    }

    fn drain(subscription: &mut Subscription) -> Vec<String> {
        std::iter::from_fn(|| subscription.try_next())
            .map(|delivery| match delivery {
                Delivery::Message(event) => format!("{}={}", event.topic, event.message().payload),
                Delivery::Resync(reason) => format!("resync:{reason:?}"),
            })
            .collect()
    }

    #[test]
    fn a_board_reads_the_newest_message_of_its_topics_among_the_last_few() {
        let hub = LiveHub::default();
        for (topic, payload) in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("d", "5")] {
            send(&hub, topic, payload);
        }
        let payload_of = |found: &HashMap<Arc<str>, Arc<LiveEvent>>, topic: &str| {
            found.get(topic).map(|event| event.message().payload)
        };
        let wanted: HashSet<&str> = ["a", "b", "z"].into_iter().collect();
        let found = hub.newest_of(&wanted, 100);
        assert_eq!(payload_of(&found, "a").as_deref(), Some("3"));
        assert_eq!(payload_of(&found, "b").as_deref(), Some("2"));
        assert_eq!(found.len(), 2, "a topic never sent is not found");
        // Only the last three messages: "b" is older than that.
        let found = hub.newest_of(&wanted, 3);
        assert_eq!(payload_of(&found, "a").as_deref(), Some("3"));
        assert!(!found.contains_key("b"));
    }

    #[test]
    fn a_connection_gets_what_its_filters_select_once_each() {
        let hub = LiveHub::default();
        let mut sub = hub.subscribe(filters(&["a/#", "a/b", "c"]), viewer_reading(&["#"]), None);
        send(&hub, "a/b", "1");
        send(&hub, "c", "2");
        send(&hub, "d", "3");
        send(&hub, "a", "4");
        assert_eq!(drain(&mut sub), ["a/b=1", "c=2", "a=4"]);
    }

    #[test]
    fn nothing_the_rules_forbid_is_queued() {
        let hub = LiveHub::default();
        let mut sub = hub.subscribe(filters(&["#"]), viewer_reading(&["public/#"]), None);
        send(&hub, "secret/x", "s");
        send(&hub, "public/y", "p");
        assert_eq!(drain(&mut sub), ["public/y=p"]);
        // Rules change while connected: the gate follows.
        sub_gate(&hub, sub.id).update_rules(Arc::new(Rules::default()));
        send(&hub, "public/y", "q");
        assert!(drain(&mut sub).is_empty());
    }

    fn sub_gate(hub: &LiveHub, id: u64) -> Arc<ReadGate> {
        hub.state().subscribers[&id].gate.clone()
    }

    #[test]
    fn a_full_queue_becomes_one_resync_after_what_was_queued() {
        let hub = LiveHub::new(HubLimits {
            queue: 2,
            ..HubLimits::default()
        });
        let mut sub = hub.subscribe(filters(&["#"]), viewer_reading(&["#"]), None);
        for n in 0..5 {
            send(&hub, "t", &n.to_string());
        }
        assert_eq!(drain(&mut sub), ["t=0", "t=1", "resync:Lagged"]);
        send(&hub, "t", "5");
        assert_eq!(drain(&mut sub), ["t=5"]);
    }

    #[test]
    fn lookouts_own_subscriber_has_its_own_bounds_in_messages_and_bytes() {
        let hub = LiveHub::new(HubLimits {
            queue: 1,
            own_queue: 3,
            ..HubLimits::default()
        });
        let mut own = hub.subscribe_own(filters(&["#"]), viewer_reading(&["#"]));
        for n in 0..5 {
            send(&hub, "t", &n.to_string());
        }
        assert_eq!(drain(&mut own), ["t=0", "t=1", "t=2", "resync:Lagged"]);

        let held = |payload: &str| payload.len() + 2 * "t".len() + 256;
        let hub = LiveHub::new(HubLimits {
            own_queue_bytes: held("12") + held("345"),
            ..HubLimits::default()
        });
        let mut own = hub.subscribe_own(filters(&["#"]), viewer_reading(&["#"]));
        for payload in ["12", "345", "6"] {
            send(&hub, "t", payload);
        }
        assert_eq!(drain(&mut own), ["t=12", "t=345", "resync:Lagged"]);
        // What was taken off no longer counts.
        for payload in ["6", "78"] {
            send(&hub, "t", payload);
        }
        assert_eq!(drain(&mut own), ["t=6", "t=78"]);
    }

    #[test]
    fn resuming_replays_exactly_what_came_after_the_last_id() {
        let hub = LiveHub::default();
        send(&hub, "t", "0");
        let mut first = hub.subscribe(filters(&["t"]), viewer_reading(&["#"]), None);
        send(&hub, "t", "1");
        let Some(Delivery::Message(seen)) = first.try_next() else {
            panic!("a message");
        };
        drop(first);
        send(&hub, "t", "2");
        send(&hub, "u", "x");
        send(&hub, "t", "3");
        let mut resumed = hub.subscribe(
            filters(&["t"]),
            viewer_reading(&["#"]),
            Some(seen.id(hub.boot())),
        );
        send(&hub, "t", "4");
        assert_eq!(drain(&mut resumed), ["t=2", "t=3", "t=4"]);
    }

    #[test]
    fn resuming_from_a_forgotten_or_foreign_id_starts_with_a_resync() {
        let hub = LiveHub::new(HubLimits {
            recent_messages: 2,
            ..HubLimits::default()
        });
        for n in 0..5 {
            send(&hub, "t", &n.to_string());
        }
        let boot = hub.boot();
        let mut old = hub.subscribe(
            filters(&["t"]),
            viewer_reading(&["#"]),
            Some(EventId { boot, seq: 1 }),
        );
        assert_eq!(drain(&mut old), ["resync:Expired"]);
        let mut foreign = hub.subscribe(
            filters(&["t"]),
            viewer_reading(&["#"]),
            Some(EventId {
                boot: boot + 1,
                seq: 4,
            }),
        );
        assert_eq!(drain(&mut foreign), ["resync:Restarted"]);
        // The newest kept id resumes with nothing missed.
        let mut current = hub.subscribe(
            filters(&["t"]),
            viewer_reading(&["#"]),
            Some(EventId { boot, seq: 5 }),
        );
        assert!(drain(&mut current).is_empty());
    }

    #[test]
    fn a_dropped_connection_leaves_no_trace_in_the_hub() {
        let hub = LiveHub::default();
        let sub = hub.subscribe(filters(&["a", "b/+"]), viewer_reading(&["#"]), None);
        assert_eq!(hub.connections(), 1);
        drop(sub);
        assert_eq!(hub.connections(), 0);
        let state = hub.state();
        assert!(state.exact.is_empty() && state.patterns.is_empty());
    }

    #[test]
    fn connections_sharing_a_filter_come_and_go_independently() {
        let hub = LiveHub::default();
        let first = hub.subscribe(filters(&["#", "t"]), viewer_reading(&["#"]), None);
        let mut second = hub.subscribe(filters(&["#"]), viewer_reading(&["#"]), None);
        assert_eq!(
            hub.state().patterns.len(),
            1,
            "one entry per distinct filter"
        );
        drop(first);
        send(&hub, "t", "1");
        assert_eq!(drain(&mut second), ["t=1"]);
        drop(second);
        let state = hub.state();
        assert!(state.exact.is_empty() && state.patterns.is_empty());
    }

    #[test]
    fn the_ring_keeps_its_byte_budget_counting_topics_as_well_as_payloads() {
        let hub = LiveHub::new(HubLimits {
            recent_bytes: 4096,
            ..HubLimits::default()
        });
        for _ in 0..10 {
            send(&hub, "t", "abcd");
        }
        assert_eq!(hub.state().recent.len(), 10, "small messages all fit");
        // Tiny payloads on long topics: the topics are what takes the memory.
        let long_topic = "x".repeat(1000);
        for _ in 0..10 {
            send(&hub, &long_topic, "1");
        }
        let state = hub.state();
        assert!(state.recent_bytes <= 4096, "{} bytes", state.recent_bytes);
        assert_eq!(state.recent.len(), 1);
    }

    #[test]
    fn a_frame_is_its_id_its_event_name_and_its_message_as_json() {
        let hub = LiveHub::default();
        let mut sub = hub.subscribe(filters(&["#"]), viewer_reading(&["#"]), None);
        for payload in [
            r#"{"t": 21.5, "note": "a\"b\n"}"#,
            "on",
            "",
            &"x".repeat(5000),
        ] {
            send(&hub, "plant/é", payload);
        }
        hub.publish(
            "bin",
            Utc::now(),
            Bytes::from_static(&[0xff, 0, 1]),
            0,
            true,
        );
        while let Some(Delivery::Message(event)) = sub.try_next() {
            let expected = format!(
                "id: {}\nevent: message\ndata: {}\n\n",
                event.id(hub.boot()),
                serde_json::to_string(&event.message()).unwrap()
            );
            assert_eq!(hub.frame(&event), expected.as_bytes());
        }
    }

    #[test]
    fn frames_carry_the_id_and_text_cut_at_a_character() {
        let hub = LiveHub::default();
        let payload = "é".repeat(PAYLOAD_TEXT_LIMIT);
        let mut sub = hub.subscribe(filters(&["t"]), viewer_reading(&["#"]), None);
        send(&hub, "t", &payload);
        let Some(Delivery::Message(event)) = sub.try_next() else {
            panic!("a message");
        };
        let frame = String::from_utf8(hub.frame(&event).to_vec()).unwrap();
        assert!(frame.starts_with(&format!("id: {}-1\nevent: message\ndata: {{", hub.boot())));
        let message = event.message();
        assert!(message.truncated);
        assert!(message.payload.len() <= PAYLOAD_TEXT_LIMIT);
        assert_eq!(message.size, payload.len());
    }
}
