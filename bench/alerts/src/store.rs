//! What Lookout stored, read from its database on a connection of the benchmark's own: how many
//! messages so far, and each message of a step with the time its transaction committed
//! (`track_commit_timestamp`), as the ingest benchmark reads them.

use anyhow::{Context, Result};
use bench_common::payload;
use futures_util::{pin_mut, TryStreamExt};
use std::ops::Range;

/// One stored message: `seq`, published at `sent_us`, committed at `at_us`.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub seq: u64,
    pub sent_us: u64,
    pub at_us: u64,
}

pub struct Store {
    client: tokio_postgres::Client,
    pub backend_pid: u32,
}

impl Store {
    pub async fn connect(url: &str) -> Result<Self> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("alerts-bench: database connection lost: {error}");
            }
        });
        let row = client.query_one("select pg_backend_pid()", &[]).await?;
        let backend_pid = row.get::<_, i32>(0) as u32;
        Ok(Self {
            client,
            backend_pid,
        })
    }

    /// Messages stored so far, duplicates included: Lookout keeps `latest.message_count` in the
    /// same transaction as the rows, so this is a committed count that costs a scan of one row
    /// per topic rather than of the message table.
    pub async fn progress(&self) -> Result<u64> {
        let row = self
            .client
            .query_one(
                "select coalesce(sum(message_count), 0)::int8 from latest",
                &[],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// The id of the channel named `name` (made through the form, which answers with a redirect
    /// rather than the id).
    pub async fn channel_id(&self, name: &str) -> Result<i64> {
        let row = self
            .client
            .query_one("select id from alert_channel where name = $1", &[&name])
            .await
            .with_context(|| format!("no alert channel {name}"))?;
        Ok(row.get(0))
    }

    /// Rows of messages whose `seq` is in one of `ranges`, received since `since_us` (less two
    /// seconds), with their commit times. Streamed: a step is a million rows.
    pub async fn arrivals(&self, ranges: &[Range<u64>], since_us: u64) -> Result<Vec<Arrival>> {
        let since = since_us as f64 / 1e6 - 2.0;
        let rows = self
            .client
            .query_raw(
                "select (extract(epoch from pg_xact_commit_timestamp(m.xmin)) * 1000000)::int8, \
                        substring(m.payload from 1 for 64) \
                 from message m \
                 where m.topic_id = any(array(select id from topic)) \
                   and m.received_at >= to_timestamp($1::float8)",
                [&since as &(dyn tokio_postgres::types::ToSql + Sync)],
            )
            .await
            .context("reading the step's rows")?;
        pin_mut!(rows);
        let mut arrivals = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let committed: Option<i64> = row.get(0);
            let head: &[u8] = row.get(1);
            let Some((seq, sent_us)) = payload::parse_head(head) else {
                continue;
            };
            if ranges.iter().any(|range| range.contains(&seq)) {
                arrivals.push(Arrival {
                    seq,
                    sent_us,
                    at_us: committed.context(
                        "a row without a commit timestamp: is track_commit_timestamp on?",
                    )? as u64,
                });
            }
        }
        Ok(arrivals)
    }
}
