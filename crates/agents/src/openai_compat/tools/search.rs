//! Glob and Grep over the project, with the `ignore` walker: it honours `.gitignore`, skips
//! hidden files, and never follows a symlink, so a search cannot leave the root.

use std::io::Read as _;
use std::path::PathBuf;

use globset::GlobBuilder;
use regex::RegexBuilder;
use serde_json::Value;

use super::files::show;
use super::paths::Root;
use super::{arg_str, ToolResult};

/// The most paths Glob returns.
const GLOB_MAX: usize = 500;
/// The most matching lines Grep returns.
const GREP_MAX: usize = 300;
/// Files larger than this are not searched.
const GREP_FILE_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// A matching line is cut to this many characters.
const LINE_MAX_CHARS: usize = 300;

fn walk(root: &Root, args: &Value) -> Result<(PathBuf, ignore::Walk), String> {
    let base = root.resolve(arg_str(args, &["path", "directory"]).unwrap_or("."))?;
    let walker = ignore::WalkBuilder::new(&base)
        .follow_links(false)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    Ok((base, walker))
}

pub fn glob(root: &Root, args: &Value) -> ToolResult {
    let pattern = arg_str(args, &["pattern"]).ok_or_else(|| "pattern is required".to_owned())?;
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("bad glob pattern: {e}"))?
        .compile_matcher();
    let (base, walker) = walk(root, args)?;
    let mut found = Vec::new();
    for entry in walker.filter_map(Result::ok) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let relative = entry.path().strip_prefix(&base).unwrap_or(entry.path());
        if matcher.is_match(relative) {
            found.push(show(root, entry.path()));
        }
    }
    // Sorted before the cut, so the model sees the first names in order, not whichever the
    // walk met first.
    found.sort();
    let total = found.len();
    found.truncate(GLOB_MAX);
    if found.is_empty() {
        return Ok("no files match".into());
    }
    let mut out = found.join("\n");
    if total > GLOB_MAX {
        out.push_str(&format!("\n… and {} more", total - GLOB_MAX));
    }
    Ok(out)
}

pub fn grep(root: &Root, args: &Value) -> ToolResult {
    let pattern = arg_str(args, &["pattern"]).ok_or_else(|| "pattern is required".to_owned())?;
    let insensitive = args
        .get("-i")
        .or_else(|| args.get("case_insensitive"))
        .and_then(Value::as_bool);
    let regex = RegexBuilder::new(pattern)
        .case_insensitive(insensitive.unwrap_or(false))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("bad regular expression: {e}"))?;
    let filter = match arg_str(args, &["glob", "include"]) {
        Some(glob) => Some(
            GlobBuilder::new(glob)
                .build()
                .map_err(|e| format!("bad glob: {e}"))?
                .compile_matcher(),
        ),
        None => None,
    };
    let (_, walker) = walk(root, args)?;
    let mut out = Vec::new();
    let mut total = 0;
    for entry in walker.filter_map(Result::ok) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        if let Some(filter) = &filter {
            let name = entry.file_name();
            if !filter.is_match(name) && !filter.is_match(root.relative(entry.path())) {
                continue;
            }
        }
        let Some(text) = read_text(entry.path()) else {
            continue;
        };
        for (index, line) in text.lines().enumerate() {
            if regex.is_match(line) {
                total += 1;
                if out.len() < GREP_MAX {
                    let line: String = line.chars().take(LINE_MAX_CHARS).collect();
                    out.push(format!("{}:{}:{line}", show(root, entry.path()), index + 1));
                }
            }
        }
    }
    if out.is_empty() {
        return Ok("no matches".into());
    }
    let mut text = out.join("\n");
    if total > GREP_MAX {
        text.push_str(&format!("\n… and {} more matches", total - GREP_MAX));
    }
    Ok(text)
}

/// A file's text, or `None` for a large or binary file.
fn read_text(path: &std::path::Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() > GREP_FILE_MAX_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(GREP_FILE_MAX_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn project() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n// TODO: x\n").unwrap();
        std::fs::write(dir.path().join("src/deep/lib.rs"), "todo lower\n").unwrap();
        std::fs::write(dir.path().join("notes.md"), "TODO in markdown\n").unwrap();
        std::fs::write(dir.path().join("bin.dat"), b"TODO\0binary").unwrap();
        std::fs::write(dir.path().join(".gitignore"), "ignored.rs\n").unwrap();
        std::fs::write(dir.path().join("ignored.rs"), "TODO ignored\n").unwrap();
        let root = Root::new(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn glob_matches_relative_paths() {
        let (_d, root) = project();
        assert_eq!(
            glob(&root, &json!({"pattern": "**/*.rs"})).unwrap(),
            "src/deep/lib.rs\nsrc/main.rs"
        );
        assert_eq!(
            glob(&root, &json!({"pattern": "*.rs", "path": "src"})).unwrap(),
            "src/main.rs"
        );
        assert_eq!(
            glob(&root, &json!({"pattern": "*.py"})).unwrap(),
            "no files match"
        );
        assert!(glob(&root, &json!({"pattern": "*", "path": "/"})).is_err());
    }

    #[test]
    fn grep_finds_lines_skips_binary_and_ignored() {
        let (_d, root) = project();
        let found = grep(&root, &json!({"pattern": "TODO"})).unwrap();
        assert_eq!(
            found,
            "notes.md:1:TODO in markdown\nsrc/main.rs:2:// TODO: x"
        );
        let insensitive = grep(
            &root,
            &json!({"pattern": "todo", "-i": true, "glob": "*.rs"}),
        )
        .unwrap();
        assert_eq!(
            insensitive,
            "src/deep/lib.rs:1:todo lower\nsrc/main.rs:2:// TODO: x"
        );
        assert!(grep(&root, &json!({"pattern": "("}))
            .unwrap_err()
            .contains("regular expression"));
    }
}
