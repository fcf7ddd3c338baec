//! `/api/projects`: the project registry.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use switchboard_core::projects::Project;
use switchboard_core::store::SessionQuery;
use switchboard_protocol::api::{
    ApiErrorCode, CreateProject, DiscoveredProject, DiscoveredProjects, ProjectInfo, ProjectList,
    ProjectSession, ProjectSessions, SessionSource, SessionSummary, UpdateProject,
};
use switchboard_protocol::Provider;

use super::discovery::AgentSession;
use super::{path_param, project_id, ApiResult, Params, Refusal};
use crate::app::AppState;

pub fn info(project: &Project) -> ProjectInfo {
    ProjectInfo {
        id: project.id.clone(),
        display_name: project.display_name.clone(),
        path: project.root.to_string_lossy().into_owned(),
        project_name: project.project_name.clone(),
        created_at: project.created_at,
    }
}

/// A JSON body: `bad-json` when it does not parse, `invalid-field` when it does not fit.
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    if body.is_empty() {
        return Err(Refusal::new(
            ApiErrorCode::BadJson,
            "the request needs a JSON body",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::new(ApiErrorCode::BadJson, format!("the body is not JSON: {e}")))?;
    serde_json::from_value(value).map_err(|e| Refusal::invalid(e.to_string()))
}

/// `GET /api/projects`: every registered project, oldest first.
pub async fn list(State(state): State<AppState>) -> Json<ProjectList> {
    let mut projects = state.registry.projects().list();
    projects.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Json(ProjectList {
        projects: projects.iter().map(info).collect(),
    })
}

/// `POST /api/projects {path, displayName?}`: 201 with the new project, or 200 with the one
/// already registered at that path.
pub async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let request: CreateProject = json_body(&body)?;
    let (project, created) = state
        .registry
        .add_project(
            std::path::Path::new(&request.path),
            request.display_name.as_deref(),
        )
        .await?;
    if created {
        tracing::info!(project = %project.root.display(), id = %project.id, "project registered");
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/projects/{}", project.id);
    Ok((status, [(header::LOCATION, location)], Json(info(&project))).into_response())
}

/// `GET /api/projects/{id}`.
pub async fn show(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<ProjectInfo>> {
    let id = project_id(&path_param(path)?)?;
    let project = state
        .registry
        .projects()
        .by_id(&id)
        .ok_or_else(|| Refusal::unknown_project(&id))?;
    Ok(Json(info(&project)))
}

/// `PATCH /api/projects/{id} {displayName}`.
pub async fn rename(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> ApiResult<Json<ProjectInfo>> {
    let id = project_id(&path_param(path)?)?;
    let request: UpdateProject = json_body(&body)?;
    let project = state
        .registry
        .rename_project(&id, &request.display_name)
        .await?;
    Ok(Json(info(&project)))
}

/// `DELETE /api/projects/{id}`: 200 with the removed project; 409 `project-busy` while one
/// of its sessions has a live run.
pub async fn remove(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<ProjectInfo>> {
    let id = project_id(&path_param(path)?)?;
    let project = state.registry.remove_project(&id).await?;
    tracing::info!(project = %project.root.display(), id = %project.id, "project removed");
    Ok(Json(info(&project)))
}

/// `GET /api/projects/discovered?limit=`: directories where the agents have sessions but that
/// are not inside a registered project, most recent activity first. Suggestions only:
/// nothing is registered until someone `POST`s one.
pub async fn discovered(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<DiscoveredProjects>> {
    let params = Params::parse(query, &["limit"])?;
    let limit = params.limit(100, 1000)?;
    let roots: Vec<PathBuf> = state
        .registry
        .projects()
        .list()
        .into_iter()
        .map(|p| p.root)
        .collect();
    let discovery = Arc::clone(&state.api.discovery);
    let projects = tokio::task::spawn_blocking(move || {
        let mut groups: BTreeMap<PathBuf, DiscoveredProject> = BTreeMap::new();
        for session in discovery.sessions().iter() {
            let Some(dir) = session.directory().filter(|d| d.is_absolute()) else {
                continue;
            };
            if roots.iter().any(|root| dir.starts_with(root)) {
                continue;
            }
            let entry = groups
                .entry(dir.clone())
                .or_insert_with(|| DiscoveredProject {
                    path: dir.to_string_lossy().into_owned(),
                    exists: dir.is_dir(),
                    providers: Vec::new(),
                    session_count: 0,
                    last_activity: None,
                    suggested_name: dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| dir.to_string_lossy().into_owned()),
                });
            entry.session_count += 1;
            if !entry.providers.contains(&session.provider) {
                entry.providers.push(session.provider);
            }
            entry.last_activity = entry.last_activity.max(session.summary.last_activity);
        }
        let mut projects: Vec<DiscoveredProject> = groups.into_values().collect();
        for p in &mut projects {
            p.providers.sort_by_key(|p| p.as_str());
        }
        projects.sort_by(|a, b| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| a.path.cmp(&b.path))
        });
        projects.truncate(limit);
        projects
    })
    .await
    .map_err(Refusal::internal)?;
    Ok(Json(DiscoveredProjects { projects }))
}

/// `GET /api/projects/{id}/sessions?limit=`: the project's conversations from every source —
/// Switchboard's journal and the agents' own stores — merged by the provider's own id, most
/// recent activity first. A conversation found only in an agent's store has no `sessionId`
/// and no `state`; it is resumed by sending a command with `options.sessionId` set to its
/// `providerSessionId`.
pub async fn sessions(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<ProjectSessions>> {
    let id = project_id(&path_param(path)?)?;
    let params = Params::parse(query, &["limit"])?;
    let limit = params.limit(200, 1000)?;
    let project = state
        .registry
        .project(&id, true)
        .await?
        .ok_or_else(|| Refusal::unknown_project(&id))?;
    let records = state
        .registry
        .list_session_records(SessionQuery {
            project_id: Some(id),
            states: Vec::new(),
            providers: Vec::new(),
            after: None,
            limit,
        })
        .await?;
    let ours: Vec<(SessionSummary, String)> = records
        .iter()
        .map(|r| (state.registry.summary(r), r.cwd.clone()))
        .collect();
    let discovery = Arc::clone(&state.api.discovery);
    let root = project.root.clone();
    let theirs = tokio::task::spawn_blocking(move || discovery.sessions_in(&root))
        .await
        .map_err(Refusal::internal)?;
    let mut sessions = merge(ours, &theirs);
    sessions.truncate(limit);
    Ok(Json(ProjectSessions { sessions }))
}

fn merge(ours: Vec<(SessionSummary, String)>, theirs: &[Arc<AgentSession>]) -> Vec<ProjectSession> {
    let mut merged: Vec<ProjectSession> = Vec::new();
    let mut by_native: HashMap<(Provider, String), usize> = HashMap::new();
    for (summary, cwd) in ours {
        if let Some(native) = &summary.provider_session_id {
            by_native.insert((summary.provider, native.clone()), merged.len());
        }
        merged.push(ProjectSession {
            provider: summary.provider,
            session_id: Some(summary.session_id),
            provider_session_id: summary.provider_session_id.clone(),
            title: None,
            last_activity: Some(summary.updated_at),
            message_count: None,
            state: Some(summary.state),
            cwd: Some(cwd),
            sources: vec![SessionSource::Switchboard],
        });
    }
    for session in theirs {
        let s = &session.summary;
        let key = (session.provider, s.native_id.clone());
        let at = match by_native.get(&key) {
            Some(&at) => at,
            None => {
                by_native.insert(key, merged.len());
                merged.push(ProjectSession {
                    provider: session.provider,
                    session_id: None,
                    provider_session_id: Some(s.native_id.clone()),
                    title: None,
                    last_activity: None,
                    message_count: None,
                    state: None,
                    cwd: None,
                    sources: Vec::new(),
                });
                merged.len() - 1
            }
        };
        let entry = &mut merged[at];
        entry.title = entry.title.take().or_else(|| s.title.clone());
        entry.message_count = Some(entry.message_count.unwrap_or(0).max(s.messages));
        entry.last_activity = entry.last_activity.max(s.last_activity);
        if entry.cwd.is_none() {
            entry.cwd = session
                .directory()
                .map(|d| d.to_string_lossy().into_owned());
        }
        if !entry.sources.contains(&session.source) {
            entry.sources.push(session.source);
        }
    }
    merged.sort_by(|a, b| {
        b.last_activity
            .cmp(&a.last_activity)
            .then_with(|| a.provider_session_id.cmp(&b.provider_session_id))
    });
    merged
}
