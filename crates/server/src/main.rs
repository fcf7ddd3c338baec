//! `switchboard`: the server, and its terminal client (`chat`, `attach`, `sessions`, `abort`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard_client::TerminalCommand;
use switchboard_server::{Application, Overrides, ServerError, Settings};

mod terminal_client;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Run coding agents on a machine you own, from any browser or terminal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve(ServeArgs),
    /// Print the protocol's JSON Schema.
    Schema,
    /// Manage the projects of a running server (add, list, rename, remove).
    Project(switchboard_server::cli::project::ProjectArgs),
    #[command(flatten)]
    Client(TerminalCommand),
    /// Show or rotate the access token kept in the data dir.
    Token {
        #[command(subcommand)]
        action: TokenAction,
        /// The server's data dir [default: the user data dir].
        #[arg(long, value_name = "DIR", global = true)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Print the token.
    Show,
    /// Replace the token with a new one. A running server picks it up within a second and
    /// ends every browser session; clients must use the new token.
    Rotate,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:7420].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Where the database, the token and the config file live [default: the user data dir].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The config file [default: <data-dir>/config.toml; optional].
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The access token [default: generated once and kept in the data dir].
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Register a project directory (repeatable).
    #[arg(long = "project", value_name = "DIR")]
    projects: Vec<PathBuf>,
    /// PEM certificate chain: serve over TLS (with --tls-key).
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow a non-loopback --listen without TLS, because a TLS-terminating proxy is in front.
    #[arg(long)]
    insecure_behind_proxy: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Schema => {
            print!("{}", switchboard_protocol::schema::protocol_schema_json());
            ExitCode::SUCCESS
        }
        Command::Project(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the tokio runtime starts");
            match runtime.block_on(switchboard_server::cli::project::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchboard: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Client(command) => terminal_client::run(command),
        Command::Token { action, data_dir } => match token_command(action, data_dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchboard: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => {
            init_tracing();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("the tokio runtime starts");
            match runtime.block_on(serve(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchboard: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), ServerError> {
    let settings = Settings::load(Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        config: args.config,
        token: args.token,
        projects: args.projects,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        insecure_behind_proxy: args.insecure_behind_proxy,
    })?;
    let mut agents = switchboard_agents::all_agents();
    agents.extend(switchboard_server::model_agents::build(&settings)?);
    let app = Application::build(settings, agents).await?;
    // User-facing output, not logs: the address, and the login URL the one time a token is
    // generated.
    println!(
        "Switchboard listening on {}://{}",
        app.scheme(),
        app.local_addr()
    );
    if !app.local_addr().ip().is_loopback() && app.scheme() == "http" {
        println!(
            "Warning: listening on {} without TLS (--insecure-behind-proxy). Only a TLS-terminating \
             proxy in front keeps the token and your agents' traffic private.",
            app.local_addr()
        );
    }
    if let Some(url) = app.login_url() {
        println!("Open {url} to log in (shown once; the token is kept in the data dir).");
    }
    let stop = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: interrupting live runs and flushing the journal");
        stop.cancel();
    });
    app.run_until_stopped().await
}

/// `switchboard token show|rotate`. Output for the user, on stdout.
fn token_command(action: TokenAction, data_dir: Option<PathBuf>) -> Result<(), ServerError> {
    let settings = Settings::load(Overrides {
        data_dir,
        ..Overrides::default()
    })?;
    let path = settings.token_path();
    match action {
        TokenAction::Show => {
            let text = std::fs::read_to_string(&path).map_err(|source| ServerError::TokenFile {
                path: path.clone(),
                source,
            })?;
            println!("{}", text.trim());
        }
        TokenAction::Rotate => {
            settings.create_data_dir()?;
            switchboard_server::auth::rotate(&path)?;
            println!(
                "A new token is in {}; `switchboard token show` prints it. Browser sessions have ended.",
                path.display()
            );
        }
    }
    Ok(())
}

async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
