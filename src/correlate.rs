//! Correlation: the explains graph, root causes, the verdict and the recovery plan.
//!
//! A finding explains another when it declares the other's id (and, if it names one, the same
//! subject) and both are present. Root causes are the causes nothing present explains, ranked
//! by how much they explain, then severity, then time (earlier first). Symptoms that no root
//! reaches are listed as unexplained.

use crate::diagnosis::{ChainLink, PlanStep, RootCause, Status};
use crate::facts::{Confidence, Finding, FindingKind, Severity};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The graph over one bundle's findings.
pub struct Graph<'a> {
    pub findings: &'a [Finding],
    /// children[i]: indices of findings that finding i explains.
    children: Vec<Vec<usize>>,
    explained_by: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    pub fn new(findings: &'a [Finding]) -> Self {
        let n = findings.len();
        let mut children = vec![Vec::new(); n];
        let mut explained_by = vec![Vec::new(); n];
        for (i, a) in findings.iter().enumerate() {
            for e in &a.explains {
                for (j, b) in findings.iter().enumerate() {
                    if i != j
                        && b.id == e.id
                        && e.subject
                            .as_ref()
                            .is_none_or(|s| b.subject.as_ref() == Some(s))
                        && !children[i].contains(&j)
                    {
                        children[i].push(j);
                        explained_by[j].push(i);
                    }
                }
            }
        }
        Graph {
            findings,
            children,
            explained_by,
        }
    }

    /// Breadth-first chain under `root`: (index, depth, explained-by index).
    pub fn chain(&self, root: usize) -> Vec<(usize, usize, usize)> {
        let mut seen = BTreeSet::from([root]);
        let mut out = Vec::new();
        let mut queue = VecDeque::from([(root, 0usize)]);
        while let Some((i, d)) = queue.pop_front() {
            for &c in &self.children[i] {
                if seen.insert(c) {
                    out.push((c, d + 1, i));
                    queue.push_back((c, d + 1));
                }
            }
        }
        out
    }

    /// Causes nothing present explains, ranked.
    pub fn roots(&self) -> Vec<usize> {
        let mut roots: Vec<usize> = (0..self.findings.len())
            .filter(|&i| self.findings[i].kind == FindingKind::Cause)
            .filter(|&i| {
                // A cause explained only by findings it explains itself (a cycle) stays a root.
                let chain: BTreeSet<usize> = self.chain(i).iter().map(|c| c.0).collect();
                self.explained_by[i].iter().all(|p| chain.contains(p))
            })
            .collect();
        roots.sort_by(|&a, &b| {
            let (fa, fb) = (&self.findings[a], &self.findings[b]);
            self.chain(b)
                .len()
                .cmp(&self.chain(a).len())
                .then(fb.severity.cmp(&fa.severity))
                .then(fb.confidence.cmp(&fa.confidence))
                .then(match (fa.time, fb.time) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                })
                .then(fa.key().cmp(&fb.key()))
        });
        // Among causes that explain each other in a cycle, keep the first ranked.
        let mut kept: Vec<usize> = Vec::new();
        for r in roots {
            let covered = kept.iter().any(|&k| self.chain(k).iter().any(|c| c.0 == r));
            if !covered {
                kept.push(r);
            }
        }
        kept
    }
}

/// What correlation concludes.
pub struct Correlation {
    pub root_causes: Vec<RootCause>,
    pub contributing: Vec<String>,
    pub unexplained: Vec<String>,
    pub plan: Vec<PlanStep>,
}

pub fn correlate(findings: &[Finding]) -> Correlation {
    let g = Graph::new(findings);
    let roots = g.roots();
    let mut reached = BTreeSet::new();
    let mut root_causes = Vec::new();
    for &r in &roots {
        let f = &findings[r];
        reached.insert(r);
        let chain = g.chain(r);
        reached.extend(chain.iter().map(|c| c.0));
        // Independent evidence sources raise confidence: setup log + services.csv + an event.
        let sources: BTreeSet<&str> = f.evidence.iter().map(|e| e.locator.path.as_str()).collect();
        let confidence = match sources.len() {
            n if n >= 3 => Confidence::High,
            2 => f.confidence.max(Confidence::Medium),
            _ => f.confidence,
        };
        root_causes.push(RootCause {
            id: f.id.clone(),
            key: f.key(),
            title: f.title.clone(),
            severity: f.severity,
            confidence,
            subject: f.subject.clone(),
            time: f.time,
            explains: chain.iter().map(|c| findings[c.0].key()).collect(),
            chain: chain
                .iter()
                .map(|&(i, depth, via)| ChainLink {
                    key: findings[i].key(),
                    title: findings[i].title.clone(),
                    depth,
                    via: findings[via].key(),
                })
                .collect(),
            evidence: f.evidence.clone(),
            fix: f.fix.clone(),
        });
    }
    // Risks nothing explains: those that explain something present, or are serious enough,
    // are contributing causes; what they explain counts as explained.
    let contributing: Vec<usize> = (0..findings.len())
        .filter(|i| !reached.contains(i))
        .filter(|&i| findings[i].kind == FindingKind::Risk && g.explained_by[i].is_empty())
        .filter(|&i| findings[i].severity >= Severity::Medium || !g.chain(i).is_empty())
        .collect();
    for &c in &contributing {
        reached.extend(g.chain(c).iter().map(|l| l.0));
    }
    let unexplained: Vec<usize> = (0..findings.len())
        .filter(|i| !reached.contains(i))
        .filter(|&i| findings[i].kind == FindingKind::Symptom)
        .collect();
    let plan = plan(findings, &g, &roots, &contributing, &unexplained);
    Correlation {
        root_causes,
        contributing: contributing.iter().map(|&i| findings[i].key()).collect(),
        unexplained: unexplained.iter().map(|&i| findings[i].key()).collect(),
        plan,
    }
}

fn is_rerun(step: &str) -> bool {
    let s = step.to_ascii_lowercase();
    s.contains("re-run setup") || s.contains("rerun setup")
}

/// Merges the fix steps into one ordered, de-duplicated plan: back up, fix the causes, re-run
/// setup once, repair what setup does not, then verify.
fn plan(
    findings: &[Finding],
    g: &Graph<'_>,
    roots: &[usize],
    contributing: &[usize],
    unexplained: &[usize],
) -> Vec<PlanStep> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut add =
        |text: &str, from: String, steps: &mut Vec<(String, Vec<String>)>| match index.get(text) {
            Some(&i) => {
                if !steps[i].1.contains(&from) {
                    steps[i].1.push(from)
                }
            }
            None => {
                index.insert(text.to_string(), steps.len());
                steps.push((text.to_string(), vec![from]));
            }
        };
    let actionable: Vec<usize> = roots
        .iter()
        .copied()
        .chain(unexplained.iter().copied())
        .collect();
    if actionable.is_empty() && contributing.is_empty() {
        return Vec::new();
    }
    let all_keys: Vec<String> = actionable.iter().map(|&i| findings[i].key()).collect();
    steps.push((
        "Back up before changing anything: export HKLM\\SOFTWARE\\Microsoft\\ExchangeServer with `reg export`, back up the IIS configuration with `%windir%\\system32\\inetsrv\\appcmd add backup`, and copy the web.config files you will edit.".into(),
        all_keys.clone(),
    ));
    let mut reruns: Vec<(String, String)> = Vec::new();
    let mut later: Vec<usize> = Vec::new();
    for &r in roots {
        for s in &findings[r].fix {
            if is_rerun(s) {
                reruns.push((s.clone(), findings[r].key()));
            } else {
                add(s, findings[r].key(), &mut steps);
            }
        }
        later.extend(g.chain(r).iter().map(|c| c.0));
    }
    for &c in contributing {
        for s in &findings[c].fix {
            add(s, findings[c].key(), &mut steps);
        }
    }
    for &i in later.iter().chain(unexplained) {
        for s in &findings[i].fix {
            if is_rerun(s) {
                reruns.push((s.clone(), findings[i].key()));
            }
        }
    }
    if let Some((text, _)) = reruns.first() {
        let from: Vec<String> = reruns
            .iter()
            .map(|r| r.1.clone())
            .fold(Vec::new(), |mut v, k| {
                if !v.contains(&k) {
                    v.push(k)
                }
                v
            });
        for k in &from {
            add(text, k.clone(), &mut steps);
        }
    }
    for &i in later.iter().chain(unexplained) {
        for s in &findings[i].fix {
            if !is_rerun(s) {
                add(s, findings[i].key(), &mut steps);
            }
        }
    }
    steps.push((
        "Verify: every Exchange service set to Automatic is running (`Get-Service MSExchange*`), `Test-ServiceHealth` is clean, the role keys under HKLM\\SOFTWARE\\Microsoft\\ExchangeServer have ConfiguredVersion equal to UnpackedVersion and no Watermark/Action, OWA/ECP/EWS/ActiveSync answer, and mail flows; then collect a new bundle and run exhume again.".into(),
        all_keys,
    ));
    steps
        .into_iter()
        .enumerate()
        .map(|(i, (text, from))| PlanStep {
            step: i + 1,
            text,
            from,
        })
        .collect()
}

/// One word for the bundle, from the findings and the evidence that could not be read.
pub fn status(findings: &[Finding], missing_evidence: &[String]) -> Status {
    let serious = findings.iter().any(|f| {
        matches!(f.kind, FindingKind::Cause | FindingKind::Symptom) && f.severity >= Severity::High
    });
    if serious {
        return Status::Failed;
    }
    let notable = findings
        .iter()
        .any(|f| f.kind != FindingKind::Info && f.severity >= Severity::Medium);
    if notable {
        Status::Issues
    } else if missing_evidence.is_empty() {
        Status::Healthy
    } else {
        Status::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Explains;

    fn f(id: &str, kind: FindingKind, explains: &[&str]) -> Finding {
        Finding {
            id: id.into(),
            title: id.into(),
            kind,
            severity: Severity::High,
            confidence: Confidence::Medium,
            subject: None,
            time: None,
            evidence: vec![],
            why: String::new(),
            fix: vec![format!("fix {id}"), "Re-run setup in upgrade mode.".into()],
            references: vec![],
            explains: explains.iter().map(|e| Explains::any(e)).collect(),
        }
    }

    #[test]
    fn the_unexplained_cause_is_the_root_and_explains_the_chain() {
        let fs = vec![
            f("stopped", FindingKind::Symptom, &[]),
            f("disabled", FindingKind::Cause, &["stopped"]),
            f("tokens", FindingKind::Cause, &["owa-down"]),
            f("owa-down", FindingKind::Symptom, &[]),
            f("lonely", FindingKind::Symptom, &[]),
        ];
        // tokens is itself explained by stopped
        let mut fs = fs;
        fs[0].explains.push(Explains::any("tokens"));
        let c = correlate(&fs);
        assert_eq!(c.root_causes.len(), 1);
        assert_eq!(c.root_causes[0].id, "disabled");
        assert_eq!(
            c.root_causes[0].explains,
            vec!["stopped", "tokens", "owa-down"]
        );
        assert_eq!(c.unexplained, vec!["lonely"]);
        let rerun = c.plan.iter().filter(|s| is_rerun(&s.text)).count();
        assert_eq!(rerun, 1, "re-run setup appears once");
        assert!(c.plan[0].text.starts_with("Back up"));
        assert!(c.plan.last().unwrap().text.starts_with("Verify"));
        let fix_disabled = c
            .plan
            .iter()
            .position(|s| s.text == "fix disabled")
            .unwrap();
        let fix_owa = c
            .plan
            .iter()
            .position(|s| s.text == "fix owa-down")
            .unwrap();
        assert!(fix_disabled < fix_owa);
    }

    #[test]
    fn subject_narrows_links() {
        let mut a = f("disabled", FindingKind::Cause, &[]);
        a.explains = vec![Explains::about("svc-down", "X")];
        let mut b = f("svc-down", FindingKind::Symptom, &[]);
        b.subject = Some("Y".into());
        let c = correlate(&[a, b]);
        assert!(c.root_causes[0].explains.is_empty());
        assert_eq!(c.unexplained, vec!["svc-down:Y"]);
    }

    #[test]
    fn healthy_needs_complete_evidence() {
        assert_eq!(status(&[], &[]), Status::Healthy);
        assert_eq!(status(&[], &["no setup log".into()]), Status::Inconclusive);
        assert_eq!(
            status(&[f("x", FindingKind::Symptom, &[])], &[]),
            Status::Failed
        );
    }
}

/// One sentence a busy engineer can act on.
pub fn verdict(
    status: Status,
    findings: &[Finding],
    c: &Correlation,
    last_run: Option<&crate::diagnosis::RunSummary>,
    missing: &[String],
) -> String {
    let title = |key: &str| {
        findings
            .iter()
            .find(|f| f.key() == key)
            .map(|f| f.title.clone())
            .unwrap_or_else(|| key.to_string())
    };
    let mut s = String::new();
    if let Some(root) = c.root_causes.first() {
        let stopped = root
            .explains
            .iter()
            .filter_map(|k| findings.iter().find(|f| &f.key() == k))
            .find(|f| f.id == crate::rules::setup::SetupStopped::ID);
        match stopped {
            Some(st) => s.push_str(&format!(
                "{} because {}.",
                st.title.replace(" on critical errors", ""),
                lower_first(&root.title)
            )),
            None => s.push_str(&format!("Root cause: {}.", root.title)),
        }
        let others: Vec<String> = root
            .chain
            .iter()
            .filter(|l| stopped.is_none_or(|st| st.key() != l.key))
            .map(|l| lower_first(&l.title))
            .collect();
        if !others.is_empty() {
            let shown: Vec<String> = others.iter().take(4).cloned().collect();
            let more = others.len().saturating_sub(shown.len());
            s.push_str(&format!(" It also explains: {}", shown.join("; ")));
            if more > 0 {
                s.push_str(&format!(" and {more} more"));
            }
            s.push('.');
        }
        for other in c.root_causes.iter().skip(1).take(2) {
            s.push_str(&format!(
                " Also a root cause: {}.",
                lower_first(&other.title)
            ));
        }
    } else if status == Status::Failed {
        let top = findings
            .iter()
            .filter(|f| f.kind == FindingKind::Symptom)
            .max_by_key(|f| f.severity);
        s.push_str(&match top {
            Some(t) => format!(
                "{}; no cause could be identified from the evidence: read the error text it cites.",
                t.title
            ),
            None => "Failure found but no cause identified.".into(),
        });
    }
    for k in c.contributing.iter().take(2) {
        s.push_str(&format!(" {} is a likely contributing cause.", title(k)));
    }
    if !c.unexplained.is_empty() && !c.root_causes.is_empty() {
        s.push_str(&format!(
            " {} symptom(s) remain unexplained.",
            c.unexplained.len()
        ));
    }
    match status {
        Status::Healthy => match last_run {
            Some(r) => s.push_str(&format!(
                "No issues found: the last setup run ({}) completed and no rule fired.",
                r.version.as_deref().unwrap_or("version not logged")
            )),
            None => s.push_str("No issues found."),
        },
        Status::Inconclusive => s.push_str(&format!(
            "Inconclusive: nothing wrong was found, but evidence needed for a verdict is missing or unreadable: {}.",
            missing.join("; ")
        )),
        Status::Issues if c.root_causes.is_empty() => {
            let n = findings
                .iter()
                .filter(|f| f.severity >= Severity::Medium && f.kind != FindingKind::Info)
                .count();
            s.insert_str(0, &format!("No setup failure found; {n} issue(s) to review. "));
        }
        _ => {}
    }
    s.trim().to_string()
}

fn lower_first(s: &str) -> String {
    // Keep names such as "MSExchangeServiceHost" or "IIS" as they are.
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && b.is_lowercase() => {
            let mut out = a.to_lowercase().collect::<String>();
            out.push(b);
            out.push_str(chars.as_str());
            out
        }
        _ => s.to_string(),
    }
}
