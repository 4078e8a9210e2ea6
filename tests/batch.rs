//! `exhume batch`: determinism across job counts, resume, broken bundles.

mod common;

use common::*;
use std::path::Path;

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
    assert!(md.contains("| service-disabled-blocks-setup | 2 |"), "{md}");
    assert!(
        md.contains("| 14.2.247.5 | service-disabled-blocks-setup | 2 |"),
        "{md}"
    );
    assert_eq!(std::fs::read_dir(one.join("reports")).unwrap().count(), 3);
}

#[test]
fn rerun_skips_finished_bundles_and_force_redoes_them() {
    let c = corpus();
    let inbox = c.path().join("inbox");
    std::fs::remove_file(inbox.join("truncated.zip")).unwrap();
    let out = c.path().join("out");
    assert!(batch(&inbox, &out, &[]).status.success());
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
