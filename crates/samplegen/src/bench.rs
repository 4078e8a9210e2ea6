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
