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
    /// Where the encoding changed inside the file (an appended run written by another tool).
    switches: Arc<std::sync::Mutex<Vec<Switch>>>,
    buf: Vec<u8>,
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
            inner: Box::new(BufReader::with_capacity(256 * 1024, decoder)),
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
    Ok((
        encoding,
        Box::new(BufReader::with_capacity(256 * 1024, decoder)),
    ))
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

/// Turns the file's bytes into UTF-8 bytes: UTF-8 passes through as it is, UTF-16 is converted
/// (unpaired surrogates become U+FFFD, counted; pairs split across reads are kept together).
///
/// A file may change encoding part way: a setup run appended by a tool that writes UTF-16LE
/// after runs written in UTF-8, or the reverse. Both show in the raw bytes — UTF-16LE text is
/// an ASCII byte then a NUL, again and again; UTF-8 (or ANSI) text read as UTF-16 is a long run
/// of ASCII bytes with no NUL at all, which UTF-16 text never has — so the decoder watches for
/// them and decodes the rest in its real encoding, noting where ([`Switch`]).
struct Decoder<'a> {
    inner: &'a mut dyn Read,
    /// Current encoding: `Utf8` (passed through), `Utf16Le` or `Utf16Be`.
    mode: Encoding,
    /// Raw bytes read but not yet decoded.
    raw: Vec<u8>,
    /// Bytes of the file before `raw[0]`.
    offset: u64,
    eof: bool,
    out: Vec<u8>,
    out_pos: usize,
    high: Option<u16>,
    /// Replacement characters written for damage, shared with the [`LineReader`] reporting it.
    stats: Arc<AtomicU64>,
    switches: Arc<std::sync::Mutex<Vec<Switch>>>,
}

/// How many ASCII/NUL pairs in a row mean UTF-16LE text, and how many NUL-free ASCII bytes in a
/// row mean 8-bit text inside UTF-16. A line of real text is longer; chance alone is not.
const UTF16_PAIRS: usize = 16;
const ASCII_RUN: usize = 64;
/// Raw bytes kept back from decoding so a switch straddling two reads is still seen whole.
const LOOKAHEAD: usize = 2 * ASCII_RUN;
const READ_SIZE: usize = 256 * 1024;

fn is_text_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\r' | b'\n')
}

impl<'a> Decoder<'a> {
    fn open(inner: &'a mut dyn Read) -> std::io::Result<(Encoding, Self)> {
        let mut d = Decoder {
            inner,
            mode: Encoding::Utf8,
            raw: Vec::with_capacity(READ_SIZE + LOOKAHEAD),
            offset: 0,
            eof: false,
            out: Vec::new(),
            out_pos: 0,
            high: None,
            stats: Arc::new(AtomicU64::new(0)),
            switches: Default::default(),
        };
        // Up to 512 bytes decide the encoding (fewer when the file is smaller).
        while d.raw.len() < 512 && !d.eof {
            d.read_more()?;
        }
        let (encoding, skip) = sniff(&d.raw);
        d.raw.drain(..skip);
        d.offset = skip as u64;
        d.mode = match encoding {
            Encoding::Utf8Bom => Encoding::Utf8,
            e => e,
        };
        Ok((encoding, d))
    }

    fn read_more(&mut self) -> std::io::Result<()> {
        let len = self.raw.len();
        self.raw.resize(len + READ_SIZE, 0);
        let n = loop {
            match self.inner.read(&mut self.raw[len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.raw.truncate(len);
                    return Err(e);
                }
            }
        };
        self.raw.truncate(len + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// U+FFFD standing for damage, counted.
    fn push_bad(&mut self) {
        self.stats.fetch_add(1, Ordering::Relaxed);
        self.push_char('\u{FFFD}');
    }

    fn push_char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    /// Where UTF-16LE text starts in `raw[from..upto]`, if it does: the start of
    /// [`UTF16_PAIRS`] (ASCII, NUL) pairs, a BOM just before included.
    fn find_utf16(&self, upto: usize) -> Option<usize> {
        let raw = &self.raw;
        let pair = |i: usize| i + 1 < raw.len() && is_text_byte(raw[i]) && raw[i + 1] == 0;
        let mut i = 0;
        while i < upto {
            // Only a NUL can start the pattern's second byte: skip to the next one.
            let nul = memchr::memchr(0, &raw[i + 1..upto.min(raw.len()).max(i + 1)])? + i + 1;
            let p = nul - 1;
            if (0..UTF16_PAIRS).all(|k| pair(p + 2 * k)) {
                // Back up over pairs that came before in the same run, then over a BOM.
                let mut q = p;
                while q >= 2 && pair(q - 2) {
                    q -= 2;
                }
                if q >= 2 && raw[q - 2] == 0xFF && raw[q - 1] == 0xFE {
                    q -= 2;
                }
                return Some(q);
            }
            i = nul;
        }
        None
    }

    /// Where 8-bit text starts in `raw[..upto]` read as UTF-16: [`ASCII_RUN`] text bytes and no
    /// NUL, a UTF-8 BOM just before included.
    fn find_8bit(&self, upto: usize) -> Option<usize> {
        let raw = &self.raw;
        let mut run = 0usize;
        for (i, &b) in raw.iter().enumerate() {
            if is_text_byte(b) {
                run += 1;
                if run == ASCII_RUN {
                    let start = i + 1 - ASCII_RUN;
                    if start >= upto {
                        return None;
                    }
                    let bom = start >= 3 && raw[start - 3..start] == *b"\xEF\xBB\xBF";
                    return Some(if bom { start - 3 } else { start });
                }
            } else {
                run = 0;
                if i >= upto + ASCII_RUN {
                    return None;
                }
            }
        }
        None
    }

    fn refill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.out_pos = 0;
        while !self.eof && self.raw.len() < READ_SIZE + LOOKAHEAD {
            self.read_more()?;
        }
        if self.raw.is_empty() {
            if self.high.take().is_some() {
                self.push_bad();
                return Ok(true);
            }
            return Ok(false);
        }
        // Decode up to `upto`, keeping a look-ahead back unless the file has ended.
        let upto = if self.eof {
            self.raw.len()
        } else {
            self.raw.len() - LOOKAHEAD
        };
        let (end, next) = match self.mode {
            Encoding::Utf16Le | Encoding::Utf16Be => match self.find_8bit(upto) {
                Some(at) => (at, Some(Encoding::Utf8)),
                None => (upto, None),
            },
            _ => match self.find_utf16(upto) {
                Some(at) => (at, Some(Encoding::Utf16Le)),
                None => (upto, None),
            },
        };
        let used = match self.mode {
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let mut end = end;
                if next.is_none() && !self.eof && end % 2 == 1 {
                    end -= 1; // keep the half unit for the next read
                }
                self.decode_utf16(end, next.is_some());
                end
            }
            _ => {
                let raw = std::mem::take(&mut self.raw);
                self.out.extend_from_slice(&raw[..end]);
                self.raw = raw;
                end
            }
        };
        self.raw.drain(..used);
        self.offset += used as u64;
        if let Some(to) = next {
            if let Some(h) = self.high.take() {
                let _ = h;
                self.push_bad();
            }
            let mut skip = 0;
            if to == Encoding::Utf16Le && self.raw.starts_with(b"\xFF\xFE") {
                skip = 2;
            } else if to == Encoding::Utf8 && self.raw.starts_with(b"\xEF\xBB\xBF") {
                skip = 3;
            }
            self.raw.drain(..skip);
            self.switches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Switch {
                    at: self.offset,
                    to,
                });
            self.offset += skip as u64;
            self.mode = to;
        }
        Ok(true)
    }

    /// Decodes `raw[..end]` as UTF-16; an odd last byte is damage when `last` (nothing of the
    /// unit will follow).
    fn decode_utf16(&mut self, end: usize, last: bool) {
        let raw = std::mem::take(&mut self.raw);
        let big_endian = self.mode == Encoding::Utf16Be;
        let mut i = 0;
        while i + 1 < end {
            let unit = if big_endian {
                u16::from_be_bytes([raw[i], raw[i + 1]])
            } else {
                u16::from_le_bytes([raw[i], raw[i + 1]])
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
        if i < end && (last || self.eof) {
            self.push_bad();
        }
        self.raw = raw;
    }
}

impl Read for Decoder<'_> {
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

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    fn read_all(bytes: &[u8]) -> (Vec<String>, Vec<Switch>, Option<String>) {
        let mut r: &[u8] = bytes;
        let mut lr = LineReader::new(&mut r, 1 << 20).unwrap();
        let mut out = Vec::new();
        while let Some((_, l)) = lr.next_line().unwrap() {
            out.push(l.to_string());
        }
        (out, lr.switches(), lr.damage())
    }

    #[test]
    fn a_utf16_run_appended_to_utf8_is_decoded_as_utf16() {
        let first =
            "[12/01/2026 10:00:00.0000] [0] Starting Microsoft Exchange Server Setup\r\n".repeat(3);
        let second = "[12/02/2026 11:00:00.0000] [1] [ERROR] The appended run failed.\r\n";
        for bom in [false, true] {
            // Far from the start and across the decoder's read size, so a switch straddling
            // two reads is seen.
            let mut bytes = first.repeat(3000).into_bytes();
            let at = bytes.len() as u64;
            if bom {
                bytes.extend_from_slice(&[0xFF, 0xFE]);
            }
            bytes.extend(utf16le(second));
            let (lines, switches, damage) = read_all(&bytes);
            assert_eq!(
                lines.last().map(String::as_str),
                Some(second.trim_end()),
                "bom {bom}"
            );
            assert_eq!(lines.len(), 9001);
            assert_eq!(
                switches,
                vec![Switch {
                    at,
                    to: Encoding::Utf16Le
                }]
            );
            assert!(damage.unwrap().contains("encoding changes to Utf16Le"));
        }
    }

    #[test]
    fn an_8bit_run_appended_to_utf16_is_decoded_as_utf8() {
        let first = "[12/01/2026 10:00:00.0000] [0] Starting Microsoft Exchange Server Setup\r\n";
        let second = "[12/02/2026 11:00:00.0000] [1] [ERROR] The appended run failed.\r\n";
        let mut bytes = utf16le_with_bom(&first.repeat(5000));
        // An odd length before the switch: a half unit left by a crash.
        bytes.push(0xE9);
        let at = bytes.len() as u64;
        bytes.extend_from_slice(second.repeat(2).as_bytes());
        let (lines, switches, _) = read_all(&bytes);
        assert_eq!(lines.last().map(String::as_str), Some(second.trim_end()));
        assert_eq!(
            switches,
            vec![Switch {
                at,
                to: Encoding::Utf8
            }]
        );
    }

    #[test]
    fn text_in_one_encoding_never_switches() {
        let text = "[12/01/2026 10:00:00.0000] [0] Ünïcödé text, 中文字符, ok\r\n".repeat(20_000);
        assert!(read_all(text.as_bytes()).1.is_empty());
        assert!(read_all(&utf16le_with_bom(&text)).1.is_empty());
        // NUL runs are damage, not UTF-16.
        let mut nuls = text.clone().into_bytes();
        nuls.extend(vec![0u8; 100_000]);
        nuls.extend_from_slice(b"\r\n");
        let (_, sw, damage) = read_all(&nuls);
        assert!(sw.is_empty());
        assert!(damage.unwrap().contains("binary data"));
    }
}
