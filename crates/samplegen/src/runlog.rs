//! Setup runs for the scenario library: Exchange 2010 to 2019, install or upgrade, with the
//! prerequisite section, the task sequence of each version, and the ways a run ends (completed,
//! refused before it starts, failed readiness checks, a critical error in a task, or cut off).
//!
//! Builds on [`crate::setup_log::Writer`] (timestamps, nesting levels). Wording follows public
//! setup logs and the strings quoted in shared/reference/setup-known-issues.md and
//! field-failures.md; nothing is copied from third-party files.

use crate::setup_log::Writer;
use chrono::NaiveDateTime;

/// The Exchange version a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    E2010,
    E2013,
    E2016,
    E2019,
}

impl Product {
    /// As the banner writes it: `Starting Microsoft Exchange Server 2016 Setup`.
    pub fn banner(self) -> &'static str {
        match self {
            Product::E2010 => "2010",
            Product::E2013 => "2013",
            Product::E2016 => "2016",
            Product::E2019 => "2019",
        }
    }

    pub fn is_v15(self) -> bool {
        self != Product::E2010
    }

    /// The usual Windows build under each version.
    fn os(self) -> &'static str {
        match self {
            Product::E2010 => "Microsoft Windows NT 6.1.7601 Service Pack 1",
            Product::E2013 => "Microsoft Windows NT 6.3.9600.0",
            Product::E2016 => "Microsoft Windows NT 10.0.14393.0",
            Product::E2019 => "Microsoft Windows NT 10.0.17763.0",
        }
    }

    pub fn install_dir(self) -> &'static str {
        match self {
            Product::E2010 => "C:\\Program Files\\Microsoft\\Exchange Server\\V14\\",
            _ => "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
        }
    }

    /// Roles as setup lists them, in the order it configures them.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Product::E2010 => &[
                "AdminToolsRole",
                "BridgeheadRole",
                "ClientAccessRole",
                "MailboxRole",
            ],
            Product::E2013 | Product::E2016 => &[
                "AdminToolsRole",
                "BridgeheadRole",
                "ClientAccessRole",
                "UnifiedMessagingRole",
                "MailboxRole",
                "FrontendTransportRole",
                "CafeRole",
            ],
            Product::E2019 => &[
                "AdminToolsRole",
                "BridgeheadRole",
                "ClientAccessRole",
                "MailboxRole",
                "FrontendTransportRole",
                "CafeRole",
            ],
        }
    }
}

/// A step of the run, where it may fail or be cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// 2013+: `Start-PreFileCopy` (takes the server offline, stops and disables services).
    PreFileCopy,
    /// Removing the installed build (`uninstall-MsiPackage`).
    Uninstall,
    /// Copying the new build (`install-MsiPackage`).
    Install,
    /// 2013+: `Start-PostFileCopy` (re-enables services).
    PostFileCopy,
    /// `Install-<Role>` for a role of [`Product::roles`].
    Role(&'static str),
    /// 2013+: `Start-PostSetup` (brings the server back online).
    PostSetup,
}

/// A failed prerequisite (readiness) rule.
#[derive(Debug, Clone)]
pub struct Prereq {
    pub rule: String,
    pub message: String,
}

/// A critical error in a step.
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: Step,
    /// Lines logged just before the error at level 2 (`Used domain controller …`).
    pub context: Vec<String>,
    /// The script setup ran, printed in `The following error was generated when "…" was run`.
    pub command: Option<String>,
    /// The `[ERROR]` lines; the first is also the `was run:` text.
    pub errors: Vec<String>,
    /// `ComponentName___guid` of the `[ERROR-REFERENCE]` line.
    pub reference: String,
}

/// How the run ends.
#[derive(Debug, Clone)]
pub enum End {
    Completed,
    /// Setup refuses before the readiness checks (a watermark for another action, a server it
    /// can only recover): these `[ERROR]` lines, then the failure lines.
    Refused(Vec<String>),
    /// The readiness checks in [`Story::prereqs`] failed.
    PrereqFailed,
    Failed(Failure),
    /// The log stops in this step (server restarted, setup killed, session closed).
    Interrupted(Step),
}

/// One run of setup.
#[derive(Debug, Clone)]
pub struct Story {
    pub product: Product,
    /// `Setup version:` of the media.
    pub version: String,
    /// The installed build for an upgrade; `None` for a new install.
    pub previous: Option<String>,
    pub start: NaiveDateTime,
    pub server: String,
    pub domain: String,
    pub user: String,
    /// `Local time zone:` text (2013 and later).
    pub time_zone: String,
    /// Readiness rules that evaluate True (they fail the run when `end` is `PrereqFailed`).
    pub prereqs: Vec<Prereq>,
    /// Extra `Evaluated [Setting:…]` values, e.g. `("SchemaAdmin", "False")`.
    pub settings: Vec<(String, String)>,
    /// Harmless lines written during the first role (warnings that real logs carry).
    pub noise: Vec<String>,
    pub end: End,
    pub seed: u64,
}

/// When the services were stopped and started again, for ServiceControl.log.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub services_stopped: Option<NaiveDateTime>,
    pub services_started: Option<NaiveDateTime>,
    /// 2013+: `ServerWideOffline` set Inactive / back to Active.
    pub offline: Option<NaiveDateTime>,
    pub online: Option<NaiveDateTime>,
    pub end: Option<NaiveDateTime>,
}

impl Story {
    pub fn is_upgrade(&self) -> bool {
        self.previous.is_some()
    }

    fn fqdn(&self) -> String {
        format!("{}.{}", self.server, self.domain)
    }

    fn dc(&self) -> String {
        format!("DC01.{}", self.domain)
    }

    /// The organisation name: the domain's first label, capitalised.
    fn org(&self) -> String {
        let first = self.domain.split('.').next().unwrap_or("Exchange");
        let mut c = first.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => "Exchange".into(),
        }
    }

    fn dn(&self) -> String {
        self.domain
            .split('.')
            .map(|p| format!("DC={p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The readiness rules each version evaluates (all False on a healthy run).
fn readiness_rules(p: Product) -> &'static [&'static str] {
    match p {
        Product::E2010 => &[
            "PendingRebootRequirement",
            "MinimumFrameworkNotInstalled",
            "PowerShellNotInstalled",
            "WindowsVersion",
            "ServerNotPrepared",
            "ComputerNotPartofDomain",
            "LonelyDC",
            "SchemaUpdateRequired",
            "OrgConfigUpdateRequired",
            "DomainConfigUpdateRequired",
            "GlobalServerInstall",
            "W3SVCNotInstalled",
            "IIS6MetabaseNotInstalled",
            "WinRMIISExtensionNotInstalled",
            "HttpActivationNotInstalled",
            "NetTcpPortSharingSvcNotAuto",
            "ShouldReRunSetupForAD",
        ],
        Product::E2013 => &[
            "PendingRebootWindowsComponents",
            "RebootPending",
            "MinimumFrameworkNotInstalled",
            "VC2012RedistDependencyRequirement",
            "VC2013RedistDependencyRequirement",
            "UcmaRedistMsi",
            "ProcessNeedsToBeClosedOnUpgrade",
            "ComputerNotPartofDomain",
            "SchemaUpdateRequired",
            "OrgConfigUpdateRequired",
            "DomainConfigUpdateRequired",
            "GlobalServerInstall",
            "DelegatedMailboxFirstInstall",
            "InstallWatermark",
            "LangPackBundleCheck",
            "DomainControllerIsOutOfSite",
            "MSDTCStopped",
            "RemoteRegException",
            "ShouldReRunSetupForAD",
        ],
        Product::E2016 | Product::E2019 => &[
            "PendingRebootWindowsComponents",
            "RebootPending",
            "MinimumFrameworkNotInstalled",
            "VC2012RedistDependencyRequirement",
            "VC2013RedistDependencyRequirement",
            "UcmaRedistMsi",
            "IISURLRewriteNotInstalled",
            "ProcessNeedsToBeClosedOnUpgrade",
            "ComputerNotPartofDomain",
            "SchemaUpdateRequired",
            "OrgConfigUpdateRequired",
            "DomainConfigUpdateRequired",
            "GlobalServerInstall",
            "DelegatedMailboxFirstInstall",
            "InstallWatermark",
            "LangPackBundleCheck",
            "DomainControllerIsOutOfSite",
            "MSDTCStopped",
            "RemoteRegException",
            "ShouldReRunSetupForAD",
        ],
    }
}

/// What each role's task configures, with the status text setup prints.
fn role_components(p: Product, role: &str) -> &'static [(&'static str, &'static str)] {
    match (p.is_v15(), role) {
        (_, "AdminToolsRole") => &[
            (
                "AdminToolsComponent",
                "Configuring the Exchange management tools",
            ),
            (
                "AdminToolsRemoteScripts",
                "Copying remote PowerShell scripts",
            ),
        ],
        (false, "BridgeheadRole") => &[
            ("Transport Common Configuration", "Configuring transport"),
            ("Bridgehead Role Setter", "Configuring Hub Transport"),
            (
                "Bridgehead Service Control",
                "Starting Hub Transport services",
            ),
        ],
        (false, "ClientAccessRole") => &[
            (
                "ClientAccess IIS Configuration",
                "Configuring IIS virtual directories",
            ),
            (
                "ClientAccess web.config Update",
                "Updating web.config files",
            ),
            ("ClientAccess Role Setter", "Configuring Client Access"),
        ],
        (false, "MailboxRole") => &[
            (
                "Mailbox Service Registration",
                "Registering Mailbox services",
            ),
            (
                "Mailbox Database Configuration",
                "Configuring mailbox databases",
            ),
            ("Mailbox Role Setter", "Configuring Mailbox"),
        ],
        (true, "BridgeheadRole") => &[
            ("BridgeheadComponent", "Mailbox role: Transport service"),
            ("BridgeheadServiceControl", "Starting transport services"),
        ],
        (true, "ClientAccessRole") => &[
            (
                "ClientAccessComponent",
                "Mailbox role: Client Access service",
            ),
            (
                "ClientAccessWebConfig",
                "Updating the Client Access web.config files",
            ),
        ],
        (true, "UnifiedMessagingRole") => &[(
            "UnifiedMessagingComponent",
            "Mailbox role: Unified Messaging service",
        )],
        (true, "MailboxRole") => &[
            ("MailboxComponent", "Mailbox role: Mailbox service"),
            ("MailboxSearchFoundation", "Configuring Search Foundation"),
            ("MailboxServiceControl", "Starting mailbox services"),
        ],
        (true, "FrontendTransportRole") => &[(
            "FrontendTransportComponent",
            "Mailbox role: Front End Transport service",
        )],
        (true, "CafeRole") => &[
            (
                "CafeComponent",
                "Mailbox role: Client Access Front End service",
            ),
            (
                "CafeVirtualDirectories",
                "Configuring the front-end virtual directories",
            ),
        ],
        _ => &[("RoleComponent", "Configuring the role")],
    }
}

/// Cmdlets setup runs inside a component, logged at level 2.
const CMDLETS: &[&str] = &[
    "Set-LocalPermissions",
    "Install-PerfCounters",
    "New-EventLogSource",
    "Set-ExchangeServerRole",
    "Add-ExchangeAdministrator",
    "Install-ExchangeCertificate",
    "Start-SetupService",
    "Set-WERRegistryMarkers",
];

fn cmdlet(w: &mut Writer, story: &Story, name: &str, params: &str) {
    let dc = story.dc();
    w.line(
        2,
        &format!("Active Directory session settings for '{name}' are: View Entire Forest: 'True', Configuration Domain Controller: '{dc}', Preferred Global Catalog: '{dc}', Preferred Domain Controllers: '{{ {dc} }}'"),
    );
    w.same(2, &format!("User specified parameters: {params}"));
    w.line(2, &format!("Beginning processing {name}"));
    let ms = w.rng().range(15, 700) as i64;
    w.wait_ms(ms);
    w.line(2, &format!("Ending processing {name}"));
}

fn component_body(w: &mut Writer, story: &Story) {
    let n = w.rng().range(2, 5);
    for _ in 0..n {
        let name = *w.rng().pick(CMDLETS);
        w.line(1, "Executing: ");
        w.raw(&format!(
            "          {name} -DomainController $RoleDomainController"
        ));
        let params = format!(" -DomainController:'{}'", story.dc());
        cmdlet(w, story, name, &params);
        if w.rng().chance(25) {
            w.line(
                2,
                &format!(
                    "Previous operation run on domain controller '{}'.",
                    story.dc()
                ),
            );
        }
    }
}

fn task_name(step: &Step) -> String {
    match step {
        Step::PreFileCopy => "Start-PreFileCopy".into(),
        Step::Uninstall => "uninstall-MsiPackage".into(),
        Step::Install => "install-MsiPackage".into(),
        Step::PostFileCopy => "Start-PostFileCopy".into(),
        Step::Role(r) => format!("Install-{r}"),
        Step::PostSetup => "Start-PostSetup".into(),
    }
}

/// The error block and the end of a run that stops on a critical error.
fn write_failure(w: &mut Writer, story: &Story, f: &Failure) {
    for c in &f.context {
        w.line(2, c);
    }
    w.wait(3);
    let first = f.errors.first().cloned().unwrap_or_default();
    if story.product.is_v15() {
        w.line(
            1,
            &format!(
                "The following {} error(s) occurred during task execution:",
                f.errors.len().max(1)
            ),
        );
        w.same(1, &format!("0.  ErrorRecord: {first}"));
    }
    if let Some(cmd) = &f.command {
        let mut lines = cmd.lines();
        let head = lines.next().unwrap_or("");
        let rest: Vec<&str> = lines.collect();
        if rest.is_empty() {
            w.line(
                1,
                &format!("[ERROR] The following error was generated when \"{head}\" was run: \"{first}\"."),
            );
        } else {
            w.line(
                1,
                &format!("[ERROR] The following error was generated when \"{head}"),
            );
            for (i, l) in rest.iter().enumerate() {
                if i + 1 == rest.len() {
                    w.raw(&format!("{l}\" was run: \"{first}\"."));
                } else {
                    w.raw(l);
                }
            }
        }
    }
    for e in &f.errors {
        w.same(1, &format!("[ERROR] {e}"));
    }
    w.wait_ms(1);
    w.same(
        1,
        &format!(
            "[ERROR-REFERENCE] Id={} Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup",
            f.reference
        ),
    );
    w.same(
        1,
        "Setup is stopping now because of one or more critical errors.",
    );
    w.same(1, "Finished executing component tasks.");
    w.wait_ms(5);
    w.line(1, &format!("Ending processing {}", task_name(&f.step)));
    write_not_completed(w, story);
}

fn write_not_completed(w: &mut Writer, story: &Story) {
    w.wait(2);
    w.line(0, "The Exchange Server setup operation didn't complete.  More details can be found in ExchangeSetup.log located in the <SystemDrive>:\\ExchangeSetupLogs folder.");
    if story.product.is_v15() {
        w.same(0, "CurrentResult main.run:235: 1.");
        w.same(0, "CurrentResult setupbase.maincore:396: 1.");
    }
    w.line(0, "End of Setup");
    w.same(0, "**********************************************");
}

fn write_header(w: &mut Writer, story: &Story) {
    let p = story.product;
    let stars = "**********************************************";
    w.line(0, stars);
    w.same(
        0,
        &format!("Starting Microsoft Exchange Server {} Setup", p.banner()),
    );
    w.same(0, stars);
    if p.is_v15() {
        w.line(0, &format!("Local time zone: {}.", story.time_zone));
    }
    w.line(0, &format!("Operating system version: {}.", p.os()));
    w.line(0, &format!("Setup version: {}.", story.version));
    w.line(0, &format!("Logged on user: {}.", story.user));
    let mode = if story.is_upgrade() {
        "Upgrade"
    } else {
        "Install"
    };
    w.line(
        0,
        &format!("Command Line Parameter Name='mode', Value='{mode}'."),
    );
    let license = match p {
        Product::E2010 => None,
        Product::E2013 => Some("iacceptexchangeserverlicenseterms"),
        _ => Some("iacceptexchangeserverlicenseterms_diagnosticdataoff"),
    };
    if let Some(l) = license {
        w.same(0, &format!("Command Line Parameter Name='{l}', Value=''."));
    }
    w.same(0, "Command Line Parameter Name='sourcedir', Value='E:\\'.");
    if p.is_v15() {
        let switch = license.map(|l| format!(" /{l}")).unwrap_or_default();
        w.line(
            0,
            &format!("RuntimeAssembly was started with the following command: '/mode:{mode}{switch} /sourcedir:E:'."),
        );
        if let Some(prev) = &story.previous {
            w.line(0, &format!("The locally installed version is {prev}."));
            w.line(
                0,
                &format!(
                    "Exchange Installation Directory : '{}'.",
                    p.install_dir().trim_end_matches('\\')
                ),
            );
        }
    }
    w.line(0, "Setup is choosing the domain controller to use");
    w.wait_ms(350);
    let dc = story.dc();
    w.line(0, "Setup is choosing a local domain controller...");
    w.line(
        0,
        &format!("Setup has chosen the local domain controller {dc} for initial queries"),
    );
    w.line(0, &format!("PrepareAD has been run, and has replicated to this domain controller; so setup will use {dc}"));
    w.line(0, "Setup is choosing a global catalog...");
    w.line(
        0,
        &format!("Setup has chosen the global catalog server {dc}."),
    );
    w.line(0, &format!("Setup will use the domain controller '{dc}'."));
    w.line(0, &format!("Setup will use the global catalog '{dc}'."));
    let dn = story.dn();
    let org = story.org();
    w.line(0, &format!("Exchange configuration container for the organization is 'CN={org},CN=Microsoft Exchange,CN=Services,CN=Configuration,{dn}'."));
    w.line(
        0,
        &format!(
            "Setup will search for an Exchange Server object for the local machine with name '{}'.",
            story.server
        ),
    );
    let roles = p.roles().join(" ");
    if let Some(prev) = &story.previous {
        w.line(0, &format!("Exchange Server object found : 'CN={},CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN={org},CN=Microsoft Exchange,CN=Services,CN=Configuration,{dn}'.", story.server));
        w.line(
            0,
            &format!("The following roles have been unpacked: {roles}"),
        );
        if p.is_v15() {
            w.line(0, "The following datacenter roles are unpacked: ");
        }
        w.line(0, &format!("The following roles are installed: {roles}"));
        w.line(0, "The local server has some Exchange files installed.");
        w.line(
            0,
            &format!("The backup copy of the previously installed version is '{prev}'."),
        );
        w.line(0, &format!("Server Name={}", story.server));
        w.line(0, "The installation mode is set to: 'BuildToBuildUpgrade'.");
    } else {
        w.line(
            0,
            &format!(
                "No Exchange Server with identity '{}' was found.",
                story.server
            ),
        );
        w.line(0, "The following roles have been unpacked: ");
        w.line(0, "The following roles are installed: ");
        w.line(0, &format!("Server Name={}", story.server));
        w.line(0, "The installation mode is set to: 'Install'.");
    }
}

fn write_prereqs(w: &mut Writer, story: &Story) {
    let p = story.product;
    let lvl = if p.is_v15() { 1 } else { 0 };
    w.line(
        0,
        &format!(
            "Validating options for the {} requested roles",
            p.roles().len()
        ),
    );
    w.wait(1);
    w.line(
        0,
        "Setup is determining what organization-level operations to perform.",
    );
    let schema = story
        .prereqs
        .iter()
        .any(|q| q.rule == "SchemaUpdateRequired");
    w.line(
        0,
        &format!(
            "Schema Update Required Status : '{}'.",
            if schema { "True" } else { "False" }
        ),
    );
    w.same(
        0,
        "Organization Configuration Update Required Status : 'False'.",
    );
    w.same(0, "Domain Configuration Update Required Status : 'False'.");
    w.line(
        0,
        "Setup has determined that there are no organization-level operations to perform.",
    );
    w.line(lvl, "Beginning processing Test-SetupPrerequisites");
    let eval = |w: &mut Writer, kind: &str, name: &str, value: &str| {
        let ms = w.rng().range(0, 400);
        let thread = w.rng().range(5, 40);
        w.line(
            lvl,
            &format!("Evaluated [{kind}:{name}] [HasException:False] [Value:\"{value}\"] [ParentValue:\"<NULL>\"] [Thread:{thread}] [Duration:00:00:00.{ms:03}0000]"),
        );
    };
    eval(w, "Setting", "ComputerNameDnsFullyQualified", &story.fqdn());
    eval(w, "Setting", "SiteName", "Default-First-Site-Name");
    let mut settings: Vec<(String, String)> = vec![
        ("SchemaAdmin".into(), "True".into()),
        ("EnterpriseAdmin".into(), "True".into()),
        ("ExOrgAdmin".into(), "True".into()),
    ];
    for (k, v) in &story.settings {
        match settings.iter_mut().find(|(n, _)| n == k) {
            Some(s) => s.1 = v.clone(),
            None => settings.push((k.clone(), v.clone())),
        }
    }
    for (k, v) in &settings {
        eval(w, "Setting", k, v);
    }
    for rule in readiness_rules(p) {
        let hit = story.prereqs.iter().any(|q| q.rule == *rule);
        eval(w, "Rule", rule, if hit { "True" } else { "False" });
    }
    for q in story
        .prereqs
        .iter()
        .filter(|q| !readiness_rules(p).contains(&q.rule.as_str()))
    {
        eval(w, "Rule", &q.rule, "True");
    }
    for q in &story.prereqs {
        w.line(
            lvl,
            &format!("Failed [Rule:{}] [Message:{}]", q.rule, q.message),
        );
        if !p.is_v15() {
            w.same(
                lvl,
                &format!("Help URL: http://technet.microsoft.com/library(EXCHG.141)/ms.exch.setupreadiness.{}.aspx", q.rule),
            );
        }
    }
    if matches!(story.end, End::PrereqFailed) {
        for q in &story.prereqs {
            w.line(lvl, &format!("[ERROR] {}", q.message));
        }
        w.line(lvl, "Ending processing Test-SetupPrerequisites");
        write_not_completed(w, story);
        return;
    }
    w.line(lvl, "Ending processing Test-SetupPrerequisites");
    w.wait(4);
}

/// Writes the run into `w` and says when services and the server state changed.
pub fn write_story(w: &mut Writer, story: &Story) -> Trace {
    let mut trace = Trace::default();
    write_header(w, story);
    if let End::Refused(errors) = &story.end {
        for e in errors {
            w.line(0, &format!("[ERROR] {e}"));
        }
        write_not_completed(w, story);
        trace.end = Some(w.now);
        return trace;
    }
    write_prereqs(w, story);
    if matches!(story.end, End::PrereqFailed) {
        trace.end = Some(w.now);
        return trace;
    }

    let p = story.product;
    let mut steps: Vec<Step> = Vec::new();
    if story.is_upgrade() {
        if p.is_v15() {
            steps.push(Step::PreFileCopy);
        }
        steps.push(Step::Uninstall);
    }
    steps.push(Step::Install);
    if story.is_upgrade() && p.is_v15() {
        steps.push(Step::PostFileCopy);
    }
    steps.extend(p.roles().iter().map(|r| Step::Role(r)));
    if p.is_v15() {
        steps.push(Step::PostSetup);
    }

    let mut noise_written = false;
    for step in steps {
        let task = task_name(&step);
        if matches!(&story.end, End::Interrupted(at) if *at == step) {
            w.line(1, &format!("Beginning processing {task}"));
            w.wait(37);
            w.line(1, "Processing component tasks.");
            trace.end = Some(w.now);
            return trace;
        }
        let failing = match &story.end {
            End::Failed(f) if f.step == step => Some(f),
            _ => None,
        };
        w.line(1, &format!("Beginning processing {task}"));
        match &step {
            Step::PreFileCopy => {
                w.line(1, "Processing component 'AllRolesPreFileCopyComponent' (Stopping services and taking the server offline).");
                let params = format!(
                    " -Component:'ServerWideOffline' -Requester:'Functional' -State:'Inactive' -Identity:'{}'",
                    story.fqdn()
                );
                cmdlet(w, story, "Set-ServerComponentState", &params);
                trace.offline = Some(w.now);
                w.line(1, "Executing: ");
                w.raw("          & $RoleBinPath\\ServiceControl.ps1 Save");
                w.raw("          & $RoleBinPath\\ServiceControl.ps1 DisableServices Critical");
                w.raw("          & $RoleBinPath\\ServiceControl.ps1 Stop Critical");
                trace.services_stopped = Some(w.now);
                w.wait(45);
            }
            Step::Uninstall => {
                if !p.is_v15() {
                    w.line(
                        1,
                        "Processing component 'Stop Services' (Stopping Exchange services.).",
                    );
                    w.line(1, "Executing: ");
                    w.raw("          & $RoleBinPath\\ServiceControl.ps1 Save");
                    w.raw("          & $RoleBinPath\\ServiceControl.ps1 DisableServices Critical");
                    w.raw("          & $RoleBinPath\\ServiceControl.ps1 Stop Critical");
                    trace.services_stopped = Some(w.now);
                    w.wait(40);
                }
                let code = if p.is_v15() {
                    "cd981244-e9b8-405a-9026-6aeb9dcef1f1"
                } else {
                    "4934d1ea-be46-48b1-8847-f1af20e892c1"
                };
                w.line(1, &format!("Removing product with code {code}."));
                if failing.is_none() {
                    w.wait(280);
                }
            }
            Step::Install => {
                w.line(
                    1,
                    &format!(
                        "Installing a new product. Package: E:\\exchangeserver.msi. Property values: DEFAULTLANGUAGENAME=ENU PRODUCTLANGUAGELCID=1033 DEFAULTLANGUAGELCID= INSTALLCOMMENT=Installed language for this product: English (United States) REINSTALL= REINSTALLMODE= TARGETDIR=\"{}\" ",
                        p.install_dir().trim_end_matches('\\')
                    ),
                );
                if failing.is_none() {
                    w.wait(610);
                }
            }
            Step::PostFileCopy => {
                w.line(
                    1,
                    "Processing component 'AllRolesPostFileCopyComponent' (Restoring services).",
                );
                w.line(1, "Executing: ");
                w.raw("          & $RoleBinPath\\ServiceControl.ps1 EnableServices Critical");
                w.raw("          & $RoleBinPath\\ServiceControl.ps1 Start Critical");
                if failing.is_none() {
                    trace.services_started = Some(w.now);
                }
                w.wait(30);
            }
            Step::Role(role) => {
                if !noise_written {
                    for n in &story.noise {
                        w.line(1, n);
                    }
                    noise_written = true;
                }
                for (name, what) in role_components(p, role) {
                    w.line(1, &format!("Processing component '{name}' ({what})."));
                    let first = role_components(p, role)
                        .first()
                        .is_some_and(|(first, _)| first == name);
                    if let (Some(f), true) = (failing, first) {
                        component_body(w, story);
                        write_failure(w, story, f);
                        trace.end = Some(w.now);
                        return trace;
                    }
                    component_body(w, story);
                    let secs = w.rng().range(2, 40) as i64;
                    w.wait(secs);
                }
            }
            Step::PostSetup => {
                w.line(
                    1,
                    "Processing component 'AllRolesPostSetupComponent' (Finalizing setup).",
                );
                let params = format!(
                    " -Component:'ServerWideOffline' -Requester:'Functional' -State:'Active' -Identity:'{}'",
                    story.fqdn()
                );
                if failing.is_none() {
                    cmdlet(w, story, "Set-ServerComponentState", &params);
                    trace.online = Some(w.now);
                }
            }
        }
        if let Some(f) = failing {
            write_failure(w, story, f);
            trace.end = Some(w.now);
            return trace;
        }
        w.line(1, &format!("Ending processing {task}"));
    }
    if !p.is_v15() {
        w.line(
            1,
            "Processing component 'Start Services' (Starting Exchange services.).",
        );
        w.line(1, "Executing: ");
        w.raw("          & $RoleBinPath\\ServiceControl.ps1 EnableServices Critical");
        w.raw("          & $RoleBinPath\\ServiceControl.ps1 Start Critical");
        trace.services_started = Some(w.now);
        w.wait(30);
    }
    w.line(
        0,
        "The Exchange Server setup operation completed successfully.",
    );
    w.wait(2);
    w.line(0, "End of Setup");
    w.same(0, "**********************************************");
    trace.end = Some(w.now);
    trace
}

/// Several runs in one log, oldest first; returns the text and each run's trace.
pub fn log(stories: &[Story]) -> (String, Vec<Trace>) {
    let mut out = String::new();
    let mut traces = Vec::new();
    for s in stories {
        let mut w = Writer::new(s.start, s.seed);
        traces.push(write_story(&mut w, s));
        out.push_str(&w.out);
    }
    (out, traces)
}
