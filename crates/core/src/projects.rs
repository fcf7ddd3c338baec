//! Registered projects, and the rule that confines every path to one of them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use switchboard_protocol::project::encode_project_path;
use switchboard_protocol::{ErrorCode, ProtocolError};

use crate::store::ProjectRecord;

/// A project a session runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub display_name: String,
    /// Canonical, absolute.
    pub root: PathBuf,
    pub project_name: String,
    pub created_at: u64,
}

impl Project {
    pub fn from_record(record: &ProjectRecord) -> Self {
        Self {
            id: record.id.clone(),
            display_name: record.display_name.clone(),
            root: PathBuf::from(&record.path),
            project_name: record.project_name.clone(),
            created_at: record.created_at,
        }
    }

    /// A directory that is not a registered project, for a server that allows any (the
    /// `allow_any_project` setting): no id, the seed's name of the directory.
    pub fn unregistered(root: &Path) -> Self {
        let path = root.to_string_lossy().into_owned();
        Self {
            id: String::new(),
            display_name: root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.clone()),
            project_name: encode_project_path(&path),
            root: root.to_owned(),
            created_at: 0,
        }
    }

    /// False for [`Project::unregistered`].
    pub fn is_registered(&self) -> bool {
        !self.id.is_empty()
    }

    /// A new project record for a canonical directory.
    pub fn record_for(root: &Path) -> ProjectRecord {
        let path = root.to_string_lossy().into_owned();
        ProjectRecord {
            id: uuid::Uuid::new_v4().to_string(),
            display_name: root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.clone()),
            project_name: encode_project_path(&path),
            path,
            created_at: switchboard_protocol::now_ms(),
        }
    }
}

/// Where a command will run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub project: Project,
    /// Canonical, inside `project.root`.
    pub cwd: PathBuf,
}

#[derive(Clone, Default)]
pub struct ProjectIndex {
    projects: Arc<RwLock<Vec<Project>>>,
    /// Paths outside every project are accepted (as [`Project::unregistered`]).
    allow_any: Arc<AtomicBool>,
}

impl ProjectIndex {
    pub fn new(projects: Vec<Project>) -> Self {
        Self {
            projects: Arc::new(RwLock::new(projects)),
            allow_any: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Accepts paths outside every registered project from now on (or not).
    pub fn set_allow_any(&self, allow: bool) {
        self.allow_any.store(allow, Ordering::Release);
    }

    pub fn allows_any(&self) -> bool {
        self.allow_any.load(Ordering::Acquire)
    }

    pub fn add(&self, project: Project) {
        let mut projects = self.projects.write();
        if !projects.iter().any(|p| p.root == project.root) {
            projects.push(project);
        }
    }

    pub fn list(&self) -> Vec<Project> {
        self.projects.read().clone()
    }

    pub fn by_id(&self, id: &str) -> Option<Project> {
        self.projects.read().iter().find(|p| p.id == id).cloned()
    }

    /// The project registered at exactly this canonical root.
    pub fn by_root(&self, root: &Path) -> Option<Project> {
        self.projects
            .read()
            .iter()
            .find(|p| p.root == root)
            .cloned()
    }

    /// Replaces the project with the same id (a rename); `false` when there is none.
    pub fn update(&self, project: Project) -> bool {
        let mut projects = self.projects.write();
        match projects.iter_mut().find(|p| p.id == project.id) {
            Some(slot) => {
                *slot = project;
                true
            }
            None => false,
        }
    }

    /// Unregisters a project; paths inside it are refused from now on.
    pub fn remove(&self, id: &str) -> Option<Project> {
        let mut projects = self.projects.write();
        let at = projects.iter().position(|p| p.id == id)?;
        Some(projects.remove(at))
    }

    /// Resolves a command's `projectPath` and `cwd`. The project is the registered one that
    /// contains `projectPath` (or `cwd` when there is no `projectPath`); the working directory
    /// is `cwd` (or `projectPath`) and must be inside that same project. Symlinks are
    /// resolved first, so a link out of a project does not count as inside it.
    pub fn place(
        &self,
        project_path: Option<&str>,
        cwd: Option<&str>,
    ) -> Result<Placement, ProtocolError> {
        let anchor = project_path.or(cwd).ok_or_else(|| {
            ProtocolError::invalid_field(
                "options.projectPath or options.cwd is required for a new session",
            )
        })?;
        let anchor = canonical(anchor)?;
        let project = self.containing(&anchor)?;
        let cwd = match (cwd, project_path) {
            (Some(cwd), _) => canonical(cwd)?,
            (None, _) => anchor,
        };
        if !cwd.starts_with(&project.root) {
            return Err(ProtocolError::new(
                ErrorCode::ProjectNotRegistered,
                format!(
                    "cwd {} is outside the project {}",
                    cwd.display(),
                    project.root.display()
                ),
            ));
        }
        if !cwd.is_dir() {
            return Err(ProtocolError::invalid_field(format!(
                "cwd {} is not a directory",
                cwd.display()
            )));
        }
        Ok(Placement { project, cwd })
    }

    /// The project that contains an already canonical path (with `allow_any_project`, the
    /// path itself as an unregistered project when none does).
    pub fn containing(&self, path: &Path) -> Result<Project, ProtocolError> {
        let found = self
            .projects
            .read()
            .iter()
            // The longest root wins when projects nest.
            .filter(|p| path.starts_with(&p.root))
            .max_by_key(|p| p.root.as_os_str().len())
            .cloned();
        found
            .or_else(|| self.allows_any().then(|| Project::unregistered(path)))
            .ok_or_else(|| {
                ProtocolError::new(
                    ErrorCode::ProjectNotRegistered,
                    format!("{} is not inside a registered project", path.display()),
                )
            })
    }
}

fn canonical(path: &str) -> Result<PathBuf, ProtocolError> {
    let raw = Path::new(path);
    if !raw.is_absolute() {
        return Err(ProtocolError::invalid_field(format!(
            "path {path:?} must be absolute"
        )));
    }
    std::fs::canonicalize(raw).map_err(|_| {
        ProtocolError::new(
            ErrorCode::ProjectNotRegistered,
            format!("{path} does not exist, so it is not inside a registered project"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with(root: &Path) -> ProjectIndex {
        let record = Project::record_for(&std::fs::canonicalize(root).unwrap());
        ProjectIndex::new(vec![Project::from_record(&record)])
    }

    #[test]
    fn confines_paths() {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("proj");
        let sibling = dir.path().join("proj2");
        std::fs::create_dir_all(proj.join("sub")).unwrap();
        std::fs::create_dir_all(&sibling).unwrap();
        std::os::unix::fs::symlink(&sibling, proj.join("link-out")).unwrap();
        let index = index_with(&proj);
        let p = |s: &Path| s.to_str().unwrap().to_owned();

        let placed = index
            .place(Some(&p(&proj)), Some(&p(&proj.join("sub"))))
            .unwrap();
        assert!(placed.cwd.ends_with("proj/sub"));
        let code = |r: Result<Placement, ProtocolError>| r.unwrap_err().code;
        assert_eq!(
            code(index.place(Some(&p(&sibling)), None)),
            ErrorCode::ProjectNotRegistered
        );
        assert_eq!(
            code(index.place(Some(&p(&proj)), Some(&p(&proj.join("link-out"))))),
            ErrorCode::ProjectNotRegistered
        );
        assert_eq!(
            code(index.place(Some(&format!("{}/sub/../../proj2", p(&proj))), None)),
            ErrorCode::ProjectNotRegistered
        );
        assert_eq!(
            code(index.place(Some("relative/path"), None)),
            ErrorCode::InvalidField
        );
        assert_eq!(code(index.place(None, None)), ErrorCode::InvalidField);
    }

    #[test]
    fn allow_any_accepts_unregistered_directories_without_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("proj");
        let other = dir.path().join("other dir");
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let index = index_with(&proj);
        let other_s = other.to_str().unwrap();
        assert!(index.place(Some(other_s), None).is_err());
        index.set_allow_any(true);
        let placed = index.place(Some(other_s), None).unwrap();
        assert!(!placed.project.is_registered());
        let canonical = std::fs::canonicalize(&other).unwrap();
        assert_eq!(placed.cwd, canonical);
        assert_eq!(
            placed.project.project_name,
            encode_project_path(&canonical.to_string_lossy())
        );
        // A registered project still wins for paths inside it.
        let inside = index.place(Some(proj.to_str().unwrap()), None).unwrap();
        assert!(inside.project.is_registered());
    }
}
