//! `registry/*.reg` as `reg export` writes them (regedit 5: UTF-16LE with BOM, CRLF, a header
//! line and a blank line, then one `[KEY]` block per key): the `ExchangeServer` key, and one
//! export per Exchange / IIS service key, named as the collector names them
//! (`HKLM-SOFTWARE-Microsoft-ExchangeServer.reg`, `HKLM-SYSTEM-CurrentControlSet-Services-<name>.reg`).
//!
//! Value layout follows exchange-facts A4: `REG_SZ` quoted with `\\` and `\"` escaped,
//! `dword:%08x`, `REG_EXPAND_SZ` / `REG_MULTI_SZ` as `hex(2):` / `hex(7):` UTF-16LE bytes, wrapped
//! so no line passes 80 columns (continuations indented by two spaces).

use crate::services::Row;

/// One registry value as `reg export` writes it.
#[derive(Debug, Clone)]
pub enum Value {
    Sz(String),
    Dword(u32),
    ExpandSz(String),
    MultiSz(Vec<String>),
}

/// A key and its values, in the order the export lists them.
#[derive(Debug, Clone)]
pub struct Key {
    pub path: String,
    pub values: Vec<(String, Value)>,
}

impl Key {
    pub fn new(path: impl Into<String>) -> Self {
        Key {
            path: path.into(),
            values: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.values.push((name.to_string(), value));
        self
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `"name"=hex(N):xx,xx,…` wrapped as regedit wraps it: each line at most 79 characters before
/// its trailing `\`, continuation lines indented by two spaces.
fn hex_value(prefix: &str, bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut line = prefix.to_string();
    for (i, b) in bytes.iter().enumerate() {
        let token = if i + 1 < bytes.len() {
            format!("{b:02x},")
        } else {
            format!("{b:02x}")
        };
        if line.len() + token.len() > 79 {
            out.push_str(&line);
            out.push_str("\\\n");
            line = "  ".to_string();
        }
        line.push_str(&token);
    }
    out.push_str(&line);
    out
}

fn utf16z(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    v.extend_from_slice(&[0, 0]);
    v
}

fn value_line(name: &str, value: &Value) -> String {
    let n = if name.is_empty() {
        "@".to_string()
    } else {
        format!("\"{}\"", escape(name))
    };
    match value {
        Value::Sz(s) => format!("{n}=\"{}\"", escape(s)),
        Value::Dword(d) => format!("{n}=dword:{d:08x}"),
        Value::ExpandSz(s) => hex_value(&format!("{n}=hex(2):"), &utf16z(s)),
        Value::MultiSz(items) => {
            let mut bytes = Vec::new();
            for i in items {
                bytes.extend(utf16z(i));
            }
            bytes.extend_from_slice(&[0, 0]);
            hex_value(&format!("{n}=hex(7):"), &bytes)
        }
    }
}

/// The text of a regedit 5 export of `keys` (LF line ends: `builder::utf16le` makes them CRLF).
pub fn export(keys: &[Key]) -> String {
    let mut out = String::from("Windows Registry Editor Version 5.00\n\n");
    for k in keys {
        out.push_str(&format!("[{}]\n", k.path));
        for (name, value) in &k.values {
            out.push_str(&value_line(name, value));
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

const EXCHANGE_KEY: &str = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer";

/// `reg export HKLM\SOFTWARE\Microsoft\InetStp` of a server with the IIS role as Exchange
/// needs it: IIS 7.5 on Windows Server 2008 R2, 8.5 on 2012 R2, 10.0 on 2016 and later.
pub fn inet_stp(major: u32, minor: u32) -> String {
    const KEY: &str = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\InetStp";
    let sz = |s: &str| Value::Sz(s.to_string());
    let main = Key::new(KEY)
        .with("MajorVersion", Value::Dword(major))
        .with("MinorVersion", Value::Dword(minor))
        .with("InstallPath", sz("C:\\Windows\\system32\\inetsrv"))
        .with(
            "PathWWWRoot",
            Value::ExpandSz("%SystemDrive%\\inetpub\\wwwroot".into()),
        )
        .with("SetupString", sz(&format!("IIS {major}.{minor}")))
        .with("VersionString", sz(&format!("Version {major}.{minor}")))
        .with("IISProgramFiles", sz("C:\\Windows\\system32\\inetsrv\\"))
        .with("ConcurrentRequestsOnXPClient", Value::Dword(10));
    let mut components = Key::new(format!("{KEY}\\Components"));
    // What Exchange's prerequisites install (Web-Server, Web-Basic-Auth, Web-Windows-Auth,
    // Web-Net-Ext45, Web-ISAPI-*, Web-Mgmt-*, Web-Dyn-Compression, Web-Http-Redirect, ...).
    for (name, on) in [
        ("ASPNET45", 1),
        ("BasicAuthentication", 1),
        ("DefaultDocument", 1),
        ("DirectoryBrowse", 1),
        ("DynamicCompression", 1),
        ("FTPServer", 0),
        ("HttpErrors", 1),
        ("HttpLogging", 1),
        ("HttpRedirect", 1),
        ("HttpTracing", 1),
        ("ISAPIExtensions", 1),
        ("ISAPIFilter", 1),
        ("LegacySnapin", 1),
        ("ManagementConsole", 1),
        ("Metabase", 1),
        ("NetFxExtensibility45", 1),
        ("RequestFiltering", 1),
        ("RequestMonitor", 1),
        ("StaticCompression", 1),
        ("StaticContent", 1),
        ("W3SVC", 1),
        ("WindowsAuthentication", 1),
        ("WMICompatibility", 1),
    ] {
        components = components.with(name, Value::Dword(on));
    }
    export(&[main, components])
}

/// The role keys Exchange 2010 SP2 leaves: every role unpacked at 14.2.247.5; configured only
/// where setup got that far. The seed (`broken`): setup finished the management tools, then
/// stopped in the hub role's "Bridgehead Role Setter", leaving that key's watermark and action;
/// Client Access and Mailbox were never reached, so no ConfiguredVersion at all (the SP1 value is
/// cleared when the upgrade starts).
pub fn exchange_server(install: &str, broken: bool, watermark: &str) -> String {
    const SP2: &str = "14.2.247.5";
    let v14 = format!("{EXCHANGE_KEY}\\v14");
    let role = |name: &str, configured: bool| {
        let mut k = Key::new(format!("{v14}\\{name}"));
        if configured {
            k = k.with("ConfiguredVersion", Value::Sz(SP2.into()));
        }
        k.with("UnpackedVersion", Value::Sz(SP2.into()))
    };
    let mut hub = role("HubTransportRole", !broken);
    if broken {
        hub = hub
            .with("Watermark", Value::Sz(watermark.into()))
            .with("Action", Value::Sz("BuildToBuildUpgrade".into()));
    }
    let keys = vec![
        Key::new(EXCHANGE_KEY),
        Key::new(v14.clone()),
        role("AdminTools", true),
        role("ClientAccessRole", !broken),
        hub,
        role("MailboxRole", !broken),
        Key::new(format!("{v14}\\Setup"))
            .with("MsiInstallPath", Value::Sz(install.into()))
            .with("MsiProductMajor", Value::Dword(14))
            .with("MsiProductMinor", Value::Dword(2))
            .with("MsiBuildMajor", Value::Dword(247))
            .with("MsiBuildMinor", Value::Dword(5)),
    ];
    export(&keys)
}

/// Services each Exchange 2010 / IIS service depends on (`DependOnService`). The Search
/// Indexer's dependency on Microsoft Search (Exchange Server) is the seed's (error 1068 after the
/// latter was disabled); the rest are the usual Windows ones and may differ slightly from a real
/// server.
fn depends_on(name: &str) -> &'static [&'static str] {
    match name {
        "MSExchangeADTopology" => &["NetTcpPortSharing"],
        "MSExchangeSearch" => &["MSExchangeIS", "msftesql-Exchange"],
        "MSExchangeIS" | "MSExchangeSA" => &["MSExchangeADTopology", "LanmanWorkstation", "RPCSS"],
        "MSExchangeMonitoring" | "msftesql-Exchange" | "WAS" | "RemoteRegistry" => &["RPCSS"],
        "W3SVC" => &["WAS", "HTTP"],
        "IISADMIN" => &["RPCSS", "SamSS"],
        "WinRM" => &["RPCSS", "HTTP"],
        "NetTcpPortSharing" => &[],
        n if n.starts_with("MSExchange") => &["MSExchangeADTopology"],
        _ => &[],
    }
}

fn description(name: &str, display: &str) -> String {
    match name {
        "MSExchangeServiceHost" => "Provides a host for several Microsoft Exchange services.".into(),
        "MSExchangeADTopology" => "Provides Active Directory topology information to Microsoft Exchange services. If this service is stopped, most Microsoft Exchange services can't start.".into(),
        "msftesql-Exchange" => "Quickly creates full-text indexes on content and properties of structured and semi-structured data to allow fast linguistic searches on this data.".into(),
        "MSExchangeSearch" => "Drives indexing of mailbox content, which improves the performance of content search.".into(),
        "W3SVC" => "Provides Web connectivity and administration through the Internet Information Services Manager".into(),
        "WAS" => "The Windows Process Activation Service (WAS) provides process activation, resource management and health management services for message-activated applications.".into(),
        "IISADMIN" => "Enables this server to administer the IIS metabase. The IIS metabase stores configuration for the SMTP and FTP services.".into(),
        "WinRM" => "Windows Remote Management (WinRM) service implements the WS-Management protocol for remote management.".into(),
        "RemoteRegistry" => "Enables remote users to modify registry settings on this computer.".into(),
        "NetTcpPortSharing" => "Provides ability to share TCP ports over the net.tcp protocol.".into(),
        _ => format!("{display}."),
    }
}

/// The registry `ImagePath` of a service whose Win32_Service `PathName` is `path`: Windows
/// services keep their `%SystemRoot%` / `%windir%` form (REG_EXPAND_SZ); Exchange's installer
/// writes the expanded, quoted path as a plain string.
fn image_path(name: &str, path: &str) -> Value {
    let expandable = match name {
        "W3SVC" | "WAS" => Some("%windir%\\system32\\svchost.exe -k iissvcs"),
        "IISADMIN" => Some("%windir%\\system32\\inetsrv\\inetinfo.exe"),
        "WinRM" => Some("%SystemRoot%\\System32\\svchost.exe -k NetworkService"),
        "RemoteRegistry" => Some("%SystemRoot%\\system32\\svchost.exe -k regsvc"),
        "NetTcpPortSharing" => Some(
            "%SystemRoot%\\Microsoft.NET\\Framework64\\v3.0\\Windows Communication Foundation\\SMSvcHost.exe",
        ),
        _ => None,
    };
    match expandable {
        Some(e) => Value::ExpandSz(e.into()),
        None => Value::Sz(path.into()),
    }
}

/// Win32_Service StartMode → the key's `Start`.
fn start_value(mode: &str) -> u32 {
    match mode {
        "Boot" => 0,
        "System" => 1,
        "Auto" => 2,
        "Disabled" => 4,
        _ => 3,
    }
}

/// Which services the collector exports (`Get-ServiceKeysToExport`): Exchange's by name, and
/// the IIS and management services Exchange needs.
pub fn exported(name: &str) -> bool {
    name.starts_with("MSExchange")
        || name.starts_with("msftesql")
        || matches!(
            name,
            "W3SVC" | "WAS" | "IISADMIN" | "WinRM" | "RemoteRegistry" | "NetTcpPortSharing"
        )
}

/// `(bundle path, export text)` for every exported service in `rows`, consistent with them
/// (`Start` from StartMode, `ImagePath` from PathName).
pub fn services(rows: &[Row]) -> Vec<(String, String)> {
    let mut rows: Vec<&Row> = rows.iter().filter(|r| exported(&r.0)).collect();
    rows.sort_by_key(|r| r.0.to_lowercase());
    rows.into_iter()
        .map(|(name, display, mode, _state, path)| {
            let base = format!("HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\{name}");
            let svchost = matches!(name.as_str(), "W3SVC" | "WAS" | "WinRM" | "RemoteRegistry");
            let mut key = Key::new(base.clone())
                .with("Type", Value::Dword(if svchost { 0x20 } else { 0x10 }))
                .with("Start", Value::Dword(start_value(mode)))
                .with("ErrorControl", Value::Dword(1))
                .with("ImagePath", image_path(name, path))
                .with("DisplayName", Value::Sz(display.clone()));
            let deps = depends_on(name);
            if !deps.is_empty() {
                key = key.with(
                    "DependOnService",
                    Value::MultiSz(deps.iter().map(|d| d.to_string()).collect()),
                );
            }
            let account = match name.as_str() {
                "WinRM" => "NT AUTHORITY\\NetworkService",
                "RemoteRegistry" | "NetTcpPortSharing" => "NT AUTHORITY\\LocalService",
                _ => "LocalSystem",
            };
            key = key
                .with("ObjectName", Value::Sz(account.into()))
                .with("Description", Value::Sz(description(name, display)));
            let mut keys = vec![key];
            if matches!(name.as_str(), "W3SVC" | "WAS") {
                keys.push(Key::new(format!("{base}\\Parameters")).with(
                    "ServiceDll",
                    Value::ExpandSz("%windir%\\system32\\inetsrv\\iisw3adm.dll".into()),
                ));
            }
            (
                format!("registry/HKLM-SYSTEM-CurrentControlSet-Services-{name}.reg"),
                export(&keys),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_values_wrap_as_regedit_does() {
        let line = value_line(
            "ImagePath",
            &Value::ExpandSz("%SystemRoot%\\system32\\svchost.exe -k regsvc".into()),
        );
        let lines: Vec<&str> = line.lines().collect();
        assert!(lines[0].starts_with("\"ImagePath\"=hex(2):25,00,53,00,"));
        assert!(lines.iter().all(|l| l.len() <= 80), "{line}");
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(",\\")));
        assert!(lines[1..].iter().all(|l| l.starts_with("  ")));
        assert!(line.ends_with("00,00"));
    }

    #[test]
    fn multi_strings_end_with_two_nuls() {
        let line = value_line("D", &Value::MultiSz(vec!["A".into(), "B".into()]));
        assert_eq!(line, "\"D\"=hex(7):41,00,00,00,42,00,00,00,00,00");
    }
}
