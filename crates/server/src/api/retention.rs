//! The retention task: every `retention_interval_secs`, [`Registry::prune`] with the
//! configured policy (`retention_max_age_secs`, `retention_max_bytes`). It never touches a
//! session with a live run, nor one in memory.

use std::time::Duration;

use switchboard_core::retention::RetentionPolicy;
use switchboard_core::Registry;
use tokio_util::sync::CancellationToken;

/// Runs until `stop` fires; does nothing when the policy keeps everything.
pub fn spawn(
    registry: Registry,
    policy: RetentionPolicy,
    every: Duration,
    stop: CancellationToken,
) {
    if policy.is_unlimited() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match registry.prune(policy).await {
                Ok(report) if !report.removed.is_empty() => tracing::info!(
                    sessions = report.removed.len(),
                    bytes = report.bytes,
                    "retention removed finished sessions"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention failed; trying again later"),
            }
        }
    });
}
