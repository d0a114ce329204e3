//! Where the driver learns which messages arrived and when: the discarding subscriber's record
//! stream, or the rows committed to PostgreSQL with their commit timestamps.

use anyhow::{Context, Result};
use bench_common::payload;
use std::ops::Range;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// One arrival: a message `seq` published at `sent_us` was received or committed at `at_us`.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub seq: u64,
    pub sent_us: u64,
    pub at_us: u64,
}

pub enum Sink {
    Discard(DiscardSink),
    Postgres(PgSink),
}

impl Sink {
    /// A number that grows by one for every message stored (duplicates included).
    pub async fn progress(&self) -> Result<u64> {
        match self {
            Sink::Discard(sink) => Ok(sink.count.load(Ordering::Acquire)),
            Sink::Postgres(sink) => sink.progress().await,
        }
    }

    /// Every arrival of a message in `seqs`; `since_us` bounds the search (no earlier publish).
    pub async fn arrivals(&self, seqs: Range<u64>, since_us: u64) -> Result<Vec<Arrival>> {
        match self {
            Sink::Discard(sink) => {
                let all = std::mem::take(&mut *sink.records.lock().unwrap());
                Ok(all.into_iter().filter(|a| seqs.contains(&a.seq)).collect())
            }
            Sink::Postgres(sink) => sink.arrivals(seqs, since_us).await,
        }
    }
}

/// The discarding subscriber as a child process, and what it has reported so far.
pub struct DiscardSink {
    pub child: Child,
    count: Arc<AtomicU64>,
    records: Arc<Mutex<Vec<Arrival>>>,
}

impl DiscardSink {
    pub fn spawn(host: &str, port: u16) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find this program")?;
        let mut child = Command::new(exe)
            .args(["discard", "--host", host, "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the discarding subscriber")?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let count: Arc<AtomicU64> = Arc::default();
        let records: Arc<Mutex<Vec<Arrival>>> = Arc::default();
        let (counter, sink) = (count.clone(), records.clone());
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 24 * 4096];
            let mut filled = 0;
            loop {
                match stdout.read(&mut buffer[filled..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => filled += read,
                }
                let whole = filled / 24 * 24;
                let mut batch = Vec::with_capacity(whole / 24);
                for record in buffer[..whole].chunks_exact(24) {
                    let field = |i: usize| u64::from_le_bytes(record[i..i + 8].try_into().unwrap());
                    batch.push(Arrival {
                        seq: field(0),
                        sent_us: field(8),
                        at_us: field(16),
                    });
                }
                buffer.copy_within(whole..filled, 0);
                filled -= whole;
                let n = batch.len() as u64;
                sink.lock().unwrap().extend(batch);
                counter.fetch_add(n, Ordering::AcqRel);
            }
        });
        Ok(Self {
            child,
            count,
            records,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// A database with Lookout's schema, read through its own connection.
pub struct PgSink {
    client: tokio_postgres::Client,
    pub backend_pid: u32,
}

impl PgSink {
    pub async fn connect(url: &str) -> Result<Self> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("ingest-bench: database connection lost: {error}");
            }
        });
        let row = client.query_one("select pg_backend_pid()", &[]).await?;
        let backend_pid = row.get::<_, i32>(0) as u32;
        Ok(Self {
            client,
            backend_pid,
        })
    }

    /// Both writers keep `latest.message_count` in the same transaction as the rows, so this is
    /// a committed-row count that costs a scan of 1,000 rows rather than of the message table.
    async fn progress(&self) -> Result<u64> {
        let row = self
            .client
            .query_one(
                "select coalesce(sum(message_count), 0)::int8 from latest",
                &[],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Rows of the step with the time their transaction committed (`track_commit_timestamp`).
    /// The (topic_id, received_at) index keeps this to the step's rows.
    async fn arrivals(&self, seqs: Range<u64>, since_us: u64) -> Result<Vec<Arrival>> {
        let rows = self
            .client
            .query(
                "select (extract(epoch from pg_xact_commit_timestamp(m.xmin)) * 1000000)::int8, \
                        substring(m.payload from 1 for 64) \
                 from message m \
                 where m.topic_id = any(array(select id from topic)) \
                   and m.received_at >= to_timestamp($1::float8)",
                &[&(since_us as f64 / 1e6 - 2.0)],
            )
            .await
            .context("reading the step's rows")?;
        let mut arrivals = Vec::with_capacity(rows.len());
        for row in rows {
            let committed: Option<i64> = row.get(0);
            let head: &[u8] = row.get(1);
            let Some((seq, sent_us)) = payload::parse_head(head) else {
                continue;
            };
            if seqs.contains(&seq) {
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
