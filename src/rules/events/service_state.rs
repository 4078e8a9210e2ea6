//! Service Control Manager events that change or block a service's state: its start type set
//! to Disabled (7040), and a start refused because a service it depends on did not start
//! (7001/7003).

use super::scm::{
    SCM, describe_error, display_of, is_exchange_or_iis, key_from_binary, resolve_display,
    service_key,
};
use super::{Context, Rule, cite_events, earliest, events, field, id_tally, run_at};
use crate::facts::{Event, Fact, Finding, FindingKind, Severity};
use crate::repair::common;
use crate::rules::{InterestBuilder, RuleMeta};
use std::collections::BTreeMap;

/// Who a SID is, for the report: well-known accounts by name, others as the SID.
pub(crate) fn who(sid: &str) -> String {
    match sid {
        "S-1-5-18" => "LocalSystem (S-1-5-18: a service or setup running as SYSTEM)".into(),
        "S-1-5-19" => "LocalService (S-1-5-19)".into(),
        "S-1-5-20" => "NetworkService (S-1-5-20)".into(),
        s => format!("the account {s}"),
    }
}

/// A start type Windows writes in 7040 (`auto start`, `demand start`, `disabled`).
fn is_disabled(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("disabled")
}

/// SCM 7040: the start type of an Exchange or IIS service was changed to Disabled.
pub struct ServiceStartTypeDisabled {
    meta: RuleMeta,
}

impl ServiceStartTypeDisabled {
    pub const ID: &'static str = "service-start-type-disabled";

    pub fn new() -> Self {
        ServiceStartTypeDisabled {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An Exchange or IIS service was set to Disabled".into(),
                kind: FindingKind::Info,
                severity: Severity::Info,
                looks_for: "Service Control Manager 7040 \"The start type of the … service was changed from … to disabled\" for an Exchange or IIS service, with the account (System/Security/@UserID) and the time, and a later change back if any".into(),
                why: "It says who disabled a service and when. Exchange's own ServiceControl.ps1 disables services at the start of setup and restores them at the end, so a run of 7040s inside a setup run is setup's doing and a failed run can leave them disabled; a 7040 at another time points at an administrator, a GPO or a security product.".into(),
                fix: vec![common::start_mode("<service>", "<mode>")],
                references: vec![
                    "Microsoft Learn: Event ID 7040 (Service Control Manager)".into(),
                    "Microsoft Learn: Exchange setup and ServiceControl.ps1 (ServiceState.xml)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ServiceStartTypeDisabled {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ServiceStartTypeDisabled {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.event(SCM, &[7040]);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // Every 7040 of each Exchange/IIS service, in time order.
        let mut by_key: BTreeMap<String, Vec<(&Fact, &Event)>> = BTreeMap::new();
        for (f, e) in events(ctx, &[SCM], &[7040]) {
            let display = display_of(e);
            let key = service_key(ctx, e, display);
            if is_exchange_or_iis(&key, display) {
                by_key.entry(key).or_default().push((f, e));
            }
        }
        let mut out = Vec::new();
        for (key, mut evs) in by_key {
            evs.sort_by_key(|(f, e)| (f.time.map(|t| ctx.clock.to_utc(t)), e.record_id));
            let Some(last_off) = evs
                .iter()
                .rposition(|(_, e)| field(e, &["param3", "2"]).is_some_and(is_disabled))
            else {
                continue;
            };
            let (fact, e) = evs[last_off];
            let from = field(e, &["param2", "1"]).unwrap_or("?");
            let when = fact.time.map(|t| ctx.clock.to_utc(t));
            let mut title = format!("{key} was set from {from} to Disabled");
            if let Some(t) = when {
                title += &format!(" at {} UTC", t.format("%Y-%m-%d %H:%M:%S"));
            }
            if let Some(sid) = field(e, &[crate::parse::evtx::USER_SID_KEY]) {
                title += &format!(" by {}", who(sid));
            }
            if let Some((_, run)) = when.and_then(|t| run_at(ctx, t)) {
                title += &format!(
                    ", during the setup run started {} (setup disables services while it works)",
                    super::run_start(ctx, run)
                );
            }
            let mut cited: Vec<&Fact> = vec![fact];
            if let Some((back_fact, back)) = evs[last_off + 1..]
                .iter()
                .find(|(_, e)| !field(e, &["param3", "2"]).is_some_and(is_disabled))
            {
                title += &format!(
                    "; later set back to {}",
                    field(back, &["param3", "2"]).unwrap_or("?")
                );
                cited.push(back_fact);
            }
            let mut f = self.meta.finding(Some(&key), cite_events(&cited));
            f.title = title;
            f.fix = f
                .fix
                .iter()
                .map(|a| {
                    a.replace("<service>", &key)
                        .replace("<mode>", common::usual_start_mode(&key))
                })
                .collect();
            f.confidence = crate::facts::Confidence::High;
            f.time = when;
            out.push(f);
        }
        out
    }
}

/// SCM 7001/7003: a service could not start because a service it depends on did not.
pub struct ServiceDependencyFailed {
    meta: RuleMeta,
}

impl ServiceDependencyFailed {
    pub const ID: &'static str = "service-dependency-failed";

    pub fn new() -> Self {
        ServiceDependencyFailed {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "A service could not start because a service it depends on did not".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "Service Control Manager 7001 \"The … service depends on the … service which failed to start\" (its error as `%%1058` disabled or `%%1068` dependency failed, or as text) and 7003 \"depends on the following service … which might not be installed\", where either side is an Exchange or IIS service".into(),
                why: "Starting a service starts what it depends on first; if that one is disabled or broken, the dependant fails with error 1068 and stays down. When Microsoft Search (Exchange) is disabled on Exchange 2010, for example, the Exchange Search Indexer cannot start (\"Error 1068\").".into(),
                // The start type is set back only when the event says the dependency is disabled.
                fix: vec![
                    common::start_mode("<dependency>", "<mode>"),
                    common::start_service("<dependency>"),
                    common::start_service("<service>"),
                ],
                references: vec![
                    "Microsoft Learn: Event ID 7001 and 7003 (Service Control Manager)".into(),
                    "Win32 error 1068 ERROR_SERVICE_DEPENDENCY_FAIL".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ServiceDependencyFailed {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ServiceDependencyFailed {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.event(SCM, &[7001, 7003]);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // Keyed by the dependant; the dependencies and errors seen for it.
        let mut by_key: BTreeMap<String, Vec<(&Fact, &Event)>> = BTreeMap::new();
        for (f, e) in events(ctx, &[SCM], &[7001, 7003]) {
            let dependant = field(e, &["param1", "0"]).unwrap_or("");
            let dependency = field(e, &["param2", "1"]).unwrap_or("");
            let dep_key = resolve_display(ctx, dependency);
            // The display name first: which of the two services `<Binary>` names in a 7001 is
            // not documented, so it is used only when it is not the dependency.
            let mut key = resolve_display(ctx, dependant);
            if key == dependant
                && let Some(b) = field(e, &["Binary"]).and_then(key_from_binary)
                && !b.eq_ignore_ascii_case(&dep_key)
            {
                key = b;
            }
            if is_exchange_or_iis(&key, dependant) || is_exchange_or_iis(&dep_key, dependency) {
                by_key.entry(key).or_default().push((f, e));
            }
        }
        by_key
            .into_iter()
            .map(|(key, evs)| {
                let facts: Vec<&Fact> = evs.iter().map(|(f, _)| *f).collect();
                let mut causes: Vec<String> = evs
                    .iter()
                    .map(|(_, e)| {
                        let dependency = field(e, &["param2", "1"]).unwrap_or("?");
                        match e.event_id {
                            7003 => format!("{dependency}, which is not installed"),
                            _ => match field(e, &["param3", "2"]) {
                                Some(err) => format!(
                                    "{dependency}, which failed to start with {}",
                                    describe_error(err)
                                ),
                                None => format!("{dependency}, which failed to start"),
                            },
                        }
                    })
                    .collect();
                causes.sort();
                causes.dedup();
                let dependency_key = evs
                    .first()
                    .and_then(|(_, e)| field(e, &["param2", "1"]))
                    .map(|d| resolve_display(ctx, d))
                    .unwrap_or_default();
                let mut f = self.meta.finding(Some(&key), cite_events(&facts));
                f.title = format!(
                    "{key} could not start: it depends on {} (SCM {})",
                    causes.join("; "),
                    id_tally(evs.iter().map(|(_, e)| *e))
                );
                let dependency_disabled = evs.iter().any(|(_, e)| {
                    field(e, &["param3", "2"])
                        .is_some_and(|v| v.contains("1058") || v.contains("disabled"))
                });
                f.fix = f
                    .fix
                    .iter()
                    .filter(|a| dependency_disabled || a.group.as_deref() != Some("start-mode"))
                    .map(|a| {
                        a.replace("<service>", &key)
                            .replace("<dependency>", &dependency_key)
                            .replace("<mode>", common::usual_start_mode(&dependency_key))
                    })
                    .collect();
                f.confidence = crate::facts::Confidence::High;
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

    #[test]
    fn disabled_start_type_names_who_and_when_and_the_setup_run() {
        let mut facts = facts_from_log(SEED_FAILED_RUN);
        facts.facts.push(event(
            4700,
            "2012-02-12T21:10:30Z",
            SCM,
            7040,
            &[
                ("param1", "Microsoft Exchange Service Host"),
                ("param2", "auto start"),
                ("param3", "disabled"),
                ("param4", "MSExchangeServiceHost"),
                ("System/Security@UserID", "S-1-5-21-1-2-3-500"),
            ],
        ));
        let f = run_rule(&ServiceStartTypeDisabled::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeServiceHost"));
        let t = &f[0].title;
        assert!(
            t.contains("from auto start to Disabled at 2012-02-12 21:10:30 UTC"),
            "{t}"
        );
        assert!(
            t.contains("S-1-5-21-1-2-3-500") && t.contains("during the setup run"),
            "{t}"
        );
        assert_eq!(f[0].kind, FindingKind::Info);
    }

    #[test]
    fn start_type_changes_that_do_not_disable_are_ignored() {
        let facts = set(vec![
            event(
                1,
                "2012-02-12T21:10:30Z",
                SCM,
                7040,
                &[
                    ("param1", "Microsoft Exchange Service Host"),
                    ("param2", "demand start"),
                    ("param3", "auto start"),
                    ("param4", "MSExchangeServiceHost"),
                ],
            ),
            // Disabled, but not an Exchange or IIS service.
            event(
                2,
                "2012-02-12T21:10:30Z",
                SCM,
                7040,
                &[
                    ("param1", "Background Intelligent Transfer Service"),
                    ("param2", "auto start"),
                    ("param3", "disabled"),
                    ("param4", "BITS"),
                ],
            ),
        ]);
        assert!(run_rule(&ServiceStartTypeDisabled::new(), &facts).is_empty());
    }

    #[test]
    fn seed_search_indexer_depends_on_disabled_microsoft_search() {
        let facts = set(vec![event(
            5001,
            "2012-02-13T09:12:00Z",
            SCM,
            7001,
            &[
                ("param1", "Microsoft Exchange Search Indexer"),
                ("param2", "Microsoft Search (Exchange)"),
                ("param3", "%%1058"),
            ],
        )]);
        let f = run_rule(&ServiceDependencyFailed::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeSearch"));
        assert!(
            f[0].title.contains(
                "it depends on Microsoft Search (Exchange), which failed to start with error 1058 (the service is disabled)"
            ),
            "{}",
            f[0].title
        );
        assert!(
            f[0].fix[0].contains("msftesql-Exchange"),
            "{:?}",
            f[0].fix[0]
        );
    }

    #[test]
    fn winlogon_7001_and_foreign_dependencies_are_ignored() {
        let facts = set(vec![
            // Winlogon's 7001 is a user logon notification, not a dependency failure.
            event(
                1,
                "2012-02-13T09:12:00Z",
                "Microsoft-Windows-Winlogon",
                7001,
                &[("TSId", "1"), ("UserSid", "S-1-5-21-1-2-3-500")],
            ),
            event(
                2,
                "2012-02-13T09:12:00Z",
                SCM,
                7001,
                &[
                    ("param1", "Print Spooler"),
                    ("param2", "Remote Procedure Call (RPC)"),
                    ("param3", "%%1068"),
                ],
            ),
        ]);
        assert!(run_rule(&ServiceDependencyFailed::new(), &facts).is_empty());
    }
}
