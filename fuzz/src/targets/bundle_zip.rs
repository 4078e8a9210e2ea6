//! Zip bytes → `Bundle::open` on a file in tmpfs, then every member read through the limits.
//!
//! Properties: names are normalised and unique (case-insensitively), no member yields more than
//! the per-file limit nor the bundle more than the total, every member read gets a hash or an
//! error, and nothing is written beside the bundle.

use super::{fresh_dir, fuzz_limits};
use exhume::bundle::{Bundle, normalise_name};
use std::collections::HashSet;

/// One execution of the target.
pub fn run(data: &[u8]) {
    let dir = fresh_dir("zip");
    let path = dir.join("bundle.zip");
    std::fs::write(&path, data).expect("write zip");
    let limits = fuzz_limits();
    let Ok(bundle) = Bundle::open(&path, &limits) else {
        return;
    };
    assert!(bundle.entries.len() <= limits.max_entries);
    let mut seen = HashSet::new();
    for e in &bundle.entries {
        assert_eq!(normalise_name(&e.path).as_deref(), Ok(e.path.as_str()));
        assert!(seen.insert(e.path.to_lowercase()), "duplicate {}", e.path);
    }
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for e in &bundle.entries {
        let read = bundle.with_reader(e, |r| {
            let mut n = 0u64;
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Ok(n),
                    Ok(k) => n += k as u64,
                    Err(err) => return Err(err),
                }
            }
        });
        if let Ok(Ok(n)) = read {
            assert!(n <= limits.max_file_bytes, "{n} bytes from one member");
            total += n;
        }
    }
    assert!(
        total <= limits.max_total_bytes,
        "{total} bytes from the bundle"
    );
    let hashed: HashSet<String> = bundle.member_hashes().into_iter().map(|h| h.0).collect();
    for e in &bundle.entries {
        assert!(hashed.contains(&e.path), "{} read but not hashed", e.path);
    }
    if let (Some(m), Some(c)) = (&bundle.manifest, bundle.custody()) {
        assert!(c.verified + c.missing.len() + c.altered.len() <= m.files.len());
    }
    let left: Vec<_> = std::fs::read_dir(&dir).expect("list").collect();
    assert_eq!(left.len(), 1, "something was written beside the bundle");
}
