//! `exhume batch`: determinism across job counts, resume, broken bundles.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A folder of bundles: the two samples (zip), a folder copy of the seed, and a broken zip.
fn corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(inbox.join("2012/feb")).unwrap();
    for name in [
        "exchange2010-sp2-servicehost-disabled.zip",
        "exchange2010-sp2-healthy.zip",
    ] {
        std::fs::copy(samples().join(name), inbox.join("2012/feb").join(name)).unwrap();
    }
    samplegen::scenarios::exchange2010_sp2(true)
        .write(&inbox.join("unzipped-bundle"), samplegen::Form::Folder)
        .unwrap();
    let full = std::fs::read(samples().join("exchange2010-sp2-healthy.zip")).unwrap();
    std::fs::write(inbox.join("truncated.zip"), &full[..full.len() / 3]).unwrap();
    std::fs::write(inbox.join("notes.txt"), b"not a bundle, not a zip: ignored").unwrap();
    dir
}

fn batch(inbox: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "batch",
        inbox.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    exhume(&args)
}

/// The corpus without its broken zip, analysed once into `out`: (corpus, inbox, out).
fn analysed_once() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let c = corpus();
    let inbox = c.path().join("inbox");
    std::fs::remove_file(inbox.join("truncated.zip")).unwrap();
    let out = c.path().join("out");
    assert!(batch(&inbox, &out, &[]).status.success());
    (c, inbox, out)
}

#[test]
fn summaries_are_identical_whatever_the_job_count_and_broken_bundles_are_listed() {
    let c = corpus();
    let inbox = c.path().join("inbox");
    let one = c.path().join("out1");
    let two = c.path().join("out2");
    let r1 = batch(&inbox, &one, &["--jobs", "1"]);
    let r2 = batch(&inbox, &two, &["--jobs", "2"]);
    // The truncated zip fails: the exit code says so, the batch went on.
    assert_eq!(
        r1.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r1.stderr)
    );
    assert_eq!(r2.status.code(), Some(1));
    for f in ["summary.csv", "summary.jsonl", "summary.md"] {
        let a = std::fs::read(one.join(f)).unwrap();
        let b = std::fs::read(two.join(f)).unwrap();
        assert!(a == b, "{f} differs between --jobs 1 and --jobs 2");
    }
    let csv = std::fs::read_to_string(one.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.contains("truncated.zip") && l.contains(",error,"))
    );
    assert!(
        csv.lines()
            .any(|l| l.contains("unzipped-bundle") && l.contains("service-disabled-blocks-setup"))
    );
    let md = std::fs::read_to_string(one.join("summary.md")).unwrap();
    let cause = "A service setup must start is disabled (`service-disabled-blocks-setup`)";
    assert!(md.contains(&format!("| {cause} | 2 |")), "{md}");
    assert!(
        md.contains(&format!("| Exchange 2010 SP2 (14.2.247.5) | {cause} | 2 |")),
        "{md}"
    );
    assert_eq!(std::fs::read_dir(one.join("reports")).unwrap().count(), 3);
    // The failure is kept beside the reports, so later runs still list it.
    assert_eq!(std::fs::read_dir(one.join("failed")).unwrap().count(), 1);
}

#[test]
fn rerun_skips_finished_bundles_and_force_redoes_them() {
    let (_corpus, inbox, out) = analysed_once();
    let first = std::fs::read(out.join("summary.csv")).unwrap();
    let again = batch(&inbox, &out, &[]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("0 analysed, 3 resumed"), "{err}");
    assert_eq!(std::fs::read(out.join("summary.csv")).unwrap(), first);
    let forced = batch(&inbox, &out, &["--force"]);
    assert!(String::from_utf8_lossy(&forced.stderr).contains("3 analysed, 0 resumed"));
    // A changed bundle is analysed again even without --force.
    let zip = inbox.join("2012/feb/exchange2010-sp2-healthy.zip");
    std::fs::copy(
        samples().join("exchange2010-sp2-servicehost-disabled.zip"),
        &zip,
    )
    .unwrap();
    let changed = batch(&inbox, &out, &[]);
    assert!(String::from_utf8_lossy(&changed.stderr).contains("1 analysed, 2 resumed"));
}

#[test]
fn missing_input_is_one_clear_line() {
    let out = tempfile::tempdir().unwrap();
    let r = batch(Path::new("/no/such/dir"), out.path(), &[]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The rows of summary.csv, header left out.
fn csv_rows(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("summary.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_new_format_is_rendered_from_the_stored_analysis_as_a_fresh_run_writes_it() {
    let (c, inbox, out) = analysed_once();
    let reports = out.join("reports");
    let html_count = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "html"))
            .count()
    };
    assert_eq!(html_count(&reports), 0);
    let again = batch(&inbox, &out, &["--format", "md,html"]);
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    // Nothing analysed again: every bundle resumed, its new formats rendered from its JSON.
    assert!(
        err.contains("0 analysed, 3 resumed (6 report(s) rendered from the stored analysis)"),
        "{err}"
    );
    assert_eq!(html_count(&reports), 3);
    // The same bytes a fresh analysis writes.
    let fresh = c.path().join("fresh");
    assert!(
        batch(&inbox, &fresh, &["--format", "md,html"])
            .status
            .success()
    );
    for e in std::fs::read_dir(&reports).unwrap().flatten() {
        let name = e.file_name();
        let stored = std::fs::read(e.path()).unwrap();
        let new = std::fs::read(fresh.join("reports").join(&name)).unwrap();
        assert!(stored == new, "{name:?} differs from a fresh run's");
    }
    // A third run has nothing left to render.
    let third = stderr(&batch(&inbox, &out, &["--format", "html"]));
    assert!(third.contains("0 analysed, 3 resumed, 0 failed"), "{third}");
}

#[test]
fn summaries_cover_everything_in_the_output_folder() {
    let c = corpus();
    let inbox = c.path().join("inbox");
    let out = c.path().join("out");
    // First run: the two zips of 2012/feb and the broken one.
    let first_in = c.path().join("first");
    std::fs::create_dir_all(&first_in).unwrap();
    std::fs::rename(inbox.join("2012"), first_in.join("2012")).unwrap();
    std::fs::rename(inbox.join("truncated.zip"), first_in.join("truncated.zip")).unwrap();
    assert_eq!(batch(&first_in, &out, &[]).status.code(), Some(1));
    assert_eq!(csv_rows(&out).len(), 3);
    // Second run, into the same folder: only the unzipped bundle is given.
    let second = batch(&inbox, &out, &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stderr(&second).contains("1 analysed, 0 resumed"));
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for name in [
        "2012/feb/exchange2010-sp2-healthy.zip",
        "2012/feb/exchange2010-sp2-servicehost-disabled.zip",
        "unzipped-bundle",
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("{name},"))),
            "{name}: {rows:#?}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r.starts_with("truncated.zip,") && r.contains(",error,")),
        "{rows:#?}"
    );
    let jsonl = std::fs::read_to_string(out.join("summary.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 4);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.starts_with("# exhume batch summary\n\n4 bundle(s)."),
        "{md}"
    );
    // Once the broken bundle is replaced by a good one, it is no longer listed as failed.
    std::fs::copy(
        samples().join("exchange2010-sp2-healthy.zip"),
        first_in.join("truncated.zip"),
    )
    .unwrap();
    assert!(batch(&first_in, &out, &[]).status.success());
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert!(!rows.iter().any(|r| r.contains(",error,")), "{rows:#?}");
}

#[test]
fn summary_md_lists_every_bundle_with_links_to_its_reports() {
    let c = corpus();
    let inbox = c.path().join("inbox");
    let out = c.path().join("out");
    batch(&inbox, &out, &["--format", "html"]);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let table = &md[md.find("## Bundles").expect("bundle table")..];
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), 4, "{table}");
    let mut links = 0;
    for l in &rows {
        for part in l.split("](").skip(1) {
            let target = &part[..part.find(')').unwrap()];
            assert!(!target.starts_with('/'), "{target} is not relative");
            assert!(out.join(target).is_file(), "{target} does not exist");
            links += 1;
        }
    }
    // html and json for each of the three analysed bundles; none for the broken one.
    assert_eq!(links, 6, "{table}");
    let broken = rows.iter().find(|l| l.contains("truncated.zip")).unwrap();
    assert!(
        broken.contains("error: ") && !broken.contains("]("),
        "{broken}"
    );
    // Nothing written names the analyst's folders above the input.
    let analyst = c.path().to_string_lossy().into_owned();
    for dir in [out.clone(), out.join("reports"), out.join("failed")] {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().is_file() {
                let text = std::fs::read_to_string(e.path()).unwrap();
                assert!(!text.contains(&analyst), "{:?} shows {analyst}", e.path());
            }
        }
    }
    // Causes by title and id, builds by name and number.
    let seed = rows
        .iter()
        .find(|l| l.contains("servicehost-disabled"))
        .unwrap();
    assert!(
        seed.contains("| Exchange 2010 SP2 (14.2.247.5) | A service setup must start is disabled (`service-disabled-blocks-setup`) |"),
        "{seed}"
    );
}

/// `setup-prereq-pending-reboot` (setup saw the restart pending) and `pending-reboot` (the
/// registry says so) are one cause: counted once, under one id.
#[test]
fn one_cause_seen_by_two_rules_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let scenarios = samples().join("scenarios");
    std::fs::copy(
        scenarios.join("e2010-sp3-pending-reboot.zip"),
        inbox.join("a.zip"),
    )
    .unwrap();
    let b = exhume(&[
        "analyze",
        inbox.join("a.zip").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(v["root_causes"][0]["id"], "setup-prereq-pending-reboot");
    // A bundle where the registry says so (setup did not get as far as its check).
    copy_dir(
        &scenarios.join("e2013-cu22-installer-cache-and-pending-reboot"),
        &inbox.join("b"),
    );
    let out = dir.path().join("out");
    let r = batch(&inbox, &out, &[]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].starts_with("a.zip,") && rows[0].contains(",pending-reboot,"),
        "{rows:#?}"
    );
    assert!(
        rows[1].starts_with("b,")
            && rows[1].contains(",msi-installer-cache-missing;pending-reboot,"),
        "{rows:#?}"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let overall =
        &md[md.find("## Root causes, overall").unwrap()..md.find("## Root causes by").unwrap()];
    let causes: Vec<&str> = overall
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| root"))
        .collect();
    assert_eq!(
        causes,
        [
            "| A reboot is pending (`pending-reboot`, `setup-prereq-pending-reboot`) | 2 |",
            "| The Windows Installer cache lacks the installed Exchange package (MSI/MSP) (`msi-installer-cache-missing`) | 1 |"
        ],
        "{md}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}
