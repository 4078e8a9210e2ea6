//! Assembles a bundle (files + manifest) and writes it as a zip or a folder.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The collector's own log, written last (it lists every other file).
const COLLECTOR_LOG: &str = "collector.log";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Zip,
    Folder,
}

/// Host facts the manifest records.
#[derive(Debug, Clone)]
pub struct ManifestInfo {
    pub computer_name: String,
    pub domain: String,
    pub collected_utc: String,
    pub utc_offset_minutes: i32,
    pub time_zone_id: String,
    pub install_path: String,
    pub exchange_version: String,
}

#[derive(Debug, Clone, Default)]
pub struct BundleBuilder {
    files: BTreeMap<String, (Vec<u8>, String)>,
    not_collected: Vec<(String, String)>,
    manifest: Option<ManifestInfo>,
    /// Gaps the collector logs as `SKIP` (expected on this server, not in `not_collected`).
    skips: Vec<String>,
    /// Write `collector.log` as the collector does, from the files and gaps of the bundle.
    collector_log: bool,
}

impl BundleBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file at a bundle path, remembering where the collector would have taken it from.
    pub fn file(&mut self, path: &str, source: &str, bytes: Vec<u8>) -> &mut Self {
        self.files
            .insert(path.to_string(), (bytes, source.to_string()));
        self
    }

    pub fn remove(&mut self, path: &str) -> &mut Self {
        self.files.remove(path);
        self
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|(b, _)| b.as_slice())
    }

    pub fn not_collected(&mut self, what: &str, why: &str) -> &mut Self {
        self.not_collected.push((what.into(), why.into()));
        self
    }

    pub fn manifest(&mut self, info: Option<ManifestInfo>) -> &mut Self {
        self.manifest = info;
        self
    }

    /// Adds `collector.log`, written last from what the bundle holds (needs a manifest).
    pub fn collector_log(&mut self) -> &mut Self {
        self.collector_log = true;
        self
    }

    /// An expected gap, logged as `SKIP` (an Edge server without IIS, `fltmc` unelevated).
    pub fn skip(&mut self, what: &str) -> &mut Self {
        self.skips.push(what.into());
        self
    }

    /// The files with `collector.log` when the bundle has one.
    fn all_files(&self) -> BTreeMap<String, (Vec<u8>, String)> {
        let mut files = self.files.clone();
        if let (true, Some(m)) = (self.collector_log, &self.manifest) {
            // `wevtutil al` on each exported log leaves its message tables beside it. A file set
            // with `file()` wins over the generated one: tests replace these to damage them.
            for path in self.files.keys() {
                if let Some(log) = path
                    .strip_prefix("evtx/")
                    .and_then(|n| n.strip_suffix(".evtx"))
                {
                    files
                        .entry(format!("evtx/LocaleMetaData/{log}_1033.MTA"))
                        .or_insert_with(|| {
                            (crate::events::locale_metadata(log), "wevtutil al".into())
                        });
                }
            }
            if !files.contains_key(COLLECTOR_LOG) {
                let mut with_meta = self.clone();
                with_meta.files = files.clone();
                with_meta.collector_log = false;
                files.insert(
                    COLLECTOR_LOG.into(),
                    (with_meta.collector_log_bytes(m), "collector".into()),
                );
            }
        }
        files
    }

    /// What `Write-CollectorLog` writes: UTF-8 with BOM, CRLF, `<UTC ms> <LEVEL> <message>`,
    /// one line per step and per file collected, in the collector's order.
    fn collector_log_bytes(&self, m: &ManifestInfo) -> Vec<u8> {
        let start = chrono::NaiveDateTime::parse_from_str(&m.collected_utc, "%Y-%m-%dT%H:%M:%SZ")
            .unwrap_or_default();
        let mut ms = 0i64;
        let mut lines = Vec::new();
        let mut log = |level: &str, text: String, step_ms: i64| {
            ms += step_ms;
            let t = start + chrono::Duration::milliseconds(ms);
            lines.push(format!(
                "{} {level:<5} {text}",
                t.format("%Y-%m-%dT%H:%M:%S%.3fZ")
            ));
        };
        log(
            "INFO",
            format!(
                "Collect-ExchangeEvidence.ps1 1.1.0 on {}, PowerShell 2.0, CLR 2.0.50727.5485, 64-bit",
                m.computer_name
            ),
            0,
        );
        log(
            "INFO",
            format!(
                "options: -OutputPath C:\\Support\\exhume-{}-{} -Days 0 -MaxSizeMB 1024; 41.2 GB free on C:\\, 2.1 GB needed at most",
                m.computer_name,
                start.format("%Y%m%dT%H%M%SZ")
            ),
            15,
        );
        let install = m.install_path.trim_end_matches('\\');
        log(
            "INFO",
            format!(
                "Exchange {} found: {install}, version {}",
                if m.exchange_version.starts_with("14.") {
                    "v14"
                } else {
                    "v15"
                },
                m.exchange_version
            ),
            120,
        );
        // The collector's order: what each step writes, by folder.
        let order = [
            "system/services.csv",
            "system/host.json",
            "registry/",
            "iis/applicationHost.config",
            "iis/webconfig/",
            "system/software.csv",
            "system/file-versions.csv",
            "system/acl/",
            "system/inventory.csv",
            "setup/",
            "evtx/System.evtx",
            "evtx/MSExchange",
            "evtx/Application.evtx",
            "evtx/",
        ];
        let mut done = std::collections::BTreeSet::new();
        for prefix in order {
            for (path, (bytes, source)) in &self.files {
                if !path.starts_with(prefix) || done.contains(path) {
                    continue;
                }
                done.insert(path.clone());
                let size = bytes.len();
                let shown = if size >= 1 << 20 {
                    format!("{:.1} MB", size as f64 / 1_048_576.0)
                } else if size >= 1024 {
                    format!("{:.1} KB", size as f64 / 1024.0)
                } else {
                    format!("{size} bytes")
                };
                log(
                    "INFO",
                    format!(
                        "collected {path} ({shown}, {}) from {source}",
                        method_for(path, bytes)
                    ),
                    40 + (size as i64 / 200_000),
                );
            }
        }
        for what in &self.skips {
            log("SKIP", what.clone(), 5);
        }
        for (what, why) in &self.not_collected {
            log("ERROR", format!("not collected: {what}: {why}"), 5);
        }
        log(
            "INFO",
            format!(
                "collection finished: {} files, {} item(s) not collected",
                self.files.len() + 1,
                self.not_collected.len()
            ),
            30,
        );
        let mut out = vec![0xEF, 0xBB, 0xBF];
        for l in lines {
            out.extend_from_slice(l.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Every file, with manifest.json added when the bundle has one.
    pub fn contents(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = self
            .all_files()
            .iter()
            .map(|(p, (b, _))| (p.clone(), b.clone()))
            .collect();
        if let Some(m) = &self.manifest {
            out.push(("manifest.json".into(), self.manifest_json(m).into_bytes()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn manifest_json(&self, m: &ManifestInfo) -> String {
        // Typed structs, not `json!`: key order must not depend on serde_json's
        // `preserve_order` feature, which other crates in a build may switch on.
        let all_files = self.all_files();
        let manifest = Manifest {
            schema_version: "1.0",
            collector: Collector {
                name: "Collect-ExchangeEvidence.ps1",
                version: "1.0.0",
                powershell: "2.0",
            },
            host: Host {
                computer_name: &m.computer_name,
                fqdn: format!("{}.{}", m.computer_name.to_lowercase(), m.domain),
                domain: &m.domain,
            },
            collected_utc: &m.collected_utc,
            time_zone: Zone {
                utc_offset_minutes: m.utc_offset_minutes,
                id: &m.time_zone_id,
            },
            exchange: Exchange {
                install_path: &m.install_path,
                version: &m.exchange_version,
            },
            files: all_files
                .iter()
                .map(|(path, (bytes, source))| File {
                    path,
                    source,
                    size: bytes.len() as u64,
                    sha256: hex(&Sha256::digest(bytes)),
                    method: method_for(path, bytes),
                    truncated: false,
                })
                .collect(),
            not_collected: self
                .not_collected
                .iter()
                .map(|(what, why)| NotCollected { what, why })
                .collect(),
        };
        serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n"
    }

    /// Writes the bundle. Zips get fixed member timestamps so output is byte-identical.
    pub fn write(&self, out: &Path, form: Form) -> std::io::Result<()> {
        match form {
            Form::Folder => {
                if out.exists() {
                    std::fs::remove_dir_all(out)?;
                }
                for (path, bytes) in self.contents() {
                    let p = out.join(&path);
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(p, bytes)?;
                }
                Ok(())
            }
            Form::Zip => {
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(out, self.zip_bytes()?)
            }
        }
    }

    pub fn zip_bytes(&self) -> std::io::Result<Vec<u8>> {
        let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let when = zip::DateTime::from_date_and_time(2012, 2, 14, 9, 30, 0)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(when)
            .unix_permissions(0o644);
        for (path, bytes) in self.contents() {
            zw.start_file(path, opts).map_err(std::io::Error::other)?;
            zw.write_all(&bytes)?;
        }
        Ok(zw.finish().map_err(std::io::Error::other)?.into_inner())
    }
}

/// The manifest's `method`, as the collector records it.
fn method_for(path: &str, bytes: &[u8]) -> &'static str {
    let redacted = |marker: &[u8]| bytes.windows(marker.len()).any(|w| w == marker);
    if path.ends_with(".evtx") {
        "wevtutil-epl"
    } else if path.ends_with(".MTA") {
        "wevtutil-al"
    } else if path.ends_with("-sid.txt") {
        "get-acl"
    } else if path.starts_with("system/acl/") {
        "icacls"
    } else if path.starts_with("iis/webconfig/") && redacted(b"REMOVED-BY-COLLECTOR") {
        "copy-redacted"
    } else if path == COLLECTOR_LOG {
        "generated"
    } else if path.ends_with(".reg") {
        "reg-export"
    } else if path.starts_with("system/") {
        "generated"
    } else {
        "copy"
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// UTF-16LE with BOM and CRLF line ends, as `reg export` and Windows PowerShell write text.
pub fn utf16le(s: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in s.replace("\r\n", "\n").replace('\n', "\r\n").encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

/// UTF-8 with CRLF line ends.
pub fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

/// UTF-8 with BOM and CRLF, as web.config files are saved.
pub fn utf8_bom_crlf(s: &str) -> Vec<u8> {
    let mut out = vec![0xEF, 0xBB, 0xBF];
    out.extend(crlf(s));
    out
}

#[derive(serde::Serialize)]
struct Manifest<'a> {
    schema_version: &'a str,
    collector: Collector<'a>,
    host: Host<'a>,
    collected_utc: &'a str,
    time_zone: Zone<'a>,
    exchange: Exchange<'a>,
    files: Vec<File<'a>>,
    not_collected: Vec<NotCollected<'a>>,
}

#[derive(serde::Serialize)]
struct Collector<'a> {
    name: &'a str,
    version: &'a str,
    powershell: &'a str,
}

#[derive(serde::Serialize)]
struct Host<'a> {
    computer_name: &'a str,
    fqdn: String,
    domain: &'a str,
}

#[derive(serde::Serialize)]
struct Zone<'a> {
    utc_offset_minutes: i32,
    id: &'a str,
}

#[derive(serde::Serialize)]
struct Exchange<'a> {
    install_path: &'a str,
    version: &'a str,
}

#[derive(serde::Serialize)]
struct File<'a> {
    path: &'a str,
    source: &'a str,
    size: u64,
    sha256: String,
    method: &'a str,
    truncated: bool,
}

#[derive(serde::Serialize)]
struct NotCollected<'a> {
    what: &'a str,
    why: &'a str,
}
