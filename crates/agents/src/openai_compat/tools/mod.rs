//! The tools the model may call: Read, Write, Edit, Bash, Glob, Grep and LS.
//!
//! [`Tool`] names them and says which only read; [`definitions`] is the `tools` list sent to
//! the model (read-only ones only in plan mode); [`paths`] confines every path to the project
//! root; [`files`], [`search`] and [`bash`] run them.

pub mod bash;
pub mod files;
pub mod paths;
pub mod search;

use serde_json::{json, Value};

/// The text the model sees: `Ok` for a result, `Err` for a tool error.
pub type ToolResult = Result<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Read,
    Write,
    Edit,
    Bash,
    Glob,
    Grep,
    Ls,
}

impl Tool {
    pub const ALL: [Tool; 7] = [
        Tool::Read,
        Tool::Write,
        Tool::Edit,
        Tool::Bash,
        Tool::Glob,
        Tool::Grep,
        Tool::Ls,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Read => "Read",
            Tool::Write => "Write",
            Tool::Edit => "Edit",
            Tool::Bash => "Bash",
            Tool::Glob => "Glob",
            Tool::Grep => "Grep",
            Tool::Ls => "LS",
        }
    }

    /// By name; the seed's `Search` is Grep.
    pub fn parse(name: &str) -> Option<Tool> {
        if name == "Search" {
            return Some(Tool::Grep);
        }
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Tools that change nothing: allowed in every mode, and the only ones in plan mode.
    pub fn is_read_only(self) -> bool {
        matches!(self, Tool::Read | Tool::Glob | Tool::Grep | Tool::Ls)
    }

    /// The argument permission rules match against: `Bash(git log:*)` against the command,
    /// `Write(src/*)` against the path.
    pub fn subject(self, input: &Value) -> Option<&str> {
        match self {
            Tool::Bash => arg_str(input, &["command"]),
            Tool::Glob | Tool::Grep => arg_str(input, &["pattern"]),
            _ => arg_str(input, &["file_path", "path", "directory"]),
        }
    }

    fn description_and_parameters(self) -> (&'static str, Value) {
        let path = json!({"type": "string", "description": "A path inside the project, relative to its root (absolute paths must also be inside it)."});
        match self {
            Tool::Read => (
                "Read a text file. Lines come numbered. Use offset (1-based line) and limit to page through long files.",
                json!({"type": "object", "properties": {"file_path": path, "offset": {"type": "integer"}, "limit": {"type": "integer"}}, "required": ["file_path"]}),
            ),
            Tool::Write => (
                "Create or overwrite a file with the given content. Parent directories are created.",
                json!({"type": "object", "properties": {"file_path": path, "content": {"type": "string"}}, "required": ["file_path", "content"]}),
            ),
            Tool::Edit => (
                "Replace old_string with new_string in a file. old_string must occur exactly once unless replace_all is true.",
                json!({"type": "object", "properties": {"file_path": path, "old_string": {"type": "string"}, "new_string": {"type": "string"}, "replace_all": {"type": "boolean"}}, "required": ["file_path", "old_string", "new_string"]}),
            ),
            Tool::Bash => (
                "Run a bash command in the project directory. Output (stdout and stderr) is cut at 30 KB. timeout is in milliseconds (default 120000).",
                json!({"type": "object", "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}, "description": {"type": "string"}}, "required": ["command"]}),
            ),
            Tool::Glob => (
                "Find files whose path (relative to path, default the project root) matches a glob such as **/*.rs. Honours .gitignore.",
                json!({"type": "object", "properties": {"pattern": {"type": "string"}, "path": path}, "required": ["pattern"]}),
            ),
            Tool::Grep => (
                "Search file contents with a regular expression. Returns path:line:text. glob filters files (e.g. *.rs); -i ignores case.",
                json!({"type": "object", "properties": {"pattern": {"type": "string"}, "path": path, "glob": {"type": "string"}, "-i": {"type": "boolean"}}, "required": ["pattern"]}),
            ),
            Tool::Ls => (
                "List a directory (default the project root). Directories end with /.",
                json!({"type": "object", "properties": {"path": path}}),
            ),
        }
    }
}

/// The `tools` list of a request.
pub fn definitions(read_only: bool) -> Vec<Value> {
    Tool::ALL
        .into_iter()
        .filter(|t| !read_only || t.is_read_only())
        .map(|tool| {
            let (description, parameters) = tool.description_and_parameters();
            json!({"type": "function", "function": {
                "name": tool.name(), "description": description, "parameters": parameters}})
        })
        .collect()
}

/// Runs a tool that needs no process (everything but Bash). Blocking: call it from
/// `spawn_blocking`.
pub fn run_file_tool(tool: Tool, root: &paths::Root, input: &Value) -> ToolResult {
    match tool {
        Tool::Read => files::read(root, input),
        Tool::Write => files::write(root, input),
        Tool::Edit => files::edit(root, input),
        Tool::Ls => files::ls(root, input),
        Tool::Glob => search::glob(root, input),
        Tool::Grep => search::grep(root, input),
        Tool::Bash => Err("Bash is not a file tool".into()),
    }
}

/// The first of `names` that is a string argument.
pub(crate) fn arg_str<'a>(args: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| args.get(*n).and_then(Value::as_str))
}

/// A non-negative integer argument; models sometimes send numbers as strings.
pub(crate) fn arg_u64(args: &Value, name: &str) -> Option<u64> {
    match args.get(name)? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_definitions() {
        assert_eq!(Tool::parse("LS"), Some(Tool::Ls));
        assert_eq!(Tool::parse("Search"), Some(Tool::Grep));
        assert_eq!(Tool::parse("WebFetch"), None);
        let all = definitions(false);
        assert_eq!(all.len(), 7);
        let plan: Vec<String> = definitions(true)
            .iter()
            .map(|d| d["function"]["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(plan, ["Read", "Glob", "Grep", "LS"]);
        assert_eq!(
            all[3]["function"]["parameters"]["required"],
            json!(["command"])
        );
    }

    #[test]
    fn arguments() {
        let args = json!({"path": "a", "n": "12", "f": 3.0});
        assert_eq!(arg_str(&args, &["file_path", "path"]), Some("a"));
        assert_eq!(arg_u64(&args, "n"), Some(12));
        assert_eq!(arg_u64(&args, "f"), Some(3));
        assert_eq!(Tool::Bash.subject(&json!({"command": "ls"})), Some("ls"));
    }
}
