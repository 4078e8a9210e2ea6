//! The other files of a scenario bundle, consistent with its setup runs: services.csv for
//! Exchange 2013–2019, ServiceControl.log, UpdateConfigFiles.log, the ExchangeServer registry
//! export, the install-dir inventory and a Client Access web.config.

use crate::runlog::{Product, Story, Trace};
use crate::services::{self, Row};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use evtx_writer::{DataField, EventSpec};

/// (key, display name, binary under the install dir, start mode) of Exchange 2013–2019 services.
const EXCHANGE_V15: &[(&str, &str, &str, &str)] = &[
    (
        "FMS",
        "Microsoft Filtering Management Service",
        "FIP-FS\\Bin\\fms.exe",
        "Auto",
    ),
    (
        "HostControllerService",
        "Microsoft Exchange Search Host Controller",
        "Bin\\Search\\Ceres\\HostController\\hostcontrollerservice.exe",
        "Auto",
    ),
    (
        "MSExchangeADTopology",
        "Microsoft Exchange Active Directory Topology",
        "Bin\\Microsoft.Exchange.Directory.TopologyService.exe",
        "Auto",
    ),
    (
        "MSExchangeAntispamUpdate",
        "Microsoft Exchange Anti-spam Update",
        "Bin\\Microsoft.Exchange.AntispamUpdateSvc.exe",
        "Auto",
    ),
    (
        "MSExchangeDagMgmt",
        "Microsoft Exchange DAG Management",
        "Bin\\msexchangedagmgmt.exe",
        "Auto",
    ),
    (
        "MSExchangeDelivery",
        "Microsoft Exchange Mailbox Transport Delivery",
        "Bin\\MSExchangeDelivery.exe",
        "Auto",
    ),
    (
        "MSExchangeDiagnostics",
        "Microsoft Exchange Diagnostics",
        "Bin\\Microsoft.Exchange.Diagnostics.Service.exe",
        "Auto",
    ),
    (
        "MSExchangeEdgeSync",
        "Microsoft Exchange EdgeSync",
        "Bin\\Microsoft.Exchange.EdgeSyncSvc.exe",
        "Auto",
    ),
    (
        "MSExchangeFastSearch",
        "Microsoft Exchange Search",
        "Bin\\Microsoft.Exchange.Search.Service.exe",
        "Auto",
    ),
    (
        "MSExchangeFrontEndTransport",
        "Microsoft Exchange Frontend Transport",
        "Bin\\MSExchangeFrontendTransport.exe",
        "Auto",
    ),
    (
        "MSExchangeHM",
        "Microsoft Exchange Health Manager",
        "Bin\\MSExchangeHMHost.exe",
        "Auto",
    ),
    (
        "MSExchangeImap4",
        "Microsoft Exchange IMAP4",
        "FrontEnd\\PopImap\\Microsoft.Exchange.Imap4Service.exe",
        "Manual",
    ),
    (
        "MSExchangeIMAP4BE",
        "Microsoft Exchange IMAP4 Backend",
        "ClientAccess\\PopImap\\Microsoft.Exchange.Imap4ServiceBackend.exe",
        "Manual",
    ),
    (
        "MSExchangeIS",
        "Microsoft Exchange Information Store",
        "Bin\\Microsoft.Exchange.Store.Service.exe",
        "Auto",
    ),
    (
        "MSExchangeMailboxAssistants",
        "Microsoft Exchange Mailbox Assistants",
        "Bin\\MSExchangeMailboxAssistants.exe",
        "Auto",
    ),
    (
        "MSExchangeMailboxReplication",
        "Microsoft Exchange Mailbox Replication",
        "Bin\\MSExchangeMailboxReplication.exe",
        "Auto",
    ),
    (
        "MSExchangePop3",
        "Microsoft Exchange POP3",
        "FrontEnd\\PopImap\\Microsoft.Exchange.Pop3Service.exe",
        "Manual",
    ),
    (
        "MSExchangePOP3BE",
        "Microsoft Exchange POP3 Backend",
        "ClientAccess\\PopImap\\Microsoft.Exchange.Pop3ServiceBackend.exe",
        "Manual",
    ),
    (
        "MSExchangeRepl",
        "Microsoft Exchange Replication",
        "Bin\\msexchangerepl.exe",
        "Auto",
    ),
    (
        "MSExchangeRPC",
        "Microsoft Exchange RPC Client Access",
        "Bin\\Microsoft.Exchange.RpcClientAccess.Service.exe",
        "Auto",
    ),
    (
        "MSExchangeServiceHost",
        "Microsoft Exchange Service Host",
        "Bin\\Microsoft.Exchange.ServiceHost.exe",
        "Auto",
    ),
    (
        "MSExchangeSubmission",
        "Microsoft Exchange Mailbox Transport Submission",
        "Bin\\MSExchangeSubmission.exe",
        "Auto",
    ),
    (
        "MSExchangeThrottling",
        "Microsoft Exchange Throttling",
        "Bin\\MSExchangeThrottling.exe",
        "Auto",
    ),
    (
        "MSExchangeTransport",
        "Microsoft Exchange Transport",
        "Bin\\MSExchangeTransport.exe",
        "Auto",
    ),
    (
        "MSExchangeTransportLogSearch",
        "Microsoft Exchange Transport Log Search",
        "Bin\\MSExchangeTransportLogSearch.exe",
        "Auto",
    ),
    (
        "wsbexchange",
        "Microsoft Exchange Server Extension for Windows Server Backup",
        "Bin\\wsbexchange.exe",
        "Manual",
    ),
];

/// Services only some versions have.
const ONLY: &[(&str, &str, &str, &[Product])] = &[
    (
        "MSExchangeHMRecovery",
        "Microsoft Exchange Health Manager Recovery",
        "Bin\\MSExchangeHMRecovery.exe",
        &[Product::E2016, Product::E2019],
    ),
    (
        "MSExchangeNotificationsBroker",
        "Microsoft Exchange Notifications Broker",
        "Bin\\Microsoft.Exchange.Notifications.Broker.exe",
        &[Product::E2016, Product::E2019],
    ),
    (
        "MSExchangeUM",
        "Microsoft Exchange Unified Messaging",
        "Bin\\umservice.exe",
        &[Product::E2013, Product::E2016],
    ),
    (
        "MSExchangeUMCR",
        "Microsoft Exchange Unified Messaging Call Router",
        "FrontEnd\\CallRouter\\Microsoft.Exchange.UM.CallRouter.exe",
        &[Product::E2013, Product::E2016],
    ),
];

/// Windows services every such server has beyond `services::WINDOWS`.
const MORE_WINDOWS: &[(&str, &str, &str, &str)] = &[
    (
        "pla",
        "Performance Logs & Alerts",
        "Manual",
        "C:\\Windows\\System32\\svchost.exe -k LocalServiceNoNetwork",
    ),
    (
        "MpsSvc",
        "Windows Firewall",
        "Auto",
        "C:\\Windows\\system32\\svchost.exe -k LocalServiceNoNetwork",
    ),
    (
        "MSDTC",
        "Distributed Transaction Coordinator",
        "Auto",
        "C:\\Windows\\System32\\msdtc.exe",
    ),
];

/// Rows for a healthy server of `product`.
pub fn healthy_services(product: Product) -> Vec<Row> {
    if product == Product::E2010 {
        let mut rows = services::healthy_2010(product.install_dir());
        add_windows_extras(&mut rows);
        return rows;
    }
    let install = product.install_dir();
    let mut rows: Vec<Row> = EXCHANGE_V15
        .iter()
        .map(|(n, d, bin, mode)| {
            (
                n.to_string(),
                d.to_string(),
                mode.to_string(),
                if *mode == "Manual" {
                    "Stopped"
                } else {
                    "Running"
                }
                .to_string(),
                format!("\"{install}{bin}\""),
            )
        })
        .collect();
    for (n, d, bin, products) in ONLY {
        if products.contains(&product) {
            rows.push((
                n.to_string(),
                d.to_string(),
                "Auto".into(),
                "Running".into(),
                format!("\"{install}{bin}\""),
            ));
        }
    }
    rows.extend(services::WINDOWS.iter().map(|(n, d, m, p)| {
        (
            n.to_string(),
            d.to_string(),
            m.to_string(),
            "Running".to_string(),
            p.to_string(),
        )
    }));
    add_windows_extras(&mut rows);
    rows
}

fn add_windows_extras(rows: &mut Vec<Row>) {
    for (n, d, m, p) in MORE_WINDOWS {
        let state = if *m == "Manual" { "Stopped" } else { "Running" };
        services::add(rows, n, d, m, state, p);
    }
}

/// The services ServiceControl.ps1 disables ("Critical" plus the Exchange services present).
pub fn controlled_services(product: Product) -> Vec<String> {
    let mut names: Vec<String> = healthy_services(product)
        .into_iter()
        .filter(|r| {
            r.0.starts_with("MSExchange")
                || r.0 == "FMS"
                || r.0 == "HostControllerService"
                || r.0 == "msftesql-Exchange"
        })
        .filter(|r| r.2 == "Auto")
        .map(|r| r.0)
        .collect();
    names.extend(["W3SVC", "IISADMIN", "WinMgmt", "RemoteRegistry", "pla"].map(String::from));
    names
}

/// Marks every service ServiceControl.ps1 controls as disabled and stopped.
pub fn disable_controlled(rows: &mut [Row], product: Product) {
    for n in controlled_services(product) {
        let name = if n == "WinMgmt" {
            "Winmgmt".to_string()
        } else {
            n
        };
        services::set(rows, &name, "Disabled", "Stopped");
    }
}

fn hms(t: NaiveDateTime) -> String {
    t.format("[%H:%M:%S]").to_string()
}

/// ServiceControl.log for the runs of a log: each run that stopped services disables them; each
/// that got as far as restarting them enables them again.
pub fn service_control_log(runs: &[(&Story, &Trace)]) -> String {
    let mut out = String::new();
    for (story, trace) in runs {
        let names = controlled_services(story.product);
        if let Some(t) = trace.services_stopped {
            let h = hms(t);
            out.push_str(&format!(
                "{h} ***********************************************\n"
            ));
            out.push_str(&format!(
                "{h} * ServiceControl.ps1: {}\n",
                t.format("%m/%d/%Y %H:%M:%S")
            ));
            out.push_str(&format!(
                "{h} ***********************************************\n"
            ));
            out.push_str(&format!("{h} Beginning processing: Save\n"));
            out.push_str(&format!(
                "{h} Saving service state to 'C:\\ExchangeSetupLogs\\ServiceState.xml'.\n"
            ));
            out.push_str(&format!("{h} Ending processing: Save\n"));
            out.push_str(&format!(
                "{h} Beginning processing: DisableServices Critical\n"
            ));
            for n in &names {
                out.push_str(&format!("{h} Disabling service '{n}'.\n"));
            }
            out.push_str(&format!(
                "{h} Ending processing: DisableServices Critical\n"
            ));
            let h2 = hms(t + Duration::seconds(20));
            out.push_str(&format!("{h2} Beginning processing: Stop Critical\n"));
            for n in &names {
                out.push_str(&format!("{h2} Stopping service '{n}'.\n"));
                if n == "FMS" {
                    out.push_str(&format!("{h2} Killing instead of Stopping 'FMS'.\n"));
                }
            }
            out.push_str(&format!("{h2} Ending processing: Stop Critical\n"));
        }
        if let Some(t) = trace.services_started {
            let h = hms(t);
            out.push_str(&format!(
                "{h} ***********************************************\n"
            ));
            out.push_str(&format!(
                "{h} * ServiceControl.ps1: {}\n",
                t.format("%m/%d/%Y %H:%M:%S")
            ));
            out.push_str(&format!(
                "{h} ***********************************************\n"
            ));
            out.push_str(&format!(
                "{h} Beginning processing: EnableServices Critical\n"
            ));
            for n in &names {
                out.push_str(&format!("{h} Enabling service '{n}'.\n"));
            }
            out.push_str(&format!("{h} Ending processing: EnableServices Critical\n"));
            out.push_str(&format!("{h} Beginning processing: Start Critical\n"));
            for n in &names {
                out.push_str(&format!("{h} Starting service '{n}'.\n"));
            }
            out.push_str(&format!("{h} Ending processing: Start Critical\n"));
        }
    }
    out
}

/// The seven Client Access web.config files UpdateConfigFiles.ps1 rewrites.
pub const CONFIG_FILES: &[&str] = &[
    "ClientAccess\\ecp\\web.config",
    "ClientAccess\\Sync\\web.config",
    "ClientAccess\\Autodiscover\\web.config",
    "ClientAccess\\Owa\\web.config",
    "ClientAccess\\RpcProxy\\web.config",
    "ClientAccess\\exchweb\\ews\\management\\web.config",
    "ClientAccess\\exchweb\\ews\\web.config",
];

/// UpdateConfigFiles.log of one run at `t`; files in `skipped` are reported missing.
pub fn update_config_files_log(product: Product, t: NaiveDateTime, skipped: &[&str]) -> String {
    let install = product.install_dir();
    let mut out = String::new();
    let h = hms(t);
    for f in CONFIG_FILES {
        if skipped.contains(f) {
            out.push_str(&format!(
                "{h} WARNING - skipping {install}{f} - it does NOT exist\n"
            ));
        } else {
            out.push_str(&format!("{h} Modifying {install}{f}\n"));
        }
    }
    out
}

/// One role key of the registry export.
pub struct RoleKey {
    pub role: &'static str,
    pub configured: Option<String>,
    pub unpacked: String,
    pub watermark: Option<String>,
    pub action: Option<String>,
}

/// `reg export HKLM\SOFTWARE\Microsoft\ExchangeServer` (regedit 5: UTF-16LE with BOM).
pub fn exchange_registry(product: Product, build: &str, roles: &[RoleKey]) -> Vec<u8> {
    let major = if product.is_v15() { "v15" } else { "v14" };
    let base = format!("HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\{major}");
    let esc = |s: &str| s.replace('\\', "\\\\");
    let parts: Vec<u32> = build.split('.').filter_map(|p| p.parse().ok()).collect();
    let mut s = String::from("Windows Registry Editor Version 5.00\n\n");
    s.push_str(&format!(
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer]\n\n[{base}]\n\n"
    ));
    for r in roles {
        s.push_str(&format!("[{base}\\{}]\n", r.role));
        if let Some(c) = &r.configured {
            s.push_str(&format!("\"ConfiguredVersion\"=\"{c}\"\n"));
        }
        s.push_str(&format!("\"UnpackedVersion\"=\"{}\"\n", r.unpacked));
        if let Some(w) = &r.watermark {
            s.push_str(&format!("\"Watermark\"=\"{w}\"\n"));
        }
        if let Some(a) = &r.action {
            s.push_str(&format!("\"Action\"=\"{a}\"\n"));
        }
        s.push('\n');
    }
    s.push_str(&format!("[{base}\\Setup]\n"));
    s.push_str(&format!(
        "\"MsiInstallPath\"=\"{}\"\n",
        esc(product.install_dir())
    ));
    let names = [
        "MsiProductMajor",
        "MsiProductMinor",
        "MsiBuildMajor",
        "MsiBuildMinor",
    ];
    for (n, v) in names.iter().zip(parts.iter()) {
        s.push_str(&format!("\"{n}\"=dword:{v:08x}\n"));
    }
    s.push('\n');
    crate::builder::utf16le(&s)
}

/// system/inventory.csv: files under the install dir (a realistic sample, well over 100 rows),
/// without the ones in `missing`.
pub fn inventory(product: Product, missing: &[&str]) -> Vec<u8> {
    let mut files: Vec<String> = [
        "Bin\\ExSetup.exe",
        "Bin\\ServiceControl.ps1",
        "Bin\\RemoteExchange.ps1",
        "Bin\\ConnectFunctions.ps1",
        "Bin\\CommonConnectFunctions.ps1",
        "Bin\\UpdateCas.ps1",
        "Bin\\UpdateConfigFiles.ps1",
        "Bin\\EdgeTransport.exe",
        "Bin\\MSExchangeTransport.exe",
        "Bin\\Microsoft.Exchange.Store.Service.exe",
        "Bin\\Microsoft.Exchange.ServiceHost.exe",
        "Bin\\Microsoft.Exchange.Diagnostics.dll",
        "Bin\\Microsoft.Exchange.Common.dll",
        "Bin\\Microsoft.Exchange.Data.dll",
        "Bin\\Microsoft.Exchange.Data.Directory.dll",
        "Bin\\Microsoft.Exchange.Data.Storage.dll",
        "Bin\\Microsoft.Exchange.HttpRequestFiltering.dll",
        "Bin\\Microsoft.Exchange.Net.dll",
        "Bin\\Microsoft.Exchange.Rpc.dll",
        "Bin\\Microsoft.Exchange.Security.dll",
        "ClientAccess\\SharedWebConfig.config",
        "FrontEnd\\HttpProxy\\SharedWebConfig.config",
    ]
    .map(String::from)
    .to_vec();
    files.extend(CONFIG_FILES.iter().map(|f| f.to_string()));
    for i in 0..60 {
        files.push(format!("Bin\\Microsoft.Exchange.Management.Part{i:02}.dll"));
    }
    for i in 0..40 {
        files.push(format!(
            "ClientAccess\\Owa\\prem\\15.{}.0\\scripts\\premium\\part{i:02}.js",
            if product == Product::E2019 { 2 } else { 1 }
        ));
    }
    for i in 0..30 {
        files.push(format!(
            "FrontEnd\\HttpProxy\\bin\\Microsoft.Exchange.HttpProxy.Part{i:02}.dll"
        ));
    }
    let mut out = String::from(
        "#TYPE Selected.System.IO.FileInfo\n\"RelativePath\",\"Length\",\"LastWriteTimeUtc\"\n",
    );
    for (i, f) in files.iter().enumerate() {
        if missing.iter().any(|m| m.eq_ignore_ascii_case(f)) {
            continue;
        }
        let size = 4096 + (i as u64 * 7919) % 900_000;
        out.push_str(&format!(
            "\"{f}\",\"{size}\",\"2022-05-10T09:14:{:02}Z\"\n",
            i % 60
        ));
    }
    crate::builder::crlf(&out)
}

/// A Client Access web.config with `dir` where setup writes the install path (the placeholder
/// `%ExchangeInstallDir%` when the update step did not run).
pub fn web_config(dir: &str, version: &str) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <appSettings>\n",
    );
    s.push_str(&format!("    <add key=\"BinSearchFolders\" value=\"{dir}bin;{dir}bin\\CmdletExtensionAgents;{dir}ClientAccess\\Owa\\bin\" />\n"));
    s.push_str("  </appSettings>\n  <runtime>\n    <assemblyBinding xmlns=\"urn:schemas-microsoft-com:asm.v1\">\n");
    for a in [
        "Microsoft.Exchange.Common",
        "Microsoft.Exchange.Data",
        "Microsoft.Exchange.Data.Directory",
        "Microsoft.Exchange.Diagnostics",
        "Microsoft.Exchange.Net",
    ] {
        s.push_str(&format!("      <dependentAssembly>\n        <assemblyIdentity name=\"{a}\" publicKeyToken=\"31bf3856ad364e35\" culture=\"neutral\" />\n        <codeBase version=\"{version}\" href=\"file:///{dir}bin\\{a}.dll\" />\n      </dependentAssembly>\n"));
    }
    s.push_str("    </assemblyBinding>\n  </runtime>\n</configuration>\n");
    crate::builder::utf8_bom_crlf(&s)
}

// ------------------------------------------------------------------------------------------
// Event logs
// ------------------------------------------------------------------------------------------

/// A classic event source (unnamed insertion strings, qualifiers from the level).
pub fn classic_event(
    time: DateTime<Utc>,
    channel: &str,
    computer: &str,
    provider: &str,
    id: u16,
    level: u8,
    data: &[&str],
) -> EventSpec {
    let qualifiers = match level {
        1 | 2 => 49152,
        3 => 32768,
        _ => 16384,
    };
    EventSpec {
        provider: provider.into(),
        event_id: id,
        qualifiers: Some(qualifiers),
        level,
        task: Some(0),
        keywords: Some(0x0080_0000_0000_0000),
        time,
        channel: channel.into(),
        computer: computer.into(),
        process_id: 4 + (id as u32 % 97) * 8,
        thread_id: 112 + (id as u32 % 53) * 4,
        data: data.iter().map(|d| DataField::unnamed(*d)).collect(),
        ..EventSpec::default()
    }
}

/// An event of HTTP.sys (`Microsoft-Windows-HttpEvent`, in System): a manifest provider, so
/// written with its GUID and without qualifiers, as Windows does.
pub fn http_sys_event(
    time: DateTime<Utc>,
    computer: &str,
    id: u16,
    level: u8,
    data: &[&str],
) -> EventSpec {
    let mut e = classic_event(
        time,
        "System",
        computer,
        "Microsoft-Windows-HttpEvent",
        id,
        level,
        data,
    );
    e.provider_guid = Some("{7b6bc78c-898b-4170-bbf8-1a469ea43fc5}".into());
    e.qualifiers = None;
    e
}

/// Service Control Manager 7036 ("The X service entered the Y state").
pub fn scm_state(time: DateTime<Utc>, computer: &str, display: &str, state: &str) -> EventSpec {
    EventSpec {
        provider: "Service Control Manager".into(),
        provider_guid: Some("{555908d1-a6d7-4695-8e1e-26931d2012f4}".into()),
        event_id: 7036,
        qualifiers: Some(16384),
        level: 4,
        task: Some(0),
        opcode: Some(0),
        keywords: Some(0x8080_0000_0000_0000),
        time,
        channel: "System".into(),
        computer: computer.into(),
        process_id: 612,
        thread_id: 2044,
        data: vec![
            DataField::named("param1", display),
            DataField::named("param2", state),
        ],
        ..EventSpec::default()
    }
}

/// A week of ordinary System-log events before `until`: daily uptime reports and service state
/// changes of a healthy server.
pub fn system_background(computer: &str, until: DateTime<Utc>) -> Vec<EventSpec> {
    let mut out = Vec::new();
    for day in (1..=7).rev() {
        let noon = until - Duration::days(day) + Duration::minutes(17);
        out.push(classic_event(
            noon,
            "System",
            computer,
            "EventLog",
            6013,
            4,
            &["", "", "", "", &format!("{}", 86_400 * (20 - day)), "", ""],
        ));
        out.push(scm_state(
            noon + Duration::minutes(3),
            computer,
            "Windows Modules Installer",
            "running",
        ));
        out.push(scm_state(
            noon + Duration::minutes(13),
            computer,
            "Windows Modules Installer",
            "stopped",
        ));
    }
    out
}

/// The `.evtx` bytes of `events`, in time order with increasing record ids.
pub fn evtx(mut events: Vec<EventSpec>, first_id: u64) -> Vec<u8> {
    events.sort_by_key(|e| e.time);
    for (i, e) in events.iter_mut().enumerate() {
        e.record_id = first_id + i as u64;
    }
    evtx_writer::to_bytes(&events).unwrap_or_default()
}

/// Local setup-log time to UTC with the server's offset.
pub fn utc(local: NaiveDateTime, offset_minutes: i32) -> DateTime<Utc> {
    (local - Duration::minutes(offset_minutes as i64)).and_utc()
}
