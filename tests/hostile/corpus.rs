//! Crafted bundles and members, each run through the `exhume` binary within the time and memory
//! bounds of [`super::bounded`], each giving a clear error or a partial report.

use super::bounded::{Run, analyze};
use super::rawzip::{self, Member};
use crate::common::{temp_file, temp_folder};
use serde_json::Value;
use std::path::PathBuf;

/// The healthy sample's members (manifest included).
fn healthy() -> Vec<(String, Vec<u8>)> {
    samplegen::scenarios::exchange2010_sp2(false).contents()
}

/// A raw zip of the healthy sample with `path` left out and `extra` members added.
pub(super) fn healthy_zip_with(without: &[&str], extra: Vec<Member>) -> Vec<u8> {
    let mut members: Vec<Member> = healthy()
        .iter()
        .filter(|(p, _)| !without.contains(&p.as_str()))
        .map(|(p, b)| Member::deflated(p.as_bytes(), b))
        .collect();
    members.extend(extra);
    rawzip::write(&members)
}

pub(super) fn run_zip(bytes: &[u8], extra: &[&str]) -> (Run, tempfile::TempDir, PathBuf) {
    let (dir, p) = temp_file("bundle.zip", bytes);
    (analyze(&p, extra), dir, p)
}

fn skipped_reason<'a>(r: &'a Value, path: &str) -> Option<&'a str> {
    r["skipped"]
        .as_array()?
        .iter()
        .find(|s| s["path"] == path)
        .and_then(|s| s["reason"].as_str())
}

fn problems(r: &Value) -> Vec<(String, String)> {
    r["problems"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["path"].as_str().unwrap_or_default().to_string(),
                        p["message"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has_problem(r: &Value, path: &str, needle: &str) -> bool {
    problems(r)
        .iter()
        .any(|(p, m)| p == path && m.contains(needle))
}

fn status(r: &Value) -> &str {
    r["status"].as_str().unwrap_or_default()
}

/// Every healthy member, with `path` replaced by `bytes`, as a folder (no manifest, so only the
/// content can tell).
fn folder_with(path: &str, bytes: &[u8]) -> tempfile::TempDir {
    let mut files: Vec<(String, Vec<u8>)> = healthy()
        .into_iter()
        .filter(|(p, _)| p != path && p != "manifest.json")
        .collect();
    files.push((path.to_string(), bytes.to_vec()));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    temp_folder(&refs)
}

fn utf16le(s: &str) -> Vec<u8> {
    samplegen::builder::utf16le(s)
}

// --- the container ------------------------------------------------------------------------

#[test]
fn symlink_member_of_a_zip_is_skipped_and_never_followed() {
    let mut link = Member::stored(b"setup/ExchangeSetup.log", b"/etc/passwd");
    link.unix_mode = Some(0o120_777);
    let (run, _d, _) = run_zip(
        &healthy_zip_with(&["setup/ExchangeSetup.log"], vec![link]),
        &[],
    );
    let r = run.report();
    let why = skipped_reason(&r, "setup/ExchangeSetup.log").expect("link listed as skipped");
    assert!(why.contains("symbolic link"), "{why}");
    assert!(!run.stdout.contains("root:x:0:0"), "the link was followed");
    assert_eq!(status(&r), "inconclusive");
}

#[test]
fn zip64_sizes_claiming_exabytes_are_not_believed() {
    let csv = healthy()
        .into_iter()
        .find(|(p, _)| p == "system/services.csv")
        .expect("services")
        .1;
    let mut m = Member::stored(b"system/services.csv", &csv);
    m.zip64 = true;
    m.claimed_size = Some(1 << 62);
    let (run, _d, _) = run_zip(&healthy_zip_with(&["system/services.csv"], vec![m]), &[]);
    // The real bytes are read, whatever the header says: the file matches its manifest hash
    // and size.
    let r = run.report();
    let custody = &r["bundle"]["custody"];
    assert_eq!(
        custody["altered"].as_array().map(Vec::len),
        Some(0),
        "{custody}"
    );
    assert!(r["used"].to_string().contains("system/services.csv"));
}

#[test]
fn zip64_sizes_claiming_less_than_the_member_holds() {
    let big = "\"Name\",\"StartMode\",\"State\"\r\n".to_string()
        + &"\"Svc\",\"Auto\",\"Running\"\r\n".repeat(200_000);
    let mut m = Member::deflated(b"system/services.csv", big.as_bytes());
    m.zip64 = true;
    m.claimed_size = Some(10);
    let (run, _d, _) = run_zip(&healthy_zip_with(&["system/services.csv"], vec![m]), &[]);
    let r = run.report();
    assert_ne!(status(&r), "healthy", "{}", r["verdict"]);
}

#[test]
fn two_gigabyte_member_claimed_by_a_one_kilobyte_zip() {
    let mut m = Member::stored(b"setup/ExchangeSetup.log", &[b'A'; 300]);
    m.zip64 = true;
    m.claimed_size = Some(2 << 30);
    m.claimed_compressed = Some(2 << 30);
    let z = rawzip::write(&[m]);
    assert!(z.len() < 1024, "{} bytes", z.len());
    let (run, _d, _) = run_zip(&z, &[]);
    match run.code {
        Some(0) => {
            let r = run.report();
            assert_eq!(status(&r), "inconclusive");
            assert!(skipped_reason(&r, "setup/ExchangeSetup.log").is_some());
        }
        _ => assert!(run.error().contains("bundle.zip")),
    }
}

#[test]
fn two_gigabyte_sparse_file_in_a_folder_is_stopped_by_the_clock() {
    let dir = folder_with("system/services.csv", b"");
    let f = std::fs::File::create(dir.path().join("setup/ExchangeSetup.log")).expect("create");
    f.set_len(2 << 30).expect("sparse file");
    let run = analyze(dir.path(), &["--max-seconds-per-file", "2"]);
    let r = run.report();
    let why = skipped_reason(&r, "setup/ExchangeSetup.log")
        .map(str::to_string)
        .or_else(|| {
            problems(&r)
                .into_iter()
                .find(|(p, _)| p == "setup/ExchangeSetup.log")
                .map(|(_, m)| m)
        })
        .expect("the log is reported");
    assert!(why.contains("--max-seconds-per-file"), "{why}");
    assert_eq!(status(&r), "inconclusive");
    assert!(run.elapsed.as_secs() < 30, "{:?}", run.elapsed);
}

#[test]
fn overlapping_entries_are_reported() {
    let mut second = Member::stored(b"setup/Other.log", b"");
    second.same_offset_as = Some(0);
    let first = Member::stored(b"system/services.csv", b"\"Name\"\r\n\"A\"\r\n");
    let (run, _d, _) = run_zip(&rawzip::write(&[first, second]), &[]);
    match run.code {
        Some(0) => {
            let r = run.report();
            assert!(has_problem(&r, "bundle", "overlap"), "{:?}", problems(&r));
        }
        _ => assert!(run.error().contains("bundle.zip")),
    }
}

#[test]
fn nul_byte_in_a_member_name_is_refused() {
    let m = Member::stored(b"setup/Exchange\0Setup.log", b"x");
    let (run, _d, _) = run_zip(&healthy_zip_with(&[], vec![m]), &[]);
    let r = run.report();
    assert!(
        problems(&r).iter().any(|(_, m)| m.contains("NUL byte")),
        "{:?}",
        problems(&r)
    );
}

#[test]
fn wrong_crc_is_a_partial_read_not_a_healthy_one() {
    let csv = healthy()
        .into_iter()
        .find(|(p, _)| p == "system/services.csv")
        .expect("services")
        .1;
    let mut m = Member::stored(b"system/services.csv", &csv);
    m.crc = Some(0xDEAD_BEEF);
    let (run, _d, _) = run_zip(&healthy_zip_with(&["system/services.csv"], vec![m]), &[]);
    let r = run.report();
    assert_eq!(status(&r), "inconclusive", "{}", r["verdict"]);
    assert!(
        r["missing_evidence"]
            .as_array()
            .expect("list")
            .iter()
            .any(|m| m
                .as_str()
                .unwrap_or_default()
                .contains("system/services.csv")),
        "{}",
        r["missing_evidence"]
    );
}

#[test]
fn unsupported_compression_method_is_skipped_with_reason() {
    let mut m = Member::stored(b"system/services.csv", b"\x5d\x00\x00\x80\x00garbage-lzma");
    m.method = 14;
    let (run, _d, _) = run_zip(&healthy_zip_with(&["system/services.csv"], vec![m]), &[]);
    let r = run.report();
    assert!(
        skipped_reason(&r, "system/services.csv").is_some(),
        "{}",
        r["used"]
    );
    assert_eq!(status(&r), "inconclusive");
}

#[test]
fn central_directory_beyond_the_end_is_a_clear_error() {
    let mut z = healthy_zip_with(&[], vec![]);
    let n = z.len();
    z[n - 6..n - 2].copy_from_slice(&u32::MAX.to_le_bytes());
    let (run, _d, _) = run_zip(&z, &[]);
    assert!(run.error().contains("not a zip file"), "{}", run.stderr);
}

#[test]
fn end_record_claiming_65535_entries() {
    let mut z = healthy_zip_with(&[], vec![]);
    let n = z.len();
    z[n - 14..n - 12].copy_from_slice(&u16::MAX.to_le_bytes());
    z[n - 12..n - 10].copy_from_slice(&u16::MAX.to_le_bytes());
    let (run, _d, _) = run_zip(&z, &[]);
    match run.code {
        Some(0) => assert_ne!(status(&run.report()), "healthy"),
        _ => assert!(run.error().contains("bundle.zip"), "{}", run.stderr),
    }
}

#[test]
fn self_extractor_stub_before_the_zip() {
    let mut z = vec![0x4Du8, 0x5A];
    z.resize(1 << 20, 0x90);
    z.extend_from_slice(
        &samplegen::scenarios::exchange2010_sp2(false)
            .zip_bytes()
            .expect("zip"),
    );
    let (run, _d, _) = run_zip(&z, &[]);
    match run.code {
        Some(0) => {
            let r = run.report();
            assert!(r["verdict"].as_str().is_some());
        }
        _ => assert!(run.error().contains("bundle.zip"), "{}", run.stderr),
    }
}

#[test]
fn sixty_four_kilobyte_member_name() {
    let name = format!("setup/{}.log", "a".repeat(65_000));
    let m = Member::stored(name.as_bytes(), b"[01/01/2020 10:00:00.0000] [0] x\r\n");
    let (run, _d, _) = run_zip(&healthy_zip_with(&[], vec![m]), &[]);
    let r = run.report();
    // Read as an extra setup text log, and listed as not in the manifest.
    assert!(r["used"].to_string().contains(&name));
    assert!(r["bundle"]["custody"]["extra"].to_string().contains(&name));
}

#[test]
fn ten_thousand_garbage_setup_logs_give_a_short_verdict() {
    let extra: Vec<Member> = (0..10_000)
        .map(|i| {
            Member::stored(
                format!("setup/ExchangeSetup{i}.log").as_bytes(),
                b"\x00\xff garbage",
            )
        })
        .collect();
    let (run, _d, _) = run_zip(&healthy_zip_with(&[], extra), &[]);
    let r = run.report();
    assert_eq!(status(&r), "inconclusive");
    assert!(r["missing_evidence"].as_array().expect("list").len() >= 10_000);
    let verdict = r["verdict"].as_str().expect("verdict");
    assert!(verdict.len() < 2_000, "verdict of {} bytes", verdict.len());
    assert!(verdict.contains("more"), "{verdict}");
}

#[test]
fn bundle_over_the_size_limit_names_its_flag() {
    let (run, _d, _) = run_zip(&healthy_zip_with(&[], vec![]), &["--max-bundle-size", "1K"]);
    assert!(run.error().contains("--max-bundle-size"), "{}", run.stderr);
}

#[test]
fn zip_inside_the_bundle_is_not_opened() {
    let inner = samplegen::scenarios::exchange2010_sp2(true)
        .zip_bytes()
        .expect("zip");
    let m = Member::stored(b"evidence/inner.zip", &inner);
    let (run, _d, _) = run_zip(&healthy_zip_with(&[], vec![m]), &[]);
    let r = run.report();
    let why = skipped_reason(&r, "evidence/inner.zip").expect("listed");
    assert!(why.starts_with("unknown file"), "{why}");
    assert_eq!(r["root_causes"].as_array().map(Vec::len), Some(0));
}

#[cfg(unix)]
#[test]
fn named_pipe_in_a_folder_does_not_hang_the_reader() {
    let dir = folder_with("system/services.csv", b"\"Name\"\r\n\"A\"\r\n");
    let fifo = dir.path().join("setup/ServiceControl.log");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let run = analyze(dir.path(), &[]);
    let r = run.report();
    let why = skipped_reason(&r, "setup/ServiceControl.log").expect("listed");
    assert!(why.contains("not a regular file"), "{why}");
}

// --- the manifest -------------------------------------------------------------------------

#[test]
fn manifest_listing_a_million_files() {
    let mut m = String::from(r#"{"schema_version":"1.0","files":["#);
    for i in 0..1_000_000 {
        if i > 0 {
            m.push(',');
        }
        m.push_str(&format!(r#"{{"path":"f/{i}","size":1,"sha256":"00"}}"#));
    }
    m.push_str("]}");
    let mut members: Vec<(String, Vec<u8>)> = healthy()
        .into_iter()
        .filter(|(p, _)| p != "manifest.json")
        .collect();
    members.push(("manifest.json".into(), m.into_bytes()));
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let (run, _d, _) = run_zip(&crate::common::zip_of(&refs), &[]);
    let r = run.report();
    assert_eq!(status(&r), "inconclusive", "{}", r["verdict"]);
    assert!(
        run.stdout.len() < 64 << 20,
        "report of {} MiB",
        run.stdout.len() >> 20
    );
}

#[test]
fn manifest_nested_a_hundred_thousand_deep() {
    // In a field exhume ignores: skipped over without recursion; in one it reads: refused.
    let ignored = format!(
        r#"{{"schema_version":"1.0","x":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let dir = folder_with("manifest.json", ignored.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert_eq!(r["bundle"]["has_manifest"], true, "{:?}", problems(&r));
    let read = format!(
        r#"{{"schema_version":"1.0","host":{}{}}}"#,
        "{\"a\":".repeat(100_000),
        "}".repeat(100_000)
    );
    let dir = folder_with("manifest.json", read.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert!(
        has_problem(&r, "manifest.json", "not valid JSON"),
        "{:?}",
        problems(&r)
    );
    assert_eq!(status(&r), "inconclusive");
}

#[test]
fn manifest_paths_that_escape_the_bundle_are_only_names() {
    let m = r#"{"schema_version":"1.0","files":[{"path":"../../../../etc/passwd","size":1,"sha256":"00"},{"path":"/etc/shadow","size":1,"sha256":"00"}]}"#;
    let dir = folder_with("manifest.json", m.as_bytes());
    let run = analyze(dir.path(), &[]);
    let r = run.report();
    assert!(!run.stdout.contains("root:x:0:0"));
    assert_eq!(status(&r), "inconclusive");
    assert!(r["missing_evidence"].to_string().contains("etc/passwd"));
}

#[test]
fn manifest_with_wrong_types() {
    let m = r#"{"schema_version":"1.0","files":[{"path":5,"size":-1,"sha256":null}]}"#;
    let dir = folder_with("manifest.json", m.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert!(
        has_problem(&r, "manifest.json", "not valid JSON"),
        "{:?}",
        problems(&r)
    );
    assert_eq!(status(&r), "inconclusive");
}

// --- XML ----------------------------------------------------------------------------------

const WEB_CONFIG: &str = "iis/webconfig/ClientAccess/Owa/web.config";
const APPHOST: &str = "iis/applicationHost.config";

#[test]
fn billion_laughs_in_web_config_is_not_expanded() {
    let mut x = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE c [\n<!ENTITY l0 \"lol\">\n");
    for i in 1..=30 {
        x.push_str(&format!(
            "<!ENTITY l{i} \"{}\">\n",
            format!("&l{};", i - 1).repeat(10)
        ));
    }
    x.push_str("]>\n<configuration><appSettings><add key=\"k\" value=\"&l30;\"/></appSettings></configuration>\n");
    let dir = folder_with(WEB_CONFIG, x.as_bytes());
    let run = analyze(dir.path(), &[]);
    let r = run.report();
    assert!(
        has_problem(&r, WEB_CONFIG, "never expanded"),
        "{:?}",
        problems(&r)
    );
    assert!(run.stdout.len() < 1 << 20);
}

#[test]
fn external_entity_in_application_host_is_never_read() {
    let x = "<?xml version=\"1.0\"?>\n<!DOCTYPE c [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n\
<configuration><system.applicationHost><applicationPools><add name=\"&xxe;\" /></applicationPools></system.applicationHost></configuration>\n";
    let dir = folder_with(APPHOST, x.as_bytes());
    let run = analyze(dir.path(), &[]);
    let r = run.report();
    assert!(
        !run.stdout.contains("root:x:0:0"),
        "the entity was resolved"
    );
    assert!(has_problem(&r, APPHOST, "DOCTYPE"), "{:?}", problems(&r));
}

#[test]
fn xml_nested_a_million_deep() {
    let x = format!(
        "<configuration>{}{}</configuration>",
        "<a>".repeat(1_000_000),
        "</a>".repeat(1_000_000)
    );
    let dir = folder_with(APPHOST, x.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert!(
        has_problem(&r, APPHOST, "--max-xml-depth"),
        "{:?}",
        problems(&r)
    );
}

#[test]
fn xml_attribute_that_never_closes() {
    let mut x = b"<configuration><add name=\"".to_vec();
    x.resize(40 << 20, b'x');
    let dir = folder_with(WEB_CONFIG, &x);
    let r = analyze(dir.path(), &[]).report();
    let reported = skipped_reason(&r, WEB_CONFIG)
        .map(str::to_string)
        .or_else(|| {
            problems(&r)
                .into_iter()
                .find(|(p, _)| p == WEB_CONFIG)
                .map(|(_, m)| m)
        });
    assert!(
        reported.is_some_and(|m| m.contains("longer than")),
        "{:?}",
        problems(&r)
    );
    assert_ne!(status(&r), "healthy");
}

// --- text encodings -----------------------------------------------------------------------

fn healthy_log() -> String {
    let b = samplegen::scenarios::exchange2010_sp2(false);
    String::from_utf8(b.get("setup/ExchangeSetup.log").expect("log").to_vec()).expect("utf-8")
}

#[test]
fn utf16_surrogate_pair_split_across_lines() {
    let log = healthy_log();
    let lines: Vec<&str> = log.split_inclusive('\n').collect();
    let mut b = vec![0xFF, 0xFE];
    for (i, l) in lines.iter().enumerate() {
        let mut units: Vec<u16> = l.encode_utf16().collect();
        if i == 10 {
            // High surrogate at the end of line 11, low surrogate opening line 12.
            let nl = units.len() - 2;
            units.insert(nl, 0xD83D);
        }
        if i == 11 {
            units.insert(0, 0xDE00);
        }
        for u in units {
            b.extend_from_slice(&u.to_le_bytes());
        }
    }
    let dir = folder_with("setup/ExchangeSetup.log", &b);
    let r = analyze(dir.path(), &[]).report();
    assert_eq!(
        r["runs"].as_array().map(Vec::len),
        Some(3),
        "every run still read"
    );
    assert!(
        has_problem(&r, "setup/ExchangeSetup.log", "U+FFFD"),
        "{:?}",
        problems(&r)
    );
}

#[test]
fn utf16_log_with_an_odd_byte_count() {
    let mut b = utf16le(&healthy_log());
    b.insert(0, 0xFE);
    b.insert(0, 0xFF);
    b.push(0x41);
    let dir = folder_with("setup/ExchangeSetup.log", &b);
    let r = analyze(dir.path(), &[]).report();
    assert_eq!(r["runs"].as_array().map(Vec::len), Some(3));
    assert!(
        has_problem(&r, "setup/ExchangeSetup.log", "U+FFFD"),
        "{:?}",
        problems(&r)
    );
}

// --- EVTX ---------------------------------------------------------------------------------

/// A valid EVTX file header (claiming `chunks` chunks) followed by `garbage` bytes.
fn evtx_with_garbage(chunks: u16, garbage: usize) -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..8].copy_from_slice(b"ElfFile\0");
    h[16..24].copy_from_slice(&(u64::from(chunks.max(1)) - 1).to_le_bytes()); // last chunk
    h[24..32].copy_from_slice(&1000u64.to_le_bytes()); // next record id
    h[32..36].copy_from_slice(&128u32.to_le_bytes());
    h[36..38].copy_from_slice(&1u16.to_le_bytes());
    h[38..40].copy_from_slice(&3u16.to_le_bytes());
    h[40..42].copy_from_slice(&4096u16.to_le_bytes());
    h[42..44].copy_from_slice(&chunks.to_le_bytes());
    let crc = rawzip::crc32(&h[..120]);
    h[124..128].copy_from_slice(&crc.to_le_bytes());
    let mut x: u32 = 12_345;
    for i in 0..garbage {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        // Chunk magic at every chunk start, so the reader goes past the magic check.
        let at = i % 65_536;
        h.push(if at < 8 {
            b"ElfChnk\0"[at]
        } else {
            (x >> 16) as u8
        });
    }
    h
}

#[test]
fn evtx_with_a_valid_header_and_garbage_chunks() {
    let dir = folder_with("evtx/System.evtx", &evtx_with_garbage(4, 4 * 65_536));
    let r = analyze(dir.path(), &[]).report();
    let seen = skipped_reason(&r, "evtx/System.evtx").is_some()
        || problems(&r).iter().any(|(p, _)| p == "evtx/System.evtx");
    assert!(seen, "damage not reported: {:?}", problems(&r));
    assert_ne!(status(&r), "healthy", "{}", r["verdict"]);
}

#[test]
fn evtx_header_claiming_65535_chunks_in_a_small_file() {
    let dir = folder_with("evtx/Application.evtx", &evtx_with_garbage(u16::MAX, 1000));
    let r = analyze(dir.path(), &[]).report();
    assert_ne!(status(&r), "healthy", "{}", r["verdict"]);
}

// --- registry, CSV, JSON, setup log -----------------------------------------------------------

#[test]
fn reg_value_continued_for_a_million_lines() {
    let mut s = String::from(
        "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\Setup]\r\n\"Blob\"=hex:00,\\\r\n",
    );
    for _ in 0..1_000_000 {
        s.push_str("  00,00,00,00,\\\r\n");
    }
    let dir = folder_with("registry/ExchangeServer.reg", s.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert!(r["verdict"].as_str().is_some());
}

#[test]
fn reg_export_with_a_million_keys() {
    let mut s = String::from("Windows Registry Editor Version 5.00\r\n\r\n");
    for i in 0..1_000_000 {
        s.push_str(&format!("[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\S{i}]\r\n\"Start\"=dword:00000002\r\n\r\n"));
    }
    let dir = folder_with("registry/Services.reg", &utf16le(&s));
    let r = analyze(dir.path(), &[]).report();
    assert!(r["verdict"].as_str().is_some());
}

#[test]
fn csv_quote_that_never_closes() {
    let mut s = String::from(
        "\"Name\",\"DisplayName\",\"StartMode\",\"State\"\r\n\"MSExchangeIS\",\"never closed,\"Auto\",\"Running\"\r\n",
    );
    for i in 0..100_000 {
        s.push_str(&format!("\"Svc{i}\",\"x\",\"Auto\",\"Running\"\r\n"));
    }
    let dir = folder_with("system/services.csv", s.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert!(r["verdict"].as_str().is_some());
}

#[test]
fn csv_header_with_a_hundred_thousand_columns() {
    let header: Vec<String> = (0..100_000).map(|i| format!("\"C{i}\"")).collect();
    let row: Vec<&str> = (0..100_000).map(|_| "\"v\"").collect();
    let mut s = header.join(",") + "\r\n";
    for _ in 0..20 {
        s.push_str(&row.join(","));
        s.push_str("\r\n");
    }
    let dir = folder_with("system/services.csv", s.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert_eq!(
        status(&r),
        "inconclusive",
        "no Name column: {}",
        r["verdict"]
    );
}

#[test]
fn host_json_nested_beyond_the_json_depth_limit() {
    let j = format!("{{\"os\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let dir = folder_with("system/host.json", j.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert!(
        skipped_reason(&r, "system/host.json").is_some(),
        "{:?}",
        problems(&r)
    );
    assert_eq!(status(&r), "inconclusive");
}

#[test]
fn setup_run_with_three_hundred_thousand_errors() {
    let mut log = healthy_log();
    let last = log.rfind("[0] End of Setup").expect("end marker");
    let line_start = log[..last].rfind('\n').map_or(0, |i| i + 1);
    let stamp = log[line_start..line_start + 26].to_string();
    let mut errors = String::new();
    for i in 0..300_000 {
        errors.push_str(&format!("{stamp} [1] [ERROR] Failure number {i}\r\n"));
    }
    log.insert_str(line_start, &errors);
    let dir = folder_with("setup/ExchangeSetup.log", log.as_bytes());
    let r = analyze(dir.path(), &[]).report();
    assert_ne!(status(&r), "healthy", "{}", r["verdict"]);
}

#[test]
fn fifty_thousand_setup_runs() {
    let mut log = String::new();
    for i in 0..50_000 {
        let s = i % 60;
        log.push_str(&format!(
            "[02/12/2012 21:{:02}:{s:02}.0001] [0] Starting Microsoft Exchange Server 2010 Setup\r\n",
            (i / 60) % 60
        ));
    }
    let dir = folder_with("setup/ExchangeSetup.log", log.as_bytes());
    let run = analyze(dir.path(), &[]);
    let r = run.report();
    assert_ne!(status(&r), "healthy");
}
