//! Stage benchmarks, run by `benches/run.sh` (`cargo bench --bench stages -- setup FILE`).
//!
//! A plain bench binary rather than criterion: the inputs are hundreds of megabytes, so a few
//! timed repetitions say more than many small samples, and the figure we need is MB/s per core.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup(args.get(1).expect("setup FILE")),
        _ => eprintln!("usage: stages setup FILE"),
    }
}

/// The setup-log stage alone, on one thread: decoding, line splitting, run/error grouping, and
/// matching every line against the catalogue's patterns (the interest of the built-in rules).
fn setup(path: &str) {
    let bytes = std::fs::read(path).expect("read the setup log");
    let opts = exhume::Options::default();
    let rules = exhume::analysis::load_rules(&opts).expect("rules load");
    let interest = exhume::analysis::interest_of(&rules, &opts).expect("patterns compile");
    let mb = bytes.len() as f64 / 1e6;
    let mut best = f64::MAX;
    let mut facts = 0;
    for _ in 0..3 {
        let mut sink = exhume::parse::Sink::default();
        let mut r: &[u8] = &bytes;
        let t = Instant::now();
        exhume::parse::setup_log::parse_reader(
            &mut r,
            "setup/ExchangeSetup.log",
            1 << 20,
            interest.setup_lines.as_ref(),
            &mut sink,
        )
        .expect("parses");
        best = best.min(t.elapsed().as_secs_f64());
        facts = sink.facts.len();
    }
    println!(
        "setup-log stage, 1 thread: {mb:.0} MB in {best:.3} s = {:.0} MB/s ({facts} facts kept)",
        mb / best
    );
}
