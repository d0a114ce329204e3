//! Delivers the outbox of notices (`alert_notice`) that the alert engine queues: every instance
//! runs a sender, each takes due notices under a lease (`Store::claim_due_notices`), so two
//! never send the same one at once, and a notice whose sender died is taken again when its
//! lease runs out. A failed attempt is tried again with a growing pause, up to
//! [`MAX_ATTEMPTS`]; every outcome is recorded on the notice and on its channel, which the
//! overview shows as failing until a send through it works again.
//!
//! Delivery is at least once: a sender that dies after the receiver took a notice and before it
//! recorded that sends it again. The sender also reads which channels are failing, for the
//! overview. The notice's id is in its body (`{{id}}`) for a receiver that
//! must drop repeats.

use crate::notify::{Channel, Delivery, Sender};
use crate::page_outbox;
use app::server::ingest_status::IngestStatus;
use app::server::store::alerts::DueNotice;
use app::server::store::Store;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use url::Url;

/// How many notices one instance sends at once: a slow receiver holds one of them, not all.
pub const PARALLEL_SENDS: usize = 16;
/// How long a taken notice is left to its sender: longer than an attempt may take.
pub const LEASE: Duration = Duration::from_secs(60);
/// How often a sender looks for due retries when nothing wakes it.
pub const POLL_EVERY: Duration = Duration::from_secs(5);
/// Attempts before a notice is given up: with the pauses below, about six hours of trying.
pub const MAX_ATTEMPTS: i32 = 12;

/// The pause after the `attempts`-th failed attempt: 10 s, doubling, at most 4 hours.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 20) as u32 - 1;
    Duration::from_secs(10u64.saturating_mul(1 << exponent).min(4 * 3600))
}

/// Sends due notices and status pages' deliveries (`page_outbox`) until `stopping`; `wake`
/// says new ones were queued. `link_base` starts the links in e-mails to followers.
pub async fn run(
    store: Store,
    status: IngestStatus,
    sender: Sender,
    link_base: String,
    wake: Arc<Notify>,
    mut stopping: watch::Receiver<bool>,
) {
    let link_base: Arc<str> = link_base.into();
    let slots = Arc::new(Semaphore::new(PARALLEL_SENDS));
    let mut channels_read_at: Option<tokio::time::Instant> = None;
    loop {
        // Failing channels for the overview, at most every few seconds whatever wakes this.
        if channels_read_at.is_none_or(|at| at.elapsed() >= POLL_EVERY) {
            match store.failing_channels().await {
                Ok(failing) => status.set_failing_channels(failing),
                Err(error) => tracing::warn!(%error, "reading failing alert channels failed"),
            }
            channels_read_at = Some(tokio::time::Instant::now());
        }
        let free = slots.available_permits();
        if free > 0 {
            match store.claim_due_notices(free as i64, LEASE).await {
                Ok(due) => {
                    let more = send_each(&slots, free, due, |notice| {
                        let (store, sender) = (store.clone(), sender.clone());
                        async move { deliver(&store, &sender, notice).await }
                    })
                    .await;
                    if more {
                        continue;
                    }
                }
                Err(error) => tracing::warn!(%error, "reading the outbox of notices failed"),
            }
        }
        let free = slots.available_permits();
        if free > 0 {
            match store.claim_due_deliveries(free as i64, LEASE).await {
                Ok(due) => {
                    let more = send_each(&slots, free, due, |delivery| {
                        let (store, sender, base) =
                            (store.clone(), sender.clone(), link_base.clone());
                        async move { page_outbox::deliver(&store, &sender, &base, delivery).await }
                    })
                    .await;
                    if more {
                        continue;
                    }
                }
                Err(error) => tracing::warn!(%error, "reading the outbox of page news failed"),
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// Sends each of `due` (claimed for `free` slots) on a task of its own holding one of the
/// `slots`, so a slow receiver holds one slot and not the loop. Returns whether the claim filled
/// every free slot: more may be due, to claim again at once.
async fn send_each<T, Fut>(
    slots: &Arc<Semaphore>,
    free: usize,
    due: Vec<T>,
    send: impl Fn(T) -> Fut,
) -> bool
where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let claimed = due.len();
    for item in due {
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let sending = send(item);
        tokio::spawn(async move {
            sending.await;
            drop(permit);
        });
    }
    claimed == free && claimed > 0
}

async fn deliver(store: &Store, sender: &Sender, due: DueNotice) {
    let delivery = match Url::parse(&due.channel.url) {
        Ok(url) => {
            let channel = Channel {
                format: due.channel.format,
                url,
                template: due.channel.template.clone(),
            };
            sender.send(&channel, &due.notice).await
        }
        Err(error) => Delivery::Refused {
            status: 0,
            reason: format!("the channel's address cannot be read: {error}"),
        },
    };
    let recorded = match &delivery {
        Delivery::Delivered { .. } => {
            tracing::info!(id = due.id, channel = %due.channel.name, "notice delivered");
            store.notice_delivered(due.id).await
        }
        Delivery::Refused { status, reason } => {
            tracing::warn!(id = due.id, channel = %due.channel.name, status, %reason,
                "a channel refused a notice; not retried");
            let reason = format!("refused ({status}): {reason}");
            store.notice_failed(due.id, &reason, None).await
        }
        Delivery::Failed { reason } => {
            let attempts = due.attempts + 1;
            let retry_at = (attempts < MAX_ATTEMPTS).then(|| Utc::now() + backoff(attempts));
            tracing::warn!(id = due.id, channel = %due.channel.name, %reason, attempts,
                retry_at = ?retry_at, "sending a notice failed");
            store.notice_failed(due.id, reason, retry_at).await
        }
    };
    if let Err(error) = recorded {
        // The lease runs out and the notice is sent again: at least once.
        tracing::warn!(id = due.id, %error, "recording a notice's delivery failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_pause_longer_each_time_up_to_four_hours() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(5), Duration::from_secs(160));
        assert_eq!(backoff(MAX_ATTEMPTS), Duration::from_secs(4 * 3600));
        assert_eq!(backoff(40), Duration::from_secs(4 * 3600));
    }
}
