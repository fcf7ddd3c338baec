use super::*;
use switchboard_agent_api::AgentOutput;
use switchboard_protocol::lifecycle::AgentExit;
use switchboard_protocol::SessionId;

const SID: &str = "0b7c1a52-3c1e-4f0e-9d55-6a2b8f3e4d21";

fn spec() -> RunSpec {
    RunSpec {
        session_id: SessionId::parse(SID).unwrap(),
        run_id: format!("test-run-{}", SessionId::new_v4()), // unique: a run sweeps its id's processes
        prompt: "hello".into(),
        cwd: "/tmp".into(),
        model: Some("gemini-2.5-flash".into()),
        permission_mode: None,
        resume: None,
        options: Default::default(),
        continue_only: false,
        attachments: Vec::new(),
    }
}

fn strings(args: Vec<OsString>) -> Vec<String> {
    args.into_iter().map(|a| a.into_string().unwrap()).collect()
}

#[test]
fn new_session_uses_our_id() {
    assert_eq!(
        strings(GeminiAgent::args(&spec())),
        [
            "--prompt=hello",
            "-o",
            "stream-json",
            "--model=gemini-2.5-flash",
            &format!("--session-id={SID}"),
            "--approval-mode",
            "default",
            "--skip-trust",
        ]
    );
}

#[test]
fn resume_keeps_the_model() {
    let mut s = spec();
    s.resume = Some("c5d4570f-1110-47be-b971-c919bd02c54d".into());
    s.model = None;
    s.permission_mode = Some(PermissionMode::BypassPermissions);
    assert_eq!(
        strings(GeminiAgent::args(&s)),
        [
            "--prompt=hello",
            "-o",
            "stream-json",
            "--resume=c5d4570f-1110-47be-b971-c919bd02c54d",
            "--approval-mode",
            "yolo",
            "--skip-trust",
        ]
    );
    s.model = Some("gemini-2.5-pro".into());
    assert!(strings(GeminiAgent::args(&s)).contains(&"--model=gemini-2.5-pro".to_string()));
}

#[test]
fn a_fresh_start_names_no_session() {
    let args = strings(args_with(&spec(), &SessionArg::Fresh));
    assert!(!args
        .iter()
        .any(|a| a.starts_with("--session-id") || a.starts_with("--resume")));
}

#[test]
fn every_permission_mode_has_an_approval_mode() {
    for (mode, expected) in [
        (None, "default"),
        (Some(PermissionMode::Default), "default"),
        (Some(PermissionMode::AcceptEdits), "auto_edit"),
        (Some(PermissionMode::Plan), "plan"),
        (Some(PermissionMode::BypassPermissions), "yolo"),
    ] {
        let mut s = spec();
        s.permission_mode = mode;
        let args = strings(GeminiAgent::args(&s));
        assert!(
            args.windows(2).any(|w| w == ["--approval-mode", expected]),
            "{mode:?}: {args:?}"
        );
        assert!(GeminiAgent::new("gemini".into()).check(&s).is_ok());
    }
}

#[test]
fn the_prompt_stays_one_value() {
    let mut s = spec();
    s.prompt = "--help\nand -m x".into();
    assert_eq!(
        strings(GeminiAgent::args(&s))[0],
        "--prompt=--help\nand -m x"
    );
    s.prompt = "  ".into();
    s.continue_only = true;
    assert_eq!(strings(GeminiAgent::args(&s))[0], "--prompt=Continue.");
}

#[test]
fn env_stops_the_relauncher() {
    assert_eq!(
        GeminiAgent::env(),
        [(
            OsString::from("GEMINI_CLI_NO_RELAUNCH"),
            OsString::from("true")
        )]
    );
}

#[test]
fn resume_ids_must_be_uuids() {
    let agent = GeminiAgent::new("gemini".into());
    let mut s = spec();
    for bad in ["latest", "3", "-x", "c5d4570f-1110-47be-b971-c919bd02c54"] {
        s.resume = Some(bad.into());
        assert!(agent.check(&s).is_err(), "{bad}");
    }
    s.resume = Some("C5D4570F-1110-47BE-B971-C919BD02C54D".into());
    assert!(agent.check(&s).is_ok());
    assert_eq!(agent.default_model(), None);
    assert_eq!(agent.provider(), Provider::Gemini);
}

/// A stand-in for gemini that refuses every session flag the way gemini 0.61 does (exit 42
/// before `init`) and otherwise prints a real capture. It appends its argv to `argv`.
fn stand_in(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("gemini");
    let argv = dir.join("argv");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
echo "$*" >> {argv}
case "$*" in
  *--resume=*) echo 'Error resuming session: Invalid session identifier "x".' >&2; exit 42 ;;
  *--session-id=*) echo 'Error starting session: Session ID "x" already exists. Use --resume to resume it, or provide a different ID.' >&2; exit 42 ;;
esac
[ "$GEMINI_CLI_NO_RELAUNCH" = true ] || exit 3
cat {capture}
"#,
            argv = argv.display(),
            capture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gemini/gemini.jsonl"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, argv)
}

async fn run_to_end(agent: &GeminiAgent, mut spec: RunSpec) -> Vec<AgentOutput> {
    // The sweep kills every process carrying the run's id: keep it apart from other tests'.
    spec.run_id = format!("gemini-test-{}", SessionId::new_v4());
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let io = RunIo {
        env: Vec::new(),
        output: tx,
        abort: Default::default(),
        limits: Default::default(),
    };
    let collect = async {
        let mut outputs = Vec::new();
        while let Some(o) = rx.recv().await {
            outputs.push(o);
        }
        outputs
    };
    let ((), outputs) = tokio::join!(agent.run(spec, io), collect);
    outputs
}

fn warnings(outputs: &[AgentOutput]) -> Vec<&str> {
    outputs
        .iter()
        .filter_map(|o| match o {
            AgentOutput::Line(switchboard_agent_api::AgentLine {
                event:
                    switchboard_protocol::event::AgentEvent::Notice {
                        level: switchboard_protocol::event::NoticeLevel::Warning,
                        message,
                    },
                ..
            }) => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

/// Our own id refused both ways (an empty conversation left by a failed first turn): the run
/// starts over, the client is told, and the new conversation's id is reported.
#[tokio::test]
async fn refused_own_id_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let (script, argv) = stand_in(tmp.path());
    let agent = GeminiAgent::new(script);
    let mut s = spec();
    s.cwd = tmp.path().to_owned();
    let outputs = run_to_end(&agent, s).await;

    let argv = std::fs::read_to_string(argv).unwrap();
    let attempts: Vec<&str> = argv.lines().collect();
    assert_eq!(attempts.len(), 3, "{argv}");
    assert!(attempts[0].contains(&format!("--session-id={SID}")));
    assert!(attempts[1].contains(&format!("--resume={SID}")));
    assert!(!attempts[2].contains("--session-id") && !attempts[2].contains("--resume"));

    let w = warnings(&outputs);
    assert_eq!(
        w.len(),
        4,
        "gemini's two refusals and our two notices: {w:?}"
    );
    assert!(w[1].contains("resuming it"));
    assert!(w[3].contains("starting a new gemini conversation"));
    assert!(outputs.iter().any(|o| matches!(o,
    AgentOutput::Line(l) if l.event == switchboard_protocol::event::AgentEvent::NativeSession {
        id: "bbc446d4-3e2f-408a-bc89-2917a48e2d18".into()
    })));
    let exits: Vec<_> = outputs
        .iter()
        .filter(|o| matches!(o, AgentOutput::Exit(_)))
        .collect();
    assert_eq!(exits.len(), 1, "one Exit, the last output");
    assert!(matches!(
        outputs.last(),
        Some(AgentOutput::Exit(AgentExit::Exited {
            exit_code: Some(0),
            reported_success: true,
            error: None,
            ..
        }))
    ));
}

/// A native id a client adopted is never replaced: gemini's refusal is the run's error.
#[tokio::test]
async fn refused_adopted_id_is_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (script, argv) = stand_in(tmp.path());
    let agent = GeminiAgent::new(script);
    let mut s = spec();
    s.cwd = tmp.path().to_owned();
    s.resume = Some("c5d4570f-1110-47be-b971-c919bd02c54d".into());
    let outputs = run_to_end(&agent, s).await;
    assert_eq!(std::fs::read_to_string(argv).unwrap().lines().count(), 1);
    match outputs.last() {
        Some(AgentOutput::Exit(AgentExit::Exited {
            exit_code: Some(42),
            reported_success: false,
            error: Some(error),
            ..
        })) => assert!(error.contains("no resumable conversation"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_binary_is_a_spawn_failure_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = GeminiAgent::new(tmp.path().join("no-such-gemini"));
    let mut s = spec();
    s.cwd = tmp.path().to_owned();
    let outputs = run_to_end(&agent, s).await;
    match &outputs[..] {
        [AgentOutput::Exit(AgentExit::SpawnFailed { error })] => {
            assert!(error.contains("SWITCHBOARD_GEMINI_BIN"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}
