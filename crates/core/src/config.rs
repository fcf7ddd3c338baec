//! The core's limits and timings. Every one is a key of the server's config file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use switchboard_protocol::Provider;

#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Interrupt → SIGKILL when aborting a run.
    pub abort_grace: Duration,
    /// The longest line read from an agent.
    pub max_agent_line_bytes: usize,
    /// Journal ring in memory, per session: at most this many frames…
    pub ring_max_frames: usize,
    /// …and at most this many bytes. Frames leave the ring only once persisted.
    pub ring_max_bytes: usize,
    /// How far one subscriber may fall behind the live stream before it is caught up from
    /// the journal instead.
    pub subscriber_queue_frames: usize,
    /// Commands waiting behind a run, per session.
    pub session_queue_max: usize,
    /// A permission request nobody answers is cancelled (and the tool denied) after this.
    pub permission_timeout: Duration,
    /// Persistence batches: at most this long after the first frame of a batch…
    pub persist_batch_interval: Duration,
    /// …or this many frames, whichever comes first.
    pub persist_batch_frames: usize,
    /// Whether journaled frames are written to the store. Off only for measuring what
    /// persistence costs: frames then live only in the ring, and replay reaches back only as
    /// far as the ring does. Session records and seq reservations are stored either way.
    pub persist_frames: bool,
    /// Seq values are reserved durably this many at a time.
    pub seq_block: u64,
    /// A session with no run, no queue and no subscriber leaves memory after this.
    pub idle_unload: Duration,
    /// Runs that may be live at once, server-wide.
    pub max_running_sessions: usize,
    /// A run that prints nothing for this long gets a warning notice (it is not stopped).
    pub agent_silence_notice: Duration,
    /// Where runs' attached images are written (one folder per run, removed after it).
    pub attachments_dir: PathBuf,
    /// Images one command may attach…
    pub max_images: usize,
    /// …and the largest one, decoded, in bytes.
    pub max_image_bytes: usize,
    /// Extra environment per provider, from the operator's config.
    pub agent_env: HashMap<Provider, Vec<(String, String)>>,
    /// Accept commands in directories outside every registered project (their sessions have
    /// no `projectId`). Off unless the operator turns it on.
    pub allow_any_project: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            abort_grace: Duration::from_secs(5),
            max_agent_line_bytes: 64 * 1024 * 1024,
            ring_max_frames: 10_000,
            ring_max_bytes: 16 * 1024 * 1024,
            // The fan-out buffer is allocated whole while anyone listens (about 72 bytes a
            // slot); a subscriber further behind catches up from the ring, which is cheap.
            subscriber_queue_frames: 256,
            session_queue_max: 8,
            permission_timeout: Duration::from_secs(600),
            persist_batch_interval: Duration::from_millis(5),
            persist_batch_frames: 512,
            persist_frames: true,
            seq_block: 1000,
            idle_unload: Duration::from_secs(300),
            max_running_sessions: 256,
            agent_silence_notice: Duration::from_secs(300),
            attachments_dir: std::env::temp_dir().join("switchboard-attachments"),
            max_images: 8,
            max_image_bytes: 10 * 1024 * 1024,
            agent_env: HashMap::new(),
            allow_any_project: false,
        }
    }
}
