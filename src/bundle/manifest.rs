//! `manifest.json`: what the collector says it collected, and the chain-of-custody check.
//!
//! The schema is documented in `docs/bundle-format.md`. Every field but `schema_version` is
//! optional so that a hand-written or partly damaged manifest still gives what it can.

use serde::{Deserialize, Serialize};

/// The major schema version this analyser reads.
pub const SCHEMA_MAJOR: u64 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: String,
    #[serde(default)]
    pub collector: Option<CollectorInfo>,
    #[serde(default)]
    pub host: Option<ManifestHost>,
    /// ISO 8601 UTC.
    #[serde(default)]
    pub collected_utc: Option<String>,
    #[serde(default)]
    pub time_zone: Option<TimeZone>,
    #[serde(default)]
    pub exchange: Option<ExchangeInfo>,
    #[serde(default, deserialize_with = "bounded_files")]
    pub files: Vec<ManifestFile>,
    #[serde(default)]
    pub not_collected: Vec<NotCollected>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CollectorInfo {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub powershell: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ManifestHost {
    #[serde(default)]
    pub computer_name: Option<String>,
    #[serde(default)]
    pub fqdn: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimeZone {
    /// Local time minus UTC, in minutes, at collection time (e.g. 60 for CET in winter).
    #[serde(default)]
    pub utc_offset_minutes: Option<i32>,
    /// Windows time-zone id, e.g. `W. Europe Standard Time`.
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExchangeInfo {
    #[serde(default)]
    pub install_path: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    #[serde(default)]
    pub source: Option<String>,
    pub size: u64,
    pub sha256: String,
    #[serde(default)]
    pub method: Option<String>,
    /// The collector kept only the newest part of a huge file.
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotCollected {
    pub what: String,
    pub why: String,
}

/// Most files a manifest may list. The collector lists what it put in the bundle, which
/// `--max-entries` (default 20,000) bounds; a list far longer is crafted, and each entry costs
/// memory, so reading stops here rather than after a million entries.
pub const MAX_FILES: usize = 200_000;

fn bounded_files<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ManifestFile>, D::Error> {
    struct Files;
    impl<'de> serde::de::Visitor<'de> for Files {
        type Value = Vec<ManifestFile>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of files")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(f) = seq.next_element()? {
                if out.len() == MAX_FILES {
                    return Err(serde::de::Error::custom(format!(
                        "more than {MAX_FILES} files listed, far more than a bundle holds"
                    )));
                }
                out.push(f);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Files)
}

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest.json is not valid JSON for schema 1: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "manifest.json has schema_version {0}, this exhume reads {SCHEMA_MAJOR}.x: upgrade exhume"
    )]
    UnsupportedVersion(String),
    /// Not digits and dots (a fullwidth `１`, a word): damage, not a newer collector.
    #[error("manifest.json's schema_version {0:?} is not a version number (such as \"1.0\")")]
    NotAVersion(String),
}

impl Manifest {
    pub fn from_slice(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let m: Manifest = serde_json::from_slice(bytes)?;
        // ASCII digits only: `parse` would take none of `１.0`, and "upgrade exhume" would be
        // wrong advice for a value that is no version at all.
        let major = m.schema_version.split('.').next().unwrap_or("").trim();
        if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ManifestError::NotAVersion(m.schema_version.clone()));
        }
        if major.parse::<u64>().ok() != Some(SCHEMA_MAJOR) {
            return Err(ManifestError::UnsupportedVersion(m.schema_version.clone()));
        }
        Ok(m)
    }

    pub fn host_name(&self) -> Option<&str> {
        self.host.as_ref()?.computer_name.as_deref()
    }

    pub fn utc_offset_minutes(&self) -> Option<i32> {
        self.time_zone.as_ref()?.utc_offset_minutes
    }
}

/// The result of checking the bundle against its manifest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Custody {
    /// Files whose size and SHA-256 match.
    pub verified: usize,
    /// Listed in the manifest, absent from the bundle.
    pub missing: Vec<String>,
    /// In the bundle, not listed in the manifest.
    pub extra: Vec<String>,
    /// Present but with another size or hash.
    pub altered: Vec<Altered>,
    /// Listed as truncated by the collector.
    pub truncated: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Altered {
    pub path: String,
    pub expected_sha256: String,
    pub actual_sha256: String,
    pub expected_size: u64,
    pub actual_size: u64,
}

impl Custody {
    pub fn is_intact(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.altered.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_minimal_manifest_and_refuses_other_majors() {
        let m = Manifest::from_slice(br#"{"schema_version":"1.0"}"#).unwrap();
        assert!(m.files.is_empty());
        let e = Manifest::from_slice(br#"{"schema_version":"2.0"}"#).unwrap_err();
        assert!(e.to_string().contains("upgrade exhume"));
        assert!(Manifest::from_slice(b"not json").is_err());
    }

    #[test]
    fn a_version_that_is_not_digits_is_not_told_to_upgrade() {
        for v in ["\u{ff11}.0", "one", "", " .0", "1x.0", "-1.0"] {
            let json = format!(r#"{{"schema_version":{v:?}}}"#);
            let e = Manifest::from_slice(json.as_bytes()).unwrap_err();
            assert!(matches!(e, ManifestError::NotAVersion(_)), "{v}: {e}");
            assert!(!e.to_string().contains("upgrade"), "{e}");
        }
        let e = Manifest::from_slice(br#"{"schema_version":"12.3"}"#).unwrap_err();
        assert!(matches!(e, ManifestError::UnsupportedVersion(_)));
        assert!(Manifest::from_slice(br#"{"schema_version":" 1.7"}"#).is_ok());
    }
}
