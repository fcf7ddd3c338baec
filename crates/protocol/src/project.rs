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

/// The longest Claude Code project folder name before it is shortened with a hash.
pub const CLAUDE_SLUG_MAX: usize = 200;

/// Claude Code's name for a project's folder under `~/.claude/projects`: the (already
/// resolved) absolute path with every character outside `[A-Za-z0-9]` replaced by `-`. A
/// name longer than 200 is cut to its first 200 characters, then `-` and the base-36 absolute
/// value of the path's 31-hash are appended.
///
/// Claude Code is JavaScript: the replacement and the hash both work on UTF-16 code units, so
/// a character outside the Basic Multilingual Plane (an emoji) becomes `--`, and the hash is
/// `h = h * 31 + unit` wrapped to a signed 32-bit integer. This is not the seed's
/// [`encode_project_path`] (which keeps `(`, `+`, `@` and non-ASCII): that one names
/// projects; this one only finds Claude Code's own files.
pub fn claude_project_slug(absolute_path: &str) -> String {
    let slug: String = absolute_path
        .encode_utf16()
        .map(|unit| match u8::try_from(unit) {
            Ok(b) if b.is_ascii_alphanumeric() => char::from(b),
            _ => '-',
        })
        .collect();
    if slug.len() <= CLAUDE_SLUG_MAX {
        return slug;
    }
    // After the replacement every character is ASCII, so byte and char indices agree.
    format!(
        "{}-{}",
        &slug[..CLAUDE_SLUG_MAX],
        to_base36(java_string_hash(absolute_path).unsigned_abs())
    )
}

/// The prefix every Claude Code folder of this path starts with when its name was shortened
/// (`None` when it is not). Claude Code itself falls back to such a prefix match, because
/// other builds of it hash long paths differently.
pub fn claude_project_slug_prefix(absolute_path: &str) -> Option<String> {
    let slug = claude_project_slug(absolute_path);
    (slug.len() > CLAUDE_SLUG_MAX).then(|| format!("{}-", &slug[..CLAUDE_SLUG_MAX]))
}

/// JavaScript's `(h << 5) - h + s.charCodeAt(i) | 0` over the UTF-16 code units.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `Number.prototype.toString(36)` of a non-negative integer.
fn to_base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("base-36 digits are ASCII")
}

/// Gemini CLI's folder name for a project (`~/.gemini/tmp/<slug>`) before any collision
/// suffix: the last path component lower-cased, every run of characters outside `[a-z0-9]`
/// one `-`, no `-` at either end, `project` when nothing is left. Gemini CLI records the
/// folder it chose in `~/.gemini/projects.json`, which is what readers should trust; this is
/// the fallback when that file is missing.
pub fn gemini_project_slug(absolute_path: &str) -> String {
    let base = absolute_path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let mut slug = String::with_capacity(base.len());
    for c in base.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "project".into()
    } else {
        slug.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_slug_replaces_everything_but_ascii_alphanumerics() {
        assert_eq!(claude_project_slug("/srv/demo/work"), "-srv-demo-work");
        assert_eq!(
            claude_project_slug("/srv/demo/w.o_r k~X"),
            "-srv-demo-w-o-r-k-X"
        );
        // Seen on the real CLI (claude 2.1.197): this folder is what it created.
        assert_eq!(
            claude_project_slug("/var/tmp/explore-work/my proj.v2_x(1)+y@z~é"),
            "-var-tmp-explore-work-my-proj-v2-x-1--y-z--"
        );
        for (path, slug) in [
            ("/a/b.c", "-a-b-c"),
            ("/a/b_c", "-a-b-c"),
            ("/a/b c", "-a-b-c"),
            ("/a/~b", "-a--b"),
            ("/a/(b)", "-a--b-"),
            ("/a/b+c", "-a-b-c"),
            ("/a/b@c", "-a-b-c"),
            ("/a/b-c", "-a-b-c"),
            ("/a/Ünï", "-a--n-"),
            ("/a/日本", "-a---"),
            // One code point outside the BMP is two UTF-16 units, so two dashes.
            ("/a/😀", "-a---"),
            ("/A/Z09", "-A-Z09"),
        ] {
            assert_eq!(claude_project_slug(path), slug, "{path}");
        }
    }

    #[test]
    fn claude_slug_shortens_long_paths_with_the_31_hash() {
        // Reference values computed with Claude Code's own JavaScript:
        //   h = 0; for (c of units) h = (h << 5) - h + c | 0; Math.abs(h).toString(36)
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(
            java_string_hash("/srv/demo"),
            js_hash_reference("/srv/demo")
        );
        assert_eq!(to_base36(0), "0");
        assert_eq!(to_base36(35), "z");
        assert_eq!(to_base36(36), "10");
        assert_eq!(to_base36(u32::MAX), "1z141z3");

        let exactly = format!("/{}", "a".repeat(199));
        assert_eq!(
            claude_project_slug(&exactly),
            format!("-{}", "a".repeat(199))
        );
        assert_eq!(claude_project_slug_prefix(&exactly), None);

        let long = format!("/home/u/{}/proj.v2", "x".repeat(250));
        let slug = claude_project_slug(&long);
        let replaced: String = long
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let hash = (js_hash_reference(&long) as i64).unsigned_abs();
        assert_eq!(
            slug,
            format!("{}-{}", &replaced[..200], to_base36(hash as u32))
        );
        // The suffix node computes for this very path.
        assert!(slug.ends_with("-53vn3b"), "{slug}");
        assert!(slug.starts_with(&claude_project_slug_prefix(&long).unwrap()));
        // Non-ASCII in a long path: the hash runs over UTF-16 units of the original path.
        let long_utf = format!("/données/{}/é😀", "y".repeat(240));
        let slug = claude_project_slug(&long_utf);
        assert_eq!(
            slug.len(),
            201 + to_base36(java_string_hash(&long_utf).unsigned_abs()).len()
        );
        assert!(slug.starts_with("-donn-es-yyy"));
    }

    /// An independent, literal transcription of the JavaScript, on i64 with explicit
    /// 32-bit wrapping (as `| 0` does).
    fn js_hash_reference(s: &str) -> i32 {
        let mut h: i64 = 0;
        for unit in s.encode_utf16() {
            h = ((h << 5) - h + i64::from(unit)) as i32 as i64;
        }
        h as i32
    }

    #[test]
    fn gemini_slug_follows_the_cli() {
        assert_eq!(gemini_project_slug("/srv/demo/work"), "work");
        assert_eq!(
            gemini_project_slug("/var/tmp/explore-work/my proj.v2_x(1)+y@z~é"),
            "my-proj-v2-x-1-y-z"
        );
        assert_eq!(gemini_project_slug("/srv/__/"), "project");
        assert_eq!(gemini_project_slug("/srv/Big--App"), "big-app");
    }

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
