//! Moves received messages into PostgreSQL in batches, then acknowledges them to the broker.
//! Acknowledging only after the commit is what makes storage at-least-once: a message the broker
//! handed over is either stored or still held by the broker for redelivery.

use crate::config::WriterSettings;
use crate::ingest::{Received, Session};
use app::domain::series::SharedSeries;
use app::domain::topic_filter::shortened;
use app::server::ingest_status::IngestStatus;
use app::server::series_edits::{self, SERIES_REFRESH};
use app::server::store::batch_writer::{BatchWriter, NewMessage};
use app::server::store::{refuses_the_rows, Store};
use rumqttc::{AsyncClient, Publish, QoS};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Batches committing at once. While one transaction waits for its commit (the WAL flush), the
/// next is already being written: a single writer would leave PostgreSQL idle for that wait.
/// Acknowledgements still follow the commits in order.
const BATCHES_IN_FLIGHT: usize = 2;

/// Reads the named series again every [`SERIES_REFRESH`] until `stopping`, so that a series
/// named on another instance of a group is rolled up here too within that time. A failed read
/// keeps the series as they were.
pub async fn follow_series(
    store: Store,
    series: SharedSeries,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SERIES_REFRESH) => {}
            _ = stopping.changed() => return,
        }
        if let Err(error) = series_edits::refresh(&store, &series).await {
            tracing::warn!(%error, "reading the named series failed; the writer keeps those it has");
        }
    }
}

pub async fn run(
    mut messages: mpsc::Receiver<Received>,
    writer: BatchWriter,
    acks: AsyncClient,
    session: Session,
    settings: WriterSettings,
    status: IngestStatus,
) {
    let mut unsent = UnsentAcks::default();
    // Oldest first; each yields its batch once committed.
    let mut in_flight: VecDeque<JoinHandle<Vec<Received>>> = VecDeque::new();
    let mut batch: Vec<Received> = Vec::with_capacity(settings.batch_max);
    let mut ingest_open = true;
    while ingest_open || !in_flight.is_empty() {
        let room = ingest_open && in_flight.len() < BATCHES_IN_FLIGHT;
        tokio::select! {
            // Committed batches first: their acknowledgements let the broker send more.
            biased;
            committed = async { in_flight.front_mut().expect("checked below").await },
                if !in_flight.is_empty() =>
            {
                in_flight.pop_front();
                match committed {
                    Ok(committed) => {
                        unsent.add(&session, &committed);
                        unsent.flush(&acks, &session, &status);
                    }
                    // Nothing of it is acknowledged, so the broker sends it again.
                    Err(error) => tracing::error!(%error, "a batch write panicked"),
                }
            }
            received = messages.recv_many(&mut batch, settings.batch_max), if room => {
                if received == 0 {
                    // Ingest stopped: finish what is in flight, then stop.
                    ingest_open = false;
                    continue;
                }
                linger(&mut messages, &mut batch, &settings).await;
                let full = std::mem::replace(&mut batch, Vec::with_capacity(settings.batch_max));
                in_flight.push_back(tokio::spawn(store_until_committed(
                    writer.clone(),
                    full,
                    status.clone(),
                )));
            }
            // Come back soon to hand over the acknowledgements the client had no room for.
            _ = tokio::time::sleep(ACK_RETRY), if !unsent.is_empty() => {
                unsent.flush(&acks, &session, &status);
            }
        }
    }
    // Everything taken is committed; its acknowledgements must reach the client's queue before a
    // shutdown's DISCONNECT, which queues behind them.
    unsent.finish(&acks, &session, &status).await;
}

/// Waits briefly for more messages so that a burst becomes one transaction instead of many.
async fn linger(
    messages: &mut mpsc::Receiver<Received>,
    batch: &mut Vec<Received>,
    settings: &WriterSettings,
) {
    let deadline = Instant::now() + settings.batch_delay;
    while batch.len() < settings.batch_max {
        let room = settings.batch_max - batch.len();
        match tokio::time::timeout_at(deadline, messages.recv_many(batch, room)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

const ACK_RETRY: Duration = Duration::from_millis(20);

/// Acknowledgements for stored messages that the MQTT client could not take yet.
///
/// They are handed over without waiting: the client's request queue is served by the event loop,
/// and the event loop may itself be waiting for room in the channel this writer drains. Waiting
/// here for the client would deadlock the two; retrying while draining cannot.
///
/// Each remembers the connection its message came on: one still waiting when the connection
/// changes is dropped, never sent on the new connection (see `ingest::Session`).
#[derive(Default)]
struct UnsentAcks(VecDeque<(u64, Publish)>);

impl UnsentAcks {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Queues the QoS 1/2 messages of `batch` that arrived on the current connection. Earlier
    /// connections' packet ids mean nothing now (see `ingest::Session`); the broker redelivers
    /// those messages. Messages acknowledged on receipt (no connection) need nothing.
    fn add(&mut self, session: &Session, batch: &[Received]) {
        let current = session.current();
        for received in batch {
            let publish = &received.publish;
            if publish.qos != QoS::AtMostOnce && received.connection == Some(current) {
                // Only the packet id and QoS matter to an acknowledgement; the payload can go.
                let mut ack = Publish::new("", publish.qos, Vec::new());
                ack.pkid = publish.pkid;
                self.0.push_back((current, ack));
            }
        }
    }

    fn flush(&mut self, acks: &AsyncClient, session: &Session, status: &IngestStatus) {
        let current = session.current();
        // The broker redelivers these on the new connection; their old packet ids are void.
        let before = self.0.len();
        self.0.retain(|(connection, _)| *connection == current);
        status.acks_dropped(before - self.0.len());
        let mut sent = 0;
        while let Some((_, ack)) = self.0.front() {
            // Full, or the event loop is gone (then ingest has stopped and so will we): either
            // way, what is left waits for the next try.
            if acks.try_ack(ack).is_err() {
                break;
            }
            self.0.pop_front();
            sent += 1;
        }
        status.acknowledged(sent);
    }

    /// Hands over every acknowledgement left, waiting for room in the client's queue; stops if
    /// the event loop is gone (the broker then redelivers those messages).
    async fn finish(&mut self, acks: &AsyncClient, session: &Session, status: &IngestStatus) {
        let current = session.current();
        let before = self.0.len();
        self.0.retain(|(connection, _)| *connection == current);
        status.acks_dropped(before - self.0.len());
        let mut sent = 0;
        while let Some((_, ack)) = self.0.pop_front() {
            if acks.ack(&ack).await.is_err() {
                break;
            }
            sent += 1;
        }
        status.acknowledged(sent);
    }
}

/// Stores the batch, then hands it back for its acknowledgements. While the database is away it
/// retries with backoff and acknowledges nothing, so the broker keeps what we could not store and
/// the bounded channel behind us fills and pauses ingest. When the database refuses the rows
/// themselves (see [`refuses_the_rows`]), retrying would block every topic forever: the batch is
/// halved until the refused messages are found, those are set aside (counted, logged,
/// acknowledged) and the rest is stored.
async fn store_until_committed(
    writer: BatchWriter,
    batch: Vec<Received>,
    status: IngestStatus,
) -> Vec<Received> {
    let messages: Vec<NewMessage<'_>> = batch
        .iter()
        .filter(|received| !received.refused)
        .map(|received| NewMessage {
            topic: &received.publish.topic,
            received_at: received.received_at,
            payload: &received.publish.payload,
            qos: received.publish.qos as u8,
            retain: received.publish.retain,
        })
        .collect();
    // Parts of the batch still to store, each committed on its own once the whole was refused;
    // the left half first, so the order of commits follows the order of receipt.
    let mut parts: Vec<&[NewMessage<'_>]> = vec![&messages];
    let started = Instant::now();
    let mut stored = 0;
    while let Some(part) = parts.pop() {
        match commit_with_retries(&writer, part, &status).await {
            Committed::Stored => stored += part.len(),
            Committed::Refused if part.len() > 1 => {
                writer.forget_topics(part.iter().map(|message| message.topic));
                let (left, right) = part.split_at(part.len() / 2);
                parts.push(right);
                parts.push(left);
            }
            Committed::Refused => set_aside(&writer, &part[0], &status),
        }
    }
    // The batch's first message waited longest: how far storage is behind ingest.
    let lag = batch
        .first()
        .map(|first| chrono::Utc::now() - first.received_at)
        .and_then(|lag| lag.to_std().ok())
        .unwrap_or_default();
    status.batch_committed(stored, started.elapsed(), lag);
    tracing::debug!(stored, "batch committed");
    drop(parts);
    drop(messages);
    batch
}

enum Committed {
    Stored,
    /// PostgreSQL refused the rows themselves; nothing of them is stored.
    Refused,
}

/// Commits `part`, retrying with backoff for as long as the database is away.
async fn commit_with_retries(
    writer: &BatchWriter,
    part: &[NewMessage<'_>],
    status: &IngestStatus,
) -> Committed {
    let mut delay = Duration::from_millis(100);
    loop {
        match writer.write(part).await {
            Ok(()) => return Committed::Stored,
            Err(error) if refuses_the_rows(&error) => {
                tracing::warn!(error = %error, messages = part.len(),
                    "the database refused rows of a batch; looking for them");
                return Committed::Refused;
            }
            Err(error) => {
                tracing::error!(error = %error, batch = part.len(), retry_in = ?delay,
                    "storing a batch failed; nothing acknowledged, retrying");
                status.storage_failed(&error);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A message the database refuses whatever we do: acknowledged with its batch, never stored.
/// Its topic is left out of the log but for a prefix, since it may be as long as MQTT allows.
fn set_aside(writer: &BatchWriter, message: &NewMessage<'_>, status: &IngestStatus) {
    writer.forget_topics([message.topic]);
    status.unstorable("refused by the database");
    tracing::error!(
        topic = %shortened(message.topic, 128).escape_debug(),
        topic_bytes = message.topic.len(),
        payload_bytes = message.payload.len(),
        "the database refused this message; acknowledged and set aside, not stored"
    );
}
