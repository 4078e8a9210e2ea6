//! `--format text`: the terminal summary. Verdict first, then the root cause and its chain, the
//! evidence to check, and the plan.

use super::Style;
use super::view::{
    BEST_EVIDENCE, ChainNode, best_evidence, by_keys, chain_tree, label, others, step_head,
    unexpected_skips,
};
use crate::diagnosis::{Diagnosis, Status};
use crate::facts::{Finding, FindingKind};
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
    let shown = if style.verbose {
        usize::MAX
    } else {
        BEST_EVIDENCE
    };
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
            "bundle {}{} ({}, host {}, {} files{}) · {}",
            d.bundle.path,
            d.bundle
                .inside
                .as_deref()
                .map(|i| format!(", found inside it at {i}"))
                .unwrap_or_default(),
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
    let _ = writeln!(o, "{}", p.dim(&checked_line(d)));
    if !d.broke.is_empty() {
        let _ = writeln!(o, "{} {}.", p.bold("What it broke:"), d.broke.join("; "));
    }

    for (i, rc) in d.root_causes.iter().enumerate() {
        let _ = writeln!(o);
        let head = if i == 0 {
            "Root cause"
        } else {
            "Also a root cause"
        };
        let _ = writeln!(
            o,
            "{}: {}  [{}, {} confidence]",
            p.bold(head),
            rc.title,
            label(&rc.severity),
            label(&rc.confidence)
        );
        evidence(&mut o, &p, &rc.evidence, "    ", shown);
        if !rc.chain.is_empty() {
            let _ = writeln!(o, "  which explains:");
            tree(&mut o, &p, d, &chain_tree(rc), 2, shown, style.verbose);
        }
    }
    // Everything outside the chains, in one list: what made it worse, what nothing explains,
    // the rest (information only with --verbose).
    let mut also: Vec<(&str, &Finding)> = Vec::new();
    also.extend(
        by_keys(d, &d.contributing)
            .into_iter()
            .map(|f| ("contributing", f)),
    );
    also.extend(
        by_keys(d, &d.unexplained)
            .into_iter()
            .map(|f| ("unexplained", f)),
    );
    also.extend(
        others(d)
            .into_iter()
            .filter(|f| style.verbose || f.kind != FindingKind::Info)
            .map(|f| ("other", f)),
    );
    if !also.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Also found"));
        for (what, f) in also {
            let _ = writeln!(
                o,
                "  - {}  [{what}: {} {}]",
                f.title,
                label(&f.kind),
                label(&f.severity)
            );
            if style.verbose {
                evidence(&mut o, &p, &f.evidence, "      ", shown);
            }
        }
    }

    if !d.plan.is_empty() {
        let _ = writeln!(o, "\n{}", p.bold("Next steps"));
        for s in &d.plan {
            let _ = writeln!(o, "  {:>2}. {}", s.step, step_head(s));
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
        if style.verbose {
            let _ = writeln!(o, "\n{}", p.bold("Skipped files"));
            for s in &d.skipped {
                let _ = writeln!(o, "  - {}: {}", s.path, s.reason);
            }
        } else if unexpected_skips(d) > 0 {
            let _ = writeln!(
                o,
                "\n{}",
                p.dim(&format!(
                    "{} not used (--verbose lists them)",
                    crate::repair::words::count(unexpected_skips(d), "file", "files")
                ))
            );
        }
    }
    o
}

/// What was read and what the bundle lacks, in one line.
pub fn checked_line(d: &Diagnosis) -> String {
    let mut s = format!("Checked: {}", d.checked.join(", "));
    if !d.not_in_bundle.is_empty() {
        s.push_str(&format!(
            "; not in the bundle: {}",
            d.not_in_bundle.join(", ")
        ));
    }
    s
}

/// The chain as drawn: each finding under the one that explains it (JSON `via`). By default
/// siblings of the same rule share a line and only two levels are drawn, each line saying how
/// many findings it stands for; `--verbose` draws every finding with its evidence.
fn tree(
    o: &mut String,
    p: &Paint,
    d: &Diagnosis,
    nodes: &[ChainNode<'_>],
    indent: usize,
    shown: usize,
    verbose: bool,
) {
    fn count(n: &ChainNode<'_>) -> usize {
        n.children.iter().map(|c| 1 + count(c)).sum()
    }
    let rule = |n: &ChainNode<'_>| n.link.key.split(':').next().unwrap_or("").to_string();
    let mut done: Vec<usize> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if done.contains(&i) {
            continue;
        }
        let pad = " ".repeat(indent);
        if verbose {
            let _ = writeln!(o, "{pad}└ {}", n.link.title);
            if let Some(f) = d.finding(&n.link.key) {
                evidence(o, p, &f.evidence, &format!("{pad}    "), shown);
            }
            tree(o, p, d, &n.children, indent + 2, shown, verbose);
            continue;
        }
        let same: Vec<usize> = (i..nodes.len())
            .filter(|&j| rule(&nodes[j]) == rule(n))
            .collect();
        done.extend(&same);
        let mut line = n.link.title.clone();
        if same.len() > 1 {
            line.push_str(&format!(" (and {} more like it)", same.len() - 1));
        }
        let below: usize = same.iter().map(|&j| count(&nodes[j])).sum();
        let deep = n.link.depth >= 2 || same.len() > 1;
        if deep && below > 0 {
            line.push_str(&format!(
                " {}",
                p.dim(&format!("[explains {} more]", below))
            ));
        }
        let _ = writeln!(o, "{pad}└ {line}");
        if !deep {
            tree(o, p, d, &n.children, indent + 2, shown, verbose);
        }
    }
}

fn evidence(o: &mut String, p: &Paint, ev: &[crate::facts::Evidence], pad: &str, n: usize) {
    let (best, more) = best_evidence(ev, n);
    let last = best.len().saturating_sub(1);
    for (i, e) in best.into_iter().enumerate() {
        let tail = if i == last && more > 0 {
            format!("  {}", p.dim(&format!("+{more} more (--verbose)")))
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "{pad}{}  {}{tail}",
            p.dim(&e.locator.to_string()),
            e.excerpt
        );
    }
}
