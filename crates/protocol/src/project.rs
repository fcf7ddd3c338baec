//! Project naming shared by the server and its clients.

/// The seed server's `encodeProjectPath`: every `/`, `\`, `:`, whitespace, `~`, `_` and `.`
/// becomes `-`; every other character is kept. Seed clients group sessions by this name, so
/// it is the default `projectName`. It is lossy (`a_b` and `a.b` collide), which is why
/// projects also carry a stable id. The input must already be absolute.
pub fn encode_project_path(absolute_path: &str) -> String {
    let trimmed = if absolute_path.len() > 1 {
        absolute_path.trim_end_matches(['/', '\\'])
    } else {
        absolute_path
    };
    trimmed
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '~' | '_' | '.' => '-',
            c if c.is_whitespace() => '-',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_seed_examples() {
        assert_eq!(
            encode_project_path("/home/u/my_proj.v2/a b~c"),
            "-home-u-my-proj-v2-a-b-c"
        );
        assert_eq!(encode_project_path("/home/u/x(1)+y@z"), "-home-u-x(1)+y@z");
        assert_eq!(
            encode_project_path("C:\\Users\\test_user\\dr-claw\\project"),
            "C--Users-test-user-dr-claw-project"
        );
        assert_eq!(encode_project_path("/srv/demo/"), "-srv-demo");
        assert_eq!(encode_project_path("/a\tb\nc"), "-a-b-c");
    }
}
