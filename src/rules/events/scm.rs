//! Service Control Manager events about Exchange and IIS services: start failures and crashes
//! (7000/7009/7011/7022/7023/7024/7031/7034), and what every SCM rule shares (Win32 errors,
//! service key names). Start types and dependencies are in `service_state.rs`.
//!
//! The SCM writes Win32 errors as insertion strings (`%%1058`), not as text: both are matched.
//! Service names: 7040 carries the key name in `param4`; most SCM events carry it in `<Binary>`
//! (UTF-16LE); otherwise the display name is mapped through services.csv or a built-in table.

use super::{Context, Rule, cite_events, earliest, events, field, id_tally, run_at};
use crate::facts::{Event, Explains, Fact, Finding, FindingKind, Severity};
use crate::repair::{Action, Phase, common};
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
pub(super) fn key_from_binary(hex: &str) -> Option<String> {
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
pub(super) fn display_of(e: &Event) -> &str {
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
                    Action::new(Phase::Cause, "Read the error in the event: for 1058 set the start type back (Set-Service <service> -StartupType Automatic), for 1068 start the service it depends on first, for 1053 look for slow start-up (certificate revocation checks without Internet access, .NET native-image generation after an update)")
                        .target("<service>")
                        .if_cause(),
                    common::start_service("<service>"),
                    common::rerun().if_cause(),
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

/// A display name to its key name, through services.csv or the built-in tables.
pub(super) fn resolve_display(ctx: &Context<'_>, display: &str) -> String {
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
}
