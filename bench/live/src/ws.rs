//! WebSocket for MQTT, as a browser dashboard speaks it to the broker: the HTTP upgrade with the
//! `mqtt` subprotocol, and RFC 6455 frames (masked from the client).

use crate::http;
use crate::mqtt::Read;
use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use std::net::SocketAddr;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Upgrades `stream` to a WebSocket on `/mqtt`; bytes after the response head stay in `buffer`.
pub async fn upgrade(
    stream: &mut TcpStream,
    server: SocketAddr,
    buffer: &mut BytesMut,
) -> Result<()> {
    // The key is only there to prove the server speaks WebSocket; any 16 bytes in base64 do.
    let request = format!(
        "GET /mqtt HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let head = http::read_head(stream, buffer).await?;
    if head.status != 101 {
        bail!("the broker refused the WebSocket upgrade: {}", head.status);
    }
    Ok(())
}

/// One client frame (FIN set, masked with `mask`) carrying `payload`.
pub fn frame(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut BytesMut) {
    out.extend_from_slice(&[0x80 | opcode]);
    match payload.len() {
        len @ 0..=125 => out.extend_from_slice(&[0x80 | len as u8]),
        len @ 126..=0xFFFF => {
            out.extend_from_slice(&[0x80 | 126]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.extend_from_slice(&[0x80 | 127]);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// Takes every whole frame out of `input`: data goes to `stream` (the MQTT byte stream), pings
/// are answered into `replies`.
pub fn unframe(
    input: &mut BytesMut,
    stream: &mut BytesMut,
    replies: &mut BytesMut,
) -> Result<Read> {
    loop {
        if input.len() < 2 {
            return Ok(Read::Open);
        }
        let opcode = input[0] & 0x0F;
        let masked = input[1] & 0x80 != 0;
        let (len, mut at) = match input[1] & 0x7F {
            126 => {
                if input.len() < 4 {
                    return Ok(Read::Open);
                }
                (usize::from(u16::from_be_bytes([input[2], input[3]])), 4)
            }
            127 => {
                if input.len() < 10 {
                    return Ok(Read::Open);
                }
                let len = u64::from_be_bytes(input[2..10].try_into().unwrap());
                (usize::try_from(len).context("a frame beyond memory")?, 10)
            }
            len => (usize::from(len), 2),
        };
        let mask = if masked {
            if input.len() < at + 4 {
                return Ok(Read::Open);
            }
            let mask: [u8; 4] = input[at..at + 4].try_into().unwrap();
            at += 4;
            Some(mask)
        } else {
            None
        };
        if input.len() < at + len {
            return Ok(Read::Open);
        }
        input.advance(at);
        let mut payload = input.split_to(len);
        if let Some(mask) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        match opcode {
            OP_BINARY | OP_CONTINUATION => stream.extend_from_slice(&payload),
            OP_PING => frame(OP_PONG, &payload, [0x5a, 0x17, 0x3c, 0x99], replies),
            OP_CLOSE => return Ok(Read::Closed),
            OP_PONG => {}
            other => bail!("an unexpected WebSocket opcode {other:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_every_length_class_come_out_as_the_mqtt_stream() {
        for len in [0usize, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut wire = BytesMut::new();
            frame(OP_BINARY, &payload, [1, 2, 3, 4], &mut wire);
            frame(OP_PING, b"hi", [9, 9, 9, 9], &mut wire);
            for split in [0, 1, wire.len() / 2, wire.len()] {
                let mut input = BytesMut::from(&wire[..split]);
                let (mut stream, mut replies) = (BytesMut::new(), BytesMut::new());
                unframe(&mut input, &mut stream, &mut replies).unwrap();
                input.extend_from_slice(&wire[split..]);
                unframe(&mut input, &mut stream, &mut replies).unwrap();
                assert_eq!(&stream[..], &payload[..], "len {len} split {split}");
                assert!(input.is_empty());
                // The pong echoes the ping's payload.
                let mut pong = BytesMut::new();
                frame(OP_PONG, b"hi", [0x5a, 0x17, 0x3c, 0x99], &mut pong);
                assert_eq!(replies, pong);
            }
        }
    }

    #[test]
    fn a_close_frame_ends_the_stream() {
        let mut wire = BytesMut::new();
        frame(OP_CLOSE, &[], [0; 4], &mut wire);
        let (mut stream, mut replies) = (BytesMut::new(), BytesMut::new());
        assert!(matches!(
            unframe(&mut wire, &mut stream, &mut replies).unwrap(),
            Read::Closed
        ));
    }
}
