//! `system/services.csv` as PowerShell 2.0's `Export-Csv` writes a `Get-WmiObject Win32_Service`
//! selection: a `#TYPE` line, quoted header and fields, UTF-8 with CRLF.

/// (key name, display name, binary) of the services an Exchange 2010 server has.
pub const EXCHANGE_2010: &[(&str, &str, &str)] = &[
    (
        "MSExchangeADTopology",
        "Microsoft Exchange Active Directory Topology",
        "Bin\\MSExchangeADTopologyService.exe",
    ),
    (
        "MSExchangeAntispamUpdate",
        "Microsoft Exchange Anti-spam Update",
        "Bin\\Microsoft.Exchange.AntispamUpdateSvc.exe",
    ),
    (
        "MSExchangeEdgeSync",
        "Microsoft Exchange EdgeSync",
        "Bin\\Microsoft.Exchange.EdgeSyncSvc.exe",
    ),
    (
        "MSExchangeFDS",
        "Microsoft Exchange File Distribution",
        "Bin\\MSExchangeFDS.exe",
    ),
    (
        "MSExchangeImap4",
        "Microsoft Exchange IMAP4",
        "ClientAccess\\PopImap\\Microsoft.Exchange.Imap4Service.exe",
    ),
    (
        "MSExchangeIS",
        "Microsoft Exchange Information Store",
        "Bin\\Store.exe",
    ),
    (
        "MSExchangeMailboxAssistants",
        "Microsoft Exchange Mailbox Assistants",
        "Bin\\MSExchangeMailboxAssistants.exe",
    ),
    (
        "MSExchangeMailSubmission",
        "Microsoft Exchange Mail Submission",
        "Bin\\MSExchangeMailSubmission.exe",
    ),
    (
        "MSExchangeMonitoring",
        "Microsoft Exchange Monitoring",
        "Bin\\Microsoft.Exchange.Monitoring.exe",
    ),
    (
        "MSExchangePop3",
        "Microsoft Exchange POP3",
        "ClientAccess\\PopImap\\Microsoft.Exchange.Pop3Service.exe",
    ),
    (
        "MSExchangeProtectedServiceHost",
        "Microsoft Exchange Protected Service Host",
        "Bin\\Microsoft.Exchange.ProtectedServiceHost.exe",
    ),
    (
        "MSExchangeRepl",
        "Microsoft Exchange Replication Service",
        "Bin\\MSExchangeRepl.exe",
    ),
    (
        "MSExchangeRPC",
        "Microsoft Exchange RPC Client Access",
        "Bin\\Microsoft.Exchange.RpcClientAccess.Service.exe",
    ),
    (
        "MSExchangeSA",
        "Microsoft Exchange System Attendant",
        "Bin\\mad.exe",
    ),
    (
        "MSExchangeSearch",
        "Microsoft Exchange Search Indexer",
        "Bin\\Microsoft.Exchange.Search.ExSearch.exe",
    ),
    (
        "MSExchangeServiceHost",
        "Microsoft Exchange Service Host",
        "Bin\\Microsoft.Exchange.ServiceHost.exe",
    ),
    (
        "MSExchangeThrottling",
        "Microsoft Exchange Throttling",
        "Bin\\MSExchangeThrottling.exe",
    ),
    (
        "MSExchangeTransport",
        "Microsoft Exchange Transport",
        "Bin\\MSExchangeTransport.exe",
    ),
    (
        "MSExchangeTransportLogSearch",
        "Microsoft Exchange Transport Log Search",
        "Bin\\MSExchangeTransportLogSearch.exe",
    ),
    (
        "msftesql-Exchange",
        "Microsoft Search (Exchange Server)",
        "Bin\\msftesql.exe",
    ),
];

/// Windows services present on every such server, with their usual start modes.
pub const WINDOWS: &[(&str, &str, &str, &str)] = &[
    (
        "W3SVC",
        "World Wide Web Publishing Service",
        "Auto",
        "C:\\Windows\\system32\\svchost.exe -k iissvcs",
    ),
    (
        "WAS",
        "Windows Process Activation Service",
        "Manual",
        "C:\\Windows\\system32\\svchost.exe -k iissvcs",
    ),
    (
        "IISADMIN",
        "IIS Admin Service",
        "Auto",
        "C:\\Windows\\system32\\inetsrv\\inetinfo.exe",
    ),
    (
        "WinRM",
        "Windows Remote Management (WS-Management)",
        "Auto",
        "C:\\Windows\\System32\\svchost.exe -k NetworkService",
    ),
    (
        "RemoteRegistry",
        "Remote Registry",
        "Auto",
        "C:\\Windows\\system32\\svchost.exe -k regsvc",
    ),
    (
        "Winmgmt",
        "Windows Management Instrumentation",
        "Auto",
        "C:\\Windows\\system32\\svchost.exe -k netsvcs",
    ),
    (
        "EventLog",
        "Windows Event Log",
        "Auto",
        "C:\\Windows\\System32\\svchost.exe -k LocalServiceNetworkRestricted",
    ),
    (
        "NetTcpPortSharing",
        "Net.Tcp Port Sharing Service",
        "Auto",
        "C:\\Windows\\Microsoft.NET\\Framework64\\v3.0\\Windows Communication Foundation\\SMSvcHost.exe",
    ),
    (
        "HTTPFilter",
        "HTTP SSL",
        "Manual",
        "C:\\Windows\\system32\\lsass.exe",
    ),
    (
        "Spooler",
        "Print Spooler",
        "Auto",
        "C:\\Windows\\System32\\spoolsv.exe",
    ),
];

/// One row: (name, display, start mode, state, path).
pub type Row = (String, String, String, String, String);

/// Rows for an Exchange 2010 server installed at `install` with every service healthy.
pub fn healthy_2010(install: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = EXCHANGE_2010
        .iter()
        .map(|(n, d, bin)| {
            let manual = matches!(
                *n,
                "MSExchangeImap4" | "MSExchangePop3" | "msftesql-Exchange"
            );
            (
                n.to_string(),
                d.to_string(),
                if manual { "Manual" } else { "Auto" }.to_string(),
                if manual && *n != "msftesql-Exchange" {
                    "Stopped"
                } else {
                    "Running"
                }
                .to_string(),
                format!("\"{install}{bin}\""),
            )
        })
        .collect();
    rows.extend(WINDOWS.iter().map(|(n, d, m, p)| {
        (
            n.to_string(),
            d.to_string(),
            m.to_string(),
            "Running".to_string(),
            p.to_string(),
        )
    }));
    rows
}

/// Sets one service's start mode and state.
pub fn set(rows: &mut [Row], name: &str, mode: &str, state: &str) {
    for r in rows.iter_mut().filter(|r| r.0 == name) {
        r.2 = mode.to_string();
        r.3 = state.to_string();
    }
}

pub fn add(rows: &mut Vec<Row>, name: &str, display: &str, mode: &str, state: &str, path: &str) {
    rows.push((
        name.into(),
        display.into(),
        mode.into(),
        state.into(),
        path.into(),
    ));
}

pub fn csv(rows: &[Row]) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from("#TYPE Selected.System.Management.ManagementObject\n");
    out.push_str("\"Name\",\"DisplayName\",\"StartMode\",\"State\",\"StartName\",\"PathName\"\n");
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|a| a.0.to_lowercase());
    for (n, d, m, s, p) in &sorted {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            q(n),
            q(d),
            q(m),
            q(s),
            q("LocalSystem"),
            q(p)
        ));
    }
    out
}
