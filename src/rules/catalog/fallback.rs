//! The last resort: setup stopped on an error no catalogue rule recognises. The finding still
//! names the task and quotes the error text verbatim, which is what an engineer searches for.

use super::STOP_EXPLAINS;
use crate::facts::{Confidence, Evidence, Finding, FindingKind, RunOutcome, Severity, clip};
use crate::repair::{Action, Phase, common};
use crate::rules::{Context, Rule, RuleMeta};

/// Most `[ERROR]` messages quoted one per evidence line.
const MAX_QUOTED: usize = 6;

/// The last run stopped on a critical error that no specific cause explains.
pub struct SetupErrorUnrecognised {
    meta: RuleMeta,
}

impl SetupErrorUnrecognised {
    pub const ID: &'static str = "setup-error-unrecognised";

    pub fn new() -> Self {
        SetupErrorUnrecognised {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Setup stopped on an error no catalogue rule recognises".into(),
                kind: FindingKind::Cause,
                severity: Severity::High,
                looks_for: "the last run of ExchangeSetup.log stopped on a critical [ERROR] and no more specific cause explains the stop: reports the failing task, the failing command and the error text verbatim (dropped as soon as a specific cause is found)".into(),
                why: "None of exhume's known failure patterns matches this error, so the text setup logged is the best lead. Setup stopped in the task named here; the roles it had not configured yet are left unusable until setup completes.".into(),
                // The first action is the error itself, filled in by `check`.
                fix: vec![
                    Action::new(Phase::Cause, "<verbatim>"),
                    Action::new(Phase::Cause, "Search for that exact text (without server names and GUIDs) in the Exchange documentation and Microsoft Q&A, read the Application log around the time of the error, and remove the cause it points to; CSS-Exchange SetupLogReviewer.ps1 prints the same error context"),
                    common::rerun(),
                ],
                references: vec![
                    "CSS-Exchange SetupLogReviewer: Write-LastErrorInformation (the error context when no known cause matches)".into(),
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                ],
                explains: STOP_EXPLAINS.iter().map(|s| s.to_string()).collect(),
            },
        }
    }
}

impl Default for SetupErrorUnrecognised {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for SetupErrorUnrecognised {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (run_fact, run) in ctx.facts.last_runs() {
            if run.outcome != RunOutcome::Failed {
                continue;
            }
            let (stop, task) = ctx.facts.stop_of(run_fact, run);
            let mut evidence = Vec::new();
            let mut quoted: Vec<String> = Vec::new();
            if let Some((fact, err)) = stop {
                evidence.push(fact.evidence.clone());
                for m in err.messages.iter().filter(|m| !m.trim().is_empty()) {
                    if !quoted.contains(m) {
                        quoted.push(m.clone());
                    }
                }
                for m in quoted.iter().take(MAX_QUOTED) {
                    evidence.push(Evidence::new(
                        fact.evidence.locator.clone(),
                        format!("[ERROR] {m}"),
                    ));
                }
                if let Some(cmd) = &err.command {
                    let one_line = cmd.split_whitespace().collect::<Vec<_>>().join(" ");
                    evidence.push(Evidence::new(
                        fact.evidence.locator.clone(),
                        format!("while running: {one_line}"),
                    ));
                }
            } else {
                evidence.push(Evidence::new(
                    run_fact.evidence.locator.clone(),
                    format!(
                        "run of Exchange {} setup {} failed without an [ERROR] line",
                        run.product,
                        run.version.as_deref().unwrap_or("?")
                    ),
                ));
            }
            let mut f = self.meta.finding(task.as_deref(), evidence);
            let at = task.as_deref().unwrap_or("an unknown task");
            f.title = match quoted.first() {
                Some(first) => format!(
                    "Setup stopped at {at} on an unrecognised error: {}",
                    clip(first, 160)
                ),
                None => format!("Setup stopped at {at} without logging the error"),
            };
            let verbatim = match stop {
                Some((fact, _)) if !quoted.is_empty() => format!(
                    "Read the error setup stopped on ({}), verbatim: {}",
                    fact.evidence.locator,
                    quoted.join(" / ")
                ),
                _ => format!(
                    "Read the end of the run ({}) and the Application log for the reason setup stopped",
                    run_fact.evidence.locator
                ),
            };
            f.fix = f
                .fix
                .iter()
                .map(|a| a.replace("<verbatim>", &verbatim))
                .collect();
            f.confidence = Confidence::Low;
            f.time = stop
                .and_then(|(fact, _)| fact.time)
                .or(run_fact.time)
                .map(|t| ctx.clock.to_utc(t));
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{SUCCESSFUL_RUN, facts_from_log, run_rule};

    const ODD_FAILURE: &str = "[03/04/2021 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup
[03/04/2021 10:00:00.0100] [0] Setup version: 15.1.2242.4.
[03/04/2021 10:20:00.0000] [1] Beginning processing Install-MailboxRole
[03/04/2021 10:21:00.0000] [1] [ERROR] The type initializer for 'Microsoft.Exchange.Data.Directory.Globals' threw an exception.
[03/04/2021 10:21:00.0000] [1] [ERROR] Unable to cast object of type 'System.String' to type 'System.Guid'.
[03/04/2021 10:21:00.0001] [1] [ERROR-REFERENCE] Id=MailboxComponent___6d72d16b9fd24f6a9dc5b1a8cdc1d53d Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup
[03/04/2021 10:21:00.0001] [1] Setup is stopping now because of one or more critical errors.
[03/04/2021 10:21:00.0002] [1] Ending processing Install-MailboxRole
[03/04/2021 10:21:02.0000] [0] The Exchange Server setup operation didn't complete.  More details can be found in ExchangeSetup.log located in the <SystemDrive>:\\ExchangeSetupLogs folder.
[03/04/2021 10:21:02.0000] [0] End of Setup
";

    #[test]
    fn quotes_the_task_and_the_error_verbatim() {
        let f = run_rule(&SetupErrorUnrecognised::new(), &facts_from_log(ODD_FAILURE));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("Install-MailboxRole"));
        assert!(f[0].title.contains("Install-MailboxRole"), "{}", f[0].title);
        assert!(f[0].title.contains("The type initializer for 'Microsoft.Exchange.Data.Directory.Globals' threw an exception."));
        assert!(
            f[0].fix[0]
                .contains("Unable to cast object of type 'System.String' to type 'System.Guid'.")
        );
        assert!(
            f[0].evidence[0]
                .locator
                .to_string()
                .starts_with("setup/ExchangeSetup.log:4-")
        );
        assert_eq!(f[0].confidence, Confidence::Low);
    }

    #[test]
    fn silent_when_the_last_run_completed() {
        assert!(
            run_rule(
                &SetupErrorUnrecognised::new(),
                &facts_from_log(SUCCESSFUL_RUN)
            )
            .is_empty()
        );
        // A failure in an earlier run that a later run repaired is history, not the state.
        let both = format!("{ODD_FAILURE}{SUCCESSFUL_RUN}");
        assert!(run_rule(&SetupErrorUnrecognised::new(), &facts_from_log(&both)).is_empty());
    }
}
