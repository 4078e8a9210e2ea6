//! Exchange and IIS services that must run: disabled (a cause, with what depends on it) or set
//! to start automatically but stopped (a symptom).

use super::cite;
use super::is_exchange_host;
use crate::facts::{
    Confidence, Evidence, Explains, Fact, FactKind, FactSet, Finding, FindingKind, ServiceRegistry,
    ServiceState, Severity,
};
use crate::repair::{Action, common};
use crate::rules::services::scm_evidence;
use crate::rules::{Context, Rule, RuleMeta};
use std::collections::BTreeSet;

/// A service an Exchange server needs running.
#[derive(Debug, Clone, Copy)]
pub struct MustRun {
    /// Service key name.
    pub key: &'static str,
    pub display: &'static str,
    /// The start type setup gives it (`Automatic` or `Manual`), to restore.
    pub default_start: &'static str,
    /// What stops working without it.
    pub does: &'static str,
}

const fn must(
    key: &'static str,
    display: &'static str,
    default_start: &'static str,
    does: &'static str,
) -> MustRun {
    MustRun {
        key,
        display,
        default_start,
        does,
    }
}

/// Services that must run when present. Exchange 2010 core set (exchange-facts B3) plus IIS.
/// msftesql-Exchange and WAS are Manual by default: they are started by their dependants.
pub const MUST_RUN: &[MustRun] = &[
    must(
        "MSExchangeADTopology",
        "Microsoft Exchange Active Directory Topology",
        "Automatic",
        "every other Exchange service reads Active Directory through it",
    ),
    must(
        "MSExchangeServiceHost",
        "Microsoft Exchange Service Host",
        "Automatic",
        "hosts configuration services; setup restarts it while configuring roles",
    ),
    must(
        "MSExchangeIS",
        "Microsoft Exchange Information Store",
        "Automatic",
        "mounts the mailbox and public-folder databases",
    ),
    must(
        "MSExchangeMailSubmission",
        "Microsoft Exchange Mail Submission",
        "Automatic",
        "hands outgoing mail from the store to transport: no mail flow without it",
    ),
    must(
        "MSExchangeTransport",
        "Microsoft Exchange Transport",
        "Automatic",
        "mail flow",
    ),
    must(
        "MSExchangeRepl",
        "Microsoft Exchange Replication Service",
        "Automatic",
        "database copies and, on 2010, mounting databases in a DAG",
    ),
    must(
        "MSExchangeSA",
        "Microsoft Exchange System Attendant",
        "Automatic",
        "directory lookups, OAB generation and free/busy",
    ),
    must(
        "MSExchangeMailboxAssistants",
        "Microsoft Exchange Mailbox Assistants",
        "Automatic",
        "calendar, out-of-office and managed-folder processing",
    ),
    must(
        "MSExchangeRPC",
        "Microsoft Exchange RPC Client Access",
        "Automatic",
        "Outlook connections",
    ),
    must(
        "MSExchangeSearch",
        "Microsoft Exchange Search Indexer",
        "Automatic",
        "content indexing: searches in Outlook online mode and OWA",
    ),
    must(
        "msftesql-Exchange",
        "Microsoft Search (Exchange Server)",
        "Manual",
        "the search engine the Search Indexer depends on",
    ),
    must(
        "W3SVC",
        "World Wide Web Publishing Service",
        "Automatic",
        "IIS: OWA, ECP, EWS, ActiveSync, Autodiscover and remote PowerShell (EMC/EMS)",
    ),
    must(
        "WAS",
        "Windows Process Activation Service",
        "Manual",
        "starts the IIS application pools; W3SVC depends on it",
    ),
    must(
        "IISADMIN",
        "IIS Admin Service",
        "Automatic",
        "the IIS 6 metabase compatibility Exchange 2010 setup and EMC use",
    ),
];

/// Dependencies used when the Services registry export is absent. MSExchangeSearch →
/// msftesql-Exchange is the seed's 1068; W3SVC → WAS is IIS's own; most Exchange services
/// depend on MSExchangeADTopology.
const BUILTIN_DEPENDS: &[(&str, &[&str])] = &[
    ("MSExchangeSearch", &["msftesql-Exchange", "MSExchangeIS"]),
    ("W3SVC", &["WAS"]),
    ("MSExchangeServiceHost", &["MSExchangeADTopology"]),
    ("MSExchangeIS", &["MSExchangeADTopology"]),
    ("MSExchangeTransport", &["MSExchangeADTopology"]),
    ("MSExchangeMailSubmission", &["MSExchangeADTopology"]),
    ("MSExchangeRepl", &["MSExchangeADTopology"]),
    ("MSExchangeSA", &["MSExchangeADTopology"]),
    ("MSExchangeMailboxAssistants", &["MSExchangeADTopology"]),
    ("MSExchangeRPC", &["MSExchangeADTopology"]),
];

fn registry<'a>(facts: &'a FactSet, name: &str) -> Option<(&'a Fact, &'a ServiceRegistry)> {
    facts.iter().find_map(|f| match &f.kind {
        FactKind::ServiceRegistry(r) if r.name.eq_ignore_ascii_case(name) => Some((f, r)),
        _ => None,
    })
}

fn registry_services(facts: &FactSet) -> impl Iterator<Item = (&Fact, &ServiceRegistry)> {
    facts.iter().filter_map(|f| match &f.kind {
        FactKind::ServiceRegistry(r) => Some((f, r)),
        _ => None,
    })
}

/// What `name` depends on: from its `DependOnService` when exported, else the built-in table.
/// The fact is the registry key the dependency was read from.
pub fn dependencies<'a>(facts: &'a FactSet, name: &str) -> Vec<(String, Option<&'a Fact>)> {
    if let Some((f, r)) = registry(facts, name)
        && !r.depend_on.is_empty()
    {
        return r.depend_on.iter().map(|d| (d.clone(), Some(f))).collect();
    }
    BUILTIN_DEPENDS
        .iter()
        .filter(|(s, _)| s.eq_ignore_ascii_case(name))
        .flat_map(|(_, deps)| deps.iter().map(|d| (d.to_string(), None)))
        .collect()
}

/// Is the service present in services.csv or the Services export?
fn present(facts: &FactSet, name: &str) -> bool {
    facts.service(name).is_some() || registry(facts, name).is_some()
}

/// The service's disabled state: (services.csv row if Disabled, registry key if Start=4).
fn disabled<'a>(facts: &'a FactSet, name: &str) -> (Option<&'a Fact>, Option<&'a Fact>) {
    let csv = facts
        .service(name)
        .filter(|(_, s)| s.is_disabled())
        .map(|(f, _)| f);
    let reg = registry(facts, name)
        .filter(|(_, r)| r.start == Some(4))
        .map(|(f, _)| f);
    (csv, reg)
}

fn is_auto(s: &ServiceState) -> bool {
    s.start_mode.trim().to_ascii_lowercase().starts_with("auto")
}

fn is_running(s: &ServiceState) -> bool {
    s.state.trim().eq_ignore_ascii_case("running")
}

fn must_run(name: &str) -> Option<&'static MustRun> {
    MUST_RUN.iter().find(|m| m.key.eq_ignore_ascii_case(name))
}

/// The key name a service is known by in this bundle (services.csv's case), else `name`.
fn key_of(facts: &FactSet, name: &str) -> String {
    facts
        .service(name)
        .map(|(_, s)| s.name.clone())
        .or_else(|| registry(facts, name).map(|(_, r)| r.name.clone()))
        .unwrap_or_else(|| name.to_string())
}

fn display_of(facts: &FactSet, name: &str) -> String {
    facts
        .service(name)
        .map(|(_, s)| s.display_name.clone())
        .filter(|d| !d.is_empty())
        .or_else(|| must_run(name).map(|m| m.display.to_string()))
        .unwrap_or_else(|| name.to_string())
}

/// Services present that depend on `name`, with the fact that says so.
fn dependants<'a>(facts: &'a FactSet, name: &str) -> Vec<(String, Option<&'a Fact>)> {
    let mut candidates: BTreeSet<String> = MUST_RUN.iter().map(|m| m.key.to_string()).collect();
    candidates.extend(registry_services(facts).map(|(_, r)| r.name.clone()));
    candidates
        .into_iter()
        .filter(|c| !c.eq_ignore_ascii_case(name) && present(facts, c))
        .filter_map(|c| {
            dependencies(facts, &c)
                .into_iter()
                .find(|(d, _)| d.eq_ignore_ascii_case(name))
                .map(|(_, f)| (key_of(facts, &c), f))
        })
        .collect()
}

// ------------------------------------------------------------------------------------------

/// A service Exchange needs is disabled.
pub struct ExchangeServiceDisabled {
    meta: RuleMeta,
}

impl ExchangeServiceDisabled {
    pub const ID: &'static str = "exchange-service-disabled";

    pub fn new() -> Self {
        ExchangeServiceDisabled {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "A service Exchange needs is disabled".into(),
                kind: FindingKind::Cause,
                severity: Severity::High,
                looks_for: format!(
                    "services.csv StartMode=Disabled or registry Start=4 for a service Exchange needs ({}) or one they depend on (DependOnService, else a built-in table)",
                    MUST_RUN.iter().map(|m| m.key).collect::<Vec<_>>().join(", ")
                ),
                why: "A disabled service cannot be started by anyone: not by setup (which then stops on a critical error), not at boot, and not as a dependency, so every service that depends on it fails with error 1068 \"The dependency service or group failed to start\" (Microsoft Search (Exchange) disabled on Exchange 2010, for example, stops the Search Indexer). Exchange's own ServiceControl.ps1 disables services during setup and restores them at the end, so a failed run can leave them disabled.".into(),
                // Filled in per service by `check`: its start type, what depends on it, who
                // disabled it.
                fix: vec![],
                references: vec![
                    "Microsoft Learn: Exchange Server setup fails because services are disabled (ServiceControl.ps1)".into(),
                    "Win32 error 1068 ERROR_SERVICE_DEPENDENCY_FAIL and 1058 ERROR_SERVICE_DISABLED".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ExchangeServiceDisabled {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ExchangeServiceDisabled {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let facts = ctx.facts;
        if !is_exchange_host(facts) {
            return Vec::new();
        }
        // Must-run services present, plus whatever they depend on.
        let mut names: BTreeSet<String> = BTreeSet::new();
        for m in MUST_RUN.iter().filter(|m| present(facts, m.key)) {
            names.insert(key_of(facts, m.key));
            for (d, _) in dependencies(facts, m.key) {
                if present(facts, &d) {
                    names.insert(key_of(facts, &d));
                }
            }
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for name in names {
            if !seen.insert(name.to_ascii_lowercase()) {
                continue;
            }
            let (csv, reg) = disabled(facts, &name);
            if csv.is_none() && reg.is_none() {
                continue;
            }
            let display = display_of(facts, &name);
            let mut evidence: Vec<Evidence> = csv.iter().map(|f| f.evidence.clone()).collect();
            if let Some(f) = reg {
                evidence.push(cite(f, format!("{name}: Start=4 (disabled)")));
            }
            let deps = dependants(facts, &name);
            for (d, source) in &deps {
                if let Some((f, s)) = facts.service(d) {
                    evidence.push(cite(
                        f,
                        format!(
                            "{d} ({}) depends on {name}: StartMode={} State={}",
                            s.display_name, s.start_mode, s.state
                        ),
                    ));
                }
                if let Some(f) = source {
                    evidence.push(cite(f, format!("{d}: DependOnService includes {name}")));
                }
            }
            let events = scm_evidence(ctx, &name, &display);
            evidence.extend(events.iter().map(|f| f.evidence.clone()));

            let mut f = self.meta.finding(Some(&name), evidence);
            let dep_names: Vec<&str> = deps.iter().map(|(d, _)| d.as_str()).collect();
            let does = must_run(&name)
                .map(|m| m.does)
                .unwrap_or("a dependency of an Exchange service");
            f.title = if dep_names.is_empty() {
                format!("{name} ({display}) is disabled: {does}")
            } else {
                format!(
                    "{name} ({display}) is disabled, so {} (which depend{} on it) cannot start (error 1068)",
                    dep_names.join(", "),
                    if dep_names.len() == 1 { "s" } else { "" }
                )
            };
            let start = must_run(&name)
                .map(|m| m.default_start)
                .unwrap_or("Automatic");
            let mut fix: Vec<Action> = Vec::new();
            fix.extend(crate::rules::services::who_disabled(ctx, &name, &display));
            fix.push(common::start_mode(&name, start));
            fix.push(common::rerun());
            fix.extend(dep_names.iter().map(|d| common::start_service(d)));
            f.fix = fix;
            f.explains = vec![
                Explains::about("scm-service-start-failed", &name),
                Explains::about("exchange-service-stopped", &name),
            ];
            for d in &dep_names {
                f.explains
                    .push(Explains::about("service-dependency-failed", d));
                f.explains
                    .push(Explains::about("scm-service-start-failed", d));
                f.explains
                    .push(Explains::about("exchange-service-stopped", d));
            }
            f.confidence = if (csv.is_some() && reg.is_some()) || !events.is_empty() {
                Confidence::High
            } else {
                Confidence::Medium
            };
            f.time = events
                .iter()
                .filter_map(|e| e.time)
                .map(|t| ctx.clock.to_utc(t))
                .min();
            out.push(f);
        }
        out
    }
}

// ------------------------------------------------------------------------------------------

/// An Exchange service set to start automatically is not running.
pub struct ExchangeServiceStopped {
    meta: RuleMeta,
}

impl ExchangeServiceStopped {
    pub const ID: &'static str = "exchange-service-stopped";

    pub fn new() -> Self {
        ExchangeServiceStopped {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An automatic Exchange service is stopped".into(),
                kind: FindingKind::Symptom,
                severity: Severity::Medium,
                looks_for: "services.csv rows with StartMode=Auto and a State other than Running, for MSExchange* services and the must-run IIS services, with the state of what they depend on".into(),
                why: "An automatic service that is not running at collection time failed to start or stopped: its function is down (Mail Submission stopped means no mail flow; the Search Indexer stops when its dependency is disabled).".into(),
                // Filled in per service by `check`: its dependencies first, then itself.
                fix: vec![],
                references: vec![
                    "Microsoft Learn: Exchange Server services overview".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ExchangeServiceStopped {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ExchangeServiceStopped {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let facts = ctx.facts;
        if !is_exchange_host(facts) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (fact, s) in facts.services() {
            let exchange = s.name.to_ascii_lowercase().starts_with("msexchange");
            if !(exchange || must_run(&s.name).is_some()) || !is_auto(s) || is_running(s) {
                continue;
            }
            let mut evidence = vec![fact.evidence.clone()];
            // Dependencies that are down explain the stop.
            let mut down = Vec::new();
            for (d, source) in dependencies(facts, &s.name) {
                let Some((df, ds)) = facts.service(&d) else {
                    continue;
                };
                if is_running(ds) {
                    continue;
                }
                let how = if ds.is_disabled() {
                    "disabled"
                } else {
                    "not running"
                };
                down.push((ds.name.clone(), how));
                evidence.push(cite(
                    df,
                    format!(
                        "dependency {} ({}): StartMode={} State={}",
                        ds.name, ds.display_name, ds.start_mode, ds.state
                    ),
                ));
                if let Some(sf) = source {
                    evidence.push(cite(
                        sf,
                        format!("{}: DependOnService includes {}", s.name, ds.name),
                    ));
                }
            }
            let mut f = self.meta.finding(Some(&s.name), evidence);
            f.title = format!(
                "{} ({}) starts automatically but is {}",
                s.name, s.display_name, s.state
            );
            if !down.is_empty() {
                f.title.push_str(&format!(
                    "; it depends on {}",
                    down.iter()
                        .map(|(d, how)| format!("{d}, which is {how}"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            } else if let Some(m) = must_run(&s.name) {
                f.title.push_str(&format!(": {}", m.does));
            }
            let mut fix: Vec<Action> = Vec::new();
            for (d, how) in &down {
                if *how == "disabled" {
                    let start = must_run(d).map(|m| m.default_start).unwrap_or("Automatic");
                    fix.push(common::start_mode(d, start));
                }
            }
            for (d, _) in &down {
                fix.push(common::start_service(d));
            }
            fix.push(common::start_service(&s.name));
            f.fix = fix;
            f.confidence = Confidence::High;
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::config::*;
    use crate::rules::testing::run_rule;

    #[test]
    fn seed_search_dependency_disabled_explains_the_indexer() {
        let f = run_rule(&ExchangeServiceDisabled::new(), &seed_config());
        let subjects: Vec<_> = f.iter().filter_map(|f| f.subject.as_deref()).collect();
        assert_eq!(subjects, vec!["MSExchangeServiceHost", "msftesql-Exchange"]);
        let search = &f[1];
        assert!(
            search
                .title
                .contains("so MSExchangeSearch (which depends on it) cannot start (error 1068)"),
            "{}",
            search.title
        );
        assert!(search.explains.contains(&Explains::about(
            "service-dependency-failed",
            "MSExchangeSearch"
        )));
        // services.csv row, registry Start=4, the dependant's row and its DependOnService.
        let locs: Vec<String> = search
            .evidence
            .iter()
            .map(|e| e.locator.to_string())
            .collect();
        assert!(locs.contains(&format!("{SERVICES} row 8")), "{locs:?}");
        assert!(
            locs.iter()
                .any(|l| l.contains("Services\\msftesql-Exchange]"))
        );
        assert!(
            locs.iter()
                .any(|l| l.contains("Services\\MSExchangeSearch]"))
        );
        assert_eq!(search.confidence, Confidence::High);
        assert!(
            search
                .fix
                .iter()
                .any(|a| a.contains("Set-Service msftesql-Exchange -StartupType Manual"))
        );
        assert!(
            search
                .fix
                .iter()
                .any(|a| a.contains("Start-Service MSExchangeSearch"))
        );
    }

    #[test]
    fn builtin_dependency_table_when_registry_is_absent() {
        let facts = without(seed_config(), |f| {
            matches!(f.kind, FactKind::ServiceRegistry(_))
        });
        let f = run_rule(&ExchangeServiceDisabled::new(), &facts);
        let search = f
            .iter()
            .find(|f| f.subject.as_deref() == Some("msftesql-Exchange"))
            .expect("msftesql finding");
        assert!(search.title.contains("MSExchangeSearch"));
        assert_eq!(search.confidence, Confidence::Medium);
    }

    #[test]
    fn healthy_services_are_not_disabled() {
        assert!(run_rule(&ExchangeServiceDisabled::new(), &healthy_config()).is_empty());
        // A non-Exchange host with IIS disabled is none of our business.
        let facts = FactSet::new(vec![service(
            1,
            "W3SVC",
            "World Wide Web Publishing Service",
            "Disabled",
            "Stopped",
        )]);
        assert!(run_rule(&ExchangeServiceDisabled::new(), &facts).is_empty());
    }

    #[test]
    fn seed_stopped_services_name_their_disabled_dependency() {
        let f = run_rule(&ExchangeServiceStopped::new(), &seed_config());
        let subjects: Vec<_> = f.iter().filter_map(|f| f.subject.as_deref()).collect();
        assert_eq!(
            subjects,
            vec![
                "MSExchangeMailSubmission",
                "MSExchangeRepl",
                "MSExchangeSearch"
            ]
        );
        let search = &f[2];
        assert!(
            search
                .title
                .contains("depends on msftesql-Exchange, which is disabled"),
            "{}",
            search.title
        );
        assert!(search.fix[0].contains("Set-Service msftesql-Exchange -StartupType Manual"));
        assert!(f[0].title.contains("no mail flow"));
    }

    #[test]
    fn healthy_services_are_running() {
        // POP3 is Manual and stopped, msftesql-Exchange Manual and running: both normal.
        assert!(run_rule(&ExchangeServiceStopped::new(), &healthy_config()).is_empty());
    }
}
