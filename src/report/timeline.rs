//! `exhume timeline`: CSV or JSON lines with Timesketch's columns (`datetime`,
//! `timestamp_desc`, `message`) plus `source` and `locator`.

use crate::timeline::TimelineEntry;

pub fn csv(entries: &[TimelineEntry]) -> String {
    let mut out = String::from("datetime,timestamp_desc,message,source,locator\n");
    for e in entries {
        let row = [
            e.datetime
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            e.timestamp_desc.clone(),
            e.message.clone(),
            e.source.clone(),
            e.locator.clone(),
        ];
        let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn jsonl(entries: &[TimelineEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let v = serde_json::json!({
            "datetime": e.datetime.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "timestamp_desc": e.timestamp_desc,
            "message": e.message,
            "source": e.source,
            "locator": e.locator,
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}
