//! The real `switchboard` binary, started on port 0 in a throw-away data dir, with one
//! registered project directory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::client::WsClient;

#[derive(Default)]
pub struct TestServerOptions {
    /// Extra `config.toml` content.
    pub config: String,
    /// Extra environment for the server (and so for its agents).
    pub env: Vec<(String, String)>,
    /// Let the server generate its token (read back from the data dir) instead of passing one.
    pub generated_token: bool,
    /// Write the server's stderr (its log) to `<data dir>/server.log` instead of inheriting it.
    pub capture_log: bool,
    /// Extra `serve` arguments (for example `--tls-cert`).
    pub args: Vec<String>,
}

pub struct TestServer {
    pub binary: PathBuf,
    pub addr: SocketAddr,
    pub token: String,
    pub data_dir: tempfile::TempDir,
    pub project: tempfile::TempDir,
    /// The server's HOME unless the options set one: the agents' own stores it watches
    /// (`~/.claude`, `~/.codex`, `~/.gemini`) are then the test's, and nothing the machine's
    /// user does there reaches the test's connections.
    pub home: tempfile::TempDir,
    options: TestServerOptions,
    child: Option<Child>,
    /// Every line the server printed on stdout, across restarts.
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TestServer {
    pub fn start(binary: &Path, options: TestServerOptions) -> Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let project = tempfile::tempdir()?;
        let home = tempfile::tempdir()?;
        std::fs::write(data_dir.path().join("config.toml"), &options.config)?;
        let mut server = Self {
            binary: binary.to_owned(),
            addr: "127.0.0.1:0".parse()?,
            token: format!("test-token-{}", uuid::Uuid::new_v4()),
            data_dir,
            project,
            home,
            options,
            child: None,
            stdout: Default::default(),
        };
        server.spawn("127.0.0.1:0")?;
        Ok(server)
    }

    fn spawn(&mut self, listen: &str) -> Result<()> {
        let mut command = Command::new(&self.binary);
        command
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(self.data_dir.path())
            .arg("--project")
            .arg(self.project.path())
            .args(&self.options.args)
            .env("SWITCHBOARD_LOG", "warn")
            .env("HOME", self.home.path())
            .env_remove("SWITCHBOARD_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if !self.options.generated_token {
            command.env("SWITCHBOARD_TOKEN", &self.token);
        }
        if self.options.capture_log {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path())?;
            command.stderr(log);
        } else {
            command.stderr(Stdio::inherit());
        }
        for (k, v) in &self.options.env {
            command.env(k, v);
        }
        let mut child = command.spawn().context("starting switchboard")?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let printed = std::sync::Arc::clone(&self.stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let addr = line
                    .strip_prefix("Switchboard listening on http://")
                    .or_else(|| line.strip_prefix("Switchboard listening on https://"));
                if let Some(addr) = addr {
                    let _ = tx.send(addr.trim().to_owned());
                }
                printed.lock().expect("stdout lines").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| anyhow!("switchboard did not report its address"))?;
        self.addr = addr.parse()?;
        self.child = Some(child);
        if self.options.generated_token {
            self.token = std::fs::read_to_string(self.data_dir.path().join("token"))?
                .trim()
                .to_owned();
        }
        Ok(())
    }

    /// What the server printed on stdout so far (user-facing output, not logs).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lines").clone()
    }

    /// Where the log goes with `capture_log`.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("server.log")
    }

    pub fn project_path(&self) -> &Path {
        self.project.path()
    }

    pub async fn client(&self) -> Result<WsClient> {
        WsClient::connect(self.addr, &self.token).await
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends a signal and waits for the process to exit.
    pub fn stop_with(&mut self, signal: i32) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().ok_or_else(|| anyhow!("not running"))?;
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        for _ in 0..300 {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        bail!("switchboard did not exit within 15 s of signal {signal}")
    }

    /// Starts the binary again on the same data dir and port.
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.stop_with(libc::SIGTERM)?;
        }
        let listen = self.addr.to_string();
        self.spawn(&listen)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
