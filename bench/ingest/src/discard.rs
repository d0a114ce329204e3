//! (a) The broker ceiling: a plain subscriber that parses each message, notes when it arrived and
//! throws it away. It reports (seq, sent_us, received_us) records on stdout for the driver, which
//! does the bookkeeping so that this process stays as small as a real consumer.

use anyhow::{Context, Result};
use bench_common::payload;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Deserialize;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Deserialize)]
struct Head {
    seq: u64,
    sent_us: u64,
}

pub async fn run(host: &str, port: u16) -> Result<()> {
    let mut options = MqttOptions::new(
        format!("ingest-bench-discard-{}", std::process::id()),
        host,
        port,
    );
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    client
        .subscribe("bench/#", QoS::AtLeastOnce)
        .await
        .context("cannot queue the subscription")?;

    // Written out by a thread every few ms, so the event loop never waits on the pipe for long.
    let pending: Arc<Mutex<Vec<u8>>> = Arc::default();
    let writer = pending.clone();
    std::thread::spawn(move || {
        let mut stdout = std::io::stdout().lock();
        loop {
            std::thread::sleep(Duration::from_millis(5));
            let chunk = std::mem::take(&mut *writer.lock().unwrap());
            if !chunk.is_empty() && (stdout.write_all(&chunk).is_err() || stdout.flush().is_err()) {
                std::process::exit(0);
            }
        }
    });

    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let received_us = payload::now_us();
                match serde_json::from_slice::<Head>(&publish.payload) {
                    Ok(head) => {
                        let mut out = pending.lock().unwrap();
                        out.extend_from_slice(&head.seq.to_le_bytes());
                        out.extend_from_slice(&head.sent_us.to_le_bytes());
                        out.extend_from_slice(&received_us.to_le_bytes());
                    }
                    Err(error) => eprintln!("discard: a payload without seq/sent_us: {error}"),
                }
            }
            Ok(_) => {}
            Err(error) => {
                eprintln!("discard: broker connection lost: {error}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}
