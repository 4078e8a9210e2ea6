//! Every kind of file the collector writes (`LAYOUT`) is read by exhume from a realistic
//! example, the generated bundles shaped as the collector writes them, or is skipped by design
//! with its reason.

use exhume::bundle::ArtefactKind;
use exhume::bundle::layout::LAYOUT;
use std::collections::{BTreeMap, BTreeSet};

/// Kinds exhume does not parse, on purpose: the manifest is read when the bundle is opened;
/// message tables are listed and never read (rules match event data, not rendered messages).
/// Any other kind without a parser is a gap.
const NOT_PARSED: &[ArtefactKind] = &[ArtefactKind::Manifest, ArtefactKind::EvtxLocale];

/// A kind's example: the bundle it came from and its files of that kind.
struct Example {
    bundle: String,
    paths: Vec<String>,
}

/// The healthy seed twin first, then the catalogue's bundles, healthy ones first: for each
/// LAYOUT kind, the first bundle holding files of that kind.
fn examples() -> (
    BTreeMap<ArtefactKind, Example>,
    Vec<(String, samplegen::BundleBuilder)>,
) {
    let mut bundles = vec![(
        "exchange2010-sp2-healthy".to_string(),
        samplegen::scenarios::exchange2010_sp2(false),
    )];
    let mut catalogue = samplegen::catalog_scenarios::all();
    catalogue.sort_by_key(|s| !s.healthy);
    bundles.extend(
        catalogue
            .into_iter()
            .map(|s| (s.name.to_string(), s.bundle)),
    );
    let mut found: BTreeMap<ArtefactKind, Example> = BTreeMap::new();
    let mut chosen = Vec::new();
    for (name, b) in bundles {
        let mut new = false;
        let contents = b.contents();
        for e in LAYOUT {
            if found.contains_key(&e.kind) {
                continue;
            }
            let paths: Vec<String> = contents
                .iter()
                .map(|(p, _)| p.clone())
                .filter(|p| exhume::bundle::classify(p) == Some(e.kind))
                .collect();
            if !paths.is_empty() {
                found.insert(
                    e.kind,
                    Example {
                        bundle: name.clone(),
                        paths,
                    },
                );
                new = true;
            }
        }
        if new {
            chosen.push((name, b));
        }
    }
    (found, chosen)
}

#[test]
fn every_layout_kind_is_read_from_a_realistic_example() {
    let (found, chosen) = examples();
    let kinds: BTreeSet<ArtefactKind> = LAYOUT.iter().map(|e| e.kind).collect();
    let lacking: Vec<_> = kinds.iter().filter(|k| !found.contains_key(k)).collect();
    assert!(
        lacking.is_empty(),
        "no generated bundle holds these kinds: {lacking:?}"
    );
    let mut defects = Vec::new();
    for (name, b) in &chosen {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("bundle.zip");
        std::fs::write(&zip, b.zip_bytes().unwrap()).unwrap();
        let a = exhume::analyze(&zip, &exhume::Options::default()).unwrap();
        let d = &a.diagnosis;
        for (kind, ex) in found.iter().filter(|(_, ex)| &ex.bundle == name) {
            let by_design = exhume::parse::parser_for(*kind).err();
            if by_design.is_some() != NOT_PARSED.contains(kind) {
                defects.push(format!(
                    "{kind:?}: not parsed ({by_design:?}), not by design"
                ));
            }
            for path in &ex.paths {
                let said = |m: &str| m.contains(path.as_str());
                if let Some(p) = d
                    .problems
                    .iter()
                    .find(|p| p.path.starts_with(path.as_str()))
                {
                    defects.push(format!("{name}: {path} ({kind:?}): problem {}", p.message));
                }
                if let Some(m) = d.missing_evidence.iter().find(|m| said(m)) {
                    defects.push(format!("{name}: {path} ({kind:?}): {m}"));
                }
                let skipped = d.skipped.iter().find(|s| &s.path == path);
                match (by_design, skipped) {
                    (Some(_), Some(s)) if !s.reason.is_empty() => {}
                    (Some(why), _) if *kind == ArtefactKind::Manifest => {
                        if !d.bundle.has_manifest {
                            defects.push(format!("{name}: {path}: manifest not read ({why})"));
                        }
                    }
                    (Some(why), s) => defects.push(format!(
                        "{name}: {path} ({kind:?}) should be listed as skipped ({why}), got {s:?}"
                    )),
                    (None, Some(s)) => {
                        defects.push(format!("{name}: {path} ({kind:?}) skipped: {}", s.reason))
                    }
                    (None, None) if !d.used.contains(path) => defects.push(format!(
                        "{name}: {path} ({kind:?}) neither used nor skipped"
                    )),
                    (None, None) => {}
                }
            }
            // Something usable: a fact citing one of its files (the collector's log yields
            // facts only when it logged a failure; it is checked above for being read whole).
            if by_design.is_none()
                && *kind != ArtefactKind::CollectorLog
                && !a
                    .facts
                    .iter()
                    .any(|f| ex.paths.contains(&f.evidence.locator.path))
            {
                defects.push(format!(
                    "{name}: no fact from any {kind:?} file: {:?}",
                    ex.paths
                ));
            }
        }
    }
    assert!(defects.is_empty(), "{defects:#?}");
}

#[test]
fn short_reports_count_only_files_left_unread_unexpectedly() {
    use exhume::report::{Format, Style, render};
    let analyse = |b: &samplegen::BundleBuilder| {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("bundle.zip");
        std::fs::write(&zip, b.zip_bytes().unwrap()).unwrap();
        exhume::analyze(&zip, &exhume::Options::default())
            .unwrap()
            .diagnosis
    };
    // The healthy server's bundle: its message tables are skipped by design, and listed.
    let mut b = samplegen::scenarios::exchange2010_sp2(false);
    let d = analyse(&b);
    assert!(
        d.skipped.iter().any(|s| s.path.ends_with(".MTA")),
        "{:?}",
        d.skipped
    );
    let text = render(&d, Format::Text, Style::default());
    let md = render(&d, Format::Md, Style::default());
    assert!(!text.contains("not used"), "{text}");
    assert!(!md.contains("not used"), "{md}");
    // A file nobody expects is counted, alone.
    b.file("notes.txt", "the admin's notes", b"tried a reboot".to_vec());
    let d = analyse(&b);
    let text = render(&d, Format::Text, Style::default());
    let md = render(&d, Format::Md, Style::default());
    assert!(
        text.contains("one file not used (--verbose lists them)"),
        "{text}"
    );
    assert!(
        md.contains("One file in the bundle was not used")
            || md.contains("one file in the bundle was not used"),
        "{md}"
    );
}
