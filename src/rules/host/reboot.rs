//! A reboot is pending (host.json), which Exchange setup refuses or trips over.

use super::cite;
use crate::facts::{Confidence, FactKind, Finding, FindingKind, Severity};
use crate::repair::{Action, Change, Phase};
use crate::rules::{Context, Rule, RuleMeta};

/// `host.json` says a reboot is pending.
pub struct PendingReboot {
    meta: RuleMeta,
}

impl PendingReboot {
    pub const ID: &'static str = "pending-reboot";

    pub fn new() -> Self {
        PendingReboot {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "A reboot is pending".into(),
                kind: FindingKind::Cause,
                severity: Severity::High,
                looks_for: "system/host.json with pending_reboot = true (PendingFileRenameOperations, Component Based Servicing RebootPending, WindowsUpdate RebootRequired, UpdateExeVolatile)".into(),
                why: "Files queued for replacement at the next restart are still the old ones, and Windows features or updates are half-installed. Exchange setup checks for this (\"setup cannot continue because a restart from a previous installation or update is pending\"); when it runs anyway, it replaces binaries that the restart then overwrites or configures against components that are not there yet.".into(),
                fix: vec![
                    Action::new(Phase::Prepare, "Restart the server, and again until no pending-restart flag remains")
                        .command("Restart-Computer")
                        .changes(&[Change::Reboot]),
                    Action::new(Phase::Prepare, "If a flag survives restarts, find its source (HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\PendingFileRenameOperations, HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending, …\\WindowsUpdate\\Auto Update\\RebootRequired, HKLM\\SOFTWARE\\Microsoft\\Updates\\UpdateExeVolatile) and reinstall the update that keeps setting it")
                        .changes(&[Change::Prerequisite]),
                    Action::new(Phase::LastResort, "Delete the pending-restart value that no restart clears (export its key first with reg export)")
                        .changes(&[Change::Registry]),
                ],
                references: vec![
                    "Microsoft Learn: Exchange setup readiness check RebootPending".into(),
                    "Microsoft Learn: Repair failed installations of Exchange Cumulative and Security updates (aka.ms/exupdatefaq)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for PendingReboot {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for PendingReboot {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for f in ctx.facts.iter() {
            let FactKind::Host(h) = &f.kind else {
                continue;
            };
            if h.pending_reboot != Some(true) {
                continue;
            }
            // The collector may say which flags it saw; show them.
            let flags: Vec<String> = h
                .other
                .iter()
                .filter(|(k, v)| {
                    let k = k.to_ascii_lowercase();
                    let off = matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "false" | "0" | "no" | ""
                    );
                    (k.contains("reboot") || k.contains("pending") || k.contains("rename")) && !off
                })
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let excerpt = if flags.is_empty() {
                "pending_reboot: true".to_string()
            } else {
                format!("pending_reboot: true ({})", flags.join(", "))
            };
            let mut finding = self.meta.finding(None, vec![cite(f, excerpt)]);
            finding.title = match &h.computer_name {
                Some(n) => format!("A reboot is pending on {n}"),
                None => self.meta.title.clone(),
            };
            finding.confidence = Confidence::High;
            out.push(finding);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::config::*;
    use crate::rules::testing::run_rule;

    #[test]
    fn pending_reboot_true_is_reported_with_its_flags() {
        let mut h = host(Some(true));
        if let FactKind::Host(hf) = &mut h.kind {
            hf.other
                .insert("PendingFileRenameOperations".into(), "true".into());
        }
        let facts = with(
            without(seed_config(), |f| matches!(f.kind, FactKind::Host(_))),
            [h],
        );
        let f = run_rule(&PendingReboot::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].title, "A reboot is pending on EXCH01");
        assert_eq!(f[0].evidence[0].locator.path, HOST);
        assert!(
            f[0].evidence[0]
                .excerpt
                .contains("PendingFileRenameOperations=true")
        );
    }

    #[test]
    fn no_pending_reboot_is_silent() {
        assert!(run_rule(&PendingReboot::new(), &healthy_config()).is_empty());
        assert!(run_rule(&PendingReboot::new(), &seed_config()).is_empty());
        let facts = with(healthy_config(), [host(None)]);
        assert!(run_rule(&PendingReboot::new(), &facts).is_empty());
    }
}
