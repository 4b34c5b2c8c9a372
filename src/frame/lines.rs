//! Text lines (VPC flow logs): `memchr` for the newline, `\r` before it and blank lines
//! dropped. The header is the object's first record; the caller takes it from the first chunk.

use memchr::memchr;

use super::{Check, End, FrameError, Span, Splitter};

#[derive(Default)]
pub struct LineSplitter {
    pos: usize,
    line_start: usize,
    skipping: bool,
    skipped: u64,
    /// Whether the skipped part of the line had anything but whitespace.
    skipped_content: bool,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, buf: &[u8], end: usize, out: &mut Vec<Span>) {
        let mut e = end;
        if e > self.line_start && buf[e - 1] == b'\r' {
            e -= 1;
        }
        let content = buf[self.line_start..e]
            .iter()
            .any(|b| !b.is_ascii_whitespace());
        if self.skipping {
            // A blank line stays blank however long it is and wherever reads end in it.
            if self.skipped_content || content {
                out.push(Span::Oversized {
                    bytes: self.skipped + (e - self.line_start) as u64,
                });
            }
            self.skipping = false;
            self.skipped = 0;
            self.skipped_content = false;
        } else if buf[self.line_start..e]
            .iter()
            .any(|b| !b.is_ascii_whitespace())
        {
            out.push(Span::Record {
                start: self.line_start as u32,
                end: e as u32,
                check: Check::Unchecked,
                members: (0, 0),
            });
        }
    }
}

impl Splitter for LineSplitter {
    fn scan(&mut self, buf: &[u8], out: &mut Vec<Span>) -> Result<(), FrameError> {
        while let Some(i) = memchr(b'\n', &buf[self.pos..]) {
            let nl = self.pos + i;
            self.push(buf, nl, out);
            self.pos = nl + 1;
            self.line_start = self.pos;
        }
        self.pos = buf.len();
        Ok(())
    }

    fn keep_from(&self) -> usize {
        self.line_start
    }

    fn rebase(&mut self, n: usize) {
        self.pos = self.pos.saturating_sub(n);
        self.line_start = self.line_start.saturating_sub(n);
    }

    fn skip_current(&mut self, buf: &[u8]) -> (usize, usize) {
        let len = self.pos - self.line_start;
        // The caller drops these bytes: remember whether the line had content in them.
        self.skipped_content |= buf[self.line_start..self.pos]
            .iter()
            .any(|b| !b.is_ascii_whitespace());
        self.skipped += len as u64;
        self.skipping = true;
        self.pos = self.line_start;
        (self.line_start, len)
    }

    fn finish(&mut self, buf: &[u8], out: &mut Vec<Span>) -> Result<End, FrameError> {
        if self.line_start < buf.len() || self.skipping {
            self.push(buf, buf.len(), out);
        }
        self.pos = buf.len();
        self.line_start = buf.len();
        Ok(End::Complete)
    }
}
