//! A bundle holding secrets in clear (an older collector, a hand-made bundle): exhume says so,
//! and no output of any command, format or option prints a secret.

use std::path::Path;
use std::process::Command;

const VALIDATION: &str = "9A2F4C6E8B0D1F3A5C7E9B1D3F5A7C9E0B2D4F6A8C1E3B5D7F9A0C2E4B6D8F1A";
const DECRYPTION: &str = "7C1E3A5B9D0F2C4E6A8B1D3F5E7A9C0B2D4F6E8A";
const PASSWORD: &str = "Winter2024!Ex";

/// The healthy 2010 sample, written as a folder, with an ecp web.config carrying a real-looking
/// machineKey and a connection string with its password, as a collector before 1.1 copied them.
fn bundle_with_secrets(dir: &Path) {
    let mut b = samplegen::scenarios::exchange2010_sp2(false);
    let install = samplegen::scenarios::INSTALL_2010;
    let text = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <connectionStrings>\r\n    <add name=\"Reporting\" connectionString=\"Data Source=SQL01;Initial Catalog=ExReports;User ID=exrep;Password={PASSWORD};\" />\r\n    <add name=\"Local\" connectionString=\"Data Source=%ExchangeInstallDir%ClientAccess\\ecp\\App_Data\\x.sdf;Password={PASSWORD}\" />\r\n  </connectionStrings>\r\n  <system.web>\r\n    <machineKey validationKey=\"{VALIDATION}\" decryptionKey=\"{DECRYPTION}\" validation=\"HMACSHA256\" decryption=\"AES\" />\r\n  </system.web>\r\n</configuration>\r\n"
    );
    b.file(
        "iis/webconfig/ClientAccess/ecp/web.config",
        &format!("{install}ClientAccess\\ecp\\web.config"),
        text.into_bytes(),
    );
    b.write(dir, samplegen::Form::Folder).unwrap();
}

fn exhume(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_exhume"))
        .args(args)
        .output()
        .expect("run exhume");
    assert!(
        out.status.code().is_some_and(|c| c != 2),
        "exhume {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn read_tree(dir: &Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            read_tree(&p, out);
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
}

#[test]
fn secrets_are_reported_and_never_printed() {
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    bundle_with_secrets(&bundle);
    let b = bundle.to_str().unwrap();
    // The secrets are really in the bundle: the check below can fail.
    let raw =
        std::fs::read_to_string(bundle.join("iis/webconfig/ClientAccess/ecp/web.config")).unwrap();
    assert!(raw.contains(VALIDATION) && raw.contains(PASSWORD));

    let mut outputs = Vec::new();
    for redact in [false, true] {
        for format in ["text", "md", "json", "html"] {
            let mut args = vec!["analyze", b, "--format", format];
            if redact {
                args.push("--redact");
            }
            outputs.push((format!("analyze {format} redact={redact}"), exhume(&args)));
        }
        for format in ["csv", "jsonl"] {
            let mut args = vec!["timeline", b, "--format", format];
            if redact {
                args.push("--redact");
            }
            outputs.push((format!("timeline {format} redact={redact}"), exhume(&args)));
        }
    }
    let out_dir = work.path().join("batch");
    exhume(&[
        "batch",
        b,
        "--out",
        out_dir.to_str().unwrap(),
        "--format",
        "text",
        "--format",
        "md",
        "--format",
        "html",
    ]);
    let mut batch = String::new();
    read_tree(&out_dir, &mut batch);
    assert!(batch.len() > 1000, "batch wrote little: {batch}");
    outputs.push(("batch".into(), batch));

    for (what, out) in &outputs {
        for secret in [VALIDATION, DECRYPTION, PASSWORD] {
            assert!(!out.contains(secret), "{what} prints a secret");
        }
    }
    // Every report says the bundle holds secrets (the timeline lists events, not findings).
    for (what, out) in outputs.iter().filter(|(w, _)| !w.starts_with("timeline")) {
        assert!(
            out.contains("This bundle contains secrets: delete it after analysis")
                || out.contains("bundle-contains-secrets"),
            "{what} does not say the bundle holds secrets"
        );
    }
    // A collector-redacted copy is no finding.
    let clean = raw
        .replace(VALIDATION, "REMOVED-BY-COLLECTOR")
        .replace(DECRYPTION, "REMOVED-BY-COLLECTOR")
        .replace(PASSWORD, "REMOVED-BY-COLLECTOR");
    std::fs::write(
        bundle.join("iis/webconfig/ClientAccess/ecp/web.config"),
        clean,
    )
    .unwrap();
    let json = exhume(&["analyze", b, "--format", "json"]);
    assert!(!json.contains("bundle-contains-secrets"));
}
