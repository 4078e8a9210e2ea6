//! `system/*` besides services.csv, in the collector's formats (`Write-CsvFile`: every field
//! quoted, UTF-8 with BOM, CRLF, no `#TYPE` line; `Write-Acl`: icacls output as UTF-8 with BOM;
//! `system/host.json`: its own JSON writer, two-space indent, LF):
//! `software.csv`, `file-versions.csv`, `inventory.csv`, `acl/*.txt`, `host.json`.
//!
//! The seed's state: Symantec Endpoint Protection 12.1 installed; binaries at 14.2.247.5
//! (the MSI part of SP2 finished, as in the healthy twin); `RemoteScripts\ConsoleInitialize.ps1`
//! present only as `ConsoleInitialize.ps1.txt`; `ClientAccess` without any all-users entry and
//! `ClientAccess\Owa\auth` with `NT AUTHORITY\Authenticated Users:(R)` only.

use crate::binaries;
use crate::iis::WebConfig;
use crate::rng::Rng;
use crate::services::Row;
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Exchange 2010 SP2's files carry their build date (the MSI keeps the cabinet's times).
fn build_time(rng: &mut Rng) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2011, 11, 29, 14, 0, 0)
        .single()
        .expect("fixed time")
        + Duration::seconds(rng.range(0, 6 * 3600) as i64)
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn csv(columns: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&r.iter().map(|c| q(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// `system/software.csv`: Uninstall keys (64-bit, then WOW6432Node), then the antivirus
/// services and file-system minifilters the collector finds.
pub fn software(rows: &[Row], broken: bool) -> String {
    let r = |name: &str, version: &str, publisher: &str, date: &str, source: &str| {
        vec![
            name.to_string(),
            version.to_string(),
            publisher.to_string(),
            date.to_string(),
            source.to_string(),
        ]
    };
    let mut out = vec![
        r(
            "Microsoft .NET Framework 4 Client Profile",
            "4.0.30319",
            "Microsoft Corporation",
            "20110614",
            "uninstall",
        ),
        r(
            "Microsoft .NET Framework 4 Extended",
            "4.0.30319",
            "Microsoft Corporation",
            "20110614",
            "uninstall",
        ),
        r(
            "Microsoft Exchange Server 2010",
            "14.2.247.5",
            "Microsoft Corporation",
            "20120212",
            "uninstall",
        ),
        r(
            "Microsoft Filter Pack 2.0",
            "14.0.4763.1000",
            "Microsoft Corporation",
            "20100316",
            "uninstall",
        ),
        r(
            "Microsoft Visual C++ 2008 Redistributable - x64 9.0.30729.4148",
            "9.0.30729.4148",
            "Microsoft Corporation",
            "20100316",
            "uninstall",
        ),
    ];
    if broken {
        out.push(r(
            "Symantec Endpoint Protection",
            "12.1.671.4971",
            "Symantec Corporation",
            "20120203",
            "uninstall",
        ));
    }
    out.push(r(
        "VMware Tools",
        "8.6.0.6261",
        "VMware, Inc.",
        "20100315",
        "uninstall",
    ));
    out.push(r(
        "Microsoft Visual C++ 2005 Redistributable",
        "8.0.61001",
        "Microsoft Corporation",
        "20100316",
        "uninstall-wow6432",
    ));
    for row in rows.iter().filter(|row| row.0 == "SepMasterService") {
        out.push(r(
            &row.1,
            "",
            "",
            "",
            &format!("av-service:{} ({}, {})", row.0, row.3, row.2),
        ));
    }
    if broken {
        out.push(r("SymEFA", "", "", "", "fltmc-minifilter"));
        out.push(r("SRTSP", "", "", "", "fltmc-minifilter"));
    }
    out.push(r("luafv", "", "", "", "fltmc-minifilter"));
    csv(
        &["Name", "Version", "Publisher", "InstallDate", "Source"],
        &out,
    )
}

/// One file of the install dir: path under it, size, last write (UTC).
#[derive(Debug, Clone)]
pub struct File {
    pub relative: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

/// Every file the samples say is under the install dir. `web` gives the web.config files'
/// real sizes; `configured` is when setup last wrote them.
pub fn files(web: &[WebConfig], broken: bool, configured: DateTime<Utc>) -> Vec<File> {
    let mut rng = Rng::new(0xF11E5);
    let mut out = Vec::new();
    for a in binaries::assemblies() {
        out.push(File {
            relative: format!("Bin\\{a}.dll"),
            size: rng.range(24, 4200) * 1024 + rng.range(0, 1023),
            modified: build_time(&mut rng),
        });
    }
    for f in binaries::OTHER_FILES {
        let relative = if broken && *f == "RemoteScripts\\ConsoleInitialize.ps1" {
            // The seed: renamed, so PowerShell no longer finds it.
            format!("{f}.txt")
        } else {
            f.to_string()
        };
        let l = relative.to_lowercase();
        let kib = if l.ends_with(".dll") || l.ends_with(".exe") {
            (20, 3000)
        } else if l.ends_with(".xml") || l.ends_with(".xsd") || l.ends_with(".wsdl") {
            (4, 220)
        } else {
            // Scripts, pages, small configuration files.
            (2, 48)
        };
        out.push(File {
            relative,
            size: rng.range(kib.0, kib.1) * 1024 + rng.range(0, 1023),
            modified: build_time(&mut rng),
        });
    }
    for w in web {
        out.push(File {
            relative: w.relative.replace('/', "\\"),
            size: crate::builder::utf8_bom_crlf(&w.text).len() as u64,
            modified: configured,
        });
    }
    out
}

/// `system/inventory.csv` as `Write-Inventory` walks the tree: a stack of folders, each
/// folder's files in directory order, its subfolders pushed so the last one is listed next.
pub fn inventory(files: &[File]) -> String {
    use std::collections::BTreeMap;
    // folder (lower-case key) → (files, subfolders), both as written.
    #[derive(Default)]
    struct Dir {
        files: BTreeMap<String, usize>,
        subdirs: BTreeMap<String, String>,
    }
    let mut dirs: BTreeMap<String, Dir> = BTreeMap::new();
    dirs.entry(String::new()).or_default();
    for (i, f) in files.iter().enumerate() {
        let parts: Vec<&str> = f.relative.split('\\').collect();
        let mut path = String::new();
        for part in &parts[..parts.len() - 1] {
            let child = if path.is_empty() {
                part.to_string()
            } else {
                format!("{path}\\{part}")
            };
            dirs.entry(path.to_lowercase())
                .or_default()
                .subdirs
                .insert(part.to_lowercase(), child.clone());
            dirs.entry(child.to_lowercase()).or_default();
            path = child;
        }
        let leaf = parts[parts.len() - 1].to_lowercase();
        dirs.entry(path.to_lowercase())
            .or_default()
            .files
            .insert(leaf, i);
    }
    let mut rows = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(d) = stack.pop() {
        let Some(dir) = dirs.get(&d.to_lowercase()) else {
            continue;
        };
        for i in dir.files.values() {
            let f = &files[*i];
            rows.push(vec![
                f.relative.clone(),
                f.size.to_string(),
                f.modified.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ]);
        }
        for sub in dir.subdirs.values() {
            stack.push(sub.clone());
        }
    }
    csv(&["RelativePath", "Length", "LastWriteTimeUtc"], &rows)
}

/// `system/file-versions.csv`: every `.exe` / `.dll` in `Bin`, then exppw.dll (kerbauth.dll is
/// already among them), with full paths as `FileVersionInfo` reports them.
pub fn file_versions(files: &[File], install: &str) -> String {
    const VERSION: &str = "14.02.0247.005";
    let mut bin: Vec<&File> = files
        .iter()
        .filter(|f| {
            let l = f.relative.to_lowercase();
            l.starts_with("bin\\")
                && !l[4..].contains('\\')
                && (l.ends_with(".exe") || l.ends_with(".dll"))
        })
        .collect();
    bin.sort_by_key(|f| f.relative.to_lowercase());
    let mut rows: Vec<Vec<String>> = bin
        .iter()
        .map(|f| {
            vec![
                format!("{install}{}", f.relative),
                VERSION.to_string(),
                VERSION.to_string(),
            ]
        })
        .collect();
    if files.iter().any(|f| {
        f.relative
            .eq_ignore_ascii_case("ClientAccess\\Owa\\auth\\exppw.dll")
    }) {
        rows.push(vec![
            format!("{install}ClientAccess\\Owa\\auth\\exppw.dll"),
            VERSION.to_string(),
            VERSION.to_string(),
        ]);
    }
    csv(&["Path", "FileVersion", "ProductVersion"], &rows)
}

/// icacls' closing line on an English Windows.
pub const ICACLS_DONE: &str = "Successfully processed 1 files; Failed processing 0 files";

/// `icacls <dir>` output on an English Windows.
fn icacls(dir: &str, entries: &[&str]) -> String {
    icacls_listing(dir, entries, ICACLS_DONE)
}

/// `icacls <dir>` output as the collector keeps it: the path, then one entry per line aligned
/// under the first, a blank line, the closing line (`summary`, in the server's language).
pub fn icacls_listing(dir: &str, entries: &[impl AsRef<str>], summary: &str) -> String {
    let pad = " ".repeat(dir.chars().count() + 1);
    let mut out = String::new();
    for (i, e) in entries.iter().enumerate() {
        let e = e.as_ref();
        if i == 0 {
            out.push_str(&format!("{dir} {e}\n"));
        } else {
            out.push_str(&format!("{pad}{e}\n"));
        }
    }
    out.push_str(&format!("\n{summary}\n"));
    // Write-Acl appends a line break to what icacls printed.
    out.push('\n');
    out
}

/// `(bundle path, text)` of the three icacls outputs.
pub fn acls(install: &str, broken: bool) -> Vec<(String, String, String)> {
    let root = install.trim_end_matches('\\').to_string();
    let client_access = format!("{root}\\ClientAccess");
    let owa_auth = format!("{root}\\ClientAccess\\Owa\\auth");
    // The install dir inherits D:\'s defaults (D: is a data volume, not the system drive).
    let install_dir: Vec<&str> = vec![
        "NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)",
        "BUILTIN\\Administrators:(I)(OI)(CI)(F)",
        "CREATOR OWNER:(I)(OI)(CI)(IO)(F)",
        "BUILTIN\\Users:(I)(OI)(CI)(RX)",
        "BUILTIN\\Users:(I)(CI)(AD)",
        "BUILTIN\\Users:(I)(CI)(IO)(WD)",
    ];
    let (ca, auth): (Vec<&str>, Vec<&str>) = if broken {
        // Inheritance cut on ClientAccess and no entry left for ordinary users; owa\auth gets
        // Authenticated Users with Read only.
        (
            vec![
                "NT AUTHORITY\\SYSTEM:(OI)(CI)(F)",
                "BUILTIN\\Administrators:(OI)(CI)(F)",
                "CREATOR OWNER:(OI)(CI)(IO)(F)",
                "NT AUTHORITY\\NETWORK SERVICE:(OI)(CI)(RX)",
            ],
            vec![
                "NT AUTHORITY\\Authenticated Users:(R)",
                "NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)",
                "BUILTIN\\Administrators:(I)(OI)(CI)(F)",
                "CREATOR OWNER:(I)(OI)(CI)(IO)(F)",
                "NT AUTHORITY\\NETWORK SERVICE:(I)(OI)(CI)(RX)",
            ],
        )
    } else {
        (
            vec![
                "NT AUTHORITY\\Authenticated Users:(OI)(CI)(RX)",
                "NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)",
                "BUILTIN\\Administrators:(I)(OI)(CI)(F)",
                "CREATOR OWNER:(I)(OI)(CI)(IO)(F)",
                "BUILTIN\\Users:(I)(OI)(CI)(RX)",
                "BUILTIN\\Users:(I)(CI)(AD)",
                "BUILTIN\\Users:(I)(CI)(IO)(WD)",
            ],
            vec![
                "NT AUTHORITY\\Authenticated Users:(I)(OI)(CI)(RX)",
                "NT AUTHORITY\\SYSTEM:(I)(OI)(CI)(F)",
                "BUILTIN\\Administrators:(I)(OI)(CI)(F)",
                "CREATOR OWNER:(I)(OI)(CI)(IO)(F)",
                "BUILTIN\\Users:(I)(OI)(CI)(RX)",
                "BUILTIN\\Users:(I)(CI)(AD)",
                "BUILTIN\\Users:(I)(CI)(IO)(WD)",
            ],
        )
    };
    vec![
        (
            "system/acl/install-dir.txt".into(),
            format!("icacls {root}"),
            icacls(&root, &install_dir),
        ),
        (
            "system/acl/ClientAccess.txt".into(),
            format!("icacls {client_access}"),
            icacls(&client_access, &ca),
        ),
        (
            "system/acl/owa-auth.txt".into(),
            format!("icacls {owa_auth}"),
            icacls(&owa_auth, &auth),
        ),
    ]
}

/// The collector's SID listing of the same folders (`system/acl/<name>-sid.txt`, from
/// `Get-Acl … GetAccessRules($true, $true, [SecurityIdentifier])`): icacls' shape, each principal
/// by its SID, closed by icacls' summary line so a listing cut short shows.
pub fn acl_sids(acls: &[(String, String, String)]) -> Vec<(String, String, String)> {
    const SIDS: &[(&str, &str)] = &[
        ("NT AUTHORITY\\Authenticated Users", "S-1-5-11"),
        ("NT AUTHORITY\\SYSTEM", "S-1-5-18"),
        ("NT AUTHORITY\\NETWORK SERVICE", "S-1-5-20"),
        ("BUILTIN\\Administrators", "S-1-5-32-544"),
        ("BUILTIN\\Users", "S-1-5-32-545"),
        ("CREATOR OWNER", "S-1-3-0"),
        ("Everyone", "S-1-1-0"),
    ];
    acls.iter()
        .map(|(path, source, text)| {
            let mut out = String::new();
            let mut target_width = 0;
            for line in text.lines() {
                let Some(colon) = line.find(":(") else {
                    continue;
                };
                let (head, rights) = line.split_at(colon);
                let name = head.trim_start();
                let indented = name.len() != head.len();
                let (target, name) = if indented {
                    (None, name)
                } else {
                    // `<target> <principal>`: the principal is one of the known names.
                    let (t, n) = SIDS
                        .iter()
                        .find_map(|(n, _)| head.strip_suffix(n).map(|t| (t.trim_end(), *n)))
                        .unwrap_or(("", name));
                    (Some(t), n)
                };
                let sid = SIDS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, s)| s.to_string())
                    .unwrap_or_else(|| "S-1-5-21-3623811015-3361044348-30300820-1117".into());
                match target {
                    Some(t) => {
                        target_width = t.chars().count() + 1;
                        out.push_str(&format!("{t} {sid}{rights}\n"));
                    }
                    None => out.push_str(&format!("{}{sid}{rights}\n", " ".repeat(target_width))),
                }
            }
            out.push_str("\nSuccessfully processed 1 files; Failed processing 0 files\n");
            let sid_path = path.replace(".txt", "-sid.txt");
            (
                sid_path,
                format!("Get-Acl {}", source.trim_start_matches("icacls ")),
                out,
            )
        })
        .collect()
}

/// `system/host.json`, keys in the collector's order (`Get-HostFacts`).
#[derive(serde::Serialize)]
struct HostJson<'a> {
    computer_name: &'a str,
    fqdn: String,
    domain: &'a str,
    part_of_domain: bool,
    os: &'a str,
    os_version: &'a str,
    os_service_pack: &'a str,
    os_architecture: &'a str,
    last_boot_utc: String,
    uptime_hours: f64,
    pending_reboot: bool,
    pending_reboot_reasons: Vec<&'a str>,
    /// .NET 4.5 added the `Release` value; a 2012 server with .NET 4.0 has none.
    dotnet_release: Option<u32>,
    dotnet_versions: Vec<&'a str>,
    utc_offset_minutes: i32,
    time_zone_id: &'a str,
    time_zone_standard_name: &'a str,
    daylight_saving_now: bool,
    culture: &'a str,
    powershell_version: &'a str,
    clr_version: &'a str,
    is_64bit_process: bool,
    elevated: bool,
    iis_version: &'a str,
    exchange_version: &'a str,
    exchange_install_path: &'a str,
    collected_utc: String,
}

pub fn host_json(
    computer: &str,
    domain: &str,
    install: &str,
    offset_minutes: i32,
    time_zone_id: &str,
    last_boot: DateTime<Utc>,
    collected: DateTime<Utc>,
) -> String {
    let uptime = ((collected - last_boot).num_seconds() as f64 / 360.0).round() / 10.0;
    let h = HostJson {
        computer_name: computer,
        fqdn: format!("{}.{domain}", computer.to_lowercase()),
        domain,
        part_of_domain: true,
        os: "Microsoft Windows Server 2008 R2 Enterprise",
        os_version: "6.1.7601",
        os_service_pack: "Service Pack 1",
        os_architecture: "64-bit",
        last_boot_utc: last_boot.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        uptime_hours: uptime,
        pending_reboot: false,
        pending_reboot_reasons: vec![],
        dotnet_release: None,
        dotnet_versions: vec![
            "2.0.50727.5420",
            "3.0.30729.5420",
            "3.5.30729.5420",
            "4.0.30319",
        ],
        utc_offset_minutes: offset_minutes,
        time_zone_id,
        time_zone_standard_name: time_zone_id,
        daylight_saving_now: true,
        culture: "en-AU",
        powershell_version: "2.0",
        clr_version: "2.0.50727.5420",
        is_64bit_process: true,
        elevated: true,
        iis_version: "7.5",
        exchange_version: "14.2.247.5",
        exchange_install_path: install.trim_end_matches('\\'),
        collected_utc: collected.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    serde_json::to_string_pretty(&h).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icacls_aligns_entries_under_the_first() {
        let t = icacls("D:\\X", &["A:(F)", "B:(R)"]);
        assert_eq!(
            t,
            "D:\\X A:(F)\n     B:(R)\n\nSuccessfully processed 1 files; Failed processing 0 files\n\n"
        );
    }

    #[test]
    fn inventory_walks_like_the_collector() {
        let f = |p: &str| File {
            relative: p.into(),
            size: 1,
            modified: Utc.with_ymd_and_hms(2012, 1, 1, 0, 0, 0).unwrap(),
        };
        let text = inventory(&[f("b.txt"), f("A\\x.dll"), f("C\\y.dll"), f("a.txt")]);
        let paths: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(
            paths,
            ["\"a.txt\"", "\"b.txt\"", "\"C\\y.dll\"", "\"A\\x.dll\""]
        );
    }
}
