//! The ActiveSync virtual directory: Basic authentication only, no redirect.

use super::location_parts;
use crate::facts::{Confidence, FactKind, Finding, FindingKind, IisAuthentication, Severity};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::host::cite;
use crate::rules::{Context, Rule, RuleMeta};
use std::collections::BTreeSet;

/// The front-end ActiveSync virtual directory allows something other than Basic, or redirects.
pub struct ActiveSyncAuthMisconfigured {
    meta: RuleMeta,
}

impl ActiveSyncAuthMisconfigured {
    pub const ID: &'static str = "activesync-auth-misconfigured";

    pub fn new() -> Self {
        ActiveSyncAuthMisconfigured {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "ActiveSync virtual directory authentication or redirect is wrong".into(),
                kind: FindingKind::Symptom,
                severity: Severity::Medium,
                looks_for: "`<location path=\"Default Web Site/Microsoft-Server-ActiveSync\">` with an authentication method other than Basic enabled, Basic disabled, or `httpRedirect enabled=\"true\"`".into(),
                why: "Devices authenticate to /Microsoft-Server-ActiveSync with Basic; with another method enabled (or Basic off) they get no usable 401 challenge, and a redirect sends them away from the endpoint, so phones stop syncing.".into(),
                fix: vec![
                    Action::new(Phase::Repair, "In IIS Manager, Default Web Site > Microsoft-Server-ActiveSync: under Authentication enable Basic only; under HTTP Redirect untick \"Redirect requests to this destination\" (or reset the virtual directory with Remove-ActiveSyncVirtualDirectory and New-ActiveSyncVirtualDirectory in the Exchange Management Shell)")
                        .target("Default Web Site/Microsoft-Server-ActiveSync")
                        .changes(&[Change::IisConfig]),
                    common::iisreset(),
                    common::verify("browsing /Microsoft-Server-ActiveSync answers 401 Unauthorized, and the Remote Connectivity Analyzer's ActiveSync test passes"),
                ],
                references: vec![
                    "Microsoft Learn: Default settings for Exchange virtual directories".into(),
                    "Microsoft Learn: Reset virtual directories in Exchange Server".into(),
                ],
                explains: vec!["activesync-errors".into()],
            },
        }
    }
}

impl Default for ActiveSyncAuthMisconfigured {
    fn default() -> Self {
        Self::new()
    }
}

/// `basicAuthentication` or `Basic` → `basic`.
fn auth_method(m: &str) -> String {
    let l = m.trim().to_ascii_lowercase();
    l.strip_suffix("authentication").unwrap_or(&l).to_string()
}

/// The front-end ActiveSync vdir itself, not `/Proxy` below it or the back end's copy.
fn is_activesync_location(location: &str) -> bool {
    let (site, last) = location_parts(location);
    last == "microsoft-server-activesync"
        && location.trim_matches('/').matches('/').count() == 1
        && site != "exchange back end"
}

impl Rule for ActiveSyncAuthMisconfigured {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut problems = Vec::new();
        let mut evidence = Vec::new();
        for f in ctx.facts.iter() {
            match &f.kind {
                FactKind::IisAuthentication(IisAuthentication {
                    location, enabled, ..
                }) if is_activesync_location(location) => {
                    let methods: BTreeSet<String> =
                        enabled.iter().map(|m| auth_method(m)).collect();
                    let others: Vec<&String> = methods.iter().filter(|m| *m != "basic").collect();
                    if !methods.contains("basic") {
                        problems.push("Basic authentication is not enabled".to_string());
                    }
                    if !others.is_empty() {
                        problems.push(format!(
                            "also enabled: {}",
                            others
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    if !methods.contains("basic") || !others.is_empty() {
                        evidence.push(cite(
                            f,
                            format!(
                                "{location}: enabled authentication [{}]",
                                enabled.join(", ")
                            ),
                        ));
                    }
                }
                FactKind::HttpRedirect(r) if r.enabled && is_activesync_location(&r.location) => {
                    problems.push(format!(
                        "HTTP redirect enabled{}",
                        r.destination
                            .as_deref()
                            .map(|d| format!(" to {d}"))
                            .unwrap_or_default()
                    ));
                    evidence.push(cite(
                        f,
                        format!("{}: <httpRedirect enabled=\"true\">", r.location),
                    ));
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            return Vec::new();
        }
        let mut f = self.meta.finding(None, evidence);
        f.title = format!("ActiveSync virtual directory: {}", problems.join("; "));
        f.confidence = Confidence::High;
        vec![f]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Fact, FactKind};
    use crate::rules::testing::config::*;
    use crate::rules::testing::run_rule;

    fn is_kind(f: &Fact, pred: impl Fn(&FactKind) -> bool) -> bool {
        pred(&f.kind)
    }

    #[test]
    fn activesync_with_windows_auth_and_redirect() {
        let facts = with(
            without(healthy_config(), |f| {
                is_kind(f, |k| {
                    matches!(
                        k,
                        FactKind::IisAuthentication(_) | FactKind::HttpRedirect(_)
                    )
                })
            }),
            [
                authentication(
                    "Default Web Site/Microsoft-Server-ActiveSync",
                    &["basicAuthentication", "windowsAuthentication"],
                    &[],
                ),
                redirect("Default Web Site/Microsoft-Server-ActiveSync", true),
            ],
        );
        let f = run_rule(&ActiveSyncAuthMisconfigured::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title.contains("also enabled: windows"),
            "{}",
            f[0].title
        );
        assert!(f[0].title.contains("HTTP redirect enabled"));
        assert_eq!(f[0].evidence.len(), 2);
    }

    #[test]
    fn healthy_activesync_is_silent() {
        // The /Proxy sub-location legitimately uses Windows authentication.
        assert!(run_rule(&ActiveSyncAuthMisconfigured::new(), &healthy_config()).is_empty());
        assert!(run_rule(&ActiveSyncAuthMisconfigured::new(), &seed_config()).is_empty());
    }
}
