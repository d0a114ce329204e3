//! The week before the demo's first run, written on that run: what the simulated devices would
//! have published, stored through the same [`BatchWriter`] as ingest uses, so that charts,
//! sparklines and uptime bars have days to show at once rather than the minutes since the start.
//!
//! Whether anything is missing is read from the database, topic by topic: the history fills the
//! window up to the oldest message stored for the topic (up to now when there is none), newest
//! batch first. So a second run finds the window's start covered and writes nothing; a run stopped
//! midway leaves history reaching back from its end without a gap, which the next run completes;
//! and nothing is written where messages are stored already, so nothing is stored twice.

use super::devices::{Device, OFFLINE, ONLINE, PUMP_STEP};
use crate::config::RetentionSettings;
use anyhow::Context;
use app::domain::uptime::{Change, Seen};
use app::server::series_edits;
use app::server::store::batch_writer::{BatchWriter, NewMessage};
use app::server::store::Store;
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Instant;

/// How far back the history reaches (less for a topic retention keeps for a shorter time).
pub const WINDOW: TimeDelta = TimeDelta::days(7);
/// One reading per topic per minute, where the live devices send every few seconds: a week at
/// their pace would be some two million rows and minutes of writing, while a chart of days
/// draws buckets of many minutes anyway. The pump's status changes keep their exact times, as
/// they are what uptime is measured from.
const SPACING: i64 = 60;
/// The time one batch covers: about 2,500 rows, so memory stays small whatever the window.
const CHUNK: i64 = 4 * 3_600;
/// The QoS the live readings are stored with: the demo's broker hands the devices' QoS 1
/// publishes on at the QoS of Lookout's subscription.
const QOS: u8 = 2;

/// What a run wrote.
#[derive(Debug, Default)]
pub struct Written {
    pub messages: usize,
    pub topics: usize,
}

/// Writes what is missing of the last [`WINDOW`] before `now` for every simulated topic.
#[tracing::instrument(skip_all)]
pub async fn backfill(
    store: &Store,
    retention: &RetentionSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<Written> {
    let started = Instant::now();
    let spans = missing(store, retention, now).await?;
    let mut written = Written {
        topics: spans.len(),
        ..Written::default()
    };
    let (Some(from), Some(to)) = (
        spans.iter().map(|span| span.from).min(),
        spans.iter().map(|span| span.to).max(),
    ) else {
        tracing::info!("the demo's simulated history is stored already; none written");
        return Ok(written);
    };
    let series = series_edits::load(store).await?;
    let writer = BatchWriter::new(store.clone(), series);
    // Newest first: a run stopped midway leaves the recent past, which pages show first, and no
    // gap between the history and what comes live.
    let mut end = to;
    while end > from {
        let start = (end - CHUNK).max(from);
        let rows = rows(&spans, start, end);
        let batch: Vec<NewMessage<'_>> = rows
            .iter()
            .map(|row| NewMessage {
                topic: &spans[row.span].topic,
                received_at: DateTime::from_timestamp(row.at, 0).unwrap_or(now),
                payload: row.payload.as_bytes(),
                qos: QOS,
                // As a subscribed Lookout receives the pump's status: live, not replayed.
                retain: false,
            })
            .collect();
        writer
            .write(&batch)
            .await
            .context("storing the demo's simulated history")?;
        written.messages += batch.len();
        end = start;
    }
    // Folded now, so the first page's long charts already show the week.
    store
        .fold_rollup_deltas()
        .await
        .context("folding the demo's history into the rollups")?;
    record_uptime(store, &spans)
        .await
        .context("recording the demo's simulated uptime")?;
    tracing::info!(
        messages = written.messages,
        topics = written.topics,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "the demo's simulated history written"
    );
    Ok(written)
}

/// The uptime watcher's record of the simulated past, as if Lookout had watched it: the pump's
/// changes of state at the times of its status messages, and a stretch of sight over the
/// history written, so the demo's uptime bars show days at once rather than "no data" until then.
async fn record_uptime(store: &Store, spans: &[Span]) -> anyhow::Result<()> {
    let Some(span) = spans.iter().find(|span| span.status) else {
        return Ok(());
    };
    let rules = store.liveness_rules().await?;
    let Some(rule) = rules
        .iter()
        .find(|rule| rule.devices.device_of(&span.topic).is_some())
    else {
        return Ok(());
    };
    let changes: Vec<Change> = rows(std::slice::from_ref(span), span.from, span.to)
        .into_iter()
        .map(|row| {
            let (state, cause) = if row.payload == ONLINE {
                (Seen::Up, "reported online")
            } else {
                (Seen::Down, "reported offline (last will or status message)")
            };
            Change {
                state,
                at_ms: row.at * 1000,
                cause: cause.to_owned(),
            }
        })
        .collect();
    let device = rule
        .devices
        .device_of(&span.topic)
        .unwrap_or_default()
        .to_owned();
    store
        .record_device_changes(&(rule.id, device), &changes)
        .await?;
    let (from, to) = (
        DateTime::from_timestamp(span.from, 0).unwrap_or_default(),
        DateTime::from_timestamp(span.to, 0).unwrap_or_default(),
    );
    let id = store.open_watch_span(from).await?;
    store.extend_watch_span(id, to).await?;
    Ok(())
}

/// What one topic lacks: its messages from `from` (inclusive) to `to` (exclusive), in seconds
/// since the epoch.
#[derive(Debug)]
struct Span {
    device: Device,
    topic: String,
    /// The device's status topic: a message when the state changes, not one per minute.
    status: bool,
    from: i64,
    to: i64,
}

/// The spans of the simulated topics that lack part of their history.
async fn missing(
    store: &Store,
    retention: &RetentionSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Span>> {
    let mut spans = Vec::new();
    for device in Device::all() {
        let topics = device
            .reading_topics()
            .into_iter()
            .map(|topic| (topic, false))
            .chain(device.status_topic().map(|topic| (topic, true)));
        for (topic, status) in topics {
            // History that retention would delete at its next round would only be written again
            // by the next run.
            let kept = TimeDelta::days(i64::from(retention.days_for(&topic)));
            let from = now - WINDOW.min(kept);
            let oldest = store
                .oldest_message_at(&topic)
                .await
                .with_context(|| format!("reading the oldest message of {topic}"))?;
            let to = oldest.map_or(now, |oldest| oldest.min(now));
            let span = Span {
                device,
                topic,
                status,
                from: ceil_seconds(from),
                to: ceil_seconds(to),
            };
            if span.from < span.to {
                spans.push(span);
            }
        }
    }
    Ok(spans)
}

/// A message to write: for `spans[span]`, received at `at` (seconds since the epoch).
#[derive(Debug)]
struct Row {
    span: usize,
    at: i64,
    payload: String,
}

/// Every message of `spans` from `start` (inclusive) to `end` (exclusive), oldest first, as the
/// writer keeps a topic's last message of a batch as its newest.
fn rows(spans: &[Span], start: i64, end: i64) -> Vec<Row> {
    let mut rows = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        let (from, to) = (start.max(span.from), end.min(span.to));
        if span.status {
            let step = PUMP_STEP as i64;
            let first = next_multiple(span.from, step);
            let mut at = next_multiple(from, step);
            while at < to {
                let connected = span.device.connected(at as f64);
                // The state where the topic's history starts, then each change.
                if at == first || connected != span.device.connected((at - step) as f64) {
                    rows.push(Row {
                        span: index,
                        at,
                        payload: if connected { ONLINE } else { OFFLINE }.to_owned(),
                    });
                }
                at += step;
            }
        } else {
            let mut at = next_multiple(from, SPACING);
            while at < to {
                rows.extend(
                    span.device
                        .readings(at as f64)
                        .into_iter()
                        .filter(|reading| reading.topic == span.topic)
                        .map(|reading| Row {
                            span: index,
                            at,
                            payload: reading.payload,
                        }),
                );
                at += SPACING;
            }
        }
    }
    rows.sort_by_key(|row| row.at);
    rows
}

/// Whole seconds, rounded up: a whole second before it is before the time itself.
fn ceil_seconds(time: DateTime<Utc>) -> i64 {
    time.timestamp() + i64::from(time.timestamp_subsec_nanos() > 0)
}

/// The first multiple of `step` at or after `at`.
fn next_multiple(at: i64, step: i64) -> i64 {
    at.div_euclid(step) * step + if at.rem_euclid(step) == 0 { 0 } else { step }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// 2026-01-05 00:00:30 UTC: not on a whole minute.
    const NOW: i64 = 1_767_571_230;

    fn spans(from: i64, to: i64) -> Vec<Span> {
        let mut spans = Vec::new();
        for device in Device::all() {
            for topic in device.reading_topics() {
                spans.push(Span {
                    device,
                    topic,
                    status: false,
                    from,
                    to,
                });
            }
            if let Some(topic) = device.status_topic() {
                spans.push(Span {
                    device,
                    topic,
                    status: true,
                    from,
                    to,
                });
            }
        }
        spans
    }

    /// What the backfill writes, chunk by chunk, newest chunk first.
    fn all_rows(spans: &[Span]) -> Vec<Row> {
        let from = spans.iter().map(|span| span.from).min().unwrap();
        let mut end = spans.iter().map(|span| span.to).max().unwrap();
        let mut all = Vec::new();
        while end > from {
            let start = (end - CHUNK).max(from);
            all.extend(rows(spans, start, end));
            end = start;
        }
        all
    }

    #[test]
    fn a_week_has_a_reading_a_minute_per_topic_and_each_status_change_once() {
        let week = WINDOW.num_seconds();
        let spans = spans(NOW - week, NOW);
        let rows = all_rows(&spans);
        let distinct: HashSet<(usize, i64)> = rows.iter().map(|row| (row.span, row.at)).collect();
        assert_eq!(distinct.len(), rows.len(), "no message twice");
        for (index, span) in spans.iter().enumerate() {
            let times: Vec<i64> = rows
                .iter()
                .filter(|row| row.span == index)
                .map(|row| row.at)
                .collect();
            assert!(times.iter().all(|at| (NOW - week..NOW).contains(at)));
            if span.status {
                // A state at the start, then alternating states.
                let mut changes: Vec<&Row> = rows.iter().filter(|row| row.span == index).collect();
                changes.sort_by_key(|row| row.at);
                assert_eq!(changes[0].at, NOW - week, "the first whole step");
                let states: Vec<&str> = changes.iter().map(|row| row.payload.as_str()).collect();
                assert!(states.len() > 1_000, "{}", states.len());
                assert!(states.windows(2).all(|pair| pair[0] != pair[1]));
            } else if span.device == Device::Pump {
                // The flow stops while the pump is away.
                assert!((8_000..10_080).contains(&times.len()), "{}", times.len());
            } else {
                assert_eq!(times.len(), 10_080, "{}", span.topic);
            }
        }
    }

    #[test]
    fn a_chunk_holds_each_topic_oldest_first() {
        let spans = spans(NOW - CHUNK, NOW);
        let rows = rows(&spans, NOW - CHUNK, NOW);
        assert!(rows.windows(2).all(|pair| pair[0].at <= pair[1].at));
        assert!(rows.len() < 4_000, "{} rows in a batch", rows.len());
    }

    #[test]
    fn times_round_up_to_whole_seconds_and_steps() {
        let at = DateTime::from_timestamp(100, 1).unwrap();
        assert_eq!(ceil_seconds(at), 101);
        assert_eq!(ceil_seconds(DateTime::from_timestamp(100, 0).unwrap()), 100);
        assert_eq!(next_multiple(120, 60), 120);
        assert_eq!(next_multiple(121, 60), 180);
        assert_eq!(next_multiple(-1, 5), 0);
    }
}
