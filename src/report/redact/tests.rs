//! Redaction on text, on the seed diagnosis in every format, and across analyze and timeline.

use super::*;
use crate::facts::{Evidence, Locator};
use crate::report::testing;
use crate::timeline::TimelineEntry;
use regex::Regex;

fn redacted(r: &mut Redactor, s: &str) -> String {
    let mut s = s.to_string();
    r.apply(&mut s);
    s
}

#[test]
fn accounts_fqdns_and_ldap_paths_become_tokens() {
    let mut r = Redactor::default();
    r.add_host("EX01");
    let lines = [
        "Logged on user: CONTOSO\\Administrator.",
        "Setup will use the domain controller 'DC01.contoso.local'.",
        "'CN=EX01,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=local'",
        "mail for jane.doe@fabrikam.com from 10.1.2.3 and fe80::1c2d:3e4f%12",
    ];
    for l in lines {
        r.learn_text(l);
    }
    let out: Vec<String> = lines.iter().map(|l| redacted(&mut r, l)).collect();
    assert_eq!(out[0], "Logged on user: domain-1\\user-1.");
    assert_eq!(
        out[1],
        "Setup will use the domain controller 'host-2.domain-1'."
    );
    assert_eq!(
        out[2],
        "'CN=host-1,CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=domain-1,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=domain-1,DC=local'"
    );
    assert_eq!(out[3], "mail for user-2@domain-2 from ip-1 and ip-2");
    // Case does not matter; the token does not change.
    assert_eq!(redacted(&mut r, "ex01 Ex01 EX01"), "host-1 host-1 host-1");
}

#[test]
fn paths_versions_cmdlets_and_vendor_names_stay() {
    let mut r = Redactor::default();
    r.add_host("EX01");
    let keep = [
        "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\Bin",
        "HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\Setup",
        "Setup 14.2.247.5 stopped; Version 15.1.2.3; build 8.3.83.6",
        "Add-ExchangeAdministrator -DomainController $RoleDomainController",
        "NT AUTHORITY\\SYSTEM, BUILTIN\\Administrators, IIS APPPOOL\\MSExchangeOWAAppPool",
        "see https://go.microsoft.com/fwlink/?LinkId=1 and setup.com /mode:upgrade",
        "Microsoft.Exchange.Management.dll System.Web.Mvc web.config [System.Math]::Abs(1)",
        "at 10:15:49.0269 on 02/12/2012, listening on 127.0.0.1",
    ];
    for l in keep {
        r.learn_text(l);
    }
    for l in keep {
        assert_eq!(redacted(&mut r, l), l);
    }
    assert_eq!(r.names.len(), 1, "{:?}", r.names);
}

#[test]
fn an_address_equal_to_a_version_stays_a_version_everywhere() {
    let mut r = Redactor::default();
    r.learn_text("Setup version 14.2.247.5 started");
    r.learn_text("connect to 14.2.247.5 and 192.168.7.9");
    assert_eq!(
        redacted(&mut r, "connect to 14.2.247.5 and 192.168.7.9"),
        "connect to 14.2.247.5 and ip-1"
    );
}

#[test]
fn seed_diagnosis_loses_host_domain_and_user_in_every_format() {
    let mut d = testing::seed();
    // The setup log names the logged-on account and the domain controller; put those lines
    // where a finding would quote them, as the event-log and setup rules do.
    let run = d
        .findings
        .iter_mut()
        .find(|f| f.id == "setup-stopped-critical")
        .expect("the seed's setup finding");
    run.evidence.push(Evidence::new(
        Locator::line("setup/ExchangeSetup.log", 1490),
        "[02/12/2012 20:41:07.5341] [0] Logged on user: CONTOSO\\Administrator.",
    ));
    run.evidence.push(Evidence::new(
        Locator::line("setup/ExchangeSetup.log", 1493),
        "[02/12/2012 20:41:08.1110] [0] Setup has chosen the local domain controller DC01.contoso.local for initial queries",
    ));
    let before = crate::report::json::render(&d);
    for s in ["EX01", "contoso", "Administrator", "DC01"] {
        assert!(before.contains(s), "the fixture must contain {s}");
    }
    let mut r = Redactor::default();
    r.learn_diagnosis(&d);
    r.diagnosis(&mut d);
    for out in [
        crate::report::json::render(&d),
        crate::report::md::render(&d),
        crate::report::html::render(&d),
        crate::report::text::render(&d, Default::default()),
    ] {
        // Names are hidden whatever their case. `Administrator` is the account; the word
        // "administrator" in rule text (and `Add-ExchangeAdministrator`) is not a name.
        for re in [
            r"(?i)\bex01\b",
            r"(?i)contoso",
            r"(?i)\bdc01\b",
            r"\bAdministrator\b",
        ] {
            let re = Regex::new(re).expect("regex");
            assert!(!re.is_match(&out), "{re} left in:\n{out}");
        }
        assert!(out.contains("host-1"));
    }
    assert_eq!(d.bundle.host.as_deref(), Some("host-1"));
    let json = crate::report::json::render(&d);
    assert!(json.contains("domain-1\\\\user-1"), "{json}");
    assert!(json.contains("host-2.domain-1"));
    // Versions and services are not names.
    assert!(json.contains("Setup 14.2.247.5 stopped at Install-BridgeheadRole"));
    assert!(json.contains("MSExchangeServiceHost"));
}

#[test]
fn the_same_host_gets_the_same_token_in_the_report_and_the_timeline() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(testing::SEED);
    let opts = crate::Options {
        keep_all_events: true,
        ..Default::default()
    };
    let mut a = crate::analyze(&path, &opts).expect("seed analyses");
    let mut entries = crate::timeline::build(&a.facts, &a.clock);
    entries.push(TimelineEntry {
        datetime: chrono::Utc::now(),
        timestamp_desc: "Event logged".into(),
        message: "Service Control Manager 7040 on EX01.contoso.local by CONTOSO\\Administrator"
            .into(),
        source: "EVTX".into(),
        locator: "evtx/System.evtx record 9".into(),
        ..Default::default()
    });
    timeline(&a, &mut entries);
    analysis(&mut a);
    let host = a.diagnosis.bundle.host.clone().expect("host");
    assert_eq!(host, "host-1");
    let last = &entries.last().expect("entry").message;
    assert_eq!(
        last,
        "Service Control Manager 7040 on host-1.domain-1 by domain-1\\user-1"
    );
}

#[test]
fn tokens_are_not_taken_for_names() {
    let mut r = Redactor::default();
    r.learn_text("Logged on user: host-1\\user-2 on HOST-3.corp.local");
    assert!(r.names.keys().all(|k| !is_token(k)), "{:?}", r.names);
}
