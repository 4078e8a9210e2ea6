//! `exhume timeline`: every dated fact and every event of a bundle, sorted by time, in bounded
//! memory whatever the size of the logs.
//!
//! The analysis gives the clock and the facts of every other artefact (setup runs, errors,
//! lines). The event logs are then read again with every event wanted, and each block of events
//! becomes timeline entries as soon as it is parsed; nothing is kept for the analysis. Entries
//! are sorted in runs of at most [`RUN`] entries and [`RUN_BYTES`] (messages are whole, so a
//! row may be long); when there are more, each run is written to a private temp
//! folder (removed afterwards) and the runs are merged as the output is written. With
//! `--redact`, the sorted entries are read twice: once to learn the names to hide, in the same
//! order every time (so tokens are numbered the same), once to write them.

use crate::analysis::{Analysis, Options};
use crate::bundle::Bundle;
use crate::bundle::layout::ArtefactKind;
use crate::facts::{FactKind, Problem};
use crate::report::redact::Redactor;
use crate::report::timeline::{Format, header, row};
use crate::timeline::{Clock, TimelineEntry, entries_of, order};
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Entries sorted in memory at a time.
const RUN: usize = 100_000;
/// Bytes of entries (roughly) sorted in memory at a time.
const RUN_BYTES: usize = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bundle(#[from] crate::bundle::Error),
    /// Writing the output, or a sorted run in the temp folder, or reading one back.
    #[error("cannot write the timeline: {0}")]
    Io(#[from] std::io::Error),
}

/// What writing the timeline met on the way: the logs' problem lines, and how many rows are
/// local times whose UTC offset is unknown.
#[derive(Debug, Default)]
pub struct Export {
    pub problems: Vec<Problem>,
    pub local_rows: u64,
}

/// Writes the timeline of the bundle at `path`, already analysed as `analysis`, to `out`.
pub fn timeline(
    path: &Path,
    analysis: &Analysis,
    opts: &Options,
    format: Format,
    redact: bool,
    out: &mut dyn Write,
) -> Result<Export, Error> {
    use rayon::prelude::*;
    let bundle = Bundle::open(path, &opts.limits)?;
    // A log the analysis could not read is said once, as skipped, not read again.
    let unread = unread(analysis);
    let logs: Vec<_> = bundle
        .entries
        .iter()
        .filter(|e| e.kind == Some(ArtefactKind::Evtx) && !unread.contains(e.path.as_str()))
        .collect();
    let streamed: BTreeSet<&str> = logs.iter().map(|e| e.path.as_str()).collect();
    let runs = Mutex::new(Runs::default());
    let push = |entries: Vec<TimelineEntry>| {
        let mut r = runs.lock().unwrap_or_else(|p| p.into_inner());
        for e in entries {
            r.push(e);
        }
    };

    // Facts of the other artefacts, and events the event logs will not give again.
    let mut own = Vec::new();
    for f in analysis.facts.iter() {
        let again = match &f.kind {
            // A fact standing for many events (`parse::digest`) names their logs, not one.
            FactKind::Event(e) => match &e.repeats {
                Some(r) => r.paths.iter().all(|p| streamed.contains(p.as_str())),
                None => streamed.contains(f.evidence.locator.path.as_str()),
            },
            _ => false,
        };
        if !again {
            entries_of(f, &analysis.clock, &mut own);
        }
    }
    push(own);
    let mut problems = skipped(analysis);
    problems.extend(setup_lines(&bundle, analysis, opts, &push));

    let clock: &Clock = &analysis.clock;
    let emit = |facts: Vec<crate::facts::Fact>| {
        let mut entries = Vec::with_capacity(facts.len());
        for f in &facts {
            entries_of(f, clock, &mut entries);
        }
        push(entries);
    };
    let evtx_problems: Vec<Problem> = logs
        .par_iter()
        .with_max_len(1)
        .flat_map_iter(
            |entry| match crate::parse::evtx::stream(&bundle, entry, &emit) {
                Ok((_, problems)) => problems,
                Err(e) => vec![Problem {
                    path: entry.path.clone(),
                    message: format!("read only in part: {e}"),
                }],
            },
        )
        .collect();
    problems.extend(evtx_problems);

    let tags = tags(analysis);
    // Setup logs and the other artefacts were written on the collected server.
    let host = analysis.diagnosis.bundle.host.clone().unwrap_or_default();
    let mut local_rows = 0;
    let mut runs = runs.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut redactor = None;
    if redact {
        let mut r = Redactor::for_analysis(analysis);
        for e in runs.merged()? {
            r.learn_entry(&e?);
        }
        redactor = Some(r);
    }
    let mut out = BufWriter::with_capacity(1 << 16, out);
    out.write_all(header(format).as_bytes())?;
    for e in runs.merged()? {
        let mut e = e?;
        if let Some(ids) = tags.get(&e.locator) {
            e.tag = ids.iter().cloned().collect::<Vec<_>>().join(";");
        }
        if e.computer.is_empty() {
            e.computer.clone_from(&host);
        }
        local_rows += u64::from(e.local);
        if let Some(r) = redactor.as_mut() {
            r.apply_entry(&mut e);
        }
        out.write_all(row(format, &e).as_bytes())?;
    }
    out.flush()?;
    Ok(Export {
        problems,
        local_rows,
    })
}

/// Members the analysis did not read: none of their rows is in the timeline, and the analyst
/// is told why (the first [`SKIPPED_SAID`], then how many more).
fn skipped(analysis: &Analysis) -> Vec<Problem> {
    let all = &analysis.diagnosis.skipped;
    let mut out: Vec<Problem> = all
        .iter()
        .take(SKIPPED_SAID)
        .map(|s| Problem {
            path: s.path.clone(),
            message: format!("not in the timeline: {}", s.reason),
        })
        .collect();
    if all.len() > SKIPPED_SAID {
        out.push(Problem {
            path: format!("{} more member(s)", all.len() - SKIPPED_SAID),
            message: "not in the timeline either (`exhume analyze` lists them)".into(),
        });
    }
    out
}

/// The members the analysis could not read.
fn unread(analysis: &Analysis) -> HashSet<&str> {
    analysis
        .diagnosis
        .skipped
        .iter()
        .map(|s| s.path.as_str())
        .collect()
}

/// Skipped members named one by one on stderr.
const SKIPPED_SAID: usize = 20;

/// The finding ids that cite each locator.
fn tags(analysis: &Analysis) -> HashMap<String, BTreeSet<String>> {
    let mut tags: HashMap<String, BTreeSet<String>> = HashMap::new();
    for f in &analysis.diagnosis.findings {
        for e in &f.evidence {
            tags.entry(e.locator.to_string())
                .or_default()
                .insert(f.id.clone());
        }
    }
    tags
}

/// The setup-log lines a timeline shows besides those the analysis kept (tasks begun and
/// ended, warnings, prerequisite checks): each setup log is read again for them, within the
/// per-file fact limits, and the lines the analysis already has are not repeated.
fn setup_lines(
    bundle: &Bundle,
    analysis: &Analysis,
    opts: &Options,
    push: &dyn Fn(Vec<TimelineEntry>),
) -> Vec<Problem> {
    let Ok(wanted) = regex::RegexSet::new(crate::timeline::TIMELINE_SETUP_LINES) else {
        return Vec::new();
    };
    let known: HashSet<String> = analysis
        .facts
        .setup_lines()
        .map(|(f, _)| f.evidence.locator.to_string())
        .collect();
    let unread = unread(analysis);
    let mut problems = Vec::new();
    for entry in bundle
        .entries
        .iter()
        .filter(|e| e.kind == Some(ArtefactKind::SetupLog) && !unread.contains(e.path.as_str()))
    {
        let mut sink = crate::parse::Sink::with_limits(&opts.limits, Default::default());
        let read = bundle.with_reader(entry, |r| {
            crate::parse::setup_log::parse_reader(
                r,
                &entry.path,
                opts.limits.max_line_bytes,
                Some(&wanted),
                &mut sink,
            )
        });
        sink.close(&entry.path);
        let lost = match read
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            Err(e) => Some(e),
            Ok(()) => sink.incomplete.take(),
        };
        if let Some(e) = lost {
            problems.push(Problem {
                path: entry.path.clone(),
                message: format!("setup lines not all in the timeline: {e}"),
            });
        }
        let mut entries = Vec::new();
        for f in sink.facts.iter().filter(|f| {
            matches!(f.kind, FactKind::SetupLine(_))
                && !known.contains(&f.evidence.locator.to_string())
        }) {
            entries_of(f, &analysis.clock, &mut entries);
        }
        push(entries);
        // Excerpts pasted without their time stamps: what they say has no place in time.
        let undated = sink
            .facts
            .iter()
            .filter(|f| {
                f.time.is_none()
                    && match f.kind {
                        FactKind::SetupLine(_) => !known.contains(&f.evidence.locator.to_string()),
                        FactKind::SetupRun(_) | FactKind::SetupError(_) => true,
                        _ => false,
                    }
            })
            .count()
            + analysis
                .facts
                .setup_lines()
                .filter(|(f, _)| f.time.is_none() && f.evidence.locator.path == entry.path)
                .count();
        if undated > 0 {
            problems.push(Problem {
                path: entry.path.clone(),
                message: format!(
                    "{undated} setup-log fact(s) carry no time stamp and are not in the timeline (`exhume analyze` reports them)"
                ),
            });
        }
    }
    problems
}

/// Sorted runs of entries: the one being filled, and those written out.
#[derive(Default)]
struct Runs {
    filling: Vec<TimelineEntry>,
    /// Roughly what `filling` holds, in bytes.
    filling_bytes: usize,
    /// The last run, sorted, once the runs are merged: shared by each pass, not copied.
    last: Option<std::sync::Arc<Vec<TimelineEntry>>>,
    dir: Option<tempfile::TempDir>,
    files: Vec<PathBuf>,
    /// Why a run could not be written, reported when the runs are merged.
    failed: Option<std::io::Error>,
}

impl Runs {
    fn push(&mut self, e: TimelineEntry) {
        self.filling_bytes += size_of(&e);
        self.filling.push(e);
        if (self.filling.len() >= RUN || self.filling_bytes >= RUN_BYTES)
            && self.failed.is_none()
            && let Err(e) = self.spill()
        {
            self.failed = Some(e);
        }
    }

    /// Sorts the run being filled and writes it to the temp folder, one JSON entry a line.
    fn spill(&mut self) -> std::io::Result<()> {
        self.filling.sort_by(order);
        self.filling_bytes = 0;
        let dir = match &self.dir {
            Some(d) => d,
            None => self.dir.insert(tempfile::tempdir()?),
        };
        let path = dir.path().join(format!("run-{}.jsonl", self.files.len()));
        let mut w = BufWriter::new(std::fs::File::create(&path)?);
        for e in self.filling.drain(..) {
            serde_json::to_writer(&mut w, &e)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
        self.files.push(path);
        Ok(())
    }

    /// Every entry in timeline order; may be called again for a second pass.
    fn merged(&mut self) -> std::io::Result<Merge> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.last.is_none() || !self.filling.is_empty() {
            let mut run = std::mem::take(&mut self.filling);
            if let Some(last) = self.last.take() {
                run.extend(std::sync::Arc::unwrap_or_clone(last));
            }
            run.sort_by(order);
            self.filling_bytes = 0;
            self.last = Some(std::sync::Arc::new(run));
        }
        let last = self.last.clone().unwrap_or_default();
        let mut sources: Vec<Source> = vec![Source::Memory(last, 0)];
        for f in &self.files {
            let lines = std::io::BufReader::new(std::fs::File::open(f)?).lines();
            sources.push(Source::File(lines));
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
}

/// Roughly the bytes an entry holds.
fn size_of(e: &TimelineEntry) -> usize {
    std::mem::size_of::<TimelineEntry>()
        + [
            &e.timestamp_desc,
            &e.message,
            &e.source,
            &e.locator,
            &e.channel,
            &e.provider,
            &e.computer,
            &e.tag,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
}

enum Source {
    /// The last run, and the next entry's index in it.
    Memory(std::sync::Arc<Vec<TimelineEntry>>, usize),
    File(std::io::Lines<std::io::BufReader<std::fs::File>>),
}

impl Source {
    fn next(&mut self) -> Option<std::io::Result<TimelineEntry>> {
        match self {
            Source::Memory(run, at) => {
                let e = run.get(*at).cloned();
                *at += 1;
                e.map(Ok)
            }
            Source::File(lines) => lines.next().map(|l| {
                let l = l?;
                serde_json::from_str(&l).map_err(std::io::Error::other)
            }),
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

struct Merge {
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
        // 2.5 runs' worth, in a scrambled order.
        let n = RUN * 5 / 2;
        let mut expected = Vec::with_capacity(n);
        for i in 0..n {
            let k = (i * 7919) % n;
            let e = entry(k as u32, &format!("evtx/System.evtx record {}", k % 13));
            expected.push(e.clone());
            runs.push(e);
        }
        assert_eq!(runs.files.len(), 2, "two runs written, the third in memory");
        expected.sort_by(order);
        for pass in 0..2 {
            let merged: Vec<TimelineEntry> = runs.merged().unwrap().map(Result::unwrap).collect();
            assert_eq!(merged.len(), n, "pass {pass}");
            assert!(merged == expected, "pass {pass}: not in timeline order");
        }
        let dir = runs.dir.as_ref().unwrap().path().to_path_buf();
        drop(runs);
        assert!(!dir.exists(), "the temp folder is removed");
    }

    #[test]
    fn long_messages_spill_before_the_run_is_full() {
        let mut runs = Runs::default();
        let long = "x".repeat(1 << 20);
        for i in 0..40u32 {
            let mut e = entry(i, "evtx/System.evtx record 1");
            e.message = format!("{i} {long}");
            runs.push(e);
        }
        assert_eq!(runs.files.len(), 1, "32 MiB of entries went to disk");
        let merged: Vec<TimelineEntry> = runs.merged().unwrap().map(Result::unwrap).collect();
        assert_eq!(merged.len(), 40);
        assert!(merged.windows(2).all(|w| order(&w[0], &w[1]).is_le()));
    }

    #[test]
    fn a_run_that_cannot_be_read_back_is_an_error() {
        let mut runs = Runs::default();
        for i in 0..RUN + 1 {
            runs.push(entry(i as u32, "x"));
        }
        std::fs::write(&runs.files[0], "not json\n").unwrap();
        let errors = runs.merged().unwrap().filter(Result::is_err).count();
        assert!(errors >= 1);
    }
}
