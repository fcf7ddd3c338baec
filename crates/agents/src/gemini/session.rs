//! Which gemini conversation a run continues, and starting over when gemini refuses it.
//!
//! Gemini refuses a session flag (exit 42, before `init`) in two cases Switchboard cannot see
//! coming (both verified with gemini 0.61):
//! - `--resume=<id>` when it has no *resumable* conversation with that id in this directory.
//!   A first turn that fails before the model answers (an API error) leaves exactly that: a
//!   conversation file without content. Gemini will not resume it, and will not start a new
//!   one under the same id either, until its cleanup deletes the file at some later start.
//!   Without a way out, every later run of the session would fail the same way.
//! - `--session-id=<id>` when a conversation with that id already exists (that same empty
//!   one, or one whose native id Switchboard never learned).
//!
//! For Switchboard's own id (the one a new session passes with `--session-id`) the run starts
//! over, with a notice saying so: `--session-id` refused → `--resume` the same id; `--resume`
//! refused → a new gemini conversation under an id gemini picks, which its `init` reports as
//! the session's new native id. A native id a client adopted is never replaced: gemini's
//! refusal is then the run's error.

use std::path::PathBuf;

use switchboard_agent_api::{AgentLine, AgentOutput, RunIo, RunSpec};
use switchboard_protocol::event::{AgentEvent, NoticeLevel};
use switchboard_protocol::lifecycle::AgentExit;
use tokio::sync::mpsc;

use super::parse::{GeminiParser, SessionProblem};
use crate::supervisor::{run_supervised, ProcessSpec, Stdin};

/// Gemini's exit code for a rejected input, a refused session flag included.
const FATAL_INPUT_ERROR: i32 = 42;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SessionArg {
    /// `--session-id=<id>`: a new conversation under Switchboard's own id.
    New(String),
    /// `--resume=<id>`.
    Resume(String),
    /// Neither: a new conversation under an id gemini picks.
    Fresh,
}

impl SessionArg {
    pub(super) fn for_spec(spec: &RunSpec) -> Self {
        match &spec.resume {
            Some(id) => SessionArg::Resume(id.clone()),
            None => SessionArg::New(spec.session_id.to_string()),
        }
    }

    /// What to try after gemini refused this with `problem`, if anything.
    fn after(&self, problem: SessionProblem, own_id: &str) -> Option<SessionArg> {
        match (self, problem) {
            (SessionArg::New(id), SessionProblem::AlreadyExists) => {
                Some(SessionArg::Resume(id.clone()))
            }
            (SessionArg::Resume(id), SessionProblem::NotResumable) if id == own_id => {
                Some(SessionArg::Fresh)
            }
            _ => None,
        }
    }

    /// Whether some refusal of this could be followed by another attempt.
    fn may_start_over(&self, own_id: &str) -> bool {
        [SessionProblem::AlreadyExists, SessionProblem::NotResumable]
            .into_iter()
            .any(|p| self.after(p, own_id).is_some())
    }

    /// What the client is told when gemini refused this and the run starts over.
    fn notice(&self) -> String {
        match self {
            SessionArg::New(id) => {
                format!("gemini already has a conversation with id {id}; resuming it")
            }
            SessionArg::Resume(id) => format!(
                "gemini has no resumable conversation with id {id} in this directory (a first \
                 turn that failed leaves none); starting a new gemini conversation"
            ),
            SessionArg::Fresh => "gemini refused to start a new conversation".into(),
        }
    }
}

/// Drives a run: one attempt, or more when gemini refuses Switchboard's own session id.
pub(super) async fn run(binary: PathBuf, spec: RunSpec, io: RunIo) {
    let own_id = spec.session_id.to_string();
    let mut session = SessionArg::for_spec(&spec);
    loop {
        let process = super::process(&binary, &spec, &session);
        let mut parser = GeminiParser::default();
        if !session.may_start_over(&own_id) {
            run_supervised(process, Stdin::Null, &spec.run_id, io, &mut parser).await;
            return;
        }
        let Some(exit) = run_holding_exit(process, &spec.run_id, &io, &mut parser).await else {
            return;
        };
        let refused = matches!(
            exit,
            AgentExit::Exited {
                exit_code: Some(FATAL_INPUT_ERROR),
                signal: None,
                ..
            }
        ) && !parser.saw_init()
            && !io.abort.is_cancelled();
        let next = parser
            .session_problem()
            .filter(|_| refused)
            .and_then(|problem| session.after(problem, &own_id));
        let Some(next) = next else {
            let _ = io.output.send(AgentOutput::Exit(exit)).await;
            return;
        };
        let message = session.notice();
        let notice = AgentLine::text(
            AgentEvent::Notice {
                level: NoticeLevel::Warning,
                message: message.clone(),
            },
            &message,
        );
        if io.output.send(AgentOutput::Line(notice)).await.is_err() {
            return;
        }
        session = next;
    }
}

/// Runs one attempt and passes its output on, except the final `Exit`, which it returns
/// (`None` when nobody listens any more; then the attempt was stopped, as the supervisor
/// does whenever its output goes nowhere).
async fn run_holding_exit(
    process: ProcessSpec,
    run_id: &str,
    io: &RunIo,
    parser: &mut GeminiParser,
) -> Option<AgentExit> {
    let (output, mut attempt_output) = mpsc::channel(64);
    let attempt_io = RunIo {
        output,
        abort: io.abort.clone(),
        limits: io.limits.clone(),
        env: io.env.clone(),
    };
    let attempt = run_supervised(process, Stdin::Null, run_id, attempt_io, parser);
    let forward = async move {
        while let Some(item) = attempt_output.recv().await {
            match item {
                AgentOutput::Exit(exit) => return Some(exit),
                other => {
                    if io.output.send(other).await.is_err() {
                        // Dropping the receiver makes the supervisor stop the agent.
                        return None;
                    }
                }
            }
        }
        None
    };
    let ((), exit) = tokio::join!(attempt, forward);
    exit
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::SessionId;

    const OWN: &str = "0b7c1a52-3c1e-4f0e-9d55-6a2b8f3e4d21";
    const OTHER: &str = "c5d4570f-1110-47be-b971-c919bd02c54d";

    #[test]
    fn first_attempt() {
        let id = SessionId::new_v4();
        let mut spec = RunSpec {
            session_id: id,
            run_id: format!("test-run-{}", SessionId::new_v4()), // unique: a run sweeps its id's processes
            prompt: "p".into(),
            cwd: "/tmp".into(),
            model: None,
            permission_mode: None,
            resume: None,
            options: Default::default(),
            continue_only: false,
            attachments: Vec::new(),
        };
        assert_eq!(SessionArg::for_spec(&spec), SessionArg::New(id.to_string()));
        spec.resume = Some(OTHER.into());
        assert_eq!(
            SessionArg::for_spec(&spec),
            SessionArg::Resume(OTHER.into())
        );
    }

    #[test]
    fn starting_over_only_for_our_own_id() {
        use SessionProblem::*;
        let new = SessionArg::New(OWN.into());
        let own = SessionArg::Resume(OWN.into());
        let adopted = SessionArg::Resume(OTHER.into());
        assert_eq!(new.after(AlreadyExists, OWN), Some(own.clone()));
        assert_eq!(new.after(NotResumable, OWN), None);
        assert_eq!(own.after(NotResumable, OWN), Some(SessionArg::Fresh));
        assert_eq!(own.after(AlreadyExists, OWN), None);
        assert_eq!(adopted.after(NotResumable, OWN), None);
        assert_eq!(SessionArg::Fresh.after(NotResumable, OWN), None);
        assert!(new.may_start_over(OWN) && own.may_start_over(OWN));
        assert!(!adopted.may_start_over(OWN) && !SessionArg::Fresh.may_start_over(OWN));
        assert!(own.notice().contains("starting a new"));
        assert!(new.notice().contains("resuming it"));
    }
}
