//! How the last setup run ended.

use super::{Context, Rule, RuleMeta};
use crate::facts::{Confidence, Evidence, Finding, FindingKind, RunOutcome, Severity};
use crate::repair::{Action, Phase, common};

/// What a setup run that stopped half-way leaves behind, whatever stopped it.
const LEFT_BEHIND: &[&str] = &[
    "role-config-incomplete",
    "binaries-upgraded-config-not",
    "webconfig-unexpanded-token",
    "iis-exppw-missing",
    "apppool-misconfigured",
    "exchange-service-disabled",
    "exchange-service-stopped",
    "services-left-disabled-by-setup",
    "server-left-offline",
    // The same failure as the Application log records it (MSExchangeSetup 1002).
    "setup-component-failed-event",
];

pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(SetupStopped::new()),
        Box::new(SetupInterrupted::new()),
    ]
}

/// The last run of a setup log stopped on critical errors.
pub struct SetupStopped {
    meta: RuleMeta,
}

impl SetupStopped {
    pub const ID: &'static str = "setup-stopped-critical";

    pub fn new() -> Self {
        SetupStopped {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Setup stopped on critical errors".into(),
                kind: FindingKind::Symptom,
                severity: Severity::Critical,
                looks_for: "the last run in ExchangeSetup.log ending with \"Setup is stopping now because of one or more critical errors\" or \"setup operation didn't complete\"".into(),
                why: "Exchange setup (including a service pack or cumulative update) uninstalls the old build and configures the new one role by role; when it stops half-way the roles it had not configured are left unusable until setup is run to completion.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Read the first critical error of the run in ExchangeSetup.log and remove its cause").if_cause(),
                    common::rerun(),
                ],
                references: vec!["Microsoft Learn: Troubleshoot Exchange Server setup failures (ExchangeSetup.log)".into()],
                explains: LEFT_BEHIND.iter().map(|s| s.to_string()).collect(),
            },
        }
    }
}

impl Default for SetupStopped {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for SetupStopped {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (fact, run) in ctx.facts.last_runs() {
            if run.outcome != RunOutcome::Failed {
                continue;
            }
            let (first, task) = ctx.facts.stop_of(fact, run);
            let mut evidence = Vec::new();
            if let Some((f, _)) = first {
                evidence.push(f.evidence.clone());
            }
            evidence.push(Evidence::new(
                fact.evidence.locator.clone(),
                format!(
                    "run of Exchange {} setup {} ({}), outcome: failed",
                    run.product,
                    run.version.as_deref().unwrap_or("?"),
                    run.mode.as_deref().unwrap_or("mode not logged")
                ),
            ));
            let mut finding = self.meta.finding(task.as_deref(), evidence);
            // `BridgeheadRoleSetterComponent___<guid>` names the component better than the
            // `Component=EXCHANGE14:\…` path, which is the same for every error.
            let component = first.and_then(|(_, e)| {
                e.reference_id
                    .as_deref()
                    .and_then(|r| r.split("___").next())
                    .or(e.component.as_deref())
            });
            finding.title = match (&task, component) {
                (Some(t), Some(c)) => format!(
                    "Setup {} stopped at {t} ({c}) on critical errors",
                    run.version.as_deref().unwrap_or("")
                ),
                (Some(t), None) => format!(
                    "Setup {} stopped at {t} on critical errors",
                    run.version.as_deref().unwrap_or("")
                ),
                _ => "Setup stopped on critical errors".to_string(),
            }
            .replace("Setup  ", "Setup ");
            finding.confidence = Confidence::High;
            finding.time = first
                .and_then(|(f, _)| f.time)
                .or(fact.time)
                .map(|t| ctx.clock.to_utc(t));
            out.push(finding);
        }
        out
    }
}

/// The last run has no end marker: setup was killed, the server restarted, or the log was cut.
pub struct SetupInterrupted {
    meta: RuleMeta,
}

impl SetupInterrupted {
    pub const ID: &'static str = "setup-interrupted";

    pub fn new() -> Self {
        SetupInterrupted {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Setup run was interrupted (no end marker)".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "the last run in ExchangeSetup.log with neither \"End of Setup\" nor a completion statement".into(),
                why: "A run that ends without \"End of Setup\" was killed, lost power, rebooted, or is still running; roles may be half-configured exactly as after a failure.".into(),
                fix: vec![
                    Action::new(Phase::Prepare, "Check that no setup process is still running (the command lists none)")
                        .command("Get-Process ExSetup, Setup -ErrorAction SilentlyContinue"),
                    common::rerun(),
                ],
                references: vec!["Microsoft Learn: Exchange setup watermark and resuming setup".into()],
                explains: LEFT_BEHIND.iter().map(|s| s.to_string()).collect(),
            },
        }
    }
}

impl Default for SetupInterrupted {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for SetupInterrupted {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        ctx.facts
            .last_runs()
            .filter(|(_, r)| r.outcome == RunOutcome::Interrupted)
            .map(|(fact, run)| {
                let mut f = self.meta.finding(
                    None,
                    vec![Evidence::new(
                        fact.evidence.locator.clone(),
                        format!(
                            "run of {} setup {} {} and has no end marker",
                            run.product,
                            run.version.as_deref().unwrap_or("?"),
                            run.started()
                        ),
                    )],
                );
                f.time = fact.time.map(|t| ctx.clock.to_utc(t));
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{facts_from_log, run_rule};

    #[test]
    fn stopped_fires_on_failed_last_run_only() {
        let failed = facts_from_log(crate::rules::testing::SEED_FAILED_RUN);
        let f = run_rule(&SetupStopped::new(), &failed);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("Install-BridgeheadRole"));
        assert!(
            f[0].evidence[0]
                .locator
                .to_string()
                .contains("ExchangeSetup.log:")
        );

        let ok = facts_from_log(crate::rules::testing::SUCCESSFUL_RUN);
        assert!(run_rule(&SetupStopped::new(), &ok).is_empty());
        assert!(run_rule(&SetupInterrupted::new(), &ok).is_empty());
    }

    #[test]
    fn interrupted_fires_without_end_marker() {
        let cut = "[01/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n";
        assert_eq!(
            run_rule(&SetupInterrupted::new(), &facts_from_log(cut)).len(),
            1
        );
    }
}
