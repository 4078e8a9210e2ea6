//! The diagnosis: what reports render. Built by [`crate::correlate`], no I/O here.

use crate::bundle::{Custody, Form};
use crate::facts::{Confidence, Evidence, Finding, Problem, RunOutcome, Severity, Skipped};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

/// Version of the JSON report schema (`docs/report-schema.md`).
pub const SCHEMA_VERSION: &str = "2.0";

/// What the bundle shows, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A cause or symptom of high or critical severity was found.
    Failed,
    /// Only medium or lower findings.
    Issues,
    /// Nothing found and the evidence needed to say so was read.
    Healthy,
    /// No failure found, and evidence needed for a verdict is missing, unreadable or read only in
    /// part (lesser issues may have been found: without that evidence they are not the story).
    Inconclusive,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleInfo {
    pub path: String,
    pub form: Form,
    pub sha256: Option<String>,
    pub host: Option<String>,
    pub has_manifest: bool,
    pub custody: Option<Custody>,
    pub files: usize,
    /// Where the bundle was found inside the input (a zip inside the zip, a folder one level
    /// down), when it was not the input itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inside: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClockInfo {
    pub offset_minutes: i32,
    pub source: crate::timeline::ClockSource,
    pub description: String,
}

/// One link in a root cause's chain: a finding it explains, `depth` steps away.
#[derive(Debug, Clone, Serialize)]
pub struct ChainLink {
    pub key: String,
    pub title: String,
    pub depth: usize,
    /// The finding that explains this one directly.
    pub via: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RootCause {
    pub id: String,
    pub key: String,
    pub title: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub subject: Option<String>,
    pub time: Option<DateTime<Utc>>,
    /// Keys of every finding this cause explains, directly or through others.
    pub explains: Vec<String>,
    pub chain: Vec<ChainLink>,
    pub evidence: Vec<Evidence>,
    pub fix: Vec<crate::repair::Action>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    pub step: usize,
    pub phase: crate::repair::Phase,
    /// What to do.
    pub action: String,
    /// The exact command, valid as written in `shell`.
    pub command: Option<String>,
    pub shell: crate::repair::Shell,
    /// What the step acts on (services, files, pools, keys).
    pub targets: Vec<String>,
    pub changes: Vec<crate::repair::Change>,
    /// What must be done or true first.
    pub needs: Vec<String>,
    /// A sub-list nested under the step.
    pub items: Vec<String>,
    /// Keys of the findings this step comes from.
    pub from: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub log: String,
    pub index: usize,
    pub product: String,
    pub version: Option<String>,
    pub mode: Option<String>,
    /// The run's start; when `start_known` is false, only the time of its first line read (the
    /// log begins after the run started). None for console text, which has no time.
    pub start_local: Option<NaiveDateTime>,
    pub start_utc: Option<DateTime<Utc>>,
    pub start_known: bool,
    pub end_utc: Option<DateTime<Utc>>,
    pub outcome: RunOutcome,
    pub failed_task: Option<String>,
    pub errors: usize,
    pub locator: String,
    /// What had to be assumed to read the run.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventCount {
    pub channel: String,
    pub provider: String,
    pub event_id: u32,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub schema_version: &'static str,
    pub exhume_version: &'static str,
    pub bundle: BundleInfo,
    pub clock: ClockInfo,
    pub status: Status,
    /// The headline: at most two sentences naming the root cause and the failed step.
    pub verdict: String,
    /// What the root cause broke, one line each.
    pub broke: Vec<String>,
    /// The kinds of evidence read ("setup logs", "event logs", …).
    pub checked: Vec<String>,
    /// Kinds of evidence a verdict depends on that the bundle does not have at all.
    pub not_in_bundle: Vec<String>,
    pub root_causes: Vec<RootCause>,
    /// Risks and causes that explain nothing present but likely made things worse.
    pub contributing: Vec<String>,
    /// Symptoms no cause explains: listed, never hidden.
    pub unexplained: Vec<String>,
    pub findings: Vec<Finding>,
    pub plan: Vec<PlanStep>,
    pub runs: Vec<RunSummary>,
    /// Evidence a verdict needs that was missing or unreadable.
    pub missing_evidence: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub problems: Vec<Problem>,
    pub used: Vec<String>,
    /// Setup errors and the events near them that concern the same thing.
    pub time_links: Vec<crate::timeline::TimeLink>,
    pub event_counts: Vec<EventCount>,
}

impl Diagnosis {
    pub fn finding(&self, key: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.key() == key)
    }
}
