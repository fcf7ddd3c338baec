//! `fake-nano-claude-code`: a scriptable stand-in for nano-claude-code 0.2.0 (OpenLAIR).
//!
//! The real CLI is a Python program that cannot be installed on test machines, so server
//! tests drive this binary instead. It accepts the real command line (every flag of
//! `cursor-nano-formats.md` B.2, argparse-style errors with exit 2) and prints the
//! `--output-format stream-json` lines of B.4 exactly as Python's `json.dumps` writes them
//! (`", "` and `": "` separators, non-ASCII as `\uXXXX`, the real key order), one `write()`
//! and flush per line. It writes and resumes `--session-file` files in the format of
//! `captures/nano-session-file.json`, and fails, crashes and dies by signal the way the
//! captures show.
//!
//! Behaviour is scripted by directives inside the prompt text: whitespace-separated tokens
//! `key=value` or bare `key`; all other words are ignored. The environment variable
//! `FAKE_NANO_SCRIPT` may hold directives too; the prompt wins on conflicts. `--help` lists
//! them.
//!
//! Deliberate differences from the real CLI: no model API is called (so no API key is
//! needed: use `no_api_key` for that failure), `~/.nano_claude/sessions/_latest.json` is read
//! but never written (tests must not touch the developer's home), a title search for
//! `--resume` matches a substring of the saved title, and an empty prompt exits 2 instead of
//! starting the interactive REPL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;
use serde_json::Value;

const PROG: &str = "nano-claude-code";
const VERSION: &str = "nano-claude-code v0.2.0";
const SCRIPT_ENV: &str = "FAKE_NANO_SCRIPT";
const DEFAULT_MODEL: &str = "claude-sonnet-4-6";
const DEFAULT_MAX_TURNS: u32 = 50;
const TOOL_COMMAND: &str = "echo fake-tool-ok";
const TOOL_OUTPUT: &str = "fake-tool-ok\n\n\n[exit code: 0]";
const API_ERROR: &str = "Error code: 400 - {'type': 'error', 'error': {'type': \
                         'invalid_request_error', 'message': 'fake error for testing'}}";
const NO_API_KEY: &str = "No API key found. Set OPENAI_COMPAT_* or ANTHROPIC_API_KEY or \
                          OPENROUTER_API_KEY in .env or env";
const RETRY_LINE: &str = "[Retry 1/5 in 1.0s: Error code: 529 - {'type': 'error', 'error': \
                          {'type': 'overloaded_error', 'message': 'Overloaded'}}]";
const RESUME_MISSING: &str = "\u{1b}[31mError: No session found to resume.\u{1b}[0m\n";
const RESUME_TEXT_FORMAT: &str = "\u{1b}[31mError: --resume with -p/--print only supports \
                                  --output-format json or stream-json.\u{1b}[0m\n";
/// `nano-openai-compat-crash.stderr` (B.8 #1).
const OPENAI_CRASH: &str = "Traceback (most recent call last):\n  [frames elided]\nTypeError: \
                            'types.SimpleNamespace' object is not iterable\n";
/// `nano-abort-sigint.stderr`.
const KEYBOARD_INTERRUPT: &[u8] =
    b"Traceback (most recent call last):\n  [frames elided]\nKeyboardInterrupt\n";

const USAGE_LINE: &str = "\
usage: nano-claude-code [-h] [-p PROMPT] [--output-format {text,json,stream-json}]
                        [--model MODEL] [--max-turns MAX_TURNS] [--streaming]
                        [--verbose] [--thinking] [--thinking-budget THINKING_BUDGET]
                        [--bare] [--dangerously-skip-permissions] [--accept-all]
                        [--permission-mode {auto,accept-all,manual}]
                        [--session-file FILE] [--resume [ARG]]
                        [--no-session-persistence] [-n NAME] [--mascot MASCOT]
                        [--version]
                        [prompt ...]
";

const HELP: &str = "
nano-claude-code 0.2.0 stand-in (fixture: fake-nano-claude-code, a scriptable test double).
No model API is called. Only print mode (-p, or positional words) is implemented;
--output-format json and stream-json print the same NDJSON, text prints only the answer.

Directives (tokens in the prompt or in $FAKE_NANO_SCRIPT; the prompt wins):
  lines=N         the answer has N text parts (default 1): a greeting naming the turn
                  number, then ` lineI` parts; one stream_delta each with
                  --streaming --verbose, one assistant line in all cases
  bytes=B         approximate size of each part after the first (default 20)
  delay_ms=D      sleep D ms before each text part
  exit=C          exit with code C instead of the normal one (the output is unchanged)
  crash_after=K   die by SIGKILL after K stdout lines (no result line)
  hang            after the first text part (a stream_delta if streaming), sleep forever
  ignore_sigint   ignore SIGINT (otherwise: KeyboardInterrupt traceback, die by SIGINT)
  ignore_sigterm  ignore SIGTERM (otherwise: die by SIGTERM, printing nothing)
  tool            one Bash round trip first: assistant tool_use, user tool_result
  thinking        a thinking part before the text (also with --thinking)
  max_turns=N     like --max-turns N (the directive wins); with `tool` and N=1:
                  error_max_turns after the round trip, exit 1
  error           the model call fails with HTTP 400: error_during_execution, exit 1
  no_api_key      error_during_execution \"No API key found…\", num_turns 0, exit 1
  openai_crash    the OpenAI-compatible crash: traceback on stderr, no stdout, exit 1
  retry           print one `[Retry 1/5 in 1.0s: …]` line on stderr, then go on
  save_fail       do not save --session-file: `[nano-claude-code] session save failed`
                  on stderr, no nano_session_file in the result (still success)
  stderr=TEXT     print TEXT (underscores become spaces) on stderr first
  non_json        print the plain line `plain text line` on stdout first
  no_result       print no result line (the exit code stays 0 unless exit=C)

The session file (--session-file, written after a successful run only) has the real format;
--resume loads it (path, file name under ~/.nano_claude/sessions, `latest`, or a title
substring) and fails like the real CLI when it is missing.
";

fn main() {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(args) => args,
        Err(bad) => usage_error(&format!("argument is not valid UTF-8: {bad:?}")),
    };
    let cli = match parse_args(&args) {
        Ok(Action::Run(cli)) => cli,
        Ok(Action::Print(text)) => {
            let mut stdout = io::stdout().lock();
            let _ = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush());
            return;
        }
        Err(message) => usage_error(&message),
    };
    let prompt = cli.prompt.clone().unwrap_or_default();
    if prompt.is_empty() {
        fail(
            2,
            "fake-nano-claude-code: an empty prompt starts the interactive REPL, which the \
             fixture does not implement\n",
        );
    }
    let env_script = std::env::var(SCRIPT_ENV).unwrap_or_default();
    let script = match Script::parse(&env_script, &prompt) {
        Ok(script) => script,
        Err(message) => usage_error(&message),
    };
    install_signals(&script);
    process::exit(Run::new(cli, script).execute(&prompt));
}

// ---------------------------------------------------------------------------------------
// Command line (argparse rules: `--flag value`, `--flag=value`, `-pVALUE`; a value may not
// start with `-`; unknown flags are an error with exit 2).

enum Action {
    /// `--help`, `--version`: print and exit 0.
    Print(String),
    Run(Cli),
}

#[derive(Default)]
struct Cli {
    prompt: Option<String>,
    text_format: bool,
    model: Option<String>,
    max_turns: Option<u32>,
    streaming: bool,
    verbose: bool,
    thinking: bool,
    session_file: Option<String>,
    /// `Some(None)`: a bare `--resume` (= latest).
    resume: Option<Option<String>>,
}

fn parse_args(args: &[String]) -> Result<Action, String> {
    let mut cli = Cli::default();
    let mut positional: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if !arg.starts_with('-') || arg == "-" || is_negative_number(arg) {
            positional.push(arg.clone());
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if arg.starts_with("--") => (flag.to_owned(), Some(value)),
            _ if !arg.starts_with("--") && arg.len() > 2 => {
                // `-pVALUE`, `-nNAME`
                (arg[..2].to_owned(), Some(&arg[2..]))
            }
            _ => (arg.clone(), None),
        };
        let name = |long: &str, short: Option<&str>| match short {
            Some(short) => format!("{short}/{long}"),
            None => long.to_owned(),
        };
        // A required value: inline, else the next argument unless it looks like a flag.
        let mut value = |display: String| -> Result<String, String> {
            if let Some(v) = inline {
                return Ok(v.to_owned());
            }
            match args.get(i) {
                Some(v) if !v.starts_with('-') || is_negative_number(v) || v == "-" => {
                    i += 1;
                    Ok(v.clone())
                }
                _ => Err(format!("argument {display}: expected one argument")),
            }
        };
        let no_value = |display: &str| -> Result<(), String> {
            match inline {
                Some(v) => Err(format!(
                    "argument {display}: ignored explicit argument '{v}'"
                )),
                None => Ok(()),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Action::Print(format!("{USAGE_LINE}{HELP}"))),
            "--version" => return Ok(Action::Print(format!("{VERSION}\n"))),
            "-p" | "--print" => cli.prompt = Some(value(name("--print", Some("-p")))?),
            "--output-format" => {
                let format = value(name("--output-format", None))?;
                match format.as_str() {
                    "json" | "stream-json" => cli.text_format = false,
                    "text" => cli.text_format = true,
                    other => {
                        return Err(format!(
                            "argument --output-format: invalid choice: '{other}' (choose from \
                             'text', 'json', 'stream-json')"
                        ))
                    }
                }
            }
            "--model" => cli.model = Some(value(name("--model", None))?),
            "--max-turns" => {
                let raw = value(name("--max-turns", None))?;
                cli.max_turns =
                    Some(raw.parse().map_err(|_| {
                        format!("argument --max-turns: invalid int value: '{raw}'")
                    })?);
            }
            "--thinking-budget" => {
                let raw = value(name("--thinking-budget", None))?;
                raw.parse::<i64>().map_err(|_| {
                    format!("argument --thinking-budget: invalid int value: '{raw}'")
                })?;
            }
            "--permission-mode" => {
                let mode = value(name("--permission-mode", None))?;
                if !matches!(mode.as_str(), "auto" | "accept-all" | "manual") {
                    return Err(format!(
                        "argument --permission-mode: invalid choice: '{mode}' (choose from \
                         'auto', 'accept-all', 'manual')"
                    ));
                }
            }
            "--session-file" => cli.session_file = Some(value(name("--session-file", None))?),
            "-n" | "--name" => {
                value(name("--name", Some("-n")))?;
            }
            "--mascot" => {
                value(name("--mascot", None))?;
            }
            "--resume" => {
                // nargs='?': the next argument is the value unless it looks like a flag.
                let arg = match inline {
                    Some(v) => Some(v.to_owned()),
                    None => match args.get(i) {
                        Some(v) if !v.starts_with('-') => {
                            i += 1;
                            Some(v.clone())
                        }
                        _ => None,
                    },
                };
                cli.resume = Some(arg);
            }
            "--streaming" => {
                no_value("--streaming")?;
                cli.streaming = true;
            }
            "--verbose" => {
                no_value("--verbose")?;
                cli.verbose = true;
            }
            "--thinking" => {
                no_value("--thinking")?;
                cli.thinking = true;
            }
            "--bare"
            | "--dangerously-skip-permissions"
            | "--accept-all"
            | "--no-session-persistence" => no_value(&flag)?,
            _ => return Err(format!("unrecognized arguments: {arg}")),
        }
    }
    // With `-p`, argparse still collects positional words; nano ignores them.
    if cli.prompt.is_none() && !positional.is_empty() {
        cli.prompt = Some(positional.join(" "));
    }
    Ok(Action::Run(cli))
}

fn is_negative_number(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
}

// ---------------------------------------------------------------------------------------
// Directives.

#[derive(Debug)]
struct Script {
    lines: usize,
    bytes: usize,
    delay: Duration,
    exit: Option<i32>,
    crash_after: Option<usize>,
    hang: bool,
    ignore_sigint: bool,
    ignore_sigterm: bool,
    tool: bool,
    thinking: bool,
    max_turns: Option<u32>,
    error: bool,
    no_api_key: bool,
    openai_crash: bool,
    retry: bool,
    save_fail: bool,
    stderr: Option<String>,
    non_json: bool,
    no_result: bool,
}

const VALUE_DIRECTIVES: &[&str] = &[
    "lines",
    "bytes",
    "delay_ms",
    "exit",
    "crash_after",
    "max_turns",
    "stderr",
];
const FLAG_DIRECTIVES: &[&str] = &[
    "hang",
    "ignore_sigint",
    "ignore_sigterm",
    "tool",
    "thinking",
    "error",
    "no_api_key",
    "openai_crash",
    "retry",
    "save_fail",
    "non_json",
    "no_result",
];

impl Script {
    /// Merges the directives of `env` and `prompt`; the prompt is read last, so it wins.
    fn parse(env: &str, prompt: &str) -> Result<Script, String> {
        let mut values = HashMap::new();
        let mut flags = HashSet::new();
        for token in env.split_whitespace().chain(prompt.split_whitespace()) {
            match token.split_once('=') {
                Some((key, value)) if VALUE_DIRECTIVES.contains(&key) => {
                    values.insert(key, value);
                }
                Some((key, _)) if FLAG_DIRECTIVES.contains(&key) => {
                    return Err(format!("directive '{key}' takes no value (got '{token}')"));
                }
                None if FLAG_DIRECTIVES.contains(&token) => {
                    flags.insert(token);
                }
                _ => {}
            }
        }
        fn number<T: std::str::FromStr>(
            values: &HashMap<&str, &str>,
            key: &str,
        ) -> Result<Option<T>, String>
        where
            T::Err: std::fmt::Display,
        {
            values
                .get(key)
                .map(|raw| {
                    raw.parse()
                        .map_err(|err| format!("bad value in directive {key}={raw}: {err}"))
                })
                .transpose()
        }
        Ok(Script {
            lines: number(&values, "lines")?.unwrap_or(1),
            bytes: number(&values, "bytes")?.unwrap_or(20),
            delay: Duration::from_millis(number(&values, "delay_ms")?.unwrap_or(0)),
            exit: number::<u8>(&values, "exit")?.map(i32::from),
            crash_after: number(&values, "crash_after")?,
            hang: flags.contains("hang"),
            ignore_sigint: flags.contains("ignore_sigint"),
            ignore_sigterm: flags.contains("ignore_sigterm"),
            tool: flags.contains("tool"),
            thinking: flags.contains("thinking"),
            max_turns: number(&values, "max_turns")?,
            error: flags.contains("error"),
            no_api_key: flags.contains("no_api_key"),
            openai_crash: flags.contains("openai_crash"),
            retry: flags.contains("retry"),
            save_fail: flags.contains("save_fail"),
            stderr: values.get("stderr").map(|text| text.replace('_', " ")),
            non_json: flags.contains("non_json"),
            no_result: flags.contains("no_result"),
        })
    }
}

// ---------------------------------------------------------------------------------------
// One print-mode run.

/// The conversation loaded by `--resume`.
struct Loaded {
    /// The saved title, as JSON text.
    title: Option<Box<RawValue>>,
    /// Every saved message, as it was in the file.
    messages: Vec<Box<RawValue>>,
    /// User messages that were prompts (string content), i.e. earlier turns.
    turns: usize,
}

struct Run {
    cli: Cli,
    script: Script,
    out: Out,
    started: Instant,
    api_ms: u128,
    input_tokens: u64,
    output_tokens: u64,
    /// Messages of this run, for the session file: `{"role": …, "content": …}`.
    messages: Vec<J>,
}

enum Ending {
    Success {
        text: String,
    },
    Error {
        subtype: &'static str,
        error: String,
    },
}

impl Run {
    fn new(cli: Cli, script: Script) -> Run {
        let out = Out {
            stdout: io::stdout().lock(),
            written: 0,
            crash_after: script.crash_after,
            text_format: cli.text_format,
        };
        Run {
            cli,
            script,
            out,
            started: Instant::now(),
            api_ms: 0,
            input_tokens: 0,
            output_tokens: 0,
            messages: Vec::new(),
        }
    }

    /// Prints everything and returns the exit code.
    fn execute(mut self, prompt: &str) -> i32 {
        if self.script.crash_after == Some(0) {
            crash();
        }
        if let Some(text) = &self.script.stderr {
            write_stderr(&format!("{text}\n"));
        }
        if self.cli.resume.is_some() && self.cli.text_format {
            fail(1, RESUME_TEXT_FORMAT);
        }
        let loaded = match &self.cli.resume {
            Some(arg) => match resume_path(arg.as_deref()).and_then(|p| load(&p)) {
                Some(loaded) => Some(loaded),
                None => fail(1, RESUME_MISSING),
            },
            None => None,
        };
        if self.script.non_json {
            self.out.line("plain text line");
        }
        if self.script.no_api_key {
            let line = self.result_line("error_during_execution", 0, None, Some(NO_API_KEY), None);
            self.out.line(&line);
            if self.cli.text_format {
                write_stderr(&format!("Error: {NO_API_KEY}\n"));
            }
            return self.exit_code(1);
        }
        if self.script.openai_crash {
            fail(1, OPENAI_CRASH);
        }
        if self.script.retry {
            write_stderr(&format!("{RETRY_LINE}\n"));
        }

        let turn = loaded.as_ref().map_or(0, |l| l.turns) + 1;
        self.messages.push(J::obj([
            ("role", J::str("user")),
            ("content", J::str(prompt)),
        ]));
        let max_turns = self
            .script
            .max_turns
            .or(self.cli.max_turns)
            .unwrap_or(DEFAULT_MAX_TURNS);
        let mut calls = 0;
        let ending = loop {
            if calls >= max_turns {
                break Ending::Error {
                    subtype: "error_max_turns",
                    error: format!("Reached max turns ({max_turns})"),
                };
            }
            calls += 1;
            if self.script.error {
                break Ending::Error {
                    subtype: "error_during_execution",
                    error: API_ERROR.to_owned(),
                };
            }
            if self.script.tool && calls == 1 {
                self.tool_round_trip(prompt);
                continue;
            }
            break Ending::Success {
                text: self.answer(prompt, turn),
            };
        };

        match ending {
            Ending::Success { text } => {
                let saved = self.save(loaded, prompt, calls);
                self.out.plain(&text);
                if !self.script.no_result {
                    let line = self.result_line("success", calls, Some(&text), None, saved);
                    self.out.line(&line);
                }
                self.exit_code(0)
            }
            Ending::Error { subtype, error } => {
                let line = self.result_line(subtype, calls, None, Some(&error), None);
                if !self.script.no_result {
                    self.out.line(&line);
                }
                if self.cli.text_format {
                    write_stderr(&format!("Error: {error}\n"));
                }
                self.exit_code(1)
            }
        }
    }

    fn exit_code(&self, normal: i32) -> i32 {
        self.script.exit.unwrap_or(normal)
    }

    fn streaming_deltas(&self) -> bool {
        // B.8 #2: stream_delta needs both flags.
        self.cli.streaming && self.cli.verbose
    }

    /// The final model call: (thinking), text parts, one assistant line. Returns the text.
    fn answer(&mut self, prompt: &str, turn: usize) -> String {
        let call = Instant::now();
        let mut content = Vec::new();
        if self.script.thinking || self.cli.thinking {
            let thinking = "Thinking about the prompt.";
            thread::sleep(self.script.delay);
            self.delta("thinking", thinking);
            content.push(J::obj([
                ("type", J::str("thinking")),
                ("thinking", J::str(thinking)),
            ]));
        }
        let mut text = String::new();
        for i in 0..self.script.lines.max(1) {
            let part = if i == 0 {
                format!("Hello from fake-nano-claude-code! (turn {turn}) you said: {prompt}")
            } else {
                padded(format!(" line{i} "), self.script.bytes)
            };
            thread::sleep(self.script.delay);
            self.delta("text", &part);
            text.push_str(&part);
            if i == 0 && self.script.hang {
                sleep_forever();
            }
        }
        content.push(J::obj([("type", J::str("text")), ("text", J::str(&text))]));
        let input = prompt.len() as u64 / 4 + 10;
        let output = text.len() as u64 / 4 + 1;
        self.assistant(content, "end_turn", input, output, call);
        text
    }

    /// A Bash tool call (no text), its result, as in `captures/nano-tool.jsonl`.
    fn tool_round_trip(&mut self, prompt: &str) {
        let call = Instant::now();
        thread::sleep(self.script.delay);
        let id = format!("toolu_{}", &hex_id()[..20]);
        let input = J::obj([
            ("command", J::str(TOOL_COMMAND)),
            ("description", J::str("Print a marker")),
        ]);
        let block = J::obj([
            ("type", J::str("tool_use")),
            ("id", J::str(&id)),
            ("name", J::str("Bash")),
            ("input", input),
        ]);
        self.assistant(
            vec![block],
            "tool_use",
            prompt.len() as u64 / 4 + 10,
            1,
            call,
        );
        let result = J::obj([
            ("type", J::str("tool_result")),
            ("tool_use_id", J::str(&id)),
            ("content", J::str(TOOL_OUTPUT)),
            ("is_error", J::Bool(false)),
        ]);
        let message = J::obj([("role", J::str("user")), ("content", J::Arr(vec![result]))]);
        let line = J::obj([
            ("type", J::str("user")),
            ("uuid", J::str(&uuid_v4())),
            ("timestamp", J::str(&utc_timestamp())),
            ("message", message.clone()),
        ]);
        self.out.line(&line.dumps());
        self.messages.push(message);
    }

    fn delta(&mut self, kind: &str, content: &str) {
        if !self.streaming_deltas() {
            return;
        }
        let line = J::obj([
            ("type", J::str("stream_delta")),
            ("uuid", J::str(&uuid_v4())),
            ("timestamp", J::str(&utc_timestamp())),
            ("delta_type", J::str(kind)),
            ("content", J::str(content)),
        ]);
        self.out.line(&line.dumps());
    }

    /// One `assistant` line (B.4), with anthropic 2.14's `usage` keys.
    fn assistant(
        &mut self,
        content: Vec<J>,
        stop_reason: &str,
        input: u64,
        output: u64,
        call: Instant,
    ) {
        self.input_tokens += input;
        self.output_tokens += output;
        let id = format!("msg_{}", &hex_id()[..24]);
        let usage = J::obj([
            ("cache_creation", J::Null),
            ("cache_creation_input_tokens", J::Int(0)),
            ("cache_read_input_tokens", J::Int(0)),
            ("inference_geo", J::Null),
            ("input_tokens", J::Int(input)),
            ("output_tokens", J::Int(output)),
            ("output_tokens_details", J::Null),
            ("server_tool_use", J::Null),
            ("service_tier", J::Null),
            ("speed", J::Null),
        ]);
        let message = J::obj([
            ("id", J::str(&id)),
            ("model", J::str(self.model())),
            ("role", J::str("assistant")),
            ("stop_reason", J::str(stop_reason)),
            ("usage", usage),
            ("content", J::Arr(content.clone())),
        ]);
        let line = J::obj([
            ("type", J::str("assistant")),
            ("uuid", J::str(&uuid_v4())),
            ("timestamp", J::str(&utc_timestamp())),
            ("message", message),
            ("requestId", J::str(&id)),
        ]);
        self.api_ms += call.elapsed().as_millis();
        self.out.line(&line.dumps());
        // The session file keeps the SDK's block dump: text blocks gain `citations`.
        let saved = content.into_iter().map(sdk_block).collect();
        self.messages.push(J::obj([
            ("role", J::str("assistant")),
            ("content", J::Arr(saved)),
        ]));
    }

    fn model(&self) -> &str {
        self.cli.model.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    /// The `result` line (B.4), keys in the writer's order.
    fn result_line(
        &self,
        subtype: &str,
        num_turns: u32,
        text: Option<&str>,
        error: Option<&str>,
        session_file: Option<String>,
    ) -> String {
        let mut fields = vec![
            ("type", J::str("result")),
            ("subtype", J::str(subtype)),
            (
                "duration_ms",
                J::Int(self.started.elapsed().as_millis() as u64),
            ),
            ("duration_api_ms", J::Int(self.api_ms as u64)),
            ("is_error", J::Bool(subtype != "success")),
            ("num_turns", J::Int(u64::from(num_turns))),
            ("stop_reason", J::Null),
            ("session_id", J::str(&uuid_v4())),
            ("total_cost_usd", J::Raw("0.0".into())),
            (
                "usage",
                J::obj([
                    ("input_tokens", J::Int(self.input_tokens)),
                    ("output_tokens", J::Int(self.output_tokens)),
                    ("cache_creation_input_tokens", J::Int(0)),
                    ("cache_read_input_tokens", J::Int(0)),
                ]),
            ),
            ("modelUsage", J::Obj(Vec::new())),
            ("permission_denials", J::Arr(Vec::new())),
            ("uuid", J::str(&uuid_v4())),
        ];
        if let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) {
            fields.push(("result", J::str(text)));
        }
        if let Some(error) = error {
            fields.push(("errors", J::Arr(vec![J::str(error)])));
        }
        if let Some(name) = session_file {
            fields.push(("nano_session_file", J::str(&name)));
        }
        J::obj(fields).dumps()
    }

    /// Writes `--session-file` (B.7); returns its base name, or `None` when there is none to
    /// write or it could not be written (reported on stderr like the real CLI).
    fn save(&mut self, loaded: Option<Loaded>, prompt: &str, calls: u32) -> Option<String> {
        let target = self.cli.session_file.as_deref()?;
        let path = session_file_path(target)?;
        let result = if self.script.save_fail {
            Err(format!(
                "[Errno 13] Permission denied: '{}'",
                path.to_string_lossy()
            ))
        } else {
            self.write_session(&path, loaded, prompt, calls)
                .map_err(|e| e.to_string())
        };
        match result {
            Ok(()) => Some(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            Err(error) => {
                write_stderr(&format!("[{PROG}] session save failed: {error}\n"));
                None
            }
        }
    }

    fn write_session(
        &self,
        path: &Path,
        loaded: Option<Loaded>,
        prompt: &str,
        calls: u32,
    ) -> io::Result<()> {
        let (title, old) = match loaded {
            Some(l) => (l.title.map(|t| t.get().to_owned()), l.messages),
            None => (None, Vec::new()),
        };
        let title =
            title.unwrap_or_else(|| J::str(&prompt.chars().take(60).collect::<String>()).dumps());
        // Saved messages keep their text: they were written at this same depth, so their
        // inner indentation is already right.
        let mut messages: Vec<String> = old.iter().map(|m| m.get().to_owned()).collect();
        messages.extend(self.messages.iter().map(|m| m.pretty(2)));
        let messages = if messages.is_empty() {
            "[]".to_owned()
        } else {
            format!("[\n    {}\n  ]", messages.join(",\n    "))
        };
        let text = format!(
            "{{\n  \"title\": {title},\n  \"messages\": {messages},\n  \"turn_count\": {},\n  \
             \"total_input_tokens\": {},\n  \"total_output_tokens\": {},\n  \"model\": {},\n  \
             \"saved_at\": {}\n}}",
            // For this run only, like the token counts (B.7).
            calls,
            self.input_tokens,
            self.output_tokens,
            J::str(self.model()).dumps(),
            J::str(&local_timestamp()).dumps(),
        );
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)
    }
}

/// The SDK's dump of a content block for the session file: text blocks carry `citations`,
/// keys in the model's field order.
fn sdk_block(block: J) -> J {
    let J::Obj(fields) = &block else {
        return block;
    };
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or(J::Null)
    };
    match get("type") {
        t if t == J::str("text") => {
            J::obj([("citations", J::Null), ("text", get("text")), ("type", t)])
        }
        t if t == J::str("tool_use") => J::obj([
            ("id", get("id")),
            ("input", get("input")),
            ("name", get("name")),
            ("type", t),
        ]),
        t if t == J::str("thinking") => J::obj([
            ("signature", J::str("")),
            ("thinking", get("thinking")),
            ("type", t),
        ]),
        _ => block,
    }
}

/// `~/.nano_claude/sessions`.
fn sessions_dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".nano_claude").join("sessions"))
}

/// A `--session-file` value with a `/` is a path; otherwise a name in the sessions dir.
fn session_file_path(value: &str) -> Option<PathBuf> {
    if value.contains('/') {
        Some(PathBuf::from(value))
    } else {
        Some(sessions_dir()?.join(value))
    }
}

/// What `--resume [ARG]` names: a path, `latest` (bare), a file name in the sessions dir, or
/// a title search.
fn resume_path(arg: Option<&str>) -> Option<PathBuf> {
    let arg = arg.unwrap_or("latest");
    if arg.contains('/') {
        return Some(PathBuf::from(arg));
    }
    let dir = sessions_dir()?;
    if arg == "latest" {
        let pointer = std::fs::read_to_string(dir.join("_latest.json")).ok()?;
        let pointer: Value = serde_json::from_str(&pointer).ok()?;
        return pointer.get("path")?.as_str().map(PathBuf::from);
    }
    for name in [arg.to_owned(), format!("{arg}.json")] {
        let path = dir.join(name);
        if path.is_file() {
            return Some(path);
        }
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    names.into_iter().find(|path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|v| v.get("title")?.as_str().map(|t| t.contains(arg)))
            .unwrap_or(false)
    })
}

fn load(path: &Path) -> Option<Loaded> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut top: BTreeMap<String, Box<RawValue>> = serde_json::from_str(&text).ok()?;
    let messages: Vec<Box<RawValue>> = serde_json::from_str(top.remove("messages")?.get()).ok()?;
    let turns = messages
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(m.get()).ok())
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .filter(|m| m.get("content").is_some_and(Value::is_string))
        .count();
    Some(Loaded {
        title: top.remove("title"),
        messages,
        turns,
    })
}

// ---------------------------------------------------------------------------------------
// JSON as Python's `json.dumps` writes it: keys in insertion order, `", "`/`": "`
// separators, non-ASCII escaped; `pretty` is `json.dumps(indent=2)`.

#[derive(Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Int(u64),
    /// Written as is (e.g. `0.0`).
    Raw(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn str(s: &str) -> J {
        J::Str(s.to_owned())
    }

    fn obj<'a>(fields: impl IntoIterator<Item = (&'a str, J)>) -> J {
        J::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn dumps(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None, 0);
        out
    }

    /// Indented by 2 per level; `depth` is the level this value starts at.
    fn pretty(&self, depth: usize) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(2), depth);
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>, depth: usize) {
        let newline = |out: &mut String, depth: usize| {
            if let Some(width) = indent {
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', width * depth));
            }
        };
        let separator = if indent.is_some() { "," } else { ", " };
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(n) => out.push_str(&n.to_string()),
            J::Raw(raw) => out.push_str(raw),
            J::Str(s) => python_string(s, out),
            J::Arr(items) if items.is_empty() => out.push_str("[]"),
            J::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(separator);
                    }
                    newline(out, depth + 1);
                    item.write(out, indent, depth + 1);
                }
                newline(out, depth);
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(separator);
                    }
                    newline(out, depth + 1);
                    python_string(key, out);
                    out.push_str(": ");
                    value.write(out, indent, depth + 1);
                }
                newline(out, depth);
                out.push('}');
            }
        }
    }
}

/// A JSON string literal with `ensure_ascii=True`: non-ASCII as `\uXXXX` (surrogate pairs
/// above the BMP), and Python's short escapes.
fn python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------
// Output, signals, small helpers.

/// Stdout with one `write()` and flush per line; counts lines for `crash_after`.
struct Out {
    stdout: io::StdoutLock<'static>,
    written: usize,
    crash_after: Option<usize>,
    /// `--output-format text`: JSON lines are not printed, only the answer (`plain`).
    text_format: bool,
}

impl Out {
    /// A JSON line (or the `non_json` line) of the stream-json output.
    fn line(&mut self, line: &str) {
        if !self.text_format {
            self.write_line(line);
        }
    }

    /// Text-format output.
    fn plain(&mut self, text: &str) {
        if self.text_format {
            self.write_line(text);
        }
    }

    fn write_line(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if let Err(err) = self
            .stdout
            .write_all(&bytes)
            .and_then(|()| self.stdout.flush())
        {
            // Typically EPIPE: the reader went away.
            fail(
                1,
                &format!("fake-nano-claude-code: cannot write to stdout: {err}\n"),
            );
        }
        self.written += 1;
        if self.crash_after == Some(self.written) {
            crash();
        }
    }
}

fn write_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Writes `stderr` as is and exits.
fn fail(code: i32, stderr: &str) -> ! {
    write_stderr(stderr);
    process::exit(code);
}

/// argparse's error: the usage, then `prog: error: …`, exit 2.
fn usage_error(message: &str) -> ! {
    fail(2, &format!("{USAGE_LINE}{PROG}: error: {message}\n"));
}

/// SIGINT: Python's KeyboardInterrupt traceback, then death by SIGINT (exit status 130 in a
/// shell). SIGTERM keeps its default: death without another byte.
fn install_signals(script: &Script) {
    extern "C" fn on_sigint(_: libc::c_int) {
        // SAFETY: write, signal and raise are async-signal-safe.
        unsafe {
            libc::write(
                2,
                KEYBOARD_INTERRUPT.as_ptr().cast(),
                KEYBOARD_INTERRUPT.len(),
            );
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::raise(libc::SIGINT);
        }
    }
    let handler = if script.ignore_sigint {
        libc::SIG_IGN
    } else {
        on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t
    };
    // SAFETY: installing a handler that only makes async-signal-safe calls, or SIG_IGN.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        if script.ignore_sigterm {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
    }
}

fn sleep_forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// Dies by SIGKILL: a crash without a result line and without a core dump.
fn crash() -> ! {
    // SAFETY: a plain syscall on our own pid.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    unreachable!("SIGKILL cannot be caught");
}

/// Pads `prefix` with a repeating `a..z` pattern up to `len` bytes (never shortens it).
fn padded(mut prefix: String, len: usize) -> String {
    let missing = len.saturating_sub(prefix.len());
    prefix.extend((b'a'..=b'z').cycle().map(char::from).take(missing));
    prefix
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if let Err(err) = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        fail(1, &format!("fake-nano-claude-code: /dev/urandom: {err}\n"));
    }
    bytes
}

/// 32 random hex digits.
fn hex_id() -> String {
    random_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A random version-4 UUID, lowercase and hyphenated.
fn uuid_v4() -> String {
    let mut bytes = random_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `2026-11-25T17:26:05.899173+00:00`.
fn utc_timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        s / 3600,
        s / 60 % 60,
        s % 60,
        now.subsec_micros()
    )
}

/// Local time without a zone, as Python's `datetime.now().isoformat()`.
fn local_timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed `tm` we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return utc_timestamp().trim_end_matches("+00:00").to_owned();
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_micros()
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
