//! Helpers for rule tests: facts built from inline setup logs and rows.

use super::{Context, Rule};
use crate::facts::{Evidence, Fact, FactKind, FactSet, Locator, Position, ServiceState};
use crate::parse::Sink;
use crate::timeline::Clock;

pub const SEED_FAILED_RUN: &str = "[02/12/2012 21:10:01.0002] [0] Starting Microsoft Exchange Server 2010 Setup
[02/12/2012 21:10:01.0010] [0] Setup version: 14.2.247.5.
[02/12/2012 21:15:40.0000] [1] Beginning processing Install-BridgeheadRole
[02/12/2012 21:15:49.0269] [1] [ERROR] Cannot start service MSExchangeServiceHost on computer '.'.
[02/12/2012 21:15:49.0269] [1] [ERROR] The service cannot be started, either because it is disabled or because it has no enabled devices associated with it
[02/12/2012 21:15:49.0270] [1] [ERROR-REFERENCE] Id=BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908 Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup
[02/12/2012 21:15:49.0270] [1] Setup is stopping now because of one or more critical errors.
[02/12/2012 21:15:49.0321] [1] Ending processing Install-BridgeheadRole
[02/12/2012 22:19:30.0147] [0] End of Setup
";

pub const SUCCESSFUL_RUN: &str =
    "[02/12/2012 21:10:01.0002] [0] Starting Microsoft Exchange Server 2010 Setup
[02/12/2012 21:10:01.0010] [0] Setup version: 14.2.247.5.
[02/12/2012 21:15:40.0000] [1] Beginning processing Install-BridgeheadRole
[02/12/2012 21:15:49.0321] [1] Ending processing Install-BridgeheadRole
[02/12/2012 21:30:00.0000] [0] The Exchange Server setup operation completed successfully.
[02/12/2012 21:30:00.0001] [0] End of Setup
";

pub fn facts_from_log(log: &str) -> FactSet {
    let mut sink = Sink::default();
    let mut r = log.as_bytes();
    crate::parse::setup_log::parse_reader(
        &mut r,
        "setup/ExchangeSetup.log",
        1 << 20,
        None,
        &mut sink,
    )
    .expect("test log parses");
    FactSet::new(sink.facts)
}

pub fn with_service(mut facts: FactSet, name: &str, start_mode: &str) -> FactSet {
    facts.facts.push(Fact {
        time: None,
        evidence: Evidence::new(
            Locator::new("system/services.csv", Position::Row(1)),
            format!("{name} StartMode={start_mode}"),
        ),
        kind: FactKind::Service(ServiceState {
            name: name.into(),
            display_name: name.into(),
            start_mode: start_mode.into(),
            state: "Stopped".into(),
            start_name: None,
            path_name: None,
        }),
    });
    facts
}

pub fn push(mut facts: FactSet, fact: Fact) -> FactSet {
    facts.facts.push(fact);
    facts
}

pub fn run_rule(rule: &dyn Rule, facts: &FactSet) -> Vec<crate::facts::Finding> {
    let clock = Clock::utc_assumed();
    rule.check(&Context {
        facts,
        clock: &clock,
    })
}

// ------------------------------------------------------------------------------------------
// Configuration facts (registry, IIS, host) built directly, as the parsers would yield them.
// `seed_config()` mirrors the seed incident (Exchange 2010 SP2 upgrade left half-configured);
// `healthy_config()` is a consistent Exchange 2010 SP2 server with the same artefacts.
// ------------------------------------------------------------------------------------------

pub mod config {
    use crate::facts::{
        AclEntry, AppPool, Evidence, Fact, FactKind, FactSet, FileEntry, FileVersion, HostFacts,
        HttpRedirect, IisApplication, IisAuthentication, IisGlobalModule, IisLocationModules,
        InstallPath, Locator, Position, RoleState, ServiceRegistry, ServiceState, Software,
        UnexpandedToken, WebConfigFile,
    };

    pub const REG: &str = "registry/HKLM_SOFTWARE_Microsoft_ExchangeServer_v14.reg";
    pub const REG_SERVICES: &str = "registry/HKLM_SYSTEM_Services.reg";
    pub const APPHOST: &str = "iis/applicationHost.config";
    pub const SERVICES: &str = "system/services.csv";
    pub const SOFTWARE: &str = "system/software.csv";
    pub const VERSIONS: &str = "system/file-versions.csv";
    pub const INVENTORY: &str = "system/inventory.csv";
    pub const HOST: &str = "system/host.json";
    pub const SEED_INSTALL: &str = "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\";
    pub const SP2: &str = "14.2.247.5";
    pub const EXCHANGE_KEY: &str = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14";

    pub fn fact(locator: Locator, excerpt: impl Into<String>, kind: FactKind) -> Fact {
        Fact {
            time: None,
            evidence: Evidence::new(locator, excerpt),
            kind,
        }
    }

    fn element(e: String) -> Locator {
        Locator::new(APPHOST, Position::Element(e))
    }

    pub fn role(
        name: &str,
        configured: Option<&str>,
        unpacked: Option<&str>,
        watermark: Option<&str>,
        action: Option<&str>,
    ) -> Fact {
        fact(
            Locator::new(REG, Position::Key(format!("{EXCHANGE_KEY}\\{name}"))),
            format!(
                "ConfiguredVersion={configured:?} UnpackedVersion={unpacked:?} Watermark={watermark:?} Action={action:?}"
            ),
            FactKind::RoleState(RoleState {
                role: name.into(),
                major: "v14".into(),
                configured_version: configured.map(Into::into),
                unpacked_version: unpacked.map(Into::into),
                watermark: watermark.map(Into::into),
                action: action.map(Into::into),
            }),
        )
    }

    pub fn install_path(path: &str) -> Fact {
        fact(
            Locator::new(
                REG,
                Position::Key(format!("{EXCHANGE_KEY}\\Setup\\@MsiInstallPath")),
            ),
            format!("\"MsiInstallPath\"=\"{path}\""),
            FactKind::InstallPath(InstallPath {
                major: "v14".into(),
                path: path.into(),
                build: Some(SP2.into()),
            }),
        )
    }

    pub fn file_version(row: u64, path: &str, version: &str) -> Fact {
        fact(
            Locator::new(VERSIONS, Position::Row(row)),
            format!("{path} {version}"),
            FactKind::FileVersion(FileVersion {
                path: path.into(),
                version: version.into(),
            }),
        )
    }

    pub fn file_entry(row: u64, path: &str) -> Fact {
        fact(
            Locator::new(INVENTORY, Position::Row(row)),
            path,
            FactKind::FileEntry(FileEntry {
                path: path.into(),
                size: Some(1024),
                modified: None,
            }),
        )
    }

    /// A services.csv row.
    pub fn service(row: u64, name: &str, display: &str, start_mode: &str, state: &str) -> Fact {
        fact(
            Locator::new(SERVICES, Position::Row(row)),
            format!("{name} ({display}): StartMode={start_mode} State={state}"),
            FactKind::Service(ServiceState {
                name: name.into(),
                display_name: display.into(),
                start_mode: start_mode.into(),
                state: state.into(),
                start_name: Some("LocalSystem".into()),
                path_name: None,
            }),
        )
    }

    /// A service key from the Services registry export.
    pub fn service_reg(name: &str, start: u32, depend_on: &[&str]) -> Fact {
        fact(
            Locator::new(
                REG_SERVICES,
                Position::Key(format!(
                    "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\{name}"
                )),
            ),
            format!("\"Start\"=dword:{start:08x} DependOnService={depend_on:?}"),
            FactKind::ServiceRegistry(ServiceRegistry {
                name: name.into(),
                start: Some(start),
                image_path: None,
                depend_on: depend_on.iter().map(|s| s.to_string()).collect(),
            }),
        )
    }

    /// A web.config (path under the install dir) with `tokens` unexpanded `%ExchangeInstallDir%`
    /// entries starting at line 40: one `WebConfigFile` and one `UnexpandedToken` per entry.
    pub fn web_config(relative: &str, tokens: usize, modules: &[&str]) -> Vec<Fact> {
        let path = format!("iis/webconfig/{relative}");
        let mut out = vec![fact(
            Locator::file(path.clone()),
            format!("{relative}: {tokens} unexpanded token(s)"),
            FactKind::WebConfigFile(WebConfigFile {
                relative: relative.into(),
                token_count: tokens,
                has_backup: false,
                differs_from_backup_only_in_paths: false,
                is_backup: relative.to_ascii_lowercase().ends_with(".bak"),
                modules: modules.iter().map(|s| s.to_string()).collect(),
                secrets: vec![],
            }),
        )];
        for i in 0..tokens {
            let value = format!("file:///%ExchangeInstallDir%bin\\Microsoft.Exchange.Dll{i}.dll");
            out.push(fact(
                Locator::line(path.clone(), 40 + 4 * i as u64),
                format!("<codeBase version=\"14.0.0.0\" href=\"{value}\" />"),
                FactKind::UnexpandedToken(UnexpandedToken {
                    token: "%ExchangeInstallDir%".into(),
                    attribute: "href".into(),
                    value,
                }),
            ));
        }
        out
    }

    pub fn global_module(name: &str, image: &str) -> Fact {
        fact(
            element(format!(
                "configuration/system.webServer/globalModules/add[@name='{name}']"
            )),
            format!("<add name=\"{name}\" image=\"{image}\" />"),
            FactKind::IisGlobalModule(IisGlobalModule {
                name: name.into(),
                image: image.into(),
                pre_condition: None,
            }),
        )
    }

    pub fn location_modules(location: &str, added: &[&str], removed: &[&str]) -> Fact {
        fact(
            element(format!(
                "configuration/location[@path='{location}']/system.webServer/modules"
            )),
            format!("modules added={added:?} removed={removed:?}"),
            FactKind::IisLocationModules(IisLocationModules {
                location: location.into(),
                added: added.iter().map(|s| s.to_string()).collect(),
                removed: removed.iter().map(|s| s.to_string()).collect(),
            }),
        )
    }

    pub fn app_pool(name: &str, identity: Option<&str>, auto_start: Option<bool>) -> Fact {
        fact(
            element(format!(
                "configuration/system.applicationHost/applicationPools/add[@name='{name}']"
            )),
            format!("<add name=\"{name}\" autoStart=\"{auto_start:?}\"> identityType={identity:?}"),
            FactKind::AppPool(AppPool {
                name: name.into(),
                identity_type: identity.map(Into::into),
                auto_start,
                managed_runtime_version: Some("v2.0".into()),
                enable_32bit: Some(false),
            }),
        )
    }

    pub fn application(path: &str, pool: &str, physical: &str) -> Fact {
        fact(
            element(format!(
                "configuration/system.applicationHost/sites/site[@name='Default Web Site']/application[@path='{path}']"
            )),
            format!("<application path=\"{path}\" applicationPool=\"{pool}\">"),
            FactKind::IisApplication(IisApplication {
                site: "Default Web Site".into(),
                path: path.into(),
                app_pool: Some(pool.into()),
                physical_path: Some(physical.into()),
            }),
        )
    }

    pub fn authentication(location: &str, enabled: &[&str], disabled: &[&str]) -> Fact {
        fact(
            element(format!(
                "configuration/location[@path='{location}']/system.webServer/security/authentication"
            )),
            format!("enabled={enabled:?} disabled={disabled:?}"),
            FactKind::IisAuthentication(IisAuthentication {
                location: location.into(),
                enabled: enabled.iter().map(|s| s.to_string()).collect(),
                disabled: disabled.iter().map(|s| s.to_string()).collect(),
            }),
        )
    }

    pub fn redirect(location: &str, enabled: bool) -> Fact {
        fact(
            element(format!(
                "configuration/location[@path='{location}']/system.webServer/httpRedirect"
            )),
            format!("<httpRedirect enabled=\"{enabled}\" />"),
            FactKind::HttpRedirect(HttpRedirect {
                location: location.into(),
                enabled,
                destination: None,
            }),
        )
    }

    pub fn software(row: u64, name: &str, version: &str, publisher: &str) -> Fact {
        fact(
            Locator::new(SOFTWARE, Position::Row(row)),
            format!("\"{name}\",\"{version}\",\"{publisher}\""),
            FactKind::Software(Software {
                name: name.into(),
                version: Some(version.into()),
                publisher: Some(publisher.into()),
                install_date: None,
                source: Some("uninstall".into()),
            }),
        )
    }

    /// One icacls line; `file` is the name under `system/acl/`.
    pub fn acl(file: &str, line: u64, target: &str, principal: &str, rights: &str) -> Fact {
        fact(
            Locator::line(format!("system/acl/{file}"), line),
            format!("{principal}:{rights}"),
            FactKind::AclEntry(AclEntry {
                target: target.into(),
                principal: principal.into(),
                rights: rights.into(),
            }),
        )
    }

    pub fn host(pending_reboot: Option<bool>) -> Fact {
        fact(
            Locator::file(HOST),
            format!("\"pending_reboot\": {pending_reboot:?}"),
            FactKind::Host(HostFacts {
                computer_name: Some("EXCH01".into()),
                os: Some("Windows Server 2008 R2 Standard".into()),
                pending_reboot,
                ..HostFacts::default()
            }),
        )
    }

    /// The web.config files the seed found broken, with the PowerShell one's 212 entries.
    pub const SEED_WEBCONFIGS: &[(&str, usize)] = &[
        ("ClientAccess/PowerShell/web.config", 212),
        ("ClientAccess/Owa/web.config", 143),
        ("ClientAccess/Sync/web.config", 97),
        ("ClientAccess/Autodiscover/web.config", 61),
        ("ClientAccess/ecp/web.config", 118),
        ("ClientAccess/exchweb/ews/web.config", 88),
    ];

    const POOLS: &[(&str, &str, &str)] = &[
        ("/owa", "MSExchangeOWAAppPool", "ClientAccess\\Owa"),
        (
            "/Microsoft-Server-ActiveSync",
            "MSExchangeSyncAppPool",
            "ClientAccess\\Sync",
        ),
        (
            "/PowerShell",
            "MSExchangePowerShellAppPool",
            "ClientAccess\\PowerShell",
        ),
        (
            "/Autodiscover",
            "MSExchangeAutodiscoverAppPool",
            "ClientAccess\\Autodiscover",
        ),
        (
            "/EWS",
            "MSExchangeServicesAppPool",
            "ClientAccess\\exchweb\\ews",
        ),
        ("/ecp", "MSExchangeECPAppPool", "ClientAccess\\ecp"),
        ("/OAB", "DefaultAppPool", "ClientAccess\\OAB"),
    ];

    const INVENTORY_FILES: &[&str] = &[
        "Bin\\ExSetup.exe",
        "Bin\\Store.exe",
        "Bin\\EdgeTransport.exe",
        "Bin\\RemoteExchange.ps1",
        "Bin\\ConnectFunctions.ps1",
        "Bin\\CommonConnectFunctions.ps1",
        "Bin\\ServiceControl.ps1",
        "Bin\\UpdateCas.ps1",
        "Bin\\kerbauth.dll",
        "ClientAccess\\Owa\\auth\\exppw.dll",
        "ClientAccess\\Owa\\auth\\logon.aspx",
        "ClientAccess\\Sync\\web.config",
        "ClientAccess\\Sync\\web.config.bak",
    ];

    /// (key, display, healthy StartMode, healthy State)
    const SERVICES_HEALTHY: &[(&str, &str, &str, &str)] = &[
        (
            "MSExchangeADTopology",
            "Microsoft Exchange Active Directory Topology",
            "Auto",
            "Running",
        ),
        (
            "MSExchangeServiceHost",
            "Microsoft Exchange Service Host",
            "Auto",
            "Running",
        ),
        (
            "MSExchangeIS",
            "Microsoft Exchange Information Store",
            "Auto",
            "Running",
        ),
        (
            "MSExchangeMailSubmission",
            "Microsoft Exchange Mail Submission",
            "Auto",
            "Running",
        ),
        (
            "MSExchangeRepl",
            "Microsoft Exchange Replication Service",
            "Auto",
            "Running",
        ),
        (
            "MSExchangeTransport",
            "Microsoft Exchange Transport",
            "Auto",
            "Running",
        ),
        (
            "MSExchangeSearch",
            "Microsoft Exchange Search Indexer",
            "Auto",
            "Running",
        ),
        (
            "msftesql-Exchange",
            "Microsoft Search (Exchange Server)",
            "Manual",
            "Running",
        ),
        (
            "MSExchangePOP3",
            "Microsoft Exchange POP3",
            "Manual",
            "Stopped",
        ),
        (
            "W3SVC",
            "World Wide Web Publishing Service",
            "Auto",
            "Running",
        ),
        (
            "WAS",
            "Windows Process Activation Service",
            "Manual",
            "Running",
        ),
        ("IISADMIN", "IIS Admin Service", "Auto", "Running"),
    ];

    /// The parts both sets share; `seed` picks the broken variant of each.
    fn build(seed: bool) -> FactSet {
        let mut f: Vec<Fact> = vec![install_path(SEED_INSTALL)];
        // Registry: roles.
        if seed {
            f.push(role("MailboxRole", None, Some(SP2), None, None));
            f.push(role("ClientAccessRole", None, Some(SP2), None, None));
            f.push(role(
                "HubTransportRole",
                None,
                Some(SP2),
                Some("BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908"),
                Some("BuildToBuildUpgrade"),
            ));
        } else {
            for r in ["MailboxRole", "ClientAccessRole", "HubTransportRole"] {
                f.push(role(r, Some(SP2), Some(SP2), None, None));
            }
        }
        f.push(role("AdminTools", Some(SP2), Some(SP2), None, None));
        // Binaries.
        for (i, b) in [
            "Bin\\ExSetup.exe",
            "Bin\\Store.exe",
            "Bin\\eseutil.exe",
            "Bin\\isinteg.exe",
        ]
        .iter()
        .enumerate()
        {
            f.push(file_version(
                i as u64 + 1,
                &format!("{SEED_INSTALL}{b}"),
                "14.02.0247.005",
            ));
        }
        // web.config files.
        for (rel, n) in SEED_WEBCONFIGS {
            f.extend(web_config(rel, if seed { *n } else { 0 }, &[]));
        }
        f.extend(web_config(
            "ClientAccess/Sync/web.config.bak",
            if seed { 97 } else { 0 },
            &[],
        ));
        // applicationHost.config.
        f.push(global_module(
            "exppw",
            &format!("{SEED_INSTALL}ClientAccess\\Owa\\auth\\exppw.dll"),
        ));
        f.push(global_module(
            "kerbauth",
            &format!("{SEED_INSTALL}Bin\\kerbauth.dll"),
        ));
        f.push(location_modules(
            "Default Web Site/owa",
            if seed { &[] } else { &["exppw"] },
            &[],
        ));
        f.push(location_modules(
            "Default Web Site/PowerShell",
            &["kerbauth"],
            &[],
        ));
        for (path, pool, phys) in POOLS {
            f.push(application(path, pool, &format!("{SEED_INSTALL}{phys}")));
            let auto = if seed && *pool == "MSExchangeSyncAppPool" {
                Some(false)
            } else {
                Some(true)
            };
            f.push(app_pool(pool, Some("LocalSystem"), auto));
        }
        f.push(authentication(
            "Default Web Site/Microsoft-Server-ActiveSync",
            &["basic"],
            &["windows", "anonymous", "digest", "clientCertificateMapping"],
        ));
        f.push(authentication(
            "Default Web Site/Microsoft-Server-ActiveSync/Proxy",
            &["windows"],
            &["basic", "anonymous"],
        ));
        f.push(redirect(
            "Default Web Site/Microsoft-Server-ActiveSync",
            false,
        ));
        // Inventory.
        let mut row = 0;
        for p in INVENTORY_FILES {
            row += 1;
            f.push(file_entry(row, &format!("{SEED_INSTALL}{p}")));
        }
        // A real inventory lists thousands of files; rules trust absences only in a long one.
        for i in 0..200 {
            row += 1;
            f.push(file_entry(
                row,
                &format!("{SEED_INSTALL}Bin\\Microsoft.Exchange.Filler{i}.dll"),
            ));
        }
        row += 1;
        f.push(file_entry(
            row,
            &format!(
                "{SEED_INSTALL}RemoteScripts\\ConsoleInitialize.ps1{}",
                if seed { ".txt" } else { "" }
            ),
        ));
        // ACLs.
        let ca = format!("{SEED_INSTALL}ClientAccess");
        let auth = format!("{SEED_INSTALL}ClientAccess\\Owa\\auth");
        f.push(acl(
            "ClientAccess.txt",
            1,
            &ca,
            "NT AUTHORITY\\SYSTEM",
            "(OI)(CI)(F)",
        ));
        f.push(acl(
            "ClientAccess.txt",
            2,
            &ca,
            "BUILTIN\\Administrators",
            "(OI)(CI)(F)",
        ));
        if !seed {
            f.push(acl(
                "ClientAccess.txt",
                3,
                &ca,
                "NT AUTHORITY\\Authenticated Users",
                "(OI)(CI)(RX)",
            ));
        }
        f.push(acl(
            "owa-auth.txt",
            1,
            &auth,
            "NT AUTHORITY\\SYSTEM",
            "(I)(OI)(CI)(F)",
        ));
        f.push(acl(
            "owa-auth.txt",
            2,
            &auth,
            "NT AUTHORITY\\Authenticated Users",
            if seed { "(R)" } else { "(OI)(CI)(RX)" },
        ));
        // Services.
        for (i, (name, display, mode, state)) in SERVICES_HEALTHY.iter().enumerate() {
            let (mode, state) = match (seed, *name) {
                (true, "MSExchangeServiceHost" | "msftesql-Exchange") => ("Disabled", "Stopped"),
                (true, "MSExchangeSearch" | "MSExchangeMailSubmission" | "MSExchangeRepl") => {
                    ("Auto", "Stopped")
                }
                _ => (*mode, *state),
            };
            f.push(service(i as u64 + 1, name, display, mode, state));
        }
        f.push(service_reg("MSExchangeSearch", 2, &["msftesql-Exchange"]));
        f.push(service_reg(
            "msftesql-Exchange",
            if seed { 4 } else { 3 },
            &["RPCSS"],
        ));
        f.push(service_reg("W3SVC", 2, &["WAS", "HTTP"]));
        // Software.
        f.push(software(
            1,
            "Microsoft Exchange Server 2010",
            SP2,
            "Microsoft Corporation",
        ));
        if seed {
            f.push(software(
                2,
                "Symantec Endpoint Protection",
                "12.1.671.4971",
                "Symantec Corporation",
            ));
            f.push(service(
                SERVICES_HEALTHY.len() as u64 + 1,
                "SepMasterService",
                "Symantec Endpoint Protection",
                "Auto",
                "Running",
            ));
        }
        f.push(host(Some(false)));
        FactSet::new(f)
    }

    /// The seed incident as configuration facts.
    pub fn seed_config() -> FactSet {
        build(true)
    }

    /// A consistent Exchange 2010 SP2 server with the same artefacts.
    pub fn healthy_config() -> FactSet {
        build(false)
    }

    /// `facts` with every fact for which `drop` is true removed.
    pub fn without(mut facts: FactSet, drop: impl Fn(&Fact) -> bool) -> FactSet {
        facts.facts.retain(|f| !drop(f));
        facts
    }

    /// `facts` plus `more`.
    pub fn with(mut facts: FactSet, more: impl IntoIterator<Item = Fact>) -> FactSet {
        facts.facts.extend(more);
        facts
    }
}
