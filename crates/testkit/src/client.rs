//! A protocol client for tests: send JSON, receive JSON, wait for what you expect.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long one `recv` waits by default.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(20);

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to `ws://addr/ws` with `Authorization: Bearer <token>`.
    pub async fn connect(addr: std::net::SocketAddr, token: &str) -> Result<Self> {
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .context("websocket connect")?;
        Ok(Self { socket })
    }

    pub async fn send(&mut self, message: Value) -> Result<()> {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await?;
        Ok(())
    }

    pub async fn send_raw(&mut self, message: Message) -> Result<()> {
        self.socket.send(message).await?;
        Ok(())
    }

    /// The next text frame as JSON.
    pub async fn recv(&mut self) -> Result<Value> {
        self.recv_timeout(RECV_TIMEOUT).await
    }

    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Value> {
        loop {
            let message = tokio::time::timeout(timeout, self.socket.next())
                .await
                .map_err(|_| anyhow!("no frame within {timeout:?}"))?
                .ok_or_else(|| anyhow!("the connection closed"))??;
            match message {
                Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
                Message::Close(frame) => bail!("the server closed the connection: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Receives until a frame matches, returning it and everything before it.
    pub async fn recv_until(&mut self, mut done: impl FnMut(&Value) -> bool) -> Result<Vec<Value>> {
        let mut seen = Vec::new();
        loop {
            let frame = self.recv().await?;
            let stop = done(&frame);
            seen.push(frame);
            if stop {
                return Ok(seen);
            }
        }
    }

    /// Receives until the session's terminal `session-state-changed`.
    pub async fn recv_until_terminal(&mut self, session_id: &str) -> Result<Vec<Value>> {
        self.recv_until(|f| is_terminal_for(f, session_id)).await
    }

    /// Asserts nothing arrives for `quiet`, on a connection that stays open: a closed or
    /// failed connection is not silence.
    pub async fn expect_silence(&mut self, quiet: Duration) -> Result<()> {
        match tokio::time::timeout(quiet, self.recv_timeout(quiet + RECV_TIMEOUT)).await {
            Err(_) => Ok(()),
            Ok(Ok(frame)) => bail!("expected silence, got {frame}"),
            Ok(Err(e)) => Err(e.context("expected silence on an open connection")),
        }
    }

    pub async fn close(mut self) -> Result<()> {
        self.socket.close(None).await?;
        Ok(())
    }
}

pub fn is_terminal_for(frame: &Value, session_id: &str) -> bool {
    frame["type"] == "session-state-changed"
        && frame["sessionId"] == session_id
        && matches!(
            frame["state"].as_str(),
            Some("completed" | "failed" | "aborted" | "interrupted")
        )
}

/// `{type:"<provider>-command", command, options:{projectPath, …extra}}`.
pub fn command(provider: &str, prompt: &str, project: &std::path::Path, extra: Value) -> Value {
    let mut options = serde_json::json!({ "projectPath": project.to_string_lossy() });
    if let Value::Object(more) = extra {
        for (k, v) in more {
            options[k] = v;
        }
    }
    serde_json::json!({ "type": format!("{provider}-command"), "command": prompt, "options": options })
}
