//! A bundle laid out as the collector writes one (Exchange 2016 CU23, healthy), with its manifest.

use sha2::{Digest, Sha256};
use std::path::Path;

/// A CSV as the script's `Write-CsvFile` writes it: UTF-8 with BOM, every field quoted, CRLF.
pub fn csv(columns: &[&str], rows: &[&[&str]]) -> Vec<u8> {
    let line = |fields: &[&str]| {
        fields
            .iter()
            .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut s = String::from("\u{feff}");
    s.push_str(&line(columns));
    s.push_str("\r\n");
    for r in rows {
        s.push_str(&line(r));
        s.push_str("\r\n");
    }
    s.into_bytes()
}

pub fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

pub fn utf8_bom(text: &str) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend_from_slice(text.as_bytes());
    out
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// An EVTX file with a valid file header and no chunk: what `wevtutil epl` writes for a channel
/// with no event in the window.
pub fn empty_evtx() -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..8].copy_from_slice(b"ElfFile\0");
    h[24..32].copy_from_slice(&1u64.to_le_bytes()); // next record id
    h[32..36].copy_from_slice(&128u32.to_le_bytes()); // header size
    h[36..38].copy_from_slice(&1u16.to_le_bytes()); // minor version
    h[38..40].copy_from_slice(&3u16.to_le_bytes()); // major version
    h[40..42].copy_from_slice(&4096u16.to_le_bytes()); // header block size
    let crc = crc32(&h[..120]);
    h[124..128].copy_from_slice(&crc.to_le_bytes());
    h
}

pub const INSTALL: &str = "C:\\Program Files\\Microsoft\\Exchange Server\\V15";

/// Every bundle path of the fixture with its content: one or more files per LAYOUT kind, with
/// the names the script gives them. Exchange 2016 CU23, healthy.
pub fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let mut f: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |p: &str, b: Vec<u8>| f.push((p.to_string(), b));
    add(
        "setup/ExchangeSetup.log",
        b"[03/11/2022 15:43:05.0713] [0] **********************************************\r\n\
[03/11/2022 15:43:05.0718] [0] Starting Microsoft Exchange Server 2016 Setup\r\n\
[03/11/2022 15:43:05.0719] [0] **********************************************\r\n\
[03/11/2022 15:43:05.0720] [0] Local time zone: (UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna.\r\n\
[03/11/2022 15:43:05.0721] [0] Setup version: 15.1.2507.6.\r\n\
[03/11/2022 15:43:05.0722] [0] Logged on user: CONTOSO\\Administrator.\r\n\
[03/11/2022 15:43:05.0741] [0] Command Line Parameter Name='mode', Value='Upgrade'.\r\n\
[03/11/2022 15:43:25.0159] [0] The installation mode is set to: 'BuildToBuildUpgrade'.\r\n\
[03/11/2022 16:31:24.0398] [0] The Exchange Server setup operation completed successfully.\r\n\
[03/11/2022 16:31:24.0400] [0] End of Setup\r\n\
[03/11/2022 16:31:24.0400] [0] **********************************************\r\n"
            .to_vec(),
    );
    add(
        "setup/ServiceControl.log",
        b"[15:44:20] * ServiceControl.ps1: 11.03.2022 15:44:20\r\n[15:44:30] Stopping service 'WinMgmt'.\r\n"
            .to_vec(),
    );
    add(
        "setup/UpdateCas.log",
        b"[16:20:01] ***********************************************\r\n[16:20:01] * UpdateCas.ps1: 11.03.2022 16:20:01\r\n"
            .to_vec(),
    );
    add(
        "setup/ExchangeSetup.msilog",
        b"=== Verbose logging started: 11.03.2022  15:50:12  Build type: SHIP UNICODE 5.00.10011.00 ===\r\nMSI (s) (A8:2C) [15:50:12:345]: Product: Microsoft Exchange Server -- Configuration completed successfully.\r\n"
            .to_vec(),
    );
    add(
        "setup/ServiceState.xml",
        utf8_bom(
            "<?xml version=\"1.0\"?>\r\n<Services><Service Name=\"MSExchangeIS\" StartMode=\"Auto\" /></Services>\r\n",
        ),
    );
    add(
        "registry/HKLM-SOFTWARE-Microsoft-ExchangeServer.reg",
        utf16le_bom(&format!(
            "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\Setup]\r\n\"MsiInstallPath\"=\"{}\\\\\"\r\n\"MsiProductMajor\"=dword:0000000f\r\n\"MsiProductMinor\"=dword:00000001\r\n\"MsiBuildMajor\"=dword:000009cb\r\n\"MsiBuildMinor\"=dword:00000006\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\MailboxRole]\r\n\"ConfiguredVersion\"=\"15.1.2507.6\"\r\n\"UnpackedVersion\"=\"15.1.2507.6\"\r\n\r\n",
            INSTALL.replace('\\', "\\\\")
        )),
    );
    add(
        "registry/HKLM-SYSTEM-CurrentControlSet-Services-MSExchangeIS.reg",
        utf16le_bom(
            "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeIS]\r\n\"Start\"=dword:00000002\r\n\"DisplayName\"=\"Microsoft Exchange Information Store\"\r\n\r\n",
        ),
    );
    add(
        "iis/applicationHost.config",
        utf8_bom(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<configuration>\r\n  <system.applicationHost>\r\n    <applicationPools>\r\n      <add name=\"MSExchangeOWAAppPool\" managedRuntimeVersion=\"v4.0\" autoStart=\"true\">\r\n        <processModel identityType=\"LocalSystem\" />\r\n      </add>\r\n    </applicationPools>\r\n  </system.applicationHost>\r\n</configuration>\r\n",
        ),
    );
    let web_config = |bin: &str| {
        utf8_bom(&format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <runtime>\r\n    <assemblyBinding xmlns=\"urn:schemas-microsoft-com:asm.v1\">\r\n      <dependentAssembly>\r\n        <assemblyIdentity name=\"Microsoft.Exchange.Diagnostics\" publicKeyToken=\"31bf3856ad364e35\" culture=\"neutral\" />\r\n        <codeBase version=\"15.0.0.0\" href=\"file:///{bin}Microsoft.Exchange.Diagnostics.dll\" />\r\n      </dependentAssembly>\r\n    </assemblyBinding>\r\n  </runtime>\r\n</configuration>\r\n"
        ))
    };
    add(
        "iis/webconfig/ClientAccess/Owa/web.config",
        web_config(&format!("{INSTALL}\\bin\\")),
    );
    add(
        "iis/webconfig/ClientAccess/Owa/web.config.bak",
        web_config("%ExchangeInstallDir%bin\\"),
    );
    add(
        "iis/webconfig/FrontEnd/HttpProxy/owa/web.config",
        web_config(&format!("{INSTALL}\\bin\\")),
    );
    add(
        "iis/webconfig/ClientAccess/SharedWebConfig.config",
        utf8_bom(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <appSettings />\r\n</configuration>\r\n",
        ),
    );
    add("evtx/Application.evtx", empty_evtx());
    add("evtx/MSExchange Management.evtx", empty_evtx());
    add(
        "evtx/Microsoft-Windows-Windows Defender%4Operational.evtx",
        empty_evtx(),
    );
    // wevtutil al output is binary; its content is not read by exhume.
    add(
        "evtx/LocaleMetaData/Application_1033.MTA",
        b"\x01\x00\x00\x00MTA\x00 message table".to_vec(),
    );
    add(
        "system/services.csv",
        csv(
            &[
                "Name",
                "DisplayName",
                "StartMode",
                "State",
                "StartName",
                "PathName",
            ],
            &[
                &[
                    "MSExchangeIS",
                    "Microsoft Exchange Information Store",
                    "Auto",
                    "Running",
                    "LocalSystem",
                    "\"C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\Microsoft.Exchange.Store.Service.exe\"",
                ],
                &[
                    "W3SVC",
                    "World Wide Web Publishing Service",
                    "Auto",
                    "Running",
                    "LocalSystem",
                    "C:\\Windows\\system32\\svchost.exe -k iissvcs",
                ],
            ],
        ),
    );
    add(
        "system/software.csv",
        csv(
            &["Name", "Version", "Publisher", "InstallDate", "Source"],
            &[
                &[
                    "Microsoft Exchange Server",
                    "15.1.2507.6",
                    "Microsoft Corporation",
                    "20220311",
                    "uninstall",
                ],
                &[
                    "Windows Defender Antivirus Service",
                    "",
                    "",
                    "",
                    "av-service:WinDefend (Running, Auto)",
                ],
                &["WdFilter", "", "", "", "fltmc-minifilter"],
            ],
        ),
    );
    add(
        "system/file-versions.csv",
        csv(
            &["Path", "FileVersion", "ProductVersion"],
            &[&[
                &format!("{INSTALL}\\Bin\\ExSetup.exe"),
                "15.01.2507.006",
                "15.01.2507.006",
            ]],
        ),
    );
    add(
        "system/inventory.csv",
        csv(
            &["RelativePath", "Length", "LastWriteTimeUtc"],
            &[
                &["Bin\\ExSetup.exe", "35128", "2022-03-11T15:20:01Z"],
                &[
                    "ClientAccess\\Owa\\auth\\exppw.dll",
                    "91512",
                    "2022-03-11T15:21:44Z",
                ],
            ],
        ),
    );
    let icacls = |dir: &str| {
        utf8_bom(&format!(
            "{dir} NT AUTHORITY\\SYSTEM:(OI)(CI)(F)\r\n{:w$} BUILTIN\\Administrators:(OI)(CI)(F)\r\n{:w$} NT AUTHORITY\\Authenticated Users:(OI)(CI)(RX)\r\n\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n",
            "",
            "",
            w = dir.len()
        ))
    };
    add("system/acl/install-dir.txt", icacls(INSTALL));
    add(
        "system/acl/ClientAccess.txt",
        icacls(&format!("{INSTALL}\\ClientAccess")),
    );
    add(
        "system/acl/owa-auth.txt",
        icacls(&format!("{INSTALL}\\ClientAccess\\Owa\\auth")),
    );
    add(
        "system/host.json",
        serde_json::to_vec_pretty(&serde_json::json!({
            "computer_name": "EX01",
            "fqdn": "ex01.contoso.local",
            "domain": "contoso.local",
            "part_of_domain": true,
            "os": "Microsoft Windows Server 2016 Standard",
            "os_version": "10.0.14393",
            "pending_reboot": false,
            "pending_reboot_reasons": [],
            "dotnet_release": 528049,
            "utc_offset_minutes": 60,
            "time_zone_id": "W. Europe Standard Time",
            "powershell_version": "5.1.14393.5127",
            "exchange_version": "15.1.2507.6",
            "exchange_install_path": INSTALL,
        }))
        .unwrap(),
    );
    add(
        "collector.log",
        b"2022-03-14T09:00:00.000Z INFO  Collect-ExchangeEvidence.ps1 1.0.0 on EX01, PowerShell 5.1.14393.5127\r\n\
2022-03-14T09:00:00.100Z INFO  step 1/14: Find Exchange in the registry\r\n"
            .to_vec(),
    );
    f
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest the script writes for `files` (same keys, same order).
pub fn fixture_manifest(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<_> = files
        .iter()
        .map(|(path, bytes)| {
            serde_json::json!({
                "path": path,
                "source": format!("{INSTALL}\\{}", path.replace('/', "\\")),
                "size": bytes.len(),
                "sha256": hex(&Sha256::digest(bytes)),
                "method": "copy",
                "truncated": false,
            })
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "schema_version": "1.0",
        "collector": {"name": "Collect-ExchangeEvidence.ps1", "version": "1.0.0", "powershell": "5.1.14393.5127"},
        "host": {"computer_name": "EX01", "fqdn": "ex01.contoso.local", "domain": "contoso.local"},
        "collected_utc": "2022-03-14T09:00:00Z",
        "time_zone": {"utc_offset_minutes": 60, "id": "W. Europe Standard Time"},
        "exchange": {"install_path": format!("{INSTALL}\\"), "version": "15.1.2507.6"},
        "files": entries,
        "not_collected": [{"what": "file-system minifilters (fltmc filters)", "why": "fltmc exited with 1"}],
    }))
    .unwrap()
}

/// Writes the fixture bundle into `dir`; returns the number of files the manifest lists.
pub fn write_fixture(dir: &Path) -> usize {
    let files = fixture_files();
    for (path, bytes) in &files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    std::fs::write(dir.join("manifest.json"), fixture_manifest(&files)).unwrap();
    files.len()
}

/// What would make the fixture not "as the script writes it, fully understood": unknown files,
/// and anything but a complete custody check.
pub fn bundle_defects(a: &exhume::Analysis, listed: usize) -> Vec<String> {
    let d = &a.diagnosis;
    let mut out: Vec<String> = d
        .skipped
        .iter()
        .filter(|s| s.reason.starts_with("unknown file"))
        .map(|s| format!("skipped {}: {}", s.path, s.reason))
        .collect();
    if !d.bundle.has_manifest {
        out.push("no manifest read".into());
    }
    match &d.bundle.custody {
        None => out.push("no custody check".into()),
        Some(c) => {
            out.extend(c.missing.iter().map(|p| format!("missing: {p}")));
            out.extend(c.extra.iter().map(|p| format!("extra: {p}")));
            out.extend(c.altered.iter().map(|x| format!("altered: {}", x.path)));
            if c.verified != listed {
                out.push(format!("verified {} of {listed} files", c.verified));
            }
        }
    }
    out
}
