//! Part of the `switchboard` binary (declared in `main.rs`): the glue between the binary and
//! the terminal client library (`switchboard-client`). It finds the server and its token the
//! way `switchboard project` does (the flags, `SWITCHBOARD_TOKEN`, the config, the data dir)
//! and lends the client the server crate's HTTP client for the REST calls.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::future::BoxFuture;
use switchboard_client::{
    exit, BaseUrl, ClientError, ConnectArgs, Rest, RestResponse, ServerTarget, TerminalCommand,
};
use switchboard_server::cli::http;
use switchboard_server::{Overrides, Settings};

const REST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one terminal-client command to its exit code.
pub fn run(command: TerminalCommand) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let result = resolve(command.connect()).and_then(|target| {
        let rest = HttpRest {
            target: target.clone(),
        };
        runtime.block_on(command.run(target, &rest))
    });
    // A permission prompt may still wait on the terminal; it must not keep the process.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("switchboard: {e}");
            ExitCode::from(exit::for_error(&e))
        }
    }
}

/// The server and token: `--server`, else the config's `listen`; `--token` or
/// `SWITCHBOARD_TOKEN`, else the config's token, else the data dir's token file, which is read
/// only for a server on this machine.
fn resolve(args: &ConnectArgs) -> Result<ServerTarget, ClientError> {
    let given_token = args.token.clone().filter(|t| !t.trim().is_empty());
    // The local config is read only when something must come from it, so that a bad or
    // missing local setup does not get in the way of reaching another server.
    let settings = if args.server.is_none() || given_token.is_none() {
        Some(
            Settings::load(Overrides {
                data_dir: args.data_dir.clone(),
                config: args.config.clone(),
                ..Overrides::default()
            })
            .map_err(|e| ClientError::Usage(e.to_string()))?,
        )
    } else {
        None
    };
    let base = match (&args.server, &settings) {
        (Some(server), _) => BaseUrl::parse(server)?,
        (None, Some(settings)) => local_base(settings),
        (None, None) => unreachable!("the settings are loaded when no --server is given"),
    };
    let token = match (given_token, &settings) {
        (Some(token), _) => token,
        (None, None) => unreachable!("the settings are loaded when no token is given"),
        (None, Some(settings)) => settings.client_token(base.is_loopback()).ok_or_else(|| {
            ClientError::Usage(if base.is_loopback() {
                format!(
                    "no token: set SWITCHBOARD_TOKEN, pass --token, or run where {} is readable",
                    settings.token_path().display()
                )
            } else {
                format!(
                    "no token for {}: set SWITCHBOARD_TOKEN or pass --token",
                    base.http_url()
                )
            })
        })?,
    };
    Ok(ServerTarget { base, token })
}

/// The server this machine's config describes.
fn local_base(settings: &Settings) -> BaseUrl {
    let addr = settings.local_addr();
    let host = match addr {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    };
    BaseUrl {
        tls: settings.tls.is_some(),
        host,
        port: addr.port(),
    }
}

struct HttpRest {
    target: ServerTarget,
}

impl Rest for HttpRest {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<RestResponse, ClientError>> {
        Box::pin(async move {
            let base = &self.target.base;
            if base.tls {
                return Err(ClientError::TlsUnsupported {
                    url: base.http_url(),
                });
            }
            let response = http::request(
                &base.authority(),
                "GET",
                path,
                Some(&self.target.token),
                None,
                REST_TIMEOUT,
            )
            .await
            .map_err(|e| ClientError::Connect {
                url: base.http_url(),
                detail: e.to_string(),
            })?;
            Ok(RestResponse {
                status: response.status,
                body: response.body,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(data_dir: &std::path::Path, server: Option<&str>, token: Option<&str>) -> ConnectArgs {
        ConnectArgs {
            server: server.map(str::to_owned),
            token: token.map(str::to_owned),
            data_dir: Some(data_dir.to_owned()),
            config: None,
            json: false,
        }
    }

    #[test]
    fn the_token_file_is_read_only_for_a_local_server() {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(
            data.path().join("config.toml"),
            "listen = \"0.0.0.0:9100\"\ninsecure_behind_proxy = true\n",
        )
        .unwrap();
        std::fs::write(data.path().join("token"), "from-file\n").unwrap();

        let local = resolve(&args(data.path(), None, None)).unwrap();
        assert_eq!(local.base.ws_url(), "ws://127.0.0.1:9100/ws");
        assert_eq!(local.token, "from-file");

        let given = resolve(&args(data.path(), Some("http://10.1.2.3:80"), Some("t"))).unwrap();
        assert_eq!(
            (given.base.authority().as_str(), given.token.as_str()),
            ("10.1.2.3:80", "t")
        );

        match resolve(&args(data.path(), Some("http://10.1.2.3:80"), None)) {
            Err(ClientError::Usage(m)) => assert!(m.contains("SWITCHBOARD_TOKEN"), "{m}"),
            other => panic!("{other:?}"),
        }
        // An empty token counts as none.
        let local = resolve(&args(data.path(), Some("localhost:9100"), Some(" "))).unwrap();
        assert_eq!(local.token, "from-file");
    }
}
