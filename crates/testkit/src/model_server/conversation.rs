//! Reads a generation request body — Anthropic `messages`, OpenAI Chat `messages`, OpenAI
//! Responses `input` or Gemini `contents` — into the few facts the marker fallback needs.
//!
//! The shapes differ but overlap enough to read them with one walker: every item is a JSON
//! object with a `role` (or, for Responses tool output, a `type`), and its text lives in
//! `content` (string or block list) or in Gemini's `parts`.

use serde_json::Value;

/// What the fallback needs to know about a conversation, whatever API carried it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Conversation {
    /// The newest real user prompt, or "" if there is none.
    pub last_prompt: String,
    /// How many real user prompts the request carries; a resumed second turn shows 2.
    pub user_turns: usize,
    /// The tool output, when the newest item is a tool result (the CLI ran a tool and
    /// now wants the model to go on).
    pub tool_result: Option<String>,
    /// Names of the tools the request offers, in request order.
    pub tools: Vec<String>,
}

pub(super) fn read(body: &Value) -> Conversation {
    let items: &[Value] = match ["messages", "contents", "input"]
        .iter()
        .find_map(|key| body.get(*key))
    {
        // The Responses API also accepts a bare string as the whole input.
        Some(Value::String(prompt)) => {
            return Conversation {
                last_prompt: prompt.clone(),
                user_turns: 1,
                tool_result: None,
                tools: tool_names(body),
            }
        }
        Some(Value::Array(items)) => items,
        _ => &[],
    };
    let prompts: Vec<String> = items.iter().filter_map(user_prompt).collect();
    Conversation {
        last_prompt: prompts.last().cloned().unwrap_or_default(),
        user_turns: prompts.len(),
        tool_result: items.last().and_then(tool_result),
        tools: tool_names(body),
    }
}

/// The prompt a user item carries: its last text that is not injected context.
///
/// CLIs wrap their own context in pseudo-tags (`<system-reminder>`, `<environment_context>`)
/// and send it as user text before the prompt, so text starting with `<` is not counted.
/// A user item with no other text (e.g. only tool results) is not a prompt.
fn user_prompt(item: &Value) -> Option<String> {
    if item.get("role").and_then(Value::as_str) != Some("user") {
        return None;
    }
    let content = item.get("content").or_else(|| item.get("parts"))?;
    let texts: Vec<&str> = match content {
        Value::String(text) => vec![text.as_str()],
        Value::Array(blocks) => blocks.iter().filter_map(block_text).collect(),
        _ => Vec::new(),
    };
    texts
        .into_iter()
        .rev()
        .find(|text| !text.trim_start().starts_with('<'))
        .map(str::to_owned)
}

/// The text of one content block: a bare string, or an object with a string `text`
/// (Anthropic/Chat `text`, Responses `input_text`, Gemini text part).
fn block_text(block: &Value) -> Option<&str> {
    match block {
        Value::String(text) => Some(text),
        Value::Object(map) => map.get("text").and_then(Value::as_str),
        _ => None,
    }
}

/// The tool output carried by `item`, if it is a tool result in any of the four APIs.
fn tool_result(item: &Value) -> Option<String> {
    // OpenAI Responses: a `function_call_output` item (codex also has custom tool output).
    if matches!(
        item.get("type").and_then(Value::as_str),
        Some("function_call_output" | "custom_tool_call_output")
    ) {
        return item.get("output").map(flatten);
    }
    // OpenAI Chat: a message with role `tool`.
    if item.get("role").and_then(Value::as_str) == Some("tool") {
        return Some(item.get("content").map(flatten).unwrap_or_default());
    }
    // Anthropic: `tool_result` blocks inside a user message.
    if let Some(Value::Array(blocks)) = item.get("content") {
        let results: Vec<String> = blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .map(|b| b.get("content").map(flatten).unwrap_or_default())
            .collect();
        if !results.is_empty() {
            return Some(results.join("\n"));
        }
    }
    // Gemini: `functionResponse` parts. The CLI wraps shell output as `{"output": "…"}`.
    if let Some(Value::Array(parts)) = item.get("parts") {
        let results: Vec<String> = parts
            .iter()
            .filter_map(|p| p.get("functionResponse"))
            .map(|r| match r.get("response") {
                Some(response) => match response.get("output") {
                    Some(Value::String(output)) => output.clone(),
                    _ => response.to_string(),
                },
                None => String::new(),
            })
            .collect();
        if !results.is_empty() {
            return Some(results.join("\n"));
        }
    }
    None
}

/// Plain text of a tool output: a string, a list of text blocks, or compact JSON.
fn flatten(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match block_text(b) {
                Some(text) => text.to_owned(),
                None => b.get("content").map(flatten).unwrap_or_default(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Tool names from Anthropic/Responses (`name`), Chat (`function.name`) and Gemini
/// (`functionDeclarations[].name`) tool lists.
fn tool_names(body: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for tool in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = tool.get("name").and_then(Value::as_str) {
            names.push(name.to_owned());
        }
        if let Some(name) = tool.pointer("/function/name").and_then(Value::as_str) {
            names.push(name.to_owned());
        }
        let declarations = tool.get("functionDeclarations").and_then(Value::as_array);
        for declaration in declarations.into_iter().flatten() {
            if let Some(name) = declaration.get("name").and_then(Value::as_str) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn anthropic_skips_reminders_and_counts_turns() {
        let body = json!({
            "tools": [{"name": "Bash"}, {"name": "Read"}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "first"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
                {"role": "user", "content": "second"},
            ]
        });
        let conv = read(&body);
        assert_eq!(conv.last_prompt, "second");
        assert_eq!(conv.user_turns, 2);
        assert_eq!(conv.tool_result, None);
        assert_eq!(conv.tools, ["Bash", "Read"]);
    }

    #[test]
    fn anthropic_tool_result_is_not_a_turn() {
        let body = json!({"messages": [
            {"role": "user", "content": "[tool] go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                "content": [{"type": "text", "text": "fake-tool-ok"}]}]},
        ]});
        let conv = read(&body);
        assert_eq!(conv.user_turns, 1);
        assert_eq!(conv.tool_result.as_deref(), Some("fake-tool-ok"));
    }

    #[test]
    fn responses_input_and_function_output() {
        let body = json!({
            "tools": [{"type": "function", "name": "exec_command"}],
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context/>"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "[tool] run"}]},
                {"type": "function_call", "call_id": "c", "name": "exec_command", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c", "output": "ok\n"},
            ]
        });
        let conv = read(&body);
        assert_eq!(conv.last_prompt, "[tool] run");
        assert_eq!(conv.user_turns, 1);
        assert_eq!(conv.tool_result.as_deref(), Some("ok\n"));
        assert_eq!(conv.tools, ["exec_command"]);
        assert_eq!(read(&json!({"input": "plain"})).user_turns, 1);
    }

    #[test]
    fn chat_and_gemini_tool_results() {
        let chat = json!({
            "tools": [{"type": "function", "function": {"name": "bash"}}],
            "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "c", "content": "out"}]
        });
        let conv = read(&chat);
        assert_eq!(conv.tool_result.as_deref(), Some("out"));
        assert_eq!(conv.tools, ["bash"]);

        let gemini = json!({
            "tools": [{"functionDeclarations": [{"name": "run_shell_command"}]}],
            "contents": [
                {"role": "user", "parts": [{"text": "[tool] go"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "run_shell_command", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "run_shell_command",
                    "response": {"output": "fake-tool-ok"}}}]},
            ]
        });
        let conv = read(&gemini);
        assert_eq!(conv.user_turns, 1);
        assert_eq!(conv.tool_result.as_deref(), Some("fake-tool-ok"));
        assert_eq!(conv.tools, ["run_shell_command"]);
    }
}
