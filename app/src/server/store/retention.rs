//! The SQL of retention: the daily partitions of `message` (made ahead, dropped whole when
//! every topic's retention allows), bounded deletes for topics kept shorter, and the advisory lock
//! that lets one instance at a time run a maintenance round (`server/src/maintenance.rs`).

use super::Store;
use chrono::{DateTime, Days, NaiveDate, Utc};

/// At most this many rows go per delete statement.
pub const DELETE_BATCH: i64 = 10_000;

/// The advisory lock of maintenance rounds ("lookout" and 1 in ASCII), shared by every instance.
const MAINTENANCE_LOCK_KEY: i64 = 0x6c6f_6f6b_6f75_7401;

/// Runs `delete`, a statement deleting at most [`DELETE_BATCH`] rows in a transaction of its
/// own, again until one deletes fewer; returns how many rows went in all.
pub(super) async fn delete_in_batches<F, Deleting>(mut delete: F) -> Result<u64, sqlx::Error>
where
    F: FnMut() -> Deleting,
    Deleting: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    let mut deleted = 0;
    loop {
        let batch = delete().await?;
        deleted += batch;
        if batch < DELETE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}

/// A partition of the `message` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessagePartition {
    /// The messages received on one UTC day.
    Day(NaiveDate),
    /// Messages outside every daily partition (a clock far off).
    Default,
}

impl MessagePartition {
    pub fn table(&self) -> String {
        match self {
            MessagePartition::Day(day) => format!("message_{}", day.format("%Y%m%d")),
            MessagePartition::Default => "message_default".to_owned(),
        }
    }

    fn from_table(name: &str) -> Option<Self> {
        if name == "message_default" {
            return Some(MessagePartition::Default);
        }
        let digits = name.strip_prefix("message_")?;
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        NaiveDate::parse_from_str(digits, "%Y%m%d")
            .ok()
            .map(MessagePartition::Day)
    }
}

/// Held while this instance runs a maintenance round.
#[derive(Debug)]
pub struct MaintenanceLock(sqlx::Transaction<'static, sqlx::Postgres>);

impl MaintenanceLock {
    pub async fn release(self) -> Result<(), sqlx::Error> {
        self.0.commit().await
    }
}

impl Store {
    /// Creates the daily `message` partitions from yesterday to `days_ahead` days from `today`
    /// that do not exist yet, and returns the days it created. Safe to call repeatedly and from
    /// several instances at once.
    ///
    /// A day whose rows already sit in `message_default` (a clock that ran ahead) cannot get its
    /// partition, as PostgreSQL refuses to strand them; it is skipped with a warning, its rows
    /// keep going to the default partition, and retention still deletes them there.
    pub async fn ensure_message_partitions(
        &self,
        today: NaiveDate,
        days_ahead: u64,
    ) -> Result<Vec<NaiveDate>, sqlx::Error> {
        let existing = self.message_partitions().await?;
        let first = today - Days::new(1);
        let mut created = Vec::new();
        for offset in 0..=days_ahead + 1 {
            let day = first + Days::new(offset);
            let partition = MessagePartition::Day(day);
            if existing.contains(&partition) {
                continue;
            }
            let next = day + Days::new(1);
            // A statement built at run time, unlike every other: a table's name cannot be a
            // parameter. Identifiers and bounds come from dates we formatted, never from input.
            // The bounds name their time zone, so they are UTC days whatever the session's zone.
            let sql = format!(
                "create table if not exists {} partition of message \
                 for values from ('{day} 00:00:00+00') to ('{next} 00:00:00+00')",
                partition.table(),
            );
            match sqlx::query(&sql).execute(&self.pool).await {
                Ok(_) => created.push(day),
                Err(sqlx::Error::Database(error)) => match error.code().as_deref() {
                    // check_violation: rows of that day in the default partition.
                    Some("23514") => {
                        tracing::warn!(partition = %partition.table(), error = %error,
                            "message_default holds rows of this day; its partition is not created")
                    }
                    // `if not exists` does not cover another instance creating the same table
                    // at the same moment: it then fails on the catalog's unique indexes.
                    Some("42P07" | "23505") => {}
                    _ => return Err(sqlx::Error::Database(error)),
                },
                Err(error) => return Err(error),
            }
        }
        Ok(created)
    }

    /// The partitions of `message` that Lookout made (daily ones and the default), oldest first.
    /// Partitions someone else attached are not listed, so maintenance leaves them alone.
    pub async fn message_partitions(&self) -> Result<Vec<MessagePartition>, sqlx::Error> {
        let names = sqlx::query_scalar!(
            r#"select c.relname::text as "name!"
               from pg_inherits i join pg_class c on c.oid = i.inhrelid
               where i.inhparent = 'message'::regclass"#
        )
        .fetch_all(&self.pool)
        .await?;
        let mut partitions: Vec<MessagePartition> = names
            .iter()
            .filter_map(|name| MessagePartition::from_table(name))
            .collect();
        partitions.sort_unstable();
        Ok(partitions)
    }

    /// Drops the partition of `day` with all its messages. Gives up (an error, to retry later)
    /// rather than wait long for its lock: while a drop waits, inserts queue behind it.
    pub async fn drop_message_partition(&self, day: NaiveDate) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!("select set_config('lock_timeout', '5s', true)")
            .fetch_one(&mut *tx)
            .await?;
        // Built at run time: a table's name cannot be a parameter.
        let sql = format!(
            "drop table if exists {}",
            MessagePartition::Day(day).table()
        );
        sqlx::query(&sql).execute(&mut *tx).await?;
        tx.commit().await
    }

    /// Every topic's id and name.
    pub async fn topic_names(&self) -> Result<Vec<(i64, String)>, sqlx::Error> {
        let rows = sqlx::query!("select id, name from topic")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|row| (row.id, row.name)).collect())
    }

    /// Deletes the messages of `partition` received before `before`, of the topics `topic_ids`
    /// (all topics for `None`), and returns how many went. Works in statements of at most
    /// [`DELETE_BATCH`] rows, each its own transaction, so no lock or transaction grows with the
    /// backlog and inserts go on meanwhile.
    pub async fn delete_old_messages(
        &self,
        partition: MessagePartition,
        topic_ids: Option<&[i64]>,
        before: DateTime<Utc>,
    ) -> Result<u64, sqlx::Error> {
        // Per partition, because a ctid only identifies a row within one table; built at run
        // time, as a table's name cannot be a parameter.
        let table = partition.table();
        let topics = if topic_ids.is_some() {
            "topic_id = any($3) and"
        } else {
            ""
        };
        let sql = format!(
            "delete from {table} where ctid = any(array( \
                 select ctid from {table} where {topics} received_at < $1 limit $2))"
        );
        delete_in_batches(|| async {
            let mut query = sqlx::query(&sql).bind(before).bind(DELETE_BATCH);
            if let Some(ids) = topic_ids {
                query = query.bind(ids);
            }
            Ok(query.execute(&self.pool).await?.rows_affected())
        })
        .await
    }

    /// Takes the lock that lets one instance at a time run maintenance, or `None` when another
    /// holds it. Released by [`MaintenanceLock::release`], or when dropped or its connection
    /// dies, so a crashed round never keeps it.
    pub async fn try_maintenance_lock(&self) -> Result<Option<MaintenanceLock>, sqlx::Error> {
        // Transaction-scoped: it cannot outlive the transaction, unlike a session lock on a
        // connection that goes back to the pool. The transaction stays idle and takes no
        // snapshot, so holding it open does not hold back vacuum.
        let mut tx = self.pool.begin().await?;
        let locked = sqlx::query_scalar!(
            r#"select pg_try_advisory_xact_lock($1) as "locked!""#,
            MAINTENANCE_LOCK_KEY,
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok(locked.then_some(MaintenanceLock(tx)))
    }
}
