//! Assembles a bundle (files + manifest) and writes it as a zip or a folder.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

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

    /// Every file, with manifest.json added when the bundle has one.
    pub fn contents(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = self
            .files
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
            files: self
                .files
                .iter()
                .map(|(path, (bytes, source))| File {
                    path,
                    source,
                    size: bytes.len() as u64,
                    sha256: hex(&Sha256::digest(bytes)),
                    method: method_for(path),
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

fn method_for(path: &str) -> &'static str {
    if path.ends_with(".evtx") {
        "wevtutil-epl"
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
