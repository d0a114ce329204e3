//! The alert engine: evaluates every enabled rule (`app::domain::alert_rule`) on the events that
//! can change it, never by polling the database per rule:
//!
//! - each live message, for the rules whose topics it matches (threshold, JSON field, stale):
//!   exact filters are found by a hash lookup and only wildcard filters are matched one by one;
//! - each recorded change of a device's liveness, for device rules;
//! - each look of the uptime watcher, for rules about Lookout itself;
//! - a timer at the next deadline of any state (a duration running out, a silence, a reminder,
//!   a flap window), so nothing is late by more than the timer's wake-up.
//!
//! It runs inside the uptime watcher (`uptime_watch.rs`), so on the one instance that holds the
//! watch, and sees the same liveness the uptime bars record. When Lookout cannot see (the
//! broker connection is down), every rule but Lookout's own holds: no timer of theirs runs, and
//! a silence is counted again from when it sees once more, so one "Lookout cannot see" alert
//! goes out instead of one per device.
//!
//! While a maintenance window of a status page is in effect, alerts about what it covers (the
//! topics of its widgets, under a table's filter, or the devices they follow) are muted: states
//! move as always, the channels are told nothing, and when the window ends (at the next look,
//! within 10 s) they are told what they missed (`AlertState::pass`). Rules about Lookout itself
//! are never muted.
//!
//! A subject's state is written with the notices it causes in one transaction
//! (`Store::record_alert`) whenever it fires, resolves, is told or starts or stops flapping; an
//! instance that takes over reads those states and carries on, telling nothing twice. What is
//! only pending (bad, but not yet for the rule's duration) is not written: after a failover it
//! is counted again from the new instance's first observation, so a firing may come later by
//! at most the duration, and is never lost while the subject stays bad.

use app::domain::alert_rule::{
    AlertRule, Condition, FieldsRead, LookoutCheck, Reading, WidgetIndex, MAX_SUBJECTS,
    MAX_SUBJECTS_PER_RULE,
};
use app::domain::alerting::{AlertState, Told};
use app::domain::maintenance::Maintenance;
use app::domain::notice::{Notice, NoticeState};
use app::domain::topic_filter::TopicFilter;
use app::domain::topic_path::topic_path;
use app::domain::uptime::Seen;
use app::server::live_hub::LiveEvent;
use app::server::store::alerts::StoredState;
use app::server::store::uptime::DeviceKey;
use app::server::store::Store;
use chrono::{DateTime, SecondsFormat, Utc};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// The maps looked up for every message. Their keys are rules' topics and ids, and topics seen
/// (bounded by [`MAX_SUBJECTS`]); each map has its own random seed.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::Arc;
use tokio::sync::Notify;

/// A rule's state for one subject, keyed by rule id and subject.
type Key = (i64, String);

/// What Lookout itself looks like at one look, for its own rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sight {
    /// The broker connection (and the live feed) are up.
    pub seeing: bool,
    pub storage_failing: bool,
    /// How far storage is behind what was received, in seconds.
    pub behind_seconds: f64,
}

/// What one maintenance window covers, as alerts' subjects are matched against it.
struct Cover {
    window: Maintenance,
    widgets: WidgetIndex,
}

struct Tracked {
    state: AlertState,
    /// The value that decided last, as a notice quotes it.
    value: Reading,
    /// Whether the subject was bad at the last observation (for hysteresis).
    bad: bool,
    /// Its deadline as last pushed onto `Engine::deadlines`; an entry there that differs is
    /// stale.
    scheduled: Option<i64>,
}

/// What one message says to one of the rules of its topic.
enum Verdict {
    /// A stale rule's silence ends.
    Heard,
    Judged(bool, Reading),
}

pub struct Engine {
    store: Store,
    /// Woken when notices are queued, so they leave at once.
    outbox: Arc<Notify>,
    /// Prefix of the links in notices (the public URL, or nothing for a path alone).
    link_base: String,
    rules: Vec<AlertRule>,
    /// `Store::alert_rules_revision` when `rules` were read.
    rules_revision: Option<i64>,
    /// Per rule (by index), its topics' filter.
    filters: Vec<Option<TopicFilter>>,
    /// Rules by exact topic, and those with wildcards.
    exact: FastMap<String, Vec<usize>>,
    wildcard: Vec<usize>,
    by_device_rule: HashMap<i64, Vec<usize>>,
    index_of: FastMap<i64, usize>,
    /// The topics the rules read, each once, as the watcher subscribes to them.
    topic_filters: Vec<TopicFilter>,
    /// Each rule's states by subject, so that a message's topic finds its state as it is given
    /// (a `(rule, subject)` key would need a copy of the topic for every lookup).
    states: FastMap<i64, FastMap<String, Tracked>>,
    /// How many states there are in all, against [`MAX_SUBJECTS`].
    tracked: usize,
    /// Deadlines of states, earliest first. An entry whose time is not its state's `scheduled`
    /// is stale (the state moved on) and skipped; a state's deadline is pushed only when it
    /// changes, so messages that change nothing add nothing here.
    deadlines: BinaryHeap<Reverse<(i64, i64, String)>>,
    seeing: bool,
    covers: Vec<Cover>,
    /// Kept between messages so that judging one allocates nothing.
    matching: Vec<usize>,
    verdicts: Vec<(usize, Verdict)>,
}

impl Engine {
    /// An engine with the rules and states as stored.
    pub async fn start(
        store: Store,
        outbox: Arc<Notify>,
        link_base: String,
    ) -> anyhow::Result<Self> {
        let mut engine = Self {
            store,
            outbox,
            link_base: link_base.trim_end_matches('/').to_owned(),
            rules: Vec::new(),
            rules_revision: None,
            filters: Vec::new(),
            exact: FastMap::default(),
            wildcard: Vec::new(),
            by_device_rule: HashMap::new(),
            index_of: FastMap::default(),
            topic_filters: Vec::new(),
            states: FastMap::default(),
            tracked: 0,
            deadlines: BinaryHeap::new(),
            seeing: false,
            covers: Vec::new(),
            matching: Vec::new(),
            verdicts: Vec::new(),
        };
        for stored in engine.store.alert_states().await? {
            let Ok(state) = serde_json::from_str::<AlertState>(&stored.state) else {
                tracing::warn!(rule = stored.rule_id, subject = %stored.subject,
                    "an alert state cannot be read; starting it afresh");
                continue;
            };
            let bad = state.bad_since_ms().is_some();
            engine.tracked += 1;
            engine.states.entry(stored.rule_id).or_default().insert(
                stored.subject,
                Tracked {
                    state,
                    value: Reading::Text(stored.value),
                    bad,
                    scheduled: None,
                },
            );
        }
        Ok(engine)
    }

    fn tracked(&self, rule_id: i64, subject: &str) -> Option<&Tracked> {
        self.states.get(&rule_id)?.get(subject)
    }

    fn tracked_mut(&mut self, rule_id: i64, subject: &str) -> Option<&mut Tracked> {
        self.states.get_mut(&rule_id)?.get_mut(subject)
    }

    /// Every state's key.
    fn keys(&self) -> Vec<Key> {
        self.states
            .iter()
            .flat_map(|(rule_id, subjects)| {
                subjects.keys().map(|subject| (*rule_id, subject.clone()))
            })
            .collect()
    }

    /// Reads the rules again if they changed; a changed set is indexed anew, states of rules
    /// gone are dropped, and new rules start from what is known now: device rules from each
    /// device's last recorded state, stale rules counting their silence from now.
    pub async fn refresh_rules(
        &mut self,
        devices: &HashMap<DeviceKey, (Seen, i64)>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        // Read before the rules: a change after it is in them or moves it again.
        let revision = self.store.alert_rules_revision().await?;
        if self.rules_revision == Some(revision) {
            return Ok(());
        }
        let rules: Vec<AlertRule> = self
            .store
            .alert_rules()
            .await?
            .into_iter()
            .filter(|rule| rule.enabled)
            .collect();
        self.rules_revision = Some(revision);
        if rules == self.rules {
            return Ok(());
        }
        // A rule whose condition changed starts afresh (its stored states were deleted with
        // the change); one whose timing, name or channels changed keeps its states.
        let before: HashMap<i64, Condition> = self
            .rules
            .iter()
            .map(|rule| (rule.id, rule.condition.clone()))
            .collect();
        let changed: HashSet<i64> = rules
            .iter()
            .filter(|rule| {
                before
                    .get(&rule.id)
                    .is_some_and(|old| *old != rule.condition)
            })
            .map(|rule| rule.id)
            .collect();
        self.states.retain(|rule, _| !changed.contains(rule));
        self.rules = rules;
        self.filters = self
            .rules
            .iter()
            .map(|rule| {
                rule.condition
                    .topics()
                    .and_then(|topics| TopicFilter::parse(topics).ok())
            })
            .collect();
        self.exact.clear();
        self.wildcard.clear();
        self.by_device_rule.clear();
        self.index_of.clear();
        for (index, rule) in self.rules.iter().enumerate() {
            self.index_of.insert(rule.id, index);
            if let Some(filter) = &self.filters[index] {
                if filter.single_level_wildcards() == 0 && !filter.has_multi_level_wildcard() {
                    self.exact
                        .entry(filter.as_str().to_owned())
                        .or_default()
                        .push(index);
                } else {
                    self.wildcard.push(index);
                }
            }
            if let Condition::DeviceOffline { device_rule, .. } = rule.condition {
                self.by_device_rule
                    .entry(device_rule)
                    .or_default()
                    .push(index);
            }
        }
        let live: HashSet<i64> = self.rules.iter().map(|r| r.id).collect();
        self.states.retain(|rule, _| live.contains(rule));
        self.tracked = self.states.values().map(FastMap::len).sum();
        self.topic_filters = self.filters.iter().flatten().cloned().collect();
        self.topic_filters
            .sort_by(|a, b| a.as_str().cmp(b.as_str()));
        self.topic_filters.dedup_by(|a, b| a.as_str() == b.as_str());

        // New rules start from what is known.
        let mut starts = Vec::new();
        for rule in &self.rules {
            match &rule.condition {
                Condition::DeviceOffline { device_rule, .. } => {
                    for ((liveness, device), (seen, at_ms)) in devices {
                        if liveness == device_rule && self.tracked(rule.id, device).is_none() {
                            starts.push((rule.id, device.clone(), Start::Device(*seen, *at_ms)));
                        }
                    }
                }
                Condition::Stale { .. } if self.tracked(rule.id, "").is_none() => {
                    starts.push((rule.id, String::new(), Start::Silence));
                }
                _ => {}
            }
        }
        for (rule_id, subject, start) in starts {
            match start {
                Start::Device(seen, at_ms) => {
                    self.device_rule_seen(rule_id, &subject, seen, at_ms.min(now_ms), now_ms)
                        .await?
                }
                Start::Silence => {
                    let Some(index) = self.index_of.get(&rule_id).copied() else {
                        continue;
                    };
                    self.observe(index, "", now_ms, true, Reading::default())
                        .await?
                }
            }
        }
        // Every state's deadline under the rules as they are now.
        self.deadlines.clear();
        for tracked in self.states.values_mut().flat_map(FastMap::values_mut) {
            tracked.scheduled = None;
        }
        self.schedule_all();
        Ok(())
    }

    fn schedule_all(&mut self) {
        for (rule_id, subject) in self.keys() {
            if let Some(index) = self.index_of.get(&rule_id).copied() {
                self.schedule(index, &subject);
            }
        }
    }

    /// Reads the maintenance windows again, and tells what the windows that ended kept from
    /// the channels.
    pub async fn refresh_maintenance(&mut self, now_ms: i64) -> anyhow::Result<()> {
        let now = DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_else(Utc::now);
        self.covers = self
            .store
            .maintenance_coverage(now)
            .await?
            .into_iter()
            .map(|(window, widgets)| Cover {
                window,
                widgets: WidgetIndex::new(&widgets),
            })
            .collect();
        let owed: Vec<Key> = self
            .states
            .iter()
            .flat_map(|(rule_id, subjects)| {
                subjects
                    .iter()
                    .filter(|(_, tracked)| tracked.state.owes_word())
                    .map(|(subject, _)| (*rule_id, subject.clone()))
            })
            .collect();
        for (rule_id, subject) in owed {
            let Some(index) = self.index_of.get(&rule_id).copied() else {
                continue;
            };
            if !self.runs(index) {
                continue;
            }
            let Some(tracked) = self.tracked(rule_id, &subject) else {
                continue;
            };
            let before = (tracked.state.is_firing(), tracked.state.is_flapping());
            self.settle(index, &subject, before, Vec::new(), now_ms)
                .await?;
        }
        Ok(())
    }

    /// Whether a maintenance window in effect at `at_ms` covers what rule `index` says of
    /// `subject`.
    fn muted(&self, index: usize, subject: &str, at_ms: i64) -> bool {
        let condition = &self.rules[index].condition;
        let watched = self.filters[index].as_ref();
        self.covers
            .iter()
            .filter(|cover| cover.window.active_at(at_ms))
            .any(|cover| cover.widgets.concerns(condition, watched, subject))
    }

    /// A live message of `topic`, received at `at_ms`.
    pub async fn message(&mut self, topic: &str, payload: &[u8], at_ms: i64) -> anyhow::Result<()> {
        if !self.seeing {
            return Ok(());
        }
        let mut matching = std::mem::take(&mut self.matching);
        matching.clear();
        matching.extend(self.exact.get(topic).into_iter().flatten().copied());
        matching.extend(self.wildcard.iter().copied().filter(|&index| {
            self.filters[index]
                .as_ref()
                .is_some_and(|f| f.matches(topic))
        }));
        // Judged first, all of them, so that rules reading the same field read it once.
        let mut verdicts = std::mem::take(&mut self.verdicts);
        verdicts.clear();
        {
            let mut fields = FieldsRead::new(payload);
            for &index in &matching {
                let rule = &self.rules[index];
                let verdict = match &rule.condition {
                    Condition::Stale { .. } => Verdict::Heard,
                    condition => {
                        let was_bad = self
                            .tracked(rule.id, topic)
                            .is_some_and(|tracked| tracked.bad);
                        let Some((bad, value)) = condition.judge_fields(&mut fields, was_bad)
                        else {
                            continue;
                        };
                        Verdict::Judged(bad, value)
                    }
                };
                verdicts.push((index, verdict));
            }
        }
        self.matching = matching;
        for (index, verdict) in verdicts.drain(..) {
            match verdict {
                Verdict::Heard => {
                    // The silence ends with this message and starts again after it.
                    self.observe(index, "", at_ms, false, Reading::default())
                        .await?;
                    self.observe(index, "", at_ms, true, Reading::default())
                        .await?;
                }
                Verdict::Judged(bad, value) => {
                    self.observe(index, topic, at_ms, bad, value).await?;
                }
            }
        }
        self.verdicts = verdicts;
        Ok(())
    }

    /// After messages were missed (the watcher fell behind the hub), each topic's newest one
    /// the hub still holds, oldest first, as if it had just arrived.
    pub async fn catch_up(
        &mut self,
        newest: &HashMap<Arc<str>, Arc<LiveEvent>>,
    ) -> anyhow::Result<()> {
        let mut events: Vec<&Arc<LiveEvent>> = newest
            .values()
            .filter(|event| !event.retain && self.is_watched(&event.topic))
            .collect();
        events.sort_by_key(|event| event.seq);
        tracing::info!(
            topics = events.len(),
            "alert rules catch up on missed messages"
        );
        for event in events {
            let at_ms = event.received_at.timestamp_millis();
            self.message(&event.topic, &event.payload, at_ms).await?;
        }
        Ok(())
    }

    fn is_watched(&self, topic: &str) -> bool {
        self.exact.contains_key(topic)
            || self.wildcard.iter().any(|&index| {
                self.filters[index]
                    .as_ref()
                    .is_some_and(|f| f.matches(topic))
            })
    }

    /// A device's recorded change of liveness, under liveness rule `liveness_rule`.
    pub async fn device_changed(
        &mut self,
        (liveness_rule, device): &DeviceKey,
        seen: Seen,
        at_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let rules: Vec<i64> = self
            .by_device_rule
            .get(liveness_rule)
            .into_iter()
            .flatten()
            .map(|&index| self.rules[index].id)
            .collect();
        for rule_id in rules {
            self.device_rule_seen(rule_id, device, seen, at_ms, now_ms)
                .await?;
        }
        Ok(())
    }

    async fn device_rule_seen(
        &mut self,
        rule_id: i64,
        device: &str,
        seen: Seen,
        at_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let Some(index) = self.index_of.get(&rule_id).copied() else {
            return Ok(());
        };
        let word = match seen {
            Seen::Up => "online",
            Seen::Down => "offline",
            Seen::Unknown => "unknown",
        };
        let bad = self.rules[index].condition.device_is_bad(seen);
        self.observe(index, device, at_ms, bad, Reading::Text(word.to_owned()))
            .await?;
        // A change dated in the past may have run out its duration already.
        self.advance(rule_id, device, now_ms).await
    }

    /// What a look of the uptime watcher saw of Lookout itself.
    pub async fn sight(&mut self, sight: Sight, now_ms: i64) -> anyhow::Result<()> {
        if sight.seeing && !self.seeing {
            // Sight is back: silences and pending durations count from now.
            for tracked in self.states.values_mut().flat_map(FastMap::values_mut) {
                tracked.state.recount_from(now_ms);
            }
            self.seeing = true;
            self.schedule_all();
        }
        self.seeing = sight.seeing;
        let lookout: Vec<(usize, LookoutCheck)> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| match rule.condition {
                Condition::Lookout { check } => Some((index, check)),
                _ => None,
            })
            .collect();
        for (index, check) in lookout {
            let (bad, value) = match check {
                LookoutCheck::CannotSee => (!sight.seeing, String::new()),
                LookoutCheck::StorageFailing => (sight.storage_failing, String::new()),
                LookoutCheck::IngestBehind { seconds } => (
                    sight.behind_seconds > f64::from(seconds),
                    format!("{:.0} s behind", sight.behind_seconds),
                ),
            };
            self.observe(index, check.subject(), now_ms, bad, Reading::Text(value))
                .await?;
        }
        Ok(())
    }

    /// Whether it last heard that Lookout can see.
    pub fn is_seeing(&self) -> bool {
        self.seeing
    }

    /// When the next deadline falls, if any.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.deadlines.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Advances every state whose deadline has come by `now_ms`.
    pub async fn due(&mut self, now_ms: i64) -> anyhow::Result<()> {
        while let Some(Reverse((at, _, _))) = self.deadlines.peek() {
            if *at > now_ms {
                break;
            }
            let Some(Reverse((at, rule_id, subject))) = self.deadlines.pop() else {
                break;
            };
            let Some(tracked) = self
                .tracked_mut(rule_id, &subject)
                .filter(|tracked| tracked.scheduled == Some(at))
            else {
                continue;
            };
            tracked.scheduled = None;
            self.advance(rule_id, &subject, now_ms).await?;
        }
        Ok(())
    }

    /// Whether a rule's timers run now: Lookout's own always, the others while it can see.
    fn runs(&self, index: usize) -> bool {
        self.seeing || matches!(self.rules[index].condition, Condition::Lookout { .. })
    }

    async fn observe(
        &mut self,
        index: usize,
        subject: &str,
        at_ms: i64,
        bad: bool,
        value: Reading,
    ) -> anyhow::Result<()> {
        let rule_id = self.rules[index].id;
        let timing = self.rules[index].timing;
        let runs = self.runs(index);
        // One lookup of the rule's subjects and, for a subject already tracked (nearly every
        // message), two of the subject: this runs for every message a rule reads.
        let subjects = self.states.entry(rule_id).or_default();
        if !subjects.contains_key(subject) {
            if self.tracked >= MAX_SUBJECTS {
                tracing::debug!(
                    rule = rule_id,
                    "alert rules watch as many subjects as they may"
                );
                return Ok(());
            }
            if subjects.len() >= MAX_SUBJECTS_PER_RULE {
                tracing::debug!(
                    rule = rule_id,
                    "an alert rule watches as many subjects as it may"
                );
                return Ok(());
            }
            subjects.insert(
                subject.to_owned(),
                Tracked {
                    state: AlertState::default(),
                    value: Reading::default(),
                    bad: false,
                    scheduled: None,
                },
            );
            self.tracked += 1;
        }
        let tracked = subjects.get_mut(subject).expect("inserted above");
        if !value.is_empty() || !bad {
            tracked.value = value;
        }
        tracked.bad = bad;
        let before = (tracked.state.is_firing(), tracked.state.is_flapping());
        let owed = tracked.state.owes_word();
        let told = if runs {
            tracked.state.observe(&timing, at_ms, bad)
        } else {
            Vec::new()
        };
        let after = (tracked.state.is_firing(), tracked.state.is_flapping());
        if told.is_empty() && before == after && !owed {
            // What most messages come to: nothing to tell or write, muted or not (`pass` would
            // pass nothing on), at most a new deadline (a badness began or ended).
            if tracked.state.next_deadline_ms(&timing) != tracked.scheduled {
                self.schedule(index, subject);
            }
            return Ok(());
        }
        self.settle(index, subject, before, told, at_ms).await
    }

    async fn advance(&mut self, rule_id: i64, subject: &str, now_ms: i64) -> anyhow::Result<()> {
        let Some(index) = self.index_of.get(&rule_id).copied() else {
            return Ok(());
        };
        if !self.runs(index) {
            return Ok(());
        }
        let timing = self.rules[index].timing;
        let Some(tracked) = self.tracked_mut(rule_id, subject) else {
            return Ok(());
        };
        let before = (tracked.state.is_firing(), tracked.state.is_flapping());
        let told = tracked.state.advance(&timing, now_ms);
        self.settle(index, subject, before, told, now_ms).await
    }

    /// Writes a state that moved, with the notices it causes, and sets its next deadline.
    async fn settle(
        &mut self,
        index: usize,
        subject: &str,
        before: (bool, bool),
        told: Vec<Told>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let muted = self.muted(index, subject, now_ms);
        let rule = &self.rules[index];
        let timing = rule.timing;
        let Some(tracked) = self
            .states
            .get_mut(&rule.id)
            .and_then(|subjects| subjects.get_mut(subject))
        else {
            return Ok(());
        };
        let owed_before = tracked.state.owes_word();
        let told = tracked.state.pass(&timing, before.0, muted, now_ms, told);
        let after = (tracked.state.is_firing(), tracked.state.is_flapping());
        if told.is_empty() && before == after && owed_before == tracked.state.owes_word() {
            self.schedule(index, subject);
            return Ok(());
        }
        let value = tracked.value.words();
        let mut notices = Vec::new();
        for told in &told {
            let (state, since_ms) = match *told {
                Told::Firing { since_ms } => (NoticeState::Firing, since_ms),
                Told::Reminder { since_ms } => (NoticeState::Reminder, since_ms),
                Told::Resolved { since_ms } => (NoticeState::Resolved, since_ms),
                Told::Flapping { .. } => (NoticeState::Flapping, now_ms),
                Told::Steady { since_ms, .. } => (NoticeState::Steady, since_ms),
            };
            let notice = Notice {
                id: 0,
                rule: rule.name.clone(),
                subject: rule.condition.subject_words(subject),
                state,
                severity: rule.severity,
                since: time_words(since_ms),
                value: value.clone(),
                link: link(&self.link_base, &rule.condition, subject),
            };
            tracing::info!(rule = %rule.name, subject = %notice.subject, state = notice.state.as_str(),
                "alert");
            for channel in &rule.channels {
                notices.push((*channel, notice.clone()));
            }
        }
        let stored = StoredState {
            rule_id: rule.id,
            subject: subject.to_owned(),
            state: serde_json::to_string(&tracked.state)?,
            firing: tracked.state.is_firing(),
            since: tracked
                .state
                .bad_since_ms()
                .filter(|_| tracked.state.is_firing())
                .and_then(DateTime::<Utc>::from_timestamp_millis),
            value,
            updated_at: Utc::now(),
        };
        let queued = self.store.record_alert(&stored, &notices).await?;
        if !queued.is_empty() {
            self.outbox.notify_one();
        }
        self.schedule(index, subject);
        Ok(())
    }

    /// Pushes the state's deadline if it changed.
    fn schedule(&mut self, index: usize, subject: &str) {
        let rule = &self.rules[index];
        let Some(tracked) = self
            .states
            .get_mut(&rule.id)
            .and_then(|subjects| subjects.get_mut(subject))
        else {
            return;
        };
        let next = tracked.state.next_deadline_ms(&rule.timing);
        if next != tracked.scheduled {
            tracked.scheduled = next;
            if let Some(at) = next {
                self.deadlines
                    .push(Reverse((at, rule.id, subject.to_owned())));
            }
        }
    }

    /// The topics the rules read, each once.
    pub fn filters(&self) -> &[TopicFilter] {
        &self.topic_filters
    }
}

/// Where a notice about `subject` links to, after `base`.
fn link(base: &str, condition: &Condition, subject: &str) -> String {
    let path = match condition {
        Condition::Threshold { .. } | Condition::Field { .. } => topic_path(subject),
        Condition::DeviceOffline { .. } => "/devices".to_owned(),
        Condition::Stale { .. } => "/topics".to_owned(),
        Condition::Lookout { .. } => "/".to_owned(),
    };
    format!("{base}{path}")
}

enum Start {
    Device(Seen, i64),
    Silence,
}

fn time_words(at_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(at_ms)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}
