//! Answering the agent's permission requests: interactively on a terminal, or by a fixed
//! policy when there is nobody to ask.

use std::io::IsTerminal;

use dialoguer::console::Term;
use dialoguer::Select;
use serde_json::Value;

use crate::error::ClientError;
use crate::messages::Decision;
use crate::render::tool_call_line;

/// The reason given to the agent when no terminal can ask.
pub const NO_TERMINAL_DENIAL: &str =
    "denied by the terminal client: no terminal to ask on (pass --yes to allow tools)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionPolicy {
    /// Ask on the terminal.
    Ask,
    /// `--yes`: allow every request.
    AllowAll,
    /// No terminal and no `--yes`: deny, telling the agent why.
    Deny,
}

impl PermissionPolicy {
    /// Ask when stdin and stderr are a terminal, unless `--yes` allows everything.
    pub fn detect(yes: bool) -> Self {
        if yes {
            PermissionPolicy::AllowAll
        } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            PermissionPolicy::Ask
        } else {
            PermissionPolicy::Deny
        }
    }
}

/// Asks on the terminal (blocking; run it off the async threads). Deny is the default.
pub fn ask(tool: &str, input: &Value) -> Result<Decision, ClientError> {
    let always = format!("Always allow {tool} for this run");
    let choice = Select::new()
        .with_prompt(format!(
            "The agent asks to run {}",
            tool_call_line(tool, input).trim_start_matches("⏺ ")
        ))
        .items(["Allow", "Deny", always.as_str()])
        .default(1)
        .interact_on_opt(&Term::stderr())
        .map_err(|e| ClientError::Prompt(e.to_string()))?;
    Ok(match choice {
        Some(0) => Decision::Allow,
        Some(2) => Decision::AlwaysAllow,
        // Escape or `q` is a denial too.
        _ => Decision::Deny,
    })
}
