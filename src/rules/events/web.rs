//! IIS, ASP.NET and WAS events: what the web side of Exchange (OWA, ECP, EWS, ActiveSync,
//! Autodiscover, remote PowerShell for EMC/EMS) logs when setup left it broken.
//!
//! The manifest providers (IIS-W3SVC-WP, WAS) name their fields; which names they use is not
//! in our references, so fields are looked up by the likely names, then by position. ASP.NET
//! (a classic provider) stores its web-event text as unnamed `<Data>`: the assembly, web.config
//! path and line, and application path are read out of that text.

use super::{Context, Rule, cite_events, earliest, events, field, id_tally, positional};
use crate::facts::{Confidence, Event, Explains, Fact, Finding, FindingKind, Severity};
use crate::rules::{InterestBuilder, RuleMeta};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// `Provider/@Name` of IIS worker-process events, and the short names older exports show.
pub const IIS_WP: &[&str] = &["Microsoft-Windows-IIS-W3SVC-WP", "IIS-W3SVC-WP", "W3SVC-WP"];
/// `Provider/@Name` of the Windows Process Activation Service.
pub const WAS: &[&str] = &["Microsoft-Windows-WAS", "WAS"];
/// ASP.NET's event sources, one per runtime (2010 runs on CLR 2, 2013+ on CLR 4).
pub const ASPNET: &[&str] = &[
    "ASP.NET 1.1.4322.0",
    "ASP.NET 2.0.50727.0",
    "ASP.NET 4.0.30319.0",
];

/// The value of the first field whose name contains `part` (case-insensitive).
fn field_like<'a>(e: &'a Event, part: &str) -> Option<&'a str> {
    let part = part.to_ascii_lowercase();
    e.data
        .iter()
        .find(|(k, v)| k.to_ascii_lowercase().contains(&part) && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

/// Values of an event other than its `Binary` and System extras, in key order.
fn texts(e: &Event) -> impl Iterator<Item = &str> {
    e.data
        .iter()
        .filter(|(k, _)| k.as_str() != "Binary" && !k.starts_with("System/"))
        .map(|(_, v)| v.as_str())
}

/// A little-endian Win32 error in an event's `<Binary>` (`7E000000` → 126).
fn binary_error(e: &Event) -> Option<u32> {
    let hex = field(e, &["Binary"])?;
    let b: Vec<u8> = (0..4)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn module_error(code: u32) -> String {
    let meaning = match code {
        2 => "file not found",
        3 => "path not found",
        5 => "access denied",
        126 => "the module or one it needs could not be found",
        193 => "not a valid Win32 image: 32/64-bit mismatch",
        _ => "",
    };
    if meaning.is_empty() {
        format!("error {code}")
    } else {
        format!("error {code}, {meaning}")
    }
}

/// A DLL's full Windows path (folders may hold spaces), else its bare file name.
static DLL_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)[A-Za-z]:\\(?:[^\\/:*?"<>|\r\n]+\\)*[^\\/:*?"<>|\r\n]+?\.dll\b"#)
        .expect("static regex")
});
static DLL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)[^\\/:*?"<>|\s']+\.dll\b"#).expect("static regex"));

/// The module an IIS event names: (file name in lower case, path as written).
fn module_of(e: &Event) -> Option<(String, String)> {
    let shown = texts(e).find_map(|t| {
        DLL_PATH
            .find(t)
            .or_else(|| DLL_NAME.find(t))
            .map(|m| m.as_str().trim().to_string())
    })?;
    let name = shown
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(&shown)
        .to_ascii_lowercase();
    Some((name, shown))
}

/// IIS-W3SVC-WP 2280/2282: a native module (DLL) failed to load into the worker process.
pub struct IisModuleLoadFailed {
    meta: RuleMeta,
}

impl IisModuleLoadFailed {
    pub const ID: &'static str = "iis-module-load-failed";

    pub fn new() -> Self {
        IisModuleLoadFailed {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "IIS could not load a module DLL".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "IIS-W3SVC-WP 2280 \"The Module DLL … failed to load. The data is the error.\" (the Win32 error in <Binary>) and 2282 \"… could not be loaded due to a configuration problem\" (32/64-bit mismatch), by DLL".into(),
                why: "A global module that cannot load stops every application pool that loads it: the worker process fails at start-up and WAS may disable the pool. In the seed, exppw.dll (OWA's password-change module, `ClientAccess\\Owa\\auth\\exppw.dll`) was missing after the failed SP2 run, so OWA and the sites sharing its pool failed.".into(),
                fix: vec![
                    "Check that the DLL exists at the path in the event (a failed setup can leave it missing or renamed); restore it from a healthy server of the same build or by re-running setup in upgrade mode.".into(),
                    "For 2282 (bitness), the module is registered for the wrong architecture: fix the `preCondition` (bitness64/bitness32) of its entry in applicationHost.config `<globalModules>` or the pool's enable32BitAppOnWin64.".into(),
                    "Then `iisreset /noforce` and confirm the event stops.".into(),
                ],
                references: vec![
                    "Microsoft Learn: IIS event 2280 (module DLL failed to load)".into(),
                    "Microsoft Learn: exppw.dll and OWA after Exchange 2010 SP1/SP2 (event 2280/2282)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for IisModuleLoadFailed {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for IisModuleLoadFailed {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for p in IIS_WP {
            i.event(p, &[2280, 2282]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // By DLL file name (lower case): the events and the paths seen.
        type Seen<'a> = (Vec<&'a Fact>, Vec<&'a Event>, BTreeSet<String>);
        let mut by_dll: BTreeMap<String, Seen> = BTreeMap::new();
        for (f, e) in events(ctx, IIS_WP, &[2280, 2282]) {
            let Some((name, path)) = module_of(e) else {
                continue;
            };
            let entry = by_dll.entry(name).or_default();
            entry.0.push(f);
            entry.1.push(e);
            entry.2.insert(path);
        }
        by_dll
            .into_iter()
            .map(|(dll, (facts, evs, paths))| {
                let mut why: Vec<String> = evs
                    .iter()
                    .map(|e| match (e.event_id, binary_error(e)) {
                        (2282, _) => "built for the wrong processor architecture".to_string(),
                        (_, Some(code)) => module_error(code),
                        (_, None) => "failed to load".to_string(),
                    })
                    .collect();
                why.sort();
                why.dedup();
                let mut f = self.meta.finding(Some(&dll), cite_events(&facts));
                f.title = format!(
                    "IIS could not load {} ({}; IIS-W3SVC-WP {})",
                    paths.iter().next().map_or(dll.as_str(), String::as_str),
                    why.join("; "),
                    id_tally(evs.iter().copied())
                );
                f.confidence = Confidence::High;
                f.time = earliest(ctx, &facts);
                f
            })
            .collect()
    }
}

static ASSEMBLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)Could not load (?:file or )?assembly '([^',]+)").expect("static regex")
});
static CONFIG_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\(([A-Za-z]:\\[^()\r\n]*?\.config) line (\d+)\)").expect("static regex")
});
static APP_DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)/LM/W3SVC/\d+/ROOT(/[A-Za-z0-9_.\-/]*)?").expect("static regex")
});
static VIRTUAL_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^/[A-Za-z0-9_.\-/]*$").expect("static regex"));
static APP_DOMAIN_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-\d+-\d+$").expect("static regex"));

/// Exchange's virtual directories (lower case, with their leading `/`).
const EXCHANGE_VDIRS: &[&str] = &[
    "/owa",
    "/ecp",
    "/ews",
    "/microsoft-server-activesync",
    "/autodiscover",
    "/powershell",
    "/oab",
    "/rpc",
    "/mapi",
    "/exchange",
    "/exchweb",
    "/exadmin",
    "/public",
];

/// What an ASP.NET web event says, read out of its text.
#[derive(Default)]
struct WebEvent {
    assembly: Option<String>,
    config: Option<(String, String)>,
    virtual_path: Option<String>,
    physical_path: Option<String>,
    exchange: bool,
    config_problem: bool,
}

fn read_web_event(e: &Event) -> WebEvent {
    let values: Vec<&str> = {
        let p = positional(e);
        if p.is_empty() { texts(e).collect() } else { p }
    };
    let all = values.join("\n");
    let mut w = WebEvent {
        assembly: ASSEMBLY.captures(&all).map(|c| c[1].trim().to_string()),
        config: CONFIG_LINE
            .captures(&all)
            .map(|c| (c[1].to_string(), c[2].to_string())),
        ..Default::default()
    };
    w.virtual_path = values
        .iter()
        .map(|v| v.trim())
        // The AppDomain (`/LM/W3SVC/1/ROOT/owa-1-…`) looks like a path too: not that one.
        .find(|v| {
            v.len() > 1 && VIRTUAL_PATH.is_match(v) && !v.to_ascii_uppercase().starts_with("/LM/")
        })
        .map(str::to_string)
        .or_else(|| {
            APP_DOMAIN.captures(&all).map(|c| {
                let p = c.get(1).map_or("/", |m| m.as_str());
                APP_DOMAIN_SUFFIX.replace(p, "").into_owned()
            })
        });
    w.physical_path = values
        .iter()
        .map(|v| v.trim())
        .find(|v| v.len() > 3 && v.as_bytes()[1] == b':' && v.ends_with('\\'))
        .map(str::to_string);
    let lower = all.to_ascii_lowercase();
    let vdir = w.virtual_path.as_deref().map(str::to_ascii_lowercase);
    w.exchange = lower.contains("microsoft.exchange")
        || lower.contains("\\exchange server\\")
        || lower.contains("\\clientaccess\\")
        || lower.contains("\\frontend\\httpproxy")
        || vdir.is_some_and(|v| {
            EXCHANGE_VDIRS
                .iter()
                .any(|d| v == *d || v.starts_with(&format!("{d}/")))
        });
    w.config_problem = w.assembly.is_some()
        || w.config.is_some()
        || lower.contains("configurationerrorsexception")
        || lower.contains("filenotfoundexception");
    w
}

/// ASP.NET 1310/1309/1334 about an Exchange application: a configuration or assembly error.
pub struct AspNetConfigError {
    meta: RuleMeta,
}

impl AspNetConfigError {
    pub const ID: &'static str = "aspnet-config-error";

    pub fn new() -> Self {
        AspNetConfigError {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "ASP.NET could not load an Exchange application's configuration".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "ASP.NET (2.0.50727.0 / 4.0.30319.0) 1310 \"A configuration error has occurred\" and 1334 (AppDomain failed to initialise) about an Exchange application, and 1309 when it is a configuration or assembly error; the assembly (\"Could not load file or assembly 'Microsoft.Exchange…'\"), the web.config path and line, and the application path are read from the event text".into(),
                why: "When a web.config points at assemblies that are not where it says (typically `file:///%ExchangeInstallDir%…` left unexpanded by a failed setup run, or files a failed run removed), the application cannot start: OWA, ECP, EWS, Autodiscover and ActiveSync return HTTP 500, and EMC/EMS cannot connect through remote PowerShell.".into(),
                fix: vec![
                    "Open the web.config named in the event at that line: if the codeBase href starts with `file:///%ExchangeInstallDir%`, replace it with the install path (`Setup\\MsiInstallPath`), or run `UpdateCas.ps1` / `UpdateConfigFiles.ps1` from the Bin folder.".into(),
                    "If the assembly really is missing, re-run setup in upgrade mode from an elevated prompt so it puts the files back.".into(),
                    "Then `iisreset /noforce` and check that the events stop.".into(),
                ],
                references: vec![
                    "Microsoft Learn: \"Could not load file or assembly\" error when browsing EWS or Autodiscover".into(),
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for AspNetConfigError {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for AspNetConfigError {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for p in ASPNET {
            i.event(p, &[1309, 1310, 1334]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        struct Group<'a> {
            facts: Vec<&'a Fact>,
            events: Vec<&'a Event>,
            assemblies: BTreeSet<String>,
            configs: BTreeSet<(String, String)>,
            physical: Option<String>,
        }
        let mut by_app: BTreeMap<String, Group> = BTreeMap::new();
        let aspnet = ctx.facts.events().filter(|(_, e)| {
            e.provider.to_ascii_lowercase().starts_with("asp.net ")
                && matches!(e.event_id, 1309 | 1310 | 1334)
        });
        for (f, e) in aspnet {
            let w = read_web_event(e);
            if !w.exchange || (e.event_id == 1309 && !w.config_problem) {
                continue;
            }
            let app = w
                .virtual_path
                .clone()
                .or_else(|| w.physical_path.clone())
                .or_else(|| w.config.as_ref().map(|(p, _)| p.clone()))
                .unwrap_or_else(|| "an Exchange application".into());
            let g = by_app.entry(app).or_insert_with(|| Group {
                facts: Vec::new(),
                events: Vec::new(),
                assemblies: BTreeSet::new(),
                configs: BTreeSet::new(),
                physical: None,
            });
            g.facts.push(f);
            g.events.push(e);
            g.assemblies.extend(w.assembly);
            g.configs.extend(w.config);
            if g.physical.is_none() {
                g.physical = w.physical_path;
            }
        }
        by_app
            .into_iter()
            .map(|(app, g)| {
                let mut title = match g.assemblies.len() {
                    0 => format!("ASP.NET configuration error in {app}"),
                    _ => format!(
                        "ASP.NET could not load {} for {app}",
                        g.assemblies.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                if let Some((path, line)) = g.configs.iter().next() {
                    title += &format!(" ({path} line {line})");
                }
                title += &format!(" ({})", id_tally(g.events.iter().copied()));
                let mut f = self.meta.finding(Some(&app), cite_events(&g.facts));
                f.title = title;
                f.confidence = Confidence::High;
                f.time = earliest(ctx, &g.facts);
                let sync = app.to_ascii_lowercase().contains("activesync")
                    || g.physical
                        .as_deref()
                        .is_some_and(|p| p.to_ascii_lowercase().contains("\\sync\\"));
                if sync {
                    f.explains.push(Explains::any("activesync-errors"));
                }
                f
            })
            .collect()
    }
}

/// The application pool a WAS event is about.
fn pool_of(e: &Event) -> Option<&str> {
    field_like(e, "apppool").or_else(|| field(e, &["param1", "0"]))
}

/// WAS 5139: a listener channel failed in a worker process.
pub struct WasListenerFailure {
    meta: RuleMeta,
}

impl WasListenerFailure {
    pub const ID: &'static str = "was-listener-failure";

    pub fn new() -> Self {
        WasListenerFailure {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "A listener channel failed in an IIS worker process".into(),
                kind: FindingKind::Symptom,
                severity: Severity::Medium,
                looks_for: "WAS 5139 \"A listener channel for protocol '…' in worker process '…' serving application pool '…' reported a listener channel failure\", by application pool".into(),
                why: "The worker process serving the pool could not take requests for that protocol, usually because it failed while starting (a module that does not load, an invalid configuration): the sites in that pool do not answer. In the seed it accompanied the exppw.dll load failures in DefaultAppPool.".into(),
                fix: vec![
                    "Look at what makes the pool's worker process fail at start-up (IIS 2280/2282 module errors, ASP.NET configuration errors, WAS 5002/5059) and fix that first.".into(),
                    "Then recycle the pool or run `iisreset /noforce` and check that 5139 stops.".into(),
                ],
                references: vec!["Microsoft Learn: WAS event 5139 (listener channel failure)".into()],
                explains: vec![],
            },
        }
    }
}

impl Default for WasListenerFailure {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for WasListenerFailure {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for p in WAS {
            i.event(p, &[5139]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut by_pool: BTreeMap<String, (Vec<&Fact>, BTreeSet<String>)> = BTreeMap::new();
        for (f, e) in events(ctx, WAS, &[5139]) {
            let Some(pool) = pool_of(e) else { continue };
            let protocol = field_like(e, "protocol")
                .or_else(|| field(e, &["param4", "3"]))
                .unwrap_or("?");
            let entry = by_pool.entry(pool.to_string()).or_default();
            entry.0.push(f);
            entry.1.insert(protocol.to_string());
        }
        by_pool
            .into_iter()
            .map(|(pool, (facts, protocols))| {
                let mut f = self.meta.finding(Some(&pool), cite_events(&facts));
                f.title = format!(
                    "Listener channel for {} failed in the worker process serving {pool} (WAS 5139 ×{})",
                    protocols.into_iter().collect::<Vec<_>>().join(", "),
                    facts.len()
                );
                f.confidence = Confidence::High;
                f.time = earliest(ctx, &facts);
                f
            })
            .collect()
    }
}

/// WAS 5002/5059/5021: an application pool was disabled or cannot start its worker process.
pub struct WasAppPoolDisabled {
    meta: RuleMeta,
}

impl WasAppPoolDisabled {
    pub const ID: &'static str = "was-apppool-disabled";

    pub fn new() -> Self {
        WasAppPoolDisabled {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An IIS application pool was disabled".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "WAS 5002 (pool automatically disabled after a series of worker-process failures), 5059 (pool disabled: WAS could not start a worker process) and 5021 (the pool's identity is invalid), by application pool".into(),
                why: "A disabled pool answers nothing until it is started again: every Exchange application in it (OWA, ECP, EWS, ActiveSync, PowerShell for EMC/EMS) is down. Rapid-fail protection disables a pool whose worker process keeps crashing at start-up, which is what a broken module or configuration does.".into(),
                fix: vec![
                    "Fix why its worker process fails (the module and configuration errors logged just before; for 5021 the pool identity: Exchange pools run as LocalSystem).".into(),
                    "Start the pool again: `Start-WebAppPool -Name '<pool>'` (or IIS Manager), then `iisreset /noforce`.".into(),
                ],
                references: vec![
                    "Microsoft Learn: WAS events 5002, 5021, 5059 (application pool disabled)".into(),
                    "Microsoft Learn: IIS rapid-fail protection".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for WasAppPoolDisabled {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for WasAppPoolDisabled {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for p in WAS {
            i.event(p, &[5002, 5021, 5059]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut by_pool: BTreeMap<String, (Vec<&Fact>, Vec<&Event>)> = BTreeMap::new();
        for (f, e) in events(ctx, WAS, &[5002, 5021, 5059]) {
            let Some(pool) = pool_of(e) else { continue };
            let entry = by_pool.entry(pool.to_string()).or_default();
            entry.0.push(f);
            entry.1.push(e);
        }
        by_pool
            .into_iter()
            .map(|(pool, (facts, evs))| {
                let mut why: Vec<&str> = evs
                    .iter()
                    .map(|e| match e.event_id {
                        5002 => "disabled after a series of worker-process failures",
                        5059 => "disabled: WAS could not start a worker process",
                        _ => "its identity is invalid",
                    })
                    .collect();
                why.sort();
                why.dedup();
                let mut f = self.meta.finding(Some(&pool), cite_events(&facts));
                f.title = format!(
                    "Application pool {pool}: {} (WAS {})",
                    why.join("; "),
                    id_tally(evs.iter().copied())
                );
                f.fix = f.fix.iter().map(|s| s.replace("<pool>", &pool)).collect();
                f.confidence = Confidence::High;
                f.time = earliest(ctx, &facts);
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::rules::testing::run_rule;

    const T: &str = "2012-02-12T22:40:00Z";

    #[test]
    fn seed_exppw_2280_names_the_dll_and_the_error() {
        let facts = set(vec![
            event(
                901,
                T,
                "Microsoft-Windows-IIS-W3SVC-WP",
                2280,
                &[
                    (
                        "ModuleDll",
                        "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\auth\\exppw.dll",
                    ),
                    ("Binary", "7E000000"),
                ],
            ),
            event(
                902,
                T,
                "Microsoft-Windows-IIS-W3SVC-WP",
                2280,
                &[
                    (
                        "ModuleDll",
                        "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\auth\\exppw.dll",
                    ),
                    ("Binary", "7E000000"),
                ],
            ),
        ]);
        let f = run_rule(&IisModuleLoadFailed::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("exppw.dll"));
        assert!(f[0].title.contains("error 126"), "{}", f[0].title);
        assert!(
            f[0].title.contains("could not load D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\auth\\exppw.dll"),
            "{}",
            f[0].title
        );
        assert!(f[0].title.contains("2280 ×2"), "{}", f[0].title);
        assert_eq!(f[0].evidence.len(), 2);
    }

    #[test]
    fn module_events_without_a_dll_or_of_other_ids_are_ignored() {
        let facts = set(vec![
            event(
                1,
                T,
                "Microsoft-Windows-IIS-W3SVC-WP",
                2280,
                &[("Binary", "7E000000")],
            ),
            event(
                2,
                T,
                "Microsoft-Windows-IIS-W3SVC-WP",
                2295,
                &[("ModuleDll", "x.dll")],
            ),
            event(3, T, "Some-Other-Provider", 2280, &[("ModuleDll", "x.dll")]),
        ]);
        assert!(run_rule(&IisModuleLoadFailed::new(), &facts).is_empty());
    }

    /// The values of a 1310 web event in order, as ASP.NET 2.0 stores them.
    fn web_event_1310(app: &str, phys: &str, message: &str) -> Vec<String> {
        vec![
            "3008".into(),
            "A configuration error has occurred.".into(),
            "2/12/2012 10:41:02 PM".into(),
            "2/12/2012 10:41:02 PM".into(),
            "8f7f5b1b2b2e4d0c8b0b2b1b2b2e4d0c".into(),
            "1".into(),
            "1".into(),
            "0".into(),
            format!("/LM/W3SVC/1/ROOT{app}-1-129735336614687500"),
            "Full".into(),
            app.into(),
            phys.into(),
            "EX01".into(),
            "".into(),
            "5384".into(),
            "w3wp.exe".into(),
            "NT AUTHORITY\\SYSTEM".into(),
            "ConfigurationErrorsException".into(),
            message.into(),
        ]
    }

    #[test]
    fn aspnet_1310_names_assembly_config_line_and_app() {
        let values = web_event_1310(
            "/owa",
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\",
            "Could not load file or assembly 'Microsoft.Exchange.Security, Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35' or one of its dependencies. The system cannot find the file specified. (D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\web.config line 42)",
        );
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let facts = set(vec![classic(77, T, "ASP.NET 2.0.50727.0", 1310, &refs)]);
        let f = run_rule(&AspNetConfigError::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("/owa"));
        let t = &f[0].title;
        assert!(t.contains("Microsoft.Exchange.Security"), "{t}");
        assert!(t.contains("Owa\\web.config line 42"), "{t}");
        assert!(f[0].explains.is_empty());

        // ActiveSync's application: also explains ActiveSync's own errors.
        let values = web_event_1310(
            "/Microsoft-Server-ActiveSync",
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Sync\\",
            "Could not load file or assembly 'Microsoft.Exchange.AirSync' or one of its dependencies.",
        );
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let facts = set(vec![classic(78, T, "ASP.NET 4.0.30319.0", 1310, &refs)]);
        let f = run_rule(&AspNetConfigError::new(), &facts);
        assert!(f[0].explains.contains(&Explains::any("activesync-errors")));
    }

    #[test]
    fn aspnet_noise_and_other_applications_are_ignored() {
        // An unhandled exception in OWA that is not a configuration problem.
        let mut values = web_event_1310(
            "/owa",
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\",
            "The remote host closed the connection.",
        );
        values[0] = "3005".into();
        values[17] = "HttpException".into();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        // A configuration error in an application that is not Exchange's.
        let other = web_event_1310(
            "/intranet",
            "C:\\inetpub\\intranet\\",
            "Could not load file or assembly 'Contoso.Web' or one of its dependencies. (C:\\inetpub\\intranet\\web.config line 7)",
        );
        let other: Vec<&str> = other.iter().map(String::as_str).collect();
        let facts = set(vec![
            classic(1, T, "ASP.NET 2.0.50727.0", 1309, &refs),
            classic(2, T, "ASP.NET 2.0.50727.0", 1310, &other),
        ]);
        assert!(run_rule(&AspNetConfigError::new(), &facts).is_empty());
    }

    #[test]
    fn aspnet_1334_app_domain_failure_reads_the_vdir() {
        let facts = set(vec![classic(
            5,
            T,
            "ASP.NET 2.0.50727.0",
            1334,
            &[
                "Failed to initialize the AppDomain:/LM/W3SVC/1/ROOT/ecp\n\nException: System.Configuration.ConfigurationErrorsException\n\nMessage: Could not load file or assembly 'Microsoft.Exchange.Management.ControlPanel' or one of its dependencies.",
            ],
        )]);
        let f = run_rule(&AspNetConfigError::new(), &facts);
        assert_eq!(f[0].subject.as_deref(), Some("/ecp"));
        assert!(
            f[0].title
                .contains("Microsoft.Exchange.Management.ControlPanel")
        );
    }

    #[test]
    fn was_5139_by_pool_with_protocol() {
        let data = [
            ("AppPoolID", "DefaultAppPool"),
            ("ProcessID", "740"),
            ("ListenerChannelID", "0"),
            ("ProtocolID", "http"),
        ];
        let facts = set(vec![
            event(31, T, "Microsoft-Windows-WAS", 5139, &data),
            event(32, T, "Microsoft-Windows-WAS", 5139, &data),
        ]);
        let f = run_rule(&WasListenerFailure::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("DefaultAppPool"));
        assert!(
            f[0].title.contains("for http") && f[0].title.contains("×2"),
            "{}",
            f[0].title
        );
        // Positional data (an export without names) reads the same.
        let facts = set(vec![classic(
            33,
            T,
            "WAS",
            5139,
            &["MSExchangeOWAAppPool", "1", "0", "http"],
        )]);
        let f = run_rule(&WasListenerFailure::new(), &facts);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeOWAAppPool"));
    }

    #[test]
    fn was_rules_ignore_other_ids_and_providers() {
        let facts = set(vec![
            event(
                1,
                T,
                "Microsoft-Windows-WAS",
                5186,
                &[("AppPoolID", "DefaultAppPool")],
            ),
            event(
                2,
                T,
                "Microsoft-Windows-IIS-W3SVC",
                5139,
                &[("AppPoolID", "DefaultAppPool")],
            ),
        ]);
        assert!(run_rule(&WasListenerFailure::new(), &facts).is_empty());
        assert!(run_rule(&WasAppPoolDisabled::new(), &facts).is_empty());
    }

    #[test]
    fn was_pool_disabled_says_why() {
        let facts = set(vec![
            event(
                40,
                T,
                "Microsoft-Windows-WAS",
                5002,
                &[("AppPoolID", "MSExchangeSyncAppPool")],
            ),
            event(
                41,
                T,
                "Microsoft-Windows-WAS",
                5059,
                &[("AppPoolID", "MSExchangeSyncAppPool")],
            ),
        ]);
        let f = run_rule(&WasAppPoolDisabled::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("MSExchangeSyncAppPool"));
        assert!(f[0].title.contains("series of worker-process failures"));
        assert!(f[0].fix[1].contains("Start-WebAppPool -Name 'MSExchangeSyncAppPool'"));
    }
}
