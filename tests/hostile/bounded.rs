//! Runs the `exhume` binary on one input and measures what it cost: wall-clock time and peak
//! resident memory (VmHWM, read from /proc while the child runs).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run produced and cost.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// Peak resident set in KiB (0 where /proc is not available).
    pub peak_kib: u64,
}

impl Run {
    /// The JSON report, for a run that produced one.
    pub fn report(&self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "no report: {}", self.stderr);
        serde_json::from_str(&self.stdout).expect("the report is JSON")
    }

    /// The one-line error of a run that could not analyse.
    pub fn error(&self) -> &str {
        assert_eq!(
            self.code,
            Some(2),
            "expected an error, got a report: {}",
            self.stdout.chars().take(300).collect::<String>()
        );
        let e = self.stderr.trim();
        assert_eq!(e.lines().count(), 1, "one line: {e}");
        e
    }
}

/// Past this a run is taken as hung and killed. Not a timing bound (tests are bounded by
/// resources, never by wall-clock time on a shared machine): exhume's own per-artefact budget
/// (300 s) stops any member before, so only a hang gets here.
pub const SECONDS: u64 = 600;
/// Memory allowed to one run, in MiB: the streaming design keeps exhume far below this on
/// any input (the default limits allow GB-sized members, never GB-sized buffers).
pub const MIB: u64 = 512;

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `exhume analyze --format json BUNDLE EXTRA…`, killed if it runs past twice the time bound.
pub fn analyze(bundle: &Path, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("stdout");
    let err = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_exhume"))
        .arg("analyze")
        .arg("--format")
        .arg("json")
        .arg(bundle)
        .args(extra)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("run exhume");
    let start = Instant::now();
    let mut peak = 0u64;
    let status = loop {
        if let Some(k) = vm_hwm_kib(child.id()) {
            peak = peak.max(k);
        }
        if let Some(s) = child.try_wait().expect("wait for exhume") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(SECONDS) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "exhume still running after {} s on {}",
                SECONDS,
                bundle.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let run = Run {
        code: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        elapsed,
        peak_kib: peak,
    };
    // Shown with `--nocapture`: the figures behind the bounds.
    eprintln!(
        "bounded run {}: {:.2} s, peak {} MiB, exit {:?}: {}",
        std::thread::current().name().unwrap_or("?"),
        run.elapsed.as_secs_f64(),
        run.peak_kib / 1024,
        run.code,
        bundle.display()
    );
    assert!(
        run.peak_kib <= MIB * 1024,
        "{} peaked at {} MiB",
        bundle.display(),
        run.peak_kib / 1024
    );
    assert!(
        !run.stderr.contains("panicked"),
        "exhume panicked: {}",
        run.stderr
    );
    run
}
