//! The HTML report in a real browser: Debian's headless Chromium loads the seed sample's report
//! (written by the CLI), must log no console message, must show the verdict in its DOM, and must
//! paint a screenshot that is not blank. A report whose bundle strings carry `<script>` must
//! come out with no script element at all.
//!
//! Skipped, with a message saying so, only when no Chromium binary can be found (CI installs
//! Debian's `chromium` in `.ci/run`).

use exhume::facts::{Confidence, Evidence, Finding, FindingKind, Locator, Position, Severity};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEED: &str = "samples/exchange2010-sp2-servicehost-disabled.zip";

fn chromium() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("CHROMIUM") {
        candidates.push(p.into());
    }
    candidates.push("/usr/bin/chromium".into());
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            for name in [
                "chromium",
                "chromium-browser",
                "google-chrome",
                "google-chrome-stable",
            ] {
                candidates.push(dir.join(name));
            }
        }
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// What one headless run printed.
struct Run {
    stdout: String,
    stderr: String,
}

/// Runs Chromium on `page` with the isolating flags plus `extra`, in a fresh profile, and kills
/// it if it hangs.
fn run(browser: &Path, page: &Path, extra: &[String]) -> Run {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    // Read both pipes on threads so a chatty browser cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 120 s");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    Run {
        stdout: t_out.join().expect("stdout thread"),
        stderr: t_err.join().expect("stderr thread"),
    }
}

/// Console messages Chromium logged (`--enable-logging=stderr`): errors, uncaught exceptions,
/// Content-Security-Policy refusals. The report has no script, so any message is a fault.
fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

fn logging() -> Vec<String> {
    vec![
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        "--dump-dom".into(),
    ]
}

/// (distinct colours, share of the most common colour) of a PNG.
fn colour_stats(png_path: &Path) -> (usize, f64, (u32, u32)) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("open screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let mut counts: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for px in bytes.chunks_exact(channels) {
        *counts.entry(px).or_default() += 1;
    }
    let total = bytes.len() / channels;
    let top = counts.values().copied().max().unwrap_or(0);
    (
        counts.len(),
        top as f64 / total.max(1) as f64,
        (info.width, info.height),
    )
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn seed_report_loads_cleanly_and_paints() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED html_chromium: no Chromium binary found (tried $CHROMIUM, /usr/bin/chromium, chromium, chromium-browser, google-chrome on PATH); install Debian's `chromium` to run it"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");

    // The detector itself: a page with a broken script must be caught, or a silent Chromium
    // would make this test pass on anything.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><p>x</p><script>notDefined();</script></body></html>",
    )
    .expect("write bad page");
    let r = run(&browser, &bad, &logging());
    assert!(
        !console_messages(&r.stderr).is_empty(),
        "a broken page produced no console message; stderr:\n{}",
        r.stderr
    );

    // The report as the CLI writes it.
    let page = dir.path().join("report.html");
    let status = Command::new(env!("CARGO_BIN_EXE_exhume"))
        .arg("analyze")
        .arg(repo(SEED))
        .args(["--format", "html", "-o"])
        .arg(&page)
        .status()
        .expect("run exhume");
    assert!(status.success(), "exhume analyze --format html failed");

    let r = run(&browser, &page, &logging());
    let console = console_messages(&r.stderr);
    assert!(console.is_empty(), "console messages: {console:#?}");
    let dom = &r.stdout;
    assert!(dom.contains("id=\"verdict\""), "no verdict in the DOM");
    assert!(
        dom.contains("MSExchangeServiceHost"),
        "verdict text missing"
    );
    assert!(dom.contains("class=\"chain\""), "no chain diagram");
    assert!(dom.contains("class=\"timeline\""), "no timeline chart");
    assert!(dom.contains("id=\"plan\""), "no recovery plan");

    let shot = dir.path().join("report.png");
    run(
        &browser,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
        ],
    );
    let (colours, top, size) = colour_stats(&shot);
    eprintln!("screenshot {size:?}: {colours} colours, most common covers {top:.2}");
    assert_eq!(size, (1280, 2000));
    assert!(colours > 200, "only {colours} colours: blank or unstyled");
    assert!(top < 0.9, "one colour covers {top:.2} of the page: blank");

    // Printed (A4, the page's print CSS): at most eight pages, every "How to fix" open.
    assert!(
        !dom.contains("<details>") && dom.contains("<details open"),
        "a How-to-fix left closed"
    );
    let pdf = dir.path().join("report.pdf");
    run(
        &browser,
        &page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    );
    let bytes = std::fs::read(&pdf).expect("printed PDF");
    let pages = count_pages(&bytes);
    eprintln!("printed: {pages} pages");
    assert!((1..=8).contains(&pages), "{pages} printed pages");
}

/// Page objects in a PDF (`/Type /Page`, not `/Pages`).
fn count_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type")
        .filter(|(i, _)| {
            let rest = text[i + 5..].trim_start();
            rest.starts_with("/Page") && !rest.starts_with("/Pages")
        })
        .count()
}

#[test]
fn script_in_bundle_strings_stays_text_in_the_browser() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED html_chromium: no Chromium binary found; install Debian's `chromium`");
        return;
    };
    let mut analysis =
        exhume::analyze(&repo(SEED), &exhume::Options::default()).expect("seed analyses");
    let payload =
        "<script>console.error('pwned')</script><img src=x onerror=\"console.error('img')\">";
    let d = &mut analysis.diagnosis;
    d.bundle.host = Some(format!("EX01{payload}"));
    d.verdict.push_str(payload);
    d.findings.push(Finding {
        id: "hostile".into(),
        title: format!("Title {payload}"),
        kind: FindingKind::Symptom,
        severity: Severity::High,
        confidence: Confidence::High,
        subject: Some(payload.into()),
        time: d.findings.iter().find_map(|f| f.time),
        evidence: vec![Evidence::new(
            Locator::new(
                format!("setup/{payload}.log"),
                Position::Element(payload.into()),
            ),
            format!("excerpt {payload} ]]> -->"),
        )],
        why: payload.into(),
        fix: vec![format!("Run `{payload}`").into()],
        references: vec![],
        explains: vec![],
    });
    d.unexplained.push(format!("hostile:{payload}"));
    let html = exhume::report::render(d, exhume::report::Format::Html, Default::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("hostile.html");
    std::fs::write(&page, html).expect("write page");

    let r = run(&browser, &page, &logging());
    let console = console_messages(&r.stderr);
    assert!(console.is_empty(), "console messages: {console:#?}");
    let dom = &r.stdout;
    // The browser's own DOM: no element the bundle wrote, only its text.
    assert!(!dom.contains("<script"), "a script element reached the DOM");
    assert!(!dom.contains("<img"), "an img element reached the DOM");
    assert!(dom.contains("Title &lt;script&gt;console.error('pwned')&lt;/script&gt;"));
}
