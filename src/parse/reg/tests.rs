use super::*;
use crate::parse::text::utf16le_with_bom;

/// The seed's registry as `reg export` writes it (UTF-16LE, CRLF): SP2 binaries unpacked,
/// Hub Transport left with a watermark and an action and no ConfiguredVersion.
const SEED_REG: &str = concat!(
    "Windows Registry Editor Version 5.00\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14]\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\ClientAccessRole]\r\n",
    "\"ConfiguredVersion\"=\"14.1.218.15\"\r\n",
    "\"UnpackedVersion\"=\"14.2.247.5\"\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\HubTransportRole]\r\n",
    "\"UnpackedVersion\"=\"14.2.247.5\"\r\n",
    "\"Watermark\"=\"BridgeheadRoleSetterComponent___115c1108e99e4560bd2c03c0fec99908\"\r\n",
    "\"Action\"=\"BuildToBuildUpgrade\"\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\Setup]\r\n",
    "\"MsiInstallPath\"=\"D:\\\\Program Files\\\\Microsoft\\\\Exchange Server\\\\V14\\\\\"\r\n",
    "\"MsiProductMajor\"=dword:0000000e\r\n",
    "\"MsiProductMinor\"=dword:00000002\r\n",
    "\"MsiBuildMajor\"=dword:000000f7\r\n",
    "\"MsiBuildMinor\"=dword:00000005\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\MSExchangeSearch]\r\n",
    "\"DependOnService\"=hex(7):4d,00,53,00,45,00,78,00,63,00,68,00,61,00,6e,00,67,00,\\\r\n",
    "  65,00,41,00,44,00,54,00,6f,00,70,00,6f,00,6c,00,6f,00,67,00,79,00,00,00,6d,\\\r\n",
    "  00,73,00,66,00,74,00,65,00,73,00,71,00,6c,00,2d,00,45,00,78,00,63,00,68,00,\\\r\n",
    "  61,00,6e,00,67,00,65,00,00,00,00,00\r\n",
    "\"ImagePath\"=hex(2):22,00,44,00,3a,00,5c,00,4d,00,2e,00,65,00,78,00,65,00,22,\\\r\n",
    "  00,00,00\r\n",
    "\"Start\"=dword:00000002\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\msftesql-Exchange]\r\n",
    "\"Start\"=dword:00000004\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\msftesql-Exchange\\Parameters]\r\n",
    "\"Start\"=dword:00000002\r\n\r\n",
);

fn run(bytes: &[u8]) -> (Result<(), Error>, Sink) {
    let mut sink = Sink::default();
    let mut r: &[u8] = bytes;
    let res = parse_reader(&mut r, "registry/exchange.reg", 1 << 20, &mut sink);
    (res, sink)
}

fn roles(sink: &Sink) -> Vec<(&Fact, &RoleState)> {
    sink.facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::RoleState(r) => Some((f, r)),
            _ => None,
        })
        .collect()
}

/// `reg export HKLM\SOFTWARE\Microsoft\InetStp` on Windows Server 2016, as the collector
/// writes it: version dwords, `PathWWWRoot` as wrapped `hex(2)`, and the Components subkey.
const INETSTP_2016: &str = concat!(
    "Windows Registry Editor Version 5.00\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\InetStp]\r\n",
    "\"MajorVersion\"=dword:0000000a\r\n",
    "\"MinorVersion\"=dword:00000000\r\n",
    "\"InstallPath\"=\"C:\\\\Windows\\\\system32\\\\inetsrv\"\r\n",
    "\"PathWWWRoot\"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,44,00,72,00,69,00,\\\r\n",
    "  76,00,65,00,25,00,5c,00,69,00,6e,00,65,00,74,00,70,00,75,00,62,00,5c,00,77,\\\r\n",
    "  00,77,00,77,00,72,00,6f,00,6f,00,74,00,00,00\r\n",
    "\"SetupString\"=\"IIS 10.0\"\r\n",
    "\"VersionString\"=\"Version 10.0\"\r\n\r\n",
    "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\InetStp\\Components]\r\n",
    "\"FTPServer\"=dword:00000000\r\n",
    "\"W3SVC\"=dword:00000001\r\n",
    "\"WindowsAuthentication\"=dword:00000001\r\n\r\n",
);

#[test]
fn inetstp_export_gives_the_iis_version() {
    let (res, sink) = run(&utf16le_with_bom(INETSTP_2016));
    res.unwrap();
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    let iis: Vec<(&Fact, &IisSetup)> = sink
        .facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::IisSetup(i) => Some((f, i)),
            _ => None,
        })
        .collect();
    assert_eq!(iis.len(), 1, "{:?}", sink.facts);
    let (f, i) = iis[0];
    assert_eq!(i.version.as_deref(), Some("10.0"));
    assert_eq!(
        i.install_path.as_deref(),
        Some("C:\\Windows\\system32\\inetsrv")
    );
    assert_eq!(i.components, vec!["W3SVC", "WindowsAuthentication"]);
    assert_eq!(
        f.evidence.locator.to_string(),
        "registry/exchange.reg [HKLM\\SOFTWARE\\Microsoft\\InetStp]"
    );
    // Only VersionString (an old or hand-trimmed export): still a version.
    let text = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\InetStp]\r\n\"VersionString\"=\"Version 7.5\"\r\n";
    let (res, sink) = run(&utf16le_with_bom(text));
    res.unwrap();
    assert!(sink.facts.iter().any(
        |f| matches!(&f.kind, FactKind::IisSetup(i) if i.version.as_deref() == Some("Version 7.5"))
    ));
    // Other keys under SOFTWARE\Microsoft stay unread.
    let other = INETSTP_2016.replace("InetStp", "InetStpX");
    let (_, sink) = run(&utf16le_with_bom(&other));
    assert!(sink.facts.is_empty());
}

#[test]
fn seed_roles_install_path_and_services() {
    let (res, sink) = run(&utf16le_with_bom(SEED_REG));
    res.unwrap();
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    let roles = roles(&sink);
    assert_eq!(roles.len(), 2);
    let (hub_fact, hub) = roles
        .iter()
        .find(|(_, r)| r.role == "HubTransportRole")
        .unwrap();
    assert_eq!(hub.major, "v14");
    assert_eq!(hub.configured_version, None);
    assert_eq!(hub.unpacked_version.as_deref(), Some("14.2.247.5"));
    assert_eq!(hub.action.as_deref(), Some("BuildToBuildUpgrade"));
    assert!(hub.watermark.as_deref().unwrap().starts_with("Bridgehead"));
    assert_eq!(
        hub_fact.evidence.locator.at,
        Position::Key("HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\HubTransportRole".into())
    );
    assert!(
        hub_fact
            .evidence
            .excerpt
            .starts_with("line 9: [HubTransportRole]")
    );
    assert!(hub_fact.evidence.excerpt.contains("Watermark="));
    assert!(hub_fact.evidence.excerpt.contains("(no ConfiguredVersion)"));
    let cas = roles
        .iter()
        .find(|(_, r)| r.role == "ClientAccessRole")
        .unwrap()
        .1;
    assert_eq!(cas.configured_version.as_deref(), Some("14.1.218.15"));

    let install: Vec<&InstallPath> = sink
        .facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::InstallPath(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(install.len(), 1);
    assert_eq!(
        install[0].path,
        "D:\\Program Files\\Microsoft\\Exchange Server\\V14\\"
    );
    assert_eq!(install[0].build.as_deref(), Some("14.2.247.5"));

    let services: Vec<&ServiceRegistry> = sink
        .facts
        .iter()
        .filter_map(|f| match &f.kind {
            FactKind::ServiceRegistry(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(services.len(), 2, "the Parameters subkey is not a service");
    let search = services
        .iter()
        .find(|s| s.name == "MSExchangeSearch")
        .unwrap();
    assert_eq!(
        search.depend_on,
        vec!["MSExchangeADTopology", "msftesql-Exchange"]
    );
    assert_eq!(search.image_path.as_deref(), Some("\"D:\\M.exe\""));
    assert_eq!(search.start, Some(2));
    let fte = services
        .iter()
        .find(|s| s.name == "msftesql-Exchange")
        .unwrap();
    assert_eq!(fte.start, Some(4));
}

#[test]
fn a_healthy_role_key_has_no_watermark() {
    let text = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\MailboxRole]\r\n\"ConfiguredVersion\"=\"14.2.247.5\"\r\n\"UnpackedVersion\"=\"14.2.247.5\"\r\n";
    let (res, sink) = run(&utf16le_with_bom(text));
    res.unwrap();
    let r = roles(&sink);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1.configured_version.as_deref(), Some("14.2.247.5"));
    assert_eq!(r[0].1.watermark, None);
    assert_eq!(r[0].1.action, None);
    assert!(!r[0].0.evidence.excerpt.contains("no ConfiguredVersion"));
}

#[test]
fn every_value_type_decodes() {
    let text = concat!(
        "Windows Registry Editor Version 5.00\r\n\r\n",
        "[HKEY_LOCAL_MACHINE\\X]\r\n",
        "@=\"default\"\r\n",
        "\"Sz\"=\"C:\\\\Path\\\\ with \\\"quotes\\\"\"\r\n",
        "\"Dw\"=dword:0000000a\r\n",
        "\"Qw\"=hex(b):0a,00,00,00,01,00,00,00\r\n",
        "\"Bin\"=hex:01,02,ff\r\n",
        "\"Ex\"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,6f,00,6f,00,74,00,\\\r\n",
        "  25,00,00,00\r\n",
        "\"Ms\"=hex(7):61,00,00,00,62,00,00,00,00,00\r\n",
        "\"None\"=hex(0):\r\n",
        "\"Gone\"=-\r\n",
        "\"Multi\"=\"line one\r\nline two\"\r\n",
        "\"Esc\\\"aped\\\\name\"=\"v\"\r\n",
    );
    let mut r: &[u8] = text.as_bytes();
    let mut reg = RegReader::new(&mut r, 1 << 20).unwrap();
    assert!(reg.unicode && reg.has_header);
    let mut values = Vec::new();
    while let Some(item) = reg.next_item().unwrap() {
        if let Item::Value { line, name, value } = item {
            values.push((line, name, value));
        }
    }
    let get = |n: &str| {
        values
            .iter()
            .find(|v| v.1 == n)
            .map(|v| v.2.clone())
            .unwrap()
    };
    assert_eq!(get(""), RegValue::Sz("default".into()));
    assert_eq!(get("Sz"), RegValue::Sz("C:\\Path\\ with \"quotes\"".into()));
    assert_eq!(get("Dw"), RegValue::Dword(10));
    assert_eq!(get("Qw"), RegValue::Qword(0x1_0000_000a));
    assert_eq!(get("Bin"), RegValue::Binary(vec![1, 2, 255]));
    assert_eq!(get("Ex"), RegValue::ExpandSz("%SystemRoot%".into()));
    assert_eq!(get("Ms"), RegValue::MultiSz(vec!["a".into(), "b".into()]));
    assert_eq!(get("None"), RegValue::None(vec![]));
    assert_eq!(get("Gone"), RegValue::Deleted);
    assert_eq!(get("Multi"), RegValue::Sz("line one\nline two".into()));
    assert_eq!(get("Esc\"aped\\name"), RegValue::Sz("v".into()));
    let line_of = |n: &str| values.iter().find(|v| v.1 == n).unwrap().0;
    assert_eq!(line_of("Ex"), 9);
    assert_eq!(line_of("Ms"), 11, "continuation lines are counted");
    assert_eq!(reg.malformed.0, 0);
}

#[test]
fn regedit4_ansi_and_deletions() {
    let text = concat!(
        "REGEDIT4\n\n",
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\MailboxRole]\n",
        "\"UnpackedVersion\"=\"15.1.2507.6\"\n",
        "\"ConfiguredVersion\"=\"15.1.2507.6\"\n",
        "\"Watermark\"=-\n\n",
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\CafeRole]\n",
        "\"UnpackedVersion\"=\"15.1.2507.6\"\n",
        "[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\CafeRole]\n\n",
        "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\W3SVC]\n",
        "\"ImagePath\"=hex(2):43,3a,5c,77,33,2e,65,78,65,00\n",
    );
    let (res, sink) = run(text.as_bytes());
    res.unwrap();
    let r = roles(&sink);
    assert_eq!(r.len(), 1, "the deleted CafeRole key yields nothing");
    assert_eq!(r[0].1.major, "v15");
    assert_eq!(r[0].1.watermark, None, "a deleted value is absent");
    let img = sink.facts.iter().find_map(|f| match &f.kind {
        FactKind::ServiceRegistry(s) => s.image_path.clone(),
        _ => None,
    });
    assert_eq!(
        img.as_deref(),
        Some("C:\\w3.exe"),
        "REGEDIT4 hex(2) is ANSI"
    );
}

#[test]
fn deleting_a_parent_key_drops_its_subkeys_only() {
    let text = concat!(
        "REGEDIT4\n",
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\MailboxRole]\n",
        "\"UnpackedVersion\"=\"15.1.2507.6\"\n",
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\MailboxRole]\n",
        "\"UnpackedVersion\"=\"14.2.247.5\"\n",
        "\"SomethingElse\"=\"not kept\"\n",
        "[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v15]\n",
    );
    let (res, sink) = run(text.as_bytes());
    res.unwrap();
    let r = roles(&sink);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1.major, "v14");
}

#[test]
fn garbage_and_wrong_encoding_are_refused_or_reported() {
    let (res, sink) = run(b"\x00\x01\x02 not a reg file at all \xff\xfe");
    assert!(res.is_err());
    assert!(sink.facts.is_empty());
    let (res, _) = run(b"");
    assert!(res.is_err());
    let (res, _) = run(b"Windows Registry Editor Version 5.00\r\n\r\n");
    assert!(res.is_err(), "a header alone is not an export");
    // UTF-16 without BOM is still sniffed.
    let bomless: Vec<u8> = "Windows Registry Editor Version 5.00\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\MailboxRole]\r\n\"UnpackedVersion\"=\"14.2.247.5\"\r\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
    let (res, sink) = run(&bomless);
    res.unwrap();
    assert_eq!(roles(&sink).len(), 1);
    // Junk lines inside an otherwise good export are counted, not fatal.
    let text = "REGEDIT4\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\MailboxRole]\njunk junk\n\"UnpackedVersion\"=dword:xyz\n\"ConfiguredVersion\"=\"14.2.247.5\"\n";
    let (res, sink) = run(text.as_bytes());
    res.unwrap();
    assert_eq!(roles(&sink).len(), 1);
    assert!(
        sink.problems
            .iter()
            .any(|p| p.message.contains("2 line(s)") && p.message.contains("line 3")),
        "{:?}",
        sink.problems
    );
}

#[test]
fn truncated_file_keeps_complete_keys() {
    let full = utf16le_with_bom(SEED_REG);
    // Cut in the middle of the DependOnService continuation (and mid-UTF-16 unit).
    let cut = &full[..full.len() * 3 / 4 + 1];
    let (res, sink) = run(cut);
    res.unwrap();
    assert_eq!(roles(&sink).len(), 2);
    assert!(
        sink.facts
            .iter()
            .any(|f| matches!(f.kind, FactKind::InstallPath(_)))
    );
}

#[test]
fn ten_megabyte_single_line_is_cut_and_reported() {
    let mut text = String::from(
        "REGEDIT4\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\MailboxRole]\n\"Watermark\"=\"",
    );
    text.push_str(&"x".repeat(10 << 20));
    text.push_str("\"\n\"UnpackedVersion\"=\"14.2.247.5\"\n");
    let (res, sink) = run(text.as_bytes());
    res.unwrap();
    let r = roles(&sink);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1.unpacked_version.as_deref(), Some("14.2.247.5"));
    assert!(
        sink.problems.iter().any(|p| p.message.contains("cut")),
        "{:?}",
        sink.problems
    );
}

#[test]
fn endless_hex_continuation_is_bounded() {
    let mut text = String::from(
        "REGEDIT4\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\X]\n\"Big\"=hex:00,\\\n",
    );
    let line = "  00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,\\\n";
    while text.len() < (MAX_HEX_CHARS + (1 << 20)) {
        text.push_str(line);
    }
    text.push_str("  00\n\"Start\"=dword:00000004\n");
    let (res, sink) = run(text.as_bytes());
    res.unwrap();
    let s = sink.facts.iter().find_map(|f| match &f.kind {
        FactKind::ServiceRegistry(s) => Some(s.clone()),
        _ => None,
    });
    assert_eq!(
        s.unwrap().start,
        Some(4),
        "the value after the big one is read"
    );
    assert!(
        sink.problems
            .iter()
            .any(|p| p.message.contains("not decoded"))
    );
    assert!(
        sink.incomplete.unwrap().contains("not decoded"),
        "read in part"
    );
}
