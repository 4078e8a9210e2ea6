//! What the Markdown and HTML reports present alike: derived views of a [`Diagnosis`] (the chain
//! as a tree, which findings are "other", labels, times, code spans in rule text). No output
//! syntax here, so each format escapes for itself.

use crate::diagnosis::{ChainLink, Diagnosis, RootCause};
use crate::facts::Finding;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The name an enum has in the JSON report (`critical`, `failed`, `high`…), so every format
/// uses the same words.
pub fn label<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_string(),
    }
}

/// Skipped files worth a line in the short reports: the message tables `wevtutil al` leaves
/// beside every exported log are never read, by design, and would otherwise show on every
/// bundle the collector writes. The full lists (verbose text, JSON, HTML) still name them.
pub fn unexpected_skips(d: &Diagnosis) -> usize {
    d.skipped
        .iter()
        .filter(|s| {
            crate::bundle::classify(&s.path).is_none_or(|k| crate::parse::parser_for(k).is_ok())
        })
        .count()
}

/// A time for people: UTC, to the second.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A node of a root cause's chain with the findings it explains directly.
pub struct ChainNode<'a> {
    pub link: &'a ChainLink,
    pub children: Vec<ChainNode<'a>>,
}

/// How the setup logs were read where it had to be assumed, each said once per log: `(log,
/// runs, note)`, e.g. a start not in the log, or the order of day and month.
pub fn run_notes(d: &Diagnosis) -> Vec<(&str, Vec<usize>, &str)> {
    let mut out: Vec<(&str, Vec<usize>, &str)> = Vec::new();
    for r in &d.runs {
        for n in &r.notes {
            match out
                .iter_mut()
                .find(|(log, _, note)| *log == r.log && note == n)
            {
                Some((_, runs, _)) => runs.push(r.index + 1),
                None => out.push((&r.log, vec![r.index + 1], n)),
            }
        }
    }
    out
}

/// The chain (stored breadth-first with `depth` and `via`) as a tree under the root cause.
/// A link whose parent is missing is attached to the root so nothing is dropped.
pub fn chain_tree(rc: &RootCause) -> Vec<ChainNode<'_>> {
    fn children<'a>(links: &'a [ChainLink], key: &str, depth: usize) -> Vec<ChainNode<'a>> {
        links
            .iter()
            .filter(|l| l.depth == depth + 1 && l.via == key)
            .map(|l| ChainNode {
                link: l,
                children: children(links, &l.key, l.depth),
            })
            .collect()
    }
    let mut top = children(&rc.chain, &rc.key, 0);
    let placed = |l: &ChainLink| {
        l.depth == 1 && l.via == rc.key
            || rc
                .chain
                .iter()
                .any(|p| p.key == l.via && p.depth + 1 == l.depth)
    };
    for orphan in rc.chain.iter().filter(|l| !placed(l)) {
        top.push(ChainNode {
            link: orphan,
            children: Vec::new(),
        });
    }
    top
}

/// The address of a reference, when the reference text carries one the shared reference
/// material gives (aka.ms short links, the readiness-check page, a KB article): never invented.
pub fn reference_url(r: &str) -> Option<String> {
    const AKA: &[&str] = &[
        "exupdatefaq",
        "SA-InstallWatermark",
        "ExInstallerCacheFix",
        "HC-BinSearchFolder",
        "HC-DefaultVariableDetected",
        "HC-MissingConfig",
    ];
    let lower = r.to_ascii_lowercase();
    if let Some(i) = lower.find("aka.ms/") {
        let rest = &r[i + "aka.ms/".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if let Some(known) = AKA.iter().find(|a| a.eq_ignore_ascii_case(&name)) {
            return Some(format!("https://aka.ms/{known}"));
        }
    }
    if lower.contains("readiness check") {
        return Some(
            "https://learn.microsoft.com/Exchange/plan-and-deploy/deployment-ref/readiness-checks?view=exchserver-2019"
                .into(),
        );
    }
    None
}

/// How many evidence lines a finding shows by default.
pub const BEST_EVIDENCE: usize = 3;

/// The `n` most telling evidence lines (one per source first: a setup-log block, a services row
/// and an event say more together than three events), each line once; and how many are left.
pub fn best_evidence(
    evidence: &[crate::facts::Evidence],
    n: usize,
) -> (Vec<&crate::facts::Evidence>, usize) {
    let mut unique: Vec<&crate::facts::Evidence> = Vec::new();
    for e in evidence {
        if !unique
            .iter()
            .any(|u| u.locator == e.locator && u.excerpt == e.excerpt)
        {
            unique.push(e);
        }
    }
    let mut picked: Vec<usize> = Vec::new();
    let mut paths: Vec<&str> = Vec::new();
    for (i, e) in unique.iter().enumerate() {
        if picked.len() < n && !paths.contains(&e.locator.path.as_str()) {
            paths.push(&e.locator.path);
            picked.push(i);
        }
    }
    for i in 0..unique.len() {
        if picked.len() < n && !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked.sort_unstable();
    let more = unique.len() - picked.len();
    (picked.into_iter().map(|i| unique[i]).collect(), more)
}

/// Keys of every finding a root cause reaches (the causes themselves included).
fn in_chains(d: &Diagnosis) -> Vec<&str> {
    d.root_causes
        .iter()
        .flat_map(|r| std::iter::once(r.key.as_str()).chain(r.explains.iter().map(String::as_str)))
        .collect()
}

/// Findings explained by a root cause, in chain order, each once.
pub fn explained(d: &Diagnosis) -> Vec<&Finding> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for rc in &d.root_causes {
        for link in &rc.chain {
            if seen.contains(&link.key.as_str()) {
                continue;
            }
            seen.push(&link.key);
            if let Some(f) = d.finding(&link.key) {
                out.push(f);
            }
        }
    }
    out
}

/// Findings that are neither a root cause, explained by one, contributing nor unexplained.
pub fn others(d: &Diagnosis) -> Vec<&Finding> {
    let chained = in_chains(d);
    d.findings
        .iter()
        .filter(|f| {
            let k = f.key();
            !chained.contains(&k.as_str())
                && !d.contributing.contains(&k)
                && !d.unexplained.contains(&k)
        })
        .collect()
}

/// Findings named by `keys`, in that order; a key without a finding is skipped.
pub fn by_keys<'a>(d: &'a Diagnosis, keys: &[String]) -> Vec<&'a Finding> {
    keys.iter().filter_map(|k| d.finding(k)).collect()
}

/// A plan step as one line of rule-written text: the action, then its command in backticks.
/// Last-resort steps say so first.
pub fn step_head(s: &crate::diagnosis::PlanStep) -> String {
    use crate::repair::{Phase, Shell};
    let mut t = String::new();
    if s.phase == Phase::LastResort {
        t.push_str("Last resort, only if the steps above did not repair the server: ");
    }
    let action = s.action.trim_end_matches('.');
    match &s.command {
        Some(c) => {
            t.push_str(action);
            t.push_str(&format!(": `{c}`"));
            if s.shell == Shell::Ems {
                t.push_str(" (Exchange Management Shell)");
            }
            t.push('.');
        }
        None => {
            t.push_str(action);
            t.push('.');
        }
    }
    t
}

/// A piece of rule-written text: fix steps and plan steps mark commands with backticks.
#[derive(Debug, PartialEq, Eq)]
pub enum Span<'a> {
    Text(&'a str),
    Code(&'a str),
}

/// Splits on backticks: text, code, text… An unpaired backtick stays in the text.
pub fn spans(s: &str) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else { break };
        if open > 0 {
            out.push(Span::Text(&rest[..open]));
        }
        out.push(Span::Code(&after[..close]));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Span::Text(rest));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Confidence, Severity};

    fn link(key: &str, depth: usize, via: &str) -> ChainLink {
        ChainLink {
            key: key.into(),
            title: key.into(),
            depth,
            via: via.into(),
        }
    }

    fn root(chain: Vec<ChainLink>) -> RootCause {
        RootCause {
            id: "r".into(),
            key: "r".into(),
            title: "r".into(),
            severity: Severity::High,
            confidence: Confidence::High,
            subject: None,
            time: None,
            explains: chain.iter().map(|l| l.key.clone()).collect(),
            chain,
            evidence: vec![],
            fix: vec![],
        }
    }

    #[test]
    fn breadth_first_chain_becomes_a_tree() {
        let rc = root(vec![
            link("a", 1, "r"),
            link("b", 1, "r"),
            link("a1", 2, "a"),
            link("b1", 2, "b"),
            link("a11", 3, "a1"),
        ]);
        let tree = chain_tree(&rc);
        let shape: Vec<(String, Vec<String>)> = tree
            .iter()
            .map(|n| {
                (
                    n.link.key.clone(),
                    n.children.iter().map(|c| c.link.key.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("a".to_string(), vec!["a1".to_string()]),
                ("b".to_string(), vec!["b1".to_string()])
            ]
        );
        assert_eq!(tree[0].children[0].children[0].link.key, "a11");
    }

    #[test]
    fn a_link_whose_parent_is_absent_is_kept_at_the_top() {
        let rc = root(vec![link("a", 1, "r"), link("x", 2, "missing")]);
        let keys: Vec<&str> = chain_tree(&rc)
            .iter()
            .map(|n| n.link.key.as_str())
            .collect();
        assert_eq!(keys, ["a", "x"]);
    }

    #[test]
    fn backticks_mark_code_and_a_lone_one_stays_text() {
        assert_eq!(
            spans("run `a` then `b"),
            vec![Span::Text("run "), Span::Code("a"), Span::Text(" then `b")]
        );
        assert_eq!(spans("`x`"), vec![Span::Code("x")]);
        assert_eq!(spans(""), vec![]);
    }

    #[test]
    fn labels_are_the_json_names() {
        assert_eq!(label(&Severity::Critical), "critical");
        assert_eq!(label(&crate::diagnosis::Status::Failed), "failed");
    }
}
