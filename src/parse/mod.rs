//! Parsing: one module per artefact kind, all run in parallel, each turning bytes into facts.
//!
//! Every parser has the same shape, [`ParseFn`]: it reads one bundle member through
//! [`Input`] and pushes [`Fact`]s and [`Problem`]s into a [`Sink`]. Returning `Err` means the
//! member could not be used at all; it is then listed as skipped with the error as the reason.
//! Parsers know nothing of rules: what to keep beyond their structural facts is said by an
//! [`Interest`], which the rules build.

pub mod acl;
pub mod apphost;
pub mod builds;
pub mod csv;
pub mod digest;
pub mod evtx;
pub mod host;
pub mod line_set;
pub mod reg;
pub mod setup_log;
pub mod setup_stamp;
pub mod setup_text;
pub mod text;
pub mod webconfig;
pub mod xml;

use crate::bundle::{ArtefactKind, Bundle, Entry, LimitHit, Limits};
use crate::facts::{Fact, Problem, Skipped};
pub use line_set::LineSet;
use std::collections::{BTreeMap, HashSet};

/// Why a member could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("not {expected}: {reason}")]
    Format {
        expected: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Limit(LimitHit),
}

impl Error {
    pub fn format(expected: &'static str, reason: impl Into<String>) -> Self {
        Error::Format {
            expected,
            reason: reason.into(),
        }
    }

    /// Lifts a limit hit out of an `io::Error`, so the report names the flag.
    pub fn from_io(e: std::io::Error) -> Self {
        match e.get_ref().and_then(|i| i.downcast_ref::<LimitHit>()) {
            Some(hit) => Error::Limit(hit.clone()),
            None => Error::Io(e),
        }
    }
}

/// What the rules want kept beyond the structural facts every parser yields.
#[derive(Debug, Clone, Default)]
pub struct Interest {
    /// Setup-log and other setup-text lines matching any of these are kept as `SetupLine` facts.
    pub setup_lines: Option<LineSet>,
    /// Events to keep; the rest are only counted.
    pub events: EventFilter,
}

/// Which events are retained as facts.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Keep every event (for `exhume timeline`).
    pub all: bool,
    /// (lower-case provider, event id) pairs.
    pub ids: HashSet<(String, u32)>,
    /// Lower-case providers kept whatever the id (e.g. antivirus products).
    pub providers: HashSet<String>,
    /// Events kept so far by every EVTX parser of this analysis, so that
    /// [`Limits::max_events_kept`] holds for the bundle, not per file.
    pub kept: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// How far from a setup error an event is linked to it (`--link-window`); events within
    /// reach of setup are kept one by one ([`digest::spans_near`]).
    pub link_window: Option<chrono::Duration>,
    /// Where the EVTX parsers put the events they keep, grouped ([`digest`]); set by
    /// [`parse_bundle`] unless every event is kept one by one ([`EventFilter::all`]).
    pub digest: Option<std::sync::Arc<std::sync::Mutex<digest::Digest>>>,
}

impl EventFilter {
    pub fn wants(&self, provider: &str, id: u32) -> bool {
        if self.all {
            return true;
        }
        let p = provider.to_ascii_lowercase();
        self.providers.contains(&p) || self.ids.contains(&(p, id))
    }

    /// Takes one place in the bundle's budget of kept events; false once `limit` is reached.
    pub fn reserve(&self, limit: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.kept
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back `n` places of the budget (events folded into a count by the digest).
    pub fn release(&self, n: usize) {
        if n > 0 {
            self.kept.fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// What one member is read with.
pub struct Input<'a> {
    pub bundle: &'a Bundle,
    pub entry: &'a Entry,
    pub interest: &'a Interest,
    pub limits: &'a Limits,
}

impl Input<'_> {
    pub fn path(&self) -> &str {
        &self.entry.path
    }
}

/// Where a parser puts what it found.
///
/// What a parser keeps is capped here, for every parser at once: facts per artefact
/// ([`Limits::max_facts_per_file`]), the estimated bytes of facts kept by the whole bundle
/// ([`Limits::max_fact_bytes`], shared by every sink of one analysis) and problems per artefact
/// ([`MAX_PROBLEMS`]). What does not fit is counted, and the member is read in part.
#[derive(Debug)]
pub struct Sink {
    pub facts: Vec<Fact>,
    pub problems: Vec<Problem>,
    /// Event counts per (channel, provider, id), kept or not.
    pub event_counts: BTreeMap<(String, String, u32), u64>,
    /// Set by a parser that read its member only in part without failing (a truncated file,
    /// unreadable chunks, XML that stops early, damage or a limit it absorbed): the facts
    /// stand, but what was lost may have shown a failure, so the verdict cannot call the
    /// server healthy. Says what was lost; [`Sink::absorbed`] adds to it.
    pub incomplete: Option<String>,
    /// Events handed to the bundle's [`digest`] instead of kept in `facts`.
    pub digested: u64,
    caps: Caps,
}

/// Problems kept per artefact: past this they are counted in one closing problem.
pub const MAX_PROBLEMS: usize = 1_000;

#[derive(Debug)]
struct Caps {
    max_facts: usize,
    /// Facts kept, events aside.
    kept: usize,
    max_fact_bytes: u64,
    /// Estimated bytes of facts kept, shared by the sinks of one bundle.
    fact_bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Facts not kept for lack of room: (by the count cap, by the byte cap).
    dropped: (u64, u64),
    dropped_problems: u64,
}

impl Default for Sink {
    fn default() -> Self {
        Sink::with_limits(&Limits::default(), Default::default())
    }
}

impl Sink {
    /// A sink capped by `limits`, sharing `fact_bytes` with the other sinks of its bundle.
    pub fn with_limits(
        limits: &Limits,
        fact_bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        Sink {
            facts: Vec::new(),
            problems: Vec::new(),
            event_counts: BTreeMap::new(),
            incomplete: None,
            digested: 0,
            caps: Caps {
                max_facts: limits.max_facts_per_file,
                kept: 0,
                max_fact_bytes: limits.max_fact_bytes,
                fact_bytes,
                dropped: (0, 0),
                dropped_problems: 0,
            },
        }
    }

    /// Keeps `fact` if the caps allow. Events have their own bundle-wide budget
    /// ([`Limits::max_events_kept`]) and are not counted here.
    pub fn push(&mut self, fact: Fact) {
        use std::sync::atomic::Ordering;
        if !matches!(fact.kind, crate::facts::FactKind::Event(_)) {
            if self.caps.kept >= self.caps.max_facts {
                self.caps.dropped.0 += 1;
                return;
            }
            let size = approx_size(&fact);
            let limit = self.caps.max_fact_bytes;
            let room =
                self.caps
                    .fact_bytes
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n + size <= limit).then_some(n + size)
                    });
            if room.is_err() {
                self.caps.dropped.1 += 1;
                return;
            }
            self.caps.kept += 1;
        }
        self.facts.push(fact);
    }

    /// Keeps each of `facts` as [`Sink::push`] does.
    pub fn extend(&mut self, facts: impl IntoIterator<Item = Fact>) {
        for f in facts {
            self.push(f);
        }
    }

    pub fn problem(&mut self, path: &str, message: impl Into<String>) {
        if self.problems.len() >= MAX_PROBLEMS {
            self.caps.dropped_problems += 1;
            return;
        }
        self.problems.push(Problem {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Records damage or a limit the parser absorbed and read past: the member is read in
    /// part for that `reason` (said once, however often it is reported).
    pub fn absorbed(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        match &mut self.incomplete {
            Some(r) if r.contains(&reason) => {}
            Some(r) => {
                r.push_str("; ");
                r.push_str(&reason);
            }
            None => self.incomplete = Some(reason),
        }
    }

    /// Files what the caps left out, once the parser is done with `path`.
    pub fn close(&mut self, path: &str) {
        let (by_count, by_bytes) = self.caps.dropped;
        if by_count > 0 {
            let why = format!(
                "{by_count} fact(s) not kept: more than {} per artefact (raise with --max-facts)",
                self.caps.max_facts
            );
            self.problem(path, why.clone());
            self.absorbed(why);
        }
        if by_bytes > 0 {
            let why = format!(
                "{by_bytes} fact(s) not kept: the bundle's facts reached {} MiB (raise with --max-fact-memory)",
                self.caps.max_fact_bytes >> 20
            );
            self.problem(path, why.clone());
            self.absorbed(why);
        }
        if self.caps.dropped_problems > 0 {
            let n = std::mem::take(&mut self.caps.dropped_problems);
            self.problems.push(Problem {
                path: path.to_string(),
                message: format!("{n} more problem(s) not listed"),
            });
        }
    }
}

/// Roughly what a fact holds in memory: its own size plus its main strings.
fn approx_size(f: &Fact) -> u64 {
    use crate::facts::FactKind;
    let text = match &f.kind {
        FactKind::SetupLine(l) => l.text.len(),
        FactKind::SetupError(e) => e.messages.iter().map(|m| m.len() + 24).sum(),
        _ => 128,
    };
    (std::mem::size_of::<Fact>() + f.evidence.excerpt.len() + f.evidence.locator.path.len() + text)
        as u64
}

/// The one parser signature.
pub type ParseFn = fn(&Input<'_>, &mut Sink) -> Result<(), Error>;

/// The parser for each artefact kind, or the reason the kind is not parsed.
pub fn parser_for(kind: ArtefactKind) -> Result<ParseFn, &'static str> {
    use ArtefactKind::*;
    Ok(match kind {
        Manifest => return Err("read when the bundle was opened"),
        CollectorLog => setup_text::parse_collector_log,
        SetupLog => setup_log::parse,
        SetupText => setup_text::parse,
        Registry => reg::parse,
        AppHostConfig => apphost::parse,
        WebConfig => webconfig::parse,
        Evtx => evtx::parse,
        EvtxLocale => {
            return Err("message metadata: rules match event data, not rendered messages");
        }
        Services => csv::parse_services,
        Software => csv::parse_software,
        FileVersions => csv::parse_file_versions,
        Inventory => csv::parse_inventory,
        Acl => acl::parse,
        HostJson => host::parse,
    })
}

/// Everything the parse stage produced.
#[derive(Debug, Default)]
pub struct Parsed {
    pub facts: Vec<Fact>,
    pub problems: Vec<Problem>,
    pub skipped: Vec<Skipped>,
    /// Members a parser used.
    pub used: Vec<String>,
    /// Used members whose parser stopped before their end (a limit, damage): what came before
    /// is kept, what came after is unknown, so a verdict cannot call the server healthy.
    pub partial: Vec<Skipped>,
    pub event_counts: BTreeMap<(String, String, u32), u64>,
}

/// Parses every member in parallel. Each member is used or listed as skipped, never dropped.
pub fn parse_bundle(bundle: &Bundle, interest: &Interest) -> Parsed {
    enum Outcome {
        Used(Sink),
        Partial(Sink, String),
        Skipped(String),
        Ignored,
    }
    let fact_bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let parse_member = |entry: &Entry, interest: &Interest| {
        let Some(kind) = entry.kind else {
            return Outcome::Skipped("unknown file: not part of the bundle layout".into());
        };
        let parse = match parser_for(kind) {
            Ok(f) => f,
            Err(_) if kind == ArtefactKind::Manifest => return Outcome::Ignored,
            Err(why) => return Outcome::Skipped(why.into()),
        };
        let input = Input {
            bundle,
            entry,
            interest,
            limits: &bundle.limits,
        };
        let mut sink = Sink::with_limits(&bundle.limits, fact_bytes.clone());
        let outcome = parse(&input, &mut sink);
        sink.close(&entry.path);
        match outcome {
            Ok(()) => match sink.incomplete.take() {
                Some(lost) => Outcome::Partial(sink, lost),
                None => Outcome::Used(sink),
            },
            Err(e) => {
                // Facts read before the failure are kept; the member is still reported.
                if sink.facts.is_empty() && sink.digested == 0 {
                    Outcome::Skipped(e.to_string())
                } else {
                    sink.problem(&entry.path, format!("read only in part: {e}"));
                    Outcome::Partial(sink, e.to_string())
                }
            }
        }
    };
    // One job per member, taken in this order by whichever thread is free: members read from
    // start to end on one thread, largest first, then event logs (whose chunks any thread can
    // help with). A 200 MB setup log started last would finish alone on one core; and rayon's
    // default splitting left neighbouring members (two large logs side by side in `evtx/`) to
    // one thread, one after the other.
    let mut order: Vec<usize> = (0..bundle.entries.len()).collect();
    order.sort_by_key(|i| {
        let e = &bundle.entries[*i];
        (
            e.kind == Some(ArtefactKind::Evtx),
            std::cmp::Reverse(e.size),
        )
    });
    let done: Vec<std::sync::Mutex<Option<Outcome>>> =
        bundle.entries.iter().map(|_| Default::default()).collect();
    let run = |members: &[usize], interest: &Interest| {
        rayon::scope_fifo(|scope| {
            for &i in members {
                let (parse_member, slot) = (&parse_member, &done[i]);
                let entry = &bundle.entries[i];
                scope.spawn_fifo(move |_| {
                    let outcome = parse_member(entry, interest);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
                });
            }
        })
    };
    // Unless every event is wanted one by one, event logs are read after the rest, once the
    // setup runs and errors say which events must be kept one by one ([`digest`]); the others
    // are grouped as they are read, so memory does not grow with the logs.
    let digest = if interest.events.all {
        run(&order, interest);
        None
    } else {
        let evtx_from =
            order.partition_point(|i| bundle.entries[*i].kind != Some(ArtefactKind::Evtx));
        run(&order[..evtx_from], interest);
        let window = interest
            .events
            .link_window
            .unwrap_or_else(|| chrono::Duration::minutes(crate::analysis::LINK_WINDOW_MINUTES));
        let mut spans = Vec::new();
        for slot in &done {
            let slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(Outcome::Used(sink) | Outcome::Partial(sink, _)) = slot.as_ref() {
                spans.extend(digest::spans_near(&sink.facts, window));
            }
        }
        let d = std::sync::Arc::new(std::sync::Mutex::new(digest::Digest::new(spans)));
        let mut with_digest = interest.clone();
        with_digest.events.digest = Some(d.clone());
        run(&order[evtx_from..], &with_digest);
        drop(with_digest);
        let d = std::sync::Arc::try_unwrap(d)
            .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
            .unwrap_or_else(|d| std::mem::take(&mut *d.lock().unwrap_or_else(|p| p.into_inner())));
        Some(d.into_facts())
    };
    let mut digested = digest.unwrap_or_default().into_iter().peekable();
    let outcomes = bundle
        .entries
        .iter()
        .zip(done)
        .enumerate()
        .filter_map(|(i, (entry, m))| {
            let outcome = m.into_inner().unwrap_or_else(|p| p.into_inner())?;
            Some((i, entry, outcome))
        });

    let mut parsed = Parsed::default();
    for (member, entry, outcome) in outcomes {
        let sink = match outcome {
            Outcome::Used(sink) => Some(sink),
            Outcome::Partial(sink, reason) => {
                parsed.partial.push(Skipped {
                    path: entry.path.clone(),
                    reason,
                });
                Some(sink)
            }
            Outcome::Skipped(reason) => {
                parsed.skipped.push(Skipped {
                    path: entry.path.clone(),
                    reason,
                });
                None
            }
            Outcome::Ignored => {
                parsed.used.push(entry.path.clone());
                None
            }
        };
        if let Some(sink) = sink {
            parsed.used.push(entry.path.clone());
            parsed.facts.extend(sink.facts);
            while let Some((_, f)) = digested.next_if(|(m, _)| *m <= member) {
                parsed.facts.push(f);
            }
            parsed.problems.extend(sink.problems);
            for (k, v) in sink.event_counts {
                *parsed.event_counts.entry(k).or_default() += v;
            }
        }
    }
    // Events of a member whose outcome was lost (none expected): kept all the same.
    parsed.facts.extend(digested.map(|(_, f)| f));
    parsed
}
