//! A hardened XML walk shared by the IIS parsers (`web.config`, `applicationHost.config`).
//!
//! The files come from a client's server and may be damaged or hostile, so the walk:
//! - never expands entities: a DOCTYPE is reported and ignored (quick-xml does not read DTDs),
//!   references to undeclared entities are left as written;
//! - caps nesting at `--max-xml-depth`: deeper elements are skipped (counted, not visited);
//! - caps one token (a tag, a text run, a comment) at [`MAX_TOKEN_BYTES`], so a file without a
//!   single `<` cannot make the reader buffer gigabytes, while a 10 MB one-line file of normal
//!   elements reads fine;
//! - reads UTF-8 (BOM or not) and UTF-16 (BOM or not); invalid bytes become U+FFFD and are counted;
//! - keeps what it read before a syntax error (a truncated file still yields its first elements)
//!   and says where it stopped.
//!
//! Every element is handed to the caller with its 1-based line number and its ancestors' names,
//! so facts can cite `path:line` and an element path.

use super::text::{Encoding, decoded_reader};
use crate::bundle::LimitHit;
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use std::collections::VecDeque;
use std::io::{BufRead, Read};

/// Longest single XML token (tag with its attributes, text run, comment, DOCTYPE) accepted.
/// Real IIS files have tokens of a few KiB; this is far above that and far below memory trouble.
pub const MAX_TOKEN_BYTES: u64 = 32 << 20;

/// An element as the walk hands it over.
#[derive(Debug)]
pub struct Element<'e> {
    /// Qualified name as written (`add`, `system.webServer`).
    pub name: &'e str,
    /// Attributes in document order; values with predefined entities and character references
    /// resolved, anything else left as written.
    pub attrs: &'e [(String, String)],
    /// 1-based line of the element's `<`.
    pub line: u64,
    /// Names of the enclosing elements, outermost first.
    pub ancestors: &'e [String],
    /// `<x/>`: a `Close` follows at once.
    pub self_closing: bool,
}

impl Element<'_> {
    /// The value of attribute `name` (case-sensitive, as XML is).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `configuration/system.webServer/globalModules/add[@name='exppw']`-style path, with the
    /// predicate on `key` when the element has that attribute.
    pub fn path(&self, key: Option<&str>) -> String {
        let mut p = self.ancestors.join("/");
        if !p.is_empty() {
            p.push('/');
        }
        p.push_str(self.name);
        if let Some(v) = key.and_then(|k| self.attr(k).map(|v| (k, v))) {
            p.push_str(&format!("[@{}='{}']", v.0, v.1));
        }
        p
    }

    /// Whether the element sits directly under the given chain of ancestors (the tail of
    /// `ancestors`), e.g. `under(&["system.webServer", "modules"])`.
    pub fn under(&self, tail: &[&str]) -> bool {
        self.ancestors.len() >= tail.len()
            && self.ancestors[self.ancestors.len() - tail.len()..]
                .iter()
                .zip(tail)
                .all(|(a, b)| a == b)
    }
}

/// What the walk reports to its caller.
#[derive(Debug)]
pub enum Node<'e> {
    Open(Element<'e>),
    Close {
        name: &'e str,
        ancestors: &'e [String],
    },
}

/// How the walk went.
#[derive(Debug)]
pub struct Summary {
    pub encoding: Encoding,
    /// Elements handed to the caller.
    pub elements: u64,
    /// The whole file was read and was well-formed enough to reach its end.
    pub complete: bool,
    /// Damage and refusals, one sentence each, for `Sink::problem`.
    pub problems: Vec<String>,
}

/// Walks the XML in `reader`, calling `visit` for every element within the depth limit.
///
/// Returns `Err` only for failures of the underlying reader (I/O, bundle limits), after visiting
/// what was read; malformed XML ends the walk with `complete == false` and a problem.
pub fn walk(
    reader: &mut dyn Read,
    max_depth: usize,
    visit: &mut dyn FnMut(&Node<'_>),
) -> std::io::Result<Summary> {
    let (encoding, decoded) = decoded_reader(reader)?;
    let tracker = Tracker::new(Utf8Lossy::new(decoded), MAX_TOKEN_BYTES);
    let mut xml = quick_xml::Reader::from_reader(tracker);
    {
        let c = xml.config_mut();
        c.trim_text(false);
        c.expand_empty_elements = false;
        // Our own stack tracks depth; quick-xml's would grow without bound on hostile nesting.
        c.check_end_names = false;
        c.allow_unmatched_ends = true;
        c.check_comments = false;
    }

    let mut summary = Summary {
        encoding,
        elements: 0,
        complete: false,
        problems: Vec::new(),
    };
    let mut stack: Vec<String> = Vec::new();
    let mut too_deep: u64 = 0; // open elements beyond the limit
    let mut skipped_deep: u64 = 0;
    let mut custom_refs: u64 = 0;
    let mut bad_attrs: u64 = 0;
    let mut unmatched_ends: u64 = 0;
    let mut mismatched_ends: u64 = 0;
    let mut control_chars: u64 = 0;
    let mut buf = Vec::new();
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut io_error = None;

    loop {
        let start = xml.buffer_position();
        buf.clear();
        let event = xml.read_event_into(&mut buf);
        xml.get_mut().mark();
        let (e, empty) = match event {
            Ok(Event::Start(e)) => (e, false),
            Ok(Event::Empty(e)) => (e, true),
            Ok(Event::End(end)) => {
                if too_deep > 0 {
                    too_deep -= 1;
                } else if let Some(name) = stack.pop() {
                    if end.name().0 != name.as_str() {
                        mismatched_ends += 1;
                    }
                    visit(&Node::Close {
                        name: &name,
                        ancestors: &stack,
                    });
                } else {
                    // An end tag with nothing open: the file's beginning is missing.
                    unmatched_ends += 1;
                }
                continue;
            }
            Ok(Event::Text(t)) => {
                if has_control_chars(t.as_bytes()) {
                    control_chars += 1;
                }
                continue;
            }
            Ok(Event::DocType(d)) => {
                let line = xml.get_mut().line_at(start);
                let text: &str = &d;
                let entities = text.matches("<!ENTITY").count();
                summary.problems.push(if text.contains('[') {
                    format!(
                        "DOCTYPE with an internal subset ({entities} entity declaration(s)) at line {line} ignored: entities are never expanded"
                    )
                } else {
                    format!("DOCTYPE at line {line} ignored: no DTD is read")
                });
                continue;
            }
            Ok(Event::GeneralRef(r)) => {
                if !r.is_char_ref() && quick_xml::escape::resolve_predefined_entity(&r).is_none() {
                    custom_refs += 1;
                }
                continue;
            }
            Ok(Event::Eof) => {
                summary.complete = true;
                break;
            }
            Ok(_) => continue,
            Err(quick_xml::Error::Io(e)) => {
                let tracker = xml.get_mut();
                if tracker.token_cap_hit {
                    let line = tracker.line_at(start);
                    summary.problems.push(format!(
                        "a single XML token starting at line {line} is longer than {} MiB: read stopped there",
                        MAX_TOKEN_BYTES >> 20
                    ));
                } else {
                    io_error = Some(rebuild_io_error(&e));
                }
                break;
            }
            Err(e) => {
                let at = xml.error_position();
                let line = xml.get_mut().line_at(at.max(start));
                summary.problems.push(format!(
                    "not well-formed XML at line {line} ({e}): read stopped there (truncated or damaged file?)"
                ));
                break;
            }
        };
        // NUL and other control characters have no place in a tag: damage (zeros written over
        // part of the file) that can hide whole elements inside what reads as an attribute.
        if has_control_chars(e.as_bytes()) {
            control_chars += 1;
        }
        if too_deep > 0 || stack.len() >= max_depth {
            skipped_deep += 1;
            if !empty {
                too_deep += 1;
            }
            continue;
        }
        attrs.clear();
        let mut it = e.attributes();
        it.with_checks(false);
        for a in it {
            match a {
                Ok(a) => {
                    let key = a.key.0.to_string();
                    let value = match a.normalized_value(XmlVersion::Implicit1_0) {
                        Ok(v) => v.into_owned(),
                        Err(_) => {
                            custom_refs += 1;
                            a.value.into_owned()
                        }
                    };
                    attrs.push((key, value));
                }
                Err(_) => {
                    bad_attrs += 1;
                    break;
                }
            }
        }
        let name = e.name().0.to_string();
        let line = xml.get_mut().line_at(start);
        summary.elements += 1;
        visit(&Node::Open(Element {
            name: &name,
            attrs: &attrs,
            line,
            ancestors: &stack,
            self_closing: empty,
        }));
        if empty {
            visit(&Node::Close {
                name: &name,
                ancestors: &stack,
            });
        } else {
            stack.push(name);
        }
    }

    if summary.complete && (!stack.is_empty() || too_deep > 0) {
        summary.complete = false;
        summary.problems.push(format!(
            "the file ends with {} element(s) still open (truncated?)",
            stack.len() as u64 + too_deep
        ));
    }
    if skipped_deep > 0 {
        summary.problems.push(format!(
            "{skipped_deep} element(s) nested deeper than {max_depth} levels were skipped (raise with --max-xml-depth)"
        ));
    }
    if custom_refs > 0 {
        summary.problems.push(format!(
            "{custom_refs} reference(s) to undeclared or custom entities left unexpanded"
        ));
    }
    if unmatched_ends > 0 {
        summary.problems.push(format!(
            "{unmatched_ends} end tag(s) close elements that were never opened: the start of the file is missing"
        ));
    }
    if mismatched_ends > 0 {
        summary.problems.push(format!(
            "{mismatched_ends} end tag(s) do not match the element they close (damaged file?)"
        ));
    }
    if control_chars > 0 {
        summary.problems.push(format!(
            "{control_chars} tag(s) or text run(s) hold NUL or other control characters (damaged file?)"
        ));
    }
    if bad_attrs > 0 {
        summary.problems.push(format!(
            "{bad_attrs} element(s) with malformed attributes (read up to the damage)"
        ));
    }
    let invalid = xml.get_ref().invalid_utf8();
    if invalid > 0 {
        summary.problems.push(format!(
            "{invalid} invalid byte sequence(s) for {encoding:?} replaced with U+FFFD"
        ));
    }
    match io_error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Control characters other than tab, CR and LF: never in a sound configuration file.
fn has_control_chars(b: &[u8]) -> bool {
    b.iter()
        .any(|&c| c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n'))
}

impl Summary {
    /// Marks `sink` read in part for anything the walk absorbed: where it stopped, what it
    /// skipped or could not decode. Nothing is absorbed silently.
    pub fn absorb_into(&self, sink: &mut super::Sink) {
        if !self.complete {
            // What follows the point where the walk stopped is unknown.
            sink.absorbed("the XML was read only up to where it stops or breaks");
        }
        for p in &self.problems {
            sink.absorbed(p.clone());
        }
    }
}

/// quick-xml hands I/O errors over behind an `Arc`; a bundle limit hit is rebuilt so that
/// `parse::Error::from_io` can still name the limit and its flag.
fn rebuild_io_error(e: &std::io::Error) -> std::io::Error {
    match e.get_ref().and_then(|i| i.downcast_ref::<LimitHit>()) {
        Some(hit) => std::io::Error::other(hit.clone()),
        None => std::io::Error::new(e.kind(), e.to_string()),
    }
}

/// Turns a byte stream into valid UTF-8, replacing invalid sequences with U+FFFD. A sequence
/// split across two reads is kept together.
struct Utf8Lossy<R> {
    inner: R,
    out: Vec<u8>,
    pos: usize,
    carry: Vec<u8>,
    invalid: u64,
}

impl<R: BufRead> Utf8Lossy<R> {
    fn new(inner: R) -> Self {
        Utf8Lossy {
            inner,
            out: Vec::new(),
            pos: 0,
            carry: Vec::new(),
            invalid: 0,
        }
    }

    fn refill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.pos = 0;
        let chunk = self.inner.fill_buf()?;
        if chunk.is_empty() {
            if self.carry.is_empty() {
                return Ok(false);
            }
            self.carry.clear();
            self.invalid += 1;
            self.out.extend_from_slice("\u{FFFD}".as_bytes());
            return Ok(true);
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let n = chunk.len();
        self.inner.consume(n);
        let mut s = &data[..];
        loop {
            match std::str::from_utf8(s) {
                Ok(_) => {
                    self.out.extend_from_slice(s);
                    break;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    self.out.extend_from_slice(&s[..good]);
                    match e.error_len() {
                        Some(bad) => {
                            self.invalid += 1;
                            self.out.extend_from_slice("\u{FFFD}".as_bytes());
                            s = &s[good + bad..];
                        }
                        None => {
                            self.carry = s[good..].to_vec();
                            break;
                        }
                    }
                }
            }
        }
        Ok(true)
    }
}

impl<R: BufRead> Read for Utf8Lossy<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.out.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The `BufRead` quick-xml reads from: it counts lines as bytes are consumed (holding only the
/// newlines not yet asked about, so memory stays bounded) and refuses a token that grows past
/// the cap.
struct Tracker<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// Bytes consumed so far (the position quick-xml reports).
    offset: u64,
    /// Offsets of newlines consumed but not yet counted into `lines_before`.
    newlines: VecDeque<u64>,
    lines_before: u64,
    since_mark: u64,
    max_token: u64,
    token_cap_hit: bool,
}

impl<R: Read> Tracker<R> {
    fn new(inner: R, max_token: u64) -> Self {
        Tracker {
            inner,
            buf: vec![0u8; 64 * 1024].into_boxed_slice(),
            pos: 0,
            filled: 0,
            offset: 0,
            newlines: VecDeque::new(),
            lines_before: 0,
            since_mark: 0,
            max_token,
            token_cap_hit: false,
        }
    }

    /// An event ended: the next token starts counting from zero.
    fn mark(&mut self) {
        self.since_mark = 0;
    }

    /// 1-based line of byte `pos`; `pos` never goes backwards between calls.
    fn line_at(&mut self, pos: u64) -> u64 {
        while self.newlines.front().is_some_and(|&n| n < pos) {
            self.newlines.pop_front();
            self.lines_before += 1;
        }
        self.lines_before + 1
    }
}

impl<R> Tracker<Utf8Lossy<R>> {
    fn invalid_utf8(&self) -> u64 {
        self.inner.invalid
    }
}

impl<R: Read> Read for Tracker<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Tracker<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.filled {
            if self.since_mark > self.max_token {
                self.token_cap_hit = true;
                return Err(std::io::Error::other("XML token too long"));
            }
            self.filled = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.filled - self.pos);
        for (i, &b) in self.buf[self.pos..self.pos + amt].iter().enumerate() {
            if b == b'\n' {
                self.newlines.push_back(self.offset + i as u64);
            }
        }
        self.pos += amt;
        self.offset += amt as u64;
        self.since_mark += amt as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::text::utf16le_with_bom;

    /// (name, line, depth, attrs) of every element, plus the summary.
    fn elements(xml: &[u8], max_depth: usize) -> (Vec<(String, u64, usize)>, Summary) {
        let mut out = Vec::new();
        let mut r: &[u8] = xml;
        let s = walk(&mut r, max_depth, &mut |n| {
            if let Node::Open(e) = n {
                out.push((e.name.to_string(), e.line, e.ancestors.len()));
            }
        })
        .unwrap();
        (out, s)
    }

    #[test]
    fn elements_come_with_lines_and_ancestors() {
        let xml = b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\r\n<configuration>\r\n  <a x=\"1\">\r\n\r\n    <b y='&amp;&#65;'/>\r\n  </a>\r\n</configuration>\r\n";
        let (els, s) = elements(xml, 10);
        assert_eq!(
            els,
            vec![
                ("configuration".into(), 2, 0),
                ("a".into(), 3, 1),
                ("b".into(), 5, 2)
            ]
        );
        assert!(s.complete, "{:?}", s.problems);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        let mut r: &[u8] = xml;
        let mut seen = Vec::new();
        walk(&mut r, 10, &mut |n| {
            if let Node::Open(e) = n
                && e.name == "b"
            {
                seen.push((e.attr("y").map(str::to_string), e.path(Some("y"))));
            }
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![(
                Some("&A".to_string()),
                "configuration/a/b[@y='&A']".to_string()
            )]
        );
    }

    #[test]
    fn utf16_files_are_read_with_the_same_lines() {
        let xml = utf16le_with_bom(
            "<?xml version=\"1.0\" encoding=\"utf-16\"?>\r\n<c>\r\n<é a=\"ü\"/></c>",
        );
        let (els, s) = elements(&xml, 10);
        assert_eq!(els, vec![("c".into(), 2, 0), ("é".into(), 3, 1)]);
        assert_eq!(s.encoding, Encoding::Utf16Le);
        assert!(s.complete);
    }

    #[test]
    fn billion_laughs_is_not_expanded() {
        let mut xml =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_string()
            } else {
                format!("lol{}", i - 1)
            };
            xml.push_str(&format!(
                " <!ENTITY lol{i} \"{}\">\n",
                format!("&{prev};").repeat(10)
            ));
        }
        xml.push_str("]>\n<lolz a=\"&lol9;\">&lol9;</lolz>\n");
        let mut vals = Vec::new();
        let mut r: &[u8] = xml.as_bytes();
        let s = walk(&mut r, 10, &mut |n| {
            if let Node::Open(e) = n {
                vals.push(e.attr("a").unwrap_or_default().to_string());
            }
        })
        .unwrap();
        assert_eq!(vals, vec!["&lol9;"], "the reference is kept as written");
        assert!(
            s.problems
                .iter()
                .any(|p| p.contains("10 entity declaration(s)")),
            "{:?}",
            s.problems
        );
        assert!(s.problems.iter().any(|p| p.contains("left unexpanded")));
    }

    #[test]
    fn nesting_beyond_the_limit_is_skipped_and_the_rest_is_read() {
        let mut xml = String::from("<root>");
        xml.push_str(&"<d>".repeat(100_000));
        xml.push_str(&"</d>".repeat(100_000));
        xml.push_str("\n<after/></root>");
        let (els, s) = elements(xml.as_bytes(), 16);
        assert_eq!(els.len(), 17, "root + 15 <d> + <after>");
        assert_eq!(els.last().unwrap(), &("after".to_string(), 2, 1));
        assert!(s.complete);
        assert!(
            s.problems.iter().any(|p| p.contains("deeper than 16")),
            "{:?}",
            s.problems
        );
    }

    #[test]
    fn truncated_file_keeps_what_came_before() {
        let xml = b"<c>\n<a/>\n<b x=\"unfinished";
        let (els, s) = elements(xml, 10);
        assert_eq!(els, vec![("c".into(), 1, 0), ("a".into(), 2, 1)]);
        assert!(!s.complete);
        assert!(
            s.problems.iter().any(|p| p.contains("line 3")),
            "{:?}",
            s.problems
        );
    }

    #[test]
    fn garbage_and_invalid_utf8_do_not_panic() {
        let (els, s) = elements(b"\x00\x01\xff\xfe\xfd garbage <<<>>> \xc3", 10);
        assert!(els.len() <= 1);
        assert!(!s.problems.is_empty());
        let (els, s) = elements(b"<a v=\"caf\xe9\"/>", 10);
        assert_eq!(els.len(), 1);
        assert!(s.problems.iter().any(|p| p.contains("U+FFFD")));
    }

    #[test]
    fn ten_megabyte_single_line_is_read() {
        let mut xml = String::from("<root>");
        let item = "<add name=\"m\" value=\"file:///%X%bin\\a.dll\"/>";
        while xml.len() < 10 << 20 {
            xml.push_str(item);
        }
        xml.push_str("</root>");
        let n = (xml.len() - 13) / item.len();
        let (els, s) = elements(xml.as_bytes(), 10);
        assert_eq!(els.len(), n + 1);
        assert!(els.iter().all(|e| e.1 == 1));
        assert!(s.complete);
    }

    #[test]
    fn a_token_without_end_is_capped() {
        let mut t = Tracker::new(std::io::repeat(b'x'), 1 << 20);
        let mut total = 0usize;
        let err = loop {
            match t.fill_buf() {
                Ok(b) => {
                    let n = b.len();
                    t.consume(n);
                    total += n;
                }
                Err(e) => break e,
            }
        };
        assert!(t.token_cap_hit, "{err}");
        assert!(total <= (1 << 20) + 64 * 1024);
        t.mark();
        assert!(t.fill_buf().is_ok(), "a new token starts from zero");
    }

    #[test]
    fn a_huge_text_run_stops_the_walk_with_a_problem() {
        // A smaller cap would need a parameter; exercise the real one with a run just above it.
        let mut xml = b"<a>".to_vec();
        xml.resize((MAX_TOKEN_BYTES + (1 << 20)) as usize, b'x');
        let (els, s) = elements(&xml, 10);
        assert_eq!(els.len(), 1);
        assert!(!s.complete);
        assert!(
            s.problems.iter().any(|p| p.contains("longer than")),
            "{:?}",
            s.problems
        );
    }
}
