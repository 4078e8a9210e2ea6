//! The byte stream under [`super::LineReader`]: encoding sniffed, UTF-16 converted, UTF-8
//! handed out where it was read, and changes of encoding inside a file found.

use super::{Encoding, Switch};
use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
///
/// It is a [`BufRead`]: UTF-8 is handed out from the buffer it was read into, UTF-16 from the
/// buffer it was converted into, so a line is copied once (into the line, when it spans two
/// reads) rather than through a `BufReader` as well.
pub(super) struct Decoder<'a> {
    inner: &'a mut dyn Read,
    /// Current encoding: `Utf8` (passed through), `Utf16Le` or `Utf16Be`.
    mode: Encoding,
    /// Bytes read, of a fixed size: `buf[lo..hi]` is not yet decoded.
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// UTF-8 handed out as it was read: `buf[pass..pass_end]`, not yet consumed.
    pass: usize,
    pass_end: usize,
    /// Bytes of the file before `buf[lo]`.
    offset: u64,
    eof: bool,
    /// UTF-16 converted to UTF-8, `out[out_pos..]` not yet consumed.
    out: Vec<u8>,
    out_pos: usize,
    high: Option<u16>,
    /// Replacement characters written for damage, shared with the [`LineReader`] reporting it.
    pub(super) stats: Arc<AtomicU64>,
    pub(super) switches: Arc<std::sync::Mutex<Vec<Switch>>>,
}

/// How many ASCII/NUL pairs in a row mean UTF-16LE text, and how many NUL-free ASCII bytes in a
/// row mean 8-bit text inside UTF-16. A line of real text is longer; chance alone is not.
const UTF16_PAIRS: usize = 16;
const ASCII_RUN: usize = 64;
/// Raw bytes kept back from decoding so a switch straddling two reads is still seen whole.
const LOOKAHEAD: usize = 2 * ASCII_RUN;
const READ_SIZE: usize = 256 * 1024;
/// Room for a look-ahead left from the last read plus a whole new read.
const BUF_SIZE: usize = 2 * READ_SIZE + LOOKAHEAD;

fn is_text_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\r' | b'\n')
}

impl<'a> Decoder<'a> {
    pub(super) fn open(inner: &'a mut dyn Read) -> std::io::Result<(Encoding, Self)> {
        let mut d = Decoder {
            inner,
            mode: Encoding::Utf8,
            // Zeroed once (pages the system hands out zeroed), never again per read.
            buf: vec![0; BUF_SIZE],
            lo: 0,
            hi: 0,
            pass: 0,
            pass_end: 0,
            offset: 0,
            eof: false,
            out: Vec::new(),
            out_pos: 0,
            high: None,
            stats: Arc::new(AtomicU64::new(0)),
            switches: Default::default(),
        };
        // Up to 512 bytes decide the encoding (fewer when the file is smaller).
        while d.hi < 512 && !d.eof {
            d.read_more()?;
        }
        let (encoding, skip) = sniff(&d.buf[..d.hi]);
        d.lo = skip;
        d.offset = skip as u64;
        d.mode = match encoding {
            Encoding::Utf8Bom => Encoding::Utf8,
            e => e,
        };
        Ok((encoding, d))
    }

    /// Reads up to [`READ_SIZE`] bytes after `buf[..hi]`, which must leave room for them.
    fn read_more(&mut self) -> std::io::Result<()> {
        let room = &mut self.buf[self.hi..self.hi + READ_SIZE];
        let n = loop {
            match self.inner.read(room) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.hi += n;
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
        let raw = &self.buf[self.lo..self.hi];
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
        let raw = &self.buf[self.lo..self.hi];
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

    /// Decodes the next stretch into `out` or `buf[pass..pass_end]`, once both were consumed;
    /// `false` at the end of the file.
    fn refill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.out_pos = 0;
        self.pass = 0;
        self.pass_end = 0;
        // What is left (the look-ahead) moves to the front: the stretch handed out before it
        // was consumed.
        self.buf.copy_within(self.lo..self.hi, 0);
        self.hi -= self.lo;
        self.lo = 0;
        while !self.eof && self.hi < READ_SIZE + LOOKAHEAD {
            self.read_more()?;
        }
        if self.hi == 0 {
            if self.high.take().is_some() {
                self.push_bad();
                return Ok(true);
            }
            return Ok(false);
        }
        // Decode up to `upto`, keeping a look-ahead back unless the file has ended.
        let upto = if self.eof {
            self.hi
        } else {
            self.hi - LOOKAHEAD
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
                self.pass = self.lo;
                self.pass_end = self.lo + end;
                end
            }
        };
        self.lo += used;
        self.offset += used as u64;
        if let Some(to) = next {
            if let Some(h) = self.high.take() {
                let _ = h;
                self.push_bad();
            }
            let mut skip = 0;
            let rest = &self.buf[self.lo..self.hi];
            if to == Encoding::Utf16Le && rest.starts_with(b"\xFF\xFE") {
                skip = 2;
            } else if to == Encoding::Utf8 && rest.starts_with(b"\xEF\xBB\xBF") {
                skip = 3;
            }
            self.lo += skip;
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
        let buf = std::mem::take(&mut self.buf);
        let raw = &buf[self.lo..self.hi];
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
        self.buf = buf;
    }
}

impl BufRead for Decoder<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.out_pos >= self.out.len() && self.pass >= self.pass_end {
            if !self.refill()? {
                return Ok(&[]);
            }
        }
        // One of the two holds something: UTF-16 fills `out`, UTF-8 `pass`.
        if self.out_pos < self.out.len() {
            Ok(&self.out[self.out_pos..])
        } else {
            Ok(&self.buf[self.pass..self.pass_end])
        }
    }

    fn consume(&mut self, n: usize) {
        if self.out_pos < self.out.len() {
            self.out_pos = (self.out_pos + n).min(self.out.len());
        } else {
            self.pass = (self.pass + n).min(self.pass_end);
        }
    }
}

impl Read for Decoder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = buf.len().min(avail.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}
