//! Large inputs for benchmarks: a setup log of years of runs, built from the same run writer.

use crate::builder::{BundleBuilder, crlf};
use crate::scenarios;
use crate::setup_log::{self, Ending};
use chrono::Duration;

/// A setup log of about `target` bytes: many successful runs, then the seed's failed run last.
pub fn big_setup_log(target: usize) -> String {
    let template = scenarios::seed_runs(false);
    let mut out = String::with_capacity(target + (1 << 20));
    let mut start = scenarios::at(2005, 1, 1, 9, 0, 0, 0);
    let mut i = 0u64;
    while out.len() < target {
        let mut run = template[(i % 2 + 1) as usize].clone();
        run.start = start;
        run.ending = Ending::Completed;
        let mut w = setup_log::Writer::new(start, i);
        setup_log::write_run(&mut w, &run);
        setup_log::write_end(&mut w, &run, 0);
        out.push_str(&w.out);
        start = w.now + Duration::hours(6);
        i += 1;
    }
    let last = scenarios::seed_runs(true).pop().expect("seed has runs");
    let mut w = setup_log::Writer::new(start, i);
    let mut run = last;
    run.start = start;
    if let Ending::Failed { at, end, .. } = &mut run.ending {
        *at = None;
        *end = None;
    }
    setup_log::write_run(&mut w, &run);
    setup_log::write_end(&mut w, &run, 60);
    out.push_str(&w.out);
    out
}

/// The seed bundle with its setup log replaced by a `target`-byte one.
pub fn big_setup_bundle(target: usize) -> BundleBuilder {
    let mut b = scenarios::exchange2010_sp2(true);
    b.file(
        "setup/ExchangeSetup.log",
        "C:\\ExchangeSetupLogs\\ExchangeSetup.log",
        crlf(&big_setup_log(target)),
    );
    b
}

/// Writes an EVTX file of about `target` bytes to `path`: a background of ordinary records with
/// a few hundred relevant ones (SCM failures, ASP.NET 1310) spread through it, so the benchmark
/// measures both the scan and the kept facts. Streams: one chunk in memory at a time.
pub fn big_evtx(
    path: &std::path::Path,
    channel: &str,
    target: u64,
    seed: u64,
) -> std::io::Result<u64> {
    use chrono::TimeZone;
    use evtx_writer::{DataField, EventSpec, EvtxWriter};
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut w = EvtxWriter::new(file)?;
    let mut rng = crate::rng::Rng::new(seed);
    let mut t = chrono::Utc
        .with_ymd_and_hms(2011, 6, 1, 0, 0, 0)
        .single()
        .ok_or_else(|| std::io::Error::other("fixed start time"))?;
    let services = [
        "Windows Update",
        "Background Intelligent Transfer Service",
        "Microsoft Exchange Transport",
        "Application Experience",
        "WinHTTP Web Proxy Auto-Discovery Service",
    ];
    let mut record = 0u64;
    let mut written = 0u64;
    // Records average ~600 bytes once written; stop a little past the target.
    while written < target {
        record += 1;
        t += chrono::Duration::milliseconds(rng.range(200, 60_000) as i64);
        let relevant = rng.chance(1) && rng.chance(10);
        let ev = if relevant {
            EventSpec {
                provider: "Service Control Manager".into(),
                provider_guid: Some("{555908d1-a6d7-4695-8e1e-26931d2012f4}".into()),
                event_id: 7000,
                qualifiers: Some(49152),
                level: 2,
                keywords: Some(0x8080_0000_0000_0000),
                time: t,
                record_id: record,
                channel: channel.into(),
                computer: "EX01.contoso.local".into(),
                data: vec![
                    DataField::named("param1", "Microsoft Exchange Service Host"),
                    DataField::named("param2", "%%1058"),
                ],
                ..EventSpec::default()
            }
        } else {
            let svc = *rng.pick(&services);
            let running = rng.chance(50);
            EventSpec {
                provider: "Service Control Manager".into(),
                provider_guid: Some("{555908d1-a6d7-4695-8e1e-26931d2012f4}".into()),
                event_id: 7036,
                qualifiers: Some(16384),
                level: 4,
                keywords: Some(0x8080_0000_0000_0000),
                time: t,
                record_id: record,
                channel: channel.into(),
                computer: "EX01.contoso.local".into(),
                data: vec![
                    DataField::named("param1", svc),
                    DataField::named("param2", if running { "running" } else { "stopped" }),
                    DataField::named("Binary", rng.hex(24)),
                ],
                ..EventSpec::default()
            }
        };
        w.push(&ev)?;
        if record.is_multiple_of(1024) {
            written = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        }
    }
    w.finish()?;
    Ok(record)
}

/// A bundle folder holding the seed's services, `bytes` of System and Application EVTX, and
/// the seed's setup log, or one of `setup_log` bytes when given (the single large bundle of
/// the batch issue: 1 GiB of EVTX and a 200 MB setup log).
pub fn big_evtx_bundle(
    dir: &std::path::Path,
    bytes: u64,
    setup_log: Option<usize>,
) -> std::io::Result<u64> {
    let mut b = match setup_log {
        Some(size) => big_setup_bundle(size),
        None => scenarios::exchange2010_sp2(true),
    };
    b.manifest(None);
    b.write(dir, crate::Form::Folder)?;
    std::fs::create_dir_all(dir.join("evtx"))?;
    let half = bytes / 2;
    let a = big_evtx(&dir.join("evtx/System.evtx"), "System", half, 1)?;
    let c = big_evtx(
        &dir.join("evtx/Application.evtx"),
        "Application",
        bytes - half,
        2,
    )?;
    Ok(a + c)
}
