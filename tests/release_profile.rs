//! The release binary an analyst installs stays small (≤ 10 MB): building it in a test would take
//! minutes, so this checks the profile that makes it so; the size itself is measured by
//! `benches/release-size.sh` (docs/performance.md gives the figure).

#[test]
fn release_profile_strips_and_links_with_lto_and_keeps_unwinding() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let release = manifest["profile"]["release"]
        .as_table()
        .expect("[profile.release]");
    assert_eq!(
        release.get("strip"),
        Some(&toml::Value::Boolean(true)),
        "symbols stripped"
    );
    assert_eq!(
        release.get("lto"),
        Some(&toml::Value::Boolean(true)),
        "link-time optimised"
    );
    // The pipeline catches a parser's panic (the artefact is reported read in part): aborting
    // would turn one damaged file into a crashed analysis.
    assert_ne!(release.get("panic").and_then(|v| v.as_str()), Some("abort"));
    assert!(
        release
            .get("debug")
            .is_none_or(|d| d.as_bool() == Some(false) || d.as_integer() == Some(0)),
        "no debug info in the shipped binary"
    );
}

/// Portable code: Unix-only APIs appear only under `cfg(unix)`.
#[test]
fn no_unix_only_api_outside_cfg_unix() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut files,
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.contains("std::os::unix") || l.contains("libc::") {
                let guarded = lines[..i]
                    .iter()
                    .rev()
                    .take(3)
                    .any(|p| p.contains("cfg(unix)"));
                assert!(
                    guarded,
                    "{}:{}: Unix-only API outside cfg(unix)",
                    f.display(),
                    i + 1
                );
            }
        }
    }
}
