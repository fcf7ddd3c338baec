//! What the loop reports, as normalized events with the seed's `data` shapes next to them
//! (`assistant_message`, `structured_turn`, `structured_result`), so a client written for
//! the seed's `openrouter-response` frames still understands them.

use serde_json::{json, Value};
use switchboard_agent_api::{AgentLine, AgentOutput, TokenBudgetReport};
use switchboard_protocol::event::AgentEvent;
use switchboard_protocol::RawJson;

use super::delta::Usage;

/// A tool result is cut to this many characters in the frame (the model gets more).
const RESULT_FRAME_CHARS: usize = 2000;

fn line(event: AgentEvent, raw: Value) -> AgentOutput {
    AgentOutput::Line(AgentLine {
        event,
        raw: RawJson::from_value(&raw),
    })
}

pub fn text_delta(text: &str) -> AgentOutput {
    line(
        AgentEvent::Text {
            text: text.to_owned(),
            delta: true,
        },
        json!({"type": "assistant_message", "message": {"role": "assistant", "content": text}}),
    )
}

pub fn reasoning_delta(text: &str) -> AgentOutput {
    line(
        AgentEvent::Thinking {
            text: text.to_owned(),
            delta: true,
        },
        json!({"type": "reasoning", "text": text}),
    )
}

pub fn tool_call(id: &str, name: &str, input: &Value) -> AgentOutput {
    line(
        AgentEvent::ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            input: input.clone(),
        },
        json!({"type": "structured_turn", "message": {"role": "assistant", "content": [
            {"type": "tool_use", "id": id, "name": name, "input": input}]}}),
    )
}

pub fn tool_result(id: &str, output: &str, is_error: bool) -> AgentOutput {
    let shown: String = output.chars().take(RESULT_FRAME_CHARS).collect();
    line(
        AgentEvent::ToolResult {
            id: id.to_owned(),
            output: Value::String(shown.clone()),
            is_error,
        },
        json!({"type": "structured_result", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": shown, "is_error": is_error}]}}),
    )
}

pub fn usage(usage: &Usage) -> AgentOutput {
    line(
        AgentEvent::Usage {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            cache_read_tokens: usage.cached_tokens,
            cache_write_tokens: None,
            cost_usd: usage.cost_usd,
        },
        json!({"type": "usage", "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }}),
    )
}

pub fn token_budget(usage: &Usage, context_tokens: u64) -> AgentOutput {
    AgentOutput::TokenBudget(TokenBudgetReport {
        used: usage.prompt_tokens + usage.completion_tokens,
        total: context_tokens,
        breakdown: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_are_cut_in_frames() {
        let long = "x".repeat(RESULT_FRAME_CHARS + 50);
        let AgentOutput::Line(line) = tool_result("c", &long, false) else {
            panic!("not a line")
        };
        let AgentEvent::ToolResult { output, .. } = line.event else {
            panic!("not a result")
        };
        assert_eq!(output.as_str().unwrap().len(), RESULT_FRAME_CHARS);
        let raw: Value = serde_json::from_str(line.raw.get()).unwrap();
        assert_eq!(raw["type"], "structured_result");
        assert_eq!(raw["message"]["content"][0]["tool_use_id"], "c");
    }
}
