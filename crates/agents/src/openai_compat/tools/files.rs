//! Read, Write, Edit and LS: file tools confined to the project root.
//!
//! Each takes the model's JSON arguments and returns the text the model sees, or an error
//! text (sent back as a tool error, so the model can correct itself). Argument names follow
//! Claude Code's (`file_path`, `old_string`, …); the seed's variants (`path`, `contents`) are
//! accepted too, since models trained on either will use them.

use std::path::Path;

use serde_json::Value;

use super::paths::Root;
use super::{arg_str, arg_u64, ToolResult};

/// The most bytes Read returns; the model can page with `offset`/`limit`.
const READ_MAX_BYTES: usize = 256 * 1024;
/// The most of a file Read looks at (pages past it cannot be reached).
const READ_SCAN_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The most entries LS lists.
const LS_MAX_ENTRIES: usize = 1000;

fn path_arg(args: &Value) -> Result<&str, String> {
    arg_str(args, &["file_path", "path"]).ok_or_else(|| "file_path is required".to_owned())
}

pub fn read(root: &Root, args: &Value) -> ToolResult {
    let path = root.resolve(path_arg(args)?)?;
    let bytes =
        read_bounded(&path).map_err(|e| format!("cannot read {}: {e}", show(root, &path)))?;
    let text = String::from_utf8_lossy(&bytes);
    // `offset` is 1-based, as the line numbers the model sees.
    let offset = arg_u64(args, "offset").unwrap_or(1).max(1) as usize;
    let limit = arg_u64(args, "limit").map(|l| l as usize);
    let mut out = String::new();
    let lines = text.lines().enumerate().skip(offset - 1);
    for (shown, (index, line)) in lines.enumerate() {
        if limit.is_some_and(|l| shown >= l) {
            break;
        }
        if out.len() + line.len() > READ_MAX_BYTES {
            out.push_str(&format!(
                "… (cut at {READ_MAX_BYTES} bytes; read on with offset={})\n",
                index + 1
            ));
            break;
        }
        out.push_str(&format!("{:>6}\t{line}\n", index + 1));
    }
    if out.is_empty() {
        out.push_str("(no lines in that range; the file is empty or shorter)");
    }
    Ok(out)
}

pub fn write(root: &Root, args: &Value) -> ToolResult {
    let path = root.resolve(path_arg(args)?)?;
    let content =
        arg_str(args, &["content", "contents"]).ok_or_else(|| "content is required".to_owned())?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", show(root, parent)))?;
    }
    std::fs::write(&path, content)
        .map_err(|e| format!("cannot write {}: {e}", show(root, &path)))?;
    Ok(format!(
        "wrote {} bytes to {}",
        content.len(),
        show(root, &path)
    ))
}

pub fn edit(root: &Root, args: &Value) -> ToolResult {
    let path = root.resolve(path_arg(args)?)?;
    let old = arg_str(args, &["old_string"]).ok_or_else(|| "old_string is required".to_owned())?;
    let new = arg_str(args, &["new_string"]).ok_or_else(|| "new_string is required".to_owned())?;
    let replace_all = args
        .get("replace_all")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if old.is_empty() {
        return Err("old_string must not be empty (use Write to create a file)".into());
    }
    if old == new {
        return Err("old_string and new_string are the same".into());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", show(root, &path)))?;
    let count = text.matches(old).count();
    let updated = match count {
        0 => return Err(format!("old_string was not found in {}", show(root, &path))),
        1 => text.replacen(old, new, 1),
        _ if replace_all => text.replace(old, new),
        n => {
            return Err(format!(
                "old_string occurs {n} times in {}; give more context or set replace_all",
                show(root, &path)
            ))
        }
    };
    std::fs::write(&path, updated)
        .map_err(|e| format!("cannot write {}: {e}", show(root, &path)))?;
    Ok(format!(
        "replaced {count} occurrence(s) in {}",
        show(root, &path)
    ))
}

pub fn ls(root: &Root, args: &Value) -> ToolResult {
    let dir = root.resolve(arg_str(args, &["path", "directory"]).unwrap_or("."))?;
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", show(root, &dir)))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.file_type() {
                Ok(t) if t.is_dir() => format!("{name}/"),
                Ok(t) if t.is_symlink() => format!("{name}@"),
                _ => name,
            }
        })
        .collect();
    names.sort();
    let total = names.len();
    names.truncate(LS_MAX_ENTRIES);
    let mut out = names.join("\n");
    if total > LS_MAX_ENTRIES {
        out.push_str(&format!("\n… and {} more", total - LS_MAX_ENTRIES));
    }
    if total == 0 {
        out = "(empty directory)".into();
    }
    Ok(out)
}

/// At most [`READ_SCAN_MAX_BYTES`] of a file: a huge file must not fill the server's memory.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(READ_SCAN_MAX_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A path as the model should see it: relative to the root, `.` for the root itself.
pub(super) fn show(root: &Root, path: &Path) -> String {
    let relative = root.relative(path);
    if relative.as_os_str().is_empty() {
        ".".into()
    } else {
        relative.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn project() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
        let root = Root::new(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn read_numbers_lines_and_pages() {
        let (_d, root) = project();
        let all = read(&root, &json!({"file_path": "a.txt"})).unwrap();
        assert_eq!(all, "     1\tone\n     2\ttwo\n     3\tthree\n");
        let page = read(&root, &json!({"path": "a.txt", "offset": 2, "limit": 1})).unwrap();
        assert_eq!(page, "     2\ttwo\n");
        assert!(read(&root, &json!({"file_path": "missing"})).is_err());
        assert!(read(&root, &json!({})).is_err());
    }

    #[test]
    fn write_creates_dirs_and_edit_replaces_once() {
        let (dir, root) = project();
        write(
            &root,
            &json!({"file_path": "d/e/f.txt", "content": "x y x"}),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("d/e/f.txt")).unwrap(),
            "x y x"
        );
        let twice = edit(
            &root,
            &json!({"file_path": "d/e/f.txt", "old_string": "x", "new_string": "z"}),
        );
        assert!(twice.unwrap_err().contains("2 times"));
        edit(
            &root,
            &json!({"file_path": "d/e/f.txt", "old_string": "x", "new_string": "z", "replace_all": true}),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("d/e/f.txt")).unwrap(),
            "z y z"
        );
        edit(
            &root,
            &json!({"file_path": "a.txt", "old_string": "two", "new_string": "2"}),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "one\n2\nthree\n"
        );
        assert!(edit(
            &root,
            &json!({"file_path": "a.txt", "old_string": "nope", "new_string": "x"})
        )
        .is_err());
        // The seed's argument name.
        write(&root, &json!({"path": "s.txt", "contents": "seed"})).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("s.txt")).unwrap(),
            "seed"
        );
    }

    #[test]
    fn file_tools_refuse_escapes() {
        let (_d, root) = project();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("x");
        let err = write(
            &root,
            &json!({"file_path": target.to_str().unwrap(), "content": "x"}),
        )
        .unwrap_err();
        assert!(err.contains("outside the project"));
        assert!(!target.exists());
        assert!(read(&root, &json!({"file_path": "../x"})).is_err());
        assert!(ls(&root, &json!({"path": ".."})).is_err());
    }

    #[test]
    fn ls_marks_directories() {
        let (dir, root) = project();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(ls(&root, &json!({})).unwrap(), "a.txt\nsub/");
        assert_eq!(
            ls(&root, &json!({"path": "sub"})).unwrap(),
            "(empty directory)"
        );
    }
}
