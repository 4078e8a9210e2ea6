//! Where a template puts the fields an event is counted by.
//!
//! A record is a template (written once per chunk, shared by many records) plus substitution
//! values. In the template's `<System>` block, the provider name, the event source, the channel
//! and the event id are each either literal text of the template or "substitution value n".
//! Walking the template's BinXML once says which ([`Shape`]); after that, every record of the
//! template is counted from its values (`scan.rs`) without being rendered. A template this walk
//! does not fully understand (a field made of several pieces, a token it does not know) has no
//! shape, and its records are read by the `evtx` crate as before: the walk may give up, never
//! guess.

use ahash::AHashMap as HashMap;
use std::sync::Arc;

/// A template definition's identity, from its bytes: the same template is copied into every
/// chunk that uses it, at a different offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TemplateKey {
    guid: [u8; 16],
    size: u32,
    hash: u64,
}

/// Where one field comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// Literal text of the template; empty when the template does not have the field.
    Literal(Box<str>),
    /// Substitution value n of the record.
    Value(u16),
}

/// The four fields of a template: provider, event source, channel, event id; and, when the
/// template is plain enough, where the rest of a kept event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shape {
    pub provider: Source,
    pub event_source: Source,
    pub channel: Source,
    pub event_id: IdSource,
    /// `None`: the records are counted from their values, but a wanted one is left to the crate.
    pub detail: Option<Box<Detail>>,
}

/// The other `System` fields an event keeps and its `EventData`, as the template places them:
/// enough to build a wanted event from the record's values without rendering it (`scan.rs`).
/// Each `System` field is `None` when the template does not have it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Detail {
    /// `EventID/@Qualifiers`.
    pub qualifiers: Option<Source>,
    pub level: Option<Source>,
    /// `TimeCreated/@SystemTime`.
    pub system_time: Option<Source>,
    pub record_id: Option<Source>,
    pub computer: Option<Source>,
    /// `Security/@UserID`.
    pub user_sid: Option<Source>,
    /// The children of `EventData`, in order.
    pub data: Vec<DataField>,
    /// The value holding the rest of the event as a template instance of its own, whose
    /// `EventData` follows `data` ([`Templates::fragment`]).
    pub fragment: Option<u16>,
    /// Values whose being NULL leaves out an element the event cannot be read without
    /// (`System`, `EventData`, …): such a record is left to the crate.
    pub guards: Vec<u16>,
    /// For each field above, in order, the value whose being NULL leaves its element out.
    pub field_deps: [Option<u16>; SYSTEM_DETAIL],
}

/// One child of `EventData`: `<Data Name="x">`, unnamed `<Data>` or another element
/// (`<Binary>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DataField {
    /// The element's name.
    pub element: Box<str>,
    /// `Data/@Name`, literal text of the template.
    pub name: Option<Box<str>>,
    /// The value whose being NULL leaves the element out (its dependency id).
    pub dependency: Option<u16>,
    /// Its content; `None` when it is empty.
    pub value: Option<Source>,
}

/// Where the event id comes from: parsed once here when it is literal text of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdSource {
    Literal(u32),
    Value(u16),
}

/// One worker's templates: shapes by identity, and this chunk's definition offsets.
#[derive(Default)]
pub(super) struct Templates {
    in_chunk: HashMap<u32, Option<Arc<Shape>>>,
    by_key: HashMap<TemplateKey, Option<Arc<Shape>>>,
    /// The last lookup: records of one template often follow each other.
    last: Option<(u32, Option<Arc<Shape>>)>,
    /// Nested templates ([`fragment_of`]), the same way.
    fragments_in_chunk: HashMap<u32, Option<Arc<[DataField]>>>,
    fragments_by_key: HashMap<TemplateKey, Option<Arc<[DataField]>>>,
}

impl Templates {
    /// Template offsets are per chunk: forget them when the next chunk starts.
    pub(super) fn new_chunk(&mut self) {
        self.in_chunk.clear();
        self.last = None;
        self.fragments_in_chunk.clear();
    }

    /// The `EventData` of the nested template defined at `def_offset`, if it is plain.
    pub(super) fn fragment(&mut self, chunk: &[u8], def_offset: u32) -> Option<Arc<[DataField]>> {
        if let Some(f) = self.fragments_in_chunk.get(&def_offset) {
            return f.clone();
        }
        let fragment = template_key(chunk, def_offset).and_then(|key| {
            self.fragments_by_key
                .entry(key)
                .or_insert_with(|| fragment_of(chunk, def_offset).map(Arc::from))
                .clone()
        });
        self.fragments_in_chunk.insert(def_offset, fragment.clone());
        fragment
    }

    /// The shape of the template defined at `def_offset` in `chunk`, if it has one.
    pub(super) fn shape(&mut self, chunk: &[u8], def_offset: u32) -> Option<&Shape> {
        if self.last.as_ref().is_none_or(|(at, _)| *at != def_offset) {
            let shape = self.lookup(chunk, def_offset);
            self.last = Some((def_offset, shape));
        }
        self.last.as_ref().and_then(|(_, s)| s.as_deref())
    }

    /// [`Self::shape`], shared: it stays usable while the templates are looked up again.
    pub(super) fn shared_shape(&mut self, chunk: &[u8], def_offset: u32) -> Option<Arc<Shape>> {
        self.shape(chunk, def_offset)?;
        self.last.as_ref().and_then(|(_, s)| s.clone())
    }

    fn lookup(&mut self, chunk: &[u8], def_offset: u32) -> Option<Arc<Shape>> {
        if let Some(s) = self.in_chunk.get(&def_offset) {
            return s.clone();
        }
        let shape = template_key(chunk, def_offset).and_then(|key| {
            self.by_key
                .entry(key)
                .or_insert_with(|| shape_of(chunk, def_offset).map(Arc::new))
                .clone()
        });
        self.in_chunk.insert(def_offset, shape.clone());
        shape
    }
}

/// A template definition at `offset` in a chunk: next-definition offset (4 bytes), GUID (16),
/// data size (4), then its BinXML, which is hashed.
fn template_key(chunk: &[u8], offset: u32) -> Option<TemplateKey> {
    let at = offset as usize;
    let header = chunk.get(at..at.checked_add(24)?)?;
    let mut guid = [0u8; 16];
    guid.copy_from_slice(&header[4..20]);
    let size = u32::from_le_bytes([header[20], header[21], header[22], header[23]]);
    let body = chunk.get(at + 24..(at + 24).checked_add(size as usize)?)?;
    // FNV-1a: a few hundred bytes, once per template and chunk.
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    Some(TemplateKey { guid, size, hash })
}

/// The elements on the way to the fields, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Event,
    System,
    Provider,
    EventId,
    Channel,
    Level,
    TimeCreated,
    RecordId,
    Computer,
    Security,
    EventData,
    UserData,
    Other,
}

impl Tag {
    fn of(name: &[u16]) -> Tag {
        let is = |s: &str| is_ascii(name, s);
        match () {
            _ if is("Event") => Tag::Event,
            _ if is("System") => Tag::System,
            _ if is("Provider") => Tag::Provider,
            _ if is("EventID") => Tag::EventId,
            _ if is("Channel") => Tag::Channel,
            _ if is("Level") => Tag::Level,
            _ if is("TimeCreated") => Tag::TimeCreated,
            _ if is("EventRecordID") => Tag::RecordId,
            _ if is("Computer") => Tag::Computer,
            _ if is("Security") => Tag::Security,
            _ if is("EventData") => Tag::EventData,
            _ if is("UserData") => Tag::UserData,
            _ => Tag::Other,
        }
    }
}

/// Which field a piece of text or a substitution lands in: the four a record is counted by
/// first (the template has no shape without them), then those of [`Detail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Provider = 0,
    EventSource = 1,
    Channel = 2,
    EventId = 3,
    Qualifiers = 4,
    Level = 5,
    SystemTime = 6,
    RecordId = 7,
    Computer = 8,
    UserSid = 9,
    /// `Name` of the current `EventData` child.
    DataName = 10,
    /// Content of the current `EventData` child.
    DataValue = 11,
}

/// The detail fields, `Field::Qualifiers` to `Field::UserSid`, in `Detail` order.
pub(super) const SYSTEM_DETAIL: usize = 6;

/// Reads a template's BinXML (MS-EVEN6 tokens; inside a definition every element start carries
/// a dependency id) and finds the four fields. `None` when anything is not plain: an unknown
/// token, a field written in more than one piece or as a character reference, a name or text
/// running out of the chunk. The same rule, applied to the other fields, only drops the
/// [`Detail`]: such a template's records are still counted from their values.
fn shape_of(chunk: &[u8], def_offset: u32) -> Option<Shape> {
    let w = walk(chunk, def_offset, false)?;
    let [
        provider,
        event_source,
        channel,
        event_id,
        qualifiers,
        level,
        system_time,
        record_id,
        computer,
        user_sid,
    ] = w.fields;
    let empty = || Source::Literal("".into());
    let event_id = match event_id? {
        Source::Literal(t) => IdSource::Literal(t.trim().parse().ok()?),
        Source::Value(i) => IdSource::Value(i),
    };
    let detail = w.detail_ok.then(|| {
        Box::new(Detail {
            qualifiers,
            level,
            system_time,
            record_id,
            computer,
            user_sid,
            data: w.data,
            fragment: w.fragment,
            guards: w.guards,
            field_deps: w.field_deps[4..].try_into().unwrap_or_default(),
        })
    });
    Some(Shape {
        provider: provider.unwrap_or_else(empty),
        event_source: event_source.unwrap_or_else(empty),
        channel: channel.unwrap_or_else(empty),
        event_id,
        detail,
    })
}

/// The `EventData` of a template instantiated inside a record's value (`<Event><System/>%n
/// </Event>`, as Windows writes classic events): its elements land under `<Event>`. `None`
/// when it is not plain.
fn fragment_of(chunk: &[u8], def_offset: u32) -> Option<Vec<DataField>> {
    let w = walk(chunk, def_offset, true)?;
    let plain = w.detail_ok && w.fragment.is_none() && w.guards.is_empty();
    (plain && w.fields.iter().all(Option::is_none)).then_some(w.data)
}

/// What [`walk`] found in a template.
struct Walk {
    fields: [Option<Source>; 4 + SYSTEM_DETAIL],
    /// The dependency id of the element each field is in.
    field_deps: [Option<u16>; 4 + SYSTEM_DETAIL],
    /// Dependency ids of the elements an event cannot be read without.
    guards: Vec<u16>,
    data: Vec<DataField>,
    fragment: Option<u16>,
    detail_ok: bool,
}

/// Walks a template definition; `nested`: it is a fragment spliced in under `<Event>`.
fn walk(chunk: &[u8], def_offset: u32, nested: bool) -> Option<Walk> {
    let start = (def_offset as usize).checked_add(24)?;
    let size = u32::from_le_bytes(chunk.get(start - 4..start)?.try_into().ok()?) as usize;
    let end = start.checked_add(size)?;
    chunk.get(start..end)?;
    let mut c = Cursor { chunk, pos: start };
    let root: &[Tag] = if nested { &[Tag::Event] } else { &[] };
    let mut stack: Vec<Tag> = Vec::with_capacity(8);
    stack.extend_from_slice(root);
    let mut fragment: Option<u16> = None;
    // The dependency id of each open element, and those of the elements in `Walk::guards`.
    let mut deps: Vec<Option<u16>> = vec![None; root.len()];
    let mut guards: Vec<u16> = Vec::new();
    let mut field_deps: [Option<u16>; 4 + SYSTEM_DETAIL] = [None; 4 + SYSTEM_DETAIL];
    let mut attribute: Option<Field> = None;
    let mut in_start_tag = false;
    let mut fields: [Option<Source>; 4 + SYSTEM_DETAIL] = Default::default();
    let mut data: Vec<DataField> = Vec::new();
    // Set when something outside the four counting fields is not plain.
    let mut detail_ok = true;

    // The field the next piece of text or substitution belongs to, if any.
    let target = |stack: &[Tag], in_start_tag: bool, attribute: Option<Field>| -> Option<Field> {
        if stack.len() != 3 || stack[0] != Tag::Event {
            return None;
        }
        if in_start_tag {
            return attribute;
        }
        match (stack[1], stack[2]) {
            (Tag::System, Tag::EventId) => Some(Field::EventId),
            (Tag::System, Tag::Channel) => Some(Field::Channel),
            (Tag::System, Tag::Level) => Some(Field::Level),
            (Tag::System, Tag::RecordId) => Some(Field::RecordId),
            (Tag::System, Tag::Computer) => Some(Field::Computer),
            (Tag::EventData, _) => Some(Field::DataValue),
            _ => None,
        }
    };
    // Sets a field; `None` (no shape) when a counting field comes in more than one piece.
    let set = |fields: &mut [Option<Source>; 4 + SYSTEM_DETAIL],
               data: &mut Vec<DataField>,
               detail_ok: &mut bool,
               f: Field,
               s: Source|
     -> Option<()> {
        let slot = match f {
            Field::DataName | Field::DataValue => {
                let Some(d) = data.last_mut() else {
                    *detail_ok = false;
                    return Some(());
                };
                match (f, s) {
                    (Field::DataName, Source::Literal(l)) if d.name.is_none() => d.name = Some(l),
                    (Field::DataValue, s) if d.value.is_none() => d.value = Some(s),
                    _ => *detail_ok = false,
                }
                return Some(());
            }
            f => &mut fields[f as usize],
        };
        if slot.is_some() {
            if (f as usize) < 4 {
                return None; // written in more than one piece
            }
            *detail_ok = false;
        }
        *slot = Some(s);
        Some(())
    };

    while c.pos < end {
        let token = c.u8()?;
        match token {
            0x00 => break,
            0x0f => c.skip(3)?,
            0x01 | 0x41 => {
                let dependency = c.u16()?;
                let dependency = (dependency != 0xffff).then_some(dependency);
                c.skip(4)?; // data size
                let name = c.name()?;
                if token == 0x41 {
                    c.skip(4)?; // attribute list size
                }
                let tag = Tag::of(&name);
                stack.push(tag);
                deps.push(dependency);
                in_start_tag = true;
                attribute = None;
                match &stack[..] {
                    [Tag::Event, Tag::EventData, _] => {
                        let mut element = String::new();
                        if push_plain(name.iter().copied(), &mut element).is_none() {
                            detail_ok = false;
                        }
                        data.push(DataField {
                            element: element.into(),
                            name: None,
                            dependency,
                            value: None,
                        });
                    }
                    // Elements an event cannot be read without: one left out (its value NULL)
                    // leaves the record to the crate.
                    [Tag::Event] | [Tag::Event, Tag::System | Tag::EventData] => {
                        guards.extend(dependency);
                    }
                    [
                        Tag::Event,
                        Tag::System,
                        Tag::Provider | Tag::EventId | Tag::Channel,
                    ] => {
                        guards.extend(dependency);
                    }
                    [Tag::Event, Tag::UserData, ..] => detail_ok = false,
                    [Tag::Event, Tag::EventData, _, _, ..] => detail_ok = false,
                    _ => {}
                }
            }
            0x02 => {
                in_start_tag = false;
                attribute = None;
            }
            0x03 | 0x04 => {
                if stack.len() <= root.len() {
                    return None;
                }
                stack.pop();
                deps.pop();
                in_start_tag = false;
                attribute = None;
            }
            0x06 | 0x46 => {
                let name = c.name()?;
                let is = |s: &str| is_ascii(&name, s);
                attribute = match &stack[..] {
                    [Tag::Event, Tag::System, Tag::Provider] if is("Name") => Some(Field::Provider),
                    [Tag::Event, Tag::System, Tag::Provider] if is("EventSourceName") => {
                        Some(Field::EventSource)
                    }
                    [Tag::Event, Tag::System, Tag::EventId] if is("Qualifiers") => {
                        Some(Field::Qualifiers)
                    }
                    [Tag::Event, Tag::System, Tag::TimeCreated] if is("SystemTime") => {
                        Some(Field::SystemTime)
                    }
                    [Tag::Event, Tag::System, Tag::Security] if is("UserID") => {
                        Some(Field::UserSid)
                    }
                    [Tag::Event, Tag::EventData, _]
                        if is("Name") && data.last().is_some_and(|d| &*d.element == "Data") =>
                    {
                        Some(Field::DataName)
                    }
                    _ => None,
                };
            }
            0x05 | 0x45 => {
                // Value text: only UTF-16 strings are expected in a template.
                if c.u8()? != 0x01 {
                    return None;
                }
                let n = c.u16()? as usize;
                let text = c.utf16(n)?;
                if let Some(f) = target(&stack, in_start_tag, attribute) {
                    if (f as usize) < field_deps.len() {
                        field_deps[f as usize] = deps.last().copied().flatten();
                    }
                    let mut s = String::new();
                    if (f as usize) < 4 {
                        push_plain(text.into_iter(), &mut s)?;
                    } else if push_plain(text.into_iter(), &mut s).is_none() {
                        detail_ok = false;
                    }
                    set(
                        &mut fields,
                        &mut data,
                        &mut detail_ok,
                        f,
                        Source::Literal(s.into()),
                    )?;
                }
            }
            0x0d | 0x0e => {
                let index = c.u16()?;
                c.skip(1)?; // value type, as the record's own descriptor says it again
                match target(&stack, in_start_tag, attribute) {
                    Some(f) => {
                        if (f as usize) < field_deps.len() {
                            field_deps[f as usize] = deps.last().copied().flatten();
                        }
                        set(
                            &mut fields,
                            &mut data,
                            &mut detail_ok,
                            f,
                            Source::Value(index),
                        )?;
                    }
                    // A BinXML fragment whose elements are the event's data, as Windows writes
                    // classic events (`<Event><System/>%n</Event>`).
                    None if stack[..] == [Tag::Event] && !nested && fragment.is_none() => {
                        fragment = Some(index);
                    }
                    // Elsewhere a value may make elements too: left to the crate.
                    None if matches!(stack[..], [Tag::Event, ..]) && !in_start_tag => {
                        detail_ok &= matches!(stack[..], [Tag::Event, Tag::System, ..]);
                    }
                    None => {}
                }
            }
            0x07 | 0x47 | 0x08 | 0x48 | 0x09 | 0x49 => {
                if let Some(f) = target(&stack, in_start_tag, attribute) {
                    if (f as usize) < 4 {
                        return None; // CDATA or references in a field: leave it to the crate
                    }
                    detail_ok = false;
                }
                match token & 0x0f {
                    0x07 => {
                        let n = c.u16()? as usize;
                        c.skip(2 * n)?;
                    }
                    0x08 => c.skip(2)?,
                    _ => {
                        c.name()?;
                    }
                }
            }
            0x0a => {
                c.name()?;
            }
            0x0b => {
                let n = c.u16()? as usize;
                c.skip(2 * n)?;
            }
            _ => return None,
        }
    }
    if stack[..] != *root {
        return None; // elements left open: not a whole template
    }
    Some(Walk {
        fields,
        field_deps,
        guards,
        data,
        fragment,
        detail_ok,
    })
}

fn is_ascii(name: &[u16], s: &str) -> bool {
    name.len() == s.len() && name.iter().zip(s.bytes()).all(|(a, b)| *a == u16::from(b))
}

/// Appends UTF-16 text to `out` as the rendered record would give it back; `None` when
/// rendering could change it (XML escaping, control characters, broken UTF-16): such records
/// go to the crate.
pub(super) fn push_plain(units: impl Iterator<Item = u16>, out: &mut String) -> Option<()> {
    for c in char::decode_utf16(units) {
        let c = c.ok()?;
        if c.is_control() || matches!(c, '&' | '<' | '>' | '"' | '\'') {
            return None;
        }
        out.push(c);
    }
    Some(())
}

/// Bounds-checked reads over a chunk, at absolute offsets (inline names are recognised by
/// their offset).
struct Cursor<'a> {
    chunk: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.chunk.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.chunk.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.chunk.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        let to = self.pos.checked_add(n)?;
        (to <= self.chunk.len()).then(|| self.pos = to)
    }

    fn utf16(&mut self, n: usize) -> Option<Vec<u16>> {
        let b = self.chunk.get(self.pos..self.pos.checked_add(2 * n)?)?;
        self.pos += 2 * n;
        Some(
            b.chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect(),
        )
    }

    /// A name reference: a chunk offset; the name itself follows inline when the offset points
    /// just past the reference (u32 next, u16 hash, u16 count, text, NUL).
    fn name(&mut self) -> Option<Vec<u16>> {
        let at = self.u32()? as usize;
        let mut name = Cursor {
            chunk: self.chunk,
            pos: at.checked_add(6)?,
        };
        let n = name.u16()? as usize;
        let text = name.utf16(n)?;
        if at == self.pos {
            self.skip(8 + 2 * n + 2)?;
        }
        Some(text)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Writes BinXML into a chunk image, names inline at their own offsets as Windows does.
    pub(in super::super) struct Chunk(pub Vec<u8>);

    impl Chunk {
        pub fn new() -> Chunk {
            Chunk(vec![0u8; 512])
        }
        fn u16(&mut self, v: u16) -> &mut Self {
            self.0.extend(v.to_le_bytes());
            self
        }
        fn u32(&mut self, v: u32) -> &mut Self {
            self.0.extend(v.to_le_bytes());
            self
        }
        fn utf16(&mut self, s: &str) -> &mut Self {
            for u in s.encode_utf16() {
                self.u16(u);
            }
            self
        }
        /// A name reference with the name inline; returns the name's offset for later
        /// back-references.
        fn name(&mut self, s: &str) -> u32 {
            let at = self.0.len() as u32 + 4;
            self.u32(at)
                .u32(0)
                .u16(0)
                .u16(s.len() as u16)
                .utf16(s)
                .u16(0);
            at
        }
        pub fn open(&mut self, name: &str, attributes: bool) -> &mut Self {
            self.0.push(if attributes { 0x41 } else { 0x01 });
            self.u16(0xffff).u32(0);
            self.name(name);
            if attributes {
                self.u32(0);
            }
            self
        }
        /// An element start naming an earlier name by its offset.
        pub fn open_ref(&mut self, name_at: u32) -> &mut Self {
            self.0.push(0x01);
            self.u16(0xffff).u32(0).u32(name_at)
        }
        pub fn attribute(&mut self, name: &str) -> &mut Self {
            self.0.push(0x06);
            self.name(name);
            self
        }
        pub fn text(&mut self, s: &str) -> &mut Self {
            self.0.extend([0x05, 0x01]);
            self.u16(s.encode_utf16().count() as u16).utf16(s)
        }
        pub fn substitution(&mut self, index: u16, ty: u8) -> &mut Self {
            self.0.push(0x0d);
            self.u16(index);
            self.0.push(ty);
            self
        }
        pub fn token(&mut self, t: u8) -> &mut Self {
            self.0.push(t);
            self
        }
        /// A template definition around what `body` writes; returns its offset.
        pub fn template(&mut self, body: impl FnOnce(&mut Chunk)) -> u32 {
            let at = self.0.len();
            self.u32(0).0.extend([0x5a; 16]);
            self.u32(0);
            self.0.extend([0x0f, 0x01, 0x01, 0x00]);
            body(self);
            self.0.push(0x00);
            let size = (self.0.len() - at - 24) as u32;
            self.0[at + 20..at + 24].copy_from_slice(&size.to_le_bytes());
            at as u32
        }
    }

    /// `<Event><System><Provider Name=... EventSourceName=.../><EventID>..</EventID>
    /// <Channel>..</Channel></System><EventData/></Event>`, fields written by `fields`.
    pub(in super::super) fn system_template(
        c: &mut Chunk,
        provider: impl FnOnce(&mut Chunk),
        event_id: impl FnOnce(&mut Chunk),
        channel: impl FnOnce(&mut Chunk),
    ) -> u32 {
        c.template(|c| {
            c.open("Event", false).token(0x02);
            c.open("System", false).token(0x02);
            c.open("Provider", true);
            provider(c);
            c.token(0x03);
            c.open("EventID", false).token(0x02);
            event_id(c);
            c.token(0x04);
            c.open("Level", false)
                .token(0x02)
                .substitution(0, 0x04)
                .token(0x04);
            c.open("Channel", false).token(0x02);
            channel(c);
            c.token(0x04);
            c.token(0x04); // System
            c.open("EventData", false).token(0x03);
            c.token(0x04); // Event
        })
    }

    /// Service Control Manager's template as Windows writes it: the provider name literal, the
    /// event source value 14, the id value 3, the channel value 5.
    pub(in super::super) fn scm_template(c: &mut Chunk) -> u32 {
        system_template(
            c,
            |c| {
                c.attribute("Name").text("Service Control Manager");
                c.attribute("EventSourceName").substitution(14, 0x01);
            },
            |c| {
                c.substitution(3, 0x06);
            },
            |c| {
                c.substitution(5, 0x01);
            },
        )
    }

    #[test]
    fn a_windows_like_template_gives_literals_and_values() {
        let mut c = Chunk::new();
        let at = scm_template(&mut c);
        let shape = shape_of(&c.0, at).expect("a shape");
        assert_eq!(
            shape,
            Shape {
                provider: Source::Literal("Service Control Manager".into()),
                event_source: Source::Value(14),
                channel: Source::Value(5),
                event_id: IdSource::Value(3),
                detail: Some(Box::new(Detail {
                    level: Some(Source::Value(0)),
                    ..Detail::default()
                })),
            }
        );
        let mut t = Templates::default();
        assert_eq!(t.shape(&c.0, at), Some(&shape));
        assert_eq!(t.shape(&c.0, at + 1), None, "no template there");
    }

    #[test]
    fn names_are_read_through_back_references() {
        let mut c = Chunk::new();
        let at = c.template(|c| {
            c.open("Event", false).token(0x02);
            // An EventID outside System, ignored, whose name the real one refers back to.
            let event_id = c.0.len() as u32 + 11;
            c.open("EventID", false).token(0x03);
            c.open("System", false).token(0x02);
            c.open_ref(event_id).token(0x02).text("7036").token(0x04);
            c.token(0x04).token(0x04);
        });
        let shape = shape_of(&c.0, at).expect("a shape");
        assert_eq!(shape.event_id, IdSource::Literal(7036));
        assert_eq!(shape.provider, Source::Literal("".into()));

        // The same element twice: written in two places, so no answer.
        let mut c = Chunk::new();
        let at = c.template(|c| {
            c.open("Event", false).token(0x02);
            c.open("System", false).token(0x02);
            c.open("EventID", false)
                .token(0x02)
                .text("7036")
                .token(0x04);
            c.open("EventID", false)
                .token(0x02)
                .text("7040")
                .token(0x04);
            c.token(0x04).token(0x04);
        });
        assert_eq!(shape_of(&c.0, at), None);
    }

    #[test]
    fn anything_not_plain_has_no_shape() {
        let plain_provider = |c: &mut Chunk| {
            c.attribute("Name").text("P");
        };
        type Write = Box<dyn Fn(&mut Chunk)>;
        let cases: Vec<(&str, Write, Write)> = vec![
            (
                "id in two pieces",
                Box::new(|c| {
                    c.text("70").substitution(3, 0x06);
                }),
                Box::new(|c| {
                    c.text("System");
                }),
            ),
            (
                "a character reference in the channel",
                Box::new(|c| {
                    c.substitution(3, 0x06);
                }),
                Box::new(|c| {
                    c.token(0x08).u16(0x41);
                }),
            ),
            (
                "an unknown token",
                Box::new(|c| {
                    c.substitution(3, 0x06);
                }),
                Box::new(|c| {
                    c.token(0x1f);
                }),
            ),
            (
                "an id that is not a number",
                Box::new(|c| {
                    c.text("seven");
                }),
                Box::new(|c| {
                    c.text("System");
                }),
            ),
            (
                "a literal rendering would escape",
                Box::new(|c| {
                    c.substitution(3, 0x06);
                }),
                Box::new(|c| {
                    c.text("A&B");
                }),
            ),
        ];
        for (what, id, channel) in cases {
            let mut c = Chunk::new();
            let at = system_template(&mut c, plain_provider, |c| id(c), |c| channel(c));
            assert_eq!(shape_of(&c.0, at), None, "{what}");
        }
        // No EventID at all.
        let mut c = Chunk::new();
        let at = c.template(|c| {
            c.open("Event", false).token(0x02).token(0x04);
        });
        assert_eq!(shape_of(&c.0, at), None, "no EventID");
        // Cut short: the definition says it runs past the chunk.
        let mut c = Chunk::new();
        let at = system_template(
            &mut c,
            plain_provider,
            |c| {
                c.substitution(3, 0x06);
            },
            |_| {},
        );
        let cut = c.0.len() - 10;
        c.0.truncate(cut);
        assert_eq!(shape_of(&c.0, at), None, "cut short");
    }

    #[test]
    fn template_identity_comes_from_its_bytes() {
        let mut chunk = vec![0u8; 200];
        chunk[100 + 4..100 + 20].copy_from_slice(&[7; 16]);
        chunk[100 + 20..100 + 24].copy_from_slice(&8u32.to_le_bytes());
        chunk[124..132].copy_from_slice(b"binxml!!");
        let a = template_key(&chunk, 100).unwrap();
        let mut other = chunk.clone();
        other[130] = b'?';
        assert_ne!(a, template_key(&other, 100).unwrap());
        // Past the chunk's end: no identity, so the record is simply rendered.
        assert_eq!(template_key(&chunk, 190), None);
        chunk[100 + 20..100 + 24].copy_from_slice(&9000u32.to_le_bytes());
        assert_eq!(template_key(&chunk, 100), None);
    }

    #[test]
    fn text_that_rendering_would_change_is_not_plain() {
        let plain = |units: Vec<u16>| {
            let mut s = String::new();
            push_plain(units.into_iter(), &mut s).map(|()| s)
        };
        let u = |s: &str| s.encode_utf16().collect::<Vec<_>>();
        assert_eq!(
            plain(u("Service Control Manager")).as_deref(),
            Some("Service Control Manager")
        );
        assert_eq!(plain(u("A & B")), None);
        assert_eq!(plain(u("tab\there")), None);
        assert_eq!(plain(vec![0xd800]), None, "a lone surrogate");
    }
}
