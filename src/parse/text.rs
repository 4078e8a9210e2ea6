//! Text decoding shared by every line-oriented parser: BOM and UTF-16 detection, streaming
//! line splitting with a cap on line length, and a count of what could not be decoded.
//!
//! Windows tools write UTF-8 (with or without BOM), UTF-16LE with BOM (`reg export`, PowerShell
//! 5.1 `Out-File`) and ANSI; all are read here so parsers only ever see `&str` lines.

use std::io::{BufRead, BufReader, Read};
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
    buf: Vec<u8>,
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
        let mut br = BufReader::with_capacity(256 * 1024, reader);
        let head = br.fill_buf()?.to_vec();
        let (encoding, skip) = sniff(&head);
        br.consume(skip);
        let utf16_replaced = Arc::new(AtomicU64::new(0));
        let inner: Box<dyn BufRead + 'a> = match encoding {
            Encoding::Utf8 | Encoding::Utf8Bom => Box::new(br),
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let mut d = Utf16Decoder::new(br, encoding == Encoding::Utf16Be);
                d.replaced = Arc::clone(&utf16_replaced);
                Box::new(BufReader::with_capacity(256 * 1024, d))
            }
        };
        Ok(LineReader {
            inner,
            encoding,
            max_line,
            line_no: 0,
            cut_lines: 0,
            invalid_lines: 0,
            binary_lines: 0,
            unterminated: false,
            utf16_replaced,
            buf: Vec::with_capacity(256),
        })
    }

    /// The next line (1-based number, text without its line ending), or `None` at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, &str)>> {
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
            let (take, done) = match memchr(b'\n', avail) {
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
    /// Files the decoding damage as a problem of `path`, and marks the member as read only in
    /// part when its end is missing (see [`LineReader::unterminated`]). Call it once the whole
    /// file was read.
    pub fn report(&self, path: &str, sink: &mut super::Sink) {
        if let Some(d) = self.damage() {
            sink.problem(path, d);
        }
        if self.unterminated {
            sink.incomplete = Some(format!(
                "line {} ends without a line ending: the file looks cut short",
                self.line_no
            ));
        }
    }
}

/// Opens `reader` as a UTF-8 byte stream: the BOM is skipped and UTF-16 is converted, so
/// parsers that need bytes rather than lines (XML, JSON) share the sniffing of [`LineReader`].
/// UTF-8 input is passed through as it is, invalid sequences included.
pub fn decoded_reader<'a>(
    reader: &'a mut dyn Read,
) -> std::io::Result<(Encoding, Box<dyn BufRead + 'a>)> {
    let mut br = BufReader::with_capacity(256 * 1024, reader);
    let head = br.fill_buf()?.to_vec();
    let (encoding, skip) = sniff(&head);
    br.consume(skip);
    let inner: Box<dyn BufRead + 'a> = match encoding {
        Encoding::Utf8 | Encoding::Utf8Bom => Box::new(br),
        Encoding::Utf16Le => Box::new(BufReader::with_capacity(
            256 * 1024,
            Utf16Decoder::new(br, false),
        )),
        Encoding::Utf16Be => Box::new(BufReader::with_capacity(
            256 * 1024,
            Utf16Decoder::new(br, true),
        )),
    };
    Ok((encoding, inner))
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Decides the encoding from the first bytes: a BOM, or the NUL pattern of BOM-less UTF-16.
pub fn sniff(head: &[u8]) -> (Encoding, usize) {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return (Encoding::Utf8Bom, 3);
    }
    if head.starts_with(b"\xFF\xFE") {
        return (Encoding::Utf16Le, 2);
    }
    if head.starts_with(b"\xFE\xFF") {
        return (Encoding::Utf16Be, 2);
    }
    let sample = &head[..head.len().min(512)];
    if sample.len() >= 8 {
        let odd_nuls = sample
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count();
        let even_nuls = sample.iter().step_by(2).filter(|&&b| b == 0).count();
        let half = sample.len() / 2;
        if odd_nuls * 10 >= half * 9 && even_nuls * 10 < half {
            return (Encoding::Utf16Le, 0);
        }
        if even_nuls * 10 >= half * 9 && odd_nuls * 10 < half {
            return (Encoding::Utf16Be, 0);
        }
    }
    (Encoding::Utf8, 0)
}

/// Turns a UTF-16 byte stream into UTF-8 bytes, replacing unpaired surrogates with U+FFFD.
/// Surrogate pairs split across reads are kept together.
struct Utf16Decoder<R> {
    inner: R,
    big_endian: bool,
    pending: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    carry: Option<u8>,
    high: Option<u16>,
    /// Replacement characters written for damage, shared with the [`LineReader`] reporting it.
    replaced: Arc<AtomicU64>,
}

impl<R: BufRead> Utf16Decoder<R> {
    fn new(inner: R, big_endian: bool) -> Self {
        Utf16Decoder {
            inner,
            big_endian,
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            carry: None,
            high: None,
            replaced: Arc::new(AtomicU64::new(0)),
        }
    }

    /// U+FFFD standing for damage, counted.
    fn push_bad(&mut self) {
        self.replaced.fetch_add(1, Ordering::Relaxed);
        self.push_char('\u{FFFD}');
    }

    fn push_char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    fn refill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.out_pos = 0;
        let chunk = self.inner.fill_buf()?;
        if chunk.is_empty() {
            if self.high.take().is_some() || self.carry.take().is_some() {
                self.push_bad();
                return Ok(true);
            }
            return Ok(false);
        }
        self.pending.clear();
        if let Some(b) = self.carry.take() {
            self.pending.push(b);
        }
        self.pending.extend_from_slice(chunk);
        let n = chunk.len();
        self.inner.consume(n);
        let pending = std::mem::take(&mut self.pending);
        let mut i = 0;
        while i + 1 < pending.len() {
            let unit = if self.big_endian {
                u16::from_be_bytes([pending[i], pending[i + 1]])
            } else {
                u16::from_le_bytes([pending[i], pending[i + 1]])
            };
            i += 2;
            match (self.high.take(), unit) {
                (None, 0xD800..=0xDBFF) => self.high = Some(unit),
                (None, 0xDC00..=0xDFFF) => self.push_bad(),
                (None, u) => self.push_char(char::from_u32(u as u32).unwrap_or('\u{FFFD}')),
                (Some(h), 0xDC00..=0xDFFF) => {
                    let c = 0x10000 + (((h as u32) - 0xD800) << 10) + ((unit as u32) - 0xDC00);
                    self.push_char(char::from_u32(c).unwrap_or('\u{FFFD}'));
                }
                (Some(_), 0xD800..=0xDBFF) => {
                    self.push_bad();
                    self.high = Some(unit);
                }
                (Some(_), u) => {
                    self.push_bad();
                    self.push_char(char::from_u32(u as u32).unwrap_or('\u{FFFD}'));
                }
            }
        }
        if i < pending.len() {
            self.carry = Some(pending[i]);
        }
        self.pending = pending;
        Ok(true)
    }
}

impl<R: BufRead> Read for Utf16Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_pos >= self.out.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
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
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_found_anywhere_in_a_line() {
        let mut line = vec![b'a'; 100];
        assert!(!has_control_bytes(&line));
        line[5] = b'\t';
        line[70] = 0x1b;
        assert!(!has_control_bytes(&line), "tab and escape are text");
        for at in [0, 31, 32, 63, 99] {
            let mut l = line.clone();
            l[at] = 0;
            assert!(has_control_bytes(&l), "NUL at {at}");
            l[at] = 0x07;
            assert!(has_control_bytes(&l), "BEL at {at}");
        }
    }

    fn lines(bytes: &[u8], max: usize) -> (Vec<String>, Encoding, u64) {
        let mut r: &[u8] = bytes;
        let mut lr = LineReader::new(&mut r, max).unwrap();
        let mut out = Vec::new();
        while let Some((_, l)) = lr.next_line().unwrap() {
            out.push(l.to_string());
        }
        (out, lr.encoding, lr.cut_lines)
    }

    #[test]
    fn reads_utf8_bom_utf16_and_crlf() {
        let (l, e, _) = lines(b"\xEF\xBB\xBFa\r\nb\n", 100);
        assert_eq!(
            (l, e),
            (vec!["a".to_string(), "b".to_string()], Encoding::Utf8Bom)
        );
        let (l, e, _) = lines(&utf16le_with_bom("é\r\n😀x\r\n"), 100);
        assert_eq!(l, vec!["é", "😀x"]);
        assert_eq!(e, Encoding::Utf16Le);
        let bomless: Vec<u8> = "hello world line\r\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(lines(&bomless, 100).0, vec!["hello world line"]);
    }

    #[test]
    fn long_lines_are_cut_not_buffered() {
        let mut big = vec![b'x'; 5_000_000];
        big.extend_from_slice(b"\nnext");
        let (l, _, cut) = lines(&big, 1000);
        assert_eq!(l[0].len(), 1000);
        assert_eq!(l[1], "next");
        assert_eq!(cut, 1);
    }

    #[test]
    fn unpaired_surrogates_become_replacement_chars() {
        let mut b = vec![0xFF, 0xFE];
        b.extend_from_slice(&0xD800u16.to_le_bytes());
        b.extend_from_slice(&(b'a' as u16).to_le_bytes());
        assert_eq!(lines(&b, 100).0, vec!["\u{FFFD}a"]);
        let mut r: &[u8] = &b;
        let mut lr = LineReader::new(&mut r, 100).unwrap();
        while lr.next_line().unwrap().is_some() {}
        let d = lr.damage().unwrap_or_default();
        assert!(d.contains("1 invalid UTF-16 code unit"), "{d}");
    }
}
