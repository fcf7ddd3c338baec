//! Reading history: listing sessions, a session's details, and its journal in pages.
//!
//! Everything here reads; nothing loads a session into memory. A session that is in memory
//! is read through its journal (ring, then store), exactly as a `subscribe` replay reads it,
//! so a page holds the very bytes a socket gets, including frames not yet persisted. A
//! session that is not in memory is read from the store, after the persistence queue is
//! flushed, so a listing never misses what was already sent.

use std::sync::Arc;

use serde::Deserialize;
use switchboard_protocol::api::{
    RunSummary, SessionCounts, SessionDetail, SessionSummary, UsageTotals,
};
use switchboard_protocol::event::AgentEvent;
use switchboard_protocol::{Provider, RunState, SessionId};

use crate::frame::Frame;
use crate::registry::Registry;
use crate::session::SessionHandle;
use crate::store::{FrameFilter, SessionQuery, SessionRecord, StoreError};

/// The most runs a detail lists (the most recent ones).
pub const MAX_RUNS_LISTED: usize = 100;
/// The most frames one detail computation reads (runs, usage, tool calls).
const MAX_DETAIL_FRAMES: usize = 200_000;

/// A page of journaled frames.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub frames: Vec<Frame>,
    /// The highest seq journaled for the session.
    pub last_seq: u64,
}

impl Registry {
    fn loaded(&self, id: &SessionId) -> Option<Arc<SessionHandle>> {
        self.shared.sessions.lock().get(id).cloned()
    }

    /// Waits until every write queued so far is committed.
    async fn settle(&self) -> Result<(), StoreError> {
        self.shared
            .persister
            .flush()
            .await
            .map_err(StoreError::Backend)
    }

    /// One page of sessions, most recently updated first; what is in memory wins over what is
    /// stored (state, native id, last seq).
    pub async fn list_sessions(
        &self,
        query: SessionQuery,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let records = self.list_session_records(query).await?;
        Ok(records.iter().map(|r| self.summary(r)).collect())
    }

    /// The stored records of one page of sessions (see [`Registry::summary`] for what
    /// memory adds).
    pub async fn list_session_records(
        &self,
        query: SessionQuery,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.settle().await?;
        let store = Arc::clone(&self.shared.store);
        blocking(move || store.list_sessions(&query)).await
    }

    /// Our session that resumes a provider's native id, if any, without loading it.
    pub async fn session_for_native(
        &self,
        provider: Provider,
        native_id: &str,
    ) -> Result<Option<SessionId>, StoreError> {
        let cached = self
            .shared
            .native
            .lock()
            .get(&(provider, native_id.to_owned()))
            .copied();
        if cached.is_some() {
            return Ok(cached);
        }
        self.settle().await?;
        let store = Arc::clone(&self.shared.store);
        let native_id = native_id.to_owned();
        blocking(move || store.find_by_native_id(provider, &native_id)).await
    }

    /// A stored session (with what memory knows laid over it), without loading it.
    pub async fn session_record(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.settle().await?;
        let store = Arc::clone(&self.shared.store);
        let record = blocking(move || store.load_session(&id)).await?;
        Ok(record.map(|mut r| {
            if let Some(handle) = self.loaded(&id) {
                r.state = handle.state();
                r.native_id = handle.native_id().or(r.native_id);
                r.start_time = handle.start_time().or(r.start_time);
                r.last_persisted_seq = handle.journal.head();
            }
            r
        }))
    }

    /// The listing entry for a record.
    pub fn summary(&self, record: &SessionRecord) -> SessionSummary {
        let mut summary = SessionSummary {
            session_id: record.id,
            provider: record.provider,
            project_id: record.project_id.clone(),
            project_name: record.project_name.clone(),
            state: record.state,
            created_at: record.created_at,
            updated_at: record.updated_at,
            start_time: record.start_time,
            provider_session_id: record.native_id.clone(),
            last_seq: record.last_persisted_seq,
            title: None,
        };
        if let Some(handle) = self.loaded(&record.id) {
            summary.state = handle.state();
            summary.start_time = handle.start_time().or(summary.start_time);
            summary.provider_session_id = handle.native_id().or(summary.provider_session_id);
            summary.last_seq = handle.journal.head().max(summary.last_seq);
        }
        summary
    }

    /// Everything about one session: its state and ids, journal sizes, runs and token usage.
    pub async fn session_detail(&self, id: SessionId) -> Result<Option<SessionDetail>, StoreError> {
        let Some(record) = self.session_record(id).await? else {
            return Ok(None);
        };
        let store = Arc::clone(&self.shared.store);
        let (size, frames) = blocking(move || {
            let size = store.journal_size(&id)?;
            let frames = store.read_frames_matching(&id, &detail_filter(), 0, MAX_DETAIL_FRAMES)?;
            Ok((size, frames))
        })
        .await?;
        let mut counts = SessionCounts {
            frames: size.frames,
            bytes: size.bytes,
            ..SessionCounts::default()
        };
        let mut usage = UsageTotals::default();
        let mut runs: Vec<RunSummary> = Vec::new();
        for frame in &frames {
            tally(frame, &mut counts, &mut usage, &mut runs);
        }
        counts.runs = runs.len() as u64;
        if runs.len() > MAX_RUNS_LISTED {
            runs.drain(..runs.len() - MAX_RUNS_LISTED);
        }
        let summary = self.summary(&record);
        Ok(Some(SessionDetail {
            is_processing: summary.state == RunState::Running,
            summary,
            model: record.model.clone(),
            cwd: record.cwd.clone(),
            counts,
            usage,
            runs,
        }))
    }

    /// Up to `limit` journaled frames with `seq > after_seq`, in order, the same bytes a
    /// `subscribe` replay sends; `None` for an unknown session.
    pub async fn read_events(
        &self,
        id: SessionId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Option<EventPage>, StoreError> {
        let limit = limit.max(1);
        if let Some(handle) = self.loaded(&id) {
            let frames = handle.journal.read_after(after_seq, limit).await?;
            return Ok(Some(EventPage {
                frames,
                last_seq: handle.journal.head(),
            }));
        }
        self.settle().await?;
        let store = Arc::clone(&self.shared.store);
        blocking(move || {
            let Some(record) = store.load_session(&id)? else {
                return Ok(None);
            };
            let frames = store.read_frames(&id, after_seq, limit)?;
            Ok(Some(EventPage {
                frames,
                last_seq: record.last_persisted_seq,
            }))
        })
        .await
    }
}

/// The frames a detail needs: run starts and ends, usage, tool calls, permission requests.
fn detail_filter() -> FrameFilter {
    FrameFilter {
        prefixes: vec![
            br#"{"type":"session-accepted""#.to_vec(),
            br#"{"type":"session-state-changed""#.to_vec(),
            br#"{"type":"claude-permission-request""#.to_vec(),
        ],
        contains: vec![
            br#""event":{"kind":"usage""#.to_vec(),
            br#""event":{"kind":"tool-call""#.to_vec(),
        ],
    }
}

/// What a detail reads of a frame. `data` (the agent's own line) is skipped unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FrameHead {
    #[serde(rename = "type")]
    frame_type: String,
    #[serde(default)]
    event: Option<AgentEvent>,
    #[serde(default)]
    request_type: Option<String>,
    #[serde(default)]
    accepted_at: Option<u64>,
    #[serde(default)]
    state: Option<RunState>,
    #[serde(default)]
    changed_at: Option<u64>,
    #[serde(default)]
    exit_code: Option<i32>,
}

fn tally(
    frame: &Frame,
    counts: &mut SessionCounts,
    usage: &mut UsageTotals,
    runs: &mut Vec<RunSummary>,
) {
    let Ok(head) = serde_json::from_slice::<FrameHead>(&frame.bytes) else {
        return;
    };
    match head.frame_type.as_str() {
        "session-accepted" => runs.push(RunSummary {
            seq: frame.seq,
            request_type: head.request_type.unwrap_or_default(),
            accepted_at: head.accepted_at.unwrap_or_default(),
            state: RunState::Running,
            ended_at: None,
            exit_code: None,
        }),
        "session-state-changed" => {
            if let (Some(state), Some(run)) = (head.state, runs.last_mut()) {
                if state.is_terminal() && run.ended_at.is_none() {
                    run.state = state;
                    run.ended_at = head.changed_at;
                    run.exit_code = head.exit_code;
                }
            }
        }
        "claude-permission-request" => counts.permission_requests += 1,
        t if t.ends_with("-response") => match head.event {
            Some(AgentEvent::ToolCall { .. }) => counts.tool_calls += 1,
            Some(AgentEvent::Usage {
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_write_tokens,
                cost_usd,
            }) => {
                usage.reports += 1;
                usage.input_tokens += input_tokens;
                usage.output_tokens += output_tokens;
                usage.cache_read_tokens += cache_read_tokens.unwrap_or(0);
                usage.cache_write_tokens += cache_write_tokens.unwrap_or(0);
                if let Some(cost) = cost_usd {
                    *usage.cost_usd.get_or_insert(0.0) += cost;
                }
            }
            _ => {}
        },
        _ => {}
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::server::{FrameEncoder, SessionAccepted, SessionStateChanged};
    use switchboard_protocol::RawJson;
    use switchboard_protocol::{Provider, TerminalReason};

    fn encoder() -> FrameEncoder {
        FrameEncoder::new(SessionId::new_v4(), Provider::Claude, None, None)
    }

    fn response(seq: u64, event: AgentEvent) -> Frame {
        let raw = RawJson::parse(r#"{"type":"x","event":{"kind":"tool-call"}}"#.into()).unwrap();
        let mut out = Vec::new();
        encoder().encode_response("claude-response", seq, &event, &raw, &mut out);
        Frame::new(seq, out)
    }

    #[test]
    fn tally_counts_runs_usage_and_tools() {
        let frames = vec![
            Frame::new(
                1,
                encoder().encode_to_vec(
                    "session-accepted",
                    1,
                    &SessionAccepted {
                        request_type: "claude-command".into(),
                        client_request_id: None,
                        accepted_at: 10,
                        is_new_session: true,
                        prompt: None,
                    },
                ),
            ),
            response(
                2,
                AgentEvent::Usage {
                    input_tokens: 3,
                    output_tokens: 4,
                    cache_read_tokens: Some(5),
                    cache_write_tokens: None,
                    cost_usd: Some(0.5),
                },
            ),
            response(
                3,
                AgentEvent::ToolCall {
                    id: "t".into(),
                    name: "Bash".into(),
                    input: serde_json::json!({}),
                },
            ),
            // The agent's own line mentions a tool call, but the event is text: not counted.
            response(4, AgentEvent::Other),
            Frame::new(
                5,
                encoder().encode_to_vec(
                    "session-state-changed",
                    5,
                    &SessionStateChanged {
                        state: RunState::Completed,
                        reason: TerminalReason::Exit,
                        changed_at: 20,
                        exit_code: Some(0),
                        error: None,
                        abort_requested: Some(false),
                        lost_from: None,
                        lost_to: None,
                    },
                ),
            ),
        ];
        let filter = detail_filter();
        for frame in &frames {
            let matched = filter.prefixes.iter().any(|p| frame.bytes.starts_with(p))
                || filter
                    .contains
                    .iter()
                    .any(|c| frame.bytes.windows(c.len()).any(|w| w == c.as_slice()));
            assert!(
                matched || frame.seq == 4,
                "frame {} passes the filter",
                frame.seq
            );
        }
        let (mut counts, mut usage, mut runs) = Default::default();
        for frame in &frames {
            tally(frame, &mut counts, &mut usage, &mut runs);
        }
        assert_eq!(counts.tool_calls, 1);
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.reports
            ),
            (3, 4, 5, 1)
        );
        assert_eq!(usage.cost_usd, Some(0.5));
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].state, RunState::Completed);
        assert_eq!((runs[0].ended_at, runs[0].exit_code), (Some(20), Some(0)));
    }
}
