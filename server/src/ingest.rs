//! The one place that owns the MQTT connection. Its event loop only decodes and hands messages on
//! through a bounded channel: storage never blocks it for longer than the channel is full, which
//! is the backpressure we want (the broker holds messages while we cannot take them). The
//! dashboard publishes on the same connection, through a [`Publisher`].

mod tls;

use crate::config::{BrokerTransport, ConfigError, MqttSettings};
use app::ingest_status::IngestStatus;
use app::live::LiveHub;
use app::publish::Delivery;
use app::topic_filter::{check_storable_topic, shortened, UnstorableTopic};
use chrono::{DateTime, Utc};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    Request, SubscribeFilter, SubscribeReasonCode, Transport,
};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

/// A message as received, with what the writer needs to store and then acknowledge it.
#[derive(Debug)]
pub struct Received {
    pub publish: Publish,
    pub received_at: DateTime<Utc>,
    /// Refused on receipt (a payload over the size limit, a topic that cannot be stored):
    /// acknowledged but not stored, its payload and topic already let go.
    pub refused: bool,
    /// The ingest connection it arrived on (see [`Session`]); `None` for a message the client
    /// acknowledged on receipt (the live feed's, see [`LiveFeed`]), which the writer leaves alone.
    pub connection: Option<u64>,
    /// Its share of the writer's memory budget, given back when it is dropped after storing.
    pub budget: OwnedSemaphorePermit,
}

/// Counts broker connections. Packet ids are only meaningful on the connection that used them:
/// after a reconnect the broker redelivers what we had not acknowledged and may give a freed
/// packet id to a new message, so an acknowledgement carried over from the old connection could
/// acknowledge a message we have not stored. The writer therefore acknowledges only messages of
/// the current connection; the rest come again and are stored twice (documented duplicates).
#[derive(Clone, Debug, Default)]
pub struct Session {
    connection: Arc<AtomicU64>,
}

impl Session {
    pub fn current(&self) -> u64 {
        self.connection.load(Ordering::Acquire)
    }

    fn reconnected(&self) {
        self.connection.fetch_add(1, Ordering::AcqRel);
    }
}

/// A broker session that has been accepted (ConnAck received); its subscriptions are requested
/// and confirmed once [`Broker::run`] polls.
pub struct Broker {
    client: AsyncClient,
    eventloop: EventLoop,
    session: Session,
    subscriptions: Vec<SubscribeFilter>,
    /// Unsubscribes instead of subscribing (`lookout leave-group`).
    leaving: bool,
    max_payload_bytes: usize,
    status: IngestStatus,
    deliveries: Arc<Mutex<Deliveries>>,
}

/// Room for acknowledgements and subscriptions queued while the event loop is busy. When it is
/// full the writer keeps its acknowledgements and retries (see `writer::UnsentAcks`).
const REQUEST_CAPACITY: usize = 10_000;

/// The largest packet we accept from the broker: the largest MQTT allows (a remaining length of
/// 268,435,455 bytes), so that whatever the broker delivers is read, counted and acknowledged.
/// A smaller ceiling would tear the connection down on a bigger packet, and the broker would
/// redeliver it after every reconnect, forever, stopping ingest for every topic. The price is
/// one such packet in memory while it is read (brokers can refuse them first: Mosquitto's
/// `message_size_limit`, docs/ingest.md).
pub const MAX_INCOMING_PACKET: usize = 256 * 1024 * 1024;

impl Broker {
    /// Connects, waits for the broker to accept the session, and queues the subscriptions. Fails
    /// with an error naming the broker setting when the broker refuses or cannot be reached
    /// within `timeout`.
    pub async fn connect(
        settings: &MqttSettings,
        timeout: Duration,
        status: IngestStatus,
    ) -> Result<Self, ConfigError> {
        let mut options = connection_options(settings, &settings.client_id)?;
        options
            // A persistent session: the broker keeps our subscriptions and queues QoS 1/2
            // messages while we are away, and redelivers what we had not acknowledged.
            .set_clean_session(false)
            // Acknowledged by the writer once stored, never on receipt.
            .set_manual_acks(true);
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        wait_for_acceptance(&mut eventloop, settings, timeout).await?;
        status.connected();

        let subscriptions: Vec<SubscribeFilter> = settings
            .subscriptions
            .value
            .iter()
            .map(|subscription| {
                SubscribeFilter::new(
                    settings.ingest_filter(&subscription.filter),
                    subscription.qos,
                )
            })
            .collect();
        let broker = Self {
            client,
            eventloop,
            session: Session::default(),
            subscriptions,
            leaving: false,
            max_payload_bytes: settings.max_payload_bytes,
            status,
            deliveries: Arc::default(),
        };
        tracing::info!(broker = %settings.url.value, client_id = %settings.client_id,
            shared_group = settings.shared_group.as_ref().map(|group| group.value.as_str()),
            "connected to the broker");
        Ok(broker)
    }

    /// Makes [`Broker::run`] unsubscribe this session from the group's share instead of
    /// subscribing: the broker routes nothing new to it, and what it still holds for it arrives
    /// and is stored as usual.
    pub fn leaving_the_group(mut self) -> Self {
        self.leaving = true;
        self
    }

    /// The handle the writer acknowledges through.
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    /// Which connection is current, for the writer's acknowledgements.
    pub fn session(&self) -> Session {
        self.session.clone()
    }

    /// The handle the dashboard publishes through, waiting at most `wait` for the broker's
    /// acknowledgement.
    pub fn publisher(&self, wait: Duration) -> Publisher {
        Publisher {
            client: self.client.clone(),
            deliveries: self.deliveries.clone(),
            status: self.status.clone(),
            wait,
            // The configured limit, unless a packet with the longest topic would not fit.
            payload_limit: self
                .max_payload_bytes
                .min(MAX_INCOMING_PACKET - PUBLISH_OVERHEAD - MAX_TOPIC_BYTES),
        }
    }

    /// Runs the event loop until the writer goes away or, after `stopping`, until the client's
    /// DISCONNECT went out; reconnects with backoff on any error. Every message goes to the writer
    /// through `intake`, and to `live` (when this connection feeds the live views) as it arrives.
    /// The broker's answer to the first subscription goes to `subscribed`.
    ///
    /// Once `stopping` turns true, messages are no longer taken: the writer gets its queue closed,
    /// stores what it has and acknowledges it, while this loop keeps polling so those
    /// acknowledgements reach the broker. What arrives meanwhile is never acknowledged, so the
    /// broker keeps it in the session for the next start.
    pub async fn run(
        mut self,
        live: Option<LiveHub>,
        intake: Intake,
        subscribed: oneshot::Sender<Vec<SubscribeReasonCode>>,
        mut stopping: watch::Receiver<bool>,
    ) {
        let mut backoff = Backoff::default();
        let mut subscribed = Some(subscribed);
        let mut intake = Some(intake);
        let mut disconnecting = false;
        // Queued here, not at connect: a persistent session's queued messages may arrive before
        // the SubAck, and only this loop hands them on.
        self.renew_subscriptions();
        loop {
            let taking = intake.is_some();
            let event = next_event(&mut self.eventloop, &mut stopping, &mut intake).await;
            if taking && intake.is_none() {
                tracing::info!(
                    "stopping: no new messages are taken; storing and acknowledging the rest"
                );
            }
            match event {
                // Read on until the broker closes the connection: closing it ourselves while
                // its messages are still arriving unread would make the kernel reset it, and the
                // broker could lose the last acknowledgements before reading them.
                Ok(Event::Outgoing(Outgoing::Disconnect)) => disconnecting = true,
                Err(_) if disconnecting => return,
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if let Some(first) = subscribed.take() {
                        let _ = first.send(ack.return_codes);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let Some(intake) = &intake else {
                        // Stopping: left unacknowledged, so it comes again after the restart.
                        continue;
                    };
                    let received_at = Utc::now();
                    if let Some(live) = &live {
                        intake.show_live(live, &publish, received_at);
                    }
                    let connection = Some(self.session.current());
                    if intake
                        .store(publish, received_at, connection)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => self.deliveries().went_out(pkid),
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    self.deliveries().acknowledged(ack.pkid)
                }
                Ok(Event::Incoming(Packet::PubComp(ack))) => {
                    self.deliveries().acknowledged(ack.pkid)
                }
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    tracing::info!(
                        session_present = ack.session_present,
                        "reconnected to the broker"
                    );
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
                    self.deliveries()
                        .reconnected(ack.session_present, reported.collect());
                    backoff = Backoff::default();
                    self.session.reconnected();
                    self.status.connected();
                    // The broker should still have our subscriptions, but one that lost its
                    // state (a restart without persistence) would otherwise send nothing.
                    self.renew_subscriptions();
                }
                Ok(_) => {}
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %error, retry_in = ?delay, "broker connection lost");
                    self.status.disconnected(&error);
                    // rumqttc took back what it had not sent yet; without the session at the
                    // next ConnAck, it drops them.
                    let unsent = self.eventloop.pending.iter().filter(
                        |request| matches!(request, Request::Publish(publish) if publish.pkid == 0),
                    );
                    self.deliveries().disconnected(unsent.count());
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn deliveries(&self) -> std::sync::MutexGuard<'_, Deliveries> {
        lock(&self.deliveries)
    }

    fn renew_subscriptions(&self) {
        if !self.leaving {
            subscribe(&self.client, &self.subscriptions);
            return;
        }
        for filter in &self.subscriptions {
            if let Err(error) = self.client.try_unsubscribe(filter.path.clone()) {
                let client = self.client.clone();
                let filter = filter.path.clone();
                tracing::debug!(%error, "request queue full; unsubscribing in the background");
                tokio::spawn(async move { client.unsubscribe(filter).await });
            }
        }
    }
}

/// The live views' own connection, for an instance in a shared group. Ingest's shared
/// subscription brings this instance only its share of the messages; operators following the
/// stream here must see all of them. So this connection follows the same filters without the
/// share, with a clean session: the broker keeps nothing for it while it is away, and the client
/// acknowledges on receipt (live views are best-effort, with `resync` marking gaps; storage is
/// ingest's job).
///
/// One exception goes to storage from here: the retained messages the broker replays when this
/// connection subscribes. Shared subscriptions never get those, and a single instance stores
/// them when it subscribes, so a group does the same (each instance once per connection, as a
/// single instance does per reconnect). They are stored with QoS 0, the QoS this connection
/// subscribes with.
pub struct LiveFeed {
    client: AsyncClient,
    eventloop: EventLoop,
    subscriptions: Vec<SubscribeFilter>,
    status: IngestStatus,
}

impl LiveFeed {
    /// The live feed when `settings` share a group, connected and subscribing; `None` for a
    /// single instance, whose ingest connection feeds the live views.
    pub async fn connect(
        settings: &MqttSettings,
        timeout: Duration,
        status: IngestStatus,
    ) -> Result<Option<Self>, ConfigError> {
        if settings.shared_group.is_none() {
            return Ok(None);
        }
        let mut options = connection_options(settings, &settings.live_feed_client_id())?;
        options.set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        wait_for_acceptance(&mut eventloop, settings, timeout).await?;
        status.live_feed_connected(true);
        let feed = Self {
            client,
            eventloop,
            subscriptions: settings
                .subscriptions
                .value
                .iter()
                // QoS 0: the broker neither tracks nor awaits acknowledgements for this
                // connection, which is best-effort anyway; with QoS 1 the broker's work per
                // message grew by a second tracked delivery (bench/results/scale.md).
                .map(|subscription| {
                    SubscribeFilter::new(subscription.filter.clone(), QoS::AtMostOnce)
                })
                .collect(),
            status,
        };
        subscribe(&feed.client, &feed.subscriptions);
        tracing::info!(client_id = %settings.live_feed_client_id(), "live feed connected");
        Ok(Some(feed))
    }

    /// The handle shutdown disconnects through.
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    /// Hands every message to `live`, and replayed retained ones also to `intake`; reconnects
    /// with backoff. After `stopping` it lets go of `intake` and ends once its DISCONNECT went
    /// out.
    pub async fn run(mut self, live: LiveHub, intake: Intake, mut stopping: watch::Receiver<bool>) {
        let mut backoff = Backoff::default();
        let mut intake = Some(intake);
        loop {
            match next_event(&mut self.eventloop, &mut stopping, &mut intake).await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let Some(intake) = &intake else { continue };
                    let received_at = Utc::now();
                    intake.show_live(&live, &publish, received_at);
                    // In MQTT 3.1.1 the flag is set only on the replay of a new subscription.
                    if publish.retain && intake.store(publish, received_at, None).await.is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = Backoff::default();
                    self.status.live_feed_connected(true);
                    // A clean session starts without subscriptions.
                    subscribe(&self.client, &self.subscriptions);
                }
                Ok(_) => {}
                Err(_) if intake.is_none() => return,
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %error, retry_in = ?delay, "live feed connection lost");
                    self.status.live_feed_connected(false);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// Queues `filters` without waiting: the event loop must keep polling for the request to go out.
fn subscribe(client: &AsyncClient, filters: &[SubscribeFilter]) {
    if let Err(error) = client.try_subscribe_many(filters.to_vec()) {
        let client = client.clone();
        let filters = filters.to_vec();
        tracing::debug!(%error, "request queue full; subscribing in the background");
        tokio::spawn(async move { client.subscribe_many(filters).await });
    }
}

/// What every connection to the broker is set up with: its address, transport, login, keep-alive
/// and the largest packet read.
fn connection_options(
    settings: &MqttSettings,
    client_id: &str,
) -> Result<MqttOptions, ConfigError> {
    let address = &settings.url.value;
    let mut options = match address.transport {
        BrokerTransport::Tcp | BrokerTransport::Tls => {
            MqttOptions::new(client_id, &address.host, address.port)
        }
        // rumqttc takes a WebSocket's address as the whole URL.
        BrokerTransport::Ws | BrokerTransport::Wss => {
            MqttOptions::new(client_id, address.to_string(), address.port)
        }
    };
    options.set_transport(match address.transport {
        BrokerTransport::Tcp => Transport::Tcp,
        BrokerTransport::Ws => Transport::Ws,
        BrokerTransport::Tls => Transport::Tls(tls::client_config(settings)?),
        BrokerTransport::Wss => Transport::Wss(tls::client_config(settings)?),
    });
    options
        .set_keep_alive(settings.keep_alive)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_INCOMING_PACKET);
    if let Some(login) = &settings.login {
        options.set_credentials(&login.value.username, &login.value.password);
    }
    Ok(options)
}

/// Polls until the broker accepts the connection (ConnAck). Fails with an error naming the
/// broker setting when the broker refuses or cannot be reached within `timeout`.
async fn wait_for_acceptance(
    eventloop: &mut EventLoop,
    settings: &MqttSettings,
    timeout: Duration,
) -> Result<(), ConfigError> {
    let address = &settings.url.value;
    let accepted = tokio::time::timeout(timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
    })
    .await;
    match accepted {
        Ok(Ok(())) => Ok(()),
        Ok(Err(ConnectionError::ConnectionRefused(code))) => {
            // The broker answered: with a login, it is the login it did not like.
            let problem = format!("the broker at {address} refused the connection: {code:?}");
            Err(match &settings.login {
                Some(login) => login.unusable(problem),
                None => settings.url.unusable(problem),
            })
        }
        Ok(Err(ConnectionError::Tls(error))) => {
            // Usually the broker's certificate is not from the authority we were told to
            // trust: point at that setting when there is one.
            let problem = format!("TLS with the broker at {address} failed: {error}");
            Err(match &settings.tls.ca_file {
                Some(ca_file) => ca_file.unusable(problem),
                None => settings.url.unusable(problem),
            })
        }
        Ok(Err(error)) => Err(settings.url.unusable(format!(
            "cannot connect to the broker at {address}: {error}"
        ))),
        Err(_) => Err(settings.url.unusable(format!(
            "the broker at {address} did not accept a connection within {timeout:?}"
        ))),
    }
}

/// Ends the broker session of `settings`' client id for good: connecting with a clean session
/// discards the old one, with its subscriptions and anything still queued for it.
pub async fn end_session(settings: &MqttSettings, timeout: Duration) -> Result<(), ConfigError> {
    let mut options = connection_options(settings, &settings.client_id)?;
    options.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    wait_for_acceptance(&mut eventloop, settings, timeout).await?;
    let _ = client.try_disconnect();
    // Until the DISCONNECT went out (or the broker closed first).
    let _ = tokio::time::timeout(timeout, async {
        while let Ok(event) = eventloop.poll().await {
            if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
    Ok(())
}

/// Where received messages go to be stored: the writer's channel, behind the writer's memory
/// budget. Both connections of a shared-group instance hand messages in here.
#[derive(Clone)]
pub struct Intake {
    messages: mpsc::Sender<Received>,
    budget: Arc<Semaphore>,
    /// The budget's whole size: no message may ask for more, or it would wait forever.
    budget_bytes: usize,
    status: IngestStatus,
    max_payload_bytes: usize,
}

/// Why a message is acknowledged without being stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Oversized,
    Topic(UnstorableTopic),
}

/// How much of a refused topic a log line shows.
const LOGGED_TOPIC_BYTES: usize = 128;

/// The writer stopped taking messages.
struct WriterGone;

impl Intake {
    /// `budget_bytes`: how many bytes of topics and payloads may be received and not yet
    /// stored (the writer's memory bound).
    pub fn new(
        messages: mpsc::Sender<Received>,
        budget_bytes: usize,
        status: IngestStatus,
        max_payload_bytes: usize,
    ) -> Self {
        Self {
            messages,
            budget: Arc::new(Semaphore::new(budget_bytes)),
            budget_bytes,
            status,
            max_payload_bytes,
        }
    }

    fn refusal(&self, publish: &Publish) -> Option<Refusal> {
        if publish.payload.len() > self.max_payload_bytes {
            return Some(Refusal::Oversized);
        }
        check_storable_topic(&publish.topic)
            .err()
            .map(Refusal::Topic)
    }

    /// Shows a message to the live views before it is stored: they must not wait for a commit.
    /// What will not be stored is not shown either.
    fn show_live(&self, live: &LiveHub, publish: &Publish, received_at: DateTime<Utc>) {
        if self.refusal(publish).is_none() {
            live.publish(
                &publish.topic,
                received_at,
                publish.payload.clone(),
                publish.qos as u8,
                publish.retain,
            );
        }
    }

    /// Hands a message to the writer. Waits while the writer holds its whole budget or its
    /// queue is full: backpressure, never a drop.
    async fn store(
        &self,
        mut publish: Publish,
        received_at: DateTime<Utc>,
        connection: Option<u64>,
    ) -> Result<(), WriterGone> {
        self.status.received();
        let refusal = self.refusal(&publish);
        match refusal {
            None => {}
            Some(Refusal::Oversized) => {
                self.status
                    .oversized(&shortened(&publish.topic, LOGGED_TOPIC_BYTES));
                tracing::warn!(
                    topic = %shortened(&publish.topic, LOGGED_TOPIC_BYTES),
                    bytes = publish.payload.len(),
                    limit = self.max_payload_bytes,
                    "payload over the size limit; acknowledged, not stored"
                );
            }
            Some(Refusal::Topic(problem)) => {
                self.status.unstorable(problem.as_str());
                tracing::warn!(
                    topic = %shortened(&publish.topic, LOGGED_TOPIC_BYTES).escape_debug(),
                    topic_bytes = publish.topic.len(),
                    problem = problem.as_str(),
                    "topic cannot be stored; acknowledged, not stored"
                );
            }
        }
        if refusal.is_some() {
            // Only its packet id is needed now, for the acknowledgement.
            publish.payload = Default::default();
            publish.topic = String::new();
        }
        // Topic bytes count as much as payload bytes: a flood of small messages with long topics
        // must not get around the bound.
        let bytes = (publish.payload.len() + publish.topic.len()).min(self.budget_bytes);
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        let budget = self
            .budget
            .clone()
            .acquire_many_owned(bytes)
            .await
            .map_err(|_| WriterGone)?;
        let received = Received {
            publish,
            received_at,
            refused: refusal.is_some(),
            connection,
            budget,
        };
        self.messages.send(received).await.map_err(|_| WriterGone)
    }
}

/// Polls the connection for its next event. When `stopping` turns true meanwhile, `intake` is
/// dropped: no more messages are taken, and once every connection let go of it the writer stores
/// what it has and ends.
async fn next_event(
    eventloop: &mut EventLoop,
    stopping: &mut watch::Receiver<bool>,
    intake: &mut Option<Intake>,
) -> Result<Event, ConnectionError> {
    // The same poll future is awaited to its end: dropping it halfway could lose a packet being
    // written.
    let poll = eventloop.poll();
    tokio::pin!(poll);
    loop {
        tokio::select! {
            event = &mut poll => return event,
            _ = stopping.changed(), if intake.is_some() => {
                if *stopping.borrow() {
                    *intake = None;
                }
            }
        }
    }
}

/// Publishes on ingest's connection, so the dashboard needs no second one (a second client id,
/// a second session and a second login to the broker), and waits for the broker's
/// acknowledgement.
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
    deliveries: Arc<Mutex<Deliveries>>,
    status: IngestStatus,
    wait: Duration,
    payload_limit: usize,
}

/// Why nothing was published.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("not connected to the broker")]
    NotConnected,
    #[error("the broker connection's request queue is full")]
    QueueFull,
    #[error("the payload or the topic is larger than Lookout publishes")]
    TooLarge,
}

/// The fixed header (1 byte and up to 4 of length), the topic's length and the packet id.
const PUBLISH_OVERHEAD: usize = 1 + 4 + 2 + 2;
const MAX_TOPIC_BYTES: usize = 65_535;

impl Publisher {
    pub fn is_connected(&self) -> bool {
        self.status.is_connected()
    }

    /// The largest payload it publishes: the one configured for ingest (`max_payload_bytes`).
    pub fn payload_limit(&self) -> usize {
        self.payload_limit
    }

    /// Queues a message on the connection and waits for what becomes of it (see [`Delivery`]).
    /// Refuses while disconnected rather than queueing: a command that reaches a device minutes
    /// later, after the person who sent it gave up, does more harm than one refused.
    pub async fn publish(
        &self,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    ) -> Result<Delivery, PublishError> {
        if !self.is_connected() {
            return Err(PublishError::NotConnected);
        }
        // rumqttc refuses to write a larger packet by dropping the connection, and would then
        // send it again after every reconnect.
        if payload.len() > self.payload_limit || topic.len() > MAX_TOPIC_BYTES {
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
            // Ingest stopped with it still queued, or the wait ended first.
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
/// publishes in flight and those not yet taken from the queue are kept and sent first after a
/// reconnect, unless the broker lost the session, when rumqttc drops them; reports of packets
/// written just before the drop are still delivered after the reconnect.
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

    /// Connected again; `reported` are the packet ids of the publish reports rumqttc still holds
    /// from before, in order.
    fn reconnected(&mut self, session_present: bool, reported: Vec<u16>) {
        if session_present {
            // rumqttc sends everything again and the reports come in order.
            return;
        }
        // Without the session rumqttc dropped what was in flight and what it held unsent. Of
        // the held reports, those after the stale ones already known, and not re-sends of
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

/// Exponential backoff from 250 ms to 30 s, with jitter so that many instances restarted by one
/// broker outage do not reconnect in lockstep.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Duration::from_millis(250),
        }
    }
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(30);

    fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        // Up to a quarter of the delay again, from the clock's low bits: no RNG needed for this.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = base.mul_f64(f64::from(nanos % 1000) / 4000.0);
        base + jitter
    }
}

#[cfg(test)]
mod tests {
    use super::{Backoff, Deliveries};
    use app::publish::Delivery;
    use rumqttc::QoS;
    use std::time::Duration;
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
    fn after_a_reconnect_with_the_session_resends_are_not_taken_for_new_publishes() {
        let mut deliveries = Deliveries::default();
        let mut in_flight = queue(&mut deliveries, QoS::AtLeastOnce);
        deliveries.went_out(3);
        let mut cut_off = queue(&mut deliveries, QoS::AtLeastOnce);
        let mut unsent = queue(&mut deliveries, QoS::AtLeastOnce);
        // `cut_off` was written as the connection dropped (its report is still held), `unsent`
        // was taken back from the queue.
        deliveries.disconnected(1);
        deliveries.reconnected(true, vec![4]);
        deliveries.went_out(4); // the held report
        deliveries.went_out(3); // sent again
        deliveries.went_out(4); // sent again
        deliveries.went_out(5);
        let mut later = queue(&mut deliveries, QoS::AtMostOnce);
        deliveries.went_out(0);
        assert_eq!(outcome(&mut later), Some(Delivery::Written));
        for (pkid, delivery) in [(3, &mut in_flight), (4, &mut cut_off), (5, &mut unsent)] {
            assert_eq!(outcome(delivery), None);
            deliveries.acknowledged(pkid);
            assert_eq!(outcome(delivery), Some(Delivery::Acknowledged), "{pkid}");
        }
    }

    #[test]
    fn after_a_reconnect_without_the_session_what_rumqttc_dropped_is_reported_so() {
        let mut deliveries = Deliveries::default();
        let mut in_flight = queue(&mut deliveries, QoS::ExactlyOnce);
        deliveries.went_out(3);
        let mut cut_off = queue(&mut deliveries, QoS::AtMostOnce);
        let mut unsent = queue(&mut deliveries, QoS::AtLeastOnce);
        deliveries.disconnected(1);
        // Queued while the connection was down (rumqttc keeps what is still in its channel).
        let mut queued_meanwhile = queue(&mut deliveries, QoS::AtLeastOnce);
        // The held reports: a resend of 3 (from an earlier reconnect) and the cut-off QoS 0.
        deliveries.reconnected(false, vec![3, 0]);
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
        deliveries.reconnected(false, vec![1]);
        assert_eq!(outcome(&mut first), Some(Delivery::Lost));
        let mut second = queue(&mut deliveries, QoS::AtLeastOnce);
        // Dropped again at once: report 1 is still held, nothing new was written.
        deliveries.disconnected(1);
        deliveries.reconnected(false, vec![1]);
        assert_eq!(outcome(&mut second), Some(Delivery::NotSent));
        let mut third = queue(&mut deliveries, QoS::AtLeastOnce);
        deliveries.went_out(1);
        deliveries.went_out(2);
        deliveries.acknowledged(2);
        assert_eq!(outcome(&mut third), Some(Delivery::Acknowledged));
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling_with_bounded_jitter() {
        let mut backoff = Backoff::default();
        let mut base = Duration::from_millis(250);
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(
                delay >= base && delay <= base + base / 4,
                "{delay:?} vs {base:?}"
            );
            base = (base * 2).min(Backoff::MAX);
        }
        assert_eq!(base, Backoff::MAX);
    }
}
