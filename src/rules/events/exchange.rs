//! Exchange's own Application-log events: ActiveSync errors, setup's component failures
//! (MSExchangeSetup 1002) and Watson crash reports of Exchange processes (MSExchange Common 4999).
//!
//! Only ids our references verify are named: MSExchangeSetup 1002, MSExchange Common 4999
//! (Watson report), ActiveSync 1008. The seed reports ActiveSync 1105, whose meaning no source
//! gives, so ActiveSync is read by level (errors and warnings), not by a list of ids.

use super::{Context, Rule, cite_events, earliest, events, id_tally, positional, run_at};
use crate::facts::{Confidence, Event, Fact, Finding, FindingKind, Severity, clip};
use crate::repair::{Action, Phase, common};
use crate::rules::{InterestBuilder, RuleMeta};
use std::collections::BTreeMap;

pub const ACTIVESYNC: &str = "MSExchange ActiveSync";
pub const SETUP: &str = "MSExchangeSetup";
pub const COMMON: &str = "MSExchange Common";

/// Critical (1), Error (2) and Warning (3); 0 is "log always", 4 and up informational.
fn is_problem_level(level: u8) -> bool {
    (1..=3).contains(&level)
}

/// MSExchange ActiveSync errors and warnings.
pub struct ActiveSyncErrors {
    meta: RuleMeta,
}

impl ActiveSyncErrors {
    pub const ID: &'static str = "activesync-errors";

    pub fn new() -> Self {
        ActiveSyncErrors {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Exchange ActiveSync logged errors".into(),
                kind: FindingKind::Symptom,
                severity: Severity::Medium,
                looks_for: "events of the MSExchange ActiveSync source at level Error or Warning (e.g. 1008, the documented AirSyncException warning, and 1105)".into(),
                why: "Mobile devices synchronise through /Microsoft-Server-ActiveSync; errors there after an upgrade usually follow from the web application's configuration (unexpanded paths in Sync\\web.config, authentication settings, the MSExchangeSyncAppPool) rather than from the devices.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Read the first error's text and fix the configuration it names (ClientAccess\\Sync\\web.config, the /Microsoft-Server-ActiveSync authentication settings, MSExchangeSyncAppPool)")
                        .if_cause(),
                    common::verify("the Remote Connectivity Analyzer's Exchange ActiveSync test passes and the ActiveSync errors stop").if_cause(),
                ],
                references: vec![
                    "Microsoft Learn: Exchange ActiveSync event 1008 (AirSyncException)".into(),
                    "Microsoft Remote Connectivity Analyzer".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ActiveSyncErrors {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ActiveSyncErrors {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.provider(ACTIVESYNC);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let found: Vec<(&Fact, &Event)> = events(ctx, &[ACTIVESYNC], &[])
            .filter(|(_, e)| is_problem_level(e.level))
            .collect();
        if found.is_empty() {
            return Vec::new();
        }
        let facts: Vec<&Fact> = found.iter().map(|(f, _)| *f).collect();
        let mut f = self.meta.finding(None, cite_events(&facts));
        f.title = format!(
            "Exchange ActiveSync logged {} errors and warnings ({})",
            found.iter().map(|(_, e)| e.weight()).sum::<u64>(),
            id_tally(found.iter().map(|(_, e)| *e))
        );
        f.confidence = Confidence::High;
        f.time = earliest(ctx, &facts);
        vec![f]
    }
}

/// MSExchangeSetup 1002 "Exchange Server component %1 failed. Error: %2".
pub struct SetupComponentFailedEvent {
    meta: RuleMeta,
}

impl SetupComponentFailedEvent {
    pub const ID: &'static str = "setup-component-failed-event";

    pub fn new() -> Self {
        SetupComponentFailedEvent {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Exchange setup logged a failed component".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "MSExchangeSetup 1002 \"Exchange Server component %1 failed. Error: %2\" in the Application log".into(),
                why: "Setup records each component it could not configure in the Application log as well as in ExchangeSetup.log; the event survives when the setup logs were deleted or overwritten, and its time places the failure on the timeline.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Find the same failure in C:\\ExchangeSetupLogs\\ExchangeSetup.log (search for the component name) and fix its cause")
                        .if_cause(),
                    common::rerun(),
                ],
                references: vec![
                    "Exchange 2010 Help: MSExchangeSetup events 1000, 1001, 1002".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for SetupComponentFailedEvent {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for SetupComponentFailedEvent {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.event(SETUP, &[1002]);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut by_component: BTreeMap<String, Vec<(&Fact, &Event)>> = BTreeMap::new();
        for (f, e) in events(ctx, &[SETUP], &[1002]) {
            let values = positional(e);
            let component = values
                .first()
                .map(|c| c.trim())
                .filter(|c| !c.is_empty())
                .unwrap_or("an unnamed component");
            by_component
                .entry(component.to_string())
                .or_default()
                .push((f, e));
        }
        by_component
            .into_iter()
            .map(|(component, evs)| {
                let facts: Vec<&Fact> = evs.iter().map(|(f, _)| *f).collect();
                let error = evs
                    .first()
                    .and_then(|(_, e)| positional(e).get(1).map(|s| s.trim().to_string()))
                    .filter(|s| !s.is_empty());
                let mut title = format!("Exchange setup component {component} failed");
                if let Some(err) = error {
                    title += &format!(": {}", clip(&err, 160));
                }
                let when = earliest(ctx, &facts);
                if let Some((_, run)) = when.and_then(|t| run_at(ctx, t)) {
                    title += &format!(
                        " (during the setup run started {})",
                        super::run_start(ctx, run)
                    );
                }
                let mut f = self.meta.finding(Some(&component), cite_events(&facts));
                f.title = title;
                f.confidence = Confidence::High;
                f.time = when;
                f
            })
            .collect()
    }
}

/// The parameters of a Watson report: `…, with parameters: E12, c-RTL-AMD64, 14.02.0247.005,
/// <process>, <module>, <method>, <exception>, …`.
struct Watson<'a> {
    process: Option<&'a str>,
    module: Option<&'a str>,
    exception: Option<&'a str>,
}

fn watson(text: &str) -> Watson<'_> {
    let params: Vec<&str> = text
        .split_once("with parameters:")
        .map(|(_, rest)| rest.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let nonempty = |s: &&str| !s.is_empty();
    Watson {
        process: params.get(3).copied().filter(nonempty),
        module: params.get(4).copied().filter(nonempty),
        exception: params
            .iter()
            .copied()
            .find(|p| p.ends_with("Exception") || p.contains("Exception."))
            .or_else(|| params.get(6).copied().filter(nonempty)),
    }
}

/// MSExchange Common 4999: an Exchange process crashed and sent a Watson report.
pub struct ExchangeServiceCrash {
    meta: RuleMeta,
}

impl ExchangeServiceCrash {
    pub const ID: &'static str = "exchange-service-crash";

    pub fn new() -> Self {
        ExchangeServiceCrash {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An Exchange process crashed (Watson report)".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "MSExchange Common 4999 \"Watson report about to be sent for process id: …, with parameters: …\": the process, module and exception of an Exchange crash".into(),
                why: "An unhandled exception ended an Exchange process (a service or a w3wp application pool). After an update it often points at something the update changed or left half-done, e.g. Service Host crashing on expired certificates after the March 2022 SU (BlockedDeserializeTypeException).".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Search the exception and method from the report in Microsoft's known issues for the installed build (CSS-Exchange Emerging Issues, the release's KB)")
                        .if_cause(),
                    Action::new(Phase::Repair, "Restart the service or recycle the pool and check whether it crashes again (SCM 7031 and 7034 in the System log show the service side)")
                        .if_cause(),
                ],
                references: vec![
                    "CSS-Exchange: Emerging Issues (e.g. KB5013118, Service Host crash after the March 2022 SU)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ExchangeServiceCrash {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ExchangeServiceCrash {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.event(COMMON, &[4999]);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // By process; the distinct (module, exception) pairs seen.
        let mut by_process: BTreeMap<String, (Vec<&Fact>, Vec<String>)> = BTreeMap::new();
        for (f, e) in events(ctx, &[COMMON], &[4999]) {
            let text = positional(e).join(" ");
            if !text.contains("Watson report") {
                continue;
            }
            let w = watson(&text);
            let process = w.process.unwrap_or("an Exchange process").to_string();
            let what = match (w.exception, w.module) {
                (Some(x), Some(m)) => format!("{x} in {m}"),
                (Some(x), None) => x.to_string(),
                (None, Some(m)) => format!("a crash in {m}"),
                (None, None) => "a crash".to_string(),
            };
            let entry = by_process.entry(process).or_default();
            entry.0.push(f);
            if !entry.1.contains(&what) {
                entry.1.push(what);
            }
        }
        by_process
            .into_iter()
            .map(|(process, (facts, what))| {
                let mut f = self.meta.finding(Some(&process), cite_events(&facts));
                f.title = format!(
                    "{process} crashed: {} (MSExchange Common 4999 ×{})",
                    what.join("; "),
                    facts.iter().map(|f| super::weight(f)).sum::<u64>()
                );
                f.confidence = Confidence::High;
                f.time = earliest(ctx, &facts);
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::rules::testing::{SEED_FAILED_RUN, facts_from_log, run_rule};

    const T: &str = "2012-02-13T10:00:00Z";

    #[test]
    fn activesync_errors_and_warnings_are_counted_by_id() {
        let facts = set(vec![
            with_level(
                classic(1, T, ACTIVESYNC, 1105, &["An exception occurred"]),
                2,
            ),
            with_level(
                classic(2, T, ACTIVESYNC, 1105, &["An exception occurred"]),
                2,
            ),
            with_level(classic(3, T, ACTIVESYNC, 1008, &["AirSyncException"]), 3),
            // Informational events are not errors.
            with_level(classic(4, T, ACTIVESYNC, 1000, &["started"]), 4),
        ]);
        let f = run_rule(&ActiveSyncErrors::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title
                .contains("3 errors and warnings (1008 ×1, 1105 ×2)"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].evidence.len(), 3);
    }

    #[test]
    fn activesync_is_silent_on_information_and_other_sources() {
        let facts = set(vec![
            with_level(classic(4, T, ACTIVESYNC, 1000, &["started"]), 4),
            with_level(classic(5, T, "MSExchange OWA", 1105, &["x"]), 2),
        ]);
        assert!(run_rule(&ActiveSyncErrors::new(), &facts).is_empty());
    }

    #[test]
    fn setup_1002_names_the_component_and_the_run() {
        let mut facts = facts_from_log(SEED_FAILED_RUN);
        facts.facts.push(classic(
            300,
            "2012-02-12T21:15:50Z",
            SETUP,
            1002,
            &[
                "BridgeheadRoleSetterComponent",
                "Cannot start service MSExchangeServiceHost on computer '.'.",
            ],
        ));
        let f = run_rule(&SetupComponentFailedEvent::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].subject.as_deref(),
            Some("BridgeheadRoleSetterComponent")
        );
        assert!(
            f[0].title
                .contains("Cannot start service MSExchangeServiceHost")
        );
        assert!(
            f[0].title
                .contains("during the setup run started 2012-02-12 21:10")
        );
    }

    #[test]
    fn setup_started_and_completed_events_are_not_failures() {
        let facts = set(vec![
            classic(1, T, SETUP, 1000, &["14.2.247.5"]),
            classic(2, T, SETUP, 1001, &["14.2.247.5"]),
        ]);
        assert!(run_rule(&SetupComponentFailedEvent::new(), &facts).is_empty());
    }

    #[test]
    fn watson_4999_names_process_and_exception() {
        let report = "Watson report about to be sent for process id: 4321, with parameters: E12, c-RTL-AMD64, 15.01.2375.024, M.Exchange.ServiceHost, M.Exchange.Diagnostics, M.E.D.ChainedSerializationBinder.LoadType, M.E.Diagnostics.BlockedDeserializeTypeException, 1d5c, 15.01.2375.024.";
        let facts = set(vec![
            classic(10, T, COMMON, 4999, &[report]),
            classic(11, T, COMMON, 4999, &[report]),
        ]);
        let f = run_rule(&ExchangeServiceCrash::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("M.Exchange.ServiceHost"));
        assert!(
            f[0].title.contains(
                "M.E.Diagnostics.BlockedDeserializeTypeException in M.Exchange.Diagnostics"
            ),
            "{}",
            f[0].title
        );
        assert!(f[0].title.contains("×2"));
    }

    #[test]
    fn other_msexchange_common_events_are_not_crashes() {
        let facts = set(vec![
            classic(12, T, COMMON, 106, &["Performance counter updating error."]),
            classic(13, T, COMMON, 4999, &["Some other text without a report"]),
        ]);
        assert!(run_rule(&ExchangeServiceCrash::new(), &facts).is_empty());
    }
}
