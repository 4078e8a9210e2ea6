//! Counting a record from its raw bytes: its template instance and the substitution values its
//! template's [`Shape`] points at, without building or rendering the record.
//!
//! Layout (MS-EVEN6, `../shared/reference/evtx-format`): the record's BinXML is a fragment
//! header `0f 01 01 00`, a template instance (`0c`, u8, u32 template id, u32 definition
//! offset, the definition itself when it is inline), then u32 n, n descriptors (u16 size, u8
//! type, u8 0) and the n values back to back. Anything else is left to the crate.

use super::record::{MAX_VALUE_BYTES, push_field};
use super::templates::{Detail, IdSource, Source, Templates, push_plain};
use chrono::{DateTime, Utc};

/// The fields a record is counted by, borrowed from its template or its values.
pub(super) struct Counted<'a> {
    pub provider: &'a str,
    pub event_source: &'a str,
    pub channel: &'a str,
    pub event_id: u32,
    /// Where its template and values are, to build the event when a rule wants it.
    pub at: RecordAt,
}

/// A counted record's template and values, for [`build`].
#[derive(Clone, Copy, Default)]
pub(super) struct RecordAt {
    def_offset: u32,
    descriptors: usize,
    count: usize,
    data: usize,
    /// No value is an array or a BinXML fragment (either makes elements of its own).
    scalar: bool,
}

impl Counted<'_> {
    /// The provider the record is counted and kept under: its name, or its event source when
    /// the name is empty (as `record.rs` reads a rendered record).
    pub fn counted_provider(&self) -> &str {
        if self.provider.is_empty() {
            self.event_source
        } else {
            self.provider
        }
    }
}

/// Decoded string values, reused from record to record.
#[derive(Default)]
pub(super) struct Scratch {
    provider: String,
    event_source: String,
    channel: String,
}

/// Where one record's substitution values are in its chunk.
struct Values<'a> {
    /// The descriptors: (size, type) four bytes each.
    descriptors: &'a [u8],
    /// Where the first value starts.
    data: usize,
}

impl Values<'_> {
    /// Value `i`: its type and where its bytes are in the chunk.
    fn at(&self, i: u16) -> Option<(u8, usize, usize)> {
        let i = usize::from(i);
        let mut at = self.data;
        for d in self.descriptors.chunks_exact(4).take(i) {
            at += usize::from(u16::from_le_bytes([d[0], d[1]]));
        }
        let d = self.descriptors.get(4 * i..4 * i + 4)?;
        Some((d[2], at, at + usize::from(u16::from_le_bytes([d[0], d[1]]))))
    }

    /// Value `i`: its type and its bytes.
    fn get<'c>(&self, chunk: &'c [u8], i: u16) -> Option<(u8, &'c [u8])> {
        let i = usize::from(i);
        let mut at = self.data;
        for d in self.descriptors.chunks_exact(4).take(i) {
            at += usize::from(u16::from_le_bytes([d[0], d[1]]));
        }
        let d = self.descriptors.get(4 * i..4 * i + 4)?;
        let size = usize::from(u16::from_le_bytes([d[0], d[1]]));
        Some((d[2], chunk.get(at..at + size)?))
    }
}

/// Value types the crate knows (anything else makes it fail the record, so such a record is
/// left to it).
fn known_type(t: u8) -> bool {
    matches!(t, 0x00..=0x15 | 0x20 | 0x21 | 0x23 | 0x81..=0x95)
}

/// Reads the record whose BinXML is `chunk[start..end]`: its template's shape and the values
/// it names. `None` when the record is not one plain template instance, its template has no
/// shape, or a value is not of a form rendering gives back unchanged.
pub(super) fn count_record<'s>(
    chunk: &[u8],
    start: usize,
    end: usize,
    templates: &mut Templates,
    scratch: &'s mut Scratch,
) -> Option<Counted<'s>> {
    let b = chunk.get(start..end)?;
    if b.len() < 15 || b[..4] != [0x0f, 0x01, 0x01, 0x00] || b[4] != 0x0c {
        return None;
    }
    let def_offset = u32::from_le_bytes(b[10..14].try_into().ok()?);
    let mut pos = start + 14;
    if def_offset as usize == pos {
        let size = u32::from_le_bytes(chunk.get(pos + 20..pos + 24)?.try_into().ok()?);
        pos = pos.checked_add(24 + size as usize)?;
    }
    let n = u32::from_le_bytes(chunk.get(pos..pos + 4)?.try_into().ok()?) as usize;
    pos += 4;
    let descriptors = chunk.get(pos..pos.checked_add(n.checked_mul(4)?)?)?;
    let data = pos + 4 * n;
    let mut total = 0usize;
    let mut scalar = true;
    for d in descriptors.chunks_exact(4) {
        if !known_type(d[2]) || d[3] != 0 {
            return None;
        }
        scalar &= d[2] < 0x21;
        total += usize::from(u16::from_le_bytes([d[0], d[1]]));
    }
    // The values fill the record, which may end with an end-of-stream token.
    let after = data.checked_add(total)?;
    if after > end || (after < end && chunk[after] != 0x00) {
        return None;
    }
    let shape = templates.shape(chunk, def_offset)?;
    let values = Values { descriptors, data };
    let event_id = match shape.event_id {
        IdSource::Literal(id) => id,
        IdSource::Value(i) => number(values.get(chunk, i)?)?,
    };
    text(&shape.provider, &values, chunk, &mut scratch.provider)?;
    text(
        &shape.event_source,
        &values,
        chunk,
        &mut scratch.event_source,
    )?;
    text(&shape.channel, &values, chunk, &mut scratch.channel)?;
    Some(Counted {
        provider: &scratch.provider,
        event_source: &scratch.event_source,
        channel: &scratch.channel,
        event_id,
        at: RecordAt {
            def_offset,
            descriptors: pos,
            count: n,
            data,
            scalar,
        },
    })
}

/// A template instance held in a value (`chunk[from..to]`): its template's `EventData` and its
/// own values, all scalar and filling the value.
fn instance<'c>(
    chunk: &'c [u8],
    from: usize,
    to: usize,
    templates: &mut Templates,
) -> Option<(std::sync::Arc<[super::templates::DataField]>, Values<'c>)> {
    let b = chunk.get(from..to)?;
    if b.len() < 15 || b[..4] != [0x0f, 0x01, 0x01, 0x00] || b[4] != 0x0c {
        return None;
    }
    let def_offset = u32::from_le_bytes(b[10..14].try_into().ok()?);
    let mut pos = from + 14;
    if def_offset as usize == pos {
        let size = u32::from_le_bytes(chunk.get(pos + 20..pos + 24)?.try_into().ok()?);
        pos = pos.checked_add(24 + size as usize)?;
    }
    let n = u32::from_le_bytes(chunk.get(pos..pos + 4)?.try_into().ok()?) as usize;
    pos += 4;
    let descriptors = chunk.get(pos..pos.checked_add(n.checked_mul(4)?)?)?;
    let data = pos + 4 * n;
    let mut total = 0usize;
    for d in descriptors.chunks_exact(4) {
        if !known_type(d[2]) || d[3] != 0 || d[2] >= 0x21 {
            return None;
        }
        total += usize::from(u16::from_le_bytes([d[0], d[1]]));
    }
    let after = data.checked_add(total)?;
    if after > to || (after < to && chunk[after..to].iter().any(|b| *b != 0x00)) {
        return None;
    }
    let fields = templates.fragment(chunk, def_offset)?;
    Some((fields, Values { descriptors, data }))
}

/// A wanted event built from its record's values, as reading the rendered record would give
/// it (`record.rs`); the counting fields are those of [`Counted`].
pub(super) struct Built {
    pub qualifiers: Option<u32>,
    pub level: u8,
    pub system_time: Option<DateTime<Utc>>,
    pub record_id: Option<u64>,
    pub computer: String,
    pub user_sid: Option<String>,
    pub data: Vec<(String, String)>,
}

/// Builds the event of a counted record from its template's [`Detail`] and its values, nothing
/// rendered. `None` when the template has no detail or a value is not of a form whose
/// rendering is known to read back unchanged: the record is then left to the crate.
pub(super) fn build(chunk: &[u8], at: &RecordAt, templates: &mut Templates) -> Option<Built> {
    let shape = templates.shared_shape(chunk, at.def_offset)?;
    let detail: &Detail = shape.detail.as_deref()?;
    let descriptors = chunk.get(at.descriptors..at.descriptors + 4 * at.count)?;
    let values = Values {
        descriptors,
        data: at.data,
    };
    // Arrays and fragments make elements of their own; only the one holding the event's data
    // is followed.
    let spliced = detail.fragment.map(usize::from);
    if !at.scalar
        && descriptors
            .chunks_exact(4)
            .enumerate()
            .any(|(i, d)| d[2] >= 0x21 && Some(i) != spliced)
    {
        return None;
    }
    for g in &detail.guards {
        if values.get(chunk, *g)?.0 == 0x00 {
            return None;
        }
    }
    // A field whose element is left out (the value it depends on is NULL) is absent.
    let mut present = [true; super::templates::SYSTEM_DETAIL];
    for (p, d) in present.iter_mut().zip(detail.field_deps) {
        if let Some(d) = d {
            *p = values.get(chunk, d)?.0 != 0x00;
        }
    }
    let field = |k: usize, source: &Option<Source>| source.clone().filter(|_| present[k]);
    let nested = match detail.fragment {
        None => None,
        Some(i) => match values.at(i)? {
            (0x00, ..) => None,
            (0x21, from, to) => Some(instance(chunk, from, to, templates)?),
            _ => return None,
        },
    };
    let mut buf = String::new();
    // Element text: the rendered text of its source, empty without one.
    let text = |source: &Option<Source>, out: &mut String| -> Option<()> {
        out.clear();
        match source {
            None => Some(()),
            Some(Source::Literal(l)) => {
                out.push_str(l);
                Some(())
            }
            Some(Source::Value(i)) => render(values.get(chunk, *i)?, out),
        }
    };
    // An attribute whose value renders empty is left out.
    let trimmed = |s: &str| {
        s.trim_matches(|c: char| c.is_ascii_whitespace())
            .to_string()
    };
    text(&field(0, &detail.qualifiers), &mut buf)?;
    let qualifiers = trimmed(&buf).parse().ok();
    text(&field(1, &detail.level), &mut buf)?;
    let level = trimmed(&buf).parse().unwrap_or(0);
    let system_time = match &field(2, &detail.system_time) {
        Some(Source::Value(i)) if values.get(chunk, *i)?.0 == 0x11 => {
            let (_, b) = values.get(chunk, *i)?;
            Some(filetime(u64::from_le_bytes(b.try_into().ok()?))?)
        }
        source => {
            text(source, &mut buf)?;
            super::parse_system_time(&buf)
        }
    };
    text(&field(3, &detail.record_id), &mut buf)?;
    let record_id = trimmed(&buf).parse().ok();
    text(&field(4, &detail.computer), &mut buf)?;
    let computer = buf.clone();
    text(&field(5, &detail.user_sid), &mut buf)?;
    let user_sid = (!buf.is_empty()).then(|| buf.clone());
    let mut data: Vec<(String, String)> = Vec::with_capacity(detail.data.len());
    let mut position = 0usize;
    let own = detail.data.iter().map(|f| (f, &values));
    let spliced = nested
        .iter()
        .flat_map(|(fields, values)| fields.iter().map(move |f| (f, values)));
    for (field, values) in own.chain(spliced) {
        if let Some(d) = field.dependency
            && values.get(chunk, d)?.0 == 0x00
        {
            continue; // left out, as Windows does when the value it depends on is NULL
        }
        let key = if &*field.element == "Data" {
            let key = match field.name.as_deref() {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => position.to_string(),
            };
            position += 1;
            key
        } else {
            field.element.to_string()
        };
        let mut value = String::new();
        match &field.value {
            None => {}
            Some(Source::Literal(l)) => value.push_str(l),
            Some(Source::Value(i)) => render(values.get(chunk, *i)?, &mut value)?,
        }
        if value.len() > MAX_VALUE_BYTES {
            return None; // cut by the reader of rendered records: leave it the work
        }
        push_field(&mut data, key, value);
    }
    Some(Built {
        qualifiers,
        level,
        system_time,
        record_id,
        computer,
        user_sid,
        data,
    })
}

/// A FILETIME (100 ns since 1601) as the time its rendering parses back to; `None` past the
/// years the rendering can write.
fn filetime(ticks: u64) -> Option<DateTime<Utc>> {
    const UNIX_EPOCH: i64 = 11_644_473_600;
    let secs = i64::try_from(ticks / 10_000_000).ok()? - UNIX_EPOCH;
    let nanos = (ticks % 10_000_000) as u32 * 100;
    DateTime::from_timestamp(secs, nanos).filter(|t| {
        use chrono::Datelike;
        t.year() <= 9999
    })
}

/// A value's text as the crate renders it into XML and an XML reader gives it back; `None` for
/// types and contents not known to make that round trip unchanged.
fn render((ty, b): (u8, &[u8]), out: &mut String) -> Option<()> {
    use std::fmt::Write;
    match (ty, b.len()) {
        (0x00, _) => {}
        (0x01, n) if n % 2 == 0 => {
            let units = b
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .take_while(|u| *u != 0);
            for c in char::decode_utf16(units) {
                let c = c.ok()?;
                // Escaped markup reads back as itself; controls and non-characters may not.
                if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') {
                    return None;
                }
                out.push(c);
            }
        }
        (0x03..=0x0a, _) => write!(out, "{}", integer((ty, b))?).ok()?,
        (0x0e, _) => {
            for byte in b {
                write!(out, "{byte:02X}").ok()?;
            }
        }
        (0x13, n) if n >= 8 && n == 8 + 4 * usize::from(b[1]) => {
            let authority = u64::from_be_bytes([0, 0, b[2], b[3], b[4], b[5], b[6], b[7]]);
            write!(out, "S-{}-{authority}", b[0]).ok()?;
            for sub in b[8..].chunks_exact(4) {
                write!(out, "-{}", u32::from_le_bytes(sub.try_into().ok()?)).ok()?;
            }
        }
        (0x0d, 4) => match i32::from_le_bytes(b.try_into().ok()?) {
            0 => out.push_str("false"),
            1 => out.push_str("true"),
            raw => write!(out, "{raw}").ok()?,
        },
        // `{3f2504e0-4f89-11d3-9a0c-0305e82c3301}`: the first three groups little-endian.
        (0x0f, 16) => {
            const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
            out.push('{');
            for (i, &at) in ORDER.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                write!(out, "{:02x}", b[at]).ok()?;
            }
            out.push('}');
        }
        (0x10, 4) | (0x14, 4) => {
            write!(out, "0x{:x}", u32::from_le_bytes(b.try_into().ok()?)).ok()?
        }
        (0x10, 8) | (0x15, 8) => {
            write!(out, "0x{:x}", u64::from_le_bytes(b.try_into().ok()?)).ok()?
        }
        (0x11, 8) => filetime_text(u64::from_le_bytes(b.try_into().ok()?), out),
        _ => return None,
    }
    Some(())
}

/// A FILETIME as the crate renders it in event data: `2010-11-21T03:55:59.6264270Z`, seven
/// fractional digits, years past 9999 keeping their last four digits, and all zeros past
/// `i64::MAX` (its `FileTime::fields`).
fn filetime_text(ticks: u64, out: &mut String) {
    use std::fmt::Write;
    const TICKS_PER_SEC: u64 = 10_000_000;
    const TICKS_PER_DAY: u64 = 86_400 * TICKS_PER_SEC;
    if ticks > i64::MAX as u64 {
        out.push_str("0000-00-00T00:00:00.0000000Z");
        return;
    }
    let (days, t) = (ticks / TICKS_PER_DAY, ticks % TICKS_PER_DAY);
    // Howard Hinnant's civil_from_days, counting from 0000-03-01 (584 694 days before
    // 1601-01-01) in 400-year eras of 146 097 days.
    let z = days + 584_694;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    let secs = t / TICKS_PER_SEC;
    let _ = write!(
        out,
        "{:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:07}Z",
        year % 10_000,
        secs / 3_600,
        secs / 60 % 60,
        secs % 60,
        t % TICKS_PER_SEC
    );
}

/// An integer value of its exact size.
fn integer((ty, b): (u8, &[u8])) -> Option<i128> {
    Some(match (ty, b.len()) {
        (0x03, 1) => i128::from(b[0] as i8),
        (0x04, 1) => i128::from(b[0]),
        (0x05, 2) => i128::from(i16::from_le_bytes(b.try_into().ok()?)),
        (0x06, 2) => i128::from(u16::from_le_bytes(b.try_into().ok()?)),
        (0x07, 4) => i128::from(i32::from_le_bytes(b.try_into().ok()?)),
        (0x08, 4) => i128::from(u32::from_le_bytes(b.try_into().ok()?)),
        (0x09, 8) => i128::from(i64::from_le_bytes(b.try_into().ok()?)),
        (0x0a, 8) => i128::from(u64::from_le_bytes(b.try_into().ok()?)),
        _ => return None,
    })
}

/// A text field into `out`, as the rendered record would give it.
fn text(source: &Source, values: &Values<'_>, chunk: &[u8], out: &mut String) -> Option<()> {
    out.clear();
    match source {
        Source::Literal(l) => out.push_str(l),
        Source::Value(i) => {
            let (ty, bytes) = values.get(chunk, *i)?;
            match ty {
                0x00 => {}
                0x01 => {
                    if bytes.len() % 2 != 0 {
                        return None;
                    }
                    // The crate reads a sized string up to its first NUL.
                    let units = bytes
                        .chunks_exact(2)
                        .map(|p| u16::from_le_bytes([p[0], p[1]]))
                        .take_while(|u| *u != 0);
                    push_plain(units, out)?;
                }
                _ => return None,
            }
        }
    }
    Some(())
}

/// An event id from an unsigned or non-negative integer value of its exact size.
fn number(value: (u8, &[u8])) -> Option<u32> {
    u32::try_from(integer(value)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::evtx::templates::tests::{Chunk, scm_template};

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A chunk with the Windows-like template and one record of it; `edit` changes the values
    /// (fifteen, null unless set) before they are written. Returns the chunk and the record's
    /// BinXML span.
    fn chunk_with(edit: impl FnOnce(&mut Vec<(u8, Vec<u8>)>)) -> (Chunk, usize, usize) {
        let mut c = Chunk::new();
        let def = scm_template(&mut c);
        let mut values = vec![(0x00u8, Vec::new()); 15];
        values[0] = (0x04, vec![4]);
        values[3] = (0x06, 7036u16.to_le_bytes().to_vec());
        values[5] = (0x01, utf16("System"));
        values[14] = (0x01, utf16("Service Control Manager"));
        edit(&mut values);
        let start = c.0.len();
        c.0.extend([0x0f, 0x01, 0x01, 0x00, 0x0c, 0x01]);
        c.0.extend(0u32.to_le_bytes());
        c.0.extend(def.to_le_bytes());
        c.0.extend((values.len() as u32).to_le_bytes());
        for (ty, v) in &values {
            c.0.extend((v.len() as u16).to_le_bytes());
            c.0.extend([*ty, 0]);
        }
        for (_, v) in &values {
            c.0.extend(v);
        }
        let end = c.0.len();
        (c, start, end)
    }

    fn count(c: &Chunk, start: usize, end: usize) -> Option<(String, String, String, u32)> {
        let mut t = Templates::default();
        let mut s = Scratch::default();
        count_record(&c.0, start, end, &mut t, &mut s).map(|r| {
            (
                r.provider.to_string(),
                r.event_source.to_string(),
                r.channel.to_string(),
                r.event_id,
            )
        })
    }

    #[test]
    fn a_record_is_counted_from_its_template_and_values() {
        let (c, start, end) = chunk_with(|_| {});
        let scm = "Service Control Manager".to_string();
        assert_eq!(
            count(&c, start, end),
            Some((scm.clone(), scm.clone(), "System".into(), 7036))
        );
        // A string ends at its first NUL, as the crate reads it.
        let (c, start, end) = chunk_with(|v| v[5] = (0x01, utf16("Sys\0junk")));
        assert_eq!(count(&c, start, end).unwrap().2, "Sys");
        // The values may be followed by an end-of-stream token.
        let (mut c, start, _) = chunk_with(|_| {});
        c.0.push(0x00);
        assert!(count(&c, start, c.0.len()).is_some());
        // An empty provider name counts under the event source, as a rendered record does.
        let r = Counted {
            provider: "",
            event_source: "Src",
            channel: "System",
            event_id: 1,
            at: RecordAt::default(),
        };
        assert_eq!(r.counted_provider(), "Src");
    }

    #[test]
    fn records_not_plain_are_left_to_the_crate() {
        type Edit = Box<dyn Fn(&mut Vec<(u8, Vec<u8>)>)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "an unknown value type",
                Box::new(|v| v[7] = (0x16, vec![1])),
            ),
            (
                "an id that is a string",
                Box::new(|v| v[3] = (0x01, utf16("7036"))),
            ),
            (
                "an id of the wrong size",
                Box::new(|v| v[3] = (0x06, vec![1, 2, 3])),
            ),
            (
                "a negative id",
                Box::new(|v| v[3] = (0x05, (-1i16).to_le_bytes().to_vec())),
            ),
            (
                "a channel rendering would escape",
                Box::new(|v| v[5] = (0x01, utf16("a<b"))),
            ),
            (
                "a channel of odd length",
                Box::new(|v| v[5] = (0x01, vec![0x41, 0, 0x42])),
            ),
            (
                "a channel in ANSI",
                Box::new(|v| v[5] = (0x02, b"System".to_vec())),
            ),
            ("too few values", Box::new(|v| v.truncate(4))),
        ];
        for (what, edit) in cases {
            let (c, start, end) = chunk_with(|v| edit(v));
            assert_eq!(count(&c, start, end), None, "{what}");
        }
        let (c, start, end) = chunk_with(|_| {});
        assert_eq!(
            count(&c, start, end - 1),
            None,
            "values running past the record"
        );
        let (mut c, start, _) = chunk_with(|_| {});
        c.0.push(0x01);
        assert_eq!(
            count(&c, start, c.0.len()),
            None,
            "more BinXML after the values"
        );
        let (mut c, start, end) = chunk_with(|_| {});
        c.0[start + 4] = 0x01;
        assert_eq!(count(&c, start, end), None, "not a template instance");
    }
}
