//! Reading the agents' JSONL files: line by line, each line bounded, the file bounded, never
//! more than one line in memory; and the few text helpers the readers share.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// What a reader may read of one file.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// A longer line is skipped (and the file marked truncated).
    pub max_line_bytes: usize,
    /// Reading stops here (and the file is marked truncated).
    pub max_file_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: 8 * 1024 * 1024,
            max_file_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// Calls `each` with every complete, non-empty line of the file that fits the limits (as
/// UTF-8; invalid lines are skipped). Returns whether anything was skipped or left unread. A
/// last line without a newline is read too: agents append whole lines, and a torn one fails
/// to parse and is ignored by the callers.
pub fn for_each_line(
    path: &Path,
    limits: ReadLimits,
    mut each: impl FnMut(&str),
) -> std::io::Result<bool> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file.take(limits.max_file_bytes));
    let mut truncated = false;
    let mut line = Vec::new();
    let mut read_total: u64 = 0;
    loop {
        line.clear();
        let (complete, skipped, n) =
            read_bounded_line(&mut reader, &mut line, limits.max_line_bytes)?;
        read_total += n as u64;
        if n == 0 {
            break;
        }
        if skipped {
            truncated = true;
            continue;
        }
        if !complete && read_total >= limits.max_file_bytes {
            // Cut by the file limit, not by the end of the file.
            truncated = true;
            break;
        }
        let text = match std::str::from_utf8(&line) {
            Ok(text) => text.trim_end_matches(['\n', '\r']),
            Err(_) => {
                truncated = true;
                continue;
            }
        };
        if !text.trim().is_empty() {
            each(text);
        }
    }
    if read_total >= limits.max_file_bytes {
        truncated = true;
    }
    Ok(truncated)
}

/// Reads one line into `out`, keeping at most `max` bytes; a longer line is consumed to its
/// end and reported as skipped. Returns `(ended with a newline, skipped, bytes consumed)`.
fn read_bounded_line(
    reader: &mut impl BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(bool, bool, usize)> {
    let mut consumed = 0;
    let mut skipped = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((false, skipped, consumed));
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let len = chunk.len();
        if !skipped {
            if out.len() + len > max + 1 {
                skipped = true;
                out.clear();
            } else {
                out.extend_from_slice(chunk);
            }
        }
        reader.consume(len);
        consumed += len;
        if done {
            return Ok((true, skipped, consumed));
        }
    }
}

/// An RFC 3339 time (`2026-11-25T19:04:31.064Z`, or with an offset) in ms since the epoch.
pub fn parse_timestamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let text = s.get(r)?;
        text.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| text.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = frac[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh: i64 = rest.get(1..3)?.parse().ok()?;
            let mm: i64 = rest.get(4..6)?.parse().ok()?;
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (hh * 60 + mm)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(seconds * 1000 + millis).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 120;

/// A title from a message: its first non-empty line, whitespace collapsed, at most
/// [`MAX_TITLE_CHARS`] characters (with `…` when cut).
pub fn title_from(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_TITLE_CHARS {
        return Some(collapsed);
    }
    let mut cut: String = collapsed.chars().take(MAX_TITLE_CHARS - 1).collect();
    cut.push('…');
    Some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2026-11-25T19:04:31.064Z"),
            Some(1_795_633_471_064)
        );
        assert_eq!(
            parse_timestamp("2026-11-25T19:04:31.0641234Z"),
            Some(1_795_633_471_064)
        );
        assert_eq!(
            parse_timestamp("2026-11-25T20:04:31.5+01:00"),
            Some(1_795_633_471_500)
        );
        assert_eq!(
            parse_timestamp("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        for bad in [
            "",
            "2026-11-25",
            "2026-13-01T00:00:00Z",
            "2026-11-25T19:04:31",
            "x026-11-25T19:04:31Z",
            "2026-11-25T19:04:31.Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn titles() {
        assert_eq!(
            title_from("\n  fix   the\tbug \nmore").as_deref(),
            Some("fix the bug")
        );
        assert_eq!(title_from("   \n "), None);
        let long = "é".repeat(300);
        let t = title_from(&long).unwrap();
        assert_eq!(t.chars().count(), MAX_TITLE_CHARS);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn lines_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        let long = "x".repeat(100);
        std::fs::write(&path, format!("a\n{long}\n\nb\r\n\u{ff}\nlast")).unwrap();
        // Invalid UTF-8 in the middle.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.iter().position(|b| *b == 0xc3).unwrap();
        bytes[at] = 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let limits = ReadLimits {
            max_line_bytes: 10,
            max_file_bytes: 1 << 20,
        };
        let mut seen = Vec::new();
        let truncated = for_each_line(&path, limits, |l| seen.push(l.to_owned())).unwrap();
        assert_eq!(seen, vec!["a", "b", "last"]);
        assert!(truncated);
        let mut seen = Vec::new();
        let truncated = for_each_line(
            &path,
            ReadLimits {
                max_line_bytes: 1000,
                max_file_bytes: 4,
            },
            |l| seen.push(l.to_owned()),
        )
        .unwrap();
        assert_eq!(seen, vec!["a"]);
        assert!(truncated);
    }
}
