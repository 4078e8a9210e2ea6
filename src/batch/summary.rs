//! The summaries of an output folder: one row per report in `reports/` and per bundle in
//! `failed/`, whichever run wrote it, so adding bundles to a folder never shrinks its summaries.
//! Rows come from the reports as written, so they are the same whatever the order of
//! completion, the number of jobs, or which run analysed a bundle.

use crate::parse::builds;
use crate::rules::Rule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Where reports and failure records live below `--out`.
pub const REPORTS: &str = "reports";
pub const FAILED: &str = "failed";

/// The extensions of the report formats, in the order a reader prefers to open them.
pub const REPORT_EXTENSIONS: [&str; 4] = ["html", "md", "txt", "json"];

/// One line of `summary.csv` / `summary.jsonl`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SummaryRow {
    pub bundle: String,
    pub sha256: String,
    pub host: String,
    pub version_before: String,
    pub version_after: String,
    /// `version_after` named: "Exchange 2019 CU12 (15.2.1118.7)".
    #[serde(default)]
    pub build: String,
    pub status: String,
    pub verdict: String,
    /// One id per cause: rules that report the same cause from other evidence are counted
    /// under the cause they name (`same_cause_as` in the rule catalogue).
    pub root_causes: Vec<String>,
    #[serde(default)]
    pub root_cause_titles: Vec<String>,
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub problems: usize,
    pub skipped: usize,
    /// Why the bundle could not be analysed, if it could not.
    pub error: String,
    /// The report's name in `reports/` without extension (empty when there is none).
    #[serde(default)]
    pub report: String,
}

/// What the summaries know of causes: their titles, and which rules report the same cause.
#[derive(Debug, Default)]
pub struct Causes {
    titles: BTreeMap<String, String>,
    same: BTreeMap<String, String>,
}

impl Causes {
    pub fn of(rules: &[Box<dyn Rule>]) -> Causes {
        let mut c = Causes::default();
        for r in rules {
            let m = r.meta();
            c.titles.insert(m.id.clone(), m.title.clone());
            if let Some(to) = r.same_cause_as() {
                c.same.insert(m.id.clone(), to.to_string());
            }
        }
        c
    }

    /// The id a cause is counted under.
    pub fn canonical<'a>(&'a self, id: &'a str) -> &'a str {
        self.same.get(id).map(String::as_str).unwrap_or(id)
    }

    fn title(&self, id: &str) -> Option<&str> {
        self.titles.get(id).map(String::as_str)
    }

    /// The other rule ids counted under `id`.
    fn aliases(&self, id: &str) -> Vec<&str> {
        self.same
            .iter()
            .filter(|(_, to)| *to == id)
            .map(|(from, _)| from.as_str())
            .collect()
    }
}

/// A summary row from a JSON report (the diagnosis as written).
pub fn row_from_json(report: &str, d: &serde_json::Value, causes: &Causes) -> SummaryRow {
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
    let after = last.map(|r| s(&r["version"])).unwrap_or_default();
    let mut ids: Vec<String> = Vec::new();
    let mut titles: Vec<String> = Vec::new();
    for rc in d["root_causes"].as_array().into_iter().flatten() {
        let id = causes
            .canonical(rc["id"].as_str().unwrap_or(""))
            .to_string();
        if id.is_empty() || ids.contains(&id) {
            continue;
        }
        titles.push(
            causes
                .title(&id)
                .map(str::to_string)
                .unwrap_or_else(|| s(&rc["title"])),
        );
        ids.push(id);
    }
    SummaryRow {
        bundle: s(&d["bundle"]["path"]),
        sha256: s(&d["bundle"]["sha256"]),
        host: s(&d["bundle"]["host"]),
        version_before: before,
        build: builds::describe(&after),
        version_after: after,
        status: s(&d["status"]),
        verdict: s(&d["verdict"]),
        root_causes: ids,
        root_cause_titles: titles,
        critical: count("critical"),
        high: count("high"),
        medium: count("medium"),
        low: count("low"),
        problems: d["problems"].as_array().map(Vec::len).unwrap_or(0),
        skipped: d["skipped"].as_array().map(Vec::len).unwrap_or(0),
        error: String::new(),
        report: report.to_string(),
    }
}

/// Every row of the output folder: each report in `reports/` (files that are not an exhume
/// report are left out) and each failure recorded in `failed/`, sorted by bundle.
pub fn collect(out: &Path, causes: &Causes) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for (stem, text) in files_with_extension(&out.join(REPORTS), "json") {
        let Ok(d) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if d["exhume_version"].is_string() && d["bundle"].is_object() {
            rows.push(row_from_json(&stem, &d, causes));
        }
    }
    for (_, text) in files_with_extension(&out.join(FAILED), "json") {
        if let Ok(row) = serde_json::from_str::<SummaryRow>(&text) {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| a.bundle.cmp(&b.bundle).then(a.report.cmp(&b.report)));
    rows
}

/// `(stem, text)` of each `*.EXT` file of `dir`, sorted by name.
fn files_with_extension(dir: &Path, ext: &str) -> Vec<(String, String)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = read
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            if p.extension()? != ext || !e.file_type().ok()?.is_file() {
                return None;
            }
            let stem = p.file_stem()?.to_str()?.to_string();
            Some((stem, std::fs::read_to_string(&p).ok()?))
        })
        .collect();
    found.sort();
    found
}

pub(super) fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes summary.csv, summary.jsonl and summary.md from `rows`.
pub fn write(
    out: &Path,
    rows: &[SummaryRow],
    not_started: usize,
    causes: &Causes,
) -> std::io::Result<()> {
    let mut csv = String::from(
        "bundle,sha256,host,version_before,version_after,build,status,verdict,root_causes,root_cause_titles,critical,high,medium,low,problems,skipped,error,report\n",
    );
    let mut jsonl = String::new();
    for r in rows {
        let cells = [
            r.bundle.clone(),
            r.sha256.clone(),
            r.host.clone(),
            r.version_before.clone(),
            r.version_after.clone(),
            r.build.clone(),
            r.status.clone(),
            r.verdict.clone(),
            r.root_causes.join(";"),
            r.root_cause_titles.join(";"),
            r.critical.to_string(),
            r.high.to_string(),
            r.medium.to_string(),
            r.low.to_string(),
            r.problems.to_string(),
            r.skipped.to_string(),
            r.error.clone(),
            report_path(out, &r.report, "json").unwrap_or_default(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
        jsonl.push_str(&serde_json::to_string(r).unwrap_or_default());
        jsonl.push('\n');
    }
    std::fs::write(out.join("summary.csv"), csv)?;
    std::fs::write(out.join("summary.jsonl"), jsonl)?;
    std::fs::write(
        out.join("summary.md"),
        markdown(out, rows, not_started, causes),
    )
}

/// `reports/STEM.EXT` (with `/`, as a link) if that file exists.
fn report_path(out: &Path, stem: &str, ext: &str) -> Option<String> {
    let name = format!("{stem}.{ext}");
    (!stem.is_empty() && out.join(REPORTS).join(&name).is_file())
        .then(|| format!("{REPORTS}/{name}"))
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A link's target with the characters Markdown would misread escaped.
fn link(path: &str) -> String {
    path.replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

fn cause_label(causes: &Causes, id: &str, fallback: Option<&str>) -> String {
    let title = causes.title(id).or(fallback).unwrap_or(id);
    let mut ids = vec![format!("`{id}`")];
    ids.extend(causes.aliases(id).into_iter().map(|a| format!("`{a}`")));
    format!("{} ({})", cell(title), ids.join(", "))
}

fn markdown(out: &Path, rows: &[SummaryRow], not_started: usize, causes: &Causes) -> String {
    let mut o = String::from("# exhume batch summary\n\n");
    let _ = writeln!(o, "{} bundle(s).", rows.len());
    if not_started > 0 {
        let _ = writeln!(
            o,
            "\n**Interrupted:** {not_started} bundle(s) not analysed."
        );
    }
    let mut status: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        *status.entry(r.status.as_str()).or_default() += 1;
    }
    let _ = writeln!(o, "\n| status | bundles |\n|---|---|");
    for (s, n) in &status {
        let _ = writeln!(o, "| {s} | {n} |");
    }

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut titles: BTreeMap<&str, &str> = BTreeMap::new();
    let mut by_build: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in rows {
        for (i, c) in r.root_causes.iter().enumerate() {
            *counts.entry(c.as_str()).or_default() += 1;
            if let Some(t) = r.root_cause_titles.get(i) {
                titles.entry(c.as_str()).or_insert(t.as_str());
            }
            *by_build.entry((r.build.as_str(), c.as_str())).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, usize)> = counts.iter().map(|(c, n)| (*c, *n)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let _ = writeln!(
        o,
        "\n## Root causes, overall\n\n| root cause | bundles |\n|---|---|"
    );
    for (c, n) in ranked {
        let label = cause_label(causes, c, titles.get(c).copied());
        let _ = writeln!(o, "| {label} | {n} |");
    }
    let _ = writeln!(
        o,
        "\n## Root causes by Exchange build (setup version of the last run)\n\n| build | root cause | bundles |\n|---|---|---|"
    );
    for ((b, c), n) in &by_build {
        let label = cause_label(causes, c, titles.get(c).copied());
        let _ = writeln!(o, "| {} | {label} | {n} |", cell(b));
    }

    let _ = writeln!(
        o,
        "\n## Bundles\n\n| bundle | status | build | root causes | report |\n|---|---|---|---|---|"
    );
    for r in rows {
        let reports: Vec<String> = REPORT_EXTENSIONS
            .iter()
            .filter_map(|ext| {
                report_path(out, &r.report, ext).map(|p| format!("[{ext}]({})", link(&p)))
            })
            .collect();
        let rc: Vec<String> = r
            .root_causes
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let title = r.root_cause_titles.get(i).map(String::as_str).unwrap_or(id);
                format!("{} (`{id}`)", cell(title))
            })
            .collect();
        let status = if r.error.is_empty() {
            r.status.clone()
        } else {
            format!("{}: {}", r.status, cell(&r.error))
        };
        let _ = writeln!(
            o,
            "| `{}` | {status} | {} | {} | {} |",
            r.bundle.replace('`', "'").replace('|', "\\|"),
            cell(if r.build.is_empty() { "" } else { &r.build }),
            if rc.is_empty() {
                "–".to_string()
            } else {
                rc.join("; ")
            },
            if reports.is_empty() {
                "–".to_string()
            } else {
                reports.join(" · ")
            },
        );
    }
    o
}
