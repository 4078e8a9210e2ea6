//! The command line as an analyst meets it: formats chosen by the output file, --quiet,
//! --color, completions, man page, help layout, --version, errors said once. Every test runs
//! the built binary.

mod common;

use common::{exhume, samples};
use std::process::Command;

fn healthy() -> String {
    samples()
        .join("exchange2010-sp2-healthy.zip")
        .to_string_lossy()
        .into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn output_extension_chooses_the_format_and_a_mismatch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    for (name, starts) in [
        ("r.html", "<!DOCTYPE html>"),
        ("r.json", "{"),
        ("r.md", "# "),
        ("r.txt", "HEALTHY"),
    ] {
        let out = exhume(&["analyze", &healthy(), "-o", &at(name)]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = std::fs::read_to_string(at(name)).unwrap();
        assert!(
            text.starts_with(starts),
            "{name}: {}",
            &text[..80.min(text.len())]
        );
    }
    let out = exhume(&["timeline", &healthy(), "-o", &at("t.jsonl")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(at("t.jsonl"))
            .unwrap()
            .starts_with("{\"datetime\"")
    );

    let bad = exhume(&["analyze", &healthy(), "--format", "json", "-o", &at("x.md")]);
    assert_eq!(bad.status.code(), Some(2));
    let err = stderr(&bad);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--format json does not match"), "{err}");
    assert!(
        !dir.path().join("x.md").exists(),
        "nothing written on a mismatch"
    );
    let bad = exhume(&[
        "timeline",
        &healthy(),
        "--format",
        "csv",
        "-o",
        &at("x.jsonl"),
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    // An extension that names no format leaves the default.
    let out = exhume(&["analyze", &healthy(), "-o", &at("r.out")]);
    assert!(out.status.success());
    assert!(
        std::fs::read_to_string(at("r.out"))
            .unwrap()
            .starts_with("HEALTHY")
    );
}

#[test]
fn color_always_never_and_no_color() {
    let run = |args: &[&str], no_color: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_exhume"));
        c.args(args);
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    let h = healthy();
    assert!(run(&["analyze", &h, "--color", "always"], true).contains('\x1b'));
    assert!(!run(&["analyze", &h, "--color", "never"], false).contains('\x1b'));
    // auto: not a terminal here, so no colour, with or without NO_COLOR.
    assert!(!run(&["analyze", &h], false).contains('\x1b'));
    assert!(!run(&["--color", "auto", "analyze", &h], true).contains('\x1b'));
}

#[test]
fn quiet_silences_progress_and_notes_but_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let loud = exhume(&["batch", &healthy(), "--out", out_dir.to_str().unwrap()]);
    assert!(loud.status.success());
    assert!(stderr(&loud).contains("exhume batch:"), "{}", stderr(&loud));
    let quiet = exhume(&[
        "batch",
        &healthy(),
        "--out",
        out_dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(quiet.status.success());
    assert_eq!(stderr(&quiet), "");
    let err = exhume(&["analyze", "-q", "/no/such/bundle.zip"]);
    assert_eq!(err.status.code(), Some(2));
    assert_eq!(stderr(&err).lines().count(), 1);
}

#[test]
fn completions_and_man_page() {
    for (shell, marker) in [
        ("bash", "_exhume()"),
        ("zsh", "#compdef exhume"),
        ("fish", "complete -c exhume"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = exhume(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(marker),
            "{shell}: {}",
            &text[..200.min(text.len())]
        );
        assert!(
            text.contains("timeline") && text.contains("max-bundle-size"),
            "{shell}"
        );
    }
    let man = String::from_utf8(exhume(&["man"]).stdout).unwrap();
    assert!(
        man.starts_with(".ie") && man.contains(".TH exhume 1"),
        "{man}"
    );
    assert!(man.contains("analyze") && man.contains("batch"));
    let dir = tempfile::tempdir().unwrap();
    assert!(
        exhume(&["man", dir.path().to_str().unwrap()])
            .status
            .success()
    );
    for page in [
        "exhume.1",
        "exhume-analyze.1",
        "exhume-timeline.1",
        "exhume-batch.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
}

#[test]
fn version_names_the_rule_catalogue() {
    let out = exhume(&["--version"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let rules = exhume::rules::builtin().len();
    assert!(
        text.starts_with(&format!("exhume {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("rule catalogue: {rules} rules, ")),
        "{text}"
    );
}

/// Every argument of every command is described; the resource limits have their own heading;
/// timeline offers no flag that does nothing there; a default is said once.
#[test]
fn help_describes_every_argument_and_groups_the_limits() {
    for cmd in [
        "analyze",
        "timeline",
        "batch",
        "rules",
        "completions",
        "man",
    ] {
        let help = String::from_utf8(exhume(&[cmd, "--help"]).stdout).unwrap();
        let lines: Vec<&str> = help.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let optional_positional =
                t.starts_with('[') && t[1..].starts_with(|c: char| c.is_ascii_uppercase());
            let is_arg = (t.starts_with('-') || t.starts_with('<') || optional_positional)
                && !t.starts_with("- ")
                && l.starts_with("  ");
            if is_arg && !t.contains("  ") {
                // Long help: the description is on the next line, indented further.
                let next = lines.get(i + 1).map(|n| n.trim()).unwrap_or("");
                assert!(!next.is_empty(), "{cmd}: {t} has no description\n{help}");
            }
        }
        assert!(!help.contains("(default: text)"), "{cmd}");
    }
    let analyze = String::from_utf8(exhume(&["analyze", "--help"]).stdout).unwrap();
    let heading = analyze.find("Resource limits:").expect("limits heading");
    let limit = analyze.find("--max-bundle-size").unwrap();
    assert!(limit > heading, "limits under their heading");
    assert!(
        analyze.find("--redact").unwrap() < heading,
        "everyday flags first"
    );
    let timeline = String::from_utf8(exhume(&["timeline", "--help"]).stdout).unwrap();
    assert!(!timeline.contains("--window") && !timeline.contains("--rules"));
    let batch = String::from_utf8(exhume(&["batch", "--help"]).stdout).unwrap();
    assert!(batch.contains("comma-separated") && batch.contains("--redact"));
}

#[test]
fn errors_are_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("text.zip");
    std::fs::write(&fake, "not a zip").unwrap();
    let unwritable = dir.path().join("no/such/dir/r.txt");
    for args in [
        vec!["analyze".to_string(), fake.to_string_lossy().into_owned()],
        vec![
            "analyze".into(),
            healthy(),
            "-o".into(),
            unwritable.to_string_lossy().into_owned(),
        ],
        vec!["analyze".into(), "/no/such/bundle.zip".into()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = exhume(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        // No part of the line said twice ("X: X", a path repeated, an OS error repeated).
        let parts: Vec<&str> = err.trim_end().split(": ").collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(!parts[i + 1..].contains(p), "{p:?} repeated in {err}");
        }
        if let Some(os) = err.find("(os error") {
            assert!(!err[os + 1..].contains("(os error"), "{err}");
        }
    }
}

/// `exhume batch INPUT --out OUT --format md,html --redact`, which must succeed.
fn batch_md_html_redacted(input: &std::path::Path, out_dir: &std::path::Path) {
    let out = exhume(&[
        "batch",
        input.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--format",
        "md,html",
        "--redact",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn batch_takes_a_comma_list_of_formats_and_redacts() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    batch_md_html_redacted(
        &samples().join("exchange2010-sp2-servicehost-disabled.zip"),
        &out_dir,
    );
    let reports = out_dir.join("reports");
    let json_name = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".json"))
        .unwrap();
    let stem = json_name.trim_end_matches(".json");
    for ext in ["json", "md", "html"] {
        assert!(reports.join(format!("{stem}.{ext}")).is_file(), "{ext}");
    }
    let json = std::fs::read_to_string(reports.join(format!("{stem}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["bundle"]["path"],
        "exchange2010-sp2-servicehost-disabled.zip"
    );
    assert!(
        v["bundle"]["host"].as_str().unwrap().starts_with("host-"),
        "{}",
        v["bundle"]
    );
    let samples_dir = samples().to_string_lossy().into_owned();
    for f in ["summary.csv", "summary.jsonl", "summary.md"] {
        let text = std::fs::read_to_string(out_dir.join(f)).unwrap();
        assert!(!text.contains(&samples_dir), "{f} shows the analyst's path");
    }
    for ext in ["json", "md", "html"] {
        let text = std::fs::read_to_string(reports.join(format!("{stem}.{ext}"))).unwrap();
        assert!(
            !text.contains(&samples_dir),
            "{ext} shows the analyst's path"
        );
    }
}

/// Reports are sent on as they are: they name the bundle by its own name, never by the
/// analyst's folders above it (which often name the client's case), redacted or not.
#[test]
fn reports_name_the_bundle_by_its_own_name_only() {
    let repo = env!("CARGO_MANIFEST_DIR");
    let bundle = healthy();
    for redact in [false, true] {
        for format in ["text", "md", "html", "json"] {
            let mut args = vec!["analyze", bundle.as_str(), "--format", format];
            if redact {
                args.push("--redact");
            }
            let out = exhume(&args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(!text.contains(repo), "{args:?} shows the analyst's folders");
            assert!(
                text.contains("exchange2010-sp2-healthy.zip"),
                "{args:?} does not name the bundle"
            );
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["bundle"]["path"], "exchange2010-sp2-healthy.zip");
            }
        }
    }
    // A path relative to the current folder, and the current folder itself.
    let json_path = |dir: &std::path::Path, input: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_exhume"))
            .args(["analyze", input, "--format", "json"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{input}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["bundle"]["path"].as_str().unwrap().to_string()
    };
    assert_eq!(
        json_path(
            std::path::Path::new(repo),
            "samples/exchange2010-sp2-healthy.zip"
        ),
        "exchange2010-sp2-healthy.zip"
    );
    let folder = samples().join("scenarios/e2013-cu23-healthy");
    assert_eq!(json_path(&folder, "."), "e2013-cu23-healthy");
}

/// The collector names its zip after the server: under `--redact`, batch names the report
/// files (and the links to them) by a digest, not by the bundle's name.
#[test]
fn batch_redact_does_not_name_reports_after_the_server() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(
        samples().join("exchange2010-sp2-servicehost-disabled.zip"),
        input.join("EX01-20120212-exhume.zip"),
    )
    .unwrap();
    let out_dir = work.path().join("out");
    let run = || batch_md_html_redacted(&input, &out_dir);
    run();
    let mut names = Vec::new();
    for dir in [out_dir.clone(), out_dir.join("reports")] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            names.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("bundle-") && n.ends_with(".json")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("EX01")), "{names:?}");
    for f in ["summary.csv", "summary.jsonl", "summary.md"] {
        let text = std::fs::read_to_string(out_dir.join(f)).unwrap();
        assert!(!text.contains("EX01"), "{f} names the server: {text}");
    }
    // The same name on a second run: the output folder is rebuilt, not doubled.
    run();
    let reports = std::fs::read_dir(out_dir.join("reports")).unwrap().count();
    assert_eq!(reports, 3, "json, md and html once each");
}
