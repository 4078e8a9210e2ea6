//! Accuracy suite (issue 7): every bundle of the scenario library through the whole pipeline.
//!
//! For each `samples/scenarios/<name>.labels.json` (written by `make-samples` beside its bundle,
//! never inside it) the analysis must find every expected root cause, rank one of them first,
//! raise none of the forbidden findings, and on a healthy upgrade find no root cause and nothing
//! critical. Each bundle is also analysed again under a neutral name in a temporary folder, and
//! must give the same root causes: rules see evidence, never the scenario's name or path.
//!
//! The table of results is kept in `docs/accuracy.md`; run with `EXHUME_WRITE_ACCURACY=1` to
//! rewrite it, otherwise the test fails when the file is stale.

mod common;

use common::*;
use exhume::diagnosis::Status;
use exhume::facts::{FindingKind, Severity};
use std::path::{Path, PathBuf};

#[derive(serde::Deserialize)]
struct Labels {
    scenario: String,
    description: String,
    product: String,
    form: String,
    manifest: bool,
    healthy: bool,
    expected_root_causes: Vec<String>,
    forbidden: Vec<String>,
}

/// Where `tests/real_logs.rs`'s section of `docs/accuracy.md` starts.
const REAL_SECTION: &str = "\n## Real setup-log excerpts\n";

struct Outcome {
    labels: Labels,
    roots: Vec<String>,
    failures: Vec<String>,
}

fn scenarios_dir() -> PathBuf {
    samples().join("scenarios")
}

fn load_labels() -> Vec<(Labels, PathBuf)> {
    let dir = scenarios_dir();
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `cargo run -p samplegen --bin make-samples`)",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".labels.json"))
        .collect();
    entries.sort();
    for p in entries {
        let text = std::fs::read_to_string(&p).expect("labels readable");
        let labels: Labels =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let bundle = match labels.form.as_str() {
            "zip" => dir.join(format!("{}.zip", labels.scenario)),
            _ => dir.join(&labels.scenario),
        };
        assert!(
            bundle.exists(),
            "{} has no bundle at {}",
            p.display(),
            bundle.display()
        );
        out.push((labels, bundle));
    }
    out
}

/// Copies a bundle under a neutral name, so nothing of the scenario's name is visible.
fn neutral_copy(bundle: &Path, tmp: &Path) -> PathBuf {
    if bundle.is_dir() {
        let target = tmp.join("bundle");
        copy_dir(bundle, &target);
        target
    } else {
        let target = tmp.join("bundle.zip");
        std::fs::copy(bundle, &target).expect("copy zip");
        target
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).expect("copy file");
        }
    }
}

fn check(labels: Labels, bundle: &Path) -> Outcome {
    let a = analyze(bundle);
    let d = &a.diagnosis;
    let roots: Vec<String> = d.root_causes.iter().map(|r| r.id.clone()).collect();
    let ids: Vec<&str> = d.findings.iter().map(|f| f.id.as_str()).collect();
    let mut failures = Vec::new();
    for want in &labels.expected_root_causes {
        if !roots.contains(want) {
            failures.push(format!("missed root cause {want}"));
        }
    }
    if let Some(top) = roots.first() {
        if !labels.expected_root_causes.is_empty() && !labels.expected_root_causes.contains(top) {
            failures.push(format!("top root cause is {top}"));
        }
    } else if !labels.expected_root_causes.is_empty() {
        failures.push("no root cause".into());
    }
    for bad in &labels.forbidden {
        if ids.contains(&bad.as_str()) {
            failures.push(format!("forbidden finding {bad}"));
        }
    }
    if labels.healthy {
        for f in &d.findings {
            if f.severity == Severity::Critical && f.kind != FindingKind::Info {
                failures.push(format!("critical finding {} on a healthy bundle", f.key()));
            }
        }
        if !roots.is_empty() {
            failures.push(format!(
                "root causes on a healthy bundle: {}",
                roots.join(", ")
            ));
        }
        if d.status == Status::Failed {
            failures.push("status failed on a healthy bundle".into());
        }
    }
    // Same evidence under another name: same answer.
    let tmp = tempfile::tempdir().expect("temp dir");
    let copy = neutral_copy(bundle, tmp.path());
    let again: Vec<String> = analyze(&copy)
        .diagnosis
        .root_causes
        .iter()
        .map(|r| r.id.clone())
        .collect();
    if again != roots {
        failures.push(format!("renamed copy gives {}", again.join(", ")));
    }
    Outcome {
        labels,
        roots,
        failures,
    }
}

fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::from(
        "# Accuracy\n\n\
         The scenario library (`samples/scenarios/`, written by `make-samples` from\n\
         `crates/samplegen/src/catalog_scenarios.rs`) analysed by `tests/accuracy.rs`. *Expected* are\n\
         the root causes each scenario's `labels.json` requires (a healthy upgrade expects none);\n\
         *got* are the root causes exhume ranked, first = top-1. A scenario passes when every\n\
         expected cause is found, the top-1 is one of them, no forbidden finding appears, and a\n\
         healthy bundle has no root cause and no critical finding.\n\n\
         Regenerate with `EXHUME_WRITE_ACCURACY=1 cargo test --test accuracy`.\n\n",
    );
    let passed = outcomes.iter().filter(|o| o.failures.is_empty()).count();
    let top1 = outcomes
        .iter()
        .filter(|o| {
            o.labels.expected_root_causes.is_empty()
                || o.roots
                    .first()
                    .is_some_and(|r| o.labels.expected_root_causes.contains(r))
        })
        .count();
    s.push_str(&format!(
        "**{passed} of {} scenarios pass; top-1 root cause correct on {top1} of {}.**\n\n",
        outcomes.len(),
        outcomes.len()
    ));
    s.push_str("| scenario | Exchange | form | manifest | expected | got | pass |\n");
    s.push_str("|---|---|---|---|---|---|---|\n");
    for o in outcomes {
        let l = &o.labels;
        let expected = if l.healthy {
            "(healthy)".to_string()
        } else {
            l.expected_root_causes.join(", ")
        };
        let got = if o.roots.is_empty() {
            "(none)".to_string()
        } else {
            o.roots.join(", ")
        };
        let pass = if o.failures.is_empty() {
            "yes".to_string()
        } else {
            format!("**no**: {}", o.failures.join("; "))
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            l.scenario,
            l.product,
            l.form,
            if l.manifest { "yes" } else { "no" },
            expected,
            got,
            pass
        ));
    }
    s.push_str("\n## Scenarios\n\n");
    for o in outcomes {
        s.push_str(&format!(
            "- `{}`: {}\n",
            o.labels.scenario, o.labels.description
        ));
    }
    s
}

#[test]
fn every_scenario_is_diagnosed_correctly() {
    let all = load_labels();
    assert!(all.len() >= 25, "only {} scenarios", all.len());
    let outcomes: Vec<Outcome> = all
        .into_iter()
        .map(|(labels, bundle)| check(labels, &bundle))
        .collect();
    let md = table(&outcomes);
    println!("{md}");
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/accuracy.md");
    // The real setup-log section after this table is `tests/real_logs.rs`'s.
    let whole = std::fs::read_to_string(&doc).unwrap_or_default();
    let real = whole
        .find(REAL_SECTION)
        .map_or("", |i| &whole[i..])
        .to_string();
    if std::env::var_os("EXHUME_WRITE_ACCURACY").is_some() {
        std::fs::write(&doc, format!("{md}{real}")).expect("write docs/accuracy.md");
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.failures.is_empty())
        .map(|o| format!("{}: {}", o.labels.scenario, o.failures.join("; ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} scenario(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let kept = std::fs::read_to_string(&doc).unwrap_or_default();
    let kept = kept
        .find(REAL_SECTION)
        .map_or(kept.as_str(), |i| &kept[..i]);
    assert!(
        kept == md,
        "docs/accuracy.md is stale: run `EXHUME_WRITE_ACCURACY=1 cargo test --test accuracy`"
    );
}

#[test]
fn the_library_covers_what_issue_7_asks() {
    let all = load_labels();
    let healthy = all.iter().filter(|(l, _)| l.healthy).count();
    let double = all
        .iter()
        .filter(|(l, _)| l.expected_root_causes.len() >= 2)
        .count();
    assert!(healthy >= 3, "{healthy} healthy scenarios");
    assert!(double >= 2, "{double} scenarios with two problems");
    for p in ["2010", "2013", "2016", "2019"] {
        assert!(
            all.iter().any(|(l, _)| l.product == p),
            "no Exchange {p} scenario"
        );
    }
    for form in ["zip", "folder"] {
        assert!(
            all.iter().any(|(l, _)| l.form == form),
            "no {form} scenario"
        );
    }
    assert!(all.iter().any(|(l, _)| l.manifest) && all.iter().any(|(l, _)| !l.manifest));
}
