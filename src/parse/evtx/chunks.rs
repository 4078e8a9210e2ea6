//! Reading chunks in parallel: each rayon worker takes one chunk at a time, counts its records
//! and keeps the wanted ones as facts; the workers' tallies are merged.

use super::templates::Templates;
use super::{CHUNK_HEADER_SIZE, CHUNK_SIZE, FileSummary, USER_SID_KEY, excerpt, parse_system_time};
use super::{record, scan};
use crate::bundle::Deadline;
use crate::facts::{Event, Evidence, Fact, FactKind, Locator, Position, Stamp};
use crate::parse::EventFilter;
use ahash::AHashMap as HashMap;
use chrono::{DateTime, Utc};
use evtx::{EvtxChunkData, EvtxChunkHeader, EvtxRecordHeader, ParserSettings};
use std::sync::Arc;

/// The smallest record (24-byte header + 4-byte trailer, no content) bounds a chunk's count.
const MAX_RECORDS_PER_CHUNK: u64 = (CHUNK_SIZE - CHUNK_HEADER_SIZE as u64) / 28;

/// What every chunk of one file is read with.
pub(super) struct Job<'a> {
    pub(super) bundle_path: &'a str,
    pub(super) filter: &'a EventFilter,
    pub(super) limit: usize,
    pub(super) settings: Arc<ParserSettings>,
    /// Count records no rule wants from their raw bytes when their template allows it
    /// ([`Templates`]); off, every record is rendered (tests compare both).
    pub(super) quick: bool,
    /// `--max-seconds-per-file`: chunks not started by then are not read.
    pub(super) deadline: Option<Deadline>,
    /// The member's place in the bundle, which orders its events among all files' in the
    /// bundle's [`crate::parse::digest::Digest`].
    pub(super) member: usize,
}

impl<'a> Job<'a> {
    pub(super) fn new(bundle_path: &'a str, filter: &'a EventFilter, limit: usize) -> Self {
        Job {
            bundle_path,
            filter,
            limit,
            settings: Arc::new(ParserSettings::new().indent(false)),
            quick: true,
            deadline: None,
            member: 0,
        }
    }
}

/// One chunk slot as read from the file: its number, its 64 KiB (zero-padded when the file
/// ends inside it), and then how many of its bytes the file holds.
pub(super) struct Slot {
    pub(super) number: u64,
    pub(super) data: Vec<u8>,
    pub(super) cut: Option<u64>,
}

/// Per-worker state: caches, and what was found so far.
#[derive(Default)]
pub(super) struct Worker {
    wants: Wants,
    templates: Templates,
    scratch: scan::Scratch,
    staged: Staged,
    pub(super) tally: Tally,
}

#[derive(Default)]
pub(super) struct Tally {
    pub(super) facts: Vec<Fact>,
    /// channel → provider → id → count; nested so a lookup borrows instead of allocating.
    pub(super) counts: HashMap<String, HashMap<String, HashMap<u32, u64>>>,
    pub(super) summary: FileSummary,
    /// The first damage seen, by chunk slot, for the problem line.
    pub(super) first_error: Option<(u64, String)>,
}

impl Tally {
    pub(super) fn merge(mut self, other: Tally) -> Tally {
        self.facts.extend(other.facts);
        for (channel, providers) in other.counts {
            let c = self.counts.entry(channel).or_default();
            for (provider, ids) in providers {
                let p = c.entry(provider).or_default();
                for (id, n) in ids {
                    *p.entry(id).or_default() += n;
                }
            }
        }
        let (a, b) = (&mut self.summary, other.summary);
        a.chunks += b.chunks;
        a.chunks_unreadable += b.chunks_unreadable;
        a.chunks_bad_checksum += b.chunks_bad_checksum;
        a.records += b.records;
        a.records_unrendered += b.records_unrendered;
        a.records_skipped += b.records_skipped;
        a.chunks_uncounted += b.chunks_uncounted;
        a.not_kept += b.not_kept;
        a.chunks_timed_out += b.chunks_timed_out;
        a.last_record_id = a.last_record_id.max(b.last_record_id);
        a.truncated_at = a.truncated_at.or(b.truncated_at);
        a.truncated_lost = a.truncated_lost.or(b.truncated_lost);
        self.first_error = match (self.first_error, other.first_error) {
            (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
            (x, y) => x.or(y),
        };
        self
    }

    fn error(&mut self, slot: u64, what: impl FnOnce() -> String) {
        if self.first_error.as_ref().is_none_or(|(s, _)| slot < *s) {
            self.first_error = Some((slot, what()));
        }
    }

    fn count(&mut self, channel: &str, provider: &str, id: u32, n: u64) {
        let c = match self.counts.get_mut(channel) {
            Some(c) => c,
            None => self.counts.entry(channel.to_string()).or_default(),
        };
        let p = match c.get_mut(provider) {
            Some(p) => p,
            None => c.entry(provider.to_string()).or_default(),
        };
        *p.entry(id).or_default() += n;
    }
}

/// What reading one chunk's records gave.
#[derive(Default)]
struct ChunkRead {
    ok: u64,
    failed: u64,
    /// Records running past the end of a truncated file, not read.
    cut: u64,
}

impl Worker {
    pub(super) fn chunk(&mut self, job: &Job<'_>, slot: Slot) {
        if job.deadline.is_some_and(|d| d.check().is_err()) {
            self.tally.summary.chunks_timed_out += 1;
            return;
        }
        let Slot {
            number: slot,
            data,
            cut,
        } = slot;
        // A slot of zeros was never written.
        if data.iter().all(|b| *b == 0) {
            return;
        }
        self.tally.summary.chunks += 1;
        // The header alone, to count what an unreadable or cut chunk held.
        let header = EvtxChunkHeader::from_bytes(&data[..CHUNK_HEADER_SIZE]).ok();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.read_chunk(job, slot, data, cut)
        }));
        let read = match outcome {
            Ok(Ok(read)) => {
                if let Some(h) = &header {
                    let s = &mut self.tally.summary;
                    s.last_record_id = s.last_record_id.max(h.last_event_record_id);
                }
                read
            }
            Ok(Err(e)) => {
                self.unreadable(slot, header.as_ref(), format!("chunk {slot}: {e}"));
                ChunkRead::default()
            }
            Err(_) => {
                let why = format!("chunk {slot}: the evtx parser failed on it");
                self.unreadable(slot, header.as_ref(), why);
                ChunkRead::default()
            }
        };
        let s = &mut self.tally.summary;
        match cut {
            Some(bytes) => {
                s.truncated_at = Some(bytes);
                s.truncated_lost = match header.as_ref().and_then(records_in) {
                    Some(expected) => Some(expected.saturating_sub(read.ok)),
                    None => Some(read.failed + read.cut),
                };
            }
            None => s.records_skipped += read.failed,
        }
    }

    fn unreadable(&mut self, slot: u64, header: Option<&EvtxChunkHeader>, why: String) {
        let s = &mut self.tally.summary;
        s.chunks_unreadable += 1;
        match header.and_then(records_in) {
            Some(n) => s.records_skipped += n,
            None => s.chunks_uncounted += 1,
        }
        self.tally.error(slot, || why);
    }

    /// Reads every record of one chunk; `Err` when the chunk as a whole is unreadable. In a
    /// chunk the file ends inside (`cut` bytes of it present), records that run past the end are
    /// not read: the zeros standing in for their missing bytes would render as if they were data.
    ///
    /// Records no rule wants are counted from their raw bytes when their template allows it
    /// ([`Self::scan`]); the crate reads the chunk only when a record is left for it, and then
    /// renders only those records.
    fn read_chunk(
        &mut self,
        job: &Job<'_>,
        slot: u64,
        data: Vec<u8>,
        cut: Option<u64>,
    ) -> Result<ChunkRead, String> {
        let mut chunk_data = EvtxChunkData::new(data, false).map_err(|e| describe(&e))?;
        // A cut chunk fails its checksum by construction; that is reported as the cut.
        if cut.is_none() && !chunk_data.validate_checksum() {
            self.tally.summary.chunks_bad_checksum += 1;
        }
        let mut read = ChunkRead::default();
        let left = if job.quick && cut.is_none() {
            self.scan(job.filter, &chunk_data, Some(job.bundle_path))
        } else {
            None
        };
        let first_fact = self.tally.facts.len();
        if left.as_ref().is_none_or(|l| !l.offsets.is_empty()) {
            let mut chunk = chunk_data
                .parse(Arc::clone(&job.settings))
                .map_err(|e| describe(&e))?;
            self.render(job, slot, &mut chunk, cut, left.as_ref(), &mut read);
        }
        // Counted only once the chunk is known readable, so an unreadable chunk is never both
        // counted and skipped.
        if left.is_some() {
            read.ok += self.staged.commit(&mut self.tally, job);
            // Events built from their values and events rendered by the crate, in record order
            // as rendering them all would give them.
            self.tally.facts[first_fact..].sort_by_key(record_of);
        }
        Ok(read)
    }

    /// Counts, from their raw bytes, the records of a chunk no rule wants (into `self.staged`);
    /// returns the records left for the crate, or `None` when the crate must read them all (a
    /// record header it would report, or resynchronise after).
    ///
    /// The walk is the crate's: from the chunk header to the free space, or to the record
    /// whose id is the header's last one.
    ///
    /// With `bundle_path`, a wanted record whose template and values are plain enough is built
    /// into its event right here ([`scan::build`]) instead of being left for the crate.
    fn scan(
        &mut self,
        filter: &EventFilter,
        chunk: &EvtxChunkData,
        bundle_path: Option<&str>,
    ) -> Option<Left> {
        let data = &chunk.data[..];
        let header = &chunk.header;
        let live_end = (header.free_space_offset as usize).min(data.len());
        let mut left = Left::default();
        self.staged.clear();
        self.templates.new_chunk();
        let mut offset = CHUNK_HEADER_SIZE;
        while offset < live_end {
            let record = EvtxRecordHeader::from_bytes_at(data, offset).ok()?;
            let size = record.record_data_size().ok()? as usize;
            let start = offset + 24; // past the record header
            let end = start.checked_add(size).filter(|e| *e <= data.len())?;
            let counted =
                scan::count_record(data, start, end, &mut self.templates, &mut self.scratch);
            let kept = match counted {
                Some(c) if !self.wants.counted(filter, &c) => {
                    self.staged.push(&c);
                    true
                }
                Some(c) => match bundle_path
                    .and_then(|path| Some((path, scan::build(data, &c.at, &mut self.templates)?)))
                {
                    Some((path, built)) => {
                        let time = built.system_time.or(header_time(&record.timestamp));
                        let record_id = built.record_id.unwrap_or(record.event_record_id);
                        let user_sid = built.user_sid.map(|sid| (USER_SID_KEY.to_string(), sid));
                        let event = Event {
                            repeats: None,
                            channel: c.channel.to_string(),
                            provider: c.counted_provider().to_string(),
                            event_id: c.event_id,
                            qualifiers: built.qualifiers,
                            level: built.level,
                            record_id,
                            computer: built.computer,
                            data: built.data.into_iter().chain(user_sid).collect(),
                        };
                        self.staged.push(&c);
                        self.staged.facts.push(event_fact(path, event, time));
                        true
                    }
                    None => false,
                },
                None => false,
            };
            if !kept {
                left.offsets.push(start as u64);
                left.ids.push(record.event_record_id);
            }
            if record.event_record_id == header.last_event_record_id {
                break;
            }
            offset += record.data_size as usize;
        }
        Some(left)
    }

    /// Renders a parsed chunk's records (those in `left` only, when given) and reads them.
    fn render(
        &mut self,
        job: &Job<'_>,
        slot: u64,
        chunk: &mut evtx::EvtxChunk<'_>,
        cut: Option<u64>,
        left: Option<&Left>,
        read: &mut ChunkRead,
    ) {
        // The crate builds each record as the iteration reaches it: stop after the last one
        // left for it.
        let last = left.and_then(|l| l.offsets.last().copied());
        for record in chunk.iter() {
            let record = match record {
                Ok(r) if last.is_some_and(|last| r.binxml_offset > last) => break,
                // Counted from its raw bytes already.
                Ok(r)
                    if left.is_some_and(|l| l.offsets.binary_search(&r.binxml_offset).is_err()) =>
                {
                    continue;
                }
                // The record ends with a 4-byte copy of its size, after its BinXML.
                Ok(r)
                    if cut.is_some_and(|c| r.binxml_offset + u64::from(r.binxml_size) + 4 > c) =>
                {
                    read.cut += 1;
                    continue;
                }
                Ok(r) => r,
                Err(evtx::err::EvtxError::FailedToParseRecord { record_id, .. })
                    if left.is_some_and(|l| !l.ids.contains(&record_id)) =>
                {
                    // Counted from its raw bytes; the crate's opinion of its content does not
                    // change its count.
                    continue;
                }
                Err(e) => {
                    read.failed += 1;
                    self.tally
                        .error(slot, || format!("chunk {slot}: {}", describe(&e)));
                    continue;
                }
            };
            let (id, time) = (record.event_record_id, header_time(&record.timestamp));
            let outcome = record
                .into_xml_bytes()
                .map_err(|e| describe(&e))
                .and_then(|r| {
                    self.record(job, &r.data, id, time)
                        .map_err(|e| e.to_string())
                });
            match outcome {
                Ok(()) => read.ok += 1,
                Err(e) => {
                    read.failed += 1;
                    self.tally.error(slot, || format!("record {id}: {e}"));
                }
            }
        }
    }

    /// Counts one rendered record and keeps it as a fact if a rule wants it. A record is either
    /// counted or, on `Err`, skipped: never both.
    fn record(
        &mut self,
        job: &Job<'_>,
        xml: &[u8],
        header_id: u64,
        header_time: Option<DateTime<Utc>>,
    ) -> Result<(), record::RecordError> {
        let (sys, rest) = record::read_system(xml)?;
        let provider: &str = if sys.provider.is_empty() {
            sys.event_source.as_deref().unwrap_or("")
        } else {
            &sys.provider
        };
        let event_source = sys.event_source.as_deref().unwrap_or("");
        let wanted = self
            .wants
            .either(job.filter, provider, event_source, sys.event_id);
        let data = if wanted { Some(rest.data()?) } else { None };
        self.tally.summary.records += 1;
        self.tally.count(&sys.channel, provider, sys.event_id, 1);
        let Some(data) = data else { return Ok(()) };
        if !job.filter.reserve(job.limit) {
            self.tally.summary.not_kept += 1;
            return Ok(());
        }
        let time = sys
            .system_time
            .as_deref()
            .and_then(parse_system_time)
            .or(header_time);
        let record_id = sys.record_id.unwrap_or(header_id);
        let event = Event {
            repeats: None,
            channel: sys.channel.into_owned(),
            provider: provider.to_string(),
            event_id: sys.event_id,
            qualifiers: sys.qualifiers,
            level: sys.level,
            record_id,
            computer: sys.computer.into_owned(),
            data: data
                .into_iter()
                .chain(
                    sys.user_sid
                        .map(|sid| (USER_SID_KEY.to_string(), sid.into_owned())),
                )
                .collect(),
        };
        self.tally
            .facts
            .push(event_fact(job.bundle_path, event, time));
        Ok(())
    }
}

/// An event kept for the rules, cited by its record.
fn event_fact(bundle_path: &str, event: Event, time: Option<DateTime<Utc>>) -> Fact {
    Fact {
        time: time.map(Stamp::Utc),
        evidence: Evidence::new(
            Locator::new(bundle_path, Position::Record(event.record_id)),
            excerpt(&event),
        ),
        kind: FactKind::Event(event),
    }
}

/// The record a kept event came from.
pub(super) fn record_of(f: &Fact) -> u64 {
    match f.evidence.locator.at {
        Position::Record(r) => r,
        _ => 0,
    }
}

/// [`EventFilter::wants`], answered once per (provider, id) and worker: it lower-cases the
/// provider on every call.
#[derive(Default)]
struct Wants {
    known: HashMap<String, HashMap<u32, bool>>,
}

impl Wants {
    fn one(&mut self, filter: &EventFilter, provider: &str, id: u32) -> bool {
        let ids = match self.known.get_mut(provider) {
            Some(ids) => ids,
            None => self.known.entry(provider.to_string()).or_default(),
        };
        *ids.entry(id).or_insert_with(|| filter.wants(provider, id))
    }

    /// A rule wants the event under its provider or under its event source.
    fn either(&mut self, filter: &EventFilter, provider: &str, source: &str, id: u32) -> bool {
        self.one(filter, provider, id)
            || (!source.is_empty() && source != provider && self.one(filter, source, id))
    }

    /// [`Self::either`] for a record counted from its raw bytes: the provider it is counted
    /// under is the event source when the provider name is empty, as in [`Worker::record`].
    fn counted(&mut self, filter: &EventFilter, c: &scan::Counted<'_>) -> bool {
        self.either(filter, c.counted_provider(), c.event_source, c.event_id)
    }
}

/// The records of a chunk counted from their raw bytes, held until the chunk is known readable.
#[derive(Default)]
struct Staged {
    /// Channels and providers back to back.
    text: String,
    /// (start, end of channel, end of provider in `text`, event id, records): a run of the
    /// same event is one entry.
    records: Vec<(usize, usize, usize, u32, u64)>,
    /// Records staged.
    total: u64,
    /// Wanted events built from their values, kept when the chunk is.
    facts: Vec<Fact>,
}

impl Staged {
    fn clear(&mut self) {
        self.text.clear();
        self.records.clear();
        self.total = 0;
        self.facts.clear();
    }

    fn push(&mut self, c: &scan::Counted<'_>) {
        self.total += 1;
        let provider = c.counted_provider();
        if let Some((start, channel_end, end, id, n)) = self.records.last_mut()
            && *id == c.event_id
            && self.text[*start..*channel_end] == *c.channel
            && self.text[*channel_end..*end] == *provider
        {
            *n += 1;
            return;
        }
        let start = self.text.len();
        self.text.push_str(c.channel);
        let channel_end = self.text.len();
        self.text.push_str(provider);
        self.records
            .push((start, channel_end, self.text.len(), c.event_id, 1));
    }

    /// Counts the staged records into `tally` and keeps their events within the bundle's
    /// budget; returns how many records.
    fn commit(&mut self, tally: &mut Tally, job: &Job<'_>) -> u64 {
        for fact in self.facts.drain(..) {
            if job.filter.reserve(job.limit) {
                tally.facts.push(fact);
            } else {
                tally.summary.not_kept += 1;
            }
        }
        for &(start, channel_end, end, id, n) in &self.records {
            tally.count(
                &self.text[start..channel_end],
                &self.text[channel_end..end],
                id,
                n,
            );
        }
        let n = self.total;
        tally.summary.records += n;
        tally.summary.records_unrendered += n;
        self.clear();
        n
    }
}

/// Records a chunk's raw scan left for the crate, by BinXML offset (ascending) and record id.
#[derive(Default)]
struct Left {
    offsets: Vec<u64>,
    ids: Vec<u64>,
}

/// [`super::scan_chunk`]: a fresh worker's raw scan of one chunk, one common event wanted so
/// both outcomes of a record are taken.
pub(super) fn scan_only(chunk: &EvtxChunkData) -> Option<(u64, Vec<u64>)> {
    let mut filter = EventFilter::default();
    filter
        .ids
        .insert(("service control manager".to_string(), 7036));
    let mut w = Worker::default();
    let left = w.scan(&filter, chunk, Some("evtx/x.evtx"))?;
    Some((w.staged.total, left.offsets))
}

/// How many records a chunk header says the chunk holds, if that is believable.
fn records_in(h: &EvtxChunkHeader) -> Option<u64> {
    let n = h
        .last_event_record_number
        .checked_sub(h.first_event_record_number)?
        .checked_add(1)?;
    (n <= MAX_RECORDS_PER_CHUNK).then_some(n)
}

/// The record header's time, unless it is the FILETIME epoch that exported logs often carry.
fn header_time(t: &evtx::Timestamp) -> Option<DateTime<Utc>> {
    // 1601-01-01 is 11 644 473 600 s before the Unix epoch; anything that early is a zero.
    const FILETIME_EPOCH: i64 = -11_644_473_600;
    let secs = t.as_second();
    if secs <= FILETIME_EPOCH + 86_400 {
        return None;
    }
    DateTime::from_timestamp(secs, t.subsec_nanosecond().max(0) as u32)
}

/// An error and its sources on one line, cut to a readable length.
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out += ": ";
            out += &text;
        }
        source = s.source();
    }
    crate::facts::clip(&out, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The raw scan reads hostile bytes without the crate's checks in front of it: on real
    /// chunks with random bytes changed it must never panic (outside `catch_unwind`, so a panic
    /// fails the test), and whatever it counts must be what the template and values say.
    #[test]
    fn the_raw_scan_survives_damaged_chunks() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/evtx-corpus");
        if !root.is_dir() {
            eprintln!("skipped: {} is absent", root.display());
            return;
        }
        let mut filter = EventFilter::default();
        filter
            .ids
            .insert(("service control manager".to_string(), 7036));
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut scanned, mut counted) = (0, 0);
        for file in [
            "plaso/System.evtx",
            "omerbenamram-evtx/security.evtx",
            "omerbenamram-evtx/sysmon.evtx",
        ] {
            let bytes = std::fs::read(root.join(file)).unwrap();
            for chunk in bytes[4096..].chunks_exact(CHUNK_SIZE as usize).take(4) {
                for _ in 0..300 {
                    let mut data = chunk.to_vec();
                    for _ in 0..1 + next() % 8 {
                        // Past the chunk header, where the records and templates are.
                        let at = CHUNK_HEADER_SIZE
                            + (next() as usize) % (data.len() - CHUNK_HEADER_SIZE);
                        data[at] = next() as u8;
                    }
                    let Ok(chunk_data) = EvtxChunkData::new(data, false) else {
                        continue;
                    };
                    let mut w = Worker::default();
                    if let Some(left) = w.scan(&filter, &chunk_data, Some("evtx/x.evtx")) {
                        scanned += 1;
                        counted += w.staged.total;
                        assert!(left.offsets.windows(2).all(|p| p[0] < p[1]));
                        assert_eq!(left.offsets.len(), left.ids.len());
                    }
                }
            }
        }
        assert!(
            scanned > 1000 && counted > 10_000,
            "{scanned} chunks, {counted} records"
        );
    }
}
