//! Service Control Manager events about Exchange and IIS services: start failures and crashes
//! (7000/7009/7011/7022/7023/7024/7031/7034), dependency failures (7001/7003) and start types
//! set to Disabled (7040).
//!
//! The SCM writes Win32 errors as insertion strings (`%%1058`), not as text: both are matched.
//! Service names: 7040 carries the key name in `param4`; most SCM events carry it in `<Binary>`
//! (UTF-16LE); otherwise the display name is mapped through services.csv or a built-in table.

use super::{Context, Rule, cite_events, earliest, events, field, id_tally, run_at};
use crate::facts::{Event, Explains, Fact, Finding, FindingKind, Severity};
use crate::rules::host::MUST_RUN;
use crate::rules::setup::SetupStopped;
use crate::rules::{InterestBuilder, RuleMeta};
use std::collections::BTreeMap;

pub use crate::rules::services::SCM;

/// Win32 errors SCM events carry, with the start of their English text and a short meaning.
const WIN32: &[(u32, &str, &str)] = &[
    (
        2,
        "The system cannot find the file specified",
        "file not found",
    ),
    (
        3,
        "The system cannot find the path specified",
        "path not found",
    ),
    (5, "Access is denied", "access denied"),
    (
        193,
        "is not a valid Win32 application",
        "not a valid Win32 application",
    ),
    (
        1053,
        "The service did not respond to the start or control request in a timely fashion",
        "no response in time",
    ),
    (
        1058,
        "The service cannot be started, either because it is disabled",
        "the service is disabled",
    ),
    (
        1067,
        "The process terminated unexpectedly",
        "the process terminated unexpectedly",
    ),
    (
        1068,
        "The dependency service or group failed to start",
        "a service it depends on failed to start",
    ),
    (
        1069,
        "The service did not start due to a logon failure",
        "logon failure",
    ),
    (
        1075,
        "The dependency service does not exist or has been marked for deletion",
        "a service it depends on does not exist",
    ),
];

/// The Win32 error in an insertion string (`%%1058`) or its rendered English text.
pub fn win32(value: &str) -> Option<u32> {
    let v = value.trim();
    if let Some(code) = v.strip_prefix("%%") {
        return code.parse().ok();
    }
    let lower = v.to_ascii_lowercase();
    WIN32
        .iter()
        .find(|(_, text, _)| lower.contains(&text.to_ascii_lowercase()))
        .map(|(code, _, _)| *code)
}

/// `error 1058 (the service is disabled)`.
pub fn describe_error(value: &str) -> String {
    match win32(value) {
        Some(code) => match WIN32.iter().find(|(c, _, _)| *c == code) {
            Some((_, _, meaning)) => format!("error {code} ({meaning})"),
            None => format!("error {code}"),
        },
        None => format!("\"{}\"", crate::facts::clip(value.trim(), 80)),
    }
}

/// Exchange services beyond [`MUST_RUN`] whose SCM events matter, by key and display name.
const MORE_SERVICES: &[(&str, &str)] = &[
    (
        "MSExchangeFrontEndTransport",
        "Microsoft Exchange Frontend Transport",
    ),
    (
        "MSExchangeDelivery",
        "Microsoft Exchange Mailbox Transport Delivery",
    ),
    (
        "MSExchangeSubmission",
        "Microsoft Exchange Mailbox Transport Submission",
    ),
    ("MSExchangeHM", "Microsoft Exchange Health Manager"),
    ("MSExchangeFastSearch", "Microsoft Exchange Search"),
    (
        "HostControllerService",
        "Microsoft Exchange Search Host Controller",
    ),
    ("MSExchangeEdgeSync", "Microsoft Exchange EdgeSync"),
    (
        "MSExchangeAntispamUpdate",
        "Microsoft Exchange Anti-spam Update",
    ),
    ("MSExchangeFDS", "Microsoft Exchange File Distribution"),
    ("MSExchangeImap4", "Microsoft Exchange IMAP4"),
    ("MSExchangePop3", "Microsoft Exchange POP3"),
    (
        "MSExchangeTransportLogSearch",
        "Microsoft Exchange Transport Log Search",
    ),
    ("MSExchangeThrottling", "Microsoft Exchange Throttling"),
    ("MSExchangeUM", "Microsoft Exchange Unified Messaging"),
    ("MSExchangeDagMgmt", "Microsoft Exchange DAG Management"),
    ("MSExchangeDiagnostics", "Microsoft Exchange Diagnostics"),
    ("MSExchangeMonitoring", "Microsoft Exchange Monitoring"),
    (
        "MSExchangeProtectedServiceHost",
        "Microsoft Exchange Protected Service Host",
    ),
    ("FMS", "Microsoft Filtering Management Service"),
    // Exchange 2007's name for the same search service as 2010's "(Exchange Server)".
    ("msftesql-Exchange", "Microsoft Search (Exchange)"),
];

/// Key names of services that are Exchange's or IIS's whatever their display name.
const KEYS: &[&str] = &[
    "msftesql-Exchange",
    "W3SVC",
    "WAS",
    "IISADMIN",
    "HostControllerService",
    "FMS",
];

/// The key name of the service an SCM event is about; `display` is its display-name field.
pub fn service_key(ctx: &Context<'_>, e: &Event, display: &str) -> String {
    if e.event_id == 7040
        && let Some(k) = field(e, &["param4", "3"])
    {
        return k.to_string();
    }
    if let Some(k) = field(e, &["Binary"]).and_then(key_from_binary) {
        return k;
    }
    if let Some((_, s)) = ctx.facts.service(display) {
        return s.name.clone();
    }
    MUST_RUN
        .iter()
        .map(|m| (m.key, m.display))
        .chain(MORE_SERVICES.iter().copied())
        .find(|(_, d)| d.eq_ignore_ascii_case(display))
        .map(|(k, _)| k.to_string())
        .unwrap_or_else(|| display.to_string())
}

/// SCM's `<Binary>`: the service key name in UTF-16LE, NUL-ended (`name/4` in 7036).
fn key_from_binary(hex: &str) -> Option<String> {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    let s = String::from_utf16(&units).ok()?;
    let key = s.split('/').next().unwrap_or("").trim();
    // A key name is short and printable; anything else is some other payload.
    (!key.is_empty() && key.len() <= 256 && key.chars().all(|c| !c.is_control()))
        .then(|| key.to_string())
}

/// Is this an Exchange or IIS service (by key, else by display name)?
pub fn is_exchange_or_iis(key: &str, display: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let d = display.to_ascii_lowercase();
    k.starts_with("msexchange")
        || KEYS.iter().any(|x| x.eq_ignore_ascii_case(key))
        || MUST_RUN.iter().any(|m| m.key.eq_ignore_ascii_case(key))
        || d.starts_with("microsoft exchange")
        || d.contains("(exchange")
        || MUST_RUN
            .iter()
            .any(|m| m.display.eq_ignore_ascii_case(display))
}

/// The display-name field of an SCM event.
fn display_of(e: &Event) -> &str {
    match e.event_id {
        7009 | 7011 => field(e, &["param2", "1"]),
        _ => field(e, &["param1", "0"]),
    }
    .unwrap_or("")
}

/// SCM ids saying a service did not start or did not stay up.
const START_IDS: &[u32] = &[7000, 7009, 7011, 7022, 7023, 7024, 7031, 7034];

/// An Exchange or IIS service failed to start, hung, or terminated (SCM 7000 and friends).
pub struct ScmServiceStartFailed {
    meta: RuleMeta,
}

impl ScmServiceStartFailed {
    pub const ID: &'static str = "scm-service-start-failed";

    pub fn new() -> Self {
        ScmServiceStartFailed {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An Exchange or IIS service failed to start or stopped".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "Service Control Manager events 7000 (failed to start), 7009/7011 (timeout), 7022 (hung on starting), 7023/7024 (terminated with an error), 7031/7034 (terminated unexpectedly) about an Exchange or IIS service, with the Win32 error matched as `%%1058` or as text".into(),
                why: "Setup stops and restarts Exchange services while it configures each role; a service that cannot start stops setup, and one that stays down after setup leaves mail flow, Outlook or OWA broken. The Win32 error says why: 1058 disabled, 1068 a dependency failed, 1053 no response in time (often .NET start-up work or CRL checks without Internet access).".into(),
                fix: vec![
                    "Read the error in the event: for 1058 set the start type back (`Set-Service <service> -StartupType Automatic`), for 1068 start the service it depends on first, for 1053 look for slow start-up (certificate revocation checks without Internet access, .NET native-image generation after an update).".into(),
                    "Start it and confirm it stays up: `Start-Service <service>; Get-Service <service>`.".into(),
                    "If it failed during setup, re-run setup in upgrade mode once it starts by hand.".into(),
                ],
                references: vec![
                    "Microsoft Learn: Event ID 7000, 7001, 7009, 7011, 7023, 7031, 7034 (Service Control Manager)".into(),
                    "Win32 error codes 1053, 1058, 1068".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ScmServiceStartFailed {
    fn default() -> Self {
        Self::new()
    }
}

/// What one SCM event says happened to the service.
fn what_happened(e: &Event) -> String {
    let err = |names: &[&str]| field(e, names).map(describe_error);
    match e.event_id {
        7000 => format!(
            "failed to start: {}",
            err(&["param2", "1"]).unwrap_or_default()
        ),
        7009 | 7011 => format!(
            "timed out after {} ms",
            field(e, &["param1", "0"]).unwrap_or("?")
        ),
        7022 => "hung on starting".into(),
        7023 => format!("terminated: {}", err(&["param2", "1"]).unwrap_or_default()),
        7024 => format!(
            "terminated with service-specific error {}",
            field(e, &["param2", "1"]).unwrap_or("?")
        ),
        _ => "terminated unexpectedly".into(),
    }
}

impl Rule for ScmServiceStartFailed {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.event(SCM, START_IDS);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut by_key: BTreeMap<String, Vec<(&Fact, &Event)>> = BTreeMap::new();
        for (f, e) in events(ctx, &[SCM], START_IDS) {
            let display = display_of(e);
            let key = service_key(ctx, e, display);
            if is_exchange_or_iis(&key, display) {
                by_key.entry(key).or_default().push((f, e));
            }
        }
        by_key
            .into_iter()
            .map(|(key, evs)| {
                let facts: Vec<&Fact> = evs.iter().map(|(f, _)| *f).collect();
                let mut what: Vec<String> = evs.iter().map(|(_, e)| what_happened(e)).collect();
                what.dedup();
                what.sort();
                what.dedup();
                let mut f = self.meta.finding(Some(&key), cite_events(&facts));
                f.title = format!(
                    "{key} {} (SCM {})",
                    what.join("; "),
                    id_tally(evs.iter().map(|(_, e)| *e))
                );
                f.fix = f.fix.iter().map(|s| s.replace("<service>", &key)).collect();
                f.confidence = crate::facts::Confidence::High;
                f.time = earliest(ctx, &facts);
                // A start failure during a setup run is what stopped that run, unless a cause
                // (a disabled service, say) explains both.
                let during_setup = evs.iter().any(|(fact, e)| {
                    matches!(e.event_id, 7000 | 7009 | 7011 | 7022 | 7023)
                        && fact
                            .time
                            .is_some_and(|t| run_at(ctx, ctx.clock.to_utc(t)).is_some())
                });
                if during_setup {
                    f.explains.push(Explains::any(SetupStopped::ID));
                }
                f
            })
            .collect()
    }
}

/// Who a SID is, for the report: well-known accounts by name, others as the SID.
fn who(sid: &str) -> String {
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
                fix: vec![
                    "If setup left it disabled, restore its start type (`Set-Service <service> -StartupType Automatic`, or the mode saved in C:\\ExchangeSetupLogs\\ServiceState.xml) before re-running setup.".into(),
                    "If it was disabled outside setup, find out why (change records, GPO, security tooling) before re-enabling it.".into(),
                ],
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
            f.fix = f.fix.iter().map(|s| s.replace("<service>", &key)).collect();
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
                why: "Starting a service starts what it depends on first; if that one is disabled or broken, the dependant fails with error 1068 and stays down. In the seed, Microsoft Search (Exchange) was disabled, so the Exchange Search Indexer could not start (\"Error 1068\").".into(),
                fix: vec![
                    "Fix the service it depends on first (named in the event): set its start type back if it is disabled (`Set-Service <dependency> -StartupType Manual` for msftesql-Exchange, `Automatic` for most others) and start it.".into(),
                    "Then start the dependant: `Start-Service <service>`.".into(),
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
                f.fix = f
                    .fix
                    .iter()
                    .map(|s| {
                        s.replace("<service>", &key)
                            .replace("<dependency>", &dependency_key)
                    })
                    .collect();
                f.confidence = crate::facts::Confidence::High;
                f.time = earliest(ctx, &facts);
                f
            })
            .collect()
    }
}

/// A display name to its key name, through services.csv or the built-in tables.
fn resolve_display(ctx: &Context<'_>, display: &str) -> String {
    if let Some((_, s)) = ctx.facts.service(display) {
        return s.name.clone();
    }
    MUST_RUN
        .iter()
        .map(|m| (m.key, m.display))
        .chain(MORE_SERVICES.iter().copied())
        .find(|(_, d)| d.eq_ignore_ascii_case(display))
        .map(|(k, _)| k.to_string())
        .unwrap_or_else(|| display.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::rules::testing::{SEED_FAILED_RUN, facts_from_log, run_rule, with_service};

    /// "MSExchangeServiceHost" in UTF-16LE with its NUL, as SCM writes `<Binary>`.
    fn binary(key: &str) -> String {
        key.encode_utf16()
            .chain([0])
            .flat_map(|u| u.to_le_bytes())
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    #[test]
    fn win32_errors_from_insertion_strings_and_text() {
        assert_eq!(win32("%%1058"), Some(1058));
        assert_eq!(
            win32(
                "The service cannot be started, either because it is disabled or because it has no enabled devices associated with it."
            ),
            Some(1058)
        );
        assert_eq!(
            win32("The dependency service or group failed to start."),
            Some(1068)
        );
        assert_eq!(win32("running"), None);
        assert_eq!(
            describe_error("%%1068"),
            "error 1068 (a service it depends on failed to start)"
        );
        assert_eq!(
            key_from_binary(&binary("MSExchangeIS")).as_deref(),
            Some("MSExchangeIS")
        );
        assert_eq!(key_from_binary("ZZ"), None);
    }

    #[test]
    fn start_failure_of_an_exchange_service_is_reported_with_its_error() {
        let mut facts = facts_from_log(SEED_FAILED_RUN);
        let bin = binary("MSExchangeServiceHost");
        facts.facts.push(event(
            4711,
            "2012-02-12T21:15:49Z",
            SCM,
            7000,
            &[
                ("param1", "Microsoft Exchange Service Host"),
                ("param2", "%%1058"),
                ("Binary", &bin),
            ],
        ));
        let f = run_rule(&ScmServiceStartFailed::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeServiceHost"));
        assert!(
            f[0].title.contains("error 1058 (the service is disabled)"),
            "{}",
            f[0].title
        );
        assert_eq!(
            f[0].evidence[0].locator.to_string(),
            "evtx/System.evtx record 4711"
        );
        // It happened inside the failed run, so it explains the stop.
        assert!(f[0].explains.contains(&Explains::any(SetupStopped::ID)));
    }

    #[test]
    fn start_failures_of_other_services_or_providers_are_ignored() {
        let facts = set(vec![
            // A third-party service (the corpus's PsExec-like payload).
            event(
                1,
                "2012-02-12T21:15:49Z",
                SCM,
                7000,
                &[("param1", "seg1"), ("param2", "%%1053")],
            ),
            // The right id from another provider.
            event(
                2,
                "2012-02-12T21:15:49Z",
                "Microsoft-Windows-Winlogon",
                7000,
                &[
                    ("param1", "Microsoft Exchange Service Host"),
                    ("param2", "%%1058"),
                ],
            ),
            // A healthy Exchange service state change.
            event(
                3,
                "2012-02-12T21:15:49Z",
                SCM,
                7036,
                &[
                    ("param1", "Microsoft Exchange Service Host"),
                    ("param2", "running"),
                ],
            ),
        ]);
        assert!(run_rule(&ScmServiceStartFailed::new(), &facts).is_empty());
    }

    #[test]
    fn display_names_map_through_services_csv_or_the_builtin_table() {
        let facts = with_service(
            set(vec![event(
                9,
                "2020-01-01T00:00:00Z",
                SCM,
                7031,
                &[
                    ("param1", "Microsoft Exchange Information Store"),
                    ("param2", "1"),
                ],
            )]),
            "MSExchangeIS",
            "Auto",
        );
        // with_service uses the key as display too: mapped through the built-in table.
        let f = run_rule(&ScmServiceStartFailed::new(), &facts);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeIS"));
        assert!(f[0].title.contains("terminated unexpectedly"));
        assert!(f[0].explains.is_empty(), "no setup run: explains nothing");

        // A display name only services.csv knows.
        let facts = set(vec![
            crate::rules::testing::config::service(
                1,
                "MSExchangeContosoConnector",
                "Contoso Mail Connector",
                "Auto",
                "Stopped",
            ),
            event(
                10,
                "2020-01-01T00:00:00Z",
                SCM,
                7000,
                &[("param1", "Contoso Mail Connector"), ("param2", "%%1053")],
            ),
        ]);
        let f = run_rule(&ScmServiceStartFailed::new(), &facts);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeContosoConnector"));
        assert!(f[0].title.contains("error 1053"), "{}", f[0].title);
    }

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
        assert!(f[0].fix[0].contains("msftesql-Exchange"), "{}", f[0].fix[0]);
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
