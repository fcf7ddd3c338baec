//! The lifecycle of one run, as a pure state machine.
//!
//! A run goes `accepted → running → exactly one of {completed, failed, aborted,
//! interrupted}`. The transition table below is the only place that decides which terminal
//! state a run gets, so "two terminal states for one run" (the seed's worst bug) cannot be
//! expressed: once terminal, every further event is rejected.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Waiting in the session's queue behind the current run.
    Queued,
    Running,
    Completed,
    Failed,
    Aborted,
    Interrupted,
}

impl RunState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Completed | RunState::Failed | RunState::Aborted | RunState::Interrupted
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Failed => "failed",
            RunState::Aborted => "aborted",
            RunState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<RunState> {
        [
            RunState::Queued,
            RunState::Running,
            RunState::Completed,
            RunState::Failed,
            RunState::Aborted,
            RunState::Interrupted,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// The `reason` of a `session-state-changed` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TerminalReason {
    /// `running`: the command was accepted and the agent is starting.
    CommandAccepted,
    /// `completed` or `failed`: the agent process exited (see `exitCode`).
    Exit,
    /// `failed`: the agent reported an error result although it may have exited 0.
    AgentError,
    /// `failed`: the agent could not be started (binary missing, not executable, …).
    SpawnFailed,
    /// `aborted`: a client asked for the abort before the exit was observed.
    Abort,
    /// `interrupted`: the server stopped or died while the run was live.
    ServerRestart,
}

/// What the agent reported when its process ended (or failed to start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentExit {
    /// The process could not be started.
    SpawnFailed { error: String },
    /// The process ended. `reported_success` is the provider's own verdict (for example a
    /// `result` line with `subtype:"success"` and `is_error:false`); `error` is the error it
    /// reported, if any.
    Exited {
        exit_code: Option<i32>,
        signal: Option<i32>,
        reported_success: bool,
        error: Option<String>,
        /// What the agent said last on stderr, to explain a bad exit.
        detail: Option<String>,
    },
}

/// The terminal outcome the state machine decided, ready to become a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub state: RunState,
    pub reason: TerminalReason,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub abort_requested: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid transition from {from:?} on {event}")]
pub struct InvalidTransition {
    pub from: RunState,
    pub event: &'static str,
}

/// One run's lifecycle. Holds the state plus whether an abort was requested, because the
/// terminal state depends on the order of "abort requested" and "exit observed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLifecycle {
    state: RunState,
    abort_requested: bool,
}

impl RunLifecycle {
    /// A run accepted straight away starts `running`.
    pub fn running() -> Self {
        Self {
            state: RunState::Running,
            abort_requested: false,
        }
    }

    pub fn queued() -> Self {
        Self {
            state: RunState::Queued,
            abort_requested: false,
        }
    }

    pub fn state(&self) -> RunState {
        self.state
    }

    pub fn abort_requested(&self) -> bool {
        self.abort_requested
    }

    /// queued → running.
    pub fn start(&mut self) -> Result<(), InvalidTransition> {
        match self.state {
            RunState::Queued => {
                self.state = RunState::Running;
                Ok(())
            }
            from => Err(InvalidTransition {
                from,
                event: "start",
            }),
        }
    }

    /// Records an abort request. Returns `true` if the run is live and the abort will decide
    /// its terminal state, `false` if it had already ended (the caller answers
    /// `already_finished`).
    pub fn request_abort(&mut self) -> bool {
        if self.state == RunState::Running {
            self.abort_requested = true;
            true
        } else {
            false
        }
    }

    /// The exit was observed: decide the one terminal state.
    ///
    /// | abort requested before | agent exit                       | terminal  | reason       |
    /// |------------------------|----------------------------------|-----------|--------------|
    /// | yes                    | anything                         | aborted   | abort        |
    /// | no                     | spawn failed                     | failed    | spawn-failed |
    /// | no                     | exit 0 and reported success      | completed | exit         |
    /// | no                     | reported an error                | failed    | agent-error  |
    /// | no                     | non-zero exit, signal, no success| failed    | exit         |
    pub fn exit(&mut self, exit: &AgentExit) -> Result<Terminal, InvalidTransition> {
        if self.state != RunState::Running {
            return Err(InvalidTransition {
                from: self.state,
                event: "exit",
            });
        }
        let terminal = match exit {
            _ if self.abort_requested => Terminal {
                state: RunState::Aborted,
                reason: TerminalReason::Abort,
                exit_code: exit_code_of(exit),
                error: None,
                abort_requested: true,
            },
            AgentExit::SpawnFailed { error } => Terminal {
                state: RunState::Failed,
                reason: TerminalReason::SpawnFailed,
                exit_code: None,
                error: Some(error.clone()),
                abort_requested: false,
            },
            AgentExit::Exited {
                exit_code,
                signal,
                reported_success,
                error,
                detail,
            } => {
                let clean_exit = *exit_code == Some(0) && signal.is_none();
                if clean_exit && *reported_success && error.is_none() {
                    Terminal {
                        state: RunState::Completed,
                        reason: TerminalReason::Exit,
                        exit_code: Some(0),
                        error: None,
                        abort_requested: false,
                    }
                } else if let Some(err) = error {
                    Terminal {
                        state: RunState::Failed,
                        reason: TerminalReason::AgentError,
                        exit_code: *exit_code,
                        error: Some(err.clone()),
                        abort_requested: false,
                    }
                } else {
                    let why = match (exit_code, signal) {
                        (_, Some(sig)) => format!("agent was killed by signal {sig}"),
                        (Some(0), None) => "agent exited without reporting success".to_string(),
                        (Some(code), None) => format!("agent exited with status {code}"),
                        (None, None) => "agent exited with an unknown status".to_string(),
                    };
                    let why = match detail {
                        Some(detail) if !detail.is_empty() => format!("{why}: {detail}"),
                        _ => why,
                    };
                    Terminal {
                        state: RunState::Failed,
                        reason: TerminalReason::Exit,
                        exit_code: *exit_code,
                        error: Some(why),
                        abort_requested: false,
                    }
                }
            }
        };
        self.state = terminal.state;
        Ok(terminal)
    }

    /// The server is stopping (or, at start-up, found the run live in the store).
    pub fn interrupt(&mut self) -> Result<Terminal, InvalidTransition> {
        match self.state {
            RunState::Running | RunState::Queued => {
                self.state = RunState::Interrupted;
                Ok(Terminal {
                    state: RunState::Interrupted,
                    reason: TerminalReason::ServerRestart,
                    exit_code: None,
                    error: Some("the server stopped while the run was live".into()),
                    abort_requested: self.abort_requested,
                })
            }
            from => Err(InvalidTransition {
                from,
                event: "interrupt",
            }),
        }
    }
}

fn exit_code_of(exit: &AgentExit) -> Option<i32> {
    match exit {
        AgentExit::SpawnFailed { .. } => None,
        AgentExit::Exited { exit_code, .. } => *exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i32, success: bool) -> AgentExit {
        AgentExit::Exited {
            exit_code: Some(code),
            signal: None,
            reported_success: success,
            error: None,
            detail: None,
        }
    }

    #[test]
    fn success_completes() {
        let mut run = RunLifecycle::running();
        let t = run.exit(&exited(0, true)).unwrap();
        assert_eq!(
            (t.state, t.reason, t.exit_code),
            (RunState::Completed, TerminalReason::Exit, Some(0))
        );
    }

    #[test]
    fn nonzero_exit_is_never_completed() {
        let mut run = RunLifecycle::running();
        let t = run.exit(&exited(3, true)).unwrap();
        assert_eq!(t.state, RunState::Failed);
        assert_eq!(t.exit_code, Some(3));
    }

    #[test]
    fn exit_zero_without_success_fails() {
        let mut run = RunLifecycle::running();
        assert_eq!(run.exit(&exited(0, false)).unwrap().state, RunState::Failed);
    }

    #[test]
    fn error_result_fails_with_agent_error() {
        let mut run = RunLifecycle::running();
        let t = run
            .exit(&AgentExit::Exited {
                exit_code: Some(0),
                signal: None,
                reported_success: true,
                error: Some("API Error: 500".into()),
                detail: None,
            })
            .unwrap();
        assert_eq!(
            (t.state, t.reason),
            (RunState::Failed, TerminalReason::AgentError)
        );
    }

    #[test]
    fn spawn_failure() {
        let mut run = RunLifecycle::running();
        let t = run
            .exit(&AgentExit::SpawnFailed {
                error: "not found".into(),
            })
            .unwrap();
        assert_eq!(
            (t.state, t.reason),
            (RunState::Failed, TerminalReason::SpawnFailed)
        );
    }

    #[test]
    fn abort_before_exit_wins_even_over_success() {
        let mut run = RunLifecycle::running();
        assert!(run.request_abort());
        let t = run.exit(&exited(0, true)).unwrap();
        assert_eq!((t.state, t.abort_requested), (RunState::Aborted, true));
    }

    #[test]
    fn abort_after_exit_is_already_finished() {
        let mut run = RunLifecycle::running();
        run.exit(&exited(0, true)).unwrap();
        assert!(!run.request_abort());
        assert_eq!(run.state(), RunState::Completed);
    }

    #[test]
    fn exactly_one_terminal_state() {
        let mut run = RunLifecycle::running();
        run.exit(&exited(1, false)).unwrap();
        assert!(run.exit(&exited(0, true)).is_err());
        assert!(run.interrupt().is_err());
        assert_eq!(run.state(), RunState::Failed);
    }

    #[test]
    fn queued_starts_then_interrupts() {
        let mut run = RunLifecycle::queued();
        assert!(run.exit(&exited(0, true)).is_err());
        run.start().unwrap();
        let t = run.interrupt().unwrap();
        assert_eq!(
            (t.state, t.reason),
            (RunState::Interrupted, TerminalReason::ServerRestart)
        );
        assert!(run.start().is_err());
    }
}
