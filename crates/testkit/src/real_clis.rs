//! The real agent CLIs (`claude`, `codex`, `gemini`, installed from npm by
//! `scripts/install-agent-clis.sh`) pointed at a scripted model API, in a private HOME.
//!
//! Every test that runs a real CLI needs the same things: a HOME of its own (so the CLIs'
//! session stores are the test's and nothing of the user's leaks in), config files that make
//! codex and gemini talk to the scripted server without logging in, and environment that
//! keeps the CLIs off the network (no telemetry, no update checks). This module is the one
//! place that knows those details.

use std::path::{Path, PathBuf};

/// The three CLIs installed from npm.
pub const REAL_CLIS: [&str; 3] = ["claude", "codex", "gemini"];

/// The installed binary of one real CLI (`claude`, `codex` or `gemini`).
///
/// Panics with the command to run when it is missing: a test that needs a real CLI must not
/// pass quietly without one.
pub fn real_cli(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/agent-clis/node_modules/.bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-agent-clis.sh",
        path.display()
    );
    path
}

/// A private HOME for the real CLIs, removed when dropped.
pub struct RealCliHome {
    home: tempfile::TempDir,
    model_url: String,
}

impl RealCliHome {
    /// A HOME whose CLIs send their model requests to `model_url` (the scripted model server's
    /// base URL, without `/v1`).
    pub fn new(prefix: &str, model_url: &str) -> std::io::Result<Self> {
        // Codex refuses helper binaries under /tmp, so the HOME lives in /var/tmp.
        let home = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in("/var/tmp")?;
        let h = home.path();
        std::fs::create_dir_all(h.join("tmp"))?;
        std::fs::create_dir_all(h.join(".codex"))?;
        std::fs::write(
            h.join(".codex/config.toml"),
            format!(
                "model_provider = \"fake\"\ncheck_for_update_on_startup = false\n\n\
                 [model_providers.fake]\nname = \"fake\"\nbase_url = \"{model_url}/v1\"\n\
                 wire_api = \"responses\"\nenv_key = \"FAKE_API_KEY\"\n"
            ),
        )?;
        std::fs::create_dir_all(h.join(".gemini"))?;
        std::fs::write(
            h.join(".gemini/settings.json"),
            r#"{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false},"general":{"enableAutoUpdate":false,"enableAutoUpdateNotification":false}}"#,
        )?;
        Ok(Self {
            home,
            model_url: model_url.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    /// The environment for a CLI (or for a server whose agents are these CLIs): HOME, the
    /// scripted API's address and fake keys, no telemetry or update checks, and
    /// `SWITCHBOARD_<CLI>_BIN` for each of the three.
    pub fn env(&self) -> Vec<(String, String)> {
        let home = self.path().to_string_lossy().into_owned();
        let tmp = self.path().join("tmp").to_string_lossy().into_owned();
        let url = self.model_url.as_str();
        let mut env: Vec<(String, String)> = [
            ("HOME", home.as_str()),
            ("TMPDIR", tmp.as_str()),
            ("CLAUDE_CODE_TMPDIR", tmp.as_str()),
            ("ANTHROPIC_BASE_URL", url),
            ("ANTHROPIC_API_KEY", "sk-ant-fake"),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
            ("FAKE_API_KEY", "sk-fake"),
            ("GEMINI_API_KEY", "fake"),
            ("GOOGLE_GEMINI_BASE_URL", url),
            ("GEMINI_CLI_TRUST_WORKSPACE", "true"),
            ("GEMINI_CLI_NO_RELAUNCH", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for name in REAL_CLIS {
            env.push((
                format!("SWITCHBOARD_{}_BIN", name.to_uppercase()),
                real_cli(name).to_string_lossy().into_owned(),
            ));
        }
        env
    }
}
