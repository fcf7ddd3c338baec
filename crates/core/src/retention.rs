//! Retention: removing the journals of finished sessions, by age and by total size.
//!
//! Only sessions whose stored state is terminal, that have no live run and that are not in
//! memory are candidates; the store's delete checks the state again in the same
//! transaction. While a session is being removed it is marked, under the registry's session
//! lock, so a concurrent `subscribe` or command cannot load it half-deleted: it finds no
//! session, as it will afterwards. A session in memory (a client follows it, or it ran
//! recently) is left for a later pass, so a running session is never touched.

use std::sync::Arc;
use std::time::Duration;

use switchboard_protocol::{now_ms, SessionId};

use crate::changes::{ChangeKind, SessionChange};
use crate::registry::Registry;
use crate::store::{PruneCandidate, StoreError};

/// How much history to keep. `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Finished sessions last updated longer ago than this are removed.
    pub max_age: Option<Duration>,
    /// While all journals together are larger than this, the least recently updated finished
    /// sessions are removed.
    pub max_bytes: Option<u64>,
}

impl RetentionPolicy {
    pub fn is_unlimited(&self) -> bool {
        self.max_age.is_none() && self.max_bytes.is_none()
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub removed: Vec<SessionId>,
    pub bytes: u64,
    /// Candidates left alone because they were in memory.
    pub skipped_in_memory: usize,
}

/// The most candidates one pass looks at.
const MAX_CANDIDATES: usize = 100_000;

impl Registry {
    /// One retention pass.
    pub async fn prune(&self, policy: RetentionPolicy) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        if policy.is_unlimited() {
            return Ok(report);
        }
        self.shared
            .persister
            .flush()
            .await
            .map_err(StoreError::Backend)?;
        let store = Arc::clone(&self.shared.store);
        let (candidates, mut total) = tokio::task::spawn_blocking(move || {
            Ok::<_, StoreError>((
                store.finished_sessions(MAX_CANDIDATES)?,
                store.total_journal_bytes()?,
            ))
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;
        let cutoff = policy
            .max_age
            .map(|age| now_ms().saturating_sub(age.as_millis() as u64));
        for candidate in candidates {
            let too_old = cutoff.is_some_and(|c| candidate.updated_at < c);
            let too_big = policy.max_bytes.is_some_and(|max| total > max);
            if !too_old && !too_big {
                // Candidates come oldest first: none after this one is too old either.
                break;
            }
            match self.remove_finished(&candidate).await? {
                Some(true) => {
                    total = total.saturating_sub(candidate.bytes);
                    report.bytes += candidate.bytes;
                    report.removed.push(candidate.id);
                }
                Some(false) => {}
                None => report.skipped_in_memory += 1,
            }
        }
        Ok(report)
    }

    /// Removes one finished session unless it is in memory (`None`). `Some(false)` when the
    /// store found it no longer finished.
    async fn remove_finished(
        &self,
        candidate: &PruneCandidate,
    ) -> Result<Option<bool>, StoreError> {
        let id = candidate.id;
        {
            let sessions = self.shared.sessions.lock();
            if sessions.contains_key(&id) {
                return Ok(None);
            }
            self.shared.pruning.lock().insert(id);
        }
        let store = Arc::clone(&self.shared.store);
        let deleted = tokio::task::spawn_blocking(move || store.delete_finished_session(&id))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()));
        let deleted = match deleted {
            Ok(result) => result,
            Err(e) => Err(e),
        };
        if matches!(deleted, Ok(true)) {
            self.shared
                .native
                .lock()
                .retain(|_, session| *session != id);
        }
        self.shared.pruning.lock().remove(&id);
        let deleted = deleted?;
        if deleted {
            tracing::info!(session = %id, bytes = candidate.bytes, "retention removed a finished session");
            let _ = self.shared.changes.send(SessionChange {
                session_id: id,
                provider: candidate.provider,
                project_id: candidate.project_id.clone(),
                state: candidate.state,
                kind: ChangeKind::Removed,
                at: now_ms(),
            });
        }
        Ok(Some(deleted))
    }
}
