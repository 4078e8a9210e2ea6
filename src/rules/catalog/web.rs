//! The web tier after an update: setup's web.config update step failed, or ECP/OWA (or setup
//! itself) cannot load an Exchange assembly.

use super::STOP_EXPLAINS;
use crate::facts::{
    Confidence, Evidence, Explains, Fact, FactKind, Finding, FindingKind, Locator, Severity,
};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::host::{Inventory, majors};
use crate::rules::{Context, InterestBuilder, Rule, RuleMeta};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The scripts that replace `%ExchangeInstallDir%` in the web.config files.
const CONFIG_SCRIPTS: &[&str] = &["UpdateCas.ps1", "UpdateConfigFiles.ps1"];

/// UpdateConfigFiles.log: `[10:02:11] WARNING - skipping <file> - it does NOT exist`.
const SKIPPED_LINE: &str = r"^(?:\[[\d:]{5,8}\] )?WARNING - skipping .+ - it does NOT exist";

/// Setup failed in the step that rewrites the web.config files (UpdateCas.ps1 or
/// UpdateConfigFiles.ps1).
pub struct UpdateConfigFilesFailed {
    meta: RuleMeta,
}

impl UpdateConfigFilesFailed {
    pub const ID: &'static str = "update-config-files-failed";

    pub fn new() -> Self {
        let mut explains: Vec<String> = STOP_EXPLAINS.iter().map(|s| s.to_string()).collect();
        explains.extend(
            [
                "webconfig-unexpanded-token",
                "aspnet-config-error",
                "exchange-assembly-load-failed",
            ]
            .map(String::from),
        );
        UpdateConfigFilesFailed {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Setup's web.config update step (UpdateCas.ps1 / UpdateConfigFiles.ps1) failed".into(),
                kind: FindingKind::Cause,
                severity: Severity::Critical,
                looks_for: "an [ERROR] of the last setup run whose failing command or message names UpdateCas.ps1 or UpdateConfigFiles.ps1; UpdateConfigFiles.log \"WARNING - skipping <file> - it does NOT exist\" as supporting evidence".into(),
                why: "The Client Access web.config files ship with the placeholder %ExchangeInstallDir%; UpdateConfigFiles.ps1 (run by setup through UpdateCas.ps1) replaces it with the install path and re-applies OWA settings. When that step fails the placeholder stays in the files, and OWA, ECP, EWS and Autodiscover fail with \"Could not load file or assembly\" errors until the files are fixed.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Read the error of the failed step, and UpdateConfigFiles.log and UpdateCas.log in C:\\ExchangeSetupLogs, for the file it stopped at, and fix that"),
                    common::rerun(),
                    Action::new(Phase::Repair, "If a web.config under ClientAccess or FrontEnd still contains %ExchangeInstallDir% after setup, run the step by hand")
                        .command("& \"$env:ExchangeInstallPath\\Bin\\UpdateCas.ps1\"; & \"$env:ExchangeInstallPath\\Bin\\UpdateConfigFiles.ps1\"")
                        .ems()
                        .changes(&[Change::WebConfig]),
                    common::iisreset(),
                ],
                references: vec![
                    "Microsoft Learn: OWA or ECP stops working after you install a security update".into(),
                    "CSS-Exchange HealthChecker: IISWebConfigCheck (aka.ms/HC-DefaultVariableDetected)".into(),
                ],
                explains,
            },
        }
    }
}

impl Default for UpdateConfigFilesFailed {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for UpdateConfigFilesFailed {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.setup_line(SKIPPED_LINE);
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut by_script: BTreeMap<&str, (Vec<&Fact>, bool)> = BTreeMap::new();
        for (run_fact, run) in ctx.facts.last_runs() {
            for (fact, err) in ctx.facts.errors_of(run_fact, run) {
                let texts = err.messages.iter().chain(err.command.iter());
                let lower: String = texts
                    .map(|t| t.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join("\n");
                for script in CONFIG_SCRIPTS {
                    if lower.contains(&script.to_ascii_lowercase()) {
                        let e = by_script.entry(script).or_default();
                        e.0.push(fact);
                        e.1 |= err.critical;
                        break;
                    }
                }
            }
        }
        let skipped: Vec<&Fact> = ctx
            .facts
            .setup_lines()
            .filter(|(_, l)| l.text.contains("WARNING - skipping "))
            .map(|(f, _)| f)
            .collect();
        by_script
            .into_iter()
            .map(|(script, (errors, critical))| {
                let mut evidence: Vec<Evidence> =
                    errors.iter().map(|f| f.evidence.clone()).collect();
                evidence.extend(skipped.iter().take(5).map(|f| f.evidence.clone()));
                let mut f = self.meta.finding(Some(script), evidence);
                f.title = format!(
                    "Setup's web.config update step failed ({script}): %ExchangeInstallDir% may be left in the Client Access web.config files"
                );
                if !critical {
                    // A non-critical failure lets setup finish with the files still broken.
                    f.severity = Severity::High;
                }
                f.confidence = Confidence::High;
                f.time = errors
                    .iter()
                    .filter_map(|e| e.time)
                    .map(|t| ctx.clock.to_utc(t))
                    .min();
                f
            })
            .collect()
    }
}

// ------------------------------------------------------------------------------------------

/// `Could not load file or assembly 'Microsoft.Exchange.Common, Version=15.0.0.0, …'`.
const ASSEMBLY_LINE: &str =
    r"^(?:\[ERROR\] ).*Could not load file or assembly '?Microsoft\.Exchange\.";

static ASSEMBLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Could not load file or assembly '?(Microsoft\.Exchange\.[A-Za-z0-9.]*[A-Za-z0-9])")
        .expect("static regex")
});

/// The ASP.NET event sources that log configuration errors (1309 web event, 1310 config error).
const ASPNET: &[&str] = &["ASP.NET 4.0.30319.0", "ASP.NET 2.0.50727.0"];

/// ECP, OWA or setup cannot load an Exchange assembly, and no unexpanded token explains it.
pub struct ExchangeAssemblyLoadFailed {
    meta: RuleMeta,
}

impl ExchangeAssemblyLoadFailed {
    pub const ID: &'static str = "exchange-assembly-load-failed";

    pub fn new() -> Self {
        let mut explains: Vec<String> = STOP_EXPLAINS.iter().map(|s| s.to_string()).collect();
        explains.extend(["aspnet-config-error", "iis-module-load-failed"].map(String::from));
        ExchangeAssemblyLoadFailed {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An Exchange assembly cannot be loaded after the update".into(),
                kind: FindingKind::Cause,
                severity: Severity::High,
                looks_for: "\"Could not load file or assembly 'Microsoft.Exchange.…'\" in the last setup run's [ERROR] lines or in ASP.NET events 1309/1310, when no web.config still holds %ExchangeInstallDir% (that is webconfig-unexpanded-token); checked against the file inventory for the missing DLL and SharedWebConfig.config".into(),
                why: "ECP, OWA and setup's own PowerShell steps load Exchange assemblies from Bin and from the paths in SharedWebConfig.config and web.config (BinSearchFolders). After a cumulative update that did not copy every DLL, or a resumed setup that skipped writing SharedWebConfig.config, the load fails: \"Server Error in '/ecp' Application\", OWA \"something went wrong\", or setup stops.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Check that the assembly named in the error exists in the install folder's Bin with the build's file version; copy a missing one (and the other missing DLLs) from the same build's ISO (CSS-Exchange CopyMissingDlls.ps1 automates this)")
                        .changes(&[Change::File]),
                    Action::new(Phase::Repair, "On 2013 and later, check that ClientAccess\\SharedWebConfig.config and FrontEnd\\HttpProxy\\SharedWebConfig.config exist; regenerate a missing one with Bin\\DependentAssemblyGenerator.exe (-exchangePath for Bin and for the folder, -configFile for the file), then restart WAS and W3SVC")
                        .changes(&[Change::WebConfig]),
                    Action::new(Phase::Repair, "Check that the BinSearchFolders value of the ECP web.config lists the install folder's bin, bin\\CmdletExtensionAgents and ClientAccess\\Owa\\bin")
                        .changes(&[Change::WebConfig]),
                    common::iisreset(),
                    common::rerun(),
                ],
                references: vec![
                    "Microsoft Learn: Event ID 1309 and you can't access OWA and ECP (KB3099532, SharedWebConfig.config)".into(),
                    "Microsoft Learn: Could not load file or assembly error when browsing EWS or Autodiscover sites".into(),
                    "CSS-Exchange CopyMissingDlls.ps1; HealthChecker Bin Search Folder check (aka.ms/HC-BinSearchFolder)".into(),
                ],
                explains,
            },
        }
    }
}

impl Default for ExchangeAssemblyLoadFailed {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ExchangeAssemblyLoadFailed {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        i.setup_line(ASSEMBLY_LINE);
        for p in ASPNET {
            i.event(p, &[1309, 1310]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let facts = ctx.facts;
        // Unexpanded %ExchangeInstallDir% tokens explain these errors: that rule owns them.
        if facts
            .iter()
            .any(|f| matches!(f.kind, FactKind::UnexpandedToken(_)))
        {
            return Vec::new();
        }
        let last: BTreeMap<&str, usize> = facts
            .last_runs()
            .map(|(f, r)| (f.evidence.locator.path.as_str(), r.index))
            .collect();
        let since = facts
            .last_runs()
            .filter_map(|(f, _)| f.time)
            .map(|t| ctx.clock.to_utc(t))
            .min();
        let mut by_assembly: BTreeMap<String, Vec<&Fact>> = BTreeMap::new();
        for (fact, line) in facts.setup_lines() {
            let current = line.run.is_none()
                || last.get(fact.evidence.locator.path.as_str()) == line.run.as_ref();
            if let (true, Some(c)) = (current, ASSEMBLY.captures(&line.text)) {
                by_assembly.entry(c[1].to_string()).or_default().push(fact);
            }
        }
        for (fact, ev) in facts.events() {
            if !ASPNET.iter().any(|p| ev.provider.eq_ignore_ascii_case(p))
                || !matches!(ev.event_id, 1309 | 1310)
            {
                continue;
            }
            // An error before the last setup run is about an older build.
            let when = fact.time.map(|t| ctx.clock.to_utc(t));
            if let (Some(s), Some(w)) = (since, when)
                && w < s
            {
                continue;
            }
            if let Some(c) = ASSEMBLY.captures(&ev.text()) {
                by_assembly.entry(c[1].to_string()).or_default().push(fact);
            }
        }
        if by_assembly.is_empty() {
            return Vec::new();
        }
        let inventory = Inventory::of(facts);
        let v15 = majors(facts).contains(&15);
        by_assembly
            .into_iter()
            .map(|(assembly, seen)| {
                let mut evidence: Vec<Evidence> =
                    seen.iter().take(8).map(|f| f.evidence.clone()).collect();
                let dll = format!("Bin\\{assembly}.dll");
                let mut missing = Vec::new();
                if let Some(inv) = &inventory {
                    if inv.looks_complete() && inv.covers(&dll) && inv.get(&dll).is_none() {
                        missing.push(dll.clone());
                    }
                    if v15 {
                        for shared in [
                            "ClientAccess\\SharedWebConfig.config",
                            "FrontEnd\\HttpProxy\\SharedWebConfig.config",
                        ] {
                            if inv.looks_complete()
                                && inv.covers(shared)
                                && inv.get(shared).is_none()
                            {
                                missing.push(shared.to_string());
                            }
                        }
                    }
                    for m in &missing {
                        evidence.push(Evidence::new(
                            Locator::file(inv.path.clone()),
                            format!("{m} is not in the install-dir inventory"),
                        ));
                    }
                }
                let mut f = self.meta.finding(Some(&assembly), evidence);
                f.title = if missing.is_empty() {
                    format!("The assembly {assembly} cannot be loaded after the update")
                } else {
                    format!(
                        "The assembly {assembly} cannot be loaded after the update: {} missing",
                        missing.join(" and ")
                    )
                };
                f.confidence = if missing.is_empty() {
                    Confidence::Medium
                } else {
                    Confidence::High
                };
                f.explains
                    .push(Explains::about("exchange-file-missing", &dll));
                f.time = seen
                    .iter()
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
    use crate::facts::{FactSet, FileEntry, Position, UnexpandedToken};
    use crate::parse::Sink;
    use crate::rules::testing::{SUCCESSFUL_RUN, run_rule};

    fn facts_with_interest(rule: &dyn Rule, log: &str) -> FactSet {
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

    const UPDATECAS_FAILED: &str = "[06/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2013 Setup
[06/01/2020 10:00:00.0100] [0] Setup version: 15.0.1497.2.
[06/01/2020 10:40:00.0000] [1] Beginning processing Install-ClientAccessRole
[06/01/2020 10:41:00.0000] [1] [ERROR] The following error was generated when \"$error.Clear();
          & $RoleBinPath\\UpdateCas.ps1 -Verbose
        \" was run: \"System.Management.Automation.RuntimeException: The file C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\Owa\\web.config could not be updated.\".
[06/01/2020 10:41:00.0000] [1] [ERROR] The file C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\Owa\\web.config could not be updated.
[06/01/2020 10:41:00.0001] [1] [ERROR-REFERENCE] Id=ClientAccessRoleComponent___2dbc4e5f0e0e4b2b8e6a0b9d5a1e3c77 Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup
[06/01/2020 10:41:00.0001] [1] Setup is stopping now because of one or more critical errors.
[06/01/2020 10:41:00.0002] [1] Ending processing Install-ClientAccessRole
[06/01/2020 10:41:02.0000] [0] The Exchange Server setup operation didn't complete.  More details can be found in ExchangeSetup.log located in the <SystemDrive>:\\ExchangeSetupLogs folder.
[06/01/2020 10:41:02.0000] [0] End of Setup
";

    #[test]
    fn a_failed_updatecas_step_is_the_cause() {
        let rule = UpdateConfigFilesFailed::new();
        let f = run_rule(&rule, &facts_with_interest(&rule, UPDATECAS_FAILED));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("UpdateCas.ps1"));
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].explains
                .iter()
                .any(|e| e.id == "webconfig-unexpanded-token")
        );
    }

    #[test]
    fn no_config_step_failure_no_finding() {
        let rule = UpdateConfigFilesFailed::new();
        assert!(run_rule(&rule, &facts_with_interest(&rule, SUCCESSFUL_RUN)).is_empty());
        // The failure in an earlier run was repaired by the later one.
        let both = format!("{UPDATECAS_FAILED}{SUCCESSFUL_RUN}");
        assert!(run_rule(&rule, &facts_with_interest(&rule, &both)).is_empty());
    }

    const ASSEMBLY_FAILED: &str = "[06/01/2020 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup
[06/01/2020 10:00:00.0100] [0] Setup version: 15.1.2176.2.
[06/01/2020 10:40:00.0000] [1] Beginning processing Install-CafeRole
[06/01/2020 10:41:00.0000] [1] [ERROR] Could not load file or assembly 'Microsoft.Exchange.Diagnostics, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35' or one of its dependencies. The system cannot find the file specified.
[06/01/2020 10:41:00.0001] [1] Setup is stopping now because of one or more critical errors.
[06/01/2020 10:41:02.0000] [0] End of Setup
";

    fn entry(row: u64, path: &str) -> Fact {
        Fact {
            time: None,
            evidence: Evidence::new(
                Locator::new("system/inventory.csv", Position::Row(row)),
                path,
            ),
            kind: FactKind::FileEntry(FileEntry {
                path: path.into(),
                size: Some(1),
                modified: None,
            }),
        }
    }

    #[test]
    fn assembly_error_checked_against_the_inventory() {
        let rule = ExchangeAssemblyLoadFailed::new();
        let mut facts = facts_with_interest(&rule, ASSEMBLY_FAILED);
        let f = run_rule(&rule, &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].subject.as_deref(),
            Some("Microsoft.Exchange.Diagnostics")
        );
        assert_eq!(f[0].confidence, Confidence::Medium);

        facts.facts.push(entry(1, "Bin\\ExSetup.exe"));
        facts
            .facts
            .push(entry(2, "Bin\\Microsoft.Exchange.Common.dll"));
        // A partial inventory cannot say a file is missing.
        assert_eq!(run_rule(&rule, &facts)[0].confidence, Confidence::Medium);
        for i in 0..120 {
            facts.facts.push(entry(
                3 + i,
                &format!("Bin\\Microsoft.Exchange.Part{i}.dll"),
            ));
        }
        let f = run_rule(&rule, &facts);
        assert!(
            f[0].title
                .contains("Bin\\Microsoft.Exchange.Diagnostics.dll missing"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].confidence, Confidence::High);
    }

    #[test]
    fn assembly_error_is_left_to_the_token_rule_or_absent() {
        let rule = ExchangeAssemblyLoadFailed::new();
        assert!(run_rule(&rule, &facts_with_interest(&rule, SUCCESSFUL_RUN)).is_empty());
        let mut facts = facts_with_interest(&rule, ASSEMBLY_FAILED);
        facts.facts.push(Fact {
            time: None,
            evidence: Evidence::new(
                Locator::line("iis/webconfig/ClientAccess/ecp/web.config", 3),
                "%ExchangeInstallDir%",
            ),
            kind: FactKind::UnexpandedToken(UnexpandedToken {
                token: "%ExchangeInstallDir%".into(),
                attribute: "href".into(),
                value: "file:///%ExchangeInstallDir%bin\\x.dll".into(),
            }),
        });
        assert!(run_rule(&rule, &facts).is_empty());
    }
}
