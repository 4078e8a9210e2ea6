use super::*;

/// The seed's applicationHost.config, trimmed to what matters: exppw registered globally but
/// not enabled for `Default Web Site/owa`, MSExchangeSyncAppPool not auto-starting.
const SEED_APPHOST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<configuration>
    <system.applicationHost>
        <applicationPools>
            <add name="DefaultAppPool" managedRuntimeVersion="v2.0">
                <processModel identityType="NetworkService" />
            </add>
            <add name="MSExchangeOWAAppPool" managedRuntimeVersion="v2.0" autoStart="true">
                <processModel identityType="LocalSystem" idleTimeout="00:00:00" />
            </add>
            <add name="MSExchangeSyncAppPool" managedRuntimeVersion="v2.0" autoStart="false">
                <processModel identityType="LocalSystem" />
            </add>
            <add name="MSExchangePowerShellAppPool" managedRuntimeVersion="v2.0" />
            <applicationPoolDefaults enable32BitAppOnWin64="false">
                <processModel identityType="ApplicationPoolIdentity" loadUserProfile="true" />
            </applicationPoolDefaults>
        </applicationPools>
        <sites>
            <site name="Default Web Site" id="1" serverAutoStart="true">
                <application path="/" applicationPool="DefaultAppPool">
                    <virtualDirectory path="/" physicalPath="%SystemDrive%\inetpub\wwwroot" />
                </application>
                <application path="/owa" applicationPool="MSExchangeOWAAppPool">
                    <virtualDirectory path="/" physicalPath="D:\Program Files\Microsoft\Exchange Server\V14\ClientAccess\owa" />
                </application>
                <application path="/Microsoft-Server-ActiveSync" applicationPool="MSExchangeSyncAppPool">
                    <virtualDirectory path="/" physicalPath="D:\Program Files\Microsoft\Exchange Server\V14\ClientAccess\Sync" />
                </application>
            </site>
        </sites>
    </system.applicationHost>
    <system.webServer>
        <globalModules>
            <add name="UriCacheModule" image="%windir%\System32\inetsrv\cachuri.dll" />
            <add name="exppw" image="D:\Program Files\Microsoft\Exchange Server\V14\ClientAccess\Owa\auth\exppw.dll" />
            <add name="kerbauth" image="D:\Program Files\Microsoft\Exchange Server\V14\Bin\kerbauth.dll" preCondition="bitness64" />
        </globalModules>
        <httpRedirect enabled="false" />
        <security>
            <authentication>
                <anonymousAuthentication enabled="true" userName="IUSR" />
                <basicAuthentication />
                <windowsAuthentication enabled="false" />
            </authentication>
        </security>
    </system.webServer>
    <location path="Default Web Site/owa">
        <system.webServer>
            <modules>
                <remove name="Session" />
            </modules>
            <security>
                <authentication>
                    <basicAuthentication enabled="true" />
                    <windowsAuthentication enabled="false" />
                    <anonymousAuthentication enabled="false" />
                </authentication>
            </security>
        </system.webServer>
    </location>
    <location path="Default Web Site/Microsoft-Server-ActiveSync">
        <system.webServer>
            <security>
                <authentication>
                    <basicAuthentication enabled="true" />
                    <windowsAuthentication enabled="false" />
                    <clientCertificateMappingAuthentication enabled="false" />
                </authentication>
            </security>
            <httpRedirect enabled="false" />
        </system.webServer>
    </location>
    <location path="Exchange Back End/Exchange">
        <system.webServer>
            <httpRedirect enabled="true" destination="/owa" exactDestination="false" />
        </system.webServer>
    </location>
</configuration>
"#;

fn run(text: &[u8]) -> (Result<(), Error>, Sink) {
    let mut sink = Sink::default();
    let mut r: &[u8] = text;
    let res = parse_reader(&mut r, "iis/applicationHost.config", 256, &mut sink);
    (res, sink)
}

fn kinds<'s, T>(
    sink: &'s Sink,
    f: impl Fn(&'s FactKind) -> Option<&'s T>,
) -> Vec<(&'s Fact, &'s T)> {
    sink.facts
        .iter()
        .filter_map(|x| f(&x.kind).map(|k| (x, k)))
        .collect()
}

#[test]
fn seed_global_modules() {
    let (res, sink) = run(SEED_APPHOST.as_bytes());
    res.unwrap();
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    let g = kinds(&sink, |k| match k {
        FactKind::IisGlobalModule(m) => Some(m),
        _ => None,
    });
    assert_eq!(g.len(), 3);
    let (f, exppw) = g.iter().find(|(_, m)| m.name == "exppw").unwrap();
    assert!(exppw.image.ends_with("ClientAccess\\Owa\\auth\\exppw.dll"));
    assert_eq!(exppw.pre_condition, None);
    assert_eq!(
        f.evidence.locator.at,
        Position::Element("configuration/system.webServer/globalModules/add[@name='exppw']".into())
    );
    assert!(
        f.evidence
            .excerpt
            .starts_with("line 36: <add name=\"exppw\""),
        "{}",
        f.evidence.excerpt
    );
    let kerb = g.iter().find(|(_, m)| m.name == "kerbauth").unwrap().1;
    assert_eq!(kerb.pre_condition.as_deref(), Some("bitness64"));
}

#[test]
fn seed_owa_location_lacks_exppw() {
    let (res, sink) = run(SEED_APPHOST.as_bytes());
    res.unwrap();
    let m = kinds(&sink, |k| match k {
        FactKind::IisLocationModules(m) => Some(m),
        _ => None,
    });
    let (f, owa) = m
        .iter()
        .find(|(_, m)| m.location == "Default Web Site/owa")
        .unwrap();
    assert!(owa.added.is_empty());
    assert_eq!(owa.removed, vec!["Session"]);
    assert_eq!(
        f.evidence.locator.at,
        Position::Element(
            "configuration/location[@path='Default Web Site/owa']/system.webServer/modules".into()
        )
    );
    assert!(
        f.evidence.excerpt.starts_with("line 50:"),
        "{}",
        f.evidence.excerpt
    );
    // The ActiveSync location has no modules section: still described, as adding nothing.
    let eas = m
        .iter()
        .find(|(_, m)| m.location == "Default Web Site/Microsoft-Server-ActiveSync")
        .unwrap();
    assert!(eas.1.added.is_empty());
    assert!(eas.0.evidence.excerpt.contains("section absent"));
    assert!(
        m.iter().all(|(_, m)| !m.location.is_empty()),
        "no server-level modules section"
    );
}

#[test]
fn a_healthy_owa_location_adds_exppw() {
    let healthy = SEED_APPHOST.replace(
        "<remove name=\"Session\" />",
        "<remove name=\"Session\" />\n                <add name=\"exppw\" />",
    );
    let (res, sink) = run(healthy.as_bytes());
    res.unwrap();
    let m = kinds(&sink, |k| match k {
        FactKind::IisLocationModules(m) => Some(m),
        _ => None,
    });
    let owa = m
        .iter()
        .find(|(_, m)| m.location == "Default Web Site/owa")
        .unwrap()
        .1;
    assert_eq!(owa.added, vec!["exppw"]);
}

#[test]
fn seed_app_pools_with_defaults() {
    let (res, sink) = run(SEED_APPHOST.as_bytes());
    res.unwrap();
    let p = kinds(&sink, |k| match k {
        FactKind::AppPool(p) => Some(p),
        _ => None,
    });
    assert_eq!(p.len(), 4);
    let (f, sync) = p
        .iter()
        .find(|(_, p)| p.name == "MSExchangeSyncAppPool")
        .unwrap();
    assert_eq!(sync.auto_start, Some(false));
    assert_eq!(sync.identity_type.as_deref(), Some("LocalSystem"));
    assert_eq!(sync.managed_runtime_version.as_deref(), Some("v2.0"));
    assert_eq!(
        sync.enable_32bit,
        Some(false),
        "from applicationPoolDefaults"
    );
    assert_eq!(
            f.evidence.locator.at,
            Position::Element("configuration/system.applicationHost/applicationPools/add[@name='MSExchangeSyncAppPool']".into())
        );
    assert!(
        f.evidence
            .excerpt
            .starts_with("line 11: <add name=\"MSExchangeSyncAppPool\"")
    );
    assert!(f.evidence.excerpt.contains("autoStart=\"false\""));
    let ps = p
        .iter()
        .find(|(_, p)| p.name == "MSExchangePowerShellAppPool")
        .unwrap();
    assert_eq!(
        ps.1.identity_type.as_deref(),
        Some("ApplicationPoolIdentity")
    );
    assert!(
        ps.0.evidence
            .excerpt
            .contains("identityType, enable32BitAppOnWin64 from applicationPoolDefaults")
    );
    assert_eq!(ps.1.auto_start, None, "not set anywhere: IIS default");
    let owa = p
        .iter()
        .find(|(_, p)| p.name == "MSExchangeOWAAppPool")
        .unwrap()
        .1;
    assert_eq!(owa.auto_start, Some(true));
}

#[test]
fn seed_applications_auth_and_redirects() {
    let (res, sink) = run(SEED_APPHOST.as_bytes());
    res.unwrap();
    let apps = kinds(&sink, |k| match k {
        FactKind::IisApplication(a) => Some(a),
        _ => None,
    });
    assert_eq!(apps.len(), 3);
    let (f, eas) = apps
        .iter()
        .find(|(_, a)| a.path == "/Microsoft-Server-ActiveSync")
        .unwrap();
    assert_eq!(eas.site, "Default Web Site");
    assert_eq!(eas.app_pool.as_deref(), Some("MSExchangeSyncAppPool"));
    assert_eq!(
        eas.physical_path.as_deref(),
        Some("D:\\Program Files\\Microsoft\\Exchange Server\\V14\\ClientAccess\\Sync")
    );
    assert!(
        matches!(&f.evidence.locator.at, Position::Element(e) if e.ends_with("application[@path='/Microsoft-Server-ActiveSync']"))
    );

    let auth = kinds(&sink, |k| match k {
        FactKind::IisAuthentication(a) => Some(a),
        _ => None,
    });
    let eas = auth
        .iter()
        .find(|(_, a)| a.location == "Default Web Site/Microsoft-Server-ActiveSync")
        .unwrap()
        .1;
    assert_eq!(eas.enabled, vec!["basic"]);
    assert_eq!(eas.disabled, vec!["windows", "clientCertificateMapping"]);
    let server = auth.iter().find(|(_, a)| a.location.is_empty()).unwrap().1;
    assert_eq!(server.enabled, vec!["anonymous"]);
    assert_eq!(
        server.disabled,
        vec!["windows"],
        "`basicAuthentication` without `enabled` says nothing"
    );

    let r = kinds(&sink, |k| match k {
        FactKind::HttpRedirect(r) => Some(r),
        _ => None,
    });
    assert_eq!(r.len(), 3);
    let server = r.iter().find(|(_, r)| r.location.is_empty()).unwrap().1;
    assert!(!server.enabled);
    let back = r
        .iter()
        .find(|(_, r)| r.location == "Exchange Back End/Exchange")
        .unwrap()
        .1;
    assert!(back.enabled);
    assert_eq!(back.destination.as_deref(), Some("/owa"));
    let eas = r
        .iter()
        .find(|(_, r)| r.location.ends_with("ActiveSync"))
        .unwrap();
    assert!(!eas.1.enabled);
    assert!(
        eas.0.evidence.excerpt.starts_with("line 71:"),
        "{}",
        eas.0.evidence.excerpt
    );
}

#[test]
fn hostile_inputs() {
    // Garbage and wrong encoding: refused, nothing invented.
    let (res, sink) = run(b"\xff\xfe\x00garbage\x00");
    assert!(res.is_err());
    assert!(sink.facts.is_empty());
    // UTF-16 of the real thing reads the same.
    let (res, sink) = run(&crate::parse::text::utf16le_with_bom(SEED_APPHOST));
    res.unwrap();
    assert_eq!(
        kinds(&sink, |k| match k {
            FactKind::AppPool(p) => Some(p),
            _ => None,
        })
        .len(),
        4
    );
    // Truncated inside the pools: the pools read so far are still reported.
    let cut = &SEED_APPHOST[..SEED_APPHOST
        .find("<add name=\"MSExchangePowerShellAppPool\"")
        .unwrap()
        + 10];
    let (res, sink) = run(cut.as_bytes());
    res.unwrap();
    let pools = kinds(&sink, |k| match k {
        FactKind::AppPool(p) => Some(p),
        _ => None,
    });
    assert_eq!(pools.len(), 3);
    assert!(
        sink.problems.iter().any(|p| p.message.contains("line 14")),
        "{:?}",
        sink.problems
    );
    // Entity declarations: not expanded, reported; the document is still read.
    let lol = SEED_APPHOST.replacen(
            "<configuration>",
            "<!DOCTYPE configuration [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n<configuration>",
            1,
        ).replace("name=\"kerbauth\"", "name=\"&b;\"");
    let (res, sink) = run(lol.as_bytes());
    res.unwrap();
    let g = kinds(&sink, |k| match k {
        FactKind::IisGlobalModule(m) => Some(m),
        _ => None,
    });
    assert!(g.iter().any(|(_, m)| m.name == "&b;"));
    assert!(
        sink.problems
            .iter()
            .any(|p| p.message.contains("never expanded"))
    );
    // Deep nesting inside a location.
    let deep = SEED_APPHOST.replacen(
        "<location path=\"Default Web Site/owa\">",
        &format!(
            "<location path=\"x\">{}{}</location><location path=\"Default Web Site/owa\">",
            "<d>".repeat(5000),
            "</d>".repeat(5000)
        ),
        1,
    );
    let (res, sink) = run(deep.as_bytes());
    res.unwrap();
    assert!(
        sink.problems
            .iter()
            .any(|p| p.message.contains("--max-xml-depth"))
    );
    let m = kinds(&sink, |k| match k {
        FactKind::IisLocationModules(m) => Some(m),
        _ => None,
    });
    assert!(
        m.iter()
            .any(|(_, m)| m.location == "Default Web Site/owa" && m.removed == vec!["Session"])
    );
}

#[test]
fn ten_megabyte_single_line() {
    let mut text = String::from("<configuration><system.webServer><globalModules>");
    let mut n = 0;
    while text.len() < 10 << 20 {
        text.push_str(&format!("<add name=\"m{n}\" image=\"C:\\x{n}.dll\"/>"));
        n += 1;
    }
    text.push_str("</globalModules></system.webServer></configuration>");
    assert!(n > MAX_FACTS);
    let (res, sink) = run(text.as_bytes());
    res.unwrap();
    assert_eq!(sink.facts.len(), MAX_FACTS, "bounded, whatever the input");
    assert!(
        sink.facts
            .iter()
            .all(|f| f.evidence.excerpt.starts_with("line 1:"))
    );
    let dropped = (n - MAX_FACTS).to_string();
    assert!(
        sink.problems
            .iter()
            .any(|p| p.message.starts_with(&dropped)),
        "{:?}",
        sink.problems
    );
    // What was dropped may have shown a failure: the file is read in part.
    assert!(sink.incomplete.unwrap().starts_with(&dropped));
}
