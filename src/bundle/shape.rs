//! What the analyst handed over: a bundle, a bundle one level inside something else, several
//! bundles, or no bundle at all.
//!
//! Mail gateways and ticket systems deliver the collector's zip inside another zip; analysts
//! extract a bundle one folder too deep, or zip a bundle folder with its top folder. Looking
//! one level inside finds it. A bundle is recognised by holding at least one path of the
//! [`layout`](super::layout) table, read or refused: a damaged bundle is still a bundle.
//! [`Bundle::open`] itself is not involved in this choice; a zip member found to hold the
//! bundle is copied, within the bundle limits, into a private temp folder.

use super::{Bundle, Error, Limits, classify};
use crate::facts::Problem;
use std::path::{Path, PathBuf};

/// Where the bundle of an input is.
#[derive(Debug)]
pub struct Located {
    /// What to open: the input itself, a bundle below it, or a copy in a temp folder.
    pub path: PathBuf,
    /// Where the bundle was found inside the input (`inner.zip`, `case/EX01/`), when it was not
    /// the input itself.
    pub inside: Option<String>,
    /// Members that could not be copied out of the input (a damaged zip member).
    pub problems: Vec<Problem>,
    /// Holds the copy; removed when dropped.
    _temp: Option<tempfile::TempDir>,
}

/// Why an input cannot be analysed as one bundle.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    #[error(
        "{0}: not a bundle: no file of the collector's layout (manifest.json, setup/ExchangeSetup.log, evtx/, registry/, iis/, system/) in it or one level inside"
    )]
    NotABundle(PathBuf),
    #[error(
        "{path} holds {} bundles ({}): analyse one of them, or all with `exhume batch {path} --out DIR`",
        .found.len(),
        listed(.found)
    )]
    Several { path: PathBuf, found: Vec<String> },
    #[error("{path}: cannot copy {member} out of it: {source}")]
    Copy {
        path: PathBuf,
        member: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Bundle(#[from] Error),
}

/// The first few names, and how many more.
fn listed(found: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = found
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if found.len() > SHOWN {
        s.push_str(&format!(" and {} more", found.len() - SHOWN));
    }
    s
}

/// At most this many nested zips are opened to see whether they hold a bundle.
const MAX_NESTED_ZIPS: usize = 64;

/// Finds the one bundle of `input`.
pub fn locate(input: &Path, limits: &Limits) -> Result<Located, ShapeError> {
    let meta = std::fs::metadata(input).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(input.to_path_buf()),
        _ => Error::Io {
            path: input.to_path_buf(),
            source: e,
        },
    })?;
    if meta.is_dir() {
        locate_in_folder(input, limits)
    } else {
        locate_in_zip(input, limits)
    }
}

fn itself(path: &Path) -> Located {
    Located {
        path: path.to_path_buf(),
        inside: None,
        problems: Vec::new(),
        _temp: None,
    }
}

fn one_or_several(input: &Path, mut found: Vec<(String, Located)>) -> Result<Located, ShapeError> {
    match found.len() {
        0 => Err(ShapeError::NotABundle(input.to_path_buf())),
        1 => {
            let (name, mut l) = found.remove(0);
            l.inside = Some(name);
            Ok(l)
        }
        _ => Err(ShapeError::Several {
            path: input.to_path_buf(),
            found: found.into_iter().map(|(n, _)| n).collect(),
        }),
    }
}

/// Whether a folder holds a path of the layout. Walks only the layout's own top folders, and
/// no deeper than the layout goes (web.config trees), so a big folder of other things is cheap.
pub fn folder_is_bundle(dir: &Path) -> bool {
    let Ok(read) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in read.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        if ft.is_file() && classify(&name).is_some() {
            return true;
        }
        let top = name.to_ascii_lowercase();
        if ft.is_dir()
            && ["setup", "evtx", "registry", "iis", "system"].contains(&top.as_str())
            && holds_layout_file(&e.path(), &name, 0)
        {
            return true;
        }
    }
    false
}

fn holds_layout_file(dir: &Path, rel: &str, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    let Ok(read) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in read.flatten().take(10_000) {
        let Ok(ft) = e.file_type() else { continue };
        let child = format!("{rel}/{}", e.file_name().to_string_lossy());
        if (ft.is_file() && classify(&child).is_some())
            || (ft.is_dir() && holds_layout_file(&e.path(), &child, depth + 1))
        {
            return true;
        }
    }
    false
}

/// A folder: itself, or the bundles below it as `exhume batch` finds them.
fn locate_in_folder(input: &Path, limits: &Limits) -> Result<Located, ShapeError> {
    if folder_is_bundle(input) {
        return Ok(itself(input));
    }
    let candidates = crate::batch::discover(&[input.to_path_buf()])
        .map_err(|_| ShapeError::Bundle(Error::NotFound(input.to_path_buf())))?;
    let mut found = Vec::new();
    for c in candidates {
        // A zip found below is a bundle only if it holds a layout path itself.
        if c.is_file() && !zip_is_bundle(&c, limits) {
            continue;
        }
        let rel = c.strip_prefix(input).unwrap_or(&c);
        let mut name = rel.to_string_lossy().replace('\\', "/");
        if c.is_dir() {
            name.push('/');
        }
        found.push((name, itself(&c)));
    }
    one_or_several(input, found)
}

fn zip_is_bundle(path: &Path, limits: &Limits) -> bool {
    Bundle::open(path, limits).is_ok_and(|b| holds_layout_path(&b))
}

/// Any member of the layout, read, skipped or refused.
fn holds_layout_path(b: &Bundle) -> bool {
    b.entries.iter().any(|e| e.kind.is_some())
        || b.skipped.iter().any(|s| classify(&s.path).is_some())
        || b.problems.iter().any(|p| classify(&p.path).is_some())
}

/// A zip: itself, one zip inside it, or one top folder inside it holding the layout.
fn locate_in_zip(input: &Path, limits: &Limits) -> Result<Located, ShapeError> {
    let outer = Bundle::open(input, limits)?;
    if holds_layout_path(&outer) {
        return Ok(itself(input));
    }
    let mut found = Vec::new();
    // Zips inside the zip.
    let zips = outer
        .entries
        .iter()
        .filter(|e| e.path.to_ascii_lowercase().ends_with(".zip"))
        .take(MAX_NESTED_ZIPS);
    for e in zips {
        let temp = temp_dir(input, &e.path)?;
        let copy = temp.path().join("bundle.zip");
        if let Err(source) = copy_member(&outer, e, &copy) {
            return Err(ShapeError::Copy {
                path: input.to_path_buf(),
                member: e.path.clone(),
                source,
            });
        }
        if zip_is_bundle(&copy, limits) {
            found.push((
                e.path.clone(),
                Located {
                    path: copy,
                    inside: None,
                    problems: Vec::new(),
                    _temp: Some(temp),
                },
            ));
        }
    }
    // A bundle zipped with its top folder: `EX01/manifest.json`, `EX01/setup/…`.
    let mut tops: Vec<&str> = outer
        .entries
        .iter()
        .filter_map(|e| {
            let (top, rest) = e.path.split_once('/')?;
            classify(rest).is_some().then_some(top)
        })
        .collect();
    tops.sort_unstable();
    tops.dedup();
    for top in tops {
        found.push((format!("{top}/"), copy_folder(input, &outer, top)?));
    }
    one_or_several(input, found)
}

fn temp_dir(input: &Path, member: &str) -> Result<tempfile::TempDir, ShapeError> {
    tempfile::Builder::new()
        .prefix("exhume-")
        .tempdir()
        .map_err(|source| ShapeError::Copy {
            path: input.to_path_buf(),
            member: member.to_string(),
            source,
        })
}

/// Copies one member, through the bundle's limits, to `to`.
fn copy_member(b: &Bundle, e: &super::Entry, to: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(to)?;
    b.with_reader(e, |r| std::io::copy(r, &mut file).map(|_| ()))?
}

/// Copies every member below `top/` into a temp folder, names already made safe by the bundle
/// reader (no `..`, no absolute path). A member that cannot be read is listed as a problem.
fn copy_folder(input: &Path, outer: &Bundle, top: &str) -> Result<Located, ShapeError> {
    let temp = temp_dir(input, top)?;
    let root = temp.path().join("bundle");
    std::fs::create_dir_all(&root).map_err(|source| ShapeError::Copy {
        path: input.to_path_buf(),
        member: top.to_string(),
        source,
    })?;
    let mut problems = Vec::new();
    let prefix = format!("{top}/");
    for e in outer.entries.iter().filter(|e| e.path.starts_with(&prefix)) {
        let rel = &e.path[prefix.len()..];
        let to = rel.split('/').fold(root.clone(), |p, part| p.join(part));
        let copied = to
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| copy_member(outer, e, &to));
        if let Err(err) = copied {
            let _ = std::fs::remove_file(&to);
            problems.push(Problem {
                path: rel.to_string(),
                message: format!("could not be copied out of the enclosing zip: {err}"),
            });
        }
    }
    Ok(Located {
        path: root,
        inside: None,
        problems,
        _temp: Some(temp),
    })
}
