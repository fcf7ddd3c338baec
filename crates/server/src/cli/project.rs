//! `switchboard project add|list|remove|rename`: manage a running server's projects through its
//! REST API (`/api/projects`), so the server's store and its in-memory registry change
//! together. `--offline` edits the database directly instead, and only when no server
//! answers at the configured address.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::project_admin::{canonical_project_root, check_display_name};
use switchboard_core::projects::Project;
use switchboard_core::SessionStore;
use switchboard_protocol::api::{ApiError, CreateProject, ProjectInfo, ProjectList, UpdateProject};
use switchboard_store::SqliteStore;

use super::http::{self, HttpError, HttpResponse};
use crate::config::{Overrides, Settings};

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct ProjectArgs {
    #[command(subcommand)]
    pub command: ProjectCommand,
    /// The server, as ADDR:PORT or http://ADDR:PORT [default: `listen` from the config,
    /// else 127.0.0.1:7420].
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub server: Option<String>,
    /// The server's data dir (for its config and token file).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The server's config file [default: <data-dir>/config.toml].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The access token [default: the config's, else <data-dir>/token].
    #[arg(long, global = true, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Edit the database directly (only while the server is stopped).
    #[arg(long, global = true)]
    pub offline: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProjectCommand {
    /// Register a directory as a project.
    Add {
        /// The directory (relative paths are taken from here; symlinks are resolved).
        dir: PathBuf,
        /// Its display name [default: the directory's name].
        #[arg(long)]
        name: Option<String>,
    },
    /// List the registered projects.
    List,
    /// Unregister a project (refused while one of its sessions runs). Its history stays.
    Remove {
        /// The project's id, or its directory.
        project: String,
    },
    /// Change a project's display name.
    Rename {
        /// The project's id, or its directory.
        project: String,
        /// The new display name.
        name: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] crate::error::ServerError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{}: {}", .0.code, .0.message)]
    Api(ApiError),
    #[error("the server answered {status}: {body}")]
    Unexpected { status: u16, body: String },
    #[error("{0}")]
    Usage(String),
    #[error("the database: {0}")]
    Store(String),
}

/// Runs one `switchboard project …` command, printing its result on stdout.
pub async fn run(args: ProjectArgs) -> Result<(), CliError> {
    let settings = Settings::load(Overrides {
        data_dir: args.data_dir.clone(),
        config: args.config.clone(),
        ..Overrides::default()
    })?;
    let addr = server_addr(args.server.as_deref(), &settings)?;
    if args.offline {
        return run_offline(&args, &settings, &addr).await;
    }
    let token = args
        .token
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| settings.client_token(is_local(&addr)))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no token: pass --token, set SWITCHBOARD_TOKEN, or run where {} is readable",
                settings.token_path().display()
            ))
        })?;
    let client = Client { addr, token };
    let out = match &args.command {
        ProjectCommand::Add { dir, name } => {
            let path = absolute(dir)?;
            let body = CreateProject {
                path: path.to_string_lossy().into_owned(),
                display_name: name.clone(),
            };
            let response = client.call("POST", "/api/projects", Some(&body)).await?;
            let project: ProjectInfo = client.expect(response, &[200, 201])?;
            Output::Project("registered", project)
        }
        ProjectCommand::List => {
            let response = client.call::<()>("GET", "/api/projects", None).await?;
            Output::List(client.expect::<ProjectList>(response, &[200])?.projects)
        }
        ProjectCommand::Remove { project } => {
            let id = client.resolve(project).await?;
            let response = client
                .call::<()>("DELETE", &format!("/api/projects/{id}"), None)
                .await?;
            Output::Project("removed", client.expect(response, &[200])?)
        }
        ProjectCommand::Rename { project, name } => {
            let id = client.resolve(project).await?;
            let body = UpdateProject {
                display_name: name.clone(),
            };
            let response = client
                .call("PATCH", &format!("/api/projects/{id}"), Some(&body))
                .await?;
            Output::Project("renamed", client.expect(response, &[200])?)
        }
    };
    out.print(args.json);
    Ok(())
}

struct Client {
    addr: String,
    token: String,
}

impl Client {
    async fn call<B: serde::Serialize>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> Result<HttpResponse, CliError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(http::request(
            &self.addr,
            method,
            path,
            Some(&self.token),
            body.as_deref(),
            TIMEOUT,
        )
        .await?)
    }

    fn expect<T: serde::de::DeserializeOwned>(
        &self,
        response: HttpResponse,
        ok: &[u16],
    ) -> Result<T, CliError> {
        if ok.contains(&response.status) {
            return serde_json::from_slice(&response.body).map_err(|_| CliError::Unexpected {
                status: response.status,
                body: response.text(),
            });
        }
        if response.status == 401 {
            return Err(CliError::Usage(
                "the server refused the token (401); pass the right one with --token".into(),
            ));
        }
        match serde_json::from_slice::<ApiError>(&response.body) {
            Ok(error) => Err(CliError::Api(error)),
            Err(_) => Err(CliError::Unexpected {
                status: response.status,
                body: response.text(),
            }),
        }
    }

    /// A project id as given, or the id of the project registered at a directory.
    async fn resolve(&self, project: &str) -> Result<String, CliError> {
        if crate::api::project_id(project).is_ok() {
            return Ok(project.to_owned());
        }
        let root = canonical_project_root(&absolute(Path::new(project))?)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let response = self.call::<()>("GET", "/api/projects", None).await?;
        let list: ProjectList = self.expect(response, &[200])?;
        list.projects
            .into_iter()
            .find(|p| Path::new(&p.path) == root)
            .map(|p| p.id)
            .ok_or_else(|| {
                CliError::Usage(format!("{} is not a registered project", root.display()))
            })
    }
}

enum Output {
    Project(&'static str, ProjectInfo),
    List(Vec<ProjectInfo>),
}

impl Output {
    fn print(&self, json: bool) {
        match (self, json) {
            (Output::Project(_, p), true) => println!("{}", to_json(p)),
            (Output::List(list), true) => println!(
                "{}",
                to_json(&ProjectList {
                    projects: list.clone()
                })
            ),
            (Output::Project(verb, p), false) => {
                println!(
                    "{verb} {} {:?} at {} (projectName {})",
                    p.id, p.display_name, p.path, p.project_name
                )
            }
            (Output::List(list), false) => {
                if list.is_empty() {
                    println!("no projects registered");
                }
                for p in list {
                    println!(
                        "{}  {}  {}  {}",
                        p.id, p.project_name, p.display_name, p.path
                    );
                }
            }
        }
    }
}

/// One line, like every `--json` output of the terminal client (one object per line).
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("API bodies serialize")
}

/// Whether `HOST:PORT` is on this machine (the terminal client's rule).
fn is_local(addr: &str) -> bool {
    switchboard_client::BaseUrl::parse(addr).is_ok_and(|base| base.is_loopback())
}

/// `HOST:PORT` to connect to.
fn server_addr(given: Option<&str>, settings: &Settings) -> Result<String, CliError> {
    if let Some(given) = given {
        let bare = given
            .strip_prefix("http://")
            .unwrap_or(given)
            .trim_end_matches('/');
        if bare.contains('/') || !bare.contains(':') || given.starts_with("https://") {
            return Err(CliError::Usage(format!(
                "--server must be ADDR:PORT or http://ADDR:PORT, not {given:?}"
            )));
        }
        return Ok(bare.to_owned());
    }
    Ok(settings.local_addr().to_string())
}

fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|e| CliError::Usage(format!("cannot resolve {}: {e}", path.display())))
}

/// The same commands on the database, for a stopped server.
async fn run_offline(args: &ProjectArgs, settings: &Settings, addr: &str) -> Result<(), CliError> {
    if tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .is_ok_and(|c| c.is_ok())
    {
        return Err(CliError::Usage(format!(
            "a server answers at {addr}; stop it first, or leave out --offline"
        )));
    }
    let store = Arc::new(
        SqliteStore::open(&settings.database_path(), settings.durability)
            .map_err(|e| CliError::Store(e.to_string()))?,
    );
    let store_err = |e: switchboard_core::StoreError| CliError::Store(e.to_string());
    let find = |project: &str| -> Result<String, CliError> {
        if crate::api::project_id(project).is_ok() {
            return Ok(project.to_owned());
        }
        let root = canonical_project_root(&absolute(Path::new(project))?)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        store
            .list_projects()
            .map_err(store_err)?
            .into_iter()
            .find(|p| Path::new(&p.path) == root)
            .map(|p| p.id)
            .ok_or_else(|| {
                CliError::Usage(format!("{} is not a registered project", root.display()))
            })
    };
    let info_of = |record: &switchboard_core::store::ProjectRecord| {
        crate::api::projects::info(&Project::from_record(record))
    };
    let out = match &args.command {
        ProjectCommand::Add { dir, name } => {
            let root = canonical_project_root(&absolute(dir)?)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let mut record = Project::record_for(&root);
            if let Some(name) = name {
                record.display_name =
                    check_display_name(name).map_err(|e| CliError::Usage(e.to_string()))?;
            }
            Output::Project(
                "registered",
                info_of(&store.upsert_project(&record).map_err(store_err)?),
            )
        }
        ProjectCommand::List => Output::List(
            store
                .list_projects()
                .map_err(store_err)?
                .iter()
                .map(info_of)
                .collect(),
        ),
        ProjectCommand::Remove { project } => {
            let id = find(project)?;
            let record = store
                .project_by_id(&id, false)
                .map_err(store_err)?
                .ok_or_else(|| CliError::Usage(format!("no project {id}")))?;
            store
                .remove_project(&id, switchboard_protocol::now_ms())
                .map_err(store_err)?;
            Output::Project("removed", info_of(&record))
        }
        ProjectCommand::Rename { project, name } => {
            let id = find(project)?;
            let name = check_display_name(name).map_err(|e| CliError::Usage(e.to_string()))?;
            let record = store
                .rename_project(&id, &name)
                .map_err(store_err)?
                .ok_or_else(|| CliError::Usage(format!("no project {id}")))?;
            Output::Project("renamed", info_of(&record))
        }
    };
    out.print(args.json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let mut settings = Settings::for_data_dir(PathBuf::from("/nonexistent"));
        assert_eq!(server_addr(None, &settings).unwrap(), "127.0.0.1:7420");
        settings.listen = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(server_addr(None, &settings).unwrap(), "127.0.0.1:9000");
        assert_eq!(
            server_addr(Some("http://10.0.0.1:80/"), &settings).unwrap(),
            "10.0.0.1:80"
        );
        assert!(server_addr(Some("https://x:1"), &settings).is_err());
        assert!(server_addr(Some("x"), &settings).is_err());
        assert!(server_addr(Some("http://x:1/api"), &settings).is_err());
    }
}
