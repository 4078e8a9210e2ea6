//! The seed sample and its healthy twin, read back with the `evtx` crate (an independent reader):
//! the events tell the same story as the other artefacts.

use samplegen::scenarios::exchange2010_sp2;

/// (provider, event id, level, data values) of every record of an EVTX file.
fn records(bytes: &[u8]) -> Vec<(String, u32, u8, Vec<String>)> {
    let mut parser = evtx::EvtxParser::from_buffer(bytes.to_vec()).expect("an EVTX file");
    let mut out = Vec::new();
    for r in parser.records_json_value() {
        let r = r.expect("every record reads");
        let system = &r.data["Event"]["System"];
        let provider = system["Provider"]["#attributes"]["Name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let id = system["EventID"]
            .as_u64()
            .or_else(|| system["EventID"]["#text"].as_u64())
            .unwrap_or(0) as u32;
        let level = system["Level"].as_u64().unwrap_or(0) as u8;
        let mut data = Vec::new();
        if let serde_json::Value::Object(m) = &r.data["Event"]["EventData"] {
            for (k, v) in m {
                if k == "Data" {
                    // Unnamed <Data> elements: a string or an array of strings, under
                    // `#text` when the element carries no attribute.
                    let v = v.get("#text").unwrap_or(v);
                    match v {
                        serde_json::Value::Array(a) => {
                            data.extend(a.iter().map(|x| x.as_str().unwrap_or("").to_string()))
                        }
                        other => data.push(other.as_str().unwrap_or("").to_string()),
                    }
                } else if let Some(s) = v.as_str() {
                    data.push(s.to_string());
                }
            }
        }
        out.push((provider, id, level, data));
    }
    out
}

fn file<'a>(b: &'a samplegen::BundleBuilder, path: &str) -> &'a [u8] {
    b.get(path)
        .unwrap_or_else(|| panic!("{path} is in the bundle"))
}

#[test]
fn seed_aspnet_events_cite_the_real_codebase_line() {
    let b = exchange2010_sp2(true);
    let app = records(file(&b, "evtx/Application.evtx"));
    let re_tail = "web.config line ";
    let mut cited = std::collections::BTreeSet::new();
    for (_, _, _, data) in app
        .iter()
        .filter(|(p, id, _, _)| p == "ASP.NET 2.0.50727.0" && *id == 1310)
    {
        let msg = data
            .iter()
            .find(|d| d.contains(re_tail))
            .expect("a message with a line");
        let (path, line) = msg.rsplit_once(re_tail).unwrap();
        let line: usize = line.trim_end_matches(')').parse().unwrap();
        // `(D:\…\V14\ClientAccess\sync\` → `ClientAccess/sync/web.config`, matched without case.
        let rel = path.rsplit_once("V14\\").unwrap().1.replace('\\', "/") + "web.config";
        cited.insert((rel.to_lowercase(), line));
    }
    assert_eq!(cited.len(), 3, "{cited:?}");
    for (rel, line) in cited {
        let bundle_path = format!("iis/webconfig/{rel}");
        let (_, bytes) = b
            .contents()
            .into_iter()
            .find(|(p, _)| p.to_lowercase() == bundle_path)
            .unwrap_or_else(|| panic!("{bundle_path} in the bundle"));
        let text = String::from_utf8(bytes).unwrap();
        let at = text.lines().nth(line - 1).unwrap();
        assert!(
            at.contains("<codeBase") && at.contains("bin\\Microsoft.Exchange.Security.dll"),
            "{rel} line {line}: {at}"
        );
    }
}

#[test]
fn seed_has_the_incident_events_and_the_twin_none() {
    let count = |recs: &[(String, u32, u8, Vec<String>)], provider: &str, id: u32| {
        recs.iter()
            .filter(|(p, i, _, _)| p == provider && *i == id)
            .count()
    };
    let seed = exchange2010_sp2(true);
    let twin = exchange2010_sp2(false);
    let (ss, sa) = (
        records(file(&seed, "evtx/System.evtx")),
        records(file(&seed, "evtx/Application.evtx")),
    );
    let (hs, ha) = (
        records(file(&twin, "evtx/System.evtx")),
        records(file(&twin, "evtx/Application.evtx")),
    );
    assert!(ss.len() + sa.len() > 2000, "a realistic background");
    assert!(ss.iter().any(|(p, id, _, d)| p == "Service Control Manager"
        && *id == 7040
        && d == &[
            "Microsoft Exchange Service Host",
            "auto start",
            "disabled",
            "MSExchangeServiceHost"
        ]));
    assert!(ss.iter().any(|(p, id, _, d)| p == "Service Control Manager"
        && *id == 7000
        && d == &["Microsoft Exchange Service Host", "%%1058"]));
    assert!(ss.iter().any(|(p, id, _, d)| p == "Service Control Manager"
        && *id == 7001
        && d[0] == "Microsoft Exchange Search Indexer"
        && d[2] == "%%1058"));
    assert!(count(&ss, "Microsoft-Windows-WAS", 5139) >= 2);
    assert!(count(&sa, "Microsoft-Windows-IIS-W3SVC-WP", 2280) >= 2);
    assert_eq!(count(&sa, "MSExchangeSetup", 1002), 1);
    assert_eq!(count(&ha, "MSExchangeSetup", 1001), 1);
    assert_eq!(count(&ha, "MSExchangeSetup", 1002), 0);
    // The healthy twin logs nothing above Information (level 4; 0 is "log always").
    let loud: Vec<_> = hs
        .iter()
        .chain(&ha)
        .filter(|(_, _, level, _)| (1..=3).contains(level))
        .collect();
    assert!(loud.is_empty(), "{loud:?}");
    // And no start type changed to disabled.
    assert!(
        !hs.iter()
            .any(|(_, id, _, d)| *id == 7040 && d.get(2).is_some_and(|s| s == "disabled"))
    );
}
