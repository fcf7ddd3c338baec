//! A tiny HTTP/1.1 client over `TcpStream` for the server's own tests: enough to send a
//! JSON request and read a plain, chunked or SSE response — without pulling an HTTP
//! client crate into the test kit.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(super) struct HttpResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn sse(&self) -> Vec<SseEvent> {
        parse_sse(&self.body)
    }
}

pub(super) fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut event = None;
            let mut data = Vec::new();
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                }
            }
            SseEvent {
                event,
                data: data.join("\n"),
            }
        })
        .collect()
}

/// Opens a connection and writes the request; the caller reads the answer.
pub(super) async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         x-api-key: test-key\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body.as_bytes()).await.expect("write body");
    stream
}

/// A whole request/response exchange (the server closes after it: `connection: close`).
pub(super) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> HttpResponse {
    let mut stream = send(addr, method, path, body).await;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("response within 5 s")
        .expect("read");
    parse(&raw)
}

/// POSTs JSON.
pub(super) async fn post(addr: SocketAddr, path: &str, body: &Value) -> HttpResponse {
    request(addr, "POST", path, Some(body)).await
}

/// Reads until the end of the response head; returns the status and what followed it.
pub(super) async fn read_head(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = find(&raw, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            return (status_of(&head), raw[end + 4..].to_vec());
        }
        let n = stream.read(&mut buf).await.expect("read head");
        assert!(n > 0, "connection closed before the response head");
        raw.extend_from_slice(&buf[..n]);
    }
}

fn parse(raw: &[u8]) -> HttpResponse {
    let response = crate::http::parse(raw).expect("a complete response");
    HttpResponse {
        status: response.status,
        headers: response.headers,
        body: String::from_utf8(response.body).expect("utf-8 body"),
    }
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code")
}

use crate::http::find;
