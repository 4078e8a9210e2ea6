//! Every real EVTX file in `../shared/evtx-corpus` (public projects' samples, some deliberately
//! corrupted) goes through the parser without a panic, with the record counts and the damage
//! line checked per file.
//!
//! Where the expected figures come from (verified independently of exhume's code):
//! - records: `evtx` 0.15.1's own `EvtxParser::records()` over the whole file (ok / err counts,
//!   the same as the corpus README's table). Record errors are our "records skipped"; the crate's
//!   chunk-level errors are our unreadable chunks.
//! - unreadable chunks and CRC32 failures: a separate Python check of every 64 KiB slot (no
//!   `ElfChnk\0` magic; header CRC over bytes 0..120 + 128..512 vs offset 124, records CRC over
//!   512..free_space_offset vs offset 52, `NO_CRC32` flag honoured).
//! - `plaso/System2_truncated.evtx` (200 000 bytes): the crate drops its cut third chunk
//!   silently (194 records). Its header says records 195..284; the last one starts at byte
//!   64 472 of the chunk and ends at 65 088, past the cut at 64 832. So exhume reads 89 more
//!   records (283) and reports 1 lost.
//!
//! Skipped, with a message, when the corpus folder is absent.

use exhume::facts::{FactKind, Stamp};
use exhume::parse::evtx::{FileSummary, parse_file};
use exhume::parse::{EventFilter, Sink};
use std::path::{Path, PathBuf};

const CORPUS: &str = "../shared/evtx-corpus";

/// (file, records read, start of the problem line or `None` for a clean file).
const EXPECTED: &[(&str, u64, Option<&str>)] = &[
    (
        "evtx-to-mitre-attack/ID1116-1117-Defender_threat_detected.evtx",
        6,
        None,
    ),
    (
        "evtx-to-mitre-attack/ID1151-Defender_health_status.evtx",
        455,
        None,
    ),
    (
        "evtx-to-mitre-attack/ID4688-5447-4950-Firewall_disabled_command_.evtx",
        998,
        None,
    ),
    (
        "evtx-to-mitre-attack/ID5007-Defender_threat_exclusion_native_.evtx",
        4,
        None,
    ),
    (
        "evtx-to-mitre-attack/ID6-Failed_to_install_an_Exchange_transport_agent.evtx",
        4,
        None,
    ),
    (
        "evtx-to-mitre-attack/ID7000_7009_7045-Payload_deployed_via_service_-_Tchopper.evtx",
        733,
        None,
    ),
    (
        "evtx-to-mitre-attack/ID7009-Service_deployment_time_out_meterpreter_.evtx",
        3,
        None,
    ),
    (
        "evtx-to-mitre-attack/ID7045-7036_PSexec_service_installation.evtx",
        4,
        None,
    ),
    (
        "omerbenamram-evtx/2-system-Microsoft-Windows-LiveId_Operational.evtx",
        399,
        None,
    ),
    (
        "omerbenamram-evtx/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS_Operational.evtx",
        1910,
        Some("4 records skipped, 2 chunks failing their CRC32 check (read anyway) (first: "),
    ),
    (
        "omerbenamram-evtx/2-vss_0-Microsoft-Windows-TerminalServices-RemoteConnectionManager_Operational.evtx",
        1795,
        Some("2 records skipped, 2 chunks failing their CRC32 check (read anyway) (first: "),
    ),
    ("omerbenamram-evtx/2-vss_7-System.evtx", 1160, None),
    ("omerbenamram-evtx/Application_no_crc32.evtx", 17, None),
    (
        "omerbenamram-evtx/E_ShadowCopy6_windows_system32_winevt_logs_Microsoft-Windows-CAPI2_Operational.evtx",
        459,
        None,
    ),
    (
        "omerbenamram-evtx/E_Windows_system32_winevt_logs_Microsoft-Windows-CAPI2_Operational.evtx",
        340,
        None,
    ),
    (
        "omerbenamram-evtx/E_Windows_system32_winevt_logs_Microsoft-Windows-Shell-Core_Operational.evtx",
        1146,
        None,
    ),
    ("omerbenamram-evtx/MSExchange_Management_wec.evtx", 1, None),
    (
        "omerbenamram-evtx/Microsoft-Windows-HelloForBusiness_Operational.evtx",
        6,
        Some("1 chunk failing its CRC32 check (read anyway)"),
    ),
    (
        "omerbenamram-evtx/Microsoft-Windows-LanguagePackSetup_Operational.evtx",
        17,
        Some("1 chunk failing its CRC32 check (read anyway)"),
    ),
    ("omerbenamram-evtx/Security_with_size_t.evtx", 636, None),
    ("omerbenamram-evtx/post-Security.evtx", 126, None),
    (
        "omerbenamram-evtx/sample-with-irregular-bool-values.evtx",
        3028,
        None,
    ),
    (
        "omerbenamram-evtx/sample-with-zero-data-size-event.evtx",
        449,
        Some("1 record skipped, 1 chunk failing its CRC32 check (read anyway) (first: chunk 0: "),
    ),
    (
        "omerbenamram-evtx/sample_with_a_bad_chunk_magic.evtx",
        301,
        Some(
            "2 of 6 chunks unreadable (2 without a readable header, so their records cannot be counted), 1 record skipped, 3 chunks failing their CRC32 check (read anyway) (first: chunk 6: ",
        ),
    ),
    ("omerbenamram-evtx/security.evtx", 2261, None),
    (
        "omerbenamram-evtx/security_bad_string_cache.evtx",
        2261,
        Some("1 chunk failing its CRC32 check (read anyway)"),
    ),
    (
        "omerbenamram-evtx/sysmon.evtx",
        358,
        Some(
            "8 of 17 chunks unreadable (8 without a readable header, so their records cannot be counted) (first: chunk 9: ",
        ),
    ),
    ("omerbenamram-evtx/system.evtx", 1881, None),
    ("plaso/System.evtx", 5009, None),
    (
        "plaso/System2_truncated.evtx",
        283,
        Some("last chunk cut at 64 832 of 65 536 bytes (truncated copy), 1 record lost"),
    ),
    ("python-evtx/dns_log_malformed.evtx", 5, None),
    ("python-evtx/issue_38.evtx", 1, None),
    ("python-evtx/issue_39.evtx", 394, None),
    ("python-evtx/issue_43.evtx", 1730, None),
    ("python-evtx/system.evtx", 1601, None),
    ("synthetic/stitched-352-chunks.evtx", 33166, None),
    (
        "velocidex-evtx/Microsoft-Windows-CAPI2_Operational_EventID70.evtx",
        1,
        None,
    ),
    ("velocidex-evtx/Security_1_record.evtx", 1, None),
];

fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "skipped: {} is absent (the shared EVTX corpus)",
            root.display()
        );
        None
    }
}

/// Parses one corpus file keeping every event.
fn parse_all(path: &Path) -> (FileSummary, Sink) {
    let filter = EventFilter {
        all: true,
        ..Default::default()
    };
    let mut sink = Sink::default();
    let summary = parse_file(path, "evtx/x.evtx", &filter, usize::MAX, &mut sink)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (summary, sink)
}

#[test]
fn every_corpus_file_is_read_with_verified_counts() {
    let Some(root) = corpus() else { return };
    // Every .evtx in the corpus is in the table: a new file must be verified before it counts.
    let mut on_disk: Vec<String> = std::fs::read_dir(&root)
        .expect("corpus is readable")
        .flatten()
        .filter(|d| d.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "evtx"))
        .map(|p| {
            p.strip_prefix(&root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(f, _, _)| f.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "corpus files and the expectation table differ"
    );

    for (file, records, problem) in EXPECTED {
        let (summary, sink) = parse_all(&root.join(file));
        assert_eq!(summary.records, *records, "{file}: records read");
        let counted: u64 = sink.event_counts.values().sum();
        assert_eq!(counted, *records, "{file}: inventory total");
        assert_eq!(
            sink.facts.len() as u64,
            *records,
            "{file}: facts kept (all wanted)"
        );
        match problem {
            None => {
                assert!(sink.problems.is_empty(), "{file}: {:?}", sink.problems);
                // Clean, dirty ("left open") or checksum-less headers alike: never read in part.
                assert_eq!(sink.incomplete, None, "{file}: read in part");
            }
            Some(start) => {
                assert_eq!(sink.problems.len(), 1, "{file}: one line per file");
                let msg = &sink.problems[0].message;
                assert!(
                    msg.starts_with(start),
                    "{file}: {msg:?} should start {start:?}"
                );
                assert_eq!(sink.problems[0].path, "evtx/x.evtx");
            }
        }
        // Every fact cites its record and carries a UTC time taken from TimeCreated.
        for f in &sink.facts {
            assert!(matches!(
                f.evidence.locator.at,
                exhume::facts::Position::Record(_)
            ));
            assert!(
                matches!(f.time, Some(Stamp::Utc(_))),
                "{file}: an event without time"
            );
        }
    }
}

#[test]
fn scm_events_keep_their_fields_and_insertion_strings() {
    let Some(root) = corpus() else { return };
    let (_, sink) = parse_all(&root.join(
        "evtx-to-mitre-attack/ID7000_7009_7045-Payload_deployed_via_service_-_Tchopper.evtx",
    ));
    let scm = |id: u32| {
        sink.event_counts
            .get(&(
                "System".to_string(),
                "Service Control Manager".to_string(),
                id,
            ))
            .copied()
    };
    // The corpus README's census of this file.
    assert_eq!(scm(7000), Some(244));
    assert_eq!(scm(7009), Some(244));
    assert_eq!(scm(7045), Some(244));
    assert_eq!(scm(7036), Some(1));
    let e7000 = sink
        .facts
        .iter()
        .find_map(|f| match &f.kind {
            FactKind::Event(e) if e.event_id == 7000 => Some((f, e)),
            _ => None,
        })
        .expect("a 7000");
    let (fact, e) = e7000;
    assert_eq!(e.qualifiers, Some(49152));
    assert_eq!(e.level, 2);
    assert!(e.data.contains_key("param1"), "{:?}", e.data);
    // Win32 errors stay as insertion strings, as rules match them.
    assert!(e.data["param2"].starts_with("%%"), "{:?}", e.data);
    assert!(
        fact.evidence
            .excerpt
            .starts_with("System 7000 Service Control Manager: param1="),
        "{}",
        fact.evidence.excerpt
    );
}

#[test]
fn time_comes_from_time_created_when_the_record_header_is_zero() {
    let Some(root) = corpus() else { return };
    // Its last record's header timestamp is 0 (1601-01-01); TimeCreated is right.
    let (_, sink) = parse_all(
        &root.join("evtx-to-mitre-attack/ID6-Failed_to_install_an_Exchange_transport_agent.evtx"),
    );
    for f in &sink.facts {
        let Some(Stamp::Utc(t)) = f.time else {
            panic!("no time")
        };
        assert!(t.format("%Y").to_string().as_str() > "2000", "{t}");
    }
    // Classic providers store unnamed <Data>: kept by position.
    let FactKind::Event(e) = &sink.facts[0].kind else {
        panic!()
    };
    assert_eq!(e.provider, "MSExchange CmdletLogs");
    assert!(
        e.data.contains_key("0") && e.data.contains_key("11"),
        "{:?}",
        e.data.keys()
    );
}

#[test]
fn only_wanted_events_are_kept_and_the_budget_is_shared() {
    let Some(root) = corpus() else { return };
    let file = root.join("plaso/System.evtx");
    let mut filter = EventFilter::default();
    filter
        .ids
        .insert(("service control manager".to_string(), 7040));
    let mut sink = Sink::default();
    let s = parse_file(&file, "evtx/System.evtx", &filter, usize::MAX, &mut sink).unwrap();
    assert_eq!(s.records, 5009);
    // The README's census: 7040 ×1018, all kept, nothing else.
    assert_eq!(sink.facts.len(), 1018);
    assert_eq!(sink.event_counts.values().sum::<u64>(), 5009);
    // Facts come out in record order whatever the parallel schedule.
    let ids: Vec<u64> = sink
        .facts
        .iter()
        .map(|f| match f.evidence.locator.at {
            exhume::facts::Position::Record(r) => r,
            _ => 0,
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] <= w[1]));

    // A budget of 100 across two files sharing the filter: 100 kept in all.
    let filter = EventFilter {
        all: true,
        ..Default::default()
    };
    let mut sink = Sink::default();
    let a = parse_file(&file, "evtx/System.evtx", &filter, 100, &mut sink).unwrap();
    let b = parse_file(&file, "evtx/Copy.evtx", &filter, 100, &mut sink).unwrap();
    assert_eq!(sink.facts.len(), 100);
    assert_eq!(a.not_kept + b.not_kept, 2 * 5009 - 100);
    assert!(
        sink.problems
            .iter()
            .all(|p| p.message.contains("--max-events"))
    );
    assert_eq!(sink.problems.len(), 2);
}

#[test]
fn a_bundle_reports_damage_and_refuses_a_file_that_is_not_evtx() {
    let Some(root) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("evtx")).unwrap();
    std::fs::copy(
        root.join("omerbenamram-evtx/sample_with_a_bad_chunk_magic.evtx"),
        dir.path().join("evtx/System.evtx"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("evtx/Application.evtx"),
        "Log Name: Application\r\n",
    )
    .unwrap();
    let opts = exhume::Options {
        keep_all_events: true,
        ..Default::default()
    };
    let analysis = exhume::analyze(dir.path(), &opts).expect("analysis runs");
    let d = &analysis.diagnosis;
    let damage: Vec<_> = d
        .problems
        .iter()
        .filter(|p| p.path == "evtx/System.evtx")
        .collect();
    assert_eq!(damage.len(), 1, "{:?}", d.problems);
    assert!(damage[0].message.starts_with("2 of 6 chunks unreadable"));
    let skipped = d
        .skipped
        .iter()
        .find(|s| s.path == "evtx/Application.evtx")
        .expect("the text file is skipped");
    assert!(
        skipped.reason.contains("not an EVTX file") && skipped.reason.contains("Log Name"),
        "{}",
        skipped.reason
    );
    let total: u64 = d.event_counts.iter().map(|c| c.count).sum();
    assert_eq!(total, 301);
    assert_eq!(analysis.facts.events().count(), 301);
}

/// Files are parsed in parallel and each file's chunks too, nested in the same pool: more files
/// than threads must not block (the `evtx` crate's own multithreading deadlocks here).
#[test]
fn more_files_than_threads_in_a_small_pool_complete() {
    let Some(root) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("evtx")).unwrap();
    for i in 0..8 {
        std::fs::copy(
            root.join("omerbenamram-evtx/system.evtx"),
            dir.path().join(format!("evtx/System{i}.evtx")),
        )
        .unwrap();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let analysis = pool
        .install(|| exhume::analyze(dir.path(), &exhume::Options::default()))
        .expect("analysis runs");
    let total: u64 = analysis
        .diagnosis
        .event_counts
        .iter()
        .map(|c| c.count)
        .sum();
    assert_eq!(total, 8 * 1881);
}

/// `plaso/System.evtx` (27 chunks, closed cleanly) with its last `wiped` chunks zeroed and the
/// header's chunk count lowered to match, its checksum left stale or recomputed.
fn with_end_wiped(root: &Path, wiped: usize, fix_checksum: bool) -> (tempfile::TempDir, PathBuf) {
    let mut bytes = std::fs::read(root.join("plaso/System.evtx")).expect("corpus file");
    let chunks = u16::from_le_bytes([bytes[42], bytes[43]]) as usize;
    assert_eq!(chunks, 27, "the corpus file changed");
    let kept = chunks - wiped;
    bytes[4096 + kept * 65_536..4096 + chunks * 65_536].fill(0);
    bytes[42..44].copy_from_slice(&(kept as u16).to_le_bytes());
    bytes[16..24].copy_from_slice(&(kept as u64 - 1).to_le_bytes()); // last chunk number
    if fix_checksum {
        let crc = crc32fast::hash(&bytes[..120]);
        bytes[124..128].copy_from_slice(&crc.to_le_bytes());
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("System.evtx");
    std::fs::write(&path, bytes).expect("write");
    (dir, path)
}

#[test]
fn a_header_edited_to_hide_wiped_chunks_is_read_in_part() {
    let Some(root) = corpus() else { return };
    let (_clean, sink) = parse_all(&root.join("plaso/System.evtx"));
    assert_eq!(sink.incomplete, None, "the untouched file is read whole");

    // Stale checksum: the header was edited after the log was written.
    let (_dir, path) = with_end_wiped(&root, 3, false);
    let (summary, sink) = parse_all(&path);
    assert_eq!(summary.chunks, 24);
    let why = sink.incomplete.expect("read in part");
    assert!(why.contains("checksum"), "{why}");

    // Checksum recomputed too: the record ids the header says were given out are missing.
    let (_dir, path) = with_end_wiped(&root, 3, true);
    let (_, sink) = parse_all(&path);
    let why = sink.incomplete.expect("read in part");
    assert!(why.contains("record ids were given out"), "{why}");
}
