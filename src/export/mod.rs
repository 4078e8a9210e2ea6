//! `exhume timeline`: every dated fact and every event of a bundle, sorted by time, in bounded
//! memory whatever the size of the logs.
//!
//! The analysis gives the clock and the facts of every other artefact (setup runs, errors,
//! lines). The event logs are then read again with every event wanted, and each block of events
//! becomes timeline entries as soon as it is parsed; nothing is kept for the analysis. Entries
//! are sorted in bounded runs ([`runs`]; messages are whole, so a row may be long) and merged
//! as the output is written. With
//! `--redact`, the sorted entries are read twice: once to learn the names to hide, in the same
//! order every time (so tokens are numbered the same), once to write them.

use crate::analysis::{Analysis, Options};
use crate::bundle::Bundle;
use crate::bundle::layout::ArtefactKind;
use crate::facts::{FactKind, Problem};
use crate::report::redact::Redactor;
use crate::report::timeline::{Format, header, write_row};
use crate::timeline::{Clock, TimelineEntry, entries_of, event_row};
use runs::{Packed, Runs};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::Path;

mod runs;

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
    let mut runs = Runs::default();
    let push = |entries: Vec<TimelineEntry>| {
        runs.push(entries.iter().map(|e| Packed::new(&e.row())).collect());
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
    // Events become packed rows straight from their facts: millions of them on a large log.
    let emit = |facts: Vec<crate::facts::Fact>| {
        let mut rows = Vec::with_capacity(facts.len());
        let (mut locator, mut message) = (String::new(), String::new());
        for f in &facts {
            match event_row(f, clock, &mut locator, &mut message) {
                Some(row) => rows.push(Packed::new(&row)),
                None => {
                    let mut entries = Vec::new();
                    entries_of(f, clock, &mut entries);
                    rows.extend(entries.iter().map(|e| Packed::new(&e.row())));
                }
            }
        }
        runs.push(rows);
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
    let mut redactor = None;
    if redact {
        let mut r = Redactor::for_analysis(analysis);
        for p in runs.merged()? {
            r.learn_entry(&unpack(&p?)?.to_entry());
        }
        redactor = Some(r);
    }
    out.write_all(header(format).as_bytes())?;
    let mut buf = Vec::with_capacity(1 << 16);
    for p in runs.merged()? {
        let p = p?;
        let mut row = unpack(&p)?;
        if let Some(ids) = tags.get(row.locator) {
            row.tag = ids;
        }
        if row.computer.is_empty() {
            row.computer = &host;
        }
        local_rows += u64::from(row.local);
        match redactor.as_mut() {
            Some(r) => {
                let mut e = row.to_entry();
                r.apply_entry(&mut e);
                write_row(format, &e.row(), &mut buf);
            }
            None => write_row(format, &row, &mut buf),
        }
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(Export {
        problems,
        local_rows,
    })
}

/// The row of a packed run entry; the merge checked each when it read it back.
fn unpack(p: &Packed) -> std::io::Result<crate::timeline::Row<'_>> {
    p.row()
        .ok_or_else(|| std::io::Error::other("a sorted run is damaged"))
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

/// The finding ids that cite each locator, `;`-separated.
fn tags(analysis: &Analysis) -> HashMap<String, String> {
    let mut tags: HashMap<String, BTreeSet<&str>> = HashMap::new();
    for f in &analysis.diagnosis.findings {
        for e in &f.evidence {
            tags.entry(e.locator.to_string()).or_default().insert(&f.id);
        }
    }
    tags.into_iter()
        .map(|(locator, ids)| (locator, ids.into_iter().collect::<Vec<_>>().join(";")))
        .collect()
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
    let Ok(wanted) = crate::parse::LineSet::new(crate::timeline::TIMELINE_SETUP_LINES) else {
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
        let read = bundle.reread(entry, |r| {
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
