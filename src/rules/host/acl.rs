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

/// The principals through which every user who logs on gets a right, by SID, with the names
/// icacls prints for them on English, German, French, Spanish, Portuguese, Italian, Dutch,
/// Swedish, Polish and Russian Windows (the part after the last `\\`, lower-case).
const ALL_USERS: &[(&str, &[&str])] = &[
    (
        "S-1-5-11",
        &[
            "authenticated users",
            "authentifizierte benutzer",
            "utilisateurs authentifiés",
            "usuarios autentificados",
            "usuarios autenticados",
            "usuários autenticados",
            "utenti autenticati",
            "geverifieerde gebruikers",
            "autentiserade användare",
            "użytkownicy uwierzytelnieni",
            "прошедшие проверку",
        ],
    ),
    (
        "S-1-1-0",
        &[
            "everyone",
            "jeder",
            "tout le monde",
            "todos",
            "iedereen",
            "alla",
            "wszyscy",
            "все",
        ],
    ),
    (
        "S-1-5-32-545",
        &[
            "users",
            "benutzer",
            "utilisateurs",
            "usuarios",
            "usuários",
            "utenti",
            "gebruikers",
            "användare",
            "użytkownicy",
            "пользователи",
        ],
    ),
    (
        // Domain Users is S-1-5-21-<domain>-513; see `identity`.
        "S-1-5-21-*-513",
        &[
            "domain users",
            "domänen-benutzer",
            "utilisateurs du domaine",
            "usuarios del dominio",
            "usuários do domínio",
            "utenti del dominio",
            "domeingebruikers",
            "domänanvändare",
            "użytkownicy domeny",
            "пользователи домена",
        ],
    ),
];

/// The all-users identity a principal stands for (a row of [`ALL_USERS`]), from its SID (as the
/// collector's SID listing and icacls for an unresolved account print it) or its name.
fn identity(principal: &str) -> Option<&'static str> {
    let p = principal.trim();
    // `get`, not indexing: a damaged listing can put a multi-byte character in the first bytes.
    if p.len() > 4 && is_sid(p) {
        let sid = p.to_ascii_uppercase();
        if sid.starts_with("S-1-5-21-") && sid.ends_with("-513") {
            return Some(ALL_USERS[3].0);
        }
        return ALL_USERS.iter().find(|(s, _)| *s == sid).map(|(s, _)| *s);
    }
    let leaf = p.rsplit('\\').next().unwrap_or(p).to_lowercase();
    ALL_USERS
        .iter()
        .find(|(_, names)| names.contains(&leaf.as_str()))
        .map(|(s, _)| *s)
}

fn is_sid(principal: &str) -> bool {
    principal
        .trim()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("S-1-"))
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
            // The collector lists each folder twice, by name (icacls) and by SID: one identity
            // with the same rights is one entry, shown by its name.
            let mut all_users: Vec<&(&Fact, &AclEntry)> = entries
                .iter()
                .filter(|(_, a)| identity(&a.principal).is_some())
                .collect();
            all_users.sort_by_key(|(_, a)| is_sid(&a.principal));
            let mut seen = std::collections::BTreeSet::new();
            all_users.retain(|(_, a)| {
                seen.insert((identity(&a.principal), a.rights.replace("(I)", "")))
            });
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
                // `*S-1-5-11` names Authenticated Users in every Windows language.
                Some((_, a)) => format!(
                    "icacls \"{target}\" /remove:d \"{}{}\"; icacls \"{target}\" /grant \"*S-1-5-11:(OI)(CI)(RX)\"",
                    if is_sid(&a.principal) { "*" } else { "" },
                    a.principal.trim()
                ),
                None => format!("icacls \"{target}\" /grant \"*S-1-5-11:(OI)(CI)(RX)\""),
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

    /// Localised principals and the collector's SID listing: the entries of ClientAccess and
    /// owa\auth as German, French, Spanish and Russian Windows print them.
    fn localised(principal_ca: &str, principal_auth: &str, auth_rights: &str) -> FactSet {
        let ca = format!("{SEED_INSTALL}ClientAccess");
        let auth = format!("{SEED_INSTALL}ClientAccess\\Owa\\auth");
        FactSet::new(vec![
            acl("ClientAccess.txt", 1, &ca, principal_ca, "(OI)(CI)(RX)"),
            acl("owa-auth.txt", 1, &auth, principal_auth, auth_rights),
        ])
    }

    #[test]
    fn localised_names_and_sids_count_as_all_users() {
        let rule = AclOwaAuthRestricted::new();
        for (ca, auth) in [
            (
                "VORDEFINIERT\\Benutzer",
                "NT-AUTORITÄT\\Authentifizierte Benutzer",
            ),
            (
                "BUILTIN\\Utilisateurs",
                "AUTORITE NT\\Utilisateurs authentifiés",
            ),
            ("BUILTIN\\Usuarios", "NT AUTHORITY\\Usuarios autentificados"),
            ("Tout le monde", "Jeder"),
            ("S-1-5-32-545", "S-1-5-11"),
            (
                "CONTOSO\\Domänen-Benutzer",
                "S-1-5-21-1004336348-1177238915-682003330-513",
            ),
        ] {
            let facts = localised(ca, auth, "(OI)(CI)(RX)");
            assert!(run_rule(&rule, &facts).is_empty(), "{ca} / {auth}");
            let f = run_rule(&rule, &localised(ca, auth, "(R)"));
            assert_eq!(f.len(), 1, "{auth} with Read only went unnoticed");
            assert!(
                f[0].title.contains(&format!("{auth}:(R)")),
                "{}",
                f[0].title
            );
        }
        // Names no table knows are not all users, even if they end in a known word.
        let f = run_rule(
            &rule,
            &localised(
                "CONTOSO\\OWA Users",
                "CONTOSO\\Benutzer-Admins",
                "(OI)(CI)(RX)",
            ),
        );
        assert_eq!(f.len(), 1);
        // The grant names Authenticated Users by SID, valid whatever the server's language.
        assert!(
            f[0].fix
                .iter()
                .any(|s| s.contains("/grant \"*S-1-5-11:(OI)(CI)(RX)\"")),
            "{:?}",
            f[0].fix
        );
    }

    #[test]
    fn a_folder_listed_by_name_and_by_sid_is_cited_once() {
        let auth = format!("{SEED_INSTALL}ClientAccess\\Owa\\auth");
        let ca = format!("{SEED_INSTALL}ClientAccess");
        let facts = FactSet::new(vec![
            acl(
                "ClientAccess.txt",
                1,
                &ca,
                "VORDEFINIERT\\Benutzer",
                "(I)(OI)(CI)(RX)",
            ),
            acl("owa-auth-sid.txt", 1, &auth, "S-1-5-11", "(R)"),
            acl(
                "owa-auth.txt",
                1,
                &auth,
                "NT-AUTORITÄT\\Authentifizierte Benutzer",
                "(R)",
            ),
        ]);
        let f = run_rule(&AclOwaAuthRestricted::new(), &facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence.len(), 1, "{:#?}", f[0].evidence);
        assert_eq!(
            f[0].evidence[0].locator.to_string(),
            "system/acl/owa-auth.txt:1"
        );
        // An unknown language: the SID listing alone decides.
        let facts = FactSet::new(vec![
            acl(
                "ClientAccess-sid.txt",
                1,
                &ca,
                "S-1-5-32-545",
                "(I)(OI)(CI)(RX)",
            ),
            acl(
                "ClientAccess.txt",
                1,
                &ca,
                "BUILTIN\\Käyttäjät",
                "(I)(OI)(CI)(RX)",
            ),
            acl("owa-auth-sid.txt", 1, &auth, "S-1-5-11", "(OI)(CI)(RX)"),
            acl(
                "owa-auth.txt",
                1,
                &auth,
                "NT AUTHORITY\\Todennetut käyttäjät",
                "(OI)(CI)(RX)",
            ),
        ]);
        assert!(run_rule(&AclOwaAuthRestricted::new(), &facts).is_empty());
        // A deny by SID is removed by SID.
        let facts = FactSet::new(vec![
            acl(
                "ClientAccess.txt",
                1,
                &ca,
                "BUILTIN\\Users",
                "(I)(OI)(CI)(RX)",
            ),
            acl(
                "owa-auth.txt",
                1,
                &auth,
                "BUILTIN\\Users",
                "(I)(OI)(CI)(RX)",
            ),
            acl("owa-auth-sid.txt", 2, &auth, "S-1-1-0", "(DENY)(X)"),
        ]);
        let f = run_rule(&AclOwaAuthRestricted::new(), &facts);
        assert!(
            f[0].fix
                .iter()
                .any(|s| s.contains("/remove:d \"*S-1-1-0\"")),
            "{:?}",
            f[0].fix
        );
    }

    use crate::facts::FactSet;
}
