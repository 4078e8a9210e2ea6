//! IIS: web.config files setup left unexpanded, native modules, application pools and the
//! ActiveSync virtual directory.
//!
//! Facts come from `iis/webconfig/**` and `iis/applicationHost.config`; paths are checked
//! against the install path (registry) and the file inventory (`system/inventory.csv`).

use super::host::{Inventory, cite, install_paths, norm_path, relative_display};
use super::roles::role_installed;
use super::{Context, Rule, RuleMeta};
use crate::facts::{
    AppPool, Confidence, Evidence, Explains, Fact, FactKind, FactSet, Finding, FindingKind,
    IisApplication, IisAuthentication, IisGlobalModule, IisLocationModules, Locator, Severity,
    UnexpandedToken, WebConfigFile,
};
use std::collections::{BTreeMap, BTreeSet};

pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(WebConfigUnexpandedToken::new()),
        Box::new(WebConfigBakDiffersOnlyInPaths::new()),
        Box::new(ExppwMissing::new()),
        Box::new(AppPoolMisconfigured::new()),
        Box::new(ActiveSyncAuthMisconfigured::new()),
    ]
}

/// Where web.config files sit in a bundle.
const WEBCONFIG_ROOT: &str = "iis/webconfig/";

/// `(fact, web.config)` pairs.
fn web_configs(facts: &FactSet) -> impl Iterator<Item = (&Fact, &WebConfigFile)> {
    facts.iter().filter_map(|f| match &f.kind {
        FactKind::WebConfigFile(w) => Some((f, w)),
        _ => None,
    })
}

fn tokens(facts: &FactSet) -> impl Iterator<Item = (&Fact, &UnexpandedToken)> {
    facts.iter().filter_map(|f| match &f.kind {
        FactKind::UnexpandedToken(t) => Some((f, t)),
        _ => None,
    })
}

fn global_modules(facts: &FactSet) -> impl Iterator<Item = (&Fact, &IisGlobalModule)> {
    facts.iter().filter_map(|f| match &f.kind {
        FactKind::IisGlobalModule(m) => Some((f, m)),
        _ => None,
    })
}

fn location_modules(facts: &FactSet) -> impl Iterator<Item = (&Fact, &IisLocationModules)> {
    facts.iter().filter_map(|f| match &f.kind {
        FactKind::IisLocationModules(m) => Some((f, m)),
        _ => None,
    })
}

fn app_pools(facts: &FactSet) -> impl Iterator<Item = (&Fact, &AppPool)> {
    facts.iter().filter_map(|f| match &f.kind {
        FactKind::AppPool(p) => Some((f, p)),
        _ => None,
    })
}

fn applications(facts: &FactSet) -> impl Iterator<Item = (&Fact, &IisApplication)> {
    facts.iter().filter_map(|f| match &f.kind {
        FactKind::IisApplication(a) => Some((f, a)),
        _ => None,
    })
}

/// Any fact read from applicationHost.config: its locator path, to cite the file itself.
fn apphost_path(facts: &FactSet) -> Option<&str> {
    facts.iter().find_map(|f| match &f.kind {
        FactKind::IisGlobalModule(_)
        | FactKind::IisLocationModules(_)
        | FactKind::AppPool(_)
        | FactKind::IisApplication(_)
        | FactKind::IisAuthentication(_)
        | FactKind::HttpRedirect(_) => Some(f.evidence.locator.path.as_str()),
        _ => None,
    })
}

/// The web.config a bundle path holds, relative to the install dir: `ClientAccess/Owa/web.config`.
fn relative_of_bundle_path(path: &str) -> String {
    let p = path.replace('\\', "/");
    match p.get(..WEBCONFIG_ROOT.len()) {
        Some(head) if head.eq_ignore_ascii_case(WEBCONFIG_ROOT) => p[WEBCONFIG_ROOT.len()..].into(),
        _ => p,
    }
}

fn is_backup_name(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".bak")
}

/// `Default Web Site/owa` → (`default web site`, `owa`); the last segment is the vdir.
fn location_parts(location: &str) -> (String, String) {
    let l = location.trim().trim_matches('/').to_ascii_lowercase();
    let site = l.split('/').next().unwrap_or("").to_string();
    let last = l.rsplit('/').next().unwrap_or("").to_string();
    (site, last)
}

/// Is this the OWA application of a front-end site (not `Exchange Back End`)?
fn is_owa_location(location: &str) -> bool {
    let (site, last) = location_parts(location);
    last == "owa"
        && location.trim().trim_matches('/').matches('/').count() == 1
        && site != "exchange back end"
}

fn module_is_exppw(name: &str) -> bool {
    name.trim().to_ascii_lowercase().ends_with("exppw")
}

/// The install path and the script that rewrites config files, for fix texts.
fn install_hint(facts: &FactSet) -> (Option<String>, bool) {
    let paths = install_paths(facts);
    let v15 = facts.iter().any(|f| match &f.kind {
        FactKind::InstallPath(p) => p.major.eq_ignore_ascii_case("v15"),
        FactKind::RoleState(r) => r.major.eq_ignore_ascii_case("v15"),
        _ => false,
    });
    (paths.first().map(|(p, _)| p.clone()), v15)
}

// ------------------------------------------------------------------------------------------

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
                fix: vec![
                    "Back up the listed files (copy them elsewhere, not as .bak beside them).".into(),
                    "Replace every `%ExchangeInstallDir%` with <install-text> in <files>. The path ends in `\\`, so `file:///%ExchangeInstallDir%bin\\X.dll` becomes `file:///<install>bin\\X.dll`.".into(),
                    "Or let Exchange rewrite them: from an elevated Exchange Management Shell run <scripts>.".into(),
                    "Run `iisreset /noforce` and test OWA, ECP, EWS, ActiveSync, Autodiscover and EMC.".into(),
                    "Re-run setup in upgrade mode afterwards so the steps after the failure (including this expansion) are completed by setup itself.".into(),
                ],
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
        let install_or = install.clone().unwrap_or_else(|| "<install path>".into());
        let bin = format!("{install_or}Bin\\");
        let scripts = if v15 {
            format!("`& \"{bin}UpdateConfigFiles.ps1\"` then `& \"{bin}UpdateCas.ps1\"`")
        } else {
            format!(
                "`& \"{bin}UpdateCas.ps1\"` (and `UpdateConfigFiles.ps1` where the build has it)"
            )
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
        finding.fix = finding
            .fix
            .iter()
            .map(|s| {
                s.replace("<install-text>", &install_text)
                    .replace("<files>", &names.join(", "))
                    .replace("<scripts>", &scripts)
                    .replace("<install>", &install_or)
            })
            .collect();
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
                why: "Restoring the .bak (as the seed's consultant did for ClientAccess\\Sync) brings the unexpanded tokens back when the .bak is the token copy; when the live file is the token copy, the .bak is a ready repair. Either way nothing else differs, so other damage must be looked for elsewhere.".into(),
                fix: vec![
                    "Use the copy without tokens; if that is the .bak, back up the live file and restore the .bak over it, then `iisreset /noforce`.".into(),
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

// ------------------------------------------------------------------------------------------

/// The OWA password-expiry module `exppw` is not registered, not enabled for OWA, or its DLL
/// is not where applicationHost.config says.
pub struct ExppwMissing {
    meta: RuleMeta,
}

impl ExppwMissing {
    pub const ID: &'static str = "iis-exppw-missing";
    pub const SUBJECT: &'static str = "exppw.dll";

    pub fn new() -> Self {
        ExppwMissing {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "The OWA native module exppw is missing".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "applicationHost.config without `globalModules/add[@name='exppw']`, OWA's location (`Default Web Site/owa`) not enabling exppw in its modules (nor the Owa web.config), or the exppw image path outside the install path or absent from the file inventory".into(),
                why: "exppw.dll (ClientAccess\\Owa\\auth) is the native IIS module behind OWA's password-expiry handling. When it is unregistered, not enabled for /owa, or its image path does not exist, IIS logs 2280 \"The Module DLL …exppw.dll failed to load\" and OWA's application pool fails.".into(),
                fix: vec![
                    "Back up the IIS configuration: `%windir%\\System32\\inetsrv\\appcmd add backup BeforeExppw`.".into(),
                    "If the global registration is missing or stale, register it with the real path: `appcmd install module /name:exppw /image:\"<install>ClientAccess\\Owa\\auth\\exppw.dll\" /add:false`.".into(),
                    "Enable it for OWA: IIS Manager > Default Web Site > owa > Modules > Configure Native Modules > tick exppw (or `appcmd add module /name:exppw /app.name:\"Default Web Site/owa\"`).".into(),
                    "If the DLL is absent from ClientAccess\\Owa\\auth, restore it from a server of the same build or re-run setup in upgrade mode; check the antivirus quarantine.".into(),
                    "Run `iisreset` and browse to /owa.".into(),
                ],
                references: vec![
                    "Microsoft Learn: IIS event 2280 - The Module DLL failed to load".into(),
                    "Microsoft Learn: Configure native modules in IIS 7 (appcmd install module)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for ExppwMissing {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for ExppwMissing {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let facts = ctx.facts;
        let Some(apphost) = apphost_path(facts) else {
            // Without applicationHost.config nothing can be said about modules.
            return Vec::new();
        };
        let owa_app = applications(facts).find(|(_, a)| {
            a.path.trim_matches('/').eq_ignore_ascii_case("owa")
                && !a.site.eq_ignore_ascii_case("Exchange Back End")
        });
        let owa_locations: Vec<(&Fact, &IisLocationModules)> = location_modules(facts)
            .filter(|(_, m)| is_owa_location(&m.location))
            .collect();
        let owa_webconfig = web_configs(facts).find(|(_, w)| {
            !w.is_backup
                && w.relative
                    .replace('\\', "/")
                    .eq_ignore_ascii_case("ClientAccess/Owa/web.config")
        });
        let has_owa = owa_app.is_some()
            || !owa_locations.is_empty()
            || owa_webconfig.is_some()
            || role_installed(facts, "ClientAccessRole");
        if !has_owa {
            return Vec::new();
        }

        let mut evidence = Vec::new();
        let mut problems = Vec::new();

        // 1. Registered globally?
        let globals: Vec<_> = global_modules(facts).collect();
        let exppw = globals.iter().find(|(_, m)| module_is_exppw(&m.name));
        if !globals.is_empty() && exppw.is_none() {
            problems.push("not registered in globalModules".to_string());
            evidence.push(Evidence::new(
                Locator::new(
                    apphost,
                    crate::facts::Position::Element(
                        "configuration/system.webServer/globalModules".into(),
                    ),
                ),
                format!(
                    "globalModules has {} module(s), none named exppw",
                    globals.len()
                ),
            ));
        }

        // 2. Enabled for OWA? A `remove` wins; an `add` in the location or the Owa web.config enables.
        let removed = owa_locations
            .iter()
            .find(|(_, m)| m.removed.iter().any(|n| module_is_exppw(n)));
        let added = owa_locations
            .iter()
            .any(|(_, m)| m.added.iter().any(|n| module_is_exppw(n)))
            || owa_webconfig.is_some_and(|(_, w)| w.modules.iter().any(|n| module_is_exppw(n)));
        if let Some((f, m)) = removed {
            problems.push(format!("removed from {}", m.location));
            evidence.push(cite(
                f,
                format!("<remove name=\"exppw\" /> in {}", m.location),
            ));
        } else if !added {
            problems.push("not enabled for Default Web Site/owa".to_string());
            match owa_locations.first() {
                Some((f, m)) => evidence.push(cite(
                    f,
                    format!(
                        "{} modules: added [{}], no exppw",
                        m.location,
                        m.added.join(", ")
                    ),
                )),
                None => {
                    let loc = owa_app
                        .map(|(f, _)| f.evidence.locator.clone())
                        .unwrap_or_else(|| Locator::file(apphost));
                    evidence.push(Evidence::new(
                        loc,
                        "no <location path=\"Default Web Site/owa\"> modules entry adds exppw",
                    ));
                }
            }
            if let Some((f, w)) = owa_webconfig {
                evidence.push(cite(
                    f,
                    format!(
                        "{} system.webServer/modules: [{}], no exppw",
                        w.relative,
                        w.modules.join(", ")
                    ),
                ));
            }
        }

        // 3. Does the image exist where it is registered?
        if let Some((f, m)) = exppw {
            let installs = install_paths(facts);
            let image = norm_path(&m.image);
            let under_install = installs
                .iter()
                .find(|(p, _)| image.starts_with(&format!("{}\\", norm_path(p))));
            if !installs.is_empty() && under_install.is_none() && !image.contains('%') {
                problems.push(format!("image path outside the install path: {}", m.image));
                evidence.push(f.evidence.clone());
                if let Some((p, pf)) = installs.first() {
                    evidence.push(cite(pf, format!("MsiInstallPath={p}")));
                }
            } else if let Some(inv) = Inventory::of(facts) {
                let rel = relative_display(&m.image, &installs);
                if inv.looks_complete() && inv.covers(&rel) && inv.get(&rel).is_none() {
                    problems.push(format!("{rel} is not in the file inventory"));
                    evidence.push(f.evidence.clone());
                    evidence.push(Evidence::new(
                        Locator::file(inv.path.clone()),
                        format!("no row for {rel} among {} files", inv.len()),
                    ));
                }
            }
        }

        if problems.is_empty() {
            return Vec::new();
        }
        let mut finding = self.meta.finding(Some(Self::SUBJECT), evidence);
        finding.title = format!("OWA native module exppw: {}", problems.join("; "));
        let (install, _) = install_hint(facts);
        if let Some(p) = install {
            finding.fix = finding
                .fix
                .iter()
                .map(|s| s.replace("<install>", &p))
                .collect();
        }
        finding.explains = vec![Explains::about("iis-module-load-failed", Self::SUBJECT)];
        finding.confidence = Confidence::High;
        vec![finding]
    }
}

// ------------------------------------------------------------------------------------------

/// Which Exchange application pools a server with the Client Access role must have. The
/// PowerShell pool serves remote PowerShell (EMC/EMS) and DefaultAppPool serves /OAB and /Rpc
/// on 2010. Exchange runs them all as LocalSystem.
const CAS_POOLS: &[&str] = &[
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
                why: "Each Exchange virtual directory runs in its own pool as LocalSystem. A missing pool leaves its applications with nowhere to run; another identity cannot read Exchange's keys and files (WAS 5021/5059, HTTP 500/503); a pool with autoStart=false is not started by WAS after iisreset or a reboot, so its vdir answers 503 (the seed's MSExchangeSyncAppPool: ActiveSync down); a 32-bit pool cannot load 64-bit Exchange modules (IIS 2282).".into(),
                fix: vec![
                    "Back up the IIS configuration: `%windir%\\System32\\inetsrv\\appcmd add backup BeforePoolFix`.".into(),
                    "<actions>".into(),
                    "Start the pool (`appcmd start apppool /apppool.name:\"<pool>\"`), run `iisreset`, and browse to its virtual directory.".into(),
                ],
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
        actions: &[String],
        evidence: Vec<Evidence>,
        thirty_two_bit: bool,
    ) -> Finding {
        let mut f = self.meta.finding(Some(pool), evidence);
        f.title = format!("{pool} ({}): {}", pool_role(pool), problems.join("; "));
        let mut fix = Vec::new();
        for s in &self.meta.fix {
            if s == "<actions>" {
                fix.extend(actions.iter().cloned());
            } else {
                fix.push(s.replace("<pool>", pool));
            }
        }
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
                                crate::facts::Position::Element(
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
            let actions = vec![String::from(
                "Re-create the pool by resetting the virtual directories that use it (EMC > Server Configuration > Client Access > Reset Virtual Directory, or `Remove-`/`New-<Type>VirtualDirectory` in EMS), or re-run setup in upgrade mode; the pool must run as LocalSystem.",
            )];
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
                actions.push(format!("Set the identity: `appcmd set apppool /apppool.name:\"{name}\" /processModel.identityType:LocalSystem` (IIS Manager > Application Pools > {name} > Advanced Settings > Identity)."));
            }
            if p.auto_start == Some(false) {
                problems.push("autoStart=false: not started after iisreset or a reboot".into());
                actions.push(format!(
                    "Let WAS start it: `appcmd set apppool /apppool.name:\"{name}\" /autoStart:true`."
                ));
            }
            let thirty_two = p.enable_32bit == Some(true);
            if thirty_two {
                problems
                    .push("enable32BitAppOnWin64=true: 64-bit Exchange modules cannot load".into());
                actions.push(format!(
                    "Run it 64-bit: `appcmd set apppool /apppool.name:\"{name}\" /enable32BitAppOnWin64:false`."
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

// ------------------------------------------------------------------------------------------

/// The front-end ActiveSync virtual directory allows something other than Basic, or redirects.
pub struct ActiveSyncAuthMisconfigured {
    meta: RuleMeta,
}

impl ActiveSyncAuthMisconfigured {
    pub const ID: &'static str = "activesync-auth-misconfigured";

    pub fn new() -> Self {
        ActiveSyncAuthMisconfigured {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "ActiveSync virtual directory authentication or redirect is wrong".into(),
                kind: FindingKind::Symptom,
                severity: Severity::Medium,
                looks_for: "`<location path=\"Default Web Site/Microsoft-Server-ActiveSync\">` with an authentication method other than Basic enabled, Basic disabled, or `httpRedirect enabled=\"true\"`".into(),
                why: "Devices authenticate to /Microsoft-Server-ActiveSync with Basic; with another method enabled (or Basic off) they get no usable 401 challenge, and a redirect sends them away from the endpoint, so phones stop syncing (the seed checked both while ActiveSync was down).".into(),
                fix: vec![
                    "IIS Manager > Default Web Site > Microsoft-Server-ActiveSync > Authentication: enable Basic only; HTTP Redirect: untick \"Redirect requests to this destination\".".into(),
                    "Or reset the virtual directory from EMS: `Remove-ActiveSyncVirtualDirectory -Identity \"<server>\\Microsoft-Server-ActiveSync (Default Web Site)\"` then `New-ActiveSyncVirtualDirectory` (back up applicationHost.config first with `appcmd add backup`).".into(),
                    "Run `iisreset` and test with the Remote Connectivity Analyzer; browsing the vdir should answer 401 Unauthorized.".into(),
                ],
                references: vec![
                    "Microsoft Learn: Default settings for Exchange virtual directories".into(),
                    "Microsoft Learn: Reset virtual directories in Exchange Server".into(),
                ],
                explains: vec!["activesync-errors".into()],
            },
        }
    }
}

impl Default for ActiveSyncAuthMisconfigured {
    fn default() -> Self {
        Self::new()
    }
}

/// `basicAuthentication` or `Basic` → `basic`.
fn auth_method(m: &str) -> String {
    let l = m.trim().to_ascii_lowercase();
    l.strip_suffix("authentication").unwrap_or(&l).to_string()
}

/// The front-end ActiveSync vdir itself, not `/Proxy` below it or the back end's copy.
fn is_activesync_location(location: &str) -> bool {
    let (site, last) = location_parts(location);
    last == "microsoft-server-activesync"
        && location.trim_matches('/').matches('/').count() == 1
        && site != "exchange back end"
}

impl Rule for ActiveSyncAuthMisconfigured {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut problems = Vec::new();
        let mut evidence = Vec::new();
        for f in ctx.facts.iter() {
            match &f.kind {
                FactKind::IisAuthentication(IisAuthentication {
                    location, enabled, ..
                }) if is_activesync_location(location) => {
                    let methods: BTreeSet<String> =
                        enabled.iter().map(|m| auth_method(m)).collect();
                    let others: Vec<&String> = methods.iter().filter(|m| *m != "basic").collect();
                    if !methods.contains("basic") {
                        problems.push("Basic authentication is not enabled".to_string());
                    }
                    if !others.is_empty() {
                        problems.push(format!(
                            "also enabled: {}",
                            others
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    if !methods.contains("basic") || !others.is_empty() {
                        evidence.push(cite(
                            f,
                            format!(
                                "{location}: enabled authentication [{}]",
                                enabled.join(", ")
                            ),
                        ));
                    }
                }
                FactKind::HttpRedirect(r) if r.enabled && is_activesync_location(&r.location) => {
                    problems.push(format!(
                        "HTTP redirect enabled{}",
                        r.destination
                            .as_deref()
                            .map(|d| format!(" to {d}"))
                            .unwrap_or_default()
                    ));
                    evidence.push(cite(
                        f,
                        format!("{}: <httpRedirect enabled=\"true\">", r.location),
                    ));
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            return Vec::new();
        }
        let mut f = self.meta.finding(None, evidence);
        f.title = format!("ActiveSync virtual directory: {}", problems.join("; "));
        f.confidence = Confidence::High;
        vec![f]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(f.fix[1].contains("D:\\Program Files\\Microsoft\\Exchange Server\\V14\\"));
        assert!(f.fix[2].contains("UpdateCas.ps1"));
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
        assert!(f[0].fix[1].contains("Setup\\MsiInstallPath"));
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

    #[test]
    fn seed_exppw_not_enabled_for_owa() {
        let f = run_rule(&ExppwMissing::new(), &seed_config());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("exppw.dll"));
        assert!(
            f[0].title.contains("not enabled for Default Web Site/owa"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].evidence[0]
                .locator
                .to_string()
                .contains("location[@path='Default Web Site/owa']")
        );
        assert_eq!(
            f[0].explains,
            vec![Explains::about("iis-module-load-failed", "exppw.dll")]
        );
    }

    #[test]
    fn exppw_unregistered_or_absent_from_disk() {
        let facts = without(healthy_config(), |f| {
            is_kind(
                f,
                |k| matches!(k, FactKind::IisGlobalModule(m) if m.name == "exppw"),
            )
        });
        let f = run_rule(&ExppwMissing::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("not registered in globalModules"));

        let facts = without(healthy_config(), |f| {
            is_kind(
                f,
                |k| matches!(k, FactKind::FileEntry(e) if e.path.ends_with("exppw.dll")),
            )
        });
        let f = run_rule(&ExppwMissing::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title
                .contains("ClientAccess\\Owa\\auth\\exppw.dll is not in the file inventory"),
            "{}",
            f[0].title
        );
        assert!(f[0].evidence.iter().any(|e| e.locator.path == INVENTORY));

        // A stale registration on another drive.
        let mut facts = without(healthy_config(), |f| {
            is_kind(
                f,
                |k| matches!(k, FactKind::IisGlobalModule(m) if m.name == "exppw"),
            )
        });
        facts.facts.push(global_module(
            "exppw",
            "C:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\auth\\exppw.dll",
        ));
        let f = run_rule(&ExppwMissing::new(), &facts);
        assert!(
            f[0].title.contains("outside the install path"),
            "{}",
            f[0].title
        );
    }

    #[test]
    fn healthy_exppw_is_silent() {
        assert!(run_rule(&ExppwMissing::new(), &healthy_config()).is_empty());
        // Enabled through the Owa web.config instead of the location tag: still fine.
        let facts = without(healthy_config(), |f| {
            is_kind(
                f,
                |k| matches!(k, FactKind::IisLocationModules(m) if m.location.ends_with("owa")),
            )
        });
        let facts = with(
            without(facts, |f| {
                is_kind(
                    f,
                    |k| matches!(k, FactKind::WebConfigFile(w) if w.relative == "ClientAccess/Owa/web.config"),
                )
            }),
            web_config("ClientAccess/Owa/web.config", 0, &["exppw"]),
        );
        assert!(run_rule(&ExppwMissing::new(), &facts).is_empty());
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

    #[test]
    fn activesync_with_windows_auth_and_redirect() {
        let facts = with(
            without(healthy_config(), |f| {
                is_kind(f, |k| {
                    matches!(
                        k,
                        FactKind::IisAuthentication(_) | FactKind::HttpRedirect(_)
                    )
                })
            }),
            [
                authentication(
                    "Default Web Site/Microsoft-Server-ActiveSync",
                    &["basicAuthentication", "windowsAuthentication"],
                    &[],
                ),
                redirect("Default Web Site/Microsoft-Server-ActiveSync", true),
            ],
        );
        let f = run_rule(&ActiveSyncAuthMisconfigured::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title.contains("also enabled: windows"),
            "{}",
            f[0].title
        );
        assert!(f[0].title.contains("HTTP redirect enabled"));
        assert_eq!(f[0].evidence.len(), 2);
    }

    #[test]
    fn healthy_activesync_is_silent() {
        // The /Proxy sub-location legitimately uses Windows authentication.
        assert!(run_rule(&ActiveSyncAuthMisconfigured::new(), &healthy_config()).is_empty());
        assert!(run_rule(&ActiveSyncAuthMisconfigured::new(), &seed_config()).is_empty());
    }
}
