//! The sample scenarios: each builds a whole bundle from the same pieces.

use crate::builder::{BundleBuilder, ManifestInfo, crlf, utf8_bom_crlf, utf16le};
use crate::setup_log::{self, Ending, Run};
use crate::{events, host, iis, registry, services};
use chrono::{NaiveDate, NaiveDateTime};

pub const INSTALL_2010: &str = "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\";
pub const SERVER: &str = "EX01";
pub const DOMAIN: &str = "contoso.local";
/// The seed's consultant worked in Australia: the server's clock is UTC+11 (daylight time).
pub const OFFSET_MINUTES: i32 = 660;

pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, frac4: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|d| d.and_hms_micro_opt(h, mi, s, frac4 * 100))
        .expect("valid fixed date")
}

/// The command the seed's setup log shows failing, as setup prints it.
pub const SEED_COMMAND: &str = "$error.Clear();
          if (get-service MSExchangeServiceHost* | where {$_.name -eq \"MSExchangeServiceHost\"})
          {
            restart-service MSExchangeServiceHost
          }
        ";

/// The seed's `[ERROR]` lines, verbatim apart from typographic quotes.
pub fn seed_errors() -> Vec<String> {
    vec![
        "Service 'Microsoft Exchange Service Host (MSExchangeServiceHost)' cannot be started due to the following error: Cannot start service MSExchangeServiceHost on computer '.'.".into(),
        "Cannot start service MSExchangeServiceHost on computer '.'.".into(),
        "The service cannot be started, either because it is disabled or because it has no enabled devices associated with it".into(),
    ]
}

fn base_run(version: &str, mode: &str, prev: Option<&str>, start: NaiveDateTime) -> Run {
    Run {
        product: "2010".into(),
        version: version.into(),
        mode: mode.into(),
        previous_version: prev.map(str::to_string),
        start,
        user: "CONTOSO\\Administrator".into(),
        server: SERVER.into(),
        domain: DOMAIN.into(),
        roles: [
            "AdminToolsRole",
            "BridgeheadRole",
            "ClientAccessRole",
            "MailboxRole",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        time_zone_text: "(UTC+10:00) Canberra, Melbourne, Sydney".into(),
        ending: Ending::Completed,
        extra_prereq_lines: vec![],
        extra_task_lines: vec![],
    }
}

/// RTM install, SP1 upgrade, then the SP2 upgrade that either stops (the seed) or completes.
pub fn seed_runs(sp2_fails: bool) -> Vec<Run> {
    let rtm = base_run(
        "14.0.639.21",
        "Install",
        None,
        at(2010, 3, 16, 10, 2, 11, 4410),
    );
    let sp1 = base_run(
        "14.1.218.15",
        "Upgrade",
        Some("14.0.639.21"),
        at(2011, 1, 22, 19, 30, 4, 1203),
    );
    let mut sp2 = base_run(
        "14.2.247.5",
        "Upgrade",
        Some("14.1.218.15"),
        at(2012, 2, 12, 20, 41, 7, 3020),
    );
    if sp2_fails {
        sp2.ending = Ending::Failed {
            task: "Install-BridgeheadRole".into(),
            component: "Bridgehead Role Setter".into(),
            command: Some(SEED_COMMAND.into()),
            errors: seed_errors(),
            reference: "BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908".into(),
            at: Some(at(2012, 2, 12, 21, 15, 49, 269)),
            end: Some(at(2012, 2, 12, 22, 19, 30, 147)),
        };
    }
    vec![rtm, sp1, sp2]
}

pub fn manifest_2010() -> ManifestInfo {
    ManifestInfo {
        computer_name: SERVER.into(),
        domain: DOMAIN.into(),
        collected_utc: "2012-02-13T23:05:12Z".into(),
        utc_offset_minutes: OFFSET_MINUTES,
        time_zone_id: "AUS Eastern Standard Time".into(),
        install_path: INSTALL_2010.into(),
        exchange_version: "14.2.247.5".into(),
    }
}

/// The seed incident (`broken = true`) or its healthy twin.
pub fn exchange2010_sp2(broken: bool) -> BundleBuilder {
    let mut b = BundleBuilder::new();
    b.manifest(Some(manifest_2010()));
    let log = setup_log::log(&seed_runs(broken), 2010);
    b.file(
        "setup/ExchangeSetup.log",
        "C:\\ExchangeSetupLogs\\ExchangeSetup.log",
        crlf(&log),
    );
    let mut rows = services::healthy_2010(INSTALL_2010);
    if broken {
        services::set(&mut rows, "MSExchangeServiceHost", "Disabled", "Stopped");
        services::set(&mut rows, "msftesql-Exchange", "Disabled", "Stopped");
        services::set(&mut rows, "MSExchangeSearch", "Auto", "Stopped");
        services::set(&mut rows, "MSExchangeMailSubmission", "Auto", "Stopped");
        services::set(&mut rows, "MSExchangeRepl", "Auto", "Stopped");
        services::add(
            &mut rows,
            "SepMasterService",
            "Symantec Endpoint Protection",
            "Auto",
            "Running",
            "\"C:\\Program Files (x86)\\Symantec\\Symantec Endpoint Protection\\ccSvcHst.exe\" /s \"Symantec Endpoint Protection\" /m \"C:\\Program Files (x86)\\Symantec\\Symantec Endpoint Protection\\sms.dll\" /prefetch:1",
        );
    }
    b.file(
        "system/services.csv",
        "Get-WmiObject Win32_Service",
        crlf(&services::csv(&rows)),
    );

    b.file(
        "registry/HKLM-SOFTWARE-Microsoft-ExchangeServer.reg",
        "reg export HKLM\\SOFTWARE\\Microsoft\\ExchangeServer",
        utf16le(&registry::exchange_server(
            INSTALL_2010,
            broken,
            "BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908",
        )),
    );
    for (path, text) in registry::services(&rows) {
        let key = path
            .trim_start_matches("registry/HKLM-SYSTEM-CurrentControlSet-Services-")
            .trim_end_matches(".reg");
        let source = format!("reg export HKLM\\SYSTEM\\CurrentControlSet\\Services\\{key}");
        b.file(&path, &source, utf16le(&text));
    }

    b.file(
        "iis/applicationHost.config",
        "C:\\Windows\\System32\\inetsrv\\config\\applicationHost.config",
        utf8_bom_crlf(&iis::application_host(INSTALL_2010, broken)),
    );
    let web = iis::web_configs(INSTALL_2010, broken);
    for w in &web {
        b.file(
            &format!("iis/webconfig/{}", w.relative),
            &format!("{INSTALL_2010}{}", w.relative.replace('/', "\\")),
            utf8_bom_crlf(&w.text),
        );
    }

    // The SP2 MSI laid the web.config files down with tokens; in the healthy run the Client
    // Access role's configuration rewrote them a few minutes later.
    let run = events::sp2_run(&log, OFFSET_MINUTES);
    let configured = if broken {
        run.install.map(|(_, end)| end)
    } else {
        run.client_access
    }
    .unwrap_or_else(events::collected);
    let files = host::files(&web, broken, configured);
    b.file(
        "system/software.csv",
        "Uninstall registry keys, antivirus services, SecurityCenter2, fltmc",
        utf8_bom_crlf(&host::software(&rows, broken)),
    );
    b.file(
        "system/file-versions.csv",
        &format!("{INSTALL_2010}Bin\\*.exe, *.dll; exppw.dll"),
        utf8_bom_crlf(&host::file_versions(&files, INSTALL_2010)),
    );
    b.file(
        "system/inventory.csv",
        &format!("file list of {}", INSTALL_2010.trim_end_matches('\\')),
        utf8_bom_crlf(&host::inventory(&files)),
    );
    let acls = host::acls(INSTALL_2010, broken);
    for (path, source, text) in acls.iter().chain(host::acl_sids(&acls).iter()) {
        b.file(path, source, utf8_bom_crlf(text));
    }
    let m = manifest_2010();
    b.file(
        "system/host.json",
        "WMI, registry, .NET",
        host::host_json(
            SERVER,
            DOMAIN,
            INSTALL_2010,
            OFFSET_MINUTES,
            &m.time_zone_id,
            events::last_boot(),
            events::collected(),
        )
        .into_bytes(),
    );

    let (system, application) =
        events::logs(&log, OFFSET_MINUTES, &rows, &web, INSTALL_2010, broken);
    b.file("evtx/System.evtx", "wevtutil epl System", system);
    b.file(
        "evtx/Application.evtx",
        "wevtutil epl Application",
        application,
    );
    collector_files(&mut b, 7, 5);
    b
}

/// What the collector writes on every server beside the evidence itself: the IIS setup key,
/// the message tables `wevtutil al` leaves for each exported log, and its own log.
pub fn collector_files(b: &mut BundleBuilder, iis_major: u32, iis_minor: u32) {
    b.file(
        "registry/HKLM-SOFTWARE-Microsoft-InetStp.reg",
        "reg export HKLM\\SOFTWARE\\Microsoft\\InetStp",
        utf16le(&registry::inet_stp(iis_major, iis_minor)),
    );
    b.collector_log();
}
