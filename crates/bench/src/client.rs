//! A lean WebSocket client for measuring: it reads as fast as it can and looks at each frame
//! only as far as a measurement needs (the header's `seq`, a terminal state, the fixture's
//! write stamp), without building a JSON tree per frame. The bench shares two cores with the
//! server, so every cycle the client spends is a cycle the server does not get.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A run that delivers nothing for this long has failed (a lost terminal frame, a hang).
const STALL: Duration = Duration::from_secs(60);

pub struct BenchClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What one connection saw until its session's terminal frame.
#[derive(Debug, Default, Clone)]
pub struct Delivery {
    /// Journaled frames (those with a `seq`).
    pub frames: u64,
    /// Frames carrying the fixture's write stamp (one per assistant line).
    pub stamped: u64,
    /// Seqs missing between the first and the last frame seen.
    pub seq_gaps: u64,
    /// The highest seq seen.
    pub last_seq: u64,
    /// The terminal state (`completed`, `failed`, …).
    pub terminal: String,
    /// Arrival and write-to-read delay (ns) of each stamped frame (when asked for).
    pub delays: Vec<(Instant, u64)>,
    /// Bytes of the journaled frames.
    pub bytes: u64,
    /// When the first stamped frame arrived.
    pub first_stamped: Option<Instant>,
    /// When the terminal frame arrived.
    pub finished: Option<Instant>,
}

impl BenchClient {
    pub async fn connect(addr: SocketAddr, token: &str) -> Result<Self> {
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
        // No Nagle delay on the client's side either (browsers do the same).
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .context("websocket connect")?;
        Ok(Self { socket })
    }

    pub async fn send(&mut self, message: &Value) -> Result<()> {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await?;
        Ok(())
    }

    /// The next text frame, as text.
    pub async fn next_text(&mut self) -> Result<String> {
        loop {
            let message = tokio::time::timeout(STALL, self.socket.next())
                .await
                .map_err(|_| anyhow!("no frame within {STALL:?}"))?
                .ok_or_else(|| anyhow!("the connection closed"))??;
            match message {
                Message::Text(text) => return Ok(text.as_str().to_owned()),
                Message::Close(frame) => bail!("the server closed the connection: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The session id of the first frame that carries one (the reply to a command).
    pub async fn session_id(&mut self) -> Result<String> {
        loop {
            let text = self.next_text().await?;
            let frame: Value = serde_json::from_str(&text)?;
            if frame["type"] == "error" {
                bail!("the server refused: {text}");
            }
            if let Some(id) = frame["sessionId"].as_str() {
                return Ok(id.to_owned());
            }
        }
    }

    /// Reads until the session's terminal state, counting frames (and timing stamped ones).
    pub async fn read_until_terminal(&mut self, measure_delay: bool) -> Result<Delivery> {
        self.read_until(measure_delay, |_, _| false).await
    }

    /// Reads until a terminal state or until `done(frame, seq)` says so.
    pub async fn read_until(
        &mut self,
        measure_delay: bool,
        mut done: impl FnMut(&str, u64) -> bool,
    ) -> Result<Delivery> {
        let mut seen = Delivery::default();
        let mut first_seq = None;
        loop {
            let message = tokio::time::timeout(STALL, self.socket.next())
                .await
                .map_err(|_| anyhow!("no frame within {STALL:?}"))?
                .ok_or_else(|| anyhow!("the connection closed"))??;
            let text = match &message {
                Message::Text(text) => text.as_str(),
                Message::Close(frame) => bail!("the server closed the connection: {frame:?}"),
                _ => continue,
            };
            if text.starts_with(r#"{"type":"error""#) {
                bail!("error frame: {text}");
            }
            let Some(seq) = number_after(header(text), r#""seq":"#) else {
                continue;
            };
            if seq <= seen.last_seq {
                bail!(
                    "seq {seq} after {} (a duplicate or out of order)",
                    seen.last_seq
                );
            }
            if first_seq.is_none() {
                first_seq = Some(seq);
            } else {
                seen.seq_gaps += seq - seen.last_seq - 1;
            }
            seen.last_seq = seq;
            seen.frames += 1;
            seen.bytes += text.len() as u64;
            if let Some(stamp) = number_after(text, r#""fixture_ts_ns":"#) {
                seen.stamped += 1;
                let now = Instant::now();
                seen.first_stamped.get_or_insert(now);
                if measure_delay {
                    seen.delays.push((now, epoch_ns().saturating_sub(stamp)));
                }
            }
            if let Some(state) = terminal_state(text) {
                seen.terminal = state.to_owned();
                seen.finished = Some(Instant::now());
                return Ok(seen);
            }
            if done(text, seq) {
                seen.finished = Some(Instant::now());
                return Ok(seen);
            }
        }
    }
}

/// The start of a journaled frame, where its header fields are (`type`, `sessionId`,
/// `provider`, `seq`, …): a body field of the same name comes later and is not mistaken for it.
fn header(text: &str) -> &str {
    let mut end = text.len().min(160);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn number_after(text: &str, key: &str) -> Option<u64> {
    let start = text.find(key)? + key.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

/// The state of a terminal `session-state-changed` frame.
pub fn terminal_state(text: &str) -> Option<&str> {
    if !text.starts_with(r#"{"type":"session-state-changed""#) {
        return None;
    }
    let key = r#""state":""#;
    let start = text.find(key)? + key.len();
    let state = &text[start..start + text[start..].find('"')?];
    matches!(state, "completed" | "failed" | "aborted" | "interrupted").then_some(state)
}

pub fn epoch_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_fields_and_terminal_states() {
        let frame = r#"{"type":"session-state-changed","sessionId":"s","provider":"cursor","seq":42,"state":"completed","reason":"exited"}"#;
        assert_eq!(number_after(header(frame), r#""seq":"#), Some(42));
        assert_eq!(terminal_state(frame), Some("completed"));
        let running = frame.replace("completed", "running");
        assert_eq!(terminal_state(&running), None);
        let response = r#"{"type":"cursor-response","seq":7,"data":{"fixture_ts_ns":123}}"#;
        assert_eq!(terminal_state(response), None);
        assert_eq!(number_after(response, r#""fixture_ts_ns":"#), Some(123));
        assert_eq!(number_after(r#"{"type":"status"}"#, r#""seq":"#), None);
    }
}
