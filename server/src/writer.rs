//! Moves received messages into PostgreSQL in batches, then acknowledges them to the broker.
//! Acknowledging only after the commit is what makes storage at-least-once: a message the broker
//! handed over is either stored or still held by the broker for redelivery.

use crate::config::WriterSettings;
use crate::ingest::{Received, Session};
use app::ingest_status::IngestStatus;
use app::store::{BatchWriter, NewMessage};
use rumqttc::{AsyncClient, Publish, QoS};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub async fn run(
    mut messages: mpsc::Receiver<Received>,
    mut writer: BatchWriter,
    acks: AsyncClient,
    session: Session,
    settings: WriterSettings,
    status: IngestStatus,
) {
    let mut batch: Vec<Received> = Vec::with_capacity(settings.batch_max);
    let mut unsent = UnsentAcks::default();
    loop {
        let received = if unsent.is_empty() {
            messages.recv_many(&mut batch, settings.batch_max).await
        } else {
            // Come back soon to hand over the acknowledgements the client had no room for.
            match tokio::time::timeout(
                ACK_RETRY,
                messages.recv_many(&mut batch, settings.batch_max),
            )
            .await
            {
                Ok(received) => received,
                Err(_) => {
                    unsent.flush(&acks, &session, &status);
                    continue;
                }
            }
        };
        if received == 0 {
            // Ingest stopped and everything it sent has been stored.
            return;
        }
        // Linger briefly so a burst becomes one transaction instead of many.
        let deadline = Instant::now() + settings.batch_delay;
        while batch.len() < settings.batch_max {
            let room = settings.batch_max - batch.len();
            match tokio::time::timeout_at(deadline, messages.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let stored = store_until_committed(&mut writer, &batch, &status).await;
        status.stored(stored);
        unsent.add(&session, &batch);
        unsent.flush(&acks, &session, &status);
        batch.clear();
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
    /// those messages.
    fn add(&mut self, session: &Session, batch: &[Received]) {
        let current = session.current();
        for received in batch {
            let publish = &received.publish;
            if publish.qos != QoS::AtMostOnce && received.connection == current {
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
}

/// Retries with backoff until the batch commits: while the database is away nothing is
/// acknowledged, so the broker keeps what we could not store, and the bounded channel behind us
/// fills and pauses ingest.
/// Returns how many messages were stored (the batch less the oversized ones).
async fn store_until_committed(
    writer: &mut BatchWriter,
    batch: &[Received],
    status: &IngestStatus,
) -> usize {
    let messages: Vec<NewMessage<'_>> = batch
        .iter()
        .filter(|received| !received.oversized)
        .map(|received| NewMessage {
            topic: &received.publish.topic,
            received_at: received.received_at,
            payload: &received.publish.payload,
            qos: received.publish.qos as u8,
            retain: received.publish.retain,
        })
        .collect();
    let mut delay = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        match writer.write(&messages).await {
            Ok(()) => {
                status.batch_committed(messages.len(), started.elapsed());
                tracing::debug!(stored = messages.len(), "batch committed");
                return messages.len();
            }
            Err(error) => {
                tracing::error!(error = %error, batch = messages.len(), retry_in = ?delay,
                    "storing a batch failed; nothing acknowledged, retrying");
                status.storage_failed(&error);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
