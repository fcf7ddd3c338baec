//! Why a run of the agent loop ended without an answer. The message is what the client sees
//! in the terminal `-error` frame, so it says what happened and, where it helps, what to do.

/// The agents crate's error type (only the HTTP agent loop has fallible steps of its own; the
/// CLI providers report through their processes' exits).
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// The client aborted the run (or the server is stopping).
    #[error("aborted")]
    Aborted,
    #[error("{0}")]
    Config(String),
    /// The model API answered with an error status.
    #[error("the model API at {url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    /// The conversation no longer fits the model's context window.
    #[error(
        "the conversation is too long for the model's context window (HTTP {status}: {body}); \
         start a new session"
    )]
    ContextTooLong { status: u16, body: String },
    #[error("cannot reach the model API at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("the model API sent nothing for {secs} s; gave up")]
    Timeout { secs: u64 },
    #[error("the model's stream was cut before it finished: {0}")]
    StreamCut(String),
    #[error("the model's stream sent malformed data: {0}")]
    Malformed(String),
    /// An error object inside an otherwise successful stream (OpenRouter does this).
    #[error("the model API reported an error mid-stream: {0}")]
    InStream(String),
    #[error("the turn limit was reached: {0} model calls without a final answer")]
    TurnLimit(usize),
    #[error("no stored conversation {0:?} to resume")]
    UnknownConversation(String),
    #[error(transparent)]
    Conversation(#[from] switchboard_agent_api::ConversationError),
}

/// At most this many characters of an error body reach the client.
pub const SHORT_BODY_CHARS: usize = 500;

/// The first [`SHORT_BODY_CHARS`] characters of `body`, on one line.
pub fn short(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= SHORT_BODY_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(SHORT_BODY_CHARS).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bodies_are_flat_and_bounded() {
        assert_eq!(short("a\n  b\tc"), "a b c");
        let long = "é".repeat(SHORT_BODY_CHARS + 10);
        let cut = short(&long);
        assert_eq!(cut.chars().count(), SHORT_BODY_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
