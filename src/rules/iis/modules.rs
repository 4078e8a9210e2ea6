//! The OWA native module `exppw`: registered, enabled for /owa, and on disk.

use super::{
    apphost_path, applications, global_modules, install_hint, is_owa_location, location_modules,
    module_is_exppw, web_configs,
};
use crate::facts::{
    Confidence, Evidence, Explains, Fact, Finding, FindingKind, IisLocationModules, Locator,
    Position, Severity,
};
use crate::repair::{APPCMD, Action, Change, Phase, common};
use crate::rules::host::{Inventory, cite, install_paths, norm_path, relative_display};
use crate::rules::roles::role_installed;
use crate::rules::{Context, Rule, RuleMeta};

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
                    Action::new(Phase::Repair, "If OWA still lacks exppw after setup, register it globally with the real path (if the registration is missing or stale) and enable it for OWA")
                        .target("Default Web Site/owa")
                        .command(&format!("{APPCMD} install module /name:exppw /image:\"<install>ClientAccess\\Owa\\auth\\exppw.dll\" /add:false; {APPCMD} add module /name:exppw /app.name:\"Default Web Site/owa\""))
                        .changes(&[Change::IisConfig])
                        .items(&["If the DLL is absent from ClientAccess\\Owa\\auth, restore it from a server of the same build, and look in the antivirus quarantine"]),
                    common::iisreset(),
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
                    Position::Element("configuration/system.webServer/globalModules".into()),
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
        // Without the path in the bundle, the variable setup writes (it ends in `\`).
        let p = install.unwrap_or_else(|| "$env:ExchangeInstallPath".into());
        finding.fix = finding
            .fix
            .iter()
            .map(|a| a.replace("<install>", &p))
            .collect();
        finding.explains = vec![Explains::about("iis-module-load-failed", Self::SUBJECT)];
        finding.confidence = Confidence::High;
        vec![finding]
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
}
