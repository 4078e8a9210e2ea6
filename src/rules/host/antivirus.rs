//! Antivirus installed on an Exchange server: a risk until its exclusions are known to match
//! Microsoft's list (the bundle cannot show the product's exclusions).

use super::cite;
use super::{is_exchange_host, majors};
use crate::facts::{Confidence, Evidence, Explains, FactKind, Finding, FindingKind, Severity};
use crate::repair::{Action, Change, Phase};
use crate::rules::{Context, Rule, RuleMeta};
use std::collections::BTreeMap;

/// A product: how it shows in installed programs and in services.
#[derive(Debug, Clone, Copy)]
pub struct AvProduct {
    pub name: &'static str,
    /// Lower-case substrings of installed-program names.
    pub programs: &'static [&'static str],
    /// Service key names (case-insensitive).
    pub services: &'static [&'static str],
}

const fn av(
    name: &'static str,
    programs: &'static [&'static str],
    services: &'static [&'static str],
) -> AvProduct {
    AvProduct {
        name,
        programs,
        services,
    }
}

/// The product table (exchange-facts B6; service names are the products' documented ones,
/// matched exactly). Program names are specific so that, say, Symantec Backup Exec is not AV.
pub const AV_PRODUCTS: &[AvProduct] = &[
    av(
        "Symantec Endpoint Protection",
        &["symantec endpoint protection", "symantec antivirus"],
        &["SepMasterService", "SmcService", "Symantec AntiVirus"],
    ),
    av(
        "McAfee",
        &[
            "mcafee virusscan",
            "mcafee endpoint security",
            "mcafee security for microsoft exchange",
        ],
        &["McShield", "mfemms", "mfevtp"],
    ),
    av(
        "Trend Micro",
        &[
            "trend micro officescan",
            "trend micro apex one",
            "trend micro deep security",
            "scanmail for microsoft exchange",
            "trend micro worry-free",
        ],
        &["ntrtscan", "TmListen", "ds_agent"],
    ),
    av(
        "Sophos",
        &[
            "sophos anti-virus",
            "sophos endpoint",
            "sophos for microsoft exchange",
        ],
        &["SAVService", "SAVAdminService"],
    ),
    av(
        "ESET",
        &[
            "eset file security",
            "eset mail security",
            "eset nod32",
            "eset endpoint",
        ],
        &["ekrn"],
    ),
    av(
        "Kaspersky",
        &[
            "kaspersky anti-virus",
            "kaspersky endpoint security",
            "kaspersky security for",
        ],
        &["AVP", "KAVFS"],
    ),
    av(
        "Microsoft Forefront / System Center Endpoint Protection",
        &[
            "forefront protection",
            "forefront endpoint protection",
            "forefront server security",
            "system center endpoint protection",
        ],
        &["MsMpSvc", "FSCController"],
    ),
    av(
        "Microsoft Defender Antivirus",
        &["windows defender", "microsoft defender"],
        &["WinDefend"],
    ),
    av(
        "Bitdefender",
        &["bitdefender endpoint security", "bitdefender gravityzone"],
        &["EPSecurityService"],
    ),
    av("CrowdStrike Falcon", &["crowdstrike"], &["CSFalconService"]),
];

/// Exchange 2010's file-level scanning exclusions (Microsoft's "File-Level Antivirus Scanning
/// on Exchange 2010"), as fix text.
const EXCLUSIONS_2010: &[&str] = &[
    "Folders: the mailbox database, log and checkpoint folders; <install>GroupMetrics, <install>Logging, <install>TransportRoles\\Data\\Queue and its logs, <install>ExchangeOAB, <install>Mailbox\\MDBTEMP; %SystemRoot%\\System32\\Inetsrv; %SystemRoot%\\Cluster.",
    "Extensions: .config .dia .wsb .chk .log .edb .jrs .que .lzx .ci .wid .000 .001 .002 .dir .cfg .grxml .dsc.",
    "Processes: EdgeTransport.exe, Microsoft.Exchange.Search.Exsearch.exe, Microsoft.Exchange.Servicehost.exe, MSExchangeADTopologyService.exe, MSExchangeMailboxAssistants.exe, MSExchangeMailSubmission.exe, MSExchangeRepl.exe, MSExchangeTransport.exe, Store.exe, Msftesql.exe, Msftefd.exe, W3wp.exe, Inetinfo.exe, Cidaemon.exe, Clussvc.exe.",
];

/// An antivirus product is installed on the Exchange server.
pub struct AvInstalledNoExclusions {
    meta: RuleMeta,
}

impl AvInstalledNoExclusions {
    pub const ID: &'static str = "av-installed-no-exclusions";

    pub fn new() -> Self {
        AvInstalledNoExclusions {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Antivirus installed on the Exchange server".into(),
                kind: FindingKind::Risk,
                severity: Severity::Medium,
                looks_for: format!(
                    "an antivirus product in software.csv (installed programs) or services.csv (service names, not disabled): {}",
                    AV_PRODUCTS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                ),
                why: "File-level scanning without Exchange's exclusions locks, quarantines or renames files setup is replacing and blocks access to Exchange's registry keys and databases; service pack and rollup setups then abort part-way. The bundle cannot show the product's exclusions, so this stays a risk until they are checked; it becomes a contributing cause when files are renamed or missing or the product logged a detection on an Exchange path.".into(),
                // Per product and Exchange version, filled in by `check`.
                fix: vec![],
                references: vec![
                    "Microsoft Learn: File-Level Antivirus Scanning on Exchange 2010".into(),
                    "Microsoft Learn: Running Windows antivirus software on Exchange servers (2016/2019)".into(),
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                ],
                explains: vec!["exchange-file-renamed".into(), "exchange-file-missing".into()],
            },
        }
    }
}

impl Default for AvInstalledNoExclusions {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for AvInstalledNoExclusions {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let facts = ctx.facts;
        if !is_exchange_host(facts) {
            return Vec::new();
        }
        // Product name → evidence, in table order.
        let mut found: BTreeMap<usize, Vec<Evidence>> = BTreeMap::new();
        for f in facts.iter() {
            match &f.kind {
                FactKind::Software(s) => {
                    let name = s.name.to_ascii_lowercase();
                    if let Some(i) = AV_PRODUCTS
                        .iter()
                        .position(|p| p.programs.iter().any(|m| name.contains(m)))
                    {
                        found.entry(i).or_default().push(cite(
                            f,
                            format!(
                                "installed: {}{}",
                                s.name,
                                s.version
                                    .as_deref()
                                    .map(|v| format!(" {v}"))
                                    .unwrap_or_default()
                            ),
                        ));
                    }
                }
                FactKind::Service(s) if !s.is_disabled() => {
                    if let Some(i) = AV_PRODUCTS
                        .iter()
                        .position(|p| p.services.iter().any(|n| n.eq_ignore_ascii_case(&s.name)))
                    {
                        found.entry(i).or_default().push(cite(
                            f,
                            format!(
                                "service {} ({}): StartMode={} State={}",
                                s.name, s.display_name, s.start_mode, s.state
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        let install = super::install_paths(facts)
            .first()
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| "%ExchangeInstallPath%".into());
        let v14 = majors(facts).contains(&14);
        found
            .into_iter()
            .map(|(i, evidence)| {
                let product = AV_PRODUCTS[i].name;
                let sources = evidence.len();
                let mut f = self.meta.finding(Some(product), evidence);
                f.title = format!(
                    "{product} is installed on the Exchange server: its scanning exclusions must match Microsoft's list"
                );
                let exclusions = if v14 {
                    Action::new(
                        Phase::Cause,
                        &format!("Make {product}'s scanning exclusions match Microsoft's list for Exchange 2010"),
                    )
                    .items(
                        &EXCLUSIONS_2010
                            .iter()
                            .map(|e| e.replace("<install>", &install))
                            .collect::<Vec<_>>(),
                    )
                } else {
                    Action::new(
                        Phase::Cause,
                        &format!("Make {product}'s scanning exclusions match Microsoft's list for this Exchange version (\"Running Windows antivirus software on Exchange servers\"; CSS-Exchange Get-ExchAVExclusions.ps1 lists them)"),
                    )
                };
                let mut exclusions = exclusions.target(product).changes(&[Change::Policy]);
                exclusions.items.push(format!(
                    "and restore from {product}'s quarantine any Exchange file (.ps1, .dll, .config under the install path) it took"
                ));
                f.fix = vec![
                    exclusions,
                    Action::new(
                        Phase::Prepare,
                        &format!("Turn off {product}'s real-time scanning until setup has finished (turn it back on after the verification step)"),
                    )
                    .target(product)
                    .changes(&[Change::Policy]),
                ];
                f.explains = self.meta.explains.iter().map(|id| Explains::any(id)).collect();
                f.confidence = if sources > 1 {
                    Confidence::High
                } else {
                    Confidence::Medium
                };
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::FactSet;
    use crate::rules::testing::config::*;
    use crate::rules::testing::run_rule;

    #[test]
    fn seed_sep_from_programs_and_services() {
        let f = run_rule(&AvInstalledNoExclusions::new(), &seed_config());
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].subject.as_deref(),
            Some("Symantec Endpoint Protection")
        );
        assert_eq!(f[0].kind, FindingKind::Risk);
        assert_eq!(f[0].evidence.len(), 2);
        assert_eq!(
            f[0].evidence[0].locator.to_string(),
            format!("{SOFTWARE} row 2")
        );
        assert!(f[0].evidence[1].excerpt.contains("SepMasterService"));
        assert_eq!(f[0].confidence, Confidence::High);
        assert!(f[0].fix.iter().any(|s| s.contains(
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\TransportRoles\\Data\\Queue"
        )));
        assert!(
            f[0].explains
                .contains(&Explains::any("exchange-file-renamed"))
        );
    }

    #[test]
    fn healthy_without_antivirus_is_silent() {
        assert!(run_rule(&AvInstalledNoExclusions::new(), &healthy_config()).is_empty());
        // Another vendor's non-AV product and a disabled Defender service do not count.
        let facts = with(
            healthy_config(),
            [
                software(
                    5,
                    "Symantec Backup Exec 2010 R3",
                    "13.0",
                    "Symantec Corporation",
                ),
                service(40, "WinDefend", "Windows Defender", "Disabled", "Stopped"),
            ],
        );
        assert!(run_rule(&AvInstalledNoExclusions::new(), &facts).is_empty());
        // Not an Exchange server: nothing to say.
        let facts = FactSet::new(vec![software(1, "Sophos Endpoint Agent", "10", "Sophos")]);
        assert!(run_rule(&AvInstalledNoExclusions::new(), &facts).is_empty());
    }
}
