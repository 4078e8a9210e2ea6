//! applicationHost.config bytes → the IIS server-configuration parser.

use super::check_parser_output;
use exhume::parse::{Sink, apphost};

const PATH: &str = "iis/applicationHost.config";

/// One execution of the target.
pub fn run(data: &[u8]) {
    let mut sink = Sink::default();
    let mut r: &[u8] = data;
    let _ = apphost::parse_reader(&mut r, PATH, 64, &mut sink);
    check_parser_output(PATH, data, &sink.facts, &sink.problems);
}
