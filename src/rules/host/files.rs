//! Exchange files renamed or missing, from the inventory of the install dir.

use super::cite;
use super::{Inventory, majors};
use crate::facts::{Confidence, Evidence, Finding, FindingKind, Locator, Severity};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::roles::{role_installed, role_states};
use crate::rules::{Context, Rule, RuleMeta};
use std::collections::BTreeSet;

/// A file Exchange needs, with what breaks without it.
#[derive(Debug, Clone, Copy)]
pub struct KnownFile {
    /// Path under the install dir.
    pub path: &'static str,
    /// Product major it belongs to (14 = 2010), or any.
    pub major: Option<u32>,
    /// Role key it comes with, or any.
    pub role: Option<&'static str>,
    pub breaks: &'static str,
}

/// Files whose absence has a known, specific symptom. Kept small: a missing file outside this
/// table is still found when it was renamed (see [`ExchangeFileRenamed`]).
pub const KNOWN_FILES: &[KnownFile] = &[
    KnownFile {
        path: "RemoteScripts\\ConsoleInitialize.ps1",
        major: Some(14),
        role: None,
        breaks: "EMC fails to start: \"ConsoleInitialize.ps1 is not recognized as the name of a cmdlet\"",
    },
    KnownFile {
        path: "Bin\\RemoteExchange.ps1",
        major: None,
        role: None,
        breaks: "the Exchange Management Shell shortcut cannot load or connect",
    },
    KnownFile {
        path: "Bin\\ConnectFunctions.ps1",
        major: None,
        role: None,
        breaks: "EMS: \"The term 'Connect-ExchangeServer' is not recognized\"",
    },
    KnownFile {
        path: "Bin\\CommonConnectFunctions.ps1",
        major: None,
        role: None,
        breaks: "EMS cannot connect to a server",
    },
    KnownFile {
        path: "Bin\\ExSetup.exe",
        major: None,
        role: None,
        breaks: "setup, build detection and Get-ExchangeServer version checks fail",
    },
    KnownFile {
        path: "Bin\\ServiceControl.ps1",
        major: None,
        role: None,
        breaks: "setup cannot stop, disable and re-enable Exchange services",
    },
    KnownFile {
        path: "Bin\\Store.exe",
        major: Some(14),
        role: Some("MailboxRole"),
        breaks: "the Information Store service (MSExchangeIS) cannot start: no database mounts",
    },
    KnownFile {
        path: "Bin\\EdgeTransport.exe",
        major: None,
        role: Some("HubTransportRole"),
        breaks: "the transport worker cannot start: no mail flow",
    },
];

/// Suffixes people and security products add when they park a file.
const PARK_SUFFIXES: &[&str] = &[
    ".txt",
    ".bak",
    ".old",
    ".orig",
    ".org",
    ".sav",
    ".disabled",
    ".renamed",
    ".quarantine",
    ".quarantined",
    ".vir",
];

/// Extensions of files Exchange executes or loads; renaming one of these breaks something.
const LOADED_EXTENSIONS: &[&str] = &[".ps1", ".psm1", ".psd1", ".dll", ".exe", ".config"];

fn generic_breaks(path: &str) -> &'static str {
    let p = path.to_ascii_lowercase();
    if p.ends_with(".ps1") || p.ends_with(".psm1") || p.ends_with(".psd1") {
        "scripts that load it fail with \"… is not recognized as the name of a cmdlet\""
    } else if p.ends_with(".dll") {
        "the service or IIS application that loads it fails"
    } else if p.ends_with(".exe") {
        "the service or tool it is cannot start"
    } else {
        "the application it configures fails or runs on defaults"
    }
}

fn breaks(path: &str) -> &'static str {
    KNOWN_FILES
        .iter()
        .find(|k| k.path.eq_ignore_ascii_case(path))
        .map(|k| k.breaks)
        .unwrap_or_else(|| generic_breaks(path))
}

/// If `rel` is a parked copy (`X.ps1.txt`), the original's path (`X.ps1`).
fn parked_original(rel: &str) -> Option<&str> {
    let lower = rel.to_ascii_lowercase();
    let suffix = PARK_SUFFIXES.iter().find(|s| lower.ends_with(*s))?;
    let original = &rel[..rel.len() - suffix.len()];
    let o = original.to_ascii_lowercase();
    LOADED_EXTENSIONS
        .iter()
        .any(|e| o.ends_with(e))
        .then_some(original)
}

/// An Exchange file is present only under another name (`ConsoleInitialize.ps1.txt`).
pub struct ExchangeFileRenamed {
    meta: RuleMeta,
}

impl ExchangeFileRenamed {
    pub const ID: &'static str = "exchange-file-renamed";

    pub fn new() -> Self {
        ExchangeFileRenamed {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An Exchange file is present only under another name".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: format!(
                    "in the install-dir inventory, a script, DLL, executable or config file present only with a parking suffix ({}) and absent under its own name",
                    PARK_SUFFIXES.join(" ")
                ),
                why: "Exchange loads its scripts and binaries by exact name. A file renamed (by hand, by a failed setup step, or by an antivirus product quarantining it in place) is as good as missing: RemoteScripts\\ConsoleInitialize.ps1 left only as ConsoleInitialize.ps1.txt, for example, makes EMC fail with \"ConsoleInitialize.ps1 is not recognized as the name of a cmdlet\".".into(),
                fix: vec![
                    // A rename is undone by the next one: nothing to back up.
                    Action::new(Phase::Cause, "Rename the file back (the antivirus product's logs and quarantine usually say what renamed it; compare the install folder with a healthy server of the same build for other parked files)")
                        .target("<install><renamed>")
                        .command("Rename-Item \"<install><renamed>\" \"<name>\""),
                ],
                references: vec![
                    "Microsoft Learn: Troubleshoot Exchange Management Console startup (ConsoleInitialize.ps1)".into(),
                    "Microsoft Learn: File-Level Antivirus Scanning on Exchange 2010".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ExchangeFileRenamed {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ExchangeFileRenamed {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let Some(inv) = Inventory::of(ctx.facts) else {
            return Vec::new();
        };
        let install = super::install_paths(ctx.facts)
            .first()
            .map(|(p, _)| p.clone())
            .unwrap_or_else(|| "<install path>".into());
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (fact, rel) in inv.iter() {
            let Some(original) = parked_original(rel) else {
                continue;
            };
            if inv.get(original).is_some() || !seen.insert(original.to_ascii_lowercase()) {
                continue;
            }
            let name = original.rsplit('\\').next().unwrap_or(original);
            let parked = rel.rsplit('\\').next().unwrap_or(rel);
            let what = breaks(original);
            let evidence = vec![cite(fact, format!("{rel} present, {original} absent"))];
            let mut f = self.meta.finding(Some(original), evidence);
            f.title = format!("{original} is present only as {parked}: {what}");
            f.fix = f
                .fix
                .iter()
                .map(|s| {
                    s.replace("<install>", &install)
                        .replace("<renamed>", rel)
                        .replace("<name>", name)
                })
                .collect();
            f.confidence = Confidence::High;
            out.push(f);
        }
        out
    }
}

/// A file from [`KNOWN_FILES`] is absent from the inventory under any name.
pub struct ExchangeFileMissing {
    meta: RuleMeta,
}

impl ExchangeFileMissing {
    pub const ID: &'static str = "exchange-file-missing";

    pub fn new() -> Self {
        ExchangeFileMissing {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An Exchange file is missing".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: format!(
                    "files Exchange needs for its product version and installed roles ({}) absent from an inventory that lists their folder",
                    KNOWN_FILES.iter().map(|k| k.path).collect::<Vec<_>>().join(", ")
                ),
                why: "These files are loaded by name when EMC, EMS, setup or a service starts; without them that component fails. A file that vanished after a setup run was removed by setup and not laid down again, or deleted or quarantined by a security product.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Restore the file from the antivirus quarantine if it was quarantined, otherwise copy it from a healthy server of the same build (same ExSetup.exe file version) to the same folder")
                        .changes(&[Change::File]),
                    common::rerun(),
                ],
                references: vec![
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                    "Microsoft Learn: File-Level Antivirus Scanning on Exchange 2010".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ExchangeFileMissing {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ExchangeFileMissing {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let Some(inv) = Inventory::of(ctx.facts).filter(|i| i.looks_complete()) else {
            return Vec::new();
        };
        let majors = majors(ctx.facts);
        let roles_known = role_states(ctx.facts).next().is_some();
        let parked: BTreeSet<String> = inv
            .iter()
            .filter_map(|(_, rel)| parked_original(rel).map(str::to_ascii_lowercase))
            .collect();
        let mut out = Vec::new();
        for k in KNOWN_FILES {
            // Only files this server should have: its product version and its roles.
            if k.major.is_some_and(|m| !majors.contains(&m)) {
                continue;
            }
            if let Some(role) = k.role
                && (!roles_known || !role_installed(ctx.facts, role))
            {
                continue;
            }
            if !inv.covers(k.path)
                || inv.get(k.path).is_some()
                || parked.contains(&k.path.to_ascii_lowercase())
            {
                continue;
            }
            let evidence = vec![Evidence::new(
                Locator::file(inv.path.clone()),
                format!("no row for {} among {} files", k.path, inv.len()),
            )];
            let mut f = self.meta.finding(Some(k.path), evidence);
            f.title = format!("{} is missing: {}", k.path, k.breaks);
            f.confidence = Confidence::Medium;
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::FactKind;
    use crate::rules::testing::config::*;
    use crate::rules::testing::run_rule;

    #[test]
    fn seed_console_initialize_is_parked_as_txt() {
        let f = run_rule(&ExchangeFileRenamed::new(), &seed_config());
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].subject.as_deref(),
            Some("RemoteScripts\\ConsoleInitialize.ps1")
        );
        assert!(f[0].title.contains("only as ConsoleInitialize.ps1.txt"));
        assert!(
            f[0].title
                .contains("not recognized as the name of a cmdlet")
        );
        assert_eq!(
            f[0].evidence[0].locator.to_string(),
            format!("{INVENTORY} row 214")
        );
        assert!(f[0].fix[0].contains(
            "Rename-Item \"D:\\Program Files\\Microsoft\\Exchange Server\\V14\\RemoteScripts\\ConsoleInitialize.ps1.txt\" \"ConsoleInitialize.ps1\""
        ));
        // Parked, not missing: the missing-file rule leaves it to this one.
        assert!(run_rule(&ExchangeFileMissing::new(), &seed_config()).is_empty());
    }

    #[test]
    fn a_bak_beside_its_live_file_is_not_a_rename() {
        // The healthy inventory has ClientAccess\Sync\web.config and web.config.bak.
        assert!(run_rule(&ExchangeFileRenamed::new(), &healthy_config()).is_empty());
    }

    #[test]
    fn known_file_missing_is_reported() {
        let facts = without(
            healthy_config(),
            |f| matches!(&f.kind, FactKind::FileEntry(e) if e.path.ends_with("RemoteExchange.ps1") || e.path.ends_with("Store.exe")),
        );
        let f = run_rule(&ExchangeFileMissing::new(), &facts);
        let subjects: Vec<_> = f.iter().filter_map(|f| f.subject.as_deref()).collect();
        assert_eq!(subjects, vec!["Bin\\RemoteExchange.ps1", "Bin\\Store.exe"]);
        assert_eq!(f[0].evidence[0].locator.path, INVENTORY);
    }

    #[test]
    fn role_and_version_gate_the_table() {
        // Store.exe belongs to the Mailbox role: without it, its absence says nothing.
        let facts = without(healthy_config(), |f| {
            matches!(&f.kind, FactKind::FileEntry(e) if e.path.ends_with("Store.exe"))
                || matches!(&f.kind, FactKind::RoleState(r) if r.role == "MailboxRole")
        });
        assert!(run_rule(&ExchangeFileMissing::new(), &facts).is_empty());
        // A partial inventory (no RemoteScripts folder listed) does not make files missing.
        let facts = without(
            healthy_config(),
            |f| matches!(&f.kind, FactKind::FileEntry(e) if e.path.contains("RemoteScripts")),
        );
        assert!(run_rule(&ExchangeFileMissing::new(), &facts).is_empty());
    }

    #[test]
    fn healthy_inventory_is_silent() {
        assert!(run_rule(&ExchangeFileMissing::new(), &healthy_config()).is_empty());
    }
}
