//! The collector, `collectors/Collect-ExchangeEvidence.ps1`, tested on a machine without
//! PowerShell: what can be checked here is checked for real, and each check is shown to fail on
//! a deliberately broken input.
//!
//! - syntax: tree-sitter-powershell parses the script with no ERROR or MISSING node;
//! - PS 2.0: no construct newer than Windows PowerShell 2.0 outside a feature-test guard;
//! - read-only: every command is defined in the script or an allowed read-only cmdlet, and no
//!   native tool is given a writing verb;
//! - contract: the bundle paths the script writes are exactly the `LAYOUT` table, both ways, and
//!   its manifest and host.json keys are the ones the analyser reads; docs/bundle-format.md lists
//!   every `LAYOUT` pattern; the comment-based help documents every parameter;
//! - fixture: a bundle laid out as the script writes one is analysed with no unknown file and
//!   every file verified against the manifest;
//! - localised: German, French, Spanish and unknown-language icacls output beside the SID
//!   listing, through the whole analysis;
//! - layout kinds: every `LAYOUT` kind read from a generated bundle shaped as the script writes
//!   it, or skipped by design with its reason;
//! - zip: the script's C# zip writer, compiled by mono's `mcs` in C# 2 mode, writes zips that
//!   exhume reads with `/` names, valid CRCs and an intact chain of custody (skipped, with a
//!   message, where mono is not installed).
//!
//! Helpers: `ps` (the script as a syntax tree), `lint` (PS 2.0 and read-only checks),
//! `contract` (paths, keys and headers read from the script), `fixture` (a bundle as the script
//! writes it), `zipwriter` (mono build of the C# zip writer).
//!
//! Not checkable here: that each cmdlet and .NET call behaves as expected on a real Windows
//! server; that is for a run on Windows PowerShell 2.0 and 5.1 (docs/collector.md).

#[path = "collector/contract.rs"]
mod contract;
#[path = "collector/fixture.rs"]
mod fixture;
#[path = "collector/layout_kinds.rs"]
mod layout_kinds;
#[path = "collector/lint.rs"]
mod lint;
#[path = "collector/localised.rs"]
mod localised;
#[path = "collector/ps.rs"]
mod ps;
#[path = "collector/zipwriter.rs"]
mod zipwriter;

use contract::*;
use exhume::bundle::layout::LAYOUT;
use exhume::facts::FactKind;
use fixture::*;
use lint::*;
use ps::*;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use zipwriter::*;

#[test]
fn script_parses_without_syntax_errors() {
    let src = script_source();
    let errors = syntax_errors(&src);
    assert!(
        errors.is_empty(),
        "{SCRIPT} has syntax errors:\n{}",
        errors.join("\n")
    );
    // A parse that silently stopped early would also have no errors: check it reached the end.
    let tree = parse(&src);
    assert!(tree.root_node().end_byte() + 1 >= src.trim_end().len());
    let functions = all_nodes(&tree)
        .into_iter()
        .filter(|n| n.kind() == "function_statement")
        .count();
    assert!(functions > 30, "only {functions} functions parsed");
}

#[test]
fn syntax_check_catches_a_broken_script() {
    let broken =
        "function Get-Thing {\n    param([string]$Path\n    Get-Item -LiteralPath $Path\n}\n";
    let errors = syntax_errors(broken);
    assert!(!errors.is_empty(), "a missing ')' went unnoticed");
    assert!(
        errors
            .iter()
            .all(|e| Regex::new(r"^\d+:\d+ ").unwrap().is_match(e)),
        "{errors:?}"
    );
    let unclosed = "if ($true) {\n    Write-Host 'x'\n";
    assert!(!syntax_errors(unclosed).is_empty());
}

#[test]
fn script_uses_nothing_newer_than_powershell_2() {
    let v = ps2_violations(&script_source());
    assert!(
        v.is_empty(),
        "{SCRIPT} uses constructs Windows PowerShell 2.0 lacks, outside a feature test:\n{}",
        v.join("\n")
    );
}

#[test]
fn ps2_check_catches_each_banned_construct() {
    let cases = [
        "$o = [ordered]@{ a = 1 }",
        "$o = [pscustomobject]@{ a = 1 }",
        "$j = $x | ConvertTo-Json",
        "$h = Get-FileHash -Path $p",
        "Compress-Archive -Path a -DestinationPath b.zip",
        "[System.IO.Compression.ZipFile]::CreateFromDirectory('a', 'b')",
        "Add-Type -AssemblyName 'System.IO.Compression.FileSystem'",
        "$os = Get-CimInstance Win32_OperatingSystem",
        "if ('a' -in $list) { 1 }",
        "$x = 1 -shl 4",
        "$here = $PSScriptRoot",
        "$sb = [System.Text.StringBuilder]::new()",
        "$big = $items.Where({ $_ -gt 1 })",
        "Get-ChildItem -Path C:\\ -File",
        "Get-Content -Path a.txt -Raw",
        "Get-Item x -ErrorAction Ignore",
        "Set-Content -Path a -Value b -NoNewline",
        "class Thing { [string]$Name }",
    ];
    for case in cases {
        assert!(
            syntax_errors(case).is_empty(),
            "test case does not parse: {case}"
        );
        assert!(
            !ps2_violations(case).is_empty(),
            "not caught as newer than PowerShell 2.0: {case}"
        );
    }
    // Behind a feature test, the same constructs are allowed; outside it (else), they are not.
    let guarded = "if ($PSVersionTable.PSVersion.Major -ge 3) {\n    $o = [pscustomobject]@{ a = 1 }\n    $j = $o | ConvertTo-Json\n}\n";
    assert_eq!(ps2_violations(guarded), Vec::<String>::new());
    let probed = "if (Get-Command Get-FileHash -ErrorAction SilentlyContinue) {\n    $h = Get-FileHash -Path $p\n}\n";
    assert_eq!(ps2_violations(probed), Vec::<String>::new());
    let in_else = "if ($PSVersionTable.PSVersion.Major -ge 3) {\n    $a = 1\n}\nelse {\n    $o = [ordered]@{ a = 1 }\n}\n";
    assert_eq!(ps2_violations(in_else).len(), 1);
    let not_a_guard = "if ($x -gt 3) {\n    $o = [ordered]@{ a = 1 }\n}\n";
    assert_eq!(ps2_violations(not_a_guard).len(), 1);
    // PowerShell 2.0 forms that look alike are not flagged.
    let fine = "$a = New-Object PSObject -Property @{ a = 1 }\n$b = $x -band 4\n$c = @($list) -contains 'a'\n$d = $MyInvocation.MyCommand.Path\nGet-ChildItem -Path C:\\ | Where-Object { -not $_.PSIsContainer }\n";
    assert_eq!(ps2_violations(fine), Vec::<String>::new());
}

#[test]
fn script_only_reads_and_calls_known_commands() {
    let risks = write_risks(&script_source());
    assert!(risks.is_empty(), "{}", risks.join("\n"));
}

#[test]
fn read_only_check_catches_writes_and_unknown_commands() {
    let cases = [
        "Set-ItemProperty -Path HKLM:\\SOFTWARE\\x -Name a -Value 1",
        "Stop-Service -Name MSExchangeIS",
        "Write-CollectorLogs -Level 'INFO' -Message 'typo'",
        "$r = Invoke-Native -FilePath 'sc.exe' -Arguments @('config', 'x')",
        "$r = Invoke-Native -FilePath (Get-SystemTool 'reg.exe') -Arguments @('delete', 'HKLM\\x', '/f')",
        "$r = Invoke-Native -FilePath (Get-SystemTool 'wevtutil.exe') -Arguments @('cl', 'Application')",
        "$r = Invoke-Native -FilePath (Get-SystemTool 'icacls.exe') -Arguments @($d, '/grant', 'Everyone:F')",
    ];
    let defs = "function Invoke-Native {\n    param($FilePath, $Arguments)\n}\nfunction Get-SystemTool {\n    param($Name)\n}\n";
    for case in cases {
        let src = format!("{defs}{case}\n");
        assert!(syntax_errors(&src).is_empty(), "does not parse: {case}");
        assert!(!write_risks(&src).is_empty(), "not caught: {case}");
    }
    let fine = format!(
        "{defs}$r = Invoke-Native -FilePath (Get-SystemTool 'reg.exe') -Arguments @('export', 'HKLM\\x', $t, '/y')\nGet-ChildItem -Path C:\\ | Where-Object {{ $_ }}\n"
    );
    assert_eq!(write_risks(&fine), Vec::<String>::new());
}

#[test]
fn script_writes_exactly_the_layout() {
    let templates = bundle_templates(&script_source()).unwrap_or_else(|e| {
        panic!(
            "{SCRIPT} breaks the bundle-path convention:\n{}",
            e.join("\n")
        )
    });
    assert!(templates.len() >= LAYOUT.len(), "{templates:?}");
    let gaps = contract_gaps(&templates);
    assert!(
        gaps.is_empty(),
        "{SCRIPT} and src/bundle/layout.rs disagree:\n{}",
        gaps.join("\n")
    );
}

#[test]
fn contract_check_catches_drift_both_ways() {
    let script = |body: &str| {
        format!(
            "function Copy-ToBundle {{\n    param([string]$BundlePath, [string]$Source)\n    Register-BundleFile -Name $BundlePath\n}}\n{body}\n"
        )
    };
    // A path the analyser does not know.
    let src = script(
        "Copy-ToBundle -BundlePath 'system/notes.txt' -Source 'a'\nCopy-ToBundle -BundlePath 'setup/{Name}.log' -Source 'b'",
    );
    let templates = bundle_templates(&src).unwrap();
    let gaps = contract_gaps(&templates);
    assert!(
        gaps.iter().any(|g| g.contains("system/notes.txt")),
        "{gaps:?}"
    );
    // LAYOUT patterns the script does not produce.
    assert!(
        gaps.iter().any(|g| g.contains("\"evtx/*.evtx\"")),
        "{gaps:?}"
    );
    // A placeholder that can change the artefact kind.
    let src = script("Copy-ToBundle -BundlePath 'setup/{Name}' -Source 'a'");
    let gaps = contract_gaps(&bundle_templates(&src).unwrap());
    assert!(
        gaps.iter().any(|g| g.contains("no LAYOUT pattern")),
        "{gaps:?}"
    );
    // Paths that cannot be read from the script.
    let src = script(
        "Copy-ToBundle -BundlePath $where -Source 'a'\nCopy-ToBundle -BundlePath (\"setup/\" + $n) -Source 'b'\nCopy-ToBundle -Source 'c'\nRegister-BundleFile -Name 'x/y'",
    );
    let errors = bundle_templates(&src).unwrap_err();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].contains("single-quoted literal"), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("without -BundlePath")));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Register-BundleFile called from the script body"))
    );
}

#[test]
fn bundle_format_doc_lists_every_layout_pattern() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/bundle-format.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    assert_eq!(undocumented_patterns(&doc), Vec::<&str>::new());
    // A doc that lost a row is caught.
    let cut: String = doc
        .lines()
        .filter(|l| !l.starts_with("| `system/host.json`"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(undocumented_patterns(&cut), vec!["system/host.json"]);
}

#[test]
fn script_writes_the_manifest_and_host_keys_the_analyser_reads() {
    let src = script_source();
    let missing = |have: &BTreeSet<String>, want: &[&str]| -> Vec<String> {
        want.iter()
            .filter(|k| !have.contains(**k))
            .map(|k| k.to_string())
            .collect()
    };
    // src/bundle/manifest.rs
    let top = assigned_keys(&src, "m", None);
    let want_top = [
        "schema_version",
        "collector",
        "host",
        "collected_utc",
        "time_zone",
        "exchange",
        "files",
        "not_collected",
    ];
    assert_eq!(missing(&top, &want_top), Vec::<String>::new());
    assert!(src.contains("$script:SchemaVersion = '1.0'"));
    let collector = assigned_keys(&src, "collector", None);
    assert_eq!(
        missing(&collector, &["name", "version", "powershell"]),
        Vec::<String>::new()
    );
    let host = assigned_keys(&src, "h", None);
    assert_eq!(
        missing(&host, &["computer_name", "fqdn", "domain"]),
        Vec::<String>::new()
    );
    let tz = assigned_keys(&src, "tz", None);
    assert_eq!(
        missing(&tz, &["utc_offset_minutes", "id"]),
        Vec::<String>::new()
    );
    let ex = assigned_keys(&src, "ex", None);
    assert_eq!(
        missing(&ex, &["install_path", "version"]),
        Vec::<String>::new()
    );
    let file = assigned_keys(&src, "entry", Some("Register-BundleFile"));
    assert_eq!(
        missing(
            &file,
            &["path", "source", "size", "sha256", "method", "truncated"]
        ),
        Vec::<String>::new()
    );
    let not_collected = assigned_keys(&src, "entry", Some("Add-NotCollected"));
    assert_eq!(
        missing(&not_collected, &["what", "why"]),
        Vec::<String>::new()
    );
    // system/host.json: the key names the host parser reads.
    let host_json = assigned_keys(&src, "h", Some("Get-HostFacts"));
    assert_eq!(
        missing(
            &host_json,
            &[
                "computer_name",
                "domain",
                "os",
                "pending_reboot",
                "dotnet_release",
                "utc_offset_minutes",
                "time_zone_id",
            ]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn fixture_is_laid_out_as_the_script_writes() {
    // Keeps the fixture honest: its names and CSV headers are the script's.
    let src = script_source();
    let templates = bundle_templates(&src).expect("the script's bundle paths are readable");
    let regexes: Vec<_> = templates.iter().map(|t| template_regex(&t.path)).collect();
    let headers = script_csv_headers(&src);
    let mut kinds = BTreeSet::new();
    for (path, bytes) in fixture_files() {
        assert!(
            regexes.iter().any(|r| r.is_match(&path)),
            "the fixture's {path} is not a path the script writes"
        );
        kinds.insert(layout_index(&path).expect("classified"));
        if path.ends_with(".csv") {
            let text = String::from_utf8(bytes).unwrap();
            let first = text.trim_start_matches('\u{feff}').lines().next().unwrap();
            let cols: Vec<String> = first
                .split(',')
                .map(|c| c.trim_matches('"').to_string())
                .collect();
            assert!(
                headers.contains(&cols),
                "{path}: header {cols:?} is not one the script writes ({headers:?})"
            );
        }
    }
    kinds.insert(layout_index("manifest.json").unwrap());
    assert_eq!(
        kinds.len(),
        LAYOUT.len(),
        "the fixture lacks a LAYOUT pattern"
    );
}

#[test]
fn fixture_bundle_is_fully_understood() {
    let dir = tempfile::tempdir().unwrap();
    let listed = write_fixture(dir.path());
    let a = exhume::analyze(dir.path(), &exhume::Options::default()).unwrap();
    let defects = bundle_defects(&a, listed);
    assert!(defects.is_empty(), "{defects:#?}");
    // The parsers that exist read what the script writes (the others, still being written,
    // may list their files as "no parser for this artefact in this build").
    let has = |f: &dyn Fn(&FactKind) -> bool| a.facts.iter().any(|x| f(&x.kind));
    assert!(a.facts.runs().next().is_some(), "no setup run read");
    assert!(has(
        &|k| matches!(k, FactKind::Service(s) if s.name == "MSExchangeIS" && s.start_mode == "Auto")
    ));
    assert!(has(
        &|k| matches!(k, FactKind::Software(s) if s.name == "Microsoft Exchange Server")
    ));
    assert!(has(
        &|k| matches!(k, FactKind::FileVersion(v) if v.version == "15.01.2507.006")
    ));
    assert!(has(
        &|k| matches!(k, FactKind::FileEntry(e) if e.path.ends_with("exppw.dll") && e.size == Some(91512))
    ));
    assert_eq!(a.diagnosis.clock.offset_minutes, 60);
}

#[test]
fn fixture_check_catches_unknown_and_altered_files() {
    let dir = tempfile::tempdir().unwrap();
    let listed = write_fixture(dir.path());
    std::fs::write(dir.path().join("notes.txt"), b"what the admin tried").unwrap();
    let services = dir.path().join("system/services.csv");
    let mut bytes = std::fs::read(&services).unwrap();
    bytes.extend_from_slice(b"\"Extra\",\"x\",\"Auto\",\"Running\",\"\",\"\"\r\n");
    std::fs::write(&services, bytes).unwrap();
    std::fs::remove_file(dir.path().join("system/acl/owa-auth.txt")).unwrap();
    let a = exhume::analyze(dir.path(), &exhume::Options::default()).unwrap();
    let defects = bundle_defects(&a, listed);
    let has = |s: &str| defects.iter().any(|d| d.contains(s));
    assert!(has("skipped notes.txt: unknown file"), "{defects:#?}");
    assert!(has("extra: notes.txt"), "{defects:#?}");
    assert!(has("altered: system/services.csv"), "{defects:#?}");
    assert!(has("missing: system/acl/owa-auth.txt"), "{defects:#?}");
    assert!(has("verified"), "{defects:#?}");
}

#[test]
fn zip_writer_writes_zips_exhume_reads() {
    let work = tempfile::tempdir().unwrap();
    let Some(exe) = build_zip_writer(work.path()) else {
        return;
    };
    // The fixture, zipped in the script's order (manifest first), then analysed as a zip.
    let folder = work.path().join("bundle");
    let listed = write_fixture(&folder);
    let mut members = vec![(folder.join("manifest.json"), "manifest.json".to_string())];
    for (path, _) in fixture_files() {
        members.push((folder.join(&path), path));
    }
    // Plus the cases the writer must get right: incompressible (stored), empty, large.
    let extra = work.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    let mut noise = vec![0u8; 300_000];
    let mut x = 0x2545_F491_u32;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let big: Vec<u8> = (0..3_000_000u32)
        .flat_map(|i| format!("[03/11/2022 15:43:05.0713] [1] line {i}\r\n").into_bytes())
        .take(3_000_000)
        .collect();
    let cases: [(&str, &[u8]); 3] = [("noise.bin", &noise), ("empty.log", b""), ("big.log", &big)];
    let zip_only = work.path().join("cases.zip");
    let mut case_members = Vec::new();
    for (name, bytes) in cases {
        let p = extra.join(name);
        std::fs::write(&p, bytes).unwrap();
        case_members.push((p, format!("setup/{name}")));
    }

    let zip = work.path().join("EX01-20220314T090000Z-exhume.zip");
    let out = run_zip_writer(&exe, &zip, &members);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = exhume::analyze(&zip, &exhume::Options::default()).unwrap();
    assert_eq!(a.diagnosis.bundle.form, exhume::bundle::Form::Zip);
    let defects = bundle_defects(&a, listed);
    assert!(defects.is_empty(), "{defects:#?}");
    assert!(
        a.diagnosis
            .problems
            .iter()
            .all(|p| !p.message.contains("zip")),
        "{:#?}",
        a.diagnosis.problems
    );

    let out = run_zip_writer(&exe, &zip_only, &case_members);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_only).unwrap()).unwrap();
    let mut methods = BTreeMap::new();
    for i in 0..archive.len() {
        let mut m = archive.by_index(i).unwrap();
        let name = String::from_utf8_lossy(m.name_raw()).into_owned();
        assert!(!name.contains('\\'), "{name}");
        methods.insert(name.clone(), m.compression());
        let mut got = Vec::new();
        // Reading to the end checks the CRC-32 the writer computed.
        std::io::Read::read_to_end(&mut m, &mut got).unwrap();
        let want = cases
            .iter()
            .find(|(n, _)| format!("setup/{n}") == name)
            .unwrap()
            .1;
        assert!(got == want, "{name}: content differs after the round trip");
    }
    assert_eq!(methods.len(), 3);
    assert_eq!(methods["setup/noise.bin"], zip::CompressionMethod::Stored);
    assert_eq!(methods["setup/empty.log"], zip::CompressionMethod::Stored);
    assert_eq!(methods["setup/big.log"], zip::CompressionMethod::Deflated);
    assert!(std::fs::metadata(&zip_only).unwrap().len() < 1_500_000);
}

#[test]
fn zip_writer_keeps_the_other_files_when_one_fails_mid_run() {
    let work = tempfile::tempdir().unwrap();
    let Some(exe) = build_zip_writer(work.path()) else {
        return;
    };
    // Five files; the third vanished between hashing and zipping (an antivirus quarantine, an
    // I/O error): the writer rolls its entry back and goes on.
    let mut members = Vec::new();
    let mut want = BTreeMap::new();
    for i in 0..5 {
        let p = work.path().join(format!("f{i}.log"));
        let body: Vec<u8> = format!("[03/11/2022 15:43:0{i}.0713] [1] line of file {i}\r\n")
            .repeat(2000 + i * 500)
            .into_bytes();
        if i != 2 {
            std::fs::write(&p, &body).unwrap();
            want.insert(format!("setup/f{i}.log"), body);
        }
        members.push((p, format!("setup/f{i}.log")));
    }
    let zip = work.path().join("partial.zip");
    let out = run_zip_writer(&exe, &zip, &members);
    assert_eq!(out.status.code(), Some(3), "the failure was not reported");
    assert!(String::from_utf8_lossy(&out.stderr).contains("f2.log"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    assert_eq!(
        archive.len(),
        4,
        "the entry list is not the four files written"
    );
    let mut got = BTreeMap::new();
    for i in 0..archive.len() {
        let mut m = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        // Reading each entry to its end checks its CRC and that offsets still line up.
        std::io::Read::read_to_end(&mut m, &mut bytes).unwrap();
        got.insert(String::from_utf8_lossy(m.name_raw()).into_owned(), bytes);
    }
    assert!(got == want, "the zip's entries differ from the files given");
    // The central directory is consistent with the local headers: exhume reads it too.
    let raw = std::fs::read(&zip).unwrap();
    assert_eq!(raw.windows(4).filter(|w| *w == b"PK\x01\x02").count(), 4);
}

#[test]
fn zip_writer_refuses_backslash_names() {
    let work = tempfile::tempdir().unwrap();
    let Some(exe) = build_zip_writer(work.path()) else {
        return;
    };
    let f = work.path().join("a.log");
    std::fs::write(&f, b"x").unwrap();
    let out = run_zip_writer(
        &exe,
        &work.path().join("bad.zip"),
        &[(f, "setup\\a.log".into())],
    );
    assert_eq!(out.status.code(), Some(3), "a '\\' entry name was accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("use '/'"));
}

#[test]
fn script_help_documents_every_parameter() {
    assert_eq!(help_gaps(&script_source()), Vec::<String>::new());
    let src = "<#\n.SYNOPSIS\n    x\n.DESCRIPTION\n    y\n.PARAMETER Days\n    z\n#>\nparam(\n    [int]$Days,\n    [int]$MaxSizeMB\n)\nfunction F {\n    param($Inner)\n}\n";
    assert_eq!(
        help_gaps(src),
        vec!["help has no .EXAMPLE", "help has no .PARAMETER MaxSizeMB"]
    );
    assert_eq!(help_gaps("param($a)\n").len(), 1);
}
