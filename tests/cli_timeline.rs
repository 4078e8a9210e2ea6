//! `exhume timeline` through the built binary: its columns, the rule for times whose UTC
//! offset is unknown, every dated setup-log fact, whole messages said once, and tags.

mod common;

use common::{exhume, samples, temp_folder};
use serde_json::Value;

fn seed() -> String {
    samples()
        .join("exchange2010-sp2-servicehost-disabled.zip")
        .to_string_lossy()
        .into_owned()
}

fn rows(args: &[&str]) -> Vec<Value> {
    let mut a = vec!["timeline", "--format", "jsonl"];
    a.extend_from_slice(args);
    let out = exhume(&a);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

#[test]
fn csv_has_the_timesketch_and_event_columns() {
    let out = exhume(&["timeline", &seed()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let header = "datetime,timestamp_desc,message,source,locator,event_id,channel,provider,record_id,computer,tag";
    assert_eq!(text.lines().next().unwrap(), header);
    // Every CSV row has the 11 cells (messages with commas and quotes are quoted).
    let csv = csv_cells(&text);
    assert!(csv.len() > 1000);
    assert!(csv.iter().all(|r| r.len() == 11));
    // JSON lines have the same fields in the same order.
    for v in rows(&[&seed()]) {
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.join(","), header);
    }
}

/// Splits CSV text into rows of cells (RFC 4180 quoting, newlines allowed inside quotes).
fn csv_cells(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

/// The seed bundle's setup log, as the collector wrote it.
fn seed_log() -> String {
    let file = std::fs::File::open(seed()).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("setup/ExchangeSetup.log").unwrap(),
        &mut log,
    )
    .unwrap();
    log
}

#[test]
fn every_dated_setup_fact_is_in_the_timeline() {
    let r = rows(&[&seed()]);
    let setup: Vec<&Value> = r
        .iter()
        .filter(|v| s(v, "source") == "ExchangeSetup.log")
        .collect();
    // The 1 886-line log gave 7 rows: its runs and errors, nothing of what happened between.
    assert!(setup.len() > 500, "{} setup-log rows", setup.len());
    let count = |desc: &str| {
        setup
            .iter()
            .filter(|v| s(v, "timestamp_desc") == desc)
            .count()
    };
    // Counted in the log itself: one row per task begun, ended, warning and prerequisite.
    let log = seed_log();
    let lines = |start: &str| {
        log.lines()
            .filter(|l| {
                l.split_once("] [")
                    .and_then(|(_, rest)| rest.split_once("] "))
                    .is_some_and(|(_, text)| text.starts_with(start))
            })
            .count()
    };
    assert!(lines("Beginning processing ") > 100);
    assert_eq!(count("Setup task started"), lines("Beginning processing "));
    assert_eq!(count("Setup task ended"), lines("Ending processing "));
    assert_eq!(count("Setup warning"), lines("[WARNING]"));
    assert_eq!(
        count("Setup prerequisite checked"),
        lines("Evaluated [Rule:")
    );
    assert_eq!(
        count("Setup run started"),
        lines("Starting Microsoft Exchange Server")
    );
    assert!(count("Setup error") >= 1);
    assert_eq!(count("Setup stopped"), lines("Setup is stopping now"));
    // One row per line: no line twice.
    let mut locators: Vec<&str> = setup
        .iter()
        .filter(|v| !s(v, "timestamp_desc").starts_with("Setup run"))
        .map(|v| s(v, "locator"))
        .collect();
    let n = locators.len();
    locators.sort_unstable();
    locators.dedup();
    assert_eq!(locators.len(), n, "a setup line appears twice");
    // The bundle's offset is known: setup rows are UTC, and name the server they come from.
    for v in &setup {
        assert!(s(v, "datetime").ends_with('Z'), "{v}");
        assert!(!s(v, "computer").is_empty(), "{v}");
    }
}

#[test]
fn event_rows_have_their_fields_and_say_their_header_once_in_full() {
    let r = rows(&[&seed()]);
    let events: Vec<&Value> = r.iter().filter(|v| s(v, "source") == "EVTX").collect();
    assert!(events.len() > 1000, "{}", events.len());
    for e in &events {
        let head = format!(
            "{} {} {}",
            s(e, "channel"),
            e["event_id"].as_u64().expect("event id"),
            s(e, "provider")
        );
        let m = s(e, "message");
        assert!(m.starts_with(&head), "{m}");
        assert_eq!(m.matches(&head).count(), 1, "header said twice: {m}");
        assert!(e["record_id"].as_u64().is_some());
        assert!(!s(e, "computer").is_empty());
        assert!(s(e, "datetime").ends_with('Z'));
    }
    // Long messages are whole, not the report's excerpts cut at 300 characters with `…`.
    assert!(
        events.iter().any(|e| s(e, "message").chars().count() > 400),
        "no message over 400 characters"
    );
    assert!(!events.iter().any(|e| s(e, "message").ends_with('…')));
}

#[test]
fn rows_cited_by_findings_carry_their_ids() {
    let r = rows(&[&seed()]);
    let out = exhume(&["analyze", "--format", "json", &seed()]);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| s(f, "id"))
        .collect();
    let tagged: Vec<&Value> = r.iter().filter(|v| !s(v, "tag").is_empty()).collect();
    assert!(!tagged.is_empty());
    for t in &tagged {
        for id in s(t, "tag").split(';') {
            assert!(ids.contains(&id), "{id} is no finding of the report");
        }
    }
    // The setup error that stopped the run is cited by the root cause.
    let root = s(&d["root_causes"][0], "id");
    assert!(
        tagged
            .iter()
            .any(|t| s(t, "timestamp_desc") == "Setup error" && s(t, "tag").contains(root)),
        "{root}"
    );
}

#[test]
fn a_local_time_with_no_known_offset_never_gets_a_z_unless_the_analyst_gives_one() {
    // A folder of logs without a manifest or host.json, and no event to estimate the offset.
    let log = "[02/12/2012 21:10:00.0000] [0] Starting Microsoft Exchange Server 2010 Setup\r\n\
               [02/12/2012 21:10:01.0000] [0] Setup version: 14.2.247.5.\r\n\
               [02/12/2012 21:15:40.0000] [1] Beginning processing Install-BridgeheadRole\r\n\
               [02/12/2012 21:15:49.0000] [1] [WARNING] Something to look at\r\n";
    let dir = temp_folder(&[("setup/ExchangeSetup.log", log.as_bytes())]);
    let path = dir.path().to_string_lossy().into_owned();
    let task = |r: &[Value]| {
        r.iter()
            .find(|v| s(v, "message").starts_with("Beginning processing"))
            .cloned()
            .expect("the task's row")
    };

    let r = rows(&[&path]);
    assert!(r.len() >= 3, "{r:?}");
    for v in &r {
        assert!(!s(v, "datetime").ends_with('Z'), "{v}");
        assert!(s(v, "timestamp_desc").contains("UTC offset unknown"), "{v}");
    }
    assert_eq!(s(&task(&r), "datetime"), "2012-02-12T21:15:40.000000");
    // The CSV says the same, and the analyst is told once on stderr.
    let out = exhume(&["timeline", &path]);
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.lines().count() >= 4, "{csv}");
    for l in csv.lines().skip(1) {
        let datetime = l.split(',').next().unwrap();
        assert!(!datetime.ends_with('Z'), "{l}");
        assert!(l.contains("UTC offset unknown"), "{l}");
    }
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.matches("--utc-offset").count(), 1, "{err}");
    let quiet = exhume(&["--quiet", "timeline", &path]);
    assert!(quiet.stderr.is_empty());

    // The analyst's offset turns them into UTC, east and west of Greenwich.
    let out = exhume(&[
        "timeline",
        "--format",
        "jsonl",
        &path,
        "--utc-offset",
        "+11:00",
    ]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("--utc-offset"));
    let r = rows(&[&path, "--utc-offset", "+11:00"]);
    for v in &r {
        assert!(s(v, "datetime").ends_with('Z'), "{v}");
        assert!(!s(v, "timestamp_desc").contains("unknown"), "{v}");
    }
    assert_eq!(s(&task(&r), "datetime"), "2012-02-12T10:15:40.000000Z");
    let r = rows(&[&path, "--utc-offset", "-05:00"]);
    assert_eq!(s(&task(&r), "datetime"), "2012-02-13T02:15:40.000000Z");
    let r = rows(&[&path, "--utc-offset", "+05:30"]);
    assert_eq!(s(&task(&r), "datetime"), "2012-02-12T15:45:40.000000Z");
    // `analyze` takes it too, and the report says where the offset came from.
    let out = exhume(&[
        "analyze",
        "--format",
        "json",
        &path,
        "--utc-offset",
        "+11:00",
    ]);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["clock"]["source"], "given");
    assert_eq!(d["clock"]["offset_minutes"], 660);
    for bad in ["eleven", "+15:00", "+05:60"] {
        let out = exhume(&["timeline", &path, "--utc-offset", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_folder_without_a_bundle_is_an_error_not_an_empty_timeline() {
    let dir = temp_folder(&[
        ("notes/todo.txt", b"buy milk".as_slice()),
        ("photo.jpg", &[0xff, 0xd8, 0xff, 0xe0]),
    ]);
    let out = exhume(&["timeline", &dir.path().to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not a bundle"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// The same event 80 times in two logs, far from any setup run: the analysis folds all but the
/// first and last ten into one fact naming both logs. Each event is written once, from the
/// logs, and the rows the finding cites carry its id.
#[test]
fn folded_events_are_written_once_each() {
    use chrono::{Duration, TimeZone, Utc};
    use samplegen::artefacts::{evtx, http_sys_event};
    let at = |minutes: i64| {
        Utc.with_ymd_and_hms(2024, 3, 12, 9, 0, 0).single().unwrap() + Duration::minutes(minutes)
    };
    let lost_binding =
        |minutes: i64| http_sys_event(at(minutes), "EX01.contoso.com", 15021, 2, &["0.0.0.0:444"]);
    let old = evtx((0..40).map(lost_binding).collect(), 100);
    let new = evtx((60..100).map(lost_binding).collect(), 500);
    let dir = temp_folder(&[
        ("evtx/System.evtx", &new),
        ("evtx/System-archive.evtx", &old),
    ]);
    let path = dir.path().to_string_lossy().into_owned();
    let r = rows(&[&path]);
    let events: Vec<&Value> = r.iter().filter(|v| s(v, "source") == "EVTX").collect();
    assert_eq!(events.len(), 80, "{r:#?}");
    let mut locators: Vec<&str> = events.iter().map(|v| s(v, "locator")).collect();
    locators.sort_unstable();
    locators.dedup();
    assert_eq!(locators.len(), 80);
    assert!(
        r.iter()
            .all(|v| !s(v, "message").contains("more events like these"))
    );
    assert!(
        events
            .iter()
            .any(|v| s(v, "tag").contains("http-ssl-binding-broken"))
    );
}

#[test]
fn redacted_rows_hide_the_server_in_every_column() {
    let r = rows(&[&seed(), "--redact"]);
    let plain = rows(&[&seed()]);
    assert_eq!(r.len(), plain.len());
    let host = s(&plain[0], "computer").to_lowercase();
    assert!(host.starts_with("ex01"), "{host}");
    for v in &r {
        let line = v.to_string().to_lowercase();
        assert!(
            !line.contains("ex01") && !line.contains("contoso"),
            "{line}"
        );
        assert!(s(v, "computer").starts_with("host-"), "{v}");
    }
}

#[test]
fn a_log_that_cannot_be_read_is_named_once_on_stderr() {
    let log = "[02/12/2012 21:10:00.0000] [0] Starting Microsoft Exchange Server 2010 Setup\r\n\
               [02/12/2012 21:15:40.0000] [1] Beginning processing Install-BridgeheadRole\r\n";
    let dir = temp_folder(&[
        ("setup/ExchangeSetup.log", log.as_bytes()),
        ("evtx/System.evtx", b"this is no event log".as_slice()),
    ]);
    let out = exhume(&["timeline", &dir.path().to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    let about: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("evtx/System.evtx"))
        .collect();
    assert_eq!(about.len(), 1, "{err}");
    assert!(about[0].contains("not in the timeline"), "{err}");
    // The setup log's rows are there all the same.
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.contains("Beginning processing Install-BridgeheadRole"),
        "{csv}"
    );
}

/// An excerpt pasted without its time stamps (as in a ticket or a forum post): the analysis
/// reads its error, the timeline has no time to put it at, and says so.
#[test]
fn undated_setup_facts_are_counted_on_stderr() {
    let log = "Error:\r\n\
               The following error was generated when \"$error.Clear();\r\n\
               if ($RoleStartTransportService)\r\n\
               {\r\n\
               start-SetupService -ServiceName FMS\r\n\
               }\r\n\
               \" was run: \"Service 'FMS' failed to reach status 'Running' on this server.\".\r\n";
    let dir = temp_folder(&[("setup/ExchangeSetup.log", log.as_bytes())]);
    let path = dir.path().to_string_lossy().into_owned();
    let out = exhume(&["timeline", &path]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.lines()
            .any(|l| l.starts_with("exhume: setup/ExchangeSetup.log: ")
                && l.contains("no time stamp")),
        "{err}"
    );
}
