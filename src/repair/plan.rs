//! The planner: every finding's actions merged into one recovery plan.
//!
//! Identical actions (same command on the same target) are kept once; one backup step lists
//! what the later steps change; setup is re-run once, after everything setup depends on; one
//! verification step closes the plan, and last-resort steps come after it.

use super::{APPCMD, Action, Change, Phase, Shell, common};
use crate::diagnosis::{PlanStep, RunSummary};
use crate::facts::Finding;

/// Where backups go.
pub const BACKUP_DIR: &str = r"C:\ExchangeRepair";

/// What the planner knows of the server besides the findings.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlanContext<'a> {
    /// The last setup run, for the re-run command.
    pub last_run: Option<&'a RunSummary>,
}

/// How a finding stands in the diagnosis, which decides where its cause-removing steps go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A root cause, or a risk that made things worse: its fix removes the cause.
    Cause,
    /// Explained by a cause: fixing it repairs an effect, after setup has run.
    Effect,
}

/// One action on its way into the plan, with the findings that asked for it.
struct Pending {
    action: Action,
    from: Vec<String>,
    /// Position of the first finding that asked for it: keeps the plan in finding order.
    order: usize,
}

/// Merges the actions of `findings` (in the order given, with their role) into the plan.
pub fn plan(findings: &[(&Finding, Role)], ctx: &PlanContext<'_>) -> Vec<PlanStep> {
    if findings.is_empty() {
        return Vec::new();
    }
    let has_root = findings.iter().any(|(_, r)| *r == Role::Cause);
    let mut pending: Vec<Pending> = Vec::new();
    for (order, (f, role)) in findings.iter().enumerate() {
        for a in &f.fix {
            if a.if_cause && *role == Role::Effect {
                continue;
            }
            let mut a = a.clone();
            // An effect's own fix repairs after setup, unless setup depends on what it changes.
            if a.phase == Phase::Cause
                && *role == Role::Effect
                && !a.changes.iter().any(|c| c.setup_depends())
            {
                a.phase = Phase::Repair;
            }
            // "Fix the cause first" is what the plan's order says once a cause is known.
            if has_root
                && a.command.is_none()
                && a.what
                    .to_ascii_lowercase()
                    .starts_with("fix the cause of the failed setup run")
            {
                continue;
            }
            match pending.iter_mut().find(|p| p.action.same_as(&a)) {
                Some(p) => {
                    p.action.phase = p.action.phase.min(a.phase);
                    if !p.from.contains(&f.key()) {
                        p.from.push(f.key());
                    }
                }
                None => pending.push(Pending {
                    action: a,
                    from: vec![f.key()],
                    order,
                }),
            }
        }
    }
    let all_keys: Vec<String> = {
        let mut k: Vec<String> = Vec::new();
        for p in &pending {
            for f in &p.from {
                if !k.contains(f) {
                    k.push(f.clone());
                }
            }
        }
        k
    };

    let mut steps: Vec<PlanStep> = Vec::new();
    let backup = backup_step(&pending);
    if let Some(b) = backup {
        steps.push(b);
    }
    for phase in [Phase::Cause, Phase::Prepare] {
        steps.extend(phase_steps(&pending, phase));
    }
    steps.extend(rerun_steps(&pending, ctx));
    steps.extend(phase_steps(&pending, Phase::Repair));
    steps.push(verify_step(&pending, findings, ctx, all_keys));
    steps.extend(phase_steps(&pending, Phase::LastResort));
    let switch = license_switch(ctx.last_run.and_then(|r| r.version.as_deref()));
    for (i, s) in steps.iter_mut().enumerate() {
        s.step = i + 1;
        if let Some(c) = &mut s.command {
            *c = c.replace(LICENSE_SWITCH, switch);
        }
    }
    steps
}

/// Written in a rule's command where setup's licence switch goes: the planner puts the one the
/// server's build accepts.
pub const LICENSE_SWITCH: &str = "<license-switch>";

/// The licence switch of unattended setup for a build: from the 2022 H1 updates on (2016 CU23,
/// 2019 CU12) setup wants the diagnostic-data choice in it; Exchange 2010 has none.
fn license_switch(build: Option<&str>) -> &'static str {
    let parts: Vec<u32> = build
        .unwrap_or("")
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    match parts.as_slice() {
        [14, ..] => "",
        [15, 1, b, ..] if *b >= 2507 => "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF",
        [15, 2, b, ..] if *b >= 1118 => "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF",
        [15, ..] => "/IAcceptExchangeServerLicenseTerms",
        _ => "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF",
    }
}

fn step_of(a: &Action, from: Vec<String>) -> PlanStep {
    PlanStep {
        step: 0,
        phase: a.phase,
        action: a.what.clone(),
        command: a.command.clone(),
        shell: a.shell,
        targets: a.target.iter().cloned().collect(),
        changes: a.changes.clone(),
        needs: a.needs.clone(),
        items: a.items.clone(),
        from,
    }
}

/// The steps of one phase: groups merged into one step, `last` actions at the end.
fn phase_steps(pending: &[Pending], phase: Phase) -> Vec<PlanStep> {
    let mut of_phase: Vec<&Pending> = pending.iter().filter(|p| p.action.phase == phase).collect();
    of_phase.sort_by_key(|p| (p.action.last, p.order));
    let mut out: Vec<(Option<String>, PlanStep)> = Vec::new();
    for p in of_phase {
        let a = &p.action;
        if let Some(g) = &a.group
            && let Some((_, s)) = out
                .iter_mut()
                .find(|(og, s)| og.as_ref() == Some(g) && s.shell == a.shell)
        {
            if s.targets.len() == 1 {
                s.action = group_title(g, &s.action);
            }
            if let Some(t) = &a.target
                && !s.targets.contains(t)
            {
                s.targets.push(t.clone());
            }
            s.command = match (s.command.take(), &a.command) {
                (Some(x), Some(y)) => Some(format!("{x}; {y}")),
                (x, y) => x.or(y.clone()),
            };
            for c in &a.changes {
                if !s.changes.contains(c) {
                    s.changes.push(*c);
                }
            }
            for n in &a.needs {
                if !s.needs.contains(n) {
                    s.needs.push(n.clone());
                }
            }
            s.items.extend(a.items.iter().cloned());
            for k in &p.from {
                if !s.from.contains(k) {
                    s.from.push(k.clone());
                }
            }
            continue;
        }
        out.push((a.group.clone(), step_of(a, p.from.clone())));
    }
    out.into_iter().map(|(_, s)| s).collect()
}

/// The words for a merged group.
fn group_title(group: &str, first: &str) -> String {
    match group {
        "start-mode" => "Set the start types back so setup can start the services".into(),
        "start-service" => "Start the services that are still stopped".into(),
        "apppool" => "Put the Exchange application pools' settings back".into(),
        "owa-acl" => "Give Authenticated Users the folder rights OWA logon needs".into(),
        _ => first.to_string(),
    }
}

/// One step listing a backup of everything the later steps change.
fn backup_step(pending: &[Pending]) -> Option<PlanStep> {
    let mut items: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !items.contains(&s) {
            items.push(s);
        }
    };
    let mut from: Vec<String> = Vec::new();
    let later = pending.iter().filter(|p| p.action.phase != Phase::Backup);
    let mut registry: Vec<String> = Vec::new();
    let mut web_roots: Vec<String> = Vec::new();
    let mut iis = false;
    let mut acls: Vec<String> = Vec::new();
    for p in later {
        let a = &p.action;
        let before = from.len();
        for c in &a.changes {
            match c {
                Change::Registry => {
                    let key = a
                        .target
                        .clone()
                        .filter(|t| t.to_ascii_uppercase().starts_with("HK"))
                        .unwrap_or_else(|| r"HKLM\SOFTWARE\Microsoft\ExchangeServer".into());
                    let key = if key
                        .to_ascii_lowercase()
                        .starts_with(r"hklm\software\microsoft\exchangeserver")
                    {
                        r"HKLM\SOFTWARE\Microsoft\ExchangeServer".to_string()
                    } else {
                        key
                    };
                    if !registry.contains(&key) {
                        registry.push(key);
                    }
                }
                Change::IisConfig => iis = true,
                Change::WebConfig => {
                    iis = true;
                    if let Some(t) = &a.target {
                        let root = web_root(t);
                        if !web_roots.contains(&root) {
                            web_roots.push(root);
                        }
                    }
                }
                Change::Acl => {
                    if let Some(t) = &a.target
                        && !acls.contains(t)
                    {
                        acls.push(t.clone());
                    }
                }
                Change::StartMode => push(format!(
                    "the start types of all services: `Get-WmiObject Win32_Service | Select-Object Name, StartMode, State | Export-Csv {BACKUP_DIR}\\services.csv -NoTypeInformation`"
                )),
                Change::File => {
                    if let Some(t) = a.target.as_ref().filter(|t| is_path(t)) {
                        push(format!("`Copy-Item \"{t}\" {BACKUP_DIR}`"));
                    }
                }
                Change::Database => {
                    push("a full backup of the mailbox databases, with your backup product".into())
                }
                Change::ActiveDirectory => push(
                    "a System State backup of a domain controller, with your backup product".into(),
                ),
                Change::ServiceState
                | Change::ServiceStateFile
                | Change::Reboot
                | Change::Prerequisite
                | Change::Policy => continue,
            }
            for k in &p.from {
                if !from.contains(k) {
                    from.push(k.clone());
                }
            }
        }
        let _ = before;
    }
    let mut head: Vec<String> = registry
        .iter()
        .map(|k| format!("`reg export \"{k}\" \"{BACKUP_DIR}\\{}.reg\" /y`", leaf(k)))
        .collect();
    if iis {
        head.push(format!(
            "the IIS configuration: `{APPCMD} add backup BeforeExchangeRepair`"
        ));
    }
    // One save of a folder's tree covers the folders under it.
    let lower = |s: &str| s.to_ascii_lowercase();
    for t in &acls {
        if acls
            .iter()
            .any(|o| o != t && lower(t).starts_with(&format!("{}\\", lower(o))))
        {
            continue;
        }
        head.push(format!(
            "the folder permissions: `icacls \"{t}\" /save \"{BACKUP_DIR}\\acl-{}.txt\" /t`",
            leaf(t)
        ));
    }
    for r in &web_roots {
        head.push(format!(
            "the web.config files: `robocopy \"{r}\" \"{BACKUP_DIR}\\{}\" web.config /S`",
            leaf(r)
        ));
    }
    // Backups a rule asks for in words come after the ones derived from changes.
    for p in pending.iter().filter(|p| p.action.phase == Phase::Backup) {
        let s = p.action.sentence();
        let s = s
            .trim_start_matches("Back up ")
            .trim_start_matches("back up ")
            .to_string();
        if !head.contains(&s) && !items.contains(&s) {
            items.push(s);
        }
        for k in &p.from {
            if !from.contains(k) {
                from.push(k.clone());
            }
        }
    }
    head.extend(items);
    if head.is_empty() {
        return None;
    }
    Some(PlanStep {
        step: 0,
        phase: Phase::Backup,
        action: format!("Back up what the following steps change, into {BACKUP_DIR}"),
        command: Some(format!(
            "New-Item -ItemType Directory -Force -Path {BACKUP_DIR}"
        )),
        shell: Shell::Powershell,
        targets: Vec::new(),
        changes: Vec::new(),
        needs: Vec::new(),
        items: head,
        from,
    })
}

/// A file-system path (`D:\…`, `\\server\…`), not a product or service name.
fn is_path(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\')
        || s.starts_with("\\\\")
}

/// The folder a web.config is backed up from: its application tree (`…\ClientAccess`).
fn web_root(path: &str) -> String {
    let lower = path.to_ascii_lowercase();
    for marker in [r"\clientaccess", r"\frontend\httpproxy"] {
        if let Some(i) = lower.find(marker) {
            return path[..i + marker.len()].to_string();
        }
    }
    match path.rfind('\\') {
        Some(i) => path[..i].to_string(),
        None => path.to_string(),
    }
}

/// The last component of a path or key, safe as a file name.
fn leaf(path: &str) -> String {
    path.trim_end_matches('\\')
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or("backup")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Setup is re-run once, whoever asks; a re-run with its own command (recover mode) stays.
fn rerun_steps(pending: &[Pending], ctx: &PlanContext<'_>) -> Vec<PlanStep> {
    let reruns: Vec<&Pending> = pending
        .iter()
        .filter(|p| p.action.phase == Phase::Rerun)
        .collect();
    if reruns.is_empty() {
        return Vec::new();
    }
    let mut from: Vec<String> = Vec::new();
    let mut out: Vec<PlanStep> = Vec::new();
    let mut needs: Vec<String> = Vec::new();
    for p in &reruns {
        if p.action.command.is_some() {
            out.push(step_of(&p.action, p.from.clone()));
            continue;
        }
        for n in &p.action.needs {
            if !needs.contains(n) {
                needs.push(n.clone());
            }
        }
        for k in &p.from {
            if !from.contains(k) {
                from.push(k.clone());
            }
        }
    }
    if !from.is_empty() {
        let mut generic = step_of(&common::rerun(), from);
        let (what, command) = rerun_command(ctx.last_run);
        generic.action = what;
        generic.command = command;
        generic.needs = needs;
        out.insert(0, generic);
    }
    out
}

/// The words and command that re-run the last setup: the same mode, from the folder of the
/// same build.
fn rerun_command(run: Option<&RunSummary>) -> (String, Option<String>) {
    let Some(run) = run else {
        return (
            "Re-run setup, from an elevated prompt, with the same command line as the failed run"
                .into(),
            None,
        );
    };
    let build = run.version.as_deref().unwrap_or("");
    let from_folder = match build {
        "" => "from the folder of the update you were installing".to_string(),
        b => format!("from the folder of build {b}"),
    };
    let upgrade = run
        .mode
        .as_deref()
        .is_some_and(|m| m.to_ascii_lowercase().contains("upgrade"));
    if !upgrade {
        return (
            format!(
                "Re-run setup {from_folder}, from an elevated prompt, with the same command line as the failed run"
            ),
            None,
        );
    }
    let what = format!("Re-run setup in upgrade mode {from_folder}, from an elevated prompt");
    let command = match build.split('.').next() {
        Some("14") => "./Setup.com /mode:Upgrade".to_string(),
        Some("15") => format!("./Setup.exe /Mode:Upgrade {LICENSE_SWITCH}"),
        _ => return (what, None),
    };
    (what, Some(command))
}

/// One verification step: what the plan changed, checked.
fn verify_step(
    pending: &[Pending],
    findings: &[(&Finding, Role)],
    ctx: &PlanContext<'_>,
    from: Vec<String>,
) -> PlanStep {
    let changed = |c: Change| pending.iter().any(|p| p.action.changes.contains(&c));
    let rerun = pending.iter().any(|p| p.action.phase == Phase::Rerun);
    let about = |ids: &[&str]| findings.iter().any(|(f, _)| ids.contains(&f.id.as_str()));
    let mut items: Vec<String> = Vec::new();
    if rerun {
        items.push(
            "setup ends with \"The Exchange Server setup operation completed successfully\"".into(),
        );
    }
    let v = ctx
        .last_run
        .and_then(|r| r.version.as_deref())
        .map(|v| if v.starts_with("14.") { "v14" } else { "v15" })
        .unwrap_or("v15");
    if about(&["role-config-incomplete", "binaries-upgraded-config-not"])
        || changed(Change::Registry)
    {
        items.push(format!(
            "every role key under HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\{v} has ConfiguredVersion equal to UnpackedVersion and no Watermark or Action value"
        ));
    }
    if changed(Change::StartMode) || changed(Change::ServiceState) {
        items.push(
            "every Exchange service that starts automatically is running: `Test-ServiceHealth` (Exchange Management Shell)"
                .into(),
        );
    }
    if changed(Change::IisConfig) || changed(Change::WebConfig) || changed(Change::Acl) {
        items.push(
            "OWA, ECP, EWS, ActiveSync and Autodiscover answer, and an ordinary user (not an administrator) can log on to OWA"
                .into(),
        );
    }
    for p in pending.iter().filter(|p| p.action.phase == Phase::Verify) {
        let s = p.action.sentence();
        let s = s
            .strip_prefix("Verify: ")
            .or_else(|| s.strip_prefix("Verify that "))
            .or_else(|| s.strip_prefix("Verify "))
            .map(str::to_string)
            .unwrap_or(s.clone());
        if !items.contains(&s) {
            items.push(s);
        }
    }
    items.push("collect a new bundle and analyse it again: no failure should remain".into());
    PlanStep {
        step: 0,
        phase: Phase::Verify,
        action: "Verify the repair".into(),
        command: None,
        shell: Shell::Powershell,
        targets: Vec::new(),
        changes: Vec::new(),
        needs: Vec::new(),
        items,
        from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Confidence, FindingKind, Severity};

    fn finding(id: &str, fix: Vec<Action>) -> Finding {
        Finding {
            id: id.into(),
            title: id.into(),
            kind: FindingKind::Cause,
            severity: Severity::High,
            confidence: Confidence::Medium,
            subject: None,
            time: None,
            evidence: vec![],
            why: String::new(),
            fix,
            references: vec![],
            explains: vec![],
        }
    }

    #[test]
    fn identical_actions_once_and_setup_after_what_it_needs() {
        let a = finding(
            "a",
            vec![
                common::start_mode("MSExchangeServiceHost", "Automatic"),
                common::rerun(),
            ],
        );
        let b = finding(
            "b",
            vec![
                common::rerun(),
                common::iisreset(),
                common::start_mode("msftesql-Exchange", "Manual"),
                Action::new(Phase::Cause, "Edit web.config")
                    .target(r"D:\X\ClientAccess\Owa\web.config")
                    .changes(&[Change::WebConfig]),
                common::iisreset(),
            ],
        );
        let p = plan(
            &[(&a, Role::Cause), (&b, Role::Effect)],
            &PlanContext::default(),
        );
        let phases: Vec<Phase> = p.iter().map(|s| s.phase).collect();
        assert_eq!(
            phases,
            vec![
                Phase::Backup,
                Phase::Prepare,
                Phase::Rerun,
                Phase::Repair,
                Phase::Repair,
                Phase::Verify
            ],
            "{p:#?}"
        );
        assert_eq!(
            p[1].command.as_deref(),
            Some(
                "Set-Service MSExchangeServiceHost -StartupType Automatic; Set-Service msftesql-Exchange -StartupType Manual"
            )
        );
        assert_eq!(p[4].command.as_deref(), Some("iisreset /noforce"));
        assert!(
            p[0].items.iter().any(|i| i.contains("robocopy")),
            "{:?}",
            p[0].items
        );
        assert!(p[0].items.iter().any(|i| i.contains("services.csv")));
    }

    #[test]
    fn nothing_to_back_up_means_no_backup_step() {
        let a = finding(
            "ucma",
            vec![
                Action::new(Phase::Prepare, "Install UCMA").changes(&[Change::Prerequisite]),
                common::rerun(),
            ],
        );
        let p = plan(&[(&a, Role::Cause)], &PlanContext::default());
        assert_eq!(p[0].phase, Phase::Prepare);
        assert_eq!(p.len(), 3);
    }
}
