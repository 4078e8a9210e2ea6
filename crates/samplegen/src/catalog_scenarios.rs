//! The scenario library: one bundle per known failure (and healthy upgrades), each with the
//! labels the accuracy suite checks: the root causes exhume must find and the findings that must
//! not appear. Labels are written next to the bundle (`<name>.labels.json`), never inside it, so
//! nothing in the evidence carries the answer.
//!
//! Every scenario has realistic history: the server's earlier service packs or cumulative updates
//! in the same ExchangeSetup.log, the services of its version, and for most a ServiceControl.log
//! consistent with the runs.

use crate::artefacts::{self, RoleKey};
use crate::builder::{BundleBuilder, Form, ManifestInfo, crlf};
use crate::runlog::{self, End, Failure, Prereq, Product, Step, Story, Trace};
use crate::scenarios::at;
use crate::services::{self, Row};
use chrono::{Duration, NaiveDateTime};
use std::path::{Path, PathBuf};

/// One scenario: a bundle and what analysing it must conclude.
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    pub product: Product,
    pub form: Form,
    /// Root-cause ids that must all be found.
    pub expected: Vec<&'static str>,
    /// Finding ids that must not appear at all.
    pub forbidden: Vec<&'static str>,
    /// A healthy upgrade: no root cause and no critical finding.
    pub healthy: bool,
    pub bundle: BundleBuilder,
}

/// `labels.json`: the answer key, kept outside the bundle.
#[derive(serde::Serialize)]
struct Labels<'a> {
    scenario: &'a str,
    description: &'a str,
    product: &'a str,
    form: &'a str,
    manifest: bool,
    healthy: bool,
    expected_root_causes: &'a [&'static str],
    forbidden: &'a [&'static str],
}

impl Scenario {
    /// The bundle's file or folder name under `samples/scenarios/`.
    pub fn bundle_name(&self) -> String {
        match self.form {
            Form::Zip => format!("{}.zip", self.name),
            Form::Folder => self.name.to_string(),
        }
    }

    pub fn labels_name(&self) -> String {
        format!("{}.labels.json", self.name)
    }

    pub fn has_manifest(&self) -> bool {
        self.bundle
            .contents()
            .iter()
            .any(|(p, _)| p == "manifest.json")
    }

    pub fn labels_json(&self) -> String {
        let labels = Labels {
            scenario: self.name,
            description: self.description,
            product: self.product.banner(),
            form: match self.form {
                Form::Zip => "zip",
                Form::Folder => "folder",
            },
            manifest: self.has_manifest(),
            healthy: self.healthy,
            expected_root_causes: &self.expected,
            forbidden: &self.forbidden,
        };
        serde_json::to_string_pretty(&labels).unwrap_or_default() + "\n"
    }

    /// Writes the bundle and its labels into `dir`; returns the bundle path.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.bundle_name());
        self.bundle.write(&path, self.form)?;
        std::fs::write(dir.join(self.labels_name()), self.labels_json())?;
        Ok(path)
    }
}

/// Writes every scenario into `dir` (normally `samples/scenarios`).
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    all().iter().map(|s| s.write(dir)).collect()
}

// ------------------------------------------------------------------------------------------
// The servers
// ------------------------------------------------------------------------------------------

/// Where a scenario's server lives: names and clock.
#[derive(Clone)]
struct Env {
    product: Product,
    server: &'static str,
    domain: &'static str,
    user: &'static str,
    tz_text: &'static str,
    tz_id: &'static str,
    offset: i32,
    seed: u64,
}

const EASTERN: (&str, &str, i32) = (
    "(UTC-05:00) Eastern Time (US & Canada)",
    "Eastern Standard Time",
    -300,
);
const BERLIN: (&str, &str, i32) = (
    "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
    "W. Europe Standard Time",
    60,
);
const SYDNEY: (&str, &str, i32) = (
    "(UTC+10:00) Canberra, Melbourne, Sydney",
    "AUS Eastern Standard Time",
    600,
);
const TOKYO: (&str, &str, i32) = (
    "(UTC+09:00) Osaka, Sapporo, Tokyo",
    "Tokyo Standard Time",
    540,
);
const UTC: (&str, &str, i32) = ("(UTC) Coordinated Universal Time", "UTC", 0);

fn env(
    product: Product,
    server: &'static str,
    domain: &'static str,
    zone: (&'static str, &'static str, i32),
    name: &str,
) -> Env {
    // FNV-1a of the name: a fixed, distinct seed per scenario.
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let user = match domain {
        "contoso.com" => "CONTOSO\\exadmin",
        "fabrikam.local" => "FABRIKAM\\Administrator",
        "tailspintoys.com" => "TAILSPIN\\it-admin",
        _ => "WOODGROVE\\svc-exsetup",
    };
    Env {
        product,
        server,
        domain,
        user,
        tz_text: zone.0,
        tz_id: zone.1,
        offset: zone.2,
        seed,
    }
}

/// The builds each version went through on these servers, with the date each was installed.
fn builds(p: Product) -> &'static [(&'static str, (i32, u32, u32))] {
    match p {
        Product::E2010 => &[
            ("14.0.639.21", (2010, 6, 2)),
            ("14.1.218.15", (2011, 2, 19)),
            ("14.2.247.5", (2012, 3, 10)),
            ("14.3.123.4", (2013, 4, 20)),
        ],
        Product::E2013 => &[
            ("15.0.1395.4", (2018, 4, 14)),
            ("15.0.1473.3", (2019, 3, 2)),
            ("15.0.1497.2", (2019, 7, 13)),
        ],
        Product::E2016 => &[
            ("15.1.2176.2", (2021, 3, 6)),
            ("15.1.2242.4", (2021, 4, 24)),
            ("15.1.2308.8", (2021, 7, 10)),
            ("15.1.2375.7", (2021, 10, 23)),
            ("15.1.2507.6", (2022, 5, 14)),
        ],
        Product::E2019 => &[
            ("15.2.922.7", (2021, 7, 3)),
            ("15.2.986.5", (2021, 10, 9)),
            ("15.2.1118.7", (2022, 5, 7)),
            ("15.2.1258.12", (2023, 5, 6)),
            ("15.2.1544.4", (2024, 2, 17)),
        ],
    }
}

fn story(e: &Env, version: &str, previous: Option<&str>, start: NaiveDateTime, n: u64) -> Story {
    Story {
        product: e.product,
        version: version.into(),
        previous: previous.map(str::to_string),
        start,
        server: e.server.into(),
        domain: e.domain.into(),
        user: e.user.into(),
        time_zone: e.tz_text.into(),
        prereqs: vec![],
        settings: vec![],
        noise: vec![],
        end: End::Completed,
        seed: e.seed.wrapping_add(n),
    }
}

/// The completed runs up to build `upto` (exclusive) and the run of build `upto`, completed
/// until the scenario changes it. Runs start in the evening, as maintenance windows do.
fn history(e: &Env, upto: usize) -> (Vec<Story>, Story) {
    let b = builds(e.product);
    let mut runs = Vec::new();
    for (i, (v, (y, m, d))) in b.iter().enumerate().take(upto + 1) {
        let prev = i.checked_sub(1).map(|j| b[j].0);
        let start = at(
            *y,
            *m,
            *d,
            20,
            5 + (i as u32 * 7) % 50,
            11,
            1000 + i as u32 * 731,
        );
        runs.push(story(e, v, prev, start, i as u64));
    }
    let last = runs.pop().expect("at least one build");
    (runs, last)
}

/// Benign lines real runs carry, written during the first role.
fn noise(p: Product) -> Vec<String> {
    match p {
        Product::E2010 => vec![
            "[WARNING] The performance counter definition file 'GlsPerformanceCounters.xml' could not be found; the performance counters were not installed.".into(),
        ],
        _ => vec![
            "[WARNING] An unexpected error has occurred and debug information is being generated: Object reference not set to an instance of an object. (Watson report for the performance counter host; setup continues)".into(),
            "Searching objects of type \"ExchangeServer\" with filter \"$null\", scope \"SubTree\" under the root \"$null\".".into(),
        ],
    }
}

/// What goes into a bundle beside the setup log.
struct Extras {
    services: Option<Vec<Row>>,
    service_control: bool,
    host_json: Option<String>,
    manifest: bool,
}

impl Extras {
    fn healthy(p: Product) -> Self {
        Extras {
            services: Some(artefacts::healthy_services(p)),
            service_control: true,
            host_json: None,
            manifest: true,
        }
    }
}

fn host_json(e: &Env, pending_reboot: bool, dotnet: u32) -> String {
    let os = match e.product {
        Product::E2010 => "Microsoft Windows Server 2008 R2 Enterprise",
        Product::E2013 => "Microsoft Windows Server 2012 R2 Standard",
        Product::E2016 => "Microsoft Windows Server 2016 Standard",
        Product::E2019 => "Microsoft Windows Server 2019 Standard",
    };
    format!(
        "{{\n  \"computer_name\": \"{}\",\n  \"domain\": \"{}\",\n  \"os\": \"{os}\",\n  \"pending_reboot\": {pending_reboot},\n  \"dotnet_release\": {dotnet},\n  \"utc_offset_minutes\": {},\n  \"time_zone_id\": \"{}\"\n}}\n",
        e.server, e.domain, e.offset, e.tz_id
    )
}

/// Builds the bundle: the setup log of `runs`, and the extras.
fn assemble(e: &Env, runs: &[Story], x: Extras) -> BundleBuilder {
    let (text, traces) = runlog::log(runs);
    let mut b = BundleBuilder::new();
    b.file(
        "setup/ExchangeSetup.log",
        "C:\\ExchangeSetupLogs\\ExchangeSetup.log",
        crlf(&text),
    );
    if x.service_control {
        let pairs: Vec<(&Story, &Trace)> = runs.iter().zip(traces.iter()).collect();
        let sc = artefacts::service_control_log(&pairs);
        if !sc.is_empty() {
            b.file(
                "setup/ServiceControl.log",
                "C:\\ExchangeSetupLogs\\ServiceControl.log",
                crlf(&sc),
            );
        }
    }
    if let Some(rows) = &x.services {
        let how = if e.product == Product::E2010 {
            "Get-WmiObject Win32_Service"
        } else {
            "Get-CimInstance Win32_Service"
        };
        b.file("system/services.csv", how, crlf(&services::csv(rows)));
    }
    if let Some(h) = &x.host_json {
        b.file("system/host.json", "generated", crlf(h));
    }
    if x.manifest {
        let last = runs.last().expect("a run");
        let end = traces.last().and_then(|t| t.end).unwrap_or(last.start);
        let collected = end - Duration::minutes(e.offset as i64) + Duration::hours(3);
        let version = match &last.end {
            End::Completed => last.version.clone(),
            _ => last
                .previous
                .clone()
                .unwrap_or_else(|| last.version.clone()),
        };
        b.manifest(Some(ManifestInfo {
            computer_name: e.server.into(),
            domain: e.domain.into(),
            collected_utc: collected.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            utc_offset_minutes: e.offset,
            time_zone_id: e.tz_id.into(),
            install_path: e.product.install_dir().into(),
            exchange_version: version,
        }));
        // A bundle with a manifest is one the collector wrote: it carries the collector's own
        // files too.
        let (major, minor) = match e.product {
            Product::E2010 => (7, 5),
            Product::E2013 => (8, 5),
            Product::E2016 | Product::E2019 => (10, 0),
        };
        crate::scenarios::collector_files(&mut b, major, minor);
    }
    b
}

/// The time of the last run's end, for files written at that moment.
fn last_trace(runs: &[Story]) -> Trace {
    runlog::log(runs).1.pop().unwrap_or_default()
}

fn prereq(rule: &str, message: &str) -> Prereq {
    Prereq {
        rule: rule.into(),
        message: message.into(),
    }
}

fn failure(step: Step, errors: &[&str], reference: &str) -> Failure {
    Failure {
        step,
        context: vec![],
        command: None,
        errors: errors.iter().map(|s| s.to_string()).collect(),
        reference: reference.into(),
    }
}

const HEALTHY_FORBIDDEN: &[&str] = &[
    "setup-stopped-critical",
    "setup-interrupted",
    "setup-error-unrecognised",
    "services-left-disabled-by-setup",
    "server-left-offline",
];

fn with(base: &[&'static str], more: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(more.iter()).copied().collect()
}

const GENERIC: &str = "setup-error-unrecognised";

// ------------------------------------------------------------------------------------------
// The library
// ------------------------------------------------------------------------------------------

pub fn all() -> Vec<Scenario> {
    vec![
        e2010_sp3_healthy(),
        e2013_cu23_healthy(),
        e2016_cu23_healthy_after_reboot(),
        e2019_cu14_healthy(),
        e2010_sp3_pending_reboot(),
        e2019_cu12_pending_reboot(),
        e2016_cu23_dotnet_missing(),
        e2019_cu13_vcredist_missing(),
        e2019_cu11_url_rewrite_missing(),
        e2013_cu23_ucma_missing(),
        e2016_cu22_schema_admins_missing(),
        e2019_cu10_org_not_prepared(),
        e2016_cu21_ad_newer_than_setup(),
        e2013_cu23_org_management_missing(),
        e2016_cu23_antivirus_locked_file(),
        e2010_sp3_installer_cache_missing(),
        e2019_cu12_disk_full(),
        e2016_cu20_resume_action_mismatch(),
        e2013_cu23_updatecas_failed(),
        e2019_cu14_arbitration_mailbox(),
        e2016_cu23_database_mount_failed(),
        e2019_cu13_interrupted_left_offline(),
        e2010_sp3_interrupted_services_disabled(),
        e2016_cu23_ecp_assembly_missing(),
        e2019_cu14_vdir_already_exists(),
        e2010_sp3_winrm_500(),
        e2016_cu23_unrecognised_error(),
        e2019_cu12_reboot_and_vcredist(),
        e2013_cu22_installer_cache_and_pending_reboot(),
        e2016_cu19_resume_no_services_running(),
        e2013_cu23_execution_policy_gpo(),
        e2019_cu14_topology_service_unavailable(),
        e2016_cu22_windows_update_restart(),
        e2019_cu13_defender_quarantine(),
    ]
}

fn e2010_sp3_healthy() -> Scenario {
    let name = "e2010-sp3-healthy";
    let e = env(Product::E2010, "EXMBX01", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 3);
    last.noise = noise(e.product);
    runs.push(last);
    Scenario {
        name,
        description: "Exchange 2010 SP3 upgrade completes after RTM, SP1 and SP2; services running.",
        product: e.product,
        form: Form::Zip,
        expected: vec![],
        forbidden: HEALTHY_FORBIDDEN.to_vec(),
        healthy: true,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2013_cu23_healthy() -> Scenario {
    let name = "e2013-cu23-healthy";
    let e = env(Product::E2013, "EX2013A", "fabrikam.local", BERLIN, name);
    let (mut runs, mut last) = history(&e, 2);
    last.noise = noise(e.product);
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.manifest = false;
    x.host_json = Some(host_json(&e, false, 528049));
    Scenario {
        name,
        description: "Exchange 2013 CU23 upgrade completes (CU21 install, CU22); folder bundle without a manifest.",
        product: e.product,
        form: Form::Folder,
        expected: vec![],
        forbidden: HEALTHY_FORBIDDEN.to_vec(),
        healthy: true,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2016_cu23_healthy_after_reboot() -> Scenario {
    let name = "e2016-cu23-healthy-after-reboot";
    let e = env(Product::E2016, "EX16-01", "tailspintoys.com", SYDNEY, name);
    let (mut runs, mut last) = history(&e, 4);
    // The first attempt the same evening stopped on a pending restart; after the restart the
    // second attempt completed. Only the second one says how the server is.
    let mut first = last.clone();
    first.prereqs = vec![prereq(
        "RebootPending",
        "Microsoft Exchange Server setup cannot continue because a restart from a previous installation or update is pending.",
    )];
    first.end = End::PrereqFailed;
    first.seed ^= 0x55;
    runs.push(first);
    last.start += Duration::minutes(52);
    last.noise = noise(e.product);
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.host_json = Some(host_json(&e, false, 528049));
    Scenario {
        name,
        description: "Exchange 2016 CU23: a first attempt stopped on a pending restart, the retry after the restart completed.",
        product: e.product,
        form: Form::Zip,
        expected: vec![],
        forbidden: with(
            HEALTHY_FORBIDDEN,
            &["setup-prereq-pending-reboot", "pending-reboot"],
        ),
        healthy: true,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2019_cu14_healthy() -> Scenario {
    let name = "e2019-cu14-healthy";
    let e = env(Product::E2019, "EXCH19", "woodgrove.net", UTC, name);
    let (mut runs, mut last) = history(&e, 4);
    last.noise = noise(e.product);
    runs.push(last);
    let t = last_trace(&runs);
    let mut b = assemble(&e, &runs, Extras::healthy(e.product));
    if let Some(end) = t.end {
        b.file(
            "setup/UpdateConfigFiles.log",
            "C:\\ExchangeSetupLogs\\UpdateConfigFiles.log",
            crlf(&artefacts::update_config_files_log(
                e.product,
                end - Duration::minutes(9),
                &[],
            )),
        );
    }
    Scenario {
        name,
        description: "Exchange 2019 CU14 upgrade completes after CU10–CU13; web.config update step ran.",
        product: e.product,
        form: Form::Folder,
        expected: vec![],
        forbidden: with(HEALTHY_FORBIDDEN, &["update-config-files-failed"]),
        healthy: true,
        bundle: b,
    }
}

fn e2010_sp3_pending_reboot() -> Scenario {
    let name = "e2010-sp3-pending-reboot";
    let e = env(Product::E2010, "EXCAS02", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 3);
    last.prereqs = vec![prereq(
        "PendingRebootRequirement",
        "A restart from a previous installation is pending. Please restart the system and then rerun Setup.",
    )];
    last.end = End::PrereqFailed;
    runs.push(last);
    Scenario {
        name,
        description: "Exchange 2010 SP3 readiness check fails: a restart is pending.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["setup-prereq-pending-reboot"],
        forbidden: vec![GENERIC, "services-left-disabled-by-setup"],
        healthy: false,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2019_cu12_pending_reboot() -> Scenario {
    let name = "e2019-cu12-pending-reboot";
    let e = env(Product::E2019, "EX19-MBX2", "woodgrove.net", TOKYO, name);
    let (mut runs, mut last) = history(&e, 2);
    last.prereqs = vec![prereq(
        "PendingRebootWindowsComponents",
        "There is a pending reboot from a previous installation of a Windows Server role or feature. Please restart the computer and then run Setup again.",
    )];
    last.end = End::PrereqFailed;
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.manifest = false;
    Scenario {
        name,
        description: "Exchange 2019 CU12 readiness check fails: a Windows feature installation awaits a restart (no manifest).",
        product: e.product,
        form: Form::Folder,
        expected: vec!["setup-prereq-pending-reboot"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2016_cu23_dotnet_missing() -> Scenario {
    let name = "e2016-cu23-dotnet-missing";
    let e = env(Product::E2016, "MAIL16", "fabrikam.local", BERLIN, name);
    let (mut runs, mut last) = history(&e, 4);
    last.prereqs = vec![prereq(
        "MinimumFrameworkNotInstalled",
        "This computer requires .NET Framework 4.8 (https://support.microsoft.com/kb/4503548).",
    )];
    last.end = End::PrereqFailed;
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.host_json = Some(host_json(&e, false, 461814));
    Scenario {
        name,
        description: "Exchange 2016 CU23 needs .NET Framework 4.8; the server has 4.7.2.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["prereq-dotnet-missing"],
        forbidden: vec![GENERIC, "prereq-vcredist-missing"],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2019_cu13_vcredist_missing() -> Scenario {
    let name = "e2019-cu13-vcredist-missing";
    let e = env(Product::E2019, "EXCH02", "tailspintoys.com", SYDNEY, name);
    let (mut runs, mut last) = history(&e, 3);
    last.prereqs = vec![prereq(
        "VC2012RedistDependencyRequirement",
        "Visual C++ 2012 Redistributable Package is a required component.",
    )];
    last.end = End::PrereqFailed;
    runs.push(last);
    Scenario {
        name,
        description: "Exchange 2019 CU13 readiness check fails: the Visual C++ 2012 runtime was removed.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["prereq-vcredist-missing"],
        forbidden: vec![GENERIC, "prereq-dotnet-missing"],
        healthy: false,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2019_cu11_url_rewrite_missing() -> Scenario {
    let name = "e2019-cu11-url-rewrite-missing";
    let e = env(Product::E2019, "EX-HQ-01", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 1);
    last.prereqs = vec![prereq(
        "IISURLRewriteNotInstalled",
        "The 'IIS URL rewrite module' isn't installed on this computer and needs to be installed before Exchange Setup can begin.",
    )];
    last.settings = vec![("IISURLRewriteVersion".into(), "<NULL>".into())];
    last.end = End::PrereqFailed;
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.manifest = false;
    Scenario {
        name,
        description: "Exchange 2019 CU11 is the first CU that needs IIS URL Rewrite; it is not installed (zip without manifest).",
        product: e.product,
        form: Form::Zip,
        expected: vec!["prereq-url-rewrite-missing"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2013_cu23_ucma_missing() -> Scenario {
    let name = "e2013-cu23-ucma-missing";
    let e = env(Product::E2013, "EX2013NEW", "woodgrove.net", UTC, name);
    // A new server: the first and only run is an install.
    let mut last = story(&e, "15.0.1497.2", None, at(2020, 9, 5, 10, 12, 40, 2210), 0);
    last.prereqs = vec![prereq(
        "UcmaRedistMsi",
        "The Unified Communications Managed API 4.0, Core Runtime 64-bit isn't installed on this computer. Install it from https://go.microsoft.com/fwlink/p/?linkId=258269 and restart setup.",
    )];
    last.end = End::PrereqFailed;
    let runs = vec![last];
    let mut x = Extras::healthy(e.product);
    x.services = None;
    x.service_control = false;
    Scenario {
        name,
        description: "New Exchange 2013 CU23 server: install stops because the UCMA 4.0 runtime is missing.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["prereq-ucma-missing"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2016_cu22_schema_admins_missing() -> Scenario {
    let name = "e2016-cu22-schema-admins-missing";
    let e = env(Product::E2016, "EX16-02", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 3);
    last.settings = vec![
        ("SchemaAdmin".into(), "False".into()),
        ("EnterpriseAdmin".into(), "False".into()),
    ];
    last.prereqs = vec![prereq(
        "SchemaUpdateRequired",
        "The Active Directory schema isn't up-to-date, and this user account isn't a member of the 'Schema Admins' and/or 'Enterprise Admins' groups.",
    )];
    last.end = End::PrereqFailed;
    runs.push(last);
    Scenario {
        name,
        description: "Exchange 2016 CU22 must extend the schema; the account is not in Schema Admins or Enterprise Admins.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["prepare-rights-missing"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2019_cu10_org_not_prepared() -> Scenario {
    let name = "e2019-cu10-org-not-prepared";
    let e = env(Product::E2019, "EXBRANCH", "fabrikam.local", BERLIN, name);
    let mut last = story(&e, "15.2.922.7", None, at(2021, 8, 14, 9, 31, 2, 4410), 0);
    last.end = End::Refused(vec![
        "Setup encountered a problem while validating the state of Active Directory: Exchange organization-level objects haven't been created, and setup can't create them because the local computer isn't in the same domain and site as the schema master. Run setup with the /prepareAD parameter on a computer in the domain fabrikam and site Default-First-Site-Name, and wait for replication to complete.  See the Exchange setup log for more information on this error.".into(),
    ]);
    let runs = vec![last];
    let mut x = Extras::healthy(e.product);
    x.services = None;
    x.service_control = false;
    Scenario {
        name,
        description: "First Exchange 2019 server in a branch site: /PrepareAD never ran and this site is not the schema master's.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["ad-not-prepared"],
        forbidden: vec![GENERIC, "setup-insufficient-permissions"],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2016_cu21_ad_newer_than_setup() -> Scenario {
    let name = "e2016-cu21-ad-newer-than-setup";
    let e = env(Product::E2016, "EX16-DR", "tailspintoys.com", SYDNEY, name);
    let (mut runs, mut last) = history(&e, 2);
    last.end = End::Refused(vec![
        "Setup encountered a problem while validating the state of Active Directory: The Active Directory organization configuration version (16222) is higher than Setup's version(16219). Therefore, PrepareAD can't be executed.  See the Exchange setup log for more information on this error.".into(),
    ]);
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.manifest = false;
    Scenario {
        name,
        description: "An old CU21 media is run after another server's CU22 prepared the organisation (folder, no manifest).",
        product: e.product,
        form: Form::Folder,
        expected: vec!["ad-newer-than-setup"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2013_cu23_org_management_missing() -> Scenario {
    let name = "e2013-cu23-org-management-missing";
    let e = env(Product::E2013, "EX2013B", "woodgrove.net", TOKYO, name);
    let (mut runs, mut last) = history(&e, 2);
    last.user = "WOODGROVE\\helpdesk02".into();
    last.settings = vec![("ExOrgAdmin".into(), "False".into())];
    last.prereqs = vec![prereq(
        "GlobalServerInstall",
        "You must be a member of the 'Organization Management' role group or a member of the 'Enterprise Admins' group to continue.",
    )];
    last.end = End::PrereqFailed;
    runs.push(last);
    Scenario {
        name,
        description: "Exchange 2013 CU23 started by a help-desk account that is not in Organization Management.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["setup-insufficient-permissions"],
        forbidden: vec![GENERIC, "ad-not-prepared"],
        healthy: false,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2016_cu23_antivirus_locked_file() -> Scenario {
    let name = "e2016-cu23-antivirus-locked-file";
    let e = env(Product::E2016, "EX16-03", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 4);
    let mut f = failure(
        Step::Role("BridgeheadRole"),
        &[
            "Access to the path 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FIP-FS\\Data\\Configuration.xml' is denied.",
        ],
        "BridgeheadComponent___9FAA17C4-73D7-4E6D-9012-6274971434D5",
    );
    f.command = Some("$error.Clear();\n          & \"$RoleInstallPath\\FIP-FS\\Bin\\Configure-Engine.ps1\" -ConfigurationPath \"$RoleInstallPath\\FIP-FS\\Data\\Configuration.xml\"\n        ".into());
    last.end = End::Failed(f);
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    if let Some(rows) = x.services.as_mut() {
        services::add(
            rows,
            "SepMasterService",
            "Symantec Endpoint Protection",
            "Auto",
            "Running",
            "\"C:\\Program Files (x86)\\Symantec\\Symantec Endpoint Protection\\14.3.558.0000.105\\Bin64\\ccSvcHst.exe\" /s \"SepMasterService\" /m \"C:\\Program Files (x86)\\Symantec\\Symantec Endpoint Protection\\14.3.558.0000.105\\Bin64\\sms.dll\" /prefetch:1",
        );
    }
    Scenario {
        name,
        description: "Exchange 2016 CU23 stops in the Transport step: access denied on FIP-FS Configuration.xml (antivirus without exclusions).",
        product: e.product,
        form: Form::Zip,
        expected: vec!["fips-config-access-denied"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2010_sp3_installer_cache_missing() -> Scenario {
    let name = "e2010-sp3-installer-cache-missing";
    let e = env(Product::E2010, "EXHUB01", "fabrikam.local", BERLIN, name);
    let (mut runs, mut last) = history(&e, 3);
    last.end = End::Failed(failure(
        Step::Uninstall,
        &[
            "Couldn't remove product with code 4934d1ea-be46-48b1-8847-f1af20e892c1. The installation source for this product is not available. Verify that the source exists and that you can access it. Error code is 1612.",
        ],
        "UninstallMsiComponent___a6c6d0b1b4d94a1c8a4d2a7b1f0e5c21",
    ));
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    if let Some(rows) = x.services.as_mut() {
        artefacts::disable_controlled(rows, e.product);
    }
    Scenario {
        name,
        description: "Exchange 2010 SP3 cannot remove SP2: its cached MSI was deleted from C:\\Windows\\Installer; services stay disabled.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["msi-installer-cache-missing"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2019_cu12_disk_full() -> Scenario {
    let name = "e2019-cu12-disk-full";
    let e = env(Product::E2019, "EXCH03", "woodgrove.net", UTC, name);
    let (mut runs, mut last) = history(&e, 2);
    last.end = End::Failed(failure(
        Step::Install,
        &[
            "Installing product E:\\exchangeserver.msi failed. Fatal error during installation. Error code is 1603. Last error reported by the MSI package is 'There is not enough space on the disk.'.",
            "There is not enough space on the disk.",
        ],
        "InstallMsiComponent___5d7c1e3f0b2a4c6e9a8d7f6b5c4d3e2f",
    ));
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    if let Some(rows) = x.services.as_mut() {
        artefacts::disable_controlled(rows, e.product);
    }
    let b = assemble(&e, &runs, x);
    let end = last_trace(&runs).end.unwrap_or(runs[runs.len() - 1].start);
    let computer = format!("{}.{}", e.server, e.domain);
    let failed = artefacts::utc(end, e.offset) - Duration::seconds(2);
    let mut app = vec![
        // Transport's back pressure the same afternoon: the volume was already short of space.
        artefacts::classic_event(
            failed - Duration::hours(5),
            "Application",
            &computer,
            "MSExchangeTransport",
            15006,
            2,
            &[
                "95",
                "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\TransportRoles\\data\\Queue\\mail.que",
                "99",
                "2147483648",
            ],
        ),
        artefacts::classic_event(
            failed,
            "Application",
            &computer,
            "MsiInstaller",
            11708,
            2,
            &["Product: Microsoft Exchange Server -- Installation operation failed."],
        ),
        artefacts::classic_event(
            failed + Duration::seconds(1),
            "Application",
            &computer,
            "MsiInstaller",
            1033,
            4,
            &[
                "Microsoft Exchange Server",
                "15.2.1118.7",
                "1033",
                "1603",
                "Microsoft Corporation",
                "(NULL)",
                "",
            ],
        ),
    ];
    app.extend((1..=6).map(|d| {
        artefacts::classic_event(
            failed - Duration::days(d) + Duration::minutes(40),
            "Application",
            &computer,
            "MSExchange ADAccess",
            2080,
            4,
            &["Process MSEXCHANGEADTOPOLOGYSERVICE.EXE (PID=2912). Exchange Active Directory Provider has discovered the following servers with the following characteristics: DC01.woodgrove.net CDG 1 7 7 1 0 1 1 7 1"],
        )
    }));
    let mut b = b;
    b.file(
        "evtx/Application.evtx",
        "wevtutil epl Application",
        artefacts::evtx(app, 88_412),
    );
    Scenario {
        name,
        description: "Exchange 2019 CU12 runs out of disk space while copying files; the server stays offline with its services disabled.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["disk-space-low"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: b,
    }
}

fn e2016_cu20_resume_action_mismatch() -> Scenario {
    let name = "e2016-cu20-resume-action-mismatch";
    let e = env(Product::E2016, "EX16-NEW", "fabrikam.local", BERLIN, name);
    let version = "15.1.2242.4";
    // A new install stopped in the Mailbox role (Search Foundation timed out) ...
    let mut install = story(&e, version, None, at(2021, 5, 8, 19, 40, 3, 1180), 0);
    install.end = End::Failed(failure(
        Step::Role("MailboxRole"),
        &[
            "Failure configuring SearchFoundation through installconfig.ps1 - Error occurred while configuring Search Foundation for Exchange.System.TimeoutException: Timed out waiting for Admin node to be up and running",
        ],
        "MailboxComponent___1a4b7d0e2f5c4b8a9e3d6c1f0b7a2e45",
    ));
    // ... and the next day an unattended upgrade-mode run is refused.
    let mut retry = story(
        &e,
        version,
        Some(version),
        at(2021, 5, 9, 8, 15, 44, 3302),
        1,
    );
    retry.end = End::Refused(vec![
        "Setup previously failed while performing the action \"Install\". You can't resume setup by performing the action \"BuildToBuildUpgrade\".".into(),
    ]);
    let runs = vec![install, retry];
    let mut b = assemble(&e, &runs, Extras::healthy(e.product));
    let wm = "MailboxComponent___1a4b7d0e2f5c4b8a9e3d6c1f0b7a2e45";
    let key = |role: &'static str, done: bool| RoleKey {
        role,
        configured: done.then(|| version.to_string()),
        unpacked: version.into(),
        watermark: (!done).then(|| wm.to_string()),
        action: (!done).then(|| "Install".to_string()),
    };
    b.file(
        "registry/HKLM_SOFTWARE_Microsoft_ExchangeServer.reg",
        "reg export HKLM\\SOFTWARE\\Microsoft\\ExchangeServer",
        artefacts::exchange_registry(
            e.product,
            version,
            &[
                key("AdminToolsRole", true),
                key("BridgeheadRole", true),
                key("ClientAccessRole", true),
                key("UnifiedMessagingRole", true),
                key("MailboxRole", false),
                key("FrontendTransportRole", false),
                key("CafeRole", false),
            ],
        ),
    );
    Scenario {
        name,
        description: "A new Exchange 2016 CU20 install failed; the retry in upgrade mode is refused because the watermark says Install.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["setup-resume-action-mismatch"],
        forbidden: vec![GENERIC, "search-foundation-config-failed"],
        healthy: false,
        bundle: b,
    }
}

fn e2013_cu23_updatecas_failed() -> Scenario {
    let name = "e2013-cu23-updatecas-failed";
    let e = env(Product::E2013, "EX2013C", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 2);
    let mut f = failure(
        Step::Role("ClientAccessRole"),
        &["Cannot bind argument to parameter 'Path' because it is an empty string."],
        "ClientAccessComponent___4c2f8e1a9b3d4e7f8a6c5b0d9e1f2a3b",
    );
    f.command = Some("$error.Clear();\n          $scriptPath = join-path $RoleBinPath \"UpdateCas.ps1\";\n          & $scriptPath -Verbose\n        ".into());
    last.end = End::Failed(f);
    let when = last.start;
    runs.push(last);
    let mut b = assemble(&e, &runs, Extras::healthy(e.product));
    let t = last_trace(&runs).end.unwrap_or(when) - Duration::minutes(1);
    b.file(
        "setup/UpdateConfigFiles.log",
        "C:\\ExchangeSetupLogs\\UpdateConfigFiles.log",
        crlf(&artefacts::update_config_files_log(
            e.product,
            t,
            &[
                "ClientAccess\\Owa\\web.config",
                "ClientAccess\\ecp\\web.config",
            ],
        )),
    );
    b.file(
        "iis/webconfig/ClientAccess/Owa/web.config",
        "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\Owa\\web.config",
        artefacts::web_config("%ExchangeInstallDir%", "15.0.0.0"),
    );
    Scenario {
        name,
        description: "Exchange 2013 CU23 stops in UpdateCas.ps1; OWA's web.config keeps %ExchangeInstallDir%.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["update-config-files-failed"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: b,
    }
}

fn e2019_cu14_arbitration_mailbox() -> Scenario {
    let name = "e2019-cu14-arbitration-mailbox";
    let e = env(Product::E2019, "EX19-MBX1", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 4);
    let mut f = failure(
        Step::Role("MailboxRole"),
        &["Database is mandatory on UserMailbox. Property Name: Database"],
        "MailboxComponent___e8c2a55f9b1d4f4b8a1d9c3e7f2b6a10",
    );
    f.context = vec![
        "Used domain controller DC01.contoso.com to read object CN=SystemMailbox{e0dc1c29-89c3-4034-b678-e6c29d823ed9},CN=Users,DC=contoso,DC=com.".into(),
    ];
    last.end = End::Failed(f);
    runs.push(last);
    Scenario {
        name,
        description: "Exchange 2019 CU14 stops: an arbitration mailbox points to a database that was removed.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["arbitration-mailbox-invalid"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2016_cu23_database_mount_failed() -> Scenario {
    let name = "e2016-cu23-database-mount-failed";
    let e = env(Product::E2016, "EX16-04", "woodgrove.net", TOKYO, name);
    let (mut runs, mut last) = history(&e, 4);
    let mut f = failure(
        Step::Role("MailboxRole"),
        &[
            "Failed to mount database \"DB01\". Error: An Active Manager operation failed. Error: The database action failed. Error: Operation failed with message: MapiExceptionDatabaseError: Unable to mount database. (hr=0x80004005, ec=1108)",
        ],
        "MailboxComponent___9d1e2b3c4a5f46e7b8c9d0a1b2c3d4e5",
    );
    f.command = Some("$error.Clear();\n          if ($RoleIsDatacenter -ne $true) { Mount-Database -Identity $RoleDatabaseName }\n        ".into());
    last.end = End::Failed(f);
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.manifest = false;
    let mut b = assemble(&e, &runs, x);
    let end = last_trace(&runs).end.unwrap_or(runs[runs.len() - 1].start);
    let computer = format!("{}.{}", e.server, e.domain);
    let at_error = artefacts::utc(end, e.offset) - Duration::seconds(3);
    let app = vec![
        artefacts::classic_event(
            at_error - Duration::seconds(4),
            "Application",
            &computer,
            "ESE",
            454,
            2,
            &[
                "Information Store - DB01 (13484)",
                "DB01: ",
                "-1216 (0xfffffb40)",
            ],
        ),
        artefacts::classic_event(
            at_error,
            "Application",
            &computer,
            "MSExchangeIS",
            9519,
            2,
            &["-1216", "DB01"],
        ),
    ];
    b.file(
        "evtx/Application.evtx",
        "wevtutil epl Application",
        artefacts::evtx(app, 23_118),
    );
    Scenario {
        name,
        description: "Exchange 2016 CU23 stops because the mailbox database will not mount (zip without manifest).",
        product: e.product,
        form: Form::Zip,
        expected: vec!["mailbox-database-not-mounted"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: b,
    }
}

fn e2019_cu13_interrupted_left_offline() -> Scenario {
    let name = "e2019-cu13-interrupted-left-offline";
    let e = env(
        Product::E2019,
        "EX19-EDGE1",
        "tailspintoys.com",
        SYDNEY,
        name,
    );
    let (mut runs, mut last) = history(&e, 3);
    last.end = End::Interrupted(Step::Role("MailboxRole"));
    runs.push(last);
    Scenario {
        name,
        description: "Exchange 2019 CU13 is cut off in the Mailbox step (the server was restarted); ServerWideOffline stays Inactive.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["server-left-offline"],
        forbidden: vec![
            GENERIC,
            "setup-stopped-critical",
            "services-left-disabled-by-setup",
        ],
        healthy: false,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2010_sp3_interrupted_services_disabled() -> Scenario {
    let name = "e2010-sp3-interrupted-services-disabled";
    let e = env(Product::E2010, "EXMBX02", "tailspintoys.com", SYDNEY, name);
    let (mut runs, mut last) = history(&e, 3);
    last.end = End::Interrupted(Step::Install);
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    if let Some(rows) = x.services.as_mut() {
        artefacts::disable_controlled(rows, e.product);
    }
    x.manifest = false;
    Scenario {
        name,
        description: "Exchange 2010 SP3 is cut off while copying files; ServiceControl.ps1 had disabled the services and nothing re-enabled them.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["services-left-disabled-by-setup"],
        forbidden: vec![GENERIC, "setup-stopped-critical", "server-left-offline"],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2016_cu23_ecp_assembly_missing() -> Scenario {
    let name = "e2016-cu23-ecp-assembly-missing";
    let e = env(Product::E2016, "EX16-CAS", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 4);
    last.end = End::Failed(failure(
        Step::Role("CafeRole"),
        &[
            "Could not load file or assembly 'Microsoft.Exchange.HttpRequestFiltering, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35' or one of its dependencies. The system cannot find the file specified.",
        ],
        "CafeComponent___e1130a139a734d90b6c5eec88868fbe9",
    ));
    runs.push(last);
    let mut b = assemble(&e, &runs, Extras::healthy(e.product));
    b.file(
        "system/inventory.csv",
        "Get-ChildItem -Recurse $exinstall",
        artefacts::inventory(
            e.product,
            &["Bin\\Microsoft.Exchange.HttpRequestFiltering.dll"],
        ),
    );
    Scenario {
        name,
        description: "Exchange 2016 CU23 stops configuring the front end: Microsoft.Exchange.HttpRequestFiltering.dll was not copied.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["exchange-assembly-load-failed"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: b,
    }
}

fn e2019_cu14_vdir_already_exists() -> Scenario {
    let name = "e2019-cu14-vdir-already-exists";
    let e = env(Product::E2019, "EX19-CAS2", "fabrikam.local", BERLIN, name);
    let (mut runs, mut last) = history(&e, 4);
    last.end = End::Failed(failure(
        Step::Role("CafeRole"),
        &[
            "The virtual directory 'owa' already exists under 'EX19-CAS2.fabrikam.local/Default Web Site'.",
            "Parameter name: VirtualDirectoryName",
        ],
        "CafeComponent___e1130a139a734d90b6c5eec88868fbe9",
    ));
    runs.push(last);
    Scenario {
        name,
        description: "Exchange 2019 CU14 cannot recreate the OWA virtual directory: IIS still has one without its AD object.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["iis-vdir-setup-failed"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2010_sp3_winrm_500() -> Scenario {
    let name = "e2010-sp3-winrm-500";
    let e = env(Product::E2010, "EXCAS01", "woodgrove.net", UTC, name);
    let (mut runs, mut last) = history(&e, 3);
    last.end = End::Failed(failure(
        Step::Role("ClientAccessRole"),
        &[
            "Connecting to remote server excas01.woodgrove.net failed with the following error message : The WinRM client received an HTTP server error status (500), but the remote service did not include any other information about the cause of the failure. For more information, see the about_Remote_Troubleshooting Help topic.",
        ],
        "ClientAccessRoleSetterComponent___0c8a5e1e8f0e4b44b6a8a7c2f1d3e9b5",
    ));
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    if let Some(rows) = x.services.as_mut() {
        artefacts::disable_controlled(rows, e.product);
    }
    Scenario {
        name,
        description: "Exchange 2010 SP3 stops in the Client Access step: remote PowerShell answers HTTP 500.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["winrm-remote-powershell-failed"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2016_cu23_unrecognised_error() -> Scenario {
    let name = "e2016-cu23-unrecognised-error";
    let e = env(Product::E2016, "EX16-LAB", "tailspintoys.com", SYDNEY, name);
    let (mut runs, mut last) = history(&e, 4);
    last.end = End::Failed(failure(
        Step::Role("MailboxRole"),
        &[
            "The type initializer for 'Microsoft.Exchange.Data.Directory.Globals' threw an exception.",
            "Unable to cast object of type 'System.String' to type 'System.Guid'.",
        ],
        "MailboxComponent___6d72d16b9fd24f6a9dc5b1a8cdc1d53d",
    ));
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.manifest = false;
    Scenario {
        name,
        description: "Exchange 2016 CU23 stops on an error no known pattern matches: the generic rule must quote it (folder, no manifest).",
        product: e.product,
        form: Form::Folder,
        expected: vec![GENERIC],
        forbidden: vec![
            "setup-file-locked",
            "msi-install-failed",
            "ad-not-prepared",
            "exchange-assembly-load-failed",
        ],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2019_cu12_reboot_and_vcredist() -> Scenario {
    let name = "e2019-cu12-reboot-and-vcredist";
    let e = env(Product::E2019, "EX19-MBX3", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 2);
    last.prereqs = vec![
        prereq(
            "RebootPending",
            "Microsoft Exchange Server setup cannot continue because a restart from a previous installation or update is pending.",
        ),
        prereq(
            "VC2013RedistDependencyRequirement",
            "Visual C++ 2013 Redistributable Package is a required component.",
        ),
    ];
    last.end = End::PrereqFailed;
    runs.push(last);
    Scenario {
        name,
        description: "Two independent problems: a restart is pending and the Visual C++ 2013 runtime is missing.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["setup-prereq-pending-reboot", "prereq-vcredist-missing"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, Extras::healthy(e.product)),
    }
}

fn e2013_cu22_installer_cache_and_pending_reboot() -> Scenario {
    let name = "e2013-cu22-installer-cache-and-pending-reboot";
    let e = env(Product::E2013, "EX2013D", "fabrikam.local", BERLIN, name);
    let (mut runs, mut last) = history(&e, 1);
    last.end = End::Failed(failure(
        Step::Uninstall,
        &[
            "Couldn't remove product with code cd981244-e9b8-405a-9026-6aeb9dcef1f1. The installation source for this product is not available. Verify that the source exists and that you can access it. Error code is 1612.",
        ],
        "AllRolesUninstallMsiComponent___7e2d9c4b1a3f45e6b8d0c2a4f6e8b1d3",
    ));
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    if let Some(rows) = x.services.as_mut() {
        artefacts::disable_controlled(rows, e.product);
    }
    // A Windows update installed after the failed CU waits for a restart: a second, unrelated
    // problem the host description shows.
    x.host_json = Some(host_json(&e, true, 528049));
    Scenario {
        name,
        description: "Two independent problems: CU22 cannot remove CU21 (installer cache), and a Windows update installed afterwards awaits a restart.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["msi-installer-cache-missing", "pending-reboot"],
        forbidden: vec![GENERIC, "setup-prereq-pending-reboot"],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2016_cu19_resume_no_services_running() -> Scenario {
    let name = "e2016-cu19-resume-no-services-running";
    let e = env(Product::E2016, "EX16-05", "woodgrove.net", UTC, name);
    let (mut runs, last) = history(&e, 1);
    // The CU20 upgrade was cut off after services were disabled; the resume fails at once.
    let mut cut = last.clone();
    cut.end = End::Interrupted(Step::Install);
    runs.push(cut);
    let mut resume = last;
    resume.start += Duration::hours(15);
    resume.seed ^= 0x77;
    resume.end = End::Failed(failure(
        Step::PreFileCopy,
        &[
            "Exception calling \"Reverse\" with \"1\" argument(s): \"Value cannot be null. Parameter name: array\"",
        ],
        "AllRolesPreFileCopyComponent___2f7e3804a2b340c69e930798211fb8fd",
    ));
    runs.push(resume);
    let mut x = Extras::healthy(e.product);
    if let Some(rows) = x.services.as_mut() {
        artefacts::disable_controlled(rows, e.product);
    }
    Scenario {
        name,
        description: "Exchange 2016 CU20 was interrupted with every service disabled; resuming fails at \"Stopping services\" because none is running.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["resume-no-services-running"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2013_cu23_execution_policy_gpo() -> Scenario {
    let name = "e2013-cu23-execution-policy-gpo";
    let e = env(Product::E2013, "EX2013E", "tailspintoys.com", SYDNEY, name);
    let (mut runs, mut last) = history(&e, 2);
    let mut f = failure(
        Step::PostFileCopy,
        &["AuthorizationManager check failed."],
        "AllRolesPostFileCopyComponent___b5e1c3d7a9f24e6b8c0d2f4a6b8c0e2d",
    );
    f.command = Some("$RoleBinPath\\ServiceControl.ps1 EnableServices Critical ".into());
    last.end = End::Failed(f);
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    if let Some(rows) = x.services.as_mut() {
        artefacts::disable_controlled(rows, e.product);
    }
    Scenario {
        name,
        description: "Exchange 2013 CU23: a GPO execution policy makes ServiceControl.ps1 fail after the file copy; services stay disabled.",
        product: e.product,
        form: Form::Folder,
        expected: vec!["powershell-execution-policy-gpo"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2019_cu14_topology_service_unavailable() -> Scenario {
    let name = "e2019-cu14-topology-service-unavailable";
    let e = env(Product::E2019, "EX19-DAG2", "woodgrove.net", TOKYO, name);
    let (mut runs, mut last) = history(&e, 4);
    let mut f = failure(
        Step::Role("AdminToolsRole"),
        &["Unable to set shared config DC."],
        "AllADRolesCommonServiceControl___ee47ab1c06fb47919398e2e95ed99c6c",
    );
    f.context = vec![
        "An error ocurred while setting shared config DC. Error: Topology Provider coundn't find the Microsoft Exchange Active Directory Topology service on end point 'TopologyClientTcpEndpoint (localhost)'.".into(),
    ];
    last.end = End::Failed(f);
    runs.push(last);
    let mut x = Extras::healthy(e.product);
    x.manifest = false;
    if let Some(rows) = x.services.as_mut() {
        services::set(rows, "MSExchangeADTopology", "Auto", "Stopped");
    }
    Scenario {
        name,
        description: "Exchange 2019 CU14 stops because MSExchangeADTopology is not running when setup looks for a domain controller (zip without manifest).",
        product: e.product,
        form: Form::Zip,
        expected: vec!["ad-topology-unavailable"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: assemble(&e, &runs, x),
    }
}

fn e2016_cu22_windows_update_restart() -> Scenario {
    let name = "e2016-cu22-windows-update-restart";
    let e = env(Product::E2016, "EX16-06", "fabrikam.local", BERLIN, name);
    let (mut runs, mut last) = history(&e, 3);
    last.end = End::Interrupted(Step::Role("MailboxRole"));
    runs.push(last);
    let mut b = assemble(&e, &runs, Extras::healthy(e.product));
    let cut = last_trace(&runs).end.unwrap_or(runs[runs.len() - 1].start);
    let computer = format!("{}.{}", e.server, e.domain);
    let restart = artefacts::utc(cut, e.offset) + Duration::minutes(2);
    let mut sys = artefacts::system_background(&computer, restart);
    sys.push(artefacts::classic_event(
        restart,
        "System",
        &computer,
        "USER32",
        1074,
        4,
        &[
            "C:\\Windows\\system32\\wuauclt.exe (EX16-06)",
            "EX16-06",
            "Operating System: Service pack (Planned)",
            "0x80020010",
            "restart",
            "",
            "NT AUTHORITY\\SYSTEM",
        ],
    ));
    sys.push(artefacts::classic_event(
        restart + Duration::seconds(40),
        "System",
        &computer,
        "EventLog",
        6006,
        4,
        &[],
    ));
    sys.push(artefacts::classic_event(
        restart + Duration::minutes(4),
        "System",
        &computer,
        "EventLog",
        6005,
        4,
        &[],
    ));
    b.file(
        "evtx/System.evtx",
        "wevtutil epl System",
        artefacts::evtx(sys, 51_207),
    );
    Scenario {
        name,
        description: "Exchange 2016 CU22 is cut off in the Mailbox step: Windows Update restarted the server (USER32 1074 in the System log).",
        product: e.product,
        form: Form::Zip,
        expected: vec!["setup-interrupted-by-restart"],
        forbidden: vec![GENERIC, "setup-stopped-critical"],
        healthy: false,
        bundle: b,
    }
}

/// Defender quarantines an Exchange DLL while setup replaces it; setup then cannot open the
/// file. The only problem on the server: the antivirus must come out as the root cause.
fn e2019_cu13_defender_quarantine() -> Scenario {
    let name = "e2019-cu13-defender-quarantine";
    let e = env(Product::E2019, "EX19-07", "contoso.com", EASTERN, name);
    let (mut runs, mut last) = history(&e, 4);
    let dll = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\Microsoft.Exchange.Data.Storage.dll";
    let denied = format!("Access to the path '{dll}' is denied.");
    last.end = End::Failed(failure(
        Step::Role("MailboxRole"),
        &[denied.as_str()],
        "MailboxComponent___5d8f8a7d43e94a0f9d0c2b8bb1b7c6a1",
    ));
    runs.push(last);
    let mut b = assemble(&e, &runs, Extras::healthy(e.product));
    let failed_at = last_trace(&runs).end.unwrap_or(runs[runs.len() - 1].start);
    let computer = format!("{}.{}", e.server, e.domain);
    let detected = artefacts::utc(failed_at, e.offset) - Duration::seconds(7);
    let channel = "Microsoft-Windows-Windows Defender/Operational";
    let defender = |time, id: u16, level: u8, action: &str| evtx_writer::EventSpec {
        provider: "Microsoft-Windows-Windows Defender".into(),
        provider_guid: Some("{11cd958a-c507-4ef3-b3f2-5fd9dfbd2c78}".into()),
        event_id: id,
        level,
        task: Some(0),
        opcode: Some(0),
        keywords: Some(0x8000_0000_0000_0000),
        time,
        channel: channel.into(),
        computer: computer.clone(),
        process_id: 3348,
        thread_id: 5120,
        data: [
            ("Product Name", "Microsoft Defender Antivirus"),
            ("Product Version", "4.18.2205.7"),
            ("Threat Name", "Exploit:Script/ExchgProxyRequest.A"),
            ("Severity Name", "Severe"),
            ("Category Name", "Exploit"),
            ("Path", &format!("file:_{dll}")),
            ("Detection Origin Name", "Local machine"),
            ("Detection Type Name", "Concrete"),
            (
                "Process Name",
                "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\mscorsvw.exe",
            ),
            ("Detection User", "NT AUTHORITY\\SYSTEM"),
            ("Action Name", action),
            ("Engine Version", "AM: 1.1.19300.2, NIS: 1.1.19300.2"),
        ]
        .iter()
        .map(|(k, v)| evtx_writer::DataField::named(*k, *v))
        .collect(),
        ..evtx_writer::EventSpec::default()
    };
    let mut events = vec![
        defender(detected, 1116, 3, "Not Applicable"),
        defender(detected + Duration::seconds(2), 1117, 4, "Quarantine"),
    ];
    // A quiet week before: signature updates only.
    for day in 1..=7 {
        let mut upd = defender(detected - Duration::days(day), 2000, 4, "");
        upd.data = vec![
            evtx_writer::DataField::named("Product Name", "Microsoft Defender Antivirus"),
            evtx_writer::DataField::named("Current Signature Version", "1.367.1322.0"),
        ];
        events.push(upd);
    }
    b.file(
        "evtx/Microsoft-Windows-Windows Defender%4Operational.evtx",
        "wevtutil epl Microsoft-Windows-Windows Defender/Operational",
        artefacts::evtx(events, 14_301),
    );
    Scenario {
        name,
        description: "Exchange 2019 CU13 stops in the Mailbox step: Defender quarantined Microsoft.Exchange.Data.Storage.dll seconds earlier (a false positive), then setup was denied access to it.",
        product: e.product,
        form: Form::Zip,
        expected: vec!["av-detection-exchange-path"],
        forbidden: vec![GENERIC],
        healthy: false,
        bundle: b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_broad_enough() {
        let all = all();
        assert!(all.len() >= 25);
        assert!(all.iter().filter(|s| s.healthy).count() >= 3);
        assert!(all.iter().filter(|s| s.expected.len() >= 2).count() >= 2);
        for p in [
            Product::E2010,
            Product::E2013,
            Product::E2016,
            Product::E2019,
        ] {
            assert!(all.iter().any(|s| s.product == p), "{p:?}");
        }
        assert!(all.iter().any(|s| s.form == Form::Zip));
        assert!(all.iter().any(|s| s.form == Form::Folder));
        assert!(all.iter().any(|s| s.has_manifest()));
        assert!(all.iter().any(|s| !s.has_manifest()));
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len(), "scenario names are unique");
    }

    #[test]
    fn generation_is_deterministic() {
        let a: Vec<Vec<u8>> = all()
            .iter()
            .map(|s| s.bundle.zip_bytes().unwrap())
            .collect();
        let b: Vec<Vec<u8>> = all()
            .iter()
            .map(|s| s.bundle.zip_bytes().unwrap())
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn labels_stay_outside_the_bundle() {
        for s in all() {
            for (path, bytes) in s.bundle.contents() {
                assert!(!path.contains("label"), "{}: {path}", s.name);
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(s.name), "{} names itself in {path}", s.name);
            }
        }
    }
}
