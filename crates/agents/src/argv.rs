//! Client text on a command line.

use switchboard_agent_api::RunSpec;

/// The turn's text (prompt plus attachment paths) as one argv entry. Every value goes as its
/// own argv entry, never through a shell; the remaining risk is a prompt that starts with `-`,
/// which a CLI would read as a flag, so such a prompt gets a leading space (the model does not
/// mind, and the parser no longer sees a flag).
pub fn prompt_arg(spec: &RunSpec) -> String {
    let text = spec.turn_text();
    if text.starts_with('-') {
        format!(" {text}")
    } else {
        text
    }
}
