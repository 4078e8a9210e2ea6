//! `system/host.json`: what the collector learnt about the server (OS, domain, pending reboot,
//! .NET release, clock), as one `Host` fact.
//!
//! Written by a PowerShell collector, so the file may be UTF-8 with or without BOM, or UTF-16LE
//! (`Out-File` in Windows PowerShell 5.1), keys may be `snake_case` or `PascalCase`, and any key
//! may be missing. Keys are matched ignoring case, `_`, `-` and nesting (`time_zone.id` and
//! `TimeZoneId` are the same key); every other scalar is kept in `other` under its dotted path.

use super::text::decoded_reader;
use super::{Error, Input, Sink};
use crate::facts::{Evidence, Fact, FactKind, HostFacts, Locator};
use serde_json::Value;
use std::io::Read;

/// A host description is a few KiB; anything this large is not one.
pub const MAX_HOST_JSON: u64 = 16 << 20;
/// Scalars kept in `other`; a real file has a few dozen.
const MAX_OTHER: usize = 1_000;

pub fn parse(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    let path = input.path().to_string();
    if input.entry.size > MAX_HOST_JSON {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    input
        .bundle
        .read_to_end_capped(input.entry, MAX_HOST_JSON, &mut bytes)
        .map_err(|e| {
            if bytes.len() as u64 > MAX_HOST_JSON {
                too_large()
            } else {
                Error::from_io(e)
            }
        })?;
    parse_bytes(&bytes, &path, sink)
}

fn too_large() -> Error {
    Error::format(
        "a host description",
        format!("larger than {} MiB", MAX_HOST_JSON >> 20),
    )
}

/// Parses host.json from its bytes; `path` is the bundle path used in locators.
pub fn parse_bytes(bytes: &[u8], path: &str, sink: &mut Sink) -> Result<(), Error> {
    if bytes.len() as u64 > MAX_HOST_JSON {
        return Err(too_large());
    }
    let mut slice = bytes;
    let (_, mut decoded) = decoded_reader(&mut slice).map_err(Error::from_io)?;
    let mut text = Vec::with_capacity(bytes.len());
    decoded.read_to_end(&mut text).map_err(Error::from_io)?;
    let text = String::from_utf8_lossy(&text);
    let root: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| Error::format("JSON", e.to_string()))?;
    let Value::Object(_) = root else {
        return Err(Error::format(
            "a host description",
            "the JSON is not an object",
        ));
    };
    let mut flat: Vec<(String, &Value)> = Vec::new();
    flatten("", &root, &mut flat);

    let mut h = HostFacts::default();
    let mut used = vec![false; flat.len()];
    // The first alias present whose value converts (an object under `os` is skipped for
    // `os.caption`, say).
    fn take<T>(
        flat: &[(String, &Value)],
        used: &mut [bool],
        aliases: &[&str],
        conv: fn(&Value) -> Option<T>,
    ) -> Option<T> {
        for a in aliases {
            for (i, (k, v)) in flat.iter().enumerate() {
                if norm(k) == *a
                    && let Some(t) = conv(v)
                {
                    used[i] = true;
                    return Some(t);
                }
            }
        }
        None
    }
    let f = &flat;
    let u = &mut used;
    h.computer_name = take(
        f,
        u,
        &[
            "computername",
            "hostcomputername",
            "hostname",
            "csname",
            "machinename",
        ],
        text_of,
    );
    h.domain = take(
        f,
        u,
        &["domain", "hostdomain", "domainname", "csdomain"],
        text_of,
    );
    h.os = take(
        f,
        u,
        &[
            "os",
            "oscaption",
            "hostoscaption",
            "osname",
            "operatingsystem",
            "caption",
        ],
        text_of,
    );
    h.pending_reboot = take(
        f,
        u,
        &["pendingreboot", "rebootpending", "pendingrebootany"],
        bool_of,
    );
    h.dotnet_release = take(
        f,
        u,
        &[
            "dotnetrelease",
            "netrelease",
            "netfxrelease",
            "dotnetframeworkrelease",
            "netframeworkrelease",
        ],
        number_of,
    );
    h.utc_offset_minutes = take(
        f,
        u,
        &[
            "utcoffsetminutes",
            "timezoneutcoffsetminutes",
            "utcoffset",
            "timezoneutcoffset",
        ],
        offset_of,
    );
    h.time_zone_id = take(f, u, &["timezoneid", "tzid", "timezone"], text_of);

    // `pending_reboot` may be an object of flags (CBS, Windows Update, file renames…): any true
    // one means a reboot is pending.
    if h.pending_reboot.is_none() {
        let flags: Vec<bool> = flat
            .iter()
            .filter(|(k, _)| {
                let n = norm(k);
                n.starts_with("pendingreboot") || n.starts_with("rebootpending")
            })
            .filter_map(|(_, v)| bool_of(v))
            .collect();
        if !flags.is_empty() {
            h.pending_reboot = Some(flags.iter().any(|b| *b));
        }
    }

    let mut dropped = 0usize;
    for (i, (k, v)) in flat.iter().enumerate() {
        if used[i] {
            continue;
        }
        let Some(t) = text_of(v) else { continue };
        if h.other.len() >= MAX_OTHER {
            dropped += 1;
            continue;
        }
        h.other.insert(k.clone(), t);
    }
    if dropped > 0 {
        let why = format!("{dropped} more value(s) beyond the first {MAX_OTHER} were not kept");
        sink.problem(path, why.clone());
        sink.absorbed(why);
    }

    let mut parts = Vec::new();
    if let Some(c) = &h.computer_name {
        parts.push(format!("computer {c}"));
    }
    if let Some(d) = &h.domain {
        parts.push(format!("domain {d}"));
    }
    if let Some(o) = &h.os {
        parts.push(o.clone());
    }
    if let Some(p) = h.pending_reboot {
        parts.push(format!("pending reboot: {}", if p { "yes" } else { "no" }));
    }
    if let Some(r) = h.dotnet_release {
        parts.push(format!(".NET release {r}"));
    }
    if let Some(m) = h.utc_offset_minutes {
        parts.push(format!("UTC{}", crate::timeline::format_offset(m)));
    }
    if let Some(z) = &h.time_zone_id {
        parts.push(z.clone());
    }
    if parts.is_empty() {
        parts.push("no known key".into());
    }
    sink.push(Fact {
        time: None,
        evidence: Evidence::new(Locator::file(path), parts.join(", ")),
        kind: FactKind::Host(h),
    });
    Ok(())
}

/// Every value by dotted path; objects are walked, arrays of scalars are kept whole (joined by
/// [`text_of`]), other arrays and nulls are left out (arrays of AD objects would swamp `other`).
fn flatten<'v>(prefix: &str, v: &'v Value, out: &mut Vec<(String, &'v Value)>) {
    match v {
        Value::Object(map) => {
            if !prefix.is_empty() {
                out.push((prefix.to_string(), v));
            }
            for (k, child) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, child, out);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            out.push((prefix.to_string(), v))
        }
        Value::Array(_) | Value::Null => {}
        _ => out.push((prefix.to_string(), v)),
    }
}

/// `time_zone.Id` → `timezoneid`.
fn norm(k: &str) -> String {
    k.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(text_of).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        _ => None,
    }
}

fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn number_of(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Minutes as a number, or `+01:00` / `-05:30` / `01:00:00` (a .NET TimeSpan).
fn offset_of(v: &Value) -> Option<i32> {
    let m = match v {
        Value::Number(n) => n.as_f64().map(|f| f.round() as i64)?,
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<i64>() {
                n
            } else {
                let (sign, rest) = match s.strip_prefix('-') {
                    Some(r) => (-1, r),
                    None => (1, s.strip_prefix('+').unwrap_or(s)),
                };
                let mut it = rest.split(':');
                let h: i64 = it.next()?.trim().parse().ok()?;
                let m: i64 = it.next()?.trim().parse().ok()?;
                sign * (h * 60 + m)
            }
        }
        _ => return None,
    };
    // Real offsets lie within ±14 h.
    (m.abs() <= 14 * 60).then_some(m as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> (Result<(), Error>, Sink) {
        let mut sink = Sink::default();
        let res = parse_bytes(bytes, "system/host.json", &mut sink);
        (res, sink)
    }

    fn host(sink: &Sink) -> &HostFacts {
        sink.facts
            .iter()
            .find_map(|f| match &f.kind {
                FactKind::Host(h) => Some(h),
                _ => None,
            })
            .expect("a Host fact")
    }

    /// The seed server: Exchange 2010 SP2 on Server 2008 R2, rebooted since (no pending reboot).
    const SEED_HOST: &str = r#"{
        "computer_name": "EXCH01",
        "domain": "contoso.local",
        "os": "Microsoft Windows Server 2008 R2 Standard",
        "os_version": "6.1.7601",
        "pending_reboot": false,
        "dotnet_release": 378675,
        "utc_offset_minutes": 0,
        "time_zone_id": "GMT Standard Time",
        "powershell": "2.0",
        "uptime_hours": 3.5,
        "exchange": {"admin_display_version": "Version 14.2 (Build 247.5)", "roles": ["Mailbox", "ClientAccess", "HubTransport"],
                     "servers": [{"name": "EXCH01"}]},
        "pending_reboot_reasons": []
    }"#;

    #[test]
    fn seed_host() {
        let (res, sink) = run(SEED_HOST.as_bytes());
        res.unwrap();
        let h = host(&sink);
        assert_eq!(h.computer_name.as_deref(), Some("EXCH01"));
        assert_eq!(h.domain.as_deref(), Some("contoso.local"));
        assert_eq!(
            h.os.as_deref(),
            Some("Microsoft Windows Server 2008 R2 Standard")
        );
        assert_eq!(h.pending_reboot, Some(false));
        assert_eq!(h.dotnet_release, Some(378675));
        assert_eq!(h.utc_offset_minutes, Some(0));
        assert_eq!(h.time_zone_id.as_deref(), Some("GMT Standard Time"));
        assert_eq!(
            h.other.get("os_version").map(String::as_str),
            Some("6.1.7601")
        );
        assert_eq!(h.other.get("uptime_hours").map(String::as_str), Some("3.5"));
        assert_eq!(
            h.other
                .get("exchange.admin_display_version")
                .map(String::as_str),
            Some("Version 14.2 (Build 247.5)")
        );
        assert_eq!(
            h.other.get("exchange.roles").map(String::as_str),
            Some("Mailbox, ClientAccess, HubTransport"),
            "arrays of scalars are joined"
        );
        assert!(
            !h.other.contains_key("exchange.servers"),
            "arrays of objects are not kept"
        );
        assert!(
            !h.other.contains_key("pending_reboot_reasons"),
            "an empty list says nothing"
        );
        let f = &sink.facts[0];
        assert_eq!(f.evidence.locator, Locator::file("system/host.json"));
        assert!(f.evidence.excerpt.contains("pending reboot: no"));
    }

    #[test]
    fn pascal_case_utf16_nested_and_flag_objects() {
        let text = r#"{"ComputerName":"EX02","Domain":"corp","OS":{"Caption":"Windows Server 2016"},
            "PendingReboot":{"CBS":false,"WindowsUpdate":true,"PendingFileRename":false},
            "DotNetRelease":"461814","TimeZone":{"Id":"W. Europe Standard Time","UtcOffsetMinutes":60}}"#;
        let (res, sink) = run(&crate::parse::text::utf16le_with_bom(text));
        res.unwrap();
        let h = host(&sink);
        assert_eq!(h.computer_name.as_deref(), Some("EX02"));
        assert_eq!(h.os.as_deref(), Some("Windows Server 2016"));
        assert_eq!(h.pending_reboot, Some(true), "any pending flag");
        assert_eq!(h.dotnet_release, Some(461814));
        assert_eq!(h.utc_offset_minutes, Some(60));
        assert_eq!(h.time_zone_id.as_deref(), Some("W. Europe Standard Time"));
    }

    #[test]
    fn missing_keys_bom_and_timespan_offsets() {
        let (res, sink) = run(b"\xEF\xBB\xBF{\"utc_offset\":\"-05:00:00\"}");
        res.unwrap();
        let h = host(&sink);
        assert_eq!(h.utc_offset_minutes, Some(-300));
        assert_eq!(h.computer_name, None);
        assert_eq!(h.pending_reboot, None);
        let (res, sink) = run(b"{}");
        res.unwrap();
        assert!(sink.facts[0].evidence.excerpt.contains("no known key"));
        let (_, sink) = run(br#"{"utc_offset_minutes": 100000}"#);
        assert_eq!(host(&sink).utc_offset_minutes, None, "not a real offset");
    }

    #[test]
    fn hostile_inputs() {
        for bad in [
            &b""[..],
            b"\x00\x01garbage",
            b"[1,2,3]",
            b"{\"computer_name\": \"EX",
            b"\xff\xfe\x00\xd8",
        ] {
            let (res, sink) = run(bad);
            assert!(res.is_err(), "{bad:?}");
            assert!(sink.facts.is_empty());
        }
        // Deep nesting: serde_json's recursion limit refuses it, no stack overflow.
        let deep = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        assert!(run(deep.as_bytes()).0.is_err());
        // A 10 MB single line is fine below the cap.
        let big = format!(
            "{{\"computer_name\":\"EX01\",\"blob\":\"{}\"}}",
            "x".repeat(10 << 20)
        );
        let (res, sink) = run(big.as_bytes());
        res.unwrap();
        assert_eq!(host(&sink).computer_name.as_deref(), Some("EX01"));
        // Over the cap: refused without parsing.
        let huge = vec![b' '; (MAX_HOST_JSON + 1) as usize];
        assert!(matches!(run(&huge).0, Err(Error::Format { .. })));
    }

    #[test]
    fn values_past_the_cap_are_counted_and_the_file_is_read_in_part() {
        let values: Vec<String> = (0..MAX_OTHER + 5)
            .map(|i| format!("\"v{i}\":\"x\""))
            .collect();
        let text = format!("{{\"computer_name\":\"EX01\",{}}}", values.join(","));
        let (res, sink) = run(text.as_bytes());
        res.unwrap();
        assert_eq!(host(&sink).other.len(), MAX_OTHER);
        assert!(sink.incomplete.unwrap().starts_with("5 more value(s)"));
        // Below the cap nothing is absorbed.
        let (_, sink) = run(br#"{"computer_name":"EX01","v":"x"}"#);
        assert_eq!(sink.incomplete, None);
    }

    /// The `parse` wrappers of the configuration parsers, through a real folder bundle: each
    /// member is used (not skipped) and yields its facts; an oversized host.json is skipped with
    /// the reason.
    #[test]
    fn the_wrappers_read_through_a_real_bundle() {
        use crate::bundle::{Bundle, Limits};
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, bytes: &[u8]| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        let reg = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\ExchangeServer\\v14\\HubTransportRole]\r\n\"UnpackedVersion\"=\"14.2.247.5\"\r\n\"Watermark\"=\"x\"\r\n";
        put(
            "registry/HKLM-SOFTWARE-Microsoft-ExchangeServer.reg",
            &crate::parse::text::utf16le_with_bom(reg),
        );
        put(
            "iis/applicationHost.config",
            b"<configuration><system.webServer><globalModules><add name=\"exppw\" image=\"D:\\x\\exppw.dll\"/></globalModules></system.webServer></configuration>",
        );
        put(
            "system/acl/owa-auth.txt",
            b"D:\\V14\\ClientAccess\\Owa\\auth NT AUTHORITY\\Authenticated Users:(R)\r\n\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n",
        );
        put("system/host.json", SEED_HOST.as_bytes());
        let bundle = Bundle::open(dir.path(), &Limits::default()).unwrap();
        let parsed = crate::parse::parse_bundle(&bundle, &crate::parse::Interest::default());
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        assert_eq!(parsed.used.len(), 4);
        let has = |pred: fn(&FactKind) -> bool| parsed.facts.iter().any(|f| pred(&f.kind));
        assert!(has(
            |k| matches!(k, FactKind::RoleState(r) if r.watermark.as_deref() == Some("x"))
        ));
        assert!(has(
            |k| matches!(k, FactKind::IisGlobalModule(m) if m.name == "exppw")
        ));
        assert!(has(
            |k| matches!(k, FactKind::AclEntry(a) if a.rights == "(R)")
        ));
        assert!(has(
            |k| matches!(k, FactKind::Host(h) if h.computer_name.as_deref() == Some("EXCH01"))
        ));

        let big = vec![b' '; (MAX_HOST_JSON + 1) as usize];
        put("system/host.json", &big);
        let bundle = Bundle::open(dir.path(), &Limits::default()).unwrap();
        let parsed = crate::parse::parse_bundle(&bundle, &crate::parse::Interest::default());
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!(parsed.skipped[0].path, "system/host.json");
        assert!(
            parsed.skipped[0].reason.contains("16 MiB"),
            "{:?}",
            parsed.skipped
        );
    }
}
