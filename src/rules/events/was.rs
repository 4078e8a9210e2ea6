//! Windows Process Activation Service (WAS) events about Exchange's application pools: 5139
//! listener-channel failures, 5002/5059/5021 pools disabled or unable to start. The provider
//! names its fields; which names is not in our references, so the pool is looked up by likely
//! names (`AppPool…`), then by position.

use super::{Context, Rule, cite_events, earliest, events, field, id_tally};
use crate::facts::{Confidence, Event, Fact, Finding, FindingKind, Severity};
use crate::repair::{APPCMD, Action, Change, Phase, common};
use crate::rules::{InterestBuilder, RuleMeta};
use std::collections::{BTreeMap, BTreeSet};

/// `Provider/@Name` of the Windows Process Activation Service.
pub const WAS: &[&str] = &["Microsoft-Windows-WAS", "WAS"];
/// The value of the first field whose name contains `part` (case-insensitive).
fn field_like<'a>(e: &'a Event, part: &str) -> Option<&'a str> {
    let part = part.to_ascii_lowercase();
    e.data
        .iter()
        .find(|(k, v)| k.to_ascii_lowercase().contains(&part) && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

/// The application pool a WAS event is about.
fn pool_of(e: &Event) -> Option<&str> {
    field_like(e, "apppool").or_else(|| field(e, &["param1", "0"]))
}

/// WAS 5139: a listener channel failed in a worker process.
pub struct WasListenerFailure {
    meta: RuleMeta,
}

impl WasListenerFailure {
    pub const ID: &'static str = "was-listener-failure";

    pub fn new() -> Self {
        WasListenerFailure {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "A listener channel failed in an IIS worker process".into(),
                kind: FindingKind::Symptom,
                severity: Severity::Medium,
                looks_for: "WAS 5139 \"A listener channel for protocol '…' in worker process '…' serving application pool '…' reported a listener channel failure\", by application pool".into(),
                why: "The worker process serving the pool could not take requests for that protocol, usually because it failed while starting (a module that does not load, an invalid configuration): the sites in that pool do not answer. It typically accompanies module load failures (IIS 2280) in the same pool.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Find what makes the pool's worker process fail at start-up (IIS 2280 and 2282 module errors, ASP.NET configuration errors, WAS 5002 and 5059) and fix that first")
                        .if_cause(),
                    common::iisreset(),
                ],
                references: vec!["Microsoft Learn: WAS event 5139 (listener channel failure)".into()],
                explains: vec![],
            },
        }
    }
}

impl Default for WasListenerFailure {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for WasListenerFailure {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for p in WAS {
            i.event(p, &[5139]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut by_pool: BTreeMap<String, (Vec<&Fact>, BTreeSet<String>)> = BTreeMap::new();
        for (f, e) in events(ctx, WAS, &[5139]) {
            let Some(pool) = pool_of(e) else { continue };
            let protocol = field_like(e, "protocol")
                .or_else(|| field(e, &["param4", "3"]))
                .unwrap_or("?");
            let entry = by_pool.entry(pool.to_string()).or_default();
            entry.0.push(f);
            entry.1.insert(protocol.to_string());
        }
        by_pool
            .into_iter()
            .map(|(pool, (facts, protocols))| {
                let mut f = self.meta.finding(Some(&pool), cite_events(&facts));
                f.title = format!(
                    "Listener channel for {} failed in the worker process serving {pool} (WAS 5139 ×{})",
                    protocols.into_iter().collect::<Vec<_>>().join(", "),
                    facts.iter().map(|f| super::weight(f)).sum::<u64>()
                );
                f.confidence = Confidence::High;
                f.time = earliest(ctx, &facts);
                f
            })
            .collect()
    }
}

/// WAS 5002/5059/5021: an application pool was disabled or cannot start its worker process.
pub struct WasAppPoolDisabled {
    meta: RuleMeta,
}

impl WasAppPoolDisabled {
    pub const ID: &'static str = "was-apppool-disabled";

    pub fn new() -> Self {
        WasAppPoolDisabled {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An IIS application pool was disabled".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "WAS 5002 (pool automatically disabled after a series of worker-process failures), 5059 (pool disabled: WAS could not start a worker process) and 5021 (the pool's identity is invalid), by application pool".into(),
                why: "A disabled pool answers nothing until it is started again: every Exchange application in it (OWA, ECP, EWS, ActiveSync, PowerShell for EMC/EMS) is down. Rapid-fail protection disables a pool whose worker process keeps crashing at start-up, which is what a broken module or configuration does.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Fix why its worker process fails (the module and configuration errors logged just before; for 5021 the pool identity: Exchange pools run as LocalSystem)")
                        .if_cause(),
                    Action::new(Phase::Repair, "Start the pool <pool>")
                        .target("<pool>")
                        .command(&format!("{APPCMD} start apppool /apppool.name:\"<pool>\""))
                        .changes(&[Change::ServiceState])
                        .group("start-pool"),
                    common::iisreset(),
                ],
                references: vec![
                    "Microsoft Learn: WAS events 5002, 5021, 5059 (application pool disabled)".into(),
                    "Microsoft Learn: IIS rapid-fail protection".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for WasAppPoolDisabled {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for WasAppPoolDisabled {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for p in WAS {
            i.event(p, &[5002, 5021, 5059]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut by_pool: BTreeMap<String, (Vec<&Fact>, Vec<&Event>)> = BTreeMap::new();
        for (f, e) in events(ctx, WAS, &[5002, 5021, 5059]) {
            let Some(pool) = pool_of(e) else { continue };
            let entry = by_pool.entry(pool.to_string()).or_default();
            entry.0.push(f);
            entry.1.push(e);
        }
        by_pool
            .into_iter()
            .map(|(pool, (facts, evs))| {
                let mut why: Vec<&str> = evs
                    .iter()
                    .map(|e| match e.event_id {
                        5002 => "disabled after a series of worker-process failures",
                        5059 => "disabled: WAS could not start a worker process",
                        _ => "its identity is invalid",
                    })
                    .collect();
                why.sort();
                why.dedup();
                let mut f = self.meta.finding(Some(&pool), cite_events(&facts));
                f.title = format!(
                    "Application pool {pool}: {} (WAS {})",
                    why.join("; "),
                    id_tally(evs.iter().copied())
                );
                f.fix = f.fix.iter().map(|s| s.replace("<pool>", &pool)).collect();
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
    use crate::rules::testing::run_rule;

    const T: &str = "2012-02-12T22:40:00Z";

    #[test]
    fn was_5139_by_pool_with_protocol() {
        let data = [
            ("AppPoolID", "DefaultAppPool"),
            ("ProcessID", "740"),
            ("ListenerChannelID", "0"),
            ("ProtocolID", "http"),
        ];
        let facts = set(vec![
            event(31, T, "Microsoft-Windows-WAS", 5139, &data),
            event(32, T, "Microsoft-Windows-WAS", 5139, &data),
        ]);
        let f = run_rule(&WasListenerFailure::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("DefaultAppPool"));
        assert!(
            f[0].title.contains("for http") && f[0].title.contains("×2"),
            "{}",
            f[0].title
        );
        // Positional data (an export without names) reads the same.
        let facts = set(vec![classic(
            33,
            T,
            "WAS",
            5139,
            &["MSExchangeOWAAppPool", "1", "0", "http"],
        )]);
        let f = run_rule(&WasListenerFailure::new(), &facts);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeOWAAppPool"));
    }

    #[test]
    fn was_rules_ignore_other_ids_and_providers() {
        let facts = set(vec![
            event(
                1,
                T,
                "Microsoft-Windows-WAS",
                5186,
                &[("AppPoolID", "DefaultAppPool")],
            ),
            event(
                2,
                T,
                "Microsoft-Windows-IIS-W3SVC",
                5139,
                &[("AppPoolID", "DefaultAppPool")],
            ),
        ]);
        assert!(run_rule(&WasListenerFailure::new(), &facts).is_empty());
        assert!(run_rule(&WasAppPoolDisabled::new(), &facts).is_empty());
    }

    #[test]
    fn was_pool_disabled_says_why() {
        let facts = set(vec![
            event(
                40,
                T,
                "Microsoft-Windows-WAS",
                5002,
                &[("AppPoolID", "MSExchangeSyncAppPool")],
            ),
            event(
                41,
                T,
                "Microsoft-Windows-WAS",
                5059,
                &[("AppPoolID", "MSExchangeSyncAppPool")],
            ),
        ]);
        let f = run_rule(&WasAppPoolDisabled::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeSyncAppPool"));
        assert!(f[0].title.contains("series of worker-process failures"));
        assert!(
            f[0].fix
                .iter()
                .any(|a| a.contains("start apppool /apppool.name:\"MSExchangeSyncAppPool\""))
        );
    }
}
