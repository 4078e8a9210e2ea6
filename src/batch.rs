//! Batch analysis: many bundles, a bounded number in flight, one report each, and summaries
//! that are byte-identical whatever the order of completion or the number of jobs.
//!
//! Per-bundle reports are written as soon as a bundle is done, and summary rows are rebuilt from
//! those reports, so a rerun that skips finished bundles (same SHA-256 and exhume version) gives
//! the same summaries as a full run. Timings vary between runs, so they live in `timings.csv`,
//! not in the summaries.

use crate::analysis::{self, Options};
use crate::bundle::Bundle;
use crate::report::{self, Format, Style};
use crate::rules::Rule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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

/// One line of `summary.csv` / `summary.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SummaryRow {
    pub bundle: String,
    pub sha256: String,
    pub host: String,
    pub version_before: String,
    pub version_after: String,
    pub status: String,
    pub verdict: String,
    pub root_causes: Vec<String>,
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub problems: usize,
    pub skipped: usize,
    /// Why the bundle could not be analysed, if it could not.
    pub error: String,
}

/// What happened to one bundle.
#[derive(Debug, Clone)]
pub enum Outcome {
    Analysed { row: SummaryRow, millis: u128 },
    Resumed { row: SummaryRow },
    Failed { row: SummaryRow, millis: u128 },
}

impl Outcome {
    pub fn row(&self) -> &SummaryRow {
        match self {
            Outcome::Analysed { row, .. }
            | Outcome::Resumed { row }
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

/// The report file name of a bundle: its path made flat, so two `bundle.zip` in different
/// folders do not collide.
pub fn report_stem(bundle: &Path, root: &[PathBuf]) -> String {
    let rel = root
        .iter()
        .find_map(|r| {
            bundle
                .strip_prefix(r)
                .ok()
                .filter(|p| !p.as_os_str().is_empty())
        })
        .unwrap_or(bundle);
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

/// A bundle's path below the input it was found in (its file name when it is an input itself):
/// what the reports may show without the analyst's own folders above it.
pub fn relative_name(bundle: &Path, inputs: &[PathBuf]) -> String {
    inputs
        .iter()
        .find_map(|r| {
            bundle
                .strip_prefix(r)
                .ok()
                .filter(|p| !p.as_os_str().is_empty())
        })
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
/// `stop` ends the batch cleanly before the next bundle starts.
pub fn run(
    opts: &BatchOptions,
    stop: &AtomicBool,
    progress: &(dyn Fn(&Outcome) + Sync),
) -> Result<(Vec<PathBuf>, BatchResult), Error> {
    let bundles = discover(&opts.inputs)?;
    let reports = opts.out.join("reports");
    std::fs::create_dir_all(&reports).map_err(|source| Error::Output {
        path: reports.clone(),
        source,
    })?;
    let rules = analysis::load_rules(&opts.analysis)?;
    // Compiled once for the whole batch: the catalogue's patterns are the same for every bundle.
    let interest = analysis::interest_of(&rules, &opts.analysis)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| Error::Output {
            path: opts.out.clone(),
            source: std::io::Error::other(e),
        })?;
    let outcomes: Vec<Option<Outcome>> = pool.install(|| {
        use rayon::prelude::*;
        bundles
            .par_iter()
            .with_max_len(1)
            .map(|b| {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                let o = one(b, opts, &rules, &interest, &reports);
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
    write_summaries(&opts.out, &result).map_err(|source| Error::Output {
        path: opts.out.clone(),
        source,
    })?;
    Ok((bundles, result))
}

fn one(
    bundle: &Path,
    opts: &BatchOptions,
    rules: &[Box<dyn Rule>],
    interest: &crate::parse::Interest,
    reports: &Path,
) -> Outcome {
    let stem = report_stem(bundle, &opts.inputs);
    let json_path = reports.join(format!("{stem}.json"));
    let display = if opts.redact {
        relative_name(bundle, &opts.inputs)
    } else {
        bundle.display().to_string()
    };
    if !opts.force
        && !opts.redact
        && let Ok(text) = std::fs::read_to_string(&json_path)
        && let Ok(stored) = serde_json::from_str::<StoredReport>(&text)
        && stored.exhume_version == env!("CARGO_PKG_VERSION")
        && stored.bundle.sha256.is_some()
        && stored.bundle.sha256 == digest_of(bundle, &opts.analysis)
        && let Ok(d) = serde_json::from_str::<serde_json::Value>(&text)
    {
        return Outcome::Resumed {
            row: row_from_json(&display, &d),
        };
    }
    let started = Instant::now();
    match analysis::analyze_prepared(bundle, &opts.analysis, rules, interest) {
        Ok(mut a) => {
            if opts.redact {
                report::redact::analysis(&mut a);
                a.diagnosis.bundle.path = display.clone();
            }
            let d = &a.diagnosis;
            let json = report::json::render(d);
            let mut write_err = None;
            if let Err(e) = std::fs::write(&json_path, &json) {
                write_err = Some(format!("cannot write {}: {e}", json_path.display()));
            }
            for f in &opts.formats {
                let ext = match f {
                    Format::Json => continue,
                    Format::Text => "txt".to_string(),
                    #[allow(unreachable_patterns)]
                    other => format!("{other:?}").to_lowercase(),
                };
                let p = reports.join(format!("{stem}.{ext}"));
                if let Err(e) = std::fs::write(&p, report::render(d, *f, Style::default())) {
                    write_err = Some(format!("cannot write {}: {e}", p.display()));
                }
            }
            // Rows come from the JSON just written, exactly as a resumed run will read them.
            let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
            let mut row = row_from_json(&display, &value);
            let millis = started.elapsed().as_millis();
            match write_err {
                None => Outcome::Analysed { row, millis },
                Some(e) => {
                    row.error = e;
                    Outcome::Failed { row, millis }
                }
            }
        }
        Err(e) => Outcome::Failed {
            row: SummaryRow {
                bundle: display,
                sha256: sha256_file(bundle).unwrap_or_default(),
                status: "error".into(),
                error: e.to_string(),
                ..SummaryRow::empty()
            },
            millis: started.elapsed().as_millis(),
        },
    }
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

impl SummaryRow {
    fn empty() -> Self {
        SummaryRow {
            bundle: String::new(),
            sha256: String::new(),
            host: String::new(),
            version_before: String::new(),
            version_after: String::new(),
            status: String::new(),
            verdict: String::new(),
            root_causes: Vec::new(),
            critical: 0,
            high: 0,
            medium: 0,
            low: 0,
            problems: 0,
            skipped: 0,
            error: String::new(),
        }
    }
}

/// A summary row from a JSON report (the diagnosis as written).
fn row_from_json(bundle: &str, d: &serde_json::Value) -> SummaryRow {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let count = |sev: &str| {
        d["findings"]
            .as_array()
            .map(|a| a.iter().filter(|f| f["severity"] == sev).count())
            .unwrap_or(0)
    };
    let runs = d["runs"].as_array().cloned().unwrap_or_default();
    let last = runs.last();
    // Before: the version the last run upgraded from, else the last completed run before it.
    let before = runs
        .iter()
        .rev()
        .skip(1)
        .find(|r| r["outcome"] == "completed")
        .map(|r| s(&r["version"]))
        .unwrap_or_default();
    SummaryRow {
        bundle: bundle.to_string(),
        sha256: s(&d["bundle"]["sha256"]),
        host: s(&d["bundle"]["host"]),
        version_before: before,
        version_after: last.map(|r| s(&r["version"])).unwrap_or_default(),
        status: s(&d["status"]),
        verdict: s(&d["verdict"]),
        root_causes: d["root_causes"]
            .as_array()
            .map(|a| a.iter().map(|r| s(&r["id"])).collect())
            .unwrap_or_default(),
        critical: count("critical"),
        high: count("high"),
        medium: count("medium"),
        low: count("low"),
        problems: d["problems"].as_array().map(Vec::len).unwrap_or(0),
        skipped: d["skipped"].as_array().map(Vec::len).unwrap_or(0),
        error: String::new(),
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_summaries(out: &Path, result: &BatchResult) -> std::io::Result<()> {
    let mut rows: Vec<&SummaryRow> = result.outcomes.iter().map(Outcome::row).collect();
    rows.sort_by(|a, b| a.bundle.cmp(&b.bundle));

    let mut csv = String::from(
        "bundle,sha256,host,version_before,version_after,status,verdict,root_causes,critical,high,medium,low,problems,skipped,error\n",
    );
    let mut jsonl = String::new();
    for r in &rows {
        let cells = [
            r.bundle.clone(),
            r.sha256.clone(),
            r.host.clone(),
            r.version_before.clone(),
            r.version_after.clone(),
            r.status.clone(),
            r.verdict.clone(),
            r.root_causes.join(";"),
            r.critical.to_string(),
            r.high.to_string(),
            r.medium.to_string(),
            r.low.to_string(),
            r.problems.to_string(),
            r.skipped.to_string(),
            r.error.clone(),
        ];
        csv.push_str(
            &cells
                .iter()
                .map(|c| csv_cell(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        csv.push('\n');
        jsonl.push_str(&serde_json::to_string(r).unwrap_or_default());
        jsonl.push('\n');
    }
    std::fs::write(out.join("summary.csv"), csv)?;
    std::fs::write(out.join("summary.jsonl"), jsonl)?;
    std::fs::write(
        out.join("summary.md"),
        summary_md(&rows, result.not_started),
    )?;

    let mut timings = String::from("bundle,outcome,millis\n");
    let mut t: Vec<(String, &str, u128)> = result
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Analysed { row, millis } => (row.bundle.clone(), "analysed", *millis),
            Outcome::Failed { row, millis } => (row.bundle.clone(), "failed", *millis),
            Outcome::Resumed { row } => (row.bundle.clone(), "resumed", 0),
        })
        .collect();
    t.sort();
    for (b, o, m) in t {
        timings.push_str(&format!("{},{o},{m}\n", csv_cell(&b)));
    }
    std::fs::write(out.join("timings.csv"), timings)
}

fn summary_md(rows: &[&SummaryRow], not_started: usize) -> String {
    use std::fmt::Write;
    let mut o = String::from("# exhume batch summary\n\n");
    let mut status: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        *status.entry(r.status.as_str()).or_default() += 1;
    }
    let _ = writeln!(o, "{} bundle(s).", rows.len());
    if not_started > 0 {
        let _ = writeln!(
            o,
            "\n**Interrupted:** {not_started} bundle(s) not analysed."
        );
    }
    let _ = writeln!(o, "\n| status | bundles |\n|---|---|");
    for (s, n) in &status {
        let _ = writeln!(o, "| {s} | {n} |");
    }
    let mut causes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_build: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in rows {
        for c in &r.root_causes {
            *causes.entry(c.as_str()).or_default() += 1;
            let build = if r.version_after.is_empty() {
                "unknown"
            } else {
                r.version_after.as_str()
            };
            *by_build.entry((build, c.as_str())).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&&str, &usize)> = causes.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let _ = writeln!(
        o,
        "\n## Root causes, overall\n\n| root cause | bundles |\n|---|---|"
    );
    for (c, n) in ranked {
        let _ = writeln!(o, "| {c} | {n} |");
    }
    let _ = writeln!(
        o,
        "\n## Root causes by Exchange build (setup version of the last run)\n\n| build | root cause | bundles |\n|---|---|---|"
    );
    for ((b, c), n) in &by_build {
        let _ = writeln!(o, "| {b} | {c} | {n} |");
    }
    let errors: Vec<&&SummaryRow> = rows.iter().filter(|r| !r.error.is_empty()).collect();
    if !errors.is_empty() {
        let _ = writeln!(o, "\n## Bundles that could not be analysed\n");
        for r in errors {
            let _ = writeln!(o, "- `{}`: {}", r.bundle, r.error);
        }
    }
    o
}
