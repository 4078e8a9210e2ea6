//! Realistic ExchangeSetup.log text: banner, environment, prerequisite evaluation, the task
//! sequence per role, and either success, a critical error block, or an interrupted end.
//!
//! Wording follows public setup logs (see shared/reference/exchange-facts.md B1 and the seed
//! incident); nothing is copied from third-party files.

use crate::rng::Rng;
use chrono::{Duration, NaiveDateTime};

/// How a generated run ends.
#[derive(Debug, Clone)]
pub enum Ending {
    Completed,
    /// Stops in the task `task` (e.g. `Install-BridgeheadRole`) with these `[ERROR]` lines,
    /// optionally preceded by `The following error was generated when "<command>" was run`.
    Failed {
        task: String,
        component: String,
        command: Option<String>,
        errors: Vec<String>,
        reference: String,
        /// Pin the error's timestamp (the seed incident's 21:15:49.0269).
        at: Option<NaiveDateTime>,
        /// Pin the `End of Setup` timestamp.
        end: Option<NaiveDateTime>,
    },
    /// The log simply stops in `task` (server restarted, setup killed).
    Interrupted {
        task: String,
    },
}

#[derive(Debug, Clone)]
pub struct Run {
    /// `2010`, `2013`, `2016`, `2019`.
    pub product: String,
    pub version: String,
    /// `Install` or `Upgrade`.
    pub mode: String,
    pub previous_version: Option<String>,
    pub start: NaiveDateTime,
    pub user: String,
    pub server: String,
    pub domain: String,
    /// Roles as setup names them: BridgeheadRole, ClientAccessRole, MailboxRole, AdminToolsRole…
    pub roles: Vec<String>,
    /// `(UTC+10:00) Canberra, Melbourne, Sydney` — written by 2013 and later.
    pub time_zone_text: String,
    pub ending: Ending,
    /// Extra lines written right after the prerequisite checks (for known-issue scenarios).
    pub extra_prereq_lines: Vec<String>,
    /// Extra `[WARNING]`/info lines written during the first role's tasks.
    pub extra_task_lines: Vec<String>,
}

impl Run {
    pub fn end_time(&self, rng_seed: u64) -> NaiveDateTime {
        let mut w = Writer::new(self.start, rng_seed);
        write_run(&mut w, self);
        w.now
    }
}

/// Appends lines with strictly increasing, slightly irregular timestamps.
pub struct Writer {
    pub out: String,
    pub now: NaiveDateTime,
    rng: Rng,
}

impl Writer {
    pub fn new(start: NaiveDateTime, seed: u64) -> Self {
        Writer {
            out: String::new(),
            now: start,
            rng: Rng::new(seed),
        }
    }

    fn stamp(&self) -> String {
        format!(
            "[{}.{:04}]",
            self.now.format("%m/%d/%Y %H:%M:%S"),
            self.now.and_utc().timestamp_subsec_micros() / 100
        )
    }

    /// One line at nesting level `lvl`, after a small step of time.
    pub fn line(&mut self, lvl: u8, text: &str) {
        let ms = self.rng.range(0, 40) as i64;
        self.now += Duration::microseconds(ms * 1000 + self.rng.range(0, 999) as i64 * 100);
        let s = self.stamp();
        self.out.push_str(&format!("{s} [{lvl}] {text}\n"));
    }

    /// A line at exactly the current time (several lines often share a timestamp).
    pub fn same(&mut self, lvl: u8, text: &str) {
        let s = self.stamp();
        self.out.push_str(&format!("{s} [{lvl}] {text}\n"));
    }

    pub fn raw(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }

    pub fn wait(&mut self, seconds: i64) {
        self.now += Duration::seconds(seconds);
    }

    pub fn wait_ms(&mut self, ms: i64) {
        self.now += Duration::milliseconds(ms);
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}

const PREREQ_RULES: &[&str] = &[
    "PendingRebootRequirement",
    "MinimumFrameworkNotInstalled",
    "PowerShellNotInstalled",
    "WindowsVersion",
    "ServerNotPrepared",
    "ComputerNotPartofDomain",
    "NotLoggedOntoDomain",
    "LonelyDC",
    "SchemaUpdateRequired",
    "OrgConfigUpdateRequired",
    "DomainConfigUpdateRequired",
    "Exchange2000or2003PresentInOrg",
    "SMTPSvcInstalled",
    "W3SVCNotInstalled",
    "IIS6MetabaseNotInstalled",
    "WinRMIISExtensionNotInstalled",
    "HttpActivationNotInstalled",
    "NetTcpPortSharingSvcNotAuto",
    "Win7RpcHttpAssocCookieGuidUpdateNotInstalled",
    "ShouldReRunSetupForAD",
];

/// Components of each role's install task, with the status text setup prints.
fn components(role: &str) -> Vec<(&'static str, &'static str)> {
    let common = vec![
        ("Common Registry Keys", "Creating registry keys."),
        ("Common Perf Counters", "Installing performance counters."),
        ("Common Event Logs", "Registering event log sources."),
    ];
    let mut v = common;
    match role {
        "AdminToolsRole" => v.extend([
            ("AdminTools Registry", "Configuring the management tools."),
            (
                "AdminTools Remote Scripts",
                "Copying remote PowerShell scripts.",
            ),
        ]),
        "BridgeheadRole" => v.extend([
            ("Transport Common Configuration", "Configuring transport."),
            (
                "Bridgehead Perf Counters",
                "Installing Hub Transport performance counters.",
            ),
            ("Bridgehead Role Setter", "Configuring Hub Transport."),
            (
                "Bridgehead Service Control",
                "Starting Hub Transport services.",
            ),
        ]),
        "ClientAccessRole" => v.extend([
            (
                "ClientAccess IIS Configuration",
                "Configuring IIS virtual directories.",
            ),
            (
                "ClientAccess web.config Update",
                "Updating web.config files.",
            ),
            ("ClientAccess Role Setter", "Configuring Client Access."),
        ]),
        "MailboxRole" => v.extend([
            (
                "Mailbox Service Registration",
                "Registering Mailbox services.",
            ),
            (
                "Mailbox Search Configuration",
                "Configuring Exchange Search.",
            ),
            ("Mailbox Role Setter", "Configuring Mailbox."),
        ]),
        _ => v.extend([("Role Setter", "Configuring the role.")]),
    }
    v
}

const CMDLETS: &[&str] = &[
    "Set-LocalPermissions",
    "Install-PerfCounters",
    "New-EventLogSource",
    "Set-ExchangeServerRole",
    "Add-ExchangeAdministrator",
    "Set-WebConfigFile",
    "Install-ExchangeCertificate",
    "Start-SetupService",
];

/// What setup logs inside a component: the cmdlets it runs at nesting level 2.
fn component_body(w: &mut Writer, component: &str) {
    let n = w.rng().range(2, 6);
    for _ in 0..n {
        let cmdlet = *w.rng().pick(CMDLETS);
        w.line(1, "Executing: ");
        w.raw(&format!(
            "          {cmdlet} -DomainController $RoleDomainController"
        ));
        w.line(2, &format!("Active Directory session settings for '{cmdlet}' are: View Entire Forest: 'True', Configuration Domain Controller: 'DC01.contoso.local', Preferred Global Catalog: 'DC01.contoso.local', Preferred Domain Controllers: '{{ DC01.contoso.local }}'"));
        w.same(
            2,
            "User specified parameters:  -DomainController:'DC01.contoso.local'",
        );
        w.line(2, &format!("Beginning processing {cmdlet}"));
        if w.rng().chance(30) {
            w.line(2, "Searching objects of type \"Server\" with filter \"$null\", scope \"SubTree\" under the root \"$null\".");
            w.line(
                2,
                "Previous operation run on domain controller 'DC01.contoso.local'.",
            );
        }
        if w.rng().chance(10) {
            w.line(2, &format!("[WARNING] {component}: the operation completed but a non-critical step reported a delay."));
        }
        let ms = w.rng().range(20, 900) as i64;
        w.wait_ms(ms);
        w.line(2, &format!("Ending processing {cmdlet}"));
    }
}

/// The setup task name of a role: `BridgeheadRole` → `Install-BridgeheadRole`.
pub fn task_of(role: &str) -> String {
    format!("Install-{role}")
}

/// Writes one complete run into `w`.
pub fn write_run(w: &mut Writer, run: &Run) {
    let stars = "**********************************************";
    w.line(0, stars);
    w.same(
        0,
        &format!("Starting Microsoft Exchange Server {} Setup", run.product),
    );
    w.same(0, stars);
    if run.product != "2010" {
        w.line(0, &format!("Local time zone: {}.", run.time_zone_text));
    }
    w.line(
        0,
        "Operating system version: Microsoft Windows NT 6.1.7601 Service Pack 1.",
    );
    w.line(0, &format!("Setup version: {}.", run.version));
    w.line(0, &format!("Logged on user: {}.", run.user));
    w.line(
        0,
        &format!("Command Line Parameter Name='mode', Value='{}'.", run.mode),
    );
    w.line(
        0,
        "Command Line Parameter Name='sourcedir', Value='D:\\Setup'.",
    );
    w.line(0, "Setup is choosing the domain controller to use");
    w.wait_ms(400);
    let dc = format!("DC01.{}", run.domain);
    w.line(0, "Setup is choosing a local domain controller...");
    w.line(
        0,
        &format!("Setup has chosen the local domain controller {dc} for initial queries"),
    );
    w.line(
        0,
        &format!("PrepareAD has been run, and has replicated to this domain controller; so setup will use {dc}"),
    );
    w.line(0, "Setup is choosing a global catalog...");
    w.line(
        0,
        &format!("Setup has chosen the global catalog server {dc}."),
    );
    w.line(0, &format!("Setup will use the domain controller '{dc}'."));
    w.line(0, &format!("Setup will use the global catalog '{dc}'."));
    let dn = run
        .domain
        .split('.')
        .map(|p| format!("DC={p}"))
        .collect::<Vec<_>>()
        .join(",");
    w.line(0, &format!("Exchange configuration container for the organization is 'CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,{dn}'."));
    w.line(
        0,
        &format!(
            "Setup will search for an Exchange Server object for the local machine with name '{}'.",
            run.server
        ),
    );
    let roles = run.roles.join(" ");
    if run.mode.eq_ignore_ascii_case("Install") {
        w.line(
            0,
            &format!(
                "No Exchange Server with identity '{}' was found.",
                run.server
            ),
        );
        w.line(0, "The following roles have been unpacked: ");
        w.line(0, "The following roles are installed: ");
        w.line(0, "The installation mode is set to: 'Install'.");
    } else {
        w.line(
            0,
            &format!(
                "Exchange Server object found : 'CN={},CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,{dn}'.",
                run.server
            ),
        );
        w.line(
            0,
            &format!("The following roles have been unpacked: {roles}"),
        );
        w.line(0, &format!("The following roles are installed: {roles}"));
        w.line(0, "The local server has some Exchange files installed.");
        if let Some(prev) = &run.previous_version {
            w.line(
                0,
                &format!("The backup copy of the previously installed version is '{prev}'."),
            );
        }
        w.line(0, "The installation mode is set to: 'BuildToBuildUpgrade'.");
    }
    w.line(0, &format!("Server Name={}", run.server));
    w.line(
        0,
        &format!(
            "Validating options for the {} requested roles",
            run.roles.len()
        ),
    );
    w.wait(2);
    w.line(
        0,
        "Setup is determining what organization-level operations to perform.",
    );
    w.line(0, "Beginning processing test-SetupPrerequisites");
    w.line(
        0,
        &format!(
            "Evaluated [Setting:ComputerNameDnsFullyQualified] [HasException:False] [Value:\"{}.{}\"] [ParentValue:\"<NULL>\"] [Thread:7] [Duration:00:00:00.0156250]",
            run.server.to_lowercase(),
            run.domain
        ),
    );
    for rule in PREREQ_RULES {
        let ms = w.rng().range(0, 300);
        w.line(
            0,
            &format!("Evaluated [Rule:{rule}] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:7] [Duration:00:00:00.{ms:03}0000]"),
        );
    }
    for l in &run.extra_prereq_lines {
        w.line(0, l);
    }
    w.line(0, "Ending processing test-SetupPrerequisites");
    w.wait(5);

    if !run.mode.eq_ignore_ascii_case("Install") {
        w.line(
            1,
            "Processing component 'Stop Services' (Stopping Exchange services.).",
        );
        w.line(1, "Executing: ");
        w.raw("          & $RoleBinPath\\ServiceControl.ps1 Save");
        w.raw("          & $RoleBinPath\\ServiceControl.ps1 DisableServices Critical");
        w.raw("          & $RoleBinPath\\ServiceControl.ps1 Stop Critical");
        w.wait(40);
        w.line(1, "Beginning processing uninstall-MsiPackage");
        w.wait(300);
        w.line(1, "Ending processing uninstall-MsiPackage");
        w.line(1, "Beginning processing install-MsiPackage");
        w.wait(420);
        w.line(1, "Ending processing install-MsiPackage");
    }

    let mut first = true;
    for role in &run.roles {
        let task = task_of(role);
        w.line(1, &format!("Beginning processing {task}"));
        if first {
            for l in &run.extra_task_lines {
                w.line(1, l);
            }
            first = false;
        }
        for (name, what) in components(role) {
            w.line(1, &format!("Processing component '{name}' ({what})."));
            if let Ending::Interrupted { task: t } = &run.ending
                && *t == task
                && name.contains("Setter")
            {
                return;
            }
            if let Ending::Failed {
                task: t,
                component,
                command,
                errors,
                reference,
                at,
                ..
            } = &run.ending
                && *t == task
                && name == component
            {
                w.wait(9);
                let pinned = at.is_some();
                if let Some(at) = at {
                    w.now = w.now.max(*at);
                }
                let first = |w: &mut Writer, text: &str| {
                    if pinned {
                        w.same(1, text)
                    } else {
                        w.line(1, text)
                    }
                };
                if let Some(cmd) = command {
                    let mut lines = cmd.lines();
                    let first_line = lines.next().unwrap_or("");
                    let first_err = errors.first().cloned().unwrap_or_default();
                    let rest: Vec<&str> = lines.collect();
                    if rest.is_empty() {
                        first(
                            w,
                            &format!(
                                "[ERROR] The following error was generated when \"{first_line}\" was run: \"{first_err}\"."
                            ),
                        );
                    } else {
                        first(
                            w,
                            &format!(
                                "[ERROR] The following error was generated when \"{first_line}"
                            ),
                        );
                        for (i, l) in rest.iter().enumerate() {
                            if i + 1 == rest.len() {
                                w.raw(&format!("{l}\" was run: \"{first_err}\"."));
                            } else {
                                w.raw(l);
                            }
                        }
                    }
                }
                for e in errors {
                    w.same(1, &format!("[ERROR] {e}"));
                }
                w.wait_ms(1);
                w.same(
                        1,
                        &format!(
                            "[ERROR-REFERENCE] Id={reference} Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup"
                        ),
                    );
                w.same(
                    1,
                    "Setup is stopping now because of one or more critical errors.",
                );
                w.same(1, "Finished executing component tasks.");
                w.wait_ms(5);
                w.line(1, &format!("Ending processing {task}"));
                return;
            }
            component_body(w, name);
            let secs = w.rng().range(1, 25) as i64;
            w.wait(secs);
        }
        w.line(1, &format!("Ending processing {task}"));
    }
    w.line(
        1,
        "Processing component 'Start Services' (Starting Exchange services.).",
    );
    w.line(1, "Executing: ");
    w.raw("          & $RoleBinPath\\ServiceControl.ps1 EnableServices Critical");
    w.raw("          & $RoleBinPath\\ServiceControl.ps1 Start Critical");
    w.wait(30);
    w.line(
        0,
        "The Exchange Server setup operation completed successfully.",
    );
}

/// Writes the closing lines after a run (`End of Setup`), unless it was interrupted.
pub fn write_end(w: &mut Writer, run: &Run, wait_seconds: i64) {
    match &run.ending {
        Ending::Interrupted { .. } => {}
        Ending::Failed { end, .. } => {
            w.wait(wait_seconds);
            if let Some(end) = end {
                w.now = *end;
            } else {
                w.wait_ms(3);
            }
            w.same(0, "The Exchange Server setup operation didn't complete.  More details can be found in ExchangeSetup.log located in the <SystemDrive>:\\ExchangeSetupLogs folder.");
            w.same(0, "End of Setup");
            w.same(0, "**********************************************");
        }
        Ending::Completed => {
            w.wait(2);
            w.line(0, "End of Setup");
            w.same(0, "**********************************************");
        }
    }
}

/// A whole log of several runs, each starting at its own time.
pub fn log(runs: &[Run], seed: u64) -> String {
    let mut out = String::new();
    for (i, run) in runs.iter().enumerate() {
        let mut w = Writer::new(run.start, seed.wrapping_add(i as u64));
        write_run(&mut w, run);
        write_end(&mut w, run, 3800);
        out.push_str(&w.out);
    }
    out
}
