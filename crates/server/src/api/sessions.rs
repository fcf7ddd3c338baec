//! `/api/sessions`: session history, paged.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::value::RawValue;
use switchboard_core::store::SessionQuery;
use switchboard_protocol::api::{
    ApiErrorCode, SessionDetail, SessionPage, SessionSummary, Transcript,
};
use switchboard_protocol::{Provider, RunState, SessionId};

use super::discovery::is_native_id;
use super::{path_param, project_id, session_id, ApiResult, Params, Refusal};
use crate::app::AppState;

/// Sessions per page: default and most.
pub const DEFAULT_SESSIONS: usize = 50;
pub const MAX_SESSIONS: usize = 500;
/// Frames per events page: default and most.
pub const DEFAULT_EVENTS: usize = 500;
pub const MAX_EVENTS: usize = 5000;
/// An events page stops growing past this many bytes of frames (it always holds at least
/// one frame when there is one).
pub const MAX_EVENTS_BYTES: usize = 8 * 1024 * 1024;

/// `GET /api/sessions?project=&state=&provider=&cursor=&limit=`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<SessionPage>> {
    let params = Params::parse(query, &["project", "state", "provider", "cursor", "limit"])?;
    let limit = params.limit(DEFAULT_SESSIONS, MAX_SESSIONS)?;
    let project = match params.get(&["project"]) {
        Some(raw) => {
            let id = project_id(raw)?;
            // Sessions of a removed project are still history.
            if state.registry.project(&id, true).await?.is_none() {
                return Err(Refusal::unknown_project(&id));
            }
            Some(id)
        }
        None => None,
    };
    let states = list_of(params.get(&["state"]), "state", RunState::parse)?;
    let providers = list_of(params.get(&["provider"]), "provider", Provider::parse)?;
    let after = params.get(&["cursor"]).map(decode_cursor).transpose()?;
    let mut sessions = state
        .registry
        .list_sessions(SessionQuery {
            project_id: project,
            states,
            providers,
            after,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if sessions.len() > limit {
        sessions.truncate(limit);
        sessions.last().map(encode_cursor)
    } else {
        None
    };
    add_titles(&state, &mut sessions).await?;
    Ok(Json(SessionPage {
        sessions,
        next_cursor,
    }))
}

/// A comma-separated list of values of one kind.
fn list_of<T>(raw: Option<&str>, name: &str, parse: fn(&str) -> Option<T>) -> ApiResult<Vec<T>> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(|item| {
            parse(item.trim()).ok_or_else(|| {
                Refusal::invalid(format!(
                    "unknown {name} {:?}",
                    item.chars().take(40).collect::<String>()
                ))
            })
        })
        .collect()
}

/// Cursors are opaque to clients: `v1.<updatedAt>.<sessionId>` of the last session of a page.
fn encode_cursor(last: &SessionSummary) -> String {
    format!("v1.{}.{}", last.updated_at, last.session_id)
}

fn decode_cursor(raw: &str) -> ApiResult<(u64, SessionId)> {
    let bad = || Refusal::invalid("cursor is not one this server issued");
    let rest = raw.strip_prefix("v1.").ok_or_else(bad)?;
    let (at, id) = rest.split_once('.').ok_or_else(bad)?;
    let at = at.parse::<u64>().map_err(|_| bad())?;
    let id = SessionId::parse(id).ok_or_else(bad)?;
    Ok((at, id))
}

/// `GET /api/sessions/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<SessionDetail>> {
    let raw = path_param(path)?;
    let id = session_id(&raw)?;
    let mut detail = state
        .registry
        .session_detail(id)
        .await?
        .ok_or_else(|| Refusal::unknown_session(&raw))?;
    add_titles(&state, std::slice::from_mut(&mut detail.summary)).await?;
    Ok(Json(detail))
}

/// The providers whose own stores are read.
const STORE_PROVIDERS: [Provider; 3] = [Provider::Claude, Provider::Codex, Provider::Gemini];

/// Titles from the agents' own stores, for the sessions they know.
async fn add_titles(state: &AppState, sessions: &mut [SessionSummary]) -> ApiResult<()> {
    let keys: Vec<(Provider, String)> = sessions
        .iter()
        .filter(|s| STORE_PROVIDERS.contains(&s.provider))
        .filter_map(|s| Some((s.provider, s.provider_session_id.clone()?)))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let discovery = Arc::clone(&state.api.discovery);
    let found = tokio::task::spawn_blocking(move || {
        let found = discovery.lookup(&keys);
        keys.into_iter().zip(found).collect::<HashMap<_, _>>()
    })
    .await
    .map_err(Refusal::internal)?;
    for s in sessions.iter_mut() {
        if let Some(native) = &s.provider_session_id {
            if let Some(Some(agent)) = found.get(&(s.provider, native.clone())) {
                s.title = agent.summary.title.clone();
            }
        }
    }
    Ok(())
}

/// `GET /api/sessions/{id}/transcript?provider=`: the normalized conversation of a session
/// found in an agent's own store (Claude Code, Codex, Gemini CLI). `{id}` is our session id
/// (its provider and native id are used) or a provider's native id, as listed by
/// `GET /api/projects/{id}/sessions`; `provider` narrows a native id.
pub async fn transcript(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<Transcript>> {
    let raw = path_param(path)?;
    let params = Params::parse(query, &["provider"])?;
    let wanted = list_of(params.get(&["provider"]), "provider", Provider::parse)?;
    let mut keys: Vec<(Provider, String)> = Vec::new();
    if let Some(id) = SessionId::parse(&raw) {
        if let Some(record) = state.registry.session_record(id).await? {
            let native = record.native_id.clone().ok_or_else(|| {
                Refusal::new(
                    ApiErrorCode::UnknownSession,
                    format!("session {raw} has no native id yet, so no agent store has it"),
                )
            })?;
            keys.push((record.provider, native));
        }
    }
    if keys.is_empty() {
        if !is_native_id(&raw) {
            return Err(Refusal::invalid(format!(
                "{:?} is neither a session id nor a provider's session id",
                raw.chars().take(80).collect::<String>()
            )));
        }
        for provider in STORE_PROVIDERS {
            if wanted.is_empty() || wanted.contains(&provider) {
                keys.push((provider, raw.clone()));
            }
        }
    }
    let discovery = Arc::clone(&state.api.discovery);
    let transcript = tokio::task::spawn_blocking(move || {
        let session = discovery.lookup(&keys).into_iter().flatten().next()?;
        Some(discovery.transcript(&session))
    })
    .await
    .map_err(Refusal::internal)?;
    match transcript {
        Some(Ok(t)) => Ok(Json(t)),
        Some(Err(e)) => Err(Refusal::internal(format!(
            "cannot read the agent's session file: {e}"
        ))),
        None => Err(Refusal::new(
            ApiErrorCode::UnknownSession,
            format!("no agent store has a session {raw:?}"),
        )),
    }
}

/// The events page, with the frames spliced in as they are stored.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventsOut<'a> {
    events: Vec<&'a RawValue>,
    next_after_seq: u64,
    has_more: bool,
}

/// `GET /api/sessions/{id}/events?after_seq=&limit=`: the REST twin of `subscribe`'s replay.
/// Each event is a journaled frame, byte for byte as a socket receives it.
pub async fn events(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Response> {
    let raw = path_param(path)?;
    let id = session_id(&raw)?;
    let params = Params::parse(query, &["after_seq", "afterSeq", "limit"])?;
    let after_seq = params.number(&["after_seq", "afterSeq"])?.unwrap_or(0);
    let limit = params.limit(DEFAULT_EVENTS, MAX_EVENTS)?;
    let page = state
        .registry
        .read_events(id, after_seq, limit)
        .await?
        .ok_or_else(|| Refusal::unknown_session(&raw))?;
    let mut events = Vec::with_capacity(page.frames.len());
    let mut next_after_seq = after_seq;
    let mut bytes = 0usize;
    for frame in &page.frames {
        if !events.is_empty() && bytes + frame.bytes.len() > MAX_EVENTS_BYTES {
            break;
        }
        // Checked to be one JSON value, then written out exactly as stored.
        let raw: &RawValue = serde_json::from_slice(&frame.bytes).map_err(|e| {
            Refusal::internal(format!("journaled frame {} is not JSON: {e}", frame.seq))
        })?;
        events.push(raw);
        bytes += frame.bytes.len();
        next_after_seq = frame.seq;
    }
    let has_more = !events.is_empty() && next_after_seq < page.last_seq;
    let body = serde_json::to_vec(&EventsOut {
        events,
        next_after_seq,
        has_more,
    })
    .map_err(Refusal::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let id = SessionId::new_v4();
        let summary = SessionSummary {
            session_id: id,
            provider: Provider::Cursor,
            project_id: None,
            project_name: None,
            state: RunState::Completed,
            created_at: 1,
            updated_at: 42,
            start_time: None,
            provider_session_id: None,
            last_seq: 0,
            title: None,
        };
        assert_eq!(decode_cursor(&encode_cursor(&summary)).unwrap(), (42, id));
        for bad in [
            "",
            "v1.",
            "v1.x.y",
            "v2.1.0",
            &format!("v1.-1.{id}"),
            "v1.1.../../x",
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_parse_each_item() {
        assert_eq!(
            list_of(Some("running,completed"), "state", RunState::parse).unwrap(),
            vec![RunState::Running, RunState::Completed]
        );
        assert!(list_of(Some("running,nope"), "state", RunState::parse).is_err());
        assert!(list_of(None, "state", RunState::parse).unwrap().is_empty());
    }
}
