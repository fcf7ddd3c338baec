//! What every provider does first with a stdout line: skip it if blank, show it as a notice if
//! it is not JSON, or parse it into the provider's typed line while keeping its text as the
//! raw value (`data`), so the line is parsed once and passed on unchanged.

use serde::Deserialize;
use switchboard_agent_api::{AgentLine, AgentOutput};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::RawJson;

/// One stdout line, read.
pub enum JsonLine<'a, T> {
    Blank,
    /// Not JSON (a banner, a plain-text error), already turned into an info notice.
    Plain(AgentOutput),
    Json {
        parsed: T,
        /// The line's text, trimmed; valid JSON (it just parsed).
        text: &'a str,
    },
}

/// Reads a line as `T`. `clean` turns the plain text into the notice's message (for example
/// to strip ANSI colours); the notice's `data` keeps the text as printed.
pub fn read<'a, T: Deserialize<'a>>(
    line: &'a [u8],
    clean: impl Fn(&str) -> String,
) -> JsonLine<'a, T> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return JsonLine::Blank;
    }
    let parsed = std::str::from_utf8(trimmed)
        .ok()
        .and_then(|text| Some((serde_json::from_str::<T>(text).ok()?, text)));
    match parsed {
        Some((parsed, text)) => JsonLine::Json { parsed, text },
        None => {
            let text = String::from_utf8_lossy(trimmed);
            JsonLine::Plain(AgentOutput::Line(AgentLine::text(
                AgentEvent::Notice {
                    level: NoticeLevel::Info,
                    message: clean(&text),
                },
                &text,
            )))
        }
    }
}

/// The raw value of a line that [`read`] parsed (so it is not parsed again).
pub fn raw(text: &str) -> RawJson {
    RawJson::parsed(text.to_owned())
}

/// The binary of a provider: `$<var>` when set and not empty, else `default` on `PATH`.
pub fn binary_from_env(var: &str, default: &str) -> std::path::PathBuf {
    std::env::var_os(var)
        .filter(|b| !b.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(default))
}
