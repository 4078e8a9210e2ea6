//! Every input a fuzz target crashed on is kept in `tests/hostile/fuzz/TARGET/` and replayed here
//! through the target's own code (the fuzz crate's library, included as a module), so a fixed
//! crash stays fixed in a plain `cargo test`. Each target also runs on the samples, so its
//! property checks are exercised on real data even before any crash was found.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_lib;

use fuzz_lib::targets;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The targets share one scratch folder, removed after each replay.
static SCRATCH: Mutex<()> = Mutex::new(());

/// An input must run as fast as libFuzzer's `-timeout` allows (10 s), debug build included.
const PER_INPUT: Duration = Duration::from_secs(10);

fn replay(target: &str, run: fn(&[u8]), samples: &[Vec<u8>]) -> usize {
    let _guard = SCRATCH.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile/fuzz")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = samples
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("sample {i}"), b.clone()))
        .collect();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let bytes = std::fs::read(e.path()).expect("read a regression input");
            inputs.push((e.path().display().to_string(), bytes));
        }
    }
    for (name, data) in &inputs {
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(|| run(data));
        fuzz_lib::remove_scratch();
        assert!(outcome.is_ok(), "{target}: {name} fails its checks");
        assert!(
            start.elapsed() < PER_INPUT,
            "{target}: {name} took {:?}",
            start.elapsed()
        );
    }
    inputs.len()
}

fn member(path: &str, broken: bool) -> Vec<u8> {
    samplegen::scenarios::exchange2010_sp2(broken)
        .contents()
        .into_iter()
        .find(|(p, _)| p == path)
        .expect("sample member")
        .1
}

fn framed(broken: bool) -> Vec<u8> {
    frame(&samplegen::scenarios::exchange2010_sp2(broken))
}

/// The healthy sample cut down to the pipeline target's paths, its manifest listing only them:
/// a bundle the target finds healthy, so its "healthy ⇒ …" properties are exercised.
fn framed_healthy() -> Vec<u8> {
    frame(&pipeline_only())
}

fn pipeline_only() -> samplegen::BundleBuilder {
    let mut b = samplegen::scenarios::exchange2010_sp2(false);
    for (p, _) in b.contents() {
        if !fuzz_lib::PIPELINE_PATHS.contains(&p.as_str()) {
            b.remove(&p);
        }
    }
    b
}

fn frame(b: &samplegen::BundleBuilder) -> Vec<u8> {
    let contents = b.contents();
    let members: Vec<(usize, &[u8])> = contents
        .iter()
        .filter_map(|(p, b)| {
            let i = fuzz_lib::PIPELINE_PATHS.iter().position(|q| q == p)?;
            Some((i, b.as_slice()))
        })
        .collect();
    fuzz_lib::join_members(&members)
}

#[test]
fn bundle_zip() {
    let zips: Vec<Vec<u8>> = [false, true]
        .iter()
        .map(|&b| {
            samplegen::scenarios::exchange2010_sp2(b)
                .zip_bytes()
                .expect("zip")
        })
        .collect();
    replay("bundle_zip", targets::bundle_zip::run, &zips);
}

#[test]
fn manifest() {
    replay(
        "manifest",
        targets::manifest::run,
        &[member("manifest.json", false)],
    );
}

#[test]
fn setup_log() {
    let logs = [
        member("setup/ExchangeSetup.log", true),
        member("setup/ExchangeSetup.log", false),
    ];
    replay("setup_log", targets::setup_log::run, &logs);
}

#[test]
fn reg() {
    replay("reg", targets::reg::run, &[]);
}

#[test]
fn webconfig() {
    replay("webconfig", targets::webconfig::run, &[]);
}

#[test]
fn apphost() {
    replay("apphost", targets::apphost::run, &[]);
}

#[test]
fn csv() {
    let mut services = vec![0u8];
    services.extend(member("system/services.csv", true));
    replay("csv", targets::csv::run, &[services]);
}

#[test]
fn evtx_scan() {
    let chunks: Vec<Vec<u8>> = ["evtx/System.evtx", "evtx/Application.evtx"]
        .iter()
        .flat_map(|p| {
            let log = member(p, true);
            log[4096..]
                .chunks(65536)
                .take(2)
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(chunks.len(), 4);
    replay("evtx_scan", targets::evtx_scan::run, &chunks);
}

#[test]
fn pipeline() {
    replay(
        "pipeline",
        targets::pipeline::run,
        &[framed(false), framed(true), framed_healthy()],
    );
}

/// The pipeline target's properties about a healthy verdict are not vacuous: the cut-down
/// healthy sample is healthy through the target's own steps; with a NUL run in its setup log
/// (what the target's "nothing absorbed" check looks for) it is not.
#[test]
fn the_pipeline_target_reaches_a_healthy_verdict() {
    let _guard = SCRATCH.lock().unwrap_or_else(|p| p.into_inner());
    let framed = framed_healthy();
    let status = |data: &[u8]| {
        let dir = fuzz_lib::fresh_dir("healthy");
        fuzz_lib::write_members(&dir, &fuzz_lib::split_members(data));
        let opts = exhume::Options {
            limits: fuzz_lib::fuzz_limits(),
            ..Default::default()
        };
        let d = exhume::analyze(&dir, &opts).expect("analyses").diagnosis;
        fuzz_lib::remove_scratch();
        (d.status, d.verdict)
    };
    let (healthy, verdict) = status(&framed);
    assert_eq!(healthy, exhume::diagnosis::Status::Healthy, "{verdict}");
    // Damaged at the source: the manifest is written over the damaged log.
    let mut b = pipeline_only();
    let log = "setup/ExchangeSetup.log";
    let mut bytes = b.get(log).expect("the setup log").to_vec();
    let at = bytes.len() / 2;
    bytes.splice(at..at, [0u8; 8]);
    b.file(log, "damaged at the source", bytes);
    let (status, verdict) = status(&frame(&b));
    assert_ne!(status, exhume::diagnosis::Status::Healthy, "{verdict}");
}
