//! `ExchangeSetup.log` bytes → the setup-log parser, with a rule-like interest so `SetupLine`
//! facts are made too.

use super::check_parser_output;
use exhume::parse::{Sink, setup_log};
use std::sync::LazyLock;

const PATH: &str = "setup/ExchangeSetup.log";

static INTEREST: LazyLock<exhume::parse::LineSet> = LazyLock::new(|| {
    exhume::parse::LineSet::new([r"(?i)cannot start service", r"(?i)\[ERROR\]", r"Watermark"])
        .expect("interest compiles")
});

/// One execution of the target.
pub fn run(data: &[u8]) {
    let mut sink = Sink::default();
    let mut r: &[u8] = data;
    let result = setup_log::parse_reader(&mut r, PATH, 4096, Some(&INTEREST), &mut sink);
    check_parser_output(PATH, data, &sink.facts, &sink.problems);
    // Runs are numbered 0, 1, 2… in file order, at most one is the last, and a file the parser
    // refused yields no run.
    let runs: Vec<_> = sink
        .facts
        .iter()
        .filter_map(|f| match &f.kind {
            exhume::facts::FactKind::SetupRun(r) => Some(r),
            _ => None,
        })
        .collect();
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r.index, i, "runs out of order");
        assert_eq!(r.is_last, i + 1 == runs.len(), "is_last on run {i}");
    }
    if result.is_err() {
        assert!(runs.is_empty(), "a refused file yielded runs");
    }
}
