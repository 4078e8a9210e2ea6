//! ASP.NET 1310/1309/1334 about Exchange's web applications. ASP.NET (a classic provider)
//! stores its web-event text as unnamed `<Data>`: the assembly, web.config path and line, and the
//! application path are read out of that text.

use super::{Context, Rule, cite_events, earliest, id_tally, positional, texts};
use crate::facts::{Confidence, Event, Explains, Fact, Finding, FindingKind, Severity};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::{InterestBuilder, RuleMeta};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// ASP.NET's event sources, one per runtime (2010 runs on CLR 2, 2013+ on CLR 4).
pub const ASPNET: &[&str] = &[
    "ASP.NET 1.1.4322.0",
    "ASP.NET 2.0.50727.0",
    "ASP.NET 4.0.30319.0",
];

static ASSEMBLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)Could not load (?:file or )?assembly '([^',]+)").expect("static regex")
});
static CONFIG_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\(([A-Za-z]:\\[^()\r\n]*?\.config) line (\d+)\)").expect("static regex")
});
static APP_DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)/LM/W3SVC/\d+/ROOT(/[A-Za-z0-9_.\-/]*)?").expect("static regex")
});
static VIRTUAL_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^/[A-Za-z0-9_.\-/]*$").expect("static regex"));
static APP_DOMAIN_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-\d+-\d+$").expect("static regex"));

/// Exchange's virtual directories (lower case, with their leading `/`).
const EXCHANGE_VDIRS: &[&str] = &[
    "/owa",
    "/ecp",
    "/ews",
    "/microsoft-server-activesync",
    "/autodiscover",
    "/powershell",
    "/oab",
    "/rpc",
    "/mapi",
    "/exchange",
    "/exchweb",
    "/exadmin",
    "/public",
];

/// What an ASP.NET web event says, read out of its text.
#[derive(Default)]
struct WebEvent {
    assembly: Option<String>,
    config: Option<(String, String)>,
    virtual_path: Option<String>,
    physical_path: Option<String>,
    exchange: bool,
    config_problem: bool,
}

fn read_web_event(e: &Event) -> WebEvent {
    let values: Vec<&str> = {
        let p = positional(e);
        if p.is_empty() { texts(e).collect() } else { p }
    };
    let all = values.join("\n");
    let mut w = WebEvent {
        assembly: ASSEMBLY.captures(&all).map(|c| c[1].trim().to_string()),
        config: CONFIG_LINE
            .captures(&all)
            .map(|c| (c[1].to_string(), c[2].to_string())),
        ..Default::default()
    };
    w.virtual_path = values
        .iter()
        .map(|v| v.trim())
        // The AppDomain (`/LM/W3SVC/1/ROOT/owa-1-…`) looks like a path too: not that one.
        .find(|v| {
            v.len() > 1 && VIRTUAL_PATH.is_match(v) && !v.to_ascii_uppercase().starts_with("/LM/")
        })
        .map(str::to_string)
        .or_else(|| {
            APP_DOMAIN.captures(&all).map(|c| {
                let p = c.get(1).map_or("/", |m| m.as_str());
                APP_DOMAIN_SUFFIX.replace(p, "").into_owned()
            })
        });
    w.physical_path = values
        .iter()
        .map(|v| v.trim())
        .find(|v| v.len() > 3 && v.as_bytes()[1] == b':' && v.ends_with('\\'))
        .map(str::to_string);
    let lower = all.to_ascii_lowercase();
    let vdir = w.virtual_path.as_deref().map(str::to_ascii_lowercase);
    w.exchange = lower.contains("microsoft.exchange")
        || lower.contains("\\exchange server\\")
        || lower.contains("\\clientaccess\\")
        || lower.contains("\\frontend\\httpproxy")
        || vdir.is_some_and(|v| {
            EXCHANGE_VDIRS
                .iter()
                .any(|d| v == *d || v.starts_with(&format!("{d}/")))
        });
    w.config_problem = w.assembly.is_some()
        || w.config.is_some()
        || lower.contains("configurationerrorsexception")
        || lower.contains("filenotfoundexception");
    w
}

/// ASP.NET 1310/1309/1334 about an Exchange application: a configuration or assembly error.
pub struct AspNetConfigError {
    meta: RuleMeta,
}

impl AspNetConfigError {
    pub const ID: &'static str = "aspnet-config-error";

    pub fn new() -> Self {
        AspNetConfigError {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "ASP.NET could not load an Exchange application's configuration".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "ASP.NET (2.0.50727.0 / 4.0.30319.0) 1310 \"A configuration error has occurred\" and 1334 (AppDomain failed to initialise) about an Exchange application, and 1309 when it is a configuration or assembly error; the assembly (\"Could not load file or assembly 'Microsoft.Exchange…'\"), the web.config path and line, and the application path are read from the event text".into(),
                why: "When a web.config points at assemblies that are not where it says (typically `file:///%ExchangeInstallDir%…` left unexpanded by a failed setup run, or files a failed run removed), the application cannot start: OWA, ECP, EWS, Autodiscover and ActiveSync return HTTP 500, and EMC/EMS cannot connect through remote PowerShell.".into(),
                fix: vec![
                    Action::new(Phase::Cause, "Open the web.config named in the event at that line: if the codeBase href starts with file:///%ExchangeInstallDir%, replace it with the install path (Setup\\MsiInstallPath), or run UpdateCas.ps1 and UpdateConfigFiles.ps1 from the Bin folder; if the assembly really is missing, re-run setup so it puts the files back")
                        .changes(&[Change::WebConfig])
                        .if_cause(),
                    common::iisreset(),
                ],
                references: vec![
                    "Microsoft Learn: \"Could not load file or assembly\" error when browsing EWS or Autodiscover".into(),
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for AspNetConfigError {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for AspNetConfigError {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for p in ASPNET {
            i.event(p, &[1309, 1310, 1334]);
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        struct Group<'a> {
            facts: Vec<&'a Fact>,
            events: Vec<&'a Event>,
            assemblies: BTreeSet<String>,
            configs: BTreeSet<(String, String)>,
            physical: Option<String>,
        }
        let mut by_app: BTreeMap<String, Group> = BTreeMap::new();
        let aspnet = ctx.facts.events().filter(|(_, e)| {
            e.provider.to_ascii_lowercase().starts_with("asp.net ")
                && matches!(e.event_id, 1309 | 1310 | 1334)
        });
        for (f, e) in aspnet {
            let w = read_web_event(e);
            if !w.exchange || (e.event_id == 1309 && !w.config_problem) {
                continue;
            }
            let app = w
                .virtual_path
                .clone()
                .or_else(|| w.physical_path.clone())
                .or_else(|| w.config.as_ref().map(|(p, _)| p.clone()))
                .unwrap_or_else(|| "an Exchange application".into());
            let g = by_app.entry(app).or_insert_with(|| Group {
                facts: Vec::new(),
                events: Vec::new(),
                assemblies: BTreeSet::new(),
                configs: BTreeSet::new(),
                physical: None,
            });
            g.facts.push(f);
            g.events.push(e);
            g.assemblies.extend(w.assembly);
            g.configs.extend(w.config);
            if g.physical.is_none() {
                g.physical = w.physical_path;
            }
        }
        by_app
            .into_iter()
            .map(|(app, g)| {
                let mut title = match g.assemblies.len() {
                    0 => format!("ASP.NET configuration error in {app}"),
                    _ => format!(
                        "ASP.NET could not load {} for {app}",
                        g.assemblies.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                if let Some((path, line)) = g.configs.iter().next() {
                    title += &format!(" ({path} line {line})");
                }
                title += &format!(" ({})", id_tally(g.events.iter().copied()));
                let mut f = self.meta.finding(Some(&app), cite_events(&g.facts));
                f.title = title;
                f.confidence = Confidence::High;
                f.time = earliest(ctx, &g.facts);
                let sync = app.to_ascii_lowercase().contains("activesync")
                    || g.physical
                        .as_deref()
                        .is_some_and(|p| p.to_ascii_lowercase().contains("\\sync\\"));
                if sync {
                    f.explains.push(Explains::any("activesync-errors"));
                }
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::rules::testing::run_rule;

    const T: &str = "2012-02-12T22:40:00Z";

    /// The values of a 1310 web event in order, as ASP.NET 2.0 stores them.
    fn web_event_1310(app: &str, phys: &str, message: &str) -> Vec<String> {
        vec![
            "3008".into(),
            "A configuration error has occurred.".into(),
            "2/12/2012 10:41:02 PM".into(),
            "2/12/2012 10:41:02 PM".into(),
            "8f7f5b1b2b2e4d0c8b0b2b1b2b2e4d0c".into(),
            "1".into(),
            "1".into(),
            "0".into(),
            format!("/LM/W3SVC/1/ROOT{app}-1-129735336614687500"),
            "Full".into(),
            app.into(),
            phys.into(),
            "EX01".into(),
            "".into(),
            "5384".into(),
            "w3wp.exe".into(),
            "NT AUTHORITY\\SYSTEM".into(),
            "ConfigurationErrorsException".into(),
            message.into(),
        ]
    }

    #[test]
    fn aspnet_1310_names_assembly_config_line_and_app() {
        let values = web_event_1310(
            "/owa",
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\",
            "Could not load file or assembly 'Microsoft.Exchange.Security, Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35' or one of its dependencies. The system cannot find the file specified. (D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\web.config line 42)",
        );
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let facts = set(vec![classic(77, T, "ASP.NET 2.0.50727.0", 1310, &refs)]);
        let f = run_rule(&AspNetConfigError::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.as_deref(), Some("/owa"));
        let t = &f[0].title;
        assert!(t.contains("Microsoft.Exchange.Security"), "{t}");
        assert!(t.contains("Owa\\web.config line 42"), "{t}");
        assert!(f[0].explains.is_empty());

        // ActiveSync's application: also explains ActiveSync's own errors.
        let values = web_event_1310(
            "/Microsoft-Server-ActiveSync",
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Sync\\",
            "Could not load file or assembly 'Microsoft.Exchange.AirSync' or one of its dependencies.",
        );
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let facts = set(vec![classic(78, T, "ASP.NET 4.0.30319.0", 1310, &refs)]);
        let f = run_rule(&AspNetConfigError::new(), &facts);
        assert!(f[0].explains.contains(&Explains::any("activesync-errors")));
    }

    #[test]
    fn aspnet_noise_and_other_applications_are_ignored() {
        // An unhandled exception in OWA that is not a configuration problem.
        let mut values = web_event_1310(
            "/owa",
            "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Owa\\",
            "The remote host closed the connection.",
        );
        values[0] = "3005".into();
        values[17] = "HttpException".into();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        // A configuration error in an application that is not Exchange's.
        let other = web_event_1310(
            "/intranet",
            "C:\\inetpub\\intranet\\",
            "Could not load file or assembly 'Contoso.Web' or one of its dependencies. (C:\\inetpub\\intranet\\web.config line 7)",
        );
        let other: Vec<&str> = other.iter().map(String::as_str).collect();
        let facts = set(vec![
            classic(1, T, "ASP.NET 2.0.50727.0", 1309, &refs),
            classic(2, T, "ASP.NET 2.0.50727.0", 1310, &other),
        ]);
        assert!(run_rule(&AspNetConfigError::new(), &facts).is_empty());
    }

    #[test]
    fn aspnet_1334_app_domain_failure_reads_the_vdir() {
        let facts = set(vec![classic(
            5,
            T,
            "ASP.NET 2.0.50727.0",
            1334,
            &[
                "Failed to initialize the AppDomain:/LM/W3SVC/1/ROOT/ecp\n\nException: System.Configuration.ConfigurationErrorsException\n\nMessage: Could not load file or assembly 'Microsoft.Exchange.Management.ControlPanel' or one of its dependencies.",
            ],
        )]);
        let f = run_rule(&AspNetConfigError::new(), &facts);
        assert_eq!(f[0].subject.as_deref(), Some("/ecp"));
        assert!(
            f[0].title
                .contains("Microsoft.Exchange.Management.ControlPanel")
        );
    }
}
