//! `lookout leave-group`: takes an instance out of its shared group for good (docs/scaling.md).
//!
//! A group member's persistent session keeps receiving its share of the messages while the
//! instance is away, so simply removing an instance would strand its share at the broker, and
//! discarding the session would lose it. This connects with the instance's client id, unsubscribes
//! the session from the share (the broker routes nothing new to it from then on), stores and
//! acknowledges what the broker still held for it, and once nothing more comes, ends the session.

use crate::config::{ConfigError, Settings};
use crate::ingest::{self, Broker};
use crate::startup::{self, CONNECT_TIMEOUT};
use app::server::ingest_status::IngestStatus;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How long nothing may arrive before the session counts as drained. The broker sends what it
/// queued for a session right after the connection, far quicker than this.
const QUIET: Duration = Duration::from_secs(3);
/// How long storing and acknowledging the last messages may take before giving up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// What leaving stored.
#[derive(Debug)]
pub struct Left {
    pub stored: u64,
}

/// Leaves the group of `settings` for the instance whose client id they name. The instance
/// itself must be stopped: two connections with one client id take the session from each other.
pub async fn run(settings: Settings) -> anyhow::Result<Left> {
    let Some(group) = &settings.mqtt.shared_group else {
        return Err(ConfigError::Missing {
            setting: "LOOKOUT_MQTT_SHARED_GROUP",
            hint: "only an instance of a shared group can leave it: set the group and the client \
                   id (LOOKOUT_MQTT_CLIENT_ID) it ran with"
                .to_owned(),
        }
        .into());
    };
    let store = startup::open_database(&settings).await?;
    let series = startup::load_series(&settings, &store).await?;
    let status = IngestStatus::new(settings.mqtt.url.value.to_string());
    let broker = Broker::connect(&settings.mqtt, CONNECT_TIMEOUT, status.clone())
        .await?
        .leaving_the_group();
    tracing::info!(group = %group.value, client_id = %settings.mqtt.client_id,
        "leaving the group: storing what the broker still holds for this instance");
    let (mut writer, intake) = startup::start_writer(&settings, &store, &broker, &status, &series);
    let client = broker.client();
    let (stopping, stop_ingest) = watch::channel(false);
    let (subscribed, _) = oneshot::channel();
    let mut ingest = tokio::spawn(broker.run(None, intake, subscribed, stop_ingest));

    // Drained: nothing new for a while, and everything received is stored.
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut last = (status.view().received, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let view = status.view();
        if view.received != last.0 {
            last = (view.received, Instant::now());
        } else if view.connected && view.backlog() == 0 && last.1.elapsed() >= QUIET {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "messages kept coming or could not be stored for {DRAIN_TIMEOUT:?} ({} received, \
                 {} stored): is the instance still running with this client id?",
                view.received,
                view.stored
            );
        }
    }

    // As a graceful stop: the writer acknowledges everything it stored, then the DISCONNECT.
    let _ = stopping.send(true);
    tokio::time::timeout(DRAIN_TIMEOUT, &mut writer).await??;
    let _ = client.disconnect().await;
    if tokio::time::timeout(CONNECT_TIMEOUT, &mut ingest)
        .await
        .is_err()
    {
        ingest.abort();
    }
    ingest::end_session(&settings.mqtt, CONNECT_TIMEOUT).await?;
    let stored = status.view().stored;
    tracing::info!(
        stored,
        "left the group; this instance's broker session is gone"
    );
    Ok(Left { stored })
}
