//! Declarative rules: a regex over setup-log lines or event data, plus title, why and fix.
//!
//! Built-in rule files live in `rules/*.toml` at the repository root and are embedded in the
//! binary; `--rules DIR` loads more without recompiling. The format is documented in
//! `docs/rules.md`.

use super::{Context, InterestBuilder, Rule, RuleMeta};
use crate::facts::{Confidence, Finding, FindingKind, SetupError, Severity};
use crate::repair::Action;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The rule files compiled into exhume (one line per file, kept sorted).
#[rustfmt::skip]
const BUILTIN: &[(&str, &str)] = &[
    ("activesync-vdir-duplicate.toml", include_str!("../../rules/activesync-vdir-duplicate.toml")),
    ("ad-access-denied.toml", include_str!("../../rules/ad-access-denied.toml")),
    ("ad-newer-than-setup.toml", include_str!("../../rules/ad-newer-than-setup.toml")),
    ("ad-not-prepared.toml", include_str!("../../rules/ad-not-prepared.toml")),
    ("ad-object-already-exists.toml", include_str!("../../rules/ad-object-already-exists.toml")),
    ("ad-topology-unavailable.toml", include_str!("../../rules/ad-topology-unavailable.toml")),
    ("ad-wellknown-group-wrong-type.toml", include_str!("../../rules/ad-wellknown-group-wrong-type.toml")),
    ("ad-wellknown-object-invalid.toml", include_str!("../../rules/ad-wellknown-object-invalid.toml")),
    ("arbitration-mailbox-invalid.toml", include_str!("../../rules/arbitration-mailbox-invalid.toml")),
    ("arbitration-upn-not-unique.toml", include_str!("../../rules/arbitration-upn-not-unique.toml")),
    ("auth-certificate-invalid.toml", include_str!("../../rules/auth-certificate-invalid.toml")),
    ("content-filter-registration-failed.toml", include_str!("../../rules/content-filter-registration-failed.toml")),
    ("dc-out-of-site.toml", include_str!("../../rules/dc-out-of-site.toml")),
    ("disk-space-low.toml", include_str!("../../rules/disk-space-low.toml")),
    ("domain-not-prepared.toml", include_str!("../../rules/domain-not-prepared.toml")),
    ("email-address-policy-invalid.toml", include_str!("../../rules/email-address-policy-invalid.toml")),
    ("endpoint-mapper-unavailable.toml", include_str!("../../rules/endpoint-mapper-unavailable.toml")),
    ("eventlog-source-access-denied.toml", include_str!("../../rules/eventlog-source-access-denied.toml")),
    ("fips-config-access-denied.toml", include_str!("../../rules/fips-config-access-denied.toml")),
    ("fms-service-start-failed.toml", include_str!("../../rules/fms-service-start-failed.toml")),
    ("http-ssl-binding-broken.toml", include_str!("../../rules/http-ssl-binding-broken.toml")),
    ("hybrid-application-uri-missing.toml", include_str!("../../rules/hybrid-application-uri-missing.toml")),
    ("iis-vdir-setup-failed.toml", include_str!("../../rules/iis-vdir-setup-failed.toml")),
    ("language-pack-bundle-invalid.toml", include_str!("../../rules/language-pack-bundle-invalid.toml")),
    ("mailbox-database-not-mounted.toml", include_str!("../../rules/mailbox-database-not-mounted.toml")),
    ("mitigation-fetch-failed.toml", include_str!("../../rules/mitigation-fetch-failed.toml")),
    ("mmc-found-twice-on-path.toml", include_str!("../../rules/mmc-found-twice-on-path.toml")),
    ("msdtc-stopped.toml", include_str!("../../rules/msdtc-stopped.toml")),
    ("msi-folder-access-denied.toml", include_str!("../../rules/msi-folder-access-denied.toml")),
    ("msi-install-failed.toml", include_str!("../../rules/msi-install-failed.toml")),
    ("msi-installer-cache-missing.toml", include_str!("../../rules/msi-installer-cache-missing.toml")),
    ("msi-patch-not-applicable.toml", include_str!("../../rules/msi-patch-not-applicable.toml")),
    ("org-container-missing.toml", include_str!("../../rules/org-container-missing.toml")),
    ("owa-mailbox-policy-conflict.toml", include_str!("../../rules/owa-mailbox-policy-conflict.toml")),
    ("powershell-execution-policy-gpo.toml", include_str!("../../rules/powershell-execution-policy-gpo.toml")),
    ("prereq-dotnet-missing.toml", include_str!("../../rules/prereq-dotnet-missing.toml")),
    ("prereq-ucma-missing.toml", include_str!("../../rules/prereq-ucma-missing.toml")),
    ("prereq-url-rewrite-missing.toml", include_str!("../../rules/prereq-url-rewrite-missing.toml")),
    ("prereq-vcredist-missing.toml", include_str!("../../rules/prereq-vcredist-missing.toml")),
    ("prereq-windows-feature-missing.toml", include_str!("../../rules/prereq-windows-feature-missing.toml")),
    ("public-folder-tree-missing.toml", include_str!("../../rules/public-folder-tree-missing.toml")),
    ("remote-registry-unavailable.toml", include_str!("../../rules/remote-registry-unavailable.toml")),
    ("resume-no-services-running.toml", include_str!("../../rules/resume-no-services-running.toml")),
    ("schema-import-failed.toml", include_str!("../../rules/schema-import-failed.toml")),
    ("search-foundation-config-failed.toml", include_str!("../../rules/search-foundation-config-failed.toml")),
    ("search-foundation-old-nodes.toml", include_str!("../../rules/search-foundation-old-nodes.toml")),
    ("security-groups-ou-missing.toml", include_str!("../../rules/security-groups-ou-missing.toml")),
    ("setup-certificate-expired.toml", include_str!("../../rules/setup-certificate-expired.toml")),
    ("setup-file-locked.toml", include_str!("../../rules/setup-file-locked.toml")),
    ("setup-insufficient-permissions.toml", include_str!("../../rules/setup-insufficient-permissions.toml")),
    ("setup-missing-directory.toml", include_str!("../../rules/setup-missing-directory.toml")),
    ("setup-prereq-pending-reboot.toml", include_str!("../../rules/setup-prereq-pending-reboot.toml")),
    ("setup-recover-server-required.toml", include_str!("../../rules/setup-recover-server-required.toml")),
    ("setup-resume-action-mismatch.toml", include_str!("../../rules/setup-resume-action-mismatch.toml")),
    ("setup-sessions-open.toml", include_str!("../../rules/setup-sessions-open.toml")),
    ("setup-started-wrong-way.toml", include_str!("../../rules/setup-started-wrong-way.toml")),
    ("stale-service-state-file.toml", include_str!("../../rules/stale-service-state-file.toml")),
    ("store-database-start-failed.toml", include_str!("../../rules/store-database-start-failed.toml")),
    ("transport-agent-failed.toml", include_str!("../../rules/transport-agent-failed.toml")),
    ("transport-back-pressure-disk.toml", include_str!("../../rules/transport-back-pressure-disk.toml")),
    ("transport-service-start-failed.toml", include_str!("../../rules/transport-service-start-failed.toml")),
    ("where-exe-not-found.toml", include_str!("../../rules/where-exe-not-found.toml")),
    ("winrm-remote-powershell-failed.toml", include_str!("../../rules/winrm-remote-powershell-failed.toml")),
];

/// Why a rule file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: String,
    title: String,
    kind: FindingKind,
    severity: Severity,
    looks_for: String,
    why: String,
    /// Typed actions (`[[fix]]` tables), or sentences (the older form, still accepted).
    fix: Vec<toml::Value>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    explains: Vec<String>,
    #[serde(default)]
    confidence: Option<Confidence>,
    #[serde(rename = "match")]
    matcher: MatchSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchSpec {
    #[serde(default)]
    setup_lines: Vec<String>,
    /// `last-run` (default): only lines of the last run of a setup log (and any line of other
    /// setup text files); `any`: every run.
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    events: Vec<EventSpec>,
    #[serde(default)]
    errors: Vec<ErrorSpec>,
}

/// An `[ERROR]` block of a setup run, matched on its parts; every part given must match.
/// Matching the block rather than one line reaches what setup writes only inside it (the
/// exception and stack of `" was run: "…"`, continuation lines) and keys a rule on the
/// error's class (task, exception type, `[ERROR-REFERENCE]` id) rather than its wording.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorSpec {
    /// Over the block's messages joined with a new line (continuation lines included).
    #[serde(default)]
    message: Option<String>,
    /// Over the command of `The following error was generated when "…" was run`.
    #[serde(default)]
    command: Option<String>,
    /// Over the `[ERROR-REFERENCE] Id=…` value.
    #[serde(default)]
    reference: Option<String>,
    /// Over the task being processed (`Beginning processing Install-BridgeheadRole`).
    #[serde(default)]
    task: Option<String>,
}

/// A compiled [`ErrorSpec`].
struct ErrorMatch {
    message: Option<Regex>,
    command: Option<Regex>,
    reference: Option<Regex>,
    task: Option<Regex>,
}

impl ErrorMatch {
    /// `Some(subject)` when every part matches; the subject is the message's first capture.
    fn matches(&self, e: &SetupError) -> Option<Option<String>> {
        let part = |re: &Option<Regex>, v: Option<&str>| match re {
            None => true,
            Some(re) => v.is_some_and(|v| re.is_match(v)),
        };
        if !part(&self.command, e.command.as_deref())
            || !part(&self.reference, e.reference_id.as_deref())
            || !part(&self.task, e.task.as_deref())
        {
            return None;
        }
        match &self.message {
            None => Some(None),
            Some(re) => {
                let text = e.messages.join("\n");
                re.captures(&text)
                    .map(|c| c.get(1).map(|m| m.as_str().to_string()))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventSpec {
    provider: String,
    #[serde(default)]
    ids: Vec<u32>,
    /// Regex over the event's data values joined with ` | `.
    #[serde(default)]
    data: Option<String>,
}

/// A loaded declarative rule.
pub struct PatternRule {
    meta: RuleMeta,
    confidence: Confidence,
    lines: Vec<Regex>,
    any_run: bool,
    events: Vec<(String, Vec<u32>, Option<Regex>)>,
    errors: Vec<ErrorMatch>,
    /// The source file, for error messages and `exhume rules`.
    pub origin: String,
}

impl PatternRule {
    pub fn from_toml(origin: &str, text: &str) -> Result<PatternRule, LoadError> {
        let invalid = |message: String| LoadError::Invalid {
            file: origin.to_string(),
            message,
        };
        let f: RuleFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if f.matcher.setup_lines.is_empty()
            && f.matcher.events.is_empty()
            && f.matcher.errors.is_empty()
        {
            return Err(invalid(
                "[match] needs setup_lines, errors or events".into(),
            ));
        }
        let lines = f
            .matcher
            .setup_lines
            .iter()
            .map(|p| Regex::new(p).map_err(|e| invalid(format!("bad regex {p:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let events = f
            .matcher
            .events
            .into_iter()
            .map(|e| {
                let data = e
                    .data
                    .as_deref()
                    .map(Regex::new)
                    .transpose()
                    .map_err(|err| invalid(format!("bad data regex: {err}")))?;
                Ok((e.provider, e.ids, data))
            })
            .collect::<Result<Vec<_>, LoadError>>()?;
        let compile = |p: &Option<String>| {
            p.as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| invalid(format!("bad errors regex: {e}")))
        };
        let errors = f
            .matcher
            .errors
            .iter()
            .map(|e| {
                let m = ErrorMatch {
                    message: compile(&e.message)?,
                    command: compile(&e.command)?,
                    reference: compile(&e.reference)?,
                    task: compile(&e.task)?,
                };
                if m.message.is_none()
                    && m.command.is_none()
                    && m.reference.is_none()
                    && m.task.is_none()
                {
                    return Err(invalid("an [[match.errors]] entry matches nothing".into()));
                }
                Ok(m)
            })
            .collect::<Result<Vec<_>, LoadError>>()?;
        let fix = f
            .fix
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                toml::Value::String(s) => Ok(Action::from(s)),
                v => Action::deserialize(v).map_err(|e| invalid(format!("fix[{i}]: {e}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let any_run = match f.matcher.scope.as_deref() {
            None | Some("last-run") => false,
            Some("any") => true,
            Some(other) => return Err(invalid(format!("unknown scope {other:?}"))),
        };
        Ok(PatternRule {
            meta: RuleMeta {
                id: f.id,
                title: f.title,
                kind: f.kind,
                severity: f.severity,
                looks_for: f.looks_for,
                why: f.why,
                fix,
                references: f.references,
                explains: f.explains,
            },
            confidence: f.confidence.unwrap_or(Confidence::Medium),
            lines,
            any_run,
            events,
            errors,
            origin: origin.to_string(),
        })
    }
}

/// The embedded catalogue. A broken built-in file is a bug, caught by the tests.
pub fn builtin() -> Vec<Box<dyn Rule>> {
    BUILTIN
        .iter()
        .filter_map(|(name, text)| PatternRule::from_toml(name, text).ok())
        .map(|r| Box::new(r) as Box<dyn Rule>)
        .collect()
}

/// Loads every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Box<dyn Rule>>, LoadError> {
    let io = |source| LoadError::Io {
        file: dir.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("toml"))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(&p).map_err(|source| LoadError::Io {
                file: name.clone(),
                source,
            })?;
            PatternRule::from_toml(&name, &text).map(|r| Box::new(r) as Box<dyn Rule>)
        })
        .collect()
}

impl Rule for PatternRule {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn interest(&self, i: &mut InterestBuilder) {
        for re in &self.lines {
            i.setup_line(re.as_str());
        }
        for (provider, ids, _) in &self.events {
            if ids.is_empty() {
                i.provider(provider);
            } else {
                i.event(provider, ids);
            }
        }
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // Last run index per setup log, to keep only what the current state depends on.
        let last: HashMap<&str, usize> = ctx
            .facts
            .last_runs()
            .map(|(f, r)| (f.evidence.locator.path.as_str(), r.index))
            .collect();
        let mut hits: BTreeMap<Option<String>, Vec<&crate::facts::Fact>> = BTreeMap::new();
        for (fact, line) in ctx.facts.setup_lines() {
            let current = self.any_run
                || line.run.is_none()
                || last.get(fact.evidence.locator.path.as_str()) == line.run.as_ref();
            if !current {
                continue;
            }
            for re in &self.lines {
                if let Some(c) = re.captures(&line.text) {
                    let subject = c.get(1).map(|m| m.as_str().to_string());
                    hits.entry(subject).or_default().push(fact);
                    break;
                }
            }
        }
        for (fact, e) in ctx.facts.setup_errors() {
            if !self.any_run && last.get(fact.evidence.locator.path.as_str()) != Some(&e.run) {
                continue;
            }
            if let Some(subject) = self.errors.iter().find_map(|m| m.matches(e)) {
                hits.entry(subject).or_default().push(fact);
            }
        }
        for (fact, ev) in ctx.facts.events() {
            for (provider, ids, data) in &self.events {
                if !ev.provider.eq_ignore_ascii_case(provider)
                    || (!ids.is_empty() && !ids.contains(&ev.event_id))
                {
                    continue;
                }
                let subject = match data {
                    None => None,
                    Some(re) => match re.captures(&ev.text()) {
                        Some(c) => c.get(1).map(|m| m.as_str().to_string()),
                        None => continue,
                    },
                };
                hits.entry(subject).or_default().push(fact);
                break;
            }
        }
        hits.into_iter()
            .map(|(subject, facts)| {
                // An error block and one of its lines can both match: cite the place once.
                let mut evidence: Vec<crate::facts::Evidence> = Vec::new();
                for f in &facts {
                    if evidence.len() < 10
                        && !evidence.iter().any(|e| e.locator == f.evidence.locator)
                    {
                        evidence.push(f.evidence.clone());
                    }
                }
                let mut f = self.meta.finding(subject.as_deref(), evidence);
                if let Some(s) = &subject {
                    f.title = format!("{}: {s}", self.meta.title);
                }
                f.confidence = self.confidence;
                f.time = facts
                    .iter()
                    .filter_map(|f| f.time)
                    .map(|t| ctx.clock.to_utc(t))
                    .min();
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_files_all_load() {
        for (name, text) in BUILTIN {
            PatternRule::from_toml(name, text).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn bad_files_are_refused_with_the_file_name() {
        let e = PatternRule::from_toml("x.toml", "id = 1").err().unwrap();
        assert!(e.to_string().starts_with("x.toml:"));
        let no_match = r#"id="a"
title="t"
kind="cause"
severity="high"
looks_for="l"
why="w"
fix=["f"]
[match]
"#;
        assert!(PatternRule::from_toml("y.toml", no_match).is_err());
    }
}
