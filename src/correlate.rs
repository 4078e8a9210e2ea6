//! Correlation: the explains graph, root causes, the verdict and the recovery plan.
//!
//! A finding explains another when it declares the other's id (and, if it names one, the same
//! subject) and both are present. Root causes are the causes nothing present explains, ranked
//! by how much they explain, then severity, then time (earlier first). Symptoms that no root
//! reaches are listed as unexplained.

use crate::diagnosis::{ChainLink, PlanStep, RootCause, Status};
use crate::facts::{Confidence, Finding, FindingKind, Severity};
use crate::repair::PlanContext;
use crate::repair::plan::Role;
use std::collections::{BTreeSet, VecDeque};

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
                        // Subjects are service, process or object names: Windows compares
                        // them without regard to letter case, and so do the links.
                        && e.subject.as_ref().is_none_or(|s| {
                            b.subject.as_ref().is_some_and(|t| t.eq_ignore_ascii_case(s))
                        })
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
                // A cause is not a root when another cause (or a risk) explains it, directly or
                // through symptoms: a service disabled *because* setup stopped on another
                // disabled service. A cause explained only by symptoms nothing explains (setup
                // was interrupted, nobody knows why) stays a root: it is what is left to fix.
                // A cause explained only by findings it explains itself (a cycle) stays a root.
                let own: BTreeSet<usize> = self.chain(i).iter().map(|c| c.0).collect();
                !(0..self.findings.len()).any(|j| {
                    j != i
                        && !own.contains(&j)
                        && matches!(
                            self.findings[j].kind,
                            FindingKind::Cause | FindingKind::Risk
                        )
                        && self.chain(j).iter().any(|c| c.0 == i)
                })
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

pub fn correlate(findings: &[Finding], ctx: &PlanContext<'_>) -> Correlation {
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
    let plan = plan(findings, &g, &roots, &contributing, &unexplained, ctx);
    Correlation {
        root_causes,
        contributing: contributing.iter().map(|&i| findings[i].key()).collect(),
        unexplained: unexplained.iter().map(|&i| findings[i].key()).collect(),
        plan,
    }
}

/// The plan: every actionable finding's actions, causes first, then what they explain.
fn plan(
    findings: &[Finding],
    g: &Graph<'_>,
    roots: &[usize],
    contributing: &[usize],
    unexplained: &[usize],
    ctx: &PlanContext<'_>,
) -> Vec<PlanStep> {
    if roots.is_empty() && contributing.is_empty() && unexplained.is_empty() {
        return Vec::new();
    }
    let mut order: Vec<(usize, Role)> = Vec::new();
    let push = |i: usize, role: Role, order: &mut Vec<(usize, Role)>| {
        if !order.iter().any(|(j, _)| *j == i) {
            order.push((i, role));
        }
    };
    for &r in roots.iter().chain(contributing) {
        push(r, Role::Cause, &mut order);
    }
    let root_subjects: Vec<(&str, &str)> = roots
        .iter()
        .filter_map(|&r| {
            findings[r]
                .subject
                .as_deref()
                .map(|s| (findings[r].id.as_str(), s))
        })
        .collect();
    for &r in roots.iter().chain(contributing) {
        for (i, _, _) in g.chain(r) {
            // The root seen again by another rule (the same disabled service) is fixed by the
            // root's own actions.
            let f = &findings[i];
            if f.subject
                .as_deref()
                .is_some_and(|s| root_subjects.iter().any(|(id, rs)| *rs == s && *id != f.id))
            {
                continue;
            }
            push(i, Role::Effect, &mut order);
        }
    }
    for &u in unexplained {
        // A symptom nothing explains is fixed where it is: its own steps remove its cause.
        push(u, Role::Cause, &mut order);
    }
    let list: Vec<(&Finding, Role)> = order.iter().map(|&(i, r)| (&findings[i], r)).collect();
    crate::repair::plan(&list, ctx)
}

/// One word for the bundle, from the findings and the evidence that could not be read.
pub fn status(findings: &[Finding], missing_evidence: &[String]) -> Status {
    let serious = findings.iter().any(|f| {
        matches!(f.kind, FindingKind::Cause | FindingKind::Symptom) && f.severity >= Severity::High
    });
    if serious {
        return Status::Failed;
    }
    // A failure found outranks missing evidence; lesser issues do not: with evidence missing,
    // "issues to review" would hide that a failure may be in what was not read.
    if !missing_evidence.is_empty() {
        return Status::Inconclusive;
    }
    let notable = findings
        .iter()
        .any(|f| f.kind != FindingKind::Info && f.severity >= Severity::Medium);
    if notable {
        Status::Issues
    } else {
        Status::Healthy
    }
}

/// The verdict: a headline of at most two sentences, and what the root cause broke.
pub struct Verdict {
    pub headline: String,
    pub broke: Vec<String>,
}

/// Most words a headline may have: a manager reads it whole.
pub const HEADLINE_WORDS: usize = 45;

/// The artefact kinds a verdict depends on, and which of them the bundle had.
#[derive(Debug, Default, Clone)]
pub struct Coverage {
    /// Kinds read, in plain words ("setup logs", "event logs", …).
    pub checked: Vec<String>,
    /// Kinds a verdict depends on that the bundle does not have at all.
    pub absent: Vec<String>,
}

/// The headline and the "what it broke" list, from structured pieces: the failed run, the root
/// causes' short names, the effects by finding id, counts in words. Never event text.
pub fn verdict(
    status: Status,
    findings: &[Finding],
    c: &Correlation,
    last_run: Option<&crate::diagnosis::RunSummary>,
    missing: &[String],
    coverage: &Coverage,
) -> Verdict {
    use crate::repair::words;
    let by_key = |key: &str| findings.iter().find(|f| f.key() == key);
    let mut broke: Vec<String> = Vec::new();
    let mut first = String::new();
    let mut second: Vec<String> = Vec::new();
    if let Some(root) = c.root_causes.first() {
        let stopped = root
            .explains
            .iter()
            .chain(std::iter::once(&root.key))
            .filter_map(|k| by_key(k))
            .any(|f| f.id == crate::rules::setup::SetupStopped::ID);
        let fallback = root.id == "setup-error-unrecognised";
        let run = last_run.filter(|_| stopped || fallback).map(|r| {
            let v = r
                .version
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default();
            match r.failed_task.as_deref().map(task_name) {
                Some(t) => format!("Setup{v} stopped at {t}"),
                None => format!("Setup{v} stopped"),
            }
        });
        let causes: Vec<String> = c
            .root_causes
            .iter()
            .take(2)
            .filter_map(|r| by_key(&r.key))
            .map(cause_phrase)
            .collect();
        first = match (&run, fallback) {
            (Some(r), true) => format!(
                "{r} on an error no known rule matches; its text is quoted under Root cause."
            ),
            (Some(r), false) => format!("{r} because {}.", join_and_owned(&causes)),
            (None, _) => format!("Root cause: {}.", join_and_owned(&causes)),
        };
        if c.root_causes.len() > 2 {
            second.push(format!(
                "{} more root causes are listed below",
                words::number(c.root_causes.len() - 2)
            ));
        }
        // The root seen again by another rule (the same service) is not one of its effects.
        let chain_keys: Vec<&str> = c
            .root_causes
            .iter()
            .flat_map(|r| {
                r.chain.iter().map(|l| l.key.as_str()).filter(|k| {
                    r.subject
                        .as_ref()
                        .is_none_or(|s| !k.ends_with(&format!(":{s}")))
                })
            })
            .collect();
        let mut areas: Vec<&'static str> = Vec::new();
        for k in chain_keys {
            let Some(f) = by_key(k) else { continue };
            if let Some((_, area, detail)) = EFFECTS.iter().find(|(id, _, _)| *id == f.id) {
                if !areas.contains(area) {
                    areas.push(area);
                }
                let d = detail.to_string();
                if !broke.contains(&d) {
                    broke.push(d);
                }
            }
        }
        if !areas.is_empty() {
            second.push(format!("it left {}", join_and(&areas)));
        }
    } else if status == Status::Failed {
        let top = findings
            .iter()
            .filter(|f| f.kind == FindingKind::Symptom)
            .max_by_key(|f| f.severity);
        first = match top {
            Some(t) => format!(
                "{}, and the evidence names no cause: the symptoms are listed below.",
                short(&t.title)
            ),
            None => "A failure was found, and the evidence names no cause.".into(),
        };
    }
    for k in c.contributing.iter().take(1) {
        if let Some(f) = by_key(k) {
            let who = f
                .subject
                .clone()
                .unwrap_or_else(|| lower_first(&short(&f.title)));
            second.push(format!("{who} may have contributed"));
        }
    }
    if !c.unexplained.is_empty() && !c.root_causes.is_empty() {
        second.push(format!(
            "{} {} unexplained",
            words::count(c.unexplained.len(), "symptom", "symptoms"),
            if c.unexplained.len() == 1 {
                "remains"
            } else {
                "remain"
            }
        ));
    }
    let issues = findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium && f.kind != FindingKind::Info)
        .count();
    let checked = if coverage.checked.is_empty() {
        "bundle".to_string()
    } else {
        join_and_owned(&coverage.checked)
    };
    let as_far = match coverage.absent.as_slice() {
        [] => String::new(),
        absent => format!("; the bundle has no {}", join_or(absent)),
    };
    match status {
        Status::Healthy => {
            let run = last_run
                .map(|r| {
                    format!(
                        "the last setup run ({}) completed",
                        r.version.as_deref().unwrap_or("version not logged")
                    )
                })
                .unwrap_or_else(|| "no setup run failed".into());
            first = if coverage.absent.is_empty() {
                format!("Healthy: {run} and nothing wrong was found in the {checked}.")
            } else {
                format!(
                    "Healthy as far as checked: {run} and nothing wrong was found in the {checked}{as_far}."
                )
            };
        }
        Status::Inconclusive => {
            // The first missing piece in at most twelve words, the rest counted.
            let first_missing: String = missing
                .first()
                .map(|m| m.split_whitespace().take(12).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            let rest = match missing.len() {
                0 | 1 => String::new(),
                n => format!(
                    " and {} more (listed under Missing evidence)",
                    words::number(n - 1)
                ),
            };
            first = if issues == 0 {
                format!(
                    "Inconclusive: nothing wrong was found, but evidence a verdict needs is missing or unreadable: {first_missing}{rest}."
                )
            } else {
                format!(
                    "Inconclusive: {} to review, and evidence a verdict needs is missing or unreadable: {first_missing}{rest}.",
                    words::count(issues, "issue", "issues")
                )
            };
        }
        Status::Issues if c.root_causes.is_empty() => {
            first = format!(
                "No setup failure found; {} to review.",
                words::count(issues, "issue", "issues")
            );
        }
        _ => {}
    }
    let mut headline = first;
    // The second sentence loses its last parts until the headline fits.
    while !second.is_empty() {
        let s = format!("{headline} {}.", upper_first(&second.join("; ")));
        if s.split_whitespace().count() <= HEADLINE_WORDS {
            headline = s;
            break;
        }
        second.pop();
    }
    Verdict {
        headline: headline.trim().to_string(),
        broke,
    }
}

/// A setup task without its component: `Install-BridgeheadRole (BridgeheadRoleSetterComponent)`
/// → `Install-BridgeheadRole`.
fn task_name(t: &str) -> &str {
    t.split(" (").next().unwrap_or(t).trim()
}

/// A root cause in a few words, for the headline: a rule's title, without the detail some rules
/// add after a colon (a list of services, an event's text), and never cut mid-word.
fn cause_phrase(f: &Finding) -> String {
    match f.id.as_str() {
        // The product is the title's first words, before the action the event reported.
        "av-detection-exchange-path" => format!(
            "{} acted on an Exchange file",
            f.title
                .split_once(" detected ")
                .or_else(|| f.title.split_once(" took "))
                .map(|(p, _)| p.trim())
                .filter(|p| (1..=5).contains(&p.split_whitespace().count()))
                .unwrap_or("an antivirus product")
        ),
        _ => lower_first(&short(&f.title)),
    }
}

/// A title up to its first colon when it is long: the part after the colon is detail.
fn short(title: &str) -> String {
    const MAX: usize = 14;
    if title.split_whitespace().count() <= MAX {
        return title.to_string();
    }
    if let Some((head, _)) = title.split_once(": ")
        && head.split_whitespace().count() >= 3
    {
        return head.to_string();
    }
    let mut out: Vec<&str> = title.split_whitespace().take(MAX).collect();
    // Never end on a dangling small word.
    while out
        .last()
        .is_some_and(|w| ["a", "an", "the", "of", "on", "and", "or", "to", "in"].contains(w))
    {
        out.pop();
    }
    out.join(" ")
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn join_and_owned(items: &[String]) -> String {
    let v: Vec<&str> = items.iter().map(String::as_str).collect();
    join_and(&v)
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What a chain of findings broke, by finding id: the area the headline names, and the line of
/// the "what it broke" list. Ids not listed are left to the report's chain.
#[rustfmt::skip]
const EFFECTS: &[(&str, &str, &str)] = &[
    ("role-config-incomplete", "roles half-configured", "Exchange roles were left half-configured"),
    ("binaries-upgraded-config-not", "roles half-configured", "Exchange roles were left half-configured"),
    ("webconfig-unexpanded-token", "OWA and the other web services failing", "web.config files kept unexpanded %ExchangeInstallDir% paths"),
    ("iis-exppw-missing", "OWA and the other web services failing", "IIS lost the exppw module OWA needs"),
    ("iis-module-load-failed", "OWA and the other web services failing", "IIS lost the exppw module OWA needs"),
    ("apppool-misconfigured", "OWA and the other web services failing", "IIS application pools were misconfigured"),
    ("was-apppool-disabled", "OWA and the other web services failing", "IIS application pools were misconfigured"),
    ("aspnet-config-error", "OWA and the other web services failing", "OWA, ECP, EWS, Autodiscover and ActiveSync could not load Exchange assemblies"),
    ("activesync-auth-misconfigured", "OWA and the other web services failing", "ActiveSync was misconfigured"),
    ("exchange-service-disabled", "Exchange services down", "Exchange services were left disabled or stopped"),
    ("services-left-disabled-by-setup", "Exchange services down", "Exchange services were left disabled or stopped"),
    ("exchange-service-stopped", "Exchange services down", "Exchange services were left disabled or stopped"),
    ("service-dependency-failed", "Exchange services down", "Exchange services were left disabled or stopped"),
    ("server-left-offline", "the server offline", "the server was left offline (ServerWideOffline Inactive)"),
];

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn lower_first(s: &str) -> String {
    // Only ordinary words are lowered mid-sentence; names ("Microsoft Defender", "IIS",
    // "MSExchangeServiceHost", "Active Directory") keep their capitals.
    const ORDINARY: &[&str] = &[
        "A",
        "An",
        "The",
        "Setup",
        "Only",
        "One",
        "Some",
        "Binaries",
        "Roles",
        "Files",
        "Services",
        "Resumed",
        "Extending",
        "Setup's",
    ];
    match s.split_once(' ') {
        Some((first, rest)) if ORDINARY.contains(&first) => {
            format!("{} {rest}", first.to_lowercase())
        }
        _ => s.to_string(),
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
            fix: vec![
                format!("fix {id}").into(),
                "Re-run setup in upgrade mode.".into(),
            ],
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
        let c = correlate(&fs, &PlanContext::default());
        assert_eq!(c.root_causes.len(), 1);
        assert_eq!(c.root_causes[0].id, "disabled");
        assert_eq!(
            c.root_causes[0].explains,
            vec!["stopped", "tokens", "owa-down"]
        );
        assert_eq!(c.unexplained, vec!["lonely"]);
        let rerun = c
            .plan
            .iter()
            .filter(|s| s.phase == crate::repair::Phase::Rerun)
            .count();
        assert_eq!(rerun, 1, "re-run setup appears once");
        assert_eq!(c.plan.last().unwrap().phase, crate::repair::Phase::Verify);
        let fix_disabled = c
            .plan
            .iter()
            .position(|s| s.action == "fix disabled")
            .unwrap();
        let fix_owa = c
            .plan
            .iter()
            .position(|s| s.action == "fix owa-down")
            .unwrap();
        assert!(fix_disabled < fix_owa);
    }

    #[test]
    fn subject_narrows_links() {
        let mut a = f("disabled", FindingKind::Cause, &[]);
        a.explains = vec![Explains::about("svc-down", "X")];
        let mut b = f("svc-down", FindingKind::Symptom, &[]);
        b.subject = Some("Y".into());
        let c = correlate(&[a, b], &PlanContext::default());
        assert!(c.root_causes[0].explains.is_empty());
        assert_eq!(c.unexplained, vec!["svc-down:Y"]);
    }

    #[test]
    fn healthy_needs_complete_evidence() {
        assert_eq!(status(&[], &[]), Status::Healthy);
        assert_eq!(status(&[], &["no setup log".into()]), Status::Inconclusive);
        let mut risk = f("av", FindingKind::Risk, &[]);
        risk.severity = Severity::Medium;
        assert_eq!(status(std::slice::from_ref(&risk), &[]), Status::Issues);
        assert_eq!(
            status(&[risk], &["services.csv absent".into()]),
            Status::Inconclusive,
            "issues with evidence missing are not the whole story"
        );
        assert_eq!(
            status(&[f("x", FindingKind::Symptom, &[])], &[]),
            Status::Failed
        );
    }
}
