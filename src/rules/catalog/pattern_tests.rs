//! Every built-in declarative rule, tested on lines it must recognise and on near misses it must
//! leave alone (healthy prerequisite lines, the same words elsewhere, an earlier run that a
//! later successful run superseded). A rule file without an entry here fails the suite.

use crate::facts::{Event, Evidence, Fact, FactKind, FactSet, Locator, Position, SetupLine};
use crate::parse::Sink;
use crate::rules::testing::run_rule;
use crate::rules::{InterestBuilder, Rule, pattern};
use std::collections::BTreeMap;

/// An event: (provider, id, data values joined with ` | `).
pub(super) type Ev = (&'static str, u32, &'static str);

struct Case {
    id: &'static str,
    /// Lines (text after `[timestamp] [level] `) of the last run that must make the rule fire.
    log: &'static [&'static str],
    /// (bundle path, raw line) of other setup text files that must make it fire.
    text: &'static [(&'static str, &'static str)],
    /// (provider, event id, data values joined with ` | `) that must make it fire; rules read
    /// from events have their cases, near misses included, in `pattern_event_tests.rs`.
    events: &'static [Ev],
    /// Lines of the last run that must not.
    not: &'static [&'static str],
}

const CASES: &[Case] = &[
    // Rules written for the real setup-log excerpts (issue 14), each tried on other builds'
    // wordings and languages, and on the near misses that share their words.
    Case {
        id: "msi-folder-access-denied",
        log: &[
            "[ERROR] Installing product G:\\exchangeserver.msi failed. Schwerwiegender Fehler bei der Installation. Error code is 1603. Last error reported by the MSI package is 'The installer has insufficient privileges to access this directory: C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FrontEnd\\HttpProxy\\owa\\auth\\15.1.1913.  The installation cannot continue.'.",
            "[ERROR] Installing product D:\\EXCHANGESERVER.msi failed. Fatal error during installation. Error code is 1603. Last error reported by the MSI package is 'Das Installationsprogramm hat keine ausreichenden Berechtigungen für den Zugriff auf dieses Verzeichnis: C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin.'.",
        ],
        text: &[
            (
                "setup/ExchangeSetup.msilog",
                "MSI (s) (E8:1C) [10:29:41:123]: Product: Microsoft Exchange Server -- Error 1303. The installer has insufficient privileges to access this directory: C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\Owa.",
            ),
            (
                "setup/ExchangeSetup.msilog",
                "MSI (s) (E8:1C) [10:29:41:120]: Note: 1: 1303 2: C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\Owa\\",
            ),
        ],
        events: &[],
        not: &[
            "[ERROR] Installing product G:\\exchangeserver.msi failed. Fatal error during installation. Error code is 1603. Last error reported by the MSI package is 'Error writing to file: C:\\x.dll.'.",
            "Installing a new product. Package: G:\\exchangeserver.msi. Property values: DISABLEERRORREPORTING=1",
            "[WARNING] Error 13030. Unrelated.",
        ],
    },
    Case {
        id: "mmc-found-twice-on-path",
        log: &[
            "0.  ErrorRecord: Cannot convert 'System.Object[]' to the type 'System.String' required by parameter 'Destination'. Specified method is not supported.",
            "[ERROR] Cannot convert 'System.Object[]' to the type 'System.String' required by parameter 'Destination'. Specified method is not supported.",
            "1. ErrorRecord: System.Management.Automation.ParameterBindingException: Impossible de convertir « System.Object[] » en type « System.String » requis par le paramètre 'Destination'. La méthode spécifiée n'est pas prise en charge.",
        ],
        text: &[],
        events: &[],
        not: &[
            // The same binding error on another parameter: appcmd output given to -Message.
            "0. ErrorRecord: Cannot convert 'System.Object[]' to the type 'System.String' required by parameter 'Message'. Specified method is not supported.",
            "Processing component 'Admin Tools Configuration' (Configuring the server.).",
        ],
    },
    Case {
        id: "email-address-policy-invalid",
        log: &[
            "[ERROR] The e-mail address policy object must have exactly one primary e-mail address with the prefix \"FAXMAKER\". Property Name:",
            "604. ErrorRecord: Microsoft.Exchange.Data.DataValidationException: The e-mail address policy object must have exactly one primary e-mail address with the prefix \"FAXMAKER\". Property Name:",
        ],
        text: &[],
        events: &[],
        not: &[
            "Processing object \"smtpDomain.com\".",
            "[WARNING] The e-mail address policy \"Default Policy\" has not been applied.",
        ],
    },
    Case {
        id: "owa-mailbox-policy-conflict",
        log: &[
            "[ERROR] Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException: Active Directory operation failed on dc1.contoso.com. The object 'CN=Default,CN=OWA Mailbox Policies,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com' already exists.",
            "0.  ErrorRecord: Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException: Fehler beim Active Directory-Vorgang auf dc1.contoso.com. Das Objekt 'CN=Default,CN=OWA Mailbox Policies,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com' ist bereits vorhanden.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Used domain controller dc1.contoso.com to read object CN=Default,CN=OWA Mailbox Policies,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com.",
            "[ERROR] Active Directory operation failed on dc1. The object 'CN=Default,CN=Mobile Mailbox Policies,CN=Contoso' already exists.",
        ],
    },
    Case {
        id: "fms-service-start-failed",
        log: &[
            "[ERROR] Service 'FMS' failed to reach status 'Running' on this server.",
            "[ERROR] Der Dienst 'FMS' hat den Status 'Running' auf diesem Server nicht erreicht.",
            "[ERROR] Cannot start service FMS on computer '.'.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Service 'FMS' reached status 'Running' on this server.",
            "[ERROR] Service 'MSExchangeFrontendTransport' failed to reach status 'Running' on this server.",
        ],
    },
    Case {
        id: "transport-service-start-failed",
        log: &[
            "[ERROR] Service 'MSExchangeTransport' failed to reach status 'Running' on this server.",
            "[ERROR] サービス 'MSExchangeTransport' は状態 'Running' に到達できませんでした。",
            "[ERROR] Cannot start service MSExchangeTransport on computer '.'.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Service 'MSExchangeTransport' reached status 'Running' on this server.",
            "[ERROR] Service 'MSExchangeTransportLogSearch' failed to reach status 'Running' on this server.",
            "[ERROR] Service 'MSExchangeFrontendTransport' failed to reach status 'Running' on this server.",
        ],
    },
    Case {
        id: "setup-resume-action-mismatch",
        log: &[
            "[ERROR] Setup previously failed while performing the action \"Install\". You can't resume setup by performing the action \"BuildToBuildUpgrade\".",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:InstallWatermark] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "setup-recover-server-required",
        log: &[
            "[ERROR] The Exchange Server is in an inconsistent state. Only disaster recovery mode is available. Please use Setup /m:RecoverServer to recover this Exchange server.",
        ],
        text: &[],
        events: &[],
        not: &["The installation mode is set to: 'BuildToBuildUpgrade'."],
    },
    Case {
        id: "setup-prereq-pending-reboot",
        log: &[
            "Evaluated [Rule:RebootPending] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00.0156250]",
            "Failed [Rule:RebootPending] [Message:Microsoft Exchange Server setup cannot continue because a restart from a previous installation or update is pending.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:RebootPending] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00.0156250]",
            "Evaluated [Rule:PendingRebootWindowsComponents] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "prereq-dotnet-missing",
        log: &[
            "[ERROR] This computer requires .NET Framework 4.8 (https://support.microsoft.com/kb/4503548).",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:MinimumFrameworkNotInstalled] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "prereq-vcredist-missing",
        log: &[
            "Failed [Rule:VC2013RedistDependencyRequirement] [Message:Visual C++ 2013 Redistributable Package is a required component.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:VC2013RedistDependencyRequirement] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "prereq-url-rewrite-missing",
        log: &[
            "Failed [Rule:IISURLRewriteNotInstalled] [Message:The 'IIS URL rewrite module' isn't installed on this computer and needs to be installed before Exchange Setup can begin.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Setting:IISURLRewriteVersion] [HasException:False] [Value:\"7.2.1993\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
            "Evaluated [Rule:IISURLRewriteNotInstalled] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "prereq-ucma-missing",
        log: &[
            "Failed [Rule:UcmaRedistMsi] [Message:The Unified Communications Managed API 4.0, Core Runtime 64-bit isn't installed on this computer.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:UcmaRedistMsi] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "prereq-windows-feature-missing",
        log: &[
            "[ERROR] The 'IIS 6 WMI Compatibility' component is required. Install the component via Server Manager.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:WinRMIISExtensionNotInstalled] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "ad-not-prepared",
        log: &[
            "[ERROR] Setup encountered a problem while validating the state of Active Directory: Exchange organization-level objects haven't been created, and setup can't create them because the local computer isn't in the same domain and site as the schema master. See the Exchange setup log for more information on this error.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:SchemaUpdateRequired] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "ad-newer-than-setup",
        log: &[
            "[ERROR] Setup encountered a problem while validating the state of Active Directory: The Active Directory organization configuration version (16222) is higher than Setup's version(16213). Therefore, PrepareAD can't be executed.",
        ],
        text: &[],
        events: &[],
        not: &["Organization Configuration Update Required Status : 'False'."],
    },
    Case {
        id: "setup-insufficient-permissions",
        log: &[
            "Failed [Rule:GlobalServerInstall] [Message:You must be a member of the 'Organization Management' role group or a member of the 'Enterprise Admins' group to continue.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Setting:ExOrgAdmin] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "ad-access-denied",
        log: &[
            "[ERROR] Active Directory operation failed on DC01.contoso.com. This error is not retriable. Additional information: Insufficient access rights to perform the operation. Active directory response: 00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0",
        ],
        text: &[],
        events: &[],
        not: &[
            "Used domain controller DC01.contoso.com to read object CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com.",
        ],
    },
    Case {
        id: "setup-file-locked",
        log: &[
            "[ERROR] Access to the path 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FIP-FS\\Data\\Configuration.xml' is denied.",
        ],
        text: &[(
            "setup/ExchangeSetup.msilog",
            "MSI (s) (A0:9C) [10:12:33:123]: Product: Microsoft Exchange Server -- Error 1310. Error writing to file: C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\Microsoft.Exchange.Data.Common.dll. Verify that you have access to that directory.",
        )],
        events: &[],
        not: &[
            "Copying file 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FIP-FS\\Data\\Configuration.xml'.",
        ],
    },
    Case {
        id: "msi-installer-cache-missing",
        log: &[
            "[ERROR] Couldn't remove product with code cd981244-e9b8-405a-9026-6aeb9dcef1f1. The installation source for this product is not available. Verify that the source exists and that you can access it. Error code is 1612.",
        ],
        text: &[(
            "setup/ExchangeSetup.msilog",
            "MSI (s) (84:C8) [02:11:45:101]: Couldn't find local patch 'C:\\WINDOWS\\Installer\\33502bc.msp'. Looking for it at its source.",
        )],
        events: &[],
        not: &["Removing product with code cd981244-e9b8-405a-9026-6aeb9dcef1f1."],
    },
    Case {
        id: "msi-install-failed",
        log: &[
            "[ERROR] Installing product D:\\exchangeserver.msi failed. Fatal error during installation. Error code is 1603. Last error reported by the MSI package is 'The installer has encountered an unexpected error installing this package.'.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Installing a new product. Package: D:\\exchangeserver.msi. Property values: DEFAULTLANGUAGENAME=ENU",
        ],
    },
    Case {
        id: "disk-space-low",
        log: &["[ERROR] There is not enough space on the disk."],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Setting:FreeDiskSpace] [HasException:False] [Value:\"42981\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "arbitration-mailbox-invalid",
        log: &["[ERROR] Database is mandatory on UserMailbox. Property Name: Database"],
        text: &[],
        events: &[],
        not: &[
            "Searching objects \"SystemMailbox{e0dc1c29-89c3-4034-b678-e6c29d823ed9}\" of type \"ADUser\" under the root \"$null\".",
        ],
    },
    Case {
        id: "mailbox-database-not-mounted",
        log: &[
            "[ERROR] Failed to mount database \"DB01\". Error: An Active Manager operation failed. Error: The database action failed.",
        ],
        text: &[],
        events: &[],
        not: &["Mounting database \"DB01\"."],
    },
    Case {
        id: "iis-vdir-setup-failed",
        log: &[
            "[ERROR] The virtual directory 'owa' already exists under 'EX01.contoso.com/Default Web Site'.",
        ],
        text: &[],
        events: &[],
        not: &["Creating virtual directory 'owa' under 'EX01.contoso.com/Default Web Site'."],
    },
    Case {
        id: "winrm-remote-powershell-failed",
        log: &[
            "[ERROR] Connecting to remote server EX01.contoso.com failed with the following error message : The WinRM client received an HTTP server error status (500), but the remote service did not include any other information about the cause of the failure.",
        ],
        text: &[],
        events: &[],
        not: &["Connecting to remote server EX01.contoso.com."],
    },
    Case {
        id: "ad-topology-unavailable",
        log: &[
            "[ERROR] Unable to set shared config DC.",
            "An error ocurred while setting shared config DC. Error: Topology Provider coundn't find the Microsoft Exchange Active Directory Topology service on end point 'TopologyClientTcpEndpoint (localhost)'.",
        ],
        text: &[],
        events: &[],
        not: &["Setup will use the domain controller 'DC01.contoso.com'."],
    },
    Case {
        id: "schema-import-failed",
        log: &[
            "[ERROR] There was an error while running 'ldifde.exe' to import the schema file 'C:\\Windows\\Temp\\ExchangeSetup\\Setup\\Data\\PostExchange2003_schema80.ldf'. The error code is: 8245. More details can be found in the error file: 'C:\\Users\\admin\\AppData\\Local\\Temp\\ldif.err'",
        ],
        text: &[],
        events: &[],
        not: &["Running ldifde.exe to import the schema file 'PostExchange2003_schema80.ldf'."],
    },
    Case {
        id: "ad-wellknown-object-invalid",
        log: &[
            "[ERROR] The well-known object entry B:32:C262A929D691B74A9E068728F8F842EA:CN=Organization Management\\0ADEL:6d6bfa5c-2d13-4d8b-9f4e-b4c7ff3a3d6f,CN=Deleted Objects,DC=contoso,DC=com on the otherWellKnownObjects attribute in the container object CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com points to an invalid DN or a deleted object. Remove the entry, and then rerun the task.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Reading the otherWellKnownObjects attribute of CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com.",
        ],
    },
    Case {
        id: "setup-certificate-expired",
        log: &["[ERROR] The certificate is expired."],
        text: &[],
        events: &[],
        not: &["Installing certificate signed by 'CN=contoso-CA' for site 'Default Web Site'."],
    },
    Case {
        id: "endpoint-mapper-unavailable",
        log: &[
            "[ERROR] System.Runtime.InteropServices.COMException (0x800706D9): There are no more endpoints available from the endpoint mapper. (Exception from HRESULT: 0x800706D9)",
        ],
        text: &[],
        events: &[],
        not: &["Configuring Windows Firewall rules for Exchange."],
    },
    Case {
        id: "resume-no-services-running",
        log: &[
            "[ERROR] Exception calling \"Reverse\" with \"1\" argument(s): \"Value cannot be null. Parameter name: array\"",
        ],
        text: &[],
        events: &[],
        not: &["Executing: & $RoleBinPath\\ServiceControl.ps1 Stop Critical"],
    },
    Case {
        id: "search-foundation-config-failed",
        log: &[
            "[ERROR] Failure configuring SearchFoundation through installconfig.ps1 - Error occurred while configuring Search Foundation for Exchange.System.TimeoutException: Timed out waiting for Admin node to be up and running",
        ],
        text: &[],
        events: &[],
        not: &["Configuring SearchFoundation through InstallConfig.ps1."],
    },
    Case {
        id: "setup-missing-directory",
        log: &[
            "[ERROR] Cannot find path 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\UnifiedMessaging\\grammars' because it does not exist.",
        ],
        text: &[],
        events: &[],
        not: &["Creating directory 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging'."],
    },
    Case {
        id: "setup-started-wrong-way",
        log: &[
            "[ERROR] The term 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\ManageScheduledTask.ps1' is not recognized as the name of a cmdlet, function, script file, or operable program.",
        ],
        text: &[],
        events: &[],
        not: &["Executing: & $RoleBinPath\\ManageScheduledTask.ps1 -Install"],
    },
    Case {
        id: "powershell-execution-policy-gpo",
        log: &["[ERROR] AuthorizationManager check failed."],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Setting:PowerShellExecutionPolicy] [HasException:False] [Value:\"Unrestricted\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "setup-sessions-open",
        log: &[
            "Evaluated [Rule:ProcessNeedsToBeClosedOnUpgrade] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00.0468750]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:ProcessNeedsToBeClosedOnUpgrade] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "language-pack-bundle-invalid",
        log: &[
            "Failed [Rule:LangPackBundleCheck] [Message:The language pack bundle could not be found or is corrupt.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:LangPackBundleCheck] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "eventlog-source-access-denied",
        log: &[
            "[WARNING] Cannot open log for source 'MSExchangeSetup'. You may not have write access.",
        ],
        text: &[],
        events: &[],
        not: &["Ending processing Start-PreFileCopy"],
    },
    Case {
        id: "stale-service-state-file",
        log: &[],
        text: &[(
            "setup/ServiceControl.log",
            "[09:51:03] State file C:\\ExchangeSetupLogs\\ServiceState.xml already exists.",
        )],
        events: &[],
        not: &[
            // A first run writes the state file: nothing stale yet.
            "[09:51:03] Saving the state of services to C:\\ExchangeSetupLogs\\ServiceState.xml.",
            "[09:51:03] Overwrite is specified.",
        ],
    },
    Case {
        id: "dc-out-of-site",
        log: &[
            "Evaluated [Rule:DomainControllerIsOutOfSite] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:14] [Duration:00:00:00]",
            "Failed [Rule:DomainControllerIsOutOfSite] [Message:The domain controller dc07.contoso.com isn't in the same Active Directory site as this computer.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:DomainControllerIsOutOfSite] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:14] [Duration:00:00:00]",
            "Evaluated [Setting:DomainControllerSiteName] [HasException:False] [Value:\"Paris\"] [ParentValue:\"<NULL>\"] [Thread:14] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "remote-registry-unavailable",
        log: &[
            "Evaluated [Rule:RemoteRegException] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00.0156]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:RemoteRegException] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00.0156]",
        ],
    },
    Case {
        id: "msdtc-stopped",
        log: &[
            "Evaluated [Rule:MSDTCStopped] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
            "Failed [Rule:MSDTCStopped] [Message:The Distributed Transaction Coordinator service isn't running.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:MSDTCStopped] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "hybrid-application-uri-missing",
        log: &[
            "Evaluated [Rule:DidOnPremisesSettingCreatedAnException] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:11] [Duration:00:00:00.0312]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:DidOnPremisesSettingCreatedAnException] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:11] [Duration:00:00:00]",
            "Evaluated [Setting:IsHybridObjectFoundOnPremises] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:11] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "domain-not-prepared",
        log: &[
            "Evaluated [Rule:DomainPrepRequired] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
            "Failed [Rule:DomainPrepRequired] [Message:Setup must prepare the domain. Run setup /PrepareDomain in this domain or /PrepareAllDomains.]",
        ],
        text: &[],
        events: &[],
        not: &[
            "Evaluated [Rule:DomainPrepRequired] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
            "Evaluated [Setting:LocalDomainIsPrepped] [HasException:False] [Value:\"True\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
        ],
    },
    Case {
        id: "security-groups-ou-missing",
        log: &[
            "[ERROR] The following error was generated when \"$error.Clear();\ninitialize-ExchangeUniversalGroups -DomainController $RoleDomainController -ActiveDirectorySplitPermissions $RoleActiveDirectorySplitPermissions\n\" was run: \"System.NullReferenceException: Object reference not set to an instance of an object.\nat Microsoft.Exchange.Management.Tasks.InitializeExchangeUniversalGroups.CreateOrMoveEWPGroup(ADGroup ewp, ADOrganizationalUnit usgContainer)\nat Microsoft.Exchange.Management.Tasks.InitializeExchangeUniversalGroups.InternalProcessRecord()\".",
            // Localised message, same exception type and task.
            "[ERROR] The following error was generated when \"$error.Clear(); initialize-ExchangeUniversalGroups -DomainController $RoleDomainController\" was run: \"System.NullReferenceException: Der Objektverweis wurde nicht auf eine Objektinstanz festgelegt.\".",
        ],
        text: &[],
        events: &[],
        not: &[
            "[ERROR] The following error was generated when \"$error.Clear(); initialize-ExchangeUniversalGroups -DomainController $RoleDomainController\" was run: \"Microsoft.Exchange.Data.Directory.ADOperationException: Active Directory operation failed on dc1.contoso.com. The attribute entry already exists.\".",
            "Group CN=Exchange Windows Permissions,OU=Microsoft Exchange Security Groups,DC=contoso,DC=com already exists.",
        ],
    },
    Case {
        id: "fips-config-access-denied",
        log: &[
            "[ERROR] The following error was generated when \"$error.Clear(); & $RoleBinPath\\..\\FIP-FS\\Bin\\Configure-FIPSFS.ps1\" was run: \"System.UnauthorizedAccessException: Access to the path 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FIP-FS\\Data\\Configuration.xml' is denied.\".\n[ERROR-REFERENCE] Id=BridgeheadComponent___9FAA17C4-73D7-4E6D-9012-6274971434D5 Component=EXCHANGE14:\\Current\\Release\\Shared\\Datacenter\\Setup",
        ],
        text: &[],
        events: &[],
        not: &[
            "[ERROR] Access to the path 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\Microsoft.Exchange.Store.Worker.exe.config' is denied.",
        ],
    },
    Case {
        id: "activesync-vdir-duplicate",
        log: &[
            "[ERROR] The following error was generated when \"$error.Clear(); $ActiveSyncVdir = Get-ActiveSyncVirtualDirectory -Server $RoleFqdnOrName -ADPropertiesOnly | where { $_.WebSite -eq 'Default Web Site' }; Set-ActiveSyncVirtualDirectory -Identity $ActiveSyncVdir -ExternalUrl $null\" was run: \"System.Management.Automation.ParameterBindingException: Cannot bind parameter 'Identity'. Cannot convert 'System.Object[]' to the type 'Microsoft.Exchange.Configuration.Tasks.VirtualDirectoryIdParameter' required by parameter 'Identity'. Specified method is not supported.\".",
        ],
        text: &[],
        events: &[],
        not: &[
            "[ERROR] Cannot convert 'System.Object[]' to the type 'System.String' required by parameter 'Path'.",
        ],
    },
    Case {
        id: "ad-object-already-exists",
        log: &[
            "[ERROR] Active Directory operation failed on dc1.contoso.com. The object 'CN=Default Offline Address Book (Ex2019),CN=Offline Address Lists,CN=Address Lists Container,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com' already exists.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Group CN=Managed Availability Servers,OU=Microsoft Exchange Security Groups,DC=contoso,DC=com already exists.",
        ],
    },
    Case {
        id: "public-folder-tree-missing",
        log: &[
            "[ERROR] Active Directory operation failed on dc1.contoso.com. The object 'CN=Folder Hierarchies,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com' already exists.",
        ],
        text: &[],
        events: &[],
        not: &[
            "[ERROR] Active Directory operation failed on dc1.contoso.com. The object 'CN=Default Offline Address Book,CN=Offline Address Lists,CN=Address Lists Container,CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com' already exists.",
        ],
    },
    Case {
        id: "arbitration-upn-not-unique",
        log: &[
            "[ERROR] The following error was generated when \"$error.Clear(); Set-Mailbox -Arbitration -Identity $mbx -Force\" was run: \"Microsoft.Exchange.Data.Directory.ADConstraintViolationException: An Active Directory Constraint Violation error occurred on dc1.contoso.com. Additional information: The operation failed because UPN value provided for addition/modification is not unique forest-wide.\".",
        ],
        text: &[],
        events: &[],
        not: &["[ERROR] Database is mandatory on UserMailbox. Property Name: Database"],
    },
    Case {
        id: "ad-wellknown-group-wrong-type",
        log: &[
            "[ERROR] The well-known object entry with the GUID \"6c01d2a7-f083-4503-8132-789eeb127b84\", which is on the \"CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com\" container object's otherWellKnownObjects attribute, refers to a group \"CN=Exchange Servers,OU=Microsoft Exchange Security Groups,DC=contoso,DC=com\" of the wrong group type. Either delete the well-known object entry, or promote the target object to \"Universal Security Group\".",
        ],
        text: &[],
        events: &[],
        not: &[
            "[ERROR] The well-known object entry B:32:C262A929D691B74A9E068728F8F842EA:CN=Organization Management\\0ADEL:6d6bfa5c-2d13-4d8b-9f4e-b4c7ff3a3d6f,CN=Deleted Objects,DC=contoso,DC=com on the otherWellKnownObjects attribute in the container object CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com points to an invalid DN or a deleted object.",
        ],
    },
    Case {
        id: "search-foundation-old-nodes",
        log: &[
            "[ERROR] The following error was generated when \"$error.Clear(); & $RoleBinPath\\Search\\Ceres\\Installer\\InstallConfig.ps1 -action I -dataFolder $dataFolder\" was run: \"System.Exception: Failure configuring SearchFoundation through InstallConfig.ps1 - Old nodes belonging to the system 'Fsis', already exist in C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\Search\\Ceres\\HostController\\Data\\Nodes\\Fsis.\".",
        ],
        text: &[],
        events: &[],
        not: &[
            "[ERROR] The following error was generated when \"$error.Clear(); & $RoleBinPath\\Search\\Ceres\\Installer\\InstallConfig.ps1 -action I\" was run: \"System.Exception: Failure configuring SearchFoundation through InstallConfig.ps1 - Error occurred while configuring Search Foundation for Exchange.System.TimeoutException: Timed out waiting for Admin node to be up and running\".",
        ],
    },
    // Field failures: the setup-log side of rules that also read events.
    Case {
        id: "msi-patch-not-applicable",
        log: &[
            "[ERROR] Installing patch D:\\Exchange2019-KB5050528-x64-en.msp failed. Error code is 1642.",
        ],
        text: &[(
            "setup/ExchangeSetup.msilog",
            "MSI (s) (A4:5C) [14:02:11:345]: MainEngineThread is returning 1642",
        )],
        events: &[(
            "MsiInstaller",
            1023,
            "Microsoft Exchange Server | {0C9D4DD1-5D40-4A29-A3E9-3D4F8D6B0B7C} | 1642 | (NULL)",
        )],
        not: &[
            "MSI (s) (A4:5C) [14:02:11:345]: MainEngineThread is returning 0",
            "[ERROR] Installing product D:\\EXCHANGESERVER.msi failed. Error code is 1603.",
            "Setup version: 15.1.1642.4.",
        ],
    },
    Case {
        id: "transport-agent-failed",
        log: &[
            "[ERROR] The TransportAgentFactory type must be the Microsoft .NET class type of the transport agent factory.",
        ],
        text: &[],
        events: &[("MSExchangeTransport", 16023, "")],
        not: &[
            "Beginning processing Install-TransportAgent -Name 'Transport Rule Agent' -TransportAgentFactory 'Microsoft.Exchange.MessagingPolicies.TransportRuleAgent.TransportRuleAgentFactory'",
            "[WARNING] The agent 'Contoso Disclaimer' is disabled.",
        ],
    },
    Case {
        id: "content-filter-registration-failed",
        log: &[
            "[ERROR] The following error was generated when \"$error.Clear(); register-ContentFilter -Path $RoleInstallPath\" was run: \"System.ComponentModel.Win32Exception (0x80004005): Die Zuordnungen von Kontennamen und Sicherheitskennungen wurden nicht durchgeführt\".",
            "[ERROR] Couldn't register the content filter.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Beginning processing register-ContentFilter",
            "[ERROR] The following error was generated when \"$error.Clear(); Install-ContentFilterConfig\" was run: \"Access is denied.\".",
        ],
    },
    Case {
        id: "where-exe-not-found",
        log: &[
            "[ERROR] The following error was generated when \"$error.Clear(); $mmcPath = (where.exe mmc)\" was run: \"System.Management.Automation.CommandNotFoundException: The term 'where.exe' is not recognized as the name of a cmdlet, function, script file, or operable program.\".",
            "[ERROR] The following error was generated when \"$error.Clear(); $mmcPath = (where.exe mmc)\" was run: \"System.Management.Automation.CommandNotFoundException: Le terme « where.exe » n'est pas reconnu comme nom d'applet de commande, fonction, fichier de script ou programme exécutable.\".",
        ],
        text: &[],
        events: &[],
        not: &[
            // where.exe found mmc twice: another failure, with its own rule.
            "[ERROR] The following error was generated when \"$error.Clear(); $mmcPath = (where.exe mmc)\" was run: \"System.Management.Automation.ParameterBindingException: Cannot convert 'System.Object[]' to the type 'System.String' required by parameter 'Destination'.\".",
            "[ERROR] The term 'Stop-SetupService' is not recognized as the name of a cmdlet.",
        ],
    },
    Case {
        id: "org-container-missing",
        log: &[
            "Failed [Rule:AdInitErrorRule] [Message:Setup encountered a problem while validating the state of Active Directory: Couldn't find the Enterprise Organization container.  See the Exchange setup log for more information on this error.]",
            "[ERROR] Microsoft.Exchange.Data.Directory.SystemConfiguration.OrgContainerNotFoundException: No se encontró el contenedor de la organización de Enterprise.",
            "0.  ErrorRecord: Microsoft.Exchange.Data.Directory.SystemConfiguration.OrgContainerNotFoundException: Der Organisationscontainer wurde nicht gefunden.",
        ],
        text: &[],
        events: &[],
        not: &[
            "Failed [Rule:AdInitErrorRule] [Message:Setup encountered a problem while validating the state of Active Directory: The Active Directory schema isn't up-to-date.]",
            "Evaluated [Rule:AdInitErrorRule] [HasException:False] [Value:\"False\"] [ParentValue:\"<NULL>\"] [Thread:9] [Duration:00:00:00]",
            "Used domain controller dc1.contoso.com to read object CN=Contoso,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=contoso,DC=com.",
        ],
    },
];
/// A 2016 upgrade run whose body is `lines` at level 1; `completed` adds the success lines.
fn run_text(day: u32, lines: &[&str], completed: bool) -> String {
    let mut s = format!(
        "[03/{day:02}/2021 10:00:00.0000] [0] Starting Microsoft Exchange Server 2016 Setup\n\
         [03/{day:02}/2021 10:00:00.0100] [0] Setup version: 15.1.2242.4.\n\
         [03/{day:02}/2021 10:00:01.0000] [1] Beginning processing Install-MailboxRole\n"
    );
    for l in lines {
        s.push_str(&format!("[03/{day:02}/2021 10:10:00.0000] [1] {l}\n"));
    }
    if completed {
        s.push_str(&format!(
            "[03/{day:02}/2021 10:30:00.0000] [1] Ending processing Install-MailboxRole\n\
             [03/{day:02}/2021 10:30:01.0000] [0] The Exchange Server setup operation completed successfully.\n\
             [03/{day:02}/2021 10:30:02.0000] [0] End of Setup\n"
        ));
    } else {
        s.push_str(&format!(
            "[03/{day:02}/2021 10:10:00.0001] [1] Setup is stopping now because of one or more critical errors.\n\
             [03/{day:02}/2021 10:10:02.0000] [0] The Exchange Server setup operation didn't complete.  More details can be found in ExchangeSetup.log located in the <SystemDrive>:\\ExchangeSetupLogs folder.\n\
             [03/{day:02}/2021 10:10:02.0000] [0] End of Setup\n"
        ));
    }
    s
}

pub(super) fn facts(rule: &dyn Rule, log: &str, text: &[(&str, &str)], events: &[Ev]) -> FactSet {
    let mut ib = InterestBuilder::default();
    rule.interest(&mut ib);
    let interest = ib.build().expect("rule patterns compile");
    let mut sink = Sink::default();
    if !log.is_empty() {
        let mut r = log.as_bytes();
        crate::parse::setup_log::parse_reader(
            &mut r,
            "setup/ExchangeSetup.log",
            1 << 20,
            interest.setup_lines.as_ref(),
            &mut sink,
        )
        .expect("test log parses");
    }
    for (i, (path, line)) in text.iter().enumerate() {
        // Kept only if the rule's interest asks for it, as the text parser does.
        if interest
            .setup_lines
            .as_ref()
            .is_some_and(|s| s.is_match(line))
        {
            sink.push(Fact {
                time: None,
                evidence: Evidence::new(Locator::line(*path, i as u64 + 1), *line),
                kind: FactKind::SetupLine(SetupLine {
                    run: None,
                    line: i as u64 + 1,
                    text: line.to_string(),
                }),
            });
        }
    }
    // Classic sources store unnamed insertion strings, numbered from 0.
    for (i, (provider, id, data)) in events.iter().enumerate() {
        if interest.events.wants(provider, *id) {
            let data: BTreeMap<String, String> = data
                .split(" | ")
                .filter(|d| !d.is_empty())
                .enumerate()
                .map(|(n, d)| (n.to_string(), d.to_string()))
                .collect();
            sink.push(Fact {
                time: None,
                evidence: Evidence::new(
                    Locator::new("evtx/Application.evtx", Position::Record(i as u64 + 1)),
                    format!("{provider} {id}"),
                ),
                kind: FactKind::Event(Event {
                    repeats: None,
                    channel: "Application".into(),
                    provider: provider.to_string(),
                    event_id: *id,
                    qualifiers: None,
                    level: 2,
                    record_id: i as u64 + 1,
                    computer: "EX01.contoso.com".into(),
                    data,
                }),
            });
        }
    }
    FactSet::new(sink.facts)
}

pub(super) fn builtin() -> Vec<Box<dyn Rule>> {
    pattern::builtin()
}

#[test]
fn every_builtin_rule_has_a_case() {
    let rules = builtin();
    assert!(
        rules.len() >= 30,
        "only {} built-in rule files load",
        rules.len()
    );
    for r in &rules {
        assert!(
            CASES.iter().any(|c| c.id == r.meta().id)
                || super::pattern_event_tests::has_case(&r.meta().id),
            "rules/{}.toml has no positive/negative case in catalog/pattern_tests.rs",
            r.meta().id
        );
    }
    for c in CASES {
        assert!(
            rules.iter().any(|r| r.meta().id == c.id),
            "case {} has no rule file",
            c.id
        );
    }
}

#[test]
fn each_rule_fires_on_its_evidence() {
    for r in builtin() {
        let Some(c) = CASES.iter().find(|c| c.id == r.meta().id) else {
            continue;
        };
        // Each positive line on its own, so every pattern is exercised.
        for line in c.log {
            let f = run_rule(
                r.as_ref(),
                &facts(r.as_ref(), &run_text(4, &[line], false), &[], &[]),
            );
            assert_eq!(f.len(), 1, "{} on {line:?}: {f:#?}", c.id);
            assert!(!f[0].evidence.is_empty());
            assert!(
                f[0].evidence[0]
                    .locator
                    .to_string()
                    .starts_with("setup/ExchangeSetup.log:")
            );
        }
        for t in c.text {
            let f = run_rule(r.as_ref(), &facts(r.as_ref(), "", &[*t], &[]));
            assert_eq!(f.len(), 1, "{} on {t:?}", c.id);
            assert_eq!(f[0].evidence[0].locator.path, t.0);
        }
        for e in c.events {
            let f = run_rule(r.as_ref(), &facts(r.as_ref(), "", &[], &[*e]));
            assert_eq!(f.len(), 1, "{} on event {e:?}", c.id);
        }
        // All positive lines together still make one finding (consistent subjects).
        if c.log.len() > 1 {
            let f = run_rule(
                r.as_ref(),
                &facts(r.as_ref(), &run_text(4, c.log, false), &[], &[]),
            );
            assert_eq!(f.len(), 1, "{} on all its lines: {f:#?}", c.id);
        }
    }
}

#[test]
fn each_rule_is_silent_on_near_misses_and_on_history() {
    for r in builtin() {
        let Some(c) = CASES.iter().find(|c| c.id == r.meta().id) else {
            continue;
        };
        let healthy = run_text(4, c.not, true);
        assert!(
            run_rule(r.as_ref(), &facts(r.as_ref(), &healthy, &[], &[])).is_empty(),
            "{} fired on a near miss",
            c.id
        );
        if !c.log.is_empty() {
            // The failure happened, then a later run completed: the server's state no longer
            // depends on it.
            let history = run_text(3, c.log, false) + &run_text(4, &[], true);
            assert!(
                run_rule(r.as_ref(), &facts(r.as_ref(), &history, &[], &[])).is_empty(),
                "{} fired on an earlier, superseded run",
                c.id
            );
        }
        // Someone else's event ids are not this rule's evidence.
        let other = facts(r.as_ref(), "", &[], &[("MSExchangeTransport", 12014, "")]);
        assert!(run_rule(r.as_ref(), &other).is_empty(), "{}", c.id);
    }
}

#[test]
fn every_rule_is_documented() {
    for r in builtin() {
        let m = r.meta();
        assert!(
            !m.title.is_empty() && !m.why.is_empty() && !m.looks_for.is_empty(),
            "{}",
            m.id
        );
        assert!(!m.fix.is_empty(), "{} has no fix", m.id);
        assert!(!m.references.is_empty(), "{} has no public reference", m.id);
    }
}

#[test]
fn every_file_in_rules_dir_is_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("rules/ exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".toml"))
        .map(|n| n.trim_end_matches(".toml").to_string())
        .collect();
    files.sort();
    let mut ids: Vec<String> = builtin().iter().map(|r| r.meta().id.clone()).collect();
    ids.sort();
    assert_eq!(
        files, ids,
        "rules/*.toml (file name = id) and BUILTIN in pattern.rs differ"
    );
}

/// Every setup-log line of every bundle meets the one `RegexSet` of all patterns (200 MB logs
/// exist), so built-in patterns must reject most lines in their first bytes: anchored at the
/// start, and no bounded wildcard (`.{0,200}`) where any line could enter it, which multiplies
/// the automaton's states.
#[test]
fn builtin_patterns_are_anchored_and_cheap() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for e in std::fs::read_dir(&dir).expect("rules/").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("rule file");
        let v: toml::Value = toml::from_str(&text).expect("rule file is TOML");
        let lines = v
            .get("match")
            .and_then(|m| m.get("setup_lines"))
            .and_then(|l| l.as_array())
            .cloned()
            .unwrap_or_default();
        for p in lines.iter().filter_map(|p| p.as_str()) {
            let name = e.file_name();
            assert!(p.starts_with('^'), "{name:?}: {p} is not anchored");
            assert!(!p.contains(".{0,"), "{name:?}: {p} has a bounded wildcard");
            assert!(!p.contains("(?i"), "{name:?}: {p} is case-insensitive");
        }
    }
}
