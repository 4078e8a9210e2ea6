//! Bundle shapes as analysts receive them, through the built binary: a bundle inside a zip, a
//! bundle zipped with its top folder, a folder one level too deep, a folder of many bundles,
//! and things that are no bundle at all.

mod common;

use common::{exhume, samples, temp_folder, zip_of};
use std::path::Path;

fn seed_zip() -> Vec<u8> {
    std::fs::read(samples().join("exchange2010-sp2-servicehost-disabled.zip")).unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn analyze_json(p: &Path) -> serde_json::Value {
    let out = exhume(&["analyze", "--format", "json", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn not_a_bundle(p: &Path) {
    for cmd in ["analyze", "timeline"] {
        let out = exhume(&[cmd, p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", stdout(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("not a bundle"), "{err}");
        assert!(out.stdout.is_empty(), "{cmd} wrote output");
    }
}

#[test]
fn a_bundle_zipped_inside_another_zip_is_analysed_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let outer = dir.path().join("RE_ case 4711.zip");
    std::fs::write(
        &outer,
        zip_of(&[
            ("message.txt", b"see attached"),
            ("attachments/EX01-bundle.zip", &seed_zip()),
        ]),
    )
    .unwrap();
    let r = analyze_json(&outer);
    assert_eq!(r["status"], "failed", "{}", r["verdict"]);
    assert_eq!(r["bundle"]["inside"], "attachments/EX01-bundle.zip");
    assert_eq!(r["bundle"]["form"], "zip");
    assert!(
        r["bundle"]["path"]
            .as_str()
            .unwrap()
            .ends_with("RE_ case 4711.zip")
    );
    // The text report says where it was found, and the temp copy is not named.
    let text = stdout(&exhume(&["analyze", outer.to_str().unwrap()]));
    assert!(
        text.contains("found inside it at attachments/EX01-bundle.zip"),
        "{text}"
    );
    assert!(!text.contains("exhume-"), "{text}");
    // The same for the timeline.
    let t = exhume(&["timeline", outer.to_str().unwrap()]);
    assert_eq!(t.status.code(), Some(0), "{}", stderr(&t));
    assert!(stdout(&t).lines().count() > 100);
}

#[test]
fn a_bundle_zipped_with_its_top_folder_is_analysed() {
    let members: Vec<(String, Vec<u8>)> = common::seed_members()
        .into_iter()
        .map(|(p, b)| (format!("EX01/{p}"), b))
        .collect();
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("EX01.zip");
    std::fs::write(&z, zip_of(&refs)).unwrap();
    let r = analyze_json(&z);
    assert_eq!(r["status"], "failed", "{}", r["verdict"]);
    assert_eq!(r["bundle"]["inside"], "EX01/");
    assert_eq!(
        r["bundle"]["custody"]["altered"].as_array().map(Vec::len),
        Some(0)
    );
}

#[test]
fn a_folder_extracted_one_level_too_deep_is_analysed() {
    let members = common::seed_members();
    let refs: Vec<(String, &[u8])> = members
        .iter()
        .map(|(p, b)| (format!("EX01-2012-02-14/{p}"), b.as_slice()))
        .collect();
    let refs: Vec<(&str, &[u8])> = refs.iter().map(|(p, b)| (p.as_str(), *b)).collect();
    let dir = temp_folder(&refs);
    let r = analyze_json(dir.path());
    assert_eq!(r["status"], "failed", "{}", r["verdict"]);
    assert_eq!(r["bundle"]["inside"], "EX01-2012-02-14/");
    assert_eq!(r["bundle"]["form"], "folder");
}

#[test]
fn a_folder_of_several_bundles_is_an_error_that_lists_them_and_suggests_batch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.zip"), seed_zip()).unwrap();
    std::fs::write(dir.path().join("b.zip"), seed_zip()).unwrap();
    std::fs::write(dir.path().join("notes.zip"), zip_of(&[("x.txt", b"x")])).unwrap();
    let out = exhume(&["analyze", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("holds 2 bundles (a.zip, b.zip)"), "{err}");
    assert!(err.contains("exhume batch"), "{err}");
    // The samples folder: many, listed in part.
    let out = exhume(&["analyze", samples().join("scenarios").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("more"), "{}", stderr(&out));
}

#[test]
fn random_files_and_unrelated_zips_are_not_bundles() {
    let dir = temp_folder(&[
        ("holiday.jpg", b"\xff\xd8\xff"),
        ("docs/readme.txt", b"hello"),
    ]);
    not_a_bundle(dir.path());
    let z = dir.path().join("docs.zip");
    std::fs::write(
        &z,
        zip_of(&[("readme.txt", b"hello"), ("src/main.c", b"int main;")]),
    )
    .unwrap();
    not_a_bundle(&z);
    // A setup/ folder without a setup log is not one either.
    let dir = temp_folder(&[("setup/notes.txt", b"hello")]);
    not_a_bundle(dir.path());
}

#[test]
fn a_bare_setup_log_or_a_damaged_bundle_is_still_a_bundle() {
    let log = b"[02/12/2012 21:10:00.0000] [0] Starting Microsoft Exchange Server 2010 Setup\r\n";
    let dir = temp_folder(&[("setup/ExchangeSetup.log", log)]);
    let r = analyze_json(dir.path());
    assert!(r["bundle"].get("inside").is_none(), "{}", r["bundle"]);
    // A zip whose only layout member is damaged is still read as a bundle.
    let z = tempfile::tempdir().unwrap();
    let p = z.path().join("b.zip");
    std::fs::write(&p, zip_of(&[("evtx/System.evtx", b"not an event log")])).unwrap();
    let r = analyze_json(&p);
    assert_ne!(r["status"], "healthy");
}
