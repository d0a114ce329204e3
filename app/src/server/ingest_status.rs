//! How ingest is doing: the broker connection, its last error, and what has been received,
//! stored and refused. Ingest and the writer report into [`IngestStatus`]; pages read its view
//! ([`IngestStatusView`]), which needs no database, so it still answers while the database is
//! down.

use crate::domain::ingest_status::{
    BackfillProgress, FailingChannel, IngestStatusView, MinuteTrend, RollupsBehind,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared by ingest (which reports), the writer (which counts what it stored) and the pages
/// (which read). Counters are atomics because they change per message; the rest changes
/// only with the connection and sits behind a lock.
#[derive(Clone, Debug)]
pub struct IngestStatus {
    counters: Arc<Counters>,
    connection: Arc<Mutex<Connection>>,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    stored: AtomicU64,
    oversized: AtomicU64,
    unstorable: AtomicU64,
    acknowledged: AtomicU64,
    /// Acknowledgements for messages of an earlier connection, never sent (the broker
    /// redelivers those messages).
    acks_dropped: AtomicU64,
    storage_failures: AtomicU64,
    storage_lag_ms: AtomicU64,
    queue_depth: QueueProbe,
    batch_size: Histogram<8>,
    commit_seconds: Histogram<11>,
}

/// Reads the depth of the queue in front of the writer when asked, so the number is never
/// stale and receiving a message costs no extra write.
#[derive(Default)]
struct QueueProbe(std::sync::OnceLock<Box<dyn Fn() -> usize + Send + Sync>>);

impl std::fmt::Debug for QueueProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueProbe")
    }
}

/// A Prometheus histogram with fixed upper bounds; the last bucket is +Inf.
#[derive(Debug)]
struct Histogram<const N: usize> {
    bounds: [f64; N],
    buckets: [AtomicU64; N],
    count: AtomicU64,
    /// The sum, in millionths, so it can be an atomic integer.
    sum_micros: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    fn new(bounds: [f64; N]) -> Self {
        Self {
            bounds,
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: f64) {
        if let Some(bucket) = self.bounds.iter().position(|bound| value <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

impl Default for Histogram<8> {
    fn default() -> Self {
        Self::new([1.0, 10.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0])
    }
}

impl Default for Histogram<11> {
    fn default() -> Self {
        Self::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ])
    }
}

#[derive(Debug)]
struct Connection {
    broker: String,
    connected: bool,
    since_ms: i64,
    last_error: Option<(i64, String)>,
    connections: u64,
    last_oversized_topic: Option<String>,
    storage_error: Option<String>,
    /// Whether the live feed's own connection is up; `None` without one (a single instance,
    /// whose ingest connection feeds the live views).
    live_feed_connected: Option<bool>,
    trend: Trend,
    history_backfill: Option<BackfillProgress>,
    rollups_behind: Option<RollupsBehind>,
    failing_channels: Vec<FailingChannel>,
    rollup_deltas_waiting: u64,
}

/// How often [`IngestStatus::record_trend`] reads the figures for the trend.
pub const TREND_READING_INTERVAL: Duration = Duration::from_secs(10);
/// How many minutes the trend keeps: the last hour.
const TREND_MINUTES: usize = 60;

/// The last hour of readings, folded a minute at a time: bounded whatever the traffic.
#[derive(Debug, Default)]
struct Trend {
    minutes: VecDeque<MinuteReadings>,
}

#[derive(Clone, Copy, Debug)]
struct MinuteReadings {
    start_ms: i64,
    first: (i64, u64),
    last: (i64, u64),
    max_backlog: u64,
    max_lag_ms: u64,
}

impl Trend {
    /// Folds in a reading at `at_ms`: `received` so far, `backlog` and `lag_ms` now.
    fn record(&mut self, at_ms: i64, received: u64, backlog: u64, lag_ms: u64) {
        let start_ms = at_ms - at_ms.rem_euclid(60_000);
        match self.minutes.back_mut() {
            Some(minute) if minute.start_ms == start_ms => {
                minute.last = (at_ms, received);
                minute.max_backlog = minute.max_backlog.max(backlog);
                minute.max_lag_ms = minute.max_lag_ms.max(lag_ms);
            }
            _ => {
                self.minutes.push_back(MinuteReadings {
                    start_ms,
                    first: (at_ms, received),
                    last: (at_ms, received),
                    max_backlog: backlog,
                    max_lag_ms: lag_ms,
                });
                while self.minutes.len() > TREND_MINUTES {
                    self.minutes.pop_front();
                }
            }
        }
    }

    /// Each minute's rate counts from the last reading before it when that is the minute just
    /// before (so no message falls between two minutes), else from its own first reading.
    fn minutes(&self) -> Vec<MinuteTrend> {
        let mut previous: Option<&MinuteReadings> = None;
        self.minutes
            .iter()
            .map(|minute| {
                let from = match previous {
                    Some(before) if before.start_ms + 60_000 == minute.start_ms => before.last,
                    _ => minute.first,
                };
                previous = Some(minute);
                let seconds = (minute.last.0 - from.0) as f64 / 1000.0;
                MinuteTrend {
                    start_ms: minute.start_ms,
                    rate: (seconds > 0.0)
                        .then(|| minute.last.1.saturating_sub(from.1) as f64 / seconds),
                    backlog: minute.max_backlog,
                    lag_ms: minute.max_lag_ms,
                }
            })
            .collect()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl IngestStatus {
    pub fn new(broker: impl Into<String>) -> Self {
        Self {
            counters: Arc::default(),
            connection: Arc::new(Mutex::new(Connection {
                broker: broker.into(),
                connected: false,
                since_ms: now_ms(),
                last_error: None,
                connections: 0,
                last_oversized_topic: None,
                storage_error: None,
                live_feed_connected: None,
                trend: Trend::default(),
                history_backfill: None,
                rollups_behind: None,
                failing_channels: Vec::new(),
                rollup_deltas_waiting: 0,
            })),
        }
    }

    fn with_connection<T>(&self, change: impl FnOnce(&mut Connection) -> T) -> T {
        // A panic elsewhere while holding the lock leaves plain data behind; keep using it.
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut connection)
    }

    pub fn connected(&self) {
        self.with_connection(|c| {
            c.connected = true;
            c.since_ms = now_ms();
            c.connections += 1;
        });
    }

    pub fn is_connected(&self) -> bool {
        self.with_connection(|c| c.connected)
    }

    pub fn disconnected(&self, error: impl ToString) {
        self.with_connection(|c| {
            let now = now_ms();
            if c.connected {
                c.since_ms = now;
            }
            c.connected = false;
            c.last_error = Some((now, error.to_string()));
        });
    }

    pub fn live_feed_connected(&self, connected: bool) {
        self.with_connection(|c| c.live_feed_connected = Some(connected));
    }

    /// Every broker connection this instance holds is up.
    pub fn is_fully_connected(&self) -> bool {
        self.with_connection(|c| c.connected && c.live_feed_connected != Some(false))
    }

    pub fn received(&self) {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn oversized(&self, topic: &str) {
        self.counters.oversized.fetch_add(1, Ordering::Relaxed);
        self.with_connection(|c| c.last_oversized_topic = Some(topic.to_owned()));
    }

    /// A message that will not be stored, for `reason` (never its topic: it may be
    /// anything, of any size).
    pub fn unstorable(&self, reason: &str) {
        self.counters.unstorable.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(reason, "counted as unstorable");
    }

    /// Storing works or fails: the last attempt to commit failed for a reason other than
    /// the rows themselves (the database is away, full, read-only).
    pub fn is_storage_failing(&self) -> bool {
        self.with_connection(|c| c.storage_error.is_some())
    }

    /// A batch of `size` messages committed in `commit`, `lag` after its oldest message was
    /// received: they are stored, and storing works.
    pub fn batch_committed(
        &self,
        size: usize,
        commit: std::time::Duration,
        lag: std::time::Duration,
    ) {
        self.counters
            .storage_lag_ms
            .store(lag.as_millis() as u64, Ordering::Relaxed);
        self.counters
            .stored
            .fetch_add(size as u64, Ordering::Relaxed);
        self.counters.batch_size.observe(size as f64);
        self.counters.commit_seconds.observe(commit.as_secs_f64());
        self.with_connection(|c| c.storage_error = None);
    }

    pub fn acknowledged(&self, count: usize) {
        self.counters
            .acknowledged
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    pub fn acks_dropped(&self, count: usize) {
        self.counters
            .acks_dropped
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    /// How to read the number of messages waiting between the broker connection and the
    /// writer; set once at start-up.
    pub fn watch_queue(&self, depth: impl Fn() -> usize + Send + Sync + 'static) {
        let _ = self.counters.queue_depth.0.set(Box::new(depth));
    }

    pub fn storage_failed(&self, error: impl ToString) {
        self.counters
            .storage_failures
            .fetch_add(1, Ordering::Relaxed);
        let error = error.to_string();
        self.with_connection(|c| c.storage_error = Some(error));
    }

    /// Reads the figures into the trend every [`TREND_READING_INTERVAL`] until `stopping` says
    /// so (or its sender is gone): the overview's trends need readings whether or not anyone is
    /// looking.
    pub async fn record_trend(self, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let mut readings = tokio::time::interval(TREND_READING_INTERVAL);
        readings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = readings.tick() => {}
                // Stopping, or nobody left to say so.
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            let view = self.view();
            self.with_connection(|c| {
                c.trend.record(
                    view.server_now_ms,
                    view.received,
                    view.backlog(),
                    view.storage_lag_ms,
                )
            });
        }
    }

    /// The figures now and the last hour's trend, as the overview shows them.
    pub fn view_with_trend(&self) -> IngestStatusView {
        IngestStatusView {
            trend: self.with_connection(|c| c.trend.minutes()),
            ..self.view()
        }
    }

    /// The figures now, without the trend (left empty): what the metrics and the CLI read.
    pub fn view(&self) -> IngestStatusView {
        let counters = &self.counters;
        self.with_connection(|c| IngestStatusView {
            broker: c.broker.clone(),
            connected: c.connected,
            since_ms: c.since_ms,
            last_error: c.last_error.as_ref().map(|(_, error)| error.clone()),
            last_error_at_ms: c.last_error.as_ref().map(|(at, _)| *at),
            reconnects: c.connections.saturating_sub(1),
            received: counters.received.load(Ordering::Relaxed),
            stored: counters.stored.load(Ordering::Relaxed),
            oversized: counters.oversized.load(Ordering::Relaxed),
            unstorable: counters.unstorable.load(Ordering::Relaxed),
            last_oversized_topic: c.last_oversized_topic.clone(),
            storage_error: c.storage_error.clone(),
            storage_lag_ms: counters.storage_lag_ms.load(Ordering::Relaxed),
            server_now_ms: now_ms(),
            trend: Vec::new(),
            history_backfill: c.history_backfill,
            rollups_behind: c.rollups_behind.clone(),
            failing_channels: c.failing_channels.clone(),
        })
    }

    /// Where the roll-up of older history stands (`None` once it is done or never was needed),
    /// for the overview.
    pub fn set_history_backfill(&self, progress: Option<BackfillProgress>) {
        self.with_connection(|c| c.history_backfill = progress);
    }

    /// The alert channels failing now, as the outbox's sender last read them.
    pub fn set_failing_channels(&self, channels: Vec<FailingChannel>) {
        self.with_connection(|c| c.failing_channels = channels);
    }

    /// What the fold of rollup deltas last found waiting, and whether that is a problem to show.
    pub fn set_rollups(&self, waiting: u64, behind: Option<RollupsBehind>) {
        self.with_connection(|c| {
            c.rollup_deltas_waiting = waiting;
            c.rollups_behind = behind;
        });
    }
}

impl IngestStatus {
    /// The metrics in Prometheus' text format (version 0.0.4), for `/metrics`.
    pub fn prometheus_text(&self) -> String {
        use std::fmt::Write;
        let view = self.view();
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "lookout_broker_connected",
            "gauge",
            "1 while connected to the broker, else 0.",
            u64::from(view.connected),
        );
        if let Some(connected) = self.with_connection(|c| c.live_feed_connected) {
            metric(
                "lookout_live_feed_connected",
                "gauge",
                "1 while the live feed's own broker connection (shared groups) is up, else 0.",
                u64::from(connected),
            );
        }
        metric(
            "lookout_rollup_deltas_waiting",
            "gauge",
            "Minutes of values stored but not yet folded into the rollups, at the last look.",
            self.with_connection(|c| c.rollup_deltas_waiting),
        );
        metric(
            "lookout_broker_reconnects_total",
            "counter",
            "Connections to the broker after the first.",
            view.reconnects,
        );
        metric(
            "lookout_messages_received_total",
            "counter",
            "Messages received from the broker.",
            view.received,
        );
        metric(
            "lookout_messages_stored_total",
            "counter",
            "Messages committed to PostgreSQL.",
            view.stored,
        );
        metric(
            "lookout_messages_rejected_total",
            "counter",
            "Messages over the size limit: acknowledged, not stored.",
            view.oversized,
        );
        metric(
            "lookout_messages_unstorable_total",
            "counter",
            "Messages whose topic or row cannot be stored: acknowledged, set aside, not stored.",
            view.unstorable,
        );
        metric(
            "lookout_messages_acknowledged_total",
            "counter",
            "QoS 1/2 messages acknowledged to the broker after their commit.",
            load(&c.acknowledged),
        );
        metric(
            "lookout_acks_dropped_total",
            "counter",
            "Acknowledgements not sent because the connection changed; the broker redelivers.",
            load(&c.acks_dropped),
        );
        metric(
            "lookout_storage_failures_total",
            "counter",
            "Failed attempts to commit a batch (each is retried).",
            load(&c.storage_failures),
        );
        metric(
            "lookout_storage_failing",
            "gauge",
            "1 while the last attempt to commit a batch failed.",
            u64::from(view.storage_error.is_some()),
        );
        metric(
            "lookout_ingest_queue_depth",
            "gauge",
            "Messages waiting between the broker connection and the writer.",
            c.queue_depth.0.get().map_or(0, |depth| depth() as u64),
        );
        metric(
            "lookout_ingest_backlog",
            "gauge",
            "Messages received but not yet stored or rejected.",
            view.backlog(),
        );
        c.batch_size.write(
            &mut out,
            "lookout_batch_size",
            "Messages per committed batch.",
        );
        c.commit_seconds.write(
            &mut out,
            "lookout_batch_commit_seconds",
            "Time to write and commit one batch.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{IngestStatus, Trend, TREND_MINUTES};

    #[test]
    fn the_trend_keeps_an_hour_of_minutes_with_rates_across_their_edges_and_gaps_left_out() {
        let mut trend = Trend::default();
        let minute = 60_000;
        // 100 msg/s for three minutes, read every 10 s.
        for reading in 0..18 {
            let at = 10 * minute + reading * 10_000;
            trend.record(at, (reading as u64) * 1000, reading as u64, 5);
        }
        // Not running for five minutes, then quiet.
        trend.record(18 * minute, 17_000, 0, 0);
        trend.record(18 * minute + 30_000, 17_000, 0, 0);
        let minutes = trend.minutes();
        assert_eq!(
            minutes
                .iter()
                .map(|m| m.start_ms / minute)
                .collect::<Vec<_>>(),
            [10, 11, 12, 18]
        );
        // The second minute counts from the first one's last reading: every message counted.
        assert_eq!(minutes[1].rate, Some(100.0));
        assert_eq!(minutes[2].rate, Some(100.0));
        assert_eq!(minutes[2].backlog, 17);
        assert_eq!(
            minutes[3].rate,
            Some(0.0),
            "after a gap, from its own first reading"
        );
        for extra in 0..200 {
            trend.record((20 + extra) * minute, 0, 0, 0);
        }
        assert_eq!(trend.minutes().len(), TREND_MINUTES);
    }

    #[test]
    fn metrics_are_prometheus_text_with_cumulative_buckets() {
        let status = IngestStatus::new("mqtt://broker:1883");
        status.connected();
        status.batch_committed(3, std::time::Duration::from_millis(4), Default::default());
        status.batch_committed(
            1500,
            std::time::Duration::from_millis(30),
            Default::default(),
        );
        status.acknowledged(1503);
        status.watch_queue(|| 7);
        let text = status.prometheus_text();
        for line in [
            "lookout_broker_connected 1",
            "lookout_messages_stored_total 1503",
            "lookout_messages_acknowledged_total 1503",
            "lookout_ingest_queue_depth 7",
            "lookout_batch_size_bucket{le=\"10\"} 1",
            "lookout_batch_size_bucket{le=\"2000\"} 2",
            "lookout_batch_size_bucket{le=\"+Inf\"} 2",
            "lookout_batch_size_sum 1503",
            "lookout_batch_commit_seconds_bucket{le=\"0.005\"} 1",
            "lookout_batch_commit_seconds_bucket{le=\"0.025\"} 1",
            "lookout_batch_commit_seconds_bucket{le=\"0.05\"} 2",
            "lookout_batch_commit_seconds_count 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        // Every sample line is "name value" or "name{labels} value".
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn the_view_follows_the_connection_and_keeps_the_last_error() {
        let status = IngestStatus::new("mqtt://broker:1883");
        assert!(!status.view().connected);
        status.connected();
        status.received();
        status.received();
        status.oversized("plant/camera");
        status.storage_failed("database unavailable");
        assert!(status.view().storage_error.is_some());
        status.batch_committed(1, std::time::Duration::from_millis(3), Default::default());
        status.disconnected("connection reset");
        status.connected();
        let view = status.view();
        assert!(view.connected);
        assert_eq!(view.reconnects, 1);
        assert_eq!(view.last_error.as_deref(), Some("connection reset"));
        assert_eq!((view.received, view.stored, view.oversized), (2, 1, 1));
        assert_eq!(view.backlog(), 0);
        assert_eq!(view.storage_error, None);
        assert_eq!(view.last_oversized_topic.as_deref(), Some("plant/camera"));
    }
}
