//! The one place that owns the MQTT connection. Its event loop only decodes and hands messages on
//! through a bounded channel: storage never blocks it for longer than the channel is full, which
//! is the backpressure we want (the broker holds messages while we cannot take them). The
//! dashboard publishes on a connection of its own ([`publisher`]), so that nothing it sends can
//! disturb ingest's.

mod publisher;
mod tls;

pub use publisher::{PublishConnection, PublishError, Publisher, RECONNECT_GRACE};

use crate::config::{BrokerTransport, ConfigError, MqttSettings};
use app::domain::topic_filter::{check_storable_topic, shortened, UnstorableTopic};
use app::server::ingest_status::IngestStatus;
use app::server::live_hub::LiveHub;
use chrono::{DateTime, Utc};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    SubscribeFilter, SubscribeReasonCode, Transport,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
    status: IngestStatus,
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
            status,
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
                    let message = intake.check(publish);
                    if let Some(live) = &live {
                        message.show_live(live, received_at);
                    }
                    let connection = Some(self.session.current());
                    if intake
                        .store(message, received_at, connection)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    tracing::info!(
                        session_present = ack.session_present,
                        "reconnected to the broker"
                    );
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
                    tokio::time::sleep(delay).await;
                }
            }
        }
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
                    let message = intake.check(publish);
                    message.show_live(&live, received_at);
                    // In MQTT 3.1.1 the flag is set only on the replay of a new subscription.
                    if message.publish.retain
                        && intake.store(message, received_at, None).await.is_err()
                    {
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

/// A delivered message with the decision whether Lookout keeps it, taken once: showing it live
/// and storing it must agree.
struct Checked {
    publish: Publish,
    refusal: Option<Refusal>,
}

impl Checked {
    /// Shows the message to the live views before it is stored: they must not wait for a
    /// commit. What will not be stored is not shown either.
    fn show_live(&self, live: &LiveHub, received_at: DateTime<Utc>) {
        if self.refusal.is_none() {
            let publish = &self.publish;
            live.publish(
                &publish.topic,
                received_at,
                publish.payload.clone(),
                publish.qos as u8,
                publish.retain,
            );
        }
    }
}

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

    fn check(&self, publish: Publish) -> Checked {
        let refusal = if publish.payload.len() > self.max_payload_bytes {
            Some(Refusal::Oversized)
        } else {
            check_storable_topic(&publish.topic)
                .err()
                .map(Refusal::Topic)
        };
        Checked { publish, refusal }
    }

    /// Hands a message to the writer. Waits while the writer holds its whole budget or its
    /// queue is full: backpressure, never a drop.
    async fn store(
        &self,
        message: Checked,
        received_at: DateTime<Utc>,
        connection: Option<u64>,
    ) -> Result<(), WriterGone> {
        self.status.received();
        let Checked {
            mut publish,
            refusal,
        } = message;
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
    use super::Backoff;
    use std::time::Duration;

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
