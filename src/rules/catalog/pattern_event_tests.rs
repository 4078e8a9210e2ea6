//! The built-in declarative rules that read events, tested on the events they must recognise
//! and on near misses: the same id from another source, another id of the same source, and the
//! same event whose data says something else. Event data is given as Windows stores it: the
//! insertion strings (an endpoint, an exception stack, an error status), never the rendered
//! English message.

use super::pattern_tests::{Ev, builtin, facts};
use crate::rules::testing::run_rule;

struct EventCase {
    id: &'static str,
    /// Each must make the rule fire on its own.
    events: &'static [Ev],
    /// None may.
    not: &'static [Ev],
}

const FBA_STACK: &str = "System.NullReferenceException: Object reference not set to an instance of an object.\r\n   at Microsoft.Exchange.HttpProxy.FbaModule.ParseCadataCookies(HttpApplication httpApplication)\r\n   at Microsoft.Exchange.HttpProxy.FbaModule.OnBeginRequestInternal(HttpApplication httpApplication)";

const EVENT_CASES: &[EventCase] = &[
    EventCase {
        id: "transport-back-pressure-disk",
        events: &[("MSExchangeTransport", 15006, "")],
        not: &[
            // Memory back pressure, and the resource returning to normal.
            ("MSExchangeTransport", 15004, ""),
            ("MSExchangeTransport", 15005, ""),
        ],
    },
    EventCase {
        id: "store-database-start-failed",
        events: &[("MSExchangeIS", 9519, "")],
        not: &[("MSExchangeIS", 9523, ""), ("MSExchangeRepl", 9519, "")],
    },
    EventCase {
        id: "http-ssl-binding-broken",
        events: &[
            ("HttpEvent", 15021, "0.0.0.0:444"),
            ("Microsoft-Windows-HttpEvent", 15021, "0.0.0.0:443"),
            ("Microsoft-Windows-HttpEvent", 15021, "[::]:444"),
        ],
        not: &[
            // HTTP.sys started, and the same id from another source.
            ("Microsoft-Windows-HttpEvent", 15007, "http://*:5985/wsman/"),
            ("Schannel", 15021, "0.0.0.0:444"),
        ],
    },
    EventCase {
        id: "auth-certificate-invalid",
        events: &[
            ("MSExchange Front End HTTPS Proxy", 1003, FBA_STACK),
            (
                "MSExchange Front End HTTPS Proxy",
                1003,
                "[Owa] ASSERT: HMACProvider.GetCertificates:protectionCertificates.Length<1",
            ),
        ],
        not: &[
            // Another proxy failure, and the same stack reported by another source.
            (
                "MSExchange Front End HTTPS Proxy",
                1003,
                "System.Net.WebException: The remote server returned an error: (503) Server Unavailable.",
            ),
            ("MSExchange Front End HTTPS Proxy", 1004, FBA_STACK),
            ("ASP.NET 4.0.30319.0", 1003, FBA_STACK),
        ],
    },
    EventCase {
        id: "msi-patch-not-applicable",
        events: &[
            (
                "MsiInstaller",
                1023,
                "Microsoft Exchange Server | {0C9D4DD1-5D40-4A29-A3E9-3D4F8D6B0B7C} | 1642 | (NULL) | (NULL) | (NULL) | ",
            ),
            (
                "MsiInstaller",
                1033,
                "Microsoft Exchange Server | 15.2.1258.12 | 1033 | 1642 | Microsoft Corporation | (NULL) | ",
            ),
        ],
        not: &[
            // The update installed; another failure; 1642 as part of a version or a GUID.
            (
                "MsiInstaller",
                1022,
                "Microsoft Exchange Server | {0C9D4DD1-5D40-4A29-A3E9-3D4F8D6B0B7C} | (NULL)",
            ),
            (
                "MsiInstaller",
                1023,
                "Microsoft Exchange Server | {0C9D4DD1-5D40-4A29-A3E9-3D4F8D6B0B7C} | 1603 | (NULL)",
            ),
            (
                "MsiInstaller",
                1033,
                "Microsoft Exchange Server | 15.1.1642.1 | 1033 | 0 | Microsoft Corporation",
            ),
        ],
    },
    EventCase {
        id: "transport-agent-failed",
        events: &[
            ("MSExchangeTransport", 16023, ""),
            (
                "MSExchange Common",
                4999,
                "Watson report about to be sent for process id: 5120, with parameters: E12IIS, c-RTL-AMD64, 15.01.2375.031, EdgeTransport, E.D.DkimSigner, E.D.DkimSigningRoutingAgentFactory..ctor, System.IO.FileNotFoundException, 2f1a, 15.01.2375.031.",
            ),
        ],
        not: &[
            // Another transport event, and a crash that has nothing to do with an agent.
            ("MSExchangeTransport", 16025, ""),
            (
                "MSExchange Common",
                4999,
                "Watson report about to be sent for process id: 4321, with parameters: E12, c-RTL-AMD64, 15.01.2375.024, M.Exchange.ServiceHost, M.Exchange.Diagnostics, M.E.D.ChainedSerializationBinder.LoadType, M.E.Diagnostics.BlockedDeserializeTypeException, 1d5c, 15.01.2375.024.",
            ),
        ],
    },
    EventCase {
        id: "mitigation-fetch-failed",
        events: &[(
            "MSExchange Mitigation Service",
            1008,
            "An unexpected exception occurred. Diagnostic information: Exception encountered while fetching mitigations.",
        )],
        not: &[
            (
                "MSExchange Mitigation Service",
                1005,
                "Mitigations applied.",
            ),
            ("MSExchange ActiveSync", 1008, "AirSyncException"),
        ],
    },
];

pub(super) fn has_case(id: &str) -> bool {
    EVENT_CASES.iter().any(|c| c.id == id)
}

#[test]
fn each_event_rule_fires_on_its_events_and_not_on_near_misses() {
    let rules = builtin();
    for c in EVENT_CASES {
        let r = rules
            .iter()
            .find(|r| r.meta().id == c.id)
            .unwrap_or_else(|| panic!("event case {} has no rule file", c.id));
        assert!(!c.events.is_empty() && !c.not.is_empty(), "{}", c.id);
        for e in c.events {
            let f = run_rule(r.as_ref(), &facts(r.as_ref(), "", &[], &[*e]));
            assert_eq!(f.len(), 1, "{} on {e:?}: {f:#?}", c.id);
            assert_eq!(f[0].evidence[0].locator.path, "evtx/Application.evtx");
        }
        for e in c.not {
            let f = run_rule(r.as_ref(), &facts(r.as_ref(), "", &[], &[*e]));
            assert!(f.is_empty(), "{} fired on the near miss {e:?}", c.id);
        }
    }
}

#[test]
fn a_broken_binding_names_its_endpoint() {
    let rules = builtin();
    let r = rules
        .iter()
        .find(|r| r.meta().id == "http-ssl-binding-broken")
        .expect("rule");
    let f = run_rule(
        r.as_ref(),
        &facts(r.as_ref(), "", &[], &[("HttpEvent", 15021, "0.0.0.0:444")]),
    );
    assert_eq!(f[0].subject.as_deref(), Some("0.0.0.0:444"));
    assert!(f[0].title.ends_with(": 0.0.0.0:444"), "{}", f[0].title);
}

#[test]
fn an_agent_that_crashes_transport_explains_the_crash_and_the_stopped_service_only() {
    use crate::rules::events::ExchangeServiceCrash;
    let rules = builtin();
    let agent = rules
        .iter()
        .find(|r| r.meta().id == "transport-agent-failed")
        .expect("rule");
    // Watson writes the process name in either case; a Service Host crash stays its own.
    const EDGE: &str = "Watson report about to be sent for process id: 5120, with parameters: E12IIS, c-RTL-AMD64, 15.01.2375.031, edgetransport, E.D.DkimSigner, E.D.DkimSigningRoutingAgentFactory..ctor, System.IO.FileNotFoundException, 2f1a, 15.01.2375.031.";
    const HOST: &str = "Watson report about to be sent for process id: 4321, with parameters: E12, c-RTL-AMD64, 15.01.2375.024, M.Exchange.ServiceHost, M.Exchange.Diagnostics, M.E.D.ChainedSerializationBinder.LoadType, M.E.Diagnostics.BlockedDeserializeTypeException, 1d5c, 15.01.2375.024.";
    let events = [
        ("MSExchange Common", 4999, EDGE),
        ("MSExchange Common", 4999, HOST),
    ];
    let mut findings = run_rule(agent.as_ref(), &facts(agent.as_ref(), "", &[], &events));
    let crash = ExchangeServiceCrash::new();
    findings.extend(run_rule(&crash, &facts(&crash, "", &[], &events)));
    assert_eq!(findings.len(), 3, "{findings:#?}");
    let g = crate::correlate::Graph::new(&findings);
    let roots = g.roots();
    assert_eq!(roots.len(), 1);
    assert_eq!(findings[roots[0]].id, "transport-agent-failed");
    let explained: Vec<&str> = g
        .chain(roots[0])
        .iter()
        .filter_map(|c| findings[c.0].subject.as_deref())
        .collect();
    assert_eq!(explained, vec!["edgetransport"]);
}
