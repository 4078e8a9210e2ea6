//! Secrets in the bundle itself: a `web.config` copied with its `machineKey` or a connection
//! string's password in clear (an older collector, a bundle made by hand). Whoever holds such a
//! bundle holds the server's keys, so the report says so; the values themselves never leave the
//! parser (see `parse::webconfig::scrub`).

use crate::facts::{
    Confidence, Evidence, FactKind, FactSet, Finding, FindingKind, Locator, Position, Severity,
};

pub const ID: &str = "bundle-contains-secrets";

/// One finding listing every file that holds a secret in clear, or none.
pub fn findings(facts: &FactSet) -> Vec<Finding> {
    let evidence: Vec<Evidence> = facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::WebConfigFile(w) if !w.secrets.is_empty() => Some(Evidence::new(
                Locator::new(f.evidence.locator.path.clone(), Position::File),
                format!("{} (values not shown)", w.secrets.join(", ")),
            )),
            _ => None,
        })
        .collect();
    if evidence.is_empty() {
        return Vec::new();
    }
    vec![Finding {
        id: ID.into(),
        title: format!(
            "This bundle contains secrets: delete it after analysis ({} file(s) hold a machine key or a password in clear)",
            evidence.len()
        ),
        kind: FindingKind::Risk,
        severity: Severity::Medium,
        confidence: Confidence::High,
        subject: None,
        time: None,
        evidence,
        why: "A web.config machineKey lets whoever holds it forge ASP.NET ViewState and run code on the server (CVE-2020-0688 made these keys unique to each server); a connection-string password opens the database it names. The bundle was collected without removing them.".into(),
        fix: vec![
            "Delete this bundle, and every copy of it (mailboxes, shares, tickets), once the analysis is done.".into(),
            "Collect again with the current Collect-ExchangeEvidence.ps1, which removes these values while copying.".into(),
            "If the bundle was sent over an untrusted channel, treat the keys as disclosed: regenerate the machineKey of the listed files (or rerun the Exchange security update that sets it) and change the passwords.".into(),
        ],
        references: vec!["docs/collector.md: what the collector never does".into()],
        explains: vec![],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::config::web_config;

    #[test]
    fn secrets_are_named_by_place_only() {
        let mut facts = web_config("ClientAccess/ecp/web.config", 0, &[]);
        assert!(findings(&FactSet::new(facts.clone())).is_empty());
        if let FactKind::WebConfigFile(w) = &mut facts[0].kind {
            w.secrets = vec!["line 12: <machineKey> validationKey".into()];
        }
        let f = findings(&FactSet::new(facts));
        assert_eq!(f.len(), 1);
        assert!(
            f[0].title
                .starts_with("This bundle contains secrets: delete it after analysis")
        );
        assert_eq!(
            f[0].evidence[0].locator.to_string(),
            "iis/webconfig/ClientAccess/ecp/web.config"
        );
        assert!(f[0].evidence[0].excerpt.contains("validationKey"));
    }
}
