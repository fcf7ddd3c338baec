//! Adding, renaming and removing projects while the server runs. The store and the in-memory
//! [`ProjectIndex`](crate::projects::ProjectIndex) change together: the store first (so a
//! failure changes nothing), then the index.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchboard_protocol::api::MAX_DISPLAY_NAME;
use switchboard_protocol::{now_ms, RunState, SessionId};

use crate::projects::Project;
use crate::registry::Registry;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The path is not absolute, does not exist, is not a directory, or is the root.
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("no project {0:?}")]
    Unknown(String),
    /// Sessions of the project have live (or queued) runs.
    #[error("project {project} has {} running session(s) ({}); abort them first", sessions.len(), list(sessions))]
    Busy {
        project: String,
        sessions: Vec<SessionId>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list(ids: &[SessionId]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a display name and returns it trimmed.
pub fn check_display_name(name: &str) -> Result<String, ProjectError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ProjectError::InvalidName(
            "displayName must not be empty".into(),
        ));
    }
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(ProjectError::InvalidName(format!(
            "displayName is longer than {MAX_DISPLAY_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ProjectError::InvalidName(
            "displayName must not contain control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Resolves a path a person gave for a new project: absolute, existing, a directory, not the
/// file system's root (that would confine nothing). Symlinks are resolved, so the project is
/// where the link points.
pub fn canonical_project_root(path: &Path) -> Result<PathBuf, ProjectError> {
    if !path.is_absolute() {
        return Err(ProjectError::InvalidPath(format!(
            "path {} must be absolute",
            path.display()
        )));
    }
    let root = std::fs::canonicalize(path).map_err(|e| {
        ProjectError::InvalidPath(format!("path {} cannot be resolved: {e}", path.display()))
    })?;
    if !root.is_dir() {
        return Err(ProjectError::InvalidPath(format!(
            "path {} is not a directory",
            root.display()
        )));
    }
    if root.parent().is_none() {
        return Err(ProjectError::InvalidPath(
            "the file system's root cannot be a project".into(),
        ));
    }
    Ok(root)
}

impl Registry {
    /// Registers a directory (given as the person typed it; it is canonicalized here).
    /// Returns the project and whether it is new; registering a registered path again returns
    /// it unchanged, and a path removed earlier comes back with its id.
    pub async fn add_project(
        &self,
        path: &Path,
        display_name: Option<&str>,
    ) -> Result<(Project, bool), ProjectError> {
        let display_name = display_name.map(check_display_name).transpose()?;
        let root = canonical_project_root(path)?;
        let projects = &self.shared.projects;
        if let Some(existing) = projects.by_root(&root) {
            return Ok((existing, false));
        }
        let mut record = Project::record_for(&root);
        if let Some(name) = display_name {
            record.display_name = name;
        }
        let store = Arc::clone(&self.shared.store);
        let stored = blocking(move || store.upsert_project(&record)).await?;
        let project = Project::from_record(&stored);
        projects.add(project.clone());
        Ok((project, true))
    }

    /// A registered project, or one removed earlier when `include_removed`.
    pub async fn project(
        &self,
        id: &str,
        include_removed: bool,
    ) -> Result<Option<Project>, ProjectError> {
        if let Some(project) = self.shared.projects.by_id(id) {
            return Ok(Some(project));
        }
        if !include_removed {
            return Ok(None);
        }
        let store = Arc::clone(&self.shared.store);
        let id = id.to_owned();
        Ok(blocking(move || store.project_by_id(&id, true))
            .await?
            .map(|r| Project::from_record(&r)))
    }

    /// Renames a project (its display name; `projectName` and the id never change).
    pub async fn rename_project(
        &self,
        id: &str,
        display_name: &str,
    ) -> Result<Project, ProjectError> {
        let name = check_display_name(display_name)?;
        if self.shared.projects.by_id(id).is_none() {
            return Err(ProjectError::Unknown(id.to_owned()));
        }
        let store = Arc::clone(&self.shared.store);
        let key = id.to_owned();
        let stored = blocking(move || store.rename_project(&key, &name))
            .await?
            .ok_or_else(|| ProjectError::Unknown(id.to_owned()))?;
        let project = Project::from_record(&stored);
        self.shared.projects.update(project.clone());
        Ok(project)
    }

    /// Unregisters a project, refused while any of its sessions has a live or queued run.
    /// Its sessions and journals stay (history can still be read); commands in its directory
    /// are refused with `project-not-registered` from now on. Serialized with the creation of
    /// sessions, so no new session of the project appears while it is being removed.
    pub async fn remove_project(&self, id: &str) -> Result<Project, ProjectError> {
        let _creating = self.shared.create_lock.lock().await;
        let project = self
            .shared
            .projects
            .by_id(id)
            .ok_or_else(|| ProjectError::Unknown(id.to_owned()))?;
        let busy = self.running_sessions_of(id);
        if !busy.is_empty() {
            return Err(ProjectError::Busy {
                project: id.to_owned(),
                sessions: busy,
            });
        }
        let store = Arc::clone(&self.shared.store);
        let key = id.to_owned();
        if !blocking(move || store.remove_project(&key, now_ms())).await? {
            return Err(ProjectError::Unknown(id.to_owned()));
        }
        self.shared.projects.remove(id);
        Ok(project)
    }

    /// Sessions of a project whose run is live (queued commands wait behind a live run, so
    /// this covers them too).
    pub fn running_sessions_of(&self, project_id: &str) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self
            .shared
            .sessions
            .lock()
            .values()
            .filter(|h| h.project_id.as_deref() == Some(project_id))
            .filter(|h| matches!(h.state(), RunState::Running | RunState::Queued))
            .map(|h| h.id)
            .collect();
        ids.sort();
        ids
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

    #[test]
    fn display_names_are_checked() {
        assert_eq!(check_display_name("  App ").unwrap(), "App");
        assert!(check_display_name("   ").is_err());
        assert!(check_display_name("a\nb").is_err());
        assert!(check_display_name(&"x".repeat(MAX_DISPLAY_NAME + 1)).is_err());
        assert!(check_display_name(&"é".repeat(MAX_DISPLAY_NAME)).is_ok());
    }

    #[test]
    fn project_roots_are_canonical_directories() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let canonical = std::fs::canonicalize(&real).unwrap();
        assert_eq!(
            canonical_project_root(&dir.path().join("link")).unwrap(),
            canonical
        );
        assert_eq!(
            canonical_project_root(&dir.path().join("real/../real")).unwrap(),
            canonical
        );
        for bad in [
            PathBuf::from("relative"),
            dir.path().join("missing"),
            dir.path().join("file"),
            PathBuf::from("/"),
        ] {
            assert!(
                matches!(
                    canonical_project_root(&bad),
                    Err(ProjectError::InvalidPath(_))
                ),
                "{}",
                bad.display()
            );
        }
    }
}
