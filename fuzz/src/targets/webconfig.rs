//! web.config bytes → the web.config parser. The first byte chooses how the backup beside it
//! is presented: none, the file itself is a `.bak`, or a sibling `.bak` made of the rest of the
//! input after a member separator (so the comparison code is fuzzed too).

use super::{MEMBER_SEP, check_parser_output};
use exhume::parse::Sink;
use exhume::parse::webconfig::{self, Backup};

/// One execution of the target.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (file, bak) = match rest.windows(MEMBER_SEP.len()).position(|w| w == MEMBER_SEP) {
        Some(i) => (&rest[..i], Some(&rest[i + MEMBER_SEP.len()..])),
        None => (rest, None),
    };
    let (path, backup) = match (mode % 3, bak) {
        (1, _) => (
            "iis/webconfig/ClientAccess/Owa/web.config.bak",
            Backup::IsBackup,
        ),
        (2, Some(b)) => {
            let mut r: &[u8] = b;
            let sig = webconfig::signature(&mut r, 64, 1 << 20);
            (
                "iis/webconfig/ClientAccess/Owa/web.config",
                Backup::Sibling(sig),
            )
        }
        _ => ("iis/webconfig/ClientAccess/Owa/web.config", Backup::Absent),
    };
    let mut sink = Sink::default();
    let mut r: &[u8] = file;
    let _ = webconfig::parse_reader(&mut r, path, 64, backup, &mut sink);
    check_parser_output(path, file, &sink.facts, &sink.problems);
    // Every token reported is `%NAME%` and sits in the attribute value it is cited from.
    for f in &sink.facts {
        if let exhume::facts::FactKind::UnexpandedToken(t) = &f.kind {
            assert!(
                t.token.len() >= 3 && t.token.starts_with('%') && t.token.ends_with('%'),
                "not a %TOKEN%: {:?}",
                t.token
            );
            assert!(t.value.contains(&t.token), "token not in its value");
        }
    }
}
