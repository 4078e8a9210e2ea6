//! The repair model: what a rule asks to be done, as data the planner can order and merge.
//!
//! A rule contributes [`Action`]s (what, on which target, the exact command, what it needs
//! first, which [`Phase`] and what it [`Change`]s) instead of sentences. [`plan`] merges the
//! actions of every finding of a diagnosis into one ordered recovery plan: identical actions
//! once, one backup step listing what the later steps change, then the phases in the order an
//! engineer follows them.

pub mod plan;
pub mod words;

use serde::{Deserialize, Serialize};

pub use plan::{PlanContext, plan};

/// IIS's command-line tool, as PowerShell calls it (inetsrv is not on the PATH).
pub const APPCMD: &str = r#"& "$env:windir\System32\inetsrv\appcmd.exe""#;

/// Where an action belongs in the recovery plan, in the order the plan follows.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Save what later steps change.
    Backup,
    /// Remove the cause: what made setup fail, so it does not happen again.
    #[default]
    Cause,
    /// Put back what setup needs before it can run: start modes, ServiceState.xml, a reboot,
    /// prerequisites.
    Prepare,
    /// Run setup again.
    Rerun,
    /// Repair what setup does not repair by itself.
    Repair,
    /// Check the result.
    Verify,
    /// Only if the normal path fails.
    LastResort,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Backup => "back up",
            Phase::Cause => "remove the cause",
            Phase::Prepare => "prepare for setup",
            Phase::Rerun => "re-run setup",
            Phase::Repair => "repair",
            Phase::Verify => "verify",
            Phase::LastResort => "last resort",
        }
    }
}

/// What an action changes on the server: the backup step is built from these, and a change
/// setup depends on must come before setup is re-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// A service's start type.
    StartMode,
    /// A running state only (start, stop, restart): nothing to back up.
    ServiceState,
    /// C:\ExchangeSetupLogs\ServiceState.xml (setup reads it to restore start types).
    ServiceStateFile,
    /// A restart of Windows.
    Reboot,
    /// A prerequisite installed or updated (software, Windows feature, runtime).
    Prerequisite,
    /// A registry key (the action's target).
    Registry,
    /// IIS configuration (applicationHost.config: modules, pools, sites).
    IisConfig,
    /// An application's web.config (the action's target).
    WebConfig,
    /// File-system permissions (the action's target folder).
    Acl,
    /// A file put back, renamed or replaced (the action's target).
    File,
    /// Active Directory (schema, configuration, groups, objects).
    ActiveDirectory,
    /// A mailbox database.
    Database,
    /// A policy or a security product's settings.
    Policy,
}

impl Change {
    /// Setup reads this before or while it runs: changing it after setup was re-run is too late.
    pub fn setup_depends(self) -> bool {
        matches!(
            self,
            Change::StartMode
                | Change::ServiceStateFile
                | Change::Reboot
                | Change::Prerequisite
                | Change::ActiveDirectory
                | Change::Policy
        )
    }
}

/// Where a command runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shell {
    /// An elevated Windows PowerShell prompt (2.0 or later).
    #[default]
    Powershell,
    /// The Exchange Management Shell, elevated.
    Ems,
}

/// One thing to do, contributed by a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    #[serde(default)]
    pub phase: Phase,
    /// What to do, as an imperative sentence; a command is not repeated here.
    pub what: String,
    /// What it acts on: a service, a file or folder, an application pool, a registry key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The exact command, valid as written in [`Action::shell`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default)]
    pub shell: Shell,
    /// What must be true or done first, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// A sub-list shown nested under the step (folders, extensions, processes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// Actions of one group in one phase become one step (their commands joined): every
    /// start type set back in one command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Runs after the other steps of its phase (an `iisreset` after every IIS change).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last: bool,
    /// Only when nothing else explains the finding: a symptom another finding explains is
    /// repaired by removing that cause, so its own investigation steps are left out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub if_cause: bool,
}

impl Action {
    pub fn new(phase: Phase, what: &str) -> Self {
        Action {
            phase,
            what: what.to_string(),
            ..Default::default()
        }
    }
    pub fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_string());
        self
    }
    pub fn command(mut self, command: &str) -> Self {
        self.command = Some(command.to_string());
        self
    }
    pub fn ems(mut self) -> Self {
        self.shell = Shell::Ems;
        self
    }
    pub fn changes(mut self, changes: &[Change]) -> Self {
        self.changes.extend_from_slice(changes);
        self
    }
    pub fn needs(mut self, need: &str) -> Self {
        self.needs.push(need.to_string());
        self
    }
    pub fn items<S: AsRef<str>>(mut self, items: &[S]) -> Self {
        self.items
            .extend(items.iter().map(|s| s.as_ref().to_string()));
        self
    }
    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.to_string());
        self
    }
    pub fn last(mut self) -> Self {
        self.last = true;
        self
    }
    pub fn if_cause(mut self) -> Self {
        self.if_cause = true;
        self
    }

    /// The same action with `from` replaced by `to` in every text (placeholders such as
    /// `<service>` filled in by the rule).
    pub fn replace(&self, from: &str, to: &str) -> Action {
        let r = |s: &String| s.replace(from, to);
        Action {
            phase: self.phase,
            what: r(&self.what),
            target: self.target.as_ref().map(r),
            command: self.command.as_ref().map(r),
            shell: self.shell,
            needs: self.needs.iter().map(r).collect(),
            changes: self.changes.clone(),
            items: self.items.iter().map(r).collect(),
            group: self.group.clone(),
            last: self.last,
            if_cause: self.if_cause,
        }
    }

    /// Whether any of its texts contains `needle` (tests).
    pub fn contains(&self, needle: &str) -> bool {
        self.texts().any(|s| s.contains(needle))
    }

    /// Every text of the action, for searches and redaction.
    pub fn texts(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.what)
            .chain(self.target.iter())
            .chain(self.command.iter())
            .chain(self.needs.iter())
            .chain(self.items.iter())
    }

    /// Every text of the action, mutable (redaction).
    pub fn texts_mut(&mut self) -> impl Iterator<Item = &mut String> {
        std::iter::once(&mut self.what)
            .chain(self.target.iter_mut())
            .chain(self.command.iter_mut())
            .chain(self.needs.iter_mut())
            .chain(self.items.iter_mut())
    }

    /// The action as one sentence: what, then the command.
    pub fn sentence(&self) -> String {
        match &self.command {
            Some(c) => format!("{}: `{c}`", self.what.trim_end_matches('.')),
            None => self.what.clone(),
        }
    }

    /// Same command (or, without one, same words) on the same target: the same action.
    pub fn same_as(&self, other: &Action) -> bool {
        self.target == other.target
            && match (&self.command, &other.command) {
                (Some(a), Some(b)) => norm(a) == norm(b),
                (None, None) => norm(&self.what) == norm(&other.what),
                _ => false,
            }
    }
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(['.', ';'])
        .to_ascii_lowercase()
}

/// A step written as a sentence (the legacy `fix = ["…"]` form of a rule file): its phase is
/// read from its first words, its commands stay in backticks in the text.
impl From<&str> for Action {
    fn from(s: &str) -> Self {
        let l = s.trim_start().to_ascii_lowercase();
        let phase = if l.starts_with("back up") || l.starts_with("save the current") {
            Phase::Backup
        } else if l.starts_with("verify") {
            Phase::Verify
        } else if l.starts_with("last resort") {
            Phase::LastResort
        } else if l.starts_with("before re-running setup") || l.starts_with("before running setup")
        {
            Phase::Prepare
        } else if (l.contains("re-run setup") || l.contains("rerun setup")) && !l.contains('`') {
            Phase::Rerun
        } else {
            Phase::Cause
        };
        Action::new(phase, s)
    }
}

impl From<String> for Action {
    fn from(s: String) -> Self {
        Action::from(s.as_str())
    }
}

/// Actions rules share, written once so the planner sees the same command from every rule.
pub mod common {
    use super::{Action, Change, Phase};

    /// Sets a service's start type (`Automatic`, `Manual`), before setup is re-run.
    pub fn start_mode(service: &str, mode: &str) -> Action {
        Action::new(
            Phase::Prepare,
            &format!("Set the start type of {service} back to {mode}"),
        )
        .target(service)
        .command(&format!("Set-Service {service} -StartupType {mode}"))
        .changes(&[Change::StartMode])
        .group("start-mode")
    }

    /// The start type a service normally has: msftesql-Exchange (Exchange 2010 search) and
    /// a few others start on demand.
    pub fn usual_start_mode(service: &str) -> &'static str {
        const MANUAL: &[&str] = &[
            "msftesql-Exchange",
            "msftefd-Exchange",
            "MSExchangeMonitoring",
            "MSExchangeProtectedServiceHost",
            "wsbexchange",
        ];
        if MANUAL.iter().any(|m| m.eq_ignore_ascii_case(service)) {
            "Manual"
        } else {
            "Automatic"
        }
    }

    /// Where ServiceControl.ps1 saves the start types it changes.
    pub const SERVICE_STATE: &str = r"C:\ExchangeSetupLogs\ServiceState.xml";

    /// Moves a service-state file aside, so the next run does not restore stale start types.
    pub fn rename_service_state() -> Action {
        Action::new(
            Phase::Prepare,
            "Rename the service-state file of the failed run, after setting the start types back: it records the services as disabled, and the next run would restore them to Disabled",
        )
        .target(SERVICE_STATE)
        .command(&format!(
            "if (Test-Path {SERVICE_STATE}) {{ Rename-Item {SERVICE_STATE} ServiceState-old.xml }}"
        ))
        .changes(&[Change::ServiceStateFile])
        .last()
    }

    /// Starts a service that is still stopped once setup has run.
    pub fn start_service(service: &str) -> Action {
        Action::new(Phase::Repair, &format!("Start {service}"))
            .target(service)
            .command(&format!("Start-Service {service}"))
            .changes(&[Change::ServiceState])
            .group("start-service")
    }

    /// Restarts IIS once, after every IIS change.
    pub fn iisreset() -> Action {
        Action::new(Phase::Repair, "Restart IIS to load the changes")
            .command("iisreset /noforce")
            .changes(&[Change::ServiceState])
            .last()
    }

    /// Runs setup again.
    pub fn rerun() -> Action {
        Action::new(Phase::Rerun, "Re-run setup")
    }

    /// Checks something after the repair (merged into the plan's one verification step).
    pub fn verify(what: &str) -> Action {
        Action::new(Phase::Verify, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_sentences_get_a_phase() {
        assert_eq!(Action::from("Back up the key.").phase, Phase::Backup);
        assert_eq!(Action::from("Re-run setup.").phase, Phase::Rerun);
        assert_eq!(
            Action::from("Before re-running setup, rename the file.").phase,
            Phase::Prepare
        );
        assert_eq!(Action::from("Verify OWA.").phase, Phase::Verify);
        assert_eq!(Action::from("Free disk space.").phase, Phase::Cause);
    }

    #[test]
    fn same_command_on_same_target_is_the_same_action() {
        let a = common::start_mode("msftesql-Exchange", "Manual");
        let mut b = a.clone();
        b.what = "other words".into();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&common::start_mode("MSExchangeIS", "Manual")));
    }

    #[test]
    fn typed_actions_read_from_toml() {
        #[derive(Deserialize)]
        struct F {
            fix: Vec<Action>,
        }
        let f: F = toml::from_str(
            "[[fix]]\nphase = \"prepare\"\nwhat = \"Restart\"\ncommand = \"Restart-Computer\"\nchanges = [\"reboot\"]\n",
        )
        .unwrap();
        assert_eq!(f.fix[0].phase, Phase::Prepare);
        assert_eq!(f.fix[0].changes, vec![Change::Reboot]);
    }
}
