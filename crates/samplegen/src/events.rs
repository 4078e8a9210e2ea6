//! `evtx/System.evtx` and `evtx/Application.evtx`: a week of an Exchange 2010 server's ordinary
//! events (Software Protection, Group Policy, AD topology discovery, a Windows Update reboot…)
//! with the SP2 run laid over them at the times the setup log gives, converted from the
//! server's local time (UTC+11) to UTC as Windows stores them.
//!
//! Event shapes follow real records (exchange-facts B1/B3, `shared/evtx-corpus`): Service Control
//! Manager data as `param1..N` with Win32 errors as `%%1058`, classic sources (ASP.NET, MSExchange*,
//! MsiInstaller, Symantec AntiVirus, EventLog) as unnamed `<Data>` lists, manifest providers with
//! their GUID and named data. Shapes marked "[M]" in the reference (WAS 5139's data names,
//! IIS-W3SVC-WP 2280's, MSExchange qualifiers) are best knowledge, not verified. The `<Binary>`
//! some real records carry is not written (the writer has none; no rule reads it).
//!
//! The seed's events (`broken`): SCM 7040 disabling MSExchangeServiceHost and Microsoft Search
//! (Exchange Server) before the run; 7000 (`%%1058`) when setup restarts the Service Host;
//! MSExchangeSetup 1002; 7001 (Search Indexer, `%%1058` from its dependency); ASP.NET 1310 citing
//! the line of `Microsoft.Exchange.Security`'s `codeBase` in the sync, EWS and Autodiscover
//! web.config files; IIS-W3SVC-WP 2280 for exppw.dll; WAS 5139 for DefaultAppPool's worker process
//! 740; Symantec AntiVirus scans running through the upgrade. The healthy twin has the same
//! background and an SP2 run that completes (MSExchangeSetup 1000/1001).

use crate::iis::WebConfig;
use crate::rng::Rng;
use crate::services::Row;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use evtx_writer::{DataField, EventSpec};

const COMPUTER: &str = "EX01.contoso.local";
const SCM_GUID: &str = "{555908d1-a6d7-4695-8e1e-26931d2012f4}";
/// Keywords of classic (non-manifest) sources: "Classic".
const KW_CLASSIC: u64 = 0x0080_0000_0000_0000;
/// Service Control Manager's keywords.
const KW_SCM: u64 = 0x8080_0000_0000_0000;
const KW_MANIFEST: u64 = 0x8000_0000_0000_0000;
/// The domain administrator who ran setup (RID 500).
const ADMIN_SID: &str = "S-1-5-21-3623811015-3361044348-30300820-500";

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|d| d.and_hms_milli_opt(h, mi, s, ms))
        .map(|t| Utc.from_utc_datetime(&t))
        .expect("valid fixed time")
}

/// Where the exported logs start (the collector's `-Days` window): 00:00 local on 6 Feb 2012.
pub fn window_start() -> DateTime<Utc> {
    utc(2012, 2, 5, 13, 0, 0, 0)
}

/// The Windows Update restart in the small hours of Thursday 9 Feb (local): the boot host.json
/// reports as the last one.
pub fn last_boot() -> DateTime<Utc> {
    utc(2012, 2, 8, 15, 51, 40, 500)
}

/// The manifest's collection time.
pub fn collected() -> DateTime<Utc> {
    utc(2012, 2, 13, 23, 5, 12, 0)
}

/// Times of the SP2 run, read back from the generated setup log (local time → UTC).
#[derive(Debug, Clone, Default)]
pub struct Sp2Run {
    pub start: Option<DateTime<Utc>>,
    pub stop_services: Option<DateTime<Utc>>,
    pub uninstall: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub install: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub start_setup_service: Vec<DateTime<Utc>>,
    pub perf_counters: Vec<DateTime<Utc>>,
    pub client_access: Option<DateTime<Utc>>,
    pub bridgehead_setter: Option<DateTime<Utc>>,
    pub start_services: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    pub error: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Reads the last run of an ExchangeSetup.log (`[MM/DD/YYYY HH:MM:SS.ffff] [n] text`, local time
/// `offset_minutes` ahead of UTC).
pub fn sp2_run(log: &str, offset_minutes: i32) -> Sp2Run {
    let runs: Vec<&str> = log.split("Starting Microsoft Exchange Server").collect();
    let last = runs.last().copied().unwrap_or("");
    let mut r = Sp2Run::default();
    let mut pending_uninstall = None;
    let mut pending_install = None;
    // The banner line itself was split off: its time is the first stamp of the chunk before.
    let first_time = |chunk: &str| -> Option<NaiveDateTime> {
        let line = chunk.lines().last()?;
        stamp(line)
    };
    if runs.len() >= 2 {
        r.start = first_time(runs[runs.len() - 2]).map(|t| to_utc(t, offset_minutes));
    }
    for line in last.lines() {
        let Some(t) = stamp(line) else { continue };
        let t = to_utc(t, offset_minutes);
        let text = line.get(31..).unwrap_or("");
        if text.contains("Processing component 'Stop Services'") {
            r.stop_services = Some(t);
        } else if text.contains("Beginning processing uninstall-MsiPackage") {
            pending_uninstall = Some(t);
        } else if text.contains("Ending processing uninstall-MsiPackage") {
            r.uninstall = pending_uninstall.map(|s| (s, t));
        } else if text.contains("Beginning processing install-MsiPackage") {
            pending_install = Some(t);
        } else if text.contains("Ending processing install-MsiPackage") {
            r.install = pending_install.map(|s| (s, t));
        } else if text.contains("Beginning processing Start-SetupService") {
            r.start_setup_service.push(t);
        } else if text.contains("Beginning processing Install-PerfCounters") {
            r.perf_counters.push(t);
        } else if text.contains("Beginning processing Install-ClientAccessRole") {
            r.client_access = Some(t);
        } else if text.contains("Processing component 'Bridgehead Role Setter'") {
            r.bridgehead_setter = Some(t);
        } else if text.contains("Processing component 'Start Services'") {
            r.start_services = Some(t);
        } else if text.contains("setup operation completed successfully") {
            r.completed = Some(t);
        } else if text.contains("[ERROR]") && r.error.is_none() {
            r.error = Some(t);
        } else if text.contains("End of Setup") {
            r.end = Some(t);
        }
    }
    r
}

fn stamp(line: &str) -> Option<NaiveDateTime> {
    let s = line.strip_prefix('[')?.get(..24)?;
    NaiveDateTime::parse_from_str(s, "%m/%d/%Y %H:%M:%S%.f").ok()
}

fn to_utc(local: NaiveDateTime, offset_minutes: i32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&(local - Duration::minutes(offset_minutes as i64)))
}

// ------------------------------------------------------------------------------------------
// Building records
// ------------------------------------------------------------------------------------------

/// One log being assembled: events are kept with their time and sorted (stably) at the end,
/// when record ids are given out.
struct Log {
    channel: &'static str,
    events: Vec<EventSpec>,
}

impl Log {
    fn new(channel: &'static str) -> Self {
        Log {
            channel,
            events: Vec::new(),
        }
    }

    fn push(&mut self, mut e: EventSpec) {
        e.channel = self.channel.to_string();
        e.computer = COMPUTER.to_string();
        self.events.push(e);
    }

    fn finish(mut self, first_id: u64, until: DateTime<Utc>) -> Vec<u8> {
        self.events
            .retain(|e| e.time >= window_start() && e.time < until);
        self.events.sort_by_key(|e| e.time);
        for (i, e) in self.events.iter_mut().enumerate() {
            e.record_id = first_id + i as u64;
        }
        evtx_writer::to_bytes(&self.events).unwrap_or_default()
    }
}

fn scm(time: DateTime<Utc>, id: u16, params: &[&str], pid: u32, rng: &mut Rng) -> EventSpec {
    let error = matches!(
        id,
        7000 | 7001 | 7009 | 7011 | 7022 | 7023 | 7024 | 7031 | 7034
    );
    EventSpec {
        provider: "Service Control Manager".into(),
        provider_guid: Some(SCM_GUID.into()),
        event_id: id,
        qualifiers: Some(if error { 49152 } else { 16384 }),
        level: if error { 2 } else { 4 },
        task: Some(0),
        opcode: Some(0),
        keywords: Some(KW_SCM),
        time,
        process_id: pid,
        thread_id: thread(rng),
        data: params
            .iter()
            .enumerate()
            .map(|(i, p)| DataField::named(format!("param{}", i + 1), *p))
            .collect(),
        ..EventSpec::default()
    }
}

/// A classic event source: qualifiers from the level, unnamed insertion strings.
fn classic(
    time: DateTime<Utc>,
    provider: &str,
    id: u16,
    level: u8,
    task: u16,
    data: &[&str],
) -> EventSpec {
    let qualifiers = match level {
        1 | 2 => 49152,
        3 => 32768,
        _ => 16384,
    };
    classic_q(time, provider, id, qualifiers, level, task, data)
}

fn classic_q(
    time: DateTime<Utc>,
    provider: &str,
    id: u16,
    qualifiers: u16,
    level: u8,
    task: u16,
    data: &[&str],
) -> EventSpec {
    EventSpec {
        provider: provider.into(),
        event_id: id,
        qualifiers: Some(qualifiers),
        level,
        task: Some(task),
        keywords: Some(KW_CLASSIC),
        time,
        data: data.iter().map(|d| DataField::unnamed(*d)).collect(),
        ..EventSpec::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn manifest(
    time: DateTime<Utc>,
    provider: &str,
    guid: &str,
    id: u16,
    qualifiers: Option<u16>,
    level: u8,
    keywords: u64,
    data: &[(&str, &str)],
    pid: u32,
    rng: &mut Rng,
) -> EventSpec {
    EventSpec {
        provider: provider.into(),
        provider_guid: Some(guid.into()),
        event_id: id,
        qualifiers,
        level,
        task: Some(0),
        opcode: Some(0),
        keywords: Some(keywords),
        time,
        process_id: pid,
        thread_id: thread(rng),
        data: data.iter().map(|(n, v)| DataField::named(*n, *v)).collect(),
        ..EventSpec::default()
    }
}

fn thread(rng: &mut Rng) -> u32 {
    (rng.range(60, 1800) * 4) as u32
}

fn jitter(rng: &mut Rng, max_ms: u64) -> Duration {
    Duration::milliseconds(rng.range(0, max_ms) as i64)
}

/// Local wall-clock (UTC+11) → UTC, for background events scheduled by local time.
fn local(d: DateTime<Utc>, h: u32, m: u32) -> DateTime<Utc> {
    let local_day = (d + Duration::minutes(660)).date_naive();
    let t = local_day
        .and_hms_opt(h, m, 0)
        .expect("valid wall-clock time");
    Utc.from_utc_datetime(&(t - Duration::minutes(660)))
}

// ------------------------------------------------------------------------------------------
// The server's ordinary week
// ------------------------------------------------------------------------------------------

/// Process ids that change when the server restarts.
struct Pids {
    scm: u32,
    adtopology: u32,
}

const PIDS_BEFORE_BOOT: Pids = Pids {
    scm: 492,
    adtopology: 1604,
};
const PIDS_AFTER_BOOT: Pids = Pids {
    scm: 500,
    adtopology: 1588,
};

fn pids(t: DateTime<Utc>) -> &'static Pids {
    if t < last_boot() {
        &PIDS_BEFORE_BOOT
    } else {
        &PIDS_AFTER_BOOT
    }
}

/// Windows services the reboot stops and starts, as SCM names them.
const BOOT_SERVICES: &[&str] = &[
    "Windows Event Log",
    "Group Policy Client",
    "DHCP Client",
    "DNS Client",
    "Network Location Awareness",
    "Network Store Interface Service",
    "Cryptographic Services",
    "COM+ Event System",
    "System Event Notification Service",
    "Task Scheduler",
    "Windows Management Instrumentation",
    "Remote Procedure Call (RPC)",
    "Server",
    "Workstation",
    "Netlogon",
    "Remote Registry",
    "Print Spooler",
    "Windows Firewall",
    "Base Filtering Engine",
    "IP Helper",
    "Distributed Transaction Coordinator",
    "Net.Tcp Port Sharing Service",
    "Windows Remote Management (WS-Management)",
    "Windows Process Activation Service",
    "IIS Admin Service",
    "World Wide Web Publishing Service",
    "VMware Tools Service",
];

/// Exchange services as SCM names them, in the order they start at boot.
const EXCHANGE_START_ORDER: &[&str] = &[
    "Microsoft Exchange Active Directory Topology",
    "Microsoft Exchange Service Host",
    "Microsoft Exchange Protected Service Host",
    "Microsoft Exchange Anti-spam Update",
    "Microsoft Exchange EdgeSync",
    "Microsoft Exchange File Distribution",
    "Microsoft Exchange Information Store",
    "Microsoft Exchange System Attendant",
    "Microsoft Exchange Replication Service",
    "Microsoft Exchange RPC Client Access",
    "Microsoft Exchange Mailbox Assistants",
    "Microsoft Exchange Mail Submission",
    "Microsoft Exchange Monitoring",
    "Microsoft Exchange Throttling",
    "Microsoft Exchange Transport",
    "Microsoft Exchange Transport Log Search",
    "Microsoft Search (Exchange Server)",
    "Microsoft Exchange Search Indexer",
];

/// The week's background: identical in both samples (fixed seeds, independent of the run).
fn background(
    sys: &mut Log,
    app: &mut Log,
    broken: bool,
    sp2_down: (DateTime<Utc>, DateTime<Utc>),
) {
    let mut rng = Rng::new(0x0051_57E4_2012);
    let start = window_start();
    let end = collected();
    let boot = last_boot();

    // Software Protection: started on demand, stops itself half a minute later.
    let mut t = start + Duration::minutes(17);
    while t < end {
        let p = pids(t).scm;
        sys.push(scm(
            t,
            7036,
            &["Software Protection", "running"],
            p,
            &mut rng,
        ));
        app.push(classic(
            t + jitter(&mut rng, 900),
            "Microsoft-Windows-Security-SPP",
            902,
            4,
            0,
            &["6.1.7601.17514"],
        ));
        let stop = t + Duration::seconds(rng.range(28, 40) as i64);
        app.push(classic(
            stop,
            "Microsoft-Windows-Security-SPP",
            903,
            4,
            0,
            &[],
        ));
        sys.push(scm(
            stop + jitter(&mut rng, 300),
            7036,
            &["Software Protection", "stopped"],
            p,
            &mut rng,
        ));
        t += Duration::minutes(rng.range(25, 70) as i64);
    }

    // Group Policy refresh every 90 minutes plus up to 30 minutes of random offset.
    let mut t = start + Duration::minutes(41);
    while t < end {
        let ms = rng.range(180, 1400).to_string();
        sys.push(manifest(
            t,
            "Microsoft-Windows-GroupPolicy",
            "{aea1b4fa-97d1-45f2-a64c-4d69fffd92c9}",
            1500,
            None,
            4,
            KW_MANIFEST,
            &[
                ("SupportInfo1", "1"),
                ("SupportInfo2", "4220"),
                ("ProcessingMode", "0"),
                ("ProcessingTimeInMilliseconds", &ms),
                ("DCName", "\\\\DC01.contoso.local"),
            ],
            1032,
            &mut rng,
        ));
        t += Duration::minutes(rng.range(90, 120) as i64);
    }

    // WinHTTP auto-proxy discovery, started by .NET clients now and then.
    let mut t = start + Duration::minutes(133);
    while t < end {
        let p = pids(t).scm;
        sys.push(scm(
            t,
            7036,
            &["WinHTTP Web Proxy Auto-Discovery Service", "running"],
            p,
            &mut rng,
        ));
        sys.push(scm(
            t + Duration::minutes(15) + jitter(&mut rng, 2000),
            7036,
            &["WinHTTP Web Proxy Auto-Discovery Service", "stopped"],
            p,
            &mut rng,
        ));
        t += Duration::minutes(rng.range(150, 400) as i64);
    }

    // EventLog's daily uptime at noon local.
    let mut day = start;
    while day < end {
        let t = local(day, 12, 0);
        let uptime = if t < boot {
            (t - utc(2012, 1, 11, 15, 3, 0, 0)).num_seconds()
        } else {
            (t - boot).num_seconds()
        };
        let up = uptime.to_string();
        sys.push(classic_q(
            t,
            "EventLog",
            6013,
            32768,
            4,
            0,
            &["", "", "", "", &up, "60", "-600 AUS Eastern Standard Time"],
        ));
        day += Duration::days(1);
    }

    // The domain's time source.
    let mut t = start + Duration::hours(5);
    while t < end {
        sys.push(manifest(
            t,
            "Microsoft-Windows-Time-Service",
            "{06edcfeb-0fd0-4e53-acca-a6f8bbf81bcb}",
            37,
            None,
            4,
            KW_MANIFEST,
            &[(
                "TimeSource",
                "DC01.contoso.local (ntp.d|0.0.0.0:123->10.0.0.10:123)",
            )],
            884,
            &mut rng,
        ));
        t += Duration::hours(rng.range(20, 30) as i64);
    }

    // AD topology discovery every 15 minutes while MSExchangeADTopology runs.
    let reboot_down = (boot - Duration::minutes(6), boot + Duration::minutes(3));
    let mut t = start + Duration::minutes(4);
    while t < end {
        let down = |a: (DateTime<Utc>, DateTime<Utc>)| t >= a.0 && t < a.1;
        if !down(reboot_down) && !down(sp2_down) {
            let pid = if t > sp2_down.1 {
                2744
            } else {
                pids(t).adtopology
            };
            app.push(adaccess_2080(t + jitter(&mut rng, 2000), pid));
        }
        t += Duration::minutes(15);
    }

    // Administrator logons (RDP) for the week's work.
    for (on, off) in [
        (utc(2012, 2, 6, 22, 12, 0, 0), utc(2012, 2, 7, 0, 40, 0, 0)),
        (utc(2012, 2, 9, 21, 30, 0, 0), utc(2012, 2, 9, 22, 5, 0, 0)),
        (
            utc(2012, 2, 12, 9, 18, 0, 0),
            utc(2012, 2, 12, 12, 41, 0, 0),
        ),
        (utc(2012, 2, 13, 22, 48, 0, 0), utc(2012, 2, 14, 2, 0, 0, 0)),
    ] {
        for (id, t, task) in [(7001u16, on, 1101u16), (7002, off, 1102)] {
            let mut e = manifest(
                t + jitter(&mut rng, 999),
                "Microsoft-Windows-Winlogon",
                "{dbe9b383-7cf3-4331-91cc-a3cb16a3b538}",
                id,
                None,
                4,
                0x2000_0000_0000_0000,
                &[("TSId", "2"), ("UserSid", ADMIN_SID)],
                640,
                &mut rng,
            );
            e.task = Some(task);
            sys.push(e);
        }
    }

    // Patch night: Windows Update installs, flips BITS and Windows Modules Installer, restarts.
    let wu = boot - Duration::minutes(38);
    for (svc, key) in [
        ("Background Intelligent Transfer Service", "BITS"),
        ("Windows Modules Installer", "TrustedInstaller"),
    ] {
        let p = PIDS_BEFORE_BOOT.scm;
        sys.push(scm(
            wu + jitter(&mut rng, 5000),
            7040,
            &[svc, "demand start", "auto start", key],
            p,
            &mut rng,
        ));
        sys.push(scm(
            wu + Duration::seconds(8) + jitter(&mut rng, 5000),
            7036,
            &[svc, "running"],
            p,
            &mut rng,
        ));
    }
    sys.push(classic_q(
        boot - Duration::minutes(4),
        "USER32",
        1074,
        32768,
        4,
        0,
        &[
            "C:\\Windows\\system32\\wuauclt.exe (EX01)",
            "EX01",
            "Operating System: Service pack (Planned)",
            "0x80020010",
            "restart",
            "",
            "NT AUTHORITY\\SYSTEM",
        ],
    ));
    let mut t = boot - Duration::minutes(3);
    for svc in EXCHANGE_START_ORDER.iter().rev() {
        sys.push(scm(
            t,
            7036,
            &[svc, "stopped"],
            PIDS_BEFORE_BOOT.scm,
            &mut rng,
        ));
        t += Duration::milliseconds(rng.range(800, 6000) as i64);
    }
    for svc in BOOT_SERVICES.iter().rev().take(8) {
        sys.push(scm(
            t,
            7036,
            &[svc, "stopped"],
            PIDS_BEFORE_BOOT.scm,
            &mut rng,
        ));
        t += Duration::milliseconds(rng.range(100, 900) as i64);
    }
    app.push(manifest(
        t,
        "Microsoft-Windows-User Profiles Service",
        "{89b1e9f0-5aff-44a6-9b44-0a07a7ce5845}",
        1532,
        None,
        4,
        KW_MANIFEST,
        &[],
        820,
        &mut rng,
    ));
    sys.push(classic_q(
        boot - Duration::seconds(50),
        "EventLog",
        6006,
        32768,
        4,
        0,
        &[],
    ));
    let stop = (boot - Duration::seconds(48)).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    sys.push(manifest(
        boot - Duration::seconds(48),
        "Microsoft-Windows-Kernel-General",
        "{a68ca8b7-004f-d7b6-a698-07e2de0f1f5d}",
        13,
        None,
        4,
        KW_MANIFEST,
        &[("StopTime", &stop)],
        4,
        &mut rng,
    ));
    let started =
        (boot - Duration::seconds(31)).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    sys.push(manifest(
        boot,
        "Microsoft-Windows-Kernel-General",
        "{a68ca8b7-004f-d7b6-a698-07e2de0f1f5d}",
        12,
        None,
        4,
        KW_MANIFEST,
        &[
            ("MajorVersion", "6"),
            ("MinorVersion", "1"),
            ("BuildVersion", "7601"),
            ("QfeVersion", "17514"),
            ("ServiceVersion", "1"),
            ("BootMode", "0"),
            ("StartTime", &started),
        ],
        4,
        &mut rng,
    ));
    sys.push(classic_q(
        boot + Duration::seconds(9),
        "EventLog",
        6009,
        32768,
        4,
        0,
        &[
            "6.01.",
            "7601",
            "Service Pack 1",
            "Multiprocessor Free",
            "17514",
        ],
    ));
    sys.push(classic_q(
        boot + Duration::seconds(9),
        "EventLog",
        6005,
        32768,
        4,
        0,
        &[],
    ));
    let mut t = boot + Duration::seconds(14);
    for svc in BOOT_SERVICES {
        sys.push(scm(
            t,
            7036,
            &[svc, "running"],
            PIDS_AFTER_BOOT.scm,
            &mut rng,
        ));
        t += Duration::milliseconds(rng.range(150, 2500) as i64);
    }
    app.push(manifest(
        t,
        "Microsoft-Windows-User Profiles Service",
        "{89b1e9f0-5aff-44a6-9b44-0a07a7ce5845}",
        1531,
        None,
        4,
        KW_MANIFEST,
        &[],
        820,
        &mut rng,
    ));
    for svc in EXCHANGE_START_ORDER {
        sys.push(scm(
            t,
            7036,
            &[svc, "running"],
            PIDS_AFTER_BOOT.scm,
            &mut rng,
        ));
        t += Duration::milliseconds(rng.range(1500, 9000) as i64);
    }
    sys.push(manifest(
        boot + Duration::minutes(2),
        "Microsoft-Windows-Time-Service",
        "{06edcfeb-0fd0-4e53-acca-a6f8bbf81bcb}",
        35,
        None,
        4,
        KW_MANIFEST,
        &[(
            "TimeSource",
            "DC01.contoso.local (ntp.d|0.0.0.0:123->10.0.0.10:123)",
        )],
        884,
        &mut rng,
    ));
    for (svc, key) in [
        ("Background Intelligent Transfer Service", "BITS"),
        ("Windows Modules Installer", "TrustedInstaller"),
    ] {
        let t = boot + Duration::minutes(rng.range(4, 9) as i64);
        sys.push(scm(
            t,
            7040,
            &[svc, "auto start", "demand start", key],
            PIDS_AFTER_BOOT.scm,
            &mut rng,
        ));
    }

    // Symantec Endpoint Protection (the seed's server only): definitions every morning, a
    // scheduled scan every evening at 20:45 local (the evening of the upgrade included), and its
    // start-up after the reboot.
    if broken {
        let mut day = start;
        let mut version = 120_205_001u64;
        while day < end {
            let t = local(day, 2, 10) + jitter(&mut rng, 600_000);
            version += 1000;
            let msg = format!("New virus definition file loaded. Version: {version}.");
            app.push(classic_q(t, "Symantec AntiVirus", 7, 0, 4, 2, &[&msg]));
            let scan = local(day, 20, 45) + jitter(&mut rng, 20_000);
            app.push(classic_q(
                scan,
                "Symantec AntiVirus",
                3,
                0,
                4,
                2,
                &["Scan started on selected drives and folders and all extensions."],
            ));
            let done = scan + Duration::minutes(rng.range(21, 28) as i64);
            let scanned = rng.range(61_000, 64_000);
            let msg = format!(
                "Scan Complete:  Risks: 0   Scanned: {scanned}   Files/Folders/Drives Omitted: 14 Trusted Files Skipped: 3912"
            );
            app.push(classic_q(done, "Symantec AntiVirus", 2, 0, 4, 2, &[&msg]));
            day += Duration::days(1);
        }
        app.push(classic_q(
            boot + Duration::seconds(75),
            "Symantec AntiVirus",
            14,
            0,
            4,
            2,
            &["Symantec Endpoint Protection services startup was successful."],
        ));
    }
}

fn adaccess_2080(t: DateTime<Utc>, pid: u32) -> EventSpec {
    let pid = pid.to_string();
    classic_q(
        t,
        "MSExchange ADAccess",
        2080,
        16388,
        4,
        3,
        &[
            "MSEXCHANGEADTOPOLOGYSERVICE.EXE",
            &pid,
            "DC01.contoso.local\tCDG 1 7 7 1 0 1 1 7 1\n",
            "",
            "",
        ],
    )
}

// ------------------------------------------------------------------------------------------
// The SP2 run and its aftermath
// ------------------------------------------------------------------------------------------

fn display(rows: &[Row], key: &str) -> String {
    rows.iter()
        .find(|r| r.0.eq_ignore_ascii_case(key))
        .map(|r| r.1.clone())
        .unwrap_or_else(|| key.to_string())
}

/// The Exchange services setup's "Stop Services" step stops, in order.
const SETUP_STOPS: &[&str] = &[
    "MSExchangeSearch",
    "msftesql-Exchange",
    "MSExchangeMailboxAssistants",
    "MSExchangeMailSubmission",
    "MSExchangeRepl",
    "MSExchangeRPC",
    "MSExchangeTransport",
    "MSExchangeTransportLogSearch",
    "MSExchangeEdgeSync",
    "MSExchangeAntispamUpdate",
    "MSExchangeFDS",
    "MSExchangeIS",
    "MSExchangeSA",
    "MSExchangeMonitoring",
    "MSExchangeThrottling",
    "MSExchangeServiceHost",
    "MSExchangeProtectedServiceHost",
    "MSExchangeADTopology",
];

/// Services `Start-SetupService` brings back while the roles are configured, in order.
const SETUP_STARTS: &[&str] = &[
    "MSExchangeADTopology",
    "MSExchangeProtectedServiceHost",
    "MSExchangeTransportLogSearch",
    "MSExchangeAntispamUpdate",
    "MSExchangeEdgeSync",
    "MSExchangeTransport",
];

/// The rest, started by "Start Services" (healthy) or by hand after the failure (seed).
const LATER_STARTS: &[&str] = &[
    "MSExchangeFDS",
    "MSExchangeIS",
    "MSExchangeSA",
    "MSExchangeRPC",
    "MSExchangeMailboxAssistants",
    "MSExchangeMonitoring",
    "MSExchangeThrottling",
    "MSExchangeMailSubmission",
    "MSExchangeRepl",
    "msftesql-Exchange",
    "MSExchangeSearch",
];

const PERF_COUNTERS: &[(&str, &str)] = &[
    ("MSExchange ADAccess", "MSExchange ADAccess"),
    ("MSExchangeTransport", "MSExchangeTransport"),
    ("MSExchange Common", "MSExchange Common"),
    ("MSExchangeIS", "MSExchangeIS"),
    ("MSExchange OWA", "MSExchange OWA"),
    ("MSExchange ActiveSync", "MSExchange ActiveSync"),
    ("MSExchangeAutodiscover", "MSExchangeAutodiscover"),
    ("MSExchangeWS", "MSExchangeWS"),
    ("MSExchange Throttling", "MSExchange Throttling"),
    ("MSExchange Store Interface", "MSExchange Store Interface"),
];

fn msi(app: &mut Log, begin: DateTime<Utc>, end: DateTime<Utc>, install: bool, rng: &mut Rng) {
    let (package, version, done_id, done_text, product_id) = if install {
        (
            "D:\\Setup\\exchangeserver.msi",
            "14.2.247.5",
            11707,
            "Product: Microsoft Exchange Server -- Installation completed successfully.",
            1033,
        )
    } else {
        (
            "C:\\Windows\\Installer\\2b6f1.msi",
            "14.1.218.15",
            11724,
            "Product: Microsoft Exchange Server -- Removal completed successfully.",
            1034,
        )
    };
    let client = "3712";
    app.push(classic_q(
        begin + Duration::seconds(2),
        "MsiInstaller",
        1040,
        0,
        4,
        0,
        &[package, client],
    ));
    let session_start =
        (begin + Duration::seconds(3)).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    app.push(manifest(
        begin + Duration::seconds(3),
        "Microsoft-Windows-RestartManager",
        "{0888e5ef-9b98-4695-979d-e92ce4247224}",
        10000,
        None,
        4,
        KW_MANIFEST,
        &[("RmSessionId", "0"), ("UTCStartTime", &session_start)],
        2844,
        rng,
    ));
    app.push(manifest(
        end - Duration::seconds(6),
        "Microsoft-Windows-RestartManager",
        "{0888e5ef-9b98-4695-979d-e92ce4247224}",
        10001,
        None,
        4,
        KW_MANIFEST,
        &[("RmSessionId", "0"), ("UTCStartTime", &session_start)],
        2844,
        rng,
    ));
    app.push(classic_q(
        end - Duration::seconds(5),
        "MsiInstaller",
        done_id,
        0,
        4,
        0,
        &[
            done_text, "(NULL)", "(NULL)", "(NULL)", "(NULL)", "(NULL)", "",
        ],
    ));
    app.push(classic_q(
        end - Duration::seconds(5),
        "MsiInstaller",
        product_id,
        0,
        4,
        0,
        &[
            "Microsoft Exchange Server",
            version,
            "1033",
            "0",
            "Microsoft Corporation",
        ],
    ));
    app.push(classic_q(
        end - Duration::seconds(4),
        "MsiInstaller",
        1042,
        0,
        4,
        0,
        &[package, client],
    ));
}

/// An ASP.NET 2.0 web event 1310 (event code 3008, a configuration error), laid out as the
/// runtime writes it: 30 unnamed insertion strings.
fn aspnet_1310(
    t: DateTime<Utc>,
    w: &WebConfig,
    install: &str,
    request: &str,
    worker: u32,
    rng: &mut Rng,
) -> Option<EventSpec> {
    let line = w.security_line?;
    let local = t + Duration::minutes(660);
    let fmt = |d: DateTime<Utc>| d.format("%-d/%m/%Y %-I:%M:%S %p").to_string();
    let app_path = format!("{install}{}\\", w.iis_folder);
    let domain = format!(
        "/LM/W3SVC/1/ROOT/{}-{}-{}",
        w.app_path.trim_start_matches('/'),
        rng.range(1, 9),
        129_735_000_000_000_000u64 + rng.range(0, 999_999_999)
    );
    let message = format!(
        "Could not load file or assembly 'Microsoft.Exchange.Security, Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35' or one of its dependencies. The system cannot find the file specified. ({app_path}web.config line {line})"
    );
    let id = rng.hex(32);
    let worker = worker.to_string();
    let thread = rng.range(1, 12).to_string();
    let path = request.split('?').next().unwrap_or(request).to_string();
    let path = path
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    let data = [
        "3008",
        "A configuration error has occurred.",
        &fmt(local),
        &fmt(t),
        &id,
        "1",
        "1",
        "0",
        &domain,
        "Full",
        w.app_path,
        &app_path,
        "EX01",
        "",
        &worker,
        "w3wp.exe",
        "NT AUTHORITY\\SYSTEM",
        "ConfigurationErrorsException",
        &message,
        request,
        &path,
        "10.0.0.254",
        "",
        "False",
        "",
        "NT AUTHORITY\\SYSTEM",
        &thread,
        "NT AUTHORITY\\SYSTEM",
        "False",
        "   at System.Configuration.BaseConfigurationRecord.EvaluateOne(String[] keys, SectionInput input, Boolean isTrusted, FactoryRecord factoryRecord, SectionRecord sectionRecord, Object parentResult)\r\n   at System.Configuration.BaseConfigurationRecord.Evaluate(FactoryRecord factoryRecord, SectionRecord sectionRecord, Object parentResult, Boolean getLkg, Boolean getRuntimeObject, Object& result, Object& resultRuntimeObject)\r\n   at System.Configuration.BaseConfigurationRecord.GetSectionRecursive(String configKey, Boolean getLkg, Boolean checkPermission, Boolean getRuntimeObject, Boolean requestIsHere, Object& result, Object& resultRuntimeObject)\r\n   at System.Web.Configuration.RuntimeConfig.GetSectionObject(String sectionName)\r\n   at System.Web.Compilation.BuildManager.CompileGlobalAsax()\r\n   at System.Web.Compilation.BuildManager.EnsureTopLevelFilesCompiled()\r\n",
    ];
    Some(classic_q(
        t,
        "ASP.NET 2.0.50727.0",
        1310,
        32768,
        3,
        3,
        &data,
    ))
}

/// The SP2 run's events and what follows it, in both logs.
#[allow(clippy::too_many_arguments)]
fn incident(
    sys: &mut Log,
    app: &mut Log,
    run: &Sp2Run,
    rows: &[Row],
    web: &[WebConfig],
    install: &str,
    broken: bool,
) {
    let mut rng = Rng::new(if broken { 0xB40C } else { 0x600D });
    let p = PIDS_AFTER_BOOT.scm;
    let disp = |k: &str| display(rows, k);
    let (Some(start), Some(stop)) = (run.start, run.stop_services) else {
        return;
    };

    // Someone disables the Service Host ten minutes before the upgrade: the seed's cause.
    // Microsoft Search (Exchange Server) is disabled by setup itself (ServiceControl.ps1
    // DisableServices in the 'Stop Services' step) and left so when setup stops.
    if broken {
        let t = start - Duration::minutes(10) - Duration::seconds(55);
        sys.push(scm(
            t,
            7040,
            &[
                &disp("MSExchangeServiceHost"),
                "auto start",
                "disabled",
                "MSExchangeServiceHost",
            ],
            p,
            &mut rng,
        ));
        sys.push(scm(
            stop + Duration::seconds(4) + jitter(&mut rng, 900),
            7040,
            &[
                &disp("msftesql-Exchange"),
                "demand start",
                "disabled",
                "msftesql-Exchange",
            ],
            p,
            &mut rng,
        ));
    }

    app.push(classic_q(
        start + Duration::milliseconds(400),
        "MSExchangeSetup",
        1000,
        16384,
        4,
        1,
        &["14.2.247.5"],
    ));

    // Stop Services.
    let mut t = stop + Duration::seconds(2);
    for k in SETUP_STOPS {
        sys.push(scm(t, 7036, &[&disp(k), "stopped"], p, &mut rng));
        t += Duration::milliseconds(rng.range(700, 4500) as i64);
    }

    // The MSI: SP1 removed, SP2 laid down (binaries at 14.2 in both samples).
    if let Some((b, e)) = run.uninstall {
        msi(app, b, e, false, &mut rng);
    }
    if let Some((b, e)) = run.install {
        msi(app, b, e, true, &mut rng);
    }

    // Performance counters re-registered by Install-PerfCounters.
    for (i, t) in run.perf_counters.iter().enumerate() {
        let (name, svc) = PERF_COUNTERS[i % PERF_COUNTERS.len()];
        let when = *t + Duration::milliseconds(200);
        app.push(manifest(
            when,
            "Microsoft-Windows-LoadPerf",
            "{122ee297-bb47-41ae-b265-1ca8d1886d40}",
            1001,
            None,
            4,
            KW_MANIFEST,
            &[("param1", name), ("param2", svc)],
            3712,
            &mut rng,
        ));
        app.push(manifest(
            when + Duration::milliseconds(450),
            "Microsoft-Windows-LoadPerf",
            "{122ee297-bb47-41ae-b265-1ca8d1886d40}",
            1000,
            None,
            4,
            KW_MANIFEST,
            &[("param1", name), ("param2", svc)],
            3712,
            &mut rng,
        ));
    }

    // Services setup starts again while configuring the roles.
    let mut started: Vec<&str> = Vec::new();
    for (t, k) in run.start_setup_service.iter().zip(SETUP_STARTS) {
        sys.push(scm(
            *t + Duration::milliseconds(300),
            7036,
            &[&disp(k), "running"],
            p,
            &mut rng,
        ));
        started.push(k);
    }

    if !broken {
        // Bridgehead Role Setter restarts the Service Host, which is enabled.
        if let Some(t) = run.bridgehead_setter {
            sys.push(scm(
                t + Duration::seconds(9),
                7036,
                &[&disp("MSExchangeServiceHost"), "running"],
                p,
                &mut rng,
            ));
        }
        // The Client Access role updates the vdirs and resets IIS.
        if let Some(t) = run.client_access {
            iisreset(sys, t + Duration::seconds(40), p, &mut rng);
        }
        if let Some(t) = run.start_services {
            let mut t = t + Duration::seconds(1);
            for k in LATER_STARTS
                .iter()
                .chain(SETUP_STARTS)
                .filter(|k| !started.contains(k))
            {
                sys.push(scm(t, 7036, &[&disp(k), "running"], p, &mut rng));
                t += Duration::milliseconds(rng.range(900, 3500) as i64);
            }
        }
        if let Some(t) = run.completed {
            app.push(classic_q(
                t + Duration::milliseconds(50),
                "MSExchangeSetup",
                1001,
                16384,
                4,
                1,
                &["14.2.247.5"],
            ));
        }
        return;
    }

    // The seed: restart-service MSExchangeServiceHost fails on the disabled service.
    let Some(err) = run.error else { return };
    let service_host = disp("MSExchangeServiceHost");
    sys.push(scm(
        err - Duration::milliseconds(38),
        7000,
        &[&service_host, "%%1058"],
        p,
        &mut rng,
    ));
    app.push(classic_q(
        err + Duration::milliseconds(2),
        "MSExchangeSetup",
        1002,
        49152,
        2,
        1,
        &[
            "Hub Transport Role",
            "Service 'Microsoft Exchange Service Host (MSExchangeServiceHost)' cannot be started due to the following error: Cannot start service MSExchangeServiceHost on computer '.'.",
        ],
    ));

    // After "End of Setup" the administrator starts what is stopped by hand: the Service Host
    // and the Search Indexer fail again, Mail Submission and Replication are left stopped.
    let end = run.end.unwrap_or(err + Duration::minutes(60));
    let mut t = end + Duration::minutes(4);
    for k in LATER_STARTS
        .iter()
        .chain(SETUP_STARTS)
        .filter(|k| !started.contains(k))
    {
        match *k {
            "MSExchangeMailSubmission" | "MSExchangeRepl" | "msftesql-Exchange" => continue,
            "MSExchangeSearch" => sys.push(scm(
                t,
                7001,
                &[
                    &disp("MSExchangeSearch"),
                    &disp("msftesql-Exchange"),
                    "%%1058",
                ],
                p,
                &mut rng,
            )),
            _ => sys.push(scm(t, 7036, &[&disp(k), "running"], p, &mut rng)),
        }
        t += Duration::milliseconds(rng.range(2500, 9000) as i64);
    }
    t += Duration::seconds(40);
    sys.push(scm(t, 7000, &[&service_host, "%%1058"], p, &mut rng));

    // iisreset, then the failures of the Client Access applications until the collection.
    let reset = t + Duration::minutes(12);
    iisreset(sys, reset, p, &mut rng);
    let until = collected();

    // exppw.dll: each new OWA worker process fails to load it.
    let exppw = format!("{install}ClientAccess\\Owa\\auth\\exppw.dll");
    let mut t = reset + Duration::seconds(50);
    for _ in 0..9 {
        app.push(manifest(
            t,
            "Microsoft-Windows-IIS-W3SVC-WP",
            "{670080d9-742a-4187-8d16-41143d1290bd}",
            2280,
            Some(49152),
            2,
            KW_CLASSIC,
            &[("ModuleDll", &exppw)],
            rng.range(3000, 9000) as u32,
            &mut rng,
        ));
        t += Duration::minutes(rng.range(20, 240) as i64);
        if t >= until {
            break;
        }
    }

    // DefaultAppPool's worker process 740 keeps reporting a listener channel failure.
    let mut t = reset + Duration::seconds(35);
    for _ in 0..7 {
        sys.push(manifest(
            t,
            "Microsoft-Windows-WAS",
            "{524b5d04-133c-4a62-8362-64e8edb9ce40}",
            5139,
            Some(32768),
            3,
            KW_CLASSIC,
            &[
                ("AppPoolID", "DefaultAppPool"),
                ("ProcessID", "740"),
                ("ListenerChannelID", "0"),
                ("ProtocolID", "http"),
            ],
            1096,
            &mut rng,
        ));
        t += Duration::minutes(rng.range(60, 300) as i64);
        if t >= until {
            break;
        }
    }

    // ASP.NET cannot read the web.config files setup left with tokens: from the first request
    // after the new files were laid down until the collection. Phones poll ActiveSync every few
    // minutes; Outlook asks Autodiscover and EWS less often.
    let Some((_, installed)) = run.install else {
        return;
    };
    for (folder, request, every) in [
        (
            "ClientAccess/Sync/web.config",
            "https://mail.contoso.com:443/Microsoft-Server-ActiveSync/default.eas?Cmd=Ping&User=jsmith&DeviceId=ApplDNPGH2K4DTC0&DeviceType=iPhone",
            (6u64, 25u64),
        ),
        (
            "ClientAccess/Autodiscover/web.config",
            "https://autodiscover.contoso.com:443/Autodiscover/Autodiscover.xml",
            (20, 75),
        ),
        (
            "ClientAccess/exchweb/ews/web.config",
            "https://mail.contoso.com:443/EWS/Exchange.asmx",
            (20, 75),
        ),
    ] {
        let Some(w) = web.iter().find(|w| w.relative == folder) else {
            continue;
        };
        let mut worker = 4812u32;
        let mut t = installed + Duration::seconds(rng.range(20, 90) as i64);
        while t < until {
            if t > reset && worker == 4812 {
                worker = 5316;
            }
            if let Some(e) = aspnet_1310(t, w, install, request, worker, &mut rng) {
                app.push(e);
            }
            t += Duration::minutes(rng.range(every.0, every.1) as i64) + jitter(&mut rng, 59_000);
        }
    }
}

fn iisreset(sys: &mut Log, t: DateTime<Utc>, p: u32, rng: &mut Rng) {
    let mut t = t;
    for (svc, state) in [
        ("World Wide Web Publishing Service", "stopped"),
        ("Windows Process Activation Service", "stopped"),
        ("IIS Admin Service", "stopped"),
        ("IIS Admin Service", "running"),
        ("Windows Process Activation Service", "running"),
        ("World Wide Web Publishing Service", "running"),
    ] {
        sys.push(scm(t, 7036, &[svc, state], p, rng));
        t += Duration::milliseconds(rng.range(300, 2500) as i64);
    }
}

/// `(System.evtx, Application.evtx)` bytes.
pub fn logs(
    setup_log: &str,
    offset_minutes: i32,
    rows: &[Row],
    web: &[WebConfig],
    install: &str,
    broken: bool,
) -> (Vec<u8>, Vec<u8>) {
    let run = sp2_run(setup_log, offset_minutes);
    let mut sys = Log::new("System");
    let mut app = Log::new("Application");
    // MSExchangeADTopology is down from "Stop Services" until setup starts it again.
    let down = match (run.stop_services, run.start_setup_service.first()) {
        (Some(a), Some(b)) => (a, *b),
        (Some(a), None) => (a, a + Duration::minutes(20)),
        _ => (collected(), collected()),
    };
    background(&mut sys, &mut app, broken, down);
    incident(&mut sys, &mut app, &run, rows, web, install, broken);
    let until = collected() - Duration::seconds(40);
    (sys.finish(28_713, until), app.finish(51_206, until))
}

/// `evtx/LocaleMetaData/<log>_1033.MTA` as `wevtutil al` leaves it beside an exported log: a
/// binary file of provider metadata and message strings. exhume lists these and does not read
/// them (rules match event data, not rendered messages), so the bytes model the file's shape (a
/// binary header, provider names and en-US message strings in UTF-16LE, about 10-60 KB), not
/// Windows' exact internal layout.
pub fn locale_metadata(log: &str) -> Vec<u8> {
    let providers: &[(&str, &[&str])] = match log {
        "System" => &[
            (
                "Service Control Manager",
                &[
                    "The %1 service entered the %2 state.",
                    "The start type of the %1 service was changed from %2 to %3.",
                    "The %1 service failed to start due to the following error: %n%2",
                ],
            ),
            (
                "EventLog",
                &[
                    "The Event log service was started.",
                    "The Event log service was stopped.",
                ],
            ),
            (
                "Microsoft-Windows-Kernel-General",
                &["The operating system started at system time %7."],
            ),
        ],
        _ => &[
            (
                "MSExchangeSetup",
                &[
                    "Exchange Server component %1 failed.%nError: %2",
                    "Exchange Server component %1 completed successfully.",
                ],
            ),
            (
                "MsiInstaller",
                &[
                    "Product: %1 -- %2",
                    "Windows Installer installed the product. Product Name: %1.",
                ],
            ),
            (
                "ASP.NET 4.0.30319.0",
                &[
                    "An unhandled exception occurred and the process was terminated.%n%nApplication ID: %1",
                ],
            ),
        ],
    };
    let mut out = Vec::new();
    out.extend_from_slice(b"CRIM");
    out.extend_from_slice(&3u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&(providers.len() as u32).to_le_bytes());
    let utf16 = |s: &str, out: &mut Vec<u8>| {
        out.extend_from_slice(&(s.encode_utf16().count() as u32 + 1).to_le_bytes());
        for u in s.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
        out.extend_from_slice(&[0, 0]);
    };
    let mut rng = Rng::new(log.bytes().map(u64::from).sum::<u64>() + 1033);
    for (name, messages) in providers {
        // The provider GUID.
        for _ in 0..4 {
            out.extend_from_slice(&(rng.next_u64() as u32).to_le_bytes());
        }
        utf16(name, &mut out);
        out.extend_from_slice(&(messages.len() as u32).to_le_bytes());
        for (i, m) in messages.iter().enumerate() {
            out.extend_from_slice(&(7000 + i as u32).to_le_bytes());
            utf16(m, &mut out);
        }
    }
    // Message tables are padded to 4 KB pages.
    out.resize(out.len().div_ceil(4096) * 4096, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_log_times_become_utc() {
        let log = "[02/12/2012 20:41:07.3498] [0] **********************************************\n[02/12/2012 20:41:07.3498] [0] Starting Microsoft Exchange Server 2010 Setup\n[02/12/2012 20:41:18.4100] [1] Processing component 'Stop Services' (Stopping Exchange services.).\n[02/12/2012 21:15:49.0269] [1] [ERROR] Cannot start service MSExchangeServiceHost on computer '.'.\n[02/12/2012 22:19:30.0147] [0] End of Setup\n";
        let r = sp2_run(log, 660);
        assert_eq!(
            r.start,
            Some(utc(2012, 2, 12, 9, 41, 7, 349) + Duration::microseconds(800))
        );
        assert_eq!(r.stop_services, Some(utc(2012, 2, 12, 9, 41, 18, 410)));
        assert_eq!(
            r.error,
            Some(utc(2012, 2, 12, 10, 15, 49, 26) + Duration::microseconds(900))
        );
        assert_eq!(
            r.end,
            Some(utc(2012, 2, 12, 11, 19, 30, 14) + Duration::microseconds(700))
        );
    }
}
