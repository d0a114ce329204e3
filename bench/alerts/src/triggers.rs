//! The triggering messages: a value far beyond every rule's threshold, published on topics the
//! background load also uses, one topic each so that each fires its rule once; and the plain
//! MQTT subscriber that receives the same messages from the broker, the reference for how soon
//! anything that follows those topics could know.

use anyhow::{bail, Context, Result};
use bench_common::payload::{self, Topics};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Every rule fires above this (`/temperature`); the background load stays at 15–35.
pub const THRESHOLD: f64 = 1000.0;
/// What a triggering message carries.
pub const TRIGGER_VALUE: f64 = 5000.0;
/// Sequence numbers of triggering messages: apart from the load's and the probes'.
pub const TRIGGER_BASE: u64 = 2_000_000_000_000;
/// Triggers that only find out whether the rules are read yet, on the probe topic.
pub const PROBE_TRIGGER_BASE: u64 = 3_000_000_000_000;
const TARGET_BYTES: usize = 200;

/// A triggering message, about as long as the load's, starting like them with `seq` and
/// `sent_us`.
pub fn payload(seq: u64, sent_us: u64) -> Vec<u8> {
    let mut json = format!(
        "{{\"seq\":{seq},\"sent_us\":{sent_us},\"device\":\"trigger\",\
         \"temperature\":{TRIGGER_VALUE:.1},\"humidity\":50.0,\"pad\":\""
    );
    let pad = TARGET_BYTES.saturating_sub(json.len() + 2);
    json.extend(std::iter::repeat_n('x', pad));
    json.push_str("\"}");
    json.into_bytes()
}

/// The topic index of each of `count` triggers: spread evenly over every topic but the last
/// (the probe's), each a different topic.
pub fn plan(count: u64, topics: u64) -> Vec<u64> {
    let span = topics.saturating_sub(1).max(1);
    let count = count.min(span);
    (0..count).map(|k| k * span / count.max(1)).collect()
}

/// The topic whose rule tells whether the engine has read the rules.
pub fn probe_topic(topics: u64) -> u64 {
    topics.saturating_sub(1)
}

/// One triggering message as sent.
#[derive(Clone, Debug)]
pub struct Sent {
    pub seq: u64,
    pub topic: String,
    pub sent_us: u64,
}

/// A QoS 1 publisher of triggering messages on an MQTT connection of its own.
pub struct TriggerClient {
    client: AsyncClient,
    topics: Topics,
}

fn options(id: &str, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(format!("{id}-{}", std::process::id()), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_clean_session(true);
    options
}

/// Drives a connection's event loop, handing each incoming packet to `each`.
fn drive(mut eventloop: EventLoop, mut each: impl FnMut(Packet) + Send + 'static) {
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) => each(packet),
                // Asked to end: the loop would otherwise connect again.
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(Event::Outgoing(_)) => {}
                Err(error) => {
                    eprintln!("alerts-bench: an MQTT connection of the benchmark: {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
}

impl TriggerClient {
    pub fn connect(port: u16, topics: Topics) -> Self {
        let (client, eventloop) = AsyncClient::new(options("bench-trigger", port), 1000);
        drive(eventloop, |_| {});
        Self { client, topics }
    }

    pub async fn send(&self, seq: u64, topic_index: u64) -> Result<Sent> {
        let topic = self.topics.name(topic_index);
        let sent_us = payload::now_us();
        self.client
            .publish(&topic, QoS::AtLeastOnce, false, payload(seq, sent_us))
            .await
            .context("publishing a triggering message")?;
        Ok(Sent {
            seq,
            topic,
            sent_us,
        })
    }

    /// Sends one trigger on each topic of `plan`, spaced evenly from 10 % to 90 % of `secs`
    /// after `start`, so none falls in the load's first or last moments.
    pub async fn run(&self, plan: &[u64], start: Instant, secs: f64) -> Result<Vec<Sent>> {
        let mut sent = Vec::with_capacity(plan.len());
        for (k, &topic) in plan.iter().enumerate() {
            let at = secs * (0.1 + 0.8 * k as f64 / plan.len() as f64);
            tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
            sent.push(self.send(TRIGGER_BASE + k as u64, topic).await?);
        }
        Ok(sent)
    }
}

/// A plain MQTT subscriber to the triggers' topics (QoS 1, as Lookout subscribes): when the
/// broker delivered each triggering message, by `seq`.
pub struct Subscriber {
    client: AsyncClient,
    pub received: Arc<Mutex<HashMap<u64, u64>>>,
}

impl Subscriber {
    pub async fn connect(port: u16, topics: &[String], triggers: Range<u64>) -> Result<Self> {
        let (client, eventloop) = AsyncClient::new(options("bench-reference", port), 1000);
        let received: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
        let subacks = Arc::new(Mutex::new(0usize));
        let (kept, acks) = (received.clone(), subacks.clone());
        drive(eventloop, move |packet| match packet {
            Packet::Publish(publish) => {
                let at_us = payload::now_us();
                let head = &publish.payload[..publish.payload.len().min(64)];
                if let Some((seq, _)) = payload::parse_head(head) {
                    if triggers.contains(&seq) {
                        kept.lock().unwrap().entry(seq).or_insert(at_us);
                    }
                }
            }
            Packet::SubAck(_) => *acks.lock().unwrap() += 1,
            _ => {}
        });
        let packets = topics.chunks(100).count();
        for chunk in topics.chunks(100) {
            let filters = chunk
                .iter()
                .map(|topic| SubscribeFilter::new(topic.clone(), QoS::AtLeastOnce));
            client.subscribe_many(filters).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while *subacks.lock().unwrap() < packets {
            if Instant::now() > deadline {
                bail!("the broker did not confirm the reference subscriber's subscriptions");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self { client, received })
    }

    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_reads_like_the_load_but_beyond_the_threshold() {
        let bytes = payload(TRIGGER_BASE + 7, 1_732_540_000_123_456);
        assert!((195..=205).contains(&bytes.len()), "{}", bytes.len());
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(value["temperature"].as_f64().unwrap() > THRESHOLD);
        assert_eq!(
            payload::parse_head(&bytes[..64]),
            Some((TRIGGER_BASE + 7, 1_732_540_000_123_456))
        );
    }

    #[test]
    fn triggers_go_to_different_topics_never_the_probes() {
        let topics = plan(500, 10_000);
        assert_eq!(topics.len(), 500);
        let mut distinct = topics.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 500);
        assert!(topics.iter().all(|&t| t < probe_topic(10_000)));
        assert_eq!(plan(50, 20).len(), 19, "at most one per topic");
    }
}
