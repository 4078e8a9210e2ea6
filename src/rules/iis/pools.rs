//! Exchange application pools: present, LocalSystem, auto-starting, 64-bit.

use super::{app_pools, apphost_path, applications};
use crate::facts::{
    AppPool, Confidence, Evidence, Explains, Fact, Finding, FindingKind, Locator, Position,
    Severity,
};
use crate::repair::{APPCMD, Action, Change, Phase, common};
use crate::rules::host::cite;
use crate::rules::roles::role_installed;
use crate::rules::{Context, Rule, RuleMeta};
use std::collections::{BTreeMap, BTreeSet};

/// Which Exchange application pools a server with the Client Access role must have. The
/// PowerShell pool serves remote PowerShell (EMC/EMS) and DefaultAppPool serves /OAB and /Rpc
/// on 2010. Exchange runs them all as LocalSystem.
pub const CAS_POOLS: &[&str] = &[
    "MSExchangeOWAAppPool",
    "MSExchangeSyncAppPool",
    "MSExchangePowerShellAppPool",
    "MSExchangeAutodiscoverAppPool",
    "MSExchangeServicesAppPool",
    "MSExchangeECPAppPool",
    "DefaultAppPool",
];

/// What an Exchange pool does, for titles.
fn pool_role(pool: &str) -> &'static str {
    match pool.to_ascii_lowercase().as_str() {
        "msexchangeowaapppool" => "OWA",
        "msexchangesyncapppool" => "ActiveSync (clients get 503)",
        "msexchangepowershellapppool" => "remote PowerShell: EMC and EMS",
        "msexchangeautodiscoverapppool" => "Autodiscover",
        "msexchangeservicesapppool" => "EWS",
        "msexchangeecpapppool" => "ECP",
        "defaultapppool" => "Default Web Site (OAB, Outlook Anywhere)",
        _ => "an Exchange virtual directory",
    }
}

fn is_exchange_pool(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("msexchange") || n == "defaultapppool"
}

/// An Exchange application pool is missing, runs under the wrong identity, does not start
/// automatically or runs 32-bit.
pub struct AppPoolMisconfigured {
    meta: RuleMeta,
}

impl AppPoolMisconfigured {
    pub const ID: &'static str = "apppool-misconfigured";

    pub fn new() -> Self {
        AppPoolMisconfigured {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An Exchange application pool is misconfigured".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "in applicationHost.config: an Exchange pool (MSExchange*AppPool, DefaultAppPool) missing while the Client Access role is installed or an application refers to it, with processModel identityType other than LocalSystem, with autoStart=\"false\", or with enable32BitAppOnWin64=\"true\"".into(),
                why: "Each Exchange virtual directory runs in its own pool as LocalSystem. A missing pool leaves its applications with nowhere to run; another identity cannot read Exchange's keys and files (WAS 5021/5059, HTTP 500/503); a pool with autoStart=false is not started by WAS after iisreset or a reboot, so its vdir answers 503 (MSExchangeSyncAppPool: ActiveSync down); a 32-bit pool cannot load 64-bit Exchange modules (IIS 2282).".into(),
                // Per pool, filled in by `check`; the planner backs IIS up and runs iisreset, which
        // starts every pool that starts automatically.
                fix: vec![common::iisreset()],
                references: vec![
                    "Microsoft Learn: Application pool identities and processModel (IIS configuration reference)".into(),
                    "Microsoft Learn: Reset virtual directories in Exchange Server".into(),
                ],
                explains: vec![],
            },
        }
    }

    fn finding(
        &self,
        pool: &str,
        problems: &[String],
        actions: &[Action],
        evidence: Vec<Evidence>,
        thirty_two_bit: bool,
    ) -> Finding {
        let mut f = self.meta.finding(Some(pool), evidence);
        f.title = format!("{pool} ({}): {}", pool_role(pool), problems.join("; "));
        let mut fix = actions.to_vec();
        fix.extend(self.meta.fix.iter().cloned());
        f.fix = fix;
        f.explains = vec![
            Explains::about("was-apppool-disabled", pool),
            Explains::about("was-listener-failure", pool),
        ];
        if pool.eq_ignore_ascii_case("MSExchangeSyncAppPool") {
            f.explains.push(Explains::any("activesync-errors"));
        }
        if thirty_two_bit {
            f.explains.push(Explains::any("iis-module-load-failed"));
        }
        f.confidence = Confidence::High;
        f
    }
}

/// One appcmd setting of a pool, as a repair after setup.
fn pool_setting(pool: &str, what: &str, setting: &str) -> Action {
    Action::new(Phase::Repair, &what.replace("{pool}", pool))
        .target(pool)
        .command(&format!(
            "{APPCMD} set apppool /apppool.name:\"{pool}\" {setting}"
        ))
        .changes(&[Change::IisConfig])
        .group("apppool")
}

impl Default for AppPoolMisconfigured {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for AppPoolMisconfigured {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let facts = ctx.facts;
        let pools: Vec<(&Fact, &AppPool)> = app_pools(facts).collect();
        if pools.is_empty() {
            // applicationHost.config not collected or not parsed: nothing to compare.
            return Vec::new();
        }
        let mut out = Vec::new();
        let names: BTreeSet<String> = pools
            .iter()
            .map(|(_, p)| p.name.to_ascii_lowercase())
            .collect();
        let apphost = apphost_path(facts).unwrap_or("iis/applicationHost.config");

        // Missing pools: referenced by an application, or expected with the CAS role.
        let mut missing: BTreeMap<String, (String, Vec<Evidence>)> = BTreeMap::new();
        for (f, a) in applications(facts) {
            let Some(pool) = a.app_pool.as_deref().filter(|p| !p.trim().is_empty()) else {
                continue;
            };
            if !names.contains(&pool.to_ascii_lowercase()) {
                missing
                    .entry(pool.to_ascii_lowercase())
                    .or_insert_with(|| (pool.to_string(), Vec::new()))
                    .1
                    .push(cite(
                        f,
                        format!(
                            "{}{} uses applicationPool=\"{pool}\", which is not defined",
                            a.site, a.path
                        ),
                    ));
            }
        }
        let cas = role_installed(facts, "ClientAccessRole")
            || pools
                .iter()
                .any(|(_, p)| p.name.to_ascii_lowercase().starts_with("msexchange"));
        if cas {
            for pool in CAS_POOLS {
                if !names.contains(&pool.to_ascii_lowercase()) {
                    missing
                        .entry(pool.to_ascii_lowercase())
                        .or_insert_with(|| (pool.to_string(), Vec::new()))
                        .1
                        .push(Evidence::new(
                            Locator::new(
                                apphost,
                                Position::Element(
                                    "configuration/system.applicationHost/applicationPools".into(),
                                ),
                            ),
                            format!(
                                "applicationPools defines {} pool(s), not {pool}",
                                pools.len()
                            ),
                        ));
                }
            }
        }
        for (pool, evidence) in missing.into_values() {
            let actions = vec![
                Action::new(Phase::Repair, &format!("If {pool} is still missing after setup, re-create it by resetting the virtual directories that use it (EMC > Server Configuration > Client Access > Reset Virtual Directory, or Remove-/New-…VirtualDirectory in the Exchange Management Shell); the pool must run as LocalSystem"))
                    .target(&pool)
                    .changes(&[Change::IisConfig]),
                common::rerun(),
            ];
            out.push(self.finding(&pool, &["missing".into()], &actions, evidence, false));
        }

        // Pools that exist but are configured wrongly.
        for (f, p) in &pools {
            if !is_exchange_pool(&p.name) {
                continue;
            }
            let mut problems = Vec::new();
            let mut actions = Vec::new();
            let name = &p.name;
            if let Some(id) = p.identity_type.as_deref()
                && !id.trim().eq_ignore_ascii_case("LocalSystem")
            {
                problems.push(format!("identity {id}, not LocalSystem"));
                actions.push(pool_setting(
                    name,
                    "Run {pool} as LocalSystem",
                    "/processModel.identityType:LocalSystem",
                ));
            }
            if p.auto_start == Some(false) {
                problems.push("autoStart=false: not started after iisreset or a reboot".into());
                actions.push(pool_setting(
                    name,
                    "Let WAS start {pool} by itself",
                    "/autoStart:true",
                ));
            }
            let thirty_two = p.enable_32bit == Some(true);
            if thirty_two {
                problems
                    .push("enable32BitAppOnWin64=true: 64-bit Exchange modules cannot load".into());
                actions.push(pool_setting(
                    name,
                    "Run {pool} 64-bit",
                    "/enable32BitAppOnWin64:false",
                ));
            }
            if problems.is_empty() {
                continue;
            }
            let evidence = vec![cite(
                f,
                format!(
                    "{name}: identityType={} autoStart={} enable32BitAppOnWin64={}",
                    p.identity_type.as_deref().unwrap_or("(default)"),
                    p.auto_start.map_or("(default)".into(), |b| b.to_string()),
                    p.enable_32bit.map_or("(default)".into(), |b| b.to_string()),
                ),
            )];
            out.push(self.finding(name, &problems, &actions, evidence, thirty_two));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Fact, FactKind};
    use crate::rules::testing::config::*;
    use crate::rules::testing::run_rule;

    fn is_kind(f: &Fact, pred: impl Fn(&FactKind) -> bool) -> bool {
        pred(&f.kind)
    }

    #[test]
    fn seed_sync_pool_does_not_auto_start() {
        let f = run_rule(&AppPoolMisconfigured::new(), &seed_config());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeSyncAppPool"));
        assert!(f[0].title.contains("autoStart=false"));
        assert!(f[0].title.contains("503"));
        assert!(f[0].fix.iter().any(|s| s.contains("/autoStart:true")));
        assert!(
            f[0].evidence[0]
                .locator
                .to_string()
                .contains("add[@name='MSExchangeSyncAppPool']")
        );
        assert!(f[0].explains.contains(&Explains::about(
            "was-apppool-disabled",
            "MSExchangeSyncAppPool"
        )));
    }

    #[test]
    fn wrong_identity_and_missing_pool() {
        let mut facts = without(healthy_config(), |f| {
            is_kind(
                f,
                |k| matches!(k, FactKind::AppPool(p) if p.name == "MSExchangeOWAAppPool"),
            )
        });
        for f in facts.facts.iter_mut() {
            if let FactKind::AppPool(p) = &mut f.kind
                && p.name == "MSExchangePowerShellAppPool"
            {
                p.identity_type = Some("ApplicationPoolIdentity".into());
            }
        }
        let f = run_rule(&AppPoolMisconfigured::new(), &facts);
        let subjects: Vec<_> = f.iter().filter_map(|f| f.subject.as_deref()).collect();
        assert_eq!(
            subjects,
            vec!["MSExchangeOWAAppPool", "MSExchangePowerShellAppPool"]
        );
        assert!(f[0].title.contains("missing"));
        // The /owa application's reference and the expected-pool list both cite it.
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.excerpt.contains("/owa uses applicationPool"))
        );
        assert!(
            f[1].title
                .contains("identity ApplicationPoolIdentity, not LocalSystem")
        );
    }

    #[test]
    fn healthy_pools_are_silent() {
        assert!(run_rule(&AppPoolMisconfigured::new(), &healthy_config()).is_empty());
        // No applicationHost.config: nothing to say.
        let facts = without(healthy_config(), |f| {
            is_kind(f, |k| matches!(k, FactKind::AppPool(_)))
        });
        assert!(run_rule(&AppPoolMisconfigured::new(), &facts).is_empty());
    }
}
