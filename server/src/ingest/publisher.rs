//! Lookout's publishing connection: what the dashboard publishes goes to the broker here, on a
//! connection of its own (client id `<client id>-pub`) with a clean session, and never on
//! ingest's.
//!
//! A broker closes the connection over a message it refuses (Mosquitto does for a packet over its
//! `max_packet_size`, or a topic with a control character). On ingest's persistent session,
//! where the dashboard once published, rumqttc sent the same message again after every reconnect
//! and the broker closed the connection again, about 3.5 times a second for good: nothing could
//! be acknowledged any more, and every message the broker held for Lookout was stored again at
//! each reconnect (one device message 106 times in 30 s). Here a clean session and the event
//! loop's queue emptied at every ConnAck make sure a message is sent on one connection at most:
//! a refused one is reported lost, and the next publish goes out on a fresh connection.

use super::{connection_options, wait_for_acceptance, Backoff};
use crate::config::{ConfigError, MqttSettings};
use app::domain::publish::Delivery;
use app::domain::topic_filter::{check_topic_name, InvalidTopicName, MAX_TOPIC_BYTES};
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS, Request};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Publishes from the dashboard and waits for the broker's acknowledgement.
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
    deliveries: Arc<Mutex<Deliveries>>,
    connected: watch::Receiver<bool>,
    wait: Duration,
    payload_limit: usize,
}

/// Why nothing was published.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("not connected to the broker")]
    NotConnected,
    #[error("the publishing connection's request queue is full")]
    QueueFull,
    #[error("the payload is larger than Lookout publishes")]
    TooLarge,
    #[error("not a topic Lookout publishes to: {0:?}")]
    InvalidTopic(InvalidTopicName),
}

/// The fixed header (1 byte and up to 4 of length), the topic's length and the packet id.
const PUBLISH_OVERHEAD: usize = 1 + 4 + 2 + 2;

/// Publishes waiting for the event loop. People publish one message at a time; a full queue
/// means the connection is stuck, and a publish is refused rather than queued behind it.
const QUEUE_CAPACITY: usize = 64;

/// The publishing connection's event loop (see [`PublishConnection::run`]).
pub struct PublishConnection {
    client: AsyncClient,
    eventloop: EventLoop,
    deliveries: Arc<Mutex<Deliveries>>,
    connected: watch::Sender<bool>,
}

impl PublishConnection {
    /// Connects with a clean session and waits for the broker to accept it. Fails with an
    /// error naming the broker setting, as ingest's connection does.
    pub async fn connect(settings: &MqttSettings, timeout: Duration) -> Result<Self, ConfigError> {
        let mut options = connection_options(settings, &settings.publisher_client_id())?;
        options.set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(options, QUEUE_CAPACITY);
        wait_for_acceptance(&mut eventloop, settings, timeout).await?;
        tracing::info!(client_id = %settings.publisher_client_id(), "publishing connection up");
        Ok(Self {
            client,
            eventloop,
            deliveries: Arc::default(),
            connected: watch::Sender::new(true),
        })
    }

    /// The handle the dashboard publishes through, waiting at most `wait` for the broker's
    /// acknowledgement, with payloads up to `max_payload_bytes`.
    pub fn publisher(&self, wait: Duration, max_payload_bytes: usize) -> Publisher {
        Publisher {
            client: self.client.clone(),
            deliveries: self.deliveries.clone(),
            connected: self.connected.subscribe(),
            wait,
            // The configured limit, unless a packet with the longest topic would not fit.
            payload_limit: max_payload_bytes
                .min(super::MAX_INCOMING_PACKET - PUBLISH_OVERHEAD - MAX_TOPIC_BYTES),
        }
    }

    /// Runs the event loop, reconnecting with backoff, until `stopping` turns true (or its
    /// sender is gone): then it sends DISCONNECT and ends.
    pub async fn run(mut self, mut stopping: watch::Receiver<bool>) {
        let mut backoff = Backoff::default();
        let mut disconnecting = false;
        loop {
            // The same poll future is awaited to its end: dropping it halfway could lose a
            // packet being written.
            let event = {
                let poll = self.eventloop.poll();
                tokio::pin!(poll);
                loop {
                    tokio::select! {
                        event = &mut poll => break event,
                        changed = stopping.changed(), if !disconnecting => {
                            if changed.is_err() || *stopping.borrow() {
                                disconnecting = true;
                                let _ = self.client.try_disconnect();
                            }
                        }
                    }
                }
            };
            match event {
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Err(_) if disconnecting => return,
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => self.deliveries().went_out(pkid),
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    self.deliveries().acknowledged(ack.pkid)
                }
                Ok(Event::Incoming(Packet::PubComp(ack))) => {
                    self.deliveries().acknowledged(ack.pkid)
                }
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    // rumqttc empties its queue itself when the broker kept no session, as it
                    // must for a clean one; a broker that says otherwise would get the
                    // messages of the dropped connection again, and with them the one it
                    // refused. Nothing is ever sent twice from here.
                    self.eventloop.pending.clear();
                    // Reports of packets written before the connection dropped come next.
                    let reported =
                        self.eventloop
                            .state
                            .events
                            .iter()
                            .filter_map(|event| match event {
                                Event::Outgoing(Outgoing::Publish(pkid)) => Some(*pkid),
                                _ => None,
                            });
                    self.deliveries().reconnected(reported.collect());
                    backoff = Backoff::default();
                    self.connected.send_replace(true);
                    tracing::info!(
                        session_present = ack.session_present,
                        "publishing connection up again"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    self.connected.send_replace(false);
                    let delay = backoff.next_delay();
                    tracing::warn!(%error, retry_in = ?delay, "publishing connection lost");
                    // rumqttc took back what it had not sent yet; the next ConnAck drops it.
                    let unsent = self.eventloop.pending.iter().filter(
                        |request| matches!(request, Request::Publish(publish) if publish.pkid == 0),
                    );
                    self.deliveries().disconnected(unsent.count());
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stopping.wait_for(|stopping| *stopping) => return,
                    }
                }
            }
        }
    }

    fn deliveries(&self) -> std::sync::MutexGuard<'_, Deliveries> {
        lock(&self.deliveries)
    }
}

/// How long a publish waits for the publishing connection to come back when it is down: it
/// reconnects within a second after the broker closed it (over a refused message, say).
pub const RECONNECT_GRACE: Duration = Duration::from_secs(3);

impl Publisher {
    /// Whether the connection is up, waiting up to `grace` for it to come back.
    pub async fn connected_within(&self, grace: Duration) -> bool {
        let mut connected = self.connected.clone();
        let up = tokio::time::timeout(grace, connected.wait_for(|up| *up)).await;
        matches!(up, Ok(Ok(_)))
    }

    /// The largest payload it publishes: the one configured for ingest (`max_payload_bytes`).
    pub fn payload_limit(&self) -> usize {
        self.payload_limit
    }

    /// Queues a message on the connection and waits for what becomes of it (see [`Delivery`]).
    /// Refuses while disconnected rather than queueing: a command that reaches a device minutes
    /// later, after the person who sent it gave up, does more harm than one refused. Refuses a
    /// topic that brokers refuse too (`check_topic_name`), whoever calls.
    pub async fn publish(
        &self,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    ) -> Result<Delivery, PublishError> {
        check_topic_name(topic).map_err(PublishError::InvalidTopic)?;
        if !*self.connected.borrow() {
            return Err(PublishError::NotConnected);
        }
        // rumqttc refuses to write a larger packet by dropping the connection.
        if payload.len() > self.payload_limit {
            return Err(PublishError::TooLarge);
        }
        let (reply, delivery) = oneshot::channel();
        {
            // Queued under the lock that the event loop's reports take, so that requests and
            // waiters stay in the same order.
            let mut deliveries = lock(&self.deliveries);
            self.client
                .try_publish(topic, qos, retain, payload)
                .map_err(|_| PublishError::QueueFull)?;
            deliveries.queue(qos, reply);
        }
        match tokio::time::timeout(self.wait, delivery).await {
            Ok(Ok(delivery)) => Ok(delivery),
            // The connection stopped with it still queued, or the wait ended first.
            Ok(Err(_)) | Err(_) => Ok(Delivery::Unconfirmed),
        }
    }
}

fn lock(deliveries: &Mutex<Deliveries>) -> std::sync::MutexGuard<'_, Deliveries> {
    // Plain bookkeeping: a panic elsewhere while holding it leaves nothing half-done that matters.
    deliveries
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The dashboard's publishes on their way through rumqttc, so that each learns what became of
/// it. rumqttc 0.25's `publish` returns once the request is queued; afterwards it reports only
/// packet ids: `Outgoing::Publish(pkid)` when it writes a publish (pkid 0 for QoS 0), then the
/// broker's PUBACK (QoS 1) or PUBCOMP (QoS 2) with that id. The link from a request to its id is
/// made here: the event loop takes requests in the order they were queued and only
/// [`Publisher`] publishes on this connection, so the n-th report of a publish not already in
/// flight belongs to the n-th queued request.
///
/// A dropped connection changes that order in known ways (rumqttc 0.25's `EventLoop::clean`):
/// publishes in flight and those not yet taken from the queue would be sent first after a
/// reconnect, but the connection's clean session drops them at the ConnAck (see
/// [`PublishConnection::run`]); reports of packets written just before the drop are still
/// delivered after the reconnect.
#[derive(Debug, Default)]
struct Deliveries {
    /// Queued, not yet reported written.
    queued: VecDeque<Waiter>,
    /// Written with a packet id, not yet acknowledged.
    in_flight: HashMap<u16, Waiter>,
    /// Reports still to come for publishes given up as lost, in the order they will come.
    stale: VecDeque<u16>,
    /// Queued publishes rumqttc held unsent when the connection last dropped.
    unsent: usize,
}

#[derive(Debug)]
struct Waiter {
    qos: QoS,
    reply: oneshot::Sender<Delivery>,
}

impl Waiter {
    /// Whoever waited may have stopped waiting; then nobody needs to know.
    fn answer(self, delivery: Delivery) {
        let _ = self.reply.send(delivery);
    }
}

impl Deliveries {
    fn queue(&mut self, qos: QoS, reply: oneshot::Sender<Delivery>) {
        self.queued.push_back(Waiter { qos, reply });
    }

    /// rumqttc wrote a publish with packet id `pkid`.
    fn went_out(&mut self, pkid: u16) {
        if self.stale.front() == Some(&pkid) {
            self.stale.pop_front();
            return;
        }
        if pkid != 0 && self.in_flight.contains_key(&pkid) {
            return; // sent again after a reconnect
        }
        let Some(waiter) = self.queued.pop_front() else {
            tracing::warn!(pkid, "a publish went out that nobody queued");
            return;
        };
        match (pkid, waiter.qos) {
            (0, QoS::AtMostOnce) => waiter.answer(Delivery::Written),
            (0, _) | (_, QoS::AtMostOnce) => {
                // Cannot happen while the order holds; if it did, later answers would be wrong,
                // so say so rather than guess.
                tracing::error!(pkid, qos = ?waiter.qos, "publish reports out of order");
                waiter.answer(Delivery::Unconfirmed);
            }
            (pkid, _) => {
                self.in_flight.insert(pkid, waiter);
            }
        }
    }

    /// The broker acknowledged packet `pkid` (PUBACK for QoS 1, PUBCOMP for QoS 2).
    fn acknowledged(&mut self, pkid: u16) {
        if let Some(waiter) = self.in_flight.remove(&pkid) {
            waiter.answer(Delivery::Acknowledged);
        }
    }

    /// The connection dropped, with `unsent` queued publishes taken back unsent by rumqttc.
    fn disconnected(&mut self, unsent: usize) {
        self.unsent = unsent;
    }

    /// Connected again, with what was in flight and what rumqttc held unsent dropped;
    /// `reported` are the packet ids of the publish reports rumqttc still holds from before, in
    /// order.
    fn reconnected(&mut self, reported: Vec<u16>) {
        // Of the held reports, those after the stale ones already known, and not re-sends of
        // something in flight, belong to the first queued publishes: written, then cut off.
        // The publishes held unsent come right after them in the queue.
        let cut_off = reported
            .iter()
            .skip(self.stale.len())
            .filter(|pkid| **pkid == 0 || !self.in_flight.contains_key(pkid))
            .count();
        for (_, waiter) in self.in_flight.drain() {
            waiter.answer(Delivery::Lost);
        }
        let unsent = std::mem::take(&mut self.unsent);
        for delivery in std::iter::repeat_n(Delivery::Lost, cut_off)
            .chain(std::iter::repeat_n(Delivery::NotSent, unsent))
        {
            match self.queued.pop_front() {
                Some(waiter) => waiter.answer(delivery),
                None => break,
            }
        }
        self.stale = reported.into();
    }
}

#[cfg(test)]
mod tests {
    use super::Deliveries;
    use app::domain::publish::Delivery;
    use rumqttc::QoS;
    use tokio::sync::oneshot;

    /// Queues a publish; the receiver tells what became of it.
    fn queue(deliveries: &mut Deliveries, qos: QoS) -> oneshot::Receiver<Delivery> {
        let (reply, delivery) = oneshot::channel();
        deliveries.queue(qos, reply);
        delivery
    }

    fn outcome(delivery: &mut oneshot::Receiver<Delivery>) -> Option<Delivery> {
        delivery.try_recv().ok()
    }

    #[test]
    fn each_publish_learns_of_its_own_acknowledgement() {
        let mut deliveries = Deliveries::default();
        let mut at_most_once = queue(&mut deliveries, QoS::AtMostOnce);
        let mut at_least_once = queue(&mut deliveries, QoS::AtLeastOnce);
        let mut exactly_once = queue(&mut deliveries, QoS::ExactlyOnce);
        deliveries.went_out(0);
        assert_eq!(outcome(&mut at_most_once), Some(Delivery::Written));
        deliveries.went_out(7);
        deliveries.went_out(8);
        assert_eq!(
            outcome(&mut at_least_once),
            None,
            "written, not acknowledged"
        );
        // Out of order, as a broker may.
        deliveries.acknowledged(8);
        assert_eq!(outcome(&mut exactly_once), Some(Delivery::Acknowledged));
        assert_eq!(outcome(&mut at_least_once), None);
        deliveries.acknowledged(7);
        assert_eq!(outcome(&mut at_least_once), Some(Delivery::Acknowledged));
        // An acknowledgement of nothing we sent changes nothing.
        deliveries.acknowledged(7);
        assert!(deliveries.queued.is_empty() && deliveries.in_flight.is_empty());
    }

    #[test]
    fn after_a_reconnect_what_rumqttc_dropped_is_reported_so() {
        let mut deliveries = Deliveries::default();
        let mut in_flight = queue(&mut deliveries, QoS::ExactlyOnce);
        deliveries.went_out(3);
        let mut cut_off = queue(&mut deliveries, QoS::AtMostOnce);
        let mut unsent = queue(&mut deliveries, QoS::AtLeastOnce);
        deliveries.disconnected(1);
        // Queued while the connection was down (rumqttc keeps what is still in its channel).
        let mut queued_meanwhile = queue(&mut deliveries, QoS::AtLeastOnce);
        // The held reports: a resend of 3 (from an earlier reconnect) and the cut-off QoS 0.
        deliveries.reconnected(vec![3, 0]);
        assert_eq!(outcome(&mut in_flight), Some(Delivery::Lost));
        assert_eq!(outcome(&mut cut_off), Some(Delivery::Lost));
        assert_eq!(outcome(&mut unsent), Some(Delivery::NotSent));
        // The held reports arrive and are passed over; then the survivor goes out.
        deliveries.went_out(3);
        deliveries.went_out(0);
        assert_eq!(outcome(&mut queued_meanwhile), None);
        deliveries.went_out(1);
        deliveries.acknowledged(1);
        assert_eq!(outcome(&mut queued_meanwhile), Some(Delivery::Acknowledged));
        assert!(deliveries.stale.is_empty() && deliveries.queued.is_empty());
    }

    #[test]
    fn a_second_drop_before_the_held_reports_arrived_counts_them_once() {
        let mut deliveries = Deliveries::default();
        let mut first = queue(&mut deliveries, QoS::AtLeastOnce);
        deliveries.disconnected(0);
        deliveries.reconnected(vec![1]);
        assert_eq!(outcome(&mut first), Some(Delivery::Lost));
        let mut second = queue(&mut deliveries, QoS::AtLeastOnce);
        // Dropped again at once: report 1 is still held, nothing new was written.
        deliveries.disconnected(1);
        deliveries.reconnected(vec![1]);
        assert_eq!(outcome(&mut second), Some(Delivery::NotSent));
        let mut third = queue(&mut deliveries, QoS::AtLeastOnce);
        deliveries.went_out(1);
        deliveries.went_out(2);
        deliveries.acknowledged(2);
        assert_eq!(outcome(&mut third), Some(Delivery::Acknowledged));
    }
}
