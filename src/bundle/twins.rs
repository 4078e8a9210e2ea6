//! Twin members: two members whose names are one name on Windows (equal ignoring case, or `\`
//! against `/`), e.g. `setup/ExchangeSetup.log` and `SETUP/EXCHANGESETUP.LOG`.
//!
//! Extraction on Windows keeps one of them (the later), so the engineer who unzips the bundle
//! may see another file than the one read first. Every copy is therefore read: identical
//! copies once (with a note), differing copies each under a display path of their own,
//! `setup/ExchangeSetup.log (copy 2)`, so every finding cites the copy it comes from and a
//! failed copy cannot hide behind a healthy one. Layout classification ignores the suffix
//! ([`base_path`]).

use super::{Bundle, Entry, MemberHash};
use crate::facts::Problem;
use std::collections::{BTreeMap, HashSet};

/// What twin resolution found, for the caller to file.
#[derive(Default)]
pub(super) struct Twins {
    pub problems: Vec<Problem>,
    /// Display paths of manifests that differ from the first (custody is then unusable).
    pub manifests: Vec<String>,
}

/// `path` without the ` (copy N)` suffix given to a differing twin.
pub fn base_path(path: &str) -> &str {
    if let Some(open) = path.rfind(" (copy ")
        && let Some(n) = path[open + 7..].strip_suffix(')')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return &path[..open];
    }
    path
}

/// The key two members share when Windows sees one name.
fn key(path: &str) -> String {
    path.to_lowercase()
}

/// Finds twins among `bundle.entries`, reads each twin once to hash it, drops identical copies
/// and renames differing ones. `hash` reads a member through the bundle's limits.
pub(super) fn resolve(bundle: &mut Bundle, hash: impl Fn(&Bundle, &Entry) -> MemberHash) -> Twins {
    let mut out = Twins::default();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in bundle.entries.iter().enumerate() {
        groups.entry(key(&e.path)).or_default().push(i);
    }
    let taken: HashSet<String> = bundle.entries.iter().map(|e| key(&e.path)).collect();
    let mut drop = HashSet::new();
    let mut renamed: Vec<(usize, String)> = Vec::new();
    for idx in groups.values().filter(|g| g.len() > 1) {
        let first = &bundle.entries[idx[0]];
        let base = first.path.clone();
        let is_manifest = first.kind == Some(super::ArtefactKind::Manifest);
        // (digest, stored name) of each copy kept so far.
        let mut kept: Vec<(MemberHash, &str)> = Vec::new();
        let mut copy = 1;
        for &i in idx {
            let e = &bundle.entries[i];
            let digest = hash(bundle, e);
            let same = match &digest {
                Ok(d) => kept.iter().find(|(k, _)| k.as_ref().ok() == Some(d)),
                Err(_) => None,
            };
            if let Some((_, original)) = same {
                out.problems.push(Problem {
                    path: base.clone(),
                    message: format!(
                        "`{}` and `{original}` are one name on Windows, with the same contents (same SHA-256): read once",
                        e.stored_as
                    ),
                });
                drop.insert(i);
                continue;
            }
            if !kept.is_empty() {
                copy += 1;
                let mut display = format!("{base} (copy {copy})");
                while taken.contains(&key(&display)) {
                    copy += 1;
                    display = format!("{base} (copy {copy})");
                }
                out.problems.push(Problem {
                    path: display.clone(),
                    message: format!(
                        "`{}` and `{}` are one name on Windows but their contents differ (extracting the bundle keeps only one): each copy was read, this one as `{display}`",
                        kept[0].1, e.stored_as
                    ),
                });
                if is_manifest {
                    out.manifests.push(display.clone());
                }
                renamed.push((i, display));
            }
            kept.push((digest, &e.stored_as));
        }
    }
    for (i, display) in renamed {
        bundle.entries[i].path = display;
    }
    let mut i = 0;
    bundle.entries.retain(|_| {
        i += 1;
        !drop.contains(&(i - 1))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_suffix_is_stripped_only_when_it_is_one() {
        assert_eq!(
            base_path("setup/ExchangeSetup.log (copy 2)"),
            "setup/ExchangeSetup.log"
        );
        assert_eq!(base_path("a (copy 12)"), "a");
        assert_eq!(base_path("a (copy x)"), "a (copy x)");
        assert_eq!(base_path("a (copy )"), "a (copy )");
        assert_eq!(base_path("a"), "a");
        assert_eq!(base_path(" (copy 2)"), "");
    }
}
