//! A WebSocket front for the test broker's plain MQTT listener: `ws://` and `wss://` brokers are
//! usually a broker behind such a front (a reverse proxy, or the broker's own WebSocket
//! listener, which Debian's Mosquitto is built without). Each WebSocket connection is relayed
//! byte for byte to the broker.

use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use async_tungstenite::tungstenite::http::HeaderValue;
use std::path::Path;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use ws_stream_tungstenite::WsStream;

pub struct WebSocketFront {
    pub port: u16,
    task: JoinHandle<()>,
}

impl WebSocketFront {
    /// Relays `ws://127.0.0.1:{port}/mqtt` to the broker on `broker_port`.
    pub async fn plain(broker_port: u16) -> Self {
        Self::start(broker_port, None).await
    }

    /// Relays `wss://localhost:{port}/mqtt`, presenting the given server certificate.
    pub async fn tls(broker_port: u16, cert: &Path, key: &Path) -> Self {
        Self::start(broker_port, Some(super::services::tls_acceptor(cert, key))).await
    }

    async fn start(broker_port: u16, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(client) = acceptor.accept(client).await {
                                relay(client, broker_port).await;
                            }
                        }
                        None => relay(client, broker_port).await,
                    }
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for WebSocketFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: impl AsyncRead + AsyncWrite + Unpin + Send + 'static, broker_port: u16) {
    // MQTT clients ask for the "mqtt" subprotocol and refuse a server that does not confirm it.
    // The error type is tungstenite's, fixed by its callback signature.
    #[allow(clippy::result_large_err)]
    let confirm_mqtt = |_: &Request, mut response: Response| {
        response
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        Ok(response)
    };
    let Ok(websocket) = async_tungstenite::tokio::accept_hdr_async(client, confirm_mqtt).await
    else {
        return;
    };
    let Ok(mut broker) = TcpStream::connect(("127.0.0.1", broker_port)).await else {
        return;
    };
    let mut client = WsStream::new(websocket);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
}
