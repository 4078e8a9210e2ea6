//! What a stopped or interrupted setup leaves behind on the server, even once the cause is
//! fixed: services that ServiceControl.ps1 disabled and never re-enabled, and the server
//! component state `ServerWideOffline` set to `Inactive` and never set back.

use super::left_behind_kind;
use crate::facts::{
    Confidence, Evidence, Explains, Fact, Finding, FindingKind, RunOutcome, Severity,
};
use crate::repair::{Action, Phase, common};
use crate::rules::{Context, InterestBuilder, Rule, RuleMeta};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// `[09:51:04] Disabling service 'MSExchangeADTopology'.` and the matching re-enable lines of
/// ServiceControl.log (the time prefix is optional: only the verb and the quoted name matter).
const SERVICE_CONTROL_LINE: &str =
    r"^(?:\[[^\]]{1,30}\] ?)?(?:Disabling|Enabling|Re-enabling) service '[^']+'";

static SERVICE_ACTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(Disabling|Enabling|Re-enabling) service '([^']+)'").expect("static regex")
});

/// Setup logs each cmdlet's parameters at nesting level 2; `Set-ServerComponentState` shows
/// `-Component:'ServerWideOffline' … -State:'Inactive'` in some order.
const COMPONENT_STATE_LINE: &str = r"^User specified parameters:.*-Component:'ServerWideOffline'";

static PARAM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-(\w+):'([^']*)'").expect("static regex"));

fn is_service_control_log(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with("servicecontrol"))
}

/// ServiceControl.ps1 disabled services and nothing re-enabled them.
pub struct ServicesLeftDisabled {
    meta: RuleMeta,
}

impl ServicesLeftDisabled {
    pub const ID: &'static str = "services-left-disabled-by-setup";

    pub fn new() -> Self {
        ServicesLeftDisabled {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Setup disabled services and never re-enabled them".into(),
                kind: FindingKind::Cause,
                severity: Severity::Critical,
                looks_for: "ServiceControl.log: services whose last logged action is \"Disabling service '<name>'\" (no later \"Enabling service\"), confirmed by StartMode=Disabled in services.csv when it is present; a cause when the last setup run was interrupted or when a later update (an SU) left them, a symptom when the last run stopped on an error".into(),
                why: "Before it replaces binaries, setup (and every security update) runs ServiceControl.ps1 to stop the Exchange, IIS and helper services (WinMgmt, RemoteRegistry, pla…) and set them to Disabled, and re-enables them at the end. A run that stops or is interrupted in between leaves them disabled: no mail flow, a blank OWA/EAC, and the next setup run may fail to start them.".into(),
                // Per service, filled in by `check`.
                fix: vec![common::rename_service_state(), common::rerun()],
                references: vec![
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                    "microsoft/CSS-Exchange issues #826 and #522 (services left disabled after a failed CU or SU)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ServicesLeftDisabled {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ServicesLeftDisabled {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.setup_line(SERVICE_CONTROL_LINE);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // The last action per service, in file order (the log accumulates every run).
        let mut lines: Vec<(&Fact, u64, &str)> = ctx
            .facts
            .setup_lines()
            .filter(|(f, _)| is_service_control_log(&f.evidence.locator.path))
            .map(|(f, l)| (f, l.line, l.text.as_str()))
            .collect();
        lines.sort_by(|a, b| {
            (a.0.evidence.locator.path.as_str(), a.1)
                .cmp(&(b.0.evidence.locator.path.as_str(), b.1))
        });
        let mut last: BTreeMap<String, (String, bool, &Fact)> = BTreeMap::new();
        for (fact, _, text) in lines {
            if let Some(c) = SERVICE_ACTION.captures(text) {
                let disabling = &c[1] == "Disabling";
                let name = c[2].to_string();
                last.insert(name.to_ascii_lowercase(), (name, disabling, fact));
            }
        }
        let mut left: Vec<(String, &Fact, Option<&Fact>)> = Vec::new();
        let mut confirmed = 0;
        for (name, disabling, fact) in last.into_values() {
            if !disabling {
                continue;
            }
            match ctx.facts.service(&name) {
                // services.csv says it was set back (by hand or by a later run): nothing left.
                Some((_, s)) if !s.is_disabled() => continue,
                Some((row, _)) => {
                    confirmed += 1;
                    left.push((name, fact, Some(row)));
                }
                None => left.push((name, fact, None)),
            }
        }
        if left.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = left.iter().map(|(n, _, _)| n.as_str()).collect();
        let mut evidence = Vec::new();
        for (_, line, row) in &left {
            evidence.push(line.evidence.clone());
            if let Some(row) = row {
                evidence.push(row.evidence.clone());
            }
        }
        let mut f = self.meta.finding(None, evidence);
        f.kind = left_behind_kind(ctx.facts);
        f.title = format!(
            "Setup disabled {} service{} and never re-enabled {}: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            if names.len() == 1 { "it" } else { "them" },
            names.join(", ")
        );
        let mut fix: Vec<Action> = names
            .iter()
            .map(|n| common::start_mode(n, common::usual_start_mode(n)))
            .collect();
        fix.append(&mut f.fix);
        f.fix = fix;
        for n in &names {
            for id in [
                "exchange-service-disabled",
                "exchange-service-stopped",
                "scm-service-start-failed",
                "service-start-type-disabled",
            ] {
                f.explains.push(Explains::about(id, n));
            }
        }
        f.explains.push(Explains::any("service-dependency-failed"));
        f.confidence = if confirmed == left.len() {
            Confidence::High
        } else if confirmed > 0 {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        if f.kind == FindingKind::Cause && f.confidence == Confidence::Low {
            // Without services.csv the log alone cannot tell whether someone re-enabled them.
            f.severity = Severity::High;
        }
        vec![f]
    }
}

// ------------------------------------------------------------------------------------------

/// Setup took the server offline (`ServerWideOffline` Inactive) and did not bring it back.
pub struct ServerLeftOffline {
    meta: RuleMeta,
}

impl ServerLeftOffline {
    pub const ID: &'static str = "server-left-offline";

    pub fn new() -> Self {
        ServerLeftOffline {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Setup left the server offline (ServerWideOffline Inactive)".into(),
                kind: FindingKind::Cause,
                severity: Severity::Critical,
                looks_for: "ExchangeSetup.log (2013 and later): in the last run, the last Set-ServerComponentState for ServerWideOffline has -State:'Inactive' and the run did not complete".into(),
                why: "At the start of a cumulative update setup sets the server component ServerWideOffline to Inactive (requester Functional) so that the server takes no client or mail traffic, and sets it back to Active at the end. When the run stops or is interrupted in between, services may run and databases mount, yet the server refuses mail (421 4.3.2 Service not active) and client connections.".into(),
                fix: vec![
                    common::rerun(),
                    Action::new(Phase::Repair, "Once setup has completed, check the server's component states: ServerWideOffline, HubTransport and the others should be Active (setup sets them back at the end)")
                        .target("<server>")
                        .command("Get-ServerComponentState <server> | Format-Table Component, State, LocalStates, RemoteStates")
                        .ems(),
                    Action::new(Phase::Repair, "If ServerWideOffline is still Inactive, bring it back (also for the Maintenance requester if an administrator set one)")
                        .target("<server>")
                        .command("Set-ServerComponentState <server> -Component ServerWideOffline -State Active -Requester <requester>")
                        .ems(),
                ],
                references: vec![
                    "Microsoft Learn: Set-ServerComponentState".into(),
                    "practical365: Server Component States During Cumulative Update Installation".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ServerLeftOffline {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ServerLeftOffline {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.setup_line(COMPONENT_STATE_LINE);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (run_fact, run) in ctx.facts.last_runs() {
            if run.outcome == RunOutcome::Completed {
                continue;
            }
            let path = run_fact.evidence.locator.path.as_str();
            let last = ctx
                .facts
                .setup_lines()
                .filter(|(f, l)| f.evidence.locator.path == path && l.run == Some(run.index))
                .filter(|(_, l)| l.text.contains("-Component:'ServerWideOffline'"))
                .max_by_key(|(_, l)| l.line);
            let Some((fact, line)) = last else {
                continue;
            };
            let params: BTreeMap<String, String> = PARAM
                .captures_iter(&line.text)
                .map(|c| (c[1].to_ascii_lowercase(), c[2].to_string()))
                .collect();
            if !params
                .get("state")
                .is_some_and(|s| s.eq_ignore_ascii_case("Inactive"))
            {
                continue;
            }
            let requester = params
                .get("requester")
                .cloned()
                .unwrap_or_else(|| "Functional".into());
            let server = params
                .get("identity")
                .cloned()
                .unwrap_or_else(|| "<server>".into());
            let mut f = self.meta.finding(None, vec![fact.evidence.clone()]);
            f.evidence.push(Evidence::new(
                run_fact.evidence.locator.clone(),
                format!(
                    "the run {} before setting it back to Active",
                    if run.outcome == RunOutcome::Failed {
                        "stopped on an error"
                    } else {
                        "ended"
                    }
                ),
            ));
            f.kind = left_behind_kind(ctx.facts);
            f.title = format!(
                "Setup set ServerWideOffline to Inactive (requester {requester}) and did not set it back: {server} takes no mail or client traffic"
            );
            f.fix = f
                .fix
                .iter()
                .map(|a| {
                    a.replace("<server>", &server)
                        .replace("<requester>", &requester)
                })
                .collect();
            f.confidence = Confidence::High;
            f.time = fact.time.map(|t| ctx.clock.to_utc(t));
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{FactKind, FactSet, Locator, SetupLine};
    use crate::parse::Sink;
    use crate::rules::testing::{run_rule, with_service};

    fn text_lines(path: &str, lines: &[&str]) -> Vec<Fact> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| Fact {
                time: None,
                evidence: Evidence::new(Locator::line(path, i as u64 + 1), *l),
                kind: FactKind::SetupLine(SetupLine {
                    run: None,
                    line: i as u64 + 1,
                    text: l.to_string(),
                }),
            })
            .collect()
    }

    fn log_with_interest(rule: &dyn Rule, log: &str) -> FactSet {
        let mut ib = InterestBuilder::default();
        rule.interest(&mut ib);
        let interest = ib.build().expect("patterns compile");
        let mut sink = Sink::default();
        let mut r = log.as_bytes();
        crate::parse::setup_log::parse_reader(
            &mut r,
            "setup/ExchangeSetup.log",
            1 << 20,
            interest.setup_lines.as_ref(),
            &mut sink,
        )
        .expect("log parses");
        FactSet::new(sink.facts)
    }

    const SC: &[&str] = &[
        "[09:51:03] Beginning processing: DisableServices Critical",
        "[09:51:04] Disabling service 'MSExchangeADTopology'.",
        "[09:51:04] Disabling service 'W3SVC'.",
        "[09:51:20] Killing instead of Stopping 'FMS'.",
    ];

    #[test]
    fn services_disabled_and_never_enabled_are_reported() {
        let facts = FactSet::new(text_lines("setup/ServiceControl.log", SC));
        let facts = with_service(facts, "MSExchangeADTopology", "Disabled");
        let facts = with_service(facts, "W3SVC", "Disabled");
        let f = run_rule(&ServicesLeftDisabled::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].kind,
            FindingKind::Cause,
            "no failed run: the cause to act on"
        );
        assert!(
            f[0].title.contains("MSExchangeADTopology, W3SVC"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].confidence, Confidence::High);
        assert!(
            f[0].explains
                .contains(&Explains::about("exchange-service-disabled", "W3SVC"))
        );
        assert_eq!(
            f[0].evidence[0].locator.to_string(),
            "setup/ServiceControl.log:2"
        );
    }

    #[test]
    fn re_enabled_or_repaired_services_are_not_reported() {
        let mut lines = SC.to_vec();
        lines.push("[10:40:12] Enabling service 'MSExchangeADTopology'.");
        lines.push("[10:40:12] Enabling service 'W3SVC'.");
        let facts = FactSet::new(text_lines("setup/ServiceControl.log", &lines));
        assert!(run_rule(&ServicesLeftDisabled::new(), &facts).is_empty());
        // Disabled in the log but Auto in services.csv: someone already set it back.
        let facts = FactSet::new(text_lines("setup/ServiceControl.log", SC));
        let facts = with_service(facts, "MSExchangeADTopology", "Auto");
        let facts = with_service(facts, "W3SVC", "Auto");
        assert!(run_rule(&ServicesLeftDisabled::new(), &facts).is_empty());
        // The same words in another file are not ServiceControl's.
        let facts = FactSet::new(text_lines("setup/UpdateCas.log", SC));
        assert!(run_rule(&ServicesLeftDisabled::new(), &facts).is_empty());
    }

    const OFFLINE_RUN: &str = "[11/14/2022 09:50:00.0000] [0] Starting Microsoft Exchange Server 2019 Setup
[11/14/2022 09:50:00.0100] [0] Setup version: 15.2.1118.7.
[11/14/2022 09:51:00.0000] [1] Beginning processing Start-PreFileCopy
[11/14/2022 09:51:01.0000] [2] User specified parameters:  -Component:'ServerWideOffline' -Requester:'Functional' -State:'Inactive' -Identity:'EX01.contoso.com'
[11/14/2022 09:51:02.0000] [1] Ending processing Start-PreFileCopy
[11/14/2022 10:30:00.0000] [1] Beginning processing Install-MailboxRole
";

    #[test]
    fn offline_state_left_by_an_interrupted_run() {
        let rule = ServerLeftOffline::new();
        let f = run_rule(&rule, &log_with_interest(&rule, OFFLINE_RUN));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::Cause);
        assert!(f[0].title.contains("requester Functional"));
        assert!(
            f[0].fix
                .iter()
                .any(|a| a.contains("Set-ServerComponentState EX01.contoso.com"))
        );
        assert_eq!(
            f[0].evidence[0].locator.to_string(),
            "setup/ExchangeSetup.log:4"
        );
    }

    #[test]
    fn offline_state_set_back_or_completed_run_is_silent() {
        let rule = ServerLeftOffline::new();
        let back = format!(
            "{OFFLINE_RUN}[11/14/2022 11:30:00.0000] [2] User specified parameters:  -Component:'ServerWideOffline' -Requester:'Functional' -State:'Active' -Identity:'EX01.contoso.com'\n"
        );
        assert!(run_rule(&rule, &log_with_interest(&rule, &back)).is_empty());
        let done = format!(
            "{OFFLINE_RUN}[11/14/2022 11:40:00.0000] [0] The Exchange Server setup operation completed successfully.\n[11/14/2022 11:40:01.0000] [0] End of Setup\n"
        );
        assert!(run_rule(&rule, &log_with_interest(&rule, &done)).is_empty());
    }
}
