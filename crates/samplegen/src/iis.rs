//! IIS: `iis/applicationHost.config` and the Client Access `web.config` files under
//! `iis/webconfig/` (path under the install dir kept, as the collector copies them).
//!
//! What the seed incident changes (exchange-facts B4/B5, seed text):
//! - web.config `codeBase` hrefs keep setup's `file:///%ExchangeInstallDir%bin\…` template form
//!   (the Client Access role was never configured), in all six vdirs; PowerShell has 212 of them;
//!   `ClientAccess\Sync\web.config.bak` sits beside the live file, with the same tokens;
//! - `exppw` is registered in `globalModules` but not enabled for `Default Web Site/owa`;
//! - DefaultAppPool runs as ApplicationPoolIdentity instead of LocalSystem, and
//!   MSExchangeSyncAppPool has `autoStart="false"`.
//!
//! The healthy twin is the same server with every path expanded, exppw enabled for OWA and every
//! pool as Exchange 2010 SP2 configures it. ActiveSync's authentication (Basic only) and its
//! disabled HTTP redirect are the same in both: the seed checked them and found them right.

use crate::binaries::{self, SECURITY};

/// One web.config (or its `.bak`) as collected.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Path under the install dir with `/`, e.g. `ClientAccess/Sync/web.config`.
    pub relative: String,
    /// Folder of the vdir as IIS names it (its physical path under the install dir), e.g.
    /// `ClientAccess\sync`: ASP.NET events cite this spelling.
    pub iis_folder: &'static str,
    /// The application's virtual path, e.g. `/Microsoft-Server-ActiveSync`.
    pub app_path: &'static str,
    pub text: String,
    /// 1-based line of the `codeBase` of Microsoft.Exchange.Security, when the file has one.
    pub security_line: Option<usize>,
    /// Number of `codeBase` entries.
    pub codebases: usize,
}

/// A Client Access virtual directory with a web.config.
struct Vdir {
    /// Folder under the install dir as it is on disk (the bundle path keeps it).
    folder: &'static str,
    /// The same folder as IIS's physical path spells it.
    iis_folder: &'static str,
    app_path: &'static str,
    /// Which Bin assemblies the file binds (by name after `Microsoft.Exchange.`).
    wants: fn(&str) -> bool,
}

/// Assemblies every Client Access application binds.
fn core(n: &str) -> bool {
    [
        "Common",
        "Collections",
        "Configuration.",
        "Core.Strings",
        "Data",
        "Diagnostics",
        "Directory",
        "Extensibility.Internal",
        "Isam.Interop",
        "Net",
        "ObjectModel",
        "Rpc",
        "Security",
        "SoapWebClient",
        "Sqm",
        "StoreProvider",
        "ThrottlingService.Client",
        "Win32",
        "WorkingSet",
    ]
    .iter()
    .any(|p| n == p.trim_end_matches('.') || n.starts_with(p))
}

const VDIRS: &[Vdir] = &[
    Vdir {
        folder: "ClientAccess/Owa",
        iis_folder: "ClientAccess\\owa",
        app_path: "/owa",
        wants: |n| core(n) || n.starts_with("Clients.") || n.starts_with("InfoWorker."),
    },
    Vdir {
        folder: "ClientAccess/ecp",
        iis_folder: "ClientAccess\\ecp",
        app_path: "/ecp",
        wants: |n| {
            core(n)
                || n.starts_with("Management")
                || n.starts_with("Clients.")
                || n.starts_with("Provisioning")
                || n == "PowerSharp"
                || n == "HelpProvider"
        },
    },
    Vdir {
        folder: "ClientAccess/exchweb/ews",
        iis_folder: "ClientAccess\\exchweb\\EWS",
        app_path: "/EWS",
        wants: |n| {
            core(n)
                || n.starts_with("Services")
                || n.starts_with("InfoWorker.")
                || n == "WebServices"
                || n.starts_with("UM.UMCommon")
                || n.starts_with("MessagingPolicies.Rules")
        },
    },
    Vdir {
        folder: "ClientAccess/Autodiscover",
        iis_folder: "ClientAccess\\Autodiscover",
        app_path: "/Autodiscover",
        wants: |n| core(n) || n == "Autodiscover" || n == "InfoWorker.Common",
    },
    Vdir {
        folder: "ClientAccess/Sync",
        iis_folder: "ClientAccess\\sync",
        app_path: "/Microsoft-Server-ActiveSync",
        wants: |n| {
            core(n)
                || n == "AirSync"
                || n == "InfoWorker.Common"
                || n.starts_with("Transport.Sync")
                || n == "TextConverters"
        },
    },
    Vdir {
        folder: "ClientAccess/PowerShell",
        iis_folder: "ClientAccess\\PowerShell",
        app_path: "/PowerShell",
        // Everything but Unified Messaging, setup and a few service executables: 212 entries,
        // the seed's "over 200 path entries".
        wants: |n| {
            !(n.starts_with("UM")
                || n.starts_with("Setup.")
                || n == "Imap4Service"
                || n == "Pop3Service"
                || n == "EseRepl")
        },
    },
];

const TOKEN_PKT: &str = "31bf3856ad364e35";

/// The assemblies (full names) a vdir binds, in directory order.
fn assemblies_of(v: &Vdir) -> Vec<&'static str> {
    binaries::assemblies()
        .into_iter()
        .filter(|a| {
            a.strip_prefix("Microsoft.Exchange.")
                .is_some_and(|short| (v.wants)(short))
        })
        .collect()
}

/// Builds a file line by line so the line of an element is known.
#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    security_line: Option<usize>,
    codebases: usize,
}

impl Lines {
    fn push(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }
    fn all(&mut self, text: &str) {
        for l in text.lines() {
            self.push(l);
        }
    }
}

fn app_settings(out: &mut Lines, settings: &[(&str, &str)]) {
    out.push("  <appSettings>");
    for (k, v) in settings {
        out.push(format!("    <add key=\"{k}\" value=\"{v}\" />"));
    }
    out.push("  </appSettings>");
}

fn compilation(out: &mut Lines, assemblies: &[&str]) {
    out.push("    <compilation defaultLanguage=\"c#\" debug=\"false\">");
    out.push("      <assemblies>");
    for a in [
        "System.DirectoryServices, Version=2.0.0.0, Culture=neutral, PublicKeyToken=B03F5F7F11D50A3A",
        "System.Web.Extensions, Version=3.5.0.0, Culture=neutral, PublicKeyToken=31BF3856AD364E35",
    ] {
        out.push(format!("        <add assembly=\"{a}\" />"));
    }
    for a in assemblies {
        out.push(format!(
            "        <add assembly=\"{a}, Version=14.0.0.0, Culture=neutral, PublicKeyToken={TOKEN_PKT}\" />"
        ));
    }
    out.push("      </assemblies>");
    out.push("    </compilation>");
}

/// `<runtime>` with one `dependentAssembly` per assembly; `dir` is what precedes `bin\` in the
/// href: the install path, or `%ExchangeInstallDir%` where setup never expanded it.
fn runtime(out: &mut Lines, assemblies: &[&str], dir: &str) {
    out.push("  <runtime>");
    out.push("    <gcServer enabled=\"true\" />");
    out.push("    <assemblyBinding xmlns=\"urn:schemas-microsoft-com:asm.v1\">");
    for a in assemblies {
        out.push("      <dependentAssembly>");
        out.push(format!(
            "        <assemblyIdentity name=\"{a}\" publicKeyToken=\"{TOKEN_PKT}\" culture=\"neutral\" />"
        ));
        out.push(format!(
            "        <codeBase version=\"14.0.0.0\" href=\"file:///{dir}bin\\{a}.dll\" />"
        ));
        out.codebases += 1;
        if *a == SECURITY {
            out.security_line = Some(out.lines.len());
        }
        out.push("      </dependentAssembly>");
    }
    out.push("    </assemblyBinding>");
    out.push("  </runtime>");
}

/// WCF bindings of EWS / Autodiscover: one per scheme, transport and SOAP version.
fn service_model(out: &mut Lines, service: &str, contract: &str, prefix: &str) {
    const SCHEMES: &[&str] = &[
        "Anonymous",
        "Basic",
        "Negotiate",
        "Ntlm",
        "Digest",
        "WSSecurity",
        "WSSecuritySymmetricKey",
        "WSSecurityX509Cert",
    ];
    let mut bindings = Vec::new();
    for scheme in SCHEMES {
        for transport in ["Http", "Https"] {
            bindings.push((
                format!("{prefix}{scheme}{transport}Binding"),
                *scheme,
                transport,
            ));
        }
    }
    out.push("  <system.serviceModel>");
    out.push("    <serviceHostingEnvironment aspNetCompatibilityEnabled=\"true\" />");
    out.push("    <behaviors>");
    out.push("      <serviceBehaviors>");
    out.push(format!(
        "        <behavior name=\"{prefix}ServiceBehavior\">"
    ));
    out.push("          <serviceMetadata httpGetEnabled=\"true\" httpsGetEnabled=\"true\" />");
    out.push("          <serviceDebug includeExceptionDetailInFaults=\"false\" />");
    out.push("          <serviceThrottling maxConcurrentCalls=\"2147483647\" maxConcurrentSessions=\"2147483647\" maxConcurrentInstances=\"2147483647\" />");
    out.push("        </behavior>");
    out.push("      </serviceBehaviors>");
    out.push("    </behaviors>");
    out.push("    <services>");
    out.push(format!(
        "      <service name=\"{service}\" behaviorConfiguration=\"{prefix}ServiceBehavior\">"
    ));
    for (name, scheme, transport) in &bindings {
        let address = if scheme.starts_with("WSSecurity") {
            format!("{}/{}", scheme.to_lowercase(), transport.to_lowercase())
        } else {
            String::new()
        };
        out.push(format!(
            "        <endpoint address=\"{address}\" binding=\"customBinding\" bindingConfiguration=\"{name}\" contract=\"{contract}\" />"
        ));
    }
    out.push("      </service>");
    out.push("    </services>");
    out.push("    <bindings>");
    out.push("      <customBinding>");
    for (name, scheme, transport) in &bindings {
        out.push(format!("        <binding name=\"{name}\">"));
        if scheme.starts_with("WSSecurity") {
            let mode = match *scheme {
                "WSSecuritySymmetricKey" => "IssuedTokenForCertificate",
                "WSSecurityX509Cert" => "MutualCertificate",
                _ => "UserNameOverTransport",
            };
            out.push(format!(
                "          <security authenticationMode=\"{mode}\" messageSecurityVersion=\"WSSecurity11WSTrust13WSSecureConversation13WSSecurityPolicy12BasicSecurityProfile10\" />"
            ));
        }
        out.push("          <textMessageEncoding messageVersion=\"Soap11\">");
        out.push("            <readerQuotas maxStringContentLength=\"2147483647\" maxArrayLength=\"2147483647\" />");
        out.push("          </textMessageEncoding>");
        let auth = match *scheme {
            "Basic" | "Negotiate" | "Ntlm" | "Digest" => *scheme,
            _ => "Anonymous",
        };
        let element = if *transport == "Https" {
            "httpsTransport"
        } else {
            "httpTransport"
        };
        out.push(format!(
            "          <{element} maxReceivedMessageSize=\"2147483647\" authenticationScheme=\"{auth}\" />"
        ));
        out.push("        </binding>");
    }
    out.push("      </customBinding>");
    out.push("    </bindings>");
    out.push("  </system.serviceModel>");
}

fn system_web(out: &mut Lines, assemblies: &[&str], auth: &str, extra: &str) {
    out.push("  <system.web>");
    compilation(out, assemblies);
    out.push(format!("    <authentication mode=\"{auth}\" />"));
    out.push("    <customErrors mode=\"On\" />");
    out.push("    <globalization requestEncoding=\"utf-8\" responseEncoding=\"utf-8\" />");
    out.all(extra);
    out.push("  </system.web>");
}

fn build(v: &Vdir, dir: &str) -> Lines {
    let assemblies = assemblies_of(v);
    let mut out = Lines::default();
    out.push("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    out.push("<configuration>");
    match v.app_path {
        "/owa" => {
            out.push("  <configSections>");
            out.push("    <section name=\"owa\" type=\"System.Configuration.NameValueSectionHandler, System, Version=2.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089\" />");
            out.push("  </configSections>");
            app_settings(
                &mut out,
                &[
                    ("IsPreCheckinApp", "false"),
                    ("ShowDebugInformation", "false"),
                    ("OWAHelpUrl", "/owa/help/"),
                    ("MaxBreadcrumbs", "20"),
                    ("ProxyToLocalHost", "false"),
                ],
            );
            system_web(
                &mut out,
                &assemblies,
                "None",
                "    <httpRuntime maxRequestLength=\"35000\" requestValidationMode=\"2.0\" />\n    <sessionState mode=\"Off\" />\n    <pages enableSessionState=\"false\" enableViewState=\"false\" enableViewStateMac=\"false\" validateRequest=\"false\" />",
            );
            out.all("  <system.webServer>\n    <modules>\n      <add name=\"OwaModule\" type=\"Microsoft.Exchange.Clients.Owa.Core.OwaModule, Microsoft.Exchange.Clients.Owa, Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35\" />\n    </modules>\n    <handlers>\n      <add name=\"OwaEventHandler\" path=\"ev.owa\" verb=\"GET,POST\" type=\"Microsoft.Exchange.Clients.Owa.Core.OwaEventHandlerFactory, Microsoft.Exchange.Clients.Owa, Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35\" preCondition=\"integratedMode\" />\n    </handlers>\n  </system.webServer>");
        }
        "/ecp" => {
            app_settings(
                &mut out,
                &[
                    ("ShowDebugInformation", "false"),
                    ("ProxyRequestTimeout", "00:03:00"),
                    ("LiveIdLogoutUrl", ""),
                ],
            );
            system_web(
                &mut out,
                &assemblies,
                "None",
                "    <httpRuntime maxRequestLength=\"10240\" />\n    <siteMap defaultProvider=\"EcpSiteMapProvider\" enabled=\"true\" />\n    <pages validateRequest=\"true\" enableViewStateMac=\"true\" viewStateEncryptionMode=\"Always\" />",
            );
        }
        "/EWS" => {
            app_settings(
                &mut out,
                &[
                    ("MaxSubscriptionsPerUser", "20"),
                    ("WCFCallTimeoutInSeconds", "300"),
                    ("EWSTimeoutSeconds", "300"),
                ],
            );
            system_web(
                &mut out,
                &assemblies,
                "Windows",
                "    <httpRuntime maxRequestLength=\"13280\" />\n    <webServices>\n      <protocols>\n        <remove name=\"Documentation\" />\n      </protocols>\n    </webServices>",
            );
            service_model(
                &mut out,
                "Microsoft.Exchange.Services.Wcf.EWSService",
                "Microsoft.Exchange.Services.Wcf.IEWSContract",
                "EWS",
            );
        }
        "/Autodiscover" => {
            app_settings(
                &mut out,
                &[
                    ("LiveIdBasicAuthModule.AllowLiveIDOnlyAuth", "false"),
                    ("UseCache", "true"),
                ],
            );
            system_web(
                &mut out,
                &assemblies,
                "Windows",
                "    <httpRuntime maxRequestLength=\"65536\" />",
            );
            service_model(
                &mut out,
                "Microsoft.Exchange.Autodiscover.WCF.AutodiscoverDiscoveryService",
                "Microsoft.Exchange.Autodiscover.WCF.IAutodiscover",
                "Autodiscover",
            );
        }
        "/Microsoft-Server-ActiveSync" => {
            app_settings(
                &mut out,
                &[
                    ("MaxWorkerThreadsPerProc", "10"),
                    ("MaxRequestsQueued", "500"),
                    ("MaxCollectionsToLog", "100"),
                    ("MaxNumOfFolders", "1000"),
                    ("MaxDocumentDataSize", "10240000"),
                    ("MaxRetrievedItems", "100"),
                    ("BadItemReportingEnabled", "true"),
                    ("SendWatsonReport", "true"),
                    ("ProxyHandshakeTimeout", "00:00:15"),
                    ("ProxyConnectionPoolConnectionLimit", "50000"),
                ],
            );
            system_web(
                &mut out,
                &assemblies,
                "Windows",
                "    <httpRuntime maxRequestLength=\"10240\" />",
            );
            out.all("  <system.webServer>\n    <handlers>\n      <add name=\"AirSyncHandler\" path=\"Proxy\" verb=\"*\" type=\"Microsoft.Exchange.AirSync.AirSyncHandler, Microsoft.Exchange.AirSync, Version=14.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35\" preCondition=\"integratedMode\" />\n    </handlers>\n  </system.webServer>");
        }
        _ => {
            // PowerShell: remote PowerShell through the WinRM IIS extension.
            app_settings(
                &mut out,
                &[
                    ("PowerShellMaxConcurrency", "18"),
                    ("PowerShellMaxCmdlets", "0"),
                ],
            );
            system_web(
                &mut out,
                &assemblies,
                "Windows",
                "    <httpRuntime maxRequestLength=\"65536\" />",
            );
        }
    }
    runtime(&mut out, &assemblies, dir);
    out.push("</configuration>");
    out
}

/// The six Client Access web.config files, plus the seed's `Sync/web.config.bak`.
pub fn web_configs(install: &str, broken: bool) -> Vec<WebConfig> {
    let dir = if broken {
        "%ExchangeInstallDir%"
    } else {
        install
    };
    let mut out = Vec::new();
    for v in VDIRS {
        let lines = build(v, dir);
        let text = lines.lines.join("\n") + "\n";
        let w = WebConfig {
            relative: format!("{}/web.config", v.folder),
            iis_folder: v.iis_folder,
            app_path: v.app_path,
            text,
            security_line: lines.security_line,
            codebases: lines.codebases,
        };
        if broken && v.app_path == "/Microsoft-Server-ActiveSync" {
            let mut bak = w.clone();
            bak.relative.push_str(".bak");
            out.push(w);
            out.push(bak);
        } else {
            out.push(w);
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// applicationHost.config
// ------------------------------------------------------------------------------------------

/// An Exchange 2010 application of Default Web Site: (path, pool, folder under the install dir
/// or `None` for an absolute physical path).
const APPLICATIONS: &[(&str, &str, &str)] = &[
    ("/owa", "MSExchangeOWAAppPool", "ClientAccess\\owa"),
    ("/ecp", "MSExchangeECPAppPool", "ClientAccess\\ecp"),
    (
        "/EWS",
        "MSExchangeServicesAppPool",
        "ClientAccess\\exchweb\\EWS",
    ),
    (
        "/Autodiscover",
        "MSExchangeAutodiscoverAppPool",
        "ClientAccess\\Autodiscover",
    ),
    (
        "/Microsoft-Server-ActiveSync",
        "MSExchangeSyncAppPool",
        "ClientAccess\\sync",
    ),
    ("/OAB", "MSExchangeOABAppPool", "ClientAccess\\OAB"),
    (
        "/PowerShell",
        "MSExchangePowerShellAppPool",
        "ClientAccess\\PowerShell",
    ),
];

fn pool(name: &str, identity: &str, auto_start: bool, extra_pm: &str) -> String {
    format!(
        "                <add name=\"{name}\" autoStart=\"{auto_start}\" managedRuntimeVersion=\"v2.0\" managedPipelineMode=\"Integrated\">\n                    <processModel identityType=\"{identity}\"{extra_pm} />\n                    <recycling>\n                        <periodicRestart time=\"00:00:00\" />\n                    </recycling>\n                    <failure rapidFailProtection=\"false\" />\n                </add>\n"
    )
}

/// `%windir%\System32\inetsrv\config\applicationHost.config` of an IIS 7.5 server with Exchange
/// 2010 SP2's Client Access role.
pub fn application_host(install: &str, broken: bool) -> String {
    let mut pools = String::new();
    pools.push_str(&format!(
        "                <add name=\"DefaultAppPool\" managedRuntimeVersion=\"v2.0\">\n                    <processModel identityType=\"{}\" />\n                </add>\n",
        if broken {
            "ApplicationPoolIdentity"
        } else {
            "LocalSystem"
        }
    ));
    pools.push_str("                <add name=\"Classic .NET AppPool\" managedRuntimeVersion=\"v2.0\" managedPipelineMode=\"Classic\" />\n");
    for name in [
        "MSExchangeOWAAppPool",
        "MSExchangeECPAppPool",
        "MSExchangeAutodiscoverAppPool",
        "MSExchangeServicesAppPool",
        "MSExchangeSyncAppPool",
        "MSExchangeOABAppPool",
        "MSExchangePowerShellAppPool",
    ] {
        let auto_start = !(broken && name == "MSExchangeSyncAppPool");
        let extra = if name == "MSExchangePowerShellAppPool" {
            " loadUserProfile=\"true\""
        } else {
            " idleTimeout=\"00:00:00\" pingingEnabled=\"false\""
        };
        pools.push_str(&pool(name, "LocalSystem", auto_start, extra));
    }

    let mut apps = String::new();
    for (path, pool, folder) in APPLICATIONS {
        apps.push_str(&format!(
            "                <application path=\"{path}\" applicationPool=\"{pool}\">\n                    <virtualDirectory path=\"/\" physicalPath=\"{install}{folder}\" />\n                </application>\n"
        ));
    }

    let owa_modules = if broken {
        String::new()
    } else {
        "            <modules>\n                <add name=\"exppw\" />\n            </modules>\n"
            .to_string()
    };

    APPHOST_TEMPLATE
        .replace("{INSTALL}", install)
        .replace("{POOLS}", &pools)
        .replace("{APPLICATIONS}", &apps)
        .replace("{OWA_MODULES}", &owa_modules)
}

/// IIS 7.5's shipped applicationHost.config, trimmed to the sections Exchange touches, with the
/// Exchange 2010 additions. Placeholders: `{INSTALL}` (MsiInstallPath, trailing `\`), `{POOLS}`,
/// `{APPLICATIONS}`, `{OWA_MODULES}`.
const APPHOST_TEMPLATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!--

    IIS configuration sections.

    For schema documentation, see
    %windir%\system32\inetsrv\config\schema\IIS_schema.xml.

    Please make a backup of this file before making any changes to it.

-->

<configuration>

    <!--

        The <configSections> section controls the registration of sections.
        Section is the basic unit of deployment, locking, searching and
        containment for configuration settings.

    -->

    <configSections>
        <sectionGroup name="system.applicationHost">
            <section name="applicationPools" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="configHistory" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="customMetadata" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="listenerAdapters" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="log" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="sites" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="webLimits" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
        </sectionGroup>

        <sectionGroup name="system.webServer">
            <section name="asp" overrideModeDefault="Deny" />
            <section name="caching" overrideModeDefault="Allow" />
            <section name="defaultDocument" overrideModeDefault="Allow" />
            <section name="directoryBrowse" overrideModeDefault="Allow" />
            <section name="globalModules" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="handlers" overrideModeDefault="Deny" />
            <section name="httpCompression" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="httpErrors" overrideModeDefault="Allow" />
            <section name="httpLogging" overrideModeDefault="Deny" />
            <section name="httpProtocol" overrideModeDefault="Allow" />
            <section name="httpRedirect" overrideModeDefault="Allow" />
            <section name="isapiFilters" allowDefinition="MachineToApplication" overrideModeDefault="Deny" />
            <section name="modules" allowDefinition="MachineToApplication" overrideModeDefault="Deny" />
            <section name="serverRuntime" overrideModeDefault="Deny" />
            <section name="staticContent" overrideModeDefault="Allow" />
            <section name="urlCompression" overrideModeDefault="Allow" />
            <section name="validation" overrideModeDefault="Allow" />
            <sectionGroup name="security">
                <section name="access" overrideModeDefault="Deny" />
                <sectionGroup name="authentication">
                    <section name="anonymousAuthentication" overrideModeDefault="Deny" />
                    <section name="basicAuthentication" overrideModeDefault="Deny" />
                    <section name="clientCertificateMappingAuthentication" overrideModeDefault="Deny" />
                    <section name="digestAuthentication" overrideModeDefault="Deny" />
                    <section name="iisClientCertificateMappingAuthentication" overrideModeDefault="Deny" />
                    <section name="windowsAuthentication" overrideModeDefault="Deny" />
                </sectionGroup>
                <section name="authorization" overrideModeDefault="Allow" />
                <section name="ipSecurity" overrideModeDefault="Deny" />
                <section name="isapiCgiRestriction" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
                <section name="requestFiltering" overrideModeDefault="Allow" />
            </sectionGroup>
        </sectionGroup>
    </configSections>

    <configProtectedData>
        <providers>
            <add name="IISWASOnlyRsaProvider" type="" description="Uses RsaCryptoServiceProvider to encrypt and decrypt" keyContainerName="iisWasKey" cspProviderName="" useMachineContainer="true" useOAEP="false" />
            <add name="IISWASOnlyAesProvider" type="Microsoft.ApplicationHost.AesProtectedConfigurationProvider" description="Uses an AES session key to encrypt and decrypt" keyContainerName="iisConfigurationKey" cspProviderName="" useOAEP="false" useMachineContainer="true" sessionKey="AQIAAA5mAAAApAAAzR6tPeHkgnjrSq4HxBBzJ5FwX8Vrb0bPdf1zQv2aJt8=" />
        </providers>
    </configProtectedData>

    <system.applicationHost>

        <applicationPools>
{POOLS}                <applicationPoolDefaults>
                    <processModel identityType="ApplicationPoolIdentity" loadUserProfile="true" setProfileEnvironment="false" />
                </applicationPoolDefaults>
        </applicationPools>

        <!--

          The <listenerAdapters> section defines the protocols with which the
          Windows Process Activation Service (WAS) binds.

        -->

        <listenerAdapters>
            <add name="http" />
            <add name="net.tcp" identity="S-1-5-80-3579033775-2824656752-1522793541-1960352512-462907086" />
            <add name="net.pipe" identity="S-1-5-80-2943419899-937267781-4189664001-1229628381-3982115073" />
        </listenerAdapters>

        <log>
            <centralBinaryLogFile enabled="true" directory="%SystemDrive%\inetpub\logs\LogFiles" />
            <centralW3CLogFile enabled="true" directory="%SystemDrive%\inetpub\logs\LogFiles" />
        </log>

        <sites>
            <site name="Default Web Site" id="1" serverAutoStart="true">
                <application path="/" applicationPool="DefaultAppPool">
                    <virtualDirectory path="/" physicalPath="%SystemDrive%\inetpub\wwwroot" />
                    <virtualDirectory path="/Exchange" physicalPath="{INSTALL}ClientAccess\owa" />
                    <virtualDirectory path="/Exchweb" physicalPath="{INSTALL}ClientAccess\owa" />
                    <virtualDirectory path="/Public" physicalPath="{INSTALL}ClientAccess\owa" />
                </application>
{APPLICATIONS}                <bindings>
                    <binding protocol="http" bindingInformation="*:80:" />
                    <binding protocol="https" bindingInformation="*:443:" />
                    <binding protocol="net.tcp" bindingInformation="808:*" />
                    <binding protocol="net.pipe" bindingInformation="*" />
                </bindings>
            </site>
            <siteDefaults>
                <logFile logFormat="W3C" directory="%SystemDrive%\inetpub\logs\LogFiles" />
                <traceFailedRequestsLogging directory="%SystemDrive%\inetpub\logs\FailedReqLogFiles" />
            </siteDefaults>
            <applicationDefaults applicationPool="DefaultAppPool" />
            <virtualDirectoryDefaults allowSubDirConfig="true" />
        </sites>

        <webLimits />

    </system.applicationHost>

    <system.webServer>

        <asp />

        <caching enabled="true" enableKernelCache="true">
        </caching>

        <defaultDocument enabled="true">
            <files>
                <add value="Default.htm" />
                <add value="Default.asp" />
                <add value="index.htm" />
                <add value="index.html" />
                <add value="iisstart.htm" />
                <add value="default.aspx" />
            </files>
        </defaultDocument>

        <directoryBrowse enabled="false" />

        <globalModules>
            <add name="UriCacheModule" image="%windir%\System32\inetsrv\cachuri.dll" />
            <add name="FileCacheModule" image="%windir%\System32\inetsrv\cachfile.dll" />
            <add name="TokenCacheModule" image="%windir%\System32\inetsrv\cachtokn.dll" />
            <add name="HttpCacheModule" image="%windir%\System32\inetsrv\cachhttp.dll" />
            <add name="DynamicCompressionModule" image="%windir%\System32\inetsrv\compdyn.dll" />
            <add name="StaticCompressionModule" image="%windir%\System32\inetsrv\compstat.dll" />
            <add name="DefaultDocumentModule" image="%windir%\System32\inetsrv\defdoc.dll" />
            <add name="DirectoryListingModule" image="%windir%\System32\inetsrv\dirlist.dll" />
            <add name="ProtocolSupportModule" image="%windir%\System32\inetsrv\protsup.dll" />
            <add name="HttpRedirectionModule" image="%windir%\System32\inetsrv\redirect.dll" />
            <add name="StaticFileModule" image="%windir%\System32\inetsrv\static.dll" />
            <add name="AnonymousAuthenticationModule" image="%windir%\System32\inetsrv\authanon.dll" />
            <add name="CertificateMappingAuthenticationModule" image="%windir%\System32\inetsrv\authcert.dll" />
            <add name="BasicAuthenticationModule" image="%windir%\System32\inetsrv\authbas.dll" />
            <add name="WindowsAuthenticationModule" image="%windir%\System32\inetsrv\authsspi.dll" />
            <add name="DigestAuthenticationModule" image="%windir%\System32\inetsrv\authmd5.dll" />
            <add name="RequestFilteringModule" image="%windir%\System32\inetsrv\modrqflt.dll" />
            <add name="CustomErrorModule" image="%windir%\System32\inetsrv\custerr.dll" />
            <add name="IsapiFilterModule" image="%windir%\System32\inetsrv\filter.dll" />
            <add name="HttpLoggingModule" image="%windir%\System32\inetsrv\loghttp.dll" />
            <add name="RequestMonitorModule" image="%windir%\System32\inetsrv\iisreqs.dll" />
            <add name="IsapiModule" image="%windir%\System32\inetsrv\isapi.dll" />
            <add name="ManagedEngine64" image="%windir%\Microsoft.NET\Framework64\v2.0.50727\webengine.dll" preCondition="integratedMode,runtimeVersionv2.0,bitness64" />
            <add name="ManagedEngine" image="%windir%\Microsoft.NET\Framework\v2.0.50727\webengine.dll" preCondition="integratedMode,runtimeVersionv2.0,bitness32" />
            <add name="ConfigurationValidationModule" image="%windir%\System32\inetsrv\validcfg.dll" />
            <add name="WSMan" image="%windir%\system32\wsmsvc.dll" />
            <add name="exppw" image="{INSTALL}ClientAccess\Owa\auth\exppw.dll" />
            <add name="kerbauth" image="{INSTALL}Bin\kerbauth.dll" />
        </globalModules>

        <handlers accessPolicy="Read, Script">
            <add name="PageHandlerFactory-Integrated" path="*.aspx" verb="GET,HEAD,POST,DEBUG" type="System.Web.UI.PageHandlerFactory" preCondition="integratedMode" />
            <add name="SimpleHandlerFactory-Integrated" path="*.ashx" verb="GET,HEAD,POST,DEBUG" type="System.Web.UI.SimpleHandlerFactory" preCondition="integratedMode" />
            <add name="WebServiceHandlerFactory-Integrated" path="*.asmx" verb="GET,HEAD,POST,DEBUG" type="System.Web.Services.Protocols.WebServiceHandlerFactory, System.Web.Services, Version=2.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a" preCondition="integratedMode,runtimeVersionv2.0" />
            <add name="svc-Integrated" path="*.svc" verb="*" type="System.ServiceModel.Activation.HttpHandler, System.ServiceModel, Version=3.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089" preCondition="integratedMode,runtimeVersionv2.0" />
            <add name="StaticFile" path="*" verb="*" modules="StaticFileModule,DefaultDocumentModule,DirectoryListingModule" resourceType="Either" requireAccess="Read" />
        </handlers>

        <httpCompression directory="%SystemDrive%\inetpub\temp\IIS Temporary Compressed Files">
            <scheme name="gzip" dll="%Windir%\system32\inetsrv\gzip.dll" />
            <staticTypes>
                <add mimeType="text/*" enabled="true" />
                <add mimeType="application/javascript" enabled="true" />
                <add mimeType="*/*" enabled="false" />
            </staticTypes>
        </httpCompression>

        <httpErrors lockAttributes="allowAbsolutePathsWhenDelegated,defaultPath">
            <error statusCode="401" prefixLanguageFilePath="%SystemDrive%\inetpub\custerr" path="401.htm" />
            <error statusCode="403" prefixLanguageFilePath="%SystemDrive%\inetpub\custerr" path="403.htm" />
            <error statusCode="404" prefixLanguageFilePath="%SystemDrive%\inetpub\custerr" path="404.htm" />
            <error statusCode="500" prefixLanguageFilePath="%SystemDrive%\inetpub\custerr" path="500.htm" />
        </httpErrors>

        <httpLogging dontLog="false" />

        <httpProtocol>
            <customHeaders>
                <clear />
                <add name="X-Powered-By" value="ASP.NET" />
            </customHeaders>
            <redirectHeaders>
                <clear />
            </redirectHeaders>
        </httpProtocol>

        <httpRedirect enabled="false" />

        <isapiFilters />

        <modules>
            <add name="HttpCacheModule" lockItem="true" />
            <add name="DynamicCompressionModule" lockItem="true" />
            <add name="StaticCompressionModule" lockItem="true" />
            <add name="DefaultDocumentModule" lockItem="true" />
            <add name="DirectoryListingModule" lockItem="true" />
            <add name="IsapiFilterModule" lockItem="true" />
            <add name="ProtocolSupportModule" lockItem="true" />
            <add name="HttpRedirectionModule" lockItem="true" />
            <add name="StaticFileModule" lockItem="true" />
            <add name="AnonymousAuthenticationModule" lockItem="true" />
            <add name="CertificateMappingAuthenticationModule" lockItem="true" />
            <add name="BasicAuthenticationModule" lockItem="true" />
            <add name="WindowsAuthenticationModule" lockItem="true" />
            <add name="DigestAuthenticationModule" lockItem="true" />
            <add name="RequestFilteringModule" lockItem="true" />
            <add name="CustomErrorModule" lockItem="true" />
            <add name="HttpLoggingModule" lockItem="true" />
            <add name="RequestMonitorModule" lockItem="true" />
            <add name="IsapiModule" lockItem="true" />
            <add name="ConfigurationValidationModule" lockItem="true" />
            <add name="OutputCache" type="System.Web.Caching.OutputCacheModule" preCondition="managedHandler" />
            <add name="Session" type="System.Web.SessionState.SessionStateModule" preCondition="managedHandler" />
            <add name="WindowsAuthentication" type="System.Web.Security.WindowsAuthenticationModule" preCondition="managedHandler" />
            <add name="FormsAuthentication" type="System.Web.Security.FormsAuthenticationModule" preCondition="managedHandler" />
            <add name="DefaultAuthentication" type="System.Web.Security.DefaultAuthenticationModule" preCondition="managedHandler" />
            <add name="RoleManager" type="System.Web.Security.RoleManagerModule" preCondition="managedHandler" />
            <add name="UrlAuthorization" type="System.Web.Security.UrlAuthorizationModule" preCondition="managedHandler" />
            <add name="AnonymousIdentification" type="System.Web.Security.AnonymousIdentificationModule" preCondition="managedHandler" />
            <add name="Profile" type="System.Web.Profile.ProfileModule" preCondition="managedHandler" />
            <add name="UrlMappingsModule" type="System.Web.UrlMappingsModule" preCondition="managedHandler" />
            <add name="ServiceModel" type="System.ServiceModel.Activation.HttpModule, System.ServiceModel, Version=3.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089" preCondition="managedHandler,runtimeVersionv2.0" />
        </modules>

        <security>

            <access sslFlags="None" />

            <applicationDependencies>
                <application name="Active Server Pages" groupId="ASP" />
            </applicationDependencies>

            <authentication>

                <anonymousAuthentication enabled="true" userName="IUSR" />

                <basicAuthentication enabled="false" />

                <clientCertificateMappingAuthentication enabled="false" />

                <digestAuthentication enabled="false" />

                <iisClientCertificateMappingAuthentication enabled="false">
                </iisClientCertificateMappingAuthentication>

                <windowsAuthentication enabled="false">
                    <providers>
                        <add value="Negotiate" />
                        <add value="NTLM" />
                    </providers>
                </windowsAuthentication>

            </authentication>

            <authorization>
                <add accessType="Allow" users="*" />
            </authorization>

            <ipSecurity allowUnlisted="true" />

            <isapiCgiRestriction>
                <add path="%windir%\Microsoft.NET\Framework64\v2.0.50727\aspnet_isapi.dll" allowed="true" groupId="ASP.NET v2.0.50727" description="ASP.NET v2.0.50727" />
                <add path="%windir%\Microsoft.NET\Framework\v2.0.50727\aspnet_isapi.dll" allowed="true" groupId="ASP.NET v2.0.50727" description="ASP.NET v2.0.50727" />
            </isapiCgiRestriction>

            <requestFiltering>
                <fileExtensions allowUnlisted="true" applyToWebDAV="true">
                    <add fileExtension=".asax" allowed="false" />
                    <add fileExtension=".config" allowed="false" />
                    <add fileExtension=".cs" allowed="false" />
                </fileExtensions>
                <verbs allowUnlisted="true" applyToWebDAV="true" />
                <hiddenSegments applyToWebDAV="true">
                    <add segment="web.config" />
                    <add segment="bin" />
                    <add segment="App_code" />
                    <add segment="App_Data" />
                </hiddenSegments>
            </requestFiltering>

        </security>

        <serverRuntime />

        <staticContent lockAttributes="isDocFooterFileName">
            <mimeMap fileExtension=".css" mimeType="text/css" />
            <mimeMap fileExtension=".htm" mimeType="text/html" />
            <mimeMap fileExtension=".html" mimeType="text/html" />
            <mimeMap fileExtension=".js" mimeType="application/x-javascript" />
            <mimeMap fileExtension=".xml" mimeType="text/xml" />
        </staticContent>

        <urlCompression />

        <validation />

    </system.webServer>
    <location path="" overrideMode="Allow">
        <system.webServer>
            <modules>
                <add name="ScriptModule-3.5" type="System.Web.Handlers.ScriptModule, System.Web.Extensions, Version=3.5.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35" preCondition="managedHandler" />
            </modules>
        </system.webServer>
    </location>
    <location path="Default Web Site/owa">
        <system.webServer>
{OWA_MODULES}            <security>
                <authentication>
                    <anonymousAuthentication enabled="false" />
                    <basicAuthentication enabled="true" />
                    <digestAuthentication enabled="false" />
                    <windowsAuthentication enabled="false" />
                </authentication>
                <access sslFlags="Ssl, Ssl128" />
            </security>
        </system.webServer>
    </location>
    <location path="Default Web Site/ecp">
        <system.webServer>
            <security>
                <authentication>
                    <anonymousAuthentication enabled="false" />
                    <basicAuthentication enabled="true" />
                    <digestAuthentication enabled="false" />
                    <windowsAuthentication enabled="false" />
                </authentication>
                <access sslFlags="Ssl, Ssl128" />
            </security>
        </system.webServer>
    </location>
    <location path="Default Web Site/EWS">
        <system.webServer>
            <security>
                <authentication>
                    <anonymousAuthentication enabled="false" />
                    <basicAuthentication enabled="false" />
                    <digestAuthentication enabled="false" />
                    <windowsAuthentication enabled="true" />
                </authentication>
                <access sslFlags="Ssl, Ssl128" />
            </security>
        </system.webServer>
    </location>
    <location path="Default Web Site/Autodiscover">
        <system.webServer>
            <security>
                <authentication>
                    <anonymousAuthentication enabled="false" />
                    <basicAuthentication enabled="true" />
                    <digestAuthentication enabled="false" />
                    <windowsAuthentication enabled="true" />
                </authentication>
                <access sslFlags="Ssl, Ssl128" />
            </security>
        </system.webServer>
    </location>
    <location path="Default Web Site/Microsoft-Server-ActiveSync">
        <system.webServer>
            <security>
                <authentication>
                    <anonymousAuthentication enabled="false" />
                    <basicAuthentication enabled="true" />
                    <clientCertificateMappingAuthentication enabled="false" />
                    <digestAuthentication enabled="false" />
                    <windowsAuthentication enabled="false" />
                </authentication>
                <access sslFlags="Ssl, Ssl128" />
            </security>
            <httpRedirect enabled="false" />
        </system.webServer>
    </location>
    <location path="Default Web Site/OAB">
        <system.webServer>
            <security>
                <authentication>
                    <anonymousAuthentication enabled="false" />
                    <windowsAuthentication enabled="true" />
                </authentication>
            </security>
        </system.webServer>
    </location>
    <location path="Default Web Site/PowerShell">
        <system.webServer>
            <modules>
                <add name="kerbauth" />
            </modules>
            <security>
                <authentication>
                    <anonymousAuthentication enabled="true" />
                    <basicAuthentication enabled="false" />
                    <windowsAuthentication enabled="false" />
                </authentication>
            </security>
        </system.webServer>
    </location>
    <location path="Default Web Site/Exchange">
        <system.webServer>
            <httpRedirect enabled="true" destination="/owa" exactDestination="false" childOnly="false" httpResponseStatus="Found" />
        </system.webServer>
    </location>
    <location path="Default Web Site/Exchweb">
        <system.webServer>
            <httpRedirect enabled="true" destination="/owa" exactDestination="false" childOnly="false" httpResponseStatus="Found" />
        </system.webServer>
    </location>
    <location path="Default Web Site/Public">
        <system.webServer>
            <httpRedirect enabled="true" destination="/owa" exactDestination="false" childOnly="false" httpResponseStatus="Found" />
        </system.webServer>
    </location>

</configuration>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALL: &str = "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\";

    #[test]
    fn powershell_has_the_seeds_212_tokens() {
        let files = web_configs(INSTALL, true);
        let ps = files
            .iter()
            .find(|w| w.relative == "ClientAccess/PowerShell/web.config")
            .unwrap();
        assert_eq!(ps.codebases, 212);
        assert_eq!(
            ps.text.matches("file:///%ExchangeInstallDir%bin\\").count(),
            212
        );
    }

    #[test]
    fn security_line_is_the_codebase_line() {
        for w in web_configs(INSTALL, true) {
            let Some(n) = w.security_line else {
                continue;
            };
            let line = w.text.lines().nth(n - 1).unwrap();
            assert!(
                line.contains("<codeBase") && line.contains("Microsoft.Exchange.Security.dll"),
                "{}: {line}",
                w.relative
            );
        }
    }

    #[test]
    fn healthy_files_have_no_token_and_broken_ones_no_install_path() {
        for w in web_configs(INSTALL, false) {
            assert!(!w.text.contains("%ExchangeInstallDir%"), "{}", w.relative);
            assert!(w.text.contains(&format!("file:///{INSTALL}bin\\")));
        }
        for w in web_configs(INSTALL, true) {
            assert!(!w.text.contains("file:///D:"), "{}", w.relative);
        }
    }

    #[test]
    fn apphost_variants_differ_only_where_the_seed_says() {
        let good = application_host(INSTALL, false);
        let bad = application_host(INSTALL, true);
        assert!(good.contains("<add name=\"exppw\" />"));
        assert!(!bad.contains("<add name=\"exppw\" />"));
        assert!(bad.contains("name=\"MSExchangeSyncAppPool\" autoStart=\"false\""));
        assert!(good.contains("name=\"MSExchangeSyncAppPool\" autoStart=\"true\""));
        assert!(!good.contains("{"), "placeholder left");
    }
}
