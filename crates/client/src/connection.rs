//! One authenticated WebSocket connection to `/ws`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::ClientError;
use crate::frame::Frame;
use crate::target::ServerTarget;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Connection {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Connection {
    /// Connects with `Authorization: Bearer <token>`.
    pub async fn open(target: &ServerTarget) -> Result<Self, ClientError> {
        let url = target.base.ws_url();
        if target.base.tls {
            // tokio-tungstenite is built without a TLS stack here; say so instead of failing
            // somewhere inside the handshake.
            return Err(ClientError::TlsUnsupported { url });
        }
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ClientError::Usage(format!("{url}: {e}")))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", target.token))
            .map_err(|_| ClientError::Usage("the token holds characters a header cannot".into()))?;
        request.headers_mut().insert("authorization", bearer);
        let connect = tokio_tungstenite::connect_async(request);
        let (socket, _) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| ClientError::Connect {
                url: url.clone(),
                detail: format!("no answer within {CONNECT_TIMEOUT:?}"),
            })?
            .map_err(|e| match e {
                tungstenite::Error::Http(response) if response.status() == 401 => {
                    ClientError::Unauthorized
                }
                other => ClientError::Connect {
                    url: url.clone(),
                    detail: other.to_string(),
                },
            })?;
        tracing::debug!(%url, "connected");
        Ok(Self { socket })
    }

    /// Sends one client message (a protocol type that serializes with its `type`).
    pub async fn send<M: Serialize>(&mut self, message: &M) -> Result<(), ClientError> {
        let text = serde_json::to_string(message)
            .map_err(|e| ClientError::Usage(format!("cannot encode a message: {e}")))?;
        self.send_text(text).await
    }

    /// Sends one already encoded client message.
    pub async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| ClientError::Connection(e.to_string()))
    }

    /// The next text frame; `Ok(None)` once the server closed the connection.
    pub async fn recv(&mut self) -> Result<Option<Frame>, ClientError> {
        loop {
            let Some(message) = self.socket.next().await else {
                return Ok(None);
            };
            match message.map_err(|e| ClientError::Connection(e.to_string()))? {
                Message::Text(text) => return Frame::parse(text.as_str().to_owned()).map(Some),
                Message::Close(_) => return Ok(None),
                // Pings are answered by tungstenite while reading; binary frames are not part
                // of the protocol's server side.
                _ => continue,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
