//! Opening an untrusted bundle: a `.zip` emailed by a client, or the same tree as a folder.
//!
//! What this layer guarantees (see `docs/security.md`): nothing is written to disk (members are
//! streamed, never extracted); names are normalised (`\` or `/`) and
//! `..`, absolute, drive-letter and NUL-bearing names are refused; twin names (one name on
//! Windows) are each read ([`twins`]); entry count, total
//! and per-member expanded size and compression ratio are capped *while reading*, so lying
//! headers do not help; the bundle itself is only ever opened read-only.
//!
//! It knows nothing of what the files mean beyond the [`layout`] table.

mod cdir;
pub mod layout;
pub mod limits;
pub mod manifest;
mod reader;
pub mod shape;
mod source;
mod twins;

pub use layout::{ArtefactKind, classify};
pub use limits::{Deadline, Limits};
pub use manifest::{Custody, Manifest};
pub use reader::LimitHit;
pub use twins::base_path;

use crate::facts::{Problem, Skipped};
use sha2::{Digest, Sha256};
use source::Source;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

/// Why a bundle could not be opened at all. Damage to single members is not an error: it
/// becomes a [`Problem`] and the rest is analysed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: no such file or folder")]
    NotFound(PathBuf),
    #[error("{path}: not a zip file or a bundle folder ({reason})")]
    NotABundle { path: PathBuf, reason: String },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: {count} entries, more than the limit of {limit} (raise it with --max-entries)"
    )]
    TooManyEntries {
        path: PathBuf,
        count: usize,
        limit: usize,
    },
    #[error(
        "{path}: {size} bytes, more than the limit of {limit} (raise it with --max-bundle-size)"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{path}: empty bundle, nothing to analyse")]
    Empty { path: PathBuf },
    // Transparent: the error *is* the manifest's, so its text appears once in the cause chain.
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
}

/// One file in the bundle.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Normalised bundle-relative path (`/` separators); for the second and later of differing
    /// twin members, a display path such as `setup/ExchangeSetup.log (copy 2)` (see [`twins`]).
    pub path: String,
    /// The name as written in the bundle.
    pub stored_as: String,
    pub kind: Option<ArtefactKind>,
    /// Expanded size as the container claims it (not trusted for limits).
    pub size: u64,
    /// Stored size (equal to `size` in a folder).
    pub compressed_size: u64,
    handle: source::Handle,
}

/// Zip or folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    Zip,
    Folder,
}

/// An opened bundle: its inventory, its manifest, and a way to read each member.
pub struct Bundle {
    pub path: PathBuf,
    pub form: Form,
    pub entries: Vec<Entry>,
    pub manifest: Option<Manifest>,
    /// Why the bundle's manifest could not be used, when it has one (damaged, or twin manifests).
    pub manifest_unusable: Option<String>,
    /// Members refused at open time, and other container-level damage.
    pub problems: Vec<Problem>,
    /// Members that are in the bundle but not readable as artefacts (directories excepted).
    pub skipped: Vec<Skipped>,
    pub limits: Limits,
    source: Source,
    bytes_read: AtomicU64,
    hashes: Mutex<BTreeMap<String, MemberHash>>,
}

/// A member's (SHA-256, size), or why it could not be read.
pub type MemberHash = Result<(String, u64), String>;

impl Bundle {
    /// Opens a zip or a folder. Fails only when there is no bundle to speak of.
    pub fn open(path: &Path, limits: &Limits) -> Result<Bundle, Error> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(path.to_path_buf()),
            _ => Error::Io {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
        if !meta.is_dir() && meta.len() > limits.max_bundle_bytes {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                size: meta.len(),
                limit: limits.max_bundle_bytes,
            });
        }
        let (source, form, listing) = if meta.is_dir() {
            let (src, listing) = source::open_folder(path, limits)?;
            (src, Form::Folder, listing)
        } else {
            let (src, listing) = source::open_zip(path, limits)?;
            (src, Form::Zip, listing)
        };
        let source::Listing {
            entries: raw,
            mut problems,
            mut skipped,
        } = listing;
        if raw.is_empty() && problems.is_empty() && skipped.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let entries: Vec<Entry> = raw
            .into_iter()
            .map(|r| Entry {
                kind: classify(&r.path),
                path: r.path,
                stored_as: r.stored_as,
                size: r.size,
                compressed_size: r.compressed_size,
                handle: r.handle,
            })
            .collect();
        let mut bundle = Bundle {
            path: path.to_path_buf(),
            form,
            entries,
            manifest: None,
            manifest_unusable: None,
            problems: Vec::new(),
            skipped: Vec::new(),
            limits: limits.clone(),
            source,
            bytes_read: AtomicU64::new(0),
            hashes: Mutex::new(BTreeMap::new()),
        };
        let twins = twins::resolve(&mut bundle, |b, e| {
            b.read_hashed(e, |_| ())
                .and_then(|(_, digest)| digest)
                .map_err(|e| e.to_string())
        });
        problems.extend(twins.problems);
        if !twins.manifests.is_empty() {
            let why = format!(
                "the bundle holds {} different manifests under one name (manifest.json and {}): which one the collector wrote cannot be told",
                twins.manifests.len() + 1,
                twins.manifests.join(", ")
            );
            problems.push(Problem {
                path: "manifest.json".into(),
                message: format!("{why}; analysed without a manifest"),
            });
            bundle.manifest_unusable = Some(why);
        } else if let Some(m) = bundle
            .entries
            .iter()
            .find(|e| e.kind == Some(ArtefactKind::Manifest))
        {
            // A manifest is small; one far larger than any real one is refused, not parsed.
            const MAX_MANIFEST: u64 = 64 << 20;
            let mut bytes = Vec::new();
            match bundle.read_to_end_capped(m, MAX_MANIFEST, &mut bytes) {
                Ok(()) => match Manifest::from_slice(&bytes) {
                    Ok(man) => bundle.manifest = Some(man),
                    Err(e @ manifest::ManifestError::UnsupportedVersion(_)) => return Err(e.into()),
                    Err(e) => {
                        problems.push(Problem {
                            path: m.path.clone(),
                            message: format!("{e}; analysed without a manifest"),
                        });
                        bundle.manifest_unusable = Some(e.to_string());
                    }
                },
                Err(e) => {
                    problems.push(Problem {
                        path: m.path.clone(),
                        message: format!(
                            "cannot read the manifest: {e}; analysed without a manifest"
                        ),
                    });
                    bundle.manifest_unusable = Some(format!("cannot read the manifest: {e}"));
                }
            }
        }
        bundle.problems.append(&mut problems);
        bundle.skipped.append(&mut skipped);
        Ok(bundle)
    }

    /// Host name from the manifest, if any.
    pub fn host(&self) -> Option<&str> {
        self.manifest.as_ref().and_then(|m| m.host_name())
    }

    /// Streams one member through `f`, enforcing the size, total and ratio limits as bytes flow.
    ///
    /// The member's SHA-256 is computed on the same pass (what `f` leaves unread is drained into
    /// the hash), so the chain-of-custody check costs no second read.
    pub fn with_reader<T>(
        &self,
        entry: &Entry,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, std::io::Error> {
        let (out, digest) = self.read_hashed(entry, f)?;
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.path.clone(), digest.map_err(|e| e.to_string()));
        Ok(out)
    }

    /// [`Bundle::with_reader`] without recording the digest: `f`'s result and the member's
    /// (SHA-256, size).
    fn read_hashed<T>(
        &self,
        entry: &Entry,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<(T, std::io::Result<(String, u64)>), std::io::Error> {
        self.read_limited(entry, |limited| {
            let mut hashing = reader::HashingReader::new(limited);
            let out = f(&mut hashing);
            let digest = hashing.finish();
            (out, digest)
        })
    }

    /// Reads a member again after the analysis has read (and hashed) it, as `exhume timeline`
    /// does its event logs: the same limits, no second hash.
    pub fn reread<T>(
        &self,
        entry: &Entry,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, std::io::Error> {
        self.read_limited(entry, f)
    }

    /// Streams one member through `f` within the size, total, ratio and time limits.
    fn read_limited<T>(
        &self,
        entry: &Entry,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, std::io::Error> {
        let per_file = self.limits.max_file_bytes;
        self.source.with_reader(&entry.handle, |raw| {
            let mut limited = reader::LimitedReader::new(
                raw,
                reader::Caps {
                    per_file,
                    compressed: entry.compressed_size,
                    ratio: (self.form == Form::Zip).then_some(self.limits.max_ratio),
                    total: self.limits.max_total_bytes,
                    deadline: limits::Deadline::start(&self.limits),
                },
                &self.bytes_read,
            );
            f(&mut limited)
        })
    }

    /// Hashes every member not yet read by a parser, in parallel.
    pub fn hash_remaining(&self) {
        use rayon::prelude::*;
        let done: std::collections::HashSet<String> = self
            .hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        self.entries
            .par_iter()
            .with_max_len(1)
            .filter(|e| !done.contains(&e.path))
            .for_each(|e| self.hash_member(e));
    }

    /// Reads a member only to hash it, recording why when it cannot be read.
    fn hash_member(&self, e: &Entry) {
        if let Err(err) = self.with_reader(e, |_| ()) {
            self.hashes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(e.path.clone(), Err(err.to_string()));
        }
    }

    /// Every member's (SHA-256, size) as read so far, or why it could not be read.
    pub fn member_hashes(&self) -> Vec<(String, MemberHash)> {
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Reads a whole member, refusing more than `cap` bytes.
    pub fn read_to_end_capped(
        &self,
        entry: &Entry,
        cap: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), std::io::Error> {
        self.with_reader(entry, |r| {
            let n = r.take(cap + 1).read_to_end(out)?;
            if n as u64 > cap {
                return Err(std::io::Error::other(format!(
                    "larger than {cap} bytes, not read"
                )));
            }
            Ok(())
        })?
    }

    /// SHA-256 of the container: the zip file's bytes, or for a folder a digest over its
    /// members' paths and hashes (so the same tree always gives the same id).
    pub fn digest(&self) -> Result<String, std::io::Error> {
        match self.form {
            Form::Zip => {
                let mut f = std::fs::File::open(&self.path)?;
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                Ok(hex(&h.finalize()))
            }
            Form::Folder => {
                let mut h = Sha256::new();
                for (p, r) in self.member_hashes() {
                    h.update(p.as_bytes());
                    h.update([0]);
                    h.update(r.map(|(s, _)| s).unwrap_or_default().as_bytes());
                    h.update([b'\n']);
                }
                Ok(hex(&h.finalize()))
            }
        }
    }

    /// Compares the members with the manifest, given each member's hash and size.
    pub fn custody(&self) -> Option<Custody> {
        let manifest = self.manifest.as_ref()?;
        let hashes = self.member_hashes();
        let mut c = Custody::default();
        // Twin copies (`… (copy 2)`) answer for the one name they share.
        let mut by_path: std::collections::HashMap<String, Vec<(&str, &MemberHash)>> =
            std::collections::HashMap::new();
        for (p, r) in &hashes {
            by_path
                .entry(base_path(p).to_ascii_lowercase())
                .or_default()
                .push((p, r));
        }
        let mut listed = std::collections::HashSet::new();
        for f in &manifest.files {
            let key = f.path.replace('\\', "/").to_ascii_lowercase();
            listed.insert(key.clone());
            if f.truncated {
                c.truncated.push(f.path.clone());
            }
            let Some(copies) = by_path.get(&key) else {
                c.missing.push(f.path.clone());
                continue;
            };
            let matches = |r: &MemberHash| matches!(r, Ok((sha, size)) if sha.eq_ignore_ascii_case(&f.sha256) && *size == f.size);
            // Unreadable copies are reported as a problem by whoever read them.
            if copies.iter().any(|(_, r)| matches(r)) {
                c.verified += 1;
                for (p, r) in copies {
                    if r.is_ok() && !matches(r) {
                        c.extra.push(p.to_string());
                    }
                }
                continue;
            }
            for (p, r) in copies {
                if let Ok((sha, size)) = r {
                    c.altered.push(manifest::Altered {
                        path: if copies.len() > 1 {
                            p.to_string()
                        } else {
                            f.path.clone()
                        },
                        expected_sha256: f.sha256.to_ascii_lowercase(),
                        actual_sha256: sha.clone(),
                        expected_size: f.size,
                        actual_size: *size,
                    });
                }
            }
        }
        for (p, _) in &hashes {
            let key = base_path(p).to_ascii_lowercase();
            if !listed.contains(&key) && classify(p) != Some(ArtefactKind::Manifest) {
                c.extra.push(p.clone());
            }
        }
        Some(c)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Normalises a member name from a zip or a folder walk, or says why it is refused.
///
/// Windows PowerShell 5.1's `Compress-Archive` writes `\` separators, so both are accepted.
pub fn normalise_name(raw: &str) -> Result<String, String> {
    if raw.contains('\0') {
        return Err("name contains a NUL byte".into());
    }
    let s = raw.replace('\\', "/");
    if s.starts_with('/') {
        return Err("absolute path".into());
    }
    let b = s.as_bytes();
    if b.len() >= 2 && b[1] == b':' {
        return Err("drive-letter path".into());
    }
    let mut parts = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err("path escapes the bundle (`..`)".into()),
            p if p.contains(':') => return Err("path with `:` (drive or stream name)".into()),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("empty name".into());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(
            normalise_name("setup\\ExchangeSetup.log").unwrap(),
            "setup/ExchangeSetup.log"
        );
        assert_eq!(normalise_name("./a//b").unwrap(), "a/b");
        assert!(normalise_name("../evil").is_err());
        assert!(normalise_name("a/../../evil").is_err());
        assert!(normalise_name("C:\\evil").is_err());
        assert!(normalise_name("/etc/passwd").is_err());
        assert!(normalise_name("\\\\server\\share").is_err());
        assert!(normalise_name("a\0b").is_err());
        assert!(normalise_name("file.txt:ads").is_err());
    }
}
