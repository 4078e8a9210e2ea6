//! CSV files written by PowerShell `Export-Csv` (any version): an optional `#TYPE` line, a
//! header, quoted fields with `""` escapes and fields spanning lines; UTF-8, BOM or UTF-16.

use super::text::LineReader;
use super::{Error, Input, Sink};
use crate::facts::{
    Evidence, Fact, FactKind, FileEntry, FileVersion, Locator, Position, ServiceState, Software,
};
use std::collections::HashMap;

/// A quoted field may span lines, but not without end.
const MAX_RECORD_LINES: usize = 64;

/// One data row: 1-based row number and fields by lower-case header name.
pub struct Row {
    pub row: u64,
    /// Line of the file the row starts on.
    pub line: u64,
    fields: HashMap<String, String>,
    pub raw: String,
}

impl Row {
    /// The first non-empty field among `names` (header names, case-insensitive).
    pub fn get(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .filter_map(|n| self.fields.get(&n.to_ascii_lowercase()))
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
    }
}

/// Reads every row of a CSV member and hands it to `each`.
pub fn read_rows(
    input: &Input<'_>,
    sink: &mut Sink,
    mut each: impl FnMut(&Row, &mut Sink),
) -> Result<(), Error> {
    let path = input.path().to_string();
    let max_line = input.limits.max_line_bytes;
    input
        .bundle
        .with_reader(input.entry, |r| {
            let mut lines = LineReader::new(r, max_line)?;
            let mut header: Option<Vec<String>> = None;
            let mut row_no = 0u64;
            let mut malformed = 0u64;
            while let Some((start_line, first)) = lines.next_line()? {
                let mut record = first.to_string();
                let mut extra = 0;
                while open_quote(&record) && extra < MAX_RECORD_LINES {
                    match lines.next_line()? {
                        Some((_, l)) => {
                            record.push('\n');
                            record.push_str(l);
                            extra += 1;
                        }
                        None => break,
                    }
                }
                if record.trim().is_empty() || (header.is_none() && record.starts_with("#TYPE")) {
                    continue;
                }
                let fields = split_record(&record);
                match &header {
                    None => {
                        header = Some(
                            fields
                                .iter()
                                .map(|h| h.trim().to_ascii_lowercase())
                                .collect(),
                        )
                    }
                    Some(h) => {
                        row_no += 1;
                        if fields.len() != h.len() {
                            malformed += 1;
                        }
                        let row = Row {
                            row: row_no,
                            line: start_line,
                            fields: h.iter().cloned().zip(fields).collect(),
                            raw: record.clone(),
                        };
                        each(&row, sink);
                    }
                }
            }
            if let Some(d) = lines.damage() {
                sink.problem(&path, d);
            }
            if malformed > 0 {
                sink.problem(
                    &path,
                    format!("{malformed} row(s) do not have as many fields as the header"),
                );
            }
            if header.is_none() {
                return Err(std::io::Error::other("no header line"));
            }
            Ok(())
        })
        .map_err(Error::from_io)?
        .map_err(Error::from_io)
}

fn open_quote(s: &str) -> bool {
    s.bytes().filter(|&b| b == b'"').count() % 2 == 1
}

/// Splits one CSV record; `"a ""b"""` → `a "b"`.
pub fn split_record(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn locator(input: &Input<'_>, row: &Row) -> Locator {
    Locator::new(input.path(), Position::Row(row.row))
}

pub fn parse_services(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    read_rows(input, sink, |row, sink| {
        let Some(name) = row.get(&["Name", "ServiceName"]) else {
            return;
        };
        let s = ServiceState {
            name: name.to_string(),
            display_name: row.get(&["DisplayName"]).unwrap_or(name).to_string(),
            start_mode: row
                .get(&["StartMode", "StartType"])
                .unwrap_or("")
                .to_string(),
            state: row.get(&["State", "Status"]).unwrap_or("").to_string(),
            start_name: row.get(&["StartName"]).map(str::to_string),
            path_name: row.get(&["PathName"]).map(str::to_string),
        };
        sink.push(Fact {
            time: None,
            evidence: Evidence::new(
                locator(input, row),
                format!(
                    "{} ({}): StartMode={} State={}",
                    s.name, s.display_name, s.start_mode, s.state
                ),
            ),
            kind: FactKind::Service(s),
        });
    })
}

pub fn parse_software(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    read_rows(input, sink, |row, sink| {
        let Some(name) = row.get(&["Name", "DisplayName"]) else {
            return;
        };
        let s = Software {
            name: name.to_string(),
            version: row.get(&["Version", "DisplayVersion"]).map(str::to_string),
            publisher: row.get(&["Publisher"]).map(str::to_string),
            install_date: row.get(&["InstallDate"]).map(str::to_string),
            source: row.get(&["Source"]).map(str::to_string),
        };
        sink.push(Fact {
            time: None,
            evidence: Evidence::new(locator(input, row), row.raw.clone()),
            kind: FactKind::Software(s),
        });
    })
}

pub fn parse_file_versions(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    read_rows(input, sink, |row, sink| {
        let (Some(path), Some(version)) = (
            row.get(&["Path", "FullName", "FileName"]),
            row.get(&["FileVersion", "ProductVersion", "Version"]),
        ) else {
            return;
        };
        sink.push(Fact {
            time: None,
            evidence: Evidence::new(locator(input, row), format!("{path} {version}")),
            kind: FactKind::FileVersion(FileVersion {
                path: path.to_string(),
                version: version.to_string(),
            }),
        });
    })
}

pub fn parse_inventory(input: &Input<'_>, sink: &mut Sink) -> Result<(), Error> {
    read_rows(input, sink, |row, sink| {
        let Some(path) = row.get(&["RelativePath", "Path", "FullName"]) else {
            return;
        };
        sink.push(Fact {
            time: None,
            evidence: Evidence::new(locator(input, row), path.to_string()),
            kind: FactKind::FileEntry(FileEntry {
                path: path.to_string(),
                size: row.get(&["Length", "Size"]).and_then(|s| s.parse().ok()),
                modified: row
                    .get(&["LastWriteTimeUtc", "LastWriteTime"])
                    .map(str::to_string),
            }),
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields() {
        assert_eq!(
            split_record(r#""a","b ""q""",,"c,d""#),
            vec!["a", "b \"q\"", "", "c,d"]
        );
    }
}
