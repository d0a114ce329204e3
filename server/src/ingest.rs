//! The one place that owns the MQTT connection. Its event loop only decodes and hands messages on
//! through a bounded channel: storage never blocks it for longer than the channel is full, which
//! is the backpressure we want (the broker holds messages while we cannot take them).

mod tls;

use crate::config::{BrokerTransport, ConfigError, MqttSettings};
use app::ingest_status::IngestStatus;
use app::live::LiveHub;
use chrono::{DateTime, Utc};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, Publish, SubscribeFilter,
    SubscribeReasonCode, Transport,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// A message as received, with what the writer needs to store and then acknowledge it.
#[derive(Debug)]
pub struct Received {
    pub publish: Publish,
    pub received_at: DateTime<Utc>,
    /// Larger than the configured limit: acknowledged but not stored.
    pub oversized: bool,
    /// The broker connection it arrived on (see [`Session`]).
    pub connection: u64,
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
    max_payload_bytes: usize,
    status: IngestStatus,
}

/// Room for acknowledgements and subscriptions queued while the event loop is busy. When it is
/// full the writer keeps its acknowledgements and retries (see `writer::UnsentAcks`).
const REQUEST_CAPACITY: usize = 10_000;

/// The largest packet we accept from the broker. Bigger than any payload limit so that an
/// oversized message is read, counted and acknowledged rather than tearing the connection down
/// (which would make the broker redeliver it forever).
pub const MAX_INCOMING_PACKET: usize = 16 * 1024 * 1024;

impl Broker {
    /// Connects, waits for the broker to accept the session, and queues the subscriptions. Fails
    /// with an error naming the broker setting when the broker refuses or cannot be reached
    /// within `timeout`.
    pub async fn connect(
        settings: &MqttSettings,
        timeout: Duration,
        status: IngestStatus,
    ) -> Result<Self, ConfigError> {
        let address = &settings.url.value;
        let mut options = match address.transport {
            BrokerTransport::Tcp | BrokerTransport::Tls => {
                MqttOptions::new(&settings.client_id, &address.host, address.port)
            }
            // rumqttc takes a WebSocket's address as the whole URL.
            BrokerTransport::Ws | BrokerTransport::Wss => {
                MqttOptions::new(&settings.client_id, address.to_string(), address.port)
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
            // A persistent session: the broker keeps our subscriptions and queues QoS 1/2
            // messages while we are away, and redelivers what we had not acknowledged.
            .set_clean_session(false)
            // Acknowledged by the writer once stored, never on receipt.
            .set_manual_acks(true)
            .set_max_packet_size(MAX_INCOMING_PACKET, MAX_INCOMING_PACKET);
        if let Some(login) = &settings.login {
            options.set_credentials(&login.value.username, &login.value.password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);

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
            Ok(Ok(())) => status.connected(),
            Ok(Err(ConnectionError::ConnectionRefused(code))) => {
                // The broker answered: with a login, it is the login it did not like.
                let problem = format!("the broker at {address} refused the connection: {code:?}");
                return Err(match &settings.login {
                    Some(login) => login.unusable(problem),
                    None => settings.url.unusable(problem),
                });
            }
            Ok(Err(ConnectionError::Tls(error))) => {
                // Usually the broker's certificate is not from the authority we were told to
                // trust: point at that setting when there is one.
                let problem = format!("TLS with the broker at {address} failed: {error}");
                return Err(match &settings.tls.ca_file {
                    Some(ca_file) => ca_file.unusable(problem),
                    None => settings.url.unusable(problem),
                });
            }
            Ok(Err(error)) => {
                return Err(settings.url.unusable(format!(
                    "cannot connect to the broker at {address}: {error}"
                )))
            }
            Err(_) => {
                return Err(settings.url.unusable(format!(
                    "the broker at {address} did not accept a connection within {timeout:?}"
                )))
            }
        }

        let subscriptions: Vec<SubscribeFilter> = settings
            .subscriptions
            .value
            .iter()
            .map(|subscription| SubscribeFilter::new(subscription.filter.clone(), subscription.qos))
            .collect();
        let broker = Self {
            client,
            eventloop,
            session: Session::default(),
            subscriptions,
            max_payload_bytes: settings.max_payload_bytes,
            status,
        };
        // Sent by `run`: a persistent session's queued messages may arrive before the SubAck, and
        // only `run` hands them on instead of dropping them.
        broker.resubscribe();
        tracing::info!(broker = %address, client_id = %settings.client_id, "connected to the broker");
        Ok(broker)
    }

    /// The handle the writer acknowledges through.
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    /// Which connection is current, for the writer's acknowledgements.
    pub fn session(&self) -> Session {
        self.session.clone()
    }

    /// Runs the event loop until the writer goes away, reconnecting with backoff on any error.
    /// Every message goes to the live hub as it arrives and to the writer through `messages`.
    /// The broker's answer to the first subscription goes to `subscribed`.
    pub async fn run(
        mut self,
        live: LiveHub,
        messages: mpsc::Sender<Received>,
        budget: Arc<Semaphore>,
        subscribed: oneshot::Sender<Vec<SubscribeReasonCode>>,
    ) {
        let mut backoff = Backoff::default();
        let mut subscribed = Some(subscribed);
        loop {
            match self.eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if let Some(first) = subscribed.take() {
                        let _ = first.send(ack.return_codes);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(mut publish))) => {
                    self.status.received();
                    let oversized = publish.payload.len() > self.max_payload_bytes;
                    if oversized {
                        self.status.oversized(&publish.topic);
                        tracing::warn!(
                            topic = %publish.topic,
                            bytes = publish.payload.len(),
                            limit = self.max_payload_bytes,
                            "payload over the size limit; acknowledged, not stored"
                        );
                        // Only its packet id is needed now, for the acknowledgement.
                        publish.payload = Default::default();
                    }
                    let received_at = Utc::now();
                    if !oversized {
                        // Before storing: live views must not wait for a commit.
                        live.publish(
                            &publish.topic,
                            received_at,
                            publish.payload.clone(),
                            publish.qos as u8,
                            publish.retain,
                        );
                    }
                    // Waits while the writer holds its whole budget: backpressure, as below.
                    let bytes = u32::try_from(publish.payload.len()).unwrap_or(u32::MAX);
                    let Ok(budget) = budget.clone().acquire_many_owned(bytes).await else {
                        return;
                    };
                    let received = Received {
                        publish,
                        received_at,
                        oversized,
                        connection: self.session.current(),
                        budget,
                    };
                    // Waits while the writer is behind: backpressure, never a drop.
                    if messages.send(received).await.is_err() {
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
                    self.resubscribe();
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

    fn resubscribe(&self) {
        // Never awaited here: the event loop must keep polling for the request to go out.
        if let Err(error) = self.client.try_subscribe_many(self.subscriptions.clone()) {
            let client = self.client.clone();
            let filters = self.subscriptions.clone();
            tracing::debug!(%error, "request queue full; subscribing in the background");
            tokio::spawn(async move { client.subscribe_many(filters).await });
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
