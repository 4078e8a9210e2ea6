//! Fixture helpers shared by the integration tests: temporary bundles built from bytes.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// A zip with the given members, Deflate-compressed, names written exactly as given.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zw.start_file(*name, opts).expect("start member");
        zw.write_all(bytes).expect("write member");
    }
    zw.finish().expect("finish zip").into_inner()
}

/// Writes `bytes` to `name` inside a fresh temp dir and returns (dir guard, path).
pub fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).expect("write temp file");
    (dir, p)
}

/// A folder bundle with the given files.
pub fn temp_folder(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    }
    dir
}

pub fn analyze(path: &Path) -> exhume::Analysis {
    exhume::analyze(path, &exhume::Options::default()).expect("bundle analyses")
}

pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The seed incident's bundle members, as the sample generator makes them.
pub fn seed_members() -> Vec<(String, Vec<u8>)> {
    samplegen::scenarios::exchange2010_sp2(true).contents()
}

/// Runs the exhume binary.
pub fn exhume(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_exhume"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run exhume")
}
