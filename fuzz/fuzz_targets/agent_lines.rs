//! Every provider's line parser on arbitrary output: split the input into lines, feed them
//! to each parser as stdout and stderr, then ask for the verdict. Nothing may panic, and every
//! raw value a parser keeps must be valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_agent_api::AgentOutput;
use switchboard_agents::claude::ClaudeParser;
use switchboard_agents::codex::CodexParser;
use switchboard_agents::cursor::CursorParser;
use switchboard_agents::gemini::GeminiParser;
use switchboard_agents::nano::NanoParser;
use switchboard_agents::supervisor::OutputParser;

fuzz_target!(|data: &[u8]| {
    let (stdin, _keep) = tokio::sync::mpsc::channel(4096);
    let parsers: Vec<Box<dyn OutputParser>> = vec![
        Box::new(ClaudeParser::new(stdin, None)),
        Box::new(CodexParser::default()),
        Box::new(CursorParser::default()),
        Box::new(GeminiParser::default()),
        Box::new(NanoParser::default()),
    ];
    for mut parser in parsers {
        for line in data.split(|b| *b == b'\n') {
            let mut out = Vec::new();
            parser.stdout_line(line, &mut out);
            for output in &out {
                if let AgentOutput::Line(line) = output {
                    assert!(serde_json::from_str::<serde_json::Value>(line.raw.get()).is_ok());
                }
            }
            parser.stderr_line(&String::from_utf8_lossy(line), &mut out);
        }
        let _ = parser.finish(Some(1), None, None);
    }
});
