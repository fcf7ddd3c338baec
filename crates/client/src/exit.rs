//! The exit codes of the terminal client's commands (documented in the README).

use switchboard_protocol::RunState;

use crate::error::ClientError;

/// The run completed, or the command did what it was asked.
pub const OK: u8 = 0;
/// The run failed.
pub const RUN_FAILED: u8 = 1;
/// Bad flags or arguments (clap uses 2 as well).
pub const USAGE: u8 = 2;
/// The run was aborted.
pub const RUN_ABORTED: u8 = 3;
/// The run was interrupted by a server stop or crash.
pub const RUN_INTERRUPTED: u8 = 4;
/// The server could not be reached, refused the token or the request, or the connection
/// could not be got back.
pub const SERVER: u8 = 5;

/// Left on a second Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// The exit code for the state a run ended in.
pub fn for_state(state: RunState) -> u8 {
    match state {
        RunState::Completed => OK,
        RunState::Aborted => RUN_ABORTED,
        RunState::Interrupted => RUN_INTERRUPTED,
        // `running`/`queued` are not final; a command that stops following early failed.
        RunState::Failed | RunState::Running | RunState::Queued => RUN_FAILED,
    }
}

/// The exit code for an error.
pub fn for_error(error: &ClientError) -> u8 {
    match error {
        ClientError::Usage(_) => USAGE,
        ClientError::Interrupted => INTERRUPTED,
        _ => SERVER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_terminal_state_has_its_own_code() {
        let codes: Vec<u8> = [
            RunState::Completed,
            RunState::Failed,
            RunState::Aborted,
            RunState::Interrupted,
        ]
        .into_iter()
        .map(for_state)
        .collect();
        assert_eq!(codes, vec![OK, RUN_FAILED, RUN_ABORTED, RUN_INTERRUPTED]);
        assert_eq!(for_error(&ClientError::Usage("x".into())), USAGE);
        assert_eq!(for_error(&ClientError::Unauthorized), SERVER);
    }
}
