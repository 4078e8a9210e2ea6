//! Rules: small units that turn facts into findings. Each states what it looks for, why it
//! matters and what to do. Rules see facts only, never file formats (`parse` is not imported).
//!
//! Structural rules are Rust ([`Rule`]); text patterns are data (`rules/*.toml`, see
//! [`pattern`]). Every rule also says which extra facts it needs through [`Rule::interest`].

pub mod catalog;
pub mod custody;
pub mod events;
pub mod host;
pub mod iis;
pub mod pattern;
pub mod roles;
pub mod secrets;
pub mod services;
pub mod setup;
#[cfg(test)]
pub mod testing;

use crate::facts::{Confidence, Evidence, Explains, FactSet, Finding, FindingKind, Severity};
use crate::parse::Interest;
use crate::timeline::Clock;

/// What a rule is, independent of any bundle: shown by `exhume rules`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
    pub kind: FindingKind,
    pub severity: Severity,
    /// What the rule looks for.
    pub looks_for: String,
    /// Why it matters.
    pub why: String,
    /// What to do: typed actions (see [`crate::repair`]).
    pub fix: Vec<crate::repair::Action>,
    /// Public references (Microsoft Learn / KB titles).
    pub references: Vec<String>,
    /// Ids of findings this one explains when both are present; `id@subject` narrows the link
    /// to findings about that subject (one service of several, one process).
    pub explains: Vec<String>,
}

/// Everything a rule may look at.
pub struct Context<'a> {
    pub facts: &'a FactSet,
    pub clock: &'a Clock,
}

pub trait Rule: Send + Sync {
    fn meta(&self) -> &RuleMeta;
    /// Adds what this rule needs kept during parsing (setup-log lines, event ids).
    fn interest(&self, _interest: &mut InterestBuilder) {}
    fn check(&self, ctx: &Context<'_>) -> Vec<Finding>;
    /// The rule that reports the same cause from other evidence, when this one is a second
    /// way of seeing it: summaries over many bundles count both under that rule's id.
    fn same_cause_as(&self) -> Option<&str> {
        None
    }
}

impl RuleMeta {
    /// A finding of this rule with its defaults; `subject` narrows explains-links.
    pub fn finding(&self, subject: Option<&str>, evidence: Vec<Evidence>) -> Finding {
        Finding {
            id: self.id.clone(),
            title: self.title.clone(),
            kind: self.kind,
            severity: self.severity,
            confidence: Confidence::Medium,
            subject: subject.map(str::to_string),
            time: None,
            evidence,
            why: self.why.clone(),
            fix: self.fix.clone(),
            references: self.references.clone(),
            explains: self
                .explains
                .iter()
                .map(|e| match e.split_once('@') {
                    Some((id, subject)) => Explains::about(id, subject),
                    None => Explains::any(e),
                })
                .collect(),
        }
    }
}

/// Collects the interests of all rules into one [`Interest`].
#[derive(Default)]
pub struct InterestBuilder {
    setup_patterns: Vec<String>,
    interest: Interest,
}

impl InterestBuilder {
    pub fn setup_line(&mut self, regex: &str) {
        self.setup_patterns.push(regex.to_string());
    }
    pub fn event(&mut self, provider: &str, ids: &[u32]) {
        for id in ids {
            self.interest
                .events
                .ids
                .insert((provider.to_ascii_lowercase(), *id));
        }
    }
    pub fn provider(&mut self, provider: &str) {
        self.interest
            .events
            .providers
            .insert(provider.to_ascii_lowercase());
    }
    pub fn build(mut self) -> Result<Interest, regex::Error> {
        if !self.setup_patterns.is_empty() {
            self.interest.setup_lines = Some(crate::parse::LineSet::new(&self.setup_patterns)?);
        }
        Ok(self.interest)
    }
}

/// The built-in catalogue.
pub fn builtin() -> Vec<Box<dyn Rule>> {
    let mut rules: Vec<Box<dyn Rule>> = Vec::new();
    rules.extend(setup::rules());
    rules.extend(services::rules());
    rules.extend(events::rules());
    rules.extend(roles::rules());
    rules.extend(iis::rules());
    rules.extend(host::rules());
    rules.extend(catalog::rules());
    rules.extend(pattern::builtin());
    rules
}

/// Runs every rule; rules are independent, so they run in parallel.
pub fn run(rules: &[Box<dyn Rule>], ctx: &Context<'_>) -> Vec<Finding> {
    use rayon::prelude::*;
    let mut out: Vec<Finding> = rules.par_iter().flat_map(|r| r.check(ctx)).collect();
    catalog::drop_superseded(&mut out);
    out.sort_by_key(|a| a.key());
    out
}
