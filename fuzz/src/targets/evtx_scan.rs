//! One 64 KiB EVTX chunk → exhume's own raw record scan (template shapes and substitution
//! values read in place, `src/parse/evtx/scan.rs`), without the per-chunk panic guard.

/// The smallest record (24-byte header + 4-byte trailer) bounds a chunk's count.
const MAX_RECORDS: u64 = (65536 - 512) / 28;

/// One execution of the target: the input, cut or zero-padded to a chunk.
pub fn run(data: &[u8]) {
    let mut chunk = data.to_vec();
    chunk.resize(65536, 0);
    let Some((counted, left)) = exhume::parse::evtx::scan_chunk(chunk) else {
        return;
    };
    assert!(
        counted + left.len() as u64 <= MAX_RECORDS,
        "{counted} counted and {} left: more records than a chunk holds",
        left.len()
    );
    assert!(
        left.windows(2).all(|w| w[0] < w[1]),
        "records left for the crate out of order: {left:?}"
    );
    assert!(
        left.iter().all(|o| (512 + 24..65536).contains(o)),
        "a record left outside the chunk: {left:?}"
    );
}
