//! End to end: the samples through the whole pipeline and the CLI.

mod common;

use common::*;
use exhume::diagnosis::Status;
use exhume::facts::{FindingKind, Position, Severity};

#[test]
fn seed_sample_root_cause_is_the_disabled_service_host() {
    let a = analyze(&samples().join("exchange2010-sp2-servicehost-disabled.zip"));
    let d = &a.diagnosis;
    assert_eq!(d.status, Status::Failed);
    let root = &d.root_causes[0];
    assert_eq!(root.id, "service-disabled-blocks-setup");
    assert_eq!(root.subject.as_deref(), Some("MSExchangeServiceHost"));
    // The evidence cites the setup-log lines of the error block.
    let cited = root
        .evidence
        .iter()
        .find(|e| e.locator.path == "setup/ExchangeSetup.log")
        .unwrap();
    let Position::Lines(a0, b0) = cited.locator.at else {
        panic!("lines expected")
    };
    assert!(a0 > 1 && b0 >= a0);
    assert!(
        root.explains
            .iter()
            .any(|k| k.starts_with("setup-stopped-critical"))
    );
    assert!(d.verdict.contains("MSExchangeServiceHost"), "{}", d.verdict);
    assert!(
        d.verdict.contains("Install-BridgeheadRole"),
        "{}",
        d.verdict
    );
    // Three runs: RTM, SP1 and the failed SP2; only the last one matters for the verdict.
    assert_eq!(d.runs.len(), 3);
    assert_eq!(d.bundle.custody.as_ref().map(|c| c.is_intact()), Some(true));
}

#[test]
fn healthy_twin_has_no_critical_finding() {
    let a = analyze(&samples().join("exchange2010-sp2-healthy.zip"));
    let d = &a.diagnosis;
    assert!(
        !d.findings
            .iter()
            .any(|f| f.severity >= Severity::High && f.kind != FindingKind::Info),
        "{:#?}",
        d.findings
    );
    assert!(d.root_causes.is_empty());
    assert_ne!(d.status, Status::Failed);
}

#[test]
fn json_report_has_the_documented_keys() {
    let out = exhume(&[
        "analyze",
        samples()
            .join("exchange2010-sp2-servicehost-disabled.zip")
            .to_str()
            .unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "schema_version",
        "bundle",
        "verdict",
        "root_causes",
        "findings",
        "skipped",
        "problems",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["path", "sha256", "host"] {
        assert!(v["bundle"].get(key).is_some(), "missing bundle.{key}");
    }
    let rc = &v["root_causes"][0];
    for key in [
        "id",
        "title",
        "severity",
        "confidence",
        "explains",
        "evidence",
        "fix",
    ] {
        assert!(rc.get(key).is_some(), "missing root_causes[0].{key}");
    }
}

#[test]
fn text_report_names_cause_lines_and_steps() {
    let out = exhume(&[
        "analyze",
        samples()
            .join("exchange2010-sp2-servicehost-disabled.zip")
            .to_str()
            .unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("FAILED"), "{text}");
    assert!(text.contains("Root cause: MSExchangeServiceHost is disabled"));
    assert!(text.contains("setup/ExchangeSetup.log:"));
    assert!(text.contains("Next steps"));
    assert!(!text.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn output_file_and_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("r.json");
    let out = exhume(&[
        "analyze",
        samples()
            .join("exchange2010-sp2-healthy.zip")
            .to_str()
            .unwrap(),
        "--format",
        "json",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(std::fs::read(&out_path).unwrap().starts_with(b"{"));

    let missing = exhume(&["analyze", "/no/such/bundle.zip"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8(missing.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no such file or folder"));
}

#[test]
fn exit_status_reflects_the_verdict_when_asked() {
    let failed = exhume(&[
        "analyze",
        samples()
            .join("exchange2010-sp2-servicehost-disabled.zip")
            .to_str()
            .unwrap(),
        "--exit-status",
    ]);
    assert_eq!(failed.status.code(), Some(1));
}

#[test]
fn timeline_is_timesketch_csv_in_utc() {
    let out = exhume(&[
        "timeline",
        samples()
            .join("exchange2010-sp2-servicehost-disabled.zip")
            .to_str()
            .unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "datetime,timestamp_desc,message,source,locator,event_id,channel,provider,record_id,computer,tag"
        )
    );
    // 21:15:49 local at UTC+11 is 10:15:49 UTC.
    assert!(
        text.contains("2012-02-12T10:15:49.026900Z,Setup error"),
        "{text}"
    );
}

/// The timeline streams every event of the logs: the analysis's budget of kept events
/// (`--max-events`) does not cut it, and its rows are in time order.
#[test]
fn timeline_holds_every_event_whatever_the_analysis_keeps() {
    let seed = samples().join("exchange2010-sp2-servicehost-disabled.zip");
    let run = |extra: &[&str]| {
        let mut args = vec!["timeline", seed.to_str().unwrap(), "--format", "jsonl"];
        args.extend_from_slice(extra);
        let out = exhume(&args);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let all = run(&[]);
    let events = all
        .lines()
        .filter(|l| l.contains("\"Event logged\""))
        .count();
    // The seed's System and Application logs hold thousands of background records.
    assert!(events > 2000, "{events} events");
    // The same rows; only the tags may differ, as the findings citing them do.
    let untagged = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("tag");
                v
            })
            .collect()
    };
    assert_eq!(untagged(&run(&["--max-events", "10"])), untagged(&all));
    let times: Vec<&str> = all
        .lines()
        .map(|l| &l[l.find("\"datetime\":\"").unwrap() + 12..][..27])
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
}

/// The committed samples hold exactly what the generator makes. (The zip bytes themselves are
/// checked by `.ci/run`, which regenerates with `make-samples` and diffs: the deflate backend a
/// test binary links may differ from the generator binary's, so bytes are compared there.)
#[test]
fn samples_match_their_generator() {
    for (name, builder) in samplegen::samples() {
        let file = std::fs::File::open(samples().join(name)).unwrap();
        let mut zip = zip::ZipArchive::new(file).unwrap();
        let expected = builder.contents();
        assert_eq!(zip.len(), expected.len(), "{name}: member count");
        for (path, bytes) in expected {
            let mut m = zip
                .by_name(&path)
                .unwrap_or_else(|_| panic!("{name}: no {path}"));
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut m, &mut got).unwrap();
            assert!(
                got == bytes,
                "{name}: {path} differs: run `cargo run -p samplegen --bin make-samples`"
            );
        }
    }
}
