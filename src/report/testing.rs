//! Diagnoses for the report tests: the seed sample as analysed, a richer one (a four-level
//! chain, a contributing cause, an unexplained symptom, events with record ids, unreadable
//! files), and a hostile one whose bundle strings try to inject markup.
//!
//! They start from a real analysis and add findings, then correlate again, so they follow the
//! `Diagnosis` as it grows instead of spelling out every field.

use crate::correlate;
use crate::diagnosis::{Diagnosis, EventCount};
use crate::facts::{
    Confidence, Evidence, Explains, Finding, FindingKind, Locator, Position, Problem, Severity,
    Skipped,
};
use crate::timeline::TimeLink;
use chrono::{TimeZone, Utc};

pub const SEED: &str = "samples/exchange2010-sp2-servicehost-disabled.zip";

/// The seed incident, analysed as the CLI would.
pub fn seed() -> Diagnosis {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SEED);
    let mut d = crate::analyze(&path, &crate::Options::default())
        .expect("the seed sample analyses")
        .diagnosis;
    // The path as the CLI prints it when run from the repository root.
    d.bundle.path = SEED.to_string();
    d
}

fn ev(path: &str, at: Position, excerpt: &str) -> Evidence {
    Evidence::new(Locator::new(path, at), excerpt)
}

fn finding(id: &str, title: &str, kind: FindingKind, severity: Severity) -> Finding {
    Finding {
        id: id.into(),
        title: title.into(),
        kind,
        severity,
        confidence: Confidence::Medium,
        subject: None,
        time: None,
        evidence: Vec::new(),
        why: format!("Why {title} matters."),
        fix: Vec::new(),
        references: Vec::new(),
        explains: Vec::new(),
    }
}

/// Re-runs correlation after findings were added.
fn recorrelate(d: &mut Diagnosis) {
    let c = correlate::correlate(&d.findings, &Default::default());
    d.root_causes = c.root_causes;
    d.contributing = c.contributing;
    d.unexplained = c.unexplained;
    d.plan = c.plan;
}

pub fn rich() -> Diagnosis {
    let mut d = seed();
    if let Some(stop) = d
        .findings
        .iter_mut()
        .find(|f| f.id == "setup-stopped-critical")
    {
        stop.explains.push(Explains::any("fixture-roles"));
    }
    let t = |h, m, s| Utc.with_ymd_and_hms(2012, 2, 12, h, m, s).single();

    let mut roles = finding(
        "fixture-roles",
        "Exchange roles left half-configured (Watermark on HubTransportRole)",
        FindingKind::Symptom,
        Severity::High,
    );
    roles.evidence.push(ev(
        "registry/HKLM_SOFTWARE_Microsoft_ExchangeServer_v14.reg",
        Position::Key(
            "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\HubTransportRole\\@Watermark".into(),
        ),
        "\"Watermark\"=\"BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908\"",
    ));
    roles.explains.push(Explains::any("fixture-tokens"));
    roles.fix.push("Re-run setup in upgrade mode from an elevated prompt so it finishes configuring the roles.".into());

    let mut tokens = finding(
        "fixture-tokens",
        "Unexpanded %ExchangeInstallDir% in web.config (ClientAccess/PowerShell)",
        FindingKind::Symptom,
        Severity::High,
    );
    tokens.subject = Some("ClientAccess/PowerShell/web.config".into());
    tokens.evidence.push(ev(
        "iis/webconfig/ClientAccess/PowerShell/web.config",
        Position::Line(57),
        "<add assembly=\"Microsoft.Exchange.Configuration.ObjectModel, codebase file:///%ExchangeInstallDir%bin\\Microsoft.Exchange.Configuration.ObjectModel.dll\" />",
    ));
    tokens.explains.push(Explains::any("fixture-exppw"));
    tokens.explains.push(Explains::any("fixture-emc"));
    tokens.fix.push("Replace every `%ExchangeInstallDir%` in the web.config files with the install path (or restore the `.bak` written by setup).".into());

    let mut exppw = finding(
        "fixture-exppw",
        "IIS cannot load exppw.dll: OWA, ECP and ActiveSync fail",
        FindingKind::Symptom,
        Severity::High,
    );
    exppw.time = t(10, 22, 3);
    exppw.evidence.push(ev(
        "evtx/Application.evtx",
        Position::Record(1234),
        "IIS-W3SVC-WP 2280: The Module DLL D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\auth\\exppw.dll failed to load.",
    ));
    let mut emc = finding(
        "fixture-emc",
        "EMC and remote PowerShell fail with HTTP 500",
        FindingKind::Symptom,
        Severity::Medium,
    );
    emc.time = t(10, 40, 0);
    emc.evidence.push(ev(
        "evtx/MSExchange Management.evtx",
        Position::Record(88),
        "The WinRM client received an HTTP server error status (500)",
    ));

    let mut av = finding(
        "fixture-av",
        "Antivirus without Exchange exclusions",
        FindingKind::Risk,
        Severity::Medium,
    );
    av.time = t(10, 14, 59);
    av.evidence.push(ev(
        "system/software.csv",
        Position::Row(4),
        "Symantec Endpoint Protection 12.1.671.4971",
    ));
    av.evidence.push(ev(
        "evtx/System.evtx",
        Position::Record(4711),
        "Service Control Manager 7040: The start type of the Microsoft Exchange Service Host service was changed from auto start to disabled.",
    ));
    av.fix.push(
        "Add the Exchange antivirus exclusions (folders, processes, extensions) before re-running setup."
            .into(),
    );

    let mut db = finding(
        "fixture-db",
        "Mailbox database in an unknown state",
        FindingKind::Symptom,
        Severity::High,
    );
    db.evidence.push(ev(
        "evtx/Application.evtx",
        Position::Record(2001),
        "MSExchangeIS 9518: Error 0xfffffb3a starting database",
    ));
    db.fix
        .push("Check the database with `eseutil /mh` before mounting it.".into());

    let mut reboot = finding(
        "fixture-reboot",
        "A reboot was pending when setup ran",
        FindingKind::Info,
        Severity::Low,
    );
    reboot.evidence.push(ev(
        "system/host.json",
        Position::Element("pending_reboot".into()),
        "pending_reboot: true",
    ));

    d.findings
        .extend([roles, tokens, exppw, emc, av, db, reboot]);
    recorrelate(&mut d);
    d.time_links.push(TimeLink {
        setup_error: "setup/ExchangeSetup.log:1871-1880".into(),
        event: "evtx/System.evtx record 4710".into(),
        delta_seconds: -12,
        about: "MSExchangeServiceHost".into(),
    });
    d.event_counts.push(EventCount {
        channel: "System".into(),
        provider: "Service Control Manager".into(),
        event_id: 7000,
        count: 3,
    });
    d.missing_evidence
        .push("no readable System.evtx (evtx/System.evtx)".into());
    d.problems.push(Problem {
        path: "evtx/Application.evtx".into(),
        message: "chunk 3: bad checksum; 12 records skipped".into(),
    });
    d.skipped.push(Skipped {
        path: "notes/readme.txt".into(),
        reason: "no parser for this file".into(),
    });
    d
}

/// Strings an attacker controls (bundle host, titles, excerpts, locators) carrying markup.
pub const SCRIPT: &str = "<script>alert('pwned')</script>";

pub fn hostile() -> Diagnosis {
    let mut d = rich();
    d.bundle.host = Some(format!("EX01{SCRIPT}"));
    d.bundle.path = "cases/\"quoted\" & <b>bold</b>.zip".into();
    d.verdict = format!("Setup failed {SCRIPT} </style><style>body{{display:none}}</style>");
    let mut f = finding(
        "fixture-hostile",
        &format!("Title {SCRIPT}"),
        FindingKind::Symptom,
        Severity::High,
    );
    f.evidence.push(ev(
        &format!("setup/{SCRIPT}.log"),
        Position::Line(1),
        "a | b `rm` <img src=x onerror=alert(1)> ]]> --> \" ' &amp;",
    ));
    f.evidence.push(ev(
        "iis/applicationHost.config",
        Position::Element(format!("configuration/x[@name='{SCRIPT}']")),
        "<![CDATA[x]]>",
    ));
    f.why = format!("Because {SCRIPT}");
    f.fix
        .push(format!("Run `{SCRIPT}` then <i>this</i>").into());
    f.subject = Some(SCRIPT.into());
    f.time = Utc.with_ymd_and_hms(2012, 2, 12, 10, 30, 0).single();
    d.findings.push(f);
    recorrelate(&mut d);
    if let Some(r) = d.runs.first_mut() {
        r.failed_task = Some(SCRIPT.into());
        r.mode = Some("<svg onload=alert(1)>".into());
    }
    d.problems.push(Problem {
        path: SCRIPT.into(),
        message: SCRIPT.into(),
    });
    d
}
