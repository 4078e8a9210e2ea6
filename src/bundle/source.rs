//! Where members come from: a zip read in place, or a folder walked without following links.

use super::{Error, Limits, normalise_name};
use crate::facts::{Problem, Skipped};
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zip::ZipArchive;

pub(super) enum Source {
    Zip(ZipArchive<SharedFile>),
    Folder,
}

#[derive(Debug, Clone)]
pub(super) enum Handle {
    ZipIndex(usize),
    Path(PathBuf),
}

pub(super) struct RawEntry {
    pub path: String,
    /// The name as written in the bundle (before normalisation).
    pub stored_as: String,
    pub size: u64,
    pub compressed_size: u64,
    pub handle: Handle,
}

pub(super) struct Listing {
    pub entries: Vec<RawEntry>,
    pub problems: Vec<Problem>,
    pub skipped: Vec<Skipped>,
}

impl Source {
    pub fn with_reader<T>(
        &self,
        handle: &Handle,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> std::io::Result<T> {
        match (self, handle) {
            (Source::Zip(archive), Handle::ZipIndex(i)) => {
                // A clone shares the parsed central directory; each reader gets its own cursor,
                // so members can be read in parallel.
                let mut archive = archive.clone();
                let mut member = archive.by_index(*i).map_err(std::io::Error::other)?;
                Ok(f(&mut member))
            }
            (Source::Folder, Handle::Path(p)) => {
                let mut file = File::open(p)?;
                Ok(f(&mut file))
            }
            _ => Err(std::io::Error::other(
                "bundle handle does not match its source",
            )),
        }
    }
}

/// A read-only file that many readers can share, each with its own position; optionally with
/// its end replaced by other bytes from some offset on (a rebuilt central directory, see
/// [`super::cdir`]).
#[derive(Clone)]
pub(super) struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
    tail: Option<(u64, Arc<[u8]>)>,
}

impl SharedFile {
    /// The same file with everything from `at` on replaced by `tail`.
    fn with_tail(&self, at: u64, tail: Vec<u8>) -> SharedFile {
        SharedFile {
            file: self.file.clone(),
            pos: 0,
            len: at + tail.len() as u64,
            tail: Some((at, tail.into())),
        }
    }
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match &self.tail {
            Some((at, tail)) if self.pos >= *at => {
                let from = usize::try_from(self.pos - at).unwrap_or(usize::MAX);
                let rest = tail.get(from..).unwrap_or(&[]);
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                n
            }
            Some((at, _)) => {
                let room = usize::try_from(at - self.pos).unwrap_or(usize::MAX);
                let n = room.min(buf.len());
                read_at(&self.file, &mut buf[..n], self.pos)?
            }
            None => read_at(&self.file, buf, self.pos)?,
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| std::io::Error::other("seek before start of file"))?;
        Ok(self.pos)
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, pos)
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, pos)
}

pub(super) fn open_zip(path: &Path, limits: &Limits) -> Result<(Source, Listing), Error> {
    let io = |e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let shared = SharedFile {
        file: Arc::new(file),
        pos: 0,
        len,
        tail: None,
    };
    let mut listing = Listing {
        entries: Vec::new(),
        problems: Vec::new(),
        skipped: Vec::new(),
    };
    let opened = ZipArchive::new(shared.clone());
    // Names as stored, by index, when the directory had to be rebuilt.
    let mut names: Option<Vec<Vec<u8>>> = None;
    let mut archive = match opened {
        Ok(a) if !a.has_duplicate_names() => a,
        opened => match tolerant(&shared, opened.is_err(), limits) {
            Some(t) => {
                for (name, why) in t.refused {
                    let shown = String::from_utf8_lossy(&name).into_owned();
                    let why = format!(
                        "damaged zip header ({why}): this member cannot be read, the rest of the bundle was"
                    );
                    match normalise_name(&shown) {
                        Ok(path) => listing.skipped.push(Skipped { path, reason: why }),
                        Err(_) => listing.problems.push(Problem {
                            path: shown.escape_debug().to_string(),
                            message: why,
                        }),
                    }
                }
                names = Some(t.names);
                t.archive
            }
            None => opened.map_err(|e| Error::NotABundle {
                path: path.to_path_buf(),
                reason: match e {
                    zip::result::ZipError::InvalidArchive(_) => {
                        format!("damaged or truncated zip: {e}")
                    }
                    other => other.to_string(),
                },
            })?,
        },
    };
    if archive.len() > limits.max_entries {
        return Err(Error::TooManyEntries {
            path: path.to_path_buf(),
            count: archive.len(),
            limit: limits.max_entries,
        });
    }
    if archive.has_duplicate_names() {
        listing.problems.push(Problem {
            path: "bundle".into(),
            message: "the zip holds several members with the same name; only one of each was read"
                .into(),
        });
    }
    if matches!(archive.has_overlapping_entries(), Ok(true)) {
        listing.problems.push(Problem {
            path: "bundle".into(),
            message: "members overlap inside the zip (a crafted archive); their contents may not be what they claim".into(),
        });
    }
    for i in 0..archive.len() {
        let member = match archive.by_index_raw(i) {
            Ok(m) => m,
            Err(e) => {
                listing.problems.push(Problem {
                    path: format!("bundle member #{i}"),
                    message: format!("unreadable zip entry: {e}"),
                });
                continue;
            }
        };
        let stored = names.as_ref().and_then(|n| n.get(i)).map(Vec::as_slice);
        let raw_name = String::from_utf8_lossy(stored.unwrap_or(member.name_raw())).into_owned();
        if member.is_dir() {
            continue;
        }
        let name = match normalise_name(&raw_name) {
            Ok(n) => n,
            Err(why) => {
                listing.problems.push(Problem {
                    path: raw_name.escape_debug().to_string(),
                    message: format!("member refused: {why}"),
                });
                continue;
            }
        };
        if member.is_symlink() {
            listing.skipped.push(Skipped {
                path: name,
                reason: "symbolic link: links are never followed".into(),
            });
            continue;
        }
        if member.encrypted() {
            listing.skipped.push(Skipped {
                path: name,
                reason:
                    "encrypted member: exhume reads no passwords; ask for an unencrypted bundle"
                        .into(),
            });
            continue;
        }
        listing.entries.push(RawEntry {
            path: name,
            stored_as: raw_name,
            size: member.size(),
            compressed_size: member.compressed_size(),
            handle: Handle::ZipIndex(i),
        });
    }
    Ok((Source::Zip(archive), listing))
}

/// What [`tolerant`] made of a zip the `zip` crate would not give whole.
struct Tolerant {
    archive: ZipArchive<SharedFile>,
    /// Each member's name as stored, by index.
    names: Vec<Vec<u8>>,
    /// Members left out: (name as stored, why).
    refused: Vec<(Vec<u8>, String)>,
}

/// Opens a zip whose directory the crate refused (`damaged`) or whose members share exact names,
/// through a rebuilt directory: records the crate refuses on their own are left out, twins
/// renamed. `None` when that does not give an archive either.
fn tolerant(file: &SharedFile, damaged: bool, limits: &Limits) -> Option<Tolerant> {
    let dir = super::cdir::read(file.len, |pos, buf| {
        let mut f = file.clone();
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(buf)
    })?;
    if dir.records.is_empty() || dir.records.len() > limits.max_entries {
        return None;
    }
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for r in &dir.records {
        if damaged {
            let alone = file.with_tail(dir.start, dir.rebuild([r]));
            if let Err(e) = ZipArchive::new(alone) {
                refused.push((r.name().to_vec(), e.to_string()));
                continue;
            }
        }
        kept.push(r);
    }
    // The crate keys members by name: a twin gets a name no member has (a NUL is never in a
    // real one); its stored name is kept aside.
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    let mut names = Vec::new();
    for (i, r) in kept.into_iter().enumerate() {
        let name = r.name().to_vec();
        if seen.insert(name.clone()) {
            records.push(std::borrow::Cow::Borrowed(r));
        } else {
            let unique = [&name[..], format!("\0twin {i}").as_bytes()].concat();
            records.push(std::borrow::Cow::Owned(r.renamed(&unique)?));
        }
        names.push(name);
    }
    let archive =
        ZipArchive::new(file.with_tail(dir.start, dir.rebuild(records.iter().map(|r| &**r))))
            .ok()?;
    (archive.len() == names.len() && !names.is_empty()).then_some(Tolerant {
        archive,
        names,
        refused,
    })
}

pub(super) fn open_folder(root: &Path, limits: &Limits) -> Result<(Source, Listing), Error> {
    let mut listing = Listing {
        entries: Vec::new(),
        problems: Vec::new(),
        skipped: Vec::new(),
    };
    let mut stack = vec![root.to_path_buf()];
    let mut count = 0usize;
    let mut bytes = 0u64;
    while let Some(dir) = stack.pop() {
        let read = std::fs::read_dir(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        let mut children: Vec<_> = read.filter_map(|e| e.ok()).collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let p = child.path();
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                listing.problems.push(Problem {
                    path: rel,
                    message: "cannot read file metadata".into(),
                });
                continue;
            };
            if meta.file_type().is_symlink() {
                listing.skipped.push(Skipped {
                    path: rel.replace('\\', "/"),
                    reason: "symbolic link: links are never followed".into(),
                });
            } else if meta.is_dir() {
                stack.push(p);
            } else if !meta.is_file() {
                // Opening a named pipe blocks until someone writes to it; a device may never end.
                listing.skipped.push(Skipped {
                    path: rel.replace('\\', "/"),
                    reason: "not a regular file (named pipe, socket or device): not read".into(),
                });
            } else {
                count += 1;
                bytes = bytes.saturating_add(meta.len());
                if bytes > limits.max_bundle_bytes {
                    return Err(Error::TooLarge {
                        path: root.to_path_buf(),
                        size: bytes,
                        limit: limits.max_bundle_bytes,
                    });
                }
                if count > limits.max_entries {
                    return Err(Error::TooManyEntries {
                        path: root.to_path_buf(),
                        count,
                        limit: limits.max_entries,
                    });
                }
                match normalise_name(&rel) {
                    Ok(name) => listing.entries.push(RawEntry {
                        path: name,
                        stored_as: rel.clone(),
                        size: meta.len(),
                        compressed_size: meta.len(),
                        handle: Handle::Path(p),
                    }),
                    Err(why) => listing.problems.push(Problem {
                        path: rel,
                        message: format!("file refused: {why}"),
                    }),
                }
            }
        }
    }
    listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((Source::Folder, listing))
}
