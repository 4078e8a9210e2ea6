//! Field failures that leave no error in the setup log (issue 14): each is recognised from the
//! events Windows and Exchange write, written here into real EVTX files as the collector takes
//! them, and read back through the whole pipeline (parse, rules, correlation).

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use samplegen::artefacts::{classic_event, evtx, http_sys_event};

const PC: &str = "EX01.contoso.com";

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 12, 9, 0, 0)
        .single()
        .expect("valid time")
        + Duration::minutes(minutes)
}

/// A folder bundle with these System and Application logs.
fn bundle(system: Vec<u8>, application: Vec<u8>) -> tempfile::TempDir {
    temp_folder(&[
        ("evtx/System.evtx", &system),
        ("evtx/Application.evtx", &application),
    ])
}

fn ids(findings: &[exhume::facts::Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

const AGENT_CRASH: &str = "Watson report about to be sent for process id: 5120, with parameters: E12IIS, c-RTL-AMD64, 15.01.2507.035, edgetransport, E.D.DkimSigner, E.D.DkimSigningRoutingAgentFactory..ctor, System.IO.FileNotFoundException, 2f1a, 15.01.2507.035.";

#[test]
fn a_lost_back_end_binding_is_the_cause_and_names_its_endpoint() {
    let http = http_sys_event(at(5), PC, 15021, 2, &["0.0.0.0:444"]);
    let b = bundle(evtx(vec![http], 900), evtx(Vec::new(), 1));
    let d = analyze(b.path()).diagnosis;
    assert_eq!(d.root_causes.len(), 1, "{:#?}", d.root_causes);
    let root = &d.root_causes[0];
    assert_eq!(root.id, "http-ssl-binding-broken");
    assert_eq!(root.subject.as_deref(), Some("0.0.0.0:444"));
    let cited = root.evidence[0].locator.to_string();
    assert!(
        cited.starts_with("evtx/System.evtx") && cited.contains("900"),
        "{cited}"
    );
}

#[test]
fn a_transport_agent_explains_the_crash_and_the_stopped_service() {
    let app = evtx(
        vec![
            classic_event(
                at(1),
                "Application",
                PC,
                "MSExchange Common",
                4999,
                2,
                &[AGENT_CRASH],
            ),
            classic_event(
                at(1),
                "Application",
                PC,
                "MSExchangeTransport",
                16023,
                1,
                &[],
            ),
        ],
        40,
    );
    let sys = evtx(
        vec![classic_event(
            at(1),
            "System",
            PC,
            "Service Control Manager",
            7031,
            2,
            &[
                "Microsoft Exchange Transport",
                "1",
                "5000",
                "1",
                "Restart the service",
            ],
        )],
        70,
    );
    let d = analyze(bundle(sys, app).path()).diagnosis;
    let roots: Vec<&str> = d.root_causes.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        roots,
        vec!["transport-agent-failed"],
        "{:#?}",
        ids(&d.findings)
    );
    // The crash report is the same event, told once: under the cause, not as unexplained.
    assert!(
        d.unexplained
            .iter()
            .all(|k| !k.starts_with("exchange-service-crash")),
        "{:?}",
        d.unexplained
    );
    // So is the Transport service it took down.
    let explained = &d.root_causes[0].explains;
    assert!(
        explained
            .iter()
            .any(|k| k.starts_with("exchange-service-crash"))
            && explained
                .iter()
                .any(|k| k.starts_with("scm-service-start-failed")),
        "{explained:?} of {:?}",
        ids(&d.findings)
    );
}

#[test]
fn a_wrong_update_an_expired_auth_certificate_and_blocked_mitigations_are_each_named() {
    let stack = "System.NullReferenceException: Object reference not set to an instance of an object.\r\n   at Microsoft.Exchange.HttpProxy.FbaModule.ParseCadataCookies(HttpApplication httpApplication)";
    let app = evtx(
        vec![
            classic_event(
                at(0),
                "Application",
                PC,
                "MsiInstaller",
                1023,
                2,
                &[
                    "Microsoft Exchange Server",
                    "{0C9D4DD1-5D40-4A29-A3E9-3D4F8D6B0B7C}",
                    "1642",
                    "(NULL)",
                ],
            ),
            classic_event(
                at(30),
                "Application",
                PC,
                "MSExchange Front End HTTPS Proxy",
                1003,
                2,
                &["[Owa] An internal server error occurred.", stack],
            ),
            classic_event(
                at(45),
                "Application",
                PC,
                "MSExchange Mitigation Service",
                1008,
                2,
                &[
                    "An unexpected exception occurred. Diagnostic information: Exception encountered while fetching mitigations.",
                ],
            ),
        ],
        10,
    );
    let d = analyze(bundle(evtx(Vec::new(), 1), app).path()).diagnosis;
    let roots: Vec<&str> = d.root_causes.iter().map(|r| r.id.as_str()).collect();
    assert!(roots.contains(&"msi-patch-not-applicable"), "{roots:?}");
    assert!(roots.contains(&"auth-certificate-invalid"), "{roots:?}");
    assert!(ids(&d.findings).contains(&"mitigation-fetch-failed"));
}

#[test]
fn the_same_sources_on_a_healthy_server_name_nothing() {
    let http = http_sys_event(at(5), PC, 15007, 4, &["http://*:5985/wsman/"]);
    let app = evtx(
        vec![
            classic_event(
                at(0),
                "Application",
                PC,
                "MsiInstaller",
                1022,
                4,
                &[
                    "Microsoft Exchange Server",
                    "{0C9D4DD1-5D40-4A29-A3E9-3D4F8D6B0B7C}",
                    "(NULL)",
                ],
            ),
            classic_event(
                at(1),
                "Application",
                PC,
                "MsiInstaller",
                1033,
                4,
                &[
                    "Microsoft Exchange Server",
                    "15.1.1642.1",
                    "1033",
                    "0",
                    "Microsoft Corporation",
                ],
            ),
            classic_event(
                at(2),
                "Application",
                PC,
                "MSExchangeTransport",
                16025,
                4,
                &[],
            ),
            classic_event(
                at(3),
                "Application",
                PC,
                "MSExchange Mitigation Service",
                1005,
                4,
                &["Mitigations applied."],
            ),
        ],
        10,
    );
    let d = analyze(bundle(evtx(vec![http], 1), app).path()).diagnosis;
    assert!(d.root_causes.is_empty(), "{:#?}", d.root_causes);
    for id in [
        "http-ssl-binding-broken",
        "msi-patch-not-applicable",
        "transport-agent-failed",
        "mitigation-fetch-failed",
    ] {
        assert!(!ids(&d.findings).contains(&id), "{id}");
    }
}
