//! Helpers for the REST API's black-box tests: JSON requests to a real server.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use switchboard_server::cli::http::{self, HttpResponse};
use switchboard_testkit::TestServer;

/// Percent-encodes a query parameter value.
pub fn q(value: &str) -> String {
    http::encode_query_value(value)
}

pub struct Api {
    pub addr: String,
    pub token: Option<String>,
}

impl Api {
    pub fn of(server: &TestServer) -> Self {
        Self {
            addr: server.addr.to_string(),
            token: Some(server.token.clone()),
        }
    }

    pub fn without_token(server: &TestServer) -> Self {
        Self {
            addr: server.addr.to_string(),
            token: None,
        }
    }

    pub async fn raw(&self, method: &str, path: &str, body: Option<&[u8]>) -> HttpResponse {
        http::request(
            &self.addr,
            method,
            path,
            self.token.as_deref(),
            body,
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// The status and the JSON body (`Value::Null` when the body is not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string().into_bytes());
        let response = self.raw(method, path, body.as_deref()).await;
        (response.status, response.json().unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None).await
    }

    /// A GET that must succeed.
    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// Asserts an error response: the status and `{code, message}`.
pub fn assert_error(response: &(u16, Value), status: u16, code: &str) {
    assert_eq!(response.0, status, "{}", response.1);
    assert_eq!(response.1["code"], code, "{}", response.1);
    assert!(
        response.1["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        response.1
    );
}
