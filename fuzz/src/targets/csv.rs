//! CSV bytes → the services, software, file-versions or inventory parser (first byte chooses),
//! read from a one-file folder bundle as `analyze` reads it.

use super::{check_parser_output, fresh_dir, fuzz_limits, write_members};
use exhume::bundle::Bundle;
use exhume::parse::{Interest, parse_bundle};

const PATHS: &[&str] = &[
    "system/services.csv",
    "system/software.csv",
    "system/file-versions.csv",
    "system/inventory.csv",
];

/// One execution of the target.
pub fn run(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let path = PATHS[which as usize % PATHS.len()];
    let dir = fresh_dir("csv");
    write_members(&dir, &[(path, bytes)]);
    let bundle = Bundle::open(&dir, &fuzz_limits()).expect("a one-file folder opens");
    let parsed = parse_bundle(&bundle, &Interest::default());
    let used = parsed.used.iter().any(|p| p == path);
    let skipped = parsed.skipped.iter().any(|s| s.path == path);
    assert!(used != skipped, "{path}: used {used}, skipped {skipped}");
    if skipped {
        assert!(parsed.facts.is_empty(), "a skipped file yielded facts");
    }
    check_parser_output(path, bytes, &parsed.facts, &parsed.problems);
}
