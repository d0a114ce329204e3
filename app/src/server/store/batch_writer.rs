//! The SQL of storing what ingest receives: each batch of messages in one transaction, with the
//! newest message per topic and the batch's numbers per minute for the rollups, and the topic ids
//! a writer remembers so that known topics cost no look-up.

use super::history::RollupDeltas;
use super::Store;
use crate::domain::payload::{self, PayloadKind};
use crate::domain::series::{SharedSeries, OWN_NUMBER};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A message as ingest hands it to storage.
#[derive(Clone, Debug)]
pub struct NewMessage<'a> {
    pub topic: &'a str,
    pub received_at: DateTime<Utc>,
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
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
    /// The named series each batch's JSON payloads are rolled up by, as they are when it is
    /// written.
    series: SharedSeries,
}

impl BatchWriter {
    pub fn new(store: Store, series: SharedSeries) -> Self {
        Self::with_topic_cache_bytes(store, series, TOPIC_ID_CACHE_BYTES)
    }

    pub fn with_topic_cache_bytes(store: Store, series: SharedSeries, budget_bytes: usize) -> Self {
        Self {
            store,
            topic_ids: Arc::new(Mutex::new(TopicIdCache::new(budget_bytes))),
            series,
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

    /// Stores `batch` in one transaction: the messages, the latest row per topic with its
    /// message count, where the last message of a topic in the batch wins unless the stored one
    /// is newer, and the numbers (each payload's own, and those of the named series) folded per
    /// minute into one row of `rollup_pending`, which [`Store::fold_rollup_deltas`] takes into the
    /// rollups. Nothing is written unless all of it is. Batches written at the same time by
    /// clones lock topic rows in the same order, so they wait for each other instead of
    /// deadlocking.
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
            sqlx::query!(
                "insert into topic (name) select * from unnest($1::text[]) \
                 on conflict (name) do update set name = excluded.name \
                 returning id, name",
                &unknown as &[&str],
            )
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|row| (row.id, row.name))
            .collect()
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
        let mut rollups = RollupDeltas::default();
        let series = self.series.current();
        for (index, message) in batch.iter().enumerate() {
            let id = id_of(message.topic);
            topic_ids.push(id);
            received.push(message.received_at);
            payloads.push(message.payload);
            qos.push(i16::from(message.qos));
            retain.push(message.retain);
            let (kind, value) = payload::kind_and_value(message.payload);
            if let Some(value) = value {
                rollups.add(id, OWN_NUMBER, message.received_at, value);
            }
            if kind == PayloadKind::Json && !series.is_empty() {
                series.values_of(message.topic, message.payload, |series, value| {
                    rollups.add(id, series, message.received_at, value)
                });
            }
            values.push(value);
            kinds.push(kind.as_sql());
            let entry = per_topic.entry(id).or_insert((0, index));
            entry.0 += 1;
            entry.1 = index;
        }

        sqlx::query!(
            "insert into message (topic_id, received_at, payload, qos, retain, value, kind) \
             select * from unnest($1::int8[], $2::timestamptz[], $3::bytea[], $4::int2[], \
                                  $5::bool[], $6::float8[], $7::text[]::payload_kind[])",
            &topic_ids,
            &received as &[DateTime<Utc>],
            &payloads as &[&[u8]],
            &qos,
            &retain,
            &values as &[Option<f64>],
            &kinds as &[&str],
        )
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
        sqlx::query!(
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
            &ids,
            &last_received as &[DateTime<Utc>],
            &last_payloads as &[&[u8]],
            &last_qos,
            &last_retain,
            &last_values as &[Option<f64>],
            &last_kinds as &[&str],
            &counts,
        )
        .execute(&mut *tx)
        .await?;

        // In the same transaction: a batch is in the rollups (once folded) exactly when it is
        // stored.
        rollups.append(&mut tx).await?;

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
