//! Timeline rows sorted in bounded memory: filled by every thread that reads a log, sorted in
//! runs of at most [`RUN`] rows and [`RUN_BYTES`], written to a private temp folder when there
//! are more, and merged in timeline order as the output is written.
//!
//! Each row is [`Packed`] in one allocation, in the form it is written to disk in, and compared
//! and written from there: a row never has a string of its own. A full run is taken out of the
//! shared buffer and sorted and written by the thread that filled it, while the other threads
//! go on filling the next. The temp folder is removed when the runs are dropped.

use crate::timeline::Row;
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// Rows sorted in memory at a time.
pub const RUN: usize = 100_000;
/// Bytes of rows (roughly) sorted in memory at a time.
pub const RUN_BYTES: usize = 32 << 20;

/// One row in one allocation: seconds and nanoseconds (UTC or local), flags, ids, then each
/// text column as a length and its bytes, in [`crate::timeline::order_rows`]'s order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed(Box<[u8]>);

/// Bytes before the text columns.
const FIXED: usize = 8 + 4 + 1 + 4 + 8;
/// Text columns.
const TEXTS: usize = 8;

impl Packed {
    pub fn new(row: &Row<'_>) -> Packed {
        let texts = [
            row.locator,
            row.timestamp_desc,
            row.message,
            row.source,
            row.channel,
            row.provider,
            row.computer,
            row.tag,
        ];
        let mut b = Vec::with_capacity(FIXED + texts.iter().map(|t| 4 + t.len()).sum::<usize>());
        b.extend_from_slice(&row.datetime.timestamp().to_le_bytes());
        b.extend_from_slice(&row.datetime.timestamp_subsec_nanos().to_le_bytes());
        b.push(
            u8::from(row.local)
                | u8::from(row.event_id.is_some()) << 1
                | u8::from(row.record_id.is_some()) << 2,
        );
        b.extend_from_slice(&row.event_id.unwrap_or(0).to_le_bytes());
        b.extend_from_slice(&row.record_id.unwrap_or(0).to_le_bytes());
        for t in texts {
            // A column longer than 4 GiB cannot come out of a bounded parser; cut, not wrapped.
            let t = &t.as_bytes()[..t.len().min(u32::MAX as usize)];
            b.extend_from_slice(&(t.len() as u32).to_le_bytes());
            b.extend_from_slice(t);
        }
        Packed(b.into_boxed_slice())
    }

    /// The row, or `None` when the bytes are not a whole packed row (a damaged run file).
    pub fn row(&self) -> Option<Row<'_>> {
        let b = &self.0;
        let fixed = b.get(..FIXED)?;
        let seconds = i64::from_le_bytes(fixed[0..8].try_into().ok()?);
        let nanos = u32::from_le_bytes(fixed[8..12].try_into().ok()?);
        let flags = fixed[12];
        let event_id = u32::from_le_bytes(fixed[13..17].try_into().ok()?);
        let record_id = u64::from_le_bytes(fixed[17..25].try_into().ok()?);
        let mut texts = [""; TEXTS];
        let mut at = FIXED;
        for t in &mut texts {
            let len = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
            at += 4;
            *t = std::str::from_utf8(b.get(at..at.checked_add(len)?)?).ok()?;
            at += len;
        }
        let [
            locator,
            timestamp_desc,
            message,
            source,
            channel,
            provider,
            computer,
            tag,
        ] = texts;
        Some(Row {
            datetime: chrono::DateTime::from_timestamp(seconds, nanos)?,
            local: flags & 1 != 0,
            timestamp_desc,
            message,
            source,
            locator,
            event_id: (flags & 2 != 0).then_some(event_id),
            channel,
            provider,
            record_id: (flags & 4 != 0).then_some(record_id),
            computer,
            tag,
        })
    }

    /// The time, read without the rest: most comparisons end there.
    fn time(&self) -> (i64, u32) {
        match (self.0.get(0..8), self.0.get(8..12)) {
            (Some(s), Some(n)) => (
                i64::from_le_bytes(s.try_into().unwrap_or_default()),
                u32::from_le_bytes(n.try_into().unwrap_or_default()),
            ),
            _ => (i64::MAX, u32::MAX),
        }
    }
}

/// Timeline order of packed rows ([`crate::timeline::order_rows`]), on their bytes: text columns compare as
/// bytes as `str` does, so nothing is decoded. A damaged row (only from a damaged run file,
/// which the merge reports) still sorts somewhere.
fn order(a: &Packed, b: &Packed) -> std::cmp::Ordering {
    use std::cmp::Ordering::Equal;
    let o = a.time().cmp(&b.time());
    if o != Equal {
        return o;
    }
    let (mut ta, mut tb) = (a.texts(), b.texts());
    for i in 0..TEXTS {
        let o = ta.next().cmp(&tb.next());
        if o != Equal {
            return o;
        }
        // `event_id` comes after `source`, `record_id` after `provider`.
        let o = match i {
            3 => a.event_id().cmp(&b.event_id()),
            5 => a.record_id().cmp(&b.record_id()),
            _ => Equal,
        };
        if o != Equal {
            return o;
        }
    }
    a.flags().map(|f| f & 1).cmp(&b.flags().map(|f| f & 1))
}

impl Packed {
    fn flags(&self) -> Option<u8> {
        self.0.get(12).copied()
    }

    fn event_id(&self) -> Option<u32> {
        let v = u32::from_le_bytes(self.0.get(13..17)?.try_into().ok()?);
        (self.flags()? & 2 != 0).then_some(v)
    }

    fn record_id(&self) -> Option<u64> {
        let v = u64::from_le_bytes(self.0.get(17..25)?.try_into().ok()?);
        (self.flags()? & 4 != 0).then_some(v)
    }

    /// The text columns' bytes, in order; ends early on damage.
    fn texts(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = FIXED;
        std::iter::from_fn(move || {
            let len = u32::from_le_bytes(self.0.get(at..at + 4)?.try_into().ok()?) as usize;
            let text = self.0.get(at + 4..(at + 4).checked_add(len)?)?;
            at += 4 + len;
            Some(text)
        })
    }
}

/// The run being filled, and those written out.
#[derive(Default)]
pub struct Runs {
    filling: Mutex<Filling>,
    written: Mutex<Written>,
    /// The last run, sorted, once the runs are merged: shared by each pass, not copied.
    last: Option<Arc<Vec<Packed>>>,
}

#[derive(Default)]
struct Filling {
    rows: Vec<Packed>,
    /// Roughly what `rows` holds, in bytes.
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
    /// Adds rows in any order; a run that fills up is sorted and written out.
    pub fn push(&self, rows: Vec<Packed>) {
        let mut full = Vec::new();
        {
            let mut f = lock(&self.filling);
            for p in rows {
                f.bytes += p.0.len() + std::mem::size_of::<Packed>();
                f.rows.push(p);
                if f.rows.len() >= RUN || f.bytes >= RUN_BYTES {
                    full.push(std::mem::take(&mut f.rows));
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

    /// Sorts a full run and writes it to the temp folder: each row as its length and bytes.
    fn write(&self, mut run: Vec<Packed>) -> std::io::Result<()> {
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
        for p in &run {
            out.write_all(&(p.0.len() as u64).to_le_bytes())?;
            out.write_all(&p.0)?;
        }
        out.flush()
    }

    /// Every row in timeline order; may be called again for a second pass.
    pub fn merged(&mut self) -> std::io::Result<Merge> {
        let written = self.written.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = written.failed.take() {
            return Err(e);
        }
        let filling = self.filling.get_mut().unwrap_or_else(|p| p.into_inner());
        if self.last.is_none() || !filling.rows.is_empty() {
            let mut run = std::mem::take(&mut filling.rows);
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

/// The next row of a run file, `None` at its end.
fn read_packed(r: &mut impl BufRead) -> std::io::Result<Option<Packed>> {
    let damaged =
        || std::io::Error::new(std::io::ErrorKind::InvalidData, "a sorted run is damaged");
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    // A run holds at most RUN_BYTES plus one row: a longer length is damage.
    if len > (RUN_BYTES as u64) << 4 {
        return Err(damaged());
    }
    let mut bytes = Vec::new();
    r.take(len).read_to_end(&mut bytes)?;
    let p = Packed(bytes.into_boxed_slice());
    if p.0.len() as u64 != len || p.row().is_none() {
        return Err(damaged());
    }
    Ok(Some(p))
}

enum Source {
    /// The last run, and the next row's index in it.
    Memory(Arc<Vec<Packed>>, usize),
    File(BufReader<std::fs::File>),
}

impl Source {
    fn next(&mut self) -> Option<std::io::Result<Packed>> {
        match self {
            Source::Memory(run, at) => {
                let p = run.get(*at).cloned();
                *at += 1;
                p.map(Ok)
            }
            Source::File(r) => read_packed(r).transpose(),
        }
    }
}

/// The smallest row at the head of each run, smallest first.
struct Head {
    row: Packed,
    source: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: `BinaryHeap` pops its largest.
        order(&other.row, &self.row).then(other.source.cmp(&self.source))
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

/// The runs' rows in timeline order.
pub struct Merge {
    sources: Vec<Source>,
    heads: BinaryHeap<Head>,
    error: Option<std::io::Error>,
}

impl Merge {
    fn refill(&mut self, source: usize) {
        match self.sources[source].next() {
            Some(Ok(row)) => self.heads.push(Head { row, source }),
            Some(Err(e)) => self.error = Some(e),
            None => {}
        }
    }
}

impl Iterator for Merge {
    type Item = std::io::Result<Packed>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        let head = self.heads.pop()?;
        self.refill(head.source);
        Some(Ok(head.row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{TimelineEntry, order};
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

    fn entries(runs: &mut Runs) -> Vec<TimelineEntry> {
        runs.merged()
            .unwrap()
            .map(|p| p.unwrap().row().unwrap().to_entry())
            .collect()
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
            runs.push(vec![Packed::new(&e.row())]);
        }
        assert_eq!(
            runs.files().len(),
            2,
            "two runs written, the third in memory"
        );
        expected.sort_by(order);
        for pass in 0..2 {
            let merged = entries(&mut runs);
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
                        runs.push(
                            chunk
                                .iter()
                                .map(|&i| Packed::new(&entry(i as u32, "x").row()))
                                .collect(),
                        );
                    }
                });
            }
        });
        assert!(runs.files().len() >= 2);
        let merged = entries(&mut runs);
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
            runs.push(vec![Packed::new(&e.row())]);
        }
        assert_eq!(runs.files().len(), 1, "32 MiB of entries went to disk");
        let merged = entries(&mut runs);
        assert_eq!(merged.len(), 40);
        assert!(merged.windows(2).all(|w| order(&w[0], &w[1]).is_le()));
    }

    #[test]
    fn a_run_that_cannot_be_read_back_is_an_error() {
        for damage in [&b"damaged"[..], &[0xff; 64][..]] {
            let mut runs = Runs::default();
            runs.push(
                (0..RUN + 1)
                    .map(|i| Packed::new(&entry(i as u32, "x").row()))
                    .collect(),
            );
            std::fs::write(&runs.files()[0], damage).unwrap();
            let errors = runs.merged().unwrap().filter(Result::is_err).count();
            assert!(errors >= 1);
        }
    }
}
