//! Claude Code's stdin side: the opening lines and the stdio control protocol.
//!
//! With `--input-format stream-json --permission-prompt-tool stdio`, claude reads JSON lines
//! on stdin (`agent-clis.md` §9): an `initialize` control request, then the user turn. When a
//! tool needs approval it prints a `can_use_tool` control request on stdout and waits for a
//! `control_response` on stdin with the same `request_id`.
//!
//! Stdin must close once the turn is over (claude exits only then), so there is exactly one
//! strong sender, held here, and [`Control::close`] drops it after the `result` line. A task
//! waiting for a client's decision holds only a weak sender: a late decision is written if
//! stdin is still open and silently dropped otherwise, so it can never keep claude alive.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_agent_api::{PermissionAsk, PermissionDecision};
use tokio::sync::{mpsc, oneshot};

/// Said to claude when a decision carries no message, or when nobody answered (the core
/// drops the reply on timeout, abort and run end).
pub const DEFAULT_DENY_MESSAGE: &str = "denied";

/// The first stdin line: claude answers it with the session's commands and capabilities.
pub fn initialize_line() -> Vec<u8> {
    line(&json!({
        "type": "control_request",
        "request_id": "init-1",
        "request": {"subtype": "initialize"},
    }))
}

/// The user turn. The prompt is a JSON string value, so nothing in it can become a flag.
pub fn user_line(prompt: &str) -> Vec<u8> {
    line(&json!({
        "type": "user",
        "message": {"role": "user", "content": prompt},
    }))
}

/// The `request` object of a stdout `control_request`.
#[derive(Deserialize)]
pub struct ControlRequest {
    #[serde(default)]
    pub subtype: String,
    #[serde(default)]
    pub tool_name: String,
    #[serde(default)]
    pub input: Value,
}

/// The stdin writer of one run.
pub struct Control {
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    /// Tools the client allowed "for the rest of the run" (`rememberEntry`). Shared with the
    /// tasks that wait for decisions, which is where a remember arrives.
    remembered: Arc<Mutex<HashSet<String>>>,
}

impl Control {
    pub fn new(stdin: mpsc::Sender<Vec<u8>>) -> Self {
        Self {
            stdin: Some(stdin),
            remembered: Arc::default(),
        }
    }

    /// Drops the stdin sender: once the supervisor has written what is queued, the pipe
    /// closes and claude exits.
    pub fn close(&mut self) {
        self.stdin = None;
    }

    /// Handles a stdout `control_request`. Returns the question for the client when one is
    /// needed; everything else (a remembered tool, an unknown subtype) is answered here.
    pub fn request(&self, request_id: &str, request: ControlRequest) -> Option<PermissionAsk> {
        let stdin = self.stdin.as_ref()?;
        if request.subtype != "can_use_tool" {
            // Claude waits for an answer to every request; an unanswered one would hang it.
            write(stdin, error_response(request_id, "unsupported"));
            return None;
        }
        if self.remembered.lock().contains(&request.tool_name) {
            write(stdin, allow_response(request_id, &request.input));
            return None;
        }
        let (reply, decision) = oneshot::channel();
        tokio::spawn(answer(
            decision,
            stdin.downgrade(),
            Arc::clone(&self.remembered),
            request_id.to_owned(),
            request.tool_name.clone(),
            request.input.clone(),
        ));
        Some(PermissionAsk {
            request_id: request_id.to_owned(),
            tool_name: request.tool_name,
            input: request.input,
            reply,
        })
    }
}

/// Waits for the client's decision and writes claude's answer.
async fn answer(
    decision: oneshot::Receiver<PermissionDecision>,
    stdin: mpsc::WeakSender<Vec<u8>>,
    remembered: Arc<Mutex<HashSet<String>>>,
    request_id: String,
    tool_name: String,
    input: Value,
) {
    let decision = decision
        .await
        .unwrap_or_else(|_| PermissionDecision::deny(DEFAULT_DENY_MESSAGE));
    let response = if decision.allow {
        if decision.remember {
            remembered.lock().insert(tool_name);
        }
        allow_response(
            &request_id,
            decision.updated_input.as_ref().unwrap_or(&input),
        )
    } else {
        let message = decision
            .message
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| DEFAULT_DENY_MESSAGE.to_owned());
        deny_response(&request_id, &message)
    };
    // Upgrading fails once the run's result closed stdin: then nobody is waiting.
    if let Some(stdin) = stdin.upgrade() {
        let _ = stdin.send(response).await;
    }
}

/// Queues a line without waiting. The queue is only full while claude is not reading its
/// stdin; then the line waits in a task that, like the decision tasks, cannot hold stdin open
/// after the sender is dropped.
fn write(stdin: &mpsc::Sender<Vec<u8>>, bytes: Vec<u8>) {
    if let Err(mpsc::error::TrySendError::Full(bytes)) = stdin.try_send(bytes) {
        let weak = stdin.downgrade();
        tokio::spawn(async move {
            if let Some(stdin) = weak.upgrade() {
                let _ = stdin.send(bytes).await;
            }
        });
    }
}

fn allow_response(request_id: &str, input: &Value) -> Vec<u8> {
    success_response(
        request_id,
        json!({"behavior": "allow", "updatedInput": input}),
    )
}

fn deny_response(request_id: &str, message: &str) -> Vec<u8> {
    success_response(request_id, json!({"behavior": "deny", "message": message}))
}

fn success_response(request_id: &str, response: Value) -> Vec<u8> {
    line(&json!({
        "type": "control_response",
        "response": {"subtype": "success", "request_id": request_id, "response": response},
    }))
}

fn error_response(request_id: &str, error: &str) -> Vec<u8> {
    line(&json!({
        "type": "control_response",
        "response": {"subtype": "error", "request_id": request_id, "error": error},
    }))
}

fn line(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_lines() {
        let init: Value = serde_json::from_slice(&initialize_line()).unwrap();
        assert_eq!(
            init,
            json!({"type":"control_request","request_id":"init-1","request":{"subtype":"initialize"}})
        );
        let user: Value = serde_json::from_slice(&user_line("--help \"quoted\"\nline")).unwrap();
        assert_eq!(
            user,
            json!({"type":"user","message":{"role":"user","content":"--help \"quoted\"\nline"}})
        );
        // One line on the pipe, whatever the prompt holds.
        assert!(!user_line("a\nb").contains(&b'\n'));
    }
}
