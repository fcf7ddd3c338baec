//! `fake-cursor-agent`: a scriptable stand-in for Cursor's agent CLI (`cursor-agent`).
//!
//! The real CLI cannot be installed on test machines, so server tests drive this
//! binary instead. It accepts the headless command line the server uses and prints
//! the `--output-format stream-json` event stream (NDJSON, one compact object per
//! line, flushed per line). See `/work/shared/reference/cursor-nano-formats.md`,
//! Part A, for the event shapes being imitated.
//!
//! Behaviour is scripted by directives inside the prompt text: whitespace-separated
//! tokens `key=value` or bare `key`; all other words are ignored. The environment
//! variable `FAKE_CURSOR_SCRIPT` may hold directives too; the prompt wins on
//! conflicts. `--help` lists the directives.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::FromRawFd;
use std::process;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const VERSION: &str = "2026.09.23-fixture";
const STATUS_LINE: &str = "✓ Logged in as fixture@example.com";
const SCRIPT_ENV: &str = "FAKE_CURSOR_SCRIPT";

/// `result.result` keeps only this many trailing bytes of the joined assistant text,
/// so long runs still end with a reasonably sized line.
const RESULT_TAIL_BYTES: usize = 1000;
/// With partial output, each assistant message is streamed as at most this many deltas.
const DELTAS_PER_MESSAGE: usize = 4;
const TOOL_CALL_ID: &str = "toolu_fixture_1";
const TOOL_COMMAND: &str = "echo fixture-ok";

const USAGE: &str = "\
Cursor Agent (fixture: fake-cursor-agent, a scriptable test double)

Usage:
  fake-cursor-agent [--resume=<id> | --resume <id>] -p|--print [--model <m>]
                    --output-format stream-json [--trust] [-f|--force|--yolo]
                    [--stream-partial-output] [--] [<prompt>...]
  fake-cursor-agent status | --help | --version

The prompt is read from stdin (to EOF) when no positional prompt is given.
Only --output-format stream-json is implemented.

Directives (tokens in the prompt or in $FAKE_CURSOR_SCRIPT; the prompt wins):
  lines=N         assistant messages (default 3)
  bytes=B         approximate size of each message text (default 20)
  delay_ms=D      sleep D ms before each message (default 0)
  rate=R          pace messages at R per second, on a schedule kept from the first
                  message (sleep overshoot does not accumulate); for benchmarks
  exit=C          exit with code C after all output
  crash_after=K   die by SIGKILL after K messages, without a result line
  hang            sleep forever after the init/user lines
  ignore_sigint   ignore SIGINT
  ignore_sigterm  ignore SIGTERM
  grandchild      fork a setsid() grandchild that ignores SIGINT/SIGTERM/SIGHUP,
                  writes its pid to pidfile=PATH (required) and sleeps forever
  pidfile=PATH    see grandchild
  stderr=TEXT     print TEXT (underscores become spaces) on stderr
  error_result    end with a result/error line
  no_result       print no result line
  tool            shellToolCall started/completed pair after the first message
  partial         stream messages as deltas (same as --stream-partial-output)
  long_line=B     one extra assistant message of exactly B bytes
  non_json        print the plain line `plain text line` on stdout
  split_writes    write each stdout line in two write() calls, 5 ms apart
  stamp           add \"fixture_ts_ns\" (epoch ns at write time) to assistant lines

Order: init, user, [grandchild], [stderr], [non_json], [hang], messages (tool after
the first), [final partial flush], result.
";

fn main() {
    let args = match std::env::args_os()
        .skip(1)
        .map(|arg| arg.into_string())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(args) => args,
        Err(bad) => usage_error(&format!("argument is not valid UTF-8: {bad:?}")),
    };
    let cli = match parse_args(&args) {
        Ok(Action::Run(cli)) => cli,
        Ok(Action::Print(text)) => {
            write_stdout(text.as_bytes());
            return;
        }
        Err(message) => usage_error(&message),
    };

    let prompt = match cli.prompt {
        Some(prompt) => prompt,
        None => {
            let mut bytes = Vec::new();
            if let Err(err) = io::stdin().read_to_end(&mut bytes) {
                fail(1, &format!("cannot read the prompt from stdin: {err}"));
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let env_script = std::env::var(SCRIPT_ENV).unwrap_or_default();
    let mut script = match Script::parse(&env_script, &prompt) {
        Ok(script) => script,
        Err(message) => usage_error(&message),
    };
    script.partial |= cli.stream_partial_output;

    if script.ignore_sigint {
        ignore_signal(libc::SIGINT);
    }
    if script.ignore_sigterm {
        ignore_signal(libc::SIGTERM);
    }

    let session_id = cli.resume.unwrap_or_else(uuid_v4);
    let model = cli.model.unwrap_or_else(|| "Auto".to_owned());
    let code = Run::new(script, session_id).execute(&prompt, &model);
    process::exit(code);
}

enum Action {
    /// Print this text on stdout and exit 0 (`--help`, `--version`, `status`).
    Print(String),
    Run(Cli),
}

struct Cli {
    resume: Option<String>,
    model: Option<String>,
    stream_partial_output: bool,
    prompt: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Action, String> {
    if matches!(args.first().map(String::as_str), Some("status" | "whoami")) {
        return Ok(Action::Print(format!("{STATUS_LINE}\n")));
    }

    let mut cli = Cli {
        resume: None,
        model: None,
        stream_partial_output: false,
        prompt: None,
    };
    let mut output_format = None;
    let mut positional = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        // `--flag=value` and `--flag value` are both accepted for flags taking a value.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if arg.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| match inline.clone().or_else(|| iter.next().cloned()) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(format!("option {name} requires a value")),
        };
        match flag {
            "-h" | "--help" => return Ok(Action::Print(USAGE.to_owned())),
            "-v" | "--version" => return Ok(Action::Print(format!("{VERSION}\n"))),
            "-p" | "--print" | "--trust" | "-f" | "--force" | "--yolo" => {}
            "--stream-partial-output" => cli.stream_partial_output = true,
            "--model" => cli.model = Some(value("--model")?),
            "--output-format" => output_format = Some(value("--output-format")?),
            "--resume" => {
                let id = value("--resume")?;
                if id.starts_with('-') {
                    return Err(format!("--resume expects a chat id, got {id:?}"));
                }
                cli.resume = Some(id);
            }
            "--" => {
                positional.extend(iter.by_ref().cloned());
                break;
            }
            _ if arg.starts_with('-') && arg != "-" => {
                return Err(format!("unknown option '{arg}'"));
            }
            _ => positional.push(arg.clone()),
        }
    }

    match output_format.as_deref() {
        Some("stream-json") => {}
        Some(other) => {
            return Err(format!(
                "--output-format {other} is not implemented by the fixture (use stream-json)"
            ))
        }
        None => return Err("--output-format stream-json is required by the fixture".to_owned()),
    }
    if !positional.is_empty() {
        cli.prompt = Some(positional.join(" "));
    }
    Ok(Action::Run(cli))
}

/// The directives that drive one run.
#[derive(Debug)]
struct Script {
    lines: usize,
    bytes: usize,
    delay: Duration,
    /// Messages per second (paced against the start), if any.
    rate: Option<f64>,
    exit: Option<i32>,
    crash_after: Option<usize>,
    hang: bool,
    ignore_sigint: bool,
    ignore_sigterm: bool,
    /// Pidfile of the grandchild, when `grandchild` is set.
    grandchild: Option<String>,
    stderr: Option<String>,
    error_result: bool,
    no_result: bool,
    tool: bool,
    partial: bool,
    long_line: Option<usize>,
    non_json: bool,
    split_writes: bool,
    stamp: bool,
}

const VALUE_DIRECTIVES: &[&str] = &[
    "lines",
    "bytes",
    "delay_ms",
    "rate",
    "exit",
    "crash_after",
    "pidfile",
    "stderr",
    "long_line",
];
const FLAG_DIRECTIVES: &[&str] = &[
    "hang",
    "ignore_sigint",
    "ignore_sigterm",
    "grandchild",
    "error_result",
    "no_result",
    "tool",
    "partial",
    "non_json",
    "split_writes",
    "stamp",
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
                // Anything else (including a bare `lines`) is ordinary prompt text.
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

        let grandchild = if flags.contains("grandchild") {
            match values.get("pidfile") {
                Some(path) if !path.is_empty() => Some((*path).to_owned()),
                _ => return Err("directive 'grandchild' requires pidfile=PATH".to_owned()),
            }
        } else {
            None
        };
        Ok(Script {
            lines: number(&values, "lines")?.unwrap_or(3),
            bytes: number(&values, "bytes")?.unwrap_or(20),
            delay: Duration::from_millis(number(&values, "delay_ms")?.unwrap_or(0)),
            rate: match number::<f64>(&values, "rate")? {
                Some(rate) if !(rate.is_finite() && rate > 0.0) => {
                    return Err(format!("directive rate={rate} must be a positive number"))
                }
                rate => rate,
            },
            exit: number::<u8>(&values, "exit")?.map(i32::from),
            crash_after: number(&values, "crash_after")?,
            hang: flags.contains("hang"),
            ignore_sigint: flags.contains("ignore_sigint"),
            ignore_sigterm: flags.contains("ignore_sigterm"),
            grandchild,
            stderr: values.get("stderr").map(|text| text.replace('_', " ")),
            error_result: flags.contains("error_result"),
            no_result: flags.contains("no_result"),
            tool: flags.contains("tool"),
            partial: flags.contains("partial"),
            long_line: number(&values, "long_line")?,
            non_json: flags.contains("non_json"),
            split_writes: flags.contains("split_writes"),
            stamp: flags.contains("stamp"),
        })
    }

    /// The assistant message texts, in order: `lines` padded lines, then the long line.
    fn messages(&self) -> impl Iterator<Item = String> + '_ {
        let normal = (1..=self.lines).map(|i| padded(format!("line {i} "), self.bytes));
        let long = self.long_line.map(|len| {
            let mut text = padded("long line ".to_owned(), len);
            text.truncate(len); // the prefix is ASCII, so any length is a char boundary
            text
        });
        normal.chain(long)
    }
}

/// Pads `prefix` with a repeating `a..z` pattern up to `len` bytes (never shortens it).
/// A recognisable pattern makes interleaved or corrupted output easy to spot.
fn padded(mut prefix: String, len: usize) -> String {
    let pad = (b'a'..=b'z').cycle().map(char::from);
    let missing = len.saturating_sub(prefix.len());
    prefix.extend(pad.take(missing));
    prefix
}

/// State of one print-mode run.
struct Run {
    script: Script,
    session_id: String,
    out: Out,
    started: Instant,
    cwd: String,
    /// Trailing part of all assistant text joined without separator (for `result`).
    joined_tail: String,
    total_text_bytes: usize,
    /// Partial mode: text streamed since the last flush line.
    unflushed: String,
}

impl Run {
    fn new(script: Script, session_id: String) -> Run {
        let out = Out {
            stdout: io::stdout().lock(),
            split_writes: script.split_writes,
        };
        let cwd = std::env::current_dir()
            .map(|dir| dir.to_string_lossy().into_owned())
            .unwrap_or_default();
        Run {
            script,
            session_id,
            out,
            started: Instant::now(),
            cwd,
            joined_tail: String::new(),
            total_text_bytes: 0,
            unflushed: String::new(),
        }
    }

    /// Prints the whole stream and returns the exit code.
    fn execute(mut self, prompt: &str, model: &str) -> i32 {
        let sid = json(&self.session_id);
        self.out.line(&format!(
            r#"{{"type":"system","subtype":"init","apiKeySource":"env","cwd":{},"session_id":{sid},"model":{},"permissionMode":"default"}}"#,
            json(&self.cwd),
            json(model),
        ));
        self.out.line(&format!(
            r#"{{"type":"user","message":{{"role":"user","content":[{{"type":"text","text":{}}}]}},"session_id":{sid}}}"#,
            json(prompt),
        ));

        if let Some(pidfile) = &self.script.grandchild {
            if let Err(message) = spawn_grandchild(pidfile) {
                fail(1, &message);
            }
        }
        if let Some(text) = &self.script.stderr {
            write_stderr(&format!("{text}\n"));
        }
        if self.script.non_json {
            self.out.line("plain text line");
        }
        if self.script.hang {
            sleep_forever();
        }

        let messages: Vec<String> = self.script.messages().collect();
        if messages.is_empty() && self.script.tool {
            self.tool_call();
        }
        let paced_from = Instant::now();
        for (index, text) in messages.iter().enumerate() {
            if self.script.crash_after == Some(index) {
                crash();
            }
            thread::sleep(self.script.delay);
            if let Some(rate) = self.script.rate {
                // Message `index` is due `index / rate` seconds after the first one.
                let due = paced_from + Duration::from_secs_f64(index as f64 / rate);
                thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            self.message(text);
            if index == 0 && self.script.tool {
                self.tool_call();
            }
        }
        if self.script.crash_after.is_some() {
            // crash_after >= number of messages: die after the last one.
            crash();
        }
        if self.script.partial && !self.unflushed.is_empty() {
            // The final flush: repeats the text since the last flush, no timestamp_ms.
            let text = std::mem::take(&mut self.unflushed);
            self.assistant(&text, "");
        }

        if !self.script.no_result {
            let line = if self.script.error_result {
                self.error_result_line()
            } else {
                self.success_result_line(prompt)
            };
            self.out.line(&line);
        }
        self.script.exit.unwrap_or(0)
    }

    /// One assistant message: a single line, or deltas in partial mode.
    fn message(&mut self, text: &str) {
        self.total_text_bytes += text.len();
        self.joined_tail.push_str(text);
        if self.joined_tail.len() > 4 * RESULT_TAIL_BYTES {
            let keep = tail(&self.joined_tail, RESULT_TAIL_BYTES).len();
            self.joined_tail.drain(..self.joined_tail.len() - keep);
        }

        if !self.script.partial {
            self.assistant(text, "");
            return;
        }
        self.unflushed.push_str(text);
        for delta in split_evenly(text, DELTAS_PER_MESSAGE) {
            let extra = format!(r#","timestamp_ms":{}"#, epoch().as_millis());
            self.assistant(delta, &extra);
        }
    }

    /// A shell tool call; in partial mode preceded by the mid-turn flush that carries
    /// both `timestamp_ms` and `model_call_id` (reference A.7).
    fn tool_call(&mut self) {
        if self.script.partial && !self.unflushed.is_empty() {
            let text = std::mem::take(&mut self.unflushed);
            let extra = format!(
                r#","timestamp_ms":{},"model_call_id":{}"#,
                epoch().as_millis(),
                json(&uuid_v4()),
            );
            self.assistant(&text, &extra);
        }
        let sid = json(&self.session_id);
        let args = format!(
            r#"{{"command":{},"workingDirectory":"","timeout":30000}}"#,
            json(TOOL_COMMAND)
        );
        self.out.line(&format!(
            r#"{{"type":"tool_call","subtype":"started","call_id":{},"tool_call":{{"shellToolCall":{{"args":{args}}}}},"session_id":{sid}}}"#,
            json(TOOL_CALL_ID),
        ));
        self.out.line(&format!(
            r#"{{"type":"tool_call","subtype":"completed","call_id":{},"tool_call":{{"shellToolCall":{{"args":{args},"result":{{"success":{{"command":{},"workingDirectory":{},"exitCode":0,"stdout":"fixture-ok\n","stderr":""}}}}}}}},"session_id":{sid}}}"#,
            json(TOOL_CALL_ID),
            json(TOOL_COMMAND),
            json(&self.cwd),
        ));
    }

    /// Writes one `assistant` line; `extra` is inserted after `session_id`.
    fn assistant(&mut self, text: &str, extra: &str) {
        let stamp = if self.script.stamp {
            format!(r#","fixture_ts_ns":{}"#, epoch().as_nanos())
        } else {
            String::new()
        };
        self.out.line(&format!(
            r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"text","text":{}}}]}},"session_id":{}{extra}{stamp}}}"#,
            json(text),
            json(&self.session_id),
        ));
    }

    fn success_result_line(&self, prompt: &str) -> String {
        let millis = self.started.elapsed().as_millis();
        format!(
            r#"{{"type":"result","subtype":"success","duration_ms":{millis},"duration_api_ms":{millis},"is_error":false,"result":{},"session_id":{},"request_id":{},"usage":{{"inputTokens":{},"outputTokens":{},"cacheReadTokens":0,"cacheWriteTokens":0}}}}"#,
            json(tail(&self.joined_tail, RESULT_TAIL_BYTES)),
            json(&self.session_id),
            json(&uuid_v4()),
            prompt.len() / 4 + 1,
            self.total_text_bytes / 4 + 1,
        )
    }

    fn error_result_line(&self) -> String {
        format!(
            r#"{{"type":"result","subtype":"error","is_error":true,"result":"fixture error","session_id":{},"duration_ms":{}}}"#,
            json(&self.session_id),
            self.started.elapsed().as_millis(),
        )
    }
}

/// Stdout with one `write()` per line (two with `split_writes`), flushed every time.
struct Out {
    stdout: io::StdoutLock<'static>,
    split_writes: bool,
}

impl Out {
    fn line(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let result = if self.split_writes {
            // Std's line-buffered stdout holds back the first half (no newline) until
            // the explicit flush, which makes it a write() of its own.
            let (first, second) = bytes.split_at(bytes.len() / 2);
            self.write(first).and_then(|()| {
                thread::sleep(Duration::from_millis(5));
                self.write(second)
            })
        } else {
            self.write(&bytes)
        };
        if let Err(err) = result {
            // Typically EPIPE: the reader went away. Nothing useful is left to do.
            fail(1, &format!("cannot write to stdout: {err}"));
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stdout.write_all(bytes)?;
        self.stdout.flush()
    }
}

fn write_stdout(bytes: &[u8]) {
    let mut stdout = io::stdout().lock();
    // If stdout is gone there is nobody to tell; the exit code is still 0 like the CLI.
    let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
}

fn write_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

fn fail(code: i32, message: &str) -> ! {
    write_stderr(&format!("fake-cursor-agent: {message}\n"));
    process::exit(code);
}

fn usage_error(message: &str) -> ! {
    fail(2, &format!("{message} (see --help)"));
}

/// A JSON string literal for `text`.
fn json(text: &str) -> String {
    serde_json::to_string(text).expect("serializing a str cannot fail")
}

/// The last at most `max` bytes of `text`, starting on a char boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Splits `text` into at most `parts` non-empty pieces of roughly equal size.
fn split_evenly(text: &str, parts: usize) -> Vec<&str> {
    let size = text.len().div_ceil(parts).max(1);
    let mut pieces = Vec::with_capacity(parts);
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = size.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

fn epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A random version-4 UUID, lowercase and hyphenated, from /dev/urandom.
fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    if let Err(err) = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        fail(1, &format!("cannot read /dev/urandom: {err}"));
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
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

fn ignore_signal(signal: libc::c_int) {
    // SAFETY: installing SIG_IGN has no handler code and no preconditions.
    unsafe {
        libc::signal(signal, libc::SIG_IGN);
    }
}

fn sleep_forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// Dies by SIGKILL: a crash by signal without a core dump (core_pattern may write
/// `core` files into the test's working directory, which SIGABRT/SIGSEGV would do).
fn crash() -> ! {
    // SAFETY: plain syscalls on our own pid.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    unreachable!("SIGKILL cannot be caught");
}

/// Forks a grandchild that escapes into its own session, survives SIGINT/SIGTERM/SIGHUP,
/// records its pid in `pidfile` and sleeps forever: the kind of leftover process a
/// server must still clean up. Returns once the pidfile is in place, so a test may read
/// it as soon as the first assistant line arrives.
fn spawn_grandchild(pidfile: &str) -> Result<(), String> {
    // Everything the child needs is prepared before fork(), so the child branch only
    // makes plain syscalls.
    let to_cstring = |path: String| {
        CString::new(path).map_err(|_| format!("pidfile path contains NUL: {pidfile:?}"))
    };
    let path = to_cstring(pidfile.to_owned())?;
    let tmp = to_cstring(format!("{pidfile}.tmp"))?;

    // The child reports success by writing one byte to this pipe before closing it.
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element buffer.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", io::Error::last_os_error()));
    }
    let [read_fd, write_fd] = fds;

    // SAFETY: this process is single-threaded, so the child may run arbitrary code;
    // it still sticks to raw syscalls and never returns into main.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", io::Error::last_os_error())),
        0 => {
            // SAFETY: closing our copy of the read end.
            unsafe { libc::close(read_fd) };
            grandchild_main(&path, &tmp, write_fd)
        }
        _ => {
            // SAFETY: closing our copy of the write end; the read end is owned by `File`.
            unsafe { libc::close(write_fd) };
            let mut report = Vec::new();
            let mut pipe = unsafe { File::from_raw_fd(read_fd) };
            // Returns at EOF, i.e. when the grandchild closed its end (or died).
            pipe.read_to_end(&mut report)
                .map_err(|err| format!("reading grandchild status: {err}"))?;
            if report == b"1" {
                Ok(())
            } else {
                Err(format!("grandchild could not write pidfile {pidfile:?}"))
            }
        }
    }
}

fn grandchild_main(path: &CString, tmp: &CString, status_fd: libc::c_int) -> ! {
    // SAFETY: raw syscalls on valid NUL-terminated paths and buffers we own.
    unsafe {
        libc::setsid();
        // Do not hold the parent's stdout/stderr pipes open: the server would never
        // see EOF on them while this process lives.
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(signal, libc::SIG_IGN);
        }

        let mut digits = [0u8; 24];
        let len = format_decimal(libc::getpid().unsigned_abs(), &mut digits);
        let mut ok = false;
        let fd = libc::open(
            tmp.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        );
        if fd >= 0 {
            let written = libc::write(fd, digits.as_ptr().cast(), len);
            ok = written == len as isize;
            ok &= libc::close(fd) == 0;
            // rename() makes the pidfile appear complete or not at all.
            ok &= libc::rename(tmp.as_ptr(), path.as_ptr()) == 0;
        }
        if ok {
            libc::write(status_fd, b"1".as_ptr().cast(), 1);
        }
        libc::close(status_fd);
        if !ok {
            libc::_exit(1);
        }
        loop {
            libc::sleep(3600);
        }
    }
}

/// Writes `value` in decimal plus a newline into `buf` without allocating; returns
/// the length.
fn format_decimal(mut value: u32, buf: &mut [u8; 24]) -> usize {
    let mut reversed = [0u8; 10];
    let mut count = 0;
    loop {
        reversed[count] = b'0' + (value % 10) as u8;
        count += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for (slot, digit) in buf.iter_mut().zip(reversed[..count].iter().rev()) {
        *slot = *digit;
    }
    buf[count] = b'\n';
    count + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_a_positive_number() {
        let script = Script::parse("", "lines=5 rate=2500.5").unwrap();
        assert_eq!(script.rate, Some(2500.5));
        assert_eq!(Script::parse("", "lines=5").unwrap().rate, None);
        assert!(Script::parse("", "rate=0").is_err());
        assert!(Script::parse("", "rate=-3").is_err());
        assert!(Script::parse("", "rate=fast").is_err());
    }
}
