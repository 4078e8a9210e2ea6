//! Text decoding shared by every line-oriented parser: BOM and UTF-16 detection, streaming
//! line splitting with a cap on line length, and a count of what could not be decoded.
//!
//! Windows tools write UTF-8 (with or without BOM), UTF-16LE with BOM (`reg export`, PowerShell
//! 5.1 `Out-File`) and ANSI; all are read here so parsers only ever see `&str` lines.

mod decoder;

use decoder::Decoder;
pub use decoder::sniff;
use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The encoding a file was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

/// Reads lines of at most `max_line` bytes; longer lines are cut and counted.
pub struct LineReader<'a> {
    inner: Box<dyn BufRead + 'a>,
    pub encoding: Encoding,
    max_line: usize,
    /// 1-based number of the last line returned.
    pub line_no: u64,
    /// Lines cut at `max_line`.
    pub cut_lines: u64,
    /// Lines that held invalid UTF-8 / UTF-16 (decoded with U+FFFD).
    pub invalid_lines: u64,
    /// Lines that held NUL bytes or other control bytes typical of binary data.
    pub binary_lines: u64,
    /// The last line ended without a line ending. Every Windows tool whose output is read here
    /// ends its files with one, so this is a file cut short (a full disk, a copy interrupted, a
    /// crash while writing, or zeros where the end should be).
    pub unterminated: bool,
    /// UTF-16 code units that formed no character (unpaired surrogates, an odd last byte),
    /// counted by the decoder as it replaces them with U+FFFD.
    utf16_replaced: Arc<AtomicU64>,
    /// Where the encoding changed inside the file (an appended run written by another tool).
    switches: Arc<std::sync::Mutex<Vec<Switch>>>,
    /// A line that spans two reads, or had to be repaired, is copied here.
    buf: Vec<u8>,
    /// Bytes of the last line returned from the reader's own buffer, consumed on the next call.
    pending: usize,
}

/// A change of encoding inside a file: the rest is decoded in the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// Byte offset in the file where the new encoding starts.
    pub at: u64,
    pub to: Encoding,
}

/// Whether a line holds a control byte other than tab and escape (NUL included): the sign of
/// binary data. Branch-free over 32-byte blocks so it vectorises: every line of every text
/// artefact goes through here.
fn has_control_bytes(line: &[u8]) -> bool {
    let control = |b: u8| (b < 0x20) & (b != b'\t') & (b != 0x1b);
    let mut blocks = line.chunks_exact(32);
    let found = blocks
        .by_ref()
        .any(|block| block.iter().fold(false, |acc, &b| acc | control(b)));
    found || blocks.remainder().iter().any(|&b| control(b))
}

impl<'a> LineReader<'a> {
    pub fn new(reader: &'a mut dyn Read, max_line: usize) -> std::io::Result<Self> {
        let (encoding, decoder) = Decoder::open(reader)?;
        let utf16_replaced = Arc::clone(&decoder.stats);
        let switches = Arc::clone(&decoder.switches);
        Ok(LineReader {
            inner: Box::new(decoder),
            encoding,
            max_line,
            line_no: 0,
            cut_lines: 0,
            invalid_lines: 0,
            binary_lines: 0,
            unterminated: false,
            utf16_replaced,
            switches,
            buf: Vec::with_capacity(256),
            pending: 0,
        })
    }

    /// The next line (1-based number, text without its line ending), or `None` at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, &str)>> {
        self.inner.consume(std::mem::take(&mut self.pending));
        // Most lines lie whole in the reader's buffer, ending there: they are read where they
        // are, not copied.
        let whole = memchr::memchr(b'\n', self.inner.fill_buf()?).filter(|&i| i < self.max_line);
        if let Some(i) = whole {
            let avail = self.inner.fill_buf()?;
            let mut line = &avail[..i];
            while let [rest @ .., b'\r'] = line {
                line = rest;
            }
            self.pending = i + 1;
            self.line_no += 1;
            self.unterminated = false;
            if has_control_bytes(line) {
                self.binary_lines += 1;
            }
            if let Ok(text) = std::str::from_utf8(line) {
                return Ok(Some((self.line_no, text)));
            }
            self.invalid_lines += 1;
            self.buf = String::from_utf8_lossy(line).into_owned().into_bytes();
            return Ok(Some((
                self.line_no,
                std::str::from_utf8(&self.buf).unwrap_or_default(),
            )));
        }
        self.buf.clear();
        let mut cut = false;
        let mut any = false;
        let mut ended = false;
        loop {
            let avail = self.inner.fill_buf()?;
            if avail.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            let room = self.max_line.saturating_sub(self.buf.len());
            let keep = take.min(room);
            self.buf.extend_from_slice(&avail[..keep]);
            if keep < take {
                cut = true;
            }
            self.inner.consume(take);
            if done {
                ended = true;
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.unterminated = !ended;
        self.line_no += 1;
        if cut {
            self.cut_lines += 1;
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        if has_control_bytes(&self.buf) {
            self.binary_lines += 1;
        }
        if !self.buf.is_ascii() && std::str::from_utf8(&self.buf).is_err() {
            self.invalid_lines += 1;
            let fixed = String::from_utf8_lossy(&self.buf).into_owned();
            self.buf = fixed.into_bytes();
        }
        // Checked or repaired just above.
        Ok(Some((
            self.line_no,
            std::str::from_utf8(&self.buf).unwrap_or_default(),
        )))
    }

    /// A one-line account of decoding damage, if there was any.
    pub fn damage(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.cut_lines > 0 {
            parts.push(format!(
                "{} line(s) longer than {} bytes were cut (raise with --max-line)",
                self.cut_lines, self.max_line
            ));
        }
        if self.invalid_lines > 0 {
            parts.push(format!(
                "{} line(s) were not valid {:?} text",
                self.invalid_lines, self.encoding
            ));
        }
        if self.binary_lines > 0 {
            parts.push(format!("{} line(s) held binary data", self.binary_lines));
        }
        if self.unterminated {
            parts.push(format!(
                "line {} ends without a line ending: the file looks cut short",
                self.line_no
            ));
        }
        for sw in self.switches() {
            parts.push(format!(
                "the encoding changes to {:?} at byte {}: the rest was decoded as {:?}",
                sw.to, sw.at, sw.to
            ));
        }
        let replaced = self.utf16_replaced.load(Ordering::Relaxed);
        if replaced > 0 {
            parts.push(format!(
                "{replaced} invalid UTF-16 code unit(s) (unpaired surrogates, odd byte) replaced with U+FFFD"
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

impl LineReader<'_> {
    /// Where the encoding changed inside the file, in order.
    pub fn switches(&self) -> Vec<Switch> {
        self.switches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Files the decoding damage as a problem of `path` and marks the member read in part:
    /// a line cut at `--max-line`, bytes that are not text, a change of encoding or a missing
    /// end are all absorbed by the reader, and what they hid may have shown a failure. Call it
    /// once the whole file was read.
    pub fn report(&self, path: &str, sink: &mut super::Sink) {
        if let Some(d) = self.damage() {
            sink.problem(path, d.clone());
            sink.absorbed(d);
        }
    }
}

/// Opens `reader` as a UTF-8 byte stream: the BOM is skipped and UTF-16 is converted, so
/// parsers that need bytes rather than lines (XML, JSON) share the sniffing of [`LineReader`].
/// UTF-8 input is passed through as it is, invalid sequences included.
pub fn decoded_reader<'a>(
    reader: &'a mut dyn Read,
) -> std::io::Result<(Encoding, Box<dyn BufRead + 'a>)> {
    let (encoding, decoder) = Decoder::open(reader)?;
    Ok((encoding, Box::new(decoder)))
}

/// Encodes text as UTF-16LE with a BOM, as Windows tools write it. Used by sample generators.
pub fn utf16le_with_bom(s: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests;
