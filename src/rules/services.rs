//! Services: a service setup needed could not start because it was disabled.

use super::{Context, InterestBuilder, Rule, RuleMeta};
use crate::facts::Stamp;
use crate::facts::{Confidence, Evidence, Explains, Fact, Finding, FindingKind, Severity};
use crate::repair::{Action, Change, Phase, common};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![Box::new(ServiceDisabledBlocksSetup::new())]
}

pub const SCM: &str = "Service Control Manager";

static SERVICE_IN_ERROR: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"Cannot start service ([A-Za-z0-9_.$-]+) on computer",
        r"Service '[^']*\(([A-Za-z0-9_.$-]+)\)' cannot be started",
        r"(?i)(?:re)?start-service\s+([A-Za-z0-9_.$-]+)",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("static regex"))
    .collect()
});

/// Win32 error 1058 as setup logs render it.
const DISABLED_TEXT: &str = "because it is disabled";

/// A setup error says a service could not be started because it is disabled.
pub struct ServiceDisabledBlocksSetup {
    meta: RuleMeta,
}

impl ServiceDisabledBlocksSetup {
    pub const ID: &'static str = "service-disabled-blocks-setup";

    pub fn new() -> Self {
        ServiceDisabledBlocksSetup {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "A service setup must start is disabled".into(),
                kind: FindingKind::Cause,
                severity: Severity::Critical,
                looks_for: "a setup [ERROR] block saying a service \"cannot be started, either because it is disabled\" (Win32 error 1058), confirmed by the service's StartMode in services.csv and by SCM events 7000/7040".into(),
                why: "Setup restarts Exchange services while it configures each role. A disabled service cannot be started, so setup stops on a critical error and every role after that point is left unconfigured.".into(),
                // The start mode and who disabled it are filled in per service by `check`.
                fix: vec![common::rerun()],
                references: vec![
                    "Microsoft Learn: Exchange Server setup fails because services are disabled (ServiceControl.ps1)".into(),
                    "Win32 error 1058 ERROR_SERVICE_DISABLED".into(),
                ],
                explains: vec![super::setup::SetupStopped::ID.into()],
            },
        }
    }
}

impl Default for ServiceDisabledBlocksSetup {
    fn default() -> Self {
        Self::new()
    }
}

/// The service key name a setup error is about, if any.
pub fn service_in(texts: &[&str]) -> Option<String> {
    texts.iter().find_map(|t| {
        SERVICE_IN_ERROR
            .iter()
            .find_map(|re| re.captures(t).map(|c| c[1].to_string()))
    })
}

/// SCM events (7000/7001 with 1058, 7040 to disabled) that concern `name` or `display`.
pub fn scm_evidence<'a>(ctx: &'a Context<'_>, name: &str, display: &str) -> Vec<&'a Fact> {
    ctx.facts
        .events()
        .filter(|(_, e)| e.provider.eq_ignore_ascii_case(SCM))
        .filter(|(_, e)| {
            let p1 = e.data.get("param1").map(String::as_str).unwrap_or("");
            let about = p1.eq_ignore_ascii_case(name)
                || p1.eq_ignore_ascii_case(display)
                || e.data
                    .get("param4")
                    .is_some_and(|k| k.eq_ignore_ascii_case(name));
            let disabled = match e.event_id {
                7000 | 7001 => e
                    .data
                    .values()
                    .any(|v| v.contains("1058") || v.contains(DISABLED_TEXT)),
                7040 => e
                    .data
                    .get("param3")
                    .is_some_and(|v| v.eq_ignore_ascii_case("disabled")),
                _ => false,
            };
            about && disabled
        })
        .map(|(f, _)| f)
        .collect()
}

/// What the evidence says of who disabled `service` and when, as the step that removes the
/// cause: nothing when setup's own ServiceControl step did it during a run (restoring the start
/// type is then enough); the time, the account and how long before setup started when it was
/// done outside setup; a search to make when no 7040 event says.
pub fn who_disabled(ctx: &Context<'_>, service: &str, display: &str) -> Option<Action> {
    let is = |v: Option<&String>, n: &str| v.is_some_and(|v| v.trim().eq_ignore_ascii_case(n));
    let last = ctx
        .facts
        .events()
        .filter(|(_, e)| e.provider.eq_ignore_ascii_case(SCM) && e.event_id == 7040)
        .filter(|(_, e)| {
            (is(e.data.get("param1"), service)
                || is(e.data.get("param1"), display)
                || is(e.data.get("param4"), service))
                && is(e.data.get("param3"), "disabled")
        })
        // The latest of the events a fact stands for (`Event::latest`).
        .filter_map(|(f, e)| e.latest(f.time).map(|t| (ctx.clock.to_utc(t), f, e)))
        .max_by_key(|(t, _, _)| *t);
    let find = "Group Policy, a script or a security product that sets start types";
    let Some((t, _, e)) = last else {
        return Some(
            Action::new(
                Phase::Cause,
                &format!(
                    "Find what disabled {service} before re-running setup: no 7040 event in the collected System log says when or by whom (check {find}, or an earlier failed setup run)"
                ),
            )
            .target(service)
            .changes(&[Change::Policy]),
        );
    };
    if ctx.facts.run_at(ctx.clock.to_local(t)).is_some() {
        return None;
    }
    let by = e
        .data
        .get(crate::parse::evtx::USER_SID_KEY)
        .map(|sid| format!(" by {}", super::events::service_state::who(sid)))
        .unwrap_or_default();
    let next_run = ctx
        .facts
        .runs()
        .filter(|(_, r)| r.header)
        .filter_map(|(_, r)| r.start.map(|s| ctx.clock.to_utc(Stamp::Local(s))))
        .filter(|s| *s > t)
        .min();
    let when = match next_run {
        Some(s) => {
            let m = ((s - t).num_seconds() + 30) / 60;
            format!(
                "{} before setup started at {} UTC, so setup did not do it",
                crate::repair::words::minutes(m),
                s.format("%H:%M:%S")
            )
        }
        None => "outside any setup run, so setup did not do it".into(),
    };
    Some(
        Action::new(
            Phase::Cause,
            &format!(
                "Find and stop what disabled {service}: the System log shows it set to Disabled at {} UTC{by} (event 7040), {when}; look at {find}",
                t.format("%Y-%m-%d %H:%M:%S")
            ),
        )
        .target(service)
        .changes(&[Change::Policy]),
    )
}

impl Rule for ServiceDisabledBlocksSetup {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.event(SCM, &[7000, 7001, 7040]);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut by_service: BTreeMap<String, Vec<&Fact>> = BTreeMap::new();
        for (run_fact, run) in ctx.facts.last_runs() {
            for (fact, err) in ctx.facts.errors_of(run_fact, run) {
                let mut texts: Vec<&str> = err.messages.iter().map(String::as_str).collect();
                if let Some(c) = &err.command {
                    texts.push(c);
                }
                let Some(service) = service_in(&texts) else {
                    continue;
                };
                let says_disabled = err.messages.iter().any(|m| m.contains(DISABLED_TEXT));
                let csv_disabled = ctx
                    .facts
                    .service(&service)
                    .is_some_and(|(_, s)| s.is_disabled());
                if says_disabled || csv_disabled {
                    by_service.entry(service).or_default().push(fact);
                }
            }
        }
        by_service
            .into_iter()
            .map(|(service, errors)| {
                let mut evidence: Vec<Evidence> =
                    errors.iter().map(|f| f.evidence.clone()).collect();
                let mut sources = 1;
                let display = ctx
                    .facts
                    .service(&service)
                    .map(|(_, s)| s.display_name.clone())
                    .unwrap_or_default();
                if let Some((f, s)) = ctx.facts.service(&service) {
                    evidence.push(f.evidence.clone());
                    if s.is_disabled() {
                        sources += 1;
                    }
                }
                let events = scm_evidence(ctx, &service, &display);
                if !events.is_empty() {
                    sources += 1;
                }
                evidence.extend(events.iter().map(|f| f.evidence.clone()));
                let mut f = self.meta.finding(Some(&service), evidence);
                f.explains
                    .push(Explains::about("scm-service-start-failed", &service));
                f.explains
                    .push(Explains::about("exchange-service-disabled", &service));
                f.title = format!("{service} is disabled, so setup could not start it");
                let mut fix = vec![];
                fix.extend(who_disabled(ctx, &service, &display));
                fix.push(common::start_mode(
                    &service,
                    common::usual_start_mode(&service),
                ));
                fix.append(&mut f.fix);
                f.fix = fix;
                f.confidence = match sources {
                    1 => Confidence::Medium,
                    _ => Confidence::High,
                };
                f.time = errors
                    .iter()
                    .chain(events.iter())
                    .filter_map(|e| e.time)
                    .map(|t| ctx.clock.to_utc(t))
                    .min();
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{
        SEED_FAILED_RUN, SUCCESSFUL_RUN, facts_from_log, run_rule, with_service,
    };

    #[test]
    fn names_the_disabled_service_from_the_seed_error() {
        let facts = facts_from_log(SEED_FAILED_RUN);
        let f = run_rule(&ServiceDisabledBlocksSetup::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeServiceHost"));
        assert_eq!(f[0].confidence, Confidence::Medium);
        assert!(
            f[0].fix
                .iter()
                .any(|a| a.contains("Set-Service MSExchangeServiceHost"))
        );
    }

    #[test]
    fn services_csv_raises_confidence() {
        let facts = with_service(
            facts_from_log(SEED_FAILED_RUN),
            "MSExchangeServiceHost",
            "Disabled",
        );
        let f = run_rule(&ServiceDisabledBlocksSetup::new(), &facts);
        assert_eq!(f[0].confidence, Confidence::High);
        assert_eq!(f[0].evidence.len(), 2);
    }

    #[test]
    fn silent_on_a_successful_run() {
        let facts = with_service(
            facts_from_log(SUCCESSFUL_RUN),
            "MSExchangeServiceHost",
            "Auto",
        );
        assert!(run_rule(&ServiceDisabledBlocksSetup::new(), &facts).is_empty());
    }
}
