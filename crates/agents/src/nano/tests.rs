//! Command line, permission modes and request checks.

use super::*;
use switchboard_protocol::SessionId;

fn spec() -> RunSpec {
    RunSpec {
        session_id: SessionId::new_v4(),
        run_id: format!("test-run-{}", SessionId::new_v4()), // unique: a run sweeps its id's processes
        prompt: "hello".into(),
        cwd: "/tmp".into(),
        model: None,
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

fn agent(dir: &Path) -> NanoAgent {
    NanoAgent::new("nano-claude-code".into(), Some(dir.to_owned()))
}

const FILE: &str = "/data/nano-sessions/nano-6f1c2d3e-0000-4000-8000-000000000abc.json";

#[test]
fn new_session_command_line() {
    assert_eq!(
        strings(NanoAgent::args(&spec(), Path::new(FILE), None)),
        [
            "--output-format",
            "stream-json",
            "-p",
            "hello",
            "--dangerously-skip-permissions",
            "--session-file",
            FILE,
            "--streaming",
            "--verbose",
        ]
    );
}

#[test]
fn resume_and_model() {
    let mut s = spec();
    s.model = Some("claude-sonnet-4-6".into());
    s.permission_mode = Some(PermissionMode::BypassPermissions);
    assert_eq!(
        strings(NanoAgent::args(&s, Path::new(FILE), Some(Path::new(FILE)))),
        [
            "--output-format",
            "stream-json",
            "-p",
            "hello",
            "--dangerously-skip-permissions",
            "--session-file",
            FILE,
            "--resume",
            FILE,
            "--streaming",
            "--verbose",
            "--model",
            "claude-sonnet-4-6",
        ]
    );
}

#[test]
fn prompt_cannot_become_a_flag_or_the_repl() {
    let mut s = spec();
    s.prompt = "--help".into();
    let args = strings(NanoAgent::args(&s, Path::new(FILE), None));
    assert_eq!(args[3], " --help");
    s.prompt = "-5 degrees; say  `x`".into();
    assert_eq!(
        strings(NanoAgent::args(&s, Path::new(FILE), None))[3],
        " -5 degrees; say  `x`"
    );
    // An empty -p would start the interactive REPL.
    s.prompt = "   ".into();
    s.continue_only = true;
    assert_eq!(
        strings(NanoAgent::args(&s, Path::new(FILE), None))[3],
        "Continue."
    );
}

#[test]
fn permission_modes() {
    let dir = tempfile::tempdir().unwrap();
    let agent = agent(dir.path());
    let mut s = spec();
    // The seed's clients send no mode for nano: accepted (nano's only behaviour).
    assert_eq!(agent.check(&s), Ok(()));
    s.permission_mode = Some(PermissionMode::BypassPermissions);
    assert_eq!(agent.check(&s), Ok(()));
    for (mode, name) in [
        (PermissionMode::Default, "\"default\""),
        (PermissionMode::AcceptEdits, "\"acceptEdits\""),
        (PermissionMode::Plan, "\"plan\""),
    ] {
        s.permission_mode = Some(mode);
        let error = agent.check(&s).unwrap_err();
        assert!(error.contains(name), "{error}");
        assert!(error.contains("bypassPermissions"), "{error}");
    }
}

#[test]
fn empty_prompt_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec();
    s.prompt = " \n".into();
    assert!(agent(dir.path()).check(&s).is_err());
}

#[test]
fn adopting_a_native_id() {
    let dir = tempfile::tempdir().unwrap();
    let agent = agent(dir.path());
    let mut s = spec();
    for bad in ["../etc/passwd", "/abs/path.json", ".hidden", "a b"] {
        s.resume = Some(bad.into());
        let error = agent.check(&s).unwrap_err();
        assert!(error.contains("not a nano session id"), "{error}");
    }
    s.resume = Some("nano-elsewhere".into());
    let error = agent.check(&s).unwrap_err();
    assert!(error.contains("no saved nano conversation"), "{error}");
    std::fs::write(
        dir.path().join("nano-elsewhere.json"),
        include_str!("../../tests/data/nano/nano-session-file.json"),
    )
    .unwrap();
    assert_eq!(agent.check(&s), Ok(()));
    // Our own id is never an adoption (its file may not exist yet).
    s.resume = Some(sessions::native_id(&s.session_id));
    assert_eq!(agent.check(&s), Ok(()));
}

#[test]
fn unconfigured_directory_is_refused() {
    let agent = NanoAgent::new("nano-claude-code".into(), None);
    assert!(agent.check(&spec()).unwrap_err().contains("not configured"));
}

/// A run end to end against a stand-in script: the command line nano gets, the directory
/// created, and the lines parsed.
#[tokio::test]
async fn run_spawns_with_the_session_file() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("nano");
    let argv_file = tmp.path().join("argv");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {argv}\ncat {capture}\n",
            argv = argv_file.display(),
            capture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nano/nano.jsonl"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sessions = tmp.path().join("data/nano-sessions");
    let agent = NanoAgent::new(script, Some(sessions.clone()));
    let mut s = spec();
    s.cwd = tmp.path().to_owned();
    s.resume = Some(sessions::native_id(&s.session_id));
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let io = RunIo {
        env: Vec::new(),
        output: tx,
        abort: Default::default(),
        limits: Default::default(),
    };
    agent.run(s.clone(), io).await;
    let mut outputs = Vec::new();
    while let Ok(o) = rx.try_recv() {
        outputs.push(o);
    }
    assert!(sessions.is_dir());
    let argv = std::fs::read_to_string(&argv_file).unwrap();
    let own = sessions.join(format!("nano-{}.json", s.session_id));
    assert!(
        argv.contains(&format!("--session-file\n{}\n", own.display())),
        "{argv}"
    );
    assert!(!argv.contains("--resume"), "no file yet: {argv}");
    // The notice about the missing file comes first, the verdict last.
    assert!(matches!(
        &outputs[0],
        AgentOutput::Line(AgentLine {
            event: AgentEvent::Notice {
                level: NoticeLevel::Info,
                ..
            },
            ..
        })
    ));
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

#[tokio::test]
async fn missing_binary_is_a_spawn_failure_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = NanoAgent::new(tmp.path().join("no-such-nano"), Some(tmp.path().join("s")));
    let mut s = spec();
    s.cwd = tmp.path().to_owned();
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let io = RunIo {
        env: Vec::new(),
        output: tx,
        abort: Default::default(),
        limits: Default::default(),
    };
    agent.run(s, io).await;
    match rx.recv().await {
        Some(AgentOutput::Exit(AgentExit::SpawnFailed { error })) => {
            assert!(error.contains("SWITCHBOARD_NANO_BIN"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}
