//! Writes Windows XML Event Log (`.evtx`) files from a list of events.
//!
//! Used by exhume's sample generator and tests, never by the analyser: it exists so that samples
//! hold event logs the analyser reads exactly as it reads logs copied from a server.
//!
//! The files follow the layout Windows itself writes (checked against real System logs, and
//! against `../shared/reference/evtx-format/`), not merely a layout some parser accepts, so that
//! what the analyser sees in a sample is what it would see in the field:
//!
//! - a 4096-byte file header and 64 KiB chunks, each with its own string and template tables and
//!   CRC32s, chunks holding as many records as fit;
//! - every record is a template instance: one template per provider/channel/computer holds the
//!   `<System>` element, as Windows' own System template does (same substitution numbers and
//!   value types, e.g. `EventID` a UInt16, `Keywords` a HexInt64, `TimeCreated` a FILETIME), and
//!   the `<EventData>` travels in substitution 19 as a nested BinXML fragment with a template of
//!   its own per list of data names, as in Windows;
//! - a template is defined inline by the first record of a chunk that uses it and referenced by
//!   offset afterwards; element and attribute names likewise.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use evtx_writer::{DataField, EventSpec};
//!
//! let event = EventSpec {
//!     provider: "Service Control Manager".into(),
//!     provider_guid: Some("{555908d1-a6d7-4695-8e1e-26931d2012f4}".into()),
//!     event_id: 7000,
//!     qualifiers: Some(49152),
//!     level: 2,
//!     time: Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).unwrap(),
//!     record_id: 1,
//!     channel: "System".into(),
//!     computer: "EXCH01.contoso.local".into(),
//!     data: vec![
//!         DataField::named("param1", "Microsoft Exchange Service Host"),
//!         DataField::named("param2", "%%1058"),
//!     ],
//!     ..EventSpec::default()
//! };
//! let bytes = evtx_writer::to_bytes(&[event]).unwrap();
//! assert_eq!(&bytes[..8], b"ElfFile\0");
//! ```

use std::collections::HashMap;
use std::io::{self, Cursor, Seek, SeekFrom, Write};

use chrono::{DateTime, Utc};

/// The file header block: chunks start after it.
pub const FILE_HEADER_SIZE: usize = 4096;
/// Every chunk has this size, whatever it holds.
pub const CHUNK_SIZE: usize = 65536;
/// The chunk header, with the string and template tables; records start after it.
pub const CHUNK_HEADER_SIZE: usize = 512;

/// Seconds from the FILETIME epoch (1601-01-01) to the Unix epoch.
const FILETIME_UNIX_OFFSET_SECS: i64 = 11_644_473_600;

/// One event to write.
///
/// `EventSpec::default()` gives an event with empty strings, zero ids, no optional field and the
/// Unix epoch as its time; fill in what matters with struct-update syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSpec {
    /// `System/Provider/@Name`.
    pub provider: String,
    /// `System/Provider/@Guid`, written verbatim; Windows writes the braced lower-case form,
    /// e.g. `{555908d1-a6d7-4695-8e1e-26931d2012f4}`. Classic (non-manifest) providers have none.
    pub provider_guid: Option<String>,
    /// `System/EventID`.
    pub event_id: u16,
    /// `System/EventID/@Qualifiers`: classic providers' high 16 bits of the message id (e.g.
    /// 49152 for Service Control Manager errors); manifest providers have none.
    pub qualifiers: Option<u16>,
    /// `System/Version`.
    pub version: u8,
    /// `System/Level`: 1 critical, 2 error, 3 warning, 4 information, 5 verbose, 0 "log always".
    pub level: u8,
    /// `System/Task`; the element is left out when `None`.
    pub task: Option<u16>,
    /// `System/Opcode`; the element is left out when `None`.
    pub opcode: Option<u8>,
    /// `System/Keywords` (rendered in hexadecimal); the element is left out when `None`.
    pub keywords: Option<u64>,
    /// `System/TimeCreated/@SystemTime`, and the record header's written time. FILETIME has a
    /// 100 ns resolution: finer digits are dropped. From 1601 on; the `evtx` crate reads times
    /// up to 9999-12-30T22:00Z only.
    pub time: DateTime<Utc>,
    /// `System/EventRecordID` and the record header's id. Must increase strictly along the list.
    pub record_id: u64,
    /// `System/Execution/@ProcessID`.
    pub process_id: u32,
    /// `System/Execution/@ThreadID`.
    pub thread_id: u32,
    /// `System/Channel`, e.g. `System` or `Application`.
    pub channel: String,
    /// `System/Computer`.
    pub computer: String,
    /// `EventData/Data`, in order. No `<EventData>` element is written when empty.
    pub data: Vec<DataField>,
}

/// One `<Data>` element of `<EventData>`.
///
/// Windows names all of an event's fields or none. Both are written as given, mixed or with
/// repeated names too, and XML shows them so; but the `evtx` crate's JSON keeps only named fields
/// when names are mixed with none, and suffixes a repeated name (`a`, `a_1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataField {
    /// `@Name`, or `None` for a bare `<Data>` (classic providers' insertion strings).
    pub name: Option<String>,
    /// The text. At most 32 767 UTF-16 units (a substitution value's size is a u16 in bytes),
    /// and a whole record must fit in a chunk's 65 024 bytes: about 32 000 units of data in all.
    pub value: String,
}

impl DataField {
    /// `<Data Name="name">value</Data>`.
    pub fn named(name: impl Into<String>, value: impl Into<String>) -> Self {
        DataField {
            name: Some(name.into()),
            value: value.into(),
        }
    }

    /// `<Data>value</Data>`.
    pub fn unnamed(value: impl Into<String>) -> Self {
        DataField {
            name: None,
            value: value.into(),
        }
    }
}

/// The whole `.evtx` file for `events`, in memory.
pub fn to_bytes(events: &[EventSpec]) -> io::Result<Vec<u8>> {
    let mut writer = EvtxWriter::new(Cursor::new(Vec::new()))?;
    for event in events {
        writer.push(event)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// Writes the `.evtx` file for `events` to `out`.
///
/// The file header, written first, counts the chunks, so the file is assembled in memory; use
/// [`EvtxWriter`] on a seekable output for files that should not be.
pub fn write_evtx<W: Write>(events: &[EventSpec], mut out: W) -> io::Result<()> {
    out.write_all(&to_bytes(events)?)?;
    out.flush()
}

/// The FILETIME (100 ns ticks since 1601-01-01 UTC) of `time`, or `None` before 1601.
pub fn filetime(time: DateTime<Utc>) -> Option<u64> {
    let secs = time.timestamp().checked_add(FILETIME_UNIX_OFFSET_SECS)?;
    let ticks = u64::try_from(secs)
        .ok()?
        .checked_mul(10_000_000)?
        .checked_add(u64::from(time.timestamp_subsec_nanos() / 100))?;
    Some(ticks)
}

/// Streams events into an `.evtx` file, one chunk in memory at a time.
///
/// The output needs `Seek` because the file header, which counts chunks and records, comes first.
/// Until [`EvtxWriter::finish`] the header is marked dirty, as Windows marks a log it has open.
pub struct EvtxWriter<W: Write + Seek> {
    out: W,
    /// Where the file starts in `out`.
    start: u64,
    chunk: Chunk,
    chunks_written: u64,
    /// Records written so far, for the chunks' record numbers (ordinals from 1).
    records: u64,
    last_record_id: Option<u64>,
}

impl<W: Write + Seek> EvtxWriter<W> {
    /// Starts a file at `out`'s current position.
    pub fn new(mut out: W) -> io::Result<Self> {
        let start = out.stream_position()?;
        out.write_all(&file_header(0, 1, FILE_FLAG_DIRTY))?;
        Ok(EvtxWriter {
            out,
            start,
            chunk: Chunk::new(1),
            chunks_written: 0,
            records: 0,
            last_record_id: None,
        })
    }

    /// Appends one event. Fails (and writes nothing) if the event cannot be written: a record id
    /// not above the previous one, a time before 1601, a value too long, or an event too large
    /// for a chunk.
    pub fn push(&mut self, event: &EventSpec) -> io::Result<()> {
        validate(event, self.last_record_id)?;
        if !self.chunk.append(event)? {
            if self.chunk.records == 0 {
                return Err(too_large(event));
            }
            // Chunks are independent (names and templates are chunk-relative), so the event is
            // encoded afresh at the start of a new one.
            self.flush_chunk()?;
            if !self.chunk.append(event)? {
                return Err(too_large(event));
            }
        }
        self.records += 1;
        self.last_record_id = Some(event.record_id);
        Ok(())
    }

    /// Writes the last chunk and the final (clean) file header; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        if self.chunk.records > 0 {
            self.flush_chunk()?;
        }
        let next_record_id = self.last_record_id.map_or(1, |id| id.saturating_add(1));
        let header = file_header(self.chunks_written, next_record_id, 0);
        let end = self.out.stream_position()?;
        self.out.seek(SeekFrom::Start(self.start))?;
        self.out.write_all(&header)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.chunks_written >= u64::from(u16::MAX) {
            return Err(invalid(
                "more than 65 535 chunks: the file header cannot count them".into(),
            ));
        }
        let next = Chunk::new(self.records + 1);
        let full = std::mem::replace(&mut self.chunk, next);
        self.out.write_all(&full.finish())?;
        self.chunks_written += 1;
        Ok(())
    }
}

fn too_large(event: &EventSpec) -> io::Error {
    invalid(format!(
        "event {} (record id {}) does not fit in a 64 KiB chunk",
        event.event_id, event.record_id
    ))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Rejects what the file could not hold, or would hold wrongly, before any byte is written.
fn validate(event: &EventSpec, last_record_id: Option<u64>) -> io::Result<()> {
    // Readers stop a chunk's walk at the record whose id is the chunk's last, and order chunks
    // by their first id: ids out of order would hide or reorder records.
    if last_record_id.is_some_and(|last| event.record_id <= last) {
        return Err(invalid(format!(
            "record id {} does not follow {}",
            event.record_id,
            last_record_id.unwrap_or_default()
        )));
    }
    if filetime(event.time).is_none() {
        return Err(invalid(format!(
            "record {}: time {} is before 1601, which FILETIME cannot hold",
            event.record_id, event.time
        )));
    }
    for field in &event.data {
        if field.value.encode_utf16().count() > usize::from(u16::MAX / 2) {
            return Err(invalid(format!(
                "record {}: a data value longer than 32 767 UTF-16 units",
                event.record_id
            )));
        }
    }
    // Strings are counted, but Windows' are C strings, and readers cut them at a NUL.
    let strings = [&event.provider, &event.channel, &event.computer]
        .into_iter()
        .chain(&event.provider_guid)
        .chain(
            event
                .data
                .iter()
                .flat_map(|f| f.name.iter().chain([&f.value])),
        );
    for s in strings {
        if s.contains('\0') {
            return Err(invalid(format!(
                "record {}: a string holds a NUL character",
                event.record_id
            )));
        }
        if s.encode_utf16().count() > usize::from(u16::MAX) {
            return Err(invalid(format!(
                "record {}: a string longer than 65 535 UTF-16 units",
                event.record_id
            )));
        }
    }
    Ok(())
}

const FILE_FLAG_DIRTY: u32 = 0x1;

fn file_header(chunks: u64, next_record_id: u64, flags: u32) -> Vec<u8> {
    let mut h = vec![0u8; FILE_HEADER_SIZE];
    h[0..8].copy_from_slice(b"ElfFile\0");
    // First and last chunk numbers: the log has not wrapped, so its oldest chunk is the first.
    put(&mut h, 8, &0u64.to_le_bytes());
    put(&mut h, 16, &chunks.saturating_sub(1).to_le_bytes());
    put(&mut h, 24, &next_record_id.to_le_bytes());
    put(&mut h, 32, &128u32.to_le_bytes());
    // Format 3.1, which every Windows since Vista reads (3.2 only appeared with Windows 10 2004).
    put(&mut h, 36, &1u16.to_le_bytes());
    put(&mut h, 38, &3u16.to_le_bytes());
    put(&mut h, 40, &(FILE_HEADER_SIZE as u16).to_le_bytes());
    // Fits: `flush_chunk` refuses a 65 536th chunk.
    put(&mut h, 42, &(chunks as u16).to_le_bytes());
    put(&mut h, 120, &flags.to_le_bytes());
    let crc = crc32fast::hash(&h[..120]);
    put(&mut h, 124, &crc.to_le_bytes());
    h
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

// BinXML tokens and value types (MS-EVEN6), only those written here.
const TOKEN_EOF: u8 = 0x00;
const TOKEN_OPEN_START: u8 = 0x01;
const TOKEN_CLOSE_START: u8 = 0x02;
const TOKEN_CLOSE_EMPTY: u8 = 0x03;
const TOKEN_END_ELEMENT: u8 = 0x04;
const TOKEN_VALUE: u8 = 0x05;
const TOKEN_ATTRIBUTE: u8 = 0x06;
const TOKEN_TEMPLATE_INSTANCE: u8 = 0x0c;
const TOKEN_NORMAL_SUBSTITUTION: u8 = 0x0d;
const TOKEN_OPTIONAL_SUBSTITUTION: u8 = 0x0e;
const TOKEN_FRAGMENT_HEADER: u8 = 0x0f;
/// Set on an element start with attributes, and on an attribute followed by another.
const FLAG_MORE: u8 = 0x40;

const TYPE_NULL: u8 = 0x00;
const TYPE_STRING: u8 = 0x01;
const TYPE_UINT8: u8 = 0x04;
const TYPE_UINT16: u8 = 0x06;
const TYPE_UINT32: u8 = 0x08;
const TYPE_UINT64: u8 = 0x0a;
const TYPE_GUID: u8 = 0x0f;
const TYPE_FILETIME: u8 = 0x11;
const TYPE_SID: u8 = 0x13;
const TYPE_HEXINT64: u8 = 0x15;
const TYPE_BINXML: u8 = 0x21;

/// "Not set", for an element's DependencyId.
const NO_DEPENDENCY: u16 = 0xffff;

/// The System template's substitutions, numbered as in Windows' own: a reader that knows
/// Windows' numbering finds the same values at the same places.
mod slot {
    pub const LEVEL: u16 = 0;
    pub const OPCODE: u16 = 1;
    pub const TASK: u16 = 2;
    pub const EVENT_ID: u16 = 3;
    pub const QUALIFIERS: u16 = 4;
    pub const KEYWORDS: u16 = 5;
    pub const SYSTEM_TIME: u16 = 6;
    pub const ACTIVITY_ID: u16 = 7;
    pub const PROCESS_ID: u16 = 8;
    pub const THREAD_ID: u16 = 9;
    pub const EVENT_RECORD_ID: u16 = 10;
    pub const VERSION: u16 = 11;
    pub const USER_ID: u16 = 12;
    // 13 to 17 are unused by Windows' System template, and sent as NULL.
    pub const RELATED_ACTIVITY_ID: u16 = 18;
    pub const EVENT_DATA: u16 = 19;
    pub const COUNT: u32 = 20;
}

/// What one template substitution value holds.
enum Value {
    Null,
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    HexU64(u64),
    FileTime(u64),
}

impl Value {
    fn type_and_bytes(&self) -> (u8, Vec<u8>) {
        match *self {
            Value::Null => (TYPE_NULL, Vec::new()),
            Value::U8(v) => (TYPE_UINT8, vec![v]),
            Value::U16(v) => (TYPE_UINT16, v.to_le_bytes().to_vec()),
            Value::U32(v) => (TYPE_UINT32, v.to_le_bytes().to_vec()),
            Value::U64(v) => (TYPE_UINT64, v.to_le_bytes().to_vec()),
            Value::HexU64(v) => (TYPE_HEXINT64, v.to_le_bytes().to_vec()),
            Value::FileTime(v) => (TYPE_FILETIME, v.to_le_bytes().to_vec()),
        }
    }
}

/// An element being written: where its sizes go once its end is known.
struct Open {
    /// Offset of the u32 data size (counts everything after it, to the end token).
    size_at: usize,
    /// Offset of the u32 attribute-list size, when the element has attributes.
    attributes_at: Option<usize>,
}

/// One chunk being filled: its bytes from offset 0 (header included), and what its records can
/// reference by offset.
struct Chunk {
    buf: Vec<u8>,
    /// Offsets of the names written so far. Element and attribute names are the fixed
    /// vocabulary of the event schema, hence `&'static str`.
    names: HashMap<&'static str, u32>,
    /// The chunk's template definitions by content key: (template id, definition offset).
    templates: HashMap<Vec<u8>, (u32, u32)>,
    /// The string table: 64 hash buckets, each the offset of its latest name, which links to
    /// the previous one.
    string_heads: [u32; 64],
    /// The template table: 32 buckets, linked the same way through the definitions.
    template_heads: [u32; 32],
    /// Number (file ordinal) of the chunk's first record.
    first_number: u64,
    records: u64,
    first_id: u64,
    last_id: u64,
    last_record_at: u32,
    /// Reused to build template keys without allocating per record.
    key: Vec<u8>,
}

impl Chunk {
    fn new(first_number: u64) -> Self {
        let mut buf = Vec::with_capacity(CHUNK_SIZE);
        buf.resize(CHUNK_HEADER_SIZE, 0);
        Chunk {
            buf,
            names: HashMap::new(),
            templates: HashMap::new(),
            string_heads: [0; 64],
            template_heads: [0; 32],
            first_number,
            records: 0,
            first_id: 0,
            last_id: 0,
            last_record_at: 0,
            key: Vec::new(),
        }
    }

    /// Writes `event` as the next record; `Ok(false)` if it does not fit. Either way, a record
    /// not written leaves the chunk as it was.
    fn append(&mut self, event: &EventSpec) -> io::Result<bool> {
        let start = self.buf.len();
        let heads = (self.string_heads, self.template_heads);
        let written = self.record(event);
        if written.is_err() || self.buf.len() > CHUNK_SIZE {
            // Undo the record, and forget the names and templates it defined: later records
            // must not reference bytes that are gone.
            self.buf.truncate(start);
            (self.string_heads, self.template_heads) = heads;
            let kept = start as u32;
            self.names.retain(|_, offset| *offset < kept);
            self.templates.retain(|_, (_, offset)| *offset < kept);
            return written.map(|()| false);
        }
        if self.records == 0 {
            self.first_id = event.record_id;
        }
        self.records += 1;
        self.last_id = event.record_id;
        self.last_record_at = start as u32;
        Ok(true)
    }

    fn record(&mut self, event: &EventSpec) -> io::Result<()> {
        let start = self.buf.len();
        // Checked by `validate`.
        let time = filetime(event.time).unwrap_or_default();
        self.buf.extend_from_slice(b"**\0\0");
        self.u32(0); // size, patched below
        self.u64(event.record_id);
        self.u64(time);

        self.buf
            .extend_from_slice(&[TOKEN_FRAGMENT_HEADER, 1, 1, 0]);
        self.system_template(event);
        self.system_values(event, time)?;
        self.buf.push(TOKEN_EOF);

        // Windows aligns records on 8 bytes; the padding sits between the BinXML and the size
        // copy, where readers that size the record by its header skip it.
        let unpadded = self.buf.len() - start + 4;
        let size = unpadded.next_multiple_of(8);
        self.buf.resize(start + size - 4, 0);
        let size32 = u32::try_from(size)
            .map_err(|_| invalid(format!("record {} is too large", event.record_id)))?;
        self.u32(size32);
        put(&mut self.buf, start + 4, &size32.to_le_bytes());
        Ok(())
    }

    /// The instance of the System template for the event's provider, channel and computer.
    fn system_template(&mut self, event: &EventSpec) {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.extend_from_slice(b"System");
        for part in [
            Some(event.provider.as_str()),
            event.provider_guid.as_deref(),
            Some(event.channel.as_str()),
            Some(event.computer.as_str()),
        ] {
            keyed(&mut key, part);
        }
        self.template_instance(&key, |c| c.system_body(event));
        self.key = key;
    }

    /// `<Event>` with `<System>`, as Windows' System template has it: what is the same for
    /// every event of a provider on a channel and computer is literal text, the rest are
    /// substitutions, optional ones behind DependencyIds so that a NULL leaves them out.
    fn system_body(&mut self, event: &EventSpec) {
        let ev = self.open("Event", NO_DEPENDENCY, true);
        self.attribute("xmlns", true);
        self.text("http://schemas.microsoft.com/win/2004/08/events/event");
        self.close_start(&ev);
        let system = self.open("System", NO_DEPENDENCY, false);
        self.close_start(&system);

        let provider = self.open("Provider", NO_DEPENDENCY, true);
        self.attribute("Name", event.provider_guid.is_none());
        self.text(&event.provider);
        if let Some(guid) = &event.provider_guid {
            self.attribute("Guid", true);
            self.text(guid);
        }
        self.close_empty(provider);

        let id = self.open("EventID", slot::EVENT_ID, true);
        self.attribute("Qualifiers", true);
        self.substitution(true, slot::QUALIFIERS, TYPE_UINT16);
        self.close_start(&id);
        self.substitution(true, slot::EVENT_ID, TYPE_UINT16);
        self.end(id);

        for (name, id, ty) in [
            ("Version", slot::VERSION, TYPE_UINT8),
            ("Level", slot::LEVEL, TYPE_UINT8),
            ("Task", slot::TASK, TYPE_UINT16),
            ("Opcode", slot::OPCODE, TYPE_UINT8),
            ("Keywords", slot::KEYWORDS, TYPE_HEXINT64),
        ] {
            self.substituted_element(name, id, ty);
        }

        let created = self.open("TimeCreated", NO_DEPENDENCY, true);
        self.attribute("SystemTime", true);
        self.substitution(true, slot::SYSTEM_TIME, TYPE_FILETIME);
        self.close_empty(created);

        self.substituted_element("EventRecordID", slot::EVENT_RECORD_ID, TYPE_UINT64);

        let correlation = self.open("Correlation", NO_DEPENDENCY, true);
        self.attribute("ActivityID", false);
        self.substitution(true, slot::ACTIVITY_ID, TYPE_GUID);
        self.attribute("RelatedActivityID", true);
        self.substitution(true, slot::RELATED_ACTIVITY_ID, TYPE_GUID);
        self.close_empty(correlation);

        let execution = self.open("Execution", NO_DEPENDENCY, true);
        self.attribute("ProcessID", false);
        self.substitution(true, slot::PROCESS_ID, TYPE_UINT32);
        self.attribute("ThreadID", true);
        self.substitution(true, slot::THREAD_ID, TYPE_UINT32);
        self.close_empty(execution);

        for (name, text) in [("Channel", &event.channel), ("Computer", &event.computer)] {
            let el = self.open(name, NO_DEPENDENCY, false);
            self.close_start(&el);
            self.text(text);
            self.end(el);
        }

        let security = self.open("Security", NO_DEPENDENCY, true);
        self.attribute("UserID", true);
        self.substitution(true, slot::USER_ID, TYPE_SID);
        self.close_empty(security);

        self.end(system);
        self.substitution(true, slot::EVENT_DATA, TYPE_BINXML);
        self.end(ev);
    }

    /// `<name>%id</name>`, left out when value `id` is NULL.
    fn substituted_element(&mut self, name: &'static str, id: u16, ty: u8) {
        let el = self.open(name, id, false);
        self.close_start(&el);
        self.substitution(true, id, ty);
        self.end(el);
    }

    fn system_values(&mut self, event: &EventSpec, time: u64) -> io::Result<()> {
        let fixed = |id: u16| match id {
            slot::LEVEL => Value::U8(event.level),
            slot::OPCODE => event.opcode.map_or(Value::Null, Value::U8),
            slot::TASK => event.task.map_or(Value::Null, Value::U16),
            slot::EVENT_ID => Value::U16(event.event_id),
            slot::QUALIFIERS => event.qualifiers.map_or(Value::Null, Value::U16),
            slot::KEYWORDS => event.keywords.map_or(Value::Null, Value::HexU64),
            slot::SYSTEM_TIME => Value::FileTime(time),
            slot::PROCESS_ID => Value::U32(event.process_id),
            slot::THREAD_ID => Value::U32(event.thread_id),
            slot::EVENT_RECORD_ID => Value::U64(event.record_id),
            slot::VERSION => Value::U8(event.version),
            _ => Value::Null,
        };
        let values: Vec<(u8, Vec<u8>)> = (0..slot::EVENT_DATA)
            .map(|id| fixed(id).type_and_bytes())
            .collect();
        self.u32(slot::COUNT);
        for (ty, bytes) in &values {
            self.descriptor(bytes.len() as u16, *ty);
        }
        let data_descriptor = self.buf.len();
        self.descriptor(0, TYPE_NULL);
        for (_, bytes) in &values {
            self.buf.extend_from_slice(bytes);
        }
        if !event.data.is_empty() {
            // The EventData as a BinXML fragment of its own, sized once written.
            let start = self.buf.len();
            self.buf
                .extend_from_slice(&[TOKEN_FRAGMENT_HEADER, 1, 1, 0]);
            self.event_data(&event.data);
            self.buf.push(TOKEN_EOF);
            let size = u16::try_from(self.buf.len() - start).map_err(|_| {
                invalid(format!(
                    "record {}: its EventData exceeds 65 535 bytes",
                    event.record_id
                ))
            })?;
            put(&mut self.buf, data_descriptor, &size.to_le_bytes());
            self.buf[data_descriptor + 2] = TYPE_BINXML;
        }
        Ok(())
    }

    /// The instance of the EventData template for this list of names, and its values.
    fn event_data(&mut self, data: &[DataField]) {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.extend_from_slice(b"EventData");
        for field in data {
            keyed(&mut key, field.name.as_deref());
        }
        self.template_instance(&key, |c| {
            let event_data = c.open("EventData", NO_DEPENDENCY, false);
            c.close_start(&event_data);
            for (i, field) in data.iter().enumerate() {
                let el = c.open("Data", NO_DEPENDENCY, field.name.is_some());
                if let Some(name) = &field.name {
                    c.attribute("Name", true);
                    c.text(name);
                }
                c.close_start(&el);
                // Wraps only past 65 536 fields, whose record could not fit in a chunk anyway.
                c.substitution(false, i as u16, TYPE_STRING);
                c.end(el);
            }
            c.end(event_data);
        });
        self.key = key;
        self.u32(data.len() as u32);
        for field in data {
            // Fits: `validate` caps values at 32 767 units.
            self.descriptor((field.value.encode_utf16().count() * 2) as u16, TYPE_STRING);
        }
        for field in data {
            self.utf16(&field.value);
        }
    }

    /// A template instance's head: the definition inline if this chunk has not seen `key` yet,
    /// a reference to it otherwise. `body` writes the definition's element.
    fn template_instance(&mut self, key: &[u8], body: impl FnOnce(&mut Chunk)) {
        self.buf.extend_from_slice(&[TOKEN_TEMPLATE_INSTANCE, 1]);
        if let Some(&(id, offset)) = self.templates.get(key) {
            self.u32(id);
            self.u32(offset);
            return;
        }
        // The GUID names the template's content, so the same template has the same GUID in
        // every chunk and file, as Windows' do; Windows' template id is its first 4 bytes.
        let guid = fnv1a_128(key).to_le_bytes();
        let id = u32::from_le_bytes([guid[0], guid[1], guid[2], guid[3]]);
        let offset = self.buf.len() as u32 + 8;
        self.u32(id);
        self.u32(offset);
        // Windows' bucketing of the template table is undocumented (it is neither the id nor
        // the GUID's first byte modulo 32); readers only follow the links, so the id serves.
        let bucket = (id % 32) as usize;
        self.u32(self.template_heads[bucket]);
        self.template_heads[bucket] = offset;
        self.buf.extend_from_slice(&guid);
        let size_at = self.buf.len();
        self.u32(0);
        self.buf
            .extend_from_slice(&[TOKEN_FRAGMENT_HEADER, 1, 1, 0]);
        body(self);
        self.buf.push(TOKEN_EOF);
        self.patch_size(size_at);
        self.templates.insert(key.to_vec(), (id, offset));
    }

    /// An element start in a template definition (which is where all of ours are).
    fn open(&mut self, name: &'static str, dependency: u16, attributes: bool) -> Open {
        let token = if attributes {
            TOKEN_OPEN_START | FLAG_MORE
        } else {
            TOKEN_OPEN_START
        };
        self.buf.push(token);
        self.u16(dependency);
        let size_at = self.buf.len();
        self.u32(0);
        self.name(name);
        let attributes_at = attributes.then(|| {
            let at = self.buf.len();
            self.u32(0);
            at
        });
        Open {
            size_at,
            attributes_at,
        }
    }

    /// An attribute, whose value the caller writes next.
    fn attribute(&mut self, name: &'static str, last: bool) {
        self.buf.push(if last {
            TOKEN_ATTRIBUTE
        } else {
            TOKEN_ATTRIBUTE | FLAG_MORE
        });
        self.name(name);
    }

    fn close_start(&mut self, el: &Open) {
        if let Some(at) = el.attributes_at {
            self.patch_size(at);
        }
        self.buf.push(TOKEN_CLOSE_START);
    }

    fn close_empty(&mut self, el: Open) {
        if let Some(at) = el.attributes_at {
            self.patch_size(at);
        }
        self.buf.push(TOKEN_CLOSE_EMPTY);
        self.patch_size(el.size_at);
    }

    fn end(&mut self, el: Open) {
        self.buf.push(TOKEN_END_ELEMENT);
        self.patch_size(el.size_at);
    }

    /// Literal text, as a value token.
    fn text(&mut self, s: &str) {
        self.buf.extend_from_slice(&[TOKEN_VALUE, TYPE_STRING]);
        // Fits: `validate` caps strings at 65 535 units.
        self.u16(s.encode_utf16().count() as u16);
        self.utf16(s);
    }

    fn substitution(&mut self, optional: bool, id: u16, ty: u8) {
        self.buf.push(if optional {
            TOKEN_OPTIONAL_SUBSTITUTION
        } else {
            TOKEN_NORMAL_SUBSTITUTION
        });
        self.u16(id);
        self.buf.push(ty);
    }

    /// A name reference: the name inline, right after the reference, the first time the chunk
    /// uses it, and the offset of that copy afterwards. Inline copies join the string table,
    /// bucketed by their hash as Windows does.
    fn name(&mut self, name: &'static str) {
        if let Some(&offset) = self.names.get(name) {
            self.u32(offset);
            return;
        }
        let offset = self.buf.len() as u32 + 4;
        self.u32(offset);
        let hash = name_hash(name);
        let bucket = usize::from(hash % 64);
        self.u32(self.string_heads[bucket]);
        self.string_heads[bucket] = offset;
        self.u16(hash);
        self.u16(name.encode_utf16().count() as u16);
        self.utf16(name);
        self.u16(0);
        self.names.insert(name, offset);
    }

    fn descriptor(&mut self, size: u16, ty: u8) {
        self.u16(size);
        self.buf.extend_from_slice(&[ty, 0]);
    }

    /// Stores at `at` the number of bytes written after the u32 there.
    fn patch_size(&mut self, at: usize) {
        let size = (self.buf.len() - at - 4) as u32;
        put(&mut self.buf, at, &size.to_le_bytes());
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn utf16(&mut self, s: &str) {
        for unit in s.encode_utf16() {
            self.u16(unit);
        }
    }

    /// The finished chunk: header filled in, CRCs computed, free space zeroed.
    fn finish(self) -> Vec<u8> {
        let free_space = self.buf.len() as u32;
        let mut c = self.buf;
        c.resize(CHUNK_SIZE, 0);
        c[0..8].copy_from_slice(b"ElfChnk\0");
        let last_number = self.first_number + self.records - 1;
        put(&mut c, 8, &self.first_number.to_le_bytes());
        put(&mut c, 16, &last_number.to_le_bytes());
        put(&mut c, 24, &self.first_id.to_le_bytes());
        put(&mut c, 32, &self.last_id.to_le_bytes());
        put(&mut c, 40, &128u32.to_le_bytes());
        put(&mut c, 44, &self.last_record_at.to_le_bytes());
        put(&mut c, 48, &free_space.to_le_bytes());
        for (i, head) in self.string_heads.iter().enumerate() {
            put(&mut c, 128 + 4 * i, &head.to_le_bytes());
        }
        for (i, head) in self.template_heads.iter().enumerate() {
            put(&mut c, 384 + 4 * i, &head.to_le_bytes());
        }
        let records_crc = crc32fast::hash(&c[CHUNK_HEADER_SIZE..free_space as usize]);
        put(&mut c, 52, &records_crc.to_le_bytes());
        let mut header_crc = crc32fast::Hasher::new();
        header_crc.update(&c[..120]);
        header_crc.update(&c[128..CHUNK_HEADER_SIZE]);
        put(&mut c, 124, &header_crc.finalize().to_le_bytes());
        c
    }
}

/// Appends `part` to a template key so that distinct lists of parts give distinct keys.
fn keyed(key: &mut Vec<u8>, part: Option<&str>) {
    match part {
        None => key.push(0),
        Some(s) => {
            key.push(1);
            key.extend_from_slice(&(s.len() as u64).to_le_bytes());
            key.extend_from_slice(s.as_bytes());
        }
    }
}

/// The hash Windows stores with a name and buckets the string table by: each UTF-16 unit folded
/// in with multiplier 65599, low 16 bits kept (checked on real System logs).
fn name_hash(name: &str) -> u16 {
    let hash = name.encode_utf16().fold(0u32, |h, unit| {
        h.wrapping_mul(65599).wrapping_add(u32::from(unit))
    });
    hash as u16
}

/// 128-bit FNV-1a: small, stable across builds and platforms, and well spread enough to give
/// distinct templates distinct GUIDs.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn name_hash_matches_windows() {
        // Hashes read from the string table of a System.evtx written by Windows 7.
        assert_eq!(name_hash("Event"), 0x0cba);
        assert_eq!(name_hash("EventRecordID"), 0x0346);
        assert_eq!(name_hash("Provider"), 0x7bf1);
        assert_eq!(name_hash("xmlns"), 0x0fbc);
    }

    #[test]
    fn filetime_counts_100ns_from_1601() {
        let epoch = Utc.with_ymd_and_hms(1601, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(filetime(epoch), Some(0));
        let unix = Utc.timestamp_opt(0, 100).unwrap();
        assert_eq!(filetime(unix), Some(116_444_736_000_000_001));
        let before = Utc.with_ymd_and_hms(1600, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(filetime(before), None);
    }
}
