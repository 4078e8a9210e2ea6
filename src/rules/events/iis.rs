//! IIS-W3SVC-WP 2280/2282: a native module (DLL) that the IIS worker process could not load.
//!
//! The provider names its fields; which names is not in our references, so the DLL is found in
//! whichever value holds a `.dll` path, and the Win32 error in `<Binary>`.

use super::{Context, Rule, cite_events, earliest, events, field, id_tally, texts};
use crate::facts::{Confidence, Event, Fact, Finding, FindingKind, Severity};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::{InterestBuilder, RuleMeta};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// `Provider/@Name` of IIS worker-process events, and the short names older exports show.
pub const IIS_WP: &[&str] = &["Microsoft-Windows-IIS-W3SVC-WP", "IIS-W3SVC-WP", "W3SVC-WP"];
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
                why: "A global module that cannot load stops every application pool that loads it: the worker process fails at start-up and WAS may disable the pool. When exppw.dll (OWA's password-change module, `ClientAccess\\Owa\\auth\\exppw.dll`) is missing after a failed run, for example, OWA and the sites sharing its pool fail.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Check that the DLL exists at the path in the event (a failed setup can leave it missing or renamed); restore it from a healthy server of the same build, or re-run setup")
                        .changes(&[Change::File])
                        .if_cause(),
                    Action::new(Phase::Cause, "For event 2282 (bitness), the module is registered for the wrong architecture: fix the preCondition (bitness64 or bitness32) of its entry in the globalModules of applicationHost.config, or the pool's enable32BitAppOnWin64")
                        .changes(&[Change::IisConfig])
                        .if_cause(),
                    common::iisreset(),
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
}
