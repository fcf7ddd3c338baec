//! The agents' own session stores, read through the REST API of the real binary: fixture
//! stores in a throw-away HOME, laid out as Claude Code, Codex and Gemini CLI lay them out
//! (agent-clis.md §6) and filled from the real captures in `shared/reference/captures`
//! (copied into `crates/agents/tests/data`). Discovered projects are suggestions only; a
//! project's sessions merge every source; transcripts are normalized; nothing is written to
//! the stores.

mod api_common;
mod common;

use std::path::{Path, PathBuf};

use api_common::*;
use common::*;
use serde_json::{json, Value};
use switchboard_protocol::project::{claude_project_slug, gemini_project_slug};

fn capture(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../agents/tests/data")
        .join(name.split(['-', '.']).next().unwrap())
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ts(second: u32) -> String {
    format!("2026-11-25T16:49:{second:02}.000Z")
}

fn write_lines(path: &Path, lines: &[Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// A Claude Code session file from a captured stream-json run: the prompt, then every
/// captured `user`/`assistant` line as Claude Code files it (with `uuid`, `parentUuid`,
/// `sessionId`, `cwd`, `timestamp`), bracketed by its bookkeeping lines.
fn claude_session(home: &Path, cwd: &Path, capture_name: &str, prompt: &str) -> String {
    let captured = capture(capture_name);
    let id = captured[0]["session_id"].as_str().unwrap().to_owned();
    let cwd_s = cwd.to_string_lossy().into_owned();
    let mut lines = vec![
        json!({"type":"queue-operation","operation":"enqueue","timestamp":ts(1),"sessionId":id,"content":prompt}),
        json!({"parentUuid":null,"isSidechain":false,"type":"user","message":{"role":"user","content":prompt},
               "uuid":"u-0","timestamp":ts(2),"cwd":cwd_s,"sessionId":id,"version":"2.1.197"}),
        json!({"parentUuid":"u-0","isSidechain":false,"type":"user","isMeta":true,
               "message":{"role":"user","content":"<local-command-caveat>Caveat</local-command-caveat>"},
               "uuid":"u-meta","timestamp":ts(2),"cwd":cwd_s,"sessionId":id,"version":"2.1.197"}),
    ];
    let mut parent = "u-0".to_owned();
    for (i, line) in captured
        .iter()
        .filter(|l| l["type"] == "user" || l["type"] == "assistant")
        .enumerate()
    {
        let uuid = format!("u-{}", i + 1);
        lines.push(
            json!({"parentUuid":parent,"isSidechain":false,"type":line["type"],
                          "message":line["message"],"uuid":uuid,"timestamp":ts(3 + i as u32),
                          "cwd":cwd_s,"sessionId":id,"version":"2.1.197"}),
        );
        parent = uuid;
    }
    lines.push(json!({"type":"last-prompt","lastPrompt":prompt,"leafUuid":parent,"sessionId":id}));
    let folder = home
        .join(".claude/projects")
        .join(claude_project_slug(&cwd_s));
    write_lines(&folder.join(format!("{id}.jsonl")), &lines);
    id
}

/// A Codex rollout from a captured `exec --json` run: `session_meta` with the thread id and
/// cwd, the prompt, each command execution as a `function_call` and its output, each agent
/// message as an assistant message.
fn codex_session(home: &Path, cwd: &Path, capture_name: &str, prompt: &str) -> String {
    let captured = capture(capture_name);
    let id = captured
        .iter()
        .find(|l| l["type"] == "thread.started")
        .unwrap()["thread_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cwd_s = cwd.to_string_lossy().into_owned();
    let mut lines = vec![
        json!({"timestamp":ts(1),"ordinal":0,"type":"session_meta","payload":{"id":id,"session_id":id,
               "timestamp":ts(1),"cwd":cwd_s,"originator":"codex_exec","cli_version":"0.169.0",
               "base_instructions":{"text":"x".repeat(20_000)}}}),
        json!({"timestamp":ts(2),"type":"response_item","payload":{"type":"message","role":"developer",
               "content":[{"type":"input_text","text":"<permissions instructions>"}]}}),
        json!({"timestamp":ts(2),"type":"response_item","payload":{"type":"message","role":"user",
               "content":[{"type":"input_text","text":format!("<environment_context>\n  <cwd>{cwd_s}</cwd>\n</environment_context>")}]}}),
        json!({"timestamp":ts(2),"type":"turn_context","payload":{"cwd":cwd_s,"model":"gpt-5.5"}}),
        json!({"timestamp":ts(3),"type":"response_item","payload":{"type":"message","role":"user",
               "content":[{"type":"input_text","text":prompt}]}}),
    ];
    for (i, line) in captured
        .iter()
        .filter(|l| l["type"] == "item.completed")
        .enumerate()
    {
        let item = &line["item"];
        let t = ts(4 + i as u32);
        match item["type"].as_str() {
            Some("command_execution") => {
                let call = format!("call_{i}");
                lines.push(json!({"timestamp":t,"type":"response_item","payload":{"type":"function_call",
                    "name":"exec_command","arguments":json!({"cmd":item["command"]}).to_string(),"call_id":call}}));
                lines.push(json!({"timestamp":t,"type":"response_item","payload":{"type":"function_call_output",
                    "call_id":call,"output":item["aggregated_output"]}}));
            }
            Some("agent_message") => lines.push(json!({"timestamp":t,"type":"response_item","payload":{
                "type":"message","role":"assistant","content":[{"type":"output_text","text":item["text"]}]}})),
            _ => {}
        }
    }
    lines.push(json!({"timestamp":ts(30),"type":"event_msg","payload":{"type":"task_complete"}}));
    let file = home
        .join(".codex/sessions/2026/11/25")
        .join(format!("rollout-2026-11-25T16-49-01-{id}.jsonl"));
    write_lines(&file, &lines);
    id
}

/// A Gemini CLI chat file from a captured stream-json run, and its slug in `projects.json`.
fn gemini_session(home: &Path, cwd: &Path, capture_name: &str, prompt: &str) -> String {
    let captured = capture(capture_name);
    let id = captured[0]["session_id"].as_str().unwrap().to_owned();
    let model = captured[0]["model"].clone();
    let cwd_s = cwd.to_string_lossy().into_owned();
    let slug = gemini_project_slug(&cwd_s);
    let mut lines = vec![
        json!({"sessionId":id,"projectHash":"0".repeat(64),"startTime":ts(1),"lastUpdated":ts(1),"kind":"main"}),
        json!({"$set":{"messages":[{"id":"ctx","timestamp":ts(1),"type":"user",
               "content":[{"text":"<session_context>\nThis is the Gemini CLI.\n</session_context>"}]}],"lastUpdated":ts(1)}}),
        json!({"id":"m-user","timestamp":ts(2),"type":"user","content":[{"text":prompt}]}),
    ];
    let mut calls = Vec::new();
    let mut text = String::new();
    for line in &captured {
        match line["type"].as_str() {
            Some("tool_use") => calls.push(json!({"id":line["tool_id"],"name":line["tool_name"],
                "args":line["parameters"],"status":"executing"})),
            Some("tool_result") => {
                if let Some(call) = calls.iter_mut().find(|c| c["id"] == line["tool_id"]) {
                    call["status"] = line["status"].clone();
                    call["result"] = json!([{"functionResponse":{"id":line["tool_id"],
                        "response":{"output":line["output"]}}}]);
                }
            }
            Some("message") if line["role"] == "assistant" => {
                text.push_str(line["content"].as_str().unwrap_or_default())
            }
            _ => {}
        }
    }
    if !calls.is_empty() {
        // Written first without results, then again (same id) once the tools ran.
        let running: Vec<Value> = calls
            .iter()
            .map(|c| json!({"id":c["id"],"name":c["name"],"args":c["args"],"status":"executing"}))
            .collect();
        lines.push(json!({"id":"m-call","timestamp":ts(3),"type":"gemini","content":"","model":model,"toolCalls":running}));
        lines.push(json!({"$set":{"lastUpdated":ts(3)}}));
        lines.push(json!({"id":"m-call","timestamp":ts(3),"type":"gemini","content":"","model":model,"toolCalls":calls}));
        lines.push(json!({"id":"m-result","timestamp":ts(4),"type":"user",
                          "content":[{"functionResponse":{"id":"x","response":{"output":"fake-tool-ok"}}}]}));
    }
    lines.push(
        json!({"id":"m-answer","timestamp":ts(5),"type":"gemini","content":text,"model":model}),
    );
    lines.push(json!({"$set":{"lastUpdated":ts(6)}}));
    let folder = home.join(".gemini/tmp").join(&slug);
    write_lines(
        &folder
            .join("chats")
            .join(format!("session-2026-11-25T16-49-{}.jsonl", &id[..8])),
        &lines,
    );
    std::fs::write(folder.join(".project_root"), &cwd_s).unwrap();
    let map_path = home.join(".gemini/projects.json");
    let mut map: Value = std::fs::read_to_string(&map_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({"projects":{}}));
    map["projects"][cwd_s] = json!(slug);
    std::fs::write(&map_path, map.to_string()).unwrap();
    id
}

/// Every file under a directory with its contents, to show nothing was written.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn find<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array().unwrap().iter().find(|v| v[key] == value)
}

#[tokio::test]
async fn fixture_stores_are_discovered_merged_and_transcribed() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(work.path()).unwrap();
    let registered = base.join("app");
    let other = base.join("side project.v2");
    let gone = base.join("deleted-long-ago");
    for d in [&registered.join("sub"), &other] {
        std::fs::create_dir_all(d).unwrap();
    }
    let h = home.path();
    let claude_in_app = claude_session(h, &registered, "claude-tool.jsonl", "run the tool please");
    let claude_sub = claude_session(h, &registered.join("sub"), "claude.jsonl", "hello from sub");
    let codex_in_app = codex_session(h, &registered, "codex-tool.jsonl", "[tool] list files");
    let gemini_in_app = gemini_session(h, &registered, "gemini-tool.jsonl", "[tool] run it");
    let claude_other = claude_session(
        h,
        &other,
        "claude-stdin-stream-json.jsonl",
        "second thoughts",
    );
    let codex_other = codex_session(h, &other, "codex.jsonl", "say hello");
    let gemini_gone = gemini_session(h, &gone, "gemini.jsonl", "say hello");
    // Noise the readers must skip: a non-session file, a torn line, a subagent folder.
    std::fs::write(h.join(".claude/projects/notes.txt"), "x").unwrap();
    let slug_dir = h
        .join(".claude/projects")
        .join(claude_project_slug(&registered.to_string_lossy()));
    std::fs::write(slug_dir.join("garbage.jsonl"), "{not json\n\n").unwrap();
    std::fs::create_dir_all(slug_dir.join(&claude_in_app).join("subagents")).unwrap();
    write_lines(
        &slug_dir
            .join(&claude_in_app)
            .join("subagents/agent-1.jsonl"),
        &[json!({"type":"user","sessionId":"sub","cwd":"/elsewhere","message":{"content":"x"}})],
    );
    let before = snapshot(h);

    let home_s = h.to_string_lossy().into_owned();
    let server = server_with("", &[("HOME", home_s.as_str())]);
    let api = Api::of(&server);
    let (status, project) = api
        .post(
            "/api/projects",
            json!({"path": registered.to_string_lossy()}),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let project_id = project["id"].as_str().unwrap().to_owned();

    // Discovered: the unregistered directories, with what ran there.
    let discovered = api.ok("/api/projects/discovered").await;
    let list = &discovered["projects"];
    let side = find(list, "path", &other.to_string_lossy()).expect("the side project");
    assert_eq!(side["exists"], true);
    assert_eq!(side["providers"], json!(["claude", "codex"]));
    assert_eq!(side["sessionCount"], 2);
    assert_eq!(side["suggestedName"], "side project.v2");
    assert!(side["lastActivity"].as_u64().unwrap() > 1_795_000_000_000);
    let gone_entry = find(list, "path", &gone.to_string_lossy()).expect("the deleted dir");
    assert_eq!(gone_entry["exists"], false);
    assert_eq!(gone_entry["providers"], json!(["gemini"]));
    assert!(
        list.as_array().unwrap().iter().all(|p| !p["path"]
            .as_str()
            .unwrap()
            .starts_with(&*registered.to_string_lossy())),
        "registered projects are not suggested: {list}"
    );
    // Suggestions only: nothing was registered.
    assert_eq!(
        api.ok("/api/projects").await["projects"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The registered project's sessions, from every store, subdirectories included.
    let listed = api
        .ok(&format!("/api/projects/{project_id}/sessions"))
        .await;
    let sessions = &listed["sessions"];
    assert_eq!(sessions.as_array().unwrap().len(), 4, "{listed}");
    let by_native = |id: &str| find(sessions, "providerSessionId", id).unwrap().clone();
    let claude = by_native(&claude_in_app);
    assert_eq!(claude["provider"], "claude");
    assert_eq!(claude["title"], "run the tool please");
    // prompt, tool call, tool result (not a message), answer
    assert_eq!(claude["messageCount"], 3);
    assert_eq!(claude["sources"], json!(["claude-store"]));
    assert!(claude["sessionId"].is_null() && claude["state"].is_null());
    assert_eq!(claude["cwd"], registered.to_string_lossy().as_ref());
    assert!(claude["lastActivity"].is_u64());
    let sub = by_native(&claude_sub);
    assert_eq!(sub["title"], "hello from sub");
    assert_eq!(
        sub["cwd"],
        registered.join("sub").to_string_lossy().as_ref()
    );
    let codex = by_native(&codex_in_app);
    assert_eq!(codex["provider"], "codex");
    assert_eq!(
        codex["title"], "[tool] list files",
        "injected context is no title"
    );
    assert_eq!(codex["messageCount"], 2);
    let gemini = by_native(&gemini_in_app);
    assert_eq!(gemini["provider"], "gemini");
    assert_eq!(gemini["title"], "[tool] run it");
    assert_eq!(
        gemini["messageCount"], 3,
        "a record written twice counts once"
    );
    for other_id in [&claude_other, &codex_other, &gemini_gone] {
        assert!(find(sessions, "providerSessionId", other_id).is_none());
    }
    let times: Vec<u64> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["lastActivity"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // Transcripts, normalized.
    let t = api
        .ok(&format!("/api/sessions/{claude_in_app}/transcript"))
        .await;
    assert_eq!(t["provider"], "claude");
    assert_eq!(t["source"], "claude-store");
    assert_eq!(t["truncated"], false);
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["text"], "run the tool please");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["toolCalls"][0]["name"], "Bash");
    assert_eq!(
        messages[1]["toolCalls"][0]["input"]["command"],
        "echo fake-tool-ok"
    );
    assert_eq!(messages[2]["toolResults"][0]["output"], "fake-tool-ok");
    assert_eq!(messages[3]["text"], "Tool said: fake-tool-ok");
    let t = api
        .ok(&format!(
            "/api/sessions/{codex_in_app}/transcript?provider=codex"
        ))
        .await;
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages[0]["text"], "[tool] list files");
    assert_eq!(messages[1]["toolCalls"][0]["name"], "exec_command");
    assert!(messages[1]["toolCalls"][0]["input"]["cmd"]
        .as_str()
        .unwrap()
        .contains("echo fake-tool-ok"));
    assert!(messages[2]["toolResults"][0]["output"]
        .as_str()
        .unwrap()
        .contains("fake-tool-ok"));
    assert_eq!(messages.last().unwrap()["role"], "assistant");
    let t = api
        .ok(&format!("/api/sessions/{gemini_in_app}/transcript"))
        .await;
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{t}");
    assert_eq!(messages[1]["toolCalls"][0]["name"], "run_shell_command");
    assert_eq!(
        messages[1]["toolResults"][0]["id"],
        messages[1]["toolCalls"][0]["id"]
    );
    assert!(messages[2]["text"].as_str().unwrap().contains("Tool said"));
    assert_eq!(messages[2]["model"], "gemini-2.5-flash");

    assert_error(
        &api.get(&format!(
            "/api/sessions/{claude_in_app}/transcript?provider=codex"
        ))
        .await,
        404,
        "unknown-session",
    );
    assert_error(
        &api.get("/api/sessions/..%2F..%2Fetc/transcript").await,
        400,
        "invalid-field",
    );
    assert_error(
        &api.get("/api/projects/0b7e1f9a-3c5d-4e2f-8a1b-9c0d2e3f4a5b/sessions")
            .await,
        404,
        "unknown-project",
    );

    // A file that changes is read again (its mtime moved): one more message.
    let gemini_file = std::fs::read_dir(
        h.join(".gemini/tmp")
            .join(gemini_project_slug(&registered.to_string_lossy()))
            .join("chats"),
    )
    .unwrap()
    .next()
    .unwrap()
    .unwrap()
    .path();
    let mut text = std::fs::read_to_string(&gemini_file).unwrap();
    text.push_str(
        &json!({"id":"m-late","timestamp":ts(40),"type":"user","content":[{"text":"one more"}]})
            .to_string(),
    );
    text.push('\n');
    std::fs::write(&gemini_file, text).unwrap();
    let mut count = Value::Null;
    for _ in 0..40 {
        let listed = api
            .ok(&format!("/api/projects/{project_id}/sessions"))
            .await;
        count = find(&listed["sessions"], "providerSessionId", &gemini_in_app).unwrap()
            ["messageCount"]
            .clone();
        if count == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(count, 4);

    // Read-only: every fixture file is as it was (the one we appended to aside).
    let after = snapshot(h);
    let changed: Vec<&PathBuf> = after
        .iter()
        .filter(|(p, bytes)| {
            before
                .iter()
                .find(|(q, _)| q == p)
                .is_none_or(|(_, old)| old != bytes)
        })
        .map(|(p, _)| p)
        .collect();
    assert_eq!(changed, vec![&gemini_file]);
}
