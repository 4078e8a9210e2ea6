//! manifest.json bytes → `Manifest::from_slice`. A manifest accepted once is accepted again
//! after a round trip through JSON, with the same files, and its major version is the one read.

use exhume::bundle::Manifest;
use exhume::bundle::manifest::SCHEMA_MAJOR;

/// One execution of the target.
pub fn run(data: &[u8]) {
    let Ok(m) = Manifest::from_slice(data) else {
        return;
    };
    // As a number: "01.x" is major 1 too (first found by this target, see tests/hostile/fuzz).
    let major = m.schema_version.split('.').next().map(str::trim);
    assert_eq!(
        major.and_then(|s| s.parse::<u64>().ok()),
        Some(SCHEMA_MAJOR)
    );
    let again = serde_json::to_vec(&m).expect("a manifest serialises");
    let m2 = Manifest::from_slice(&again).expect("a serialised manifest reads back");
    assert_eq!(m.files.len(), m2.files.len());
    for (a, b) in m.files.iter().zip(&m2.files) {
        assert_eq!((&a.path, a.size, &a.sha256), (&b.path, b.size, &b.sha256));
    }
    assert_eq!(m.utc_offset_minutes(), m2.utc_offset_minutes());
}
