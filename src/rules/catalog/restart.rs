//! A run with no end marker, and a restart recorded in the System log right after it started:
//! the restart is what cut setup off (Windows Update, an operator, a power loss).

use super::{STOP_EXPLAINS, SetupInterrupted};
use crate::facts::{Confidence, Evidence, Fact, Finding, FindingKind, RunOutcome, Severity};
use crate::repair::{Action, Change, Phase};
use crate::rules::{Context, InterestBuilder, Rule, RuleMeta};
use chrono::Duration;

/// How long after a run starts a restart still counts as its end: a cumulative update takes
/// one to three hours, a slow one longer.
const WINDOW_HOURS: i64 = 12;

/// (provider, id, what it says) of the restart and shutdown events this rule reads.
const RESTARTS: &[(&str, u32, &str)] = &[
    ("USER32", 1074, "a process or user initiated a restart"),
    (
        "EventLog",
        6008,
        "the previous system shutdown was unexpected",
    ),
    (
        "Microsoft-Windows-Kernel-Power",
        41,
        "the system rebooted without cleanly shutting down first",
    ),
];

/// The last setup run was interrupted by a restart.
pub struct SetupInterruptedByRestart {
    meta: RuleMeta,
}

impl SetupInterruptedByRestart {
    pub const ID: &'static str = "setup-interrupted-by-restart";

    pub fn new() -> Self {
        let mut explains = vec![SetupInterrupted::ID.to_string()];
        explains.extend(STOP_EXPLAINS.iter().skip(1).map(|s| s.to_string()));
        SetupInterruptedByRestart {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "The server restarted while setup was running".into(),
                kind: FindingKind::Cause,
                severity: Severity::High,
                looks_for: "the last run of ExchangeSetup.log has no end marker, and the System log records a restart within 12 hours after it started: USER32 1074 (restart initiated, with the process and reason), EventLog 6008 (unexpected shutdown) or Kernel-Power 41".into(),
                why: "Setup cannot resume by itself after a restart: the run simply stops, leaving roles half-configured, Exchange services disabled by ServiceControl.ps1 and, on 2013 and later, the server component ServerWideOffline Inactive. Windows Update installing on schedule, an operator, or a power loss are the usual reasons.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Stop what restarted the server during setup (USER32 1074 names the process and the reason): pause automatic updates and maintenance windows while Exchange updates run")
                        .changes(&[Change::Policy]),
                    Action::new(Phase::Rerun, "Re-run setup").needs("no restart until it has completed"),
                ],
                references: vec![
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                    "Microsoft Learn: Event ID 1074, 6008 and Kernel-Power 41 (why a server restarted)".into(),
                ],
                explains,
            },
        }
    }
}

impl Default for SetupInterruptedByRestart {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for SetupInterruptedByRestart {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for (provider, id, _) in RESTARTS {
            i.event(provider, &[*id]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (run_fact, run) in ctx.facts.last_runs() {
            if run.outcome != RunOutcome::Interrupted {
                continue;
            }
            let Some(start) = run_fact.time.map(|t| ctx.clock.to_utc(t)) else {
                continue;
            };
            let until = start + Duration::hours(WINDOW_HOURS);
            let mut restarts: Vec<(&Fact, &str, String)> = Vec::new();
            for (fact, ev) in ctx.facts.events() {
                let Some((_, _, what)) = RESTARTS
                    .iter()
                    .find(|(p, id, _)| ev.provider.eq_ignore_ascii_case(p) && ev.event_id == *id)
                else {
                    continue;
                };
                let Some(t) = fact.time.map(|t| ctx.clock.to_utc(t)) else {
                    continue;
                };
                if t >= start && t <= until {
                    // USER32 1074: process, computer, reason, code, type, comment, user.
                    let who = if ev.event_id == 1074 {
                        let v: Vec<&str> = ev.data.values().map(String::as_str).collect();
                        format!(
                            " ({}{})",
                            v.first().copied().unwrap_or("?"),
                            v.get(2).map(|r| format!(", {r}")).unwrap_or_default()
                        )
                    } else {
                        String::new()
                    };
                    restarts.push((fact, what, who));
                }
            }
            let Some(first) = restarts
                .iter()
                .min_by_key(|(f, _, _)| f.time.map(|t| ctx.clock.to_utc(t)))
            else {
                continue;
            };
            let mut evidence = vec![Evidence::new(
                run_fact.evidence.locator.clone(),
                format!(
                    "run of Exchange {} setup {} {} and has no end marker",
                    run.product,
                    run.version.as_deref().unwrap_or("?"),
                    run.started()
                ),
            )];
            for (f, what, who) in &restarts {
                evidence.push(Evidence::new(
                    f.evidence.locator.clone(),
                    format!("{what}{who}: {}", f.evidence.excerpt),
                ));
            }
            let mut f = self.meta.finding(None, evidence);
            f.title = format!(
                "The server restarted while setup {} was running: {}{}",
                run.version.as_deref().unwrap_or(""),
                first.1,
                first.2
            );
            f.confidence = Confidence::High;
            f.time = first.0.time.map(|t| ctx.clock.to_utc(t));
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Event, FactKind, FactSet, Locator, Position, Stamp};
    use crate::rules::testing::{SEED_FAILED_RUN, facts_from_log, run_rule};
    use chrono::{TimeZone, Utc};
    use std::collections::BTreeMap;

    const CUT: &str = "[11/14/2022 21:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup
[11/14/2022 21:00:00.0100] [0] Setup version: 15.1.2507.6.
[11/14/2022 21:40:00.0000] [1] Beginning processing Install-MailboxRole
";

    fn restart(y: i32, mo: u32, d: u32, h: u32) -> Fact {
        let mut data = BTreeMap::new();
        for (i, v) in [
            "C:\\Windows\\system32\\wuauclt.exe (EX16)",
            "EX16",
            "Operating System: Service pack (Planned)",
        ]
        .iter()
        .enumerate()
        {
            data.insert(i.to_string(), v.to_string());
        }
        Fact {
            time: Some(Stamp::Utc(
                Utc.with_ymd_and_hms(y, mo, d, h, 5, 0)
                    .single()
                    .expect("time"),
            )),
            evidence: Evidence::new(
                Locator::new("evtx/System.evtx", Position::Record(4711)),
                "System 1074 USER32",
            ),
            kind: FactKind::Event(Event {
                repeats: None,
                channel: "System".into(),
                provider: "USER32".into(),
                event_id: 1074,
                qualifiers: Some(32768),
                level: 4,
                record_id: 4711,
                computer: "EX16".into(),
                data,
            }),
        }
    }

    fn with(mut facts: FactSet, f: Fact) -> FactSet {
        facts.facts.push(f);
        facts
    }

    #[test]
    fn a_restart_right_after_the_run_started_is_the_cause() {
        let facts = with(facts_from_log(CUT), restart(2022, 11, 14, 22));
        let f = run_rule(&SetupInterruptedByRestart::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("wuauclt.exe"), "{}", f[0].title);
        assert_eq!(
            f[0].evidence[1].locator.to_string(),
            "evtx/System.evtx record 4711"
        );
        assert!(f[0].explains.iter().any(|e| e.id == SetupInterrupted::ID));
    }

    #[test]
    fn restarts_outside_the_run_or_after_a_failed_run_are_not_blamed() {
        // The week before the run, or two days after it.
        for (d, h) in [(7, 9), (16, 22)] {
            let facts = with(facts_from_log(CUT), restart(2022, 11, d, h));
            assert!(run_rule(&SetupInterruptedByRestart::new(), &facts).is_empty());
        }
        // A run that ended on its own error was not cut off by the restart.
        let facts = with(facts_from_log(SEED_FAILED_RUN), restart(2012, 2, 12, 12));
        assert!(run_rule(&SetupInterruptedByRestart::new(), &facts).is_empty());
        // No restart at all: the interruption stays unexplained.
        assert!(run_rule(&SetupInterruptedByRestart::new(), &facts_from_log(CUT)).is_empty());
    }
}
