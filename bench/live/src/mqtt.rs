//! The MQTT side of the reference clients: MQTT 3.1.1 through rumqttc's codec, over a plain TCP
//! connection or inside WebSocket frames.

use crate::ws;
use anyhow::{bail, Result};
use bytes::BytesMut;
use rumqttc::{Connect, Packet, QoS, Subscribe, SubscribeFilter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_PACKET: usize = 1 << 20;

#[derive(Clone, Copy, Debug)]
pub enum Framing {
    Plain,
    WebSocket,
}

/// Whether the connection is still open after what was read.
pub enum Read {
    Open,
    Closed,
}

impl Framing {
    /// Moves the MQTT bytes of `input` to `mqtt`; WebSocket pings are answered into `replies`.
    pub fn take(
        self,
        input: &mut BytesMut,
        mqtt: &mut BytesMut,
        replies: &mut BytesMut,
    ) -> Result<Read> {
        match self {
            Framing::Plain => {
                mqtt.extend_from_slice(&input.split());
                Ok(Read::Open)
            }
            Framing::WebSocket => ws::unframe(input, mqtt, replies),
        }
    }

    fn wrap(self, packets: &[u8]) -> BytesMut {
        match self {
            Framing::Plain => BytesMut::from(packets),
            Framing::WebSocket => {
                let mut out = BytesMut::new();
                ws::frame(ws::OP_BINARY, packets, [0x12, 0x34, 0x56, 0x78], &mut out);
                out
            }
        }
    }
}

/// Sends CONNECT and SUBSCRIBE (QoS 0, like a browser dashboard).
pub async fn subscribe(
    socket: &mut TcpStream,
    framing: Framing,
    client_id: &str,
    filters: &[String],
) -> Result<()> {
    let mut connect = Connect::new(client_id);
    // No keep-alive: the benchmark's connections say nothing else, and an idle one must stay.
    connect.keep_alive = 0;
    connect.clean_session = true;
    let mut subscribe = Subscribe::new_many(
        filters
            .iter()
            .map(|filter| SubscribeFilter::new(filter.clone(), QoS::AtMostOnce)),
    );
    subscribe.pkid = 1;
    let mut packets = BytesMut::new();
    Packet::Connect(connect).write(&mut packets, MAX_PACKET)?;
    Packet::Subscribe(subscribe).write(&mut packets, MAX_PACKET)?;
    socket.write_all(&framing.wrap(&packets)).await?;
    Ok(())
}

/// The next whole MQTT packet in `mqtt`, if one is there.
pub fn next_packet(mqtt: &mut BytesMut) -> Result<Option<Packet>> {
    match Packet::read(mqtt, MAX_PACKET) {
        Ok(packet) => Ok(Some(packet)),
        Err(rumqttc::Error::InsufficientBytes(_)) => Ok(None),
        Err(error) => bail!("a bad MQTT packet from the broker: {error:?}"),
    }
}

/// Reads until the broker acknowledged the connection and the subscription.
pub async fn await_subscribed(
    socket: &mut TcpStream,
    framing: Framing,
    input: &mut BytesMut,
    mqtt: &mut BytesMut,
) -> Result<()> {
    let mut replies = BytesMut::new();
    let (mut connected, mut subscribed) = (false, false);
    while !(connected && subscribed) {
        if let Read::Closed = framing.take(input, mqtt, &mut replies)? {
            bail!("the broker closed the WebSocket");
        }
        if !replies.is_empty() {
            socket.write_all(&replies.split()).await?;
        }
        while let Some(packet) = next_packet(mqtt)? {
            match packet {
                Packet::ConnAck(ack) if ack.code == rumqttc::ConnectReturnCode::Success => {
                    connected = true
                }
                Packet::ConnAck(ack) => bail!("the broker refused the connection: {:?}", ack.code),
                Packet::SubAck(_) => subscribed = true,
                other => bail!("expected ConnAck and SubAck, got {other:?}"),
            }
        }
        if !(connected && subscribed) && socket.read_buf(input).await? == 0 {
            bail!("the broker closed the connection while subscribing");
        }
    }
    Ok(())
}
