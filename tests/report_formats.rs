//! The report formats and `--redact` through the command line, on the seed sample.

use std::process::Command;

const SEED: &str = "samples/exchange2010-sp2-servicehost-disabled.zip";

fn exhume(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_exhume"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run exhume");
    assert!(
        out.status.success(),
        "exhume {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn md_and_html_come_out_of_analyze() {
    let md = exhume(&["analyze", SEED, "--format", "md"]);
    assert!(md.starts_with("# Exchange setup diagnosis: FAILED\n"));
    assert!(
        md.lines()
            .any(|l| l.starts_with("## Root cause")
                && l.contains("MSExchangeServiceHost is disabled")),
        "{md}"
    );
    assert!(md.contains("## Recovery plan"));
    let html = exhume(&["analyze", SEED, "--format", "html"]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("id=\"verdict\""));
}

#[test]
fn redact_hides_the_client_in_every_format_and_the_timeline() {
    // Without --redact the names are there: the check below can fail.
    let plain = exhume(&["timeline", SEED, "--format", "jsonl"]);
    for name in ["EX01", "contoso", "DC01"] {
        assert!(
            plain.to_lowercase().contains(&name.to_lowercase()),
            "{name} not in the plain timeline"
        );
    }
    let outputs = [
        exhume(&["analyze", SEED, "--redact"]),
        exhume(&["analyze", SEED, "--format", "md", "--redact"]),
        exhume(&["analyze", SEED, "--format", "json", "--redact"]),
        exhume(&["analyze", SEED, "--format", "html", "--redact"]),
        exhume(&["timeline", SEED, "--format", "csv", "--redact"]),
        exhume(&["timeline", SEED, "--format", "jsonl", "--redact"]),
    ];
    for out in &outputs {
        let lower = out.to_lowercase();
        for name in ["ex01", "contoso", "dc01"] {
            assert!(!lower.contains(name), "{name} left in:\n{out}");
        }
    }
    // The bundle's host is host-1 in the report and in the timeline.
    assert!(outputs[2].contains("\"host\": \"host-1\""));
    assert!(outputs[5].contains("host-1"));
    // The domain controller keeps one token throughout the timeline.
    let dc: Vec<&str> = outputs[5]
        .lines()
        .filter(|l| l.contains("MSEXCHANGEADTOPOLOGYSERVICE.EXE, 1604, "))
        .collect();
    assert!(!dc.is_empty());
    let other = dc
        .iter()
        .filter(|l| !l.contains("1604, host-2.domain-1 CDG"))
        .count();
    assert_eq!(
        other,
        0,
        "{other} of {} lines name the DC otherwise",
        dc.len()
    );
}
