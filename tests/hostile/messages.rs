//! Errors are for people (issue 17): one clear line, said once, with the right advice.

use exhume::diagnosis::Status;

fn bundle_with_manifest(version: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let manifest = format!(r#"{{"schema_version":{version:?}}}"#);
    let log = b"[02/12/2012 20:41:07.3498] [0] Starting Microsoft Exchange Server 2010 Setup\r\n";
    crate::common::temp_file(
        "b.zip",
        &crate::common::zip_of(&[
            ("manifest.json", manifest.as_bytes()),
            ("setup/ExchangeSetup.log", log),
        ]),
    )
}

/// The error and its causes, as a program walking `source()` sees them.
fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push(c.to_string());
        cur = c.source();
    }
    out
}

#[test]
fn a_newer_manifest_is_refused_with_its_reason_said_once() {
    let (_d, p) = bundle_with_manifest("2.0");
    let Err(e) = exhume::analyze(&p, &exhume::Options::default()) else {
        panic!("a schema 2 manifest is refused");
    };
    let causes = chain(&e);
    assert!(causes[0].contains("upgrade exhume"), "{causes:?}");
    for (i, c) in causes.iter().enumerate().skip(1) {
        assert!(
            !causes[..i]
                .iter()
                .any(|earlier| earlier.contains(c.as_str())),
            "cause {i} repeats what was said: {causes:?}"
        );
    }
    // The one line the command prints.
    let out = crate::common::exhume(&["analyze", p.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("schema_version").count(), 1, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_fullwidth_digit_is_not_a_version_and_not_told_to_upgrade() {
    let (_d, p) = bundle_with_manifest("\u{ff11}.0");
    let d = exhume::analyze(&p, &exhume::Options::default())
        .expect("analysed without the manifest, not refused")
        .diagnosis;
    assert!(!d.bundle.has_manifest);
    assert_ne!(d.status, Status::Healthy);
    let all: Vec<&str> = d
        .problems
        .iter()
        .map(|p| p.message.as_str())
        .chain(d.missing_evidence.iter().map(String::as_str))
        .collect();
    assert!(
        all.iter().any(|m| m.contains("not a version number")),
        "{all:?}"
    );
    assert!(!all.iter().any(|m| m.contains("upgrade")), "{all:?}");
}

#[test]
fn one_malformed_extra_field_skips_that_member_not_the_zip() {
    use crate::rawzip::{Member, write};
    let damaged = "system/software.csv";
    let members: Vec<Member> = samplegen::scenarios::exchange2010_sp2(false)
        .contents()
        .iter()
        .map(|(p, x)| {
            let mut m = Member::deflated(p.as_bytes(), x);
            if p == damaged {
                // An NTFS extra field (0x000a) that claims 256 bytes and holds 4.
                m.central_extra = vec![0x0a, 0x00, 0x00, 0x01, 1, 2, 3, 4];
            }
            m
        })
        .collect();
    let (_d, p) = crate::common::temp_file("x.zip", &write(&members));
    let d = exhume::analyze(&p, &exhume::Options::default())
        .expect("the rest of the zip is read")
        .diagnosis;
    assert!(
        d.skipped
            .iter()
            .any(|s| s.path == damaged && s.reason.contains("damaged zip header")),
        "{:?}",
        d.skipped
    );
    assert!(d.used.iter().any(|u| u == "setup/ExchangeSetup.log"));
    assert!(d.bundle.has_manifest);
    assert_ne!(d.status, Status::Healthy, "{}", d.verdict);
    assert!(
        d.missing_evidence.iter().any(|m| m.contains(damaged)),
        "{:?}",
        d.missing_evidence
    );
}
