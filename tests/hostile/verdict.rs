//! "Inconclusive, not healthy": evidence that was missing, unreadable or cut short never
//! yields a healthy verdict.

use exhume::diagnosis::Status;
use samplegen::BundleBuilder;
use samplegen::scenarios::exchange2010_sp2;

fn analyse(members: &[(String, Vec<u8>)]) -> exhume::diagnosis::Diagnosis {
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let (_d, p) = crate::common::temp_file("b.zip", &crate::common::zip_of(&refs));
    crate::common::analyze(&p).diagnosis
}

/// Ways a file arrives damaged: each keeps the name and changes what is inside. The last,
/// bytes that decode to no character, loses no line: readers repair it in place (U+FFFD) and
/// file a problem, so only the manifest hash can show it; see [`lossy_in_place`].
fn corruptions(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let half = bytes.len() / 2;
    let mut garbage = Vec::with_capacity(bytes.len());
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..bytes.len().max(64) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        garbage.push((x >> 16) as u8);
    }
    let mut invalid = bytes.to_vec();
    let mid = bytes.len() / 3;
    invalid.splice(mid..mid, [0xFFu8; 16]);
    let mut zeroed = bytes.to_vec();
    for b in zeroed.iter_mut().skip(half) {
        *b = 0;
    }
    vec![
        ("empty", Vec::new()),
        ("truncated at half", bytes[..half].to_vec()),
        ("binary garbage", garbage),
        ("second half zeroed", zeroed),
        (INVALID_BYTES, invalid),
    ]
}

const INVALID_BYTES: &str = "invalid bytes inserted";

/// Damage that loses nothing the parsers read: detectable only against the manifest.
fn lossy_in_place(how: &str) -> bool {
    how == INVALID_BYTES
}

fn status_of(b: &BundleBuilder) -> exhume::diagnosis::Diagnosis {
    analyse(&b.contents())
}

#[test]
fn the_healthy_sample_is_healthy() {
    // Without this the tests below could pass on a verdict that is never healthy.
    let d = status_of(&exchange2010_sp2(false));
    assert_eq!(
        d.status,
        Status::Healthy,
        "{} {:?}",
        d.verdict,
        d.missing_evidence
    );
}

#[test]
fn removing_any_artefact_from_the_healthy_sample_is_inconclusive() {
    let healthy = exchange2010_sp2(false);
    let all = healthy.contents();
    assert!(all.len() >= 3, "manifest, setup log, services");
    for (path, _) in &all {
        let members: Vec<_> = all.iter().filter(|(p, _)| p != path).cloned().collect();
        let d = analyse(&members);
        assert_eq!(
            d.status,
            Status::Inconclusive,
            "without {path}: {} {:?}",
            d.verdict,
            d.missing_evidence
        );
        assert!(
            d.missing_evidence
                .iter()
                .any(|m| m.contains(path.as_str()) || m.contains("manifest")),
            "without {path}, the missing list does not say so: {:?}",
            d.missing_evidence
        );
        assert!(d.verdict.starts_with("Inconclusive"), "{}", d.verdict);
    }
}

/// `healthy` with `path` replaced by `bad`: as received (the manifest keeps the collector's
/// hashes) or damaged at the source (the manifest written over the damaged file, so only the
/// content can tell).
fn corrupted(b: &BundleBuilder, path: &str, bad: &[u8], at_source: bool) -> Vec<(String, Vec<u8>)> {
    if at_source && path != "manifest.json" {
        let mut b = b.clone();
        b.file(path, "damaged at the source", bad.to_vec());
        return b.contents();
    }
    b.contents()
        .into_iter()
        .map(|(p, x)| if p == path { (p, bad.to_vec()) } else { (p, x) })
        .collect()
}

#[test]
fn corrupting_any_artefact_of_the_healthy_sample_is_never_healthy() {
    let healthy = exchange2010_sp2(false);
    let mut healthy_verdicts = Vec::new();
    for (path, bytes) in healthy.contents() {
        // Message tables (`wevtutil al`) are listed and never read: rules match event data, not
        // rendered messages, so their bytes cannot hide a failure.
        if exhume::bundle::classify(&path) == Some(exhume::bundle::ArtefactKind::EvtxLocale) {
            continue;
        }
        for (how, bad) in corruptions(&bytes) {
            for at_source in [false, true] {
                if at_source && lossy_in_place(how) {
                    continue;
                }
                let d = analyse(&corrupted(&healthy, &path, &bad, at_source));
                if d.status == Status::Healthy {
                    healthy_verdicts.push(format!("{path} {how} (at source: {at_source})"));
                }
            }
        }
    }
    assert!(
        healthy_verdicts.is_empty(),
        "healthy despite damage:\n{}",
        healthy_verdicts.join("\n")
    );
}

#[test]
fn the_seed_never_turns_healthy() {
    let seed = exchange2010_sp2(true);
    let all = seed.contents();
    let mut healthy_verdicts = Vec::new();
    for (path, bytes) in &all {
        let without: Vec<_> = all.iter().filter(|(p, _)| p != path).cloned().collect();
        if analyse(&without).status == Status::Healthy {
            healthy_verdicts.push(format!("without {path}"));
        }
        for (how, bad) in corruptions(bytes) {
            for at_source in [false, true] {
                if at_source && lossy_in_place(how) {
                    continue;
                }
                if analyse(&corrupted(&seed, path, &bad, at_source)).status == Status::Healthy {
                    healthy_verdicts.push(format!("{path} {how} (at source: {at_source})"));
                }
            }
        }
    }
    assert!(
        healthy_verdicts.is_empty(),
        "the seed read as healthy:\n{}",
        healthy_verdicts.join("\n")
    );
}

#[test]
fn a_limit_hit_midway_is_inconclusive_and_names_its_flag() {
    // A per-file cap below the setup log's size stops its parser after some runs were read.
    let healthy = exchange2010_sp2(false);
    let log_len = healthy
        .get("setup/ExchangeSetup.log")
        .map_or(0, <[u8]>::len) as u64;
    let (_d, p) = crate::common::temp_file("h.zip", &healthy.zip_bytes().expect("zip"));
    let opts = exhume::Options {
        limits: exhume::bundle::Limits {
            max_file_bytes: log_len * 3 / 4,
            ..Default::default()
        },
        ..Default::default()
    };
    let d = exhume::analyze(&p, &opts).expect("analyses").diagnosis;
    assert_eq!(d.status, Status::Inconclusive, "{}", d.verdict);
    assert!(
        d.missing_evidence
            .iter()
            .any(|m| m.contains("setup/ExchangeSetup.log") && m.contains("--max-file-size")),
        "{:?}",
        d.missing_evidence
    );
}
