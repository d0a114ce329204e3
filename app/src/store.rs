//! The one module that speaks SQL. Queries are checked at run time (no `query!` macros), so a
//! build never needs a database; the integration tests run every one against PostgreSQL.

use crate::accounts::{AuditEntry, AuditRecord, Credentials, UserInfo};
use crate::domain::accounts::User;
use crate::domain::history::ValueBucket;
use crate::domain::liveness::{LivenessRule, RuleText, TopicSeen};
use crate::domain::message_log::{LatestMessage, LogEntry, LogPage, LogPosition, MessagePage};
use crate::domain::payload;
use crate::domain::roles::{AccessRule, Audience, Permission, Role};
use crate::domain::topic_filter::TopicFilter;
use crate::domain::topic_list::TopicLatest;
use chrono::{DateTime, Days, NaiveDate, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod login_devices;
mod status_pages;
pub use status_pages::*;

/// A message as ingest hands it to storage.
#[derive(Clone, Debug)]
pub struct NewMessage<'a> {
    pub topic: &'a str,
    pub received_at: DateTime<Utc>,
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
}

/// At most this many rows go per delete statement.
pub const DELETE_BATCH: i64 = 10_000;

/// The advisory lock of maintenance rounds ("lookout" and 1 in ASCII), shared by every instance.
const MAINTENANCE_LOCK_KEY: i64 = 0x6c6f_6f6b_6f75_7401;

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

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

/// How many bytes of each payload a list fetches: enough for a preview, and a 256 KiB payload
/// does not travel whole to show 120 characters of it.
const PREVIEW_FETCH_BYTES: i32 = 512;

impl Store {
    pub async fn connect(url: &str, acquire_timeout: Duration) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(acquire_timeout)
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// The pool, for libraries that keep tables of their own (the session store).
    /// Whether the database answers at all.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("select 1").execute(&self.pool).await.map(drop)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("../migrations").run(&self.pool).await
    }

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
            // Identifiers and bounds come from dates we formatted, never from input. The bounds
            // name their time zone, so they are UTC days whatever the session's zone.
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
        let names: Vec<String> = sqlx::query_scalar(
            "select c.relname::text from pg_inherits i join pg_class c on c.oid = i.inhrelid \
             where i.inhparent = 'message'::regclass",
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
        sqlx::query("set local lock_timeout = '5s'")
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "drop table if exists {}",
            MessagePartition::Day(day).table()
        );
        sqlx::query(&sql).execute(&mut *tx).await?;
        tx.commit().await
    }

    /// Every topic's id and name.
    pub async fn topic_names(&self) -> Result<Vec<(i64, String)>, sqlx::Error> {
        sqlx::query_as("select id, name from topic")
            .fetch_all(&self.pool)
            .await
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
        // Per partition, because a ctid only identifies a row within one table.
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
        let mut deleted = 0;
        loop {
            let mut query = sqlx::query(&sql).bind(before).bind(DELETE_BATCH);
            if let Some(ids) = topic_ids {
                query = query.bind(ids);
            }
            let batch = query.execute(&self.pool).await?.rows_affected();
            deleted += batch;
            if batch < DELETE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Takes the lock that lets one instance at a time run maintenance, or `None` when another
    /// holds it. Released by [`MaintenanceLock::release`], or when dropped or its connection
    /// dies, so a crashed round never keeps it.
    pub async fn try_maintenance_lock(&self) -> Result<Option<MaintenanceLock>, sqlx::Error> {
        // Transaction-scoped: it cannot outlive the transaction, unlike a session lock on a
        // connection that goes back to the pool. The transaction stays idle and takes no
        // snapshot, so holding it open does not hold back vacuum.
        let mut tx = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
            .bind(MAINTENANCE_LOCK_KEY)
            .fetch_one(&mut *tx)
            .await?;
        Ok(locked.then_some(MaintenanceLock(tx)))
    }

    /// The newest message of each topic that one of `filters` selects (of every topic when
    /// `None`), at most `limit`, in the order of `walk`. Names are ordered by their bytes
    /// (`collate "C"`), as Rust orders strings, so pages and the live merge agree whatever the
    /// database's collation.
    ///
    /// The filters only narrow the query; the caller still asks the access policy about each
    /// topic. They become one regular expression that selects exactly the topics the filters
    /// match (see [`filters_pattern`]): one, so that PostgreSQL compiles it once per query
    /// however many rules a role has.
    pub async fn latest_topics(
        &self,
        filters: Option<&[TopicFilter]>,
        walk: TopicWalk<'_>,
        limit: i64,
    ) -> Result<Vec<TopicLatest>, sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            name: String,
            received_at: DateTime<Utc>,
            payload_prefix: Vec<u8>,
            payload_len: i32,
            message_count: i64,
        }
        let pattern = match filters {
            Some([]) => return Ok(Vec::new()),
            Some(filters) => Some(filters_pattern(filters)),
            None => None,
        };
        let (cursor, from, order) = match walk {
            TopicWalk::First => (None, ">", "asc"),
            TopicWalk::After(name) => (Some(name), ">", "asc"),
            TopicWalk::Before(name) => (Some(name), "<", "desc"),
        };
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "select t.name, l.received_at, \
                    substring(l.payload from 1 for $1) as payload_prefix, \
                    octet_length(l.payload) as payload_len, l.message_count \
             from latest l join topic t on t.id = l.topic_id \
             where ($2::text is null or t.name ~ $2) \
               and ($3::text is null or t.name collate \"C\" {from} $3) \
             order by t.name collate \"C\" {order} \
             limit $4"
        ))
        .bind(PREVIEW_FETCH_BYTES)
        .bind(pattern)
        .bind(cursor)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| TopicLatest {
                preview: payload::preview(&row.payload_prefix, row.payload_len.max(0) as usize),
                name: row.name,
                received_at_ms: row.received_at.timestamp_millis(),
                message_count: row.message_count,
            })
            .collect())
    }
}

/// Where [`Store::latest_topics`] starts in name order, and which way it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicWalk<'a> {
    /// Up from the first name.
    First,
    /// Up from the name just after this one.
    After(&'a str),
    /// Down from the name just before this one.
    Before(&'a str),
}

/// A PostgreSQL regular expression (ARE) matching exactly the topic names one of `filters`
/// selects, by the rules of [`TopicFilter::matches`]: `+` is one level (`[^/]*`), `a/#` is `a`
/// and everything below it (`a(/.*)?`), a leading wildcard never selects a name starting with
/// `$`, and every other character stands for itself.
pub fn filters_pattern(filters: &[TopicFilter]) -> String {
    let mut pattern = String::from("^(?:");
    for (index, filter) in filters.iter().enumerate() {
        if index > 0 {
            pattern.push('|');
        }
        let text = filter.as_str();
        if text.starts_with(['+', '#']) {
            pattern.push_str("(?!\\$)");
        }
        for (depth, level) in text.split('/').enumerate() {
            match level {
                // Valid filters have `#` only last: the level above, and optionally more.
                "#" if depth == 0 => pattern.push_str(".*"),
                "#" => pattern.push_str("(?:/.*)?"),
                _ => {
                    if depth > 0 {
                        pattern.push('/');
                    }
                    if level == "+" {
                        pattern.push_str("[^/]*");
                    } else {
                        for c in level.chars() {
                            // A backslash makes any ASCII punctuation, space or control character
                            // literal; letters and digits must stay bare (`\d` is a class), and
                            // other characters mean nothing special.
                            if c.is_ascii() && !c.is_ascii_alphanumeric() {
                                pattern.push('\\');
                            }
                            pattern.push(c);
                        }
                    }
                }
            }
        }
    }
    pattern.push_str(")$");
    pattern
}

/// A stored row's place, for the message log: `ctid` reads `(block,row)`.
fn log_position(received_at: DateTime<Utc>, ctid: &str) -> Result<LogPosition, sqlx::Error> {
    let bad = || sqlx::Error::Decode(format!("unexpected ctid {ctid:?}").into());
    let (block, row) = ctid
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|pair| pair.split_once(','))
        .ok_or_else(bad)?;
    Ok(LogPosition {
        at_us: received_at.timestamp_micros(),
        block: block.parse().map_err(|_| bad())?,
        row: row.parse().map_err(|_| bad())?,
    })
}

impl Store {
    /// The id of the topic called `name`, if any message ever came for it.
    pub async fn topic_id(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("select id from topic where name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    /// The newest message of topic `id`, and how many messages the topic has had.
    pub async fn topic_latest(&self, id: i64) -> Result<Option<(LatestMessage, i64)>, sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            name: String,
            received_at: DateTime<Utc>,
            payload_prefix: Vec<u8>,
            payload_len: i32,
            kind: String,
            qos: i16,
            retain: bool,
            value: Option<f64>,
            message_count: i64,
        }
        let row: Option<Row> = sqlx::query_as(
            "select t.name, l.received_at, substring(l.payload from 1 for $2) as payload_prefix, \
                    octet_length(l.payload) as payload_len, l.kind::text as kind, l.qos, \
                    l.retain, l.value, l.message_count \
             from latest l join topic t on t.id = l.topic_id \
             where l.topic_id = $1",
        )
        .bind(id)
        .bind(payload::SHOWN_PAYLOAD_BYTES as i32)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let kind = payload::PayloadKind::from_sql(&row.kind).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown payload kind {:?}", row.kind).into())
            })?;
            let latest = LatestMessage {
                value: row.value,
                qos: row.qos.clamp(0, 2) as u8,
                retain: row.retain,
                ..LatestMessage::from_stored(
                    row.name,
                    row.received_at.timestamp_millis(),
                    kind,
                    &row.payload_prefix,
                    i64::from(row.payload_len),
                )
            };
            Ok((latest, row.message_count))
        })
        .transpose()
    }

    /// The numeric values of topic `id` received from `from` (inclusive) to `to` (exclusive):
    /// min, max, average and count per bucket of `bucket_ms`, buckets counted from the Unix
    /// epoch, oldest first, empty buckets left out. PostgreSQL aggregates over the index on
    /// `(topic_id, received_at)`, so only the buckets travel, however many values there are.
    pub async fn value_buckets(
        &self,
        id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_ms: i64,
    ) -> Result<Vec<ValueBucket>, sqlx::Error> {
        let rows: Vec<(DateTime<Utc>, f64, f64, f64, i64)> = sqlx::query_as(
            "select date_bin($4::float8 * interval '1 millisecond', received_at, \
                             timestamptz 'epoch') as bucket, \
                    min(value), max(value), avg(value), count(value) \
             from message \
             where topic_id = $1 and received_at >= $2 and received_at < $3 \
                   and value is not null \
             group by bucket \
             order by bucket",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(bucket_ms as f64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(start, min, max, avg, count)| ValueBucket {
                start_ms: start.timestamp_millis(),
                min,
                max,
                avg,
                count,
            })
            .collect())
    }

    /// A page of at most `limit` messages of topic `id`, newest first. Keyset paging: a page
    /// starts from a position in the order (receive time, then `ctid` for messages of the same
    /// microsecond, which always share a partition), so each page costs the same however deep
    /// it is, and pages neither overlap nor skip while messages arrive.
    pub async fn message_page(
        &self,
        id: i64,
        page: LogPage,
        limit: i64,
    ) -> Result<MessagePage, sqlx::Error> {
        let (mut entries, more) = self.log_entries(id, page, limit).await?;
        Ok(match page {
            LogPage::Newest => MessagePage {
                older: entries.last().filter(|_| more).map(|e| e.position),
                newer: None,
                entries,
            },
            LogPage::Before(position) => MessagePage {
                older: entries.last().filter(|_| more).map(|e| e.position),
                newer: Some(entries.first().map_or(position, |e| e.position)),
                entries,
            },
            // Short of a full page of newer messages: the newest page is the one to show.
            LogPage::After(_) if !more => {
                let (entries, more) = self.log_entries(id, LogPage::Newest, limit).await?;
                MessagePage {
                    older: entries.last().filter(|_| more).map(|e| e.position),
                    newer: None,
                    entries,
                }
            }
            LogPage::After(position) => {
                entries.reverse();
                MessagePage {
                    newer: entries.first().map(|e| e.position),
                    older: Some(entries.last().map_or(position, |e| e.position)),
                    entries,
                }
            }
        })
    }

    /// Up to `limit` entries in the direction of `page` (newest first for `Newest` and `Before`,
    /// oldest first for `After`), and whether more lie beyond them.
    async fn log_entries(
        &self,
        id: i64,
        page: LogPage,
        limit: i64,
    ) -> Result<(Vec<LogEntry>, bool), sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            received_at: DateTime<Utc>,
            row_place: String,
            payload_prefix: Vec<u8>,
            payload_len: i32,
        }
        let (start, order) = match page {
            LogPage::Newest => (None, "desc"),
            LogPage::Before(position) => (Some(("<", position)), "desc"),
            LogPage::After(position) => (Some((">", position)), "asc"),
        };
        // The bound on `received_at` alone is what the index can use; the row comparison then
        // settles messages of the very same microsecond.
        let condition = match start {
            None => String::new(),
            Some((op, _)) => {
                format!("and received_at {op}= $4 and (received_at, ctid) {op} ($4, $5::tid)")
            }
        };
        // Not `as ctid`: `order by ctid` would then sort that text, not the row's place.
        let sql = format!(
            "select received_at, ctid::text as row_place, \
                    substring(payload from 1 for $3) as payload_prefix, \
                    octet_length(payload) as payload_len \
             from message \
             where topic_id = $1 {condition} \
             order by received_at {order}, ctid {order} \
             limit $2"
        );
        let mut query = sqlx::query_as::<_, Row>(&sql)
            .bind(id)
            .bind(limit + 1)
            .bind(PREVIEW_FETCH_BYTES);
        if let Some((_, position)) = start {
            let Some(at) = DateTime::<Utc>::from_timestamp_micros(position.at_us) else {
                return Ok((Vec::new(), false));
            };
            query = query
                .bind(at)
                .bind(format!("({},{})", position.block, position.row));
        }
        let mut rows = query.fetch_all(&self.pool).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        let entries: Vec<LogEntry> = rows
            .into_iter()
            .map(|row| {
                Ok(LogEntry {
                    position: log_position(row.received_at, &row.row_place)?,
                    at_ms: row.received_at.timestamp_millis(),
                    preview: payload::preview(&row.payload_prefix, row.payload_len.max(0) as usize),
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok((entries, more))
    }
}

/// What a change to a user came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserChange {
    Done,
    NoSuchUser,
    /// Refused: it would leave no enabled admin, and then nobody could manage users from the web.
    LastAdmin,
}

/// What a change to an access rule came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleChange {
    Done,
    NoSuchRule,
    /// Refused: the same role, filter and permission are already a rule.
    Duplicate,
}

/// A user row as read, before its role text becomes a [`Role`].
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    name: String,
    role: String,
    disabled: bool,
}

impl TryFrom<UserRow> for User {
    type Error = sqlx::Error;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        Ok(User {
            role: row
                .role
                .parse::<Role>()
                .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
            id: row.id,
            name: row.name,
            disabled: row.disabled,
        })
    }
}

/// A user column that [`Store::change_user`] sets.
#[derive(Clone, Copy)]
enum UserField {
    Role(Role),
    Disabled(bool),
}

const USER_COLUMNS: &str = "id, name, role::text as role, disabled";

impl Store {
    /// Adds a user and returns it, or `None` when the name is taken (in any letter case).
    pub async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<Option<User>, sqlx::Error> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "insert into app_user (name, password_hash, role) values ($1, $2, $3::user_role) \
             on conflict ((lower(name))) do nothing \
             returning {USER_COLUMNS}"
        ))
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// The user called `name` in any letter case, with its password hash, disabled or not.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<Credentials>, sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<Row> = sqlx::query_as(&format!(
            "select {USER_COLUMNS}, password_hash from app_user where lower(name) = lower($1)"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Credentials {
                user: User::try_from(row.user)?,
                password_hash: row.password_hash,
            })
        })
        .transpose()
    }

    /// The user with this id, disabled or not: what a session refers to.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "select {USER_COLUMNS} from app_user where id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// Every user by name, with when it was created and last changed its password.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>, sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            created_at: DateTime<Utc>,
            password_changed_at: DateTime<Utc>,
        }
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "select {USER_COLUMNS}, created_at, password_changed_at from app_user \
             order by lower(name)"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(UserInfo {
                    user: User::try_from(row.user)?,
                    created_at: row.created_at,
                    password_changed_at: row.password_changed_at,
                })
            })
            .collect()
    }

    /// Replaces a user's password hash; `false` when there is no such user. Sessions are ended
    /// separately, with [`Store::end_user_sessions`].
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
    ) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query(
            "update app_user set password_hash = $2, password_changed_at = now() where id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Gives a user another role, unless that takes the role of the last enabled admin.
    pub async fn set_role(&self, user_id: i64, role: Role) -> Result<UserChange, sqlx::Error> {
        self.change_user(user_id, UserField::Role(role)).await
    }

    /// Disables or enables a user. Disabling the last enabled admin is refused.
    pub async fn set_disabled(
        &self,
        user_id: i64,
        disabled: bool,
    ) -> Result<UserChange, sqlx::Error> {
        self.change_user(user_id, UserField::Disabled(disabled))
            .await
    }

    async fn change_user(&self, user_id: i64, field: UserField) -> Result<UserChange, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Locking the enabled admins first serialises demotions: two admins disabling each other
        // at once must not both succeed. After waiting on a lock, `for update` reads the row
        // again, so an admin disabled meanwhile is no longer counted.
        let admins: Vec<i64> = sqlx::query_scalar(
            "select id from app_user where role = 'admin' and not disabled order by id for update",
        )
        .fetch_all(&mut *tx)
        .await?;
        let demotes = match field {
            UserField::Role(role) => role != Role::Admin,
            UserField::Disabled(disabled) => disabled,
        };
        if demotes && admins == [user_id] {
            return Ok(UserChange::LastAdmin);
        }
        let query = match field {
            UserField::Role(role) => {
                sqlx::query("update app_user set role = $2::user_role where id = $1")
                    .bind(user_id)
                    .bind(role.as_str())
            }
            UserField::Disabled(disabled) => {
                sqlx::query("update app_user set disabled = $2 where id = $1")
                    .bind(user_id)
                    .bind(disabled)
            }
        };
        if query.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(UserChange::NoSuchUser);
        }
        tx.commit().await?;
        Ok(UserChange::Done)
    }

    /// How many admins are enabled: none means nobody can manage users from the web.
    pub async fn count_admins(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("select count(*) from app_user where role = 'admin' and not disabled")
            .fetch_one(&self.pool)
            .await
    }

    /// How many users there are, disabled ones included.
    pub async fn count_users(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("select count(*) from app_user")
            .fetch_one(&self.pool)
            .await
    }

    /// Notes that `session_id` (tower-sessions' id) belongs to `user_id`, so that ending all of
    /// a user's sessions can find it; only while `password_hash` is still the user's and they are
    /// enabled. Returns whether it was recorded. A password change commits its new hash before
    /// ending the sessions, so a login racing it is either recorded and then ended, or refused.
    pub async fn record_user_session(
        &self,
        session_id: &str,
        user_id: i64,
        password_hash: &str,
    ) -> Result<bool, sqlx::Error> {
        let recorded = sqlx::query(
            "insert into user_session (session_id, user_id) \
             select $1, id from app_user \
             where id = $2 and password_hash = $3 and not disabled \
             on conflict (session_id) do update set user_id = excluded.user_id, created_at = now()",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(password_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(recorded == 1)
    }

    /// Forgets a session that ended (logout, expiry).
    pub async fn forget_user_session(&self, session_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("delete from user_session where session_id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// The role of `user_id` if `session_id` is still one of its live sessions (not logged out,
    /// ended by a password change, expired, or of a disabled user): what a long-lived stream
    /// checks now and then, since it no longer passes through the per-request checks.
    pub async fn session_role(
        &self,
        session_id: &str,
        user_id: i64,
    ) -> Result<Option<Role>, sqlx::Error> {
        let role: Option<String> = sqlx::query_scalar(
            "select u.role::text from user_session us \
             join app_user u on u.id = us.user_id \
             join tower_sessions.session s on s.id = us.session_id \
             where us.session_id = $1 and us.user_id = $2 and not u.disabled \
               and s.expiry_date > now()",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        role.map(|role| {
            role.parse::<Role>()
                .map_err(|error| sqlx::Error::Decode(Box::new(error)))
        })
        .transpose()
    }

    /// Ends every session of `user_id`: removes them from tower-sessions' store (when it exists
    /// in this database) and from `user_session`. Returns how many sessions the user had.
    pub async fn end_user_sessions(&self, user_id: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<String> =
            sqlx::query_scalar("delete from user_session where user_id = $1 returning session_id")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        // tower-sessions creates its schema when its store first migrates, which a database used
        // only by the CLI (or an older version) never did; there is nothing to end there then.
        let has_store: bool =
            sqlx::query_scalar("select to_regclass('tower_sessions.session') is not null")
                .fetch_one(&mut *tx)
                .await?;
        if has_store && !ids.is_empty() {
            sqlx::query("delete from tower_sessions.session where id = any($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Appends one row to the audit log.
    pub async fn audit(&self, entry: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
        // jsonb travels as text: sqlx's `json` feature would be a dependency for this one column.
        sqlx::query(
            "insert into audit_log (actor_user_id, actor_name, client_addr, action, detail) \
             values ($1, $2, $3, $4, $5::jsonb)",
        )
        .bind(entry.actor_user_id)
        .bind(entry.actor_name)
        .bind(entry.client_addr)
        .bind(entry.action)
        .bind(entry.detail.to_string())
        .execute(&self.pool)
        .await
        .map(drop)
    }

    /// Every access rule, by audience, permission and filter. A stored rule that no longer
    /// parses (none should: they are checked on entry) is skipped with a warning rather than
    /// granting anything.
    pub async fn access_rules(&self) -> Result<Vec<AccessRule>, sqlx::Error> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "select id, role, filter, permission::text from access_rule \
             order by role, permission, filter",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, audience, filter, permission)| {
                let parsed = (
                    audience.parse::<Audience>().ok(),
                    TopicFilter::parse(&filter).ok(),
                    permission.parse::<Permission>().ok(),
                );
                match parsed {
                    (Some(audience), Some(filter), Some(permission)) => Some(AccessRule {
                        id,
                        audience,
                        filter,
                        permission,
                    }),
                    _ => {
                        tracing::warn!(id, %filter, "an access rule cannot be read; ignored");
                        None
                    }
                }
            })
            .collect())
    }

    /// Adds a rule and returns its id, or `None` when the same rule exists already.
    pub async fn add_access_rule(
        &self,
        audience: Audience,
        filter: &TopicFilter,
        permission: Permission,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "insert into access_rule (role, filter, permission) \
             values ($1, $2, $3::access_permission) \
             on conflict (role, filter, permission) do nothing returning id",
        )
        .bind(audience.as_str())
        .bind(filter.as_str())
        .bind(permission.as_str())
        .fetch_optional(&self.pool)
        .await
    }

    /// Rewrites rule `id`.
    pub async fn update_access_rule(
        &self,
        id: i64,
        audience: Audience,
        filter: &TopicFilter,
        permission: Permission,
    ) -> Result<RuleChange, sqlx::Error> {
        let updated = sqlx::query(
            "update access_rule set role = $2, filter = $3, \
                 permission = $4::access_permission \
             where id = $1",
        )
        .bind(id)
        .bind(audience.as_str())
        .bind(filter.as_str())
        .bind(permission.as_str())
        .execute(&self.pool)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => Ok(RuleChange::NoSuchRule),
            Ok(_) => Ok(RuleChange::Done),
            // unique_violation: it would become a copy of another rule.
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("23505") => {
                Ok(RuleChange::Duplicate)
            }
            Err(error) => Err(error),
        }
    }

    /// Deletes rule `id`; `false` when there was no such rule.
    pub async fn delete_access_rule(&self, id: i64) -> Result<bool, sqlx::Error> {
        let deleted = sqlx::query("delete from access_rule where id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The newest `limit` audit rows, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<AuditRecord>, sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            at: DateTime<Utc>,
            actor_user_id: Option<i64>,
            actor_name: Option<String>,
            client_addr: Option<String>,
            action: String,
            detail: String,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "select id, at, actor_user_id, actor_name, client_addr, action, detail::text as detail \
             from audit_log order by at desc, id desc limit $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(AuditRecord {
                    detail: serde_json::from_str(&row.detail)
                        .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
                    id: row.id,
                    at: row.at,
                    actor_user_id: row.actor_user_id,
                    actor_name: row.actor_name,
                    client_addr: row.client_addr,
                    action: row.action,
                })
            })
            .collect()
    }
}

/// How many bytes of a payload liveness reads: a status (`offline`, `{"state":"offline"}`) is
/// short, and a large data payload need not travel to be ignored.
const STATUS_FETCH_BYTES: i32 = 256;

impl Store {
    /// Every liveness rule, by name. A stored rule that no longer passes the checks (none should:
    /// they are checked on entry) is skipped with a warning.
    pub async fn liveness_rules(&self) -> Result<Vec<LivenessRule>, sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            name: String,
            device_filter: String,
            status_topic: Option<String>,
            interval_seconds: i32,
            online_payload: String,
            offline_payload: String,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "select id, name, device_filter, status_topic, interval_seconds, online_payload, \
                    offline_payload \
             from liveness_rule order by name, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let interval = row.interval_seconds.to_string();
                let text = RuleText {
                    name: &row.name,
                    devices: &row.device_filter,
                    status: row.status_topic.as_deref().unwrap_or(""),
                    interval_seconds: &interval,
                    online: &row.online_payload,
                    offline: &row.offline_payload,
                };
                LivenessRule::check(row.id, text)
                    .inspect_err(|problem| {
                        tracing::warn!(id = row.id, %problem, "a liveness rule cannot be read; ignored")
                    })
                    .ok()
            })
            .collect())
    }

    /// Adds a liveness rule (its id is ignored) and returns its id, or `None` when a rule for
    /// the same device filter exists already.
    pub async fn add_liveness_rule(&self, rule: &LivenessRule) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "insert into liveness_rule (name, device_filter, status_topic, interval_seconds, \
                                        online_payload, offline_payload) \
             values ($1, $2, $3, $4, $5, $6) \
             on conflict (device_filter) do nothing returning id",
        )
        .bind(&rule.name)
        .bind(rule.devices.as_str())
        .bind(rule.status.as_ref().map(|status| status.as_str()))
        .bind(rule.interval_seconds as i32)
        .bind(&rule.words.online)
        .bind(&rule.words.offline)
        .fetch_optional(&self.pool)
        .await
    }

    /// Rewrites liveness rule `rule.id`.
    pub async fn update_liveness_rule(
        &self,
        rule: &LivenessRule,
    ) -> Result<RuleChange, sqlx::Error> {
        let updated = sqlx::query(
            "update liveness_rule set name = $2, device_filter = $3, status_topic = $4, \
                 interval_seconds = $5, online_payload = $6, offline_payload = $7 \
             where id = $1",
        )
        .bind(rule.id)
        .bind(&rule.name)
        .bind(rule.devices.as_str())
        .bind(rule.status.as_ref().map(|status| status.as_str()))
        .bind(rule.interval_seconds as i32)
        .bind(&rule.words.online)
        .bind(&rule.words.offline)
        .execute(&self.pool)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => Ok(RuleChange::NoSuchRule),
            Ok(_) => Ok(RuleChange::Done),
            // unique_violation: another rule has that device filter.
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("23505") => {
                Ok(RuleChange::Duplicate)
            }
            Err(error) => Err(error),
        }
    }

    /// Deletes liveness rule `id`; `false` when there was no such rule.
    pub async fn delete_liveness_rule(&self, id: i64) -> Result<bool, sqlx::Error> {
        let deleted = sqlx::query("delete from liveness_rule where id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The newest message of every topic whose name starts with one of `prefixes`, as liveness
    /// reads them. For a topic whose newest message is a retained copy (handed over when ingest
    /// subscribed), also the newest message that arrived live, from the history, so that a
    /// resubscription does not pass for a sign of life.
    pub async fn device_topics(&self, prefixes: &[&str]) -> Result<Vec<TopicSeen>, sqlx::Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            name: String,
            received_at: DateTime<Utc>,
            retain: bool,
            payload_prefix: Vec<u8>,
            live_at: Option<DateTime<Utc>>,
            live_payload_prefix: Option<Vec<u8>>,
        }
        if prefixes.is_empty() {
            return Ok(Vec::new());
        }
        let patterns: Vec<String> = prefixes
            .iter()
            .map(|prefix| format!("{}%", escape_like(prefix)))
            .collect();
        // `l.retain` inside the lateral query makes it a one-time filter: topics whose newest
        // message arrived live never touch the history.
        let rows: Vec<Row> = sqlx::query_as(
            "select t.name, l.received_at, l.retain, \
                    substring(l.payload from 1 for $2) as payload_prefix, \
                    live.received_at as live_at, live.payload_prefix as live_payload_prefix \
             from latest l \
             join topic t on t.id = l.topic_id \
             left join lateral ( \
                 select m.received_at, substring(m.payload from 1 for $2) as payload_prefix \
                 from message m \
                 where l.retain and m.topic_id = l.topic_id and not m.retain \
                 order by m.received_at desc limit 1 \
             ) live on true \
             where t.name like any($1)",
        )
        .bind(&patterns)
        .bind(STATUS_FETCH_BYTES)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let received_at_ms = row.received_at.timestamp_millis();
                let live = if row.retain {
                    row.live_at.map(|at| {
                        (
                            at.timestamp_millis(),
                            row.live_payload_prefix.unwrap_or_default(),
                        )
                    })
                } else {
                    Some((received_at_ms, row.payload_prefix.clone()))
                };
                TopicSeen {
                    topic: row.name,
                    received_at_ms,
                    retained: row.retain,
                    payload: row.payload_prefix,
                    live,
                }
            })
            .collect())
    }
}

/// `text` as a literal in a `like` pattern (whose default escape character is `\`).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
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

/// How many bytes of topic names a writer remembers ids for, by default: about 200,000 topics.
pub const TOPIC_ID_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The topic ids a writer remembers, bounded in bytes whatever the number of topics the broker
/// carries. Two generations: a hit in the older one moves the entry to the newer, and when the
/// newer has used half the budget the older is dropped whole. Topics in use stay; the cost is
/// one look-up per topic that went quiet for a whole generation.
#[derive(Debug)]
struct TopicIdCache {
    current: HashMap<Box<str>, i64>,
    previous: HashMap<Box<str>, i64>,
    current_bytes: usize,
    budget_bytes: usize,
}

/// What an entry costs besides its name: the map's slot (the boxed name and the id) and the
/// allocator's header.
const TOPIC_ID_ENTRY_OVERHEAD: usize = 48;

impl TopicIdCache {
    fn new(budget_bytes: usize) -> Self {
        Self {
            current: HashMap::new(),
            previous: HashMap::new(),
            current_bytes: 0,
            budget_bytes,
        }
    }

    fn get(&mut self, name: &str) -> Option<i64> {
        if let Some(id) = self.current.get(name) {
            return Some(*id);
        }
        let (name, id) = self.previous.remove_entry(name)?;
        self.insert(name, id);
        Some(id)
    }

    fn insert(&mut self, name: Box<str>, id: i64) {
        let cost = name.len() + TOPIC_ID_ENTRY_OVERHEAD;
        if self.current_bytes + cost > self.budget_bytes / 2 {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        if self.current.insert(name, id).is_none() {
            self.current_bytes += cost;
        }
    }

    fn forget(&mut self, name: &str) {
        if let Some((name, _)) = self.current.remove_entry(name) {
            self.current_bytes -= name.len() + TOPIC_ID_ENTRY_OVERHEAD;
        }
        self.previous.remove(name);
    }

    fn bytes(&self) -> usize {
        let previous: usize = self
            .previous
            .keys()
            .map(|name| name.len() + TOPIC_ID_ENTRY_OVERHEAD)
            .sum();
        self.current_bytes + previous
    }
}

/// Writes batches of messages. Clones share what they remember of topic ids, so that a steady
/// stream of known topics costs no look-ups, and several batches may be written at once.
#[derive(Clone, Debug)]
pub struct BatchWriter {
    store: Store,
    topic_ids: Arc<Mutex<TopicIdCache>>,
}

impl BatchWriter {
    pub fn new(store: Store) -> Self {
        Self::with_topic_cache_bytes(store, TOPIC_ID_CACHE_BYTES)
    }

    pub fn with_topic_cache_bytes(store: Store, budget_bytes: usize) -> Self {
        Self {
            store,
            topic_ids: Arc::new(Mutex::new(TopicIdCache::new(budget_bytes))),
        }
    }

    /// Bytes the topic-id cache holds now (names and their entries).
    pub fn topic_cache_bytes(&self) -> usize {
        self.topic_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .bytes()
    }

    /// Forgets the ids of `topics`, so the next write looks them up again: after a batch with
    /// them was refused, an id remembered for a topic that no longer exists must not be the
    /// reason it is refused again.
    pub fn forget_topics<'t>(&self, topics: impl IntoIterator<Item = &'t str>) {
        let mut cache = self.topic_ids.lock().unwrap_or_else(|p| p.into_inner());
        for topic in topics {
            cache.forget(topic);
        }
    }

    /// Stores `batch` in one transaction: the messages, and the latest row per topic with its
    /// message count, where the last message of a topic in the batch wins unless the stored one
    /// is newer. Nothing is written unless all of it is. Batches written at the
    /// same time by clones lock topic rows in the same order, so they wait for each other instead
    /// of deadlocking.
    pub async fn write(&self, batch: &[NewMessage<'_>]) -> Result<(), sqlx::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        // The ids this writer knows of the batch's topics, and the names it does not know.
        let (known, mut unknown) = {
            let mut cache = self.topic_ids.lock().unwrap_or_else(|p| p.into_inner());
            let mut known: HashMap<&str, i64> = HashMap::new();
            let mut unknown: Vec<&str> = Vec::new();
            for message in batch {
                match cache.get(message.topic) {
                    Some(id) => {
                        known.insert(message.topic, id);
                    }
                    None => unknown.push(message.topic),
                }
            }
            (known, unknown)
        };
        let mut tx = self.store.pool.begin().await?;

        // Ids of topics new to this writer. They enter the cache only after the commit, since a
        // rolled-back transaction may have handed out ids that do not exist.
        unknown.sort_unstable();
        unknown.dedup();
        let fresh_ids: Vec<(i64, String)> = if unknown.is_empty() {
            Vec::new()
        } else {
            // `do update` (a no-op) rather than `do nothing`, so existing topics return ids too;
            // sorted names keep concurrent writers from deadlocking on each other's rows.
            sqlx::query_as(
                "insert into topic (name) select * from unnest($1::text[]) \
                 on conflict (name) do update set name = excluded.name \
                 returning id, name",
            )
            .bind(&unknown)
            .fetch_all(&mut *tx)
            .await?
        };
        let fresh: HashMap<&str, i64> = fresh_ids
            .iter()
            .map(|(id, name)| (name.as_str(), *id))
            .collect();
        let id_of = |topic: &str| -> i64 {
            known
                .get(topic)
                .or_else(|| fresh.get(topic))
                .copied()
                .expect("every topic of the batch has an id")
        };

        let mut topic_ids = Vec::with_capacity(batch.len());
        let mut received = Vec::with_capacity(batch.len());
        let mut payloads = Vec::with_capacity(batch.len());
        let mut qos = Vec::with_capacity(batch.len());
        let mut retain = Vec::with_capacity(batch.len());
        let mut values = Vec::with_capacity(batch.len());
        let mut kinds = Vec::with_capacity(batch.len());
        // Per topic: message count and the index of its last message in the batch.
        let mut per_topic: HashMap<i64, (i64, usize)> = HashMap::new();
        for (index, message) in batch.iter().enumerate() {
            let id = id_of(message.topic);
            topic_ids.push(id);
            received.push(message.received_at);
            payloads.push(message.payload);
            qos.push(i16::from(message.qos));
            retain.push(message.retain);
            let (kind, value) = payload::kind_and_value(message.payload);
            values.push(value);
            kinds.push(kind.as_sql());
            let entry = per_topic.entry(id).or_insert((0, index));
            entry.0 += 1;
            entry.1 = index;
        }

        sqlx::query(
            "insert into message (topic_id, received_at, payload, qos, retain, value, kind) \
             select * from unnest($1::int8[], $2::timestamptz[], $3::bytea[], $4::int2[], \
                                  $5::bool[], $6::float8[], $7::text[]::payload_kind[])",
        )
        .bind(&topic_ids)
        .bind(&received)
        .bind(&payloads)
        .bind(&qos)
        .bind(&retain)
        .bind(&values)
        .bind(&kinds)
        .execute(&mut *tx)
        .await?;

        // One row per topic from here on, in id order so concurrent writers lock rows alike.
        let mut last: Vec<(i64, i64, usize)> = per_topic
            .into_iter()
            .map(|(id, (count, index))| (id, count, index))
            .collect();
        last.sort_unstable_by_key(|(id, _, _)| *id);
        let ids: Vec<i64> = last.iter().map(|(id, _, _)| *id).collect();
        let counts: Vec<i64> = last.iter().map(|(_, count, _)| *count).collect();
        let pick = |index: &usize| &batch[*index];
        let last_received: Vec<DateTime<Utc>> =
            last.iter().map(|(_, _, i)| pick(i).received_at).collect();
        let last_payloads: Vec<&[u8]> = last.iter().map(|(_, _, i)| pick(i).payload).collect();
        let last_qos: Vec<i16> = last
            .iter()
            .map(|(_, _, i)| i16::from(pick(i).qos))
            .collect();
        let last_retain: Vec<bool> = last.iter().map(|(_, _, i)| pick(i).retain).collect();
        let last_values: Vec<Option<f64>> = last.iter().map(|(_, _, i)| values[*i]).collect();
        let last_kinds: Vec<&str> = last.iter().map(|(_, _, i)| kinds[*i]).collect();

        // The count always grows; the value only moves forward: a batch committing after a
        // newer one (two may commit at once) must not put an older value back. `latest.*` in
        // the SET list is the row as it was.
        sqlx::query(
            "insert into latest (topic_id, received_at, payload, qos, retain, value, kind, \
                                 message_count) \
             select * from unnest($1::int8[], $2::timestamptz[], $3::bytea[], $4::int2[], \
                                  $5::bool[], $6::float8[], $7::text[]::payload_kind[], \
                                  $8::int8[]) \
             on conflict (topic_id) do update set \
                 message_count = latest.message_count + excluded.message_count, \
                 received_at = greatest(latest.received_at, excluded.received_at), \
                 payload = case when latest.received_at <= excluded.received_at \
                           then excluded.payload else latest.payload end, \
                 qos = case when latest.received_at <= excluded.received_at \
                       then excluded.qos else latest.qos end, \
                 retain = case when latest.received_at <= excluded.received_at \
                          then excluded.retain else latest.retain end, \
                 value = case when latest.received_at <= excluded.received_at \
                         then excluded.value else latest.value end, \
                 kind = case when latest.received_at <= excluded.received_at \
                        then excluded.kind else latest.kind end",
        )
        .bind(&ids)
        .bind(&last_received)
        .bind(&last_payloads)
        .bind(&last_qos)
        .bind(&last_retain)
        .bind(&last_values)
        .bind(&last_kinds)
        .bind(&counts)
        .execute(&mut *tx)
        .await?;

        tx.commit().await?;
        let mut cache = self.topic_ids.lock().unwrap_or_else(|p| p.into_inner());
        for (id, name) in fresh_ids {
            cache.insert(name.into_boxed_str(), id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TopicIdCache;

    #[test]
    fn the_topic_id_cache_stays_within_its_budget_and_keeps_topics_in_use() {
        let mut cache = TopicIdCache::new(64 * 1024);
        cache.insert("plant/busy".into(), 1);
        for n in 0..100_000 {
            cache.insert(
                format!("fleet/device-{n}/telemetry").into_boxed_str(),
                n + 2,
            );
            // A topic in steady use is looked up all the time, and so never evicted.
            assert_eq!(cache.get("plant/busy"), Some(1), "after {n} topics");
            assert!(
                cache.bytes() <= 64 * 1024,
                "{} bytes after {n}",
                cache.bytes()
            );
        }
        // Quiet topics went with an old generation and are looked up in the database again.
        assert_eq!(cache.get("fleet/device-0/telemetry"), None);
        assert_eq!(cache.get("fleet/device-99999/telemetry"), Some(100_001));
        cache.forget("plant/busy");
        assert_eq!(cache.get("plant/busy"), None);
    }
}
