//! A folder bundle assembled from fuzzed members at their layout paths → `analyze`, then every
//! report format.
//!
//! Properties: every member is used or skipped; every finding's evidence names a member and
//! points inside it, with a short excerpt; the verdict never says healthy when a member was
//! skipped, read only in part, or listed as missing evidence; and healthy ⇒ nothing absorbed:
//! a member whose raw bytes show damage every parser must report (docs/security.md, "absorbed
//! damage is read in part") never leaves a healthy verdict, whatever the parsers said of it.

use super::{
    check_evidence, fresh_dir, fuzz_limits, is_evidence, line_bound, split_members, write_members,
};
use exhume::bundle::{ArtefactKind, Limits};
use exhume::diagnosis::Status;
use exhume::report::{self, Format, Style};
use std::collections::HashMap;
use std::sync::OnceLock;

type Rules = Vec<Box<dyn exhume::rules::Rule>>;

/// The catalogue and its compiled interest, built once per process as batch mode does.
fn catalogue() -> &'static (Rules, exhume::parse::Interest) {
    static CATALOGUE: OnceLock<(Rules, exhume::parse::Interest)> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let opts = exhume::Options::default();
        let rules = exhume::analysis::load_rules(&opts).expect("built-in rules load");
        let interest = exhume::analysis::interest_of(&rules, &opts).expect("interest compiles");
        (rules, interest)
    })
}

/// Damage in a member's raw bytes that its parser must absorb and report, seen without the
/// parsers' own decoding, so the property does not trust what it checks: four NUL bytes in a
/// row (a U+0000 in UTF-8 and in UTF-16, which aligns one code unit inside any four bytes: no
/// Windows tool writes it into text), or, in a file read line by line, a line too long to be
/// read whole whatever its encoding (UTF-16 halves a line at most; only `\n` ends one).
fn absorbed_damage(path: &str, bytes: &[u8], limits: &Limits) -> Option<&'static str> {
    let kind = exhume::bundle::classify(path)?;
    if matches!(kind, ArtefactKind::Evtx | ArtefactKind::EvtxLocale) {
        return None;
    }
    if bytes.windows(4).any(|w| w == [0; 4]) {
        return Some("a run of NUL bytes");
    }
    let by_lines = matches!(
        kind,
        ArtefactKind::CollectorLog
            | ArtefactKind::SetupLog
            | ArtefactKind::SetupText
            | ArtefactKind::Registry
            | ArtefactKind::Services
            | ArtefactKind::Software
            | ArtefactKind::FileVersions
            | ArtefactKind::Inventory
            | ArtefactKind::Acl
    );
    let longest = bytes.split(|&b| b == b'\n').map(<[u8]>::len).max();
    (by_lines && longest.unwrap_or(0) > 2 * limits.max_line_bytes + 16)
        .then_some("a line longer than --max-line")
}

/// One execution of the target.
pub fn run(data: &[u8]) {
    let members = split_members(data);
    if members.is_empty() {
        return;
    }
    let dir = fresh_dir("bundle");
    write_members(&dir, &members);
    let opts = exhume::Options {
        limits: fuzz_limits(),
        ..Default::default()
    };
    let (rules, interest) = catalogue();
    let Ok(a) = exhume::analysis::analyze_prepared(&dir, &opts, rules, interest) else {
        return;
    };
    let d = &a.diagnosis;
    let bounds: HashMap<&str, u64> = members.iter().map(|(p, b)| (*p, line_bound(b))).collect();
    for (p, _) in &members {
        let used = d.used.iter().any(|u| u == p);
        let skipped = d.skipped.iter().any(|s| s.path == *p);
        assert!(used != skipped, "{p}: used {used}, skipped {skipped}");
    }
    let allowed = |p: &str| bounds.contains_key(p);
    let lines = |p: &str| bounds.get(p).copied().unwrap_or(0);
    for f in &d.findings {
        for e in &f.evidence {
            check_evidence(e, &allowed, &lines);
        }
    }
    for r in &d.root_causes {
        for e in &r.evidence {
            check_evidence(e, &allowed, &lines);
        }
    }
    if d.status == Status::Healthy {
        for (p, bytes) in &members {
            if let Some(damage) = absorbed_damage(p, bytes, &opts.limits) {
                panic!("healthy although {p} holds {damage}");
            }
        }
        assert!(d.missing_evidence.is_empty());
        assert!(
            !d.skipped.iter().any(|s| is_evidence(&s.path)),
            "healthy with a skipped artefact: {:?}",
            d.skipped
        );
        assert!(
            !d.problems
                .iter()
                .any(|p| p.message.contains("read only in part")),
            "healthy with an artefact read in part: {:?}",
            d.problems
        );
    }
    assert!(!d.verdict.is_empty());
    let json = report::render(d, Format::Json, Style::default());
    serde_json::from_str::<serde_json::Value>(&json).expect("the JSON report is JSON");
    // The other formats on one input in four: rendering them all costs as much as the
    // analysis, and their code paths need few inputs to be covered.
    if data.len().is_multiple_of(4) {
        for f in [Format::Text, Format::Md, Format::Html] {
            let _ = report::render(d, f, Style::default());
        }
    }
}
