//! The benchmark's clients: who follows what, and one task per connection that connects as a
//! browser would (Lookout's SSE stream with a session cookie, or MQTT over WebSocket straight to
//! the broker; or plain MQTT, the broker's own floor) and notes when each message arrived.

use crate::mqtt::{self, Framing};
use crate::{http, sse, ws};
use anyhow::{bail, Result};
use bench_common::payload::{self, TOPICS};
use bytes::BytesMut;
use rumqttc::Packet;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

/// Per-topic clients follow topics this far apart, so that each topic has about four followers
/// and no two clients follow the same set.
const TOPIC_STRIDE: u64 = 211;

/// What one client follows.
#[derive(Clone, Debug)]
pub struct Spec {
    pub index: usize,
    /// Topic numbers (`payload::topic`), or `None` for everything (`#`).
    pub topics: Option<Vec<u64>>,
    /// Lookout's conflated mode (0: every message).
    pub conflate_ms: u32,
}

impl Spec {
    /// Per-topic client `index`: 3 to 5 topics of its own.
    pub fn per_topic(index: usize) -> Self {
        let count = 3 + index as u64 % 3;
        let topics = (0..count)
            .map(|k| (index as u64 + k * TOPIC_STRIDE) % TOPICS)
            .collect();
        Self {
            index,
            topics: Some(topics),
            conflate_ms: 0,
        }
    }

    pub fn everything(index: usize, conflate_ms: u32) -> Self {
        Self {
            index,
            topics: None,
            conflate_ms,
        }
    }

    pub fn follows(&self, seq: u64) -> bool {
        match &self.topics {
            Some(topics) => topics.contains(&(seq % TOPICS)),
            None => true,
        }
    }

    fn filters(&self) -> Vec<String> {
        match &self.topics {
            Some(topics) => topics
                .iter()
                .map(|&t| payload::Topics::default().name(t))
                .collect(),
            None => vec!["#".to_owned()],
        }
    }
}

/// Where the clients connect.
#[derive(Clone)]
pub enum Target {
    /// Lookout's `GET /api/live`, with these session cookies taken in turn.
    Sse {
        server: SocketAddr,
        cookies: Arc<Vec<String>>,
    },
    /// The broker: its websocket listener, or its plain MQTT one.
    Mqtt {
        server: SocketAddr,
        framing: Framing,
    },
}

/// Counters every client task updates, for the driver to watch.
#[derive(Default)]
pub struct Progress {
    pub connected: AtomicUsize,
    pub failed: AtomicUsize,
    /// Connected and not closed since.
    pub alive: AtomicUsize,
    /// Clients that have seen a readiness probe.
    pub probed: AtomicUsize,
    /// Measured messages received by clients in full mode, and by conflated ones.
    pub received_full: AtomicU64,
    pub received_conflated: AtomicU64,
}

/// One arrival of a measured message.
#[derive(Clone, Copy, Debug)]
pub struct Receipt {
    pub seq: u64,
    pub sent_us: u64,
    pub at_us: u64,
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub receipts: Vec<Receipt>,
    pub resyncs: u64,
    /// SSE comments (keep-alives).
    pub comments: u64,
    /// Messages neither measured nor probes (from before this run, or without a sequence number).
    pub foreign: u64,
    pub error: Option<String>,
}

/// Which sequence numbers a client counts.
#[derive(Clone)]
pub struct Window {
    pub measured: Range<u64>,
    /// Probes of this run are from here on.
    pub probes_from: u64,
}

pub struct Client {
    pub spec: Spec,
    pub target: Target,
    pub source: IpAddr,
    pub window: Window,
    pub progress: Arc<Progress>,
    /// Connections being set up at once at most: the server's listen backlog is finite.
    pub connecting: Arc<Semaphore>,
    pub stop: watch::Receiver<bool>,
    pub client_id_prefix: String,
}

/// Receipts of one client, with the driver's counters kept in step.
struct Recorder<'a> {
    spec: &'a Spec,
    window: &'a Window,
    progress: &'a Progress,
    outcome: Outcome,
    probed: bool,
    new_receipts: u64,
}

impl Recorder<'_> {
    fn note(&mut self, data: &[u8], at_us: u64) {
        match payload::parse_head(data) {
            Some((seq, _)) if seq >= self.window.probes_from => {
                if !self.probed {
                    self.probed = true;
                    self.progress.probed.fetch_add(1, Ordering::AcqRel);
                }
            }
            Some((seq, sent_us)) if self.window.measured.contains(&seq) => {
                self.outcome.receipts.push(Receipt {
                    seq,
                    sent_us,
                    at_us,
                });
                self.new_receipts += 1;
            }
            _ => self.outcome.foreign += 1,
        }
    }

    fn flush(&mut self) {
        if self.new_receipts > 0 {
            let counter = if self.spec.conflate_ms > 0 {
                &self.progress.received_conflated
            } else {
                &self.progress.received_full
            };
            counter.fetch_add(self.new_receipts, Ordering::AcqRel);
            self.new_receipts = 0;
        }
    }
}

impl Client {
    pub async fn run(mut self) -> Outcome {
        let mut recorder = Recorder {
            spec: &self.spec,
            window: &self.window,
            progress: &self.progress,
            outcome: Outcome::default(),
            probed: false,
            new_receipts: 0,
        };
        let permit = self.connecting.clone().acquire_owned().await;
        let opened = match &self.target {
            Target::Sse { server, cookies } => {
                let cookie = &cookies[self.spec.index % cookies.len()];
                open_sse(self.source, *server, cookie, &self.spec).await
            }
            Target::Mqtt { server, framing } => {
                let client_id = format!("{}-{}", self.client_id_prefix, self.spec.index);
                open_mqtt(self.source, *server, *framing, &client_id, &self.spec).await
            }
        };
        drop(permit);
        let (socket, input, body) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                self.progress.failed.fetch_add(1, Ordering::AcqRel);
                recorder.outcome.error = Some(format!("{error:#}"));
                return recorder.outcome;
            }
        };
        self.progress.connected.fetch_add(1, Ordering::AcqRel);
        self.progress.alive.fetch_add(1, Ordering::AcqRel);
        let read = match body {
            Body::Sse { chunked } => {
                read_sse(socket, input, chunked, &mut recorder, &mut self.stop).await
            }
            Body::Mqtt { framing, mqtt } => {
                read_mqtt(socket, framing, input, mqtt, &mut recorder, &mut self.stop).await
            }
        };
        if let Err(error) = read {
            self.progress.alive.fetch_sub(1, Ordering::AcqRel);
            recorder.outcome.error = Some(format!("{error:#}"));
        }
        recorder.flush();
        recorder.outcome
    }
}

enum Body {
    Sse { chunked: bool },
    Mqtt { framing: Framing, mqtt: BytesMut },
}

async fn open_sse(
    source: IpAddr,
    server: SocketAddr,
    cookie: &str,
    spec: &Spec,
) -> Result<(TcpStream, BytesMut, Body)> {
    let mut query: Vec<String> = spec
        .filters()
        .iter()
        .map(|filter| format!("filter={}", http::form_encode(filter)))
        .collect();
    if spec.conflate_ms > 0 {
        query.push(format!("conflate_ms={}", spec.conflate_ms));
    }
    let mut socket = http::connect(source, server).await?;
    let request = format!(
        "GET /api/live?{} HTTP/1.1\r\nHost: {server}\r\nCookie: {cookie}\r\n\
         Accept: text/event-stream\r\n\r\n",
        query.join("&")
    );
    socket.write_all(request.as_bytes()).await?;
    let mut input = BytesMut::with_capacity(2048);
    let head = http::read_head(&mut socket, &mut input).await?;
    if head.status != 200 {
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            socket.read_buf(&mut input),
        )
        .await;
        bail!(
            "GET /api/live answered {}: {}",
            head.status,
            String::from_utf8_lossy(&input)
                .chars()
                .take(200)
                .collect::<String>()
        );
    }
    let chunked = head.is_chunked();
    Ok((socket, input, Body::Sse { chunked }))
}

async fn open_mqtt(
    source: IpAddr,
    server: SocketAddr,
    framing: Framing,
    client_id: &str,
    spec: &Spec,
) -> Result<(TcpStream, BytesMut, Body)> {
    let mut socket = http::connect(source, server).await?;
    let mut input = BytesMut::with_capacity(2048);
    if let Framing::WebSocket = framing {
        ws::upgrade(&mut socket, server, &mut input).await?;
    }
    mqtt::subscribe(&mut socket, framing, client_id, &spec.filters()).await?;
    let mut mqtt = BytesMut::new();
    mqtt::await_subscribed(&mut socket, framing, &mut input, &mut mqtt).await?;
    Ok((socket, input, Body::Mqtt { framing, mqtt }))
}

async fn read_sse(
    mut socket: TcpStream,
    mut input: BytesMut,
    chunked: bool,
    recorder: &mut Recorder<'_>,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    let mut dechunker = http::Dechunker::default();
    let mut parser = sse::SseParser::default();
    loop {
        let at_us = payload::now_us();
        if chunked {
            dechunker.decode(&mut input, parser.buffer())?;
        } else {
            parser.buffer().extend_from_slice(&input.split());
        }
        parser.drain(|kind, data| match kind {
            b"message" => recorder.note(data, at_us),
            b"resync" => recorder.outcome.resyncs += 1,
            _ => {}
        });
        recorder.outcome.comments = parser.comments;
        recorder.flush();
        if dechunker.finished {
            bail!("the server ended the stream");
        }
        tokio::select! {
            read = socket.read_buf(&mut input) => {
                if read? == 0 {
                    bail!("the server closed the connection");
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

async fn read_mqtt(
    mut socket: TcpStream,
    framing: Framing,
    mut input: BytesMut,
    mut mqtt: BytesMut,
    recorder: &mut Recorder<'_>,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    let mut replies = BytesMut::new();
    loop {
        let at_us = payload::now_us();
        let read = framing.take(&mut input, &mut mqtt, &mut replies)?;
        while let Some(packet) = mqtt::next_packet(&mut mqtt)? {
            if let Packet::Publish(publish) = packet {
                recorder.note(&publish.payload, at_us);
            }
        }
        recorder.flush();
        if let mqtt::Read::Closed = read {
            bail!("the broker closed the WebSocket");
        }
        if !replies.is_empty() {
            socket.write_all(&replies.split()).await?;
        }
        tokio::select! {
            read = socket.read_buf(&mut input) => {
                if read? == 0 {
                    bail!("the broker closed the connection");
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}
