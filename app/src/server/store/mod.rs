//! The one place that speaks SQL: a module per table family, each with the queries and row types
//! of its tables, all as methods of one [`Store`]. Queries are checked at compile time against
//! the schema (`sqlx::query!` and its kin), from the descriptions committed under `.sqlx/`, so a
//! build needs no database; `scripts/prepare-queries.sh` writes them again after a query or a
//! migration changes, and `./scripts/test.sh` fails while they are stale. The only statements
//! not checked at compile time are those that name a partition of `message` (see [`retention`]):
//! a table's name cannot be a parameter; and the cursor the rollups' backfill reads a day through
//! (see [`history`]), whose statements cannot be described in advance. The store uses only the
//! domain: what the rows mean is decided above it.
//!
//! - [`topics`], [`batch_writer`], [`retention`]: topics and messages (`topic`, `message`,
//!   `latest`), as pages read them, as ingest writes them, and as retention removes them;
//! - [`history`]: values over time, from the messages or their rollups (`value_rollup`, merged
//!   by the batch writer), the rollups' backfill and retention;
//! - [`users`], [`login_devices`], [`audit`]: users and their sessions, the browsers they logged
//!   in from, and the audit log;
//! - [`rules`]: access rules; [`liveness`]: device liveness rules and what they read;
//! - [`status_pages`]: public status pages, their widgets and recorded status changes;
//!   [`incidents`]: the incidents people post on them; [`maintenance`]: their planned windows;
//! - [`uptime`]: devices' recorded changes of state and the stretches Lookout could see;
//! - [`series`]: the named series, fields of JSON payloads rolled up on their own;
//! - [`alerts`]: alert channels and rules, their states and the outbox of notices.

pub mod alerts;
pub mod audit;
pub mod batch_writer;
pub mod followers;
pub mod history;
pub mod incidents;
pub mod liveness;
pub mod login_devices;
pub mod maintenance;
pub mod retention;
pub mod rules;
pub mod series;
pub mod status_pages;
pub mod tokens;
pub mod topics;
pub mod uptime;
pub mod users;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// A handle on the database; cheap to clone.
///
/// Statements are prepared once per connection, and PostgreSQL switches one to a generic plan
/// after five runs. For reads of `message` (partitioned by day) within a time range, a generic
/// plan covers, and at each run locks, every partition: hundreds after a year, a planning stall
/// of some 100 ms per connection and slower runs after it. Those reads go through connections of
/// their own that plan every run for its parameters (`plan_cache_mode`), so that each touches
/// only the days of its range. Everything else keeps generic plans: planning the batch writer's
/// statements (a whole batch in array parameters) at every run cost ingest about a fifth of its
/// throughput.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    /// For reads of `message` within a time range: planned at every run (see [`Store`]).
    ranged_reads: PgPool,
    /// Once the rollups' backfill has finished, which never changes back: history reads then
    /// stop asking ([`Store::rollups_cover`]).
    rollups_backfilled: Arc<AtomicBool>,
}

impl Store {
    pub async fn connect(url: &str, acquire_timeout: Duration) -> Result<Self, sqlx::Error> {
        let options = url.parse::<PgConnectOptions>()?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(acquire_timeout)
            .connect_with(options.clone())
            .await?;
        // Opened as they are needed: an instance that draws no chart holds none.
        let ranged_reads = PgPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(acquire_timeout)
            .connect_lazy_with(options.options([("plan_cache_mode", "force_custom_plan")]));
        Ok(Self {
            pool,
            ranged_reads,
            rollups_backfilled: Arc::default(),
        })
    }

    /// Whether the database answers at all.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query!("select 1 as alive")
            .fetch_one(&self.pool)
            .await
            .map(drop)
    }

    /// The pool, for libraries that keep tables of their own (the session store).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("../migrations").run(&self.pool).await
    }
}

/// What a change to an access rule or a liveness rule came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleChange {
    Done,
    NoSuchRule,
    /// Refused: the same role, filter and permission are already a rule.
    Duplicate,
}

/// What the update of one rule by its id came to: no row with that id is no such rule, and a
/// unique violation (SQLSTATE 23505) means the change would duplicate another rule.
fn rule_change(updated: Result<PgQueryResult, sqlx::Error>) -> Result<RuleChange, sqlx::Error> {
    match updated {
        Ok(done) if done.rows_affected() == 0 => Ok(RuleChange::NoSuchRule),
        Ok(_) => Ok(RuleChange::Done),
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("23505") => {
            Ok(RuleChange::Duplicate)
        }
        Err(error) => Err(error),
    }
}

/// Whether PostgreSQL refused `error`'s statement because of the rows it was given (a value it
/// cannot hold, a check that fails, an index entry too large), so that the same rows would fail
/// again however often they are retried. Anything else (the database away, full, shutting down,
/// a timeout) may pass on a retry.
pub fn refuses_the_rows(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    // SQLSTATE classes 22 (data exception), 23 (integrity constraint violation) and 54 (program
    // limit exceeded, e.g. "index row size exceeds maximum").
    error
        .code()
        .is_some_and(|code| matches!(code.get(..2), Some("22" | "23" | "54")))
}
