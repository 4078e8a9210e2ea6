//! Where members come from: a zip read in place, or a folder walked without following links.

use super::{Error, Limits, normalise_name};
use crate::facts::{Problem, Skipped};
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

/// A read-only file that many readers can share, each with its own position.
#[derive(Clone)]
pub(super) struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = read_at(&self.file, buf, self.pos)?;
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
    };
    let mut archive = ZipArchive::new(shared).map_err(|e| Error::NotABundle {
        path: path.to_path_buf(),
        reason: match e {
            zip::result::ZipError::InvalidArchive(_) => format!("damaged or truncated zip: {e}"),
            other => other.to_string(),
        },
    })?;
    if archive.len() > limits.max_entries {
        return Err(Error::TooManyEntries {
            path: path.to_path_buf(),
            count: archive.len(),
            limit: limits.max_entries,
        });
    }
    let mut listing = Listing {
        entries: Vec::new(),
        problems: Vec::new(),
        skipped: Vec::new(),
    };
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
        let raw_name = String::from_utf8_lossy(member.name_raw()).into_owned();
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
