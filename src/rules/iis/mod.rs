//! IIS: web.config files setup left unexpanded, native modules, application pools and the
//! ActiveSync virtual directory.
//!
//! Facts come from `iis/webconfig/**` and `iis/applicationHost.config`; paths are checked
//! against the install path (registry) and the file inventory (`system/inventory.csv`).

mod activesync;
mod modules;
mod pools;
mod webconfig;

pub use activesync::ActiveSyncAuthMisconfigured;
pub use modules::ExppwMissing;
pub use pools::{AppPoolMisconfigured, CAS_POOLS};
pub use webconfig::{WebConfigBakDiffersOnlyInPaths, WebConfigUnexpandedToken};

use super::Rule;
use super::host::install_paths;
use crate::facts::{
    AppPool, Fact, FactKind, FactSet, IisApplication, IisGlobalModule, IisLocationModules,
    UnexpandedToken, WebConfigFile,
};

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
    crate::bundle::base_path(path)
        .to_ascii_lowercase()
        .ends_with(".bak")
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
