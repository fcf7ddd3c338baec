//! `scripted-model-server`: the test kit's scripted model API as a standalone process, for
//! driving real agent CLIs by hand or from shell scripts.
//!
//! It runs with an empty script, so every answer comes from the prompt markers (`[tool]`,
//! `[error]`, `[slow]`; otherwise `Hello from fake <api>! (turn N) …`). See
//! `switchboard_testkit::model_server` for the APIs it speaks.
//!
//! Usage: `scripted-model-server [--port N] [--port-file PATH]`. The port (0 by default
//! picks a free one) is printed on stdout and, with `--port-file`, written to PATH once the
//! socket is bound. Runs until interrupted or killed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use switchboard_testkit::model_server::{ModelServer, Script};

const USAGE: &str = "usage: scripted-model-server [--port N] [--port-file PATH]";

struct Args {
    port: u16,
    port_file: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        port: 0,
        port_file: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        // Accept both `--port N` and `--port=N`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = |flag: &str| {
            inline
                .clone()
                .or_else(|| argv.next())
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let text = value("--port")?;
                args.port = text.parse().with_context(|| format!("bad port {text:?}"))?;
            }
            "--port-file" => args.port_file = Some(value("--port-file")?.into()),
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(args))
}

/// Writes the port via a temporary file and a rename, so a script polling for the file
/// never reads it half-written.
fn write_port_file(path: &PathBuf, port: u16) -> anyhow::Result<()> {
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    std::fs::write(&tmp, port.to_string()).with_context(|| format!("writing {tmp:?}"))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {path:?}"))?;
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let server = ModelServer::start_on(args.port, Script::new()).await?;
    if let Some(path) = &args.port_file {
        write_port_file(path, server.addr().port())?;
    }
    println!("scripted model server on {}", server.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("scripted-model-server: {err:#}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("scripted-model-server: {err:#}");
            ExitCode::FAILURE
        }
    }
}
