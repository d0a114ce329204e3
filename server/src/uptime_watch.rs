//! The uptime watcher: records every change of a device's liveness, with its cause and the
//! moment it happened, and the stretches in which Lookout could see at all, so status pages
//! compute availability exactly and show the rest as "no data" (`app::domain::uptime`).
//!
//! - Live messages come from the live hub as they arrive: the message that brings a device back,
//!   or its status report of offline, is recorded with its own time.
//! - Every [`TICK`] it looks at all devices as the device list decides them: silences (timed at
//!   the moment they passed the rule's grace), retained states, and whatever the stream missed.
//! - Uptime widgets bound to a topic rather than a device have their value's level against their
//!   thresholds recorded the same way: from each live message as it arrives, and from the
//!   topic's newest message at each look.
//! - Every tick it also extends its stretch of sight while the broker connection is up and
//!   storage works; an outage of either, or of Lookout, leaves a gap. Silences are measured from
//!   when it could see again, so Lookout's own outage never marks devices down.
//!
//! The alert engine (`alerts.rs`) runs inside the watcher, fed the same messages, the same
//! recorded changes and the same sight, so alerts and uptime bars never disagree on a device.
//!
//! One instance watches: the holder of a PostgreSQL advisory lock on a connection of its own. The
//! others try to take over every [`TAKE_OVER_EVERY`]; the one that does reads the last recorded
//! states and carries on, so a failover records nothing twice (a state equal to the last
//! recorded one is never recorded).

use crate::alerts::{Engine, Sight};
use app::domain::accounts::User;
use app::domain::liveness::LivenessRule;
use app::domain::roles::Role;
use app::domain::status_page::{Level, ThresholdWatch};
use app::domain::topic_filter::TopicFilter;
use app::domain::uptime::{self, Change, Seen};
use app::server::access::{Rules, Visitor};
use app::server::devices::find_devices;
use app::server::ingest_status::IngestStatus;
use app::server::live_hub::{Delivery, LiveHub, ReadGate};
use app::server::store::status_pages::TopicNewest;
use app::server::store::uptime::{DeviceKey, WatchLock};
use app::server::store::Store;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::MissedTickBehavior;

/// How often the watcher looks at every device and extends its stretch of sight.
pub const TICK: Duration = Duration::from_millis(uptime::WATCH_TICK_MS as u64);
/// Deliveries taken at once when more are queued, before the watcher's select looks at the clock
/// again.
const DRAIN: usize = 256;
/// After taking what was queued, the watcher waits this long for more to gather: otherwise
/// ingest wakes it for nearly every message, and a wake-up with the select's set-up costs more
/// than judging a message. Alerts and uptime changes come at most this much later.
const GATHER: Duration = Duration::from_millis(2);
/// How often an instance that does not watch tries to take over.
pub const TAKE_OVER_EVERY: Duration = Duration::from_secs(15);

/// Watches whenever this instance holds the lock, until `stopping`.
pub async fn run(
    store: Store,
    status: IngestStatus,
    hub: LiveHub,
    alerts: AlertsOutput,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        match store.try_watch_lock().await {
            Ok(Some(lock)) => {
                tracing::info!("watching devices' uptime");
                let mut watcher = Watcher::new(store.clone(), status.clone(), lock);
                match Engine::start(store.clone(), alerts.wake.clone(), alerts.link_base.clone())
                    .await
                {
                    Ok(engine) => watcher.alerts = Some(engine),
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "reading alert states failed")
                    }
                }
                match watcher.watch(&hub, &mut stopping).await {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), retry_in = ?TAKE_OVER_EVERY,
                            "watching uptime stopped")
                    }
                }
            }
            Ok(None) => tracing::debug!("another instance watches uptime"),
            Err(error) => tracing::warn!(%error, "taking the uptime watch failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(TAKE_OVER_EVERY) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// Where the alert engine's notices go: the outbox's sender to wake, and the links' prefix.
#[derive(Clone, Debug, Default)]
pub struct AlertsOutput {
    pub wake: Arc<Notify>,
    pub link_base: String,
}

struct Watcher {
    store: Store,
    /// `None` only when its states could not be read: then uptime is watched without alerts
    /// until the next take-over.
    alerts: Option<Engine>,
    status: IngestStatus,
    lock: WatchLock,
    /// Each device's state as recorded last, and since when.
    last: HashMap<DeviceKey, (Seen, i64)>,
    rules: Vec<LivenessRule>,
    /// What uptime widgets bound to a topic watch, by key, and each one's level as recorded
    /// last, and since when.
    watches: Vec<(String, ThresholdWatch)>,
    /// The topics the alert rules read, as subscribed.
    alert_filters: Vec<TopicFilter>,
    levels: HashMap<String, (Level, i64)>,
    /// The stretch of sight being extended and when it began; `None` while Lookout cannot see.
    span: Option<(i64, DateTime<Utc>)>,
}

impl Watcher {
    fn new(store: Store, status: IngestStatus, lock: WatchLock) -> Self {
        Self {
            store,
            alerts: None,
            status,
            lock,
            last: HashMap::new(),
            rules: Vec::new(),
            watches: Vec::new(),
            alert_filters: Vec::new(),
            levels: HashMap::new(),
            span: None,
        }
    }

    async fn watch(
        &mut self,
        hub: &LiveHub,
        stopping: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        self.last = self
            .store
            .last_device_states()
            .await?
            .into_iter()
            .map(|(key, state, at_ms)| (key, (state, at_ms)))
            .collect();
        self.levels = self
            .store
            .last_threshold_levels()
            .await?
            .into_iter()
            .map(|(key, level, at_ms)| (key, (level, at_ms)))
            .collect();
        // Lookout itself reads every topic, as an admin would.
        let reader = Visitor::SignedIn(User {
            id: 0,
            name: "uptime watcher".to_owned(),
            role: Role::Admin,
            disabled: false,
        });
        let gate = Arc::new(ReadGate::new(reader, Arc::new(Rules::default())));
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut subscription = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    self.lock.check().await?;
                    let rules = self.store.liveness_rules().await?;
                    let watches: Vec<(String, ThresholdWatch)> = self
                        .store
                        .threshold_watches()
                        .await?
                        .into_iter()
                        .map(|watch| (watch.key(), watch))
                        .collect();
                    if let Some(engine) = &mut self.alerts {
                        let now_ms = Utc::now().timestamp_millis();
                        engine.refresh_rules(&self.last, now_ms).await?;
                        engine.refresh_maintenance(now_ms).await?;
                    }
                    let alert_filters = self.alerts.as_ref().map_or(&[][..], Engine::filters);
                    if rules != self.rules
                        || watches != self.watches
                        || alert_filters != self.alert_filters.as_slice()
                        || subscription.is_none()
                    {
                        let alert_filters = alert_filters.to_vec();
                        let filters = rules
                            .iter()
                            .flat_map(|rule| {
                                std::iter::once(rule.devices.filter().clone())
                                    .chain(rule.status.iter().map(|s| s.filter().clone()))
                            })
                            .chain(watches.iter().filter_map(|(_, watch)| {
                                TopicFilter::parse(&watch.topic).ok()
                            }))
                            .chain(alert_filters.iter().cloned())
                            .collect();
                        self.alert_filters = alert_filters;
                        subscription = Some(hub.subscribe_own(filters, gate.clone()));
                        self.rules = rules;
                        self.watches = watches;
                    }
                    self.look().await?;
                }
                delivery = next(&mut subscription) => {
                    let Some(delivery) = delivery else {
                        return Ok(());
                    };
                    self.delivered(delivery, hub).await?;
                    // What else is queued already, before the select looks at its other
                    // branches again: each look costs more than a message that changes nothing.
                    let mut taken = 1;
                    while taken < DRAIN {
                        let Some(delivery) = subscription.as_mut().and_then(|s| s.try_next())
                        else {
                            break;
                        };
                        self.delivered(delivery, hub).await?;
                        taken += 1;
                    }
                    if taken < DRAIN {
                        tokio::time::sleep(GATHER).await;
                    }
                }
                _ = until(self.alerts.as_ref().and_then(Engine::next_deadline_ms)) => {
                    // A deadline may fall between looks just after the broker went away: look
                    // first, so that a silence Lookout could not observe holds.
                    let seeing =
                        self.status.is_fully_connected() && !self.status.is_storage_failing();
                    if self.alerts.as_ref().is_some_and(|engine| engine.is_seeing() != seeing) {
                        self.look().await?;
                    }
                    if let Some(engine) = &mut self.alerts {
                        engine.due(Utc::now().timestamp_millis()).await?;
                    }
                }
                _ = stopping.changed() => {
                    if let Some((id, _)) = self.span {
                        self.store.extend_watch_span(id, Utc::now()).await?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// What the live hub delivered.
    async fn delivered(&mut self, delivery: Delivery, hub: &LiveHub) -> anyhow::Result<()> {
        match delivery {
            Delivery::Message(event) if !event.retain && self.span.is_some() => {
                let at_ms = event.received_at.timestamp_millis();
                let changes: Vec<(DeviceKey, Change)> = self
                    .rules
                    .iter()
                    .filter_map(|rule| {
                        let (device, change) =
                            uptime::message_change(rule, &event.topic, &event.payload, at_ms)?;
                        Some(((rule.id, device.to_owned()), change))
                    })
                    .collect();
                for (key, change) in changes {
                    self.record(key, change).await?;
                }
                let levels: Vec<(String, Level, String)> = self
                    .watches
                    .iter()
                    .filter(|(_, watch)| *watch.topic == *event.topic)
                    .map(|(key, watch)| {
                        let (level, words) = watch.level(&event.payload);
                        (key.clone(), level, words)
                    })
                    .collect();
                for (key, level, words) in levels {
                    self.record_level(key, level, at_ms, &words).await?;
                }
                if let Some(engine) = &mut self.alerts {
                    engine.message(&event.topic, &event.payload, at_ms).await?;
                }
            }
            Delivery::Message(_) => {}
            // Missed messages: a look finds what they changed.
            Delivery::Resync(_) => {
                self.look().await?;
                // The alert engine judges each topic's newest message the hub still holds: a
                // crossing it missed is found, if not at its own moment.
                if let Some(engine) = &mut self.alerts {
                    engine.catch_up(&hub.newest_per_topic()).await?;
                }
            }
        }
        Ok(())
    }

    /// Extends or ends the stretch of sight, then looks at every device while Lookout can see.
    async fn look(&mut self) -> anyhow::Result<()> {
        let now = Utc::now();
        let seeing = self.status.is_fully_connected() && !self.status.is_storage_failing();
        self.span = match (self.span, seeing) {
            (Some((id, since)), true) => {
                self.store.extend_watch_span(id, now).await?;
                Some((id, since))
            }
            (None, true) => Some((self.store.open_watch_span(now).await?, now)),
            // Not seeing: the stretch ended at its last extension, and states are held.
            (_, false) => None,
        };
        if let Some(engine) = &mut self.alerts {
            let view = self.status.view();
            let sight = Sight {
                seeing,
                storage_failing: self.status.is_storage_failing(),
                behind_seconds: view.storage_lag_ms as f64 / 1000.0,
            };
            engine.sight(sight, now.timestamp_millis()).await?;
        }
        let Some((_, seeing_since)) = self.span else {
            return Ok(());
        };
        let now_ms = now.timestamp_millis();
        let devices = find_devices(&self.store, &self.rules, |_| true, now_ms).await?;
        for device in devices {
            let key = (device.rule_id, device.name.clone());
            let last = self.last.get(&key).copied();
            let seeing_since_ms = seeing_since.timestamp_millis();
            for change in uptime::sweep_change(&device, last, seeing_since_ms, now_ms) {
                self.record(key.clone(), change).await?;
            }
        }

        // Values against thresholds: the newest message of each watched topic, for what the
        // live stream missed; one the record is newer than is the database lagging.
        let mut topics: Vec<String> = self.watches.iter().map(|(_, w)| w.topic.clone()).collect();
        topics.sort_unstable();
        topics.dedup();
        if topics.is_empty() {
            return Ok(());
        }
        let newest: HashMap<String, TopicNewest> = self
            .store
            .newest_of_topics(&topics)
            .await?
            .into_iter()
            .map(|newest| (newest.topic.clone(), newest))
            .collect();
        let mut found = Vec::new();
        for (key, watch) in &self.watches {
            let Some(newest) = newest.get(&watch.topic) else {
                continue;
            };
            let recorded_at = self.levels.get(key).map_or(i64::MIN, |(_, at)| *at);
            if newest.received_at_ms < recorded_at {
                continue;
            }
            let (level, words) = watch.level(newest.payload.as_deref().unwrap_or_default());
            found.push((key.clone(), level, newest.received_at_ms, words));
        }
        for (key, level, at_ms, words) in found {
            self.record_level(key, level, at_ms, &words).await?;
        }
        Ok(())
    }

    async fn record_level(
        &mut self,
        key: String,
        level: Level,
        at_ms: i64,
        words: &str,
    ) -> anyhow::Result<()> {
        let last = self.levels.get(&key).copied();
        if last.is_some_and(|(recorded, _)| recorded == level) {
            return Ok(());
        }
        let at_ms = at_ms.max(last.map_or(i64::MIN, |(_, at)| at));
        self.store
            .record_threshold_change(&key, level, at_ms, words)
            .await?;
        self.levels.insert(key, (level, at_ms));
        Ok(())
    }

    async fn record(&mut self, key: DeviceKey, mut change: Change) -> anyhow::Result<()> {
        let last = self.last.get(&key).copied();
        if last.is_some_and(|(state, _)| state == change.state) {
            return Ok(());
        }
        if let Some((_, at_ms)) = last {
            change.at_ms = change.at_ms.max(at_ms);
        }
        if self.store.record_device_change(&key, &change).await? {
            tracing::debug!(rule = key.0, device = %key.1, state = ?change.state,
                cause = %change.cause, "device changed state");
        }
        if let Some(engine) = &mut self.alerts {
            engine
                .device_changed(
                    &key,
                    change.state,
                    change.at_ms,
                    Utc::now().timestamp_millis(),
                )
                .await?;
        }
        self.last.insert(key, (change.state, change.at_ms));
        Ok(())
    }
}

/// Sleeps until `deadline_ms` (now when it has passed), or forever without one.
async fn until(deadline_ms: Option<i64>) {
    match deadline_ms {
        Some(at) => {
            let wait = at - Utc::now().timestamp_millis();
            tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await
        }
        None => std::future::pending().await,
    }
}

/// The next delivery of the subscription, once there is one.
async fn next(subscription: &mut Option<app::server::live_hub::Subscription>) -> Option<Delivery> {
    match subscription {
        Some(subscription) => subscription.next().await,
        None => std::future::pending().await,
    }
}
