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
            lines.report(&path, sink);
            if malformed > 0 {
                // A row of the wrong width was cut, joined or shifted: what it said is lost.
                let why = format!("{malformed} row(s) do not have as many fields as the header");
                sink.problem(&path, why.clone());
                sink.absorbed(why);
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

    /// Parses `bytes` as `system/<name>` through a real folder bundle.
    fn parse_as(name: &str, bytes: &[u8]) -> crate::parse::Parsed {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("system").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let bundle =
            crate::bundle::Bundle::open(dir.path(), &crate::bundle::Limits::default()).unwrap();
        crate::parse::parse_bundle(&bundle, &crate::parse::Interest::default())
    }

    fn services(p: &crate::parse::Parsed) -> Vec<(&Fact, &ServiceState)> {
        p.facts
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::Service(s) => Some((f, s)),
                _ => None,
            })
            .collect()
    }

    /// `Get-WmiObject Win32_Service | Export-Csv` in Windows PowerShell 5.1 writes a `#TYPE` line
    /// and, redirected through `Out-File`, UTF-16LE with a BOM.
    const SEED_SERVICES: &str = concat!(
        "#TYPE System.Management.ManagementObject#root\\cimv2\\Win32_Service\r\n",
        "\"Name\",\"DisplayName\",\"StartMode\",\"State\",\"StartName\",\"PathName\"\r\n",
        "\"MSExchangeServiceHost\",\"Microsoft Exchange Service Host\",\"Disabled\",\"Stopped\",\"LocalSystem\",\"\"\"D:\\Program Files\\Microsoft\\Exchange Server\\V14\\Bin\\Microsoft.Exchange.ServiceHost.exe\"\"\"\r\n",
        "\"msftesql-Exchange\",\"Microsoft Search (Exchange Server)\",\"Disabled\",\"Stopped\",\"LocalSystem\",\"x\"\r\n",
    );

    #[test]
    fn utf16_with_type_line_and_quoted_quotes() {
        let p = parse_as(
            "services.csv",
            &crate::parse::text::utf16le_with_bom(SEED_SERVICES),
        );
        assert!(p.skipped.is_empty(), "{:?}", p.skipped);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let s = services(&p);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].1.name, "MSExchangeServiceHost");
        assert!(s[0].1.is_disabled());
        assert_eq!(
            s[0].1.path_name.as_deref(),
            Some(
                "\"D:\\Program Files\\Microsoft\\Exchange Server\\V14\\Bin\\Microsoft.Exchange.ServiceHost.exe\""
            )
        );
        assert_eq!(s[1].0.evidence.locator.at, Position::Row(2));
    }

    #[test]
    fn quoted_fields_spanning_lines_keep_row_numbers() {
        let text = "Name,DisplayName,StartMode,State\r\nA,\"first\r\nsecond line\",Auto,Running\r\nB,b,Manual,Stopped\r\n";
        let p = parse_as("services.csv", text.as_bytes());
        let s = services(&p);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].1.display_name, "first\nsecond line");
        assert_eq!(s[1].1.name, "B");
        assert_eq!(s[1].0.evidence.locator.at, Position::Row(2));
    }

    #[test]
    fn hostile_csv_inputs() {
        // An unclosed quote swallows at most MAX_RECORD_LINES lines, then reading goes on.
        let mut text =
            String::from("Name,DisplayName,StartMode,State\nA,\"never closed,Auto,Running\n");
        for i in 0..(MAX_RECORD_LINES + 10) {
            text.push_str(&format!("X{i},x,Auto,Running\n"));
        }
        let p = parse_as("services.csv", text.as_bytes());
        let s = services(&p);
        assert!(!s.is_empty());
        assert!(
            s.len() < MAX_RECORD_LINES + 10,
            "the swallowed lines are not rows"
        );
        assert!(
            s.iter()
                .any(|(_, s)| s.name == format!("X{}", MAX_RECORD_LINES + 9))
        );

        // A 10 MB single line is cut and reported; the rows after it are read.
        let mut text = String::from("Name,DisplayName,StartMode,State\n");
        text.push_str(&format!("Big,{},Auto,Running\n", "x".repeat(10 << 20)));
        text.push_str("W3SVC,World Wide Web Publishing Service,Auto,Running\n");
        let p = parse_as("services.csv", text.as_bytes());
        assert!(services(&p).iter().any(|(_, s)| s.name == "W3SVC"));
        assert!(
            p.problems.iter().any(|x| x.message.contains("cut")),
            "{:?}",
            p.problems
        );

        // Rows with the wrong field count are counted as a problem, never a panic.
        let p = parse_as(
            "services.csv",
            b"Name,DisplayName,StartMode,State\nA,a\nB,b,Auto,Running,extra\n",
        );
        assert_eq!(services(&p).len(), 2);
        assert!(p.problems.iter().any(|x| x.message.contains("2 row(s)")));
        // What those rows said is lost: the file is read in part.
        assert!(
            p.partial
                .iter()
                .any(|x| x.path == "system/services.csv" && x.reason.contains("2 row(s)")),
            "{:?}",
            p.partial
        );

        // Binary garbage: no service invented, the damage is said.
        let p = parse_as(
            "services.csv",
            b"\x00\x01\x02\xff\xfe garbage\n\x00\x00\x07,\x01\n",
        );
        assert!(services(&p).is_empty());
        assert!(!p.problems.is_empty() || !p.skipped.is_empty());

        // Empty file: skipped with a reason.
        let p = parse_as("software.csv", b"");
        assert_eq!(p.skipped.len(), 1, "{:?}", p);
        assert!(p.skipped[0].reason.contains("header"));
    }

    #[test]
    fn software_versions_and_inventory_rows() {
        let p = parse_as(
            "software.csv",
            b"\xEF\xBB\xBFName,Version,Publisher,Source\r\nSymantec Endpoint Protection,12.1.671.4971,Symantec Corporation,uninstall\r\n",
        );
        let sw: Vec<&Software> = p
            .facts
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::Software(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(sw.len(), 1);
        assert_eq!(
            sw[0].name, "Symantec Endpoint Protection",
            "BOM is not part of the header"
        );
        assert_eq!(sw[0].version.as_deref(), Some("12.1.671.4971"));

        let p = parse_as(
            "inventory.csv",
            b"RelativePath,Length,LastWriteTimeUtc\r\nRemoteScripts\\ConsoleInitialize.ps1.txt,1234,2012-02-12T21:10:00Z\r\nBin\\x.dll,notanumber,\r\n",
        );
        let files: Vec<&FileEntry> = p
            .facts
            .iter()
            .filter_map(|f| match &f.kind {
                FactKind::FileEntry(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "RemoteScripts\\ConsoleInitialize.ps1.txt");
        assert_eq!(files[0].size, Some(1234));
        assert_eq!(files[1].size, None, "a bad number is absent, not zero");
    }
}
