//! How ingest is doing: the broker connection, its last error, and what has been received,
//! stored and refused. Ingest and the writer report into [`IngestStatus`]; pages read a
//! [`IngestStatusView`] of it through [`load_ingest_status`], which needs no database, so it
//! still answers while the database is down.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One reading of the ingest status, as pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestStatusView {
    /// The broker's address, never with its login.
    pub broker: String,
    pub connected: bool,
    /// When the connection last came up or went down.
    pub since_ms: i64,
    /// The most recent connection error, kept after reconnecting so a flapping link shows.
    pub last_error: Option<String>,
    pub last_error_at_ms: Option<i64>,
    /// Connections after the first.
    pub reconnects: u64,
    pub received: u64,
    pub stored: u64,
    /// Messages over the size limit: acknowledged and counted, never stored.
    pub oversized: u64,
    pub last_oversized_topic: Option<String>,
    /// The database refused the last batch; the writer is retrying and acknowledging nothing.
    pub storage_error: Option<String>,
    /// When this was read, by the server's clock.
    pub server_now_ms: i64,
}

#[server]
pub async fn load_ingest_status() -> Result<IngestStatusView, ServerFnError> {
    let state = use_context::<crate::state::AppState>()
        .ok_or_else(|| ServerFnError::new("application state is missing"))?;
    Ok(state.ingest.view())
}

impl IngestStatusView {
    /// Received but neither stored nor refused yet: waiting in the queue or in an open batch.
    pub fn backlog(&self) -> u64 {
        self.received.saturating_sub(self.stored + self.oversized)
    }
}

#[cfg(feature = "ssr")]
pub use tracker::IngestStatus;

#[cfg(feature = "ssr")]
mod tracker {
    use super::IngestStatusView;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

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

        pub fn received(&self) {
            self.counters.received.fetch_add(1, Ordering::Relaxed);
        }

        pub fn oversized(&self, topic: &str) {
            self.counters.oversized.fetch_add(1, Ordering::Relaxed);
            self.with_connection(|c| c.last_oversized_topic = Some(topic.to_owned()));
        }

        /// A batch committed: `count` messages stored.
        pub fn stored(&self, count: usize) {
            self.counters
                .stored
                .fetch_add(count as u64, Ordering::Relaxed);
            if self.with_connection(|c| c.storage_error.is_some()) {
                self.with_connection(|c| c.storage_error = None);
            }
        }

        pub fn storage_failed(&self, error: impl ToString) {
            let error = error.to_string();
            self.with_connection(|c| c.storage_error = Some(error));
        }

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
                last_oversized_topic: c.last_oversized_topic.clone(),
                storage_error: c.storage_error.clone(),
                server_now_ms: now_ms(),
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::IngestStatus;

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
            status.stored(1);
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
}
