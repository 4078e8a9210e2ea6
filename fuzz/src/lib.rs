//! What every fuzz target shares: a scratch folder on tmpfs, the member framing of the
//! multi-file targets, and the properties every parser's output must have.
//!
//! The properties are the guarantees of `docs/security.md` restated as assertions: a locator
//! names the file that was read and points inside it, an excerpt is one screen line, every
//! bundle member is used or skipped (never dropped), and damaged evidence never reads as healthy.

pub mod targets;

use exhume::bundle::{ArtefactKind, Limits};
use exhume::facts::{Evidence, Fact, FactKind, Position, Problem};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Splits members in the multi-file targets' inputs: `[path index byte][bytes]` chunks
/// separated by this marker. Seeds use the same framing (see `src/bin/make_seeds.rs`).
pub const MEMBER_SEP: &[u8] = b"\n\x00EXHUME-MEMBER\x00\n";

/// Where the multi-file targets put member `i` (the index byte modulo the table's length).
/// One path per artefact kind of the layout, plus an unknown file; EVTX is left out because
/// the EVTX parser catches panics of the `evtx` crate per chunk, which libFuzzer's abort-on-panic
/// hook would report as crashes of exhume (the EVTX parser is covered by its own tests).
pub const PIPELINE_PATHS: &[&str] = &[
    "manifest.json",
    "setup/ExchangeSetup.log",
    "setup/ServiceControl.log",
    "registry/ExchangeServer.reg",
    "registry/Services.reg",
    "iis/applicationHost.config",
    "iis/webconfig/ClientAccess/Owa/web.config",
    "iis/webconfig/ClientAccess/Owa/web.config.bak",
    "system/services.csv",
    "system/software.csv",
    "system/file-versions.csv",
    "system/inventory.csv",
    "system/acl/ExchangeInstallDir.txt",
    "system/host.json",
    "collector.log",
    "notes/readme.txt",
];

/// Limits small enough that one input cannot make an execution slow, large enough that the
/// samples are read whole.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_entries: 64,
        max_total_bytes: 64 << 20,
        max_file_bytes: 16 << 20,
        max_line_bytes: 64 << 10,
        max_xml_depth: 64,
        max_events_kept: 10_000,
        ..Limits::default()
    }
}

/// A private folder on tmpfs (`/dev/shm` when there is one) for this fuzzing process.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let b = tempfile::Builder::new()
            .prefix("exhume-fuzz-")
            .tempdir_in(if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            });
        b.expect("scratch folder")
    })
    .path()
}

/// Removes the scratch folder and what is in it (the test suite calls this after replaying;
/// [`fresh_dir`] makes it again when needed).
pub fn remove_scratch() {
    let _ = std::fs::remove_dir_all(scratch());
}

/// A fresh, empty folder under [`scratch`] named `name`.
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = scratch().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create bundle folder");
    d
}

/// `(path, bytes)` members of a framed input; a later member with the same path replaces an
/// earlier one.
pub fn split_members(data: &[u8]) -> Vec<(&'static str, &[u8])> {
    let mut out: Vec<(&'static str, &[u8])> = Vec::new();
    let mut rest = data;
    loop {
        let (chunk, next) = match find(rest, MEMBER_SEP) {
            Some(i) => (&rest[..i], Some(&rest[i + MEMBER_SEP.len()..])),
            None => (rest, None),
        };
        if let Some((&idx, bytes)) = chunk.split_first() {
            let path = PIPELINE_PATHS[idx as usize % PIPELINE_PATHS.len()];
            out.retain(|(p, _)| *p != path);
            out.push((path, bytes));
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    out
}

/// The framing [`split_members`] reads, for the seed writer.
pub fn join_members(members: &[(usize, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (idx, bytes)) in members.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(MEMBER_SEP);
        }
        out.push(*idx as u8);
        out.extend_from_slice(bytes);
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes members into `dir` at their layout paths.
pub fn write_members(dir: &Path, members: &[(&str, &[u8])]) {
    for (p, b) in members {
        let full = dir.join(p);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create member folder");
        }
        std::fs::write(full, b).expect("write member");
    }
}

/// Highest line number a reader can report for `bytes`: every decoded `\n` (UTF-8 or UTF-16,
/// either order) comes from a distinct 0x0A byte, and the last line needs no newline.
pub fn line_bound(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// Checks one piece of evidence: its locator names an allowed path and points inside the file,
/// and its excerpt is at most one screen line.
pub fn check_evidence(e: &Evidence, allowed: &dyn Fn(&str) -> bool, lines: &dyn Fn(&str) -> u64) {
    let path = &e.locator.path;
    assert!(
        allowed(path),
        "locator names a file that was not read: {path:?}"
    );
    let max = lines(path);
    match &e.locator.at {
        Position::File => {}
        Position::Line(n) => assert!((1..=max).contains(n), "line {n} outside 1..={max}"),
        Position::Lines(a, b) => {
            assert!(
                1 <= *a && a <= b && *b <= max,
                "lines {a}-{b} outside 1..={max}"
            )
        }
        // Rows are data rows: at most one per line after the header.
        Position::Row(r) => assert!((1..max).contains(r), "row {r} outside 1..{max}"),
        Position::Record(_) => {}
        Position::Key(k) => assert!(!k.is_empty(), "empty registry key locator"),
        Position::Element(x) => assert!(!x.is_empty(), "empty element locator"),
    }
    let n = e.excerpt.chars().count();
    assert!(n <= Evidence::MAX_EXCERPT, "excerpt of {n} chars");
}

/// Checks the facts and problems one parser produced for the single file `path` of `bytes`.
pub fn check_parser_output(path: &str, bytes: &[u8], facts: &[Fact], problems: &[Problem]) {
    let bound = line_bound(bytes);
    let allowed = |p: &str| p == path;
    let lines = |_: &str| bound;
    for f in facts {
        check_evidence(&f.evidence, &allowed, &lines);
        check_fact_lines(&f.kind, bound);
    }
    for p in problems {
        assert_eq!(
            p.path, path,
            "problem filed against another file: {}",
            p.message
        );
        assert!(!p.message.is_empty(), "problem without a message");
    }
}

/// Line numbers carried inside facts (not only in their locators) are inside the file too.
pub fn check_fact_lines(kind: &FactKind, bound: u64) {
    match kind {
        FactKind::SetupRun(r) => {
            assert!(
                1 <= r.first_line && r.first_line <= r.last_line && r.last_line <= bound,
                "run lines {}-{} outside 1..={bound}",
                r.first_line,
                r.last_line
            );
        }
        FactKind::SetupLine(l) => assert!((1..=bound).contains(&l.line), "setup line {}", l.line),
        _ => {}
    }
}

/// Whether a skipped member is evidence the verdict depends on (what `missing_evidence`
/// counts): any layout kind but message metadata.
pub fn is_evidence(path: &str) -> bool {
    matches!(exhume::bundle::classify(path), Some(k) if k != ArtefactKind::EvtxLocale)
}
