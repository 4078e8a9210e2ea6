//! Antivirus detections and actions on files under Exchange's folders ([`AV_EVENTS`]): a risk
//! in general, a cause candidate when it happened while setup was running.

use super::av_table::{AV_EVENTS, AvEvent};
use super::{Context, Rule, cite_events, earliest, field, run_at};
use crate::facts::{Confidence, Event, Explains, Fact, Finding, FindingKind, Severity, clip};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::host::{Inventory, KNOWN_FILES, install_paths, norm_path, relative_display};
use crate::rules::setup::{SetupInterrupted, SetupStopped};
use crate::rules::{InterestBuilder, RuleMeta};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// A Windows path in free text: folders may hold spaces, the file name may not (the text goes
/// on after it: `… in File: C:\X\Y.ps1 by: Auto-Protect scan`).
static WINDOWS_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"[A-Za-z]:\\(?:[^\\/:*?"<>|\r\n]+\\)*[^\\/:*?"<>|\s]+"#).expect("static regex")
});

/// Folders that are Exchange's wherever it is installed (lower case): its program folder,
/// setup's logs and the temporary folder setup unpacks into.
const EXCHANGE_MARKERS: &[&str] = &[
    "\\exchange server\\",
    "\\exchangesetuplogs\\",
    "\\temp\\exchangesetup\\",
];

/// File paths an antivirus event names: its path fields (Defender writes `file:_C:\…`, several
/// joined by `;`), else any Windows path in its values.
fn paths(row: &AvEvent, e: &Event) -> Vec<String> {
    let named: Vec<String> = row
        .path_fields
        .iter()
        .filter_map(|n| field(e, &[n]))
        .flat_map(|v| v.split(';'))
        .map(|p| match p.split_once(":_") {
            Some((_, path)) => path.trim().to_string(),
            None => p.trim().to_string(),
        })
        .filter(|p| !p.is_empty())
        .collect();
    if !named.is_empty() {
        return named;
    }
    e.data
        .iter()
        .filter(|(k, _)| k.as_str() != "Binary" && !k.starts_with("System/"))
        .flat_map(|(_, v)| WINDOWS_PATH.find_iter(v).map(|m| m.as_str().to_string()))
        .collect()
}

fn is_exchange_path(path: &str, installs: &[String]) -> bool {
    let p = format!("{}\\", norm_path(path));
    installs
        .iter()
        .any(|i| !i.is_empty() && p.starts_with(&format!("{i}\\")))
        || EXCHANGE_MARKERS.iter().any(|m| p.contains(m))
}

/// An antivirus product detected or acted on a file under Exchange's folders.
pub struct AvDetectionExchangePath {
    meta: RuleMeta,
}

impl AvDetectionExchangePath {
    pub const ID: &'static str = "av-detection-exchange-path";

    pub fn new() -> Self {
        AvDetectionExchangePath {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "An antivirus product acted on an Exchange file".into(),
                kind: FindingKind::Risk,
                severity: Severity::High,
                looks_for: format!(
                    "antivirus detection or action events ({}) naming a file under the Exchange install path, C:\\ExchangeSetupLogs or setup's temporary folder; a cause candidate when it falls inside a setup run",
                    AV_EVENTS
                        .iter()
                        .map(|r| format!(
                            "{} {}",
                            r.provider,
                            r.ids.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>().join("/")
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                why: "An antivirus product that quarantines, deletes, renames or locks a file Exchange setup is writing or loading makes the step fail or leaves the file missing afterwards (a script stored as .txt, a DLL gone). Microsoft documents folder, process and extension exclusions for Exchange.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Restore the file from the product's quarantine (or from a healthy server of the same build) and check it is back under its own name")
                        .changes(&[Change::File]),
                    Action::new(Phase::Cause, "Add Microsoft's documented exclusions for Exchange (folders, processes, extensions) to the product's policy, or turn off real-time scanning until setup has finished")
                        .changes(&[Change::Policy]),
                    common::rerun(),
                ],
                references: vec![
                    "Microsoft Learn: Running Windows antivirus software on Exchange servers (exclusions)".into(),
                    "Microsoft Learn: File-Level Antivirus Scanning on Exchange 2010".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for AvDetectionExchangePath {
    fn default() -> Self {
        Self::new()
    }
}

/// What was seen for one file.
struct Hit<'a> {
    facts: Vec<&'a Fact>,
    path: String,
    product: &'static str,
    what: BTreeSet<&'static str>,
    threats: BTreeSet<String>,
    actions: BTreeSet<String>,
}

impl Rule for AvDetectionExchangePath {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for row in AV_EVENTS {
            let ids: Vec<u32> = row.ids.iter().map(|(id, _)| *id).collect();
            i.event(row.provider, &ids);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let installs: Vec<(String, &Fact)> = install_paths(ctx.facts);
        let install_norm: Vec<String> = installs.iter().map(|(p, _)| norm_path(p)).collect();
        let mut by_file: BTreeMap<String, Hit> = BTreeMap::new();
        for (f, e) in ctx.facts.events() {
            let Some(row) = AV_EVENTS
                .iter()
                .find(|r| r.provider.eq_ignore_ascii_case(&e.provider))
            else {
                continue;
            };
            let Some((_, what)) = row.ids.iter().find(|(id, _)| *id == e.event_id) else {
                continue;
            };
            let Some(path) = paths(row, e)
                .into_iter()
                .find(|p| is_exchange_path(p, &install_norm))
            else {
                continue;
            };
            let name = path
                .rsplit(['\\', '/'])
                .next()
                .unwrap_or(&path)
                .to_ascii_lowercase();
            let hit = by_file.entry(name).or_insert_with(|| Hit {
                facts: Vec::new(),
                path: path.clone(),
                product: row.product,
                what: BTreeSet::new(),
                threats: BTreeSet::new(),
                actions: BTreeSet::new(),
            });
            hit.facts.push(f);
            hit.what.insert(what);
            hit.threats.extend(
                row.threat_fields
                    .iter()
                    .filter_map(|n| field(e, &[n]))
                    .map(String::from),
            );
            hit.actions.extend(
                row.action_fields
                    .iter()
                    .filter_map(|n| field(e, &[n]))
                    .map(String::from),
            );
        }
        let inventory = Inventory::of(ctx.facts);
        by_file
            .into_iter()
            .map(|(name, hit)| {
                let when = earliest(ctx, &hit.facts);
                let run = hit
                    .facts
                    .iter()
                    .filter_map(|f| f.time.map(|t| ctx.clock.to_utc(t)))
                    .find_map(|t| run_at(ctx, t));
                let mut title = format!(
                    "{} {} on {}",
                    hit.product,
                    hit.what.iter().copied().collect::<Vec<_>>().join(" and "),
                    hit.path
                );
                let mut details: Vec<String> = Vec::new();
                if !hit.threats.is_empty() {
                    details.push(hit.threats.iter().cloned().collect::<Vec<_>>().join(", "));
                }
                if !hit.actions.is_empty() {
                    details.push(format!(
                        "action: {}",
                        hit.actions.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                if !details.is_empty() {
                    title += &format!(" ({})", details.join("; "));
                }
                let mut f = self.meta.finding(Some(&name), cite_events(&hit.facts));
                f.confidence = Confidence::High;
                f.time = when;
                if let Some((_, r)) = run {
                    title += &format!(
                        ", while setup was running (run started {})",
                        super::run_start(ctx, r)
                    );
                    // Inside a run it is a candidate for why the run failed.
                    f.kind = FindingKind::Cause;
                    f.explains.push(Explains::any(SetupStopped::ID));
                    f.explains.push(Explains::any(SetupInterrupted::ID));
                    // Setup's own view of the same interference: access denied on the file.
                    f.explains.push(Explains::any("setup-file-locked"));
                }
                // A file the product acted on that is now missing or renamed: this is why.
                for subject in file_subjects(&hit.path, &installs, inventory.as_ref()) {
                    f.explains
                        .push(Explains::about("exchange-file-renamed", &subject));
                    f.explains
                        .push(Explains::about("exchange-file-missing", &subject));
                }
                f.title = clip(&title, 300);
                f
            })
            .collect()
    }
}

/// The subjects the file rules would give `path`: its path under the install dir, as the
/// inventory spells it when it lists the file (or a parked copy of it), and as [`KNOWN_FILES`]
/// spells it.
fn file_subjects(
    path: &str,
    installs: &[(String, &Fact)],
    inventory: Option<&Inventory<'_>>,
) -> BTreeSet<String> {
    let rel = relative_display(path, installs);
    let lower = rel.to_ascii_lowercase();
    let mut out = BTreeSet::new();
    if let Some(inv) = inventory {
        for (_, listed) in inv.iter() {
            if listed.len() >= rel.len() && listed.to_ascii_lowercase().starts_with(&lower) {
                out.insert(listed[..rel.len()].to_string());
            }
        }
    }
    out.extend(
        KNOWN_FILES
            .iter()
            .filter(|k| k.path.eq_ignore_ascii_case(&rel))
            .map(|k| k.path.to_string()),
    );
    out.insert(rel);
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::rules::testing::config::{file_entry, install_path};
    use crate::rules::testing::{SEED_FAILED_RUN, facts_from_log, run_rule};

    const DEFENDER: &str = "Microsoft-Windows-Windows Defender";
    const CONSOLE: &str =
        "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\RemoteScripts\\ConsoleInitialize.ps1";

    fn defender(record: u64, time: &str, path: &str) -> Fact {
        event(
            record,
            time,
            DEFENDER,
            1117,
            &[
                ("Threat Name", "Trojan:PowerShell/Generic"),
                ("Action Name", "Quarantine"),
                ("Path", &format!("file:_{path}")),
            ],
        )
    }

    #[test]
    fn detection_inside_a_setup_run_is_a_cause() {
        let mut facts = facts_from_log(SEED_FAILED_RUN);
        facts.facts.push(install_path(
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\",
        ));
        facts
            .facts
            .push(defender(61, "2012-02-12T21:14:00Z", CONSOLE));
        let f = run_rule(&AvDetectionExchangePath::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("consoleinitialize.ps1"));
        assert_eq!(f[0].kind, FindingKind::Cause);
        assert!(
            f[0].title.contains("Quarantine") && f[0].title.contains("while setup was running")
        );
        assert!(f[0].explains.contains(&Explains::any(SetupStopped::ID)));
        assert!(f[0].explains.contains(&Explains::about(
            "exchange-file-renamed",
            "RemoteScripts\\ConsoleInitialize.ps1"
        )));
    }

    #[test]
    fn detection_outside_a_run_is_a_risk_and_uses_the_inventory_spelling() {
        let facts = set(vec![
            install_path("D:\\Program Files\\Microsoft\\Exchange Server\\V14\\"),
            file_entry(1, "RemoteScripts\\consoleinitialize.PS1.txt"),
            // A week after the seed's run.
            defender(62, "2012-02-19T08:00:00Z", CONSOLE),
        ]);
        let f = run_rule(&AvDetectionExchangePath::new(), &facts);
        assert_eq!(f[0].kind, FindingKind::Risk);
        assert!(!f[0].explains.contains(&Explains::any(SetupStopped::ID)));
        assert!(f[0].explains.contains(&Explains::about(
            "exchange-file-renamed",
            "RemoteScripts\\consoleinitialize.PS1"
        )));
    }

    #[test]
    fn symantec_classic_event_path_is_found_in_its_text() {
        let facts = set(vec![classic(
            70,
            "2012-02-12T21:14:00Z",
            "Symantec AntiVirus",
            5,
            &[
                "Virus Found!Virus name: Trojan.Gen in File: C:\\ExchangeSetupLogs\\ServiceControl.ps1 by: Auto-Protect scan. Action: Quarantine succeeded.",
            ],
        )]);
        let f = run_rule(&AvDetectionExchangePath::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("servicecontrol.ps1"));
        assert!(
            f[0].title
                .starts_with("Symantec Endpoint Protection found a virus")
        );
    }

    #[test]
    fn detections_elsewhere_or_other_events_are_ignored() {
        let facts = set(vec![
            // The corpus's real 1116: a tool in a user's documents.
            event(
                1,
                "2020-12-11T12:28:01Z",
                DEFENDER,
                1116,
                &[
                    ("Threat Name", "HackTool:Win64/Mikatz!dha"),
                    ("Path", "file:_C:\\Users\\admmig\\Documents\\mimidrv.sys"),
                ],
            ),
            // A health report that happens to mention an Exchange path.
            event(
                2,
                "2020-12-11T12:28:01Z",
                DEFENDER,
                1151,
                &[(
                    "Path",
                    "file:_D:\\Program Files\\Microsoft\\Exchange Server\\V14\\Bin\\Store.exe",
                )],
            ),
        ]);
        assert!(run_rule(&AvDetectionExchangePath::new(), &facts).is_empty());
    }
}
