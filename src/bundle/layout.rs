//! The bundle layout: the one list of paths shared by the collector and the analyser.
//!
//! `docs/bundle-format.md` documents this table and a test checks that
//! `collectors/Collect-ExchangeEvidence.ps1` writes exactly these paths, so the two cannot drift.

use serde::Serialize;

/// What kind of artefact a bundle path holds. Parsers are chosen by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtefactKind {
    Manifest,
    CollectorLog,
    SetupLog,
    SetupText,
    Registry,
    AppHostConfig,
    WebConfig,
    Evtx,
    EvtxLocale,
    Services,
    Software,
    FileVersions,
    Inventory,
    Acl,
    HostJson,
}

/// One row of the layout table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LayoutEntry {
    /// Glob over the bundle-relative path: `*` stays within a folder, `**/` spans folders.
    /// Matching is case-insensitive, as on Windows.
    pub pattern: &'static str,
    pub kind: ArtefactKind,
    pub what: &'static str,
}

/// The bundle contract, first match wins.
pub const LAYOUT: &[LayoutEntry] = &[
    LayoutEntry {
        pattern: "manifest.json",
        kind: ArtefactKind::Manifest,
        what: "collector manifest: host, clock, every file with its SHA-256",
    },
    LayoutEntry {
        pattern: "collector.log",
        kind: ArtefactKind::CollectorLog,
        what: "the collector's own log",
    },
    LayoutEntry {
        pattern: "setup/ExchangeSetup*.log",
        kind: ArtefactKind::SetupLog,
        what: "ExchangeSetup.log from C:\\ExchangeSetupLogs",
    },
    LayoutEntry {
        pattern: "setup/*.log",
        kind: ArtefactKind::SetupText,
        what: "other setup logs: ServiceControl.log, UpdateCas.log, UpdateConfigFiles.log",
    },
    LayoutEntry {
        pattern: "setup/*.msilog",
        kind: ArtefactKind::SetupText,
        what: "Windows Installer logs written by setup",
    },
    LayoutEntry {
        pattern: "setup/ServiceState.xml",
        kind: ArtefactKind::SetupText,
        what: "service start modes saved by ServiceControl.ps1",
    },
    LayoutEntry {
        pattern: "registry/*.reg",
        kind: ArtefactKind::Registry,
        what: "reg export of the ExchangeServer key and of Exchange/IIS service keys",
    },
    LayoutEntry {
        pattern: "iis/applicationHost.config",
        kind: ArtefactKind::AppHostConfig,
        what: "IIS applicationHost.config",
    },
    LayoutEntry {
        pattern: "iis/webconfig/**/web.config",
        kind: ArtefactKind::WebConfig,
        what: "web.config under ClientAccess/FrontEnd, path kept",
    },
    LayoutEntry {
        pattern: "iis/webconfig/**/web.config.bak",
        kind: ArtefactKind::WebConfig,
        what: "web.config.bak left beside a web.config",
    },
    LayoutEntry {
        pattern: "iis/webconfig/**/SharedWebConfig.config",
        kind: ArtefactKind::WebConfig,
        what: "SharedWebConfig.config (Exchange 2013+)",
    },
    LayoutEntry {
        pattern: "evtx/*.evtx",
        kind: ArtefactKind::Evtx,
        what: "wevtutil epl of Application, System and Exchange channels",
    },
    LayoutEntry {
        pattern: "evtx/LocaleMetaData/*.MTA",
        kind: ArtefactKind::EvtxLocale,
        what: "wevtutil al message metadata",
    },
    LayoutEntry {
        pattern: "system/services.csv",
        kind: ArtefactKind::Services,
        what: "Win32_Service: Name, DisplayName, StartMode, State, StartName, PathName",
    },
    LayoutEntry {
        pattern: "system/software.csv",
        kind: ArtefactKind::Software,
        what: "installed programs and antivirus products",
    },
    LayoutEntry {
        pattern: "system/file-versions.csv",
        kind: ArtefactKind::FileVersions,
        what: "file versions of Exchange binaries",
    },
    LayoutEntry {
        pattern: "system/inventory.csv",
        kind: ArtefactKind::Inventory,
        what: "every file under the Exchange install dir",
    },
    LayoutEntry {
        pattern: "system/acl/*.txt",
        kind: ArtefactKind::Acl,
        what: "icacls of the install dir, ClientAccess and owa\\auth",
    },
    LayoutEntry {
        pattern: "system/host.json",
        kind: ArtefactKind::HostJson,
        what: "OS, domain, pending reboot, .NET release, UTC offset, time zone",
    },
];

/// The kind of a bundle path, or `None` when the layout does not name it. A twin's display
/// path (`… (copy 2)`) has the kind of the name it shares.
pub fn classify(path: &str) -> Option<ArtefactKind> {
    let path = super::twins::base_path(path);
    LAYOUT
        .iter()
        .find(|e| glob_match(e.pattern, path))
        .map(|e| e.kind)
}

/// Case-insensitive glob with `*` (within one folder) and `**/` (any folders, or none).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let s: Vec<char> = path.to_lowercase().chars().collect();
    glob_at(&p, &s)
}

fn glob_at(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') if p.get(1) == Some(&'*') && p.get(2) == Some(&'/') => {
            let rest = &p[3..];
            // `**/` matches nothing, or any run of whole folders.
            if glob_at(rest, s) {
                return true;
            }
            s.iter()
                .enumerate()
                .filter(|(_, c)| **c == '/')
                .any(|(i, _)| glob_at(rest, &s[i + 1..]))
        }
        Some('*') => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if glob_at(rest, &s[i..]) {
                    return true;
                }
                if i < s.len() && s[i] == '/' {
                    break;
                }
            }
            false
        }
        Some(c) => s.first() == Some(c) && glob_at(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_contract_paths() {
        assert_eq!(
            classify("setup/ExchangeSetup.log"),
            Some(ArtefactKind::SetupLog)
        );
        assert_eq!(
            classify("setup/ServiceControl.log"),
            Some(ArtefactKind::SetupText)
        );
        assert_eq!(
            classify("iis/webconfig/ClientAccess/Owa/web.config"),
            Some(ArtefactKind::WebConfig)
        );
        assert_eq!(
            classify("IIS/WEBCONFIG/ClientAccess/exchweb/ews/web.config.bak"),
            Some(ArtefactKind::WebConfig)
        );
        assert_eq!(classify("evtx/System.evtx"), Some(ArtefactKind::Evtx));
        assert_eq!(classify("system/acl/owa-auth.txt"), Some(ArtefactKind::Acl));
        assert_eq!(classify("setup/sub/ExchangeSetup.log"), None);
        assert_eq!(classify("notes.txt"), None);
    }

    #[test]
    fn star_does_not_cross_folders() {
        assert!(!glob_match("evtx/*.evtx", "evtx/a/b.evtx"));
        assert!(glob_match("a/**/x", "a/x"));
        assert!(glob_match("a/**/x", "a/b/c/x"));
    }
}
