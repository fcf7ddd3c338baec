//! What the scripted model answers: an ordered queue of [`Reply`]s.
//!
//! Each generation request (a streamed or plain model call) takes the next reply from the
//! front of the queue. Auxiliary calls — `HEAD /`, model lists, token counts, Gemini's
//! JSON-mode side calls — never take one, so a script lines up with the model turns a
//! CLI makes. When the queue is empty, the server falls back to the prompt markers (see
//! the `fallback` module).

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

/// One scripted model answer, rendered in whichever API shape the request used.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Stream the text in a few chunks, then end the turn normally with usage.
    Text(String),
    /// One tool / function call: an Anthropic `tool_use` block, a Responses `function_call`
    /// item, a Chat Completions `tool_calls` entry or a Gemini `functionCall` part.
    ///
    /// The name must be one the CLI offered, e.g. `Bash` (`{"command": …}`) for claude,
    /// `exec_command` (`{"cmd": …}`) for codex, `run_shell_command` (`{"command": …}`) for
    /// gemini.
    ToolCall { name: String, arguments: Value },
    /// An HTTP error in the API's own error JSON shape. CLIs retry 429 and 5xx, and every
    /// retry takes the next reply, so script as many errors as the test wants retries.
    Error { status: u16, message: String },
    /// A slow text stream for abort tests: `text` as the first delta, then `chunks - 1`
    /// deltas ` tick0`, ` tick1`, …; each delta is followed by `chunk_delay`.
    Slow {
        text: String,
        chunk_delay: Duration,
        chunks: usize,
    },
    /// Send the response headers, then nothing, until the client goes away (or the server
    /// stops).
    Hang,
    /// Another reply whose streamed body breaks part-way (see [`Fault`]); for clients'
    /// error paths. Non-streamed bodies are one frame, so a fault after frame 0 hits them too.
    Faulty { reply: Box<Reply>, fault: Fault },
}

/// How a [`Reply::Faulty`] body breaks. Frames are counted as sent: an SSE event (or, for
/// Gemini's JSON array, one element), starting at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// After this many frames the connection is dropped mid-body: no end of the chunked
    /// body, no `[DONE]`, as when a proxy or the model server dies.
    CutAfter(usize),
    /// After this many frames, one event whose data is not JSON (`data: {not json`); the
    /// rest of the body follows as usual.
    MalformedAfter(usize),
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Reply::Text(text.into())
    }

    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Reply::ToolCall {
            name: name.into(),
            arguments,
        }
    }

    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Reply::Error {
            status,
            message: message.into(),
        }
    }

    /// `reply`, with its body broken by `fault`.
    pub fn faulty(reply: Reply, fault: Fault) -> Self {
        Reply::Faulty {
            reply: Box::new(reply),
            fault,
        }
    }

    pub fn slow(text: impl Into<String>, chunk_delay: Duration, chunks: usize) -> Self {
        Reply::Slow {
            text: text.into(),
            chunk_delay,
            chunks,
        }
    }
}

/// The ordered replies a [`ModelServer`](super::ModelServer) starts with. More can be
/// appended at run time with [`ModelServer::push`](super::ModelServer::push).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    replies: VecDeque<Reply>,
}

impl Script {
    /// An empty script: every request is answered from the prompt markers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a reply (builder style).
    pub fn then(mut self, reply: Reply) -> Self {
        self.replies.push_back(reply);
        self
    }

    pub fn len(&self) -> usize {
        self.replies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    pub(super) fn push(&mut self, reply: Reply) {
        self.replies.push_back(reply);
    }

    pub(super) fn next(&mut self) -> Option<Reply> {
        self.replies.pop_front()
    }
}

impl FromIterator<Reply> for Script {
    fn from_iter<I: IntoIterator<Item = Reply>>(iter: I) -> Self {
        Self {
            replies: iter.into_iter().collect(),
        }
    }
}

impl From<Vec<Reply>> for Script {
    fn from(replies: Vec<Reply>) -> Self {
        replies.into_iter().collect()
    }
}
