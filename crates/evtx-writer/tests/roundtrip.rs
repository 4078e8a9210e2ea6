//! The writer checked against an independent reader, the `evtx` crate: random events are
//! written, read back through both of its renderers (XML and JSON), and every field compared;
//! the files' structure (header, chunk headers, CRCs, string and template tables) is checked
//! byte by byte.
//!
//! Seeded, so a failure names the seed that reproduces it.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use evtx::{EvtxChunkData, EvtxFileHeader, EvtxParser, HeaderFlags, ParserSettings};
use evtx_writer::{
    CHUNK_HEADER_SIZE, CHUNK_SIZE, DataField, EventSpec, EvtxWriter, FILE_HEADER_SIZE, filetime,
    to_bytes, write_evtx,
};
use quick_xml::events::Event as XmlEvent;
use serde_json::Value as Json;

// ---------------------------------------------------------------------------------------------
// Random events.

/// Characters to build strings from: ASCII, XML's special characters, whitespace that must
/// survive, characters XML cannot hold (C0 controls, U+FFFE/U+FFFF), non-Latin scripts, and
/// astral-plane characters (UTF-16 surrogate pairs).
const CHARS: &[char] = &[
    'a', 'b', 'z', 'A', 'Q', '0', '7', ' ', '.', '-', '_', '%', '\\', '/', ':', '{', '}', '<', '>',
    '&', '"', '\'', ';', '#', '\t', '\n', '\r', '\u{1}', '\u{1f}', '\u{7f}', '\u{a0}', 'é', 'ß',
    'Ж', 'ש', '中', '文', '\u{2028}', '\u{fffe}', '\u{ffff}', '😀', '𝄞',
];
/// Characters for data names: what Windows manifests use, plus some non-ASCII letters.
const NAME_CHARS: &[char] = &['a', 'm', 'z', 'P', 'X', '0', '9', '_', 'é', 'Ж', '中'];

fn string(rng: &mut fastrand::Rng, chars: &[char], len: std::ops::Range<usize>) -> String {
    let len = rng.usize(len);
    (0..len).map(|_| chars[rng.usize(..chars.len())]).collect()
}

/// A value: often empty or short, now and then long (thousands of characters).
fn value(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..100) {
        0..=19 => String::new(),
        20..=22 => string(rng, CHARS, 1000..6000),
        _ => string(rng, CHARS, 1..40),
    }
}

fn guid(rng: &mut fastrand::Rng) -> String {
    let n = rng.u128(..);
    format!(
        "{{{:08x}-{:04x}-{:04x}-{:04x}-{:012x}}}",
        n >> 96,
        (n >> 80) & 0xffff,
        (n >> 64) & 0xffff,
        (n >> 48) & 0xffff,
        n & 0xffff_ffff_ffff
    )
}

/// Times over the whole range `evtx` reads, the ends included, and digits below FILETIME's
/// 100 ns. FILETIME goes to the year 30828, but `evtx`'s timestamps (jiff) stop at
/// 9999-12-30T22:00Z.
fn time(rng: &mut fastrand::Rng) -> DateTime<Utc> {
    let first = Utc
        .with_ymd_and_hms(1601, 1, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let last = Utc
        .with_ymd_and_hms(9999, 12, 30, 21, 59, 59)
        .unwrap()
        .timestamp();
    let secs = match rng.u8(..10) {
        0 => first,
        1 => last,
        // Around the years of Exchange 2010 to 2019 servers.
        2..=6 => rng.i64(1_262_304_000..1_893_456_000),
        _ => rng.i64(first..=last),
    };
    Utc.timestamp_opt(secs, rng.u32(..1_000_000_000)).unwrap()
}

/// `count` events whose providers, channels, computers and data shapes come from small pools,
/// so templates are both defined and reused, with ids increasing by random steps.
fn events(seed: u64, count: usize) -> Vec<EventSpec> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let providers: Vec<(String, Option<String>)> = (0..rng.usize(1..6))
        .map(|i| {
            let name = match i {
                0 => "Service Control Manager".to_string(),
                1 => "MSExchange ADAccess".to_string(),
                _ => string(&mut rng, CHARS, 1..30),
            };
            (name, rng.bool().then(|| guid(&mut rng)))
        })
        .collect();
    let channels = [
        "System",
        "Application",
        "",
        "Microsoft-Exchange-ActiveMonitoring/Ωp",
    ];
    let computers: Vec<String> = (0..rng.usize(1..3))
        .map(|_| string(&mut rng, CHARS, 0..20))
        .collect();
    // Data shapes: all named (Windows manifests), all unnamed (classic insertion strings), or
    // mixed and with repeated names (which XML can carry).
    let shapes: Vec<Vec<Option<String>>> = (0..rng.usize(1..6))
        .map(|_| {
            let len = rng.usize(0..9);
            match rng.u8(..3) {
                0 => (1..=len).map(|i| Some(format!("param{i}"))).collect(),
                1 => vec![None; len],
                _ => (0..len)
                    .map(|_| rng.bool().then(|| string(&mut rng, NAME_CHARS, 1..4)))
                    .collect(),
            }
        })
        .collect();
    let mut record_id = match rng.u8(..4) {
        0 => rng.u64(1..u64::MAX / 2),
        _ => rng.u64(1..100_000),
    };
    (0..count)
        .map(|_| {
            record_id += rng.u64(1..3);
            let (provider, provider_guid) = providers[rng.usize(..providers.len())].clone();
            let shape = &shapes[rng.usize(..shapes.len())];
            EventSpec {
                provider,
                provider_guid,
                event_id: rng.u16(..),
                qualifiers: rng.bool().then(|| rng.u16(..)),
                version: rng.u8(..),
                level: rng.u8(..),
                task: rng.bool().then(|| rng.u16(..)),
                opcode: rng.bool().then(|| rng.u8(..)),
                keywords: rng.bool().then(|| rng.u64(..)),
                time: time(&mut rng),
                record_id,
                process_id: rng.u32(..),
                thread_id: rng.u32(..),
                channel: channels[rng.usize(..channels.len())].to_string(),
                computer: computers[rng.usize(..computers.len())].clone(),
                data: shape
                    .iter()
                    .map(|name| DataField {
                        name: name.clone(),
                        value: value(&mut rng),
                    })
                    .collect(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading back.

fn parser(bytes: &[u8]) -> EvtxParser<std::io::Cursor<Vec<u8>>> {
    EvtxParser::from_buffer(bytes.to_vec())
        .expect("a file the parser opens")
        .with_configuration(
            ParserSettings::new()
                .validate_checksums(true)
                .num_threads(1),
        )
}

/// An XML element as `evtx` renders it.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `evtx`'s XML, keeping text exactly as rendered (no end-of-line or attribute
/// whitespace normalisation): what is compared is what `evtx` wrote.
fn parse_xml(xml: &str) -> Element {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack = vec![Element::default()];
    let open = |e: &quick_xml::events::BytesStart| Element {
        name: e.name().as_ref().to_string(),
        attributes: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                // The raw value: unescaped, but not whitespace-normalised.
                let raw: &str = &a.value;
                (
                    a.key.as_ref().to_string(),
                    quick_xml::escape::unescape(raw).unwrap().into_owned(),
                )
            })
            .collect(),
        ..Element::default()
    };
    loop {
        match reader.read_event().unwrap() {
            XmlEvent::Start(e) => stack.push(open(&e)),
            XmlEvent::Empty(e) => {
                let el = open(&e);
                stack.last_mut().unwrap().children.push(el);
            }
            XmlEvent::End(_) => {
                let el = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(el);
            }
            XmlEvent::Text(t) => stack.last_mut().unwrap().text += &t.into_inner(),
            XmlEvent::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().unwrap() {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .unwrap()
                        .to_string(),
                };
                stack.last_mut().unwrap().text += &ch;
            }
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().unwrap();
    assert_eq!(root.children.len(), 1, "one root element");
    root.children.pop().unwrap()
}

/// What `evtx`'s XML shows of `s`: characters XML cannot hold become `_`, as Windows renders
/// them (C0 controls other than tab, LF and CR; U+FFFE; U+FFFF).
fn as_xml(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '_',
            _ => c,
        })
        .collect()
}

fn filetime_of(rendered: &str) -> u64 {
    let time = DateTime::parse_from_rfc3339(rendered)
        .unwrap_or_else(|e| panic!("{rendered:?}: {e}"))
        .with_timezone(&Utc);
    filetime(time).unwrap()
}

/// Reads `bytes` back through `records()` and compares every field of every event.
fn check_xml(bytes: &[u8], events: &[EventSpec], seed: u64) {
    let mut parser = parser(bytes);
    let records: Vec<_> = parser
        .records()
        .map(|r| r.unwrap_or_else(|e| panic!("seed {seed}: {e:?}")))
        .collect();
    assert_eq!(records.len(), events.len(), "seed {seed}: record count");
    for (record, want) in records.iter().zip(events) {
        let at = format!("seed {seed}, record {}", want.record_id);
        assert_eq!(record.event_record_id, want.record_id, "{at}");
        let want_time = filetime(want.time).unwrap();
        assert_eq!(
            filetime_of(&record.timestamp.to_string()),
            want_time,
            "{at}: record header time"
        );
        let event = parse_xml(&record.data);
        assert_eq!(event.name, "Event", "{at}");
        let system = event.child("System").expect("System");
        let text = |name: &str| system.child(name).map(|e| e.text.as_str());
        let provider = system.child("Provider").expect("Provider");
        assert_eq!(
            provider.attribute("Name"),
            Some(&*as_xml(&want.provider)),
            "{at}"
        );
        assert_eq!(
            provider.attribute("Guid"),
            want.provider_guid.as_deref(),
            "{at}"
        );
        let event_id = system.child("EventID").expect("EventID");
        assert_eq!(event_id.text, want.event_id.to_string(), "{at}");
        assert_eq!(
            event_id.attribute("Qualifiers"),
            want.qualifiers.map(|q| q.to_string()).as_deref(),
            "{at}"
        );
        assert_eq!(text("Version"), Some(&*want.version.to_string()), "{at}");
        assert_eq!(text("Level"), Some(&*want.level.to_string()), "{at}");
        assert_eq!(
            text("Task"),
            want.task.map(|t| t.to_string()).as_deref(),
            "{at}"
        );
        assert_eq!(
            text("Opcode"),
            want.opcode.map(|o| o.to_string()).as_deref(),
            "{at}"
        );
        assert_eq!(
            text("Keywords"),
            want.keywords.map(|k| format!("0x{k:x}")).as_deref(),
            "{at}"
        );
        let created = system.child("TimeCreated").expect("TimeCreated");
        assert_eq!(
            filetime_of(created.attribute("SystemTime").expect("SystemTime")),
            want_time,
            "{at}: TimeCreated"
        );
        assert_eq!(
            text("EventRecordID"),
            Some(&*want.record_id.to_string()),
            "{at}"
        );
        let execution = system.child("Execution").expect("Execution");
        assert_eq!(
            execution.attribute("ProcessID"),
            Some(&*want.process_id.to_string()),
            "{at}"
        );
        assert_eq!(
            execution.attribute("ThreadID"),
            Some(&*want.thread_id.to_string()),
            "{at}"
        );
        assert_eq!(text("Channel"), Some(&*as_xml(&want.channel)), "{at}");
        assert_eq!(text("Computer"), Some(&*as_xml(&want.computer)), "{at}");

        let got: Vec<(Option<&str>, &str)> = event
            .child("EventData")
            .map(|d| {
                d.children
                    .iter()
                    .map(|c| {
                        assert_eq!(c.name, "Data", "{at}");
                        (c.attribute("Name"), c.text.as_str())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let want_data: Vec<(Option<String>, String)> = want
            .data
            .iter()
            .map(|f| (f.name.as_deref().map(as_xml), as_xml(&f.value)))
            .collect();
        let want_data: Vec<(Option<&str>, &str)> = want_data
            .iter()
            .map(|(n, v)| (n.as_deref(), v.as_str()))
            .collect();
        assert_eq!(got, want_data, "{at}: EventData");
    }
}

/// Reads `bytes` back through `records_json()`, which keeps every character, and compares the
/// System fields and, where JSON can show them (all fields named with distinct names, or none
/// named), the data.
fn check_json(bytes: &[u8], events: &[EventSpec], seed: u64) {
    let mut parser = parser(bytes);
    let records: Vec<Json> = parser
        .records_json()
        .map(|r| serde_json::from_str(&r.unwrap().data).unwrap())
        .collect();
    assert_eq!(records.len(), events.len(), "seed {seed}: record count");
    for (record, want) in records.iter().zip(events) {
        let at = format!("seed {seed}, record {}", want.record_id);
        let system = &record["Event"]["System"];
        let provider = &system["Provider"]["#attributes"];
        assert_eq!(provider["Name"], *want.provider, "{at}");
        assert_eq!(
            provider.get("Guid").and_then(Json::as_str),
            want.provider_guid.as_deref(),
            "{at}"
        );
        let id = &system["EventID"];
        match want.qualifiers {
            Some(q) => {
                assert_eq!(id["#text"], want.event_id, "{at}");
                assert_eq!(id["#attributes"]["Qualifiers"], q, "{at}");
            }
            None => assert_eq!(*id, want.event_id, "{at}"),
        }
        assert_eq!(system["Version"], want.version, "{at}");
        assert_eq!(system["Level"], want.level, "{at}");
        assert_eq!(
            system.get("Task").and_then(Json::as_u64),
            want.task.map(u64::from),
            "{at}"
        );
        assert_eq!(
            system.get("Opcode").and_then(Json::as_u64),
            want.opcode.map(u64::from),
            "{at}"
        );
        assert_eq!(
            system.get("Keywords").and_then(Json::as_str),
            want.keywords.map(|k| format!("0x{k:x}")).as_deref(),
            "{at}"
        );
        let created = system["TimeCreated"]["#attributes"]["SystemTime"]
            .as_str()
            .expect("SystemTime");
        assert_eq!(filetime_of(created), filetime(want.time).unwrap(), "{at}");
        assert_eq!(system["EventRecordID"], want.record_id, "{at}");
        assert_eq!(
            system["Execution"]["#attributes"]["ProcessID"], want.process_id,
            "{at}"
        );
        assert_eq!(
            system["Execution"]["#attributes"]["ThreadID"], want.thread_id,
            "{at}"
        );
        // An empty element is `null` in evtx's JSON.
        for (field, want) in [("Channel", &want.channel), ("Computer", &want.computer)] {
            assert_eq!(
                system[field].as_str().unwrap_or_default(),
                want,
                "{at}: {field}"
            );
        }

        let data = record["Event"].get("EventData");
        if want.data.is_empty() {
            assert_eq!(data, None, "{at}");
            continue;
        }
        let data = data.expect("EventData");
        let names: Vec<_> = want.data.iter().filter_map(|f| f.name.as_deref()).collect();
        let distinct: std::collections::BTreeSet<_> = names.iter().collect();
        if names.len() == want.data.len() && distinct.len() == names.len() {
            let got: BTreeMap<&str, &str> = data
                .as_object()
                .expect("an object of named values")
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                .collect();
            let want: BTreeMap<&str, &str> = want
                .data
                .iter()
                .map(|f| (f.name.as_deref().unwrap_or_default(), f.value.as_str()))
                .collect();
            assert_eq!(got, want, "{at}: EventData");
        } else if names.is_empty() {
            let text = &data["Data"]["#text"];
            let got: Vec<&str> = match text {
                Json::Array(values) => values
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default())
                    .collect(),
                other => vec![other.as_str().unwrap_or_default()],
            };
            let want: Vec<&str> = want.data.iter().map(|f| f.value.as_str()).collect();
            assert_eq!(got, want, "{at}: EventData");
        }
    }
}

/// The file header and every chunk header agree with the events, all CRCs hold, records are
/// framed right, and the string and template tables list what the chunk defines. Returns the
/// number of chunks and of template definitions.
fn check_structure(bytes: &[u8], events: &[EventSpec]) -> (usize, usize) {
    let header = EvtxFileHeader::from_bytes(bytes).unwrap();
    assert!(header.validate_checksum(), "file header CRC");
    assert_eq!(header.flags, HeaderFlags::EMPTY, "a cleanly closed log");
    assert_eq!((header.major_version, header.minor_version), (3, 1));
    assert_eq!(header.header_size, 128);
    assert_eq!(usize::from(header.header_block_size), FILE_HEADER_SIZE);
    let chunks = (bytes.len() - FILE_HEADER_SIZE) / CHUNK_SIZE;
    assert_eq!(bytes.len(), FILE_HEADER_SIZE + chunks * CHUNK_SIZE);
    assert_eq!(usize::from(header.chunk_count), chunks);
    assert_eq!(header.first_chunk_number, 0);
    assert_eq!(header.last_chunk_number, chunks.saturating_sub(1) as u64);
    assert_eq!(
        header.next_record_id,
        events.last().map_or(1, |e| e.record_id + 1)
    );

    let mut number = 1;
    let mut next = 0;
    let mut templates = 0;
    for n in 0..chunks {
        let data = bytes[FILE_HEADER_SIZE + n * CHUNK_SIZE..][..CHUNK_SIZE].to_vec();
        let chunk = EvtxChunkData::new(data, true).unwrap_or_else(|e| panic!("chunk {n}: {e}"));
        let h = &chunk.header;
        assert_eq!(h.first_event_record_number, number, "chunk {n}");
        let count = (h.last_event_record_number + 1 - number) as usize;
        assert!(count > 0, "chunk {n}: no record");
        let held = &events[next..next + count];
        assert_eq!(h.first_event_record_id, held[0].record_id, "chunk {n}");
        let last_id = held[count - 1].record_id;
        assert_eq!(h.last_event_record_id, last_id, "chunk {n}");
        number += count as u64;
        next += count;
        templates += check_tables(&chunk.data, h.free_space_offset as usize, n);
        // The records, walked by their sizes: framed like Windows' (magic, 8-byte multiple,
        // trailing copy of the size, which `evtx` only reads when carving), in order, ending at
        // the free space, the last where the header says.
        let mut at = CHUNK_HEADER_SIZE;
        let mut last_at = 0;
        for want in held {
            let record = &chunk.data[at..];
            assert_eq!(&record[..4], b"**\0\0", "chunk {n}, offset {at}");
            let size = u32_at(record, 4);
            assert_eq!(
                size % 8,
                0,
                "chunk {n}: record {} size {size}",
                want.record_id
            );
            assert_eq!(u32_at(record, size - 4), size, "chunk {n}: size copy");
            let id = u64::from_le_bytes(record[8..16].try_into().unwrap());
            assert_eq!(id, want.record_id, "chunk {n}");
            let written = u64::from_le_bytes(record[16..24].try_into().unwrap());
            assert_eq!(
                written,
                filetime(want.time).unwrap(),
                "chunk {n}: written time"
            );
            last_at = at;
            at += size;
        }
        assert_eq!(
            at, h.free_space_offset as usize,
            "chunk {n}: records end at the free space"
        );
        assert_eq!(
            h.last_event_record_data_offset as usize, last_at,
            "chunk {n}"
        );
        assert!(
            chunk.data[at..].iter().all(|&b| b == 0),
            "chunk {n}: free space zeroed"
        );
    }
    assert_eq!(next, events.len(), "every event is in a chunk");
    (chunks, templates)
}

fn u32_at(data: &[u8], at: usize) -> usize {
    u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize
}

/// Walks the string table (64 buckets at 128) and the template table (32 at 384): every link
/// lands inside the records, every name sits in the bucket of its hash, each name is listed
/// once, the names every event uses are listed, and the templates are defined inline where an
/// instance names them. Returns the number of templates.
fn check_tables(data: &[u8], free_space: usize, n: usize) -> usize {
    let mut names = Vec::new();
    for bucket in 0..64 {
        let mut at = u32_at(data, 128 + 4 * bucket);
        while at != 0 {
            assert!(
                (CHUNK_HEADER_SIZE..free_space).contains(&at),
                "chunk {n}: name link {at}"
            );
            let hash = u16::from_le_bytes([data[at + 4], data[at + 5]]);
            let len = usize::from(u16::from_le_bytes([data[at + 6], data[at + 7]]));
            let units: Vec<u16> = data[at + 8..at + 8 + 2 * len]
                .chunks(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            let windows_hash = units.iter().fold(0u32, |h, &u| {
                h.wrapping_mul(65599).wrapping_add(u32::from(u))
            });
            assert_eq!(hash, windows_hash as u16, "chunk {n}");
            assert_eq!(usize::from(hash) % 64, bucket, "chunk {n}");
            names.push(String::from_utf16(&units).unwrap());
            at = u32_at(data, at);
        }
    }
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "chunk {n}: a name listed twice");
    for name in [
        "Event",
        "System",
        "Provider",
        "EventID",
        "TimeCreated",
        "Computer",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "chunk {n}: {name} not in the string table"
        );
    }
    let mut templates = 0;
    for bucket in 0..32 {
        let mut at = u32_at(data, 384 + 4 * bucket);
        while at != 0 {
            assert!(
                (CHUNK_HEADER_SIZE..free_space).contains(&at),
                "chunk {n}: template link"
            );
            // The instance that defines it names it by the GUID's first 4 bytes.
            assert_eq!(data[at - 10], 0x0c, "chunk {n}: a template instance token");
            assert_eq!(
                data[at - 8..at - 4],
                data[at + 4..at + 8],
                "chunk {n}: template id"
            );
            assert_eq!(u32_at(data, at - 4), at, "chunk {n}: an inline definition");
            templates += 1;
            assert!(templates < 10_000, "chunk {n}: a template link loops");
            at = u32_at(data, at);
        }
    }
    assert!(templates > 0, "chunk {n}: no template listed");
    templates
}

/// Writes `events`, reads them back every way, and returns the numbers of chunks and templates.
fn round_trip(events: &[EventSpec], seed: u64) -> (usize, usize) {
    let bytes = to_bytes(events).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let (chunks, templates) = check_structure(&bytes, events);
    check_xml(&bytes, events, seed);
    check_json(&bytes, events, seed);
    (chunks, templates)
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn random_events_round_trip() {
    let mut chunks = 0;
    let mut multi_chunk_files = 0;
    for seed in 1..=60 {
        let count = fastrand::Rng::with_seed(seed ^ 0xa5a5).usize(1..250);
        let (n, _) = round_trip(&events(seed, count), seed);
        chunks += n;
        multi_chunk_files += usize::from(n > 1);
    }
    // The cases must cross chunk boundaries, or they test less than they claim.
    assert!(
        multi_chunk_files >= 10,
        "only {multi_chunk_files} multi-chunk files"
    );
    eprintln!("{multi_chunk_files} of 60 files span chunks, {chunks} chunks in all");
    assert!(chunks >= 100, "only {chunks} chunks");
}

#[test]
fn five_thousand_events_round_trip() {
    let events = events(20_240_301, 5000);
    let (chunks, templates) = round_trip(&events, 20_240_301);
    assert!(chunks >= 20, "{chunks} chunks");
    // Each event uses one template, two with data; most uses must be references to a
    // definition earlier in the chunk.
    let uses = events.len() + events.iter().filter(|e| !e.data.is_empty()).count();
    eprintln!("5000 events: {chunks} chunks, {templates} template definitions for {uses} uses");
    assert!(
        templates * 2 < uses,
        "{templates} definitions for {uses} uses"
    );
}

#[test]
fn the_streaming_writer_and_write_evtx_give_the_same_bytes() {
    let events = events(7, 400);
    let whole = to_bytes(&events).unwrap();
    let mut written = Vec::new();
    write_evtx(&events, &mut written).unwrap();
    assert_eq!(written, whole);
    // Into a file already holding something: the file starts where the stream was.
    let mut out = std::io::Cursor::new(b"prefix".to_vec());
    out.set_position(6);
    let mut writer = EvtxWriter::new(out).unwrap();
    for event in &events {
        writer.push(event).unwrap();
    }
    let streamed = writer.finish().unwrap().into_inner();
    assert_eq!(&streamed[..6], b"prefix");
    assert_eq!(&streamed[6..], &whole[..]);
}

#[test]
fn an_empty_log_has_a_header_and_no_chunk() {
    let bytes = to_bytes(&[]).unwrap();
    assert_eq!(bytes.len(), FILE_HEADER_SIZE);
    assert_eq!(check_structure(&bytes, &[]), (0, 0));
    assert_eq!(parser(&bytes).records().count(), 0);
}

#[test]
fn a_damaged_chunk_fails_its_checksum() {
    // Shows the checksum checks above are live: one flipped byte in the second chunk's records
    // makes `evtx` drop that chunk, and only it.
    let events = events(11, 1500);
    let mut bytes = to_bytes(&events).unwrap();
    let (chunks, _) = check_structure(&bytes, &events);
    assert!(chunks >= 3, "{chunks} chunks");
    let second = FILE_HEADER_SIZE + CHUNK_SIZE;
    let in_second = u32_at(&bytes, second + 16) - u32_at(&bytes, second + 8) + 1;
    bytes[second + CHUNK_HEADER_SIZE + 30] ^= 0x01;
    let ok = parser(&bytes).records().filter(Result::is_ok).count();
    assert_eq!(ok, events.len() - in_second);
    let unchecked = EvtxParser::from_buffer(bytes)
        .unwrap()
        .with_configuration(ParserSettings::new().num_threads(1))
        .records()
        .count();
    assert_eq!(unchecked, events.len());
}

/// An Application event with `values` unnamed data fields, each `len` characters long.
fn event(record_id: u64, values: usize, len: usize) -> EventSpec {
    EventSpec {
        provider: "MSExchangeSetup".into(),
        event_id: 1002,
        level: 2,
        time: Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).unwrap(),
        record_id,
        channel: "Application".into(),
        computer: "EXCH01.contoso.local".into(),
        data: vec![DataField::unnamed("v".repeat(len)); values],
        ..EventSpec::default()
    }
}

fn writer() -> EvtxWriter<std::io::Cursor<Vec<u8>>> {
    EvtxWriter::new(std::io::Cursor::new(Vec::new())).unwrap()
}

#[test]
fn invalid_events_are_refused() {
    let before_1601 = EventSpec {
        time: Utc.with_ymd_and_hms(1600, 12, 31, 0, 0, 0).unwrap(),
        ..event(3, 1, 5)
    };
    let nul = EventSpec {
        computer: "EX\0CH".into(),
        ..event(3, 1, 5)
    };
    let mut w = writer();
    w.push(&event(1, 1, 5)).unwrap();
    w.push(&event(2, 1, 5)).unwrap();
    // Ids must increase; times start in 1601; strings hold no NUL; a value's byte size is a u16.
    for bad in [
        event(2, 1, 5),
        event(1, 1, 5),
        before_1601,
        nul,
        event(3, 1, 32_768),
    ] {
        let err = w.push(&bad).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    }
    w.push(&event(3, 1, 30_000)).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let written = [event(1, 1, 5), event(2, 1, 5), event(3, 1, 30_000)];
    assert_eq!(check_structure(&bytes, &written).0, 1);
    check_xml(&bytes, &written, 0);
}

/// A refused event may have defined names and templates before it failed; the events after it
/// must define their own rather than point at bytes that were dropped. Each case pushes a
/// refused event, then one with the same provider and data shape.
#[test]
fn a_refused_event_leaves_nothing_behind() {
    // Values of 20 000 characters fit their u16 size, but not two in one BinXML value: the
    // encoding fails midway, in a chunk that already holds a record.
    let mut w = writer();
    w.push(&event(1, 1, 5)).unwrap();
    assert!(w.push(&event(2, 2, 20_000)).is_err());
    w.push(&event(2, 2, 5)).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let written = [event(1, 1, 5), event(2, 2, 5)];
    assert_eq!(check_structure(&bytes, &written).0, 1);
    check_xml(&bytes, &written, 0);

    // 64 400 bytes of values: encodable, but more than a chunk holds. The used chunk is closed
    // and the event tried, and refused, in a fresh one, where it defined everything.
    let mut w = writer();
    w.push(&event(1, 1, 5)).unwrap();
    assert!(w.push(&event(2, 2, 16_100)).is_err());
    w.push(&event(2, 2, 5)).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    assert_eq!(check_structure(&bytes, &written).0, 2);
    check_xml(&bytes, &written, 0);

    // The same, refused first, in the writer's first chunk.
    let mut w = writer();
    assert!(w.push(&event(1, 2, 16_100)).is_err());
    w.push(&event(1, 2, 5)).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    assert_eq!(check_structure(&bytes, &[event(1, 2, 5)]).0, 1);
    check_xml(&bytes, &[event(1, 2, 5)], 0);
}
