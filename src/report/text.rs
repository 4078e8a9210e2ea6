//! `--format text`: the terminal summary. Verdict first, then the root cause and its chain, the
//! evidence to check, and the plan.

use super::Style;
use crate::diagnosis::{Diagnosis, Status};
use crate::facts::Finding;
use std::fmt::Write;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn red(&self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}

pub fn render(d: &Diagnosis, style: Style) -> String {
    let p = Paint(style.color);
    let mut o = String::new();
    let status = match d.status {
        Status::Failed => p.red("FAILED"),
        Status::Issues => p.yellow("ISSUES"),
        Status::Healthy => p.green("HEALTHY"),
        Status::Inconclusive => p.yellow("INCONCLUSIVE"),
    };
    let _ = writeln!(o, "{status}  {}", p.bold(&d.verdict));
    let _ = writeln!(
        o,
        "{}",
        p.dim(&format!(
            "bundle {} ({}, host {}, {} files{}) · {}",
            d.bundle.path,
            match d.bundle.form {
                crate::bundle::Form::Zip => "zip",
                crate::bundle::Form::Folder => "folder",
            },
            d.bundle.host.as_deref().unwrap_or("unknown"),
            d.bundle.files,
            if d.bundle.has_manifest {
                ", manifest"
            } else {
                ", no manifest"
            },
            d.clock.description
        ))
    );

    for (i, rc) in d.root_causes.iter().enumerate() {
        let _ = writeln!(o);
        let head = if i == 0 {
            "Root cause"
        } else {
            "Also a root cause"
        };
        let _ = writeln!(
            o,
            "{}: {}  [{:?}, confidence {:?}]",
            p.bold(head),
            rc.title,
            rc.severity,
            rc.confidence
        );
        for e in rc.evidence.iter().take(6) {
            let _ = writeln!(o, "    {}  {}", p.dim(&e.locator.to_string()), e.excerpt);
        }
        if !rc.chain.is_empty() {
            let _ = writeln!(o, "  which explains:");
            for link in &rc.chain {
                let _ = writeln!(o, "  {}└ {}", "  ".repeat(link.depth), link.title);
                if let Some(f) = d.finding(&link.key) {
                    for e in f.evidence.iter().take(2) {
                        let _ = writeln!(
                            o,
                            "  {}    {}  {}",
                            "  ".repeat(link.depth),
                            p.dim(&e.locator.to_string()),
                            e.excerpt
                        );
                    }
                }
            }
        }
    }
    let listed = |o: &mut String, head: &str, keys: &[String]| {
        if keys.is_empty() {
            return;
        }
        let _ = writeln!(o, "\n{}", p.bold(head));
        for k in keys {
            if let Some(f) = d.finding(k) {
                finding_line(o, &p, f);
            }
        }
    };
    listed(&mut o, "Contributing", &d.contributing);
    listed(&mut o, "Unexplained symptoms", &d.unexplained);
    let others: Vec<String> = d
        .findings
        .iter()
        .map(Finding::key)
        .filter(|k| {
            !d.root_causes
                .iter()
                .any(|r| &r.key == k || r.explains.contains(k))
                && !d.contributing.contains(k)
                && !d.unexplained.contains(k)
        })
        .collect();
    listed(&mut o, "Other findings", &others);

    if !d.plan.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Next steps"));
        for s in &d.plan {
            let _ = writeln!(o, "  {:>2}. {}", s.step, super::view::step_head(s));
            for i in &s.items {
                let _ = writeln!(o, "        - {i}");
            }
        }
    }
    if !d.missing_evidence.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Missing evidence"));
        for m in &d.missing_evidence {
            let _ = writeln!(o, "  - {m}");
        }
    }
    if !d.problems.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Problems reading the bundle"));
        for pr in &d.problems {
            let _ = writeln!(o, "  - {}: {}", pr.path, pr.message);
        }
    }
    if !d.skipped.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Skipped files"));
        for s in &d.skipped {
            let _ = writeln!(o, "  - {}: {}", s.path, s.reason);
        }
    }
    o
}

fn finding_line(o: &mut String, p: &Paint, f: &Finding) {
    let _ = writeln!(o, "  - {}  [{:?} {:?}]", f.title, f.kind, f.severity);
    for e in f.evidence.iter().take(2) {
        let _ = writeln!(o, "      {}  {}", p.dim(&e.locator.to_string()), e.excerpt);
    }
}
