//! Twin members (issue 17): names that are one name on Windows — equal ignoring case, or `\`
//! against `/` — are all read. A failed copy never hides behind a healthy one, whichever comes
//! first; identical copies are read once; twin manifests leave custody unusable.

use exhume::diagnosis::{Diagnosis, Status};
use samplegen::scenarios::exchange2010_sp2;

const LOG: &str = "setup/ExchangeSetup.log";

/// The healthy sample's members with `extra` added: after them, or before when `first`.
fn members_with(extra: &[(&str, Vec<u8>)], first: bool) -> Vec<(String, Vec<u8>)> {
    let mut m = exchange2010_sp2(false).contents();
    let add: Vec<(String, Vec<u8>)> = extra
        .iter()
        .map(|(p, b)| (p.to_string(), b.clone()))
        .collect();
    if first {
        m.splice(0..0, add);
    } else {
        m.extend(add);
    }
    m
}

fn zip_diagnosis(members: &[(String, Vec<u8>)]) -> Diagnosis {
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(p, x)| (p.as_str(), x.as_slice()))
        .collect();
    let (_d, p) = crate::common::temp_file("b.zip", &crate::common::zip_of(&refs));
    exhume::analyze(&p, &exhume::Options::default())
        .expect("analyses")
        .diagnosis
}

fn failed_log() -> Vec<u8> {
    exchange2010_sp2(true).get(LOG).unwrap().to_vec()
}

fn healthy_log() -> Vec<u8> {
    exchange2010_sp2(false).get(LOG).unwrap().to_vec()
}

/// Failed, the twin note names both stored names, and a finding cites the failed copy.
fn assert_failed_copy_read(d: &Diagnosis, twin: &str) {
    assert_eq!(d.status, Status::Failed, "{}", d.verdict);
    assert!(
        d.problems.iter().any(|p| p.message.contains(twin)
            && p.message.contains("contents differ")
            && p.path.contains("(copy 2)")),
        "no twin note naming {twin}: {:?}",
        d.problems
    );
    assert!(
        d.findings
            .iter()
            .flat_map(|f| &f.evidence)
            .any(|e| e.locator.path == format!("{LOG} (copy 2)")),
        "no finding cites the second copy"
    );
    assert!(
        d.runs.iter().any(|r| r.log == format!("{LOG} (copy 2)")),
        "the second copy's runs are listed"
    );
}

#[test]
fn control_the_sample_with_only_its_own_log_is_healthy() {
    let d = zip_diagnosis(&members_with(&[], false));
    assert_eq!(d.status, Status::Healthy, "{}", d.verdict);
}

#[test]
fn a_failed_twin_in_upper_case_after_the_healthy_log_fails() {
    let twin = "SETUP/EXCHANGESETUP.LOG";
    let d = zip_diagnosis(&members_with(&[(twin, failed_log())], false));
    assert_failed_copy_read(&d, twin);
}

#[test]
fn a_failed_twin_with_backslashes_after_the_healthy_log_fails() {
    let twin = "setup\\ExchangeSetup.log";
    let d = zip_diagnosis(&members_with(&[(twin, failed_log())], false));
    assert_failed_copy_read(&d, twin);
}

#[test]
fn a_healthy_twin_after_the_failed_log_does_not_hide_it() {
    // The failed log first (under the layout's own name), a healthy copy after it.
    let mut m = members_with(&[], false);
    for (p, b) in m.iter_mut() {
        if p == LOG {
            *b = failed_log();
        }
    }
    m.push(("Setup/ExchangeSetup.LOG".into(), healthy_log()));
    let d = zip_diagnosis(&m);
    assert_eq!(d.status, Status::Failed, "{}", d.verdict);
    assert!(d.runs.iter().any(|r| r.log == format!("{LOG} (copy 2)")));
}

#[test]
fn twins_in_a_folder_bundle_are_all_read() {
    let m = members_with(&[("SETUP/EXCHANGESETUP.LOG", failed_log())], false);
    let refs: Vec<(&str, &[u8])> = m.iter().map(|(p, x)| (p.as_str(), x.as_slice())).collect();
    let dir = crate::common::temp_folder(&refs);
    let d = exhume::analyze(dir.path(), &exhume::Options::default())
        .expect("analyses")
        .diagnosis;
    assert_eq!(d.status, Status::Failed, "{}", d.verdict);
    assert!(
        d.problems
            .iter()
            .any(|p| p.message.contains("contents differ")),
        "{:?}",
        d.problems
    );
}

#[test]
fn identical_twins_are_read_once_and_noted() {
    let twin = "SETUP/EXCHANGESETUP.LOG";
    let d = zip_diagnosis(&members_with(&[(twin, healthy_log())], false));
    assert_eq!(d.status, Status::Healthy, "{}", d.verdict);
    assert!(
        d.problems
            .iter()
            .any(|p| p.message.contains(twin) && p.message.contains("read once")),
        "{:?}",
        d.problems
    );
    assert!(!d.runs.iter().any(|r| r.log.contains("(copy")));
    let healthy = zip_diagnosis(&members_with(&[], false));
    assert_eq!(d.runs.len(), healthy.runs.len(), "each run counted once");
}

#[test]
fn a_twin_manifest_makes_custody_unusable() {
    let twin = "MANIFEST.JSON";
    let empty = br#"{"schema_version":"1.0","files":[]}"#.to_vec();
    for first in [true, false] {
        let d = zip_diagnosis(&members_with(&[(twin, empty.clone())], first));
        assert_eq!(d.status, Status::Inconclusive, "{}", d.verdict);
        assert!(!d.bundle.has_manifest);
        assert!(
            d.missing_evidence
                .iter()
                .any(|m| m.contains("different manifests")),
            "{:?}",
            d.missing_evidence
        );
    }
}

#[test]
fn exact_same_names_in_a_zip_are_each_read() {
    // The `zip` crate keys members by name; a hand-written zip holds the name twice.
    use crate::rawzip::{Member, write};
    let mut members: Vec<Member> = exchange2010_sp2(false)
        .contents()
        .iter()
        .map(|(p, x)| Member::deflated(p.as_bytes(), x))
        .collect();
    members.push(Member::deflated(LOG.as_bytes(), &failed_log()));
    let (_d, p) = crate::common::temp_file("b.zip", &write(&members));
    let d = exhume::analyze(&p, &exhume::Options::default())
        .expect("analyses")
        .diagnosis;
    assert_failed_copy_read(&d, LOG);
}
