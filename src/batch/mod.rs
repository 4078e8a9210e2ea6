//! Batch analysis: many bundles, a bounded number in flight, one report each, and summaries
//! that are byte-identical whatever the order of completion or the number of jobs.
//!
//! Per-bundle reports are written as soon as a bundle is done, and summary rows are rebuilt from
//! those reports, so a rerun that skips finished bundles (same SHA-256 and exhume version) gives
//! the same summaries as a full run. Timings vary between runs, so they live in `timings.csv`,
//! not in the summaries.

pub mod summary;

use crate::analysis::{self, Options};
use crate::bundle::Bundle;
use crate::diagnosis::Diagnosis;
use crate::report::{self, Format, Style};
use crate::rules::Rule;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
pub use summary::{Causes, SummaryRow};

/// What the caller asks of a batch.
pub struct BatchOptions {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub jobs: usize,
    /// Extra report formats written beside the JSON one.
    pub formats: Vec<Format>,
    /// Redo bundles whose report already exists.
    pub force: bool,
    /// Redact names and addresses in reports and summaries, and name each bundle by its path
    /// below the input folder only. A stored report does not say whether it was redacted, so
    /// every bundle is analysed again.
    pub redact: bool,
    pub analysis: Options,
}

/// What happened to one bundle.
#[derive(Debug, Clone)]
pub enum Outcome {
    Analysed {
        row: SummaryRow,
        millis: u128,
    },
    /// Analysed by an earlier run; `rendered` report formats it lacked were written from its
    /// stored JSON report.
    Resumed {
        row: SummaryRow,
        rendered: usize,
    },
    Failed {
        row: SummaryRow,
        millis: u128,
    },
}

impl Outcome {
    pub fn row(&self) -> &SummaryRow {
        match self {
            Outcome::Analysed { row, .. }
            | Outcome::Resumed { row, .. }
            | Outcome::Failed { row, .. } => row,
        }
    }
}

/// The result of a batch.
pub struct BatchResult {
    pub outcomes: Vec<Outcome>,
    /// Bundles found but not started because the batch was interrupted.
    pub not_started: usize,
}

impl BatchResult {
    pub fn failed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed { .. }))
            .count()
    }
}

/// Why a batch could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: no such file or folder")]
    NotFound(PathBuf),
    #[error("cannot write to {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Rules(#[from] analysis::Error),
}

/// Finds bundles: zips anywhere below the inputs, and folders that hold a path of the bundle
/// layout (see [`crate::bundle::shape::folder_is_bundle`]). Sorted, without duplicates.
pub fn discover(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut found = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|_| Error::NotFound(input.clone()))?;
        if meta.is_file() {
            found.push(input.clone());
        } else {
            walk(input, &mut found, 0);
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) {
    // Bundle trees are shallow; a deep tree is a loop or not ours.
    if depth > 16 {
        return;
    }
    if crate::bundle::shape::folder_is_bundle(dir) {
        found.push(dir.to_path_buf());
        return;
    }
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for e in read.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&p, found, depth + 1);
        } else if ft.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("zip")) {
            found.push(p);
        }
    }
}

/// The part of a bundle's path below the input it was found in (none when it is an input).
fn below_input<'a>(bundle: &'a Path, inputs: &[PathBuf]) -> Option<&'a Path> {
    inputs.iter().find_map(|r| {
        bundle
            .strip_prefix(r)
            .ok()
            .filter(|p| !p.as_os_str().is_empty())
    })
}

/// The report file name of a bundle: its path made flat, so two `bundle.zip` in different
/// folders do not collide.
pub fn report_stem(bundle: &Path, root: &[PathBuf]) -> String {
    let rel = below_input(bundle, root).unwrap_or(bundle);
    let s: String = rel
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_matches('_').to_string()
}

/// The report file name of a bundle under `--redact`: the collector names its zip after the
/// server, so the name is replaced by a digest of it (the same on every run, so a run resumes).
pub fn redacted_stem(stem: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(stem.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("bundle-{hex}")
}

/// A bundle's path below the input it was found in (its file name when it is an input itself):
/// what the reports may show without the analyst's own folders above it.
pub fn relative_name(bundle: &Path, inputs: &[PathBuf]) -> String {
    below_input(bundle, inputs)
        .or_else(|| bundle.file_name().map(Path::new))
        .unwrap_or(bundle)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The digest a report records for a bundle (see [`Bundle::digest`]).
fn digest_of(path: &Path, opts: &Options) -> Option<String> {
    let b = Bundle::open(path, &opts.limits).ok()?;
    if b.form == crate::bundle::Form::Folder {
        b.hash_remaining();
    }
    b.digest().ok()
}

#[derive(Deserialize)]
struct StoredReport {
    exhume_version: String,
    bundle: StoredBundle,
}

#[derive(Deserialize)]
struct StoredBundle {
    sha256: Option<String>,
}

/// Analyses every bundle with at most `jobs` in flight. `progress` is called after each one;
/// `stop` ends the batch cleanly before the next bundle starts. The summaries are then rebuilt
/// from everything in the output folder, earlier runs included.
pub fn run(
    opts: &BatchOptions,
    stop: &AtomicBool,
    progress: &(dyn Fn(&Outcome) + Sync),
) -> Result<(Vec<PathBuf>, BatchResult), Error> {
    let bundles = discover(&opts.inputs)?;
    let output_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Output { path, source }
    };
    let reports = opts.out.join(summary::REPORTS);
    let failed = opts.out.join(summary::FAILED);
    std::fs::create_dir_all(&reports).map_err(output_error(&reports))?;
    let rules = analysis::load_rules(&opts.analysis)?;
    let causes = Causes::of(&rules);
    // Compiled once for the whole batch: the catalogue's patterns are the same for every bundle.
    let interest = analysis::interest_of(&rules, &opts.analysis)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| Error::Output {
            path: opts.out.clone(),
            source: std::io::Error::other(e),
        })?;
    let places = Places {
        reports: &reports,
        failed: &failed,
        causes: &causes,
    };
    let outcomes: Vec<Option<Outcome>> = pool.install(|| {
        use rayon::prelude::*;
        bundles
            .par_iter()
            .with_max_len(1)
            .map(|b| {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                let o = one(b, opts, &rules, &interest, &places);
                progress(&o);
                Some(o)
            })
            .collect()
    });
    let not_started = outcomes.iter().filter(|o| o.is_none()).count();
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    let result = BatchResult {
        outcomes,
        not_started,
    };
    let rows = summary::collect(&opts.out, &causes);
    summary::write(&opts.out, &rows, not_started, &causes)
        .and_then(|()| write_timings(&opts.out, &result))
        .map_err(output_error(&opts.out))?;
    Ok((bundles, result))
}

/// Where one bundle's results go, and what its summary row needs.
struct Places<'a> {
    reports: &'a Path,
    failed: &'a Path,
    causes: &'a Causes,
}

/// The file extension of a report format.
pub fn extension(f: Format) -> &'static str {
    match f {
        Format::Text => "txt",
        Format::Json => "json",
        Format::Md => "md",
        Format::Html => "html",
    }
}

fn one(
    bundle: &Path,
    opts: &BatchOptions,
    rules: &[Box<dyn Rule>],
    interest: &crate::parse::Interest,
    places: &Places<'_>,
) -> Outcome {
    let stem = if opts.redact {
        redacted_stem(&report_stem(bundle, &opts.inputs))
    } else {
        report_stem(bundle, &opts.inputs)
    };
    let json_path = places.reports.join(format!("{stem}.json"));
    let failed_path = places.failed.join(format!("{stem}.json"));
    // Reports name the bundle by its path below the input, never the analyst's folders above.
    let display = relative_name(bundle, &opts.inputs);
    if !opts.force
        && !opts.redact
        && let Ok(text) = std::fs::read_to_string(&json_path)
        && let Ok(stored) = serde_json::from_str::<StoredReport>(&text)
        && stored.exhume_version == env!("CARGO_PKG_VERSION")
        && stored.bundle.sha256.is_some()
        && stored.bundle.sha256 == digest_of(bundle, &opts.analysis)
        && let Ok(d) = serde_json::from_str::<serde_json::Value>(&text)
    {
        let mut row = summary::row_from_json(&stem, &d, places.causes);
        return match render_missing(&text, &stem, places.reports, &opts.formats) {
            Ok(rendered) => Outcome::Resumed { row, rendered },
            Err(e) => {
                row.error = e;
                Outcome::Failed { row, millis: 0 }
            }
        };
    }
    let started = Instant::now();
    match analysis::analyze_prepared(bundle, &opts.analysis, rules, interest) {
        Ok(mut a) => {
            // Named before redaction: the collector names its zip after the server.
            a.diagnosis.bundle.path = display.clone();
            if opts.redact {
                report::redact::analysis(&mut a);
            }
            let d = &a.diagnosis;
            let json = report::json::render(d);
            let mut write_err = None;
            let mut formats = vec![Format::Json];
            for f in &opts.formats {
                if !formats.contains(f) {
                    formats.push(*f);
                }
            }
            for f in &formats {
                let p = places.reports.join(format!("{stem}.{}", extension(*f)));
                let text = match f {
                    Format::Json => json.clone(),
                    _ => report::render(d, *f, Style::default()),
                };
                if let Err(e) = std::fs::write(&p, text) {
                    write_err = Some(format!("cannot write {}: {e}", p.display()));
                }
            }
            // An earlier failure of this bundle is no longer true.
            let _ = std::fs::remove_file(&failed_path);
            // Rows come from the JSON just written, exactly as a resumed run will read them.
            let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
            let mut row = summary::row_from_json(&stem, &value, places.causes);
            let millis = started.elapsed().as_millis();
            match write_err {
                None => Outcome::Analysed { row, millis },
                Some(e) => {
                    row.error = e;
                    Outcome::Failed { row, millis }
                }
            }
        }
        Err(e) => {
            // The row names the bundle already; the analyst's folders stay out of the summaries.
            let error = e.to_string().replace(&*bundle.to_string_lossy(), &display);
            let error = error
                .strip_prefix(&format!("{display}: "))
                .unwrap_or(&error)
                .to_string();
            let row = SummaryRow {
                bundle: display,
                sha256: sha256_file(bundle).unwrap_or_default(),
                status: "error".into(),
                error,
                ..SummaryRow::default()
            };
            // The summaries list it until it is analysed; reports of an earlier version of the
            // bundle no longer describe it.
            for ext in summary::REPORT_EXTENSIONS {
                let _ = std::fs::remove_file(places.reports.join(format!("{stem}.{ext}")));
            }
            let _ = std::fs::create_dir_all(places.failed);
            let _ = std::fs::write(
                &failed_path,
                serde_json::to_string_pretty(&row).unwrap_or_default(),
            );
            Outcome::Failed {
                row,
                millis: started.elapsed().as_millis(),
            }
        }
    }
}

/// Writes the requested formats a finished bundle does not have yet, rendered from its stored
/// JSON report (the diagnosis as written), without analysing the bundle again. Returns how many
/// were written.
fn render_missing(
    json: &str,
    stem: &str,
    reports: &Path,
    formats: &[Format],
) -> Result<usize, String> {
    let missing: Vec<(Format, PathBuf)> = formats
        .iter()
        .filter(|f| **f != Format::Json)
        .map(|f| (*f, reports.join(format!("{stem}.{}", extension(*f)))))
        .filter(|(_, p)| !p.exists())
        .collect();
    if missing.is_empty() {
        return Ok(0);
    }
    let d: Diagnosis = serde_json::from_str(json)
        .map_err(|e| format!("cannot read {stem}.json to render other formats: {e}"))?;
    for (f, p) in &missing {
        std::fs::write(p, report::render(&d, *f, Style::default()))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(missing.len())
}

fn write_timings(out: &Path, result: &BatchResult) -> std::io::Result<()> {
    let mut timings = String::from("bundle,outcome,millis\n");
    let mut t: Vec<(String, &str, u128)> = result
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Analysed { row, millis } => (row.bundle.clone(), "analysed", *millis),
            Outcome::Failed { row, millis } => (row.bundle.clone(), "failed", *millis),
            Outcome::Resumed { row, .. } => (row.bundle.clone(), "resumed", 0),
        })
        .collect();
    t.sort();
    for (b, o, m) in t {
        timings.push_str(&format!("{},{o},{m}\n", summary::csv_cell(&b)));
    }
    std::fs::write(out.join("timings.csv"), timings)
}

fn sha256_file(p: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(p).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(crate::bundle::hex(&h.finalize()))
}
