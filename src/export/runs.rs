//! Timeline entries sorted in bounded memory: filled by every thread that reads a log, sorted
//! in runs of at most [`RUN`] entries and [`RUN_BYTES`], written to a private temp folder when
//! there are more, and merged in timeline order as the output is written.
//!
//! A full run is taken out of the shared buffer and sorted and written by the thread that
//! filled it, while the other threads go on filling the next: writing never holds the others
//! up. Runs are written in a plain binary form (lengths and bytes) that reads back at the
//! speed of the disk; the temp folder is removed when the runs are dropped.

use crate::timeline::{TimelineEntry, order};
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// Entries sorted in memory at a time.
pub const RUN: usize = 100_000;
/// Bytes of entries (roughly) sorted in memory at a time.
pub const RUN_BYTES: usize = 32 << 20;

/// The run being filled, and those written out.
#[derive(Default)]
pub struct Runs {
    filling: Mutex<Filling>,
    written: Mutex<Written>,
    /// The last run, sorted, once the runs are merged: shared by each pass, not copied.
    last: Option<Arc<Vec<TimelineEntry>>>,
}

#[derive(Default)]
struct Filling {
    entries: Vec<TimelineEntry>,
    /// Roughly what `entries` holds, in bytes.
    bytes: usize,
}

#[derive(Default)]
struct Written {
    dir: Option<tempfile::TempDir>,
    files: Vec<PathBuf>,
    /// Why a run could not be written, reported when the runs are merged.
    failed: Option<std::io::Error>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runs {
    /// Adds entries in any order; a run that fills up is sorted and written out.
    pub fn push(&self, entries: Vec<TimelineEntry>) {
        let mut full = Vec::new();
        {
            let mut f = lock(&self.filling);
            for e in entries {
                f.bytes += size_of(&e);
                f.entries.push(e);
                if f.entries.len() >= RUN || f.bytes >= RUN_BYTES {
                    full.push(std::mem::take(&mut f.entries));
                    f.bytes = 0;
                }
            }
        }
        for run in full {
            if let Err(e) = self.write(run) {
                lock(&self.written).failed.get_or_insert(e);
            }
        }
    }

    /// Sorts a full run and writes it to the temp folder.
    fn write(&self, mut run: Vec<TimelineEntry>) -> std::io::Result<()> {
        let path = {
            let mut w = lock(&self.written);
            if w.failed.is_some() {
                return Ok(());
            }
            let dir = match &w.dir {
                Some(d) => d.path().to_path_buf(),
                None => w.dir.insert(tempfile::tempdir()?).path().to_path_buf(),
            };
            let path = dir.join(format!("run-{}", w.files.len()));
            w.files.push(path.clone());
            path
        };
        run.sort_unstable_by(order);
        let mut out = BufWriter::with_capacity(1 << 16, std::fs::File::create(&path)?);
        for e in &run {
            encode(e, &mut out)?;
        }
        out.flush()
    }

    /// Every entry in timeline order; may be called again for a second pass.
    pub fn merged(&mut self) -> std::io::Result<Merge> {
        let written = self.written.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = written.failed.take() {
            return Err(e);
        }
        let filling = self.filling.get_mut().unwrap_or_else(|p| p.into_inner());
        if self.last.is_none() || !filling.entries.is_empty() {
            let mut run = std::mem::take(&mut filling.entries);
            if let Some(last) = self.last.take() {
                run.extend(Arc::unwrap_or_clone(last));
            }
            run.sort_unstable_by(order);
            filling.bytes = 0;
            self.last = Some(Arc::new(run));
        }
        let last = self.last.clone().unwrap_or_default();
        let mut sources: Vec<Source> = vec![Source::Memory(last, 0)];
        for f in &written.files {
            let file = std::fs::File::open(f)?;
            sources.push(Source::File(BufReader::with_capacity(1 << 16, file)));
        }
        let mut m = Merge {
            sources,
            heads: BinaryHeap::new(),
            error: None,
        };
        for i in 0..m.sources.len() {
            m.refill(i);
        }
        Ok(m)
    }

    #[cfg(test)]
    fn files(&self) -> Vec<PathBuf> {
        lock(&self.written).files.clone()
    }
}

/// Roughly the bytes an entry holds.
fn size_of(e: &TimelineEntry) -> usize {
    std::mem::size_of::<TimelineEntry>() + strings(e).iter().map(|s| s.len()).sum::<usize>()
}

/// The text columns of an entry, in the order they are written.
fn strings(e: &TimelineEntry) -> [&String; 8] {
    [
        &e.timestamp_desc,
        &e.message,
        &e.source,
        &e.locator,
        &e.channel,
        &e.provider,
        &e.computer,
        &e.tag,
    ]
}

/// One entry in a run file: seconds and nanoseconds, flags, ids, then each text column as a
/// length and its bytes.
fn encode(e: &TimelineEntry, w: &mut impl Write) -> std::io::Result<()> {
    w.write_all(&e.datetime.timestamp().to_le_bytes())?;
    w.write_all(&e.datetime.timestamp_subsec_nanos().to_le_bytes())?;
    let flags = u8::from(e.local)
        | u8::from(e.event_id.is_some()) << 1
        | u8::from(e.record_id.is_some()) << 2;
    w.write_all(&[flags])?;
    w.write_all(&e.event_id.unwrap_or(0).to_le_bytes())?;
    w.write_all(&e.record_id.unwrap_or(0).to_le_bytes())?;
    for s in strings(e) {
        w.write_all(&(s.len() as u64).to_le_bytes())?;
        w.write_all(s.as_bytes())?;
    }
    Ok(())
}

/// The next entry of a run file, `None` at its end.
fn decode(r: &mut impl BufRead) -> std::io::Result<Option<TimelineEntry>> {
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let damaged =
        || std::io::Error::new(std::io::ErrorKind::InvalidData, "a sorted run is damaged");
    let seconds = i64::from_le_bytes(take(r)?);
    let nanos = u32::from_le_bytes(take(r)?);
    let [flags] = take::<1>(r)?;
    let event_id = u32::from_le_bytes(take(r)?);
    let record_id = u64::from_le_bytes(take(r)?);
    let mut text = || -> std::io::Result<String> {
        let len = u64::from_le_bytes(take(r)?);
        // A run holds at most RUN_BYTES plus one entry: a longer length is damage.
        if len > (RUN_BYTES as u64) << 4 {
            return Err(damaged());
        }
        let mut bytes = Vec::new();
        r.by_ref().take(len).read_to_end(&mut bytes)?;
        if bytes.len() as u64 != len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        String::from_utf8(bytes).map_err(|_| damaged())
    };
    Ok(Some(TimelineEntry {
        datetime: chrono::DateTime::from_timestamp(seconds, nanos).ok_or_else(damaged)?,
        local: flags & 1 != 0,
        timestamp_desc: text()?,
        message: text()?,
        source: text()?,
        locator: text()?,
        event_id: (flags & 2 != 0).then_some(event_id),
        channel: text()?,
        provider: text()?,
        record_id: (flags & 4 != 0).then_some(record_id),
        computer: text()?,
        tag: text()?,
    }))
}

fn take<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

enum Source {
    /// The last run, and the next entry's index in it.
    Memory(Arc<Vec<TimelineEntry>>, usize),
    File(BufReader<std::fs::File>),
}

impl Source {
    fn next(&mut self) -> Option<std::io::Result<TimelineEntry>> {
        match self {
            Source::Memory(run, at) => {
                let e = run.get(*at).cloned();
                *at += 1;
                e.map(Ok)
            }
            Source::File(r) => decode(r).transpose(),
        }
    }
}

/// The smallest entry at the head of each run, smallest first.
struct Head {
    entry: TimelineEntry,
    source: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: `BinaryHeap` pops its largest.
        order(&other.entry, &self.entry).then(other.source.cmp(&self.source))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Head {}

/// The runs' entries in timeline order.
pub struct Merge {
    sources: Vec<Source>,
    heads: BinaryHeap<Head>,
    error: Option<std::io::Error>,
}

impl Merge {
    fn refill(&mut self, source: usize) {
        match self.sources[source].next() {
            Some(Ok(entry)) => self.heads.push(Head { entry, source }),
            Some(Err(e)) => self.error = Some(e),
            None => {}
        }
    }
}

impl Iterator for Merge {
    type Item = std::io::Result<TimelineEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        let head = self.heads.pop()?;
        self.refill(head.source);
        Some(Ok(head.entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry(second: u32, locator: &str) -> TimelineEntry {
        TimelineEntry {
            datetime: chrono::Utc
                .with_ymd_and_hms(2012, 2, 12, 21, 0, second % 60)
                .unwrap()
                + chrono::Duration::minutes(i64::from(second / 60)),
            timestamp_desc: "Event logged".into(),
            message: format!("m{second}"),
            source: "EVTX".into(),
            locator: locator.into(),
            ..Default::default()
        }
    }

    #[test]
    fn runs_spilled_to_disk_merge_into_one_order() {
        let mut runs = Runs::default();
        // 2.5 runs' worth, in a scrambled order, some with every column set.
        let n = RUN * 5 / 2;
        let mut expected = Vec::with_capacity(n);
        for i in 0..n {
            let k = (i * 7919) % n;
            let mut e = entry(k as u32, &format!("evtx/System.evtx record {}", k % 13));
            if k.is_multiple_of(3) {
                e.local = k.is_multiple_of(2);
                e.event_id = Some(k as u32);
                e.record_id = Some(u64::MAX - k as u64);
                e.datetime += chrono::Duration::nanoseconds(k as i64);
                e.computer = "EX01 — Zürich".into();
                e.tag = "a;b".into();
            }
            expected.push(e.clone());
            runs.push(vec![e]);
        }
        assert_eq!(
            runs.files().len(),
            2,
            "two runs written, the third in memory"
        );
        expected.sort_by(order);
        for pass in 0..2 {
            let merged: Vec<TimelineEntry> = runs.merged().unwrap().map(Result::unwrap).collect();
            assert_eq!(merged.len(), n, "pass {pass}");
            assert!(merged == expected, "pass {pass}: not in timeline order");
        }
        let dir = runs.files()[0].parent().unwrap().to_path_buf();
        drop(runs);
        assert!(!dir.exists(), "the temp folder is removed");
    }

    #[test]
    fn runs_filled_by_many_threads_merge_into_one_order() {
        let mut runs = Runs::default();
        let n = RUN * 3;
        std::thread::scope(|s| {
            for t in 0..4 {
                let runs = &runs;
                s.spawn(move || {
                    for chunk in (t..n).step_by(4).collect::<Vec<_>>().chunks(1000) {
                        runs.push(chunk.iter().map(|&i| entry(i as u32, "x")).collect());
                    }
                });
            }
        });
        assert!(runs.files().len() >= 2);
        let merged: Vec<TimelineEntry> = runs.merged().unwrap().map(Result::unwrap).collect();
        assert_eq!(merged.len(), n);
        assert!(merged.windows(2).all(|w| order(&w[0], &w[1]).is_le()));
    }

    #[test]
    fn long_messages_spill_before_the_run_is_full() {
        let mut runs = Runs::default();
        let long = "x".repeat(1 << 20);
        for i in 0..40u32 {
            let mut e = entry(i, "evtx/System.evtx record 1");
            e.message = format!("{i} {long}");
            runs.push(vec![e]);
        }
        assert_eq!(runs.files().len(), 1, "32 MiB of entries went to disk");
        let merged: Vec<TimelineEntry> = runs.merged().unwrap().map(Result::unwrap).collect();
        assert_eq!(merged.len(), 40);
        assert!(merged.windows(2).all(|w| order(&w[0], &w[1]).is_le()));
    }

    #[test]
    fn a_run_that_cannot_be_read_back_is_an_error() {
        for damage in [&b"damaged"[..], &[0xff; 64][..]] {
            let mut runs = Runs::default();
            runs.push((0..RUN + 1).map(|i| entry(i as u32, "x")).collect());
            std::fs::write(&runs.files()[0], damage).unwrap();
            let errors = runs.merged().unwrap().filter(Result::is_err).count();
            assert!(errors >= 1);
        }
    }
}
