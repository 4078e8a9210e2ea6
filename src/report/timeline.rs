//! `exhume timeline`: CSV or JSON lines with Timesketch's columns (`datetime`,
//! `timestamp_desc`, `message`), then `source` and `locator`, the event's own fields
//! (`event_id`, `channel`, `provider`, `record_id`, `computer`) and `tag`, the ids of the
//! findings that cite the row. Timesketch takes the extra columns as attributes.
//!
//! A setup-log time whose UTC offset is unknown is written as the local time it is, without
//! `Z`, and its `timestamp_desc` says "local time, UTC offset unknown": such a row is never
//! presented as UTC.

use crate::timeline::{Row, TimelineEntry};
use chrono::{Datelike, Timelike};

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
    let mut out = Vec::new();
    write_row(format, &e.row(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// [`row`], appended to `out`: `timeline` writes millions of rows, so nothing is allocated
/// per cell.
pub fn write_row(format: Format, e: &Row<'_>, out: &mut Vec<u8>) {
    let t = e.datetime.naive_utc();
    let mut datetime = [0u8; 32];
    let datetime = written(
        &mut datetime,
        format_args!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.nanosecond() / 1000 % 1_000_000,
            if e.local { "" } else { "Z" }
        ),
    );
    let unknown = if e.local { OFFSET_UNKNOWN } else { "" };
    match format {
        Format::Csv => {
            let desc_local;
            let desc = if e.local {
                desc_local = format!("{}{unknown}", e.timestamp_desc);
                desc_local.as_str()
            } else {
                e.timestamp_desc
            };
            let cells = [
                datetime, desc, e.message, e.source, e.locator, "", e.channel, e.provider, "",
                e.computer, e.tag,
            ];
            for (i, cell) in cells.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Numbers never need quoting.
                match i {
                    5 => number_into(out, e.event_id.map(u64::from)),
                    8 => number_into(out, e.record_id),
                    _ => push_cell(out, cell),
                }
            }
            out.push(b'\n');
        }
        Format::Jsonl => {
            /// The JSON line: its fields in column order.
            #[derive(serde::Serialize)]
            struct Line<'a> {
                datetime: &'a str,
                timestamp_desc: std::borrow::Cow<'a, str>,
                message: &'a str,
                source: &'a str,
                locator: &'a str,
                event_id: Option<u32>,
                channel: &'a str,
                provider: &'a str,
                record_id: Option<u64>,
                computer: &'a str,
                tag: &'a str,
            }
            let line = Line {
                datetime,
                timestamp_desc: if e.local {
                    format!("{}{unknown}", e.timestamp_desc).into()
                } else {
                    e.timestamp_desc.into()
                },
                message: e.message,
                source: e.source,
                locator: e.locator,
                event_id: e.event_id,
                channel: e.channel,
                provider: e.provider,
                record_id: e.record_id,
                computer: e.computer,
                tag: e.tag,
            };
            let _ = serde_json::to_writer(&mut *out, &line);
            out.push(b'\n');
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

/// What `args` writes, in `buf` (cut at its end: the callers' texts are shorter).
fn written<'b>(buf: &'b mut [u8], args: std::fmt::Arguments<'_>) -> &'b str {
    use std::io::Write;
    let n = {
        let mut w = &mut buf[..];
        let _ = w.write_fmt(args);
        w.len()
    };
    let end = buf.len() - n;
    std::str::from_utf8(&buf[..end]).unwrap_or_default()
}

/// An id column: the number, or nothing.
fn number_into(out: &mut Vec<u8>, v: Option<u64>) {
    use std::io::Write;
    if let Some(v) = v {
        let _ = write!(out, "{v}");
    }
}

/// A CSV cell: quoted when it holds a separator, a quote or a line break, and made inert when
/// a spreadsheet would read it as a formula (`=`, `+`, `-`, `@`, tab or carriage return first:
/// event data is written by whoever wrote to the log), by a leading apostrophe, as OWASP
/// advises for CSV files.
fn push_cell(out: &mut Vec<u8>, s: &str) {
    let quoted = s.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push(b'"');
    }
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push(b'\'');
    }
    if quoted {
        for part in s.split_inclusive('"') {
            out.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                out.push(b'"');
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> TimelineEntry {
        TimelineEntry {
            timestamp_desc: "Event logged".into(),
            message: message.into(),
            source: "EVTX".into(),
            locator: "evtx/System.evtx record 7".into(),
            event_id: Some(7036),
            record_id: Some(7),
            ..Default::default()
        }
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_inert_in_csv_only() {
        for (message, cell) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("a=b, c", "\"a=b, c\""),
        ] {
            let line = row(Format::Csv, &event(message));
            let cells = line.split(",Event logged,").nth(1).unwrap();
            assert!(cells.starts_with(&format!("{cell},EVTX,")), "{line}");
            let json = row(Format::Jsonl, &event(message));
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["message"], message, "JSON keeps the value as it is");
        }
    }

    #[test]
    fn a_row_has_every_column_once() {
        let line = row(Format::Csv, &event("System 7036 Service Control Manager"));
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000000Z,Event logged,System 7036 Service Control Manager,EVTX,evtx/System.evtx record 7,7036,,,7,,\n"
        );
        let mut local = event("x");
        local.local = true;
        let line = row(Format::Csv, &local);
        assert!(line.starts_with(&format!(
            "1970-01-01T00:00:00.000000,\"Event logged{OFFSET_UNKNOWN}\",x,"
        )));
    }
}
