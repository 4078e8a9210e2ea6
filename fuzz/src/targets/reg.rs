//! `.reg` export bytes (UTF-16 or REGEDIT4) → the registry parser.

use super::check_parser_output;
use exhume::facts::{FactKind, Position};
use exhume::parse::{Sink, reg};

const PATH: &str = "registry/ExchangeServer.reg";

/// One execution of the target.
pub fn run(data: &[u8]) {
    let mut sink = Sink::default();
    let mut r: &[u8] = data;
    let _ = reg::parse_reader(&mut r, PATH, 4096, &mut sink);
    check_parser_output(PATH, data, &sink.facts, &sink.problems);
    for f in &sink.facts {
        // Registry facts are cited by key: the locator must say which.
        if matches!(
            f.kind,
            FactKind::RoleState(_) | FactKind::InstallPath(_) | FactKind::ServiceRegistry(_)
        ) {
            assert!(
                matches!(f.evidence.locator.at, Position::Key(_) | Position::Line(_)),
                "registry fact without key or line: {:?}",
                f.evidence.locator
            );
        }
    }
}
