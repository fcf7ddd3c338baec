//! A line reader with a bound on line length.
//!
//! A claude `result` line can be megabytes, so the bound is large (64 MiB by default), but it
//! exists: a runaway line is skipped and reported, never buffered without limit. `next` is
//! cancel-safe (all progress lives in `self`, and the only await is `fill_buf`), so it can sit
//! in a `select!` next to the process's exit.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

pub struct LineReader<R> {
    inner: BufReader<R>,
    max: usize,
    buf: Vec<u8>,
    /// Bytes of an over-long line skipped so far.
    skipping: Option<usize>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReadLine {
    /// A line without its `\n` (and without a trailing `\r`).
    Line(Vec<u8>),
    /// A line longer than the bound; `bytes` is its length.
    TooLong {
        bytes: usize,
    },
    Eof,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self::with_capacity(inner, 64 * 1024, max)
    }

    /// A reader whose buffer (the most one `read` takes from the pipe) is `capacity` bytes.
    pub fn with_capacity(inner: R, capacity: usize, max: usize) -> Self {
        Self {
            inner: BufReader::with_capacity(capacity.max(1), inner),
            max: max.max(1),
            buf: Vec::new(),
            skipping: None,
        }
    }

    pub async fn next(&mut self) -> std::io::Result<ReadLine> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                if let Some(bytes) = self.skipping.take() {
                    return Ok(ReadLine::TooLong { bytes });
                }
                if !self.buf.is_empty() {
                    return Ok(ReadLine::Line(self.take_line()));
                }
                return Ok(ReadLine::Eof);
            }
            match memchr::memchr(b'\n', available) {
                Some(end) => {
                    let result = if let Some(skipped) = self.skipping.take() {
                        ReadLine::TooLong {
                            bytes: skipped + end,
                        }
                    } else if self.buf.len() + end > self.max {
                        let bytes = self.buf.len() + end;
                        self.buf.clear();
                        ReadLine::TooLong { bytes }
                    } else {
                        self.buf.extend_from_slice(&available[..end]);
                        ReadLine::Line(self.take_line())
                    };
                    self.inner.consume(end + 1);
                    return Ok(result);
                }
                None => {
                    let n = available.len();
                    match &mut self.skipping {
                        Some(skipped) => *skipped += n,
                        None if self.buf.len() + n > self.max => {
                            self.skipping = Some(self.buf.len() + n);
                            self.buf = Vec::new();
                        }
                        None => self.buf.extend_from_slice(available),
                    }
                    self.inner.consume(n);
                }
            }
        }
    }

    fn take_line(&mut self) -> Vec<u8> {
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max: usize) -> Vec<ReadLine> {
        let mut reader = LineReader::new(input, max);
        let mut out = Vec::new();
        loop {
            let line = reader.next().await.unwrap();
            if line == ReadLine::Eof {
                return out;
            }
            out.push(line);
        }
    }

    #[tokio::test]
    async fn splits_lines_and_bounds_them() {
        let lines = read_all(b"a\r\nbb\n0123456789\nccc", 5).await;
        assert_eq!(
            lines,
            vec![
                ReadLine::Line(b"a".to_vec()),
                ReadLine::Line(b"bb".to_vec()),
                ReadLine::TooLong { bytes: 10 },
                ReadLine::Line(b"ccc".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn long_lines_across_buffer_refills() {
        let mut input = vec![b'x'; 200_000];
        input.push(b'\n');
        input.extend_from_slice(b"ok\n");
        let lines = read_all(&input, 1000).await;
        assert_eq!(
            lines,
            vec![
                ReadLine::TooLong { bytes: 200_000 },
                ReadLine::Line(b"ok".to_vec())
            ]
        );
    }
}
