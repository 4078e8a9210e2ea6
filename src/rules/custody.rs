//! Chain of custody: the bundle against its manifest.

use crate::bundle::Custody;
use crate::facts::{Confidence, Evidence, Finding, FindingKind, Locator, Position, Severity};

pub const ID_ALTERED: &str = "custody-altered";
pub const ID_MISSING: &str = "custody-missing";
pub const ID_EXTRA: &str = "custody-extra";

fn finding(
    id: &str,
    title: String,
    severity: Severity,
    why: &str,
    evidence: Vec<Evidence>,
) -> Finding {
    Finding {
        id: id.into(),
        title,
        kind: FindingKind::Risk,
        severity,
        confidence: Confidence::High,
        subject: None,
        time: None,
        evidence,
        why: why.into(),
        fix: vec![crate::repair::Action::new(
            crate::repair::Phase::Cause,
            "Run the collector again and send the new bundle unmodified; compare its SHA-256 with the one the collector printed",
        )],
        references: vec!["docs/bundle-format.md: manifest.json".into()],
        explains: vec![],
    }
}

/// Findings for files missing, added or altered since collection.
pub fn findings(c: &Custody) -> Vec<Finding> {
    let mut out = Vec::new();
    let manifest =
        |excerpt: String| Evidence::new(Locator::new("manifest.json", Position::File), excerpt);
    if !c.altered.is_empty() {
        out.push(finding(
            ID_ALTERED,
            format!("{} file(s) differ from the manifest (altered after collection)", c.altered.len()),
            Severity::High,
            "A file whose SHA-256 or size differs from what the collector recorded was changed after collection; conclusions drawn from it may not describe the server.",
            c.altered
                .iter()
                .map(|a| {
                    Evidence::new(
                        Locator::file(&a.path),
                        format!("sha256 {} (manifest says {}), {} bytes (manifest says {})", a.actual_sha256, a.expected_sha256, a.actual_size, a.expected_size),
                    )
                })
                .collect(),
        ));
    }
    if !c.missing.is_empty() {
        out.push(finding(
            ID_MISSING,
            format!("{} file(s) listed in the manifest are missing", c.missing.len()),
            Severity::Medium,
            "Evidence the collector gathered did not arrive; findings that depend on it cannot be made.",
            c.missing.iter().map(|m| manifest(format!("lists {m}, absent from the bundle"))).collect(),
        ));
    }
    if !c.extra.is_empty() {
        out.push(finding(
            ID_EXTRA,
            format!(
                "{} file(s) in the bundle are not in the manifest",
                c.extra.len()
            ),
            Severity::Low,
            "Files added after collection were not produced by the collector on the server.",
            c.extra
                .iter()
                .map(|m| Evidence::new(Locator::file(m), "not listed in manifest.json"))
                .collect(),
        ));
    }
    out
}
