//! `switchboard sessions`: the server's sessions, most recently updated first.

use std::io::Write;
use std::path::Path;

use switchboard_protocol::api::{ProjectList, SessionPage, SessionSummary};
use switchboard_protocol::{Provider, RunState};

use super::ConnectArgs;
use crate::error::ClientError;
use crate::exit;
use crate::rest::{self, encode_query_value, Rest};

/// The server's largest page.
const MAX_PAGE: usize = 500;

#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    /// Only this project: its id, or its directory.
    #[arg(long, value_name = "ID|DIR")]
    pub project: Option<String>,
    /// Only these states (comma-separated): queued, running, completed, failed, aborted,
    /// interrupted.
    #[arg(long, value_name = "STATES")]
    pub state: Option<String>,
    /// Only these providers (comma-separated).
    #[arg(long, value_name = "PROVIDERS")]
    pub provider: Option<String>,
    /// At most this many sessions.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn run(rest: &dyn Rest, args: SessionsArgs) -> Result<u8, ClientError> {
    let mut filters = Vec::new();
    if let Some(project) = &args.project {
        filters.push(format!("project={}", resolve_project(rest, project).await?));
    }
    if let Some(states) = &args.state {
        checked_list(states, "state", |s| RunState::parse(s).is_some())?;
        filters.push(format!("state={}", encode_query_value(states)));
    }
    if let Some(providers) = &args.provider {
        checked_list(providers, "provider", |p| Provider::parse(p).is_some())?;
        filters.push(format!("provider={}", encode_query_value(providers)));
    }
    if args.limit == 0 {
        return Err(ClientError::Usage("--limit must be at least 1".into()));
    }
    let mut sessions: Vec<SessionSummary> = Vec::new();
    let mut cursor: Option<String> = None;
    while sessions.len() < args.limit {
        let mut query = filters.clone();
        query.push(format!(
            "limit={}",
            (args.limit - sessions.len()).min(MAX_PAGE)
        ));
        if let Some(cursor) = &cursor {
            query.push(format!("cursor={}", encode_query_value(cursor)));
        }
        let page: SessionPage =
            rest::get_json(rest, &format!("/api/sessions?{}", query.join("&"))).await?;
        sessions.extend(page.sessions);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    sessions.truncate(args.limit);
    print(&sessions, args.connect.json, switchboard_protocol::now_ms())?;
    Ok(exit::OK)
}

/// Refuses a comma-separated list with an unknown member before the server does, with the
/// flag's name.
fn checked_list(list: &str, flag: &str, known: impl Fn(&str) -> bool) -> Result<(), ClientError> {
    match list.split(',').map(str::trim).find(|item| !known(item)) {
        Some(bad) => Err(ClientError::Usage(format!(
            "--{flag}: unknown value {bad:?}"
        ))),
        None => Ok(()),
    }
}

/// A project id as given, or the id of the project registered at a directory.
async fn resolve_project(rest: &dyn Rest, project: &str) -> Result<String, ClientError> {
    if is_uuid(project) {
        return Ok(project.to_owned());
    }
    let dir = std::fs::canonicalize(project)
        .map_err(|e| ClientError::Usage(format!("--project {project}: {e}")))?;
    let list: ProjectList = rest::get_json(rest, "/api/projects").await?;
    list.projects
        .into_iter()
        .find(|p| Path::new(&p.path) == dir)
        .map(|p| p.id)
        .ok_or_else(|| {
            ClientError::Usage(format!(
                "{} is not a registered project (see `switchboard project list`)",
                dir.display()
            ))
        })
}

/// A lowercase hyphenated UUID, the shape of project ids.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

fn print(sessions: &[SessionSummary], json: bool, now_ms: u64) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        for session in sessions {
            let line = serde_json::to_string(session).map_err(std::io::Error::other)?;
            writeln!(out, "{line}")?;
        }
        return out.flush();
    }
    if sessions.is_empty() {
        writeln!(out, "no sessions")?;
        return out.flush();
    }
    writeln!(
        out,
        "{:<36}  {:<10}  {:<11}  {:>8}  PROJECT / TITLE",
        "SESSION", "PROVIDER", "STATE", "UPDATED"
    )?;
    for s in sessions {
        let project = s.project_name.as_deref().unwrap_or("-");
        let title = s
            .title
            .as_deref()
            .map(|t| format!("  {t}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{:<36}  {:<10}  {:<11}  {:>8}  {project}{title}",
            s.session_id.to_string(),
            s.provider.as_str(),
            s.state.as_str(),
            age(now_ms.saturating_sub(s.updated_at)),
        )?;
    }
    out.flush()
}

/// `42s ago`, `5m ago`, `3h ago`, `2d ago`.
fn age(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_ids() {
        assert_eq!(age(5_000), "5s ago");
        assert_eq!(age(120_000), "2m ago");
        assert_eq!(age(7_200_000), "2h ago");
        assert_eq!(age(3 * 86_400_000), "3d ago");
        assert!(is_uuid("0d6f9a52-3c1e-4b7a-9f0e-5a2b8c7d1e34"));
        assert!(!is_uuid("/srv/0d6f9a52-3c1e-4b7a-9f0e-5a2b8c7d1e3"));
        assert!(
            checked_list("completed, failed", "state", |s| RunState::parse(s)
                .is_some())
            .is_ok()
        );
        assert!(checked_list("done", "state", |s| RunState::parse(s).is_some()).is_err());
    }
}
