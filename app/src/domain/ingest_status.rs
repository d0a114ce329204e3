//! How ingest is doing, as pages show it: the broker connection, its last error, and what has
//! been received, stored and refused. The server keeps the running figures
//! (`server::ingest_status`) and reads this view of them.

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
    /// Messages whose topic cannot be stored (too long, U+0000) or whose row the database
    /// refused: acknowledged and counted, never stored, never blocking the others.
    pub unstorable: u64,
    /// The database refused the last batch; the writer is retrying and acknowledging nothing.
    pub storage_error: Option<String>,
    /// How long the last committed batch's oldest message waited to be stored: the delay
    /// between receiving a message and having it in the database.
    pub storage_lag_ms: u64,
    /// When this was read, by the server's clock.
    pub server_now_ms: i64,
    /// The last hour, a minute at a time, oldest first; minutes this instance was not running
    /// are missing, not zero.
    pub trend: Vec<MinuteTrend>,
    /// While the history stored before rollups existed is being rolled up, how far it has got.
    #[serde(default)]
    pub history_backfill: Option<BackfillProgress>,
    /// When the rollups fall behind the stored messages (their fold fails, or cannot keep up):
    /// long charts then miss the newest values until it catches up.
    #[serde(default)]
    pub rollups_behind: Option<RollupsBehind>,
    /// Alert channels whose sends fail with no delivery since: an alert would not reach anyone.
    #[serde(default)]
    pub failing_channels: Vec<FailingChannel>,
}

/// An alert channel whose sends have failed since `since_ms` without a delivery between.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingChannel {
    pub name: String,
    pub since_ms: i64,
}

/// Why and how far the rollups are behind the stored messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupsBehind {
    /// Minutes of values waiting to be folded.
    pub waiting: u64,
    /// When the oldest of them was received.
    pub oldest_ms: Option<i64>,
    /// The last fold's error, if it failed.
    pub error: Option<String>,
}

/// How far the roll-up of the history stored before rollups existed has got: messages received
/// before `done_before_ms` (none yet when `None`) of those before `cutoff_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillProgress {
    pub done_before_ms: Option<i64>,
    pub cutoff_ms: i64,
}

/// What ingest did in one minute, for the overview's trends.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinuteTrend {
    /// The minute's start (Unix milliseconds, a whole minute).
    pub start_ms: i64,
    /// Messages received per second over the minute; `None` for a minute with a single reading
    /// and nothing before it to compare with.
    pub rate: Option<f64>,
    /// The most messages waiting to be stored at any reading of the minute.
    pub backlog: u64,
    /// The longest storage lag reported in the minute, in milliseconds.
    pub lag_ms: u64,
}

impl IngestStatusView {
    /// Received but neither stored nor refused yet: waiting in the queue or in an open batch.
    pub fn backlog(&self) -> u64 {
        self.received
            .saturating_sub(self.stored + self.oversized + self.unstorable)
    }
}
