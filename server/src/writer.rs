//! Moves received messages into PostgreSQL in batches, then acknowledges them to the broker.
//! Acknowledging only after the commit is what makes storage at-least-once: a message the broker
//! handed over is either stored or still held by the broker for redelivery.

use crate::config::WriterSettings;
use crate::ingest::Received;
use app::store::{BatchWriter, NewMessage};
use rumqttc::{AsyncClient, QoS};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub async fn run(
    mut messages: mpsc::Receiver<Received>,
    mut writer: BatchWriter,
    acks: AsyncClient,
    settings: WriterSettings,
) {
    let mut batch: Vec<Received> = Vec::with_capacity(settings.batch_max);
    loop {
        if messages.recv_many(&mut batch, settings.batch_max).await == 0 {
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
        store_until_committed(&mut writer, &batch).await;
        acknowledge(&acks, &batch).await;
        batch.clear();
    }
}

/// Retries with backoff until the batch commits: while the database is away nothing is
/// acknowledged, so the broker keeps what we could not store, and the bounded channel behind us
/// fills and pauses ingest.
async fn store_until_committed(writer: &mut BatchWriter, batch: &[Received]) {
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
        match writer.write(&messages).await {
            Ok(()) => {
                tracing::debug!(stored = messages.len(), "batch committed");
                return;
            }
            Err(error) => {
                tracing::error!(error = %error, batch = messages.len(), retry_in = ?delay,
                    "storing a batch failed; nothing acknowledged, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn acknowledge(acks: &AsyncClient, batch: &[Received]) {
    for received in batch {
        if received.publish.qos != QoS::AtMostOnce {
            if let Err(error) = acks.ack(&received.publish).await {
                // Only when the event loop is gone; the broker redelivers on the next session.
                tracing::warn!(%error, "could not acknowledge a stored message");
                return;
            }
        }
    }
}
