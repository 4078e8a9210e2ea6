//! web.config files: tokens setup left unexpanded, and `.bak` copies that differ only in paths.

use super::{install_hint, is_backup_name, relative_of_bundle_path, tokens, web_configs};
use crate::facts::{
    Confidence, Evidence, Explains, Fact, Finding, FindingKind, Locator, Severity, UnexpandedToken,
    WebConfigFile,
};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::host::cite;
use crate::rules::{Context, Rule, RuleMeta};
use std::collections::BTreeMap;

/// `%ExchangeInstallDir%` (or another `%…%` token) left in live web.config files.
pub struct WebConfigUnexpandedToken {
    meta: RuleMeta,
}

impl WebConfigUnexpandedToken {
    pub const ID: &'static str = "webconfig-unexpanded-token";

    pub fn new() -> Self {
        WebConfigUnexpandedToken {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "web.config files still contain %ExchangeInstallDir%".into(),
                kind: FindingKind::Symptom,
                severity: Severity::Critical,
                looks_for: "unexpanded `%ExchangeInstallDir%` (or other `%…%` environment tokens) in codeBase href and other path attributes of the live web.config files under ClientAccess and FrontEnd (not the .bak copies)".into(),
                why: "Setup copies web.config templates with `file:///%ExchangeInstallDir%bin\\…` and expands the token to the install path in a later step. When setup stops before that step, ASP.NET cannot resolve the assemblies: every application using the file fails with \"Could not load file or assembly 'Microsoft.Exchange…'\" (ASP.NET 1310/1334) and HTTP 500 — the PowerShell file breaks EMC/EMS (WinRM HTTP 500), the Owa, Sync, Autodiscover, ecp and EWS files break OWA, ActiveSync, Autodiscover, ECP and EWS.".into(),
                // The files, the install path and the scripts are filled in by `check`.
                fix: vec![common::rerun(), common::iisreset()],
                references: vec![
                    "Microsoft Learn: Could not load file or assembly error when browsing EWS or Autodiscover sites".into(),
                    "CSS-Exchange HealthChecker: Default Variable Detected (%ExchangeInstallDir%) in web.config".into(),
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                ],
                explains: vec!["aspnet-config-error".into(), "emc-ems-broken".into()],
            },
        }
    }
}

impl Default for WebConfigUnexpandedToken {
    fn default() -> Self {
        Self::new()
    }
}

/// One live file with tokens: bundle path, path under the install dir, count, first token.
struct TokenFile<'a> {
    bundle_path: String,
    relative: String,
    /// Broken tokens.
    count: usize,
    /// Token facts of any kind seen for the file.
    seen: usize,
    first: Option<(&'a Fact, &'a UnexpandedToken)>,
    file_fact: Option<&'a Fact>,
}

impl TokenFile<'_> {
    fn new(bundle_path: &str, relative: String) -> Self {
        TokenFile {
            bundle_path: bundle_path.to_string(),
            relative,
            count: 0,
            seen: 0,
            first: None,
            file_fact: None,
        }
    }
}

/// Is this token one nothing will expand? Setup's own `%Exchange…%` tokens always are; any
/// token in a `file:` URL or a codeBase `href` too, since .NET never expands variables there.
/// Others (`%SystemDrive%\inetpub\custerr` in httpErrors) are expanded by IIS and fine.
fn is_broken_token(t: &UnexpandedToken) -> bool {
    let name = t.token.trim_matches('%').to_ascii_lowercase();
    name.starts_with("exchange")
        || t.attribute.eq_ignore_ascii_case("href")
        || t.value
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("file:")
}

impl Rule for WebConfigUnexpandedToken {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // Keyed by lower-case bundle path; a file may be known by its summary, its tokens or both.
        let mut files: BTreeMap<String, TokenFile> = BTreeMap::new();
        for (f, t) in tokens(ctx.facts) {
            let path = &f.evidence.locator.path;
            if is_backup_name(path) {
                continue;
            }
            let e = files
                .entry(path.to_ascii_lowercase())
                .or_insert_with(|| TokenFile::new(path, relative_of_bundle_path(path)));
            e.seen += 1;
            if !is_broken_token(t) {
                continue;
            }
            e.count += 1;
            let earlier = match (&e.first, &f.evidence.locator.at) {
                (None, _) => true,
                (Some((g, _)), at) => *at < g.evidence.locator.at,
            };
            if earlier {
                e.first = Some((f, t));
            }
        }
        for (f, w) in web_configs(ctx.facts) {
            let path = &f.evidence.locator.path;
            if w.is_backup || is_backup_name(path) || is_backup_name(&w.relative) {
                continue;
            }
            if w.token_count == 0 && !files.contains_key(&path.to_ascii_lowercase()) {
                continue;
            }
            let e = files
                .entry(path.to_ascii_lowercase())
                .or_insert_with(|| TokenFile::new(path, w.relative.clone()));
            // The parser counts every token but may keep fewer facts than it saw: tokens beyond
            // the kept facts are taken as broken (they are, in the files seen so far). With no
            // facts at all the count is all there is.
            e.count += w.token_count.saturating_sub(e.seen);
            e.relative = w.relative.replace('\\', "/");
            e.file_fact = Some(f);
        }
        let files: Vec<TokenFile> = files.into_values().filter(|f| f.count > 0).collect();
        if files.is_empty() {
            return Vec::new();
        }

        let total: usize = files.iter().map(|f| f.count).sum();
        let evidence: Vec<Evidence> = files
            .iter()
            .map(|tf| {
                let entries = if tf.count == 1 { "entry" } else { "entries" };
                match (tf.first, tf.file_fact) {
                    (Some((f, _)), _) => {
                        cite(f, format!("{}: {} {entries}; first", tf.relative, tf.count))
                    }
                    (None, Some(f)) => cite(f, format!("{}: {} {entries}", tf.relative, tf.count)),
                    (None, None) => Evidence::new(
                        Locator::file(tf.bundle_path.clone()),
                        format!("{}: {} {entries}", tf.relative, tf.count),
                    ),
                }
            })
            .collect();

        let (install, v15) = install_hint(ctx.facts);
        let install_text = match &install {
            Some(p) => format!("the install path `{p}` (Setup\\MsiInstallPath)"),
            None => "the install path from the registry (Setup\\MsiInstallPath, e.g. `C:\\Program Files\\Microsoft\\Exchange Server\\V14\\`)".to_string(),
        };
        // Without the path in the bundle, the variable setup writes (it ends in `\`).
        let install_or = install
            .clone()
            .unwrap_or_else(|| "$env:ExchangeInstallPath".into());
        let bin = format!("{install_or}Bin\\");
        let scripts = if v15 {
            format!("& \"{bin}UpdateConfigFiles.ps1\"; & \"{bin}UpdateCas.ps1\"")
        } else {
            format!("& \"{bin}UpdateCas.ps1\"")
        };
        let names: Vec<&str> = files.iter().map(|f| f.relative.as_str()).collect();
        let mut finding = self.meta.finding(None, evidence);
        finding.title = format!(
            "{} web.config file(s) still contain %ExchangeInstallDir% ({total} entries): {}",
            files.len(),
            files
                .iter()
                .map(|f| format!("{}: {} entries", f.relative, f.count))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut rewrite = Action::new(
            Phase::Repair,
            "If a web.config still contains %ExchangeInstallDir% after setup, let Exchange rewrite the files",
        )
        .target(&format!("{install_or}ClientAccess"))
        .command(&scripts)
        .ems()
        .changes(&[Change::WebConfig]);
        rewrite.items = vec![format!(
            "or replace every `%ExchangeInstallDir%` with {install_text} by hand, in {}; the path ends in `\\`, so `file:///%ExchangeInstallDir%bin\\X.dll` becomes `file:///{install_or}bin\\X.dll`",
            names.join(", ")
        )];
        let mut fix = vec![rewrite];
        fix.append(&mut finding.fix);
        finding.fix = fix;
        // The Sync file is ActiveSync's: its tokens explain ActiveSync errors too.
        if files.iter().any(|f| {
            f.relative
                .to_ascii_lowercase()
                .contains("clientaccess/sync/")
        }) {
            finding.explains.push(Explains::any("activesync-errors"));
        }
        finding.confidence = Confidence::High;
        vec![finding]
    }
}

// ------------------------------------------------------------------------------------------

/// A live web.config and its `.bak` differ only in expanded paths versus tokens.
pub struct WebConfigBakDiffersOnlyInPaths {
    meta: RuleMeta,
}

impl WebConfigBakDiffersOnlyInPaths {
    pub const ID: &'static str = "webconfig-bak-differs-only-in-paths";

    pub fn new() -> Self {
        WebConfigBakDiffersOnlyInPaths {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "web.config and its .bak differ only in expanded paths".into(),
                kind: FindingKind::Info,
                severity: Severity::Info,
                looks_for: "a web.config.bak beside a live web.config whose only differences are `%ExchangeInstallDir%` tokens in one where the other has the install path".into(),
                why: "Restoring the .bak (a common manual repair, e.g. for ClientAccess\\Sync) brings the unexpanded tokens back when the .bak is the token copy; when the live file is the token copy, the .bak is a ready repair. Either way nothing else differs, so other damage must be looked for elsewhere.".into(),
                fix: vec![
                    Action::new(Phase::Repair, "Use the copy without tokens: if that is the .bak, restore it over the live file (the backup step keeps the live one)")
                        .changes(&[Change::WebConfig]),
                    common::iisreset(),
                ],
                references: vec![
                    "Microsoft Learn: Could not load file or assembly error when browsing EWS or Autodiscover sites".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for WebConfigBakDiffersOnlyInPaths {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for WebConfigBakDiffersOnlyInPaths {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // Live path (lower-case, no .bak) → (live, bak) facts.
        type Pair<'a> = (
            Option<(&'a Fact, &'a WebConfigFile)>,
            Option<(&'a Fact, &'a WebConfigFile)>,
        );
        let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
        for (f, w) in web_configs(ctx.facts) {
            let rel = w.relative.replace('\\', "/");
            let backup = w.is_backup || is_backup_name(&rel);
            let live = if backup {
                rel[..rel.len().saturating_sub(4)].to_string()
            } else {
                rel.clone()
            };
            let e = pairs.entry(live.to_ascii_lowercase()).or_default();
            if backup {
                e.1 = Some((f, w));
            } else {
                e.0 = Some((f, w));
            }
        }
        let mut out = Vec::new();
        for (live, bak) in pairs.values() {
            let flagged = live.is_some_and(|(_, w)| w.differs_from_backup_only_in_paths)
                || bak.is_some_and(|(_, w)| w.differs_from_backup_only_in_paths);
            if !flagged {
                continue;
            }
            let Some((name, _)) = live.or(*bak).map(|(_, w)| (w.relative.clone(), ())) else {
                continue;
            };
            let name = name.trim_end_matches(".bak").to_string();
            let evidence: Vec<Evidence> = [*live, *bak]
                .into_iter()
                .flatten()
                .map(|(f, w)| {
                    cite(
                        f,
                        format!("{}: {} unexpanded token(s)", w.relative, w.token_count),
                    )
                })
                .collect();
            let which = match (live, bak) {
                (Some((_, l)), Some((_, b))) if l.token_count > 0 && b.token_count == 0 => {
                    "the live file has the tokens; the .bak has the paths and can be restored"
                }
                (Some((_, l)), Some((_, b))) if l.token_count == 0 && b.token_count > 0 => {
                    "the .bak has the tokens; restoring it would break the application again"
                }
                _ => "one has tokens where the other has paths",
            };
            let mut f = self.meta.finding(Some(&name), evidence);
            f.title = format!("{name} and its .bak differ only in expanded paths: {which}");
            f.confidence = Confidence::High;
            out.push(f);
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
    fn seed_tokens_make_one_finding_naming_every_file_and_count() {
        let f = run_rule(&WebConfigUnexpandedToken::new(), &seed_config());
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert!(f.title.contains("6 web.config file(s)"), "{}", f.title);
        assert!(f.title.contains("ClientAccess/PowerShell/web.config: 212"));
        assert!(
            !f.title.contains(".bak"),
            "backups are not live: {}",
            f.title
        );
        assert_eq!(f.evidence.len(), 6);
        let ps = f
            .evidence
            .iter()
            .find(|e| {
                e.excerpt
                    .starts_with("ClientAccess/PowerShell/web.config: 212 entries")
            })
            .expect("PowerShell evidence");
        assert_eq!(
            ps.locator.to_string(),
            "iis/webconfig/ClientAccess/PowerShell/web.config:40"
        );
        assert!(f.fix[0].items[0].contains("D:\\Program Files\\Microsoft\\Exchange Server\\V14\\"));
        assert!(f.fix[0].contains("UpdateCas.ps1"));
        assert!(f.explains.iter().any(|e| e.id == "activesync-errors"));
    }

    #[test]
    fn tokens_counted_from_token_facts_alone_and_fix_without_install_path() {
        let facts = without(seed_config(), |f| {
            is_kind(f, |k| {
                matches!(k, FactKind::WebConfigFile(_) | FactKind::InstallPath(_))
            })
        });
        let f = run_rule(&WebConfigUnexpandedToken::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("ClientAccess/Owa/web.config: 143"));
        assert!(f[0].fix[0].contains("Setup\\MsiInstallPath"));
    }

    #[test]
    fn healthy_web_configs_are_silent() {
        assert!(run_rule(&WebConfigUnexpandedToken::new(), &healthy_config()).is_empty());
        // IIS expands variables in its own sections: `%SystemDrive%` in httpErrors is fine.
        let mut facts = healthy_config();
        for f in facts.facts.iter_mut() {
            if let FactKind::WebConfigFile(w) = &mut f.kind
                && w.relative == "ClientAccess/Owa/web.config"
            {
                w.token_count = 1;
            }
        }
        facts.facts.push(crate::rules::testing::config::fact(
            Locator::line("iis/webconfig/ClientAccess/Owa/web.config", 300),
            "<error statusCode=\"404\" prefixLanguageFilePath=\"%SystemDrive%\\inetpub\\custerr\" />",
            FactKind::UnexpandedToken(UnexpandedToken {
                token: "%SystemDrive%".into(),
                attribute: "prefixLanguageFilePath".into(),
                value: "%SystemDrive%\\inetpub\\custerr".into(),
            }),
        ));
        assert!(run_rule(&WebConfigUnexpandedToken::new(), &facts).is_empty());
    }

    #[test]
    fn truncated_token_facts_are_counted_from_the_file_summary() {
        // The parser kept 3 token facts for the Owa file but counted 143.
        let facts = without(seed_config(), |f| {
            matches!(&f.kind, FactKind::UnexpandedToken(_))
                && f.evidence.locator.path.ends_with("Owa/web.config")
                && f.evidence.locator.at > crate::facts::Position::Line(48)
        });
        let f = run_rule(&WebConfigUnexpandedToken::new(), &facts);
        assert!(
            f[0].title
                .contains("ClientAccess/Owa/web.config: 143 entries"),
            "{}",
            f[0].title
        );
    }

    #[test]
    fn bak_that_differs_only_in_paths_is_reported() {
        let mut facts = healthy_config();
        for f in facts.facts.iter_mut() {
            if let FactKind::WebConfigFile(w) = &mut f.kind
                && w.relative.starts_with("ClientAccess/Sync/web.config")
            {
                w.differs_from_backup_only_in_paths = true;
                if w.is_backup {
                    w.token_count = 97;
                }
            }
        }
        let f = run_rule(&WebConfigBakDiffersOnlyInPaths::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].subject.as_deref(),
            Some("ClientAccess/Sync/web.config")
        );
        assert!(
            f[0].title.contains("restoring it would break"),
            "{}",
            f[0].title
        );
        assert!(run_rule(&WebConfigBakDiffersOnlyInPaths::new(), &healthy_config()).is_empty());
    }
}
