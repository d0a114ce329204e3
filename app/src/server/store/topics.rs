//! The SQL of what pages read of topics and their messages: the newest message of each topic (a
//! page at a time, narrowed by the reader's filters), one topic's latest message, and its message
//! log paged by keyset. Its values over time are [`super::history`]'s.

use super::Store;
use crate::domain::message_log::{LatestMessage, LogEntry, LogPage, LogPosition, MessagePage};
use crate::domain::payload;
use crate::domain::topic_filter::TopicFilter;
use crate::domain::topic_list::TopicLatest;
use chrono::{DateTime, Utc};

/// How many bytes of each payload a list fetches: enough for a preview, and a 256 KiB payload
/// does not travel whole to show 120 characters of it.
const PREVIEW_FETCH_BYTES: i32 = 512;

impl Store {
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
        // One statement per direction: the comparison and the order cannot be parameters.
        let rows = match walk {
            TopicWalk::First | TopicWalk::After(_) => {
                sqlx::query_as!(
                    Row,
                    r#"select t.name, l.received_at as "received_at: DateTime<Utc>",
                          substring(l.payload from 1 for $1) as "payload_prefix!",
                          octet_length(l.payload) as "payload_len!", l.message_count
                   from latest l join topic t on t.id = l.topic_id
                   where ($2::text is null or t.name ~ $2)
                     and ($3::text is null or t.name collate "C" > $3)
                   order by t.name collate "C" asc
                   limit $4"#,
                    PREVIEW_FETCH_BYTES,
                    pattern,
                    walk.cursor(),
                    limit,
                )
                .fetch_all(&self.pool)
                .await?
            }
            TopicWalk::Before(name) => {
                sqlx::query_as!(
                    Row,
                    r#"select t.name, l.received_at as "received_at: DateTime<Utc>",
                          substring(l.payload from 1 for $1) as "payload_prefix!",
                          octet_length(l.payload) as "payload_len!", l.message_count
                   from latest l join topic t on t.id = l.topic_id
                   where ($2::text is null or t.name ~ $2)
                     and t.name collate "C" < $3
                   order by t.name collate "C" desc
                   limit $4"#,
                    PREVIEW_FETCH_BYTES,
                    pattern,
                    name,
                    limit,
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
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

    /// The id of the topic called `name`, if any message ever came for it.
    pub async fn topic_id(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar!("select id from topic where name = $1", name)
            .fetch_optional(&self.pool)
            .await
    }

    /// When the oldest stored message of the topic called `name` was received, if it has any.
    pub async fn oldest_message_at(
        &self,
        name: &str,
    ) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        // The id first, as a value: then each partition's index on (topic_id, received_at)
        // answers with its first entry, instead of every message of the topic being read.
        sqlx::query_scalar!(
            r#"select min(received_at) as "at: DateTime<Utc>"
               from message
               where topic_id = (select id from topic where name = $1)"#,
            name,
        )
        .fetch_one(&self.pool)
        .await
    }

    /// The newest message of topic `id`, and how many messages the topic has had.
    pub async fn topic_latest(&self, id: i64) -> Result<Option<(LatestMessage, i64)>, sqlx::Error> {
        let row = sqlx::query!(
            r#"select t.name, l.received_at as "received_at: DateTime<Utc>",
                      substring(l.payload from 1 for $2) as "payload_prefix!",
                      octet_length(l.payload) as "payload_len!", l.kind::text as "kind!", l.qos,
                      l.retain, l.value, l.message_count
               from latest l join topic t on t.id = l.topic_id
               where l.topic_id = $1"#,
            id,
            payload::SHOWN_PAYLOAD_BYTES as i32,
        )
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
        struct Row {
            received_at: DateTime<Utc>,
            row_place: String,
            payload_prefix: Vec<u8>,
            payload_len: i32,
        }
        // A position as the statements take it: the time, and the row's place as `tid` text.
        let start = |position: LogPosition| {
            DateTime::<Utc>::from_timestamp_micros(position.at_us)
                .map(|at| (at, format!("({},{})", position.block, position.row)))
        };
        // One statement per direction, as comparisons and orders cannot be parameters. The bound
        // on `received_at` alone is what the index can use; the row comparison then settles
        // messages of the very same microsecond. Not `as ctid`: `order by ctid` would then sort
        // that text, not the row's place.
        let mut rows = match page {
            LogPage::Newest => sqlx::query_as!(
                Row,
                r#"select received_at as "received_at: DateTime<Utc>", ctid::text as "row_place!",
                          substring(payload from 1 for $3) as "payload_prefix!",
                          octet_length(payload) as "payload_len!"
                   from message
                   where topic_id = $1
                   order by received_at desc, ctid desc
                   limit $2"#,
                id,
                limit + 1,
                PREVIEW_FETCH_BYTES,
            )
            .fetch_all(&self.pool)
            .await?,
            LogPage::Before(position) => {
                let Some((at, place)) = start(position) else {
                    return Ok((Vec::new(), false));
                };
                sqlx::query_as!(
                    Row,
                    r#"select received_at as "received_at: DateTime<Utc>", ctid::text as "row_place!",
                              substring(payload from 1 for $3) as "payload_prefix!",
                              octet_length(payload) as "payload_len!"
                       from message
                       where topic_id = $1
                         and received_at <= $4 and (received_at, ctid) < ($4, $5::text::tid)
                       order by received_at desc, ctid desc
                       limit $2"#,
                    id,
                    limit + 1,
                    PREVIEW_FETCH_BYTES,
                    at as DateTime<Utc>,
                    place,
                )
                .fetch_all(&self.ranged_reads)
                .await?
            }
            LogPage::After(position) => {
                let Some((at, place)) = start(position) else {
                    return Ok((Vec::new(), false));
                };
                sqlx::query_as!(
                    Row,
                    r#"select received_at as "received_at: DateTime<Utc>", ctid::text as "row_place!",
                              substring(payload from 1 for $3) as "payload_prefix!",
                              octet_length(payload) as "payload_len!"
                       from message
                       where topic_id = $1
                         and received_at >= $4 and (received_at, ctid) > ($4, $5::text::tid)
                       order by received_at asc, ctid asc
                       limit $2"#,
                    id,
                    limit + 1,
                    PREVIEW_FETCH_BYTES,
                    at as DateTime<Utc>,
                    place,
                )
                .fetch_all(&self.ranged_reads)
                .await?
            }
        };
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

impl<'a> TopicWalk<'a> {
    /// The name the walk starts beyond, if any.
    fn cursor(self) -> Option<&'a str> {
        match self {
            TopicWalk::First => None,
            TopicWalk::After(name) | TopicWalk::Before(name) => Some(name),
        }
    }
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
