//! `exhume timeline`: CSV or JSON lines with Timesketch's columns (`datetime`,
//! `timestamp_desc`, `message`), then `source` and `locator`, the event's own fields
//! (`event_id`, `channel`, `provider`, `record_id`, `computer`) and `tag`, the ids of the
//! findings that cite the row. Timesketch takes the extra columns as attributes.
//!
//! A setup-log time whose UTC offset is unknown is written as the local time it is, without
//! `Z`, and its `timestamp_desc` says "local time, UTC offset unknown": such a row is never
//! presented as UTC.

use crate::timeline::TimelineEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

/// The columns, in order.
pub const COLUMNS: [&str; 11] = [
    "datetime",
    "timestamp_desc",
    "message",
    "source",
    "locator",
    "event_id",
    "channel",
    "provider",
    "record_id",
    "computer",
    "tag",
];

/// What `timestamp_desc` adds to a local time whose offset is unknown.
pub const OFFSET_UNKNOWN: &str = " (local time, UTC offset unknown)";

/// What comes before the first row.
pub fn header(format: Format) -> String {
    match format {
        Format::Csv => COLUMNS.join(",") + "\n",
        Format::Jsonl => String::new(),
    }
}

/// One entry as one line, with its newline.
pub fn row(format: Format, e: &TimelineEntry) -> String {
    let (datetime, desc) = if e.local {
        (
            e.datetime
                .naive_utc()
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string(),
            format!("{}{OFFSET_UNKNOWN}", e.timestamp_desc),
        )
    } else {
        (
            e.datetime
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            e.timestamp_desc.clone(),
        )
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    let event_id = opt(e.event_id.map(|v| v.to_string()));
    let record_id = opt(e.record_id.map(|v| v.to_string()));
    match format {
        Format::Csv => {
            let cells = [
                &datetime,
                &desc,
                &e.message,
                &e.source,
                &e.locator,
                &event_id,
                &e.channel,
                &e.provider,
                &record_id,
                &e.computer,
                &e.tag,
            ];
            let cells: Vec<String> = cells.iter().map(|c| quote(c)).collect();
            cells.join(",") + "\n"
        }
        Format::Jsonl => {
            let v = serde_json::json!({
                "datetime": datetime,
                "timestamp_desc": desc,
                "message": e.message,
                "source": e.source,
                "locator": e.locator,
                "event_id": e.event_id,
                "channel": e.channel,
                "provider": e.provider,
                "record_id": e.record_id,
                "computer": e.computer,
                "tag": e.tag,
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
    let mut out = header(format);
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
