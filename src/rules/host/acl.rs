//! Folder ACLs that keep ordinary users out of OWA, from `icacls` output.

use super::cite;
use super::norm_path;
use crate::facts::{AclEntry, Confidence, Fact, FactKind, Finding, FindingKind, Severity};
use crate::repair::{Action, Change, Phase, common};
use crate::rules::{Context, Rule, RuleMeta};
use std::collections::BTreeMap;

/// What one icacls entry grants (or denies).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rights {
    pub deny: bool,
    pub read: bool,
    pub execute: bool,
}

/// Reads icacls rights: `(OI)(CI)(RX)`, `(I)(R)`, `(DENY)(X)`, `(RD,X,RA)`, `(GR,GE)`.
/// Inheritance flags are ignored: an inherit-only entry still reaches the files below.
pub fn parse_rights(raw: &str) -> Rights {
    let mut r = Rights::default();
    let groups: Vec<&str> = if raw.contains('(') {
        raw.split(['(', ')'])
            .filter(|s| !s.trim().is_empty())
            .collect()
    } else {
        vec![raw]
    };
    for g in groups {
        for token in g.split(',').map(|t| t.trim().to_ascii_uppercase()) {
            match token.as_str() {
                "DENY" => r.deny = true,
                "F" | "M" | "RX" | "GA" => {
                    r.read = true;
                    r.execute = true;
                }
                "R" | "GR" | "RD" => r.read = true,
                "X" | "GE" => r.execute = true,
                _ => {}
            }
        }
    }
    r
}

/// Principals through which every user who logs on gets a right.
fn covers_all_users(principal: &str) -> bool {
    let p = principal.trim().to_ascii_lowercase();
    p.ends_with("authenticated users")
        || p == "everyone"
        || p.ends_with("\\everyone")
        || p.ends_with("\\users")
        || p.ends_with("\\domain users")
}

/// The folders that matter and what users need on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Folder {
    /// `ClientAccess`: Read & Execute (the default inherited by every vdir).
    ClientAccess,
    /// `ClientAccess\Owa\auth`: Traverse / Execute (logon.aspx and the forms-based auth files).
    OwaAuth,
}

impl Folder {
    fn of(target: &str) -> Option<Folder> {
        let t = format!("\\{}", norm_path(target));
        if t.ends_with("\\owa\\auth") {
            Some(Folder::OwaAuth)
        } else if t.ends_with("\\clientaccess") {
            Some(Folder::ClientAccess)
        } else {
            None
        }
    }

    fn needs(self) -> &'static str {
        match self {
            Folder::ClientAccess => "Read & Execute",
            Folder::OwaAuth => "Traverse folder / Execute file",
        }
    }

    fn satisfied(self, r: &Rights) -> bool {
        match self {
            Folder::ClientAccess => r.read && r.execute,
            Folder::OwaAuth => r.execute,
        }
    }
}

/// Authenticated Users cannot traverse `owa\auth` or read and execute `ClientAccess`.
pub struct AclOwaAuthRestricted {
    meta: RuleMeta,
}

impl AclOwaAuthRestricted {
    pub const ID: &'static str = "acl-owa-auth-restricted";

    pub fn new() -> Self {
        AclOwaAuthRestricted {
            meta: RuleMeta {
                id: Self::ID.into(),
                title: "Users lack the folder rights OWA logon needs".into(),
                kind: FindingKind::Symptom,
                severity: Severity::High,
                looks_for: "icacls of ClientAccess and ClientAccess\\Owa\\auth where no all-users principal (Authenticated Users, BUILTIN\\Users, Everyone) is granted Read & Execute on ClientAccess or Traverse/Execute on owa\\auth, or one is denied it".into(),
                why: "OWA's forms-based logon runs files in ClientAccess\\Owa\\auth as the logging-on user. Without Traverse/Execute there (or Read & Execute on ClientAccess), only accounts with their own rights, such as administrators, can log on; everyone else gets an error page. A typical case: Authenticated Users left with Read only on owa\\auth.".into(),
                // One grant per folder, filled in by `check`; the planner backs the ACLs up.
                fix: vec![common::iisreset()],
                references: vec![
                    "Microsoft Learn: icacls".into(),
                    "Microsoft Learn: Users cannot log on to Outlook Web App after an update (NTFS permissions on the owa\\auth folder)".into(),
                ],
                explains: vec![],
            },
        }
    }
}

impl Default for AclOwaAuthRestricted {
    fn default() -> Self {
        Self::new()
    }
}

impl Rule for AclOwaAuthRestricted {
    fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    fn check(&self, ctx: &Context<'_>) -> Vec<Finding> {
        // (folder kind, normalised target) → its entries.
        let mut by_target: BTreeMap<(Folder, String), Vec<(&Fact, &AclEntry)>> = BTreeMap::new();
        for f in ctx.facts.iter() {
            let FactKind::AclEntry(a) = &f.kind else {
                continue;
            };
            if let Some(folder) = Folder::of(&a.target) {
                by_target
                    .entry((folder, norm_path(&a.target)))
                    .or_default()
                    .push((f, a));
            }
        }
        let mut evidence = Vec::new();
        let mut problems = Vec::new();
        let mut grants = Vec::new();
        for ((folder, _), entries) in &by_target {
            let all_users: Vec<&(&Fact, &AclEntry)> = entries
                .iter()
                .filter(|(_, a)| covers_all_users(&a.principal))
                .collect();
            let denied = all_users.iter().find(|(_, a)| {
                let r = parse_rights(&a.rights);
                r.deny
                    && match folder {
                        Folder::ClientAccess => r.read || r.execute,
                        Folder::OwaAuth => r.execute,
                    }
            });
            let granted = all_users.iter().any(|(_, a)| {
                let r = parse_rights(&a.rights);
                !r.deny && folder.satisfied(&r)
            });
            if granted && denied.is_none() {
                continue;
            }
            let target = &entries[0].1.target;
            let shown: Vec<String> = all_users
                .iter()
                .map(|(_, a)| format!("{}:{}", a.principal, a.rights))
                .collect();
            problems.push(match (denied, shown.is_empty()) {
                (Some((_, a)), _) => format!("{} denied on {target}", a.principal),
                (None, true) => format!("no entry for Authenticated Users on {target}"),
                (None, false) => format!("{} on {target}", shown.join(", ")),
            });
            if all_users.is_empty() {
                let (f, _) = entries[0];
                evidence.push(cite(
                    f,
                    format!(
                        "{target}: no Authenticated Users, Users or Everyone entry; {} needed",
                        folder.needs()
                    ),
                ));
            } else {
                for (f, a) in &all_users {
                    evidence.push(cite(
                        f,
                        format!(
                            "{target}: {}:{} ({} needed)",
                            a.principal,
                            a.rights,
                            folder.needs()
                        ),
                    ));
                }
            }
            let mut grant = Action::new(
                Phase::Repair,
                &format!(
                    "Grant Authenticated Users {} on {target} and what it contains",
                    folder.needs()
                ),
            )
            .target(target)
            .changes(&[Change::Acl])
            .group("owa-acl");
            grant.command = Some(match denied {
                Some((_, a)) => format!(
                    "icacls \"{target}\" /remove:d \"{}\"; icacls \"{target}\" /grant \"NT AUTHORITY\\Authenticated Users:(OI)(CI)(RX)\"",
                    a.principal
                ),
                None => format!(
                    "icacls \"{target}\" /grant \"NT AUTHORITY\\Authenticated Users:(OI)(CI)(RX)\""
                ),
            });
            grants.push(grant);
        }
        if problems.is_empty() {
            return Vec::new();
        }
        let mut f = self.meta.finding(None, evidence);
        f.title = format!(
            "Only administrators can log on to OWA: Authenticated Users lack the rights they need ({})",
            problems.join("; ")
        );
        let mut fix = grants;
        fix.extend(self.meta.fix.iter().cloned());
        f.fix = fix;
        f.confidence = Confidence::High;
        vec![f]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::config::*;
    use crate::rules::testing::run_rule;

    #[test]
    fn rights_are_read_from_icacls_notation() {
        assert_eq!(
            parse_rights("(OI)(CI)(RX)"),
            Rights {
                deny: false,
                read: true,
                execute: true
            }
        );
        assert_eq!(
            parse_rights("(R)"),
            Rights {
                deny: false,
                read: true,
                execute: false
            }
        );
        assert!(parse_rights("(I)(OI)(CI)(F)").execute);
        assert!(parse_rights("(RD,X,RA)").execute);
        assert_eq!(
            parse_rights("(DENY)(X)"),
            Rights {
                deny: true,
                read: false,
                execute: true
            }
        );
        assert_eq!(parse_rights("garbage((("), Rights::default());
    }

    #[test]
    fn seed_owa_auth_read_only_and_client_access_without_users() {
        let f = run_rule(&AclOwaAuthRestricted::new(), &seed_config());
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert!(
            f.title.contains("NT AUTHORITY\\Authenticated Users:(R) on"),
            "{}",
            f.title
        );
        assert!(f.title.contains("no entry for Authenticated Users on"));
        assert_eq!(f.evidence.len(), 2);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.locator.to_string() == "system/acl/owa-auth.txt:2"
                    && e.excerpt.contains("Traverse folder / Execute file needed"))
        );
        assert!(
            f.fix
                .iter()
                .any(|s| s.contains("ClientAccess\\Owa\\auth\" /grant"))
        );
    }

    #[test]
    fn a_deny_entry_overrides_a_grant() {
        let auth = format!("{SEED_INSTALL}ClientAccess\\Owa\\auth");
        let facts = with(
            healthy_config(),
            [acl("owa-auth.txt", 3, &auth, "Everyone", "(DENY)(X)")],
        );
        let f = run_rule(&AclOwaAuthRestricted::new(), &facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("Everyone denied"));
        assert!(
            f[0].fix
                .iter()
                .any(|s| s.contains("/remove:d \"Everyone\""))
        );
    }

    #[test]
    fn healthy_acls_are_silent() {
        assert!(run_rule(&AclOwaAuthRestricted::new(), &healthy_config()).is_empty());
        // BUILTIN\Users with Read & Execute also lets every domain user in.
        let auth = format!("{SEED_INSTALL}ClientAccess\\Owa\\auth");
        let facts = FactSet::new(vec![acl(
            "owa-auth.txt",
            1,
            &auth,
            "BUILTIN\\Users",
            "(I)(OI)(CI)(RX)",
        )]);
        assert!(run_rule(&AclOwaAuthRestricted::new(), &facts).is_empty());
    }

    use crate::facts::FactSet;
}
