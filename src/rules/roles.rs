//! Roles: what the registry says setup finished, against what is on disk.
//!
//! Setup writes `UnpackedVersion` under each role key once the binaries are laid down and
//! `ConfiguredVersion` once the role is configured; `Watermark` and `Action` mark a run that
//! stopped part-way (xExchange `Get-IsSetupPartiallyCompleted`, CSS `Test-InstallWatermark`).

use super::host::cite;
use super::{Context, Rule, RuleMeta};
use crate::facts::{
    Confidence, Fact, FactKind, FactSet, FileVersion, Finding, FindingKind, RoleState, Severity,
};
use crate::repair::{Action, Change, Phase, common};
use std::cmp::Ordering;
use std::collections::BTreeMap;

pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(RoleConfigIncomplete::new()),
        Box::new(BinariesUpgradedConfigNot::new()),
    ]
}

/// Every `RoleState` fact with its fact.
pub fn role_states(facts: &FactSet) -> impl Iterator<Item = (&Fact, &RoleState)> {
    facts.iter().filter_map(|f| match &f.kind {
        FactKind::RoleState(r) => Some((f, r)),
        _ => None,
    })
}

/// Is `role` installed (its key has an unpacked or configured version) on this server?
pub fn role_installed(facts: &FactSet, role: &str) -> bool {
    role_states(facts).any(|(_, r)| {
        r.role.eq_ignore_ascii_case(role)
            && (r.unpacked_version.is_some() || r.configured_version.is_some())
    })
}

/// `14.2.247.5`, `14.02.0247.005` or `14.02.0247.005 (dp.110930-1250)` → `[14, 2, 247, 5]`.
pub fn parse_version(s: &str) -> Option<Vec<u32>> {
    let token = s
        .trim()
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .next()?
        .trim_end_matches('.');
    let parts: Vec<u32> = token
        .split('.')
        .map(|p| p.parse::<u32>().ok())
        .collect::<Option<_>>()?;
    (parts.len() >= 2).then_some(parts)
}

/// The short form the registry and setup log use: `14.2.247.5`.
pub fn short_version(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// How many leading parts say "a different service pack / cumulative update". Exchange 2010
/// rollups change the build part without re-running role configuration, and 2013+ security
/// updates change only the fourth part, so comparing more parts would flag healthy servers.
fn upgrade_parts(v: &[u32]) -> usize {
    match v.first() {
        Some(14) | Some(8) => 2,
        _ => 3,
    }
}

/// Compares two versions at the level where setup re-configures roles.
pub fn compare_level(a: &[u32], b: &[u32]) -> Ordering {
    let n = upgrade_parts(a).max(upgrade_parts(b));
    let pad = |v: &[u32]| {
        (0..n)
            .map(|i| v.get(i).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    pad(a).cmp(&pad(b))
}

/// `v14` → 14.
fn major_number(major: &str) -> Option<u32> {
    major.trim_start_matches(['v', 'V']).parse().ok()
}

// ------------------------------------------------------------------------------------------

/// A role key shows setup did not finish configuring the role.
pub struct RoleConfigIncomplete {
    meta: RuleMeta,
}

impl RoleConfigIncomplete {
    pub const ID: &'static str = "role-config-incomplete";

    pub fn new() -> Self {
        RoleConfigIncomplete {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Setup did not finish configuring a role".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "an Exchange role key (HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v14|v15\\<Role>) with UnpackedVersion but no ConfiguredVersion, a ConfiguredVersion older than UnpackedVersion, or a Watermark or Action value left behind".into(),
                why: "A service pack or cumulative update uninstalls the old build and configures the new one role by role. UnpackedVersion says the new binaries are on disk; ConfiguredVersion is written only when the role's configuration finished, and Watermark/Action record the task setup stopped at. Until setup completes, the role runs new binaries on old or half-written configuration (services, IIS, web.config files), and the Best Practices Analyzer reports the role as not configured.".into(),
                fix: vec![
                    Action::new(Phase::Rerun, "Re-run setup").needs("when a Watermark and Action are present unattended setup may refuse to run: start the setup wizard, which offers to resume the incomplete installation"),
                    Action::new(Phase::LastResort, "Copy UnpackedVersion into ConfiguredVersion and delete Watermark and Action under the role keys (the backup step exported them). This hides the incomplete configuration without doing it: check every service, virtual directory and web.config afterwards")
                        .target("HKLM\\SOFTWARE\\Microsoft\\ExchangeServer")
                        .changes(&[Change::Registry]),
                ],
                references: vec![
                    "Microsoft Learn: Exchange Server setup fails with an install watermark (aka.ms/SA-InstallWatermark)".into(),
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                    "Exchange Team Blog (2007-05-21): Exchange setup watermarks and the Action registry value".into(),
                ],
                explains: vec![],
            },
        }
    }

    /// Why `r` is incomplete, one clause per reason; empty when complete.
    fn reasons(r: &RoleState) -> Vec<String> {
        let mut out = Vec::new();
        let unpacked = r.unpacked_version.as_deref().and_then(parse_version);
        let configured = r.configured_version.as_deref().and_then(parse_version);
        match (&unpacked, &configured, &r.configured_version) {
            (Some(u), None, None) => out.push(format!(
                "UnpackedVersion {} but no ConfiguredVersion",
                short_version(u)
            )),
            (Some(u), Some(c), _) if compare_level(c, u) == Ordering::Less => out.push(format!(
                "ConfiguredVersion {} is older than UnpackedVersion {}",
                short_version(c),
                short_version(u)
            )),
            _ => {}
        }
        if let Some(w) = r.watermark.as_deref().filter(|w| !w.trim().is_empty()) {
            out.push(format!("Watermark={w}"));
        }
        if let Some(a) = r.action.as_deref().filter(|a| !a.trim().is_empty()) {
            out.push(format!("Action={a}"));
        }
        out
    }
}

impl Default for RoleConfigIncomplete {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for RoleConfigIncomplete {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (fact, r) in role_states(ctx.facts) {
            let reasons = Self::reasons(r);
            if reasons.is_empty() {
                continue;
            }
            let evidence = vec![cite(
                fact,
                format!("{}\\{}: {}", r.major, r.role, reasons.join("; ")),
            )];
            let mut f = self.meta.finding(Some(&r.role), evidence);
            f.title = format!(
                "{} ({}): setup did not finish configuring the role ({})",
                r.role,
                r.major,
                reasons.join("; ")
            );
            f.confidence = Confidence::High;
            out.push(f);
        }
        out
    }
}

// ------------------------------------------------------------------------------------------

/// Exchange binaries whose file version says which build is on disk. ExSetup.exe is the one
/// Microsoft's tooling trusts (the Uninstall display name may lag behind).
const BUILD_BINARIES: &[&str] = &[
    "exsetup.exe",
    "store.exe",
    "eseutil.exe",
    "isinteg.exe",
    "edgetransport.exe",
    "msexchangetransport.exe",
];

fn file_name(path: &str) -> String {
    path.rsplit(['\\', '/'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase()
}

fn is_build_binary(path: &str) -> bool {
    let name = file_name(path);
    BUILD_BINARIES.contains(&name.as_str())
        || (name.starts_with("microsoft.exchange.") && name.ends_with(".dll"))
}

/// The binaries are at a newer build than a role's configuration.
pub struct BinariesUpgradedConfigNot {
    meta: RuleMeta,
}

impl BinariesUpgradedConfigNot {
    pub const ID: &'static str = "binaries-upgraded-config-not";

    pub fn new() -> Self {
        BinariesUpgradedConfigNot {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Binaries were upgraded but role configuration was not".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "file versions of Exchange binaries (ExSetup.exe, Store.exe, Eseutil.exe, Isinteg.exe, Microsoft.Exchange.*.dll) at a newer service pack / cumulative update than a role's ConfiguredVersion, or a role with no ConfiguredVersion at all".into(),
                why: "Get-ExchangeServer and the binaries then report the new build while the roles still carry the old build's configuration: the server looks upgraded but setup's configuration steps (services, IIS virtual directories, web.config expansion) for those roles never ran. Typically: files at the new build with the registry not updated.".into(),
                fix: vec![common::rerun()],
                references: vec![
                    "Microsoft Learn: Exchange Server build numbers and release dates".into(),
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for BinariesUpgradedConfigNot {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for BinariesUpgradedConfigNot {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // Newest binary per product major (14, 15), preferring ExSetup.exe when present.
        let mut newest: BTreeMap<u32, (Vec<u32>, &Fact, &FileVersion)> = BTreeMap::new();
        for f in ctx.facts.iter() {
            let FactKind::FileVersion(fv) = &f.kind else {
                continue;
            };
            if !is_build_binary(&fv.path) {
                continue;
            }
            let Some(v) = parse_version(&fv.version) else {
                continue;
            };
            let Some(&major) = v.first() else { continue };
            let is_exsetup = file_name(&fv.path) == "exsetup.exe";
            let replace = match newest.get(&major) {
                None => true,
                Some((cur, _, cur_fv)) => {
                    let cur_exsetup = file_name(&cur_fv.path) == "exsetup.exe";
                    (is_exsetup && !cur_exsetup)
                        || (is_exsetup == cur_exsetup
                            && compare_level(&v, cur) == Ordering::Greater)
                }
            };
            if replace {
                newest.insert(major, (v, f, fv));
            }
        }

        let mut out = Vec::new();
        for (major, (bin, bin_fact, bin_fv)) in &newest {
            let mut lagging: Vec<(&Fact, &RoleState, String)> = Vec::new();
            for (fact, r) in role_states(ctx.facts) {
                if major_number(&r.major) != Some(*major) {
                    continue;
                }
                let configured = r.configured_version.as_deref().and_then(parse_version);
                let why = match (&configured, &r.unpacked_version) {
                    (Some(c), _) if compare_level(c, bin) == Ordering::Less => {
                        format!("ConfiguredVersion {}", short_version(c))
                    }
                    (None, Some(_)) => "no ConfiguredVersion".to_string(),
                    _ => continue,
                };
                lagging.push((fact, r, why));
            }
            if lagging.is_empty() {
                continue;
            }
            let build = short_version(bin);
            let mut evidence = vec![cite(
                bin_fact,
                format!("{} file version {}", bin_fv.path, bin_fv.version),
            )];
            evidence.extend(lagging.iter().map(|(f, r, why)| {
                cite(
                    f,
                    format!("{}\\{}: {why}, binaries at {build}", r.major, r.role),
                )
            }));
            let roles: Vec<String> = lagging
                .iter()
                .map(|(_, r, why)| format!("{} ({why})", r.role))
                .collect();
            let mut f = self.meta.finding(None, evidence);
            f.title = format!(
                "Binaries are at {build} but role configuration is not: {}",
                roles.join(", ")
            );
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
    fn versions_parse_in_short_and_long_form() {
        assert_eq!(parse_version("14.2.247.5."), Some(vec![14, 2, 247, 5]));
        assert_eq!(parse_version("14.02.0247.005"), Some(vec![14, 2, 247, 5]));
        assert_eq!(
            parse_version("14.02.0247.005 (dp.110930-1250)"),
            Some(vec![14, 2, 247, 5])
        );
        assert_eq!(parse_version("garbage"), None);
        assert_eq!(parse_version("14"), None);
        // A 2010 rollup is not a different configuration level; a service pack is.
        assert_eq!(
            compare_level(&[14, 3, 123, 4], &[14, 3, 513, 0]),
            Ordering::Equal
        );
        assert_eq!(
            compare_level(&[14, 1, 218, 15], &[14, 2, 247, 5]),
            Ordering::Less
        );
        // 2013+: a CU is, a security update is not.
        assert_eq!(
            compare_level(&[15, 1, 2507, 6], &[15, 1, 2507, 66]),
            Ordering::Equal
        );
        assert_eq!(
            compare_level(&[15, 1, 2375, 7], &[15, 1, 2507, 6]),
            Ordering::Less
        );
    }

    #[test]
    fn seed_roles_are_incomplete_with_watermark_on_hub_transport() {
        let f = run_rule(&RoleConfigIncomplete::new(), &seed_config());
        let subjects: Vec<_> = f.iter().filter_map(|f| f.subject.as_deref()).collect();
        assert_eq!(
            subjects,
            vec!["MailboxRole", "ClientAccessRole", "HubTransportRole"]
        );
        let hub = &f[2];
        assert!(hub.title.contains("no ConfiguredVersion"), "{}", hub.title);
        assert!(
            hub.title
                .contains("Watermark=BridgeheadRoleSetterComponent")
        );
        assert!(hub.title.contains("Action=BuildToBuildUpgrade"));
        assert_eq!(
            hub.evidence[0].locator.to_string(),
            format!("{REG} [{EXCHANGE_KEY}\\HubTransportRole]")
        );
    }

    #[test]
    fn older_configured_version_is_incomplete() {
        let facts = FactSet::new(vec![role(
            "ClientAccessRole",
            Some("14.1.218.15"),
            Some(SP2),
            None,
            None,
        )]);
        let f = run_rule(&RoleConfigIncomplete::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title
                .contains("14.1.218.15 is older than UnpackedVersion 14.2.247.5")
        );
    }

    #[test]
    fn healthy_roles_are_silent() {
        assert!(run_rule(&RoleConfigIncomplete::new(), &healthy_config()).is_empty());
    }

    #[test]
    fn seed_binaries_ahead_of_configuration() {
        let f = run_rule(&BinariesUpgradedConfigNot::new(), &seed_config());
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title.starts_with("Binaries are at 14.2.247.5"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].title
                .contains("HubTransportRole (no ConfiguredVersion)")
        );
        assert!(!f[0].title.contains("AdminTools"));
        // ExSetup.exe's row cites the file-versions CSV; each role cites its key.
        assert_eq!(
            f[0].evidence[0].locator.to_string(),
            format!("{VERSIONS} row 1")
        );
        assert_eq!(f[0].evidence.len(), 4);
    }

    #[test]
    fn sp1_configuration_under_sp2_binaries_is_flagged() {
        let mut facts = healthy_config();
        facts.facts.push(role(
            "UnifiedMessagingRole",
            Some("14.1.218.15"),
            Some("14.1.218.15"),
            None,
            None,
        ));
        let f = run_rule(&BinariesUpgradedConfigNot::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title
                .contains("UnifiedMessagingRole (ConfiguredVersion 14.1.218.15)")
        );
    }

    #[test]
    fn healthy_binaries_and_roles_are_silent() {
        assert!(run_rule(&BinariesUpgradedConfigNot::new(), &healthy_config()).is_empty());
        // A rollup on top of SP2 does not make configuration lag.
        let facts = with(
            healthy_config(),
            [file_version(
                9,
                "D:\\V14\\Bin\\ExSetup.exe",
                "14.02.0298.004",
            )],
        );
        assert!(run_rule(&BinariesUpgradedConfigNot::new(), &facts).is_empty());
    }
}
