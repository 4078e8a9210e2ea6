//! One record as the `evtx` crate renders it (XML, not indented) → its `System` fields and,
//! only when a rule wants the event, its `EventData` / `UserData` fields.
//!
//! Why XML and not JSON: the crate's JSON folds repeated and unnamed `<Data>` elements into
//! arrays, `#text` objects or `_1` suffixes depending on the record's shape, and types values
//! (`"EventID": 7036` or `"EventID": {"#text": "7036"}`), while its XML keeps every element in
//! order with its `Name`. XML also lets the reader stop right after `</System>` for the events no
//! rule asks for, which is almost all of them (see `docs/performance.md`).
//!
//! This module knows nothing of files or chunks: it is a pure function of the record's text.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use std::borrow::Cow;

/// A field value longer than this is cut (with `…`): an ASP.NET 1310 with its stack trace is a
/// few KiB, and facts are kept in memory for the whole analysis.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// More fields than this in one record are not kept (real events have at most a few dozen).
pub const MAX_FIELDS: usize = 256;

/// Why a rendered record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(pub String);

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<quick_xml::Error> for RecordError {
    fn from(e: quick_xml::Error) -> Self {
        RecordError(format!("malformed record XML: {e}"))
    }
}

/// The `<System>` block: what every record is counted by. Borrowed from the rendered record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct System<'a> {
    /// `Provider/@Name`.
    pub provider: Cow<'a, str>,
    /// `Provider/@EventSourceName`, present on classic sources logged through a manifest.
    pub event_source: Option<Cow<'a, str>>,
    pub event_id: u32,
    pub qualifiers: Option<u32>,
    pub level: u8,
    pub record_id: Option<u64>,
    /// `TimeCreated/@SystemTime`, as written (e.g. `2012-02-12T21:15:49.1234567Z`).
    pub system_time: Option<Cow<'a, str>>,
    pub channel: Cow<'a, str>,
    pub computer: Cow<'a, str>,
    /// `Security/@UserID`: the account the event was logged for (who changed a service).
    pub user_sid: Option<Cow<'a, str>>,
}

/// A reader positioned right after `</System>`: call [`Rest::data`] to read the fields, or drop
/// it to skip them.
pub struct Rest<'a> {
    xml: &'a [u8],
}

/// Reads the `<System>` block of a rendered record.
///
/// Every record goes through here, so this is one SIMD pass over the `<` of the block, on bytes
/// (only the values kept are checked as UTF-8), looking only at the elements it needs: a general
/// XML reader cost as much again as rendering the record, and a byte loop three times this. The
/// `evtx` crate writes `System` children as leaves, with `<`, `>` and `&` escaped in values, so
/// an element's text runs to the next `<`.
pub fn read_system(xml: &[u8]) -> Result<(System<'_>, Rest<'_>), RecordError> {
    let mut sys = System::default();
    let mut in_system = false;
    let mut saw_event_id = false;
    let mut tags = memchr::memchr_iter(b'<', xml).peekable();
    while let Some(lt) = tags.next() {
        let tag = &xml[lt + 1..];
        if !in_system {
            in_system = name_is(tag, b"System");
            continue;
        }
        let Some(&first) = tag.first() else { break };
        let field = match first {
            b'/' if name_is(&tag[1..], b"System") => {
                if !saw_event_id {
                    return Err(RecordError("record has no System/EventID".into()));
                }
                let end = memchr::memchr(b'>', tag).map_or(xml.len(), |gt| lt + 1 + gt + 1);
                return Ok((sys, Rest { xml: &xml[end..] }));
            }
            b'P' if name_is(tag, b"Provider") => SysField::Provider,
            b'E' if name_is(tag, b"EventID") => SysField::EventId,
            b'E' if name_is(tag, b"EventRecordID") => SysField::RecordId,
            b'L' if name_is(tag, b"Level") => SysField::Level,
            b'T' if name_is(tag, b"TimeCreated") => SysField::TimeCreated,
            b'C' if name_is(tag, b"Channel") => SysField::Channel,
            b'C' if name_is(tag, b"Computer") => SysField::Computer,
            b'S' if name_is(tag, b"Security") => SysField::Security,
            _ => continue,
        };
        let name_len = field.name().len();
        let gt = lt
            + 1
            + tag_end(tag, name_len)
                .ok_or_else(|| RecordError("unterminated tag in <System>".into()))?;
        // A quoted `>` would have put the next `<` inside the tag: skip those.
        while tags.peek().is_some_and(|&next| next < gt) {
            tags.next();
        }
        let empty = xml[gt - 1] == b'/';
        let attrs = &xml[lt + 1 + name_len..if empty { gt - 1 } else { gt }];
        let text = match (empty, tags.peek()) {
            (true, _) => &[][..],
            (false, Some(&next)) => &xml[gt + 1..next],
            (false, None) => &xml[gt + 1..],
        };
        match field {
            SysField::Provider => {
                for (k, v) in Attributes(attrs) {
                    match k? {
                        b"Name" => sys.provider = unescape(utf8(v)?),
                        b"EventSourceName" => sys.event_source = Some(unescape(utf8(v)?)),
                        _ => {}
                    }
                }
            }
            SysField::EventId => {
                for (k, v) in Attributes(attrs) {
                    if k? == b"Qualifiers" {
                        sys.qualifiers = parse_num(v, "EventID/@Qualifiers").ok();
                    }
                }
                sys.event_id = parse_num(text, "EventID")?;
                saw_event_id = true;
            }
            SysField::RecordId => sys.record_id = parse_num(text, "EventRecordID").ok(),
            SysField::Level => sys.level = parse_num(text, "Level").unwrap_or(0),
            SysField::TimeCreated => {
                for (k, v) in Attributes(attrs) {
                    if k? == b"SystemTime" {
                        sys.system_time = Some(unescape(utf8(v)?));
                    }
                }
            }
            SysField::Channel => sys.channel = unescape(utf8(text)?),
            SysField::Computer => sys.computer = unescape(utf8(text)?),
            SysField::Security => {
                for (k, v) in Attributes(attrs) {
                    if k? == b"UserID" {
                        sys.user_sid = Some(unescape(utf8(v)?));
                    }
                }
            }
        }
    }
    Err(RecordError(if in_system {
        "record ends before </System>".into()
    } else {
        "record has no <System> element".into()
    }))
}

/// The `System` children read.
#[derive(Clone, Copy)]
enum SysField {
    Provider,
    EventId,
    RecordId,
    Level,
    TimeCreated,
    Channel,
    Computer,
    Security,
}

impl SysField {
    fn name(self) -> &'static str {
        match self {
            SysField::Provider => "Provider",
            SysField::EventId => "EventID",
            SysField::RecordId => "EventRecordID",
            SysField::Level => "Level",
            SysField::TimeCreated => "TimeCreated",
            SysField::Channel => "Channel",
            SysField::Computer => "Computer",
            SysField::Security => "Security",
        }
    }
}

/// The first `byte` at or after `from`.
fn position(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|c| *c == byte)
        .map(|i| from + i)
}

/// Whether `tag` (the bytes after `<`) starts with the element name `name`.
fn name_is(tag: &[u8], name: &[u8]) -> bool {
    tag.starts_with(name)
        && matches!(
            tag.get(name.len()),
            Some(b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n')
        )
}

fn utf8(b: &[u8]) -> Result<&str, RecordError> {
    std::str::from_utf8(b).map_err(|_| RecordError("record text is not UTF-8".into()))
}

/// The `>` that ends the tag whose attributes start at `start`, skipping quoted values.
fn tag_end(b: &[u8], start: usize) -> Option<usize> {
    let first = start + memchr::memchr(b'>', b.get(start..)?)?;
    let quotes = memchr::memchr2_iter(b'"', b'\'', &b[start..first]).count();
    if quotes.is_multiple_of(2) {
        return Some(first);
    }
    // An odd count: a `>` inside a quoted value (the `evtx` crate escapes them; others may not).
    let mut quote: Option<u8> = None;
    for (i, &c) in b.iter().enumerate().skip(start) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// `name="value"` pairs of a raw attribute list (values still escaped).
struct Attributes<'a>(&'a [u8]);

impl<'a> Iterator for Attributes<'a> {
    type Item = (Result<&'a [u8], RecordError>, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.0.trim_ascii_start();
        if rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let eq = position(rest, 0, b'=')?;
            let after = rest[eq + 1..].trim_ascii_start();
            let quote = *after.first().filter(|c| **c == b'"' || **c == b'\'')?;
            let close = position(after, 1, quote)? - 1;
            Some((
                rest[..eq].trim_ascii(),
                &after[1..1 + close],
                &after[close + 2..],
            ))
        })();
        match parsed {
            Some((name, value, tail)) => {
                self.0 = tail;
                Some((Ok(name), value))
            }
            None => {
                self.0 = &[];
                let raw = String::from_utf8_lossy(rest).into_owned();
                Some((
                    Err(RecordError(format!("malformed attributes: {raw:?}"))),
                    &[],
                ))
            }
        }
    }
}

/// Resolves the five XML entities and character references; the rest is kept as written.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let Some(semi) = tail.find(';').filter(|i| *i <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..semi];
        let resolved = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match resolved {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn parse_num<T: std::str::FromStr>(b: &[u8], what: &str) -> Result<T, RecordError> {
    std::str::from_utf8(b.trim_ascii())
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            let s = String::from_utf8_lossy(b);
            RecordError(format!("System/{what} is not a number: {s:?}"))
        })
}

/// Text of one element, borrowed from the record when it comes in one piece.
#[derive(Default)]
struct Text<'a> {
    value: Option<Cow<'a, str>>,
    cut: bool,
}

impl<'a> Text<'a> {
    fn push(&mut self, piece: Cow<'a, str>) {
        if self.cut {
            return;
        }
        match &mut self.value {
            None => self.value = Some(piece),
            Some(v) => v.to_mut().push_str(&piece),
        }
        if let Some(v) = &mut self.value
            && v.len() > MAX_VALUE_BYTES
        {
            let mut end = MAX_VALUE_BYTES;
            while !v.is_char_boundary(end) {
                end -= 1;
            }
            let s = v.to_mut();
            s.truncate(end);
            s.push('…');
            self.cut = true;
        }
    }

    fn into_cow(self) -> Cow<'a, str> {
        self.value.unwrap_or(Cow::Borrowed(""))
    }
}

/// `&amp;` and friends, and character references; anything else is kept as written.
fn resolve_ref<'a>(r: &quick_xml::events::BytesRef<'a>) -> Cow<'a, str> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Cow::Owned(c.to_string());
    }
    Cow::Borrowed(match &**r {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        other => return Cow::Owned(format!("&{other};")),
    })
}

/// Which part of the record a field comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    EventData,
    UserData,
}

impl Rest<'_> {
    /// The `EventData` (or `UserData`) fields in document order: `<Data Name="x">` by name,
    /// unnamed `<Data>` by position (`"0"`, `"1"`, …), `<Binary>` as `Binary`, `UserData` leaves
    /// by element name. A name seen twice gets `_1`, `_2`, … as the `evtx` crate's JSON does.
    pub fn data(self) -> Result<Vec<(String, String)>, RecordError> {
        let mut reader = Reader::from_str(utf8(self.xml)?);
        // The text starts inside `<Event>`, so its `</Event>` has no start here: end names are
        // checked against our own stack instead.
        reader.config_mut().check_end_names = false;
        reader.config_mut().allow_unmatched_ends = true;
        let mut out: Vec<(String, String)> = Vec::new();
        // Open elements below `<Event>`; `stack[0]` is `EventData` or `UserData`.
        let mut stack: Vec<String> = Vec::new();
        let mut section: Option<Section> = None;
        let mut position = 0usize;
        // The field being read: its key and the stack depth it was opened at.
        let mut current: Option<(String, usize)> = None;
        let mut text = Text::default();
        loop {
            match reader.read_event()? {
                Event::Start(e) => {
                    let name = e.local_name().as_ref().to_string();
                    stack.push(name);
                    let depth = stack.len();
                    if depth == 1 {
                        section = section_of(&stack[0]);
                        continue;
                    }
                    if let Some(s) = section
                        && current.is_none()
                    {
                        if s == Section::UserData {
                            push_attrs(&e, &stack[depth - 1], &mut out);
                        }
                        let key = field_key(s, &e, &stack[depth - 1], depth - 1, &mut position);
                        if let Some(key) = key {
                            current = Some((key, depth));
                            text = Text::default();
                        }
                    }
                }
                Event::Empty(e) => {
                    let depth = stack.len() + 1;
                    if let Some(s) = section
                        && current.is_none()
                        && depth > 1
                    {
                        let name = e.local_name().as_ref().to_string();
                        if s == Section::UserData {
                            push_attrs(&e, &name, &mut out);
                        }
                        if let Some(key) = field_key(s, &e, &name, depth - 1, &mut position) {
                            push_field(&mut out, key, String::new());
                        }
                    }
                }
                Event::Text(t) if current.is_some() => text.push(t.into_inner()),
                Event::CData(t) if current.is_some() => text.push(t.into_inner()),
                Event::GeneralRef(r) if current.is_some() => text.push(resolve_ref(&r)),
                Event::End(e) => {
                    let Some(top) = stack.last() else {
                        // `</Event>`: the record is done.
                        break;
                    };
                    if top.as_str() != e.local_name().as_ref() {
                        return Err(RecordError(format!(
                            "malformed record XML: </{}> closes <{top}>",
                            e.local_name().as_ref()
                        )));
                    }
                    let depth = stack.len();
                    if current.as_ref().is_some_and(|(_, opened)| *opened == depth)
                        && let Some((key, _)) = current.take()
                    {
                        let value = std::mem::take(&mut text).into_cow().into_owned();
                        push_field(&mut out, key, value);
                    }
                    stack.pop();
                    if stack.is_empty() {
                        section = None;
                    }
                }
                Event::Eof => {
                    if let Some(open) = stack.last() {
                        return Err(RecordError(format!("record ends inside <{open}>")));
                    }
                    break;
                }
                _ => {}
            }
            if out.len() >= MAX_FIELDS {
                break;
            }
        }
        Ok(out)
    }
}

fn section_of(name: &str) -> Option<Section> {
    match name {
        "EventData" => Some(Section::EventData),
        "UserData" => Some(Section::UserData),
        _ => None,
    }
}

/// The key of a field element, or `None` for a `UserData` wrapper whose children are fields.
fn field_key(
    section: Section,
    e: &BytesStart<'_>,
    name: &str,
    depth: usize,
    position: &mut usize,
) -> Option<String> {
    match section {
        Section::EventData if depth == 1 => {
            if name == "Data" {
                let named = e
                    .try_get_attribute("Name")
                    .ok()
                    .flatten()
                    .and_then(|a| {
                        a.normalized_value(XmlVersion::Implicit1_0)
                            .ok()
                            .map(Cow::into_owned)
                    })
                    .filter(|n| !n.is_empty());
                let pos = *position;
                *position += 1;
                Some(named.unwrap_or_else(|| pos.to_string()))
            } else {
                Some(name.to_string())
            }
        }
        Section::EventData => None,
        // UserData: `<UserData><Wrapper xmlns=…><Field>…` — fields are the wrapper's children;
        // the text of anything nested deeper is read into that child.
        Section::UserData if depth >= 2 => Some(name.to_string()),
        Section::UserData => None,
    }
}

/// Attributes of `UserData` elements, as `Element@attr` (some events carry their values there).
fn push_attrs(e: &BytesStart<'_>, name: &str, out: &mut Vec<(String, String)>) {
    for attr in e.attributes().flatten() {
        let key = attr.key.local_name();
        if attr.key.as_ref().starts_with("xmlns") {
            continue;
        }
        let Ok(value) = attr.normalized_value(XmlVersion::Implicit1_0) else {
            continue;
        };
        let key = format!("{name}@{}", key.as_ref());
        push_field(out, key, value.into_owned());
    }
}

/// Adds a field, renaming a repeated key `key_1`, `key_2`, ….
pub(super) fn push_field(out: &mut Vec<(String, String)>, key: String, value: String) {
    if out.len() >= MAX_FIELDS {
        return;
    }
    if !out.iter().any(|(k, _)| *k == key) {
        out.push((key, value));
        return;
    }
    let mut n = 1;
    loop {
        let candidate = format!("{key}_{n}");
        if !out.iter().any(|(k, _)| *k == candidate) {
            out.push((candidate, value));
            return;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCM_7000: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Service Control Manager" Guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}" EventSourceName="Service Control Manager"></Provider><EventID Qualifiers="49152">7000</EventID><Version>0</Version><Level>2</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8080000000000000</Keywords><TimeCreated SystemTime="2012-02-12T21:15:49.2690000Z"></TimeCreated><EventRecordID>4711</EventRecordID><Correlation></Correlation><Execution ProcessID="468" ThreadID="2212"></Execution><Channel>System</Channel><Computer>EX01.contoso.local</Computer><Security UserID="S-1-5-21-1-2-3-500"></Security></System><EventData><Data Name="param1">Microsoft Exchange Service Host</Data><Data Name="param2">%%1058</Data><Binary>4D0053004500780063006800</Binary></EventData></Event>"#;

    #[test]
    fn reads_system_and_named_data() {
        let (sys, rest) = read_system(SCM_7000.as_bytes()).unwrap();
        assert_eq!(sys.provider, "Service Control Manager");
        assert_eq!(sys.event_source.as_deref(), Some("Service Control Manager"));
        assert_eq!(sys.event_id, 7000);
        assert_eq!(sys.qualifiers, Some(49152));
        assert_eq!(sys.level, 2);
        assert_eq!(sys.record_id, Some(4711));
        assert_eq!(
            sys.system_time.as_deref(),
            Some("2012-02-12T21:15:49.2690000Z")
        );
        assert_eq!(sys.channel, "System");
        assert_eq!(sys.computer, "EX01.contoso.local");
        assert_eq!(sys.user_sid.as_deref(), Some("S-1-5-21-1-2-3-500"));
        let data = rest.data().unwrap();
        assert_eq!(
            data,
            vec![
                ("param1".into(), "Microsoft Exchange Service Host".into()),
                ("param2".into(), "%%1058".into()),
                ("Binary".into(), "4D0053004500780063006800".into()),
            ]
        );
    }

    #[test]
    fn unnamed_data_by_position_and_entities_resolved() {
        let xml = r#"<Event><System><Provider Name="ASP.NET 2.0.50727.0"/><EventID Qualifiers="32768">1310</EventID><Level>3</Level><EventRecordID>9</EventRecordID><Channel>Application</Channel><Computer>EX01</Computer></System><EventData><Data>3008</Data><Data>A configuration error &amp; more &lt;x&gt; &#x41;</Data><Data></Data><Data/></EventData></Event>"#;
        let (sys, rest) = read_system(xml.as_bytes()).unwrap();
        assert_eq!(sys.provider, "ASP.NET 2.0.50727.0");
        assert_eq!(sys.event_id, 1310);
        let data = rest.data().unwrap();
        assert_eq!(data[0], ("0".into(), "3008".into()));
        assert_eq!(
            data[1],
            ("1".into(), "A configuration error & more <x> A".into())
        );
        assert_eq!(data[2], ("2".into(), "".into()));
        assert_eq!(data[3], ("3".into(), "".into()));
    }

    #[test]
    fn repeated_names_get_suffixes() {
        let xml = r#"<Event><System><Provider Name="P"/><EventID>4648</EventID></System><EventData><Data Name="LogonGuid">a</Data><Data Name="LogonGuid">b</Data><Data Name="LogonGuid">c</Data></EventData></Event>"#;
        let (_, rest) = read_system(xml.as_bytes()).unwrap();
        let keys: Vec<String> = rest.data().unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["LogonGuid", "LogonGuid_1", "LogonGuid_2"]);
    }

    #[test]
    fn user_data_leaves_and_attributes() {
        let xml = r#"<Event><System><Provider Name="Microsoft-Windows-CAPI2"/><EventID>70</EventID></System><UserData><CertEvent xmlns="urn:x"><Subject>CN=ex</Subject><Result value="80092004">Cannot find object</Result><Nested><Leaf>deep</Leaf></Nested></CertEvent></UserData></Event>"#;
        let (_, rest) = read_system(xml.as_bytes()).unwrap();
        let data = rest.data().unwrap();
        assert!(data.contains(&("Subject".into(), "CN=ex".into())));
        assert!(data.contains(&("Result".into(), "Cannot find object".into())));
        assert!(data.contains(&("Result@value".into(), "80092004".into())));
        assert!(data.contains(&("Nested".into(), "deep".into())));
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(MAX_VALUE_BYTES * 2);
        let xml = format!(
            r#"<Event><System><Provider Name="P"/><EventID>1</EventID></System><EventData><Data>{long}</Data></EventData></Event>"#
        );
        let (_, rest) = read_system(xml.as_bytes()).unwrap();
        let data = rest.data().unwrap();
        assert!(data[0].1.len() <= MAX_VALUE_BYTES + '…'.len_utf8());
        assert!(data[0].1.ends_with('…'));
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        assert!(read_system(b"").is_err());
        assert!(read_system(b"<Event><System><Provider Name=\"P\"/></System></Event>").is_err());
        assert!(read_system(b"<Event><System><EventID>x</EventID></System></Event>").is_err());
        assert!(read_system(b"<Event><System><EventID>1</Event>").is_err());
        // Damage after </System> surfaces only when the data is read.
        let (_, rest) =
            read_system(b"<Event><System><EventID>1</EventID></System><EventData><Data>a</x>")
                .unwrap();
        assert!(rest.data().is_err());
    }
}
