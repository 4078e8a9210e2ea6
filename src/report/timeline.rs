//! `exhume timeline`: CSV or JSON lines with Timesketch's columns (`datetime`,
//! `timestamp_desc`, `message`) plus `source` and `locator`.

use crate::timeline::TimelineEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

/// What comes before the first row.
pub fn header(format: Format) -> &'static str {
    match format {
        Format::Csv => "datetime,timestamp_desc,message,source,locator\n",
        Format::Jsonl => "",
    }
}

/// One entry as one line, with its newline.
pub fn row(format: Format, e: &TimelineEntry) -> String {
    let datetime = e
        .datetime
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    match format {
        Format::Csv => {
            let cells = [
                &datetime,
                &e.timestamp_desc,
                &e.message,
                &e.source,
                &e.locator,
            ];
            let cells: Vec<String> = cells.iter().map(|c| quote(c)).collect();
            cells.join(",") + "\n"
        }
        Format::Jsonl => {
            let v = serde_json::json!({
                "datetime": datetime,
                "timestamp_desc": e.timestamp_desc,
                "message": e.message,
                "source": e.source,
                "locator": e.locator,
            });
            v.to_string() + "\n"
        }
    }
}

pub fn csv(entries: &[TimelineEntry]) -> String {
    all(Format::Csv, entries)
}

pub fn jsonl(entries: &[TimelineEntry]) -> String {
    all(Format::Jsonl, entries)
}

fn all(format: Format, entries: &[TimelineEntry]) -> String {
    let mut out = header(format).to_string();
    for e in entries {
        out += &row(format, e);
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
