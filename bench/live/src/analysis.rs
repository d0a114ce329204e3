//! From what the clients saw to loss and latency. Each client knows exactly which messages it
//! should have had: every message the broker acknowledged on a topic it follows.
//!
//! Two latencies:
//! - *latency*: publish → receive of each message received (the first time, if repeated);
//! - *freshness*: for each message it should have had, publish → the first time the client held
//!   that message or a newer one of the same topic. In full mode it equals the latency unless
//!   something was lost; in conflated mode, where a newer value replaces older ones by design,
//!   it is what the user sees: how stale a value can get. A message that was neither received
//!   nor superseded by a received newer one is *never fresh*: lost in the conflated sense.

use crate::clients::{Outcome, Receipt, Spec};
use bench_common::payload::TOPICS;
use serde::{Deserialize, Serialize};

/// The messages of the measured run.
pub struct Published<'a> {
    pub base: u64,
    /// Whether the broker acknowledged message `base + i`.
    pub acked: &'a [bool],
    /// The `sent_us` message `base + i` carried.
    pub sent_us: &'a [u64],
}

impl Published<'_> {
    fn len(&self) -> u64 {
        self.acked.len() as u64
    }

    /// Acknowledged messages of topic `topic`, oldest first.
    fn of_topic(&self, topic: u64) -> impl Iterator<Item = u64> + '_ {
        // `base` is a multiple of TOPICS, so offsets and sequence numbers agree on the topic.
        (topic..self.len())
            .step_by(TOPICS as usize)
            .filter(|&i| self.acked[i as usize])
            .map(|i| self.base + i)
    }

    fn first_sent_us(&self) -> u64 {
        self.sent_us.first().copied().unwrap_or(0)
    }

    fn sent(&self, seq: u64) -> u64 {
        self.sent_us[(seq - self.base) as usize]
    }

    fn is_acked(&self, seq: u64) -> bool {
        seq.checked_sub(self.base)
            .and_then(|i| self.acked.get(i as usize))
            .copied()
            .unwrap_or(false)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    fn of(mut samples_us: Vec<u32>) -> Self {
        if samples_us.is_empty() {
            return Self::default();
        }
        samples_us.sort_unstable();
        let n = samples_us.len();
        let at = |q: f64| {
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            f64::from(samples_us[rank - 1]) / 1000.0
        };
        Self {
            count: n as u64,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: f64::from(samples_us[n - 1]) / 1000.0,
        }
    }
}

/// A group of clients alike (the per-topic ones, or the ones following everything).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub clients: usize,
    pub conflate_ms: u32,
    /// Messages the clients should have had, summed over clients.
    pub expected: u64,
    /// Of those, received at least once.
    pub received: u64,
    /// Message events received (repeats included).
    pub events: u64,
    pub duplicates: u64,
    /// Received though not followed (or not acknowledged by the broker).
    pub unexpected: u64,
    /// Messages from outside the run (before it, or unreadable).
    pub foreign: u64,
    /// Expected and never received.
    pub missed: u64,
    pub clients_missing_some: usize,
    /// Expected, and neither received nor superseded by a newer one received.
    pub never_fresh: u64,
    pub resyncs: u64,
    /// Clients whose connection failed or broke.
    pub broken: usize,
    pub first_error: Option<String>,
    pub latency: Percentiles,
    pub freshness: Percentiles,
    /// p99 latency of the messages published in each second of the run, in order: whether a
    /// high p99 is one stall or the rule.
    #[serde(default)]
    pub p99_by_second_ms: Vec<f64>,
}

impl Group {
    /// Seconds whose p99 was over `limit_ms`, and the worst second's p99.
    pub fn slow_seconds(&self, limit_ms: f64) -> (usize, f64) {
        let slow = self
            .p99_by_second_ms
            .iter()
            .filter(|&&p| p > limit_ms)
            .count();
        let worst = self.p99_by_second_ms.iter().copied().fold(0.0, f64::max);
        (slow, worst)
    }
}

impl Group {
    /// What counts as lost: every missed message in full mode; in conflated mode a message may
    /// be skipped for a newer one, and only one that never got superseded is lost.
    pub fn lost(&self) -> u64 {
        if self.conflate_ms > 0 {
            self.never_fresh
        } else {
            self.missed
        }
    }
}

pub fn group(name: &str, members: &[(&Spec, &Outcome)], published: &Published<'_>) -> Group {
    let mut group = Group {
        name: name.to_owned(),
        clients: members.len(),
        conflate_ms: members.first().map(|(s, _)| s.conflate_ms).unwrap_or(0),
        ..Group::default()
    };
    // Latencies, by the second of the run their message was published in.
    let mut latency: Vec<Vec<u32>> = Vec::new();
    let mut freshness = Vec::new();
    for (spec, outcome) in members {
        group.resyncs += outcome.resyncs;
        group.foreign += outcome.foreign;
        group.events += outcome.receipts.len() as u64;
        if let Some(error) = &outcome.error {
            group.broken += 1;
            group.first_error.get_or_insert_with(|| error.clone());
        }
        let missed_before = group.missed;
        client(
            spec,
            &outcome.receipts,
            published,
            &mut group,
            &mut latency,
            &mut freshness,
        );
        if group.missed > missed_before {
            group.clients_missing_some += 1;
        }
    }
    group.p99_by_second_ms = latency
        .iter()
        .map(|second| Percentiles::of(second.clone()).p99_ms)
        .collect();
    group.latency = Percentiles::of(latency.into_iter().flatten().collect());
    group.freshness = Percentiles::of(freshness);
    group
}

fn micros(later: u64, earlier: u64) -> u32 {
    later.saturating_sub(earlier).min(u64::from(u32::MAX)) as u32
}

fn client(
    spec: &Spec,
    receipts: &[Receipt],
    published: &Published<'_>,
    group: &mut Group,
    latency: &mut Vec<Vec<u32>>,
    freshness: &mut Vec<u32>,
) {
    // The first arrival of each message, by topic.
    let mut sorted: Vec<Receipt> = receipts.to_vec();
    sorted.sort_unstable_by_key(|r| (r.seq, r.at_us));
    let mut by_topic: Vec<Vec<(u64, u64)>> = vec![Vec::new(); TOPICS as usize];
    let mut previous = None;
    for receipt in sorted {
        if previous == Some(receipt.seq) {
            group.duplicates += 1;
            continue;
        }
        previous = Some(receipt.seq);
        if !spec.follows(receipt.seq) || !published.is_acked(receipt.seq) {
            group.unexpected += 1;
            continue;
        }
        group.received += 1;
        let second =
            (receipt.sent_us.saturating_sub(published.first_sent_us()) / 1_000_000) as usize;
        if latency.len() <= second {
            latency.resize_with(second + 1, Vec::new);
        }
        latency[second].push(micros(receipt.at_us, receipt.sent_us));
        by_topic[(receipt.seq % TOPICS) as usize].push((receipt.seq, receipt.at_us));
    }

    let topics: Vec<u64> = match &spec.topics {
        Some(topics) => topics.clone(),
        None => (0..TOPICS).collect(),
    };
    for topic in topics {
        let arrivals = &by_topic[topic as usize];
        // Earliest arrival among this one and every newer one.
        let mut earliest_from = vec![u64::MAX; arrivals.len() + 1];
        for i in (0..arrivals.len()).rev() {
            earliest_from[i] = earliest_from[i + 1].min(arrivals[i].1);
        }
        let mut next = 0;
        for seq in published.of_topic(topic) {
            group.expected += 1;
            while next < arrivals.len() && arrivals[next].0 < seq {
                next += 1;
            }
            if next < arrivals.len() && arrivals[next].0 != seq {
                group.missed += 1;
            } else if next == arrivals.len() {
                group.missed += 1;
                group.never_fresh += 1;
                continue;
            }
            freshness.push(micros(earliest_from[next], published.sent(seq)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(seq: u64, at_us: u64) -> Receipt {
        Receipt {
            seq,
            sent_us: seq * 10,
            at_us,
        }
    }

    #[test]
    fn loss_repeats_strays_and_both_latencies_are_counted_per_client() {
        // Six messages per topic; topic 7 is followed.
        let n = 6 * TOPICS as usize;
        let acked = vec![true; n];
        let sent_us: Vec<u64> = (0..n as u64).map(|i| (1000 + i) * 10).collect();
        let published = Published {
            base: 1000,
            acked: &acked,
            sent_us: &sent_us,
        };
        let spec = Spec {
            index: 0,
            topics: Some(vec![7]),
            conflate_ms: 0,
        };
        // Topic 7's messages are 1007, 2007, ..., 6007. 3007 is missed, 2007 arrives twice,
        // 1008 is not followed.
        let outcome = Outcome {
            receipts: vec![
                receipt(1007, 10_070 + 1000),
                receipt(2007, 20_070 + 2000),
                receipt(2007, 20_070 + 9000),
                receipt(4007, 40_070 + 1000),
                receipt(5007, 50_070 + 3000),
                receipt(6007, 60_070 + 1000),
                receipt(1008, 10_080 + 1000),
            ],
            ..Outcome::default()
        };
        let group = group("per-topic", &[(&spec, &outcome)], &published);
        assert_eq!(group.expected, 6);
        assert_eq!(group.received, 5);
        assert_eq!(group.duplicates, 1);
        assert_eq!(group.unexpected, 1);
        assert_eq!(group.missed, 1);
        assert_eq!(group.never_fresh, 0);
        assert_eq!(group.lost(), 1);
        assert_eq!(group.latency.count, 5);
        assert_eq!(group.latency.max_ms, 3.0);
        assert_eq!(group.latency.p50_ms, 1.0);
        // Everything was published within the run's first second.
        assert_eq!(group.p99_by_second_ms, vec![3.0]);
        assert_eq!(group.slow_seconds(2.0), (1, 3.0));
        // 3007 was fresh once 4007 arrived: 40_070 + 1000 - 30_070.
        assert_eq!(group.freshness.count, 6);
        assert_eq!(group.freshness.max_ms, 11.0);
    }

    #[test]
    fn in_conflated_mode_only_a_value_never_superseded_is_lost() {
        let n = 3 * TOPICS as usize;
        let acked = vec![true; n];
        let sent_us: Vec<u64> = (0..n as u64).map(|i| i * 10).collect();
        let published = Published {
            base: 0,
            acked: &acked,
            sent_us: &sent_us,
        };
        let spec = Spec::everything(0, 250);
        // Topic 0 gets only its newest value; topic 1 only its oldest; the rest nothing.
        let outcome = Outcome {
            receipts: vec![receipt(2000, 20_000 + 500), receipt(1, 10 + 100)],
            ..Outcome::default()
        };
        let group = group("everything", &[(&spec, &outcome)], &published);
        assert_eq!(group.expected, n as u64);
        assert_eq!(group.received, 2);
        // Topic 0: all three fresh by 2000's arrival. Topic 1: 1001 and 2001 never.
        assert_eq!(group.never_fresh, n as u64 - 3 - 1);
        assert_eq!(group.lost(), group.never_fresh);
        assert_eq!(group.freshness.count, 4);
        assert_eq!(group.freshness.max_ms, 20.5);
    }
}
