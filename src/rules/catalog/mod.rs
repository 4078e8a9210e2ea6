//! The known-issue catalogue's structural rules: what a regex over one line cannot say.
//!
//! Most of the catalogue is declarative (`rules/*.toml`, see [`super::pattern`]); the rules here
//! need state across lines or files: the generic fallback for a critical error nothing else
//! recognises, what a stopped or interrupted run left behind (services disabled by
//! ServiceControl.ps1, the server component state `ServerWideOffline` left `Inactive`), the
//! web.config update step, and assembly load failures checked against the file inventory.

mod fallback;
mod left_behind;
mod restart;
#[cfg(test)]
mod pattern_tests;
#[cfg(test)]
mod pattern_event_tests;
mod readiness;
mod web;

pub use fallback::SetupErrorUnrecognised;
pub use left_behind::{ServerLeftOffline, ServicesLeftDisabled};
pub use restart::SetupInterruptedByRestart;
pub use web::{ExchangeAssemblyLoadFailed, UpdateConfigFilesFailed};

use super::Rule;
use super::setup::{SetupInterrupted, SetupStopped};
use crate::facts::{FactSet, Finding, FindingKind, RunOutcome};

pub fn rules() -> Vec<Box<dyn Rule>> {
    let mut v: Vec<Box<dyn Rule>> = vec![
        Box::new(SetupErrorUnrecognised::new()),
        Box::new(ServicesLeftDisabled::new()),
        Box::new(ServerLeftOffline::new()),
        Box::new(SetupInterruptedByRestart::new()),
        Box::new(UpdateConfigFilesFailed::new()),
        Box::new(ExchangeAssemblyLoadFailed::new()),
    ];
    v.extend(readiness::rules());
    v
}

/// What a cause that stops setup also explains: the failure itself and what the stopped run
/// leaves behind. Catalogue causes (Rust and TOML) list these.
pub const STOP_EXPLAINS: &[&str] = &[
    SetupStopped::ID,
    ServicesLeftDisabled::ID,
    ServerLeftOffline::ID,
];

/// The generic fallback stands in for a specific cause only while none is present: when any
/// other cause explains the stopped run, the fallback is dropped, so it never competes with a
/// cause that actually recognised the error (a user-supplied `--rules` cause included).
pub fn drop_superseded(findings: &mut Vec<Finding>) {
    let specific = findings.iter().any(|f| {
        f.id != SetupErrorUnrecognised::ID
            && f.kind == FindingKind::Cause
            && f.explains.iter().any(|e| e.id == SetupStopped::ID)
    });
    if specific {
        findings.retain(|f| f.id != SetupErrorUnrecognised::ID);
    }
}

/// Did the last run of any setup log fail or stop without an end marker? `None` when the bundle
/// has no setup log at all.
fn last_run_outcome(facts: &FactSet) -> Option<RunOutcome> {
    let outcomes: Vec<RunOutcome> = facts.last_runs().map(|(_, r)| r.outcome).collect();
    if outcomes.is_empty() {
        None
    } else if outcomes.contains(&RunOutcome::Failed) {
        Some(RunOutcome::Failed)
    } else if outcomes.contains(&RunOutcome::Interrupted) {
        Some(RunOutcome::Interrupted)
    } else {
        outcomes.first().copied()
    }
}

/// Something a run left behind is the cause to act on when the run was interrupted (nothing
/// else explains it), and a symptom of the failure when a run stopped on an error (the cause of
/// that error explains it).
fn left_behind_kind(facts: &FactSet) -> FindingKind {
    match last_run_outcome(facts) {
        Some(RunOutcome::Failed) => FindingKind::Symptom,
        _ => FindingKind::Cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Confidence, Explains, Severity};

    fn finding(id: &str, kind: FindingKind, explains: &[&str]) -> Finding {
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
            fix: vec![],
            references: vec![],
            explains: explains.iter().map(|e| Explains::any(e)).collect(),
        }
    }

    #[test]
    fn the_fallback_gives_way_to_a_specific_cause() {
        let generic = finding(
            SetupErrorUnrecognised::ID,
            FindingKind::Cause,
            &[SetupStopped::ID],
        );
        let stopped = finding(SetupStopped::ID, FindingKind::Symptom, &[]);
        let specific = finding("disk-space-low", FindingKind::Cause, &[SetupStopped::ID]);

        let mut alone = vec![generic.clone(), stopped.clone()];
        drop_superseded(&mut alone);
        assert_eq!(alone.len(), 2, "no specific cause: the fallback stays");

        let mut both = vec![generic.clone(), stopped.clone(), specific];
        drop_superseded(&mut both);
        assert!(both.iter().all(|f| f.id != SetupErrorUnrecognised::ID));

        // A risk or a symptom that mentions the stop does not silence it.
        let risk = finding(
            "eventlog-source-access-denied",
            FindingKind::Risk,
            &[SetupStopped::ID],
        );
        let mut with_risk = vec![generic, stopped, risk];
        drop_superseded(&mut with_risk);
        assert!(with_risk.iter().any(|f| f.id == SetupErrorUnrecognised::ID));
    }
}
