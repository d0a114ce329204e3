//! The load generator: QoS 1 publishes paced at a target rate, with at most `window` messages
//! waiting for the broker's PubAck. A message counts as published once the broker acknowledged it.
//!
//! It speaks MQTT 3.1.1 through rumqttc's packet codec but drives the socket itself: everything
//! due in one tick goes out in one write. rumqttc's event loop writes and flushes each publish on
//! its own, which on this 2-core machine capped the publisher near 50,000 msg/s and made it the
//! bottleneck of the broker-ceiling run instead of the broker.

use crate::payload;
use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use rumqttc::{ConnAck, Connect, ConnectReturnCode, Packet, Publish, QoS};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

const MAX_PACKET: usize = 1 << 20;
/// Publishes encoded into one write at most.
const WRITE_BATCH: u64 = 256;

pub struct Publisher {
    socket: OwnedWriteHalf,
    window: usize,
    state: Arc<Mutex<Inflight>>,
    acked_some: Arc<Notify>,
    next_pkid: u16,
    topics: payload::Topics,
}

/// Packet ids awaiting a PubAck, and what came back.
struct Inflight {
    /// Indexed by packet id: the sequence number it carries.
    slots: Vec<Option<u64>>,
    waiting: usize,
    acked: Vec<u64>,
    last_ack_us: u64,
    failed: Option<String>,
}

/// What one publishing run achieved.
pub struct Published {
    pub first_sent_us: u64,
    pub last_ack_us: u64,
    /// Sequence numbers the broker acknowledged.
    pub acked: Vec<u64>,
    /// The `sent_us` each message of the run carries, in sequence order.
    pub sent_us: Vec<u64>,
}

impl Published {
    /// Messages per second from the first send to the last PubAck.
    pub fn rate(&self) -> f64 {
        let span = self.last_ack_us.saturating_sub(self.first_sent_us).max(1);
        self.acked.len() as f64 * 1e6 / span as f64
    }
}

impl Publisher {
    pub async fn connect(host: &str, port: u16, window: u16) -> Result<Self> {
        let stream = TcpStream::connect((host, port))
            .await
            .with_context(|| format!("cannot reach the broker at {host}:{port}"))?;
        stream.set_nodelay(true)?;
        let (mut reader, mut socket) = stream.into_split();

        let mut connect = Connect::new(format!("bench-pub-{}", std::process::id()));
        // No keep-alive: between steps the publisher may be idle for minutes while a slow system
        // drains, and it has nothing else to say.
        connect.keep_alive = 0;
        connect.clean_session = true;
        let mut buffer = BytesMut::new();
        Packet::Connect(connect).write(&mut buffer, MAX_PACKET)?;
        socket.write_all(&buffer).await?;
        let mut incoming = BytesMut::with_capacity(64 * 1024);
        loop {
            match Packet::read(&mut incoming, MAX_PACKET) {
                Ok(Packet::ConnAck(ConnAck { code, .. })) => {
                    if code != ConnectReturnCode::Success {
                        bail!("the broker refused the publisher: {code:?}");
                    }
                    break;
                }
                Ok(other) => bail!("expected ConnAck, got {other:?}"),
                Err(rumqttc::Error::InsufficientBytes(_)) => {
                    if reader.read_buf(&mut incoming).await? == 0 {
                        bail!("the broker closed the connection");
                    }
                }
                Err(error) => bail!("bad packet from the broker: {error:?}"),
            }
        }

        let state = Arc::new(Mutex::new(Inflight {
            slots: vec![None; usize::from(u16::MAX) + 1],
            waiting: 0,
            acked: Vec::new(),
            last_ack_us: 0,
            failed: None,
        }));
        let acked_some = Arc::new(Notify::new());
        let (shared, notify) = (state.clone(), acked_some.clone());
        tokio::spawn(async move {
            let failure = loop {
                match reader.read_buf(&mut incoming).await {
                    Ok(0) => break "the broker closed the connection".to_owned(),
                    Err(error) => break error.to_string(),
                    Ok(_) => {}
                }
                let now = payload::now_us();
                let mut state = shared.lock().unwrap();
                loop {
                    match Packet::read(&mut incoming, MAX_PACKET) {
                        Ok(Packet::PubAck(ack)) => {
                            if let Some(seq) = state.slots[usize::from(ack.pkid)].take() {
                                state.waiting -= 1;
                                state.acked.push(seq);
                                state.last_ack_us = now;
                            }
                        }
                        Ok(_) => {}
                        Err(rumqttc::Error::InsufficientBytes(_)) => break,
                        Err(error) => {
                            state.failed = Some(format!("bad packet from the broker: {error:?}"));
                            break;
                        }
                    }
                }
                drop(state);
                notify.notify_one();
            };
            shared.lock().unwrap().failed = Some(failure);
            notify.notify_one();
        });
        Ok(Self {
            socket,
            window: usize::from(window.max(1)),
            state,
            acked_some,
            next_pkid: 1,
            topics: payload::Topics::default(),
        })
    }

    /// Spreads the messages over these topics instead of the default 1,000.
    pub fn spread_over(mut self, topics: payload::Topics) -> Self {
        self.topics = topics;
        self
    }

    /// Publishes `seqs` at `rate` messages per second (0: as fast as the window allows) and waits
    /// for every PubAck.
    pub async fn run(&mut self, seqs: std::ops::Range<u64>, rate: f64) -> Result<Published> {
        let n = seqs.end - seqs.start;
        {
            let mut state = self.state.lock().unwrap();
            state.acked = Vec::with_capacity(n as usize);
        }
        let start = Instant::now();
        let first_sent_us = payload::now_us();
        let mut sent_us = Vec::with_capacity(n as usize);
        let mut sent = 0u64;
        let mut buffer = BytesMut::with_capacity(WRITE_BATCH as usize * 240);
        while sent < n {
            let due = if rate > 0.0 {
                ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(n)
            } else {
                n
            };
            if sent < due {
                let room = {
                    let state = self.state.lock().unwrap();
                    if let Some(failure) = &state.failed {
                        bail!("the publisher lost the broker: {failure}");
                    }
                    self.window - state.waiting
                };
                if room == 0 {
                    self.acked_some.notified().await;
                    continue;
                }
                let count = (due - sent).min(room as u64).min(WRITE_BATCH);
                buffer.clear();
                {
                    let mut state = self.state.lock().unwrap();
                    for seq in seqs.start + sent..seqs.start + sent + count {
                        let pkid = self.next_pkid;
                        if state.slots[usize::from(pkid)].is_some() {
                            bail!("packet id {pkid} reused before its PubAck");
                        }
                        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
                        state.slots[usize::from(pkid)] = Some(seq);
                        state.waiting += 1;
                        let now = payload::now_us();
                        sent_us.push(now);
                        let mut publish = Publish::new(
                            self.topics.name(seq),
                            QoS::AtLeastOnce,
                            payload::build(seq, now),
                        );
                        publish.pkid = pkid;
                        Packet::Publish(publish).write(&mut buffer, MAX_PACKET)?;
                    }
                }
                self.socket
                    .write_all(&buffer)
                    .await
                    .context("writing to the broker")?;
                sent += count;
            } else {
                let next = start + Duration::from_secs_f64((sent as f64) / rate);
                tokio::time::sleep_until(next).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            {
                let mut state = self.state.lock().unwrap();
                if state.acked.len() as u64 >= n || Instant::now() > deadline {
                    if (state.acked.len() as u64) < n {
                        eprintln!(
                            "bench: {} of {n} publishes never acknowledged by the broker",
                            n - state.acked.len() as u64
                        );
                    }
                    return Ok(Published {
                        first_sent_us,
                        last_ack_us: state.last_ack_us.max(first_sent_us),
                        acked: std::mem::take(&mut state.acked),
                        sent_us,
                    });
                }
                if let Some(failure) = &state.failed {
                    bail!("the publisher lost the broker: {failure}");
                }
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(50), self.acked_some.notified()).await;
        }
    }
}
