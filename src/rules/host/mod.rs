//! Host: files under the install dir, folder ACLs, Exchange services, antivirus and a pending
//! reboot, from `system/*` (inventory, icacls, services.csv, software.csv, host.json) and the
//! Services registry export.
//!
//! Also the path helpers the other configuration rules share: every path is compared
//! case-insensitively with `\` separators, relative to the install dir (`Setup\MsiInstallPath`).

mod acl;
mod antivirus;
mod exchange_services;
mod files;
mod reboot;

pub use acl::AclOwaAuthRestricted;
pub use antivirus::{AV_PRODUCTS, AvInstalledNoExclusions, AvProduct};
pub use exchange_services::{ExchangeServiceDisabled, ExchangeServiceStopped, MUST_RUN};
pub use files::{ExchangeFileMissing, ExchangeFileRenamed, KNOWN_FILES};
pub use reboot::PendingReboot;

use super::Rule;
use crate::facts::{Evidence, Fact, FactKind, FactSet};
use std::collections::{BTreeMap, BTreeSet};

pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(ExchangeFileRenamed::new()),
        Box::new(ExchangeFileMissing::new()),
        Box::new(AclOwaAuthRestricted::new()),
        Box::new(ExchangeServiceDisabled::new()),
        Box::new(ExchangeServiceStopped::new()),
        Box::new(AvInstalledNoExclusions::new()),
        Box::new(PendingReboot::new()),
    ]
}

/// Evidence for `fact`: a note first, then the parser's own excerpt (line number, raw text), so
/// the locator and what the artefact says are both kept.
pub fn cite(fact: &Fact, note: impl AsRef<str>) -> Evidence {
    Evidence::new(
        fact.evidence.locator.clone(),
        format!("{} — {}", note.as_ref(), fact.evidence.excerpt),
    )
}

/// Lower case, `\` separators, no surrounding blanks or trailing separator.
pub fn norm_path(p: &str) -> String {
    p.trim()
        .replace('/', "\\")
        .trim_end_matches('\\')
        .to_ascii_lowercase()
}

/// The install paths the registry names (`Setup\MsiInstallPath`), with their facts.
pub fn install_paths(facts: &FactSet) -> Vec<(String, &Fact)> {
    facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::InstallPath(p) if !p.path.trim().is_empty() => Some((p.path.clone(), f)),
            _ => None,
        })
        .collect()
}

/// `path` relative to the install dir, case kept: `D:\…\V14\Bin\X.dll` → `Bin\X.dll`. Paths
/// already relative come back as they are; absolute paths under no known install dir are cut
/// after `Exchange Server\V14\` (or `V15\`) when they have it.
pub fn relative_display(path: &str, installs: &[(String, &Fact)]) -> String {
    let p = path.trim().replace('/', "\\");
    // ASCII lower-casing keeps byte offsets, so indices found in `lower` are valid in `p`.
    let lower = p.to_ascii_lowercase();
    for (i, _) in installs {
        let i = norm_path(i);
        if !i.is_empty() && lower.starts_with(&format!("{i}\\")) {
            return p[i.len() + 1..].to_string();
        }
    }
    for marker in ["\\exchange server\\v14\\", "\\exchange server\\v15\\"] {
        if let Some(pos) = lower.find(marker) {
            return p[pos + marker.len()..].to_string();
        }
    }
    p.trim_start_matches(".\\")
        .trim_start_matches('\\')
        .to_string()
}

/// The file inventory (`system/inventory.csv`) keyed by lower-case path under the install dir.
pub struct Inventory<'a> {
    /// Bundle path of the inventory, to cite it as a whole.
    pub path: String,
    files: BTreeMap<String, (&'a Fact, String)>,
    /// Lower-case folders that hold at least one listed file, to tell a partial inventory.
    folders: BTreeSet<String>,
}

/// Fewer files than this is not an inventory of an Exchange install dir (which holds thousands)
/// but a partial or hand-made list: nothing is called missing from it.
pub const MIN_COMPLETE_INVENTORY: usize = 100;

impl<'a> Inventory<'a> {
    /// `None` when the bundle has no inventory: then no file can be said to be missing.
    pub fn of(facts: &'a FactSet) -> Option<Self> {
        let installs = install_paths(facts);
        let mut inv = Inventory {
            path: String::new(),
            files: BTreeMap::new(),
            folders: BTreeSet::new(),
        };
        for f in facts.iter() {
            let FactKind::FileEntry(e) = &f.kind else {
                continue;
            };
            let rel = relative_display(&e.path, &installs);
            let key = rel.to_ascii_lowercase();
            if let Some((folder, _)) = key.rsplit_once('\\') {
                inv.folders.insert(folder.to_string());
            }
            if inv.path.is_empty() {
                inv.path = f.evidence.locator.path.clone();
            }
            inv.files.entry(key).or_insert((f, rel));
        }
        (!inv.files.is_empty()).then_some(inv)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The row for `rel` (any case, either separator).
    pub fn get(&self, rel: &str) -> Option<&'a Fact> {
        self.files.get(&norm_path(rel)).map(|(f, _)| *f)
    }

    /// Is the inventory of plausible size for an install dir ([`MIN_COMPLETE_INVENTORY`])?
    pub fn looks_complete(&self) -> bool {
        self.files.len() >= MIN_COMPLETE_INVENTORY
    }

    /// Does the inventory list other files of the folder `rel` sits in? A folder the collector
    /// left out says nothing about its files.
    pub fn covers(&self, rel: &str) -> bool {
        match norm_path(rel).rsplit_once('\\') {
            Some((folder, _)) => self.folders.contains(folder),
            None => true,
        }
    }

    /// (fact, path under the install dir with its case) of every file.
    pub fn iter(&self) -> impl Iterator<Item = (&'a Fact, &str)> + '_ {
        self.files.values().map(|(f, rel)| (*f, rel.as_str()))
    }
}

/// Product majors present (14 for 2010, 15 for 2013+), from the registry and file versions.
pub fn majors(facts: &FactSet) -> BTreeSet<u32> {
    let from_key = |m: &str| m.trim_start_matches(['v', 'V']).parse::<u32>().ok();
    facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::InstallPath(p) => from_key(&p.major),
            FactKind::RoleState(r) => from_key(&r.major),
            FactKind::FileVersion(v) => super::roles::parse_version(&v.version)
                .and_then(|v| v.first().copied())
                .filter(|m| (14..=15).contains(m)),
            _ => None,
        })
        .collect()
}

/// Does the bundle come from an Exchange server at all? Guards rules whose tables name
/// Windows services that exist on any IIS host.
pub fn is_exchange_host(facts: &FactSet) -> bool {
    facts.iter().any(|f| match &f.kind {
        FactKind::RoleState(_) | FactKind::InstallPath(_) => true,
        FactKind::Service(s) => s.name.to_ascii_lowercase().starts_with("msexchange"),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::config::*;

    #[test]
    fn relative_paths_keep_case_and_cut_the_install_dir() {
        let facts = FactSet::new(vec![install_path(SEED_INSTALL)]);
        let installs = install_paths(&facts);
        assert_eq!(
            relative_display(
                "d:/program files/microsoft/exchange server/v14/Bin/ExSetup.exe",
                &installs
            ),
            "Bin\\ExSetup.exe"
        );
        assert_eq!(
            relative_display(
                "C:\\Program Files\\Microsoft\\Exchange Server\\V14\\Bin\\X.dll",
                &installs
            ),
            "Bin\\X.dll"
        );
        assert_eq!(relative_display("Bin\\X.dll", &[]), "Bin\\X.dll");
        assert_eq!(relative_display(".\\Bin\\X.dll", &[]), "Bin\\X.dll");
        // Multi-byte text before the install dir cannot make slicing panic.
        assert_eq!(relative_display("é\\ü", &installs), "é\\ü");
    }

    /// Every configuration rule of issue 4 (roles, IIS, host).
    fn config_rules() -> Vec<Box<dyn Rule>> {
        let mut r = crate::rules::roles::rules();
        r.extend(crate::rules::iis::rules());
        r.extend(rules());
        r
    }

    fn run_all(facts: &FactSet) -> Vec<crate::facts::Finding> {
        let clock = crate::timeline::Clock::utc_assumed();
        let ctx = crate::rules::Context {
            facts,
            clock: &clock,
        };
        crate::rules::run(&config_rules(), &ctx)
    }

    #[test]
    fn seed_produces_every_configuration_finding() {
        let keys: BTreeSet<String> = run_all(&seed_config()).iter().map(|f| f.key()).collect();
        for want in [
            "role-config-incomplete:HubTransportRole",
            "role-config-incomplete:MailboxRole",
            "role-config-incomplete:ClientAccessRole",
            "binaries-upgraded-config-not",
            "webconfig-unexpanded-token",
            "iis-exppw-missing:exppw.dll",
            "apppool-misconfigured:MSExchangeSyncAppPool",
            "exchange-file-renamed:RemoteScripts\\ConsoleInitialize.ps1",
            "acl-owa-auth-restricted",
            "exchange-service-disabled:MSExchangeServiceHost",
            "exchange-service-disabled:msftesql-Exchange",
            "exchange-service-stopped:MSExchangeSearch",
            "exchange-service-stopped:MSExchangeMailSubmission",
            "av-installed-no-exclusions:Symantec Endpoint Protection",
        ] {
            assert!(keys.contains(want), "missing {want} in {keys:?}");
        }
        // Nothing the seed does not show: ActiveSync auth was fine, no reboot was pending.
        assert!(
            !keys
                .iter()
                .any(|k| k.starts_with("activesync-auth") || k == "pending-reboot")
        );
    }

    #[test]
    fn healthy_2010_sp2_produces_no_configuration_finding() {
        let findings = run_all(&healthy_config());
        assert!(
            findings.is_empty(),
            "{:?}",
            findings.iter().map(|f| f.key()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn seed_chain_links_dependency_and_antivirus() {
        let findings = run_all(&seed_config());
        let c = crate::correlate::correlate(&findings, &Default::default());
        let msftesql = c
            .root_causes
            .iter()
            .find(|r| r.key == "exchange-service-disabled:msftesql-Exchange")
            .expect("msftesql-Exchange is a root cause");
        assert!(
            msftesql
                .explains
                .contains(&"exchange-service-stopped:MSExchangeSearch".to_string())
        );
        // SEP explains the parked script, so it is a contributing cause.
        assert!(
            c.contributing
                .contains(&"av-installed-no-exclusions:Symantec Endpoint Protection".to_string())
        );
    }

    #[test]
    fn inventory_lookup_and_coverage() {
        let facts = seed_config();
        let inv = Inventory::of(&facts).expect("inventory");
        assert!(inv.get("bin/exsetup.EXE").is_some());
        assert!(inv.get("Bin\\Nothing.dll").is_none());
        assert!(inv.covers("Bin\\Nothing.dll"));
        assert!(!inv.covers("Mailbox\\Nothing.dll"));
        // A short list is not an inventory of the install dir.
        let short = without(
            seed_config(),
            |f| matches!(&f.kind, FactKind::FileEntry(e) if e.path.contains("Filler")),
        );
        let short = Inventory::of(&short).expect("short");
        assert!(short.covers("Bin\\Nothing.dll") && !short.looks_complete());
        assert!(inv.looks_complete());
        assert!(Inventory::of(&FactSet::default()).is_none());
    }
}
