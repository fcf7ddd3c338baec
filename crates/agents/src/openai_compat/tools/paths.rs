//! Confining every path a tool touches to the session's project root.
//!
//! A path from the model is resolved against the root (or taken as is when absolute), `.` and
//! `..` are applied lexically, and then every component that exists is resolved through the
//! file system, so a symlink is judged by where it points. Anything that ends outside the
//! root is refused, and so is a dangling symlink (it could be created to point anywhere
//! before it is followed). The check and the use are not atomic: a process that races the
//! tool could still swap a directory for a symlink in between. The model's own tools cannot
//! (they run one at a time), and Bash is not confined by paths at all but by the permission
//! rules.

use std::path::{Component, Path, PathBuf};

/// The project root of a run, canonical.
#[derive(Debug, Clone)]
pub struct Root {
    root: PathBuf,
}

impl Root {
    /// `dir` must exist; it is canonicalized here.
    pub fn new(dir: &Path) -> std::io::Result<Root> {
        Ok(Root {
            root: std::fs::canonicalize(dir)?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The real path `input` names, if it is inside the root. The target itself need not
    /// exist (Write creates it), but whatever exists on the way is resolved.
    pub fn resolve(&self, input: &str) -> Result<PathBuf, String> {
        if input.trim().is_empty() {
            return Err("the path is empty".into());
        }
        if input.contains('\0') {
            return Err("the path contains a NUL byte".into());
        }
        let joined = self.root.join(input);
        let mut lexical = PathBuf::new();
        for component in joined.components() {
            match component {
                Component::ParentDir => {
                    if !lexical.pop() {
                        return Err(self.outside(input));
                    }
                }
                Component::CurDir => {}
                other => lexical.push(other),
            }
        }
        if !lexical.starts_with(&self.root) {
            return Err(self.outside(input));
        }
        let real = real_path(&lexical).map_err(|e| format!("{input}: {e}"))?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(self.outside(input))
        }
    }

    /// `path` relative to the root, for output the model reads.
    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    fn outside(&self, input: &str) -> String {
        format!(
            "{input} is outside the project ({}); tools may only touch files inside it",
            self.root.display()
        )
    }
}

/// Canonicalizes the longest existing prefix of `path` and appends the rest. A component that
/// exists only as a dangling symlink is an error.
fn real_path(path: &Path) -> Result<PathBuf, String> {
    let mut existing = path.to_path_buf();
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(real) => {
                let mut real = real;
                for name in missing.iter().rev() {
                    real.push(name);
                }
                return Ok(real);
            }
            Err(_) => {
                if std::fs::symlink_metadata(&existing).is_ok() {
                    return Err("a symlink that points nowhere is on the path".into());
                }
                match (existing.file_name(), existing.parent()) {
                    (Some(name), Some(parent)) => {
                        missing.push(name.to_owned());
                        existing = parent.to_path_buf();
                    }
                    _ => return Err("no part of the path exists".into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, Root) {
        let project = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join("src")).unwrap();
        std::fs::write(project.path().join("src/a.txt"), "a").unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let root = Root::new(project.path()).unwrap();
        (project, outside, root)
    }

    #[test]
    fn inside_paths_resolve() {
        let (_p, _o, root) = setup();
        let a = root.resolve("src/a.txt").unwrap();
        assert_eq!(a, root.path().join("src/a.txt"));
        assert_eq!(root.resolve("./src/../src/a.txt").unwrap(), a);
        let absolute = root.path().join("src/a.txt");
        assert_eq!(root.resolve(absolute.to_str().unwrap()).unwrap(), a);
        // Not yet existing files (Write) and directories are fine.
        assert_eq!(
            root.resolve("new/dir/b.txt").unwrap(),
            root.path().join("new/dir/b.txt")
        );
        assert_eq!(root.resolve(".").unwrap(), root.path());
        assert_eq!(root.relative(&a), Path::new("src/a.txt"));
    }

    #[test]
    fn escapes_are_refused() {
        let (_p, outside, root) = setup();
        for input in ["..", "../x", "src/../../x", "/etc/passwd"] {
            let err = root.resolve(input).unwrap_err();
            assert!(err.contains("outside the project"), "{input}: {err}");
        }
        let elsewhere = outside.path().join("secret");
        assert!(root.resolve(elsewhere.to_str().unwrap()).is_err());
        assert!(root.resolve("").is_err());
    }

    #[test]
    fn symlinks_are_judged_by_their_target() {
        let (project, outside, root) = setup();
        std::os::unix::fs::symlink(outside.path(), project.path().join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), project.path().join("link"))
            .unwrap();
        std::os::unix::fs::symlink(
            project.path().join("src/a.txt"),
            project.path().join("inner"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", project.path().join("dangling")).unwrap();
        assert!(root.resolve("out/secret").is_err());
        assert!(root.resolve("out/new-file").is_err());
        assert!(root.resolve("link").is_err());
        assert!(root.resolve("dangling").is_err());
        assert_eq!(
            root.resolve("inner").unwrap(),
            root.path().join("src/a.txt")
        );
    }
}
